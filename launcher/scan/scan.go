// Package scan searches files and git history for the actual values of
// secrets, in every form the mask package knows (plain, base64, URL-encoded,
// JSON-escaped), and reports where each was found and for which variable,
// never the value.
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
	"slices"
	"strings"

	"github.com/wardsecrets/ward/launcher/mask"
)

// Secret is a resolved value and the variable it was resolved for.
type Secret = mask.Secret

// Finding is one place a value was found. It never holds the value or the
// text that matched.
type Finding struct {
	// Path is relative to Options.Dir for the working tree, to the
	// repository's top directory for history.
	Path string `json:"path"`
	Line int    `json:"line"`
	// Commit is the oldest commit whose changes add the blob, "unknown" if
	// none does (a blob reachable only through a tag), empty for the
	// working tree.
	Commit string `json:"commit,omitempty"`
	// Name is the variable whose value was found.
	Name string `json:"name"`
	// Form is how the value appeared: "plain", "base64", "url" or "json".
	Form string `json:"form"`
}

// Options says where to search.
type Options struct {
	// Paths are the files and directories to search, relative to Dir;
	// none means ".".
	Paths []string
	// NoIgnore searches files that .gitignore excludes, too.
	NoIgnore bool
	// Binary searches files with a NUL byte in their first 8 KiB, too.
	Binary bool
	// GitHistory also searches every blob reachable from any ref of the
	// repository that holds Dir (all of it, whatever Paths says).
	GitHistory bool
	// Dir is the directory to search from; "" means the current one.
	Dir string
}

// binarySniff is how much of a file is looked at for a NUL byte.
const binarySniff = 8 << 10

// Scan searches for every form of every secret as opts says and returns the
// findings, working tree first, each list sorted by path and line. Values
// shorter than mask.MinLen are not searched for (see Skipped).
//
// Inside a git work tree, the files searched are the tracked ones and the
// untracked ones .gitignore does not exclude (git ls-files); with NoIgnore,
// or outside a work tree, every regular file under Paths. Directories named
// .git, symbolic links and other non-regular files are never searched.
func Scan(ctx context.Context, secrets []Secret, opts Options) ([]Finding, error) {
	p, _ := mask.Compile(secrets)
	if p.Len() == 0 {
		return nil, nil
	}
	if opts.Dir == "" {
		opts.Dir = "."
	}
	if len(opts.Paths) == 0 {
		opts.Paths = []string{"."}
	}
	s := &scanner{p: p, opts: opts}
	var findings []Finding
	files, err := s.listFiles(ctx)
	if err != nil {
		return nil, err
	}
	for _, path := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		found, err := s.scanFile(path)
		if err != nil {
			return nil, err
		}
		findings = append(findings, found...)
	}
	findings = sortFindings(findings)
	if opts.GitHistory {
		hist, err := s.scanHistory(ctx)
		if err != nil {
			return nil, err
		}
		findings = append(findings, sortFindings(hist)...)
	}
	return findings, nil
}

// Skipped returns the names of the secrets whose values are too short to
// search for, so the caller can warn naming the variable.
func Skipped(secrets []Secret) []string {
	var names []string
	for _, s := range secrets {
		if len(s.Value) < mask.MinLen {
			names = append(names, s.Name)
		}
	}
	return names
}

type scanner struct {
	p    *mask.Patterns
	opts Options
	buf  []byte // reused from file to file
}

// listFiles returns the regular files to search, relative to opts.Dir.
func (s *scanner) listFiles(ctx context.Context) ([]string, error) {
	// git ls-files takes a path that names nothing as matching nothing;
	// a mistyped path must not pass for a clean one.
	for _, path := range s.opts.Paths {
		if _, err := os.Lstat(filepath.Join(s.opts.Dir, path)); err != nil {
			return nil, fmt.Errorf("scan %s: %w", path, unwrapPathError(err))
		}
	}
	if !s.opts.NoIgnore && insideWorkTree(ctx, s.opts.Dir) {
		return s.gitFiles(ctx)
	}
	var files []string
	for _, root := range s.opts.Paths {
		err := filepath.WalkDir(filepath.Join(s.opts.Dir, root), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("walk %s: %w", path, unwrapPathError(err))
			}
			if d.IsDir() && d.Name() == ".git" {
				return filepath.SkipDir
			}
			if !d.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(s.opts.Dir, path)
			if err != nil {
				return err
			}
			files = append(files, rel)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// gitFiles lists the tracked files and the untracked ones not ignored.
func (s *scanner) gitFiles(ctx context.Context) ([]string, error) {
	args := append([]string{"ls-files", "-z", "--cached", "--others", "--exclude-standard", "--"}, s.opts.Paths...)
	out, err := s.git(ctx, s.opts.Dir, args...)
	if err != nil {
		return nil, err
	}
	var files []string
	seen := map[string]bool{}
	for _, name := range strings.Split(string(out), "\x00") {
		// A conflicted file is listed once per stage.
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		fi, err := os.Lstat(filepath.Join(s.opts.Dir, name))
		if err != nil || !fi.Mode().IsRegular() {
			// Deleted from the work tree but still tracked, a submodule,
			// or a link: nothing to read here.
			continue
		}
		files = append(files, name)
	}
	return files, nil
}

// scanFile searches one working-tree file.
func (s *scanner) scanFile(path string) ([]Finding, error) {
	f, err := os.Open(filepath.Join(s.opts.Dir, path))
	if errors.Is(err, fs.ErrNotExist) {
		// Gone since it was listed.
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, unwrapPathError(err))
	}
	defer f.Close()
	var findings []Finding
	err = s.search(f, func(line int, o mask.Owner) {
		findings = append(findings, Finding{Path: filepath.ToSlash(path), Line: line, Name: o.Name, Form: string(o.Encoding)})
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, unwrapPathError(err))
	}
	return findings, nil
}

// search reads r to the end and calls found with the line number of each
// match, once per secret the matched form belongs to. Unless Binary is set,
// it stops early, finding nothing, if r starts like a binary file.
func (s *scanner) search(r io.Reader, found func(line int, o mask.Owner)) error {
	if s.buf == nil {
		s.buf = make([]byte, 0, max(1<<20, 2*s.p.MaxLen()))
	}
	buf := s.buf[:0]
	line := 1 // the line buf[0] is on
	first := true
	for {
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		more := err == nil
		if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
			return err
		}
		if first && !s.opts.Binary && bytes.IndexByte(buf[:min(len(buf), binarySniff)], 0) >= 0 {
			return nil
		}
		first = false
		hold := len(buf)
		if more {
			hold = s.p.Hold(buf, 0)
		}
		pos, counted := 0, 0
		for {
			m, ok := s.p.Find(buf, pos)
			if !ok || m.Start >= hold {
				break
			}
			line += bytes.Count(buf[counted:m.Start], []byte{'\n'})
			counted = m.Start
			for _, o := range s.p.Owners(m.Pattern) {
				found(line, o)
			}
			pos = m.End
			if pos > hold {
				hold = s.p.Hold(buf, pos)
			}
		}
		if !more {
			return nil
		}
		line += bytes.Count(buf[counted:hold], []byte{'\n'})
		buf = buf[:copy(buf, buf[hold:])]
	}
}

// sortFindings sorts by path, line, variable and form, and drops repeats
// (a value twice on one line is one finding).
func sortFindings(f []Finding) []Finding {
	slices.SortFunc(f, cmpFinding)
	return slices.Compact(f)
}

func cmpFinding(a, b Finding) int {
	if c := strings.Compare(a.Path, b.Path); c != 0 {
		return c
	}
	if a.Line != b.Line {
		return a.Line - b.Line
	}
	if c := strings.Compare(a.Commit, b.Commit); c != 0 {
		return c
	}
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	return strings.Compare(a.Form, b.Form)
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
