package main

// The advice under an error whose system call failed, made to fail by
// strace's fault injection (see underStrace): the hint names the cause
// the errno says, not the one a first guess at the place would.

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// hintCase is one errno injected, with what ward's output must say (want)
// and must not (not) under it.
type hintCase struct {
	errno     string
	want, not []string
}

// checkHint fails the test unless out, ward's output under c's errno,
// says every one of c.want and none of c.not, and holds none of w's
// canaries.
func checkHint(t *testing.T, w *wardEnv, c hintCase, out string) {
	t.Helper()
	for _, s := range c.want {
		if !strings.Contains(out, s) {
			t.Errorf("%s: the output does not say %q:\n%s", c.errno, s, out)
		}
	}
	for _, s := range c.not {
		if strings.Contains(out, s) {
			t.Errorf("%s: the output says %q, which the errno contradicts:\n%s", c.errno, s, out)
		}
	}
	for _, v := range w.canaries {
		if strings.Contains(out, v) {
			t.Errorf("%s: a canary is in ward's output", c.errno)
		}
	}
}

const (
	// runtimeDirHint is the start of the advice for a private directory
	// this user may not make where it is (dirHint's other).
	runtimeDirHint = "set $WARD_RUNTIME_DIR to a directory on tmpfs"
	// eioHint is from failure.SystemHint's advice for EIO.
	eioHint = "a device or file system failing"
)

// TestHintsRuntimeDirMkdir: this user's root in $WARD_RUNTIME_DIR cannot
// be made. EIO (a disk or FUSE/NFS mount failing) is said to be that;
// it got the advice for a place this user may not write (set
// $WARD_RUNTIME_DIR elsewhere), which a refusal (EACCES) still gets; an
// errno neither explains (EBUSY) gets no guess. 125 each time, the
// program never started.
func TestHintsRuntimeDirMkdir(t *testing.T) {
	for _, c := range []hintCase{
		{errno: "EIO", want: []string{"input/output error", eioHint}, not: []string{runtimeDirHint}},
		{errno: "EACCES", want: []string{"permission denied", runtimeDirHint}},
		{errno: "EROFS", want: []string{"read-only file system", "mounted read-only: " + runtimeDirHint}},
		{errno: "EBUSY", want: []string{"device or resource busy"}, not: []string{runtimeDirHint, `"hint"`}},
	} {
		t.Run(c.errno, func(t *testing.T) {
			w := newWardEnv(t)
			w.set("app/key", canary("hintdir"+c.errno))
			m := w.manifest("version: 1\nfiles:\n  - path: k.pem\n    ref: local://app/key\n    env: KEY_FILE\n")
			root := filepath.Join(w.runtime, "ward-"+strconv.Itoa(os.Geteuid()))
			started := filepath.Join(w.dir, "started")
			cmd, _ := w.underStrace(t, []string{"-e", "trace=mkdirat", "-P", root, "-e", "inject=mkdirat:error=" + c.errno},
				"run", "-m", m, "--", "touch", started)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 125 {
				t.Fatalf("got exit code %d, want 125:\n%s", code, out)
			}
			if _, err := os.Stat(started); err == nil {
				t.Errorf("the program started")
			}
			checkHint(t, w, c, string(out))
		})
	}
}
