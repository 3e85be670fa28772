package systemd

import (
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wardsecrets/ward/internal/logbuf"
)

func TestRelayable(t *testing.T) {
	tests := []struct {
		in      string
		withFDs bool
		want    string
	}{
		{"READY=1", false, "READY=1"},
		{"READY=1\nMAINPID=42\nSTATUS=up", false, "READY=1\nSTATUS=up"},
		{"FDSTORE=1\nBARRIER=1", false, ""},
		{"FDSTORE=1\nFDNAME=cache\nMAINPID=42", true, "FDSTORE=1\nFDNAME=cache"},
		{"BARRIER=1", true, "BARRIER=1"},
		{"STOPPING=1\n", false, "STOPPING=1"},
	}
	for _, tt := range tests {
		if got := relayable(tt.in, tt.withFDs); got != tt.want {
			t.Errorf("relayable(%q, %v) = %q, want %q", tt.in, tt.withFDs, got, tt.want)
		}
	}
}

// systemdSocket plays systemd's notify socket, systemd.sock in a short
// directory (a socket's path is at most 107 bytes) the test removes.
func systemdSocket(t *testing.T) (string, *net.UnixConn) {
	t.Helper()
	dir, err := os.MkdirTemp("/tmp", "relay")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sd, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "systemd.sock"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sd.Close() })
	return dir, sd
}

// TestRelay plays systemd: the child's READY=1 reaches systemd's socket,
// without the MAINPID assignment.
func TestRelay(t *testing.T) {
	dir, sd := systemdSocket(t)
	r, child := runningRelay(t, filepath.Join(dir, "systemd.sock"), dir, slog.New(slog.DiscardHandler))
	defer r.Close()
	defer child.Close()
	child.Write([]byte("READY=1\nMAINPID=1"))
	sd.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 256)
	n, err := sd.Read(buf)
	if err != nil || string(buf[:n]) != "READY=1" {
		t.Errorf("systemd got %q, %v; want READY=1", buf[:n], err)
	}
	if r, _ := NewRelay("", dir, nil); r != nil {
		t.Error("a relay without NOTIFY_SOCKET")
	}
}

// TestListenFDs: only sockets passed to this very process, in a sane
// number, are taken. (Taking real ones is tested end to end at the root:
// wrapping this process's own fd 3 here would close it when collected.)
func TestListenFDs(t *testing.T) {
	for _, env := range []map[string]string{
		{"LISTEN_PID": "1", "LISTEN_FDS": "2"},
		{"LISTEN_PID": strconv.Itoa(os.Getpid()), "LISTEN_FDS": "0"},
		{"LISTEN_PID": strconv.Itoa(os.Getpid()), "LISTEN_FDS": "many"},
		{"LISTEN_PID": strconv.Itoa(os.Getpid()), "LISTEN_FDS": "100000"},
	} {
		if got, err := ListenFDs(func(k string) string { return env[k] }); got != nil || err != nil {
			t.Errorf("%v: took %d sockets (%v)", env, len(got), err)
		}
	}
	// Fds that were not passed: this process's own (close-on-exec, as
	// the Go runtime's cgroup files are), or none at all. They were taken
	// for sockets and handed to the child.
	for _, n := range []string{"2", "900"} {
		env := map[string]string{"LISTEN_PID": strconv.Itoa(os.Getpid()), "LISTEN_FDS": n}
		got, err := ListenFDs(func(k string) string { return env[k] })
		if got != nil || err == nil || !strings.Contains(err.Error(), "was not passed to ward") {
			t.Errorf("LISTEN_FDS=%s of fds not passed: took %d sockets (%v), want none and an error", n, len(got), err)
		}
	}
}

// TestRelayCloseDrains: what the child sent just before ward closes the
// relay (a shutdown handler's STOPPING=1, then its exit) still reaches
// systemd, and a message over systemd's 4096 bytes is dropped, not cut.
func TestRelayCloseDrains(t *testing.T) {
	dir, sd := systemdSocket(t)
	for range 20 {
		r, err := NewRelay(filepath.Join(dir, "systemd.sock"), dir, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		go r.Run()
		for deadline := time.Now().Add(5 * time.Second); !r.running.Load(); {
			if time.Now().After(deadline) {
				t.Fatal("the relay did not start")
			}
			time.Sleep(time.Millisecond) // polling a flag, with a deadline
		}
		child, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: r.Path, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		child.Write(make([]byte, maxMessage+1))
		child.Write([]byte("STOPPING=1"))
		child.Close()
		r.Close()
		sd.SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 2*maxMessage)
		n, err := sd.Read(buf)
		if err != nil || string(buf[:n]) != "STOPPING=1" {
			t.Fatalf("systemd got %d bytes (%v), want the STOPPING=1 sent before the relay closed", n, err)
		}
	}
}

// TestRelayPathTooLong: a runtime directory too deep for a unix socket's
// path is said in so many words, with what to do (bind said "invalid
// argument").
func TestRelayPathTooLong(t *testing.T) {
	dir := "/tmp/" + strings.Repeat("d", 120)
	_, err := NewRelay("/run/systemd/notify", dir, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "more than the 107") || !strings.Contains(err.Error(), "$WARD_RUNTIME_DIR") {
		t.Errorf("got %v, want an error naming the limit and $WARD_RUNTIME_DIR", err)
	}
}

// TestRelayCloseWhileSystemdReadsNothing: a systemd that reads nothing
// (its socket's queue full) does not hold the relay's Close, which ward's
// exit waits for: it hung for good once the child had exited, after a
// burst of STATUS= messages. The failure is warned of once.
func TestRelayCloseWhileSystemdReadsNothing(t *testing.T) {
	dir, _ := systemdSocket(t) // never read
	log, logs := warnings()
	r, child := runningRelay(t, filepath.Join(dir, "systemd.sock"), dir, log)
	defer child.Close()
	// More than systemd's queue and the relay's own take: the child
	// blocks as it would on systemd's, so it gives up after a while.
	child.SetWriteDeadline(time.Now().Add(2 * time.Second))
	for i := range 40 {
		if _, err := child.Write([]byte("STATUS=msg " + strconv.Itoa(i))); err != nil {
			break
		}
	}
	closed := make(chan struct{})
	go func() { r.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("the relay's Close still waits for a systemd that reads nothing")
	}
	if n := strings.Count(logs(), "cannot relay a notify message to systemd"); n != 1 {
		t.Errorf("%d warnings of messages not relayed, want 1:\n%s", n, logs())
	}
}

// TestRelayToNoUsableSocket: a NOTIFY_SOCKET the relay cannot send to
// (systemd 254's vsock:CID:PORT, a relative path) is one warning at the
// start, and the child's messages are dropped in silence: each was a
// warning, a child's WATCHDOG=1 flooding the journal.
func TestRelayToNoUsableSocket(t *testing.T) {
	for _, socket := range []string{"vsock:2:1234", "relative/sock", "/nonexistent/sock"} {
		dir, _ := systemdSocket(t)
		log, logs := warnings()
		r, child := runningRelay(t, socket, dir, log)
		for range 20 {
			child.Write([]byte("WATCHDOG=1"))
		}
		child.Close()
		r.Close()
		if n := strings.Count(logs(), "level=WARN"); n != 1 {
			t.Errorf("%s: %d warnings, want 1:\n%s", socket, n, logs())
		}
	}
}

// runningRelay starts a relay to socket, in dir, and connects a child's
// socket to it.
func runningRelay(t *testing.T, socket, dir string, log *slog.Logger) (*Relay, *net.UnixConn) {
	t.Helper()
	r, err := NewRelay(socket, dir, log)
	if err != nil {
		t.Fatal(err)
	}
	go r.Run()
	child, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: r.Path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	return r, child
}

// warnings is a logger of warnings and up, and what it logged so far.
func warnings() (*slog.Logger, func() string) {
	w := &logbuf.Buffer{}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn})), w.String
}

// TestRelayCloseWaitsForAFullQueue: systemd's socket, every service's,
// full for a moment as the child sends its last message and exits: the
// message still reaches systemd (Close gave what was in flight 2 ms).
func TestRelayCloseWaitsForAFullQueue(t *testing.T) {
	dir, sd := systemdSocket(t)
	log, _ := warnings()
	r, child := runningRelay(t, filepath.Join(dir, "systemd.sock"), dir, log)
	defer child.Close()
	// Another service's messages fill the queue.
	other, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: filepath.Join(dir, "systemd.sock"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	for {
		if _, err := other.Write([]byte("STATUS=another service")); err != nil {
			break
		}
	}
	child.Write([]byte("STOPPING=1"))
	closed := make(chan struct{})
	go func() { r.Close(); close(closed) }()
	// systemd reads again a moment later.
	time.Sleep(300 * time.Millisecond) // the moment the queue stays full, not a wait for an event
	buf := make([]byte, maxMessage)
	sd.SetReadDeadline(time.Now().Add(10 * time.Second))
	for got := false; !got; {
		n, err := sd.Read(buf)
		if err != nil {
			t.Fatalf("the child's STOPPING=1 never reached systemd: %v", err)
		}
		got = string(buf[:n]) == "STOPPING=1"
	}
	<-closed
}

// TestRelayPassesDescriptors plays systemd and a child that keeps a
// descriptor in systemd's store (FDSTORE=1 with SCM_RIGHTS, as
// sd_pid_notify_with_fds sends it) and waits on a barrier
// (sd_notify_barrier: BARRIER=1 with a pipe's write end, which systemd
// closes once it has read what came before): systemd gets the message
// with the descriptor, ward keeps no copy, and the barrier ends when
// systemd closes its end. ward dropped both lines and closed the
// descriptors: the store stayed empty, and FDNAME= reached systemd alone.
func TestRelayPassesDescriptors(t *testing.T) {
	dir, sd := systemdSocket(t)
	r, child := runningRelay(t, filepath.Join(dir, "systemd.sock"), dir, slog.New(slog.DiscardHandler))
	defer r.Close()
	defer child.Close()
	stored := filepath.Join(t.TempDir(), "cache")
	if err := os.WriteFile(stored, []byte("kept across restarts"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(stored)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeWithFDs(child, []byte("FDSTORE=1\nFDNAME=cache\nMAINPID=1"), []int{int(f.Fd())}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	receive := func(what string) (string, []int) {
		t.Helper()
		sd.SetReadDeadline(time.Now().Add(10 * time.Second))
		buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(16))
		n, oobn, _, _, err := sd.ReadMsgUnix(buf, oob)
		if err != nil {
			t.Fatalf("%s: systemd got nothing: %v", what, err)
		}
		return string(buf[:n]), receivedFDs(oob[:oobn])
	}
	msg, fds := receive("the store")
	if msg != "FDSTORE=1\nFDNAME=cache" || len(fds) != 1 {
		t.Fatalf("systemd got %q with %d descriptors, want FDSTORE=1 and FDNAME=cache with one", msg, len(fds))
	}
	got := make([]byte, 64)
	n, _ := unix.Pread(fds[0], got, 0)
	unix.Close(fds[0])
	if string(got[:n]) != "kept across restarts" {
		t.Errorf("the stored descriptor reads %q, want the file the child stored", got[:n])
	}
	// ward keeps no copy of it once relayed.
	held := func() bool {
		entries, _ := os.ReadDir("/proc/self/fd")
		for _, e := range entries {
			if target, _ := os.Readlink("/proc/self/fd/" + e.Name()); target == stored {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(10 * time.Second); held(); time.Sleep(time.Millisecond) { // polling /proc, with a deadline
		if time.Now().After(deadline) {
			t.Fatal("the relay still holds the stored descriptor 10s after passing it on")
		}
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	if err := writeWithFDs(child, []byte("BARRIER=1"), []int{int(pw.Fd())}); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	msg, fds = receive("the barrier")
	if msg != "BARRIER=1" || len(fds) != 1 {
		t.Fatalf("systemd got %q with %d descriptors, want BARRIER=1 with one", msg, len(fds))
	}
	ended := make(chan error, 1)
	go func() {
		_, err := pr.Read(make([]byte, 1))
		ended <- err
	}()
	unix.Close(fds[0])
	select {
	case err := <-ended:
		if err != io.EOF {
			t.Errorf("the barrier's pipe read %v, want EOF", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the barrier did not end once systemd closed its end")
	}

	// Descriptors with neither: the message alone (systemd would close
	// them, complaining).
	other, err := os.Open(stored)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := writeWithFDs(child, []byte("STATUS=serving"), []int{int(other.Fd())}); err != nil {
		t.Fatal(err)
	}
	if msg, fds = receive("the status"); msg != "STATUS=serving" || len(fds) != 0 {
		t.Errorf("systemd got %q with %d descriptors, want STATUS=serving with none", msg, len(fds))
	}
}
