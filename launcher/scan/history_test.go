package scan

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestScanHistoryIntroducingCommit(t *testing.T) {
	// Commits made in the same second, as scripts make them: git log's
	// default order then need not put parents before children.
	t.Setenv("GIT_AUTHOR_DATE", "2024-01-01T00:00:00Z")
	t.Setenv("GIT_COMMITTER_DATE", "2024-01-01T00:00:00Z")
	tests := []struct {
		name string
		// build makes the history and returns the findings wanted.
		build func(t *testing.T, dir string) []Finding
	}{
		{"not the commit that removed it, on a later branch", func(t *testing.T, dir string) []Finding {
			write(t, dir, "README", "hello\n")
			commitAll(t, dir, "root")
			write(t, dir, "app.env", "A=1\nDB_PASSWORD="+value+"\n")
			leak := commitAll(t, dir, "leak")
			git(t, dir, "checkout", "-q", "-b", "topic")
			write(t, dir, "app.env", "A=1\n")
			commitAll(t, dir, "remove it")
			write(t, dir, "other", "x\n")
			commitAll(t, dir, "more on topic")
			git(t, dir, "checkout", "-q", "main")
			write(t, dir, "main.txt", "y\n")
			commitAll(t, dir, "more on main")
			return []Finding{{Path: "app.env", Line: 2, Commit: leak, Name: "DB_PASSWORD", Form: "plain"}}
		}},
		{"each path the blob was put at, with the commit that put it there", func(t *testing.T, dir string) []Finding {
			write(t, dir, "a.env", "DB_PASSWORD="+value+"\n")
			add := commitAll(t, dir, "add")
			git(t, dir, "mv", "a.env", "b.env")
			mv := commitAll(t, dir, "rename")
			return []Finding{
				{Path: "a.env", Line: 1, Commit: add, Name: "DB_PASSWORD", Form: "plain"},
				{Path: "b.env", Line: 1, Commit: mv, Name: "DB_PASSWORD", Form: "plain"},
			}
		}},
		{"a merge brings nothing new, a merge resolution does", func(t *testing.T, dir string) []Finding {
			write(t, dir, "README", "hello\n")
			commitAll(t, dir, "root")
			git(t, dir, "checkout", "-q", "-b", "topic")
			write(t, dir, "t.env", "T="+value+"\n")
			onTopic := commitAll(t, dir, "on topic")
			git(t, dir, "checkout", "-q", "main")
			write(t, dir, "m.txt", "m\n")
			commitAll(t, dir, "on main")
			git(t, dir, "merge", "-q", "--no-ff", "--no-commit", "topic")
			write(t, dir, "resolved.env", "\n\nR="+value+"\n")
			git(t, dir, "add", "-A")
			git(t, dir, "commit", "-q", "-m", "merge")
			merge := git(t, dir, "rev-parse", "HEAD")
			return []Finding{
				{Path: "resolved.env", Line: 3, Commit: merge, Name: "DB_PASSWORD", Form: "plain"},
				{Path: "t.env", Line: 1, Commit: onTopic, Name: "DB_PASSWORD", Form: "plain"},
			}
		}},
		{"a repository with no commit yet", func(t *testing.T, dir string) []Finding {
			return nil
		}},
		{"a blob only a tag points at", func(t *testing.T, dir string) []Finding {
			write(t, dir, "README", "hello\n")
			commitAll(t, dir, "root")
			blob := gitStdin(t, dir, "x\n"+value+"\n", "hash-object", "-w", "--stdin")
			git(t, dir, "tag", "loose", blob)
			return []Finding{{Path: blob, Line: 2, Commit: "unknown", Name: "DB_PASSWORD", Form: "plain"}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newRepo(t)
			want := tt.build(t, dir)
			var got []Finding
			for _, f := range scan(t, Options{Dir: dir, GitHistory: true}) {
				if f.Commit != "" {
					got = append(got, f)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("got findings %+v, want %+v", got, want)
			}
		})
	}
}

// TestScanHistoryWalksOnce counts the git commands a history scan runs: a
// fixed number, however many blobs hold a value (naming the commit of each
// blob with its own git log made a long history take minutes).
func TestScanHistoryWalksOnce(t *testing.T) {
	dir := newRepo(t)
	const edits = 12
	var commits []string
	for i := range edits {
		write(t, dir, "app.env", strings.Repeat("A=1\n", i)+"DB_PASSWORD="+value+"\n")
		commits = append(commits, commitAll(t, dir, "edit"))
	}
	calls := countGitCalls(t)
	got := scan(t, Options{Dir: dir, GitHistory: true})
	var hist []Finding
	for _, f := range got {
		if f.Commit != "" {
			hist = append(hist, f)
		}
	}
	if len(hist) != edits {
		t.Fatalf("got %d findings in history, want %d", len(hist), edits)
	}
	for i, c := range commits {
		want := Finding{Path: "app.env", Line: i + 1, Commit: c, Name: "DB_PASSWORD", Form: "plain"}
		if !slices.Contains(hist, want) {
			t.Errorf("no finding %+v", want)
		}
	}
	counts := calls()
	if counts["log"] > 1 || counts["cat-file"] > 1 || counts["rev-list"] > 1 {
		t.Errorf("got git commands %v, want at most one log, cat-file and rev-list for %d blobs", counts, edits)
	}
}

// countGitCalls puts a git in front of the real one that notes each
// command, and returns a function that counts them by subcommand.
func countGitCalls(t *testing.T) func() map[string]int {
	t.Helper()
	real, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed")
	}
	bin := t.TempDir()
	logFile := filepath.Join(bin, "calls")
	script := "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '" + logFile + "'\nexec '" + real + "' \"$@\"\n"
	if err := os.WriteFile(filepath.Join(bin, "git"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return func() map[string]int {
		b, err := os.ReadFile(logFile)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(line)
			// The subcommand is the first word that is not a -C or -c
			// option or its argument, or a --long one.
			for i := 0; i < len(f); i++ {
				if f[i] == "-C" || f[i] == "-c" {
					i++
					continue
				}
				if strings.HasPrefix(f[i], "--") {
					continue
				}
				counts[f[i]]++
				break
			}
		}
		return counts
	}
}

func gitStdin(t *testing.T, dir, stdin string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v", args[0], err)
	}
	return strings.TrimSpace(string(out))
}

// TestScanHistoryBareAndShallow searches the history of a bare clone (a
// mirror a CI job or a server keeps) and of a shallow one (a CI checkout's
// default), which holds only part of it and must say so.
func TestScanHistoryBareAndShallow(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "app.env", "DB_PASSWORD="+value+"\n")
	leak := commitAll(t, dir, "leak")
	write(t, dir, "app.env", "DB_PASSWORD=\n")
	commitAll(t, dir, "removed")
	git(t, dir, "checkout", "-q", "-b", "topic")
	write(t, dir, "topic.txt", "t\n")
	commitAll(t, dir, "topic")

	bare := filepath.Join(t.TempDir(), "mirror.git")
	git(t, dir, "clone", "-q", "--mirror", dir, bare)
	var warnings []string
	warn := func(msg string, args ...any) { warnings = append(warnings, msg) }
	got, err := Scan(context.Background(), secrets, Options{Dir: bare, GitHistory: true, Warn: warn})
	want := []Finding{{Path: "app.env", Line: 1, Commit: leak, Name: "DB_PASSWORD", Form: "plain"}}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("bare clone: got findings %+v, err=%v, want %+v", got, err, want)
	}
	if len(warnings) > 0 {
		t.Errorf("bare clone: got warnings %q, want none", warnings)
	}

	shallow := filepath.Join(t.TempDir(), "shallow")
	git(t, dir, "clone", "-q", "--depth", "1", "--no-single-branch", "file://"+dir, shallow)
	got, err = Scan(context.Background(), secrets, Options{Dir: shallow, GitHistory: true, Warn: warn})
	if err != nil || len(got) > 0 {
		t.Errorf("shallow clone: got findings %+v, err=%v, want none", got, err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "shallow") {
		t.Errorf("shallow clone: got warnings %q, want one saying the clone is shallow", warnings)
	}
}

// TestScanHistoryMessages finds a value pasted into a commit message (git
// commit -m "use $TOKEN", an error log pasted in) or an annotated tag's:
// they are pushed with the history, and no pre-commit hook sees them.
func TestScanHistoryMessages(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "README", "hello\n")
	commitAll(t, dir, "first")
	write(t, dir, "README", "hello again\n")
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "fix the login", "-m", "it failed with\nAuthorization: Basic "+base64.StdEncoding.EncodeToString([]byte("user:"+value)))
	commit := git(t, dir, "rev-parse", "HEAD")
	git(t, dir, "tag", "-a", "v1", "-m", "release\n\npassword: "+value)
	tag := git(t, dir, "rev-parse", "v1")

	got := scan(t, Options{Dir: dir, GitHistory: true})
	want := []Finding{
		{Line: 3, Commit: tag, Name: "DB_PASSWORD", Form: "plain in the tag message"},
		{Line: 4, Commit: commit, Name: "DB_PASSWORD", Form: "base64 in the commit message"},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got findings %+v, want %+v", got, want)
	}
	var text bytes.Buffer
	WriteText(&text, got[1:])
	if line := commit + ":4: DB_PASSWORD (base64 in the commit message)\n"; text.String() != line {
		t.Errorf("got text %q, want %q", text.String(), line)
	}
}

// TestScanHistoryHeaders names the header a value is in: an author's name
// or e-mail set from a secret by a script (GIT_AUTHOR_NAME=...), or a
// tagger's, is not in the message, and was reported as if it were.
func TestScanHistoryHeaders(t *testing.T) {
	dir := newRepo(t)
	write(t, dir, "README", "hello\n")
	git(t, dir, "add", "-A")
	t.Setenv("GIT_AUTHOR_NAME", "bot "+value)
	git(t, dir, "commit", "-q", "-m", "first")
	commit := git(t, dir, "rev-parse", "HEAD")
	t.Setenv("GIT_AUTHOR_NAME", "Test")
	t.Setenv("GIT_COMMITTER_EMAIL", value+"@example.com")
	git(t, dir, "tag", "-a", "v1", "-m", "release")
	tag := git(t, dir, "rev-parse", "v1")

	got := scan(t, Options{Dir: dir, GitHistory: true})
	want := []Finding{
		{Line: 0, Commit: tag, Name: "DB_PASSWORD", Form: "plain in the tag's tagger"},
		{Line: 0, Commit: commit, Name: "DB_PASSWORD", Form: "plain in the commit's author"},
	}
	slices.SortFunc(got, func(a, b Finding) int { return strings.Compare(a.Commit+a.Form, b.Commit+b.Form) })
	slices.SortFunc(want, func(a, b Finding) int { return strings.Compare(a.Commit+a.Form, b.Commit+b.Form) })
	if !slices.Equal(got, want) {
		t.Fatalf("got findings %+v, want %+v", got, want)
	}
}
