package launcher

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/wardsecrets/ward/launcher/failure"
)

// newLogger is ward's logger for a command: text on a terminal, JSON
// otherwise, at --log-level.
func newLogger(c *cli.Context, w *os.File) (*slog.Logger, slog.Level, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return nil, 0, failure.New(fmt.Errorf("invalid --log-level %q", c.String("log-level")), "choose debug, info, warn or error")
	}
	opts := &slog.HandlerOptions{Level: level}
	format := c.String("log-format")
	switch format {
	case "auto":
		if term.IsTerminal(int(w.Fd())) {
			format = "text"
		} else {
			format = "json"
		}
	case "text", "json":
	default:
		return nil, 0, failure.New(fmt.Errorf("invalid --log-format %q", format), "choose text, json or auto")
	}
	if format == "text" {
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
		return slog.New(slog.NewTextHandler(w, opts)).With("app", "ward"), level, nil
	}
	return slog.New(slog.NewJSONHandler(w, opts)).With("app", "ward"), level, nil
}
