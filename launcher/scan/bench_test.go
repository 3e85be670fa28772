package scan

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// BenchmarkScanHistory5000 scans the history of a repository whose one file,
// holding a value, was edited in each of 5,000 commits: 5,000 blobs with a
// finding, each to be named by its commit.
func BenchmarkScanHistory5000(b *testing.B) {
	benchmarkScanHistory(b, 5000)
}

func benchmarkScanHistory(b *testing.B, commits int) {
	isolateGit(b)
	dir := b.TempDir()
	if out, err := exec.Command("git", "-C", dir, "init", "-q").CombinedOutput(); err != nil {
		b.Fatalf("git init: %v: %s", err, out)
	}
	// git fast-import builds the history in one process, in about a second.
	var stream bytes.Buffer
	config := strings.Repeat("SETTING=some ordinary configuration text\n", 40)
	for i := range commits {
		content := fmt.Sprintf("# build %d\n%sDB_PASSWORD=%s\n", i, config, value)
		fmt.Fprintf(&stream, "commit refs/heads/main\ncommitter Test <test@example.com> %d +0000\ndata 5\nedit\n", 1700000000+i)
		fmt.Fprintf(&stream, "M 100644 inline app.env\ndata %d\n%s\n", len(content), content)
	}
	cmd := exec.Command("git", "-C", dir, "fast-import", "--quiet")
	cmd.Stdin = &stream
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("git fast-import: %v: %s", err, out)
	}
	for b.Loop() {
		found, err := Scan(context.Background(), secrets, Options{Dir: dir, GitHistory: true})
		if err != nil {
			b.Fatal(err)
		}
		if len(found) != commits {
			b.Fatalf("got %d findings, want %d", len(found), commits)
		}
	}
}
