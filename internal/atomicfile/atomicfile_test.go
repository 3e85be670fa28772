package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := WriteFile(p, []byte("one"), 0o640, false); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o600)
	if err := WriteFile(p, []byte("two"), 0o644, true); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	st, _ := os.Stat(p)
	if string(b) != "two" || st.Mode().Perm() != 0o600 {
		t.Errorf("got %q mode %o, want two and the kept mode 600", b, st.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("a temporary file was left: %d entries", len(entries))
	}
}

func TestWriteNewNeverReplaces(t *testing.T) {
	p := filepath.Join(t.TempDir(), "id")
	if err := WriteNew(p, []byte("first"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteNew(p, []byte("second"), 0o600); !errors.Is(err, fs.ErrExist) {
		t.Errorf("got %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "first" {
		t.Errorf("the existing file was replaced")
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	s, err := Stage(filepath.Join(dir, "m.yaml"), []byte("x"), 0o644, true)
	if err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || !IsTemp(entries[0].Name(), TempPrefix("m.yaml")) {
		t.Fatalf("staged: got %v, want one temporary file of the pattern", entries)
	}
	s.Abort()
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("aborted: %d files left", len(entries))
	}
}

// TestLockDirRemovedWhileWaiting: a lock taken on a directory that its
// holder removed (a failed ward import removes the folders it made)
// or replaced before letting go is refused with ErrDirReplaced, so that
// the waiter makes the directory again rather than write into one that
// is gone, or lock one that no other writer locks.
func TestLockDirRemovedWhileWaiting(t *testing.T) {
	for _, how := range []string{"removed", "replaced"} {
		t.Run(how, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "app")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			unlock, err := LockDir(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			waiting := make(chan struct{})
			got := make(chan error, 1)
			go func() {
				release, err := LockDir(dir, func() { close(waiting) })
				if err == nil {
					release()
				}
				got <- err
			}()
			<-waiting
			if err := os.Remove(dir); err != nil {
				t.Fatal(err)
			}
			if how == "replaced" {
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
			}
			unlock()
			if err := <-got; !errors.Is(err, ErrDirReplaced) {
				t.Errorf("the waiter's lock: got %v, want ErrDirReplaced", err)
			}
			if how == "replaced" {
				release, err := LockDir(dir, nil)
				if err != nil {
					t.Errorf("a lock on the new directory: %v", err)
				} else {
					release()
				}
			}
		})
	}
}
