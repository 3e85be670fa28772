package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadManifests: a handful of the manifests under testdata/bad (the
// package launcher/manifest parses every one of them in-process) through
// the binary: exit 125 with file:line:col and the message, from both
// check and run, and run starts no child.
func TestBadManifests(t *testing.T) {
	var files []string
	for _, name := range []string{"yaml-syntax", "unknown-scheme", "template-undeclared", "file-lock-path", "vault-auth-method", "template-bomb", "template-dollar", "template-func-args", "multi-document", "file-long-name", "yaml-alias", "yaml-line-separator", "profiles-too-many", "rotation-signal-is-stop-signal"} {
		files = append(files, filepath.Join("testdata", "bad", name+".yaml"))
	}
	w := newWardEnv(t)
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(strings.TrimPrefix(string(b), "# want: "), "\n")
			pos, msg, _ := strings.Cut(first, " ")
			abs, _ := filepath.Abs(f)
			wantLoc := abs + ":" + pos + ": "
			marker := filepath.Join(t.TempDir(), "started")
			for _, args := range [][]string{
				{"check", "--log-format", "text", "-m", abs},
				{"run", "--log-format", "text", "-m", abs, "--", "helper", "touch", marker},
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
