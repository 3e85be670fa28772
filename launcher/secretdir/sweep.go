package secretdir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Sweep removes the directories that runs of this user left behind when
// they died (SIGKILL, OOM, a crash) before cleaning up, wherever New would
// have put them under getenv's environment. It never removes a live run's
// directory (see the package comment for why), and it is best effort: what
// it cannot judge now it leaves for a later run. Call it once per run,
// whether or not the run writes files; when there is nothing to sweep it
// costs a stat per place and, where a root exists, one directory read.
func Sweep(getenv func(string) string) {
	name := userRootName()
	for _, base := range sweepBases(getenv) {
		root := filepath.Join(base, name)
		sweepRoot(root)
		if st, err := os.Lstat(root); err == nil && takenByAnother(st) {
			for _, own := range ownRoots(base) {
				sweepRoot(own)
			}
		}
	}
}

// sweepRoot sweeps one user's root.
func sweepRoot(root string) {
	st, err := os.Lstat(root)
	if err != nil || !private(st) || safeBase(filepath.Dir(root)) != nil {
		return
	}
	if !mayHoldLeftovers(root) {
		return
	}
	release, err := lockRoot(root, unix.LOCK_EX|unix.LOCK_NB)
	if err != nil {
		// A run is creating its directory; a later run sweeps instead.
		return
	}
	defer release()
	// Listed again under the lock: only what exists while no run is
	// creating a directory is settled.
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		switch {
		case !e.IsDir():
		case strings.HasPrefix(e.Name(), tempPrefix):
			os.RemoveAll(dir)
		case strings.HasPrefix(e.Name(), runPrefix):
			removeIfDead(dir)
		}
	}
}

// mayHoldLeftovers reads root's names without locking anything: a root
// holding only its .lock, as every run leaves it, is done with at once.
// Raw calls, because os.Open of a directory costs three times as much.
func mayHoldLeftovers(root string) bool {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	buf := make([]byte, 4096)
	for {
		n, err := unix.ReadDirent(fd, buf)
		if err != nil {
			// Cannot tell: let the locked pass find out.
			return true
		}
		if n <= 0 {
			return false
		}
		_, _, names := unix.ParseDirent(buf[:n], -1, nil)
		for _, name := range names {
			if strings.HasPrefix(name, runPrefix) || strings.HasPrefix(name, tempPrefix) {
				return true
			}
		}
	}
}

// removeIfDead removes a run directory unless its lock is held, and
// returns what RemoveAll says (nil for a live one, let be). Called
// with the root lock held exclusively.
func removeIfDead(dir string) error {
	// O_NONBLOCK: a fifo planted as .lock must not hang the sweep.
	open := func() (int, error) {
		return unix.Open(filepath.Join(dir, lockName), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	}
	fd, err := open()
	if errors.Is(err, unix.EACCES) {
		// A child made the directory itself unsearchable (chmod 000 "$D",
		// 600): given back the mode ward made it with, as only its
		// lock can tell a live run's from a dead one's. It was left,
		// secrets and all, by the guard and every sweep.
		if os.Chmod(dir, 0o700) == nil {
			fd, err = open()
		}
	}
	switch {
	case errors.Is(err, unix.ENOENT):
		// Its run is removing it (Remove deletes .lock before releasing
		// it) or died doing so; or its child removed it (rm -f "$D"/.??*,
		// a cleanup of its own directory's hidden files), and the next
		// run's sweep removed the files of a live run under its child.
		// The ward named in the directory's name still running says
		// which (in this PID namespace: a run of another, whose pid
		// means nothing here, is taken for gone, as before; one that
		// only seems alive is left for a later sweep).
		if ownerAlive(filepath.Base(dir)) {
			return nil
		}
	case err != nil:
		return nil
	default:
		defer unix.Close(fd)
		if flock(fd, unix.LOCK_EX|unix.LOCK_NB) != nil {
			return nil
		}
	}
	return removeAll(dir)
}

// ownerAlive reports whether the ward that made run directory name
// (run-PID-...) is a process here still: that pid is a ward's (by its
// name, as /proc says it). Any live pid was taken for its ward's, so a
// directory whose name held pid 1, or the pid of a process that came
// after, was never swept.
func ownerAlive(name string) bool {
	pid, _, _ := strings.Cut(strings.TrimPrefix(name, runPrefix), "-")
	n, err := strconv.Atoi(pid)
	if err != nil || n <= 0 {
		return false
	}
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(n) + "/comm")
	return err == nil && strings.HasPrefix(string(comm), "ward")
}

// leftIn lists the files still in dir (relative, slash-separated), its
// lock left out.
func leftIn(dir string) []string {
	var left []string
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			if rel, rerr := filepath.Rel(dir, p); rerr == nil && rel != lockName {
				left = append(left, filepath.ToSlash(rel))
			}
		}
		return nil
	})
	return left
}

// RemoveDead removes one run directory, dir, once its run is gone (its
// lock released), under the root lock as a sweep does: the guard of a
// ward that was killed (see supervise.GuardArg) removes its run's files
// as soon as the child is gone, not at the user's next run.
//
// What it could not remove comes back as a *LeftError.
func RemoveDead(dir string) error {
	root := filepath.Dir(dir)
	if !strings.HasPrefix(filepath.Base(dir), runPrefix) {
		return nil
	}
	release, err := lockRoot(root, unix.LOCK_EX)
	if err != nil {
		return nil
	}
	defer release()
	return removeTwice(dir, func() error { return removeIfDead(dir) })
}
