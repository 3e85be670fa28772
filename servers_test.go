package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
