package local

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/wardsecrets/ward/internal/atomicfile"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// TestMain doubles as the helper process of the kill tests: with
// $WARD_LOCAL_HELPER set, the test binary writes to a store and stops
// for good just before one file takes its place, where it is killed.
func TestMain(m *testing.M) {
	if os.Getenv("WARD_LOCAL_HELPER") != "" {
		os.Exit(helperMain())
	}
	os.Exit(m.Run())
}

// helperMain sets $WARD_LOCAL_HELPER_N fresh values (names helper/kNNN)
// in the store at $WARD_LOCAL_STORE with one SetMany, and when the write
// of $WARD_LOCAL_HELPER_BLOCK is about to be committed, prints "ready"
// and blocks until killed.
func helperMain() int {
	s := &Store{Path: os.Getenv("WARD_LOCAL_STORE"), IdentityPath: os.Getenv("WARD_IDENTITY")}
	block := os.Getenv("WARD_LOCAL_HELPER_BLOCK")
	atomicfile.Hooks.Commit = func(path string) error {
		if path == block {
			fmt.Println("ready")
			io.Copy(io.Discard, os.Stdin) // until killed
			return errors.New("stdin closed")
		}
		return nil
	}
	var n int
	fmt.Sscan(os.Getenv("WARD_LOCAL_HELPER_N"), &n)
	values := make([]NamedValue, n)
	for i := range values {
		values[i] = NamedValue{Name: fmt.Sprintf("helper/k%03d", i), Value: []byte(resolvetest.Canary("helper"))}
	}
	if _, err := s.SetMany(values); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// killMidWrite runs the helper against s, waits until it is about to
// commit the file at block, and kills it with SIGKILL.
func killMidWrite(t *testing.T, s *Store, block string, n int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		"WARD_LOCAL_HELPER=1",
		"WARD_LOCAL_STORE="+s.Path,
		"WARD_IDENTITY="+s.IdentityPath,
		"WARD_LOCAL_HELPER_BLOCK="+block,
		fmt.Sprintf("WARD_LOCAL_HELPER_N=%d", n),
	)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		lines <- line
	}()
	select {
	case line := <-lines:
		if line != "ready\n" {
			cmd.Process.Kill()
			cmd.Wait()
			// Its stderr is not shown: it could hold the helper's values.
			t.Fatalf("the helper ended without stopping before the write of %s (it wrote %d bytes to stderr)", filepath.Base(block), stderr.Len())
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the helper did not reach the write of %s within 30s", filepath.Base(block))
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
}

// newStore returns a store in a fresh directory, not created yet.
func newStore(t *testing.T) *Store {
	t.Helper()
	dir := t.TempDir()
	return &Store{Path: filepath.Join(dir, "store.age"), IdentityPath: filepath.Join(dir, "identity.txt")}
}

// canaries are every value the tests made: a failure message or an
// error holding any part of one is a leak.
var canaries struct {
	sync.Mutex
	all [][]byte
}

// canary returns a unique value, as bytes, and remembers it.
func canary(tag string) []byte {
	v := []byte(resolvetest.Canary(tag))
	canaries.Lock()
	defer canaries.Unlock()
	canaries.all = append(canaries.all, v)
	return v
}

// leaks reports whether text holds eight bytes in a row of any canary,
// or of its base64 form (the form the store file holds).
func leaks(text string) bool {
	canaries.Lock()
	defer canaries.Unlock()
	for _, v := range canaries.all {
		for _, form := range []string{string(v), base64.StdEncoding.EncodeToString(v)} {
			for i := 0; i+8 <= len(form); i++ {
				if strings.Contains(text, form[i:i+8]) {
					return true
				}
			}
		}
	}
	return false
}

// show is an error's text for a failure message: never a value, even
// when the code under test leaks one into the error.
func show(err error) string {
	switch {
	case err == nil:
		return "no error"
	case leaks(err.Error()):
		return "an error holding part of a value"
	}
	return err.Error()
}

func mustSet(t *testing.T, s *Store, name string, value []byte) {
	t.Helper()
	if err := s.Set(name, value); err != nil {
		t.Fatalf("set %s: %v", name, show(err))
	}
}

// wantValue checks that name holds want, without printing either.
func wantValue(t *testing.T, s *Store, name string, want []byte) {
	t.Helper()
	got, err := s.Get(name)
	if err != nil {
		t.Fatalf("get %s: %v", name, show(err))
	}
	if !bytes.Equal(got, want) {
		t.Errorf("get %s: got a different value (%d bytes, want %d)", name, len(got), len(want))
	}
}

// identityOf returns the store's identity, creating the identity file
// (mode 0600) when it does not exist.
func identityOf(t *testing.T, s *Store) *age.X25519Identity {
	t.Helper()
	b, err := os.ReadFile(s.IdentityPath)
	if err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
				id, err := age.ParseX25519Identity(line)
				if err != nil {
					t.Fatal("the identity file does not parse")
				}
				return id
			}
		}
		t.Fatal("the identity file holds no identity")
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.IdentityPath, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return id
}

// seal writes plain, encrypted to the store's identity, as the store file.
func seal(t *testing.T, s *Store, plain string) {
	t.Helper()
	id := identityOf(t, s)
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, plain)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.Path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// unseal returns the decrypted store file, to check what was written.
// It holds values: never print it.
func unseal(t *testing.T, s *Store) []byte {
	t.Helper()
	f, err := os.Open(s.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := age.Decrypt(f, identityOf(t, s))
	if err != nil {
		t.Fatal("the store file does not decrypt")
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal("the store file does not decrypt")
	}
	return b
}

// inFile reports whether the store file holds value (as the base64 text
// a value is stored as).
func inFile(t *testing.T, s *Store, value []byte) bool {
	t.Helper()
	return bytes.Contains(unseal(t, s), []byte(base64.StdEncoding.EncodeToString(value)))
}

// noLeak fails when err's text holds any part of a canary, or any of
// values (which need not be canaries).
func noLeak(t *testing.T, what string, err error, values ...[]byte) {
	t.Helper()
	if err == nil {
		return
	}
	if leaks(err.Error()) {
		t.Errorf("%s: the error holds part of a value", what)
		return
	}
	for _, v := range values {
		if len(v) > 0 && strings.Contains(err.Error(), string(v)) {
			t.Errorf("%s: the error holds a value", what)
		}
	}
}

// fileBytes returns a file's content, "" when it does not exist.
func fileBytes(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return string(b)
}
