package relay

import (
	"encoding/json"
	"testing"

	"github.com/pion/webrtc/v4"
)

// The bridge parses the candidate event strictly (docs/RTC-RELAY.md): pion's usernameFragment must
// not reach the wire, even as null.
func TestCandidateEventHasOnlyTheContractsKeys(t *testing.T) {
	mid, idx, ufrag := "0", uint16(1), "abcd"
	for _, in := range []webrtc.ICECandidateInit{
		{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host"},
		{Candidate: "candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host", SDPMid: &mid, SDPMLineIndex: &idx, UsernameFragment: &ufrag},
	} {
		raw, err := json.Marshal(candidateEvent(in))
		if err != nil {
			t.Fatal(err)
		}
		var got map[string]any
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatal(err)
		}
		for k := range got {
			if k != "candidate" && k != "sdpMid" && k != "sdpMLineIndex" {
				t.Fatalf("key %q in %s", k, raw)
			}
		}
		if got["candidate"] != in.Candidate {
			t.Fatalf("candidate lost: %s", raw)
		}
		if in.SDPMid != nil && (got["sdpMid"] != mid || got["sdpMLineIndex"] != float64(idx)) {
			t.Fatalf("sdpMid/sdpMLineIndex lost: %s", raw)
		}
	}
}
