// Package file reads secrets from mounted files: file:///run/secrets/x
// (Docker and Kubernetes secrets) and creds://name (systemd credentials
// under $CREDENTIALS_DIRECTORY).
package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/wardsecrets/ward/internal/filekind"
	"github.com/wardsecrets/ward/resolve"
)

// MaxSize bounds what a secret file may hold, so a reference to the wrong
// file (a log, a device) fails instead of filling memory.
const MaxSize = 4 << 20

// Store reads file:// references: the path is absolute.
type Store struct{}

var _ resolve.Store = Store{}

// Fetch reads the file at ref.Path.
func (Store) Fetch(_ context.Context, ref resolve.Ref) (resolve.Secret, error) {
	return read(ref, ref.Path)
}

// CredsStore reads creds://NAME references from systemd's credentials
// directory.
type CredsStore struct {
	// Dir is $CREDENTIALS_DIRECTORY; empty means it was not set.
	Dir string
}

var _ resolve.Store = CredsStore{}

// Fetch reads $CREDENTIALS_DIRECTORY/NAME.
func (s CredsStore) Fetch(_ context.Context, ref resolve.Ref) (resolve.Secret, error) {
	if s.Dir == "" {
		return resolve.Secret{}, errors.New("$CREDENTIALS_DIRECTORY is not set: creds:// works under a systemd unit with LoadCredential=" + ref.Path + ":/path/to/secret")
	}
	return read(ref, filepath.Join(s.Dir, ref.Path))
}

// Path returns where a creds reference lives, for watching.
func (s CredsStore) Path(ref resolve.Ref) string { return filepath.Join(s.Dir, ref.Path) }

// read reads the file at path for ref: an empty file is refused unless
// ref allows it (resolve.AllowEmpty), as a secret that was never written.
func read(ref resolve.Ref, path string) (resolve.Secret, error) {
	// O_NONBLOCK: a named pipe opens at once, and is refused below as
	// not a regular file; a blocking open waited for a writer, for good,
	// at a start with no word said, and in a rotation, whose refresh then
	// never ended: no later change reached the child. A regular file's
	// reads do not heed it. O_NOCTTY: a terminal named here does not
	// become ward's.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return resolve.Secret{}, resolve.WithHint(fmt.Errorf("%s: %w", path, resolve.ErrNotFound),
				"check the path: the file a secret mount (Docker, Kubernetes) or systemd's LoadCredential= puts there")
		}
		if errors.Is(err, fs.ErrPermission) {
			return resolve.Secret{}, resolve.WithHint(fmt.Errorf("%w%s", err, resolve.Whose(path)),
				resolve.RefusedHint(path, "make it readable by ward's user: in a Kubernetes pod, set securityContext.fsGroup (the kubelet makes a secret volume's files readable by that group) or the volume's defaultMode; elsewhere chown or chmod it"))
		}
		return resolve.Secret{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return resolve.Secret{}, err
	}
	if !st.Mode().IsRegular() {
		return resolve.Secret{}, fmt.Errorf("%s is %s, not a regular file", path, filekind.Of(st))
	}
	if st.Size() > MaxSize {
		return resolve.Secret{}, fmt.Errorf("%s is %d bytes, more than the %d a secret file may hold", path, st.Size(), MaxSize)
	}
	// Read through a limit: the file may grow between Stat and Read.
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return resolve.Secret{}, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > MaxSize {
		return resolve.Secret{}, fmt.Errorf("%s holds more than the %d bytes a secret file may hold", path, MaxSize)
	}
	if err := resolve.RefuseEmpty(ref, b, path); err != nil {
		return resolve.Secret{}, err
	}
	// The stamp is of the open file, taken before the read: a change
	// after it makes the stamp differ, so rotation cannot miss it.
	return resolve.Secret{
		Value:   b,
		Version: "modified " + st.ModTime().UTC().Format(time.RFC3339),
		File:    &resolve.FileStamp{Path: path, Stamp: resolve.Stamp(st)},
	}, nil
}
