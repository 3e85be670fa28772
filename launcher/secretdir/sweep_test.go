package secretdir

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// TestSweepRemovesAKilledRun: a ward SIGKILLed mid-run leaves its
// directory, secrets and all; the next run, with files or not, removes it.
func TestSweepRemovesAKilledRun(t *testing.T) {
	base, env := tmpfsBase(t)
	h, dir := startHelper(t, "killme", base, "SECRETDIR_TEST_DATA="+resolvetest.Canary("killed"))
	h.kill(t)
	if !exists(t, filepath.Join(dir, "secret")) || !exists(t, filepath.Join(dir, ".lock")) {
		t.Fatal("the killed run left no directory to sweep")
	}
	Sweep(env)
	if exists(t, dir) {
		t.Error("Sweep left a killed run's directory")
	}
}

// TestSweepSparesALiveRunInAnotherProcess: a run in another process holds
// its lock; no sweep removes its directory or its files.
func TestSweepSparesALiveRunInAnotherProcess(t *testing.T) {
	base, env := tmpfsBase(t)
	data := resolvetest.Canary("live")
	h, dir := startHelper(t, "live", base, "SECRETDIR_TEST_DATA="+data)
	Sweep(env)
	if got, err := os.ReadFile(filepath.Join(dir, "secret")); err != nil || !bytes.Equal(got, []byte(data)) {
		t.Errorf("a live run's file did not survive a sweep (%d bytes, err %v)", len(got), err)
	}
	h.finish(t)
	if exists(t, dir) {
		t.Error("the live run's Remove left its directory")
	}
}

// TestSweepJudgesEachLeftover builds the run directories a sweep can meet
// by hand and checks which go.
func TestSweepJudgesEachLeftover(t *testing.T) {
	tests := []struct {
		name    string
		entry   string
		lock    bool // a .lock file in it
		held    bool // its lock held by another process
		removed bool
	}{
		{"killed run: lock present, not held", "run-1-1", true, false, true},
		{"live run: lock held by another process", "run-1-2", true, true, false},
		{"died while removing: no lock", "run-DEAD-3", false, false, true},
		// Its child removed the lock (rm -f "$D"/.??*): the next run's
		// sweep removed its files under it.
		{"live, its lock removed by its child", "run-WARD-6", false, false, false},
		// A live process of another name (pid 1, a pid given again):
		// not the run's ward.
		{"no lock, its pid another program's", "run-OTHER-7", false, false, true},
		{"died while creating", ".new-4", true, false, true},
		{"died while creating, before its lock", ".new-5", false, false, true},
		{"not a run directory", "other", true, false, false},
	}
	// A pid of no process: a child's, reaped. A live ward's: a process
	// of that name (sleep, linked as ward). A live process of another
	// name: this test's.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	ward := filepath.Join(t.TempDir(), "ward")
	if err := os.Symlink(sleep, ward); err != nil {
		t.Fatal(err)
	}
	live := exec.Command(ward, "600")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Process.Kill(); live.Wait() })
	pids := strings.NewReplacer("DEAD", strconv.Itoa(gone.Process.Pid), "WARD", strconv.Itoa(live.Process.Pid), "OTHER", strconv.Itoa(os.Getpid()))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, env := tmpfsBase(t)
			root := userRootOf(base)
			dir := filepath.Join(root, pids.Replace(tt.entry))
			if err := os.MkdirAll(filepath.Join(dir, "conf"), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(root, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "conf", "secret"), []byte(resolvetest.Canary("left")), 0o400); err != nil {
				t.Fatal(err)
			}
			if tt.lock {
				if err := os.WriteFile(filepath.Join(dir, ".lock"), nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if tt.held {
				h, _ := startHelper(t, "hold", base, "SECRETDIR_TEST_LOCK="+filepath.Join(dir, ".lock"))
				defer h.finish(t)
			}
			Sweep(env)
			if gone := !exists(t, dir); gone != tt.removed {
				t.Errorf("got removed=%v, want %v", gone, tt.removed)
			}
		})
	}
}

// TestSweepLeavesRootsThatAreNotPrivate: a root someone else could write
// to, or a symlink, is not this user's to sweep.
func TestSweepLeavesRootsThatAreNotPrivate(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T, root string)
	}{
		{"group writable", func(t *testing.T, root string) {
			if err := os.Chmod(root, 0o770); err != nil {
				t.Fatal(err)
			}
		}},
		{"a symlink", func(t *testing.T, root string) {
			real := root + "-real"
			if err := os.Rename(root, real); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(real, root); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, env := tmpfsBase(t)
			root := userRootOf(base)
			dead := filepath.Join(root, "run-1-1")
			if err := os.MkdirAll(dead, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(root, 0o700); err != nil {
				t.Fatal(err)
			}
			tt.make(t, root)
			Sweep(env)
			if !exists(t, dead) {
				t.Error("Sweep removed a directory in a root that is not private")
			}
		})
	}
}

// TestSweepWithoutARootCreatesNothing: a run without files sweeps, and
// leaves no trace where no run ever wrote.
func TestSweepWithoutARootCreatesNothing(t *testing.T) {
	base, env := tmpfsBase(t)
	Sweep(env)
	if exists(t, userRootOf(base)) {
		t.Error("Sweep created a root")
	}
}

// BenchmarkSweep measures what a run pays to sweep when there is nothing
// to sweep (the common case), and with 40 live runs beside it.
func BenchmarkSweep(b *testing.B) {
	b.Run("no root", func(b *testing.B) {
		_, env := tmpfsBase(b)
		for b.Loop() {
			Sweep(env)
		}
	})
	b.Run("empty root", func(b *testing.B) {
		_, env := tmpfsBase(b)
		d, err := New(env)
		if err != nil {
			b.Fatal(err)
		}
		d.Remove()
		for b.Loop() {
			Sweep(env)
		}
	})
	b.Run("40 live runs", func(b *testing.B) {
		_, env := tmpfsBase(b)
		for range 40 {
			d, err := New(env)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Remove()
		}
		for b.Loop() {
			Sweep(env)
		}
	})
}

// BenchmarkNew measures a run's directory from creation to removal, with
// the tmpfs detection that only runs with files pay.
func BenchmarkNew(b *testing.B) {
	_, env := tmpfsBase(b)
	for b.Loop() {
		d, err := New(env)
		if err != nil {
			b.Fatal(err)
		}
		if err := d.Write([]File{{Path: "secret", Mode: 0o400, Data: []byte(strconv.Itoa(1))}}); err != nil {
			b.Fatal(err)
		}
		d.Remove()
	}
}
