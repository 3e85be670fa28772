package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
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
	src := w.mounted(canary("gun1"))
	m := w.manifest("version: 1\nfiles:\n  - path: token\n    ref: file://" + src + "\n    env: TOKEN_FILE\nrotation:\n  on_change: signal\n  signal: SIGHUP\n  debounce: 100ms\n")
	cmd, log, addr := gunicorn(t, w, m, 1)
	slow := holdRequest(t, w.dir, "http://"+addr)
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
  // Counted here: disconnect() takes a worker out of cluster.workers at
  // once, long before it has finished.
  let stopping = false, alive = 0;
  const done = () => { if (stopping && alive === 0) process.exit(0); };
  cluster.on('fork', () => alive++);
  cluster.on('exit', () => { alive--; done(); });
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

// startNodeCluster starts `ward run ARGS -- node` with nodeCluster,
// without a controlling terminal; it returns ward's command, its output
// and log lines, and the cluster's address.
func startNodeCluster(t *testing.T, w *wardEnv, args ...string) (cmd *exec.Cmd, out, stderr *lines, url string) {
	t.Helper()
	needProgram(t, "node", "nodejs")
	script := filepath.Join(w.dir, "cluster.cjs")
	if err := os.WriteFile(script, []byte(nodeCluster), 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd = w.command(append(append([]string{"run"}, args...), "--", "node", script, w.dir, port)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, stderr = startedLines(t, cmd)
	return cmd, out, stderr, "http://127.0.0.1:" + port
}

// TestNodeClusterStopSignalChildOnly: with --signal-child-only, as the
// README advises for a server whose master manages its workers, a
// SIGTERM to ward (docker stop) reaches the primary alone, which lets its
// workers finish the request in flight; ward exits 0 with it.
func TestNodeClusterStopSignalChildOnly(t *testing.T) {
	w := newWardEnv(t)
	cmd, out, _, url := startNodeCluster(t, w, "--signal-child-only", "-m", w.manifest(emptyManifest))
	out.waitFor("ready ")
	slow := holdRequest(t, w.dir, url)
	cmd.Process.Signal(syscall.SIGTERM)
	out.waitFor("primary SIGTERM")
	os.WriteFile(filepath.Join(w.dir, "release"), nil, 0o600)
	if a := <-slow; a.err != nil || !strings.HasPrefix(a.body, "pid=") {
		t.Errorf("the request in flight at the stop got %q, %v; want its answer", a.body, a.err)
	}
	if code := exitWithin(t, cmd, 10*time.Second); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
}

// TestNodeClusterRestartOnRotation: a rotation restart of a Node.js
// cluster stops it as its primary expects, and a request in flight is
// answered; the new cluster then serves on the same port. rotation's
// stop_signal went to the whole process group, and the workers, which
// leave SIGTERM to the primary, died of it mid-request.
func TestNodeClusterRestartOnRotation(t *testing.T) {
	w := newWardEnv(t)
	src := w.mounted(canary("node1"))
	m := w.manifest("version: 1\nfiles:\n  - path: token\n    ref: file://" + src + "\n    env: TOKEN_FILE\nrotation:\n  debounce: 100ms\n")
	cmd, out, stderr, url := startNodeCluster(t, w, "-m", m)
	first := out.waitFor("ready ")
	slow := holdRequest(t, w.dir, url)
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
	// Forwarded, this SIGTERM reaches the workers too, which the primary
	// does not expect (see TestNodeClusterStopSignalChildOnly): its exit
	// code is not this test's business.
	cmd.Process.Signal(syscall.SIGTERM)
	exitWithin(t, cmd, 10*time.Second)
}

// TestJVMThreadDump: SIGQUIT to ward reaches a JVM, which prints its
// thread dump and runs on, and so does ward (a Ctrl-\ from a terminal
// is the same signal: ward must not take it for the end of the run); the
// JVM's SIGTERM shutdown then gives 143.
func TestJVMThreadDump(t *testing.T) {
	needProgram(t, "java", "default-jre-headless")
	w := newWardEnv(t)
	src := filepath.Join(w.dir, "Ticker.java")
	os.WriteFile(src, []byte(`public class Ticker {
  public static void main(String[] args) throws Exception {
    for (int i = 0; ; i++) {
      System.out.println("tick " + i);
      Thread.sleep(50);
    }
  }
}
`), 0o644)
	cmd := w.command("run", "-m", w.manifest(emptyManifest), "--", "java", src)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	out, stderr := started(t, cmd)
	out.waitFor("tick ")
	cmd.Process.Signal(syscall.SIGQUIT)
	out.waitFor("Full thread dump")
	// Ticks after the dump: the JVM runs on.
	out.skipUntil("a tick after the thread dump", func(line string) bool { return strings.HasPrefix(line, "tick ") })
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitWithin(t, cmd, 10*time.Second); code != 143 {
		t.Errorf("got exit code %d, want 143 (stderr: %s)", code, stderr.String())
	}
}

// selfSigned returns a PEM certificate and key for a server named cn.
func selfSigned(t *testing.T, cn string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: cn}, DNSNames: []string{cn}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})
}

// servedName is the common name of the certificate a TLS handshake with
// addr is answered with, "" when there is none.
func servedName(addr string) string {
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		return ""
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

// replaceFile writes b to path through a new file renamed over it, as a
// certificate manager or a Kubernetes secret update does.
func replaceFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path+".new", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".new", path); err != nil {
		t.Fatal(err)
	}
}

// TestNginxCertificateRotation: nginx in the foreground with its TLS key
// and certificate (and its configuration) from ward's files: when both
// change, ward rewrites them and sends SIGHUP, and nginx serves the new
// certificate without a reload error; SIGQUIT (its graceful stop) ends it
// and ward with 0. The key and the certificate are replaced one after the
// other, within the debounce: 2s, as a loaded machine may pause the test
// between them (with 200ms, nginx could reload a key that does not match
// its certificate).
func TestNginxCertificateRotation(t *testing.T) {
	needProgram(t, "nginx", "nginx")
	w := newWardEnv(t)
	src := filepath.Join(w.dir, "src")
	os.MkdirAll(filepath.Join(w.dir, "tmp"), 0o700)
	os.MkdirAll(src, 0o700)
	addr := "127.0.0.1:" + freePort(t)
	conf := fmt.Sprintf(`daemon off;
pid %[1]s/nginx.pid;
error_log stderr info;
worker_processes 2;
events {}
http {
  access_log off;
  client_body_temp_path %[1]s/tmp;
  proxy_temp_path %[1]s/tmp;
  fastcgi_temp_path %[1]s/tmp;
  uwsgi_temp_path %[1]s/tmp;
  scgi_temp_path %[1]s/tmp;
  server {
    listen %[2]s ssl;
    ssl_certificate tls/cert.pem;
    ssl_certificate_key tls/key.pem;
    location / { return 200 "ok\n"; }
  }
}
`, w.dir, addr)
	os.WriteFile(filepath.Join(src, "nginx.conf"), []byte(conf), 0o600)
	cert, key := selfSigned(t, "one.test")
	os.WriteFile(filepath.Join(src, "cert.pem"), cert, 0o600)
	os.WriteFile(filepath.Join(src, "key.pem"), key, 0o600)
	// The configuration is a file of ward's too: nginx reads the
	// certificate's relative paths from the directory it is in.
	m := w.manifest(fmt.Sprintf(`version: 1
files:
  - path: nginx.conf
    ref: file://%[1]s/nginx.conf
    env: NGINX_CONF
  - path: tls/cert.pem
    ref: file://%[1]s/cert.pem
  - path: tls/key.pem
    ref: file://%[1]s/key.pem
rotation:
  on_change: signal
  signal: SIGHUP
  stop_signal: SIGQUIT
  debounce: 2s
`, src))
	cmd := w.command("run", "-m", m, "--", "sh", "-c", `exec nginx -e stderr -c "$NGINX_CONF"`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	_, log := startedLines(t, cmd)
	var problems []string
	watch := func(line string) {
		if strings.Contains(line, "[emerg]") || strings.Contains(line, "[alert]") || strings.Contains(line, "[crit]") {
			problems = append(problems, line)
		}
	}
	waitUntil(t, "nginx to serve one.test", func() bool { return servedName(addr) == "one.test" })
	cert, key = selfSigned(t, "two.test")
	replaceFile(t, filepath.Join(src, "key.pem"), key)
	replaceFile(t, filepath.Join(src, "cert.pem"), cert)
	log.skipUntil("nginx's reload", func(line string) bool { watch(line); return strings.Contains(line, "reconfiguring") })
	waitUntil(t, "nginx to serve two.test", func() bool { return servedName(addr) == "two.test" })
	cmd.Process.Signal(syscall.SIGQUIT)
	if code := exitWithin(t, cmd, 10*time.Second); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
	for line := range log.ch {
		watch(line)
	}
	if len(problems) > 0 {
		t.Errorf("nginx reported errors: %q", problems)
	}
	if _, err := os.Stat(filepath.Join(w.dir, "nginx.pid")); err == nil {
		t.Errorf("nginx.pid is left: nginx did not stop cleanly")
	}
}

// answer is what a request got: its body, or the error.
type answer struct {
	body string
	err  error
}

// holdRequest sends a request for /slow to the app at url (gunicornApp,
// nodeCluster), which holds it in flight until dir/release exists, and
// returns once the app has it.
func holdRequest(t *testing.T, dir, url string) <-chan answer {
	t.Helper()
	slow := make(chan answer, 1)
	go func() {
		body, err := get(url + "/slow")
		slow <- answer{body, err}
	}()
	waitUntil(t, "the slow request to start", func() bool {
		_, err := os.Stat(filepath.Join(dir, "started"))
		return err == nil
	})
	return slow
}

// get requests url and returns the body, or the error. The connection is
// not kept: a server that stops waits for its idle connections.
func get(url string) (string, error) {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get(url)
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
