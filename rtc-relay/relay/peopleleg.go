package relay

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"

	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/people-network/matrix-appservice-people/rtc-relay/protocol"
)

// Codecs of the People leg: only what passes through unchanged.
var (
	opusCodec = webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1",
	}
	vp8Codec = webrtc.RTPCodecCapability{
		MimeType: webrtc.MimeTypeVP8, ClockRate: 90000,
		RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"}},
	}
)

// newPeopleAPI builds a pion API with Opus 48k/2 and VP8 only, NACK, RTCP report and TWCC feedback
// interceptors (keyframe requests are forwarded by the relay, not generated on a timer).
func newPeopleAPI(log *slog.Logger) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: opusCodec, PayloadType: 111}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	if err := m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: vp8Codec, PayloadType: 96}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.ConfigureNack(m, ir); err != nil {
		return nil, err
	}
	if err := webrtc.ConfigureRTCPReports(ir); err != nil {
		return nil, err
	}
	// Transport-wide congestion feedback lets Joe's sender find the bandwidth; without any
	// feedback libwebrtc stays at its start bitrate.
	if err := webrtc.ConfigureTWCCSender(m, ir); err != nil {
		return nil, err
	}
	se := webrtc.SettingEngine{LoggerFactory: pionLogs{log}}
	// A bridge and its peer on one host (tests, small installs) may share only loopback.
	se.SetIncludeLoopbackCandidate(true)
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

func peopleConfig(req protocol.Request) webrtc.Configuration {
	cfg := webrtc.Configuration{}
	for _, s := range req.ICEServers {
		srv := webrtc.ICEServer{URLs: s.URLs, Username: s.Username}
		if s.Credential != "" {
			srv.Credential = s.Credential
		}
		cfg.ICEServers = append(cfg.ICEServers, srv)
	}
	if req.RelayOnly {
		cfg.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return cfg
}

// peopleState maps pion's connection states onto the contract's; "disconnected" (ICE may
// still recover) is not one of them and is not reported.
func peopleState(s webrtc.PeerConnectionState) (string, bool) {
	switch s {
	case webrtc.PeerConnectionStateNew:
		return "new", true
	case webrtc.PeerConnectionStateConnecting:
		return "connecting", true
	case webrtc.PeerConnectionStateConnected:
		return "connected", true
	case webrtc.PeerConnectionStateFailed:
		return "failed", true
	case webrtc.PeerConnectionStateClosed:
		return "closed", true
	}
	return "", false
}

func (c *Call) offer() (map[string]any, error) {
	o, err := c.pc.CreateOffer(nil)
	if err != nil {
		return nil, err
	}
	if err := c.pc.SetLocalDescription(o); err != nil {
		return nil, err
	}
	return map[string]any{"sdp": o.SDP}, nil
}

func (c *Call) acceptOffer(sdp string) (map[string]any, error) {
	if err := c.setRemote(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: sdp}); err != nil {
		return nil, err
	}
	a, err := c.pc.CreateAnswer(nil)
	if err != nil {
		return nil, err
	}
	if err := c.pc.SetLocalDescription(a); err != nil {
		return nil, err
	}
	return map[string]any{"sdp": a.SDP}, nil
}

// setRemote applies the remote description, then candidates that arrived before it.
func (c *Call) setRemote(d webrtc.SessionDescription) error {
	if err := c.pc.SetRemoteDescription(d); err != nil {
		return errors.New("remote description refused: " + err.Error())
	}
	c.mu.Lock()
	pending := c.pending
	c.pending, c.remoteSet = nil, true
	c.mu.Unlock()
	for _, cand := range pending {
		if err := c.pc.AddICECandidate(cand); err != nil {
			c.log.Warn("queued remote candidate refused", "error", err.Error())
		}
	}
	return nil
}

func (c *Call) addCandidate(cand protocol.Candidate) error {
	if cand.Candidate == "" {
		return nil // end of remote candidates: nothing to add (contract, Changes)
	}
	init := webrtc.ICECandidateInit{Candidate: cand.Candidate, SDPMid: cand.SDPMid, SDPMLineIndex: cand.SDPMLineIndex}
	c.mu.Lock()
	if !c.remoteSet {
		c.pending = append(c.pending, init)
		c.mu.Unlock()
		return nil
	}
	c.mu.Unlock()
	if err := c.pc.AddICECandidate(init); err != nil {
		return errors.New("candidate refused: " + err.Error())
	}
	return nil
}

// fingerprint is the SHA-256 of the remote DTLS certificate, in SDP's a=fingerprint form.
func (c *Call) fingerprint() map[string]any {
	cert := c.pc.SCTP().Transport().GetRemoteCertificate()
	if len(cert) == 0 {
		return map[string]any{"fingerprint": nil}
	}
	sum := sha256.Sum256(cert)
	hexs := strings.ToUpper(hex.EncodeToString(sum[:]))
	parts := make([]string, 0, len(sum))
	for i := 0; i < len(hexs); i += 2 {
		parts = append(parts, hexs[i:i+2])
	}
	return map[string]any{"fingerprint": "sha-256 " + strings.Join(parts, ":")}
}
