package relay

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/people-network/matrix-appservice-people/rtc-relay/framecrypt"
)

// TestUnopenedFramesLoggedOnChange: a participant's frames that cannot be opened are logged once
// per reason, their opening again once, and audio and video apart.
func TestUnopenedFramesLoggedOnChange(t *testing.T) {
	var buf bytes.Buffer
	c := &Call{log: slog.New(slog.NewJSONHandler(&buf, nil))}
	const alice = "@alice:hs:DEV"
	c.firstUnopened(alice, framecrypt.Audio, framecrypt.ErrMissingKey)
	c.firstUnopened(alice, framecrypt.Audio, framecrypt.ErrMissingKey)
	c.firstUnopened(alice, framecrypt.VP8, framecrypt.ErrMissingKey)
	c.firstUnopened(alice, framecrypt.Audio, framecrypt.ErrAuth)
	c.opened(alice, framecrypt.Audio)
	c.opened(alice, framecrypt.Audio)
	c.firstUnopened(alice, framecrypt.Audio, framecrypt.ErrAuth)
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("not a JSON log line: %q", line)
		}
		if m["identity"] != alice {
			t.Fatalf("line without the identity: %v", m)
		}
		reason, _ := m["reason"].(string)
		got = append(got, m["msg"].(string)+"|"+reason+"|"+map[bool]string{true: "video", false: "audio"}[m["video"] == true])
	}
	want := []string{
		"a LiveKit frame could not be opened|no key at index|audio",
		"a LiveKit frame could not be opened|no key at index|video",
		"a LiveKit frame could not be opened|frame did not authenticate|audio",
		"LiveKit frames open now||audio",
		"a LiveKit frame could not be opened|frame did not authenticate|audio",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("logged\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
