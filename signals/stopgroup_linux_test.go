package signals

import (
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"
)

// init is, in TestStopSelfAndGroupContinuedAtOnce's child (the test
// binary run again, in a process group of its own), the child.
func init() {
	if os.Getenv("WARD_TEST_STOP_GROUP") != "" {
		os.Exit(stopGroupChild())
	}
}

// stopGroupChild stops itself and its group, a sleep beside it, as ward
// does for a Ctrl-Z of its child; the group is continued (a shell's fg)
// as soon as the sleep has stopped, before the child's own stop could be
// taken. It returns once continued.
func stopGroupChild() int {
	// Caught, as ward catches them.
	signal.Notify(make(chan os.Signal, 4), syscall.SIGTSTP, syscall.SIGCONT)
	sib := exec.Command("sleep", "30")
	if sib.Start() != nil {
		return 2
	}
	defer sib.Process.Kill()
	stopSelf(syscall.SIGTSTP, func() {
		SignalOwnGroup(syscall.SIGTSTP)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if st := procStat(sib.Process.Pid); st != nil && st.state == 'T' {
				break
			}
		}
		syscall.Kill(0, syscall.SIGCONT)
	}, nil)
	return 0
}

// TestStopSelfAndGroupContinuedAtOnce: a SIGCONT that reaches ward's
// group after the rest of it has stopped but before ward's own stop is
// taken (a shell that saw the script stop and got a fg typed at once)
// continues ward too. ward stopped the script first and itself after:
// the fg's SIGCONT came to a ward still running, which then stopped for
// good, the script running and the terminal its.
func TestStopSelfAndGroupContinuedAtOnce(t *testing.T) {
	cmd := testBinaryAs("WARD_TEST_STOP_GROUP", &syscall.SysProcAttr{Setpgid: true})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the child: %v", err)
		}
	case <-time.After(10 * time.Second):
		state := byte('?')
		if st := procStat(cmd.Process.Pid); st != nil {
			state = st.state
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Fatalf("the child has not returned within 10s of its group's SIGCONT (state %c)", state)
	}
}

// testBinaryAs is the test binary run again, running no test, with the
// variable env set to 1: a child whose init acts on env.
func testBinaryAs(env string, attr *syscall.SysProcAttr) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env+"=1")
	cmd.SysProcAttr = attr
	return cmd
}
