package local

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wardsecrets/ward/internal/atomicfile"
	"github.com/wardsecrets/ward/resolve"
)

// legacyTempPrefix began the temporary files of wards before this one,
// the same for every store in a directory.
const legacyTempPrefix = ".store-"

// legacyTempAge is how old such a file must be before it is removed.
const legacyTempAge = 10 * time.Minute

// writeFileAtomic puts data at path (mode 0600) through the one atomic
// write ward has; without replace, an existing path is never replaced.
func writeFileAtomic(path string, data []byte, replace bool) error {
	if replace {
		return atomicfile.WriteFile(path, data, 0o600, false)
	}
	return atomicfile.WriteNew(path, data, 0o600)
}

// mkdirAllSync creates dir and its missing parents (mode 0700), durably.
func mkdirAllSync(dir string) error { return atomicfile.MkdirAllSync(dir, 0o700) }

// placeHint gives err, a directory of the store or the identity that
// could not be made, the hint of where that place comes from when this
// user may not write there: a container's user without a passwd entry
// has a HOME of /, and a read-only root makes any HOME unwritable; a
// service user's HOME may be a file (/dev/null), for which the error
// names the file (see notDirectory). what is "the local store" or "the
// identity file", at path.
func placeHint(err error, what, path, hint string) error {
	if errors.Is(err, syscall.ENOTDIR) {
		return resolve.WithHint(notDirectory(err, "create "+what, path), hint)
	}
	if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) || errors.Is(err, fs.ErrNotExist) {
		// ENOENT from a mkdir: a folder on the way that cannot be made
		// (a HOME under /proc, a link to nowhere); it had no hint.
		return resolve.WithHint(err, hint)
	}
	return err
}

// notDirectory is err (ENOTDIR at path, or on the way to it) as "cannot
// DO PATH: FILE is not a directory", naming the file on the way that is
// not one: "stat /dev/null/.local/share/ward: not a directory" named
// none, and a HOME of /dev/null is a service user's.
func notDirectory(err error, do, path string) error {
	for d := filepath.Dir(path); d != filepath.Dir(d); d = filepath.Dir(d) {
		if st, serr := os.Stat(d); serr == nil && !st.IsDir() {
			home := ""
			if d == filepath.Clean(os.Getenv("HOME")) {
				home = " ($HOME)"
			}
			return &placeError{msg: fmt.Sprintf("cannot %s %s: %s%s is not a directory", do, path, d, home), err: err}
		}
	}
	return err
}

// placeError is an error with a message of its own that still matches
// its cause (errors.Is).
type placeError struct {
	msg string
	err error
}

func (e *placeError) Error() string { return e.msg }
func (e *placeError) Unwrap() error { return e.err }

// removeStaleTemps removes the temporary files that writers of the store
// at target, killed half-way, left in its directory. It is called with
// the store's lock held, and every writer holds that lock while its
// temporary file exists, so a file of this store's pattern that exists
// now belongs to no live writer. Files of wards before this one
// (.store-DIGITS.tmp) share one pattern among every store of a directory,
// and a writer of another store does not hold this lock, so those are
// removed only when they have not been written to for legacyTempAge.
// Nothing else is touched: other names, other directories, anything but
// a regular file.
func removeStaleTemps(target string) {
	dir := filepath.Dir(target)
	des, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	own := atomicfile.TempPrefix(filepath.Base(target))
	for _, de := range des {
		name := de.Name()
		legacy := atomicfile.IsTemp(name, legacyTempPrefix)
		if !legacy && !atomicfile.IsTemp(name, own) || !de.Type().IsRegular() {
			continue
		}
		if legacy {
			info, err := de.Info()
			if err != nil || time.Since(info.ModTime()) < legacyTempAge {
				continue
			}
		}
		os.Remove(filepath.Join(dir, name))
	}
}
