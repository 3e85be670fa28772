package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wardsecrets/ward/testdata/helper"
)

// TestRotationDebounceWaitsForQuiet: files changed one after another by a
// writer that takes its time (an Ansible play's copy tasks, a deploy hook
// copying a certificate, then its key, then its chain), each a little
// within rotation.debounce of the one before, the whole longer than it,
// restart the child once, with every new value. The debounce ran from the
// first change: the child was restarted with the new certificate and the
// old key, then again.
func TestRotationDebounceWaitsForQuiet(t *testing.T) {
	w := newWardEnv(t)
	live, next := filepath.Join(w.dir, "live"), filepath.Join(w.dir, "next")
	os.MkdirAll(live, 0o700)
	os.MkdirAll(next, 0o700)
	names := []string{"A", "B", "C", "D", "E"}
	olds, news := map[string]string{}, map[string]string{}
	var env strings.Builder
	for _, n := range names {
		olds[n], news[n] = canary("quiet-old-"+n), canary("quiet-new-"+n)
		os.WriteFile(filepath.Join(live, n), []byte(olds[n]), 0o600)
		os.WriteFile(filepath.Join(next, n), []byte(news[n]), 0o600)
		fmt.Fprintf(&env, "  %s: file://%s\n", n, filepath.Join(live, n))
	}
	m := w.manifest("version: 1\nenv:\n" + env.String() + "rotation:\n  debounce: 900ms\n  stop_timeout: 5s\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	stdout, stderr := startedLines(t, cmd)
	listing := func() map[string]string {
		got := map[string]string{}
		for {
			line := stdout.next("env listing")
			if line == "end" {
				return got
			}
			if name, h, ok := strings.Cut(line, " "); ok {
				got[name] = h
			}
		}
	}
	first := listing()
	for _, n := range names {
		if first[n] != helper.Hash(olds[n]) {
			t.Fatalf("the first child does not have the first %s", n)
		}
	}
	stderr.waitForContaining("watching secret files")

	// The writer: cp (truncate, then write) of each file, 0.3 s apart, 1.2 s
	// from the first to the last.
	writer := exec.Command("sh", "-c", `set -e; first=1; for n in A B C D E; do [ -n "$first" ] || sleep 0.3; first=; cp "$NEXT/$n" "$LIVE/$n"; done`)
	writer.Env = append(os.Environ(), "NEXT="+next, "LIVE="+live)
	if out, err := writer.CombinedOutput(); err != nil {
		t.Fatalf("writer: %v: %s", err, out)
	}
	restarted := listing()
	for _, n := range names {
		if restarted[n] != helper.Hash(news[n]) {
			t.Errorf("the restarted child does not have the new %s: it was restarted before the writer was done", n)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for line := range stdout.ch {
		if line == "end" {
			t.Errorf("the child was started a third time")
		}
	}
	restarts := 0
	for line := range stderr.ch {
		if strings.Contains(line, "child restarted with the new secrets") {
			restarts++
		}
		for _, n := range names {
			if strings.Contains(line, olds[n]) || strings.Contains(line, news[n]) {
				t.Errorf("a canary of %s is in ward's stderr", n)
			}
		}
	}
	if restarts != 1 {
		t.Errorf("%d restarts logged, want 1", restarts)
	}
}

// TestRotationInPlaceWriteNoWarning: a secret file rewritten in place by
// a shell's redirection, which empties it before the command writes
// (`vault kv get -field=token ... > token`, `kubectl get secret ... >
// token`: the shell truncates, the command answers a moment later), is
// rotated with no warning: the file is empty only while it is written.
// ward warned "cannot refresh secrets ... is empty" at each such write,
// and "secrets refresh recovered" a moment later. A file that stays
// empty is still warned of, at its retry.
func TestRotationInPlaceWriteNoWarning(t *testing.T) {
	w := newWardEnv(t)
	live, next := filepath.Join(w.dir, "live", "token"), filepath.Join(w.dir, "next")
	os.MkdirAll(filepath.Dir(live), 0o700)
	v1, v2 := canary("inplace-old"), canary("inplace-new")
	os.WriteFile(live, []byte(v1), 0o600)
	os.WriteFile(next, []byte(v2), 0o600)
	m := w.manifest("version: 1\nenv:\n  TOKEN: file://" + live + "\nrotation:\n  debounce: 200ms\n  stop_timeout: 5s\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	stdout, stderr := startedLines(t, cmd)
	if envHash(stdout, "TOKEN") != helper.Hash(v1) {
		t.Fatalf("the first child does not have the first TOKEN")
	}
	stderr.waitForContaining("watching secret files")
	writer := exec.Command("sh", "-c", `{ sleep 0.3; cat "$NEXT"; } > "$LIVE"`)
	writer.Env = append(os.Environ(), "NEXT="+next, "LIVE="+live)
	if out, err := writer.CombinedOutput(); err != nil {
		t.Fatalf("writer: %v: %s", err, out)
	}
	if envHash(stdout, "TOKEN") != helper.Hash(v2) {
		t.Fatalf("the restarted child does not have the new TOKEN")
	}
	stderr.skipUntil("the restart's line", func(line string) bool {
		if strings.Contains(line, `"level":"WARN"`) {
			t.Errorf("a warning while the file was written: %s", line)
		}
		return strings.Contains(line, "child restarted with the new secrets")
	})
	// Emptied for good: warned of, at the retry.
	os.WriteFile(live, nil, 0o600)
	stderr.skipUntil("a warning of the file left empty", func(line string) bool {
		return strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "is empty")
	})
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for line := range stderr.ch {
		if strings.Contains(line, v1) || strings.Contains(line, v2) {
			t.Errorf("a canary of TOKEN is in ward's stderr")
		}
	}
}
