package main

// Stop signals at the phases of `ward run` that logpipes_test.go's tests
// do not reach: a rotation's restart waiting for the old child's output
// to reach a reader that stopped reading, and a start waiting for the
// program's file to be written. At each, a stop (SIGTERM, SIGINT without
// a terminal, SIGQUIT) ends the run promptly with the right code, the
// run's secret files gone, and the program never starts after it; a
// SIGHUP without a terminal is a reload and stops nothing.

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/signals"
	"github.com/wardsecrets/ward/testdata/helper"
)

// TestStopMatrixRestartOldOutput: under --mask, with ward's stdout a pipe
// whose reader stopped, a rotation restarts the child; ward waits up to
// 2 s for the old child's output before the new one starts. A stop that
// comes then ends the run with the old child's status, and no new child
// starts. Deaf for those 2 s, ward started the new child with the new
// secrets and passed the stop on to it.
func TestStopMatrixRestartOldOutput(t *testing.T) {
	for _, tc := range []struct {
		sig syscall.Signal
		// stops: the signal ends the run (else the new child starts).
		stops bool
	}{
		{syscall.SIGTERM, true},
		{syscall.SIGINT, true},
		{syscall.SIGQUIT, true},
		{syscall.SIGHUP, false},
	} {
		t.Run(signals.Name(tc.sig), func(t *testing.T) {
			w := newWardEnv(t)
			v1, v2 := canary("rsold1"), canary("rsold2")
			w.set("app/a", v1)
			w.set("app/key", canary("rsoldkey"))
			m := w.manifest("version: 1\nenv:\n  A: local://app/a\nfiles:\n  - path: key\n    ref: local://app/key\n    env: KEY_FILE\nrotation:\n  debounce: 100ms\n  stop_timeout: 5s\n")
			dir := t.TempDir()
			// Each child writes its listing (its pid in the name), then
			// its value and more to its stdout, which ward masks and
			// cannot pass on; the rotation's SIGTERM ends it with 7, and
			// so does a stop passed on to it (its SIGINT, SIGQUIT and
			// SIGHUP too).
			script := `echo "$KEY_FILE" > "$OUT/key.tmp"; mv "$OUT/key.tmp" "$OUT/key"; helper env > "$OUT/$$.tmp"; mv "$OUT/$$.tmp" "$OUT/$$.env"; trap 'exit 7' TERM INT QUIT HUP; echo "$A"; while :; do echo line; sleep 0.01; done`
			cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", script)
			cmd.Env = append(cmd.Env, "OUT="+dir)
			p := newStalledPipe(t)
			p.fill(t)
			cmd.Stdout = p.w
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { cmd.Process.Kill() })
			listing := func(value string) string {
				names, _ := filepath.Glob(filepath.Join(dir, "*.env"))
				for _, n := range names {
					b, _ := os.ReadFile(n)
					if strings.Contains("\n"+string(b), "\nA "+helper.Hash(value)+"\n") {
						return strings.TrimSuffix(filepath.Base(n), ".env")
					}
				}
				return ""
			}
			var first string
			waitUntil(t, "the first child's listing", func() bool {
				first = listing(v1)
				return first != ""
			})
			b, _ := os.ReadFile(filepath.Join(dir, "key"))
			key := strings.TrimSpace(string(b))
			w.set("app/a", v2)
			// Reaped by ward: the restart waits for its output now, for
			// 2 s.
			waitUntil(t, "the old child's end", func() bool {
				_, err := os.Stat("/proc/" + first)
				return os.IsNotExist(err)
			})
			cmd.Process.Signal(tc.sig)
			if !tc.stops {
				waitUntil(t, "the new child's listing", func() bool { return listing(v2) != "" })
				cmd.Process.Signal(syscall.SIGTERM)
			}
			if code := exitWithin(t, cmd, 20*time.Second); code != 7 {
				t.Errorf("got exit code %d, want the child's 7", code)
			}
			if tc.stops && (listing(v2) != "" || strings.Contains(stderr.String(), "child restarted")) {
				t.Errorf("a new child started after ward was told to stop by %s", signals.Name(tc.sig))
			}
			if _, err := os.Stat(key); key == "" || !os.IsNotExist(err) {
				t.Errorf("the run's secret file %q is still there after ward's exit (stat: %v)", key, err)
			}
			p.w.Close()
			rest, _ := io.ReadAll(p.r)
			for _, out := range []string{stderr.String(), string(rest)} {
				if strings.Contains(out, v1) || strings.Contains(out, v2) {
					t.Fatalf("a canary is in ward's output")
				}
			}
		})
	}
}
