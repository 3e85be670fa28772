package manifest

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadManifests parses every manifest under testdata/bad in-process:
// each is refused with the place and the message its first line names
// (`# want: LINE:COL MESSAGE`), and that error carries a hint. The root
// package runs a handful of them through the binary, for exit 125 and the
// child that never starts.
func TestBadManifests(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "bad", "*.yaml"))
	if len(files) < 50 {
		t.Fatalf("got %d bad manifests, want at least 50", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			pos, msg := WantLine(t, f)
			_, err := Load(f)
			var ve ValidationErrors
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want validation errors", err)
			}
			found := false
			for _, e := range ve {
				if strings.HasPrefix(e.Error(), f+":"+pos+": ") && strings.Contains(e.Error(), msg) {
					found = true
					if e.Hint() == "" && !strings.Contains(msg, "invalid YAML") {
						t.Errorf("%s: the error has no hint", e)
					}
				}
			}
			if !found {
				t.Errorf("no error at %s saying %q; got:\n%v", pos, msg, err)
			}
		})
	}
}

// WantLine reads a bad manifest's first line: `# want: LINE:COL MESSAGE`.
func WantLine(t testing.TB, file string) (pos, msg string) {
	t.Helper()
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

// TestLoadLinkLoop: a manifest named with -m that is a link in a loop is
// refused as one found by discovery is, with what to do; it said only
// "read manifest: open loop: too many levels of symbolic links".
func TestLoadLinkLoop(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	if err := errors.Join(os.Symlink(b, a), os.Symlink(a, b)); err != nil {
		t.Fatal(err)
	}
	_, err := Load(a)
	var ve ValidationErrors
	if !errors.As(err, &ve) || !strings.HasPrefix(ve[0].Error(), a+":1:1: is a symbolic link that leads round in a loop") || !strings.Contains(ve[0].Hint(), "-m") {
		t.Errorf("got %v, want the loop named, with a hint", err)
	}
}

// TestBlockScalarReference: `A: |` with the reference on the next line
// holds the block's last line break, and the hint says so: it blamed a
// paste.
func TestBlockScalarReference(t *testing.T) {
	for _, doc := range []string{"version: 1\nenv:\n  A: |\n    local://a/b\n", "version: 1\nenv:\n  A:\n    ref: >\n      local://a/b\n"} {
		_, err := Parse("w.yaml", []byte(doc))
		var ve ValidationErrors
		if !errors.As(err, &ve) || !strings.Contains(ve[0].Error(), "U+000A") || !strings.Contains(ve[0].Hint(), "|-") {
			t.Errorf("%q: got %v, want the line break named, with the block's hint", doc, err)
		}
	}
	if _, err := Parse("w.yaml", []byte("version: 1\nenv:\n  A: |-\n    local://a/b\n")); err != nil {
		t.Errorf("a block of |-: %v", err)
	}
}
