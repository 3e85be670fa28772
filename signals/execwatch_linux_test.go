package signals

import (
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// init is, in TestExecLook's child (the test binary run again, its
// command line the test's), the child: it stops at once, before any test
// runs (the package's tests ran first, and took more than the test's
// 10 s on a busy machine), and ends once continued.
func init() {
	if os.Getenv("WARD_TEST_STOP_SELF") != "" {
		syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		syscall.Exit(0)
	}
}

// TestExecLook: the start's watch finds the forking thread's child that
// leads its group, stopped while its command line is still ward's, with
// the signal that stopped it, and allocates nothing doing so (a
// collection's start would wait for the fork's scheduler for good). A
// child stopped as another program, or one running, is not taken.
func TestExecLook(t *testing.T) {
	look := newExecLook()
	if look == nil {
		t.Fatal("no /proc/self/cmdline")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	start := func(name string, args ...string) *exec.Cmd {
		cmd := exec.Command(name, args...)
		cmd.Env = append(os.Environ(), "WARD_TEST_STOP_SELF=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		return cmd
	}
	// Another program stopped, and one running.
	other := start("sleep", "30")
	syscall.Kill(other.Process.Pid, syscall.SIGSTOP)
	waitStopped(t, other.Process.Pid)
	start("sleep", "30")
	if pid, _ := look.stopped(tid); pid != 0 {
		t.Fatalf("found %d, a child that is not ward's", pid)
	}
	self := start(os.Args[0], os.Args[1:]...)
	waitStopped(t, self.Process.Pid)
	// A Go program's group stop is complete, and its signal reported to
	// a wait, once every thread has stopped: its first thread shows T
	// before (ci68, on a loaded machine, read no report and took the
	// stop for a SIGTSTP).
	waitStopReported(t, self.Process.Pid)
	pid, sig := look.stopped(tid)
	if pid != self.Process.Pid || sig != syscall.SIGSTOP {
		t.Fatalf("found %d stopped by %v, want %d stopped by SIGSTOP", pid, sig, self.Process.Pid)
	}
	if allocs := testing.AllocsPerRun(20, func() { look.stopped(tid) }); allocs != 0 {
		t.Errorf("a look allocates %v times, want none", allocs)
	}
	syscall.Kill(pid, syscall.SIGCONT)
	if err := self.Wait(); err != nil {
		t.Errorf("the continued child: %v", err)
	}
}

// waitStopReported waits until a wait would report child pid's stop.
func waitStopReported(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		var info unix.Siginfo
		if err := unix.Waitid(unix.P_PID, pid, &info, unix.WSTOPPED|unix.WNOHANG|unix.WNOWAIT, nil); err == nil && info.Signo == int32(syscall.SIGCHLD) {
			return
		}
	}
	t.Fatalf("process %d's stop was not reported", pid)
}

// waitStopped waits until process pid is stopped.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if st := procStat(pid); st != nil && st.state == 'T' {
			return
		}
	}
	t.Fatalf("process %d did not stop", pid)
}
