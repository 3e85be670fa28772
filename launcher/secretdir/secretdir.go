// Package secretdir owns ward's private directory for secret files: 0700,
// on tmpfs, one per run, locked while the run lives, files created with
// O_EXCL and replaced atomically, and the directories of runs that died
// swept away.
package secretdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// File is one secret file to write.
type File struct {
	// Path is relative to the directory.
	Path string
	Mode fs.FileMode
	Data []byte
}

// Dir is ward's private directory for secret files: 0700, on tmpfs,
// one per run, locked while the run lives so a later run can tell it from
// the leftovers of a run that died.
type Dir struct {
	Path string
	lock *os.File
}

// runtimeBase picks where private directories live: $WARD_RUNTIME_DIR,
// $XDG_RUNTIME_DIR, /run (as root), then /dev/shm. On Linux the place must
// be tmpfs, so secrets never reach a disk.
func runtimeBase(getenv func(string) string) (string, error) {
	if d := getenv("WARD_RUNTIME_DIR"); d != "" {
		if _, anywhere := noTmpfsFallback(); !onTmpfs(d) && !anywhere {
			return "", fmt.Errorf("$WARD_RUNTIME_DIR %s is not on tmpfs: secret files must not reach a disk", d)
		}
		return d, nil
	}
	var candidates []string
	if d := getenv("XDG_RUNTIME_DIR"); d != "" {
		candidates = append(candidates, d)
	}
	if os.Geteuid() == 0 {
		candidates = append(candidates, "/run")
	}
	candidates = append(candidates, "/dev/shm")
	for _, d := range candidates {
		if st, err := os.Stat(d); err == nil && st.IsDir() && onTmpfs(d) && unix.Access(d, unix.W_OK) == nil {
			return d, nil
		}
	}
	if fallback, ok := noTmpfsFallback(); ok {
		return fallback, nil
	}
	return "", fmt.Errorf("no tmpfs directory for secret files among %s", strings.Join(candidates, ", "))
}

// New creates a fresh private directory and sweeps the directories of
// runs that died without cleaning up.
func New(getenv func(string) string) (*Dir, error) {
	base, err := runtimeBase(getenv)
	if err != nil {
		return nil, err
	}
	root := filepath.Join(base, "ward-"+strconv.Itoa(os.Geteuid()))
	if err := os.Mkdir(root, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create %s: %w", root, err)
	}
	st, err := os.Lstat(root)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() || st.Mode().Perm() != 0o700 || !ownedByMe(st) {
		return nil, fmt.Errorf("%s is not a private directory of this user (want mode 0700, owned by uid %d): remove it", root, os.Geteuid())
	}
	Sweep(root)
	dir, err := os.MkdirTemp(root, "run-"+strconv.Itoa(os.Getpid())+"-")
	if err != nil {
		return nil, fmt.Errorf("create private directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("lock private directory: %w", err)
	}
	return &Dir{Path: dir, lock: lock}, nil
}

// Sweep removes the run directories under root whose lock is free: their
// ward died (SIGKILL, a crash) before it could clean up.
func Sweep(root string) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), "run-") {
			continue
		}
		dir := filepath.Join(root, e.Name())
		f, err := os.Open(filepath.Join(dir, ".lock"))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				// A run that died between mkdir and lock.
				os.RemoveAll(dir)
			}
			continue
		}
		if unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil {
			os.RemoveAll(dir)
		}
		f.Close()
	}
}

// Write creates the plan's files, each with O_EXCL and its mode.
func (d *Dir) Write(files []File) error {
	for _, f := range files {
		p := filepath.Join(d.Path, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
		if err := writeExcl(p, f.Mode, f.Data); err != nil {
			return fmt.Errorf("file %s: %w", f.Path, err)
		}
	}
	return nil
}

// Replace rewrites a file atomically: a reader sees the old content or the
// new, never a mix.
func (d *Dir) Replace(f File) error {
	p := filepath.Join(d.Path, filepath.FromSlash(f.Path))
	tmp := filepath.Join(filepath.Dir(p), ".tmp-"+filepath.Base(p)+"-"+strconv.Itoa(os.Getpid()))
	os.Remove(tmp)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("file %s: %w", f.Path, err)
	}
	if err := writeExcl(tmp, f.Mode, f.Data); err != nil {
		return fmt.Errorf("file %s: %w", f.Path, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("file %s: %w", f.Path, err)
	}
	return nil
}

// RemoveFile deletes one file from the directory.
func (d *Dir) RemoveFile(rel string) error {
	return os.Remove(filepath.Join(d.Path, filepath.FromSlash(rel)))
}

func writeExcl(p string, mode fs.FileMode, data []byte) error {
	fh, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	// The umask may have narrowed the mode; set it as asked.
	if err := fh.Chmod(mode); err != nil {
		fh.Close()
		return err
	}
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

// Remove deletes the directory and everything in it.
func (d *Dir) Remove() error {
	if d == nil {
		return nil
	}
	err := os.RemoveAll(d.Path)
	if d.lock != nil {
		d.lock.Close()
	}
	return err
}
