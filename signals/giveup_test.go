package signals

import (
	"syscall"
	"testing"
	"time"
)

func TestAsksToStop(t *testing.T) {
	for _, c := range []struct {
		sig      syscall.Signal
		terminal bool
		want     bool
	}{
		{syscall.SIGTERM, false, true},
		{syscall.SIGINT, false, true},
		{syscall.SIGQUIT, false, true},
		{syscall.SIGHUP, true, true},
		{syscall.SIGHUP, false, false},
		{syscall.SIGUSR1, true, false},
		{syscall.SIGWINCH, true, false},
		{syscall.SIGCHLD, false, false},
	} {
		if got := AsksToStop(c.sig, c.terminal); got != c.want {
			t.Errorf("AsksToStop(%v, terminal %v) = %v, want %v", c.sig, c.terminal, got, c.want)
		}
	}
}

// TestWaitUnlessStopped: a wait ends with its writer; once ward is told
// to stop, a writer that never returns is given lastWords, and one that
// returns within them is still waited for. (GiveUp is for the process:
// the steps run in this order.)
func TestWaitUnlessStopped(t *testing.T) {
	if !WaitUnlessStopped(func() {}) {
		t.Fatal("a wait whose writer returned reported a stop")
	}
	if StoppedBy() != 0 {
		t.Fatalf("StoppedBy() = %v before any stop", StoppedBy())
	}
	GiveUp(syscall.SIGTERM)
	GiveUp(syscall.SIGINT)
	if StoppedBy() != syscall.SIGTERM {
		t.Errorf("StoppedBy() = %v, want the first stop's SIGTERM", StoppedBy())
	}
	stuck := make(chan struct{})
	defer close(stuck)
	start := time.Now()
	if WaitUnlessStopped(func() { <-stuck }) {
		t.Fatal("a wait whose writer never returned reported its end")
	}
	if d := time.Since(start); d < lastWords {
		t.Errorf("gave up after %v, before lastWords (%v)", d, lastWords)
	}
	if !WaitUnlessStopped(func() { time.Sleep(10 * time.Millisecond) }) {
		t.Error("after the stop, a writer that returns within lastWords was not waited for")
	}
}
