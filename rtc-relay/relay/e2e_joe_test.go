package relay

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// joeSide stands in for Joe's People device: a pion peer with Opus (and VP8) tracks, talking to
// the relay's People leg through the driver's requests and events.
type joeSide struct {
	t            *testing.T
	d            *driver
	call         string
	pc           *webrtc.PeerConnection
	audio, video *webrtc.TrackLocalStaticRTP
	plis         atomic.Int64
	videoIn      atomic.Pointer[webrtc.TrackRemote]

	mu     sync.Mutex
	ready  bool
	early  []webrtc.ICECandidateInit
	media  map[string]bool
	left   map[string]bool
	states map[string]bool
	// disconnected: calls whose LiveKit leg was reported lost.
	disconnected map[string]bool
	// candidates: the relay's local candidates by type (host, srflx, relay).
	candidates map[string]int
	connected  chan struct{}
}

// newJoe opens the call on the relay and sets up Joe; onFrame gets every frame Joe receives.
func newJoe(t *testing.T, d *driver, call string, video bool, onFrame func(video bool, f []byte)) *joeSide {
	return newJoeWith(t, d, call, video, map[string]any{"iceServers": []any{}, "relayOnly": false}, onFrame)
}

// newJoeWith opens the call with the given open fields (iceServers, relayOnly).
func newJoeWith(t *testing.T, d *driver, call string, video bool, open map[string]any, onFrame func(video bool, f []byte)) *joeSide {
	api, err := newPeopleAPI(d.srv.log)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pc.Close() })
	j := &joeSide{t: t, d: d, call: call, pc: pc, media: map[string]bool{}, left: map[string]bool{}, states: map[string]bool{}, disconnected: map[string]bool{}, candidates: map[string]int{}, connected: make(chan struct{})}
	j.audio, _ = webrtc.NewTrackLocalStaticRTP(opusCodec, "audio", "joe")
	tracks := []*webrtc.TrackLocalStaticRTP{j.audio}
	if video {
		j.video, _ = webrtc.NewTrackLocalStaticRTP(vp8Codec, "video", "joe")
		tracks = append(tracks, j.video)
	}
	for _, tr := range tracks {
		s, err := pc.AddTrack(tr)
		if err != nil {
			t.Fatal(err)
		}
		go j.countPLIs(s)
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		isVideo := tr.Kind() == webrtc.RTPCodecTypeVideo
		if isVideo {
			j.videoIn.Store(tr)
		}
		go readFrames(tr, func(f []byte) { onFrame(isVideo, f) })
	})
	// Joe's candidates may reach the relay before his offer or answer: the relay queues them.
	pc.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			go d.call(map[string]any{"op": "candidate", "call": call, "candidate": c.ToJSON()})
		}
	})
	go j.events()
	media := "voice"
	if video {
		media = "video"
	}
	open["op"], open["call"], open["media"] = "open", call, media
	d.call(open)
	return j
}

// countPLIs reads RTCP for Joe's sender; the relay's pion sends no PLI of its own, so every PLI
// here was passed on from LiveKit.
func (j *joeSide) countPLIs(s *webrtc.RTPSender) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, p := range pkts {
			if _, ok := p.(*rtcp.PictureLossIndication); ok {
				j.plis.Add(1)
			}
		}
	}
}

func (j *joeSide) events() {
	for ev := range j.d.events {
		j.mu.Lock()
		switch ev["event"] {
		case "candidate":
			if c, ok := candidateInit(ev["candidate"]); ok {
				if f := strings.Fields(c.Candidate); len(f) > 7 {
					j.candidates[f[7]]++ // "... typ <type>"
				}
				if j.ready {
					_ = j.pc.AddICECandidate(c)
				} else {
					j.early = append(j.early, c)
				}
			}
		case "state":
			st := ev["state"].(string)
			if st == "connected" && !j.states[st] {
				close(j.connected)
			}
			j.states[st] = true
		case "disconnected":
			j.disconnected[ev["call"].(string)] = true
		case "left":
			j.left[ev["identity"].(string)] = true
		case "media":
			j.media[ev["direction"].(string)+"/"+ev["kind"].(string)] = true
		}
		j.mu.Unlock()
	}
}

// remoteSet: Joe has the relay's description; its candidates can go in now.
func (j *joeSide) remoteSet() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.ready = true
	for _, c := range j.early {
		_ = j.pc.AddICECandidate(c)
	}
}

// relayOffers: the People leg as caller.
func (j *joeSide) relayOffers() {
	t := j.t
	offer := j.d.call(map[string]any{"op": "offer", "call": j.call})
	if err := j.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer["sdp"].(string)}); err != nil {
		t.Fatal(err)
	}
	answer, err := j.pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	j.remoteSet()
	j.d.call(map[string]any{"op": "acceptAnswer", "call": j.call, "sdp": answer.SDP})
	j.waitConnected()
}

// joeOffers: the People leg as callee.
func (j *joeSide) joeOffers() {
	t := j.t
	offer, err := j.pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.pc.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer := j.d.call(map[string]any{"op": "acceptOffer", "call": j.call, "sdp": offer.SDP})
	if err := j.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer["sdp"].(string)}); err != nil {
		t.Fatal(err)
	}
	j.remoteSet()
	j.waitConnected()
}

func (j *joeSide) waitConnected() {
	select {
	case <-j.connected:
	case <-time.After(60 * time.Second):
		j.t.Fatal("People leg did not connect")
	}
}

func (j *joeSide) saw(set map[string]bool, key string) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return set[key]
}

// candidateInit reads a candidate event in the contract's shape (candidateEvent); false for the
// end-of-candidates null, or for any other shape (so a relay that strays from the contract loses
// its candidates here too, as it would in the bridge).
func candidateInit(v any) (webrtc.ICECandidateInit, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		return webrtc.ICECandidateInit{}, false
	}
	var c webrtc.ICECandidateInit
	for k, x := range m {
		switch k {
		case "candidate":
			s, ok := x.(string)
			if !ok {
				return c, false
			}
			c.Candidate = s
		case "sdpMid":
			s, ok := x.(string)
			if !ok {
				return c, false
			}
			c.SDPMid = &s
		case "sdpMLineIndex":
			i, ok := x.(uint16)
			if !ok {
				return c, false
			}
			c.SDPMLineIndex = &i
		default:
			return c, false
		}
	}
	return c, true
}
