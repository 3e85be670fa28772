package main

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// TestGCSettingsAreTheChilds: GOGC=off with a GOMEMLIMIT, as Go's GC guide
// suggests for a Go program in a container, set in the image for the
// program ward starts. ward read them too and collected nothing below
// the limit (its heap, and its store helpers', grew with every poll
// towards the memory the program was to have). ward keeps the defaults
// for itself, and the child gets both unchanged. Seen with the runtime's
// gctrace: 3,000 local references are enough garbage for a collection.
func TestGCSettingsAreTheChilds(t *testing.T) {
	w := newWardEnv(t)
	var env, refs strings.Builder
	for i := range 3000 {
		b := make([]byte, 24)
		rand.Read(b)
		fmt.Fprintf(&env, "K%d=gc-%s\n", i, hex.EncodeToString(b))
		fmt.Fprintf(&refs, "  K%d: local://big/K%d\n", i, i)
	}
	imp := w.command("import", "-", "--name-prefix", "big/", "-m", w.manifest("version: 1\n"))
	imp.Stdin = strings.NewReader(env.String())
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("ward import: %v\n%s", err, out)
	}
	m := w.manifest("version: 1\nenv:\n" + refs.String())
	cmd := w.command("run", "-m", m, "--", "sh", "-c", `echo "child GOGC=$GOGC GOMEMLIMIT=$GOMEMLIMIT"`)
	cmd.Env = append(cmd.Env, "GOGC=off", "GOMEMLIMIT=1GiB", "GODEBUG=gctrace=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ward run: %v\n%s", err, tail(stderr.String()))
	}
	if got := strings.TrimSpace(stdout.String()); got != "child GOGC=off GOMEMLIMIT=1GiB" {
		t.Errorf("the child got %q, want GOGC=off GOMEMLIMIT=1GiB", got)
	}
	if !strings.Contains("\n"+stderr.String(), "\ngc 1 @") {
		t.Errorf("ward collected no garbage over 3,000 references with GOGC=off set for the child:\n%s", tail(stderr.String()))
	}
}

// tail is the last lines of s, for a failure message.
func tail(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-10):], "\n")
}
