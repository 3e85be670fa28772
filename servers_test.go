package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// Real servers behind ward, as people run them under envconsul or Vault
// Agent's supervisor: their own masters and workers, their own signals.

// needProgram skips t when program (from Debian's package pkg) is not
// installed, or fails it under WARD_REQUIRE_INTEGRATION=1.
func needProgram(t *testing.T, program, pkg string) {
	t.Helper()
	if _, err := exec.LookPath(program); err != nil {
		vaulttest.RequireIntegration(t, program+" is not installed (Debian's "+pkg+")")
	}
}

// gunicornApp writes a WSGI app to dir: / answers at once; /slow marks
// its start by creating dir/started and answers once dir/release exists,
// a request held in flight for as long as the test wants.
func gunicornApp(t *testing.T, dir string) {
	t.Helper()
	app := `import os, time
def app(environ, start_response):
    if environ['PATH_INFO'] == '/slow':
        open(os.path.join(DIR, 'started'), 'w').close()
        deadline = time.time() + 20
        while not os.path.exists(os.path.join(DIR, 'release')) and time.time() < deadline:
            time.sleep(0.01)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'pid=%d\n' % os.getpid()]
`
	if err := os.WriteFile(filepath.Join(dir, "app.py"), []byte("DIR = "+fmt.Sprintf("%q", dir)+"\n"+app), 0o644); err != nil {
		t.Fatal(err)
	}
}

// gunicorn starts ward running gunicorn with the app of gunicornApp and
// workers sync workers, without a controlling terminal (as under a service
// manager); it returns ward's command, gunicorn's log lines and the
// server's address.
func gunicorn(t *testing.T, w *wardEnv, manifest string, workers int) (*exec.Cmd, *lines, string) {
	t.Helper()
	needProgram(t, "gunicorn", "gunicorn")
	gunicornApp(t, w.dir)
	addr := "127.0.0.1:" + freePort(t)
	cmd := w.command("run", "-m", manifest, "--", "gunicorn", "--workers", fmt.Sprint(workers), "--bind", addr, "--chdir", w.dir, "app:app")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	_, stderr := startedLines(t, cmd)
	for booted := 0; booted < workers; {
		stderr.waitForContaining("Booting worker")
		booted++
	}
	return cmd, stderr, addr
}

// TestGunicornWorkersFromKill: `kill -TTIN` and `kill -TTOU` of ward add
// and remove a gunicorn worker, as they do sent to gunicorn itself;
// they used to be dropped (and sent to gunicorn's whole group they would
// stop every worker, which leaves them to the default action).
func TestGunicornWorkersFromKill(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	cmd, log, _ := gunicorn(t, w, m, 1)
	cmd.Process.Signal(syscall.SIGTTIN)
	log.waitForContaining("Handling signal: ttin")
	log.waitForContaining("Booting worker")
	cmd.Process.Signal(syscall.SIGTTOU)
	log.waitForContaining("Handling signal: ttou")
	log.waitForContaining("Worker exiting")
	cmd.Process.Signal(syscall.SIGTERM)
	log.waitForContaining("Shutting down: Master")
	if code := exitWithin(t, cmd, 10*time.Second); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
}

// TestGunicornReloadOnRotation: with on_change: signal and SIGHUP,
// gunicorn reloads gracefully when a secret file changes: a request in
// flight on an old worker is answered. The signal went to gunicorn's
// whole group, and its workers, which leave SIGHUP to its default action,
// died of it mid-request.
func TestGunicornReloadOnRotation(t *testing.T) {
	w := newWardEnv(t)
	src := filepath.Join(w.dir, "mounted", "token")
	os.MkdirAll(filepath.Dir(src), 0o700)
	os.WriteFile(src, []byte(canary("gun1")), 0o600)
	m := w.manifest("version: 1\nfiles:\n  - path: token\n    ref: file://" + src + "\n    env: TOKEN_FILE\nrotation:\n  on_change: signal\n  signal: SIGHUP\n  debounce: 100ms\n")
	cmd, log, addr := gunicorn(t, w, m, 1)
	type answer struct {
		body string
		err  error
	}
	slow := make(chan answer, 1)
	go func() {
		body, err := get("http://" + addr + "/slow")
		slow <- answer{body, err}
	}()
	waitUntil(t, "the slow request to start", func() bool {
		_, err := os.Stat(filepath.Join(w.dir, "started"))
		return err == nil
	})
	tmp := src + ".new"
	os.WriteFile(tmp, []byte(canary("gun2")), 0o600)
	os.Rename(tmp, src)
	log.waitForContaining("Handling signal: hup")
	log.waitForContaining("Booting worker")
	os.WriteFile(filepath.Join(w.dir, "release"), nil, 0o600)
	if a := <-slow; a.err != nil || !strings.HasPrefix(a.body, "pid=") {
		t.Errorf("the request in flight at the reload got %q, %v; want its answer", a.body, a.err)
	}
	if body, err := get("http://" + addr + "/"); err != nil {
		t.Errorf("after the reload: %v", err)
	} else if !strings.HasPrefix(body, "pid=") {
		t.Errorf("after the reload got %q", body)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitWithin(t, cmd, 10*time.Second); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
}

// nodeCluster is a Node.js cluster as its guides write one: a primary
// that forks two workers and, on SIGTERM or SIGINT, disconnects them (each
// finishes what it serves) and exits once they are gone. / answers at once;
// /slow marks its start by creating DIR/started and answers once
// DIR/release exists.
const nodeCluster = `const cluster = require('cluster'), http = require('http'), fs = require('fs'), path = require('path');
const dir = process.argv[2], port = +process.argv[3];
if (cluster.isPrimary) {
  for (let i = 0; i < 2; i++) cluster.fork();
  let online = 0;
  cluster.on('listening', () => { if (++online === 2) console.log('ready ' + process.pid); });
  let stopping = false;
  const done = () => { if (stopping && Object.keys(cluster.workers).length === 0) process.exit(0); };
  cluster.on('exit', done);
  const stop = (sig) => {
    console.log('primary ' + sig);
    stopping = true;
    for (const w of Object.values(cluster.workers)) if (w.isConnected()) w.disconnect();
    done();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
} else {
  http.createServer((req, res) => {
    if (req.url !== '/slow') return res.end('pid=' + process.pid + '\n');
    fs.writeFileSync(path.join(dir, 'started'), '');
    const poll = setInterval(() => {
      if (fs.existsSync(path.join(dir, 'release'))) { clearInterval(poll); res.end('pid=' + process.pid + '\n'); }
    }, 10);
  }).listen(port, '127.0.0.1');
}
`

// TestNodeClusterRestartOnRotation: a rotation restart of a Node.js
// cluster stops it as its primary expects, and a request in flight is
// answered; the new cluster then serves on the same port. rotation's
// stop_signal went to the whole process group, and the workers, which
// leave SIGTERM to the primary, died of it mid-request.
func TestNodeClusterRestartOnRotation(t *testing.T) {
	needProgram(t, "node", "nodejs")
	w := newWardEnv(t)
	script := filepath.Join(w.dir, "cluster.cjs")
	if err := os.WriteFile(script, []byte(nodeCluster), 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(w.dir, "mounted", "token")
	os.MkdirAll(filepath.Dir(src), 0o700)
	os.WriteFile(src, []byte(canary("node1")), 0o600)
	m := w.manifest("version: 1\nfiles:\n  - path: token\n    ref: file://" + src + "\n    env: TOKEN_FILE\nrotation:\n  debounce: 100ms\n")
	port := freePort(t)
	cmd := w.command("run", "-m", m, "--", "node", script, w.dir, port)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, stderr := startedLines(t, cmd)
	first := out.waitFor("ready ")
	url := "http://127.0.0.1:" + port
	type answer struct {
		body string
		err  error
	}
	slow := make(chan answer, 1)
	go func() {
		body, err := get(url + "/slow")
		slow <- answer{body, err}
	}()
	waitUntil(t, "the slow request to start", func() bool {
		_, err := os.Stat(filepath.Join(w.dir, "started"))
		return err == nil
	})
	tmp := src + ".new"
	os.WriteFile(tmp, []byte(canary("node2")), 0o600)
	os.Rename(tmp, src)
	out.waitFor("primary SIGTERM")
	os.WriteFile(filepath.Join(w.dir, "release"), nil, 0o600)
	if a := <-slow; a.err != nil || !strings.HasPrefix(a.body, "pid=") {
		t.Errorf("the request in flight at the restart got %q, %v; want its answer", a.body, a.err)
	}
	if second := out.waitFor("ready "); second == first {
		t.Fatalf("no new cluster: %s", second)
	}
	stderr.waitForContaining("child restarted with the new secrets")
	if body, err := get(url + "/"); err != nil || !strings.HasPrefix(body, "pid=") {
		t.Errorf("the new cluster got %q, %v", body, err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitWithin(t, cmd, 10*time.Second); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
}

// get requests url and returns the body, or the error.
func get(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return string(b), err
}
