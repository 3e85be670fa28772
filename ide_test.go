package main

// The sixteenth run's part on debuggers, IDEs and hot-reload tools in
// front of and behind ward.

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// gone reports whether pid has exited (a zombie waiting for whoever reaps
// it now counts as gone).
func gone(pid int) bool {
	s := procState(pid)
	return s == "" || s == "Z" || s == "X"
}

// isGuard reports whether pid is a ward's guard (supervise.GuardArg),
// which a ward starts a fifth of a second into its run.
func isGuard(pid int) bool {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return strings.Contains(string(b), "\x00__ward-guard\x00")
}

// waitGuard waits, 5 s at most, for ward's guard (supervise.GuardArg)
// to be among its children, and returns its pid (0 for none).
func waitGuard(ward int) int {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		// Each thread's children: ward forks from its run loop's.
		var kids []byte
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", ward))
		for _, task := range tasks {
			b, _ := os.ReadFile(task)
			kids = append(append(kids, b...), ' ')
		}
		for _, f := range strings.Fields(string(kids)) {
			if pid, err := strconv.Atoi(f); err == nil {
				if isGuard(pid) {
					return pid
				}
			}
		}
		time.Sleep(20 * time.Millisecond) // polling /proc, with a deadline
	}
	return 0
}

// TestKilledWardsFilesOutliveANewRun: a SIGKILL of ward (air's reload),
// then at once the next run of the same manifest, whose sweep removes
// the directories of runs that are gone. The guard gives the child its
// stop_timeout, and the child, stopping, still reads its secret files;
// ward's lock on them had died with it, and the next run swept them
// from under the child.
func TestKilledWardsFilesOutliveANewRun(t *testing.T) {
	w := newWardEnv(t)
	secret := canary("ide-sweep")
	w.set("IDE_TOKEN", secret)
	m := w.manifest("version: 1\nfiles:\n  - path: token\n    ref: local://IDE_TOKEN\n    env: TOKEN_FILE\nrotation:\n  stop_timeout: 5s\n")
	reads := filepath.Join(w.dir, "reads")
	// On SIGTERM the child reads its file for a second, as a server
	// draining its connections would, then ends. (Its stderr goes
	// nowhere: the shell's "Terminated" for the sleep the guard stops
	// would meet the closed pipe, and SIGPIPE.)
	stop := `i=0; while [ $i -lt 10 ]; do if cat "$TOKEN_FILE" >/dev/null 2>&1; then echo read >> ` + reads + `; else echo lost >> ` + reads + `; fi; i=$((i+1)); sleep 0.1; done; echo done >> ` + reads + `; exit 0`
	cmd := w.command("run", "-m", m, "--", "sh", "-c", `exec 2>/dev/null; trap '`+stop+`' TERM; echo "$$"; while :; do sleep 0.1; done`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, _ := startedLines(t, cmd)
	child, _ := strconv.Atoi(stdout.waitFor(""))
	t.Cleanup(func() { syscall.Kill(-child, syscall.SIGKILL) })
	if waitGuard(cmd.Process.Pid) == 0 {
		t.Fatal("ward started no guard")
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	waitUntil(t, "the child's first read as it stops", func() bool {
		b, _ := os.ReadFile(reads)
		return len(b) > 0
	})
	if code, _, stderr := w.run("run", "-m", m, "--", "true"); code != 0 {
		t.Fatalf("the next run: %d: %s", code, stderr)
	}
	waitUntil(t, "the child's end", func() bool {
		b, _ := os.ReadFile(reads)
		return strings.Contains(string(b), "done")
	})
	if b, _ := os.ReadFile(reads); strings.Contains(string(b), "lost") {
		t.Errorf("the child lost its secret file while it stopped, to the next run's sweep:\n%s", b)
	}
}

// TestKilledWardStopsWhatItsChildLeft: a SIGKILL of ward, as air sends
// to the process group it started ward in at each reload (its default,
// without send_interrupt), or an IDE's stop button after its grace
// period. The kernel gave the child alone SIGTERM (PR_SET_PDEATHSIG):
// the server a `sh -c` (or `go run`, `npm run`) had started in the
// child's group ran on for good with the secrets in its environment,
// and the secret files stayed until the next run. A server that
// ignores SIGTERM is killed at stop_timeout, as ward would have.
func TestKilledWardStopsWhatItsChildLeft(t *testing.T) {
	for _, tc := range []struct {
		name string
		// trap is the shell's trap for the server to inherit.
		trap string
		// term: ward is sent SIGTERM first (`timeout -k`, an IDE's stop
		// then its SIGKILL), which it forwards to the child's group;
		// the server, which logs each SIGTERM and drains on, must get
		// no second one.
		term bool
	}{
		{name: "server behind a shell"},
		{name: "server that ignores SIGTERM", trap: `trap "" TERM; `},
		{name: "killed during its stop", term: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWardEnv(t)
			secret := canary("ide-kill")
			w.set("IDE_TOKEN", secret)
			m := w.manifest("version: 1\nenv:\n  IDE_TOKEN: local://IDE_TOKEN\nfiles:\n  - path: token\n    ref: local://IDE_TOKEN\n    env: TOKEN_FILE\nrotation:\n  stop_timeout: 2s\n")
			outPath := filepath.Join(w.dir, "out")
			out, err := os.Create(outPath)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			// The server, sleep, is the shell's child in the group ward
			// made; the shell waits for it, as `go run` does its program.
			// The server says it is up once its trap is set: the shell's
			// line comes as it forks the server, and a SIGTERM sent after
			// that line alone could come before the trap, and end the
			// server (shown with a sleep before the trap).
			terms, up := filepath.Join(w.dir, "terms"), filepath.Join(w.dir, "up")
			program := "sleep 1000"
			if tc.term {
				program = `sh -c 'trap "echo term >> ` + terms + `" TERM; : > ` + up + `; while :; do sleep 0.1; done'`
			}
			cmd := w.command("run", "-m", m, "--", "sh", "-c", tc.trap+program+` & echo "$$ $! $TOKEN_FILE"; wait`)
			cmd.Stdout, cmd.Stderr = out, out
			// In a process group of its own, as air starts it.
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			var shell, server int
			var file string
			waitUntil(t, "the child's line", func() bool {
				b, _ := os.ReadFile(outPath)
				for _, line := range strings.Split(string(b), "\n") {
					if f := strings.Fields(line); len(f) == 3 && strings.HasPrefix(f[2], "/") {
						shell, _ = strconv.Atoi(f[0])
						server, _ = strconv.Atoi(f[1])
						file = f[2]
						return true
					}
				}
				return false
			})
			t.Cleanup(func() {
				syscall.Kill(server, syscall.SIGKILL)
				syscall.Kill(shell, syscall.SIGKILL)
			})
			if _, err := os.Stat(file); err != nil {
				t.Fatalf("the secret file: %v", err)
			}
			// ward starts its guard a fifth of a second into the run; a reload
			// comes later. Without one (the old code), on after 5 s.
			waitGuard(cmd.Process.Pid)
			if tc.term {
				waitUntil(t, "the server's trap", func() bool {
					_, err := os.Stat(up)
					return err == nil
				})
				syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
				waitUntil(t, "the server's SIGTERM", func() bool {
					b, _ := os.ReadFile(terms)
					return len(b) > 0
				})
			}
			// air's kill: SIGKILL to ward's process group.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			deadline := time.Now().Add(15 * time.Second)
			for !(gone(server) && gone(shell)) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond) // polling /proc, with a deadline
			}
			if !gone(server) {
				t.Errorf("the server in the child's group runs on (state %s) after ward was killed", procState(server))
			}
			if !gone(shell) {
				t.Errorf("the child runs on (state %s) after ward was killed", procState(shell))
			}
			for time.Now().Before(deadline) {
				if _, err := os.Stat(filepath.Dir(file)); os.IsNotExist(err) {
					break
				}
				time.Sleep(20 * time.Millisecond) // polling the directory, with a deadline
			}
			if _, err := os.Stat(filepath.Dir(file)); !os.IsNotExist(err) {
				t.Errorf("the run's secret files are left after ward was killed and its child is gone (%v)", err)
			}
			if tc.term {
				if b, _ := os.ReadFile(terms); strings.Count(string(b), "term") != 1 {
					t.Errorf("the server got SIGTERM %d times, want once (ward forwarded one before it was killed)", strings.Count(string(b), "term"))
				}
			}
			b, _ := os.ReadFile(outPath)
			if strings.Contains(string(b), secret) {
				t.Errorf("a canary is in ward's output")
			}
		})
	}
}
