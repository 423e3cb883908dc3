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
// tag tells apart frames of different senders; with wantKey, video sends a keyframe first and
// then only when asked (as an encoder answering PLIs), else every 30th frame.
func sender(out *frameOut, video bool, tag byte, wantKey *atomic.Bool, seal func([]byte, uint32) []byte, sent *frameSet, stop <-chan struct{}) {
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
			key := i%30 == 0
			if wantKey != nil {
				key = i == 0 || wantKey.Swap(false)
			}
			if key { // keyframe: P bit 0, start code, 640x480
				f = []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a, 0x80, 0x02, 0xe0, 0x01}
			} else {
				f = []byte{0x11, 0x02, 0x00}
			}
			f = append(f, bytes.Repeat([]byte{byte(i)}, 2500)...) // spans several packets
		} else {
			f = append([]byte{0xfc}, bytes.Repeat([]byte{byte(i)}, 60)...)
		}
		binary.BigEndian.PutUint32(f[len(f)-4:], uint32(i)) // every frame distinct
		f[len(f)-5] = tag
		sent.add(f)
		out.writeFrame(seal(f, ts), ts)
		ts += step
	}
}

// receiver reads a track's frames (VP8 reassembled), opens them and counts those in want.
func receiver(track *webrtc.TrackRemote, open func([]byte) ([]byte, bool), want *frameSet, got *atomic.Int64) {
	readFrames(track, func(f []byte) {
		if p, ok := open(f); ok && want.has(p) {
			got.Add(1)
		}
	})
}

// readFrames hands each frame of a track (VP8 reassembled from its packets) to check.
func readFrames(track *webrtc.TrackRemote, check func([]byte)) {
	var sb *samplebuilder.SampleBuilder
	if track.Kind() == webrtc.RTPCodecTypeVideo {
		sb = newVP8Builder()
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
