//go:build linux

package signals

import (
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestReapDoesNotStealStatuses runs 500 commands to completion while the
// reaper collects, on every SIGCHLD, the orphans that keep arriving (this
// test process is a subreaper): every command must get its own exit
// status. Without the lock, wait4(-1) takes some of them first and
// os/exec's Wait fails with "no child processes".
func TestReapDoesNotStealStatuses(t *testing.T) {
	if err := BecomeSubreaper(); err != nil {
		t.Fatalf("become a subreaper: %v", err)
	}
	sigs := make(chan os.Signal, 64)
	signal.Notify(sigs, syscall.SIGCHLD)
	defer signal.Stop(sigs)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-sigs:
				Reap(-1)
			case <-stop:
				Reap(-1)
				return
			}
		}
	}()
	// Orphans: a shell that leaves a background child behind, which
	// re-parents to this process.
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			cmd := exec.Command("sh", "-c", "true & exit 0")
			if err := Run(cmd); err != nil {
				t.Errorf("orphan maker: %v", err)
				return
			}
		}
	}()
	failures := 0
	for i := 0; i < 500; i++ {
		if err := Run(exec.Command("true")); err != nil {
			failures++
			if failures <= 3 {
				t.Errorf("run %d: %v", i, err)
			}
		}
	}
	close(stop)
	wg.Wait()
	if failures > 0 {
		t.Errorf("%d of 500 commands lost their exit status", failures)
	}
	// Every orphan was collected: none is left as a zombie child.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var ws syscall.WaitStatus
		pid, _ := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("zombies keep arriving after the test")
		}
	}
}

// TestReapWithoutLockStealsStatuses shows the race the lock closes: the
// same loop, with the commands waited for outside Run, loses statuses. It
// is the proof that the test above can fail.
func TestReapWithoutLockStealsStatuses(t *testing.T) {
	if err := BecomeSubreaper(); err != nil {
		t.Fatalf("become a subreaper: %v", err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				Reap(-1)
			}
		}
	}()
	failures := 0
	for i := 0; i < 500 && failures == 0; i++ {
		if err := exec.Command("true").Run(); err != nil {
			failures++
		}
	}
	close(stop)
	<-done
	if failures == 0 {
		t.Fatal("500 unlocked commands beside a busy reaper all kept their status: the race this lock closes did not show, so the locked test proves nothing on this machine")
	}
}
