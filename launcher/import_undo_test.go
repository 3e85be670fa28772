package launcher

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/internal/atomicfile"
)

// TestImportUndoFails: `ward import` whose manifest cannot be put in
// place (a directory took its name after it was read) and whose taking
// the secrets back out of the local store fails too (its write refused,
// as EIO would): 125, the error names the secrets the store keeps, and
// `ward local list` shows them. ward said "nothing was imported", of a
// store holding them. (Under strace, the store's second rename cannot be
// told from its first: strace counts a call per thread, and Go moves
// ward between threads.)
func TestImportUndoFails(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	t.Setenv("WARD_LOG_FORMAT", "")
	const tok, pw = "canary-undo-token-5d1e8f", "canary-undo-password-9b27c4"
	if err := os.WriteFile(".env", []byte("API_TOKEN="+tok+"\nDB_PASSWORD="+pw+"\nPORT=8080\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("ward.yaml", []byte("version: 1\nenv:\n  OLD: {value: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The Commit hook runs as each file is staged: the manifest's, the
	// store's, then the store's again for the undo.
	store := filepath.Join(dir, "data", "ward", "store.age")
	stores := 0
	atomicfile.Hooks.Commit = func(path string) error {
		if path != store {
			return nil
		}
		if stores++; stores == 1 {
			// The manifest's rename, next, meets a directory.
			if err := os.Rename("ward.yaml", "ward.yaml.old"); err != nil {
				return err
			}
			return os.MkdirAll(filepath.Join("ward.yaml", "taken"), 0o755)
		}
		return errors.New("input/output error")
	}
	t.Cleanup(func() { atomicfile.Hooks.Commit = nil })
	code, msg := mainOutput(t, "import", "--name-prefix", "app/")
	atomicfile.Hooks.Commit = nil
	if stores != 2 {
		t.Fatalf("the store was staged %d times, want 2 (the import, the undo)", stores)
	}
	if strings.Contains(msg, tok) || strings.Contains(msg, pw) {
		t.Errorf("a value is in ward's output")
	}
	if code != 125 || strings.Contains(msg, "nothing was imported") || !strings.Contains(msg, "(app/API_TOKEN, app/DB_PASSWORD)") {
		t.Errorf("got exit code %d, want 125 naming what the store keeps:\n%s", code, msg)
	}
	if code, list := mainOutput(t, "local", "list"); code != 0 || !strings.Contains(list, "app/API_TOKEN") || !strings.Contains(list, "app/DB_PASSWORD") {
		t.Errorf("ward local list: exit code %d, not both secrets:\n%s", code, list)
	}
}

// mainOutput runs ward's Main with args, stdin empty, and returns its
// exit code and its stdout and stderr, together.
func mainOutput(t *testing.T, args ...string) (int, string) {
	t.Helper()
	in, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	code := Main(append([]string{"ward"}, args...), IO{Stdin: in, Stdout: out, Stderr: out})
	b, _ := os.ReadFile(out.Name())
	return code, string(b)
}
