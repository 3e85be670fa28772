//go:build linux

package signals

import (
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

// TestOrphansListsRunningChildren: Orphans lists the process's own
// children that run, but those spared (by pid or first argument) and the
// zombies.
func TestOrphansListsRunningChildren(t *testing.T) {
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pid := cmd.Process.Pid
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	if got := Orphans(nil); !slices.Contains(got, pid) {
		t.Errorf("Orphans(nil) = %v, want it to hold the running child %d", got, pid)
	}
	if got := Orphans([]int{pid}); slices.Contains(got, pid) {
		t.Errorf("Orphans([%d]) = %v, want the spared child left out", pid, got)
	}
	if got := Orphans(nil, "600"); slices.Contains(got, pid) {
		t.Errorf("Orphans(nil, \"600\") = %v, want the child whose first argument is 600 left out", got)
	}
	syscall.Kill(pid, syscall.SIGKILL)
	deadline := time.Now().Add(10 * time.Second)
	for st := procStat(pid); st == nil || st.state != 'Z'; st = procStat(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("child %d did not become a zombie", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := Orphans(nil); slices.Contains(got, pid) {
		t.Errorf("Orphans(nil) = %v, want the zombie %d left out", got, pid)
	}
}
