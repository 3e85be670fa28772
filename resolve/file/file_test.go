package file

import (
	"context"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve"
)

// TestFetchRefusesSpecialFiles: anything but a regular file is refused at
// once, a named pipe nobody writes included (its open waited for a
// writer), a directory and a character device too.
func TestFetchRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ path, want string }{
		{fifo, "is a named pipe (FIFO), not a regular file"},
		{dir, "is a directory, not a regular file"},
		{"/dev/null", "is a character device"},
	}
	for _, tt := range tests {
		ref := resolve.Ref{Raw: "file://" + tt.path, Scheme: "file", Path: tt.path}
		done := make(chan error, 1)
		go func() {
			_, err := Store{}.Fetch(context.Background(), ref)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: got error %v, want one saying %q", tt.path, err, tt.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: Fetch did not return within 10s", tt.path)
		}
	}
}
