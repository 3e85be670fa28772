package launcher

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/internal/atomicfile"
	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/manifest"
)

func initCommand(stdio IO) *cli.Command {
	return &cli.Command{
		Name:  "init",
		Usage: "write a starter manifest and keep .env out of git",
		Description: `Writes a starter manifest (commented examples of every reference scheme, a
template and a profile) with a yaml-language-server modeline pointing at ward's JSON
Schema, and adds .env to .gitignore (creating it if needed).

Example:
   ward init
   ward import .env        # then move an existing .env file in`,
		Flags:  []cli.Flag{manifestFlag(), forceFlag("replace an existing manifest")},
		Action: func(c *cli.Context) error { return cmdInit(c, stdio) },
	}
}

func cmdInit(c *cli.Context, stdio IO) error {
	if c.NArg() > 0 {
		return failure.New(fmt.Errorf("want no arguments, got %d", c.NArg()), "name the manifest with -m FILE")
	}
	path := c.String("manifest")
	switch path {
	case "":
		return emptyManifest("init")
	case "-":
		_, err := stdinManifest(c)
		return err
	}
	if err := directoryManifest(path); err != nil {
		return err
	}
	// A device or a named pipe (itself, or where its link leads: a cloned
	// repository's ward.yaml -> /dev/null) is no manifest to replace:
	// --force made /dev/null a file of the starter's.
	if err := specialManifest(path); err != nil {
		return err
	}
	exists := func() error {
		if _, err := os.Stat(path); err == nil && !c.Bool("force") {
			return failure.New(fmt.Errorf("%s already exists; nothing was written", path), "run again with --force to replace it, or add to it with ward import")
		}
		return nil
	}
	if err := exists(); err != nil {
		return err
	}
	wd, err := workingDir("")
	if err != nil {
		return err
	}
	app := appName(filepath.Base(wd))
	if app == "" {
		app = "myapp"
	}
	text := manifest.Starter(app, false)
	if _, err := manifest.Parse(path, []byte(text)); err != nil {
		return failure.New(fmt.Errorf("the starter manifest does not validate: %w", err), "")
	}
	target, err := linkedManifest(path)
	if err != nil {
		return err
	}
	// Beside an import into the same manifest, in turn (see cmdImport).
	release, err := lockManifestDir(target, stdio.Stderr)
	if err != nil {
		return err
	}
	written := false
	defer func() { release(!written) }()
	// Again under the lock: an import that made the manifest meanwhile
	// (one in a script beside this init) lost its variables to the
	// starter, both saying they had written it.
	if err := exists(); err != nil {
		return err
	}
	if err := atomicfile.WriteFile(target, []byte(text), atomicfile.Masked(0o664), true); err != nil {
		return failure.New(fmt.Errorf("write %s: %w", path, err), "")
	}
	written = true
	if st, err := os.Lstat(path); err == nil && st.Mode()&fs.ModeSymlink != 0 {
		// Through a symbolic link: the file replaced is named (a cloned
		// repository's ward.yaml -> ../notes.txt under --force).
		fmt.Fprintf(stdio.Stdout, "wrote %s, where the symbolic link %s leads\n", manifest.QuotePath(target), manifest.QuotePath(path))
	} else {
		fmt.Fprintf(stdio.Stdout, "wrote %s\n", manifest.QuotePath(path))
	}
	warnHidden(stdio, path)
	added, err := ignoreDotenv(".gitignore")
	var special *specialIgnore
	if errors.As(err, &special) || errors.Is(err, errDotenvUnignored) || errors.Is(err, errDotenvTracked) {
		fmt.Fprintf(stdio.Stderr, "ward: warning: %s\n", err)
	} else if err != nil {
		// The manifest is in place (and a --force has replaced the old
		// one): said, with the way on. The same command again said only
		// that it "already exists", and .env stayed unignored.
		return failure.New(fmt.Errorf("update .gitignore: %w", err),
			fmt.Sprintf("%s is written; .env is not in .gitignore yet: add a line .env to it (or to .git/info/exclude) yourself, or fix the cause and run ward init%s --force", manifest.QuotePath(path), manifestWords(path)))
	}
	if added {
		fmt.Fprintln(stdio.Stdout, "added .env to .gitignore")
	}
	// With -m, each command names the manifest too: without it ward
	// import wrote a second ward.yaml here, and ward check and ward run
	// read another manifest, or none.
	m := manifestWords(path)
	fmt.Fprintf(stdio.Stdout, "next: ward import%s .env (if you have one), ward check%s, ward run%s -- YOUR_PROGRAM\n", m, m, m)
	return nil
}

// errDotenvUnignored: .gitignore has a .env line, and git does not ignore
// .env all the same.
var errDotenvUnignored = errors.New(".gitignore has a .env line, but git does not ignore .env (a !.env after it, or another rule, takes it back): a .env that holds secrets would be committed; ward added nothing (git check-ignore -v --no-index .env says which line decides)")

// errDotenvTracked: .env is committed, and no .gitignore line applies to
// a file git tracks.
var errDotenvTracked = errors.New(".env is tracked by git (it was committed): a .gitignore line does not apply to a file git tracks, and the next commit of it would publish what it holds; stop tracking it with git rm --cached .env, and treat what it held as leaked (see the README's \"Dealing with a leaked secret\")")

// ignoreDotenv adds a .env line to the .gitignore file at path unless a
// line there, or in a .gitignore git reads above it, already ignores
// .env; it reports whether it added one. A .env that only the user's own
// rules ignore (.git/info/exclude, core.excludesFile) gets the line: a
// teammate's clone has neither. A .env git tracks is warned of
// (errDotenvTracked), the line added if it was not there.
func ignoreDotenv(path string) (bool, error) {
	st, err := os.Lstat(path)
	if err == nil && !st.Mode().IsRegular() && st.Mode()&fs.ModeSymlink == 0 {
		// A named pipe: git would wait on it too.
		return false, &specialIgnore{path, st}
	}
	dotenv := filepath.Join(filepath.Dir(path), ".env")
	tracked := gitOn(dotenv, nil, "ls-files", "--error-unmatch") == 0
	// A repository whose .gitignore above ignores .env already (a service
	// directory of a monorepo) needs no file of its own here.
	state, shared := ignoreUnknown, false
	if !tracked {
		state, shared = gitIgnoredBy(dotenv)
	}
	if state == ignoreYes && shared {
		return false, nil
	}
	var warning error
	if tracked {
		warning = errDotenvTracked
	}
	// A .gitignore that is a symbolic link (a cloned repository's,
	// .gitignore -> ../../.ssh/id_ed25519) is not read through: its
	// target's bytes went into a .gitignore file of the repository's,
	// for the next commit to publish. Git reads no such link either.
	if err == nil && !st.Mode().IsRegular() {
		return false, &specialIgnore{path, st}
	}
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	for _, line := range strings.Split(string(old), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, "!") {
			continue
		}
		pattern := strings.TrimPrefix(line, "**/")
		pattern = strings.TrimPrefix(pattern, "/")
		if ok, _ := filepath.Match(pattern, ".env"); ok {
			if tracked {
				return false, errDotenvTracked
			}
			if state == ignoreNo {
				// A later !.env (or a rule of git's elsewhere) takes it
				// back: another .env line would too, or be the team's
				// choice undone. Said, not mended.
				return false, errDotenvUnignored
			}
			return false, nil
		}
	}
	var b bytes.Buffer
	b.Write(old)
	if len(old) > 0 && old[len(old)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.WriteString(".env\n")
	if err := atomicfile.WriteFile(path, b.Bytes(), atomicfile.Masked(0o664), true); err != nil {
		return false, err
	}
	return true, warning
}

// gitIgnoredBy is whether git ignores file, and whether a .gitignore
// file does (which a clone has too), not the user's own rules alone
// (.git/info/exclude, core.excludesFile).
func gitIgnoredBy(file string) (state ignoreState, shared bool) {
	var out strings.Builder
	switch gitOn(file, &out, "-c", "core.quotePath=false", "check-ignore", "-v") {
	case 0:
		// SOURCE:LINE:PATTERN<TAB>PATH (a path not quoted for its
		// letters: "\303\244/.gitignore" is no .gitignore by its
		// name), a negation's too (!.env), which -v prints, exiting 0.
		// A .gitignore of the work tree is named relative to it, the
		// user's own files (core.excludesFile, be it ~/.gitignore,
		// .git/info/exclude) otherwise.
		source, rest, _ := strings.Cut(out.String(), ":")
		_, pattern, _ := strings.Cut(rest, ":")
		if strings.HasPrefix(pattern, "!") {
			return ignoreNo, false
		}
		return ignoreYes, filepath.Base(source) == ".gitignore" && !filepath.IsAbs(source) && !strings.HasPrefix(source, "~")
	case 1:
		return ignoreNo, false
	}
	return ignoreUnknown, false
}

// specialIgnore is a .gitignore ward init leaves alone: a symbolic link,
// which git does not read (since 2.32), or no file at all.
type specialIgnore struct {
	path string
	st   fs.FileInfo
}

func (e *specialIgnore) Error() string {
	what := notAFile(e.path, e.st)
	if target, err := os.Readlink(e.path); err == nil {
		what = "it is a symbolic link to " + manifest.QuotePath(target) + ", which git does not read"
	}
	return fmt.Sprintf("%s was left as it is, and .env was not added to it: %s; make it a file of its own with a line .env, or add .env to .git/info/exclude", manifest.QuotePath(e.path), what)
}

// linkedManifest is where a manifest that init or import writes at path
// goes: path, or where it leads when it is a symbolic link (one that
// several services share is edited through it, as the local store's file
// is), a file there to be made if need be. A link into a folder that is
// not there is an error naming it: replacing the link with a file left
// the shared manifest as it was, and said nothing.
//
// A link of another user's (not yours, not root's) is not written
// through: in a folder others may write (/tmp, a shared checkout), it
// would have ward make or replace a file wherever they chose. Folders
// are followed as the kernel follows them (see kernelDir): the place
// returned is where the write really goes, and its folder the one the
// edit locks, however the path or a link's text names it.
func linkedManifest(path string) (string, error) {
	for range 40 {
		dir, name := splitPath(path)
		at := filepath.Join(kernelDir(dir), name)
		st, err := os.Lstat(at)
		if err != nil || st.Mode()&fs.ModeSymlink == 0 {
			if filepath.Dir(at) == filepath.Dir(filepath.Clean(path)) {
				return filepath.Clean(path), nil
			}
			return at, nil
		}
		if s, ok := st.Sys().(*syscall.Stat_t); ok && s.Uid != 0 && int(s.Uid) != os.Geteuid() {
			return "", failure.New(fmt.Errorf("%s is a symbolic link of uid %d, another user's: ward writes a manifest through a link only when it is yours or root's", manifest.QuotePath(path), s.Uid),
				"remove the link (or ask its owner to) and run the command again, or name a manifest of your own with -m")
		}
		to, err := os.Readlink(at)
		if err != nil {
			return "", failure.New(err, "")
		}
		text := to
		if !filepath.IsAbs(to) {
			// Not filepath.Join, which takes "sub/.." away as text
			// where sub is a link the kernel follows first.
			to = filepath.Dir(at) + string(filepath.Separator) + to
		}
		if tdir, _ := splitPath(to); !isDir(tdir) {
			_, err := os.Stat(tdir)
			if err == nil {
				err = errors.New("not a folder")
			}
			return "", failure.New(fmt.Errorf("%s is a symbolic link to %s, in a folder that cannot be reached: %w", manifest.QuotePath(path), manifest.QuotePath(text), err), "create the folder it leads to, or remove the link to write a file of its own")
		}
		path = to
	}
	return "", failure.New(fmt.Errorf("%s: too many levels of symbolic links", manifest.QuotePath(path)), "")
}

// splitPath splits path into its folder and its last element as written,
// with no cleaning: "sub/../x" is "sub/.." and "x".
func splitPath(path string) (dir, name string) {
	i := strings.LastIndexByte(path, filepath.Separator)
	switch {
	case i < 0:
		return ".", path
	case i == 0:
		return string(filepath.Separator), path[1:]
	}
	return path[:i], path[i+1:]
}

// kernelDir is folder dir as the kernel reaches it: its links followed,
// and a ".." after one taken from where that leads (filepath.Clean
// takes "link/.." away as text, and ward wrote beside another folder
// than the one the link meant, or locked another than the write's). A
// part not made yet is kept as written, for the write to make.
func kernelDir(dir string) string {
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		return real
	}
	parent, last := splitPath(dir)
	if parent == dir {
		return dir
	}
	return filepath.Join(kernelDir(parent), last)
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}
