package signals

import (
	"bufio"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
)

// init is, in TestStartUnderCtrlZs's child (the test binary run again,
// leading a session on a pty whose foreground its group is), the child.
func init() {
	if os.Getenv("WARD_TEST_FORK_UNDER_STOPS") != "" {
		os.Exit(startUnderStops())
	}
}

// startUnderStops starts /bin/true again and again, its group stopped
// by SIGTSTP meanwhile as fast as the test sends it, and waits for each
// to end (continuing it when the stop was handed on to it).
func startUnderStops() int {
	// Caught, as ward catches it.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTSTP)
	if os.Getenv("WARD_TEST_FORK_GARBAGE") != "" {
		// Another goroutine's garbage: collections start, and stop the
		// world, while the starts go on.
		go func() {
			var keep [][]byte
			for {
				if keep = append(keep, make([]byte, 32<<10)); len(keep) == 64 {
					keep = keep[:0]
				}
			}
		}()
	}
	os.Stdout.WriteString("ready\n")
	for range 300 {
		c, err := Start(StartOptions{Path: "/bin/true", Argv: []string{"true"}, Env: []string{}})
		if err != nil {
			return 3
		}
		for {
			var ws syscall.WaitStatus
			if _, err := syscall.Wait4(c.Pid, &ws, syscall.WUNTRACED, nil); err != nil && err != syscall.EINTR {
				return 4
			}
			if ws.Stopped() {
				syscall.Kill(c.Pid, syscall.SIGCONT)
				continue
			}
			if ws.Exited() || ws.Signaled() {
				break
			}
		}
	}
	return 0
}

// TestStartUnderCtrlZs: a process whose group has its terminal's
// foreground (ward in a pipeline, `ward run -- cmd | tee log`, or at its
// start) forks its child while Ctrl-Z after Ctrl-Z reaches the group. A
// stop that reached the forked child before it left the group stopped
// it before its exec, and the fork, which waits for that exec, waited
// for good. Every start returns.
func TestStartUnderCtrlZs(t *testing.T) {
	startUnderCtrlZs(t, false)
}

// TestStartUnderCtrlZsWithGarbage: the same while another goroutine makes
// garbage. A collection that began while a start's child was stopped
// before its exec waited for the fork's scheduler (the fork holds it
// until the exec) and stopped the rest of ward meanwhile, the watch that
// would have continued the child with it: ward hung for good (the race
// detector's ward beside two busy loops, a Ctrl-Z in a run's first
// milliseconds, 1 try in 13 of TestCtrlZAtTheStart).
func TestStartUnderCtrlZsWithGarbage(t *testing.T) {
	startUnderCtrlZs(t, true)
}

func startUnderCtrlZs(t *testing.T, garbage bool) {
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("no pty: %v", err)
	}
	defer ptmx.Close()
	cmd := testBinaryAs("WARD_TEST_FORK_UNDER_STOPS", &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0})
	if garbage {
		cmd.Env = append(cmd.Env, "WARD_TEST_FORK_GARBAGE=1")
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin, cmd.Stderr = tty, tty
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the child did not start: %q, %v", line, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("the child: %v", err)
			}
			return
		case <-deadline:
			// The child's own children, stopped: forked, not exec'd.
			var stuck []int
			eachProcess(func(pid int) {
				if st := procStat(pid); st != nil && st.ppid == cmd.Process.Pid && st.state == 'T' {
					stuck = append(stuck, pid)
				}
			})
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			for _, pid := range stuck {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			<-done
			t.Fatalf("the starts have not ended within 60s; stopped before their exec: %v", stuck)
		default:
			// As fast as a key could never come: the window is the
			// fork's few microseconds.
			syscall.Kill(-cmd.Process.Pid, syscall.SIGTSTP)
			time.Sleep(50 * time.Microsecond)
		}
	}
}
