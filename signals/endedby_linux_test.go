//go:build linux

package signals

import (
	"bufio"
	"os/exec"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestEndedBy: a process without a handler for SIGHUP is ended by it; one
// that catches or ignores it is not, nor by a signal whose default action
// is to be ignored, nor a process that has exited already.
func TestEndedBy(t *testing.T) {
	start := func(script string) *exec.Cmd {
		t.Helper()
		cmd := exec.Command("sh", "-c", script)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		// The handlers are set once the script says so.
		if !bufio.NewScanner(out).Scan() {
			t.Fatalf("%q said nothing", script)
		}
		return cmd
	}
	plain := start(`echo up; while :; do sleep 0.05; done`)
	caught := start(`trap 'echo hup' HUP; echo up; while :; do sleep 0.05; done`)
	ignored := start(`trap '' HUP; echo up; while :; do sleep 0.05; done`)
	if !EndedBy(plain.Process.Pid, syscall.SIGHUP) {
		t.Errorf("a shell without a trap: SIGHUP would not end it")
	}
	if EndedBy(plain.Process.Pid, syscall.SIGWINCH) {
		t.Errorf("SIGWINCH, ignored by default, would end a process")
	}
	if EndedBy(caught.Process.Pid, syscall.SIGHUP) {
		t.Errorf("a shell that traps SIGHUP would be ended by it")
	}
	if EndedBy(ignored.Process.Pid, syscall.SIGHUP) {
		t.Errorf("a shell that ignores SIGHUP would be ended by it")
	}
	// A zombie: exited, not yet waited for.
	done := start(`echo up; exec sleep 0`)
	for {
		// Exited, and left a zombie (WNOWAIT).
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, done.Process.Pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == nil {
			break
		}
		if err != syscall.EINTR {
			t.Fatalf("waitid: %v", err)
		}
	}
	if EndedBy(done.Process.Pid, syscall.SIGHUP) {
		t.Errorf("a process that has exited would be ended by SIGHUP")
	}
}
