package owngc

import (
	"math"
	"os"
	"os/exec"
	"runtime/debug"
	"strings"
	"testing"
)

// TestReset: in a process started with GOGC=off and GOMEMLIMIT=8MiB (the
// runtime reads them as it starts), Reset gives back the defaults, 100
// and no limit.
func TestReset(t *testing.T) {
	if os.Getenv("OWNGC_CHILD") != "" {
		Reset()
		percent := debug.SetGCPercent(100)
		limit := debug.SetMemoryLimit(math.MaxInt64)
		if percent != 100 || limit != math.MaxInt64 {
			t.Fatalf("after Reset: GOGC %d, GOMEMLIMIT %d", percent, limit)
		}
		return
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, env := range [][]string{{"GOGC=off"}, {"GOMEMLIMIT=8MiB"}, {"GOGC=25", "GOMEMLIMIT=1GiB"}} {
		cmd := exec.Command(self, "-test.run=^TestReset$", "-test.v")
		cmd.Env = append(append(os.Environ(), "OWNGC_CHILD=1"), env...)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestReset") {
			t.Errorf("with %v: %v\n%s", env, err, out)
		}
	}
}
