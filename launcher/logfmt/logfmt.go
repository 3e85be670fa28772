// Package logfmt makes ward's log handler, and carries its format and
// level to the processes ward runs of itself (the guard, the pty
// session's leader, socket activation's trampoline), so that what they
// write to ward's stderr reads as ward's own log: JSON records under
// --log-format json, where a collector (journald, a container's log
// driver into Loki or CloudWatch) reads one record a line, text records
// otherwise, and nothing below --log-level. They wrote plain
// "ward: warning: ..." lines, which a JSON pipeline takes for a record
// it cannot parse.
package logfmt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// Handler is ward's log handler on w: JSON records or text ones, at
// level, each with app=ward.
func Handler(w io.Writer, json bool, level slog.Leveler) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	attrs := []slog.Attr{slog.String("app", "ward")}
	if json {
		return slog.NewJSONHandler(w, opts).WithAttrs(attrs)
	}
	opts.ReplaceAttr = shortTime
	return slog.NewTextHandler(w, opts).WithAttrs(attrs)
}

// shortTime writes a text record's time as the time of day to the
// millisecond: the date is the terminal's, the zone the user's.
func shortTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
		return slog.String(slog.TimeKey, a.Value.Time().Format("15:04:05.000"))
	}
	return a
}

// levels are the levels an argument names, lowest first.
var levels = []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError}

// Arg is the argument that gives a process ward runs of itself the
// format and level of log, made by Handler: "json:WARN", "text:INFO".
func Arg(log *slog.Logger) string {
	format := "text"
	if IsJSON(log) {
		format = "json"
	}
	level := slog.LevelError + 4
	for _, l := range levels {
		if log.Enabled(context.Background(), l) {
			level = l
			break
		}
	}
	return format + ":" + level.String()
}

// FromArg is the logger on w that Arg's argument describes; ok is false
// for an argument Arg does not make.
func FromArg(w io.Writer, arg string) (log *slog.Logger, ok bool) {
	format, name, _ := strings.Cut(arg, ":")
	var level slog.Level
	if (format != "json" && format != "text") || level.UnmarshalText([]byte(name)) != nil {
		return nil, false
	}
	return slog.New(Handler(w, format == "json", level)), true
}

// Error writes err, which ends the process, as ward reports its own
// error: an error record in JSON, else ward's "ward: error: " line.
func Error(log *slog.Logger, w io.Writer, err error) {
	if IsJSON(log) {
		log.Error(err.Error())
		return
	}
	fmt.Fprintf(w, "ward: error: %v\n", err)
}

// IsJSON reports whether log, made by Handler, writes JSON records.
func IsJSON(log *slog.Logger) bool {
	_, ok := log.Handler().(*slog.JSONHandler)
	return ok
}
