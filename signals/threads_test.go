package signals

import (
	"errors"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
)

// TestSpareThreadsSettled: once SpareThreads returns, every thread the
// runtime asked for is one the kernel runs, so none is made later, when
// a child may have taken every process the limit allows; and
// kernelThreads reads the kernel's count.
//
// The check runs in a process of its own: in the package's test binary,
// goroutines other tests left (a child's wait, a signal loop) can make
// the runtime ask for a thread at any moment, one the kernel cannot yet
// run when the count is read.
func TestSpareThreadsSettled(t *testing.T) {
	if os.Getenv("WARD_SPARE_THREADS_ALONE") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSpareThreadsSettled$", "-test.count=1", "-test.v")
		// No collection starts during the check (a collection can wake
		// an idle processor and ask for a thread for it).
		cmd.Env = append(os.Environ(), "WARD_SPARE_THREADS_ALONE=1", "GOGC=off")
		out, err := cmd.CombinedOutput()
		if !errors.Is(err, syscall.ENOEXEC) {
			if err != nil {
				t.Fatalf("the check in a process of its own: %v\n%s", err, out)
			}
			return
		}
		// Under qemu-user run by go test -exec, without binfmt_misc,
		// the kernel runs no binary of the emulated machine: checked
		// here, beside the package's other tests.
		t.Logf("the test binary cannot be run again here (%v): checked in this process", err)
	}
	SpareThreads(6)
	// What the runtime has asked for is read first: the kernel's count
	// read after it only grows (no thread of the runtime's ends here).
	want, _ := runtime.ThreadCreateProfile(nil)
	have, ok := kernelThreads()
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	if !ok || have < len(tasks)-1 || have > len(tasks)+1 {
		t.Fatalf("kernelThreads() = %d, %v; /proc/self/task has %d", have, ok, len(tasks))
	}
	if have < want {
		t.Errorf("the kernel runs %d threads and the runtime has asked for %d: some are still to be made", have, want)
	}
	if have < 6 {
		t.Errorf("%d threads after SpareThreads(6)", have)
	}
}
