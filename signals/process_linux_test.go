package signals

import (
	"os"
	"os/exec"
	"testing"
)

// TestProcessNamesOne: Process gives a process's parent and its start,
// the same at each look; a process that has ended and been reaped is
// gone.
func TestProcessNamesOne(t *testing.T) {
	parent, started, ok := Process(os.Getpid())
	if !ok || parent != os.Getppid() || started == "" {
		t.Fatalf("Process(self) = %d, %q, %v; want the parent %d and a start", parent, started, ok, os.Getppid())
	}
	if _, again, _ := Process(os.Getpid()); again != started {
		t.Errorf("the start changed between two looks: %q, %q", started, again)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := Process(cmd.Process.Pid); ok {
		t.Errorf("a reaped process is still there")
	}
}
