package launcher

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wardsecrets/ward/launcher/failure"
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
			return "", failure.New(fmt.Errorf("%s is not a manifest ward can read: %s", p, why), "fix or remove it, or name the manifest with -m")
		}
		top := ""
		if exists(filepath.Join(d, ".git")) {
			top = " (the repository's top)"
		}
		parent := filepath.Dir(d)
		if top != "" || parent == d {
			where := fmt.Sprintf("%s or its parents up to %s%s", dir, d, top)
			if d == dir {
				where = dir + top
			}
			return "", failure.New(fmt.Errorf("no %s in %s", name, where), "create one with `ward init`, or name another with -m")
		}
		d = parent
	}
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
