package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// A .env file replaced by ward must give the program under `ward run` the
// values its dotenv library gave it: the npm dotenv package and
// python-dotenv read each file here, and `ward import` of it must give
// the same values where they agree.

// dotenvChildNPM is the npm dotenv package, for testdata/dotenvchild.
var dotenvChildNPM = &npmPackage{dir: "testdata/dotenvchild"}

// dotenvReader is a dotenv library reading a file: argv, to which the
// file's path is added, prints NAME HASH lines as `helper env` does.
type dotenvReader struct {
	name string
	argv []string
	env  []string
}

// dotenvReaders are the npm dotenv package and Debian's python3-dotenv;
// the test is skipped without them, or fails under
// WARD_REQUIRE_INTEGRATION=1.
func dotenvReaders(t *testing.T) []dotenvReader {
	t.Helper()
	argv, env, missing := dotenvChildNPM.nodeChild(t, "the npm dotenv package")
	if missing != "" {
		vaulttest.RequireIntegration(t, missing)
	}
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import dotenv").CombinedOutput(); err != nil {
		vaulttest.RequireIntegration(t, fmt.Sprintf("no python-dotenv for %s (%v: %s): apt-get install python3-dotenv, as scripts/test.sh does", python, err, strings.TrimSpace(lastLine(string(out)))))
	}
	script, err := filepath.Abs("testdata/dotenvchild/child.py")
	if err != nil {
		t.Fatal(err)
	}
	return []dotenvReader{
		{name: "the npm dotenv package", argv: argv, env: env},
		{name: "python-dotenv", argv: []string{python, script}},
	}
}

// envHashes reads NAME HASH lines up to "end".
func envHashes(t *testing.T, out string) map[string]string {
	t.Helper()
	hashes := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if sc.Text() == "end" {
			return hashes
		}
		name, hash, _ := strings.Cut(sc.Text(), " ")
		hashes[name] = hash
	}
	t.Fatalf("no end line in the output (%d lines)", len(hashes))
	return nil
}

func TestImportGivesWhatDotenvLibrariesGave(t *testing.T) {
	readers := dotenvReaders(t)
	w := newWardEnv(t)
	// The .env files stay out of w.dir, which the test's audit searches
	// for canaries.
	files := t.TempDir()
	tests := []struct {
		name string
		file func(a, b string) string
	}{
		{name: "lf", file: func(a, b string) string { return "A_SECRET=" + a + "\nB_SECRET='" + b + "'\n" }},
		{name: "crlf and a multi-line value", file: func(a, b string) string {
			return "A_SECRET=" + a + "\r\nB_SECRET=\"-----BEGIN-----\r\n" + b + "\r\n-----END-----\r\n\"\r\n"
		}},
		{name: "export and a comment", file: func(a, b string) string { return "export A_SECRET=" + a + "\nexport B_SECRET = \"" + b + "\" # c\n" }},
		{name: "escaped newlines of a pem key", file: func(a, b string) string {
			return "A_SECRET=\"-----BEGIN-----\\n" + a + "\\n-----END-----\\n\"\nB_SECRET=" + b
		}},
		// Pasted from a web page or a chat: a no-break space, an
		// ideographic space, a thin space.
		{name: "unicode spaces around an unquoted value", file: func(a, b string) string {
			return "A_SECRET=" + a + "\u00a0\nB_SECRET=\u3000" + b + "\u2009 # c\n"
		}},
		{name: "cr line ends", file: func(a, b string) string { return "A_SECRET=" + a + "\rB_SECRET='" + b + "'\r" }},
		{name: "a cr inside quotes", file: func(a, b string) string {
			return "A_SECRET=\"" + a + "\r" + b + "\"\nB_SECRET='" + b + "\r" + a + "'\n"
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := canary("dotenv-a"), canary("dotenv-b")
			w.canaries = append(w.canaries, a, b)
			file := filepath.Join(files, fmt.Sprintf("case%d.env", i))
			if err := os.WriteFile(file, []byte(tt.file(a, b)), 0o600); err != nil {
				t.Fatal(err)
			}
			var want map[string]string
			for _, r := range readers {
				cmd := exec.Command(r.argv[0], append(r.argv[1:], file)...)
				cmd.Env = append(os.Environ(), r.env...)
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("%s: %v", r.name, err)
				}
				got := envHashes(t, string(out))
				if want == nil {
					want = got
					continue
				}
				// The case is one the libraries agree on.
				for _, name := range []string{"A_SECRET", "B_SECRET"} {
					if got[name] != want[name] {
						t.Fatalf("%s and %s read %s differently", readers[0].name, r.name, name)
					}
				}
			}
			manifest := filepath.Join(w.dir, fmt.Sprintf("ward-case%d.yaml", i))
			if code, _, stderr := w.run("import", "-m", manifest, "--name-prefix", fmt.Sprintf("case%d/", i), file); code != 0 {
				t.Fatalf("ward import: exit %d: %s", code, stderr)
			}
			code, stdout, stderr := w.run("run", "-m", manifest, "--", "helper", "env")
			if code != 0 {
				t.Fatalf("ward run: exit %d: %s", code, stderr)
			}
			got := envHashes(t, stdout)
			for _, name := range []string{"A_SECRET", "B_SECRET"} {
				if want[name] == "" {
					t.Fatalf("the libraries read no %s", name)
				}
				if got[name] != want[name] {
					t.Errorf("%s: the program gets another value under ward than from %s and %s", name, readers[0].name, readers[1].name)
				}
			}
		})
	}
}
