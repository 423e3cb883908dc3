// Command people-rtc-relay carries a bridged call's media between a LiveKit room (MatrixRTC)
// and a People WebRTC peer without transcoding. The bridge drives it over stdin/stdout with
// the JSON-lines contract of docs/RTC-RELAY.md; stderr is its JSON log.
package main

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/people-network/matrix-appservice-people/rtc-relay/protocol"
	"github.com/people-network/matrix-appservice-people/rtc-relay/relay"
)

// shutdownGrace bounds closing every call at exit (the contract allows 2 s in all).
const shutdownGrace = 1500 * time.Millisecond

func main() {
	// The protocol owns the real stdout; anything a library prints to fd 1 lands in the log.
	fd, err := unix.Dup(1)
	if err != nil {
		os.Exit(2)
	}
	_ = unix.Dup2(2, 1)
	out := os.NewFile(uintptr(fd), "protocol")
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	os.Exit(run(os.Stdin, out, os.Stderr, sigs))
}

// run serves requests from in until EOF or a signal, then closes every call and returns 0.
func run(in io.Reader, out, logTo io.Writer, sigs <-chan os.Signal) int {
	h := slog.NewJSONHandler(logTo, &slog.HandlerOptions{Level: slog.LevelInfo})
	relay.RouteLibraryLogs(h)
	log := slog.New(h)
	w := protocol.NewWriter(out)
	srv := relay.NewServer(w.Write, log)
	ended := make(chan string, 1)
	go func() {
		ended <- serve(protocol.NewLineReader(in, protocol.MaxLine), w, srv, log)
	}()
	var why string
	select {
	case why = <-ended:
	case s := <-sigs:
		why = s.String()
	}
	log.Info("shutting down", "reason", why)
	srv.CloseAll(shutdownGrace)
	return 0
}

func serve(lines *protocol.LineReader, w *protocol.Writer, srv *relay.Server, log *slog.Logger) string {
	for {
		line, err := lines.Next()
		if errors.Is(err, protocol.ErrLineTooLong) {
			w.Write(protocol.Reply(nil, nil, err))
			continue
		}
		if err != nil {
			if err != io.EOF {
				log.Error("stdin", "error", err.Error())
			}
			return "stdin closed"
		}
		req, err := protocol.Parse(line)
		if err != nil {
			var pe *protocol.ParseError
			var id *int64
			if errors.As(err, &pe) {
				id = pe.ID
			}
			w.Write(protocol.Reply(id, nil, err))
			continue
		}
		srv.Handle(req)
	}
}
