package local

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"filippo.io/age"
	"golang.org/x/sys/unix"

	"github.com/wardsecrets/ward/internal/filekind"
	"github.com/wardsecrets/ward/resolve"
)

// damagedError is the error for a store file ward cannot use. Its reason
// is ward's own words (with, at most, a valid entry name or a ward format
// name), never other text read from the file.
type damagedError struct {
	path, reason string
	// newer is a store of a newer format, which is not damaged: the
	// reason says to upgrade ward.
	newer bool
}

func (e *damagedError) Error() string {
	return "the local store " + e.path + " " + e.reason + "; it was left as it is"
}

// Hint says how to get a store back: its values are in no other file
// ward knows of.
func (e *damagedError) Hint() string {
	if e.newer {
		return ""
	}
	return "restore it from a backup (or from the synced folder's other copy); to start a new, empty store instead, move it aside: mv " + e.path + " " + e.path + ".damaged"
}

func (e *damagedError) Is(target error) bool { return target == ErrDamaged }

// ageIntro is how every binary age file begins.
const ageIntro = "age-encryption.org/v1\n"

// readFile decrypts and parses the store file at path (s.Path, or the
// file its links lead to), and returns the identity that decrypted it.
// A file that is not a ward store is an error, and update never
// overwrites it.
func (s *Store) readFile(path string) (*document, *keyPair, error) {
	f, st, err := openNoWait(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("the local store %s does not exist yet (create an entry with: ward local set NAME): %w", s.Path, ErrNoStore)
		}
		return nil, nil, fmt.Errorf("open the local store: %w", err)
	}
	defer f.Close()
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("the local store %s is %s, not a regular file: move it aside, or point $WARD_LOCAL_STORE at the store's file", s.Path, filekind.Of(st))
	}
	ids, err := s.identity(false)
	if err != nil {
		return nil, nil, err
	}
	// age tries each identity; the one that opens the file is the one its
	// next version is encrypted to.
	var id *keyPair
	tried := make([]age.Identity, len(ids))
	for i, kp := range ids {
		tried[i] = &matching{kp, &id}
	}
	plain, err := s.decrypt(f, tried...)
	if err != nil {
		return nil, nil, err
	}
	defer clear(plain)
	doc, err := decodeDocument(plain)
	if err != nil {
		var newer newerFormatDamage
		return nil, nil, &damagedError{path: s.Path, reason: err.Error(), newer: errors.As(err, &newer)}
	}
	return doc, id, nil
}

// openNoWait opens path for reading, and says what it is, without
// waiting on what is no file: the open of a named pipe waits for a
// writer, and ward run, ward local list and a shell's completion of
// `ward local get` waited there for good. The caller refuses what is not
// a regular file.
func openNoWait(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, st, nil
}

// decrypt returns the plaintext of the store file. age's own errors are
// never shown: on a file that is not age (a plaintext store.age put there
// by mistake) they quote the file's first bytes.
func (s *Store) decrypt(f *os.File, ids ...age.Identity) ([]byte, error) {
	src := &readErrors{r: f}
	br := bufio.NewReader(src)
	head, _ := br.Peek(len(ageIntro))
	switch {
	case src.err != nil:
		return nil, fmt.Errorf("read the local store %s: %w", s.Path, src.err)
	case len(head) == 0:
		return nil, &damagedError{path: s.Path, reason: "is not a ward store or is damaged (it is empty)"}
	case string(head) != ageIntro:
		return nil, &damagedError{path: s.Path, reason: "is not a ward store or is damaged (it is not an age-encrypted file)"}
	}
	r, err := age.Decrypt(br, ids...)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		switch {
		case errors.As(err, &noMatch):
			return nil, fmt.Errorf("the local store %s is not encrypted to the identity %s: it was made with another identity (restore that identity file, or point $WARD_IDENTITY at it)", s.Path, s.IdentityPath)
		case src.err != nil:
			return nil, fmt.Errorf("read the local store %s: %w", s.Path, src.err)
		}
		return nil, &damagedError{path: s.Path, reason: "is not a ward store or is damaged (its age header is malformed or does not verify)"}
	}
	size := 0
	if st, err := f.Stat(); err == nil && st.Size() < 1<<31 {
		size = int(st.Size())
	}
	// Read into a buffer of the file's size, which holds the plaintext
	// (smaller than the ciphertext), so that no copy of it is left in a
	// grown-out buffer.
	plain := bytes.NewBuffer(make([]byte, 0, size+bytes.MinRead))
	if _, err := plain.ReadFrom(r); err != nil {
		clear(plain.Bytes())
		if src.err != nil {
			return nil, fmt.Errorf("read the local store %s: %w", s.Path, src.err)
		}
		return nil, &damagedError{path: s.Path, reason: "is not a ward store or is damaged (its encrypted content does not verify or was cut short)"}
	}
	return plain.Bytes(), nil
}

// matching is an identity that, when it opens a file, says so in hit.
type matching struct {
	*keyPair
	hit **keyPair
}

func (m *matching) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	key, err := m.keyPair.Unwrap(stanzas)
	if err == nil {
		*m.hit = m.keyPair
	}
	return key, err
}

// readErrors remembers a read error other than io.EOF, to tell a failing
// disk from a damaged file when age reports either.
type readErrors struct {
	r   io.Reader
	err error
}

func (r *readErrors) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// writeDocument encrypts doc to recipient and puts it at path.
func writeDocument(path string, recipient age.Recipient, doc *document) error {
	plain := doc.encode()
	defer clear(plain)
	var sealed bytes.Buffer
	sealed.Grow(len(plain) + 1024 + len(plain)/(64<<10)*16)
	w, err := age.Encrypt(&sealed, recipient)
	if err != nil {
		return fmt.Errorf("write the local store: %w", err)
	}
	if _, err := w.Write(plain); err != nil {
		return fmt.Errorf("write the local store: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write the local store: %w", err)
	}
	if err := writeFileAtomic(path, sealed.Bytes(), true); err != nil {
		return fmt.Errorf("write the local store: %w", err)
	}
	return nil
}

// target returns the file a write replaces: s.Path, or the file its
// symbolic links lead to, with every directory resolved.
//
// A store.age that is a symbolic link is written through, not replaced:
// people link the store into a synced or backed-up folder, and replacing
// the link with a regular file would fork the store without a word, ward
// reading its own copy while the linked one goes stale. Refusing would be
// safe too, but would leave a reasonable setup unable to write.
func (s *Store) target() (string, error) {
	p := s.Path
	for range 40 {
		dir, err := filepath.EvalSymlinks(filepath.Dir(p))
		if errors.Is(err, syscall.ENOTDIR) {
			return "", resolve.WithHint(notDirectory(err, "write the local store", s.Path), storePlaces)
		}
		if err != nil {
			return "", fmt.Errorf("find the local store %s: %w", s.Path, err)
		}
		p = filepath.Join(dir, filepath.Base(p))
		st, err := os.Lstat(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return p, nil
		case err != nil:
			return "", fmt.Errorf("find the local store %s: %w", s.Path, err)
		case st.Mode().IsRegular():
			return p, nil
		case st.Mode()&fs.ModeSymlink == 0:
			where := s.Path
			if p != s.Path {
				where += " (linked to " + p + ")"
			}
			return "", fmt.Errorf("the local store %s is not a regular file: ward writes its store only to a regular file (or a symbolic link to one)", where)
		}
		if owner := ownerOf(st); owner != 0 && owner != os.Geteuid() {
			// root with another user's $HOME (su keeps it) would create a
			// file of root's wherever that user's link points.
			where := s.Path
			if p != s.Path {
				where += " (linked through " + p + ")"
			}
			return "", fmt.Errorf("the local store %s is a symbolic link of uid %d: ward follows only links of its own user or root", where, owner)
		}
		link, err := os.Readlink(p)
		if err != nil {
			return "", fmt.Errorf("find the local store %s: %w", s.Path, err)
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(dir, link)
		}
		p = link
	}
	return "", fmt.Errorf("the local store %s: too many levels of symbolic links", s.Path)
}

// lockTarget takes the store's write lock and returns the file to write.
// The lock sits beside the file the links lead to, so that writers that
// name the store by a link and by its real path exclude each other.
func (s *Store) lockTarget() (string, func(), error) {
	for range 5 {
		target, err := s.target()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				if missing := s.missing(); !errors.Is(missing, ErrNoStore) {
					return "", nil, missing
				}
			}
			return "", nil, err
		}
		unlock, err := lockFile(target+".lock", s.Waiting)
		if err != nil {
			return "", nil, err
		}
		// The link may have been pointed elsewhere while this waited.
		if again, err := s.target(); err == nil && again == target {
			return target, unlock, nil
		}
		unlock()
	}
	return "", nil, fmt.Errorf("lock the local store %s: its symbolic link keeps changing", s.Path)
}

// lockPatience is how long a write waits for another writer's lock
// before it says so.
const lockPatience = time.Second

// lockFile takes the lock at path; when another holds it for longer than
// lockPatience, waiting is called (once) while this waits.
func lockFile(path string, waiting func(string)) (func(), error) {
	// Never through a link: one planted by the owner of the directory
	// would have ward create a file wherever it points.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if errors.Is(err, unix.ELOOP) {
		owner := -1
		if st, err := os.Lstat(path); err == nil {
			owner = ownerOf(st)
		}
		return nil, fmt.Errorf("lock the local store: %s is a symbolic link of uid %d: ward opens its lock only as a file (remove the link: ward makes the lock itself, an empty file beside the store)", path, owner)
	}
	if errors.Is(err, fs.ErrPermission) {
		// A lock its owner may not write: made under a umask that takes
		// the owner's w (`umask 277`, a script's before it writes a key)
		// by an earlier ward, whose every later write then failed here.
		// flock needs no write access (NFS's emulation of it does, hence
		// O_RDWR above); it gets its 0600 below.
		f, err = os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("lock the local store: %w", err)
	}
	if st, err := f.Stat(); err == nil && st.Mode().Perm()&0o200 == 0 {
		// Made just now under such a umask, or by an earlier ward: the
		// next writer opens it O_RDWR. (Another user's is theirs to
		// mend: the chmod fails, and the lock is taken all the same.)
		f.Chmod(0o600)
	}
	how := unix.LOCK_EX | unix.LOCK_NB
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err == unix.EWOULDBLOCK && how&unix.LOCK_NB != 0 {
			// Said only of a wait that lasts: writers in turn (a script's
			// sets in parallel) wait a fraction of a second each.
			if waiting != nil {
				defer time.AfterFunc(lockPatience, func() { waiting(path) }).Stop()
			}
			how = unix.LOCK_EX
			continue
		}
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the local store: %w", err)
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// ownerOf is the uid that owns the file st describes, -1 if unknown.
func ownerOf(st fs.FileInfo) int {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid)
	}
	return -1
}
