// Package relay runs bridged calls: per call a People-leg WebRTC peer (pion) and a LiveKit
// participant (server-sdk-go), with Opus and VP8 frames carried between them untouched but
// for Element Call's frame encryption.
package relay

import (
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/people-network/matrix-appservice-people/rtc-relay/protocol"
)

// Emit sends one event or reply line to the bridge.
type Emit func(v any)

// Server owns the calls of one relay process.
type Server struct {
	emit  Emit
	log   *slog.Logger
	mu    sync.Mutex
	calls map[string]*Call
}

// NewServer returns a server writing replies and events through emit.
func NewServer(emit Emit, log *slog.Logger) *Server {
	return &Server{emit: emit, log: log, calls: map[string]*Call{}}
}

var (
	errUnknownCall = errors.New("unknown call")
	errInternal    = errors.New("internal error")
)

// Handle answers one validated request; call ops run on the call's own queue so a slow
// connect never holds up other calls, and each request gets exactly one reply.
func (s *Server) Handle(req protocol.Request) {
	id := req.ID
	reply := func(result map[string]any, err error) { s.emit(protocol.Reply(&id, result, err)) }
	switch req.Op {
	case "hello":
		reply(map[string]any{"version": "1", "codecs": []string{"opus", "vp8"}}, nil)
	case "open":
		reply(nil, s.open(req))
	case "close":
		s.mu.Lock()
		c := s.calls[req.Call]
		delete(s.calls, req.Call)
		s.mu.Unlock()
		if c == nil {
			reply(nil, nil) // closing an unknown call is ok
			return
		}
		go func() {
			c.Close("closed")
			reply(nil, nil)
		}()
	default:
		s.mu.Lock()
		c := s.calls[req.Call]
		s.mu.Unlock()
		if c == nil {
			reply(nil, errUnknownCall)
			return
		}
		c.enqueue(func(refused error) {
			defer func() {
				if r := recover(); r != nil {
					reply(nil, errInternal)
					panic(r) // the call's own recover logs it and ends the call
				}
			}()
			if refused != nil {
				reply(nil, refused)
				return
			}
			reply(c.do(req))
		})
	}
}

func (s *Server) open(req protocol.Request) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.calls[req.Call]; exists {
		return errors.New("call already open")
	}
	c, err := newCall(s, req)
	if err != nil {
		return err
	}
	s.calls[req.Call] = c
	return nil
}

// forget drops a call that ended by itself (panic, lost leg) so a later open may reuse its id.
func (s *Server) forget(c *Call) {
	s.mu.Lock()
	if s.calls[c.id] == c {
		delete(s.calls, c.id)
	}
	s.mu.Unlock()
}

// CloseAll ends every call, waiting at most timeout.
func (s *Server) CloseAll(timeout time.Duration) {
	s.mu.Lock()
	calls := make([]*Call, 0, len(s.calls))
	for id, c := range s.calls {
		calls = append(calls, c)
		delete(s.calls, id)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Close("shutdown")
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		s.log.Warn("calls still closing at exit", "count", len(calls))
	}
}
