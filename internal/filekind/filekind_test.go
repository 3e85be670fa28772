package filekind

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOf(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for path, want := range map[string]string{
		dir:         "a directory",
		fifo:        "a named pipe (FIFO)",
		"/dev/null": "a character device (a terminal, /dev/null...)",
		sock:        "a socket",
	} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := Of(st); got != want {
			t.Errorf("%s: got %q, want %q", path, got, want)
		}
	}
}
