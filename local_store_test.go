package main

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestLocalConcurrentSets: 20 `ward local set` processes at once lose
// nothing: the lock serialises them and each write keeps the others'.
func TestLocalConcurrentSets(t *testing.T) {
	w := newWardEnv(t)
	w.set("seed/first", canary("seed"))
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := w.command("local", "set", fmt.Sprintf("concurrent/n%02d", i))
			cmd.Stdin = strings.NewReader(canary("conc"))
			if out, err := cmd.CombinedOutput(); err != nil {
				errs <- fmt.Sprintf("set %d: %v: %s", i, err, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	code, stdout, stderr := w.run("local", "list")
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, stderr)
	}
	for i := 0; i < n; i++ {
		if !strings.Contains(stdout, fmt.Sprintf("concurrent/n%02d\t", i)) {
			t.Errorf("entry concurrent/n%02d was lost", i)
		}
	}
	if !strings.Contains(stdout, "seed/first\t") {
		t.Errorf("the entry set before was lost")
	}
}

// TestLocalSetKeepsMultiLineValue: `ward local set NAME < key` stores a
// value of several lines (a PEM or OpenSSH key) as the file holds it, its
// last line's newline included, as `vault kv put k=@file` and `file://`
// do: OpenSSH refuses a private key without it ("error in libcrypto"). A
// one-line value still loses its newline, LF or CRLF (`echo tok |`).
func TestLocalSetKeepsMultiLineValue(t *testing.T) {
	w := newWardEnv(t)
	c := canary("pem")
	key := "-----BEGIN OPENSSH PRIVATE KEY-----\n" + c + "\n" + c + "\n-----END OPENSSH PRIVATE KEY-----\n"
	w.set("key", key)
	crlf := strings.ReplaceAll(key, "\n", "\r\n")
	w.set("keycrlf", crlf)
	tok := canary("tok")
	w.set("tok", tok+"\n")
	tokCRLF := canary("tokcrlf")
	w.set("tokcrlf", tokCRLF+"\r\n")
	m := w.manifest(`version: 1
env:
  KEY: local://key
  TOK: local://tok
  TOK_CRLF: local://tokcrlf
files:
  - {path: id, ref: local://key, env: KEY_FILE}
  - {path: idcrlf, ref: local://keycrlf, env: KEY_CRLF_FILE}
`)
	code, stdout, stderr := w.run("run", "-m", m, "--", "sh", "-c",
		`for f in "$KEY_FILE" "$KEY_CRLF_FILE"; do sha256sum < "$f"; done; for v in "$KEY" "$TOK" "$TOK_CRLF"; do printf %s "$v" | sha256sum; done`)
	if code != 0 {
		t.Fatalf("ward run: exit %d: %s", code, stderr)
	}
	sum := func(s string) string { return fmt.Sprintf("%x  -", sha256.Sum256([]byte(s))) }
	got := strings.Split(strings.TrimSpace(stdout), "\n")
	want := []struct{ what, sum string }{
		{"KEY_FILE", sum(key)}, {"KEY_CRLF_FILE", sum(crlf)}, {"KEY", sum(key)}, {"TOK", sum(tok)}, {"TOK_CRLF", sum(tokCRLF)},
	}
	if len(got) != len(want) {
		t.Fatalf("the child printed %d lines, want %d", len(got), len(want))
	}
	for i, x := range want {
		if got[i] != x.sum {
			t.Errorf("%s: the child got another value than the one set (a newline lost or added)", x.what)
		}
	}
}
