package main

// The fifteenth run's part on debugging ward: the switches people turn on
// to see what a failing start does (ward's log level and format, the
// SDKs' and Go's own debug variables a store helper inherits), and what
// each leaves in ward's log.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/resolve/aws/awstest"
	"github.com/wardsecrets/ward/resolve/azure/azuretest"
	"github.com/wardsecrets/ward/resolve/gcp/gcptest"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/testdata/helper"
)

// tlsDevVault starts a real Vault dev server with a TLS listener (its
// -dev-tls certificate, issued by a CA it writes to a directory), whose
// root token is token, and returns its address and the CA file. Over TLS
// Go's client speaks HTTP/2 to it, as to any Vault behind TLS.
func tlsDevVault(t *testing.T, token string) (addr, caFile string) {
	t.Helper()
	bin := os.Getenv("VAULT_TEST_BIN")
	if bin == "" {
		vaulttest.RequireIntegration(t, "no Vault binary: run scripts/vault-server.sh build and . DIR/vault.env")
	}
	dir := t.TempDir()
	port := freePort(t)
	addr = "https://127.0.0.1:" + port
	caFile = filepath.Join(dir, "vault-ca.pem")
	srv := exec.Command(bin, "server", "-dev", "-dev-tls", "-dev-tls-cert-dir="+dir, "-dev-root-token-id="+token,
		"-dev-listen-address=127.0.0.1:"+port, "-dev-no-store-token")
	srv.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin"}
	logf, err := os.Create(filepath.Join(dir, "vault.log"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	vaulttest.WaitFor(t, "the TLS Vault dev server", 30*time.Second, func() bool {
		if _, err := os.Stat(caFile); err != nil {
			return false
		}
		cfg := vaultapi.DefaultConfig()
		cfg.Address = addr
		if cfg.ConfigureTLS(&vaultapi.TLSConfig{CACert: caFile}) != nil {
			return false
		}
		c, err := vaultapi.NewClient(cfg)
		if err != nil {
			return false
		}
		_, err = c.Sys().Health()
		return err == nil
	})
	return addr, caFile
}

// TestHTTP2DebugLeavesHelpersQuiet: GODEBUG=http2debug=2 (or 1) in ward's
// environment, set to see what a TLS connection does, and a Vault over
// TLS, which Go's client speaks HTTP/2 to. ward's log holds neither the
// token nor the value, and says why the helper did not take the setting;
// the child still gets GODEBUG as it was. The helper inherited the
// setting and logged every header it sent (`x-vault-token` in clear) and
// the first 256 bytes of every frame it read (the secret's JSON), each
// line a warning in ward's log, at every log level.
func TestHTTP2DebugLeavesHelpersQuiet(t *testing.T) {
	w := newWardEnv(t)
	token := w.canary("vault-token")
	addr, caFile := tlsDevVault(t, token)
	value := w.canary("h2-value")
	cfg := vaultapi.DefaultConfig()
	cfg.Address = addr
	if err := cfg.ConfigureTLS(&vaultapi.TLSConfig{CACert: caFile}); err != nil {
		t.Fatal(err)
	}
	c, err := vaultapi.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	if _, err := c.KVv2("secret").Put(context.Background(), "app", map[string]any{"pw": value}); err != nil {
		t.Fatal(err)
	}
	w.env = append(withoutEnv(w.env, "VAULT_ADDR", "VAULT_TOKEN", "VAULT_CACERT", "VAULT_CAPATH", "VAULT_AGENT_ADDR", "GODEBUG"),
		"VAULT_ADDR="+addr, "VAULT_TOKEN="+token, "VAULT_CACERT="+caFile)
	m := w.manifest("version: 1\nenv:\n  PW: vault://secret/app#pw\n")
	for _, godebug := range []string{"http2debug=2", "gctrace=0,http2debug=1"} {
		env := w.env
		w.env = append(env, "GODEBUG="+godebug)
		code, stdout, stderr := w.run("run", "--log-level", "debug", "-m", m, "--", "helper", "env")
		w.env = env
		if code != 0 {
			t.Fatalf("GODEBUG=%s: got exit code %d, want 0: %s", godebug, code, redactAll(stderr, value, token))
		}
		got := listing(stdout)
		if got["PW"] != helper.Hash(value) || got["GODEBUG"] != helper.Hash(godebug) {
			t.Errorf("GODEBUG=%s: the child does not have the value, or GODEBUG as ward had it", godebug)
		}
		// w.run failed the test if the value or the token was in ward's
		// output; the helper's own HTTP/2 lines must not be there either
		// (not quoted: a frame's line holds part of the value).
		if n := strings.Count(stderr, "http2: Transport") + strings.Count(stderr, "http2: Framer"); n > 0 {
			t.Errorf("GODEBUG=%s: %d of the helper's HTTP/2 debug lines are in ward's log", godebug, n)
		}
		if !strings.Contains(stderr, `"msg":"GODEBUG's http2debug=`) || !strings.Contains(stderr, "is not passed to the store's helper") {
			t.Errorf("GODEBUG=%s: ward's log does not say the helper did not take http2debug", godebug)
		}
	}
}

// jsonRecords reads ward's stderr under --log-format json: every line is
// one JSON object whose keys are each there once (a collector keeps one
// of two, or rejects the line). It returns the records, and reports the
// lines that are not, without quoting them.
func jsonRecords(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var records []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(stderr, "\n"), "\n") {
		if line == "" {
			continue
		}
		if err := uniqueKeys(json.NewDecoder(strings.NewReader(line))); err != nil {
			t.Errorf("line %d of ward's log is not one JSON object with each key once: %v", i+1, err)
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Errorf("line %d of ward's log: %v", i+1, err)
			continue
		}
		records = append(records, r)
	}
	return records
}

// uniqueKeys reads one JSON value from d, and fails on an object that
// has a key twice, or on anything after the value.
func uniqueKeys(d *json.Decoder) error {
	var value func() error
	value = func() error {
		tok, err := d.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for d.More() {
				k, err := d.Token()
				if err != nil {
					return err
				}
				key, _ := k.(string)
				if seen[key] {
					return fmt.Errorf("the key %q twice", key)
				}
				seen[key] = true
				if err := value(); err != nil {
					return err
				}
			}
			_, err = d.Token()
			return err
		case json.Delim('['):
			for d.More() {
				if err := value(); err != nil {
					return err
				}
			}
			_, err = d.Token()
			return err
		}
		return nil
	}
	if err := value(); err != nil {
		return err
	}
	if _, err := d.Token(); err == nil {
		return fmt.Errorf("more after the object")
	}
	return nil
}

// TestHelperRecordsHaveEachKeyOnce: `ward run --log-level debug` under
// JSON logs (a container's), with Google's store, whose helper names the
// store in its own records as ward does. Every line is a JSON object with
// each key once, the store named once. The helper's records came back
// with a second "store" key ({"store":"gcp","identity":...,"store":"gcp"}),
// which Elasticsearch and Logstash reject as a duplicate field and most
// others read as one of the two.
func TestHelperRecordsHaveEachKeyOnce(t *testing.T) {
	srv, w := gcpWard(t)
	srv.AddVersion(gcpSecret("api-key"), []byte(w.canary("gcp-key")))
	m := w.manifest("version: 1\n" + gcpStores(srv) + "env:\n  API_KEY: gcpsm://" + gcptest.Project + "/api-key\n")
	code, _, stderr := w.run("run", "--log-level", "debug", "--log-format", "json", "-m", m, "--", "true")
	if code != 0 {
		t.Fatalf("got exit code %d, want 0: %s", code, stderr)
	}
	found := false
	for _, r := range jsonRecords(t, stderr) {
		if r["msg"] == "google credentials ready" {
			found = true
			if r["store"] != "gcp" {
				t.Errorf("the helper's record names the store %v, want gcp", r["store"])
			}
			if src, _ := r["source"].(string); !strings.Contains(src, "GOOGLE_APPLICATION_CREDENTIALS") {
				t.Errorf("the helper's record has source %q, want the credentials it found", src)
			}
		}
	}
	if !found {
		t.Errorf("no record of the helper's (\"google credentials ready\") in ward's debug log")
	}
}

// TestHelperSignalDumpAtDebug: a SIGQUIT sent to a store helper (to see
// where it hangs, as to any Go program) or a SIGSEGV, under
// GOTRACEBACK=all and crash: ward logs the runtime's first line as one
// warning and the stack dump after it at debug, as it does for a panic.
// Only "panic: " and "fatal error: " began a crash; after "SIGQUIT: quit"
// each of the dump's 200 to 500 lines was a warning of its own.
func TestHelperSignalDumpAtDebug(t *testing.T) {
	for _, tc := range []struct {
		sig       syscall.Signal
		first     string
		traceback string
	}{
		{syscall.SIGQUIT, "SIGQUIT: quit", "all"},
		{syscall.SIGSEGV, "SIGSEGV: segmentation violation", "crash"},
	} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			srv, w := awsWard(t)
			srv.PutSecretString("app/db", w.canary("aws-db"))
			m := w.manifest("version: 1\nenv:\n  DB: awssm://app/db\n")
			cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "sh", "-c", "echo started; exec sleep 600")
			cmd.Env = append(cmd.Env, "GOTRACEBACK="+tc.traceback)
			stdout, stderr, exit := startedToEnd(t, cmd)
			stdout.waitFor("started")
			helper := helperOf(t, cmd.Process.Pid, "ward-aws")
			if err := syscall.Kill(helper, tc.sig); err != nil {
				t.Fatal(err)
			}
			var logged []string
			stderr.skipUntil("the dump of the helper's goroutines", func(line string) bool {
				logged = append(logged, line)
				return strings.Contains(line, "store helper: goroutine ")
			})
			cmd.Process.Signal(syscall.SIGTERM)
			if code := exit(30 * time.Second); code != 143 {
				t.Errorf("ward exited %d, want 143 (its child's SIGTERM): the helper's death is no outage while nothing is read", code)
			}
			for line := range stderr.ch {
				logged = append(logged, line)
			}
			var warnings, dump int
			first := false
			for _, r := range jsonRecords(t, strings.Join(logged, "\n")) {
				msg, _ := r["msg"].(string)
				if !strings.HasPrefix(msg, "store helper: ") {
					continue
				}
				switch r["level"] {
				case "WARN":
					warnings++
					first = first || msg == "store helper: "+tc.first
				case "DEBUG":
					dump++
				}
			}
			if warnings != 1 || !first {
				t.Errorf("got %d warnings of the helper's stderr, want one, %q", warnings, tc.first)
			}
			if dump < 10 {
				t.Errorf("got %d lines of the helper's stack dump at debug, want them all", dump)
			}
		})
	}
}

// TestAzureSDKLoggingAtDebug: AZURE_SDK_GO_LOGGING=all in ward's
// environment (set to debug another Azure program of the container, or
// ward's own credential chain). At ward's default level nothing of the
// SDK's is logged; at debug each of its events is one record at debug:
// what was asked, the answer's status, how long it took, the headers as
// the SDK redacts them. The helper inherited the setting and the SDK
// wrote to its stderr, which ward logged line by line as warnings: 116
// for one secret read, and as many again at every poll.
func TestAzureSDKLoggingAtDebug(t *testing.T) {
	srv, w := azureWard(t, (*azuretest.Server).Env)
	srv.SetSecret("app", w.canary("az-sdk-log"))
	w.canaries = append(w.canaries, srv.ClientSecret())
	w.env = append(w.env, "AZURE_SDK_GO_LOGGING=all")
	m := w.manifest("version: 1\n" + azureStores + "env:\n  APP: azkv://" + srv.VaultHost() + "/app\n")
	for _, level := range []string{"info", "debug"} {
		code, _, stderr := w.run("run", "--log-level", level, "-m", m, "--", "true")
		if code != 0 {
			t.Fatalf("--log-level %s: got exit code %d, want 0: %s", level, code, stderr)
		}
		var warnings, events, requests int
		for _, r := range jsonRecords(t, stderr) {
			msg, _ := r["msg"].(string)
			if r["level"] == "WARN" || r["level"] == "ERROR" {
				warnings++
			}
			if strings.HasPrefix(msg, "azure sdk: ") && r["level"] == "DEBUG" {
				events++
				detail, _ := r["detail"].(string)
				if strings.HasPrefix(msg, "azure sdk: ==> OUTGOING REQUEST") && strings.Contains(detail, "GET https://"+srv.VaultHost()+"/secrets/app") {
					requests++
				}
			}
		}
		if warnings != 0 {
			t.Errorf("--log-level %s: got %d warnings, want none", level, warnings)
		}
		switch {
		case level == "info" && events != 0:
			t.Errorf("--log-level info: got %d of the SDK's events, want none", events)
		case level == "debug" && requests == 0:
			t.Errorf("--log-level debug: got %d of the SDK's events and no request for the secret at debug, want each request as one record", events)
		}
	}
}

// TestHelperEnvironHoldsNoCredential: a store helper's /proc/PID/environ,
// what it was started with, holds none of ward's environment but the Go
// runtime's settings: the store's credentials reach it over its pipe. A
// program is dumpable from its exec until main makes it otherwise (a
// helper: while the SDKs' initialisers run), and meanwhile any process
// of the same user reads that file: a loop watching for ward-vault read
// VAULT_TOKEN at 22 of 30 starts, and could again at every restart of a
// helper, days into a run. (Read here as root, whom non-dumpable does
// not stop.)
func TestHelperEnvironHoldsNoCredential(t *testing.T) {
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "reading a non-dumpable helper's /proc/PID/environ needs root")
	}
	srv, w := awsWard(t)
	token := w.canary("vault-token-beside")
	w.env = append(withoutEnv(w.env, "GODEBUG", "GOMEMLIMIT", "GOMAXPROCS", "GOTRACEBACK", "LD_LIBRARY_PATH", "LD_PRELOAD"), "VAULT_TOKEN="+token, "GOGC=150")
	pid, stop := awsHelperRun(t, srv, w, "aws-environ")
	environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, kv := range strings.Split(strings.TrimSuffix(string(environ), "\x00"), "\x00") {
		name, _, _ := strings.Cut(kv, "=")
		names = append(names, name)
	}
	if strings.Contains(string(environ), token) || strings.Contains(string(environ), awstest.SecretAccessKey) {
		t.Errorf("the helper's /proc/%d/environ holds ward's credentials (it has %d variables: %s)", pid, len(names), strings.Join(names, ", "))
	} else if strings.Join(names, ",") != "GOGC" {
		t.Errorf("the helper's /proc/%d/environ holds %s, want GOGC alone", pid, strings.Join(names, ", "))
	}
	stop()
}

// awsHelperRun starts `ward run` of one Secrets Manager value (a canary
// of tag) whose child waits, checks that the child has the value, and
// returns the pid of ward's ward-aws and a stop that ends the run with
// SIGTERM and checks that none of w's canaries is in ward's log.
func awsHelperRun(t *testing.T, srv *awstest.Server, w *wardEnv, tag string) (helperPid int, stop func()) {
	t.Helper()
	value := w.canary(tag)
	srv.PutSecretString("app/db", value)
	m := w.manifest("version: 1\nenv:\n  DB: awssm://app/db\n")
	cmd := w.command("run", "-m", m, "--", "helper", "env", "wait")
	stdout, stderr, exit := startedToEnd(t, cmd)
	if envListing(stdout)["DB"] != helper.Hash(value) {
		t.Errorf("the child does not have the value")
	}
	return helperOf(t, cmd.Process.Pid, "ward-aws"), func() {
		t.Helper()
		cmd.Process.Signal(syscall.SIGTERM)
		if code := exit(30 * time.Second); code != 143 && code != 0 {
			t.Errorf("ward exited %d at SIGTERM", code)
		}
		for line := range stderr.ch {
			for _, c := range w.canaries {
				if strings.Contains(line, c) {
					t.Errorf("a canary is in ward's log")
				}
			}
		}
	}
}

// wardAlone returns a directory that holds ward's program and nothing
// else: ward looks for its helpers beside its own file, where a test
// then puts the helper it wants found.
func wardAlone(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ward, err := exec.LookPath("ward")
	if err != nil {
		t.Fatal(err)
	}
	if ward, err = filepath.EvalSymlinks(ward); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(ward, filepath.Join(dir, "ward")); err != nil {
		b, err := os.ReadFile(ward)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "ward"), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestHelperLastWordsLogged: a store helper that cannot start and says
// why on its stderr, as the dynamic loader does for a helper built with
// cgo and copied where its C library is not (here /bin/true with its
// libc.so.6 renamed libc.so.9, beside a copy of ward): its line is in
// ward's log before the failure, every time. ward said "the store's
// helper program exited (exit status 127)" and exited, and the loader's
// "error while loading shared libraries" was logged in about half of
// the runs: the helper's stderr was read on its own, and the request
// failed, and ward exited, as soon as the helper was seen to be gone
// (at once when its stdin was already closed).
func TestHelperLastWordsLogged(t *testing.T) {
	w := newWardEnv(t)
	dir := wardAlone(t)
	prog, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Count(prog, []byte("libc.so.6\x00")) != 1 {
		t.Fatalf("/bin/true does not need libc.so.6 (a C library other than glibc?)")
	}
	prog = bytes.Replace(prog, []byte("libc.so.6\x00"), []byte("libc.so.9\x00"), 1)
	if err := os.WriteFile(filepath.Join(dir, "ward-vault"), prog, 0o755); err != nil {
		t.Fatal(err)
	}
	m := w.manifest("version: 1\nenv:\n  A: vault://secret/app#a\n")
	for run := range 10 {
		cmd := exec.Command(filepath.Join(dir, "ward"), "run", "-m", m, "--", "true")
		cmd.Env = append(w.env, "VAULT_ADDR=http://127.0.0.1:1", "VAULT_TOKEN=unused")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		code := exitCode(t, cmd.Run())
		said, failed := -1, -1
		for i, r := range jsonRecords(t, stderr.String()) {
			msg, _ := r["msg"].(string)
			if strings.HasPrefix(msg, "store helper: ") && strings.Contains(msg, "error while loading shared libraries: libc.so.9") {
				said = i
			}
			// (With its status when ward's reaper has not collected it.)
			if r["level"] == "ERROR" && strings.Contains(msg, "the store's helper program exited") {
				failed = i
			}
		}
		if code != 125 || failed < 0 {
			t.Fatalf("run %d: got exit code %d, want 125 and the helper's exit (stderr: %s)", run, code, stderr.String())
		}
		if said < 0 || said > failed {
			t.Fatalf("run %d: the loader's line is not in ward's log before the failure (stderr: %s)", run, stderr.String())
		}
	}
}
