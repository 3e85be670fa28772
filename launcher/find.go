package launcher

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/wardsecrets/ward/internal/filekind"
	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/manifest"
)

// findManifest looks for the manifest called name in dir, then in each
// parent up to the repository's top (the directory holding .git) or, out
// of a repository, the filesystem's root, as git, direnv and dotenvx look
// for theirs. It returns the path relative to dir when it can (so
// messages read ../ward.yaml), or an error saying where it looked.
func findManifest(dir, name string) (string, error) {
	if filepath.IsAbs(name) || filepath.Base(name) != name {
		// A path is a file, not a name to look for.
		return name, nil
	}
	// The shell's $PWD, which os.Getwd returns, may lead through a
	// symlink (~/api -> ~/src/monorepo/services/api): its parents are not
	// the project's, and a path relative to it is opened from the real
	// directory. Search where the directory really is, as git does.
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	for d := dir; ; {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			if owner := foreignOwner(p, st); owner >= 0 && (d != dir || othersMayWrite(d)) {
				where := "in a parent directory"
				if d == dir {
					where = "in this directory, which others may write"
				}
				return "", failure.New(fmt.Errorf("%s, %s, belongs to uid %d: ward does not take another user's manifest from a parent directory, or from one others may write (/tmp), where anyone who may write there could have put it", manifest.QuotePath(p), where, owner), "name it with -m if you trust it, or create one here with `ward init`")
			}
			if !st.Mode().IsRegular() {
				return "", failure.New(fmt.Errorf("%s is not a manifest ward can read: %s", manifest.QuotePath(p), notAFile(p, st)), "fix or remove it, or name the manifest with -m")
			}
			if rel, err := filepath.Rel(dir, p); err == nil {
				return rel, nil
			}
			return p, nil
		} else if exists(p) {
			// There, but not a file ward can read (a dangling symlink, a
			// loop, a directory): looking further up would run the
			// program with another project's manifest and secrets.
			why := "it is a directory"
			if err != nil {
				why = err.Error()
			}
			return "", failure.New(fmt.Errorf("%s is not a manifest ward can read: %s", manifest.QuotePath(p), why), "fix or remove it, or name the manifest with -m")
		}
		top := ""
		if exists(filepath.Join(d, ".git")) {
			top = " (the repository's top)"
		}
		parent := filepath.Dir(d)
		if top != "" || parent == d {
			where := fmt.Sprintf("%s or its parents up to %s%s", manifest.QuotePath(dir), manifest.QuotePath(d), top)
			if d == dir {
				where = manifest.QuotePath(dir) + top
			}
			return "", failure.New(fmt.Errorf("no %s in %s", name, where), "create one with `ward init`, or name another with -m")
		}
		d = parent
	}
}

// notAFile says what p, found where a manifest was looked for, is
// instead of a file: a named pipe, a device or a socket, itself or where
// its symbolic link leads (a cloned repository's ward.yaml -> /dev/tty).
// Opening it would wait for a writer, or read the terminal: ward check,
// ward run and a shell's completion of `ward run -p` hung there, taking
// what the user typed for the manifest.
func notAFile(p string, st os.FileInfo) string {
	what := filekind.Of(st)
	if target, err := os.Readlink(p); err == nil {
		return fmt.Sprintf("it is a symbolic link to %s, %s, not a file", manifest.QuotePath(target), what)
	}
	return fmt.Sprintf("it is %s, not a file", what)
}

// workingDir is os.Getwd, with a reason a user can act on when the
// directory is gone: a shell left in a build directory that the build
// removed and made again, or a branch checked out without it. It said
// "getwd: no such file or directory". other is the hint for any other
// failure.
func workingDir(other string) (string, error) {
	wd, err := os.Getwd()
	if errors.Is(err, fs.ErrNotExist) {
		hint := `cd into it again if it was made again (cd "$PWD"), or to another directory`
		if other != "" {
			hint += "; or " + other
		}
		return "", failure.New(errors.New("the current directory no longer exists: it was removed since the shell entered it"), hint)
	}
	if err != nil {
		return "", failure.New(fmt.Errorf("find the current directory: %w", err), other)
	}
	return wd, nil
}

// foreignOwner returns the uid of the user other than ward's own and root
// who owns the file st describes or the link at p, -1 if none does.
func foreignOwner(p string, st os.FileInfo) int {
	foreign := func(st os.FileInfo) int {
		if s, ok := st.Sys().(*syscall.Stat_t); ok && s.Uid != 0 && int(s.Uid) != os.Geteuid() {
			return int(s.Uid)
		}
		return -1
	}
	if owner := foreign(st); owner >= 0 {
		return owner
	}
	if lst, err := os.Lstat(p); err == nil {
		return foreign(lst)
	}
	return -1
}

// othersMayWrite reports whether users other than dir's owner may create
// files in it (/tmp, a group's shared directory).
func othersMayWrite(dir string) bool {
	st, err := os.Stat(dir)
	return err != nil || st.Mode().Perm()&0o022 != 0
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil || !errors.Is(err, os.ErrNotExist)
}

// warnHidden warns when file, a manifest just created, hides another from
// ward run in its directory (a ward.yaml started in a subdirectory of a
// project that has one above), and says how to add to that one instead.
func warnHidden(stdio IO, file string) {
	if filepath.Base(file) != defaultManifest {
		return
	}
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return
	}
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		dir = real
	}
	parent := filepath.Dir(dir)
	if exists(filepath.Join(dir, ".git")) || parent == dir {
		// The repository's top, or the root: no project above.
		return
	}
	found, err := findManifest(parent, defaultManifest)
	if err != nil {
		return
	}
	other := filepath.Join(parent, found)
	if wd, err := os.Getwd(); err == nil {
		if real, err := filepath.EvalSymlinks(wd); err == nil {
			wd = real
		}
		if rel, err := filepath.Rel(wd, other); err == nil {
			other = rel
		}
	}
	where := "this directory"
	if d := filepath.Dir(file); d != "." {
		where = d
	}
	fmt.Fprintf(stdio.Stderr, "ward: warning: ward run in %s now reads this new %s, not %s\n", where, defaultManifest, other)
	fmt.Fprintf(stdio.Stderr, "ward: hint: to add to that one instead: ward import -m %s\n", other)
}
