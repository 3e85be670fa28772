package secretdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// runtimeBase picks where private directories live: $WARD_RUNTIME_DIR,
// else the first of baseCandidates that is a writable directory on tmpfs.
// On Linux the place must be tmpfs, so secrets never reach a disk.
func runtimeBase(getenv func(string) string) (string, error) {
	if d := getenv("WARD_RUNTIME_DIR"); d != "" {
		// Absolute: the child gets full paths (it may change directory),
		// and ward leaves its working directory while the child runs, so
		// a relative one would remove nothing at the end.
		d, err := filepath.Abs(d)
		if err != nil {
			return "", fmt.Errorf("$WARD_RUNTIME_DIR: %w", err)
		}
		// Said as such: a pod's emptyDir mounted at another path, a
		// directory the image did not make, are not "not on tmpfs".
		st, err := os.Stat(d)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("$WARD_RUNTIME_DIR %s does not exist: ward makes its own directories in it, not it", d)
		case err != nil:
			return "", fmt.Errorf("$WARD_RUNTIME_DIR: %w", err)
		case !st.IsDir():
			return "", fmt.Errorf("$WARD_RUNTIME_DIR %s is not a directory", d)
		}
		if _, anywhere := noTmpfsFallback(); !onTmpfs(d) && !anywhere {
			return "", fmt.Errorf("$WARD_RUNTIME_DIR %s is not on tmpfs: secret files must not reach a disk", d)
		}
		if err := safeBase(d); err != nil {
			return "", fmt.Errorf("$WARD_RUNTIME_DIR %s: %w", d, err)
		}
		return d, nil
	}
	var skipped []string
	for _, d := range baseCandidates(getenv, os.Geteuid() == 0) {
		if !filepath.IsAbs(d) {
			// XDG and systemd give absolute paths; a relative one is not theirs.
			continue
		}
		why := unusableBase(d)
		if why == "" {
			return d, nil
		}
		skipped = append(skipped, why)
	}
	if fallback, ok := noTmpfsFallback(); ok {
		return fallback, nil
	}
	// Each place's reason: in a container /dev/shm may be missing, not
	// tmpfs, or a volume without the sticky bit, and a bare list of names
	// left the user to guess which.
	return "", fmt.Errorf("no tmpfs directory for secret files: %s", strings.Join(skipped, "; "))
}

// unusableBase says why a run cannot put its directory under d, "" when
// it can.
func unusableBase(d string) string {
	st, err := os.Stat(d)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return d + " does not exist"
	case err != nil:
		return err.Error()
	case !st.IsDir():
		return d + " is not a directory"
	case !onTmpfs(d):
		return d + " is not on tmpfs"
	}
	if err := unix.Access(d, unix.W_OK); err != nil {
		return fmt.Sprintf("uid %d cannot write in %s: %v", os.Geteuid(), d, err)
	}
	if err := safeBase(d); err != nil {
		return err.Error()
	}
	return ""
}

// baseCandidates lists, best first, where a run without $WARD_RUNTIME_DIR
// may put its directory: systemd's RuntimeDirectory= ($RUNTIME_DIRECTORY,
// the first of its colon-separated paths), which systemd removes with
// everything in it when the service stops, so even the leftovers of a
// SIGKILLed ward go; $XDG_RUNTIME_DIR; /run when root; /dev/shm. Each is
// still checked for tmpfs: /run is tmpfs on systemd systems, but not
// everywhere.
func baseCandidates(getenv func(string) string, root bool) []string {
	var candidates []string
	if d, _, _ := strings.Cut(getenv("RUNTIME_DIRECTORY"), ":"); d != "" {
		candidates = append(candidates, d)
	}
	if d := getenv("XDG_RUNTIME_DIR"); d != "" {
		candidates = append(candidates, d)
	}
	if root {
		candidates = append(candidates, "/run")
	}
	return append(candidates, "/dev/shm")
}

// sweepBases lists every place New could have put a directory under this
// environment, whether or not it is tmpfs: sweeping only deletes, and
// telling tmpfs apart would cost a statfs per place on every run.
func sweepBases(getenv func(string) string) []string {
	if d := getenv("WARD_RUNTIME_DIR"); d != "" {
		if abs, err := filepath.Abs(d); err == nil {
			d = abs
		}
		return []string{d}
	}
	bases := baseCandidates(getenv, os.Geteuid() == 0)
	if fallback, ok := noTmpfsFallback(); ok {
		bases = append(bases, fallback)
	}
	var unique []string
	for _, b := range bases {
		b = filepath.Clean(b)
		if !slices.Contains(unique, b) {
			unique = append(unique, b)
		}
	}
	return unique
}

// safeBase says why another user could rename or replace the names in
// dir, nil when none can: dir and every directory above it, by its path
// and by the path its links lead to, must belong to this user or root,
// and any that others may write must be sticky, as /tmp and /dev/shm are.
// Else that user could exchange this user's root with a symbolic link
// between ward's check of it and its use: New would create, and Sweep
// delete, directories wherever the link points. root under su, with the
// $XDG_RUNTIME_DIR of the user it came from, is the common case.
func safeBase(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	paths := []string{abs}
	if real, err := filepath.EvalSymlinks(abs); err == nil && real != abs {
		paths = append(paths, real)
	}
	for _, p := range paths {
		for d := p; ; d = filepath.Dir(d) {
			st, err := os.Stat(d)
			if err != nil {
				return err
			}
			s, ok := st.Sys().(*syscall.Stat_t)
			switch {
			case !ok:
				return fmt.Errorf("cannot tell who owns %s", d)
			case s.Uid != 0 && int(s.Uid) != os.Geteuid():
				return fmt.Errorf("%s belongs to uid %d, who could replace ward's directories in it: use a directory of your own", d, s.Uid)
			case st.Mode().Perm()&0o022 != 0 && st.Mode()&fs.ModeSticky == 0:
				return fmt.Errorf("%s has mode %04o: others may write it, and without the sticky bit could replace ward's directories in it", d, st.Mode().Perm())
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return nil
}

// userRoot creates, or checks, this user's root under base, where all its
// runs' directories live.
func userRoot(base string) (string, error) {
	root := userRootPath(base)
	if err := mkdirPrivate(root); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("create %s: %w", root, err)
	}
	st, err := os.Lstat(root)
	if err != nil {
		return "", fmt.Errorf("check %s: %w", root, err)
	}
	if takenByAnother(st) {
		return ownRoot(base)
	}
	if !private(st) {
		return "", fmt.Errorf("%s is not a private directory of this user (want mode 0700, owned by uid %d): remove it", root, os.Geteuid())
	}
	return root, nil
}

// takenByAnother reports whether another user made the name of this
// user's root (st, from Lstat): in a sticky base such as /dev/shm anyone
// can create ward-UID for any UID, and then only they or root can remove
// it.
func takenByAnother(st fs.FileInfo) bool {
	s, ok := st.Sys().(*syscall.Stat_t)
	return ok && int(s.Uid) != os.Geteuid()
}

// ownRoot is this user's root in base while another user holds its name:
// ward-UID-RANDOM, made by the first run that finds the name taken and
// used by the runs after it, so that Sweep finds their leftovers.
func ownRoot(base string) (string, error) {
	if roots := ownRoots(base); len(roots) > 0 {
		return roots[0], nil
	}
	root, err := os.MkdirTemp(base, userRootName()+"-")
	if err == nil {
		err = os.Chmod(root, 0o700)
	}
	if err != nil {
		return "", fmt.Errorf("%s belongs to another user, and a root of this user's beside it cannot be made: %w", userRootPath(base), err)
	}
	return root, nil
}

// mkdirPrivate creates dir with mode 0700 whatever the umask: a run under
// `umask 177` (a script's idiom before it writes a key) made ward-UID
// 0600, and every later run of the user failed on it.
func mkdirPrivate(dir string) error {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	return os.Chmod(dir, 0o700)
}

// ownRoots lists this user's private ward-UID-* roots in base.
func ownRoots(base string) []string {
	entries, err := os.ReadDir(base)
	if err != nil {
		return nil
	}
	var roots []string
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), userRootName()+"-") {
			continue
		}
		p := filepath.Join(base, e.Name())
		if st, err := os.Lstat(p); err == nil && private(st) {
			roots = append(roots, p)
		}
	}
	return roots
}

func userRootPath(base string) string {
	return filepath.Join(base, userRootName())
}

func userRootName() string {
	return "ward-" + strconv.Itoa(os.Geteuid())
}

// private reports whether st is a directory only this user can enter: a
// symlink, or a directory someone else could write, is never trusted.
func private(st fs.FileInfo) bool {
	return st.IsDir() && st.Mode().Perm() == 0o700 && ownedByMe(st)
}
