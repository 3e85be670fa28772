package signals

import (
	"io"
	"os"
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

	// A reader that reads, slowly: each write it takes gives the wait
	// lastWords more, and the writer's end is waited for well past
	// lastWords.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	const chunk, chunks = 64 << 10, 8
	go func() {
		buf := make([]byte, chunk)
		for range chunks {
			time.Sleep(lastWords / 3) // the reader's pace, not a wait for an event
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
		}
	}()
	pw := PatientWriter(w, w)
	start = time.Now()
	if !WaitUnlessStopped(func() {
		for range chunks {
			pw.Write(make([]byte, chunk))
		}
	}) {
		t.Errorf("after the stop, a reader that read gave up the wait after %v", time.Since(start))
	}
}
