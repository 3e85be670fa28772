package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// target is one of Options.Paths.
type target struct {
	arg  string // as given
	path string // to open: arg if absolute, else joined to Dir
	abs  bool   // arg is absolute
	// dir is where git looks at the target from (the target if it is a
	// directory, else the one holding it) and spec names the target from
	// there.
	dir, spec string
	missing   bool // the target does not exist (allowed when Staged)
}

// file is a file to search: the path to open and the path to report.
type file struct {
	path, report string
	// link: the file is a symbolic link, searched as the text it holds
	// (where it leads), which is what git commits of it.
	link bool
	// named: the file was named on the command line.
	named bool
}

// targets resolves Options.Paths. A path that names nothing is an error
// (git ls-files takes it as matching nothing, and a mistyped path must not
// pass for a clean one), unless allowMissing, for a file deleted from the
// work tree but still staged; its directory must exist. With follow, a
// path that is a symbolic link is taken for what it leads to, and one
// that leads nowhere (dangling, a loop) for the link, searched as its
// text, as git commits it and as the walk of its directory finds it (it
// was an error, 125, and the token the link's text held passed a hook
// that names the staged files). A path that is no file to read (a named
// pipe, a device, as itself or where its link leads) is said to be left
// out (Warn).
func (s *scanner) targets(allowMissing, follow bool) ([]target, error) {
	var ts []target
	for _, arg := range s.opts.Paths {
		t := target{arg: arg, path: arg, abs: filepath.IsAbs(arg)}
		if !t.abs {
			t.path = filepath.Join(s.opts.Dir, arg)
		}
		fi, err := os.Lstat(t.path)
		if err == nil && follow && fi.Mode()&fs.ModeSymlink != 0 {
			switch to, serr := os.Stat(t.path); {
			case serr == nil:
				fi = to
			case errors.Is(serr, fs.ErrPermission):
				// Where it leads may not be read: said, as of a file
				// named that may not be read (it passed, its link's
				// text searched, saying nothing).
				if !s.skipUnreadable(arg, serr) {
					return nil, fmt.Errorf("scan %s: %w", s.masked(arg), unwrapPathError(serr))
				}
				continue
			}
		}
		if err == nil && !fi.IsDir() && !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0 && s.opts.Warn != nil {
			s.opts.Warn("not searched: it is no file to read (a named pipe, a device or a socket)", "path", s.masked(arg))
		}
		switch {
		case err == nil && fi.IsDir():
			t.dir, t.spec = t.path, "."
		case err == nil || allowMissing && errors.Is(err, fs.ErrNotExist):
			t.dir, t.spec = filepath.Dir(t.path), filepath.Base(t.path)
			t.missing = err != nil
			if t.missing {
				if _, derr := os.Stat(t.dir); derr != nil {
					return nil, fmt.Errorf("scan %s: %w", s.masked(arg), unwrapPathError(err))
				}
			}
		default:
			return nil, fmt.Errorf("scan %s: %w", s.masked(arg), unwrapPathError(err))
		}
		s.hoist(&t)
		ts = append(ts, t)
	}
	return ts, nil
}

// hoist has git look at t from Dir when t is in Dir's work tree (no .git
// and no symbolic link on the way down to it), so that such targets make
// one group and one git call: the pre-commit framework and lefthook name
// each staged file, and a few processes for each directory took seconds
// for a commit across a thousand. A .git on the way is a submodule or a
// nested repository, which git lists only from inside; git refuses a
// pathspec beyond a link.
func (s *scanner) hoist(t *target) {
	dir := s.absolute(t.dir)
	rel, err := filepath.Rel(s.absDir, dir)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return
	}
	for d := dir; d != s.absDir; d = filepath.Dir(d) {
		if fi, err := os.Lstat(d); err != nil || fi.Mode()&fs.ModeSymlink != 0 {
			return
		}
		if _, err := os.Lstat(filepath.Join(d, ".git")); err == nil {
			return
		}
	}
	t.dir, t.spec = s.opts.Dir, filepath.Join(rel, t.spec)
}

// group is the targets git lists from one directory in one call.
type group struct {
	dir     string
	abs     bool
	targets []target
}

// groupTargets groups targets by the directory git runs in and by whether
// they were given as absolute paths (which decides how files are
// reported), keeping their order.
func groupTargets(ts []target) []*group {
	type key struct {
		dir string
		abs bool
	}
	var groups []*group
	index := map[key]*group{}
	for _, t := range ts {
		k := key{t.dir, t.abs}
		g := index[k]
		if g == nil {
			g = &group{dir: t.dir, abs: t.abs}
			index[k] = g
			groups = append(groups, g)
		}
		g.targets = append(g.targets, t)
	}
	return groups
}

// hasDir reports whether one of g's targets is a directory, whose files
// .gitignore would filter.
func (g *group) hasDir() bool {
	for _, t := range g.targets {
		if fi, err := os.Stat(t.path); err == nil && fi.IsDir() {
			return true
		}
	}
	return false
}

func (g *group) specs() []string {
	specs := make([]string, len(g.targets))
	for i, t := range g.targets {
		specs[i] = t.spec
	}
	return specs
}

// listFiles returns the regular files to search in the working tree, each
// once. A target inside a git work tree (whichever: it need not be Dir's)
// gives its tracked files and the untracked ones .gitignore does not
// exclude; with NoIgnore, or outside a work tree, every regular file under
// it.
func (s *scanner) listFiles(ctx context.Context) ([]file, error) {
	// A link named on the command line (`ward scan .env`, where .env
	// links to the developer's own file) is searched where it leads, as
	// ripgrep searches it; passing it over said the file held nothing.
	ts, err := s.targets(false, true)
	if err != nil {
		return nil, err
	}
	var files []file
	seen := map[string]int{}
	add := func(path string, abs, link bool) {
		key := s.absolute(path)
		if i, ok := seen[key]; ok {
			// A link named on the command line is searched as what it
			// leads to, as the user asked.
			files[i].link = files[i].link && link
			return
		}
		seen[key] = len(files)
		files = append(files, file{path: path, report: s.report(key, abs), link: link})
	}
	for _, g := range groupTargets(ts) {
		if !s.opts.NoIgnore && s.inWorkTree(ctx, g.dir) {
			if err := s.gitFiles(ctx, g, false, add); err != nil {
				return nil, err
			}
			ignored, err := s.ignoredDirs(ctx, g)
			if err != nil {
				return nil, err
			}
			if ignored != nil {
				if err := s.gitFiles(ctx, ignored, true, add); err != nil {
					return nil, err
				}
			}
			// A file named on the command line is searched even when
			// .gitignore excludes it, as ripgrep searches one: the user
			// asked for it, and `ward scan .env` passing in silence would
			// say the file holds no secret.
			for _, t := range g.targets {
				if fi, err := os.Stat(t.path); err == nil && t.spec != "." && fi.Mode().IsRegular() {
					add(t.path, g.abs, false)
				}
			}
			continue
		}
		if err := s.refused[g.dir]; err != nil && !s.opts.NoIgnore && s.opts.Warn != nil && g.hasDir() {
			// The files are still there to search; what git would have
			// left out is not known. (A file named on the command line
			// is searched either way.)
			s.opts.Warn("git cannot list the repository's files, so every file is searched, .gitignore or not", "dir", s.masked(s.report(s.absolute(g.dir), g.abs)), "error", err.Error())
		}
		for _, t := range g.targets {
			if err := s.walk(t.path, g.abs, func(path string, link bool) { add(path, g.abs, link) }); err != nil {
				return nil, err
			}
		}
	}
	// Files named on the command line, however they were listed.
	for _, t := range ts {
		if fi, err := os.Stat(t.path); err == nil && fi.Mode().IsRegular() {
			if i, ok := seen[s.absolute(t.path)]; ok {
				files[i].named = true
			}
		}
	}
	return files, nil
}

// ignoredDirs returns the directories named on the command line that
// .gitignore excludes (`ward scan build`, with build/ ignored), as a
// group whose files are all searched, as a file named there is and as
// ripgrep searches a directory named to it; nil if there are none. The
// scan listed none of their files and passed in silence, where `ward
// scan build/out.log` found the secret.
func (s *scanner) ignoredDirs(ctx context.Context, g *group) (*group, error) {
	var dirs []target
	for _, t := range g.targets {
		if fi, err := os.Stat(t.path); err == nil && fi.IsDir() {
			dirs = append(dirs, t)
		}
	}
	if len(dirs) == 0 {
		return nil, nil
	}
	specs := make([]string, len(dirs))
	for i, t := range dirs {
		specs[i] = t.spec
	}
	cmd := s.command(ctx, g.dir, "check-ignore", "-z", "--stdin")
	// check-ignore takes paths, and refuses the pathspec magic.
	cmd.Args = slices.DeleteFunc(cmd.Args, func(a string) bool { return a == "--literal-pathspecs" })
	cmd.Stdin = strings.NewReader(strings.Join(specs, "\x00") + "\x00")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		// None is ignored.
		return nil, nil
	case err != nil:
		return nil, s.gitError("check-ignore", err, stderr.Bytes())
	}
	ignored := &group{dir: g.dir, abs: g.abs}
	for _, spec := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		if i := slices.Index(specs, spec); i >= 0 {
			ignored.targets = append(ignored.targets, dirs[i])
		}
	}
	if len(ignored.targets) == 0 {
		return nil, nil
	}
	return ignored, nil
}

// gitFiles lists a group's tracked files and its untracked ones not
// ignored (all of them with all set), and those of each submodule or
// repository nested in it.
func (s *scanner) gitFiles(ctx context.Context, g *group, all bool, add func(path string, abs, link bool)) error {
	args := []string{"ls-files", "-z", "--cached", "--others", "--exclude-standard", "--"}
	if all {
		args = slices.Delete(args, 4, 5)
	}
	args = append(args, g.specs()...)
	out, err := s.git(ctx, g.dir, args...)
	if err != nil {
		return err
	}
	for _, name := range strings.Split(string(out), "\x00") {
		if name == "" {
			continue
		}
		path := filepath.Join(g.dir, name)
		fi, err := os.Lstat(path)
		if err == nil && fi.IsDir() {
			// A submodule (a private config repository) or a repository
			// nested in the work tree, listed as "nested/": git lists
			// its files only from inside it, and they are in the work
			// tree as much as the rest. One not checked out has no .git.
			if _, err := os.Lstat(filepath.Join(path, ".git")); err == nil && s.inWorkTree(ctx, path) {
				sub := &group{dir: path, abs: g.abs, targets: []target{{path: path, dir: path, spec: "."}}}
				if err := s.gitFiles(ctx, sub, all, add); err != nil {
					return err
				}
			}
			continue
		}
		if err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			// Committed as where it leads: `ln -s /opt/TOKEN link` puts
			// the token in the commit, and a link in a directory named
			// after one its name.
			add(path, g.abs, true)
			continue
		}
		if err != nil || !fi.Mode().IsRegular() {
			// Deleted from the work tree but still tracked: nothing to
			// read here.
			continue
		}
		// A conflicted file is listed once per stage; add keeps one.
		add(path, g.abs, false)
	}
	return nil
}

// walk calls found with every regular file and symbolic link under root
// (link set: it is searched as the text it holds, not followed), or root
// itself if it is a file (abs: root was given as an absolute path, for
// reports). Directories named .git and other files are left out.
func (s *scanner) walk(root string, abs bool, found func(path string, link bool)) error {
	if fi, err := os.Lstat(root); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// A root that is a link (targets took it for what it leads to):
		// WalkDir reads a root as Lstat does, so give it the link's
		// target, and report the files under the name given.
		target, err := filepath.EvalSymlinks(root)
		if err != nil {
			// Leading nowhere (dangling, a loop): the link itself,
			// searched as its text (see targets).
			found(root, true)
			return nil
		}
		return s.walk(target, abs, func(path string, link bool) {
			rel, _ := filepath.Rel(target, path)
			found(filepath.Join(root, rel), link)
		})
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			report := s.report(s.absolute(path), abs)
			if s.skipUnreadable(report, err) {
				if d != nil && d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			return fmt.Errorf("walk %s: %w", s.masked(report), unwrapPathError(err))
		}
		if d.IsDir() && d.Name() == ".git" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() || d.Type()&fs.ModeSymlink != 0 {
			found(path, !d.Type().IsRegular())
		}
		return nil
	})
}

// absolute returns path made absolute against the current directory.
func (s *scanner) absolute(path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(s.cwd, path)
}

// report returns how to report the file at absolute path abs: relative to
// Dir when it is under Dir or was named by a relative path ("../x"), else
// absolute. Slashes, whatever the system.
func (s *scanner) report(abs string, absArg bool) string {
	rel, err := filepath.Rel(s.absDir, abs)
	if err != nil || absArg && (rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator))) {
		return filepath.ToSlash(abs)
	}
	return filepath.ToSlash(rel)
}
