package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestParseValid(t *testing.T) {
	cases := map[string]func(Request) bool{
		`{"id":1,"op":"hello"}`: func(r Request) bool { return r.ID == 1 && r.Op == "hello" },
		`{"id":2,"op":"open","call":"c","media":"video","iceServers":[{"urls":"turn:h:3478","username":"u","credential":"p"},{"urls":["stun:h"]}],"relayOnly":true}`: func(r Request) bool {
			return r.Video && r.RelayOnly && len(r.ICEServers) == 2 && r.ICEServers[0].URLs[0] == "turn:h:3478" && r.ICEServers[0].Credential == "p"
		},
		`{"id":3,"op":"candidate","call":"c","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host","sdpMid":"0","sdpMLineIndex":0}}`: func(r Request) bool {
			return r.Candidate.SDPMid != nil && *r.Candidate.SDPMid == "0" && r.Candidate.SDPMLineIndex != nil
		},
		`{"id":4,"op":"setKey","call":"c","identity":"@a:x:D","key":"AAEC","index":255}`: func(r Request) bool {
			return bytes.Equal(r.Key, []byte{0, 1, 2}) && r.Index == 255
		},
		`{"id":5,"op":"connect","call":"c","url":"ws://127.0.0.1:7880","jwt":"x.y.z","e2ee":true,"video":false}`: func(r Request) bool {
			return r.E2EE && !r.Video && r.URL == "ws://127.0.0.1:7880"
		},
		`{"id":6,"op":"close","call":"c","extra":"ignored"}`: func(r Request) bool { return r.Call == "c" },
	}
	for line, check := range cases {
		r, err := Parse([]byte(line))
		if err != nil || !check(r) {
			t.Errorf("%s: %+v %v", line, r, err)
		}
	}
}

func TestParseRefused(t *testing.T) {
	cases := []struct {
		line  string
		hasID bool
	}{
		{`not json`, false},
		{`{"op":"hello"}`, false},
		{`{"id":"1","op":"hello"}`, false},
		{`{"id":1.5,"op":"hello"}`, false},
		{`{"id":1,"op":"hello"} {"id":2}`, false},
		{`[1,2]`, false},
		{`{"id":1}`, true},
		{`{"id":1,"op":"dance","call":"c"}`, true},
		{`{"id":1,"op":"offer"}`, true},
		{`{"id":1,"op":"offer","call":""}`, true},
		{`{"id":1,"op":"offer","call":7}`, false}, // wrong type: the whole line is malformed
		{`{"id":1,"op":"open","call":"c","media":"fax"}`, true},
		{`{"id":1,"op":"open","call":"c","media":"voice","iceServers":[{"urls":"http://x"}]}`, true},
		{`{"id":1,"op":"open","call":"c","media":"voice","iceServers":[{"urls":[]}]}`, true},
		{`{"id":1,"op":"acceptOffer","call":"c"}`, true},
		{`{"id":1,"op":"candidate","call":"c"}`, true},
		{`{"id":1,"op":"connect","call":"c","url":"ftp://x","jwt":"j","e2ee":true,"video":true}`, true},
		{`{"id":1,"op":"connect","call":"c","url":"ws://x","jwt":"","e2ee":true,"video":true}`, true},
		{`{"id":1,"op":"connect","call":"c","url":"ws://x","jwt":"j"}`, true},
		{`{"id":1,"op":"setKey","call":"c","identity":"a","key":"!!","index":0}`, true},
		{`{"id":1,"op":"setKey","call":"c","identity":"a","key":"","index":0}`, true},
		{`{"id":1,"op":"setKey","call":"c","identity":"a","key":"AA==","index":256}`, true},
		{`{"id":1,"op":"setKey","call":"c","identity":"a","key":"AA==","index":1.5}`, true},
		{`{"id":1,"op":"setKey","call":"c","identity":"","key":"AA==","index":1}`, true},
		{`{"id":1,"op":"from","call":"c"}`, true},
		{`{"id":1,"op":"open","call":"` + strings.Repeat("x", 300) + `","media":"voice"}`, true},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.line))
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("%s: accepted", c.line)
			continue
		}
		if (pe.ID != nil) != c.hasID {
			t.Errorf("%s: id known %v, want %v (%s)", c.line, pe.ID != nil, c.hasID, pe.Msg)
		}
	}
}

func TestLineReaderRefusesLongLines(t *testing.T) {
	long := strings.Repeat("a", MaxLine+1)
	exact := strings.Repeat("b", MaxLine)
	in := "one\n" + long + "\n" + exact + "\r\ntwo\nlast-without-newline"
	r := NewLineReader(strings.NewReader(in), MaxLine)
	want := []struct {
		line string
		err  error
	}{{"one", nil}, {"", ErrLineTooLong}, {exact, nil}, {"two", nil}, {"last-without-newline", nil}, {"", io.EOF}}
	for i, w := range want {
		line, err := r.Next()
		if err != w.err || string(line) != w.line {
			t.Fatalf("line %d: got %d bytes, %v; want %d bytes, %v", i, len(line), err, len(w.line), w.err)
		}
	}
}

func TestReplyShape(t *testing.T) {
	id := int64(9)
	b, _ := json.Marshal(Reply(&id, map[string]any{"sdp": "x"}, nil))
	if string(b) != `{"id":9,"ok":true,"sdp":"x"}` {
		t.Fatal(string(b))
	}
	b, _ = json.Marshal(Reply(nil, nil, errors.New("bad")))
	if string(b) != `{"error":"bad","id":null,"ok":false}` {
		t.Fatal(string(b))
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(`{"id":1,"op":"setKey","call":"c","identity":"a","key":"AA==","index":3}`))
	f.Add([]byte(`{"id":2,"op":"open","call":"c","media":"voice","iceServers":[{"urls":["turn:x"]}]}`))
	f.Add([]byte(`{"id":3,"op":"connect","call":"c","url":"wss://h/","jwt":"j","e2ee":false,"video":true}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := Parse(line)
		if err != nil {
			return
		}
		if r.Op != "hello" && r.Call == "" {
			t.Fatalf("accepted %q without a call", line)
		}
		if r.Op == "setKey" && (len(r.Key) == 0 || r.Identity == "") {
			t.Fatalf("accepted setKey %q without key or identity", line)
		}
	})
}
