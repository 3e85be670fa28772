package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// TestDockerStopAsPID1 stands in for `docker run` + `docker stop`: ward is
// PID 1 of a new PID namespace with a secret file; its child leaves
// orphans behind and waits; SIGTERM to ward (as docker stop sends it) is
// forwarded, the child exits, ward exits with its code, the orphans were
// reaped, and the secret file is gone.
func TestDockerStopAsPID1(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		vaulttest.RequireIntegration(t, "unshare (util-linux) is not installed")
	}
	w := newWardEnv(t)
	secret := canary("docker")
	w.set("app/key", secret)
	m := w.manifest("version: 1\nfiles:\n  - path: key.pem\n    ref: local://app/key\n    env: KEY_FILE\n")
	ward, _ := exec.LookPath("ward")
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", ward, "run", "-m", m, "--",
		"sh", "-c", `helper spawn-orphans 20; test -r "$KEY_FILE" && echo file-ok; echo "ppid=$PPID"; exec helper signals --exit-on TERM`)
	cmd.Env = w.env
	out, _ := cmd.StdoutPipe()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	l := readLines(t, out)
	l.waitFor("file-ok")
	if line := l.waitFor("ppid="); line != "ppid=1" {
		t.Errorf("got %q, want ward (the child's parent) to be pid 1", line)
	}
	l.waitFor("child ready")

	wardPid := childOf(t, cmd.Process.Pid)
	if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(wardPid) + "/comm"); strings.TrimSpace(string(comm)) != "ward" {
		t.Fatalf("pid %d is %q, not ward", wardPid, comm)
	}
	// docker stop: SIGTERM to PID 1.
	syscall.Kill(wardPid, syscall.SIGTERM)
	if line := l.waitFor("child SIG"); line != "child SIGTERM" {
		t.Errorf("got %q, want the child to get SIGTERM", line)
	}
	if code := exitCode(t, cmd.Wait()); code != 0 {
		t.Errorf("got exit code %d, want the child's 0 (stderr: %s)", code, stderr.String())
	}
	if files := listFiles(t, w.runtime); len(files) != 0 {
		t.Errorf("secret files left after docker stop: %v", files)
	}
	if strings.Contains(stderr.String(), secret) {
		t.Errorf("the canary is in ward's stderr")
	}
}
