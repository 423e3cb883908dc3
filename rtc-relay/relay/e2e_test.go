package relay

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/people-network/matrix-appservice-people/rtc-relay/framecrypt"
)

// TestThroughLiveKit carries calls through the relay and a real livekit-server: Joe's People
// device is a pion peer, the Matrix side LiveKit participants that encrypt as Element Call does;
// every frame must arrive byte for byte.
func TestThroughLiveKit(t *testing.T) {
	lk := startLiveKit(t) // one server for the file's calls
	tl := &testLog{t: t}
	RouteLibraryLogs(slog.NewJSONHandler(tl, nil))
	t.Cleanup(tl.stop) // SDK goroutines may still log after the test
	t.Run("video call with E2EE, the relay offers", func(t *testing.T) { videoCallE2EE(t, lk) })
	t.Run("voice call in clear, Joe offers, from switches", func(t *testing.T) { voiceCallFromSwitch(t, lk) })
	t.Run("a late key asks for a keyframe", func(t *testing.T) { lateKeyAsksKeyframe(t, lk) })
	t.Run("the LiveKit leg is lost", func(t *testing.T) { liveKitLost(t, lk) })
}

// liveKitLost: when the SFU drops the ghost (here: removed through the server API) the relay
// reports the LiveKit leg lost; the call stays for the bridge to close. (A stopped server is
// reported too, but only after the SDK's reconnect attempts, about 70 s here.)
func liveKitLost(t *testing.T, lk *liveKitServer) {
	d := newDriver(t)
	joe := newJoe(t, d, "c4", false, func(bool, []byte) {})
	joe.relayOffers()
	d.call(map[string]any{"op": "connect", "call": "c4", "url": lk.url, "jwt": lk.token(t, "room4", "ghost4"), "e2ee": false, "video": false})
	rooms := lksdk.NewRoomServiceClient(strings.Replace(lk.url, "ws://", "http://", 1), lk.key, lk.secret)
	if _, err := rooms.RemoveParticipant(context.Background(), &livekit.RoomParticipantIdentity{Room: "room4", Identity: "ghost4"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the disconnected event", func() bool { return joe.saw(joe.disconnected, "c4") })
	d.call(map[string]any{"op": "stats", "call": "c4"}) // still open
	d.call(map[string]any{"op": "close", "call": "c4"})
}

var (
	aliceKey = []byte("alice's media key, 32 bytes long")
	ghostKey = []byte("the ghost's media key, 32 bytes!")
	clear    = func(f []byte, _ uint32) []byte { return f }
)

// participant is a Matrix-side LiveKit participant (Element Call's part in these tests).
type participant struct {
	room         *lksdk.Room
	audio, video *frameOut
	plis         atomic.Int64
	wantKey      atomic.Bool
}

// join connects identity to room and publishes audio (and video); onGhost gets the frames of
// the ghost's tracks.
func join(t *testing.T, lk *liveKitServer, room, identity string, video, e2ee bool, ghost string, onGhost func(video bool, f []byte)) *participant {
	p := &participant{}
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = func(tr *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
		if rp.Identity() == ghost && onGhost != nil {
			isVideo := tr.Kind() == webrtc.RTPCodecTypeVideo
			go readFrames(tr, func(f []byte) { onGhost(isVideo, f) })
		}
	}
	r, err := lksdk.ConnectToRoomWithToken(lk.url, lk.token(t, room, identity), cb, lksdk.WithAutoSubscribe(true))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Disconnect)
	p.room = r
	enc := livekit.Encryption_NONE
	if e2ee {
		enc = livekit.Encryption_GCM
	}
	publish := func(codec webrtc.RTPCodecCapability, src livekit.TrackSource, opts ...lksdk.LocalTrackOptions) *frameOut {
		tr, err := lksdk.NewLocalTrack(codec, opts...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.LocalParticipant.PublishTrack(tr, &lksdk.TrackPublicationOptions{
			Name: src.String(), Source: src, Encryption: enc, VideoWidth: 640, VideoHeight: 480,
		}); err != nil {
			t.Fatal(err)
		}
		return newFrameOut(func(pk *rtp.Packet) error { return tr.WriteRTP(pk, nil) }, codec.MimeType == webrtc.MimeTypeVP8)
	}
	p.audio = publish(opusCodec, livekit.TrackSource_MICROPHONE)
	if video {
		p.video = publish(vp8Codec, livekit.TrackSource_CAMERA, lksdk.WithRTCPHandler(func(pk rtcp.Packet) {
			if _, ok := pk.(*rtcp.PictureLossIndication); ok {
				p.plis.Add(1)
				p.wantKey.Store(true)
			}
		}))
	}
	return p
}

func decryptWith(r *framecrypt.KeyRing, video bool, f []byte) ([]byte, bool) {
	kind := framecrypt.Audio
	if video {
		kind = framecrypt.VP8
	}
	p, err := r.Decrypt(kind, f)
	return p, err == nil
}

func videoCallE2EE(t *testing.T, lk *liveKitServer) {
	d := newDriver(t)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	aliceSent, joeSent := newFrameSet(), newFrameSet()
	var joeGotAudio, joeGotVideo, aliceGotAudio, aliceGotVideo atomic.Int64
	count := func(sent *frameSet, audio, video *atomic.Int64) func(bool, []byte) {
		return func(isVideo bool, f []byte) {
			if sent.has(f) {
				map[bool]*atomic.Int64{false: audio, true: video}[isVideo].Add(1)
			}
		}
	}
	joe := newJoe(t, d, "c1", true, count(aliceSent, &joeGotAudio, &joeGotVideo))
	joe.relayOffers()
	fp := d.call(map[string]any{"op": "fingerprint", "call": "c1"})
	if s, _ := fp["fingerprint"].(string); len(s) != len("sha-256 ")+32*3-1 {
		t.Fatalf("fingerprint %v", fp["fingerprint"])
	}
	d.call(map[string]any{"op": "connect", "call": "c1", "url": lk.url, "jwt": lk.token(t, "room1", "ghost"), "e2ee": true, "video": true})
	d.call(map[string]any{"op": "setKey", "call": "c1", "identity": "ghost", "key": ghostKey, "index": 0})
	d.call(map[string]any{"op": "setKey", "call": "c1", "identity": "alice", "key": aliceKey, "index": 5})
	d.call(map[string]any{"op": "from", "call": "c1", "identity": "alice"})

	ghostRing := ring(t, ghostKey, 0)
	toAlice := count(joeSent, &aliceGotAudio, &aliceGotVideo)
	alice := join(t, lk, "room1", "alice", true, true, "ghost", func(isVideo bool, f []byte) {
		if p, ok := decryptWith(ghostRing, isVideo, f); ok {
			toAlice(isVideo, p)
		}
	})
	aliceRing := ring(t, aliceKey, 5)
	go sender(alice.audio, false, 'a', nil, sealWith(t, aliceRing, framecrypt.Audio, 1), aliceSent, stop)
	go sender(alice.video, true, 'a', nil, sealWith(t, aliceRing, framecrypt.VP8, 2), aliceSent, stop)
	go sender(newFrameOut(joe.audio.WriteRTP, false), false, 'j', nil, clear, joeSent, stop)
	go sender(newFrameOut(joe.video.WriteRTP, true), true, 'j', nil, clear, joeSent, stop)

	waitFor(t, "frames both ways", func() bool {
		return joeGotAudio.Load() >= 25 && joeGotVideo.Load() >= 5 && aliceGotAudio.Load() >= 25 && aliceGotVideo.Load() >= 5
	})
	t.Logf("frames matched: Joe got %d audio %d video from Alice; Alice got %d audio %d video from Joe",
		joeGotAudio.Load(), joeGotVideo.Load(), aliceGotAudio.Load(), aliceGotVideo.Load())
	for _, m := range []string{"toPeople/audio", "toPeople/video", "toMatrix/audio", "toMatrix/video"} {
		if !joe.saw(joe.media, m) {
			t.Errorf("no media event %s", m)
		}
	}
	st := d.call(map[string]any{"op": "stats", "call": "c1"})
	if st["toPeople"].(map[string]int64)["video"] < 5 || st["toMatrix"].(map[string]int64)["audio"] < 25 {
		t.Errorf("stats %v", st)
	}
	// The SFU asked the ghost for a keyframe when Alice subscribed; the relay passed it to Joe.
	waitFor(t, "a PLI at Joe", func() bool { return joe.plis.Load() > 0 })
	// Joe asks for a keyframe: it reaches Alice's sender through the relay and the SFU.
	before := alice.plis.Load()
	waitFor(t, "Joe's PLI at Alice", func() bool {
		if in := joe.videoIn.Load(); in != nil {
			_ = joe.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(in.SSRC())}})
		}
		return alice.plis.Load() > before
	})
	alice.room.Disconnect()
	waitFor(t, "the left event", func() bool { return joe.saw(joe.left, "alice") })
	// Shutdown with a call whose both legs are up (what stdin EOF and SIGTERM do).
	start := time.Now()
	d.srv.CloseAll(shutdownGraceForTest)
	t.Logf("closing a connected call took %v", time.Since(start))
	waitFor(t, "the People leg closed", func() bool { return joe.saw(joe.states, "closed") })
}

// shutdownGraceForTest mirrors main's bound; the test logs the time and asserts none.
const shutdownGraceForTest = 1500 * time.Millisecond

func voiceCallFromSwitch(t *testing.T, lk *liveKitServer) {
	d := newDriver(t)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	aliceSent, bobSent, joeSent := newFrameSet(), newFrameSet(), newFrameSet()
	var fromAlice, fromBob, ghostToAlice atomic.Int64
	joe := newJoe(t, d, "c2", false, func(_ bool, f []byte) {
		switch {
		case aliceSent.has(f):
			fromAlice.Add(1)
		case bobSent.has(f):
			fromBob.Add(1)
		}
	})
	joe.joeOffers()
	d.call(map[string]any{"op": "connect", "call": "c2", "url": lk.url, "jwt": lk.token(t, "room2", "ghost2"), "e2ee": false, "video": false})
	d.call(map[string]any{"op": "from", "call": "c2", "identity": "alice"})
	alice := join(t, lk, "room2", "alice", false, false, "ghost2", func(_ bool, f []byte) {
		if joeSent.has(f) {
			ghostToAlice.Add(1)
		}
	})
	bob := join(t, lk, "room2", "bob", false, false, "", nil)
	go sender(alice.audio, false, 'a', nil, clear, aliceSent, stop)
	go sender(bob.audio, false, 'b', nil, clear, bobSent, stop)
	go sender(newFrameOut(joe.audio.WriteRTP, false), false, 'j', nil, clear, joeSent, stop)

	waitFor(t, "Alice's frames at Joe and Joe's at Alice", func() bool {
		return fromAlice.Load() >= 25 && ghostToAlice.Load() >= 25
	})
	if n := fromBob.Load(); n != 0 {
		t.Fatalf("%d of Bob's frames reached Joe while from was Alice", n)
	}
	d.call(map[string]any{"op": "from", "call": "c2", "identity": "bob"})
	waitFor(t, "Bob's frames at Joe after from switched", func() bool { return fromBob.Load() >= 25 })
	st := d.call(map[string]any{"op": "stats", "call": "c2"})
	if st["toPeople"].(map[string]int64)["video"] != 0 || st["decryptFailures"].(int64) != 0 {
		t.Errorf("stats of a voice call in clear: %v", st)
	}
	d.call(map[string]any{"op": "close", "call": "c2"})
	d.call(map[string]any{"op": "close", "call": "c2"})
}

// lateKeyAsksKeyframe: Alice's key reaches the relay after her video started, and her encoder
// sends keyframes only when asked. Joe, like a decoder, can use frames only from a keyframe on;
// he gets video only because the relay asks for keyframes until one decrypts.
func lateKeyAsksKeyframe(t *testing.T, lk *liveKitServer) {
	d := newDriver(t)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
	aliceSent := newFrameSet()
	var decodable atomic.Int64
	var keyed atomic.Bool
	joe := newJoe(t, d, "c3", true, func(isVideo bool, f []byte) {
		if !isVideo || !aliceSent.has(f) {
			return
		}
		if framecrypt.IsVP8Keyframe(f) {
			keyed.Store(true)
		}
		if keyed.Load() {
			decodable.Add(1)
		}
	})
	joe.relayOffers()
	// The bridge may name from before connect.
	d.call(map[string]any{"op": "from", "call": "c3", "identity": "alice"})
	d.call(map[string]any{"op": "connect", "call": "c3", "url": lk.url, "jwt": lk.token(t, "room3", "ghost3"), "e2ee": true, "video": true})
	alice := join(t, lk, "room3", "alice", true, true, "", nil)
	go sender(alice.video, true, 'a', &alice.wantKey, sealWith(t, ring(t, aliceKey, 0), framecrypt.VP8, 3), aliceSent, stop)
	waitFor(t, "Alice's video failing to decrypt without her key", func() bool {
		return d.call(map[string]any{"op": "stats", "call": "c3"})["decryptFailures"].(int64) >= 10
	})
	before := d.call(map[string]any{"op": "stats", "call": "c3"})["keyframeRequests"].(int64)
	d.call(map[string]any{"op": "setKey", "call": "c3", "identity": "alice", "key": aliceKey, "index": 0})
	waitFor(t, "decodable video at Joe", func() bool { return decodable.Load() >= 5 })
	if after := d.call(map[string]any{"op": "stats", "call": "c3"})["keyframeRequests"].(int64); after <= before {
		t.Errorf("keyframeRequests %d -> %d", before, after)
	}
	d.call(map[string]any{"op": "close", "call": "c3"})
}
