package scan

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wardsecrets/ward/launcher/mask"
)

// stagedFile is an index entry to search: its blob and how to report it.
type stagedFile struct{ blob, report string }

// scanStaged searches what is staged: the blobs the index names, read
// through git cat-file, not the files in the work tree, so the search sees
// exactly what the next commit will hold (a pre-commit hook's question).
// git honours GIT_INDEX_FILE, which git commit sets for its hooks.
func (s *scanner) scanStaged(ctx context.Context) ([]Finding, error) {
	// A link is staged as a link: the commit holds no more.
	ts, err := s.targets(true, false)
	if err != nil {
		return nil, err
	}
	var findings []Finding
	for _, g := range groupTargets(ts) {
		if !s.inWorkTree(ctx, g.dir) {
			if err := s.refused[g.dir]; err != nil {
				return nil, fmt.Errorf("scan %s: staged files: %w", s.masked(g.targets[0].arg), err)
			}
			return nil, fmt.Errorf("scan %s: staged files: not in a git work tree", s.masked(g.targets[0].arg))
		}
		files, err := s.stagedFiles(ctx, g)
		if err != nil {
			return nil, err
		}
		// A name the commit will hold is in every clone, as its content is.
		for _, f := range files {
			findings = append(findings, nameFindings(s.p, f.report)...)
		}
		found, err := s.searchBlobs(ctx, g.dir, files)
		if err != nil {
			return nil, err
		}
		findings = append(findings, found...)
	}
	return findings, nil
}

// stagedFiles lists a group's index entries that are files or symbolic
// links (whose blob is where the link leads), not submodules. A target that does not exist in the work tree must name
// one.
func (s *scanner) stagedFiles(ctx context.Context, g *group) ([]stagedFile, error) {
	args := append([]string{"ls-files", "-s", "-z", "--"}, g.specs()...)
	out, err := s.git(ctx, g.dir, args...)
	if err != nil {
		return nil, err
	}
	var files []stagedFile
	var paths []string
	for _, entry := range strings.Split(string(out), "\x00") {
		// "<mode> <object> <stage>\t<path>"
		info, name, ok := strings.Cut(entry, "\t")
		f := strings.Fields(info)
		if !ok || len(f) != 3 {
			continue
		}
		path := filepath.Join(g.dir, name)
		paths = append(paths, path)
		report := s.report(s.absolute(path), g.abs)
		switch f[0] {
		case "100644", "100755", "120000":
			// A link's blob is where it leads, which the commit holds.
			files = append(files, stagedFile{blob: f[1], report: report})
		}
	}
	for _, t := range g.targets {
		if t.missing && !slices.ContainsFunc(paths, func(p string) bool { return isUnder(p, t.path) }) {
			return nil, fmt.Errorf("scan %s: %w", s.masked(t.arg), fs.ErrNotExist)
		}
	}
	return files, nil
}

// isUnder reports whether path is dir or a path inside it.
func isUnder(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+string(filepath.Separator))
}

// searchBlobs reads each distinct blob of files once through one git
// cat-file in dir and reports its findings at every file that has it.
func (s *scanner) searchBlobs(ctx context.Context, dir string, files []stagedFile) ([]Finding, error) {
	if len(files) == 0 {
		return nil, nil
	}
	reports := map[string][]string{}
	var blobs []string
	for _, f := range files {
		if reports[f.blob] == nil {
			blobs = append(blobs, f.blob)
		}
		reports[f.blob] = append(reports[f.blob], f.report)
	}
	cf, err := s.startCatFile(ctx, dir, func(w *bufio.Writer) error {
		for _, b := range blobs {
			w.WriteString(b)
			if err := w.WriteByte('\n'); err != nil {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var findings []Finding
	lfs := s.newLFS(dir)
	readErr := func() error {
		for {
			obj, err := cf.next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			err = lfs.searchBlob(ctx, obj, func(line int, o mask.Owner) {
				for _, r := range reports[obj.Name] {
					findings = append(findings, Finding{Path: r, Line: line, Name: o.Name, Form: string(o.Encoding)})
				}
			})
			if err != nil {
				return fmt.Errorf("git cat-file: object %s: %w", obj.Name, err)
			}
		}
	}()
	if readErr != nil {
		cf.stop()
		return nil, readErr
	}
	if err := cf.wait(); err != nil {
		return nil, err
	}
	s.warnLFSMissing(lfs)
	return findings, nil
}
