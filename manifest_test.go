package main

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadManifests: every manifest under testdata/bad gives exit 125 with
// file:line:col and the message its first line names, from both check and
// run, and run starts no child.
func TestBadManifests(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	if len(files) < 30 {
		t.Fatalf("got %d bad manifests, want at least 30", len(files))
	}
	w := newWardEnv(t)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			pos, msg := wantLine(t, f)
			abs, _ := filepath.Abs(f)
			wantLoc := abs + ":" + pos + ": "
			marker := filepath.Join(t.TempDir(), "started")
			for _, args := range [][]string{
				{"check", "-m", abs},
				{"run", "-m", abs, "--", "helper", "touch", marker},
			} {
				code, stdout, stderr := w.run(args...)
				if code != 125 {
					t.Errorf("%s: got exit code %d, want 125 (stderr: %s)", args[0], code, stderr)
				}
				if !strings.Contains(stderr, "ward: error: "+wantLoc) {
					t.Errorf("%s: stderr does not name %s:\n%s", args[0], wantLoc, stderr)
				}
				if !strings.Contains(stderr, msg) {
					t.Errorf("%s: stderr does not say %q:\n%s", args[0], msg, stderr)
				}
				if stdout != "" {
					t.Errorf("%s: got stdout %q, want none", args[0], stdout)
				}
			}
			if _, err := os.Stat(marker); err == nil {
				t.Errorf("the child started")
			}
		})
	}
}

func wantLine(t *testing.T, file string) (pos, msg string) {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan()
	line := strings.TrimPrefix(sc.Text(), "# want: ")
	pos, msg, ok := strings.Cut(line, " ")
	if !ok {
		t.Fatalf("%s: first line must be '# want: LINE:COL MESSAGE'", file)
	}
	return pos, msg
}
