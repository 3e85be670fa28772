package scan

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestScanStaged(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "README", "hello\n")
	write(t, dir, "config/app.env", "A=1\n")
	commitAll(t, dir, "first")

	// Staged, then deleted from the work tree: the commit would hold it.
	write(t, dir, "config/deleted.env", "x\nDB_PASSWORD="+value+"\n")
	git(t, dir, "add", "config/deleted.env")
	os.Remove(filepath.Join(dir, "config/deleted.env"))
	// Staged, then cleaned in the work tree only: the same.
	write(t, dir, "config/app.env", "A=1\nDB_PASSWORD="+value+"\n")
	git(t, dir, "add", "config/app.env")
	write(t, dir, "config/app.env", "A=1\n")
	// In the work tree only: not part of the commit.
	write(t, dir, "untracked.txt", value+"\n")
	write(t, dir, "README", "hello\n"+value+"\n")
	// A directory staged, then deleted.
	write(t, dir, "gone/key.env", value+"\n")
	git(t, dir, "add", "gone")
	os.RemoveAll(filepath.Join(dir, "gone"))
	// A binary file, staged.
	write(t, dir, "blob.bin", "\x00\x01"+value)
	git(t, dir, "add", "blob.bin")

	tests := []struct {
		name string
		opts Options
		want []Finding
	}{
		// The binary file too: the few files a commit would hold.
		{"the index, not the work tree", Options{Dir: dir, Staged: true}, []Finding{
			{Path: "blob.bin", Line: 1, Name: "DB_PASSWORD", Form: "plain"},
			{Path: "config/app.env", Line: 2, Name: "DB_PASSWORD", Form: "plain"},
			{Path: "config/deleted.env", Line: 2, Name: "DB_PASSWORD", Form: "plain"},
			{Path: "gone/key.env", Line: 1, Name: "DB_PASSWORD", Form: "plain"},
		}},
		{"from a subdirectory", Options{Dir: filepath.Join(dir, "config"), Staged: true}, []Finding{
			{Path: "app.env", Line: 2, Name: "DB_PASSWORD", Form: "plain"},
			{Path: "deleted.env", Line: 2, Name: "DB_PASSWORD", Form: "plain"},
		}},
		{"a path deleted from the work tree", Options{Dir: dir, Staged: true, Paths: []string{"config/deleted.env", "README"}}, []Finding{
			{Path: "config/deleted.env", Line: 2, Name: "DB_PASSWORD", Form: "plain"},
		}},
		{"a directory deleted from the work tree", Options{Dir: dir, Staged: true, Paths: []string{"gone"}}, []Finding{
			{Path: "gone/key.env", Line: 1, Name: "DB_PASSWORD", Form: "plain"},
		}},
		{"the work tree, for comparison", Options{Dir: dir}, []Finding{
			{Path: "README", Line: 2, Name: "DB_PASSWORD", Form: "plain"},
			{Path: "untracked.txt", Line: 1, Name: "DB_PASSWORD", Form: "plain"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scan(t, tt.opts); !slices.Equal(got, tt.want) {
				t.Errorf("got findings %+v, want %+v", got, tt.want)
			}
		})
	}

	// A path in neither the work tree nor the index is an error.
	_, err := Scan(context.Background(), secrets, Options{Dir: dir, Staged: true, Paths: []string{"config/nothing.env"}})
	if err == nil || !strings.Contains(err.Error(), "config/nothing.env") {
		t.Errorf("got err=%v for a path that names nothing, want one naming it", err)
	}
	outside := t.TempDir()
	if _, err := Scan(context.Background(), secrets, Options{Dir: outside, Staged: true}); err == nil {
		t.Errorf("got no error for staged files outside a work tree")
	}
}

// TestScanStagedPreCommitHook runs the search as a real pre-commit hook
// (this test binary, re-run as TestPreCommitHookHelper) under git commit.
func TestScanStagedPreCommitHook(t *testing.T) {
	dir := newRepo(t)
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	hook := "#!/bin/sh\nexec env WARD_SCAN_HOOK_HELPER=1 '" + bin + "' -test.run='^TestPreCommitHookHelper$'\n"
	write(t, dir, ".git/hooks/pre-commit", hook)
	os.Chmod(filepath.Join(dir, ".git/hooks/pre-commit"), 0o755)
	write(t, dir, "README", "hello\n")
	commitAll(t, dir, "first")

	commit := func(args ...string) (string, error) {
		cmd := exec.Command("git", append([]string{"-C", dir, "commit", "-q", "-m", "change"}, args...)...)
		out, err := cmd.CombinedOutput()
		if strings.Contains(string(out), value) {
			t.Fatalf("the hook's output holds the value")
		}
		return string(out), err
	}
	// An untracked file holding the value does not block a commit.
	write(t, dir, "notes.txt", value+"\n")
	write(t, dir, "README", "hello again\n")
	git(t, dir, "add", "README")
	if out, err := commit(); err != nil {
		t.Fatalf("commit with the value only in an untracked file failed: %v: %s", err, out)
	}
	// A staged value does, even once deleted from the work tree.
	write(t, dir, "app.env", "DB_PASSWORD="+value+"\n")
	git(t, dir, "add", "app.env")
	os.Remove(filepath.Join(dir, "app.env"))
	out, err := commit()
	if err == nil || !strings.Contains(out, "app.env:1: DB_PASSWORD (plain)") {
		t.Fatalf("commit of a staged value: got err=%v, output %q, want the hook to block it naming app.env", err, out)
	}
	// Committing only README searches only what that commit holds (git
	// gives the hook a temporary index in GIT_INDEX_FILE).
	write(t, dir, "README", "hello a third time\n")
	if out, err := commit("--", "README"); err != nil {
		t.Fatalf("partial commit without the staged value failed: %v: %s", err, out)
	}
}

// TestPreCommitHookHelper is the pre-commit hook of
// TestScanStagedPreCommitHook; it does nothing unless run as one.
func TestPreCommitHookHelper(t *testing.T) {
	if os.Getenv("WARD_SCAN_HOOK_HELPER") != "1" {
		return
	}
	// The paths after the flags, as the pre-commit framework and lefthook
	// pass the staged files.
	found, err := Scan(context.Background(), secrets, Options{Staged: true, Paths: flag.Args()})
	if err != nil {
		fmt.Fprintln(os.Stderr, "scan:", err)
		os.Exit(2)
	}
	if len(found) > 0 {
		WriteText(os.Stderr, found)
		os.Exit(1)
	}
	os.Exit(0)
}

// TestScanStagedHookWithGitDir runs the hook, given the staged files as
// the pre-commit framework and lefthook give them, where git hands it
// GIT_DIR: a commit in a linked worktree (GIT_DIR is the worktree's
// directory under the main one's .git), also with a hook that works from
// a subdirectory (a monorepo's husky running lint-staged in frontend/),
// and in a work tree named apart from its repository (git --git-dir=...
// --work-tree=..., as dotfiles are kept). With GIT_DIR set, git takes its
// current directory for the top of the work tree.
func TestScanStagedHookWithGitDir(t *testing.T) {
	bin, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helper := "env WARD_SCAN_HOOK_HELPER=1 '" + bin + "' -test.run='^TestPreCommitHookHelper$'"
	atTop := "#!/bin/sh\nexec " + helper + " README sub/dir/app.env\n"
	fromSub := "#!/bin/sh\ncd sub && exec " + helper + " dir/app.env\n"
	setUp := func(t *testing.T, hook, gitDir, work string) {
		write(t, gitDir, "hooks/pre-commit", hook)
		os.Chmod(filepath.Join(gitDir, "hooks/pre-commit"), 0o755)
		write(t, work, "README", "hello\n")
		write(t, work, "sub/dir/app.env", "A=1\n")
	}
	linked := func(hook string) func(t *testing.T) ([]string, string) {
		return func(t *testing.T) ([]string, string) {
			dir := newRepo(t)
			setUp(t, hook, filepath.Join(dir, ".git"), dir)
			commitAll(t, dir, "first")
			work := filepath.Join(t.TempDir(), "linked")
			git(t, dir, "worktree", "add", "-q", work)
			return []string{"-C", work}, work
		}
	}
	tests := []struct {
		name string
		// repo makes the repository and returns how to run git in the
		// work tree and the work tree.
		repo func(t *testing.T) (gitArgs []string, work string)
		want string
	}{
		{"a linked worktree", linked(atTop), "sub/dir/app.env:2: DB_PASSWORD (plain)"},
		{"a linked worktree, the hook in a subdirectory", linked(fromSub), "dir/app.env:2: DB_PASSWORD (plain)"},
		{"--git-dir and --work-tree, relative", func(t *testing.T) ([]string, string) {
			isolateGit(t)
			top := t.TempDir()
			git(t, top, "init", "-q", "--bare", "repo.git")
			setUp(t, atTop, filepath.Join(top, "repo.git"), filepath.Join(top, "home"))
			args := []string{"-C", filepath.Join(top, "home"), "--git-dir=../repo.git", "--work-tree=."}
			return args, filepath.Join(top, "home")
		}, "sub/dir/app.env:2: DB_PASSWORD (plain)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gitArgs, work := tt.repo(t)
			write(t, work, "sub/dir/app.env", "A=1\nDB_PASSWORD="+value+"\n")
			git(t, work, append(gitArgs[2:], "add", "-A")...)
			out, err := exec.Command("git", append(gitArgs, "commit", "-q", "-m", "leak")...).CombinedOutput()
			if strings.Contains(string(out), value) {
				t.Fatalf("the hook's output holds the value")
			}
			if err == nil || !strings.Contains(string(out), tt.want) {
				t.Fatalf("commit of a staged value: got err=%v, output %q, want the hook to block it with %q", err, out, tt.want)
			}
		})
	}
}

// TestScanNamedFilesOneGitCall names files in many directories, as the
// pre-commit framework and lefthook name a commit's staged files: one
// git call lists them all, and one cat-file reads them, rather than a few
// processes a directory (seven seconds for a thousand directories).
func TestScanNamedFilesOneGitCall(t *testing.T) {
	dir := newRepo(t)
	var paths []string
	for i := range 40 {
		name := fmt.Sprintf("pkg%d/sub/file.txt", i)
		write(t, dir, name, "x\n")
		paths = append(paths, name)
	}
	write(t, dir, "pkg7/sub/file.txt", "x\nDB_PASSWORD="+value+"\n")
	git(t, dir, "add", "-A")
	want := []Finding{{Path: "pkg7/sub/file.txt", Line: 2, Name: "DB_PASSWORD", Form: "plain"}}
	for _, staged := range []bool{true, false} {
		calls := countGitCalls(t)
		if got := scan(t, Options{Dir: dir, Staged: staged, Paths: paths}); !slices.Equal(got, want) {
			t.Errorf("staged=%v: got findings %+v, want %+v", staged, got, want)
		}
		if counts := calls(); counts["ls-files"] != 1 || counts["cat-file"] > 1 || counts["rev-parse"] > 1 {
			t.Errorf("staged=%v: got git commands %v for %d files, want one ls-files, at most one cat-file and one rev-parse", staged, counts, len(paths))
		}
	}
}

// TestScanRepositoryGitRefuses scans a repository git refuses to read: one
// owned by another user (a checkout a container made, CI's container
// jobs), which git calls dubious. git's reason is given, not "not in a
// git work tree"; the working tree is searched without .gitignore, with
// a warning that says so.
func TestScanRepositoryGitRefuses(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, ".gitignore", "*.local\n")
	write(t, dir, "app.env", "DB_PASSWORD="+value+"\n")
	git(t, dir, "add", "-A")
	// git's own knob for a repository owned by someone else.
	t.Setenv("GIT_TEST_ASSUME_DIFFERENT_OWNER", "1")

	_, err := Scan(context.Background(), secrets, Options{Dir: dir, Staged: true})
	if err == nil || !strings.Contains(err.Error(), "dubious ownership") {
		t.Errorf("staged: got err=%v, want git's reason (dubious ownership)", err)
	}
	var warnings []string
	got := scan(t, Options{Dir: dir, Warn: func(msg string, args ...any) { warnings = append(warnings, fmt.Sprint(msg, args)) }})
	want := []Finding{{Path: "app.env", Line: 1, Name: "DB_PASSWORD", Form: "plain"}}
	if !slices.Equal(got, want) {
		t.Errorf("working tree: got findings %+v, want %+v", got, want)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], ".gitignore") || !strings.Contains(warnings[0], "dubious ownership") {
		t.Errorf("working tree: got warnings %q, want one saying .gitignore is not respected and why", warnings)
	}
}

// TestScanRepositoryWithoutGit: a work tree where git is not installed
// (an Alpine or distroless image, a CI job's container without git) is
// searched whole with a warning that .gitignore is not respected, and
// --staged says git is missing: every file was searched in silence, so
// an ignored .env stopped the build as a leak, and --staged said "not in
// a git work tree" inside one.
func TestScanRepositoryWithoutGit(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, ".gitignore", ".env\n")
	write(t, dir, ".env", "DB_PASSWORD="+value+"\n")
	write(t, dir, "app.txt", "nothing here\n")
	git(t, dir, "add", "-A")
	// Sub-directories of the work tree are in it too.
	write(t, dir, "sub/app.env", "DB_PASSWORD="+value+"\n")
	t.Setenv("PATH", t.TempDir())

	_, err := Scan(context.Background(), secrets, Options{Dir: filepath.Join(dir, "sub"), Staged: true})
	if err == nil || !strings.Contains(err.Error(), "git is not installed") {
		t.Errorf("staged: got err=%v, want one saying git is not installed", err)
	}
	// --git-history reads the history with git: the same reason, which
	// the CLI gives a hint for (it said exec's "executable file not found").
	_, err = Scan(context.Background(), secrets, Options{Dir: dir, GitHistory: true})
	if !errors.Is(err, ErrGitMissing) {
		t.Errorf("git-history: got err=%v, want ErrGitMissing", err)
	}
	var warnings []string
	got := scan(t, Options{Dir: dir, Warn: func(msg string, args ...any) { warnings = append(warnings, fmt.Sprint(msg, args)) }})
	if len(got) != 2 {
		t.Errorf("working tree: got findings %+v, want the ignored .env and sub/app.env, every file being searched", got)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], ".gitignore") || !strings.Contains(warnings[0], "git is not installed") {
		t.Errorf("working tree: got warnings %q, want one saying .gitignore is not respected because git is not installed", warnings)
	}

	// A file named on the command line (as hook managers pass them) is
	// searched in a work tree too, .gitignore or not: nothing to warn of.
	warnings = nil
	if got := scan(t, Options{Dir: dir, Paths: []string{".env", "sub/app.env"}, Warn: func(msg string, args ...any) { warnings = append(warnings, fmt.Sprint(msg, args)) }}); len(got) != 2 {
		t.Errorf("named files: got findings %+v, want both", got)
	}
	if len(warnings) != 0 {
		t.Errorf("named files: got warnings %q, want none", warnings)
	}

	// Outside any repository nothing is missed: no warning.
	plain := t.TempDir()
	write(t, plain, "app.env", "DB_PASSWORD="+value+"\n")
	warnings = nil
	scan(t, Options{Dir: plain, Warn: func(msg string, args ...any) { warnings = append(warnings, fmt.Sprint(msg, args)) }})
	if len(warnings) != 0 {
		t.Errorf("outside a repository: got warnings %q, want none", warnings)
	}
}

// TestScanNamedPathsLiteral: a file named with a pathspec's magic
// characters (`[ab].env`, a name starting with `:`), as a hook manager
// passes the staged files, is searched alone, staged or in the work tree:
// git took the name as a pattern, so `[ab].env` also searched a.env and
// b.env, and a secret there stopped a commit that did not hold it.
func TestScanNamedPathsLiteral(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "a.env", "DB_PASSWORD="+value+"\n")
	write(t, dir, "[ab].env", "A=1\n")
	write(t, dir, ":x.env", "A=1\n")
	git(t, dir, "add", "-A")
	for _, staged := range []bool{true, false} {
		if got := scan(t, Options{Dir: dir, Staged: staged, Paths: []string{"[ab].env", ":x.env"}}); len(got) != 0 {
			t.Errorf("staged=%v: got findings %+v for files that hold none, want none", staged, got)
		}
	}
}
