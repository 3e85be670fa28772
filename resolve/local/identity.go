package local

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
)

// identity reads the age identity, creating it when create is set and it
// does not exist. An identity readable by others is refused.
func (s *Store) identity(create bool) (*age.X25519Identity, error) {
	b, err := readPrivate(s.IdentityPath)
	if errors.Is(err, fs.ErrNotExist) && create {
		return s.newIdentity()
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("the identity file %s is missing: without it the local store %s cannot be decrypted (restore it, or point $WARD_IDENTITY at it)", s.IdentityPath, s.Path)
		}
		return nil, err
	}
	defer clear(b)
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			// The age error could echo key material: say only where.
			return nil, fmt.Errorf("the identity file %s does not hold an age X25519 identity", s.IdentityPath)
		}
		return id, nil
	}
	return nil, fmt.Errorf("the identity file %s is empty", s.IdentityPath)
}

// newIdentity creates the identity file. It never replaces one: when
// another ward creates it first, that one is used.
func (s *Store) newIdentity() (*age.X25519Identity, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, err
	}
	if err := mkdirAllSync(filepath.Dir(s.IdentityPath)); err != nil {
		return nil, fmt.Errorf("create the identity's directory: %w", err)
	}
	content := fmt.Appendf(nil, "# ward local store identity, created %s\n# public key: %s\n%s\n",
		time.Now().UTC().Format(time.RFC3339), id.Recipient(), id)
	defer clear(content)
	err = writeFileAtomic(s.IdentityPath, content, false)
	if errors.Is(err, fs.ErrExist) {
		return s.identity(false)
	}
	if err != nil {
		return nil, fmt.Errorf("create the identity file: %w", err)
	}
	return id, nil
}

// readPrivate reads a file that must not be readable by group or others.
func readPrivate(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("the identity file %s is a directory, not an age identity file", path)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("the identity file %s has mode %04o, readable by others: refusing to use it (run: chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	return io.ReadAll(f)
}
