package relay

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/people-network/matrix-appservice-people/rtc-relay/protocol"
)

func TestPanicEndsOnlyItsCall(t *testing.T) {
	events := make(chan map[string]any, 64)
	srv := NewServer(func(v any) {
		if m, ok := v.(map[string]any); ok {
			events <- m
		}
	}, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	for i, call := range []string{"bad", "good"} {
		srv.Handle(protocol.Request{ID: int64(i), Op: "open", Call: call})
	}
	srv.mu.Lock()
	bad := srv.calls["bad"]
	srv.mu.Unlock()
	bad.safeGo("test", func() { panic("boom") })
	deadline := time.After(30 * time.Second)
	for gotDisconnected := false; !gotDisconnected; {
		select {
		case m := <-events:
			if m["event"] == "disconnected" {
				if m["call"] != "bad" || m["reason"] != "internal error" {
					t.Fatalf("wrong event %v", m)
				}
				gotDisconnected = true
			}
		case <-deadline:
			t.Fatal("no disconnected event after a panic")
		}
	}
	for !bad.isClosed() {
		time.Sleep(10 * time.Millisecond)
	}
	srv.mu.Lock()
	_, badKept := srv.calls["bad"]
	good := srv.calls["good"]
	srv.mu.Unlock()
	if badKept || good == nil || good.isClosed() {
		t.Fatalf("panicking call kept %v, other call open %v", badKept, good != nil && !good.isClosed())
	}
	srv.CloseAll(5 * time.Second)
}
