package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/testdata/helper"
)

// helperOf returns the pid of ward's store helper named name, waiting for
// it to run.
func helperOf(t *testing.T, wardPid int, name string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", wardPid))
		for _, f := range tasks {
			b, _ := os.ReadFile(f)
			for _, c := range strings.Fields(string(b)) {
				argv, err := os.ReadFile("/proc/" + c + "/cmdline")
				if err == nil && filepath.Base(string(bytes.SplitN(argv, []byte{0}, 2)[0])) == name {
					pid, _ := strconv.Atoi(c)
					return pid
				}
			}
		}
		time.Sleep(10 * time.Millisecond) // polling /proc, with a deadline
	}
	t.Fatalf("ward %d has no %s helper", wardPid, name)
	return 0
}

// startedToEnd starts cmd with stdout and stderr read line by line, and
// returns a function that waits for cmd to exit (at most d) and then for
// the last of its stderr. (With StderrPipe, Wait closes the pipe and the
// lines ward wrote last may be lost.)
func startedToEnd(t *testing.T, cmd *exec.Cmd) (stdout, stderr *lines, exit func(d time.Duration) int) {
	t.Helper()
	out, _ := cmd.StdoutPipe()
	pr, pw := io.Pipe()
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	exit = func(d time.Duration) int {
		t.Helper()
		defer pw.Close()
		return exitWithin(t, cmd, d)
	}
	return readLines(t, out), readLines(t, pr), exit
}

// dbChild starts `ward run` (with args) over a child that says "started"
// and waits, given a dynamic PostgreSQL credential from the real Vault
// (TTL ttl, max TTL maxTTL); extra is added to the manifest. It returns
// the cluster, the start of the credential's role name, and what
// startedToEnd returns, once the child has started.
func dbChild(t *testing.T, ttl, maxTTL, extra string, args ...string) (pg *vaulttest.Postgres, rolePart string, cmd *exec.Cmd, stderr *lines, exit func(time.Duration) int) {
	t.Helper()
	srv := vaulttest.Require(t)
	pg = vaulttest.RequirePostgres(t)
	mount, role := srv.Database(t, pg, ttl, maxTTL)
	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  DB_USER: vault://%s/creds/%s#username\n  DB_PASS: vault://%s/creds/%s#password\n%s", mount, role, mount, role, extra))
	cmd = w.command(append(append([]string{"run"}, args...), "-m", m, "--", "sh", "-c", "echo started; exec sleep 600")...)
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+srv.Addr, "VAULT_TOKEN="+srv.Token)
	stdout, stderr, exit := startedToEnd(t, cmd)
	stdout.waitFor("started")
	return pg, role[:8], cmd, stderr, exit
}

// TestHelperOutlivesGroupStop: a SIGTERM that reaches the store helper
// together with ward — systemd's default KillMode=control-group, `pkill
// ward`, `kill 0` from a script — still gets ward's dynamic leases
// revoked. The helper died of the signal at once, so the leases it held
// outlived ward by their whole TTL, with no word in the log.
func TestHelperOutlivesGroupStop(t *testing.T) {
	pg, rolePart, cmd, stderr, exit := dbChild(t, "1h", "2h", "")
	if n := pg.Roles(t, rolePart); n != 1 {
		t.Fatalf("%d database roles of the child's Vault role, want 1", n)
	}
	helper := helperOf(t, cmd.Process.Pid, "ward-vault")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP} {
		// A helper the first signal killed is gone for the others.
		syscall.Kill(helper, sig)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exit(30 * time.Second)
	if n := pg.Roles(t, rolePart); n != 0 {
		t.Errorf("%d database roles left after ward and its helper were stopped together, want 0", n)
	}
	if !stderr.restHolds("vault lease revoked") {
		t.Errorf("ward logged no revocation")
	}
}

// restHolds reads the rest of l, once its process has exited, and
// reports whether a line holds text.
func (l *lines) restHolds(text string) bool {
	held := false
	for line := range l.ch {
		held = held || strings.Contains(line, text)
	}
	return held
}

// TestLeaseRevocationLoggedOnce: a lease given back at a restart is
// logged once, by the store that revoked it. At debug level it was
// logged twice: "vault lease revoked" from the helper, then "old lease
// revoked" from ward.
func TestLeaseRevocationLoggedOnce(t *testing.T) {
	_, _, cmd, stderr, exit := dbChild(t, "2s", "6s", "rotation:\n  debounce: 100ms\n", "--log-level", "debug")
	var logged []string
	keep := func(line string) bool {
		logged = append(logged, line)
		return false
	}
	stderr.skipUntil("a restart", func(line string) bool {
		keep(line)
		return strings.Contains(line, "child restarted with the new secrets")
	})
	stderr.skipUntil("the old lease's revocation", func(line string) bool {
		keep(line)
		return strings.Contains(line, "vault lease revoked")
	})
	cmd.Process.Signal(syscall.SIGTERM)
	exit(30 * time.Second)
	for line := range stderr.ch {
		keep(line)
	}
	revocations, lines := 0, 0
	for _, l := range logged {
		if strings.Contains(l, `"vault lease revoked"`) {
			revocations++
		}
		if strings.Contains(l, "lease revoked") {
			lines++
		}
	}
	if revocations < 2 || lines != revocations {
		t.Errorf("%d log lines about %d lease revocations (the old lease's, then the last one's at exit), want one line each:\n%s", lines, revocations, strings.Join(logged, "\n"))
	}
}

// TestHelperDeathKeepsTheChild: a store helper that dies while the child
// runs on a dynamic secret is an outage, not a change: a new helper takes
// the lease over (a token handed to ward outlives any helper), the child
// keeps running on the credentials it has, and the lease is still
// revoked at exit. The lease's renewal used to end with the helper, so
// ward read the secret again and restarted the child with new
// credentials.
func TestHelperDeathKeepsTheChild(t *testing.T) {
	pg, rolePart, cmd, stderr, exit := dbChild(t, "1h", "2h", "rotation:\n  debounce: 100ms\n", "--log-level", "debug")
	stderr.waitForContaining("vault lease renewed")
	helper := helperOf(t, cmd.Process.Pid, "ward-vault")
	syscall.Kill(helper, syscall.SIGKILL)
	restarted := false
	stderr.skipUntil("a new helper taking the lease over", func(line string) bool {
		restarted = restarted || strings.Contains(line, "child restarted")
		return strings.Contains(line, "takes the lease over")
	})
	// It renews the lease at once, as the old one's renewals moved its
	// end: with no token yet (it had read nothing), its renewals were
	// refused, taken for a lease it may not renew, and the lease ended
	// with the child still using it.
	deadline := time.Now().Add(15 * time.Second)
	for renewed := false; !renewed; {
		line := stderr.nextWithin("the new helper's renewal", time.Until(deadline))
		restarted = restarted || strings.Contains(line, "child restarted")
		renewed = strings.Contains(line, "vault lease renewed")
	}
	if n := pg.Roles(t, rolePart); n != 1 {
		t.Errorf("%d database roles after the helper died, want the child's 1", n)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exit(30 * time.Second)
	for line := range stderr.ch {
		restarted = restarted || strings.Contains(line, "child restarted")
	}
	if restarted {
		t.Errorf("the child was restarted when the store's helper died")
	}
	if n := pg.Roles(t, rolePart); n != 0 {
		t.Errorf("%d database roles left after ward exited, want 0", n)
	}
}

// stoppedHelper is dbChild, debug-logged, whose ward-vault is stopped
// (SIGSTOP) right after a renewal of the child's lease.
func stoppedHelper(t *testing.T, ttl, maxTTL, extra string) (pg *vaulttest.Postgres, rolePart string, cmd *exec.Cmd, stderr *lines, exit func(time.Duration) int) {
	t.Helper()
	pg, rolePart, cmd, stderr, exit = dbChild(t, ttl, maxTTL, extra, "--log-level", "debug")
	stderr.waitForContaining("vault lease renewed")
	helper := helperOf(t, cmd.Process.Pid, "ward-vault")
	syscall.Kill(helper, syscall.SIGSTOP)
	t.Cleanup(func() { syscall.Kill(helper, syscall.SIGKILL) })
	waitUntil(t, "the helper stopped", func() bool { return threadsState(helper) == "T" })
	return pg, rolePart, cmd, stderr, exit
}

// TestStoppedHelperWithAShortLease: the helper renewing a 9 s lease stops
// answering (stopped; a deadlock does the same). It is killed within a
// third of the lease, and a new helper takes the lease over and renews it
// before its end: the child keeps its credentials. It was killed after
// the 30 s answer timeout, 20 s after the lease had ended unrenewed and
// unreported (59 failed logins of the probe's child), and the child was
// then restarted with new ones.
func TestStoppedHelperWithAShortLease(t *testing.T) {
	pg, rolePart, cmd, stderr, exit := stoppedHelper(t, "9s", "10m", "rotation:\n  debounce: 100ms\n")
	restarted, killed := false, false
	deadline := time.Now().Add(20 * time.Second)
	for renewed := false; !renewed; {
		line := stderr.nextWithin("the lease renewed by a new helper", time.Until(deadline))
		restarted = restarted || strings.Contains(line, "child restarted")
		killed = killed || strings.Contains(line, "answered nothing, not even a ping")
		renewed = killed && strings.Contains(line, "vault lease renewed")
	}
	if restarted {
		t.Errorf("the child was restarted: the lease ended before a new helper took it over")
	}
	if n := pg.Roles(t, rolePart); n != 1 {
		t.Errorf("%d database roles, want the child's 1", n)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exit(30 * time.Second)
}

// TestStoppedHelperAtExitGivesTheLeaseBack: the helper holding a dynamic
// secret's lease is stopped (SIGSTOP; a deadlock does the same) when ward
// is told to stop. ward waited 30 s for its answer, past docker stop's
// 10 s, then killed it and left the lease, and the database role, until
// its TTL (59 minutes here); it kills the helper once a ping goes
// unanswered and gives the lease back through a new one.
func TestStoppedHelperAtExitGivesTheLeaseBack(t *testing.T) {
	pg, rolePart, cmd, stderr, exit := stoppedHelper(t, "1h", "2h", "")
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	exit(60 * time.Second)
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("ward took %s to exit, want well within its helpers' 30s close timeout", took.Round(time.Millisecond))
	}
	if n := pg.Roles(t, rolePart); n != 0 {
		t.Errorf("%d database roles left after ward exited, want 0: the lease was not given back", n)
	}
	if !stderr.restHolds("answers nothing, not even a ping, at ward's exit") {
		t.Errorf("ward did not say it killed the silent helper")
	}
}

// TestIdleHelperDeathKeepsTheToken: a store helper killed while no request
// waits for it (between polls) is started again at once, and goes on
// renewing the VAULT_TOKEN it was given. The token's renewal died with
// the old helper, no new one ran until the next poll (5 minutes by
// default), and a token with a shorter TTL expired for good, the child
// left with what it had and every later read refused; nothing was logged.
func TestIdleHelperDeathKeepsTheToken(t *testing.T) {
	srv := vaulttest.Require(t)
	mount := srv.MountKV(t, 2)
	value := canary("idle-token")
	kvPut(t, mount, "app", map[string]any{"a": value})
	policy := srv.Policy(t, fmt.Sprintf("path %q { capabilities = [\"read\"] }\n", mount+"/*"))
	renewable := true
	token := srv.NewToken(t, &vaultapi.TokenCreateRequest{Policies: []string{policy}, TTL: "6s", ExplicitMaxTTL: "10m", Renewable: &renewable})
	w := newWardEnv(t)
	w.canaries = append(w.canaries, value)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  A: vault://%s/app#a\nrotation:\n  poll: 5m\n", mount))
	cmd, stdout, stderr := wardVault(t, w, srv.Addr, token, m)
	if got := envListing(stdout)["A"]; got != helper.Hash(value) {
		t.Fatalf("the child's A is not the value")
	}
	stderr.waitForContaining("vault token renewed")
	syscall.Kill(helperOf(t, cmd.Process.Pid, "ward-vault"), syscall.SIGKILL)
	stderr.waitForContaining("ended while ward ran")
	// Renewed by the new helper, twice (each at two thirds of the TTL):
	// past the TTL the old helper's renewal had given it.
	stderr.waitForContaining("vault token renewed")
	stderr.waitForContaining("vault token renewed")
	if sec, err := srv.Root.Auth().Token().Lookup(token); err != nil {
		t.Fatalf("the token ward was given, two renewals after its helper died: %v", err)
	} else if ttl, _ := sec.TokenTTL(); ttl <= 0 {
		t.Fatalf("the token ward was given has a TTL of %s", ttl)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	stderr.noCanary(t, value)
}

// TestHelperRestartKeepsWorkingDirectory: a store helper that dies during
// a run is started again in the working directory ward was started in,
// where the first one ran, so a relative path in its environment
// (VAULT_CONFIG_PATH=vault-cli.hcl, VAULT_CACERT=ca.pem) names the same
// file. ward has moved to / by then (it holds no directory while the child
// runs), and the new helper started there found no token helper and read
// nothing again.
func TestHelperRestartKeepsWorkingDirectory(t *testing.T) {
	srv := vaulttest.Require(t)
	mount := srv.MountKV(t, 2)
	first, second := canary("helper-cwd-1"), canary("helper-cwd-2")
	kvPut(t, mount, "app", map[string]any{"a": first})
	w := newWardEnv(t)
	w.canaries = append(w.canaries, first, second)
	tokenHelper := filepath.Join(w.dir, "token-helper")
	os.WriteFile(tokenHelper, []byte("#!/bin/sh\n[ \"$1\" = get ] && echo "+srv.Token+"\n"), 0o700)
	os.WriteFile(filepath.Join(w.dir, "vault-cli.hcl"), []byte(fmt.Sprintf("token_helper = %q\n", tokenHelper)), 0o600)
	w.env = append(w.env, "VAULT_CONFIG_PATH=vault-cli.hcl")
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  A: vault://%s/app#a\n%s", mount, fastRotation))
	// No VAULT_TOKEN: the token helper's.
	cmd, stdout, stderr := wardVault(t, w, srv.Addr, "", m)
	if got := envListing(stdout)["A"]; got != helper.Hash(first) {
		t.Fatalf("the child's A is not the first value")
	}
	syscall.Kill(helperOf(t, cmd.Process.Pid, "ward-vault"), syscall.SIGKILL)
	kvPut(t, mount, "app", map[string]any{"a": second})
	if got := envListing(stdout)["A"]; got != helper.Hash(second) {
		t.Errorf("after the helper died and the value changed, the child's A is not the second value")
	}
	stopAndCount(t, cmd, stdout, stderr, first, second, srv.Token)
}

// TestHelpersHoldNoInheritedDescriptor: a descriptor ward was started
// with beyond its stdio (`7<file`, a CI step shell's pipe) is the
// child's, which gets it; ward's store helper and its guard close it.
// They held it for ward's whole life, and a pipe's reader waited for its
// end (a CI runner waits 5 s at a step's end).
func TestHelpersHoldNoInheritedDescriptor(t *testing.T) {
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "the descriptors of a non-dumpable helper are root's to read")
	}
	srv := vaulttest.Require(t)
	mount := srv.MountKV(t, 2)
	w := newWardEnv(t)
	value := canary("inherited-fd")
	w.canaries = append(w.canaries, value)
	kvPut(t, mount, "app", map[string]any{"a": value})
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  A: vault://%s/app#a\n", mount))
	marker := filepath.Join(w.dir, "inherited")
	f, err := os.Create(marker)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", `echo "child fd 3: $(readlink /proc/self/fd/3)"; exec sleep 600`)
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+srv.Addr, "VAULT_TOKEN="+srv.Token)
	cmd.ExtraFiles = []*os.File{f}
	stdout, stderr := started(t, cmd)
	if got := stdout.waitFor("child fd 3: "); got != "child fd 3: "+marker {
		t.Errorf("the child's descriptor 3: %q, want the one ward was started with", got)
	}
	// The helper served the value; the guard says when it is ready.
	waitUntil(t, "the guard ready", func() bool { return strings.Contains(stderr.String(), "guard ready") })
	for _, name := range []string{"ward-vault", "ward"} {
		pid := helperOf(t, cmd.Process.Pid, name)
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, fd := range fds {
			if l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name())); l == marker {
				t.Errorf("%s (the helper, or the guard) holds the descriptor ward was started with, as its %s", name, fd.Name())
			}
		}
	}
}
