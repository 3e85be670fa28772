// Package atomicfile replaces files so that a reader, or a crash, sees the
// old content or the new, never a mix or nothing: write a temporary file
// beside the target, fsync it, rename it over the target, fsync the
// directory.
package atomicfile

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// TempPrefix starts the names of the temporary files, so a sweep can find
// the ones a killed writer left behind.
const TempPrefix = ".ward-tmp-"

// Staged is a temporary file holding the new content, not yet in place.
type Staged struct {
	target string
	tmp    string
}

// Stage writes data to a temporary file next to path, with mode perm (an
// existing file's mode is kept when keepMode is set), and fsyncs it.
func Stage(path string, data []byte, perm fs.FileMode, keepMode bool) (*Staged, error) {
	if keepMode {
		if st, err := os.Stat(path); err == nil {
			perm = st.Mode().Perm()
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), TempPrefix+filepath.Base(path)+"-*")
	if err != nil {
		return nil, err
	}
	s := &Staged{target: path, tmp: f.Name()}
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		s.Abort()
		return nil, err
	}
	return s, nil
}

// Commit renames the temporary file over the target and fsyncs the
// directory.
func (s *Staged) Commit() error {
	if err := os.Rename(s.tmp, s.target); err != nil {
		s.Abort()
		return err
	}
	return SyncDir(filepath.Dir(s.target))
}

// Abort removes the temporary file.
func (s *Staged) Abort() { os.Remove(s.tmp) }

// WriteFile replaces path with data atomically.
func WriteFile(path string, data []byte, perm fs.FileMode, keepMode bool) error {
	s, err := Stage(path, data, perm, keepMode)
	if err != nil {
		return err
	}
	return s.Commit()
}

// SyncDir fsyncs a directory, so a rename or a create in it survives a
// crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// IsTemp reports whether name is one of this package's temporary files.
func IsTemp(name string) bool { return strings.HasPrefix(filepath.Base(name), TempPrefix) }
