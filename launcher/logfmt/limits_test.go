package logfmt

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// TestTextErrorLinesBounded: a text error line is cut as a JSON record's
// message is (4 KiB, with how many bytes more), so that it fits a line of
// docker's and Kubernetes' logs (16 KiB), control characters escaped
// first. An unknown option or a template's name of 400 KB in a manifest
// made an error line of that size, then the hint's again.
func TestTextErrorLinesBounded(t *testing.T) {
	var b bytes.Buffer
	Error(slog.New(Handler(&b, false, slog.LevelInfo)), &b, fmt.Errorf("unknown option %q\nshort", strings.Repeat("é", 200000)))
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 2 || len(lines[0]) > 16<<10 || !strings.HasSuffix(lines[0], "é... (395921 bytes more)") || lines[1] != "ward: error: short" {
		t.Errorf("got %d lines, the first of %d bytes ending %q", len(lines), len(lines[0]), lines[0][max(0, len(lines[0])-30):])
	}
	if got := Printable(strings.Repeat("\x1b", 10000)); len(got) > 16<<10 || !strings.HasSuffix(got, `\x1b... (35904 bytes more)`) {
		t.Errorf("got %d bytes ending %q", len(got), got[max(0, len(got)-30):])
	}
}
