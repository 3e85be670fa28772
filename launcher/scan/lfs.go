package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wardsecrets/ward/launcher/mask"
)

// lfsPointerMax is the size a Git LFS pointer file stays under (the
// specification's limit), so larger blobs are never read whole to tell.
const lfsPointerMax = 1024

// lfsObjects finds the content a Git LFS pointer stands for in one
// repository's local LFS store. A file that LFS tracks (a SQLite dev
// database, a keystore, a data dump) is committed as a pointer, and the
// content goes to the LFS server on push: searching the pointer alone
// would let the secret through.
type lfsObjects struct {
	s   *scanner
	dir string // where git runs
	// objects is the store's objects directory, found on first use.
	objects string
	found   bool
	// missing counts pointers whose content is not in this clone (history
	// that was never fetched with git lfs fetch --all).
	missing int
}

func (s *scanner) newLFS(dir string) *lfsObjects { return &lfsObjects{s: s, dir: dir} }

// searchBlob searches a blob read through cat-file and, if it is a Git LFS
// pointer, the content it stands for, reporting both through found.
func (l *lfsObjects) searchBlob(ctx context.Context, obj object, found func(line int, o mask.Owner)) error {
	if obj.Size > lfsPointerMax {
		return l.s.search(obj.Body, found)
	}
	body, err := io.ReadAll(obj.Body)
	if err != nil {
		return err
	}
	if err := l.s.search(bytes.NewReader(body), found); err != nil {
		return err
	}
	oid, ok := lfsPointer(body)
	if !ok {
		return nil
	}
	f, err := l.open(ctx, oid)
	if errors.Is(err, fs.ErrNotExist) {
		l.missing++
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := l.s.search(f, found); err != nil {
		return fmt.Errorf("git lfs object %s: %w", oid, unwrapPathError(err))
	}
	return nil
}

// open opens the local copy of the LFS object oid: under lfs.storage if
// set (relative to the git directory), else the git directory's lfs,
// objects/OID[0:2]/OID[2:4]/OID, as git-lfs keeps them. The common git
// directory: linked worktrees share the main one's store.
func (l *lfsObjects) open(ctx context.Context, oid string) (*os.File, error) {
	if !l.found {
		out, err := l.s.git(ctx, l.dir, "rev-parse", "--path-format=absolute", "--git-common-dir")
		if err != nil {
			return nil, err
		}
		common := strings.TrimSpace(string(out))
		storage := filepath.Join(common, "lfs")
		// git config exits 1 when the key is not set.
		if out, err := l.s.git(ctx, l.dir, "config", "--get", "lfs.storage"); err == nil {
			if st := strings.TrimSpace(string(out)); st != "" {
				storage = st
				if !filepath.IsAbs(st) {
					storage = filepath.Join(common, st)
				}
			}
		}
		l.objects, l.found = filepath.Join(storage, "objects"), true
	}
	return os.Open(filepath.Join(l.objects, oid[0:2], oid[2:4], oid))
}

// warnLFSMissing warns of the LFS pointers whose content l did not find.
func (s *scanner) warnLFSMissing(l *lfsObjects) {
	if l.missing > 0 && s.opts.Warn != nil {
		s.opts.Warn("Git LFS content that is not in this clone is not searched (git lfs fetch --all brings it)", "objects", l.missing)
	}
}

// lfsPointer returns the object id a Git LFS pointer file names, and
// whether body is one: "version https://git-lfs.github.com/spec/v1" on
// the first line, then an "oid sha256:" line of 64 hex digits.
func lfsPointer(body []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(body, []byte("version https://git-lfs.github.com/spec/v1\n"))
	if !ok {
		return "", false
	}
	for _, line := range strings.Split(string(rest), "\n") {
		oid, ok := strings.CutPrefix(line, "oid sha256:")
		if !ok {
			continue
		}
		if len(oid) != 64 || strings.Trim(oid, "0123456789abcdef") != "" {
			return "", false
		}
		return oid, true
	}
	return "", false
}
