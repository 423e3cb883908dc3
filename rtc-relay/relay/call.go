package relay

import (
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"

	"github.com/people-network/matrix-appservice-people/rtc-relay/framecrypt"
	"github.com/people-network/matrix-appservice-people/rtc-relay/protocol"
)

// Call is one bridged call: the People leg (pc) and, after connect, the LiveKit leg (room).
type Call struct {
	id    string
	srv   *Server
	log   *slog.Logger
	video bool
	pc    *webrtc.PeerConnection
	// Frames to People, written to the People leg's local tracks.
	peopleAudio, peopleVideo *frameOut
	queue                    chan func(refused error)
	done                     chan struct{}
	closeOnce                sync.Once

	mu        sync.Mutex
	closed    bool
	remoteSet bool
	pending   []webrtc.ICECandidateInit
	lk        *liveKit
	from      string
	keys      map[string]*framecrypt.KeyRing
	// fromVideo: the subscribed camera tracks by identity, for keyframe requests.
	fromVideo map[string]remoteVideo
	// videoOK: a keyframe of the from identity's video came through since its last failure.
	videoOK      bool
	keyframeLoop bool
	// peopleVideoIn: Joe's video track, for keyframe requests toward him.
	peopleVideoIn *webrtc.TrackRemote
	iv            *framecrypt.IVMaker

	stats counters
	first sync.Map
	// unopened: identity/kind → the reason its last frame could not be opened (logged on change).
	unopened sync.Map
}

type counters struct {
	toPeopleAudio, toPeopleVideo, toMatrixAudio, toMatrixVideo atomic.Int64
	decryptFailures, keyframeRequests                          atomic.Int64
}

func newCall(s *Server, req protocol.Request) (*Call, error) {
	api, err := newPeopleAPI(s.log.With("call", req.Call))
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(peopleConfig(req))
	if err != nil {
		return nil, errors.New("People leg refused its configuration: " + err.Error())
	}
	c := &Call{
		id: req.Call, srv: s, log: s.log.With("call", req.Call), video: req.Video, pc: pc,
		queue: make(chan func(error), 64), done: make(chan struct{}),
		keys: map[string]*framecrypt.KeyRing{}, fromVideo: map[string]remoteVideo{},
		iv: framecrypt.NewIVMaker(randomUint32),
	}
	if c.peopleAudio, err = c.addPeopleTrack(opusCodec, "audio"); err != nil {
		_ = pc.Close()
		return nil, err
	}
	if c.video {
		if c.peopleVideo, err = c.addPeopleTrack(vp8Codec, "video"); err != nil {
			_ = pc.Close()
			return nil, err
		}
	}
	pc.OnICECandidate(func(cand *webrtc.ICECandidate) {
		defer c.recoverPanic("ice candidate")
		if cand == nil {
			c.event("candidate", map[string]any{"candidate": nil})
			return
		}
		c.event("candidate", map[string]any{"candidate": candidateEvent(cand.ToJSON())})
	})
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		defer c.recoverPanic("state")
		if name, ok := peopleState(st); ok {
			c.event("state", map[string]any{"state": name})
		}
	})
	pc.OnTrack(func(track *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		c.safeGo("people track", func() { c.pumpFromPeople(track) })
	})
	go c.work()
	return c, nil
}

// addPeopleTrack adds a local track toward Joe and drains its sender's RTCP (interceptors
// need it read), passing his keyframe requests to LiveKit.
func (c *Call) addPeopleTrack(codec webrtc.RTPCodecCapability, kind string) (*frameOut, error) {
	track, err := webrtc.NewTrackLocalStaticRTP(codec, kind, "people-relay")
	if err != nil {
		return nil, err
	}
	sender, err := c.pc.AddTrack(track)
	if err != nil {
		return nil, err
	}
	c.safeGo("people rtcp", func() { c.readPeopleRTCP(sender) })
	return newFrameOut(track.WriteRTP, codec.MimeType == webrtc.MimeTypeVP8), nil
}

var (
	errCallClosed = errors.New("call closed")
	errCallBusy   = errors.New("call busy: too many requests waiting")
)

// enqueue runs f(nil) on the call's worker in order; a request that cannot run gets f(reason),
// so every request still gets its one reply.
func (c *Call) enqueue(f func(refused error)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		go f(errCallClosed)
		return
	}
	select {
	case c.queue <- f:
	default:
		go f(errCallBusy)
	}
}

func (c *Call) work() {
	for {
		select {
		case f := <-c.queue:
			c.run(f)
		case <-c.done:
			for {
				select {
				case f := <-c.queue:
					f(errCallClosed)
				default:
					return
				}
			}
		}
	}
}

func (c *Call) run(f func(error)) {
	defer c.recoverPanic("request")
	if c.isClosed() {
		f(errCallClosed)
		return
	}
	f(nil)
}

func (c *Call) do(req protocol.Request) (map[string]any, error) {
	switch req.Op {
	case "offer":
		return c.offer()
	case "acceptOffer":
		return c.acceptOffer(req.SDP)
	case "acceptAnswer":
		return nil, c.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: req.SDP})
	case "candidate":
		return nil, c.addCandidate(req.Candidate)
	case "fingerprint":
		return c.fingerprint(), nil
	case "connect":
		return nil, c.connect(req)
	case "setKey":
		return nil, c.setKey(req.Identity, req.Key, req.Index)
	case "from":
		c.setFrom(req.Identity)
		return nil, nil
	case "stats":
		return c.statsResult(), nil
	}
	return nil, fmt.Errorf("unknown op %q", req.Op)
}

func (c *Call) statsResult() map[string]any {
	s := &c.stats
	return map[string]any{
		"toPeople":         map[string]int64{"audio": s.toPeopleAudio.Load(), "video": s.toPeopleVideo.Load()},
		"toMatrix":         map[string]int64{"audio": s.toMatrixAudio.Load(), "video": s.toMatrixVideo.Load()},
		"decryptFailures":  s.decryptFailures.Load(),
		"keyframeRequests": s.keyframeRequests.Load(),
	}
}

func (c *Call) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

func (c *Call) event(name string, fields map[string]any) {
	ev := map[string]any{"event": name, "call": c.id}
	for k, v := range fields {
		ev[k] = v
	}
	c.srv.emit(ev)
}

// firstFrame emits the media event once per direction and kind.
func (c *Call) firstFrame(direction, kind string) {
	if _, seen := c.first.LoadOrStore(direction+"/"+kind, true); !seen {
		c.event("media", map[string]any{"direction": direction, "kind": kind})
	}
}

// Close ends both legs; safe to call more than once and from any goroutine.
func (c *Call) Close(reason string) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		lk := c.lk
		c.mu.Unlock()
		close(c.done)
		if lk != nil {
			lk.room.Disconnect()
		}
		if err := c.pc.Close(); err != nil {
			c.log.Warn("People leg close", "error", err.Error())
		}
		c.log.Info("call closed", "reason", reason)
	})
}

// safeGo runs f on its own goroutine; a panic there ends only this call.
func (c *Call) safeGo(name string, f func()) {
	go func() {
		defer c.recoverPanic(name)
		f()
	}()
}

func (c *Call) recoverPanic(where string) {
	r := recover()
	if r == nil {
		return
	}
	// The panic value and stack name code, never media or keys.
	c.log.Error("panic; ending this call", "where", where, "panic", fmt.Sprintf("%T", r), "stack", string(debug.Stack()))
	go func() {
		c.srv.forget(c)
		if !c.isClosed() {
			c.event("disconnected", map[string]any{"reason": "internal error"})
		}
		c.Close("internal error")
	}()
}

// liveKit is the connected LiveKit leg or nil.
func (c *Call) liveKit() *liveKit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lk
}

// candidateEvent is a local candidate in the contract's shape (docs/RTC-RELAY.md): candidate, sdpMid,
// sdpMLineIndex. pion's ICECandidateInit also carries usernameFragment (null here), which the bridge's
// strict parser refuses as a malformed event.
func candidateEvent(j webrtc.ICECandidateInit) map[string]any {
	out := map[string]any{"candidate": j.Candidate}
	if j.SDPMid != nil {
		out["sdpMid"] = *j.SDPMid
	}
	if j.SDPMLineIndex != nil {
		out["sdpMLineIndex"] = *j.SDPMLineIndex
	}
	return out
}
