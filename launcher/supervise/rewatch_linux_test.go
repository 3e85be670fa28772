package supervise

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/fsnotify/fsnotify"
)

// inotifyWatches returns, by inode, the watch descriptors of this
// process's inotify instances (their fdinfo), of which the test makes one.
func inotifyWatches(t *testing.T) map[uint64]string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64]string{}
	for _, fd := range fds {
		if l, _ := os.Readlink("/proc/self/fd/" + fd.Name()); l != "anon_inode:inotify" {
			continue
		}
		info, _ := os.ReadFile("/proc/self/fdinfo/" + fd.Name())
		for _, line := range strings.Split(string(info), "\n") {
			var wd, ino string
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "wd:"); ok {
					wd = v
				}
				if v, ok := strings.CutPrefix(f, "ino:"); ok {
					ino = v
				}
			}
			if n, err := strconv.ParseUint(ino, 16, 64); err == nil && wd != "" {
				out[n] = wd
			}
		}
	}
	return out
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// TestRewatchKeepsUnchangedWatches: watched again after an event, the
// directories that are still the same keep their watch: each watch was
// let go and made anew, and a directory made in one meanwhile (a
// secret's directory removed and made again) was never watched, nor its
// next value seen. A directory replaced has the old one's watch let go
// (none left behind) and the new one watched.
func TestRewatchKeepsUnchangedWatches(t *testing.T) {
	root := t.TempDir()
	os.Chmod(root, 0o700)
	secret := filepath.Join(root, "a", "b", "token")
	os.MkdirAll(filepath.Dir(secret), 0o700)
	os.WriteFile(secret, []byte("x"), 0o600)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ws := &watches{w: w, at: map[string]fileID{}}
	paths := []string{secret}
	dirs := ws.rewatchAll(paths, nil)
	before := inotifyWatches(t)
	for _, p := range []string{filepath.Join(root, "a"), filepath.Dir(secret), secret} {
		if before[inode(t, p)] == "" {
			t.Fatalf("%s is not watched: %v", p, before)
		}
	}
	dirs = ws.rewatchAll(paths, dirs)
	after := inotifyWatches(t)
	for _, p := range []string{filepath.Join(root, "a"), filepath.Dir(secret), secret} {
		if ino := inode(t, p); after[ino] != before[ino] {
			t.Errorf("%s: watch %s, then %s: its watch was made anew", p, before[ino], after[ino])
		}
	}
	// b made again, with the token in it.
	old := inode(t, filepath.Dir(secret))
	os.RemoveAll(filepath.Dir(secret))
	os.MkdirAll(filepath.Dir(secret), 0o700)
	os.WriteFile(secret, []byte("y"), 0o600)
	ws.rewatchAll(paths, dirs)
	now := inotifyWatches(t)
	if now[inode(t, filepath.Dir(secret))] == "" || now[inode(t, secret)] == "" {
		t.Errorf("the directory made again, or its file, is not watched: %v", now)
	}
	if _, left := now[old]; left && old != inode(t, filepath.Dir(secret)) {
		t.Errorf("the removed directory's watch is left: %v", now)
	}
	if len(now) != len(before) {
		t.Errorf("%d watches after the directory was made again, %d before: %v", len(now), len(before), now)
	}
}
