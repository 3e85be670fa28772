package secretdir

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"golang.org/x/sys/unix"
)

// smallTmpfs mounts a tmpfs of size bytes for the test and returns an
// environment pointing ward at it: the full /dev/shm of a container (64
// MiB by default in Docker) or a full $XDG_RUNTIME_DIR, in small.
func smallTmpfs(t *testing.T, size string) func(string) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		vaulttest.RequireIntegration(t, "cannot mount a tmpfs (needs root): "+err.Error())
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return envOf(map[string]string{"WARD_RUNTIME_DIR": dir})
}

// TestReplaceOnAFullTmpfs: a rotation whose new value does not fit keeps
// the child's old file whole and leaves nothing half written beside it,
// so that the space is there again for the next file and the next try,
// and the error names the run's directory as the child knows it.
func TestReplaceOnAFullTmpfs(t *testing.T) {
	d, err := New(smallTmpfs(t, "32k"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	old := bytes.Repeat([]byte("o"), 16000)
	if err := d.Write([]File{{Path: "tls/key.pem", Mode: 0o400, Data: old}}); err != nil {
		t.Fatal(err)
	}
	err = d.Replace(File{Path: "tls/key.pem", Mode: 0o400, Data: bytes.Repeat([]byte("n"), 20000)})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("got %v, want ENOSPC", err)
	}
	if !strings.Contains(err.Error(), d.Path+"/") {
		t.Errorf("got error %q, want it to name the run's directory %s", err, d.Path)
	}
	p := filepath.Join(d.Path, "tls", "key.pem")
	if got, err := os.ReadFile(p); err != nil || !bytes.Equal(got, old) {
		t.Errorf("the child's file after the failed rewrite: got %d bytes (err %v), want the old %d", len(got), err, len(old))
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	for _, e := range entries {
		if e.Name() != "key.pem" {
			t.Errorf("got %s beside the file after the failed rewrite, want nothing", e.Name())
		}
	}
	// The space the failed rewrite took is free again: a value that fits
	// beside the old one is written.
	if err := d.Write([]File{{Path: "other", Mode: 0o400, Data: bytes.Repeat([]byte("x"), 12000)}}); err != nil {
		t.Errorf("a file that fits after the failed rewrite: %v", err)
	}
}

// TestFits: what ReplaceAll could write now is said to fit, what it
// could not is not; a tmpfs without a size (size=0) has no limit to
// check. Every new file is written beside every old one before any takes
// its place: two rewritten together need room for both at once (the old
// count, which freed each old file's room as its new one was counted,
// said the pair fit, and the write then failed).
func TestFits(t *testing.T) {
	tests := []struct {
		name, size string
		data       []int
		fits       bool
	}{
		{"room", "32k", []int{12000}, true},
		{"no room beside the old file", "32k", []int{20000}, false},
		{"no room for two beside the old one", "32k", []int{12000, 12000}, false},
		{"no size", "0", []int{1 << 20}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := New(smallTmpfs(t, tc.size))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Remove()
			if err := d.Write([]File{{Path: "key.pem", Mode: 0o400, Data: bytes.Repeat([]byte("o"), 16000)}}); err != nil {
				t.Fatal(err)
			}
			var files []File
			for i, n := range tc.data {
				files = append(files, File{Path: []string{"key.pem", "cert.pem"}[i], Mode: 0o400, Data: bytes.Repeat([]byte("n"), n)})
			}
			err = d.Fits(files)
			if got := err == nil; got != tc.fits || err != nil && !errors.Is(err, syscall.ENOSPC) {
				t.Errorf("got %v, want fits=%v", err, tc.fits)
			}
			// What Fits says is what ReplaceAll does.
			if _, rerr := d.ReplaceAll(files); (rerr == nil) != tc.fits {
				t.Errorf("ReplaceAll: got %v, want it to succeed: %v", rerr, tc.fits)
			}
		})
	}
}
