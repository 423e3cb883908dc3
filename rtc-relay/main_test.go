package main

import (
	"bufio"
	"encoding/json"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// relayProc runs the relay in-process on pipes, as the bridge drives the real binary.
type relayProc struct {
	t      *testing.T
	in     *io.PipeWriter
	lines  chan map[string]any
	sigs   chan os.Signal
	exited chan int
}

func startRelay(t *testing.T) *relayProc {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	p := &relayProc{t: t, in: inW, lines: make(chan map[string]any, 256), sigs: make(chan os.Signal, 1), exited: make(chan int, 1)}
	go func() {
		p.exited <- run(inR, outW, io.Discard, p.sigs)
		_ = outW.Close()
	}()
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 1<<20), 4<<20)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Errorf("relay wrote a non-JSON line: %q", sc.Text())
				continue
			}
			p.lines <- m
		}
		close(p.lines)
	}()
	t.Cleanup(func() { _ = inW.Close() })
	return p
}

func (p *relayProc) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.in, line+"\n"); err != nil {
		p.t.Fatal(err)
	}
}

// reply waits for the reply with this id (null: -1), skipping events.
func (p *relayProc) reply(id float64) map[string]any {
	p.t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-p.lines:
			if !ok {
				p.t.Fatalf("relay ended before reply %v", id)
			}
			if _, isEvent := m["event"]; isEvent {
				continue
			}
			got, isNum := m["id"].(float64)
			if (id < 0 && m["id"] == nil) || (isNum && got == id) {
				return m
			}
			p.t.Fatalf("unexpected reply %v while waiting for %v", m, id)
		case <-timeout:
			p.t.Fatalf("no reply %v", id)
		}
	}
}

func wantOK(t *testing.T, m map[string]any) {
	t.Helper()
	if m["ok"] != true {
		t.Fatalf("want ok, got %v", m)
	}
}

func wantErr(t *testing.T, m map[string]any, contains string) {
	t.Helper()
	msg, _ := m["error"].(string)
	if m["ok"] != false || !strings.Contains(msg, contains) {
		t.Fatalf("want error containing %q, got %v", contains, m)
	}
}

func TestHelloAndMalformedLines(t *testing.T) {
	p := startRelay(t)
	p.send(`{"id":1,"op":"hello"}`)
	hello := p.reply(1)
	wantOK(t, hello)
	if hello["version"] != "1" || len(hello["codecs"].([]any)) != 2 {
		t.Fatalf("hello: %v", hello)
	}
	p.send(`{"id":`)
	wantErr(t, p.reply(-1), "malformed")
	p.send(`{"id":2,"op":"teleport","call":"c"}`)
	wantErr(t, p.reply(2), "unknown op")
	p.send(`{"id":3,"op":"offer","call":"nope"}`)
	wantErr(t, p.reply(3), "unknown call")
	p.send(`{"id":4,"op":"hello","pad":"` + strings.Repeat("x", 1<<20) + `"}`)
	wantErr(t, p.reply(-1), "1 MiB")
	p.send(`{"id":5,"op":"hello"}`) // still serving after the refused line
	wantOK(t, p.reply(5))
}

func TestOpenTwiceCloseTwice(t *testing.T) {
	p := startRelay(t)
	p.send(`{"id":1,"op":"open","call":"a","media":"voice","iceServers":[],"relayOnly":false}`)
	wantOK(t, p.reply(1))
	p.send(`{"id":2,"op":"open","call":"a","media":"video","iceServers":[],"relayOnly":false}`)
	wantErr(t, p.reply(2), "already open")
	// The replayed open changed nothing: still a voice call (one m-line).
	p.send(`{"id":3,"op":"offer","call":"a"}`)
	offer := p.reply(3)
	wantOK(t, offer)
	sdp := offer["sdp"].(string)
	if !strings.Contains(sdp, "m=audio") || strings.Contains(sdp, "m=video") || !strings.Contains(sdp, "opus/48000/2") {
		t.Fatalf("voice offer has the wrong media lines")
	}
	p.send(`{"id":31,"op":"candidate","call":"a","candidate":{"candidate":""}}`) // end of candidates
	wantOK(t, p.reply(31))
	p.send(`{"id":32,"op":"candidate","call":"a","candidate":{"candidate":"candidate:1 1 udp 2130706431 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}`)
	wantOK(t, p.reply(32)) // before the remote description: queued
	p.send(`{"id":4,"op":"fingerprint","call":"a"}`)
	if fp := p.reply(4); fp["ok"] != true || fp["fingerprint"] != nil {
		t.Fatalf("fingerprint before connecting: %v", fp)
	}
	p.send(`{"id":5,"op":"close","call":"a"}`)
	wantOK(t, p.reply(5))
	p.send(`{"id":6,"op":"close","call":"a"}`)
	wantOK(t, p.reply(6))
	p.send(`{"id":7,"op":"stats","call":"a"}`)
	wantErr(t, p.reply(7), "unknown call")
	// The id is free again.
	p.send(`{"id":8,"op":"open","call":"a","media":"video","iceServers":[],"relayOnly":true}`)
	wantOK(t, p.reply(8))
	p.send(`{"id":9,"op":"offer","call":"a"}`)
	sdp = p.reply(9)["sdp"].(string)
	if !strings.Contains(sdp, "VP8/90000") || strings.Contains(sdp, "H264") || strings.Contains(sdp, "VP9") {
		t.Fatalf("video offer must carry VP8 and only VP8")
	}
	// Joe's sender gets NACK, PLI and congestion feedback from the relay.
	for _, fb := range []string{"a=rtcp-fb:96 nack", "a=rtcp-fb:96 nack pli", "a=rtcp-fb:96 transport-cc"} {
		if !strings.Contains(sdp, fb+"\r\n") {
			t.Fatalf("video offer lacks %q", fb)
		}
	}
}

func TestEndOfInputClosesCallsAndExits(t *testing.T) {
	p := startRelay(t)
	p.send(`{"id":1,"op":"open","call":"x","media":"video","iceServers":[],"relayOnly":false}`)
	wantOK(t, p.reply(1))
	start := time.Now()
	_ = p.in.Close()
	select {
	case code := <-p.exited:
		if code != 0 {
			t.Fatalf("exit code %d", code)
		}
	case <-time.After(10 * time.Second): // generous: the machine is shared; the 2 s bound is shutdownGrace
		t.Fatal("relay did not exit after stdin closed")
	}
	t.Logf("exited %v after EOF", time.Since(start))
}

func TestSignalClosesCallsAndExits(t *testing.T) {
	p := startRelay(t)
	p.send(`{"id":1,"op":"open","call":"x","media":"voice","iceServers":[],"relayOnly":false}`)
	wantOK(t, p.reply(1))
	p.sigs <- syscall.SIGTERM
	select {
	case code := <-p.exited:
		if code != 0 {
			t.Fatalf("exit code %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("relay did not exit on SIGTERM")
	}
}
