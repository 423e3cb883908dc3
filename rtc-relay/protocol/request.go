// Package protocol is the relay's wire contract (docs/RTC-RELAY.md): newline-delimited JSON
// requests on stdin, replies and events on stdout. Parse validates a line once into a typed
// Request; everything after it trusts the fields it checked.
package protocol

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
)

// Limits on what a request may carry.
const (
	MaxLine      = 1 << 20
	maxCallID    = 256
	maxIdentity  = 512
	maxKeyBytes  = 256
	maxICEServer = 16
)

// ICEServer is one entry of open's iceServers.
type ICEServer struct {
	URLs       []string
	Username   string
	Credential string
}

// Candidate is a remote ICE candidate (RTCIceCandidateInit).
type Candidate struct {
	Candidate     string  `json:"candidate"`
	SDPMid        *string `json:"sdpMid,omitempty"`
	SDPMLineIndex *uint16 `json:"sdpMLineIndex,omitempty"`
}

// Request is a validated request; only the fields of its Op are set.
type Request struct {
	ID         int64
	Op         string
	Call       string
	Video      bool // open: media "video"; connect: video
	ICEServers []ICEServer
	RelayOnly  bool
	SDP        string
	Candidate  Candidate
	URL        string
	JWT        string
	E2EE       bool
	Identity   string
	Key        []byte
	Index      uint8
}

type wireICEServer struct {
	URLs       json.RawMessage `json:"urls"`
	Username   string          `json:"username"`
	Credential string          `json:"credential"`
}

type wireRequest struct {
	ID         json.RawMessage `json:"id"`
	Op         *string         `json:"op"`
	Call       *string         `json:"call"`
	Media      *string         `json:"media"`
	ICEServers []wireICEServer `json:"iceServers"`
	RelayOnly  *bool           `json:"relayOnly"`
	SDP        *string         `json:"sdp"`
	Candidate  *Candidate      `json:"candidate"`
	URL        *string         `json:"url"`
	JWT        *string         `json:"jwt"`
	E2EE       *bool           `json:"e2ee"`
	Video      *bool           `json:"video"`
	Identity   *string         `json:"identity"`
	Key        *string         `json:"key"`
	Index      *float64        `json:"index"`
}

// ParseError is a refused line; ID is set when the line's id could be read.
type ParseError struct {
	ID  *int64
	Msg string
}

func (e *ParseError) Error() string { return e.Msg }

// Parse validates one line into a Request.
func Parse(line []byte) (Request, error) {
	var w wireRequest
	dec := json.NewDecoder(bytes.NewReader(line))
	if err := dec.Decode(&w); err != nil {
		return Request{}, &ParseError{Msg: "malformed JSON: " + err.Error()}
	}
	if dec.More() {
		return Request{}, &ParseError{Msg: "malformed JSON: more than one value on the line"}
	}
	id, ok := parseID(w.ID)
	if !ok {
		return Request{}, &ParseError{Msg: "id must be an integer"}
	}
	r := Request{ID: id}
	if err := r.fill(&w); err != nil {
		return Request{}, &ParseError{ID: &id, Msg: err.Error()}
	}
	return r, nil
}

func parseID(raw json.RawMessage) (int64, bool) {
	var f float64
	if len(raw) == 0 || json.Unmarshal(raw, &f) != nil {
		return 0, false
	}
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

func (r *Request) fill(w *wireRequest) error {
	if w.Op == nil {
		return errors.New("op is required")
	}
	r.Op = *w.Op
	if r.Op == "hello" {
		return nil
	}
	if _, known := callOps[r.Op]; !known {
		return fmt.Errorf("unknown op %q", r.Op)
	}
	if w.Call == nil || *w.Call == "" || len(*w.Call) > maxCallID {
		return errors.New("call must be a non-empty string of at most 256 bytes")
	}
	r.Call = *w.Call
	return callOps[r.Op](r, w)
}

var callOps = map[string]func(*Request, *wireRequest) error{
	"open":         fillOpen,
	"offer":        func(*Request, *wireRequest) error { return nil },
	"acceptOffer":  fillSDP,
	"acceptAnswer": fillSDP,
	"candidate":    fillCandidate,
	"fingerprint":  func(*Request, *wireRequest) error { return nil },
	"connect":      fillConnect,
	"setKey":       fillSetKey,
	"from":         fillFrom,
	"stats":        func(*Request, *wireRequest) error { return nil },
	"close":        func(*Request, *wireRequest) error { return nil },
}

func fillOpen(r *Request, w *wireRequest) error {
	if w.Media == nil || (*w.Media != "voice" && *w.Media != "video") {
		return errors.New(`media must be "voice" or "video"`)
	}
	r.Video = *w.Media == "video"
	if w.RelayOnly != nil {
		r.RelayOnly = *w.RelayOnly
	}
	if len(w.ICEServers) > maxICEServer {
		return errors.New("too many iceServers")
	}
	for _, s := range w.ICEServers {
		urls, err := parseURLs(s.URLs)
		if err != nil {
			return err
		}
		r.ICEServers = append(r.ICEServers, ICEServer{URLs: urls, Username: s.Username, Credential: s.Credential})
	}
	return nil
}

// parseURLs accepts RTCIceServer.urls: a string or a non-empty array of stun:/turn:/turns: URLs.
func parseURLs(raw json.RawMessage) ([]string, error) {
	var one string
	var many []string
	if json.Unmarshal(raw, &one) == nil {
		many = []string{one}
	} else if json.Unmarshal(raw, &many) != nil || len(many) == 0 {
		return nil, errors.New("iceServers[].urls must be a string or a non-empty array of strings")
	}
	for _, u := range many {
		if !strings.HasPrefix(u, "stun:") && !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") {
			return nil, errors.New("iceServers[].urls must be stun:, turn: or turns: URLs")
		}
	}
	return many, nil
}

func fillSDP(r *Request, w *wireRequest) error {
	if w.SDP == nil || *w.SDP == "" {
		return errors.New("sdp is required")
	}
	r.SDP = *w.SDP
	return nil
}

func fillCandidate(r *Request, w *wireRequest) error {
	if w.Candidate == nil {
		return errors.New("candidate is required")
	}
	r.Candidate = *w.Candidate
	return nil
}

func fillConnect(r *Request, w *wireRequest) error {
	if w.URL == nil {
		return errors.New("url is required")
	}
	u, err := url.Parse(*w.URL)
	if err != nil || u.Host == "" || (u.Scheme != "ws" && u.Scheme != "wss" && u.Scheme != "http" && u.Scheme != "https") {
		return errors.New("url must be a ws:, wss:, http: or https: URL")
	}
	if w.JWT == nil || *w.JWT == "" {
		return errors.New("jwt is required")
	}
	if w.E2EE == nil || w.Video == nil {
		return errors.New("e2ee and video must be booleans")
	}
	r.URL, r.JWT, r.E2EE, r.Video = *w.URL, *w.JWT, *w.E2EE, *w.Video
	return nil
}

func fillIdentity(r *Request, w *wireRequest) error {
	if w.Identity == nil || *w.Identity == "" || len(*w.Identity) > maxIdentity {
		return errors.New("identity must be a non-empty string of at most 512 bytes")
	}
	r.Identity = *w.Identity
	return nil
}

func fillFrom(r *Request, w *wireRequest) error { return fillIdentity(r, w) }

func fillSetKey(r *Request, w *wireRequest) error {
	if err := fillIdentity(r, w); err != nil {
		return err
	}
	if w.Key == nil {
		return errors.New("key is required")
	}
	key, err := base64.StdEncoding.DecodeString(*w.Key)
	if err != nil || len(key) == 0 || len(key) > maxKeyBytes {
		return errors.New("key must be base64 of 1 to 256 bytes")
	}
	if w.Index == nil || *w.Index != math.Trunc(*w.Index) || *w.Index < 0 || *w.Index > 255 {
		return errors.New("index must be an integer 0..255")
	}
	r.Key, r.Index = key, uint8(*w.Index)
	return nil
}
