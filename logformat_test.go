package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// recordWith returns the first of recs, ward's log records, whose
// message holds s.
func recordWith(recs []map[string]any, s string) map[string]any {
	for _, r := range recs {
		if m, _ := r["msg"].(string); strings.Contains(m, s) && r["app"] == "ward" {
			return r
		}
	}
	return nil
}

// TestReexecsLogAsWard: the processes ward runs of itself (the guard
// that stops what a killed ward's child left, socket activation's
// trampoline, the pty session's leader of --mask on a terminal) write
// to ward's stderr in ward's log format and at its level. They wrote
// plain "ward: warning: ..." and "ward: error: ..." lines under
// --log-format json, which a collector reading one JSON record a line
// (journald's JSON output, a container's log driver) could not parse,
// and warned under --log-level error.
func TestReexecsLogAsWard(t *testing.T) {
	// ward is killed (SIGKILL to its group, as air or an IDE sends);
	// its guard stops the server the child's shell left, and says so.
	guard := func(t *testing.T, flags ...string) (stderr string, pgid int) {
		w := newWardEnv(t)
		secret := canary("logfmt-guard")
		w.set("TOKEN", secret)
		m := w.manifest("version: 1\nenv:\n  TOKEN: local://TOKEN\nrotation:\n  stop_timeout: 2s\n")
		outPath, errPath := filepath.Join(w.dir, "out"), filepath.Join(w.dir, "err")
		out, err1 := os.Create(outPath)
		errf, err2 := os.Create(errPath)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		defer out.Close()
		defer errf.Close()
		cmd := w.command(append(append([]string{"run"}, flags...), "-m", m, "--", "sh", "-c", `sleep 1000 & echo "$$ $!"; wait`)...)
		cmd.Stdout, cmd.Stderr = out, errf
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var shell, server int
		waitUntil(t, "the child's line", func() bool {
			b, _ := os.ReadFile(outPath)
			f := strings.Fields(string(b))
			if len(f) != 2 {
				return false
			}
			shell, _ = strconv.Atoi(f[0])
			server, _ = strconv.Atoi(f[1])
			return true
		})
		t.Cleanup(func() {
			syscall.Kill(server, syscall.SIGKILL)
			syscall.Kill(shell, syscall.SIGKILL)
		})
		g := waitGuard(cmd.Process.Pid)
		if g == 0 {
			t.Fatal("ward started no guard")
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		// The guard writes before it stops the group, and exits after.
		waitUntil(t, "the server's end and the guard's", func() bool { return gone(server) && gone(shell) && gone(g) })
		b, _ := os.ReadFile(errPath)
		if strings.Contains(string(b), secret) {
			t.Errorf("ward's stderr holds the secret")
		}
		return string(b), shell
	}
	t.Run("guard json", func(t *testing.T) {
		stderr, pgid := guard(t, "--log-format", "json")
		r := recordWith(jsonRecords(t, stderr), "ward was killed")
		if r == nil {
			t.Fatalf("no record says ward was killed:\n%s", stderr)
		}
		if r["level"] != "WARN" || r["pgid"] != float64(pgid) || r["stop_timeout"] != "2s" {
			t.Errorf("got the record %v, want level WARN, pgid %d, stop_timeout 2s", r, pgid)
		}
	})
	t.Run("guard text", func(t *testing.T) {
		stderr, _ := guard(t, "--log-format", "text")
		if !strings.Contains(stderr, `level=WARN msg="ward was killed;`) || !strings.Contains(stderr, " app=ward ") {
			t.Errorf("the guard's warning is not a text record of ward's log:\n%s", stderr)
		}
	})
	t.Run("guard at level error", func(t *testing.T) {
		if stderr, _ := guard(t, "--log-format", "json", "--log-level", "error"); strings.Contains(stderr, "ward was killed") {
			t.Errorf("a warning under --log-level error:\n%s", stderr)
		}
	})

	// Socket activation: the trampoline's exec of a script whose #!
	// interpreter is missing fails, and the trampoline reports it.
	t.Run("trampoline json", func(t *testing.T) {
		w := newWardEnv(t)
		m := w.manifest(emptyManifest)
		_, lf := activationSocket(t)
		if err := os.WriteFile(filepath.Join(w.dir, "app.sh"), []byte("#!/nonexistent/interp\necho ran\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := w.command()
		cmd.Path = "/bin/sh"
		cmd.Args = []string{"sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec ward run --log-format json -m "$0" -- ./app.sh`, m}
		cmd.ExtraFiles = []*os.File{lf}
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if code := exitCode(t, cmd.Run()); code != 127 {
			t.Errorf("exit %d, want 127", code)
		}
		r := recordWith(jsonRecords(t, stderr.String()), "its interpreter /nonexistent/interp (its #! line) was not found")
		if r == nil || r["level"] != "ERROR" {
			t.Errorf("no error record names the missing interpreter:\n%s", stderr.String())
		}
	})

	// --mask on a terminal: the session's leader starts the program,
	// whose file is still being written, and waits for the writer.
	t.Run("session json", func(t *testing.T) {
		w := newWardEnv(t)
		m := w.manifest(emptyManifest)
		f := writing(t, filepath.Join(w.dir, "app"), "#!/bin/sh\necho started\n")
		cmd := w.command("run", "--mask", "--log-format", "json", "-m", m, "--", "./app")
		_, out := onPty(t, cmd)
		line := out.waitForContaining("the program's file is open for writing")
		f.Close()
		out.waitForContaining("started")
		if code := exitWithin(t, cmd, time.Minute); code != 0 {
			t.Errorf("ward exited %d, want 0", code)
		}
		r := recordWith(jsonRecords(t, strings.TrimRight(line, "\r")), "open for writing")
		if r == nil || r["level"] != "WARN" || r["program"] != "./app" {
			t.Errorf("the leader's warning is no WARN record naming the program: %q", line)
		}
	})
}
