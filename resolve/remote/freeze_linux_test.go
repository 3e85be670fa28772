package remote

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestFrozenWithItsHelperKillsNothing: ward and its helper frozen
// together for longer than the answer timeout (`docker pause`, a freezer
// cgroup, kill -STOP of both), while ward waits on the helper (a lease it
// keeps) and a ping of its waits for an answer, then thawed, ward first.
// ward's first tick after the thaw found that ping unanswered, the
// timeout gone by the clock, and killed the helper, which answers as soon
// as it runs.
func TestFrozenWithItsHelperKillsNothing(t *testing.T) {
	const timeout = 900 * time.Millisecond
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, helperName)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "WARD_TEST_DIR="+t.TempDir(), "WARD_TEST_CLIENT="+timeout.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncLog{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		b := make([]byte, 64)
		n, _ := stdout.Read(b)
		line <- string(b[:n])
	}()
	var helper int
	select {
	case l := <-line:
		if _, err := fmt.Sscanf(l, "pending helper=%d", &helper); err != nil || helper <= 0 {
			t.Fatalf("the client said %q; its log:\n%s", l, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the client did not say its request was pending; its log:\n%s", logs.String())
	}
	t.Cleanup(func() { syscall.Kill(helper, syscall.SIGCONT) })
	// The freeze catches the client with a ping sent and not answered
	// yet: the helper stops first, and the client once a ping waits in
	// the helper's stdin.
	if err := syscall.Kill(helper, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(fmt.Sprintf("/proc/%d/fd/0", helper))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if n, err := unix.IoctlGetInt(int(in.Fd()), unix.TIOCINQ); err != nil || n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the client sent no ping to its stopped helper")
		}
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !stopped(helper) || !stopped(cmd.Process.Pid); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the client and its helper did not stop")
		}
	}
	// The freeze itself: longer than the answer timeout.
	time.Sleep(2 * timeout)
	for _, pid := range []int{cmd.Process.Pid, helper} {
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing is to happen: the client runs for more than the timeout,
	// pinging the helper, which answers.
	time.Sleep(2 * timeout)
	if strings.Contains(logs.String(), "answered nothing") {
		t.Errorf("the helper was killed after the thaw:\n%s", logs.String())
	}
	if err := syscall.Kill(helper, 0); err != nil {
		t.Errorf("the helper is gone after the thaw: %v", err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("the client: %v\n%s", err, logs.String())
	}
}
