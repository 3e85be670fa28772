package signals

import (
	"os"
	"runtime"
	"testing"
)

// TestSpareThreadsSettled: once SpareThreads returns, every thread the
// runtime asked for is one the kernel runs, so none is made later, when
// a child may have taken every process the limit allows; and
// kernelThreads reads the kernel's count.
func TestSpareThreadsSettled(t *testing.T) {
	SpareThreads(6)
	have, ok := kernelThreads()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	if !ok || have < len(tasks)-1 || have > len(tasks)+1 {
		t.Fatalf("kernelThreads() = %d, %v; /proc/self/task has %d", have, ok, len(tasks))
	}
	if want, _ := runtime.ThreadCreateProfile(nil); have < want {
		t.Errorf("the kernel runs %d threads and the runtime has asked for %d: some are still to be made", have, want)
	}
	if have < 6 {
		t.Errorf("%d threads after SpareThreads(6)", have)
	}
}
