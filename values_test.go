package main

import (
	"encoding/base64"
	"strings"
	"testing"
)

// TestMaskTrimmedValue: a value with spaces around it (pasted into a store
// with them) is masked, and found by ward scan, also as the program trims
// it: `echo $TOKEN` unquoted, a config library's TrimSpace, and the
// base64 of what is left.
func TestMaskTrimmedValue(t *testing.T) {
	w := newWardEnv(t)
	c := canary("trim")
	w.set("padded", "  "+c+"\t \n")
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://padded\n")
	code, stdout, stderr := w.run("run", "--mask", "-m", m, "--", "sh", "-c",
		`set -- $TOKEN; echo "token=$1"; printf %s "$1" | base64 -w0; echo`)
	if code != 0 {
		t.Fatalf("ward run: exit %d: %s", code, stderr)
	}
	for what, form := range map[string]string{"trimmed": c, "trimmed base64": base64.StdEncoding.EncodeToString([]byte(c))} {
		if strings.Contains(stdout, form) {
			t.Errorf("TOKEN is in the child's output unmasked, %s", what)
		}
	}
	if !strings.Contains(stdout, "token=<ward:TOKEN>") {
		t.Errorf("no token=<ward:TOKEN> line in the child's output")
	}
}
