package launcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/resolve"
)

func TestInfoAsDebug(t *testing.T) {
	tests := []struct {
		level     slog.Level
		logged    func(*slog.Logger)
		wantLevel string // "" when nothing is written
	}{
		{slog.LevelInfo, func(l *slog.Logger) { l.Info("secret fetched") }, ""},
		{slog.LevelDebug, func(l *slog.Logger) { l.Info("secret fetched") }, "DEBUG"},
		{slog.LevelInfo, func(l *slog.Logger) { l.Warn("slow") }, "WARN"},
		{slog.LevelDebug, func(l *slog.Logger) { l.Debug("secret fetch failed") }, "DEBUG"},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		log := slog.New(infoAsDebug{slog.NewTextHandler(&b, &slog.HandlerOptions{Level: tt.level})}).With("app", "ward")
		tt.logged(log)
		switch {
		case tt.wantLevel == "" && b.Len() > 0:
			t.Errorf("at %s: got %q, want nothing", tt.level, b.String())
		case tt.wantLevel != "" && !strings.Contains(b.String(), "level="+tt.wantLevel):
			t.Errorf("at %s: got %q, want level=%s", tt.level, b.String(), tt.wantLevel)
		}
	}
}

func TestLogResolved(t *testing.T) {
	v := func(scheme string) resolve.Value { return resolve.Value{Ref: resolve.Ref{Scheme: scheme}} }
	tests := []struct {
		values map[string]resolve.Value
		took   time.Duration
		want   string
	}{
		{map[string]resolve.Value{"A": v("vault"), "B": v("local"), "C": v("vault")}, 12300 * time.Microsecond, "3 secrets from local, vault in 12 ms"},
		{map[string]resolve.Value{"A": v("local")}, 1234 * time.Microsecond, "1 secret from local in 1.2 ms"},
		{map[string]resolve.Value{"A": v("awssm")}, 12 * time.Second, "1 secret from awssm in 12.0 s"},
		{map[string]resolve.Value{}, time.Millisecond, ""},
	}
	for _, tt := range tests {
		var b bytes.Buffer
		logResolved(slog.New(slog.NewJSONHandler(&b, nil)), tt.values, tt.took)
		if tt.want == "" {
			if b.Len() > 0 {
				t.Errorf("got %q, want no line", b.String())
			}
			continue
		}
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal(b.Bytes(), &rec); err != nil {
			t.Fatalf("got %q: %v", b.String(), err)
		}
		if rec.Level != "INFO" || rec.Msg != tt.want {
			t.Errorf("got %s %q, want INFO %q", rec.Level, rec.Msg, tt.want)
		}
	}
}

func TestReportJSON(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = failure.New(manifest.ValidationErrors{
		{File: "ward.yaml", Line: 3, Col: 6, Field: "env.A", Msg: `unknown scheme "bogus"`, Advice: "use vault://"},
		{File: "ward.yaml", Line: 4, Col: 2, Msg: "bad"},
	}, "")
	reportJSON(f, err, false)
	reportJSON(f, failure.New(errors.New("no program to run"), "write: ward run -- PROGRAM"), false)
	out, _ := os.ReadFile(f.Name())
	type record struct {
		Level, Msg, Hint, File, Field string
		Line, Col                     int
	}
	want := []record{
		{"ERROR", `ward.yaml:3:6: env.A: unknown scheme "bogus"`, "use vault://", "ward.yaml", "env.A", 3, 6},
		{"ERROR", "ward.yaml:4:2: bad", "", "ward.yaml", "", 4, 2},
		{"ERROR", "no program to run", "write: ward run -- PROGRAM", "", "", 0, 0},
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != len(want) {
		t.Fatalf("got %d records, want %d:\n%s", len(lines), len(want), out)
	}
	for i, line := range lines {
		var got record
		if err := json.Unmarshal([]byte(line), &got); err != nil {
			t.Fatalf("record %d: %v: %s", i, err, line)
		}
		if got != want[i] {
			t.Errorf("record %d: got %+v, want %+v", i, got, want[i])
		}
	}
}
