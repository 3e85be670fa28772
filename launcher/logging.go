package launcher

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/logfmt"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/signals"
)

// logs are a command's loggers, at --log-level, in --log-format.
type logs struct {
	// log is ward's own log.
	log *slog.Logger
	// audit is the fetcher's: one line per document read. In JSON it is
	// the audit trail and stays at info; in text, read by a person at a
	// terminal, those lines are detail and go to debug.
	audit *slog.Logger
	level slog.Level
}

// newLogs makes a command's loggers: text on a terminal, JSON otherwise,
// at --log-level, writing to w through q (nil: to w at once, in order
// with what the command prints: check's and scan's, which supervise
// nothing).
func newLogs(c *cli.Context, w *os.File, q *logfmt.Queue) (logs, error) {
	// An empty $WARD_LOG_LEVEL or $WARD_LOG_FORMAT asks for the default.
	var level slog.Level
	if l := c.String("log-level"); l != "" {
		if err := level.UnmarshalText([]byte(l)); err != nil {
			return logs{}, invalidFlag(c, "log-level", l, "choose debug, info, warn or error")
		}
	}
	format := c.String("log-format")
	tty := term.IsTerminal(int(w.Fd()))
	switch format {
	case "auto", "":
		if tty {
			format = "text"
		} else {
			format = "json"
		}
	case "text", "json":
	default:
		return logs{}, invalidFlag(c, "log-format", format, "choose text, json or auto")
	}
	out := io.Writer(w)
	if tty {
		// Through to the terminal even in the background under stty
		// tostop, and line by line while --mask holds it raw.
		out = signals.Writer(w)
	}
	handler := logfmt.Handler
	if logfmt.Journal(w) {
		handler = logfmt.JournalHandler
	}
	if q != nil {
		// The queue writes to signals.Writer(w), which is out.
		q.SetDropNote(func(n int) []byte {
			var b bytes.Buffer
			slog.New(handler(&b, format == "json", level)).Warn("ward's log was not read: records dropped here", "dropped", n)
			return b.Bytes()
		})
		out = q
	}
	h := handler(out, format == "json", level)
	if format == "json" {
		log := slog.New(h)
		return logs{log: log, audit: log, level: level}, nil
	}
	return logs{log: slog.New(h), audit: slog.New(infoAsDebug{h}), level: level}, nil
}

// infoAsDebug lowers info records to debug.
type infoAsDebug struct{ slog.Handler }

func (h infoAsDebug) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, infoToDebug(l))
}

func (h infoAsDebug) Handle(ctx context.Context, r slog.Record) error {
	r.Level = infoToDebug(r.Level)
	return h.Handler.Handle(ctx, r)
}

func (h infoAsDebug) WithAttrs(attrs []slog.Attr) slog.Handler {
	return infoAsDebug{h.Handler.WithAttrs(attrs)}
}

func (h infoAsDebug) WithGroup(name string) slog.Handler {
	return infoAsDebug{h.Handler.WithGroup(name)}
}

func infoToDebug(l slog.Level) slog.Level {
	if l == slog.LevelInfo {
		return slog.LevelDebug
	}
	return l
}

// logResolved is the one line a resolve leaves at info: "13 secrets from
// local, vault in 12 ms", from the values themselves.
func logResolved(log *slog.Logger, values map[string]resolve.Value, took time.Duration) {
	if len(values) == 0 {
		return
	}
	seen := map[string]bool{}
	for _, v := range values {
		seen[v.Ref.Scheme] = true
	}
	stores := strings.Join(slices.Sorted(maps.Keys(seen)), ", ")
	log.Info(fmt.Sprintf("%s from %s in %s", plural(len(values), "secret", "secrets"), stores, milliseconds(took)),
		"secrets", len(values), "stores", strings.ReplaceAll(stores, " ", ""), "duration", took.Round(time.Microsecond).String())
}

// milliseconds reads a resolve's duration as a person would say it.
func milliseconds(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms < 10:
		return fmt.Sprintf("%.1f ms", ms)
	case ms < 10000:
		return fmt.Sprintf("%.0f ms", ms)
	}
	return fmt.Sprintf("%.1f s", ms/1000)
}

// jsonReported is the error of a command whose log is JSON: it is
// reported as JSON records too, so that a log collector reads it.
type jsonReported struct{ err error }

func (e *jsonReported) Error() string { return e.err.Error() }

// Unwrap returns the error.
func (e *jsonReported) Unwrap() error { return e.err }

// reportJSONWhenLogging makes the commands that log report their errors
// as JSON records when --log-format (or $WARD_LOG_FORMAT) is json. With
// auto, errors stay `ward: error:` lines: a person reads those, and
// auto's JSON is for where nobody asked for a format.
func reportJSONWhenLogging(cmds []*cli.Command) {
	for _, cmd := range cmds {
		reportJSONWhenLogging(cmd.Subcommands)
		if cmd.Action == nil || lookupFlag(cmd.Flags, "log-format") == nil {
			continue
		}
		action := cmd.Action
		cmd.Action = func(c *cli.Context) error {
			err := action(c)
			if o, ok := c.App.Writer.(*output); ok && err == nil {
				// Output lost (ward check > /dev/full) is reported as the
				// command's other errors are.
				err = o.failed()
			}
			if err != nil && c.String("log-format") == "json" {
				return &jsonReported{err}
			}
			return err
		}
	}
}

// reportJSON writes err as ward's JSON log does: one error record per
// line of the report, with its hint and, for a manifest error, its place;
// journal says w is the journal's stream (logfmt.Journal).
func reportJSON(w io.Writer, err error, journal bool) {
	handler := logfmt.Handler
	if journal {
		handler = logfmt.JournalHandler
	}
	log := slog.New(handler(w, true, slog.LevelInfo))
	lines := failure.Lines(err)
	causes := reportCauses(err)
	for i, l := range lines {
		if l.Msg == "" {
			// Advice for the whole report, under its last error.
			log.Error(l.Hint)
			continue
		}
		var attrs []any
		if l.Hint != "" {
			attrs = append(attrs, "hint", l.Hint)
		}
		var ve *manifest.ValidationError
		if i < len(causes) && errors.As(causes[i], &ve) {
			attrs = append(attrs, "file", ve.File, "line", ve.Line, "col", ve.Col)
			if ve.Field != "" {
				attrs = append(attrs, "field", ve.Field)
			}
		}
		log.Error(l.Msg, attrs...)
	}
}

// reportCauses are the errors behind failure.Lines(err), in its order: a
// list (Unwrap() []error) gives one per item.
func reportCauses(err error) []error {
	var f *failure.Error
	if errors.As(err, &f) {
		err = f.Err
	}
	if err == nil {
		return nil
	}
	var out []error
	var walk func(error)
	walk = func(err error) {
		if list, ok := err.(interface{ Unwrap() []error }); ok && len(list.Unwrap()) > 0 {
			for _, e := range list.Unwrap() {
				walk(e)
			}
			return
		}
		out = append(out, err)
	}
	walk(err)
	return out
}
