package relay

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media/samplebuilder"

	"github.com/people-network/matrix-appservice-people/rtc-relay/framecrypt"
	"github.com/people-network/matrix-appservice-people/rtc-relay/protocol"
)

// frameSet remembers frames one side sent, so the other side can check it got them byte for byte.
type frameSet struct {
	mu   sync.Mutex
	sent map[string]bool
}

func newFrameSet() *frameSet { return &frameSet{sent: map[string]bool{}} }
func (s *frameSet) add(f []byte) {
	s.mu.Lock()
	s.sent[string(f)] = true
	s.mu.Unlock()
}
func (s *frameSet) has(f []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[string(f)]
}

// driver talks to an in-process Server as the bridge does, through validated request lines.
type driver struct {
	t       *testing.T
	srv     *Server
	mu      sync.Mutex
	nextID  int64
	replies map[int64]chan map[string]any
	events  chan map[string]any
}

func newDriver(t *testing.T) *driver {
	d := &driver{t: t, replies: map[int64]chan map[string]any{}, events: make(chan map[string]any, 4096)}
	d.srv = NewServer(d.emit, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	t.Cleanup(func() { d.srv.CloseAll(5 * time.Second) })
	return d
}

func (d *driver) emit(v any) {
	m := v.(map[string]any)
	if id, ok := m["id"].(int64); ok {
		d.mu.Lock()
		ch := d.replies[id]
		d.mu.Unlock()
		ch <- m
		return
	}
	d.events <- m
}

func (d *driver) call(fields map[string]any) map[string]any {
	d.t.Helper()
	d.mu.Lock()
	d.nextID++
	id := d.nextID
	ch := make(chan map[string]any, 1)
	d.replies[id] = ch
	d.mu.Unlock()
	fields["id"] = id
	line, _ := json.Marshal(fields)
	req, err := protocol.Parse(line)
	if err != nil {
		d.t.Fatalf("request refused: %v", err)
	}
	d.srv.Handle(req)
	select {
	case m := <-ch:
		if m["ok"] != true {
			d.t.Fatalf("%v: %v", fields["op"], m["error"])
		}
		return m
	case <-time.After(60 * time.Second):
		d.t.Fatalf("no reply to %v", fields["op"])
	}
	return nil
}

// sender writes numbered frames at a steady pace until stop closes.
func sender(out *frameOut, video bool, seal func([]byte, uint32) []byte, sent *frameSet, stop <-chan struct{}) {
	period, step := 20*time.Millisecond, uint32(960)
	if video {
		period, step = 33*time.Millisecond, 3000
	}
	tick := time.NewTicker(period)
	defer tick.Stop()
	var ts uint32 = 1000
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		var f []byte
		if video {
			if i%30 == 0 { // keyframe: P bit 0, start code, 640x480
				f = []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}
			} else {
				f = []byte{0x11, 0x02, 0x00}
			}
			f = append(f, bytes.Repeat([]byte{byte(i)}, 2500)...) // spans several packets
		} else {
			f = append([]byte{0xfc}, bytes.Repeat([]byte{byte(i)}, 60)...)
		}
		binary.BigEndian.PutUint32(f[len(f)-4:], uint32(i)) // every frame distinct
		sent.add(f)
		out.writeFrame(seal(f, ts), ts)
		ts += step
	}
}

// receiver reads a track's frames (VP8 reassembled), opens them and counts those in want.
func receiver(track *webrtc.TrackRemote, open func([]byte) ([]byte, bool), want *frameSet, got *atomic.Int64) {
	var sb *samplebuilder.SampleBuilder
	if track.Kind() == webrtc.RTPCodecTypeVideo {
		sb = samplebuilder.New(maxLate, &codecs.VP8Packet{}, 90000)
	}
	check := func(f []byte) {
		if p, ok := open(f); ok && want.has(p) {
			got.Add(1)
		}
	}
	for {
		pkt, _, err := track.ReadRTP()
		if err != nil {
			return
		}
		if sb == nil {
			check(pkt.Payload)
			continue
		}
		sb.Push(pkt)
		for s := sb.Pop(); s != nil; s = sb.Pop() {
			check(s.Data)
		}
	}
}

func sealWith(t *testing.T, ring *framecrypt.KeyRing, kind framecrypt.Kind, ssrc uint32) func([]byte, uint32) []byte {
	ivs := framecrypt.NewIVMaker(randomUint32)
	return func(f []byte, ts uint32) []byte {
		aead, idx, _ := ring.Current()
		out, err := framecrypt.Encrypt(aead, idx, kind, f, ivs.Next(ssrc, ts))
		if err != nil {
			t.Error(err)
		}
		return out
	}
}

func ring(t *testing.T, key []byte, index uint8) *framecrypt.KeyRing {
	r := framecrypt.NewKeyRing()
	if err := r.SetKey(key, index); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestVideoCallThroughLiveKit: Joe (a pion peer standing in for the People device) and Alice (a
// LiveKit participant encrypting as Element Call does) exchange Opus and VP8 frames through the
// relay and a real livekit-server; each side must get the other's frames byte for byte.
func TestVideoCallThroughLiveKit(t *testing.T) {
	lk := startLiveKit(t)
	tl := &testLog{t: t}
	RouteLibraryLogs(slog.NewJSONHandler(tl, nil))
	t.Cleanup(tl.stop) // SDK goroutines may still log after the test
	d := newDriver(t)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	aliceKey, ghostKey := []byte("alice's media key, 32 bytes long"), []byte("the ghost's media key, 32 bytes!")

	// Joe's peer.
	api, err := newPeopleAPI()
	if err != nil {
		t.Fatal(err)
	}
	joe, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = joe.Close() })
	joeAudio, _ := webrtc.NewTrackLocalStaticRTP(opusCodec, "audio", "joe")
	joeVideo, _ := webrtc.NewTrackLocalStaticRTP(vp8Codec, "video", "joe")
	var joePLIs atomic.Int64
	for _, tr := range []*webrtc.TrackLocalStaticRTP{joeAudio, joeVideo} {
		s, err := joe.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				pkts, _, err := s.ReadRTCP()
				if err != nil {
					return
				}
				for _, p := range pkts {
					if _, ok := p.(*rtcp.PictureLossIndication); ok {
						joePLIs.Add(1)
					}
				}
			}
		}()
	}
	aliceSent, joeSent := newFrameSet(), newFrameSet()
	var joeGotAudio, joeGotVideo, aliceGotAudio, aliceGotVideo atomic.Int64
	var joeVideoIn atomic.Pointer[webrtc.TrackRemote]
	plain := func(f []byte) ([]byte, bool) { return f, true }
	joe.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			joeVideoIn.Store(tr)
			go receiver(tr, plain, aliceSent, &joeGotVideo)
		} else {
			go receiver(tr, plain, aliceSent, &joeGotAudio)
		}
	})
	joe.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			go d.call(map[string]any{"op": "candidate", "call": "c1", "candidate": c.ToJSON()})
		}
	})

	// The relay's events: its candidates go to Joe once he has the offer.
	var mu sync.Mutex
	var joeReady bool
	var early []webrtc.ICECandidateInit
	media, left := map[string]bool{}, map[string]bool{}
	connected := make(chan struct{})
	go func() {
		for ev := range d.events {
			switch ev["event"] {
			case "candidate":
				c, ok := ev["candidate"].(webrtc.ICECandidateInit)
				if !ok {
					continue
				}
				mu.Lock()
				if joeReady {
					_ = joe.AddICECandidate(c)
				} else {
					early = append(early, c)
				}
				mu.Unlock()
			case "state":
				if ev["state"] == "connected" {
					close(connected)
				}
			case "left":
				mu.Lock()
				left[ev["identity"].(string)] = true
				mu.Unlock()
			case "media":
				mu.Lock()
				media[ev["direction"].(string)+"/"+ev["kind"].(string)] = true
				mu.Unlock()
			}
		}
	}()

	d.call(map[string]any{"op": "open", "call": "c1", "media": "video", "iceServers": []any{}, "relayOnly": false})
	offer := d.call(map[string]any{"op": "offer", "call": "c1"})
	if err := joe.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer["sdp"].(string)}); err != nil {
		t.Fatal(err)
	}
	answer, err := joe.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := joe.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	joeReady = true
	for _, c := range early {
		_ = joe.AddICECandidate(c)
	}
	mu.Unlock()
	d.call(map[string]any{"op": "acceptAnswer", "call": "c1", "sdp": answer.SDP})
	select {
	case <-connected:
	case <-time.After(60 * time.Second):
		t.Fatal("People leg did not connect")
	}
	fp := d.call(map[string]any{"op": "fingerprint", "call": "c1"})
	if s, _ := fp["fingerprint"].(string); len(s) != len("sha-256 ")+32*3-1 {
		t.Fatalf("fingerprint %v", fp["fingerprint"])
	}

	// The ghost's LiveKit leg, its key and Alice's, and whose media goes to Joe.
	d.call(map[string]any{"op": "connect", "call": "c1", "url": lk.url, "jwt": lk.token(t, "room1", "ghost"), "e2ee": true, "video": true})
	d.call(map[string]any{"op": "setKey", "call": "c1", "identity": "ghost", "key": ghostKey, "index": 0})
	d.call(map[string]any{"op": "setKey", "call": "c1", "identity": "alice", "key": aliceKey, "index": 5})
	d.call(map[string]any{"op": "from", "call": "c1", "identity": "alice"})

	// Alice, as Element Call: publishes encrypted, decrypts the ghost's frames with its key.
	ghostRing := ring(t, ghostKey, 0)
	var alicePLIs atomic.Int64
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = func(tr *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
		if rp.Identity() != "ghost" {
			return
		}
		kind, got := framecrypt.Audio, &aliceGotAudio
		if tr.Kind() == webrtc.RTPCodecTypeVideo {
			kind, got = framecrypt.VP8, &aliceGotVideo
		}
		open := func(f []byte) ([]byte, bool) {
			p, err := ghostRing.Decrypt(kind, f)
			return p, err == nil
		}
		go receiver(tr, open, joeSent, got)
	}
	alice, err := lksdk.ConnectToRoomWithToken(lk.url, lk.token(t, "room1", "alice"), cb, lksdk.WithAutoSubscribe(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(alice.Disconnect)
	aAudio, _ := lksdk.NewLocalTrack(opusCodec)
	aVideo, _ := lksdk.NewLocalTrack(vp8Codec, lksdk.WithRTCPHandler(func(p rtcp.Packet) {
		if _, ok := p.(*rtcp.PictureLossIndication); ok {
			alicePLIs.Add(1)
		}
	}))
	for _, p := range []struct {
		tr  *lksdk.LocalTrack
		src livekit.TrackSource
	}{{aAudio, livekit.TrackSource_MICROPHONE}, {aVideo, livekit.TrackSource_CAMERA}} {
		if _, err := alice.LocalParticipant.PublishTrack(p.tr, &lksdk.TrackPublicationOptions{
			Name: p.src.String(), Source: p.src, Encryption: livekit.Encryption_GCM, VideoWidth: 640, VideoHeight: 480,
		}); err != nil {
			t.Fatal(err)
		}
	}
	aliceRing := ring(t, aliceKey, 5)
	lkOut := func(tr *lksdk.LocalTrack) func(*rtp.Packet) error {
		return func(p *rtp.Packet) error { return tr.WriteRTP(p, nil) }
	}
	none := func(f []byte, _ uint32) []byte { return f }
	go sender(newFrameOut(lkOut(aAudio), false), false, sealWith(t, aliceRing, framecrypt.Audio, 1), aliceSent, stop)
	go sender(newFrameOut(lkOut(aVideo), true), true, sealWith(t, aliceRing, framecrypt.VP8, 2), aliceSent, stop)
	go sender(newFrameOut(joeAudio.WriteRTP, false), false, none, joeSent, stop)
	go sender(newFrameOut(joeVideo.WriteRTP, true), true, none, joeSent, stop)

	waitFor(t, "frames both ways", func() bool {
		return joeGotAudio.Load() >= 25 && joeGotVideo.Load() >= 5 && aliceGotAudio.Load() >= 25 && aliceGotVideo.Load() >= 5
	})
	t.Logf("frames matched: Joe got %d audio %d video from Alice; Alice got %d audio %d video from Joe",
		joeGotAudio.Load(), joeGotVideo.Load(), aliceGotAudio.Load(), aliceGotVideo.Load())
	mu.Lock()
	if len(media) != 4 {
		t.Errorf("media events: %v", media)
	}
	mu.Unlock()
	st := d.call(map[string]any{"op": "stats", "call": "c1"})
	if st["toPeople"].(map[string]int64)["video"] < 5 || st["toMatrix"].(map[string]int64)["audio"] < 25 {
		t.Errorf("stats %v", st)
	}
	// The SFU asked the ghost for a keyframe when Alice subscribed; the relay passed it to Joe
	// (the relay's own pion sends no PLI of its own).
	waitFor(t, "a PLI at Joe", func() bool { return joePLIs.Load() > 0 })
	// Joe asks for a keyframe: it reaches Alice's sender through the relay and the SFU.
	before := alicePLIs.Load()
	waitFor(t, "Joe's PLI at Alice", func() bool {
		if in := joeVideoIn.Load(); in != nil {
			_ = joe.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(in.SSRC())}})
		}
		return alicePLIs.Load() > before
	})

	// Alice leaves: the relay reports it.
	alice.Disconnect()
	waitFor(t, "the left event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return left["alice"]
	})
	d.call(map[string]any{"op": "close", "call": "c1"})
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testLog shows library warnings in the test's output while the test runs.
type testLog struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (l *testLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.done {
		l.t.Log(string(bytes.TrimSpace(p)))
	}
	return len(p), nil
}

func (l *testLog) stop() {
	l.mu.Lock()
	l.done = true
	l.mu.Unlock()
}
