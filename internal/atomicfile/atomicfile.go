// Package atomicfile replaces files so that a reader, a crash or a kill
// sees the old content or the new, never a mix or nothing, and a power
// loss after a write returns keeps the new: write a temporary file beside
// the target, fsync it, rename it over the target (or link it, to never
// replace an existing file), fsync the directory. Every file ward writes
// outside its tmpfs directory goes through it: the local store and its
// identity, the manifests and .gitignore that init and import write.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Hooks lets tests watch and interrupt writes; nil in ward.
var Hooks struct {
	// Synced is called after each fsync: kind "file" with the path the
	// file is being written to, or "dir" with the directory's path.
	Synced func(kind, path string)
	// Commit is called when a temporary file is complete and synced, just
	// before it takes the target's place; an error stops the write there.
	Commit func(path string) error
}

// TempSuffix ends the name of every temporary file: "." + the target's
// name + "." + digits (from os.CreateTemp) + ".tmp".
const TempSuffix = ".tmp"

// TempPrefix is how the temporary files of target base begin.
func TempPrefix(base string) string { return "." + base + "." }

// IsTemp reports whether name is prefix, digits and TempSuffix: exactly
// what a write through this package names its temporary file.
func IsTemp(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return false
	}
	digits, ok := strings.CutSuffix(rest, TempSuffix)
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

// Staged is a temporary file holding the new content, not yet in place.
type Staged struct {
	target string
	tmp    string
}

// Stage writes data to a temporary file next to path, with mode perm (an
// existing file's mode is kept when keepMode is set, and so is its owner
// when root writes it: root's ward import in a user's project left the
// user a manifest of root's), and fsyncs it.
func Stage(path string, data []byte, perm fs.FileMode, keepMode bool) (*Staged, error) {
	uid, gid := -1, -1
	if keepMode {
		if st, err := os.Stat(path); err == nil {
			perm = st.Mode().Perm()
			if s, ok := st.Sys().(*syscall.Stat_t); ok && os.Geteuid() == 0 {
				uid, gid = int(s.Uid), int(s.Gid)
			}
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), TempPrefix(filepath.Base(path))+"*"+TempSuffix)
	if err != nil {
		return nil, err
	}
	s := &Staged{target: path, tmp: tmp.Name()}
	if uid > 0 || gid > 0 {
		err = tmp.Chown(uid, gid)
	}
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		_, err = tmp.Write(data)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		synced("file", path)
	}
	if err == nil && Hooks.Commit != nil {
		err = Hooks.Commit(path)
	}
	if err != nil {
		s.Abort()
		return nil, err
	}
	return s, nil
}

// Commit renames the temporary file over the target and fsyncs the
// directory. A failed fsync comes as a *NotSyncedError: the new content
// is in place.
func (s *Staged) Commit() error {
	if err := os.Rename(s.tmp, s.target); err != nil {
		s.Abort()
		return err
	}
	return notSynced(s.target, SyncDir(filepath.Dir(s.target)))
}

// NotSyncedError is the error of a write whose file is in place, read by
// every reader from now on, but whose directory could not be synced
// (EIO: a disk failing): a crash or a power loss may still undo it. A
// caller that would undo what went before on an error must not: the
// file stands.
type NotSyncedError struct {
	Path string
	Err  error
}

func (e *NotSyncedError) Error() string {
	return fmt.Sprintf("%s is written, but a crash or power loss may undo it: %v", e.Path, e.Err)
}

func (e *NotSyncedError) Unwrap() error { return e.Err }

func notSynced(path string, err error) error {
	if err == nil {
		return nil
	}
	return &NotSyncedError{Path: path, Err: err}
}

// CommitNew links the temporary file to the target, which must not exist
// (fs.ErrExist otherwise: an existing file is never replaced), removes the
// temporary name and fsyncs the directory.
func (s *Staged) CommitNew(data []byte, perm fs.FileMode) error {
	defer s.Abort()
	err := os.Link(s.tmp, s.target)
	if err != nil && !errors.Is(err, fs.ErrExist) && noHardLinks(err) {
		// A file system without hard links (vfat, some FUSE): create
		// exclusively instead, atomic against other writers though not
		// against a crash.
		err = writeExclusive(s.target, data, perm)
	}
	if err != nil {
		return err
	}
	return notSynced(s.target, SyncDir(filepath.Dir(s.target)))
}

// Abort removes the temporary file.
func (s *Staged) Abort() { os.Remove(s.tmp) }

// WriteFile puts data at path atomically with mode perm (keeping an
// existing file's mode when keepMode is set).
func WriteFile(path string, data []byte, perm fs.FileMode, keepMode bool) error {
	s, err := Stage(path, data, perm, keepMode)
	if err != nil {
		return err
	}
	return s.Commit()
}

// WriteNew puts data at path atomically, failing with fs.ErrExist when
// path exists: it never replaces a file.
func WriteNew(path string, data []byte, perm fs.FileMode) error {
	s, err := Stage(path, data, perm, false)
	if err != nil {
		return err
	}
	return s.CommitNew(data, perm)
}

func noHardLinks(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS)
}

func writeExclusive(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
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

// SyncDir fsyncs a directory, so that the names just made in it survive
// a power loss. File systems that cannot sync a directory are let be.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if errors.Is(err, fs.ErrPermission) {
		// A folder its user may write and not read (mode 0300): it
		// cannot be opened to be synced, by ward or anyone but root.
		// The rename is done; that it cannot be made sure of is no
		// failure of the write ("not surely kept", exit 125, of a
		// manifest written).
		return nil
	}
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
	if Hooks.Synced != nil {
		Hooks.Synced(kind, path)
	}
}

// MkdirAllSync creates dir and its missing parents with mode perm,
// whatever the umask, and fsyncs the directory holding each one it
// creates, so that a new directory survives a power loss along with the
// files written into it. (Under `umask 177`, 0700 less the umask made
// directories no one could enter: ~/.local among them.)
func MkdirAllSync(dir string, perm fs.FileMode) error {
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
	// One by one from the top, each set to perm before the next is made
	// in it: under a umask that takes the owner's x, the next could not.
	for i := len(missing) - 1; i >= 0; i-- {
		err := os.Mkdir(missing[i], perm)
		if errors.Is(err, fs.ErrExist) {
			// Made meanwhile by another: its mode is its maker's.
			continue
		}
		if err == nil {
			err = os.Chmod(missing[i], perm)
		}
		if err != nil {
			return err
		}
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := SyncDir(filepath.Dir(missing[i])); err != nil {
			return err
		}
	}
	return nil
}

// Masked is perm less the process's umask: the mode the kernel gives a
// file created with perm. A file written through here is set to its
// mode exactly (its temporary file is made 0600 first); a file of the
// user's project (a manifest, a .gitignore) is given Masked(0o664), so
// that it is as private as the user's umask says (`umask 077`: 0600),
// writable by their group where the umask lets it (`umask 002`, a
// repository a team shares), and never by everyone.
func Masked(perm fs.FileMode) fs.FileMode {
	return perm &^ umask()
}

// umask is the process's umask, read where the kernel shows it
// (/proc/self/status, Linux 4.7 and later) and else by setting it and
// back: briefly 0, a moment in which ward creates no file.
func umask() fs.FileMode {
	if b, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "Umask:"); ok {
				if m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
					return fs.FileMode(m) & fs.ModePerm
				}
			}
		}
	}
	old := unix.Umask(0)
	unix.Umask(old)
	return fs.FileMode(old) & fs.ModePerm
}

// LockDir takes an exclusive lock on the directory dir (flock(2) on the
// directory itself: no lock file is left in a project), waiting for
// another holder to let go, and returns what lets go of it. Writers of
// one file in dir that read it, edit and rename it in place (two ward
// imports into one manifest) take it around all three, or the second
// rename drops the first's edit. When another holds it for longer than
// a second, waiting is called (once) while this waits: any user who may
// read dir may lock it.
//
// A directory that cannot be locked is not (unlock does nothing, and
// err is nil), as before there was a lock: one its user may write and
// not read (mode 0300), which cannot be opened, and one on a file system
// whose flock needs a file open for writing to lock it exclusively (NFS
// emulates flock with its byte-range locks), which a directory never is.
func LockDir(dir string, waiting func()) (unlock func(), err error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrPermission) {
		if st, serr := os.Stat(dir); serr == nil && st.IsDir() {
			return func() {}, nil
		}
	}
	if err != nil {
		return nil, err
	}
	how := unix.LOCK_EX | unix.LOCK_NB
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err == unix.EWOULDBLOCK && how&unix.LOCK_NB != 0 {
			if waiting != nil {
				defer time.AfterFunc(time.Second, waiting).Stop()
			}
			how = unix.LOCK_EX
			continue
		}
		if err != unix.EINTR {
			break
		}
	}
	switch err {
	case nil:
	case unix.EBADF, unix.ENOLCK, unix.EOPNOTSUPP, unix.EINVAL:
		f.Close()
		return func() {}, nil
	default:
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	unlock = func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}
	// The holder this waited for may have removed the directory (a
	// failed edit removes the folders it made) or put another in its
	// place: a lock on what is no longer dir guards nothing.
	var held, named unix.Stat_t
	if unix.Fstat(int(f.Fd()), &held) != nil || unix.Stat(dir, &named) != nil || held.Dev != named.Dev || held.Ino != named.Ino {
		unlock()
		return nil, fmt.Errorf("lock %s: %w", dir, ErrDirReplaced)
	}
	return unlock, nil
}

// RemoveDirIfFree removes the empty directory dir unless another holds
// its lock (see LockDir): an edit under way there, which made it too or
// found it made. It reports whether dir is gone.
func RemoveDirIfFree(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return errors.Is(err, fs.ErrNotExist)
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == unix.EWOULDBLOCK {
		return false
	}
	return os.Remove(dir) == nil
}

// ErrDirReplaced is LockDir's error for a directory removed or replaced
// while it waited for its lock: take it again, from making the directory
// on.
var ErrDirReplaced = errors.New("the directory was removed or replaced while this waited for its lock")

// RemoveTemps removes the temporary files a write of target through this
// package left beside it when its process was killed before the rename
// (a SIGKILL between Stage and Commit). Only for a caller that holds a
// lock every writer of target takes around its write (see LockDir): a
// temporary file then is no other writer's work in progress.
func RemoveTemps(target string) {
	dir, prefix := filepath.Dir(target), TempPrefix(filepath.Base(target))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range entries {
		if de.Type().IsRegular() && IsTemp(de.Name(), prefix) {
			os.Remove(filepath.Join(dir, de.Name()))
		}
	}
}
