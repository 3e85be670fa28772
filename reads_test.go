package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/aws/awstest"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// countingProxy stands before the Vault test server and counts the
// requests per path.
type countingProxy struct {
	mu    sync.Mutex
	paths map[string]int
	srv   *http.Server
	addr  string
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{paths: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.paths[r.Method+" "+r.URL.Path]++
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go p.srv.Serve(l)
	t.Cleanup(func() { p.srv.Close() })
	p.addr = "http://" + l.Addr().String()
	return p
}

func (p *countingProxy) count(method, path string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.paths[method+" "+path]
}

// TestEachSecretReadOncePerStart: one start reads each document once —
// at Vault, at AWS and in the local store — and the check of watched
// files after the start reads nothing that did not change. A restart
// caused by a local change reads only the local store again: the polled
// stores' values were current at the last poll.
func TestEachSecretReadOncePerStart(t *testing.T) {
	srv := vaulttest.Require(t)
	proxy := newCountingProxy(t, srv.Addr)
	mount := srv.MountKV(t, 2)
	srv.KVPut(t, mount, 2, "app", map[string]any{"a": canary("va"), "b": canary("vb")})
	aws := awstest.New()
	defer aws.Close()
	aws.PutSecretString("prod/one", canary("sm1"))
	aws.PutSecretString("prod/two", `{"k":"`+canary("sm2")+`"}`)
	aws.PutParameter("/app/flag", canary("ssm"), true)

	w := newWardEnv(t)
	w.set("app/token", canary("local1"))
	m := w.manifest(fmt.Sprintf(`version: 1
env:
  VA: vault://%s/app#a
  VB: vault://%s/app#b
  SM1: awssm://prod/one
  SM2: awssm://prod/two#k
  FLAG: ssm:///app/flag
  TOKEN: local://app/token
rotation:
  debounce: 0
`, mount, mount))
	cmd := w.command("run", "--log-level", "debug", "-m", m, "--", "helper", "env", "wait")
	cmd.Env = append(cmd.Env, aws.Env()...)
	cmd.Env = append(cmd.Env, "VAULT_ADDR="+proxy.addr, "VAULT_TOKEN="+srv.Token)
	out, _ := cmd.StdoutPipe()
	logFile := filepath.Join(w.dir, "ward.log")
	logs, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	stdout := readLines(t, out)
	stdout.waitFor("end")
	log := func() string { b, _ := os.ReadFile(logFile); return string(b) }
	vaulttest.WaitFor(t, "ward's watch of the local store", 10*time.Second, func() bool {
		return strings.Contains(log(), "watching secret files for changes")
	})
	// Five documents, five audit lines: none read twice.
	if n := strings.Count(log(), `"msg":"secret fetched"`); n != 5 {
		t.Errorf("after the start: %d documents read, want 5", n)
	}

	dataPath := "/v1/" + mount + "/data/app"
	check := func(when string, vault, sm, ssm int) {
		t.Helper()
		if got := proxy.count("GET", dataPath); got != vault {
			t.Errorf("%s: Vault read %s %d times, want %d", when, dataPath, got, vault)
		}
		if got := aws.Calls("BatchGetSecretValue") + aws.Calls("GetSecretValue"); got != sm {
			t.Errorf("%s: %d Secrets Manager calls, want %d (one batch)", when, got, sm)
		}
		if got := aws.Calls("GetParameters") + aws.Calls("GetParameter"); got != ssm {
			t.Errorf("%s: %d SSM calls, want %d", when, got, ssm)
		}
	}
	check("after the start and its watch check", 1, 1, 1)

	// A local change restarts the child; the polled stores are not read
	// again.
	w.set("app/token", canary("local2"))
	stdout.waitFor("end")
	vaulttest.WaitFor(t, "the restart", 10*time.Second, func() bool {
		return strings.Contains(log(), "child restarted with the new secrets")
	})
	check("after a restart for a local change", 1, 1, 1)
	if n := strings.Count(log(), `"msg":"secret fetched"`); n != 6 {
		t.Errorf("after the restart: %d documents read in all, want 6 (the local store once more)", n)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	exitCode(t, cmd.Wait())
}
