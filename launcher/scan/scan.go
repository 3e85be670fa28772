// Package scan searches files, the index and git history for the actual
// values of secrets, in every form the mask package knows (plain, base64,
// URL-encoded, JSON-escaped, a line of a multi-line value), and reports
// where each was found and for which variable, never the value.
package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"

	"github.com/wardsecrets/ward/launcher/mask"
)

// Secret is a resolved value and the variable it was resolved for.
type Secret = mask.Secret

// Finding is one place a value was found. It never holds the value or the
// text that matched.
type Finding struct {
	// Path, for the working tree and the index, is relative to Options.Dir
	// when the file is under it or was named by a relative path, else
	// absolute; for history it is relative to the repository's top
	// directory (or, for a blob no commit has, the object's name), and
	// empty for a value in a commit's or a tag's message.
	Path string `json:"path"`
	Line int    `json:"line"`
	// Commit is a commit that introduced the blob at Path: the first, in
	// an oldest-first walk of every ref, whose changes put it there. It is
	// "unknown" if no commit has the blob (a tag pointing at it or at a
	// tree directly), empty for the working tree and the index. For a
	// value in a message, it is the commit or the annotated tag.
	Commit string `json:"commit,omitempty"`
	// Name is the variable whose value was found.
	Name string `json:"name"`
	// Form is how the value appeared: "plain", "base64", "hex", "url",
	// "json", "shell", "quoted", "html" or "line" (see mask.FormsOf).
	Form string `json:"form"`
}

// Options says where to search.
type Options struct {
	// Paths are the files and directories to search, absolute or relative
	// to Dir; none means ".".
	Paths []string
	// NoIgnore searches files that .gitignore excludes, too.
	NoIgnore bool
	// Binary searches files with a NUL byte in their first 8 KiB, too.
	// They are searched anyway with Staged (the few files a commit would
	// hold: a SQLite dev database, a keystore), and when a secret is
	// itself binary (not UTF-8 text, or holding a NUL), which only a
	// binary file can hold.
	Binary bool
	// Staged searches, instead of the working tree, the index entries
	// under Paths: the content staged for the next commit, as a pre-commit
	// hook wants it (an untracked file is not searched; a file staged,
	// then deleted or changed in the work tree, is searched as staged).
	// Each path must be inside a git work tree. NoIgnore changes nothing.
	Staged bool
	// GitHistory also searches every blob, commit message and annotated
	// tag message reachable from any ref of the repository that holds Dir
	// (all of it, whatever Paths says).
	GitHistory bool
	// Dir is the directory to search from; "" means the current one.
	Dir string
	// Unreadable, when set, is called with the path (as a finding's,
	// values masked) of each working-tree file or directory the scan may
	// not read, which is left out; when nil, that is an error.
	Unreadable func(path string, err error)
	// Warn, when set, is told, as a message and slog attributes, of what
	// the repository holds that the scan could not search (the content of
	// Git LFS pointers this clone never fetched).
	Warn func(msg string, args ...any)
}

// binarySniff is how much of a file is looked at for a NUL byte.
const binarySniff = 8 << 10

// Scan searches for every form of every secret as opts says and returns the
// findings, working tree (or index) first, each list sorted by path and
// line. Values shorter than mask.MinLen are not searched for (see Skipped).
//
// In the working tree, a path inside a git work tree gives the files there
// that are tracked or untracked and not excluded by .gitignore (git
// ls-files), and a file that is itself one of the Paths, excluded or not;
// with NoIgnore, or outside a work tree, every regular file under it. Directories named .git, symbolic links and other non-regular
// files are never searched.
func Scan(ctx context.Context, secrets []Secret, opts Options) ([]Finding, error) {
	p, _ := mask.Compile(secrets)
	if p.Len() == 0 {
		return nil, nil
	}
	if opts.Dir == "" {
		opts.Dir = "."
	}
	opts.Binary = opts.Binary || opts.Staged || slices.ContainsFunc(secrets, func(s Secret) bool {
		return !utf8.Valid(s.Value) || bytes.IndexByte(s.Value, 0) >= 0
	})
	if len(opts.Paths) == 0 {
		opts.Paths = []string{"."}
	}
	s, err := newScanner(ctx, p, opts)
	if err != nil {
		return nil, err
	}
	var findings []Finding
	if opts.Staged {
		if findings, err = s.scanStaged(ctx); err != nil {
			return nil, err
		}
	} else {
		files, err := s.listFiles(ctx)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			found, err := s.scanFile(f)
			if err != nil {
				return nil, err
			}
			findings = append(findings, nameFindings(p, f.report)...)
			findings = append(findings, found...)
		}
	}
	findings = sortFindings(findings)
	if opts.GitHistory {
		hist, err := s.scanHistory(ctx)
		if err != nil {
			return nil, err
		}
		findings = append(findings, sortFindings(hist)...)
	}
	return maskPaths(p, findings), nil
}

// maskPaths replaces a secret's value in a finding's path (a file named
// after a token) with <ward:NAME>, as --mask writes it: scan never prints
// a value.
func maskPaths(p *mask.Patterns, findings []Finding) []Finding {
	for i := range findings {
		findings[i].Path, _ = maskString(p, findings[i].Path)
	}
	return findings
}

// nameFindings reports a working-tree file whose path holds a secret's
// value: the name is a place that holds it too, line 0 of the file.
func nameFindings(p *mask.Patterns, path string) []Finding {
	masked, owners := maskString(p, path)
	var out []Finding
	for _, o := range owners {
		out = append(out, Finding{Path: masked, Line: 0, Name: o.Name, Form: string(o.Encoding) + inThePath})
	}
	return out
}

// maskString returns s with every match of p replaced by <ward:NAME>, and
// the owners of what matched (nil when nothing did).
func maskString(p *mask.Patterns, s string) (string, []mask.Owner) {
	buf := []byte(s)
	var b strings.Builder
	var owners []mask.Owner
	from := 0
	for {
		m, ok := p.Find(buf, from)
		if !ok {
			break
		}
		o := p.Owners(m.Pattern)[0]
		owners = append(owners, o)
		b.Write(buf[from:m.Start])
		b.WriteString("<ward:" + o.Name + ">")
		from = m.End
	}
	if owners == nil {
		return s, nil
	}
	b.Write(buf[from:])
	return b.String(), owners
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
	// cwd and absDir are the current directory and Dir, absolute, to
	// report paths against.
	cwd, absDir string
	workTree    map[string]bool  // see inWorkTree
	gitEnv      []string         // see gitEnv
	refused     map[string]error // see inWorkTree
	buf         []byte           // reused from file to file
	rawBuf      []byte           // buf of searchBothWays' bytes, reused too
	namedTrees  []namedTree      // see namedTreeFiles
	// asBytes searches what it reads as bytes, a UTF-16 mark or not
	// (see searchBothWays).
	asBytes bool
}

func newScanner(ctx context.Context, p *mask.Patterns, opts Options) (*scanner, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("scan: current directory: %w", err)
	}
	s := &scanner{p: p, opts: opts, cwd: cwd, workTree: map[string]bool{}, refused: map[string]error{}, gitEnv: gitEnv(ctx, cwd)}
	s.absDir = s.absolute(opts.Dir)
	return s, nil
}

// scanFile searches one working-tree file.
func (s *scanner) scanFile(f file) ([]Finding, error) {
	if f.link {
		target, err := os.Readlink(f.path)
		if err != nil {
			// Gone, or no longer a link, since it was listed.
			return nil, nil
		}
		return s.findIn(f, strings.NewReader(target))
	}
	r, err := os.Open(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		// Gone since it was listed.
		return nil, nil
	}
	if err != nil {
		if s.skipUnreadable(f.report, err) {
			return nil, nil
		}
		return nil, fmt.Errorf("open %s: %w", s.masked(f.report), unwrapPathError(err))
	}
	defer r.Close()
	return s.findIn(f, r)
}

// findIn searches r, the content of f.
func (s *scanner) findIn(f file, r io.Reader) ([]Finding, error) {
	var findings []Finding
	// A file named on the command line is searched binary or not, as
	// ripgrep searches one: `ward scan app.db` passed in silence.
	err := s.searchAs(r, s.opts.Binary || f.named, func(line int, o mask.Owner) {
		findings = append(findings, Finding{Path: f.report, Line: line, Name: o.Name, Form: string(o.Encoding)})
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", s.masked(f.report), unwrapPathError(err))
	}
	return findings, nil
}

// skipUnreadable reports whether err, from reading the working-tree file
// or directory at path (as reported), leaves it out with a warning rather
// than ending the scan: a file the user may not read (one a container
// made as root in the project) hides nothing the user could commit from
// this checkout, and the rest is still worth searching.
func (s *scanner) skipUnreadable(path string, err error) bool {
	if s.opts.Unreadable == nil || !errors.Is(err, fs.ErrPermission) {
		return false
	}
	s.opts.Unreadable(s.masked(path), unwrapPathError(err))
	return true
}

// masked is path with any value in it masked, for a message: a file may
// be named after a token.
func (s *scanner) masked(path string) string {
	m, _ := maskString(s.p, path)
	return m
}

// search reads r to the end and calls found with the line number of each
// match, once per secret the matched form belongs to. Unless Binary is set,
// it stops early, finding nothing, if r starts like a binary file. Text
// that starts with a UTF-16 byte-order mark is searched as the UTF-8 it
// decodes to: Windows PowerShell's > writes a .env file so, and one that
// held a token passed every scan, staged or not, as binary or as bytes
// that match no form.
func (s *scanner) search(r io.Reader, found func(line int, o mask.Owner)) error {
	return s.searchAs(r, s.opts.Binary, found)
}

// utf16Mark reports whether head, a file's start, is a UTF-16 byte order
// mark: UTF-16 text, or a file that starts with the bytes FF FE or FE FF by
// chance (UTF-32's mark, FF FE 00 00, among them), which may be binary or
// text of another encoding; searchBothWays searches it both ways.
func utf16Mark(head []byte) bool {
	return bytes.HasPrefix(head, []byte{0xff, 0xfe}) || bytes.HasPrefix(head, []byte{0xfe, 0xff})
}

// searchBothWays searches r, which starts with a UTF-16 mark, decoded as
// UTF-16 and as the bytes it is, in one read, binary files searched too
// when binary is set: a binary file that starts with FF FE was decoded
// only, and its bytes never searched, and so was text that starts so by
// chance (Latin-1's "ÿþ", or what a tool wrote before a .env's lines),
// with no NUL byte to make its bytes binary; searched only as bytes, a
// UTF-16 .env with a NUL in it passed. The bytes of UTF-16 text hold a NUL for each ASCII character, so
// unless binary is set, their search stops at the first read. found is
// called from both searches, one at a time.
func (s *scanner) searchBothWays(r io.Reader, binary bool, found func(line int, o mask.Owner)) error {
	var mu sync.Mutex
	locked := func(line int, o mask.Owner) {
		mu.Lock()
		defer mu.Unlock()
		found(line, o)
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	searching := make(chan struct{}) // closed once the bytes' search has ended
	raw := &scanner{p: s.p, opts: s.opts, asBytes: true, buf: s.rawBuf}
	go func() {
		err := raw.searchAs(pr, binary, locked)
		close(searching)
		io.Copy(io.Discard, pr) // the rest, for the decoding read
		done <- err
	}()
	decoded := transform.NewReader(io.TeeReader(r, pw), unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM).NewDecoder())
	err := s.searchAs(decoded, binary, locked)
	// Read on while the bytes' search goes on, so it sees all of them;
	// no further: a binary file that starts with FF FE, which both
	// searches pass over at once, was read to its end.
	chunk := make([]byte, 32<<10)
	for err == nil && !closed(searching) {
		_, err = decoded.Read(chunk)
	}
	if err == io.EOF {
		err = nil
	}
	pw.CloseWithError(err)
	if rawErr := <-done; err == nil {
		err = rawErr
	}
	s.rawBuf = raw.buf
	return err
}

// closed reports whether ch is closed.
func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// utf16Start is utf16Mark of buf's start for the first read of a search
// that decodes (not searchBothWays' bytes), false for any other.
func (s *scanner) utf16Start(first bool, buf []byte) bool {
	if !first || s.asBytes {
		return false
	}
	return utf16Mark(buf[:min(len(buf), binarySniff)])
}

// searchAs is search, binary files searched too when binary is set.
func (s *scanner) searchAs(r io.Reader, binary bool, found func(line int, o mask.Owner)) error {
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
		if s.utf16Start(first, buf) {
			// Decoded from here on, the mark included (it says the order).
			var read io.Reader = bytes.NewReader(bytes.Clone(buf))
			if more {
				read = io.MultiReader(read, r)
			}
			return s.searchBothWays(read, binary, found)
		}
		if first && !binary && bytes.IndexByte(buf[:min(len(buf), binarySniff)], 0) >= 0 {
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
