package relay

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// voiceCallFromSwitch: a voice call without E2EE where Joe's device makes the offer; two
// participants talk and only the from identity reaches Joe, until from names the other.
func voiceCallFromSwitch(t *testing.T, lk *liveKitServer) {
	d := newDriver(t)
	stop := make(chan struct{})
	t.Cleanup(func() { close(stop) })
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
	if _, err := joe.AddTrack(joeAudio); err != nil {
		t.Fatal(err)
	}
	aliceSent, bobSent, joeSent := newFrameSet(), newFrameSet(), newFrameSet()
	var fromAlice, fromBob, ghostToAlice atomic.Int64
	joe.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		go readFrames(tr, func(f []byte) {
			switch {
			case aliceSent.has(f):
				fromAlice.Add(1)
			case bobSent.has(f):
				fromBob.Add(1)
			}
		})
	})
	// Joe's candidates may reach the relay before his offer: the relay queues them.
	joe.OnICECandidate(func(c *webrtc.ICECandidate) {
		if c != nil {
			go d.call(map[string]any{"op": "candidate", "call": "c2", "candidate": c.ToJSON()})
		}
	})
	var mu sync.Mutex
	var joeReady bool
	var early []webrtc.ICECandidateInit
	connected := make(chan struct{})
	go func() {
		for ev := range d.events {
			switch ev["event"] {
			case "candidate":
				if c, ok := ev["candidate"].(webrtc.ICECandidateInit); ok {
					mu.Lock()
					if joeReady {
						_ = joe.AddICECandidate(c)
					} else {
						early = append(early, c)
					}
					mu.Unlock()
				}
			case "state":
				if ev["state"] == "connected" {
					close(connected)
				}
			}
		}
	}()

	d.call(map[string]any{"op": "open", "call": "c2", "media": "voice", "iceServers": []any{}, "relayOnly": false})
	offer, err := joe.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := joe.SetLocalDescription(offer); err != nil {
		t.Fatal(err)
	}
	answer := d.call(map[string]any{"op": "acceptOffer", "call": "c2", "sdp": offer.SDP})
	if err := joe.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer["sdp"].(string)}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	joeReady = true
	for _, c := range early {
		_ = joe.AddICECandidate(c)
	}
	mu.Unlock()
	select {
	case <-connected:
	case <-time.After(60 * time.Second):
		t.Fatal("People leg did not connect")
	}
	d.call(map[string]any{"op": "connect", "call": "c2", "url": lk.url, "jwt": lk.token(t, "room2", "ghost2"), "e2ee": false, "video": false})
	d.call(map[string]any{"op": "from", "call": "c2", "identity": "alice"})

	join := func(identity string, tag byte, sent *frameSet) *lksdk.Room {
		cb := lksdk.NewRoomCallback()
		cb.OnTrackSubscribed = func(tr *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
			if rp.Identity() == "ghost2" && identity == "alice" {
				go receiver(tr, func(f []byte) ([]byte, bool) { return f, true }, joeSent, &ghostToAlice)
			}
		}
		room, err := lksdk.ConnectToRoomWithToken(lk.url, lk.token(t, "room2", identity), cb, lksdk.WithAutoSubscribe(true))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(room.Disconnect)
		tr, _ := lksdk.NewLocalTrack(opusCodec)
		if _, err := room.LocalParticipant.PublishTrack(tr, &lksdk.TrackPublicationOptions{Name: "mic", Source: livekit.TrackSource_MICROPHONE}); err != nil {
			t.Fatal(err)
		}
		out := newFrameOut(func(p *rtp.Packet) error { return tr.WriteRTP(p, nil) }, false)
		go taggedSender(out, false, tag, func(f []byte, _ uint32) []byte { return f }, sent, stop)
		return room
	}
	join("alice", 'a', aliceSent)
	join("bob", 'b', bobSent)
	go sender(newFrameOut(joeAudio.WriteRTP, false), false, func(f []byte, _ uint32) []byte { return f }, joeSent, stop)

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
