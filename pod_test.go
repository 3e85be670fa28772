package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// podMounts runs ward in a mount namespace of its own set up as a pod's
// volumes are: script mounts them (its $1 is the test's directory), then
// execs "$@" (ward and its arguments).
func podMounts(t *testing.T, w *wardEnv, env []string, script string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		vaulttest.RequireIntegration(t, "unshare (util-linux) is not installed")
	}
	ward, _ := exec.LookPath("ward")
	cmd := exec.Command("unshare", append([]string{"--mount", "sh", "-c", script + ` || exit 99; shift; exec "$@"`, "sh", w.dir, ward}, args...)...)
	cmd.Env = env
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	code = exitCode(t, cmd.Run())
	if code == 99 || strings.Contains(e.String(), "unshare failed") {
		vaulttest.RequireIntegration(t, "cannot mount a tmpfs in a mount namespace of its own (unshare --mount needs CAP_SYS_ADMIN): "+e.String())
	}
	return code, o.String(), e.String()
}

// TestPodRuntimeDirRefusals: in a pod whose /dev/shm is a volume without
// the sticky bit and whose /run is not root's alone to write, ward finds no
// place for its files, and the error says why each was refused: it named
// them alone ("among /run, /dev/shm"), though both were there and on
// tmpfs. The hint names what serves in a pod, a memory emptyDir (tmpfs,
// mode 1777, setgid to the pod's fsGroup), and one given as
// $WARD_RUNTIME_DIR does serve.
func TestPodRuntimeDirRefusals(t *testing.T) {
	w := newWardEnv(t)
	value := canary("pod")
	token := filepath.Join(w.dir, "token")
	os.WriteFile(token, []byte(value), 0o600)
	m := w.manifest("version: 1\nfiles:\n  - path: tls.key\n    ref: file://" + token + "\n    env: KEY_FILE\n")
	emptyDir := filepath.Join(w.dir, "emptydir")
	os.Mkdir(emptyDir, 0o755)
	mounts := `mount -t tmpfs -o mode=0777 shm /dev/shm && mount -t tmpfs -o mode=0777 run /run && mount -t tmpfs ed "$1/emptydir" && chgrp 1000680000 "$1/emptydir" && chmod g+s "$1/emptydir"`
	var env []string
	for _, kv := range w.env {
		if !strings.HasPrefix(kv, "WARD_RUNTIME_DIR=") {
			env = append(env, kv)
		}
	}

	code, stdout, stderr := podMounts(t, w, env, mounts, "run", "-m", m, "--", "sh", "-c", `echo started`)
	if code != 125 || strings.Contains(stdout, "started") {
		t.Errorf("got exit code %d and output %q, want 125 and the child not started", code, stdout)
	}
	for _, want := range []string{
		"/dev/shm has mode 0777: others may write it, and without the sticky bit",
		"/run has mode 0777",
		"emptyDir: {medium: Memory}",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the error does not say %q; it said:\n%s", want, stderr)
		}
	}

	code, stdout, stderr = podMounts(t, w, append(env, "WARD_RUNTIME_DIR="+emptyDir), mounts, "run", "-m", m, "--", "sh", "-c", `cat "$KEY_FILE"`)
	if code != 0 || stdout != value {
		t.Errorf("with a memory emptyDir as $WARD_RUNTIME_DIR: exit code %d, the child read %d bytes, want 0 and the secret's %d (stderr: %s)", code, len(stdout), len(value), stderr)
	}
	if strings.Contains(stderr, value) {
		t.Error("the secret's value is in ward's stderr")
	}
}

// TestPodSecretUnreadable: a secret volume's file ward's user may not
// read (the pod's arbitrary UID against root's 0400 files, no fsGroup)
// fails with who owns it, its mode and who ward is, and the pod settings
// that make it readable; it was a bare "permission denied".
func TestPodSecretUnreadable(t *testing.T) {
	w := newWardEnv(t)
	token := filepath.Join(w.dir, "token")
	os.WriteFile(token, []byte(canary("unreadable")), 0o000)
	m := w.manifest("version: 1\nenv:\n  TOKEN: file://" + token + "\n")
	cmd := w.command("run", "-m", m, "--", "sh", "-c", "echo started")
	if os.Geteuid() == 0 {
		// root reads any file through CAP_DAC_OVERRIDE; a pod's process has
		// neither it nor CAP_DAC_READ_SEARCH.
		if _, err := exec.LookPath("setpriv"); err != nil {
			vaulttest.RequireIntegration(t, "setpriv (util-linux) is not installed")
		}
		ward, _ := exec.LookPath("ward")
		cmd.Args = append([]string{"setpriv", "--bounding-set=-dac_override,-dac_read_search", ward}, cmd.Args[1:]...)
		cmd.Path, _ = exec.LookPath("setpriv")
	}
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	code := exitCode(t, cmd.Run())
	if code != 125 || strings.Contains(o.String(), "started") {
		t.Errorf("got exit code %d and output %q, want 125 and the child not started", code, o.String())
	}
	for _, want := range []string{"permission denied (it has mode 0000, owned by uid", "ward runs as uid", "securityContext.fsGroup"} {
		if !strings.Contains(e.String(), want) {
			t.Errorf("the error does not say %q; it said:\n%s", want, e.String())
		}
	}
}
