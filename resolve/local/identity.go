package local

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/wardsecrets/ward/internal/filekind"
	"github.com/wardsecrets/ward/resolve"
)

// keyPair is the identity the store is read with and the recipient it is
// written to, which is that identity's own.
type keyPair struct {
	age.Identity
	recipient age.Recipient
}

// identityPlaces is where the identity may be, the hint for a place the
// user cannot have it.
const identityPlaces = "the identity is $WARD_IDENTITY, else $XDG_CONFIG_HOME/ward/identity.txt, else ~/.config/ward/identity.txt: set one to a place this user can write"

// identity reads the age identities of the identity file, creating it
// when create is set and it does not exist; the first is the one a new
// store is encrypted to. An identity readable by others is refused. It
// takes the identities age-keygen writes: X25519, and the post-quantum
// hybrid ones of `age-keygen -pq`. A file may hold several, one a line,
// as age reads it (SOPS's keys.txt collects them), and each is tried.
func (s *Store) identity(create bool) ([]*keyPair, error) {
	b, err := readPrivate(s.IdentityPath, s.IdentityNamed)
	if errors.Is(err, fs.ErrNotExist) && create {
		kp, err := s.newIdentity()
		if err != nil {
			return nil, err
		}
		return []*keyPair{kp}, nil
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the identity file %s is missing: without it the local store %s cannot be decrypted (restore it, or point $WARD_IDENTITY at it)", s.IdentityPath, s.Path)
		}
		if errors.Is(err, syscall.ENOTDIR) {
			return nil, resolve.WithHint(notDirectory(err, "read the identity file", s.IdentityPath), identityPlaces)
		}
		if errors.Is(err, fs.ErrPermission) {
			return nil, resolve.WithHint(fmt.Errorf("cannot read the identity file %s%s: %w", s.IdentityPath, resolve.Whose(s.IdentityPath), err),
				resolve.RefusedHint(s.IdentityPath, "run ward as the user the local store belongs to (sudo -u USER), or give that user the file (chown)"))
		}
		return nil, err
	}
	defer clear(b)
	var ids []*keyPair
	// A byte order mark before the first line: Notepad saves UTF-8 with
	// one, and the file was "no age identity". Lines ended by CR alone
	// (an old Mac editor's) were one line, a comment: "empty".
	text := strings.ReplaceAll(strings.TrimPrefix(string(b), "\ufeff"), "\r", "\n")
	for line := range strings.SplitSeq(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// The age errors could echo key material: say only where, and
		// what the file is when it is a key of another kind.
		var kp *keyPair
		if strings.HasPrefix(line, "AGE-SECRET-KEY-PQ-1") {
			if id, err := age.ParseHybridIdentity(line); err == nil {
				kp = &keyPair{id, id.Recipient()}
			}
		} else if id, err := age.ParseX25519Identity(line); err == nil {
			kp = &keyPair{id, id.Recipient()}
		}
		switch {
		case kp != nil:
			ids = append(ids, kp)
		case len(ids) == 0:
			return nil, s.notAnIdentity(line)
		}
		// Text after an identity that is no identity (a public key
		// pasted without its "#") is let be, as when ward read only the
		// first line.
	}
	if len(ids) == 0 {
		return nil, resolve.WithHint(fmt.Errorf("the identity file %s is empty", s.IdentityPath),
			"restore it from a backup: the local store "+s.Path+" is encrypted to it; only if no store was ever made with it, remove it and ward makes a new one")
	}
	return ids, nil
}

// newIdentity creates the identity file. It never replaces one: when
// another ward creates it first, that one is used.
func (s *Store) newIdentity() (*keyPair, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	if err := mkdirAllSync(filepath.Dir(s.IdentityPath)); err != nil {
		return nil, placeHint(fmt.Errorf("create the identity's directory: %w", err), "the identity file", s.IdentityPath, identityPlaces)
	}
	content := fmt.Appendf(nil, "# ward local store identity, created %s\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
	defer clear(content)
	err = writeFileAtomic(s.IdentityPath, content, false)
	if errors.Is(err, fs.ErrExist) {
		ids, err := s.identity(false)
		if err != nil {
			return nil, err
		}
		return ids[0], nil
	}
	if err != nil {
		return nil, fmt.Errorf("create the identity file: %w", err)
	}
	return &keyPair{id, id.Recipient()}, nil
}

// notAnIdentity is the error for an identity file whose first line
// other than a comment is not an identity ward reads, saying what the
// file is when that line shows it (never the line itself): ward reads its identity unattended, so one behind
// a passphrase cannot serve, and the local store takes no SSH key.
func (s *Store) notAnIdentity(line string) error {
	switch {
	case line == strings.TrimSpace(ageIntro), line == "-----BEGIN AGE ENCRYPTED FILE-----":
		return fmt.Errorf("the identity file %s is encrypted with a passphrase, and ward reads it unattended: decrypt it to a file of its own (age -d -o identity.txt %s; chmod 600 identity.txt) and point $WARD_IDENTITY at that", s.IdentityPath, s.IdentityPath)
	case strings.HasPrefix(line, "-----BEGIN OPENSSH PRIVATE KEY-----"), strings.HasPrefix(line, "-----BEGIN RSA PRIVATE KEY-----"):
		return fmt.Errorf("the identity file %s is an SSH key, and the local store takes an age identity: make one with age-keygen, or leave $WARD_IDENTITY unset and ward makes one", s.IdentityPath)
	}
	return fmt.Errorf("the identity file %s does not hold an age identity (AGE-SECRET-KEY-1... or AGE-SECRET-KEY-PQ-1..., as age-keygen writes)", s.IdentityPath)
}

// readPrivate reads a file that must not be readable by group or others.
// A pipe is read, as it comes, only where the user named it (pipeNamed):
// one found in the identity's usual place (a shared $HOME, a mistake)
// would be waited on for good.
func readPrivate(path string, pipeNamed bool) ([]byte, error) {
	f, st, err := openNoWait(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if pipeNamed && st.Mode()&fs.ModeNamedPipe != 0 {
		// Its writer may come later: opened again, to wait for it.
		f.Close()
		if f, err = os.Open(path); err != nil {
			return nil, err
		}
		defer f.Close()
	} else if !st.Mode().IsRegular() {
		hint := ""
		if st.Mode()&fs.ModeNamedPipe != 0 {
			hint = " (a pipe is read when $WARD_IDENTITY names it: WARD_IDENTITY=<(op read ...))"
		}
		return nil, fmt.Errorf("the identity file %s is %s, not an age identity file%s", path, filekind.Of(st), hint)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the identity file %s has mode %04o, open to its group or others: refusing to use it (run: chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	return io.ReadAll(f)
}
