package relay

import (
	"context"
	"log/slog"

	"github.com/go-logr/logr"
	protoLogger "github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
)

// RouteLibraryLogs sends the LiveKit SDK's log (and its pion's) into the relay's JSON log at
// warn and above; by default it writes chatty plain lines to stderr.
func RouteLibraryLogs(h slog.Handler) {
	lksdk.SetLogger(protoLogger.LogRLogger(logr.FromSlogHandler(warnOnly{h})))
}

type warnOnly struct{ slog.Handler }

func (w warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && w.Handler.Enabled(ctx, l)
}
func (w warnOnly) WithAttrs(a []slog.Attr) slog.Handler { return warnOnly{w.Handler.WithAttrs(a)} }
func (w warnOnly) WithGroup(n string) slog.Handler      { return warnOnly{w.Handler.WithGroup(n)} }
