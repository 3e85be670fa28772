package local

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// hooks lets this package's tests watch and interrupt writes; nil in ward.
var hooks struct {
	// synced is called after each fsync: kind "file" with the path the
	// file is being written to, or "dir" with the directory's path.
	synced func(kind, path string)
	// commit is called when a temporary file is complete and synced, just
	// before it takes path's place; an error stops the write there.
	commit func(path string) error
}

// tempSuffix ends the name of every temporary file this package writes:
// "." + the file's name + "." + digits (from os.CreateTemp) + ".tmp".
const tempSuffix = ".tmp"

// legacyTempPrefix began the temporary files of wards before this one,
// the same for every store in a directory.
const legacyTempPrefix = ".store-"

// legacyTempAge is how old such a file must be before it is removed.
const legacyTempAge = 10 * time.Minute

func tempPrefix(base string) string { return "." + base + "." }

// writeFileAtomic puts data at path so that a crash or a kill leaves the
// old file or the new one, never part of either, and a power loss after
// it returns keeps the new one: it writes a temporary file (mode 0600) in
// path's directory, fsyncs it, renames it over path (or, without replace,
// links it to path, which fails with fs.ErrExist when path exists, so
// that an existing file is never replaced), and fsyncs the directory.
// Every file this package writes goes through it.
func writeFileAtomic(path string, data []byte, replace bool) (err error) {
	dir, base := filepath.Dir(path), filepath.Base(path)
	tmp, err := os.CreateTemp(dir, tempPrefix(base)+"*"+tempSuffix)
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	synced("file", path)
	if err := tmp.Close(); err != nil {
		return err
	}
	if hooks.commit != nil {
		if err := hooks.commit(path); err != nil {
			return err
		}
	}
	if replace {
		if err := os.Rename(name, path); err != nil {
			return err
		}
	} else {
		err := os.Link(name, path)
		if err != nil && !errors.Is(err, fs.ErrExist) && noHardLinks(err) {
			// A file system without hard links (vfat, some FUSE):
			// create exclusively instead, atomic against other
			// writers though not against a crash.
			err = writeExclusive(path, data)
		}
		if err != nil {
			return err
		}
		os.Remove(name)
	}
	return syncDir(dir)
}

func noHardLinks(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)
}

func writeExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// syncDir fsyncs a directory, so that the names just made in it survive a
// power loss. File systems that cannot sync a directory are let be.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOTSUP) {
		return err
	}
	synced("dir", dir)
	return nil
}

func synced(kind, path string) {
	if hooks.synced != nil {
		hooks.synced(kind, path)
	}
}

// mkdirAllSync creates dir and its missing parents (mode 0700), and fsyncs
// the directory holding each one it creates, so that a new directory
// survives a power loss along with the files written into it.
func mkdirAllSync(dir string) error {
	var missing []string
	for d := filepath.Clean(dir); ; {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		missing = append(missing, d)
		parent := filepath.Dir(d)
		if parent == d {
			break
		}
		d = parent
	}
	if len(missing) == 0 {
		return nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := syncDir(filepath.Dir(missing[i])); err != nil {
			return err
		}
	}
	return nil
}

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
	own := tempPrefix(filepath.Base(target))
	for _, de := range des {
		name := de.Name()
		legacy := isTemp(name, legacyTempPrefix)
		if !legacy && !isTemp(name, own) || !de.Type().IsRegular() {
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

// isTemp reports whether name is prefix, digits and tempSuffix: exactly
// what os.CreateTemp(dir, prefix+"*"+tempSuffix) makes.
func isTemp(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return false
	}
	digits, ok := strings.CutSuffix(rest, tempSuffix)
	if !ok || digits == "" {
		return false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
