package logfmt

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"testing"
)

func TestShortTime(t *testing.T) {
	var b bytes.Buffer
	slog.New(Handler(&b, false, slog.LevelInfo)).Info("hello")
	if !regexp.MustCompile(`^time=\d\d:\d\d:\d\d\.\d\d\d level=INFO msg=hello app=ward\n$`).Match(b.Bytes()) {
		t.Errorf("got %q, want time=HH:MM:SS.mmm first", b.String())
	}
}

// TestArgRoundTrip: the logger FromArg makes of Arg's argument writes in
// the format and at the level of the one Arg was given.
func TestArgRoundTrip(t *testing.T) {
	for _, asJSON := range []bool{false, true} {
		for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
			arg := Arg(slog.New(Handler(&bytes.Buffer{}, asJSON, level)))
			var b bytes.Buffer
			log, ok := FromArg(&b, arg)
			if !ok {
				t.Fatalf("FromArg(%q) refused Arg's argument", arg)
			}
			for _, l := range levels {
				if got, want := log.Enabled(context.Background(), l), l >= level; got != want {
					t.Errorf("%s: %s enabled %v, want %v", arg, l, got, want)
				}
			}
			log.Error("gone", "pgid", 42)
			if got := isJSONRecord(b.Bytes()); got != asJSON {
				t.Errorf("%s: wrote %q: a JSON record is %v, want %v", arg, b.String(), got, asJSON)
			}
		}
	}
}

// isJSONRecord reports whether b is one JSON record of ward's log.
func isJSONRecord(b []byte) bool {
	var r map[string]any
	return json.Unmarshal(b, &r) == nil && r["level"] == "ERROR" && r["msg"] == "gone" && r["app"] == "ward" && r["pgid"] == 42.0
}

func TestFromArgRefuses(t *testing.T) {
	for _, arg := range []string{"", "json", "xml:WARN", "json:LOUD", "text:"} {
		if _, ok := FromArg(&bytes.Buffer{}, arg); ok {
			t.Errorf("FromArg(%q) accepted it", arg)
		}
	}
}
