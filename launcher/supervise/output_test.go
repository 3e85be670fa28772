package supervise

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wardsecrets/ward/launcher/mask"
)

// TestFinishLeavesAReadCloseCannotEnd: a relay whose source is in
// blocking mode and never ends (a pty's master made blocking by Fd for
// its terminal settings, whose read the kernel did not end once the
// child's side was gone: seen once in a full run, tmux under --mask, ward
// waiting for good with its child gone) is closed when quiet and then
// left: finish returns. It waited for every relay to end, and a close
// does not end a blocking read.
func TestFinishLeavesAReadCloseCannotEnd(t *testing.T) {
	m := quietRelay(t, func(r *os.File) {
		r.Fd() // blocking mode, as the pty's master is
	})
	within(t, m.finish, "finish waited 10s for a relay whose quiet source it closed")
}

// TestFinishEndsAQuietPipeRelay: a relay whose pipe another process
// holds open and quiet (a daemon the child started in a session of its
// own) is closed by finish and ends: its read returns. finish's look at
// how much the pipe held (f.Fd()) put the pipe in blocking mode, where
// the close did not end the read, and the relay's goroutine was left
// blocked in it for good (and raced with the relay's own Close: a data
// race the race detector reported in a full run under --mask).
func TestFinishEndsAQuietPipeRelay(t *testing.T) {
	m := quietRelay(t, func(*os.File) {})
	m.finish()
	within(t, m.done.Wait, "the relay's read did not end within 10s of finish closing its quiet pipe")
}

// TestFinishWaitsForWhatARelayMasks: a relay that has read all its
// source held when finish began, and takes its time with what it read
// (masking a large chunk on a loaded machine, the race detector's ward
// in CI), is waited for: finish returned while the relay neither read
// nor wrote, taking it for one stuck in a read a close cannot end, and
// ward exited with the rest of the child's output undelivered (a slow
// reader got 1,097,728 of 1,200,000 bytes).
func TestFinishWaitsForWhatARelayMasks(t *testing.T) {
	hookRead = func() { time.Sleep(3 * quietFor) } // the masking's length, not a wait for an event
	defer func() { hookRead = nil }()
	data := bytes.Repeat([]byte("x"), 64<<10)
	out := tempOut(t)
	m, _ := pipeRelay(t, out, func(_, w *os.File) {
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for m.relays[0].read.Load() < int64(len(data)) {
		if time.Now().After(deadline) {
			t.Fatal("the relay did not read the pipe within 10s")
		}
		time.Sleep(time.Millisecond)
	}
	m.finish()
	got, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(data) {
		t.Errorf("finish returned with %d bytes of the %d the relay had read passed on", len(got), len(data))
	}
}

// TestFinishCountsAReadNotYetCounted: a relay that took a chunk from
// its source but had not yet counted it as finish counted, whose source
// still holds the rest of the child's output, is not taken for one that
// has read all the child wrote. Its source was closed once it had read
// finish's count, short by that chunk, with the rest in it: under the
// race detector a slow reader of `ward run --mask -- head -c 1200000
// /dev/zero` got 1,118,208 bytes (TestMaskedOutputIsNeverTruncated, two
// runs in three, and once in CI).
func TestFinishCountsAReadNotYetCounted(t *testing.T) {
	taken, release, held := make(chan struct{}), make(chan struct{}), make(chan struct{})
	hold := func() {
		select {
		case taken <- struct{}{}:
			<-release
		case <-held:
		}
	}
	hookTaken, hookRead = hold, nil
	defer func() { hookTaken, hookRead = nil, nil }()
	data := bytes.Repeat([]byte("x"), 300<<10) // a 256 KiB chunk and more
	out := tempOut(t)
	m, _ := pipeRelay(t, out, func(_, w *os.File) {
		growPipe(w)
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	})
	wait := func() {
		t.Helper()
		select {
		case <-taken:
		case <-time.After(10 * time.Second):
			t.Fatal("the relay did not read the pipe within 10s")
		}
	}
	wait()
	target := m.targets()[0]
	// Counted, held before its next read.
	hookTaken, hookRead = nil, hold
	release <- struct{}{}
	wait()
	r := m.relays[0]
	if r.readAll(target) {
		t.Errorf("taken for a relay that has read all the child wrote at %d bytes of %d read (finish's count %d), %d of them still in its source", r.read.Load(), len(data), target, len(data)-int(r.read.Load()))
	}
	close(held)
	release <- struct{}{}
	m.finish()
	if got, _ := os.ReadFile(out.Name()); len(got) != len(data) {
		t.Errorf("finish returned with %d bytes of the %d passed on", len(got), len(data))
	}
}

// quietRelay is a maskedIO relaying a pipe to /dev/null, the pipe's
// writer held open and quiet for the test's length (the read never sees
// an end); prepare is given the pipe's read end first.
func quietRelay(t *testing.T, prepare func(r *os.File)) *maskedIO {
	t.Helper()
	out, err := os.Create(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	m, _ := pipeRelay(t, out, func(r, _ *os.File) { prepare(r) })
	return m
}

// pipeRelay is a maskedIO relaying a pipe to out, and the pipe's writer,
// held open for the test's length; prepare is given both ends first.
func pipeRelay(t *testing.T, out *os.File, prepare func(r, w *os.File)) (*maskedIO, *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	prepare(r, w)
	p, _ := mask.Compile(nil)
	m := &maskedIO{}
	m.relay(out, r, mask.NewSource(p))
	return m, w
}

// tempOut is a file for a relay's output, closed when the test ends.
func tempOut(t *testing.T) *os.File {
	t.Helper()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	return out
}

// within runs f and fails the test with msg unless it returns within
// 10 s.
func within(t *testing.T, f func(), msg string) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		f()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal(msg)
	}
}

// TestFinishEndsAtWhatTheChildWrote: a relay whose source another
// process keeps writing to after the child is gone (a daemon that
// called setsid, logging to the stdout it inherited) is ended once it
// has passed on what the source held as finish began, all of it. finish
// relayed for as long as the writes kept coming.
func TestFinishEndsAtWhatTheChildWrote(t *testing.T) {
	out := tempOut(t)
	m, w := pipeRelay(t, out, func(_, _ *os.File) {})
	child := bytes.Repeat([]byte("the child's line\n"), 1000)
	if _, err := w.Write(child); err != nil {
		t.Fatal(err)
	}
	// The daemon: a write every 20 ms, never quiet for quietFor.
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				w.Write([]byte("daemon\n"))
			}
		}
	}()
	within(t, m.finish, "finish relayed a writer outside the child's group for 10s")
	got, err := os.ReadFile(out.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(got, child) {
		t.Errorf("got %d bytes of the child's %d", len(got), len(child))
	}
}

// TestTypeaheadLeftWhenTheChildIsGone: what is typed once the child's
// pty session has ended (its other side closed: the child gone, ward
// about to exit) is not read from ward's terminal: it stays there for
// the shell. ward read it for the gone child's pty and it was lost: the
// next command, typed as soon as the child's last output showed. While
// the child's session runs, what is typed goes to it as before.
func TestTypeaheadLeftWhenTheChildIsGone(t *testing.T) {
	user, term, err := mask.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer user.Close()
	defer term.Close()
	tty, err := os.OpenFile(term.Name(), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	master, slave, err := mask.OpenPTY()
	if err != nil {
		t.Fatal(err)
	}
	defer master.Close()
	in := &ptyInput{tty: tty, master: master}
	if _, err := user.Write([]byte("next\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	// The child's session runs: its keys.
	tty.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := in.read(buf); err != nil || string(buf[:n]) != "next\n" {
		t.Fatalf("with the child's session running, read %q, %v; want the line typed", buf[:n], err)
	}
	slave.Close()
	if _, err := user.Write([]byte("after\n")); err != nil {
		t.Fatal(err)
	}
	tty.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if n, err := in.read(buf); n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("with the child's session gone, read %q, %v; want nothing taken", buf[:n], err)
	}
	tty.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := tty.Read(buf); err != nil || string(buf[:n]) != "after\n" {
		t.Errorf("the terminal holds %q (%v) after ward's reader, want the line typed left for the shell", buf[:n], err)
	}
}
