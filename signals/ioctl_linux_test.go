package signals

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// TestForegroundGroupOfAPty: TIOCGPGRP writes a C int, which ward read
// into a Go int. On a 64-bit big-endian platform (s390x, ppc64) those 4
// bytes are the Go int's high half: the foreground group of a pty read
// as pgid<<32, which is no group, and SignalForeground sent the key's
// signal to kill(2)'s low 32 bits of it, 0: ward's own process group.
// (This machine is little-endian; GOARCH=s390x go test runs it under
// qemu-user, whose ioctl writes the 4 bytes as s390x's kernel does.)
func TestForegroundGroupOfAPty(t *testing.T) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("no pty: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	cmd := exec.Command("sleep", "60")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	// The session leader's group is the terminal's foreground group once
	// it has made the terminal its own, in its first instructions.
	var fg int
	var ok bool
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if fg, ok = ForegroundGroup(ptmx); ok && fg == cmd.Process.Pid {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if !ok || fg != cmd.Process.Pid {
		// Not on to SignalForeground: with the group misread, it would
		// signal this test's own process group.
		t.Fatalf("ForegroundGroup = %d, %v; want the session leader's group %d", fg, ok, cmd.Process.Pid)
	}
	SignalForeground(ptmx, syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
			t.Errorf("the foreground group's process ended with %v, want killed by SIGTERM", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("SignalForeground's SIGTERM did not reach the terminal's foreground group within 10s")
	}
}
