package secretdir

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/resolvetest"
)

func TestNewMakesALockedPrivateDirectory(t *testing.T) {
	base, env := tmpfsBase(t)
	d, err := New(env)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	if got, want := filepath.Dir(d.Path), userRootOf(base); got != want {
		t.Errorf("got parent %s, want %s", got, want)
	}
	if prefix := "run-" + strconv.Itoa(os.Getpid()) + "-"; !strings.HasPrefix(filepath.Base(d.Path), prefix) {
		t.Errorf("got name %s, want %s*", filepath.Base(d.Path), prefix)
	}
	for _, p := range []string{userRootOf(base), d.Path} {
		st, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if !st.IsDir() || st.Mode().Perm() != 0o700 {
			t.Errorf("got %s mode %v, want a 0700 directory", p, st.Mode())
		}
	}
	if !exists(t, filepath.Join(d.Path, ".lock")) {
		t.Error("the run directory has no .lock")
	}
}

func TestWriteCreatesFilesWithTheirMode(t *testing.T) {
	// A umask that would narrow every mode below: Write must still set
	// the mode asked for.
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	_, env := tmpfsBase(t)
	d, err := New(env)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	tests := []struct {
		name string
		path string
		mode fs.FileMode
	}{
		{"default 0400", "key.pem", 0o400},
		{"group readable", "group/key.pem", 0o440},
		{"nested", "a/b/c/token", 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(resolvetest.Canary(tt.name))
			if err := d.Write([]File{{Path: tt.path, Mode: tt.mode, Data: data}}); err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(d.Path, filepath.FromSlash(tt.path))
			st, err := os.Lstat(p)
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode() != tt.mode {
				t.Errorf("got mode %v, want %v", st.Mode(), tt.mode)
			}
			if got, _ := os.ReadFile(p); !bytes.Equal(got, data) {
				t.Errorf("got a different value (%d bytes)", len(got))
			}
			if dir := filepath.Dir(p); dir != d.Path {
				if st, _ := os.Lstat(dir); st.Mode().Perm() != 0o700 {
					t.Errorf("got subdirectory mode %v, want 0700", st.Mode().Perm())
				}
			}
		})
	}
}

func TestWriteNeverOverwritesOrFollows(t *testing.T) {
	_, env := tmpfsBase(t)
	d, err := New(env)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	canary := resolvetest.Canary("excl")
	outside := filepath.Join(t.TempDir(), "target")
	if err := os.WriteFile(outside, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(d.Path, "planted")); err != nil {
		t.Fatal(err)
	}
	if err := d.Write([]File{{Path: "once", Mode: 0o400, Data: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		path string
	}{
		{"an existing file", "once"},
		{"a planted symlink", "planted"},
		{"a path leaving the directory", "../escape"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := d.Write([]File{{Path: tt.path, Mode: 0o400, Data: []byte(canary)}})
			if err == nil {
				t.Fatal("got no error")
			}
			if strings.Contains(err.Error(), canary) {
				t.Error("the error holds the file's value")
			}
		})
	}
	if b, _ := os.ReadFile(outside); len(b) != 0 {
		t.Errorf("the symlink's target was written (%d bytes)", len(b))
	}
	if exists(t, filepath.Join(filepath.Dir(d.Path), "escape")) {
		t.Error("a file was written outside the directory")
	}
}

func TestReplaceIsAtomic(t *testing.T) {
	_, env := tmpfsBase(t)
	d, err := New(env)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	// Two values of different sizes, each large enough that a
	// non-atomic rewrite would be seen half done.
	values := [][]byte{bytes.Repeat([]byte("a"), 256<<10), bytes.Repeat([]byte("b"), 128<<10)}
	if err := d.Write([]File{{Path: "tls/key.pem", Mode: 0o400, Data: values[0]}}); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(d.Path, "tls", "key.pem")
	stop := make(chan struct{})
	var reads, torn int
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := os.ReadFile(p)
			reads++
			if err != nil || !(bytes.Equal(got, values[0]) || bytes.Equal(got, values[1])) {
				torn++
			}
		}
	})
	for i := range 300 {
		if err := d.Replace(File{Path: "tls/key.pem", Mode: 0o400, Data: values[(i+1)%2]}); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if torn > 0 {
		t.Errorf("a reader saw a missing or partial file %d times in %d reads", torn, reads)
	}
	st, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode() != 0o400 {
		t.Errorf("got mode %v after Replace, want 0400", st.Mode())
	}
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("got %d entries beside the file, want none (temporary files left?)", len(entries)-1)
	}
}

// TestLongestNames checks the limits the manifest enforces: a file
// under a directory of NameMax bytes, named with FileNameMax, is written
// and replaced; a file name of NameMax bytes is written, but cannot be
// replaced, which is why a file's name takes less than a directory's.
func TestLongestNames(t *testing.T) {
	_, env := tmpfsBase(t)
	d, err := New(env)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Remove()
	dir := strings.Repeat("d", NameMax)
	longest := File{Path: dir + "/" + strings.Repeat("f", FileNameMax), Mode: 0o400, Data: []byte("canary-longest")}
	if err := d.Write([]File{longest}); err != nil {
		t.Fatalf("write a file name of %d bytes under a directory name of %d: %v", FileNameMax, NameMax, err)
	}
	if err := d.Replace(longest); err != nil {
		t.Fatalf("replace a file name of %d bytes: %v", FileNameMax, err)
	}
	tooLong := File{Path: dir + "/" + strings.Repeat("g", NameMax), Mode: 0o400, Data: []byte("canary-too-long")}
	if err := d.Write([]File{tooLong}); err != nil {
		t.Fatalf("write a file name of %d bytes: %v", NameMax, err)
	}
	if err := d.Replace(tooLong); !errors.Is(err, syscall.ENAMETOOLONG) {
		t.Errorf("replace a file name of %d bytes: got %v, want ENAMETOOLONG", NameMax, err)
	}
}

func TestRemoveRemovesEverything(t *testing.T) {
	base, env := tmpfsBase(t)
	d, err := New(env)
	if err != nil {
		t.Fatal(err)
	}
	files := []File{{Path: "a", Mode: 0o400}, {Path: "b/c/d", Mode: 0o400}, {Path: "b/e", Mode: 0o600}}
	if err := d.Write(files); err != nil {
		t.Fatal(err)
	}
	if err := d.RemoveFile("b/e"); err != nil {
		t.Fatal(err)
	}
	if exists(t, filepath.Join(d.Path, "b", "e")) {
		t.Error("RemoveFile left the file")
	}
	if err := d.Remove(); err != nil {
		t.Fatal(err)
	}
	if exists(t, d.Path) {
		t.Error("Remove left the directory")
	}
	if err := d.Remove(); err != nil {
		t.Errorf("a second Remove: %v", err)
	}
	entries, err := os.ReadDir(userRootOf(base))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != ".lock" {
			t.Errorf("left in the root: %s", e.Name())
		}
	}
}

// TestWriteAfterRemovalFails: a directory removed from under the run (by
// a sweep, by hand) is not recreated, unlocked, by the next Write.
func TestWriteAfterRemovalFails(t *testing.T) {
	tests := []struct {
		name string
		op   func(*Dir, File) error
		path string
	}{
		{"write", func(d *Dir, f File) error { return d.Write([]File{f}) }, "secret"},
		{"write in a subdirectory", func(d *Dir, f File) error { return d.Write([]File{f}) }, "conf/secret"},
		{"replace", (*Dir).Replace, "secret"},
		{"replace in a subdirectory", (*Dir).Replace, "conf/secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, env := tmpfsBase(t)
			d, err := New(env)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Remove()
			if err := os.RemoveAll(d.Path); err != nil {
				t.Fatal(err)
			}
			canary := resolvetest.Canary("gone")
			err = tt.op(d, File{Path: tt.path, Mode: 0o400, Data: []byte(canary)})
			if err == nil {
				t.Fatal("got no error, want one: the directory is gone")
			}
			if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "was removed") {
				t.Errorf("got error %q, want one saying the directory was removed", err)
			}
			if strings.Contains(err.Error(), canary) {
				t.Error("the error holds the file's value")
			}
			if exists(t, d.Path) {
				t.Error("the directory was recreated")
			}
		})
	}
}

// TestSweepInCreationWindowSparesTheDirectory holds one New between its
// mkdir and its lock and sweeps, in this process and in another, in that
// window: the directory and the files written after must survive.
func TestSweepInCreationWindowSparesTheDirectory(t *testing.T) {
	base, env := tmpfsBase(t)
	inWindow := make(chan string)
	resume := make(chan struct{})
	hookCreated = func(tmp string) {
		inWindow <- tmp
		<-resume
	}
	defer func() { hookCreated = nil }()
	type result struct {
		d   *Dir
		err error
	}
	done := make(chan result, 1)
	go func() {
		d, err := New(env)
		done <- result{d, err}
	}()
	var tmp string
	select {
	case tmp = <-inWindow:
	case <-time.After(30 * time.Second):
		t.Fatal("New never reached its creation window")
	}
	Sweep(env)
	h, _ := startHelper(t, "sweep", base)
	h.finish(t)
	if !exists(t, tmp) {
		t.Error("a sweep removed the directory being created")
	}
	close(resume)
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("New did not return")
	}
	if r.err != nil {
		t.Fatalf("New with a sweep in its window: %v", r.err)
	}
	defer r.d.Remove()
	hookCreated = nil
	data := []byte(resolvetest.Canary("window"))
	if err := r.d.Write([]File{{Path: "secret", Mode: 0o400, Data: data}}); err != nil {
		t.Fatalf("write after a sweep in the window: %v", err)
	}
	Sweep(env)
	if got, err := os.ReadFile(filepath.Join(r.d.Path, "secret")); err != nil || !bytes.Equal(got, data) {
		t.Errorf("the secret file did not survive a sweep (%d bytes, err %v)", len(got), err)
	}
}

// TestConcurrentRunsKeepTheirFiles is the adversarial run that found the
// race: 40 runs at once, 3 rounds, each sweeping while the others create,
// write and remove; as goroutines and as processes.
func TestConcurrentRunsKeepTheirFiles(t *testing.T) {
	const runs, rounds = 40, 3
	t.Run("goroutines", func(t *testing.T) {
		_, env := tmpfsBase(t)
		var mu sync.Mutex
		var failures []string
		for round := range rounds {
			var wg sync.WaitGroup
			for i := range runs {
				wg.Go(func() {
					data := []byte(resolvetest.Canary("stress-" + strconv.Itoa(i)))
					if err := oneRun(env, data); err != nil {
						mu.Lock()
						failures = append(failures, "round "+strconv.Itoa(round)+": "+err.Error())
						mu.Unlock()
					}
				})
			}
			wg.Wait()
		}
		if len(failures) > 0 {
			t.Errorf("%d of %d runs failed:\n%s", len(failures), runs*rounds, strings.Join(failures, "\n"))
		}
	})
	t.Run("processes", func(t *testing.T) {
		base, _ := tmpfsBase(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var failures []string
		for i := range runs {
			wg.Go(func() {
				h := &helperProc{}
				cmd := h.cmdFor("stress", base, "SECRETDIR_TEST_ROUNDS="+strconv.Itoa(rounds), "SECRETDIR_TEST_DATA="+resolvetest.Canary("proc"))
				if err := cmd.Run(); err != nil {
					mu.Lock()
					failures = append(failures, "process "+strconv.Itoa(i)+": "+err.Error()+": "+h.stderr.String())
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if len(failures) > 0 {
			t.Errorf("%d of %d processes had failed runs:\n%s", len(failures), runs, strings.Join(failures, "\n"))
		}
	})
}

// TestStrictUmask: a run under `umask 177` (a script's idiom before it
// writes a key) made ward-UID mode 0600, and every later run of the user,
// under any umask, failed on it ("not a private directory"); its run
// directory and a file's subdirectory could not be entered either. The
// directories are 0700 whatever the umask.
func TestStrictUmask(t *testing.T) {
	base, env := tmpfsBase(t)
	for _, mask := range []int{0o277, 0o177, 0o022} {
		old := syscall.Umask(mask)
		d, err := New(env)
		if err == nil {
			err = d.Write([]File{{Path: "tls/key.pem", Mode: 0o400, Data: []byte("x")}})
		}
		syscall.Umask(old)
		if err != nil {
			t.Fatalf("umask %04o: %v", mask, err)
		}
		for _, dir := range []string{userRootOf(base), d.Path, filepath.Join(d.Path, "tls")} {
			if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("umask %04o: %s has mode %v, want 0700 (%v)", mask, dir, st.Mode().Perm(), err)
			}
		}
		d.Remove()
	}
}
