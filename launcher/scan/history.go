package scan

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/wardsecrets/ward/launcher/mask"
)

// foundBlob is a blob of the history that holds a value.
type foundBlob struct {
	// path is the path rev-list named the blob by, empty for a blob a ref
	// points at directly; it is reported only if no commit introduced it.
	path    string
	matches []match
}

// match is a finding inside one blob, wherever the blob is.
type match struct {
	line       int
	name, form string
}

// place is where a commit introduced a blob.
type place struct{ commit, path string }

// ErrNoRepository is why --git-history found no history to search: the
// directory is in no git repository.
var ErrNoRepository = errors.New("--git-history: not in a git repository")

// scanHistory searches every blob reachable from any ref, each once, and
// reports each blob with a finding at the places commits introduced it.
// Two walks of the history, whatever its length or the number of findings:
// one reads the blobs (see scanBlobs), one names the commits (see
// introductions), and the second only if there was a finding.
func (s *scanner) scanHistory(ctx context.Context) ([]Finding, error) {
	// git runs in Dir: object paths are relative to the top whatever the
	// directory, and a bare repository (a mirror) has no top to run in.
	root := s.opts.Dir
	shallow, err := s.git(ctx, root, "rev-parse", "--is-shallow-repository")
	if err != nil {
		if strings.Contains(err.Error(), "not a git repository") {
			// git's "fatal: not a git repository (or any of the parent
			// directories): .git", with its exit status, was the error.
			return nil, fmt.Errorf("%w: %s", ErrNoRepository, root)
		}
		return nil, err
	}
	if strings.TrimSpace(string(shallow)) == "true" && s.opts.Warn != nil {
		// A CI checkout's default (actions/checkout fetches one commit,
		// GitLab 20): a clean result would speak for commits not there.
		s.opts.Warn("the clone is shallow, so the history before its oldest commits is not searched: fetch it all (git fetch --unshallow; actions/checkout's fetch-depth: 0, GitLab's GIT_DEPTH: 0)")
	}
	var findings []Finding
	found, err := s.scanBlobs(ctx, root, &findings)
	if err != nil || len(found) == 0 {
		return findings, err
	}
	intro, err := s.introductions(ctx, root, found)
	if err != nil {
		return nil, err
	}
	for name, b := range found {
		places := intro[name]
		if len(places) == 0 {
			// Reachable only through a tag or another ref that points at a
			// tree or the blob itself: name what rev-list named.
			path := b.path
			if path == "" {
				path = name
			}
			places = []place{{commit: "unknown", path: path}}
		}
		for _, pl := range places {
			_, owners := maskString(s.p, pl.path)
			for _, m := range b.matches {
				if strings.HasSuffix(m.form, inThePath) && !slices.ContainsFunc(owners, func(o mask.Owner) bool {
					return o.Name == m.name && string(o.Encoding)+inThePath == m.form
				}) {
					// The blob may also sit at paths that hold no value,
					// or another (the same content, a .gitkeep, under
					// folders named with two values).
					continue
				}
				findings = append(findings, Finding{Path: pl.path, Line: m.line, Commit: pl.commit, Name: m.name, Form: m.form})
			}
		}
	}
	return findings, nil
}

// scanBlobs lists every object reachable from any ref with one
// `git rev-list --objects --all`, which names each object once, and pipes
// the trees and blobs to one `git cat-file --batch`, searching each blob.
// It returns the blobs with a finding, by object name, and adds the
// findings in commit and tag messages to messages.
func (s *scanner) scanBlobs(ctx context.Context, root string, messages *[]Finding) (map[string]*foundBlob, error) {
	revList := s.command(ctx, root, "rev-list", "--objects", "--all")
	var revErr bytes.Buffer
	revList.Stderr = &revErr
	objects, err := revList.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("git rev-list: %w", err)
	}
	if err := revList.Start(); err != nil {
		return nil, fmt.Errorf("git rev-list: %w", err)
	}
	stopRevList := func() {
		revList.Process.Kill()
		revList.Wait()
	}
	cf, err := s.startCatFile(ctx, root, func(w *bufio.Writer) error {
		// Each line is an object name, then, for a tree, a blob or a tag, a
		// space and its path or name (empty for a root tree, and for an
		// object a ref points at directly); a commit has none. Every one
		// is read: commits and tags for their messages, trees for their
		// names; the types cannot be told apart here, cat-file tells.
		lines := bufio.NewScanner(objects)
		lines.Buffer(make([]byte, 64<<10), 1<<20)
		for lines.Scan() {
			line := lines.Bytes()
			w.Write(line)
			if err := w.WriteByte('\n'); err != nil {
				// cat-file has stopped; the reader reports why.
				return nil
			}
		}
		if err := lines.Err(); err != nil {
			return fmt.Errorf("git rev-list: read objects: %w", err)
		}
		return nil
	})
	if err != nil {
		stopRevList()
		return nil, err
	}
	found := map[string]*foundBlob{}
	s.namedTrees = nil
	lfs := s.newLFS(root)
	if err := s.readBlobs(ctx, cf, lfs, found, messages); err != nil {
		revList.Process.Kill()
		cf.stop()
		revList.Wait()
		return nil, err
	}
	if err := cf.wait(); err != nil {
		stopRevList()
		return nil, err
	}
	if err := revList.Wait(); err != nil {
		return nil, s.gitError("rev-list", err, revErr.Bytes())
	}
	if err := s.namedTreeFiles(ctx, root, found); err != nil {
		return nil, err
	}
	s.warnLFSMissing(lfs)
	return found, nil
}

// namedTree is a directory whose name holds a value, as a tree lists it.
type namedTree struct {
	id, path string
	owners   []mask.Owner
}

// namedTreeFiles records every file under a directory whose name holds a
// value as a find in its path, as a file so named is (see treeNames): a
// value in a directory's name was found in the working tree and the
// index, and not in the history. One `git ls-tree -r` per such directory:
// its tree may have been read before, under a name that holds none.
func (s *scanner) namedTreeFiles(ctx context.Context, root string, found map[string]*foundBlob) error {
	seen := map[string]bool{}
	for _, t := range s.namedTrees {
		if seen[t.id+"\x00"+t.path] {
			continue
		}
		seen[t.id+"\x00"+t.path] = true
		out, err := s.git(ctx, root, "ls-tree", "-r", "-z", "--full-name", t.id)
		if err != nil {
			return err
		}
		for _, entry := range bytes.Split(out, []byte{0}) {
			// "MODE TYPE ID\tPATH"
			head, name, ok := bytes.Cut(entry, []byte{'\t'})
			fields := bytes.Fields(head)
			if !ok || len(fields) != 3 || string(fields[1]) != "blob" {
				continue
			}
			addPathFind(found, string(fields[2]), path.Join(t.path, string(name)), t.owners)
		}
	}
	return nil
}

// addPathFind records the blob id as a find of owners in its path p.
func addPathFind(found map[string]*foundBlob, id, p string, owners []mask.Owner) {
	b := found[id]
	if b == nil {
		b = &foundBlob{path: p}
		found[id] = b
	}
	for _, o := range owners {
		m := match{line: 0, name: o.Name, form: string(o.Encoding) + inThePath}
		if !slices.Contains(b.matches, m) {
			b.matches = append(b.matches, m)
		}
	}
}

// readBlobs searches each blob cf returns (and the content of each Git LFS
// pointer, through lfs), recording those with a finding in found with the
// path each was fed with.
func (s *scanner) readBlobs(ctx context.Context, cf *catFile, lfs *lfsObjects, found map[string]*foundBlob, messages *[]Finding) error {
	for {
		obj, err := cf.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if obj.Type == "tree" {
			if err := s.treeNames(obj, found); err != nil {
				return fmt.Errorf("git cat-file: tree %s: %w", obj.Name, err)
			}
			continue
		}
		if obj.Type == "commit" || obj.Type == "tag" {
			if err := s.searchMessage(obj, messages); err != nil {
				return fmt.Errorf("git cat-file: %s %s: %w", obj.Type, obj.Name, err)
			}
			continue
		}
		if obj.Type != "blob" {
			continue
		}
		var b *foundBlob
		err = lfs.searchBlob(ctx, obj, func(line int, o mask.Owner) {
			if b == nil {
				b = &foundBlob{path: obj.Tag}
				found[obj.Name] = b
			}
			b.matches = append(b.matches, match{line: line, name: o.Name, form: string(o.Encoding)})
		})
		if err != nil {
			return fmt.Errorf("git cat-file: object %s: %w", obj.Name, err)
		}
	}
}

// searchMessage searches a commit or an annotated tag, and adds a finding
// for each value in it at its commit (or tag), on its line of the
// message: a token pasted into git commit -m is pushed with the history,
// and no pre-commit hook sees it. A value in the headers (an author's
// name or e-mail, set with git -c user.name=...) is on line 0, in the
// header it is in: "plain in the commit's author".
func (s *scanner) searchMessage(obj object, messages *[]Finding) error {
	body, err := io.ReadAll(obj.Body)
	if err != nil {
		return err
	}
	// keys[i] is the header of line i+1 ("author", "committer", "tagger");
	// a line that starts with a space continues the one before (a
	// signature, a merged tag).
	var keys []string
	if end := bytes.Index(body, []byte("\n\n")); end >= 0 {
		for _, l := range bytes.Split(body[:end], []byte{'\n'}) {
			key, _, _ := bytes.Cut(l, []byte{' '})
			if len(l) > 0 && l[0] == ' ' && len(keys) > 0 {
				key = []byte(keys[len(keys)-1])
			}
			keys = append(keys, string(key))
		}
		keys = append(keys, "") // the blank line
	}
	return s.search(bytes.NewReader(body), func(line int, o mask.Owner) {
		form := string(o.Encoding) + " in the " + obj.Type + " message"
		if line <= len(keys) && line >= 1 {
			form = string(o.Encoding) + " in the " + obj.Type + "'s " + keys[line-1]
		}
		*messages = append(*messages, Finding{Line: max(line-len(keys), 0), Commit: obj.Name, Name: o.Name, Form: form})
	})
}

// treeNames records, for each entry of a tree whose name holds a value,
// the entry's blob as a find in its path: every commit that put the blob
// at such a path is one (scanHistory keeps those paths only). A blob is
// listed once, at one of its paths, so names are read from the trees,
// which hold every path. Entries are "MODE NAME\0" and 20 bytes of id.
func (s *scanner) treeNames(obj object, found map[string]*foundBlob) error {
	body, err := io.ReadAll(obj.Body)
	if err != nil {
		return err
	}
	for len(body) > 0 {
		sp := bytes.IndexByte(body, ' ')
		nul := bytes.IndexByte(body, 0)
		if sp < 0 || nul < sp || len(body) < nul+21 {
			return errors.New("unreadable entry")
		}
		mode, name, id := string(body[:sp]), string(body[sp+1:nul]), hex.EncodeToString(body[nul+1:nul+21])
		body = body[nul+21:]
		if mode == "160000" {
			continue // a submodule
		}
		_, owners := maskString(s.p, name)
		if owners == nil {
			continue // a tree is read on its own
		}
		if mode == "40000" {
			// Its files are finds, wherever its tree was read.
			s.namedTrees = append(s.namedTrees, namedTree{id: id, path: path.Join(obj.Tag, name), owners: owners})
			continue
		}
		addPathFind(found, id, path.Join(obj.Tag, name), owners)
	}
	return nil
}

// inThePath ends the form of a find in a file's path, not its content.
const inThePath = " in the path"

// introductions walks the history once, parents before children, with the
// raw diff of each commit, and returns, for each blob in want, the places
// it was introduced: for each path the blob was ever at, the first commit
// whose diff puts it there. A commit is compared with its first parent (a
// root commit with nothing): a blob that a merge brings from its other
// parent was put there first by a commit on that side, which the walk
// meets earlier; a blob that only a merge resolution made appears in the
// merge's diff. One `git log` for all blobs: naming commits per blob, as
// `git log --find-object` does, walks the whole history once per blob.
//
// The options pin what a user's configuration could change: merges' diffs
// (log.diffMerges; git before 2.31 ignores it and diffs a merge against
// each parent, which finds the same places), renames (a rename is the blob
// put at a new path), signatures in the output, colour.
func (s *scanner) introductions(ctx context.Context, root string, want map[string]*foundBlob) (map[string][]place, error) {
	cmd := s.command(ctx, root,
		"-c", "log.diffMerges=first-parent", "-c", "log.showSignature=false",
		"log", "--all", "--topo-order", "--reverse", "-m", "--root", "--raw", "--no-abbrev",
		"--no-renames", "--no-color", "--no-ext-diff", "--format=%H", "-z")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("git log: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("git log: %w", err)
	}
	intro, err := readIntroductions(bufio.NewReaderSize(stdout, 64<<10), want)
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, err
	}
	if err := cmd.Wait(); err != nil {
		return nil, s.gitError("log", err, stderr.Bytes())
	}
	return intro, nil
}

// readIntroductions parses the output of introductions' git log: NUL
// separated, each commit's name, then for each changed path a raw diff
// line (":mode mode object object status", after a newline for the first)
// and the path.
func readIntroductions(r *bufio.Reader, want map[string]*foundBlob) (map[string][]place, error) {
	intro := map[string][]place{}
	seen := map[[2]string]bool{}
	commit := ""
	var raw []byte
	for {
		tok, err := r.ReadSlice(0)
		if err == io.EOF && len(tok) == 0 {
			return intro, nil
		}
		if err != nil {
			return nil, fmt.Errorf("git log: read: %w", err)
		}
		tok = bytes.TrimPrefix(tok[:len(tok)-1], []byte("\n"))
		switch {
		case raw != nil:
			// The path of the raw line before. The object after the
			// modes is the new one (the last, in a combined diff).
			f := bytes.Fields(bytes.TrimLeft(raw, ":"))
			raw = nil
			if len(f) < 5 {
				return nil, fmt.Errorf("git log: unexpected raw diff line in %s", commit)
			}
			blob := string(f[len(f)-2])
			if want[blob] == nil {
				continue
			}
			key := [2]string{blob, string(tok)}
			if !seen[key] {
				seen[key] = true
				intro[blob] = append(intro[blob], place{commit: commit, path: key[1]})
			}
		case len(tok) > 0 && tok[0] == ':':
			raw = bytes.Clone(tok)
		case len(tok) > 0:
			commit = string(tok)
		}
	}
}
