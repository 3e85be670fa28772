package systemd

import (
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestRelayable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"READY=1", "READY=1"},
		{"READY=1\nMAINPID=42\nSTATUS=up", "READY=1\nSTATUS=up"},
		{"FDSTORE=1\nBARRIER=1", ""},
		{"STOPPING=1\n", "STOPPING=1"},
	}
	for _, tt := range tests {
		if got := relayable(tt.in); got != tt.want {
			t.Errorf("relayable(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestRelay plays systemd: the child's READY=1 reaches systemd's socket,
// without the MAINPID assignment.
func TestRelay(t *testing.T) {
	dir, err := os.MkdirTemp("/tmp", "relay")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sd, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: filepath.Join(dir, "systemd.sock"), Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer sd.Close()
	r, err := NewRelay(filepath.Join(dir, "systemd.sock"), dir, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil || r == nil {
		t.Fatalf("NewRelay: %v", err)
	}
	defer r.Close()
	go r.Run()
	child, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: r.Path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
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
		if got := ListenFDs(func(k string) string { return env[k] }); got != nil {
			t.Errorf("%v: took %d sockets", env, len(got))
		}
	}
}
