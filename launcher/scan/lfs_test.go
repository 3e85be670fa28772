package scan

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// TestScanGitLFS commits files that Git LFS tracks, through the real
// git-lfs: the index and the history hold pointers, and the content, which
// the push sends to the LFS server, is searched in the local LFS store.
func TestScanGitLFS(t *testing.T) {
	if _, err := exec.LookPath("git-lfs"); err != nil {
		vaulttest.RequireIntegration(t, "git-lfs is not installed (Debian's git-lfs)")
	}
	dir := newRepo(t)
	git(t, dir, "lfs", "install", "--local")
	git(t, dir, "lfs", "track", "*.sqlite", "*.csv")
	write(t, dir, "README", "hello\n")
	commitAll(t, dir, "first")

	write(t, dir, "dev.sqlite", "SQLite format 3\x00\x00\x01 token="+value+"\n")
	write(t, dir, "data/users.csv", "id,name\n1,a\n2,"+value+"\n")
	git(t, dir, "add", "dev.sqlite", "data/users.csv")
	if got := git(t, dir, "cat-file", "-p", ":dev.sqlite"); !strings.HasPrefix(got, "version https://git-lfs.github.com/spec/v1") {
		t.Fatalf("the index holds no LFS pointer for dev.sqlite: %d bytes", len(got))
	}
	staged := scan(t, Options{Dir: dir, Staged: true})
	want := []Finding{
		{Path: "data/users.csv", Line: 3, Name: "DB_PASSWORD", Form: "plain"},
		{Path: "dev.sqlite", Line: 1, Name: "DB_PASSWORD", Form: "plain"},
	}
	if !slices.Equal(staged, want) {
		t.Errorf("staged: got findings %+v, want %+v", staged, want)
	}

	leak := commitAll(t, dir, "leak")
	git(t, dir, "rm", "-q", "dev.sqlite", "data/users.csv")
	commitAll(t, dir, "removed")
	var warnings []string
	opts := Options{Dir: dir, GitHistory: true, Warn: func(msg string, args ...any) { warnings = append(warnings, msg) }}
	// The history's binary files are searched with Binary, as others are.
	hist := scan(t, opts)
	want = []Finding{{Path: "data/users.csv", Line: 3, Commit: leak, Name: "DB_PASSWORD", Form: "plain"}}
	if !slices.Equal(hist, want) {
		t.Errorf("history: got findings %+v, want %+v", hist, want)
	}
	if len(warnings) > 0 {
		t.Errorf("got warnings %q with every LFS object at hand", warnings)
	}

	// A clone that never fetched the content: a warning says what was not
	// searched.
	if err := os.RemoveAll(filepath.Join(dir, ".git", "lfs", "objects")); err != nil {
		t.Fatal(err)
	}
	f, err := Scan(context.Background(), secrets, opts)
	if err != nil || len(f) != 0 {
		t.Fatalf("history without the LFS content: got findings %+v, err=%v, want none", f, err)
	}
	if len(warnings) != 1 {
		t.Errorf("got warnings %q without the LFS content, want one", warnings)
	}
}
