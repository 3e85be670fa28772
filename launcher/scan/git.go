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
	"strings"
	"syscall"

	"github.com/wardsecrets/ward/internal/syshint"
	"github.com/wardsecrets/ward/launcher/mask"
	"github.com/wardsecrets/ward/signals"
)

// gitEnv returns the environment that keeps a GIT_DIR in ward's own
// environment naming the same repository and work tree for git run in
// any directory, or nil when GIT_DIR is not set. git sets GIT_DIR for a
// hook in a linked worktree (and git --git-dir=... passes it on), and
// with GIT_DIR set and no GIT_WORK_TREE, git takes its current directory
// for the top of the work tree: git -C sub/dir would read "f.txt" as the
// top's, and so would git run where a hook went with cd (a monorepo's
// lint-staged in frontend/), and find nothing staged. A relative GIT_DIR
// or GIT_WORK_TREE is relative to the current directory, a relative
// GIT_INDEX_FILE to the top, and -C moves both.
func gitEnv(ctx context.Context, cwd string) []string {
	gitDir := os.Getenv("GIT_DIR")
	if gitDir == "" {
		return nil
	}
	gitDir = absUnder(cwd, gitDir)
	env := []string{"GIT_DIR=" + gitDir}
	top := ""
	if os.Getenv("GIT_WORK_TREE") == "" {
		top = discoveredTop(ctx, gitDir)
	}
	if top == "" {
		// As git itself reads GIT_WORK_TREE, or the current directory. A
		// bare repository (a server's hook) has no work tree: nothing to
		// pin.
		if out, err := exec.CommandContext(ctx, "git", "rev-parse", "--show-toplevel").Output(); err == nil {
			top = strings.TrimSpace(string(out))
		}
	}
	base := cwd
	if top != "" {
		env = append(env, "GIT_WORK_TREE="+top)
		base = top
	}
	if index := os.Getenv("GIT_INDEX_FILE"); index != "" {
		env = append(env, "GIT_INDEX_FILE="+absUnder(base, index))
	}
	return env
}

// discoveredTop returns the top of the work tree git finds from the
// current directory without GIT_DIR (by its .git, a linked worktree's
// file included) if that work tree's repository is gitDir, else "".
func discoveredTop(ctx context.Context, gitDir string) string {
	cmd := exec.CommandContext(ctx, "git", "rev-parse", "--absolute-git-dir", "--show-toplevel")
	cmd.Env = []string{} // not nil, which would inherit GIT_DIR
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GIT_DIR=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	found, top, ok := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if !ok {
		return ""
	}
	a, errA := os.Stat(found)
	b, errB := os.Stat(gitDir)
	if errA != nil || errB != nil || !os.SameFile(a, b) {
		return ""
	}
	return top
}

// absUnder returns path made absolute against dir.
func absUnder(dir, path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// command returns git, to run in dir, in the environment gitEnv pinned.
func (s *scanner) command(ctx context.Context, dir string, args ...string) *exec.Cmd {
	// --literal-pathspecs: the paths ward names are file names, not
	// patterns (`[ab].env` would also match a.env, and its secret stop a
	// commit that does not hold it). core.fsmonitor=false: the files of a
	// repository nested in the work tree are listed by git run inside
	// it, under that repository's own .git/config (an unpacked archive's,
	// a vendored dependency's), whose core.fsmonitor is a command git
	// runs at ls-files; git status in the outer repository runs none of
	// it. The monitor only makes the listing faster.
	cmd := exec.CommandContext(ctx, "git", append([]string{"--literal-pathspecs", "-c", "core.fsmonitor=false", "-C", dir}, args...)...)
	if s.gitEnv != nil {
		// The later of two entries for a name wins.
		cmd.Env = append(os.Environ(), s.gitEnv...)
	}
	return cmd
}

// inWorkTree reports whether dir is inside a git work tree; without git, it
// is not. Answers are kept: several paths often share a directory. When
// git refuses the repository for a reason other than there being none (one
// owned by another user, "dubious ownership"), or is not installed where a
// .git says there is one, the reason is kept in refused.
func (s *scanner) inWorkTree(ctx context.Context, dir string) bool {
	if in, ok := s.workTree[dir]; ok {
		return in
	}
	cmd := s.command(ctx, dir, "rev-parse", "--is-inside-work-tree")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	in := err == nil && strings.TrimSpace(string(out)) == "true"
	s.workTree[dir] = in
	switch {
	case errors.Is(err, exec.ErrNotFound) && inRepository(dir):
		// An image or CI container without git: the files are there,
		// what .gitignore leaves out is not known, and saying nothing
		// made an ignored .env read as a leak.
		s.refused[dir] = gitNotFound()
	case err != nil && stderr.Len() > 0 && !bytes.Contains(stderr.Bytes(), []byte("not a git repository")):
		s.refused[dir] = s.gitError("rev-parse", err, stderr.Bytes())
	}
	return in
}

// inRepository reports whether dir looks like part of a git repository
// without asking git: GIT_DIR is set, or dir or a directory above it has a
// .git (a directory, or a linked worktree's file).
func inRepository(dir string) bool {
	if os.Getenv("GIT_DIR") != "" {
		return true
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return false
	}
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return true
		}
		up := filepath.Dir(dir)
		if up == dir {
			return false
		}
		dir = up
	}
}

// git runs git in dir and returns its standard output.
func (s *scanner) git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := s.command(ctx, dir, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, s.gitError(args[0], err, stderr.Bytes())
	}
	return out, nil
}

// ErrGitMissing is why git could not be asked: an image or CI container
// without it (Alpine, distroless).
var ErrGitMissing = errors.New("git is not installed (not on $PATH)")

// gitNotFound is why git could not be run where exec found none on
// $PATH: it is not installed (ErrGitMissing), or a git there could not
// be looked at (EIO of a failing disk or mount) or may not be run (its
// mode, a file system mounted noexec). exec reads every failure of its
// look as "not found", and "git is not installed", with the advice to
// install it, was said of a git that is.
func gitNotFound() error {
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, "git")
		st, err := os.Stat(p)
		switch {
		case err == nil && st.IsDir():
			continue
		case err == nil:
			return &GitUnusableError{Path: p, Err: signals.ExplainExec(p, syscall.EACCES)}
		case syshint.Errno(err) == syscall.ENOENT || syshint.Errno(err) == syscall.ENOTDIR:
			continue
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return &GitUnusableError{Path: p, Err: err, Unexamined: true}
	}
	return ErrGitMissing
}

// GitUnusableError is a git on $PATH that could not be run.
type GitUnusableError struct {
	Path string
	Err  error
	// Unexamined says the look at it failed, not the permission to run
	// it.
	Unexamined bool
}

func (e *GitUnusableError) Error() string {
	if e.Unexamined {
		return fmt.Sprintf("git cannot be looked at on $PATH: %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("git cannot be run: %s: %v", e.Path, e.Err)
}

// Unwrap returns why.
func (e *GitUnusableError) Unwrap() error { return e.Err }

// Hint says what to mend: it is installed, so installing it is not it.
func (e *GitUnusableError) Hint() string {
	if hint := syshint.For(e.Err); hint != "" {
		return hint
	}
	if !e.Unexamined {
		return "make it a program this user may run (chmod +x, or a file system not mounted noexec), or leave out --git-history and --staged, which read the repository with it"
	}
	return "git may be installed: mend what the error names, then run ward scan again"
}

// gitError describes a failed git command with the first line of what it
// printed, masked: git may quote the content it choked on.
func (s *scanner) gitError(sub string, err error, stderr []byte) error {
	if errors.Is(err, exec.ErrNotFound) {
		// exec's own "executable file not found in $PATH" for a
		// --git-history or LFS read, said as the work tree's is.
		return fmt.Errorf("git %s: %w", sub, gitNotFound())
	}
	var masked bytes.Buffer
	w := mask.NewWriter(&masked, s.p)
	w.Write(stderr)
	w.Close()
	msg, _, _ := strings.Cut(strings.TrimSpace(masked.String()), "\n")
	if msg == "" {
		return fmt.Errorf("git %s: %w", sub, err)
	}
	return fmt.Errorf("git %s: %w: %s", sub, err, msg)
}
