package signals

import (
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func needCPUs(t *testing.T) unix.CPUSet {
	t.Helper()
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	if all.Count() < 2 {
		t.Skip("one CPU: onOneCPU moves nothing")
	}
	return all
}

// TestOnOneCPU: during f every thread is on one CPU; afterwards every
// thread, those the runtime made meanwhile too, has its CPUs back.
func TestOnOneCPU(t *testing.T) {
	all := needCPUs(t)
	before := len(threads())
	var during int
	onOneCPU(func() {
		for _, tid := range threads() {
			var cur unix.CPUSet
			if err := unix.SchedGetaffinity(tid, &cur); err == nil && cur.Count() != 1 {
				t.Errorf("thread %d runs on %d CPUs during f, want 1", tid, cur.Count())
			}
		}
		// Goroutines blocked in a read of a plain pipe each hold a
		// thread, so the runtime makes new ones while pinned.
		var p [2]int
		if err := unix.Pipe(p[:]); err != nil {
			t.Fatal(err)
		}
		defer unix.Close(p[0])
		defer unix.Close(p[1])
		done := make(chan bool)
		for range 8 {
			go func() {
				var b [1]byte
				unix.Read(p[0], b[:])
				done <- true
			}()
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(threads()) < before+4 {
			if time.Now().After(deadline) {
				t.Fatalf("the runtime made no thread for 8 blocked reads within 10s (%d before)", before)
			}
			runtime.Gosched()
		}
		during = len(threads())
		unix.Write(p[1], make([]byte, 8))
		for range 8 {
			<-done
		}
	})
	if during <= before {
		t.Fatalf("no thread was made during f (%d before, %d during)", before, during)
	}
	for _, tid := range threads() {
		var cur unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &cur); err == nil && cur != all {
			t.Errorf("thread %d runs on %d CPUs after f, want %d", tid, cur.Count(), all.Count())
		}
	}
}

// TestOnOneCPUHoldsForks: a process started while the threads are on one
// CPU would stay there for good, so none starts until they are back.
func TestOnOneCPUHoldsForks(t *testing.T) {
	needCPUs(t)
	want := allowedList(t, readFile(t, "/proc/self/status"))
	out := make(chan string, 1)
	onOneCPU(func() {
		go func() {
			b, _ := exec.Command("cat", "/proc/self/status").Output()
			out <- string(b)
		}()
		// The start must wait for onOneCPU to return: a start that does
		// not is over well within this.
		select {
		case got := <-out:
			t.Errorf("a process started while the threads were on one CPU (it ran on %s)", allowedList(t, got))
			out <- got
		case <-time.After(300 * time.Millisecond):
		}
	})
	if got := allowedList(t, <-out); got != want {
		t.Errorf("the process started afterwards runs on CPUs %s, want %s", got, want)
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// allowedList is the Cpus_allowed_list of a /proc/PID/status.
func allowedList(t *testing.T, status string) string {
	t.Helper()
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no Cpus_allowed_list in %q", status)
	return ""
}
