// Package secretdir owns ward's private directory for secret files: 0700,
// on tmpfs, one per run, locked while the run lives, files created with
// O_EXCL and replaced atomically, and the directories of runs that died
// swept away.
//
// # Why concurrent runs cannot delete each other's directories
//
// All the runs of one user share a root, BASE/ward-UID (0700), holding:
//
//	.lock                 the root lock: shared while a run creates its
//	                      directory, exclusive while a run sweeps
//	.new-RANDOM/          a run directory being created (never holds a secret)
//	run-PID-RANDOM/       a live run's directory, or a dead run's leftover
//	run-PID-RANDOM/.lock  that run's lock, held from before the directory
//	                      had its run-* name until Remove has deleted it
//
// New, holding the root lock shared, makes .new-RANDOM, creates and locks
// its .lock, and only then renames it to run-PID-RANDOM. Rename is atomic
// and the lock belongs to the file, not to its name, so a run-* name never
// appears without its lock held: no sweeper, not even an older ward that
// knows nothing of the root lock, sees a live run's directory unlocked.
//
// Sweep takes the root lock exclusively and does not wait for it (a busy
// root is swept by a later run). While it holds it no run is between its
// mkdir and its rename, so what it sees is settled:
//   - a .new-* directory was left by a run that died creating it (a run whose
//     creation fails removes its own before releasing the root lock);
//   - a run-* directory whose lock Sweep can take belongs to a dead run, and
//     stays dead: no run ever locks a directory it did not just create;
//   - a run-* directory without a .lock is being removed by its run, or its
//     run died removing it; removing it twice is harmless;
//   - a run-* directory whose lock is held is live and left alone.
//
// The first three are removed. Write and Replace work through a handle on
// the directory itself (an os.Root), never through its name: if the
// directory was removed they fail, rather than recreate it unlocked for the
// next sweep to delete under the child's feet.
package secretdir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
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
	root *os.Root
	// lock is a raw descriptor, not an *os.File: an os.File's finalizer
	// would release the lock if the Dir were ever dropped while the child
	// still reads its files, and a sweep would then delete them.
	lock    int
	hasLock bool
}

const (
	lockName   = ".lock"
	tempPrefix = ".new-"
	runPrefix  = "run-"
)

// The longest names and paths, in bytes, a file in the directory can
// have: NameMax for each directory on its way (NAME_MAX); FileNameMax for
// its own name, which Replace writes through a name longer by tmpMark, a
// dash and a process ID of up to 10 digits; PathMax for its whole
// relative path (PATH_MAX less its NUL: the child opens the file by a
// full path longer still).
const (
	NameMax     = 255
	FileNameMax = NameMax - len(tmpMark) - len("-") - 10
	PathMax     = 4095
)

// tmpMark starts the names Replace writes files through.
const tmpMark = ".tmp-"

// hookCreated, when set by a test, runs in New between creating the
// directory and locking it: the window a sweep must never exploit.
var hookCreated func(tmp string)

// New creates a fresh private directory, locked until Remove. It does not
// sweep: callers call Sweep once per run, with or without a Dir.
func New(getenv func(string) string) (*Dir, error) {
	base, err := runtimeBase(getenv)
	if err != nil {
		return nil, err
	}
	root, err := userRoot(base)
	if err != nil {
		return nil, err
	}
	// Shared: runs create their directories side by side, but never while
	// a sweep looks (see the package comment).
	release, err := lockRoot(root, unix.LOCK_SH)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", root, err)
	}
	defer release()
	tmp, err := os.MkdirTemp(root, tempPrefix)
	if err != nil {
		return nil, fmt.Errorf("create private directory: %w", err)
	}
	if err := os.Chmod(tmp, 0o700); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("create private directory: %w", err)
	}
	d, err := lockAndName(tmp)
	if err != nil {
		// Still under the root lock, so no sweep ever sees this half-made
		// directory as anything but ours.
		os.RemoveAll(tmp)
		return nil, err
	}
	return d, nil
}

// lockAndName locks the new directory tmp, opens a handle on it and gives
// it its run-* name, in that order: the name is what sweeps look at, so it
// comes last.
func lockAndName(tmp string) (*Dir, error) {
	if hookCreated != nil {
		hookCreated(tmp)
	}
	lock, err := unix.Open(filepath.Join(tmp, lockName), unix.O_RDONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock private directory: %w", err)
	}
	if err := flock(lock, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		unix.Close(lock)
		return nil, fmt.Errorf("lock private directory: %w", err)
	}
	root, err := os.OpenRoot(tmp)
	if err != nil {
		unix.Close(lock)
		return nil, fmt.Errorf("open private directory: %w", err)
	}
	// MkdirTemp's random suffix keeps the name unique. Were it ever taken,
	// rename fails on a live directory (it is never empty: it holds its
	// .lock) and replaces only an emptied dead one.
	name := filepath.Join(filepath.Dir(tmp), runPrefix+strconv.Itoa(os.Getpid())+"-"+strings.TrimPrefix(filepath.Base(tmp), tempPrefix))
	if err := os.Rename(tmp, name); err != nil {
		root.Close()
		unix.Close(lock)
		return nil, fmt.Errorf("name private directory: %w", err)
	}
	return &Dir{Path: name, root: root, lock: lock, hasLock: true}, nil
}

// Lock is the descriptor that holds the directory's lock, -1 when none:
// a process given it (ward's guard) keeps the directory from sweeps for
// as long as it holds it, also once this run is gone.
func (d *Dir) Lock() int {
	if d == nil || !d.hasLock {
		return -1
	}
	return d.lock
}

// Write creates the plan's files, each with O_EXCL and its mode.
func (d *Dir) Write(files []File) error {
	for _, f := range files {
		rel := filepath.FromSlash(f.Path)
		if err := d.mkdirAll(filepath.Dir(rel)); err != nil {
			return d.fileError(f.Path, err)
		}
		if err := writeExcl(d.root, rel, f.Mode, f.Data); err != nil {
			return d.fileError(f.Path, err)
		}
	}
	return nil
}

// Replace rewrites a file atomically: a reader sees the old content or the
// new, never a mix.
func (d *Dir) Replace(f File) error {
	_, err := d.ReplaceAll([]File{f})
	return err
}

// ReplaceAll rewrites files together, each atomically: every one is
// first written whole under a temporary name (Stage), and only once all
// are does any take its place (Commit). A file that cannot be written (a
// full tmpfs, the descriptors run out, EIO) leaves them all as they were:
// a certificate new beside its old key is a pair no server can load. It
// returns how many took their place, in order, before an error (only a
// rename that fails stops it there).
func (d *Dir) ReplaceAll(files []File) (int, error) {
	st, err := d.Stage(files)
	if err != nil {
		return 0, err
	}
	return st.Commit()
}

// Staged is files written whole under temporary names beside the ones
// they replace, which are untouched until Commit.
type Staged struct {
	d     *Dir
	files []File
	tmps  []string
}

// Stage writes files under temporary names, all or none: a file that
// cannot be written removes those written before it. A restart stages
// the new child's files before it stops the old child, which keeps
// running on its files when they cannot be written (EIO, the descriptors
// run out, another writer filling the tmpfs): they were written once it
// had stopped, and a failure ended the run with nothing running.
func (d *Dir) Stage(files []File) (*Staged, error) {
	st := &Staged{d: d, files: files}
	if d == nil {
		return st, nil
	}
	for _, f := range files {
		rel := filepath.FromSlash(f.Path)
		tmp := filepath.Join(filepath.Dir(rel), tmpMark+filepath.Base(rel)+"-"+strconv.Itoa(os.Getpid()))
		write := func() error {
			d.root.Remove(tmp)
			err := d.mkdirAll(filepath.Dir(rel))
			if err == nil {
				err = writeExcl(d.root, tmp, f.Mode, f.Data)
			}
			return err
		}
		err := write()
		if errors.Is(err, fs.ErrPermission) && d.writable(filepath.Dir(rel)) {
			err = write()
		}
		if err != nil {
			st.Discard()
			return nil, d.fileError(f.Path, err)
		}
		st.tmps = append(st.tmps, tmp)
	}
	return st, nil
}

// Holds reports whether st holds exactly files, in order: what was read
// again while the old child stopped may have changed them since.
func (st *Staged) Holds(files []File) bool {
	return slices.EqualFunc(st.files, files, func(a, b File) bool {
		return a.Path == b.Path && a.Mode == b.Mode && bytes.Equal(a.Data, b.Data)
	})
}

// Files is what st holds, in order.
func (st *Staged) Files() []File { return st.files }

// Commit renames the staged files into place, in order, and returns how
// many took their place before an error; the temporary files left are
// removed.
func (st *Staged) Commit() (int, error) {
	if st.d == nil {
		return len(st.files), nil
	}
	for i, f := range st.files {
		rel := filepath.FromSlash(f.Path)
		err := st.d.root.Rename(st.tmps[i], rel)
		if errors.Is(err, fs.ErrPermission) && st.d.writable(filepath.Dir(rel)) {
			err = st.d.root.Rename(st.tmps[i], rel)
		}
		if err != nil {
			// Those renamed are gone from their temporary names.
			st.Discard()
			return i, st.d.fileError(f.Path, err)
		}
	}
	st.tmps = nil
	return len(st.files), nil
}

// Discard removes the staged files not yet in place.
func (st *Staged) Discard() {
	if st == nil || st.d == nil {
		return
	}
	for _, tmp := range st.tmps {
		st.d.root.Remove(tmp)
	}
	st.tmps = nil
}

// Fits reports, as an error wrapping ENOSPC, when files would not fit
// on the directory's file system if ReplaceAll wrote them now: every new
// one is written whole beside the old ones before any takes its place
// (counting the old file's room as freed by each, one by one, said a
// certificate and its key both rewritten fit where only one did); and,
// as one wrapping EFBIG, when a file is larger than ward may write, its
// file-size limit (RLIMIT_FSIZE: `ulimit -f`, LimitFSIZE=), with a size
// and a hint where the write's own error would say "file too large".
// Another writer of the same file system can still fill it meanwhile;
// Stage's own error then says so.
func (d *Dir) Fits(files []File) error {
	if d == nil {
		return nil
	}
	var lim unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_FSIZE, &lim) == nil && lim.Cur < math.MaxInt64 {
		for _, f := range files {
			if uint64(len(f.Data)) > lim.Cur {
				return fmt.Errorf("file %s: its %d bytes are over the file-size limit ward was started with, %d bytes (ulimit -f; systemd's LimitFSIZE=): %w", f.Path, len(f.Data), lim.Cur, unix.EFBIG)
			}
		}
	}
	// A file system that reports no size (a tmpfs mounted with size=0,
	// ramfs) has no limit to check against.
	var st unix.Statfs_t
	if err := unix.Statfs(d.Path, &st); err != nil || st.Bsize <= 0 || st.Blocks == 0 {
		return nil
	}
	block := uint64(st.Bsize)
	blocks := func(n int64) uint64 { return (uint64(n) + block - 1) / block }
	free := st.Bavail
	for _, f := range files {
		need := blocks(int64(len(f.Data)))
		if need > free {
			return fmt.Errorf("file %s: its %d bytes do not fit in %s beside the files there (%d KiB free): %w", f.Path, len(f.Data), d.Path, free*block/1024, unix.ENOSPC)
		}
		free -= need
	}
	return nil
}

// mkdirAll creates rel and its missing parents in the directory, each
// 0700 whatever the umask (under `umask 177` they could not be entered).
func (d *Dir) mkdirAll(rel string) error {
	if rel == "." {
		return nil
	}
	if err := d.mkdirAll(filepath.Dir(rel)); err != nil {
		return err
	}
	if err := d.mkdir(rel); !errors.Is(err, fs.ErrExist) {
		return err
	}
	return nil
}

// writable makes the directories from the root down to rel writable and
// searchable by ward again, and reports whether it changed one: a child
// that made its secrets read-only (`chmod -R a-w`, an entrypoint's "make
// the secrets read-only"), as an ordinary user, had every later rotation's
// write refused, and kept its old values for good. ward owns them, as
// removeAll knows.
func (d *Dir) writable(rel string) bool {
	var dirs []string
	for dir := rel; ; dir = filepath.Dir(dir) {
		dirs = append(dirs, dir)
		if dir == "." {
			break
		}
	}
	changed := false
	for _, dir := range slices.Backward(dirs) {
		var st fs.FileInfo
		var err error
		chmod := func(mode fs.FileMode) error { return d.root.Chmod(dir, mode) }
		if dir == "." {
			// The run directory itself, by its path: through the root,
			// a directory the child left without its x bit (chmod 000)
			// cannot be looked up as "." either.
			st, err = os.Lstat(d.Path)
			chmod = func(mode fs.FileMode) error { return os.Chmod(d.Path, mode) }
		} else {
			st, err = d.root.Lstat(dir)
		}
		if err != nil || !st.IsDir() || st.Mode().Perm()&0o700 == 0o700 {
			continue
		}
		changed = chmod(st.Mode().Perm()|0o700) == nil || changed
	}
	return changed
}

// Mkdir creates the directory rel, which must not exist, 0700 whatever
// the umask, and returns its path.
func (d *Dir) Mkdir(rel string) (string, error) {
	return filepath.Join(d.Path, rel), d.mkdir(rel)
}

func (d *Dir) mkdir(rel string) error {
	if err := d.root.Mkdir(rel, 0o700); err != nil {
		return err
	}
	return d.root.Chmod(rel, 0o700)
}

// RemoveFile deletes one file from the directory.
func (d *Dir) RemoveFile(rel string) error {
	return d.root.Remove(filepath.FromSlash(rel))
}

// Remove deletes the directory and everything in it, then releases its
// lock. Calling it again, or on a nil Dir, does nothing.
func (d *Dir) Remove() error {
	if d == nil || d.root == nil {
		return nil
	}
	// The lock is held until everything is gone: a sweep meanwhile finds
	// the directory locked, or without its .lock and so being removed.
	err := removeTwice(d.Path, func() error { return removeAll(d.Path) })
	d.root.Close()
	d.root = nil
	if d.hasLock {
		unix.Close(d.lock)
		d.hasLock = false
	}
	return err
}

// removeAll removes dir and what it holds. A directory in it that the
// child made read-only (`chmod -R a-w`, an entrypoint's "make the
// secrets read-only") is made writable, and the removal tried again:
// ward owns them all, and the files stayed on the tmpfs for good, each
// later sweep failing as the first removal had.
func removeAll(dir string) error {
	err := os.RemoveAll(dir)
	if !errors.Is(err, fs.ErrPermission) {
		return err
	}
	// Each directory before its entries are read (WalkDir calls fn on
	// a directory first); a link is never followed, nor chmod'ed.
	filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if e != nil && e.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	return os.RemoveAll(dir)
}

// removeTwice runs remove, the removal of dir, and once more when it
// fails: a file busy for a moment (EBUSY, a scanner or a FUSE daemon
// holding it) or an interrupted unlink. What it could not remove comes
// back as a *LeftError.
func removeTwice(dir string, remove func() error) error {
	err := remove()
	if err != nil {
		err = remove()
	}
	if err != nil {
		return &LeftError{Dir: dir, Left: leftIn(dir), Err: err}
	}
	return nil
}

// LeftError is Remove's error: the directory, what is left in it (the
// secret files among them), and why.
type LeftError struct {
	Dir  string
	Left []string
	Err  error
}

func (e *LeftError) Error() string {
	return fmt.Sprintf("remove %s: %v", e.Dir, e.Err)
}

func (e *LeftError) Unwrap() error { return e.Err }

// fileError names the file that failed, and says so plainly when the
// reason is that the whole directory was removed from under the run.
func (d *Dir) fileError(rel string, err error) error {
	// The handle was opened before the directory got its run-* name, and
	// the paths in its errors begin with the name it had then, which no
	// longer exists.
	var pe *fs.PathError
	if errors.As(err, &pe) {
		if rest, ok := strings.CutPrefix(pe.Path, d.root.Name()); ok {
			pe.Path = d.Path + rest
		}
	}
	// A rename's names are relative to the directory: "renameat
	// .tmp-key.pem-PID key.pem" named no directory.
	var le *os.LinkError
	if errors.As(err, &le) {
		for _, name := range []*string{&le.Old, &le.New} {
			if !filepath.IsAbs(*name) {
				*name = filepath.Join(d.Path, *name)
			}
		}
	}
	if d.removed() {
		return fmt.Errorf("file %s: private directory %s was removed; it is not recreated without its lock: %w", rel, d.Path, err)
	}
	return fmt.Errorf("file %s: %w", rel, err)
}

// removed reports whether d.Path no longer names the directory this run
// created and locked.
func (d *Dir) removed() bool {
	mine, err := d.root.Stat(".")
	if errors.Is(err, fs.ErrPermission) {
		// There, but not searchable (the child's chmod 000).
		return false
	}
	if err != nil {
		return true
	}
	named, err := os.Lstat(d.Path)
	return err != nil || !os.SameFile(mine, named)
}

// writeExcl creates rel with mode and data. A write that fails half way
// (a full tmpfs) removes what it wrote: a truncated secret would hold the
// space the next try needs, and lie beside the child's files.
func writeExcl(root *os.Root, rel string, mode fs.FileMode, data []byte) error {
	fh, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	// The umask may have narrowed the mode; set it as asked.
	err = fh.Chmod(mode)
	if err == nil {
		_, err = fh.Write(data)
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		root.Remove(rel)
	}
	return err
}

// lockRoot takes the root lock with how (unix.LOCK_SH to create a
// directory, unix.LOCK_EX|unix.LOCK_NB to sweep) and returns its release.
func lockRoot(root string, how int) (release func(), err error) {
	fd, err := unix.Open(filepath.Join(root, lockName), unix.O_RDONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock(fd, how); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return func() { unix.Close(fd) }, nil
}

// flock retries EINTR: a signal arriving while a shared lock waits for a
// sweep must not fail the run.
func flock(fd, how int) error {
	for {
		err := unix.Flock(fd, how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// Reserved says why a file path (relative, slash-separated) cannot be
// used in the directory, "" when it can: the run's lock, the systemd
// notify socket, and the temporary names Replace writes through.
func Reserved(path string) string {
	switch {
	case path == lockName:
		return "ward's lock of the directory"
	case path == NotifySocket:
		return "the systemd notify socket ward gives the child"
	case strings.HasPrefix(filepathBase(path), tmpMark):
		return "the name ward writes a file through while replacing it"
	}
	return ""
}

// NotifySocket is the name of the systemd notify relay's socket in the
// directory.
const NotifySocket = "notify.sock"

func filepathBase(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[i+1:]
	}
	return p
}
