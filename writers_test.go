package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/testdata/helper"
)

// TestRotationDebounceWaitsForQuiet: files changed one after another by a
// writer that takes its time (an Ansible play's copy tasks, a deploy hook
// copying a certificate, then its key, then its chain), each a little
// within rotation.debounce of the one before, the whole longer than it,
// restart the child once, with every new value. The debounce ran from the
// first change: the child was restarted with the new certificate and the
// old key, then again.
func TestRotationDebounceWaitsForQuiet(t *testing.T) {
	w := newWardEnv(t)
	live, next := filepath.Join(w.dir, "live"), filepath.Join(w.dir, "next")
	os.MkdirAll(live, 0o700)
	os.MkdirAll(next, 0o700)
	names := []string{"A", "B", "C", "D", "E"}
	olds, news := map[string]string{}, map[string]string{}
	var env strings.Builder
	for _, n := range names {
		olds[n], news[n] = canary("quiet-old-"+n), canary("quiet-new-"+n)
		os.WriteFile(filepath.Join(live, n), []byte(olds[n]), 0o600)
		os.WriteFile(filepath.Join(next, n), []byte(news[n]), 0o600)
		fmt.Fprintf(&env, "  %s: file://%s\n", n, filepath.Join(live, n))
	}
	m := w.manifest("version: 1\nenv:\n" + env.String() + "rotation:\n  debounce: 900ms\n  stop_timeout: 5s\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	stdout, stderr := startedLines(t, cmd)
	first := envListing(stdout)
	for _, n := range names {
		if first[n] != helper.Hash(olds[n]) {
			t.Fatalf("the first child does not have the first %s", n)
		}
	}
	stderr.waitForContaining("watching secret files")

	// The writer: cp (truncate, then write) of each file, 0.3 s apart, 1.2 s
	// from the first to the last.
	writer := exec.Command("sh", "-c", `set -e; first=1; for n in A B C D E; do [ -n "$first" ] || sleep 0.3; first=; cp "$NEXT/$n" "$LIVE/$n"; done`)
	writer.Env = append(os.Environ(), "NEXT="+next, "LIVE="+live)
	if out, err := writer.CombinedOutput(); err != nil {
		t.Fatalf("writer: %v: %s", err, out)
	}
	restarted := envListing(stdout)
	for _, n := range names {
		if restarted[n] != helper.Hash(news[n]) {
			t.Errorf("the restarted child does not have the new %s: it was restarted before the writer was done", n)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for line := range stdout.ch {
		if line == "end" {
			t.Errorf("the child was started a third time")
		}
	}
	restarts := 0
	for line := range stderr.ch {
		if strings.Contains(line, "child restarted with the new secrets") {
			restarts++
		}
		for _, n := range names {
			if strings.Contains(line, olds[n]) || strings.Contains(line, news[n]) {
				t.Errorf("a canary of %s is in ward's stderr", n)
			}
		}
	}
	if restarts != 1 {
		t.Errorf("%d restarts logged, want 1", restarts)
	}
}

// TestRotationInPlaceWriteNoWarning: a secret file rewritten in place by
// a shell's redirection, which empties it before the command writes
// (`vault kv get -field=token ... > token`, `kubectl get secret ... >
// token`: the shell truncates, the command answers a moment later), is
// rotated with no warning: the file is empty only while it is written.
// ward warned "cannot refresh secrets ... is empty" at each such write,
// and "secrets refresh recovered" a moment later. A file that stays
// empty is still warned of, at its retry.
func TestRotationInPlaceWriteNoWarning(t *testing.T) {
	w := newWardEnv(t)
	live, next := filepath.Join(w.dir, "live", "token"), filepath.Join(w.dir, "next")
	os.MkdirAll(filepath.Dir(live), 0o700)
	v1, v2 := canary("inplace-old"), canary("inplace-new")
	os.WriteFile(live, []byte(v1), 0o600)
	os.WriteFile(next, []byte(v2), 0o600)
	m := w.manifest("version: 1\nenv:\n  TOKEN: file://" + live + "\nrotation:\n  debounce: 200ms\n  stop_timeout: 5s\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	stdout, stderr := startedLines(t, cmd)
	if envHash(stdout, "TOKEN") != helper.Hash(v1) {
		t.Fatalf("the first child does not have the first TOKEN")
	}
	stderr.waitForContaining("watching secret files")
	writer := exec.Command("sh", "-c", `{ sleep 0.3; cat "$NEXT"; } > "$LIVE"`)
	writer.Env = append(os.Environ(), "NEXT="+next, "LIVE="+live)
	if out, err := writer.CombinedOutput(); err != nil {
		t.Fatalf("writer: %v: %s", err, out)
	}
	if envHash(stdout, "TOKEN") != helper.Hash(v2) {
		t.Fatalf("the restarted child does not have the new TOKEN")
	}
	stderr.skipUntil("the restart's line", func(line string) bool {
		if strings.Contains(line, `"level":"WARN"`) {
			t.Errorf("a warning while the file was written: %s", line)
		}
		return strings.Contains(line, "child restarted with the new secrets")
	})
	// Emptied for good: warned of, at the retry.
	os.WriteFile(live, nil, 0o600)
	stderr.skipUntil("a warning of the file left empty", func(line string) bool {
		return strings.Contains(line, `"level":"WARN"`) && strings.Contains(line, "is empty")
	})
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for line := range stderr.ch {
		if strings.Contains(line, v1) || strings.Contains(line, v2) {
			t.Errorf("a canary of TOKEN is in ward's stderr")
		}
	}
}

// TestRotationWrittenInStepsWithoutInotify: with no inotify to be had
// (every watch is a stat at rotation.poll), a secret file the poll finds
// half-written (a script's `>` then `>>`, a copy in several writes) is
// looked at again when the debounce ends: with on_change: signal, the
// child's file is rewritten once, with the whole value, and the child
// signalled once. It got the half the poll had read, and ran on it until
// the next poll (5 minutes by default) found the rest.
func TestRotationWrittenInStepsWithoutInotify(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		vaulttest.RequireIntegration(t, "unshare (util-linux) is not installed")
	}
	limit := `echo 0 > /proc/sys/user/max_inotify_instances`
	if out, err := exec.Command("unshare", "--user", "--map-root-user", "sh", "-c", limit).CombinedOutput(); err != nil {
		vaulttest.RequireIntegration(t, "cannot limit inotify in a user namespace of its own: "+strings.TrimSpace(string(out)))
	}
	w := newWardEnv(t)
	v1, head, tail := canary("steps-old"), canary("steps-head"), canary("steps-tail")
	src := w.mounted(v1)
	m := w.manifest("version: 1\nfiles:\n  - path: token\n    ref: file://" + src + "\n    env: TOKEN_FILE\nrotation:\n  on_change: signal\n  signal: SIGUSR1\n  poll: 1s\n  jitter: 0%\n  debounce: 300ms\n")
	ward, _ := exec.LookPath("ward")
	child := `trap 'helper stdin-hash < "$TOKEN_FILE"' USR1; helper stdin-hash < "$TOKEN_FILE"; while :; do sleep 0.05; done`
	cmd := exec.Command("unshare", "--user", "--map-root-user", "sh", "-c", limit+` && exec "$1" run --log-level debug -m "$2" -- sh -c "$3"`, "sh", ward, m, child)
	cmd.Env = w.env
	stdout, stderr := startedLines(t, cmd)
	if stdout.waitFor("STDIN ") != "STDIN "+helper.Hash(v1) {
		t.Fatalf("the child does not see the first value")
	}
	stderr.waitForContaining("cannot watch secret files for changes")
	// The first half, then the second once a poll has read the first.
	os.WriteFile(src, []byte(head), 0o600)
	stderr.skipUntil("the poll's read of the first half", func(line string) bool {
		return strings.Contains(line, "secret fetched") && strings.Contains(line, src)
	})
	f, err := os.OpenFile(src, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(tail)
	f.Close()
	if stdout.waitFor("STDIN ") != "STDIN "+helper.Hash(head+tail) {
		t.Errorf("the signalled child reads a part of the new value: the half the poll read")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for line := range stdout.ch {
		if strings.HasPrefix(line, "STDIN ") {
			t.Errorf("the child was signalled a second time")
		}
	}
	for line := range stderr.ch {
		for _, v := range []string{v1, head, tail} {
			if strings.Contains(line, v) {
				t.Errorf("a canary of the token is in ward's stderr")
			}
		}
	}
}

// TestRotationGitCheckout: a `git checkout` that changes 30 secret files
// at once (git removes each file, then writes the new one) restarts the
// child once, with every new value, and warns of nothing: each file
// caught between its removal and its write warned "cannot refresh
// secrets".
func TestRotationGitCheckout(t *testing.T) {
	w := newWardEnv(t)
	repo := filepath.Join(w.dir, "repo")
	os.MkdirAll(repo, 0o700)
	git := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo, "-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v: %s", args[0], err, out)
		}
	}
	olds, news := map[string]string{}, map[string]string{}
	var env strings.Builder
	var names []string
	for i := range 30 {
		n := fmt.Sprintf("S%02d", i)
		names = append(names, n)
		olds[n], news[n] = canary("git-old-"+n), canary("git-new-"+n)
		fmt.Fprintf(&env, "  %s: file://%s\n", n, filepath.Join(repo, n))
	}
	write := func(values map[string]string) {
		for _, n := range names {
			os.WriteFile(filepath.Join(repo, n), []byte(values[n]), 0o600)
		}
	}
	git("init", "-q", "-b", "old")
	write(olds)
	git("add", ".")
	git("commit", "-q", "-m", "old")
	git("checkout", "-q", "-b", "new")
	write(news)
	git("commit", "-q", "-am", "new")
	git("checkout", "-q", "old")

	m := w.manifest("version: 1\nenv:\n" + env.String() + "rotation:\n  debounce: 300ms\n  stop_timeout: 5s\n")
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	stdout, stderr := startedLines(t, cmd)
	if got := envListing(stdout); got["S00"] != helper.Hash(olds["S00"]) {
		t.Fatalf("the first child does not have the first S00")
	}
	stderr.waitForContaining("watching secret files")
	git("checkout", "-q", "new")
	got := envListing(stdout)
	for _, n := range names {
		if got[n] != helper.Hash(news[n]) {
			t.Errorf("the restarted child does not have the new %s", n)
		}
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for line := range stdout.ch {
		if line == "end" {
			t.Errorf("the child was started a third time")
		}
	}
	restarts, warned := 0, false
	for line := range stderr.ch {
		if strings.Contains(line, "child restarted with the new secrets") {
			restarts++
		}
		if strings.Contains(line, `"level":"WARN"`) && !warned {
			warned = true
			t.Errorf("a warning while git wrote the files: %s", line)
		}
		for _, n := range names {
			if strings.Contains(line, olds[n]) || strings.Contains(line, news[n]) {
				t.Errorf("a canary of %s is in ward's stderr", n)
			}
		}
	}
	if restarts != 1 {
		t.Errorf("%d restarts logged, want 1", restarts)
	}
}

// TestRotationSignalRewritesChangedFilesOnly: with on_change: signal, a
// change to one secret file rewrites that file alone, as the README says:
// a child that watches its own files (a TLS server reloading its
// certificate and key when they change, a config watcher) sees no change
// to the others. Every file was replaced, the unchanged ones too, and such
// a child reloaded its certificate pair at every change of an unrelated
// secret.
func TestRotationSignalRewritesChangedFilesOnly(t *testing.T) {
	w := newWardEnv(t)
	dir := filepath.Join(w.dir, "mounted")
	os.MkdirAll(dir, 0o700)
	a1, a2, cert := canary("only-a1"), canary("only-a2"), canary("only-cert")
	os.WriteFile(filepath.Join(dir, "a"), []byte(a1), 0o600)
	os.WriteFile(filepath.Join(dir, "cert"), []byte(cert), 0o600)
	m := w.manifest("version: 1\nfiles:\n  - path: a\n    ref: file://" + filepath.Join(dir, "a") + "\n    env: A_FILE\n  - path: tls/cert.pem\n    ref: file://" + filepath.Join(dir, "cert") + "\n    env: CERT_FILE\nrotation:\n  on_change: signal\n  signal: SIGUSR1\n  debounce: 100ms\n")
	cmd := w.command("run", "-m", m, "--", "sh", "-c", `show() { echo "files $(stat -c %i "$A_FILE") $(stat -c %i "$CERT_FILE")"; }; trap show USR1; show; while :; do sleep 0.05; done`)
	stdout, stderr := started(t, cmd)
	var aIno, certIno string
	if _, err := fmt.Sscanf(stdout.waitFor("files "), "files %s %s", &aIno, &certIno); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "a.new"), []byte(a2), 0o600)
	os.Rename(filepath.Join(dir, "a.new"), filepath.Join(dir, "a"))
	var aIno2, certIno2 string
	if _, err := fmt.Sscanf(stdout.waitFor("files "), "files %s %s", &aIno2, &certIno2); err != nil {
		t.Fatal(err)
	}
	if aIno2 == aIno {
		t.Errorf("the changed file was not replaced")
	}
	if certIno2 != certIno {
		t.Errorf("tls/cert.pem, which did not change, was replaced")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
	for _, v := range []string{a1, a2, cert} {
		if strings.Contains(stderr.String(), v) {
			t.Errorf("a canary is in ward's stderr")
		}
	}
}

// TestManifestRewrittenInPlaceSame: ward.yaml saved in place with the
// content it had, while `ward run` runs in a terminal (VS Code's save,
// `cp ward.yaml.orig ward.yaml`: the file is emptied, then written), is
// no change: ward warned "the manifest changed" at the emptied file, and
// stopped watching, so the developer restarted ward for nothing. A real
// change later is still warned of.
func TestManifestRewrittenInPlaceSame(t *testing.T) {
	w := newWardEnv(t)
	src := w.mounted(canary("manifest-same"))
	body := "version: 1\nenv:\n  A: file://" + src + "\n"
	m := w.manifest(body)
	orig := m + ".orig"
	os.WriteFile(orig, []byte(body), 0o644)
	term := newTerminal(t, w)
	term.send("WARD_LOG_FORMAT=text ward run --log-level debug -m " + m + " -- sh -c 'echo up; exec sleep 60'\r")
	term.expect(`(?m)^up`)
	term.expect(`watching secret files`)
	// Emptied, then written: the command's output comes a moment after
	// the shell's truncation.
	writer := exec.Command("sh", "-c", `{ sleep 0.3; cat "$ORIG"; } > "$M"`)
	writer.Env = append(os.Environ(), "ORIG="+orig, "M="+m)
	if out, err := writer.CombinedOutput(); err != nil {
		t.Fatalf("writer: %v: %s", err, out)
	}
	if got := term.expect(`the manifest was written; it holds what ward read|the manifest changed`); got[0] == "the manifest changed" {
		t.Fatalf("warned that the manifest changed while it was written back as it was")
	}
	os.WriteFile(m+".new", []byte(body+"  PORT: {value: \"3001\"}\n"), 0o644)
	os.Rename(m+".new", m)
	term.expect(`the manifest changed[^\n]*` + regexp.QuoteMeta(m))
	term.send("\x03")
	term.expect(`PROMPT> `)
}
