package secretdir

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary doubles as the other processes the tests need: a live
// run, a run to SIGKILL, a lock holder, a sweeper, a stress worker.
const helperVar = "SECRETDIR_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperVar); mode != "" {
		os.Exit(helperMain(mode))
	}
	os.Exit(m.Run())
}

func helperMain(mode string) int {
	switch mode {
	case "live", "killme":
		// A run: its directory and a file, then it waits for stdin to
		// close (live) or to be killed (killme).
		d, err := New(os.Getenv)
		if err == nil {
			err = d.Write([]File{{Path: "secret", Mode: 0o400, Data: []byte(os.Getenv("SECRETDIR_TEST_DATA"))}})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		fmt.Println("ready " + d.Path)
		io.Copy(io.Discard, os.Stdin)
		if mode == "killme" {
			fmt.Fprintln(os.Stderr, "helper: stdin closed before the kill")
			return 1
		}
		if err := d.Remove(); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		return 0
	case "hold":
		fd, err := unix.Open(os.Getenv("SECRETDIR_TEST_LOCK"), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			err = unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		fmt.Println("ready")
		io.Copy(io.Discard, os.Stdin)
		return 0
	case "swap":
		// Another user's attack on a base it owns: exchange two of its
		// names, over and over, until killed.
		a, b := os.Getenv("SECRETDIR_TEST_SWAP_A"), os.Getenv("SECRETDIR_TEST_SWAP_B")
		fmt.Println("ready")
		for {
			if err := unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE); err != nil {
				fmt.Fprintln(os.Stderr, "helper:", err)
				return 1
			}
		}
	case "sweep":
		Sweep(os.Getenv)
		fmt.Println("ready")
		return 0
	case "stress":
		n, _ := strconv.Atoi(os.Getenv("SECRETDIR_TEST_ROUNDS"))
		failed := 0
		for round := range n {
			if err := oneRun(os.Getenv, []byte(os.Getenv("SECRETDIR_TEST_DATA"))); err != nil {
				fmt.Fprintf(os.Stderr, "round %d: %v\n", round, err)
				failed++
			}
		}
		if failed > 0 {
			return 1
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "helper: unknown mode", mode)
	return 2
}

// oneRun is what a ward run with files does, plus an extra sweep while
// the file is in use: sweep, create, write, check, remove.
func oneRun(getenv func(string) string, data []byte) error {
	Sweep(getenv)
	d, err := New(getenv)
	if err != nil {
		return err
	}
	defer d.Remove()
	if err := d.Write([]File{{Path: "conf/secret", Mode: 0o400, Data: data}}); err != nil {
		return err
	}
	Sweep(getenv)
	got, err := os.ReadFile(filepath.Join(d.Path, "conf", "secret"))
	if err != nil {
		return fmt.Errorf("the secret file is gone while the run lives: %w", err)
	}
	if !bytes.Equal(got, data) {
		return fmt.Errorf("the secret file holds a different value (%d bytes)", len(got))
	}
	return d.Remove()
}

// tmpfsBase returns a fresh base directory on tmpfs (on Linux, where ward
// requires it) and an environment pointing ward at it.
func tmpfsBase(t testing.TB) (string, func(string) string) {
	t.Helper()
	base := t.TempDir()
	if runtime.GOOS == "linux" {
		var err error
		base, err = os.MkdirTemp("/dev/shm", "secretdir-test-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(base) })
	}
	return base, envOf(map[string]string{"WARD_RUNTIME_DIR": base})
}

func envOf(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// userRootOf is where New puts this user's directories under base,
// spelled out here rather than taken from the code under test.
func userRootOf(base string) string {
	return filepath.Join(base, "ward-"+strconv.Itoa(os.Geteuid()))
}

func exists(t *testing.T, p string) bool {
	t.Helper()
	_, err := os.Lstat(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return err == nil
}

// helperProc is a child running helperMain.
type helperProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr bytes.Buffer
	lines  chan string
}

// startHelper runs helperMain(mode) in a child with base as its runtime
// directory and extra environment, and waits for its first line.
func startHelper(t *testing.T, mode, base string, extra ...string) (*helperProc, string) {
	t.Helper()
	h := &helperProc{lines: make(chan string, 1)}
	h.cmdFor(mode, base, extra...)
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if h.stdin, err = h.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		h.cmd.Wait()
	})
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		h.lines <- strings.TrimSpace(line)
	}()
	select {
	case line := <-h.lines:
		if !strings.HasPrefix(line, "ready") {
			h.cmd.Wait()
			t.Fatalf("helper %s did not get ready: %s", mode, h.stderr.String())
		}
		return h, strings.TrimSpace(strings.TrimPrefix(line, "ready"))
	case <-time.After(30 * time.Second):
		t.Fatalf("helper %s: no ready line within 30s", mode)
	}
	return nil, ""
}

// cmdFor prepares the child: helperMain(mode), with base as its runtime
// directory and extra environment, its stderr kept for failure messages.
func (h *helperProc) cmdFor(mode, base string, extra ...string) *exec.Cmd {
	h.cmd = exec.Command(os.Args[0], "-test.run=^$")
	// Under -race a child sleeps a second on exit unless told otherwise.
	h.cmd.Env = append(os.Environ(), helperVar+"="+mode, "WARD_RUNTIME_DIR="+base, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	h.cmd.Env = append(h.cmd.Env, extra...)
	h.cmd.Stderr = &h.stderr
	return h.cmd
}

// finish closes the helper's stdin and waits for it to exit cleanly.
func (h *helperProc) finish(t *testing.T) {
	t.Helper()
	h.stdin.Close()
	if err := h.cmd.Wait(); err != nil {
		t.Errorf("helper: %v: %s", err, h.stderr.String())
	}
}

// kill SIGKILLs the helper, as the OOM killer or kill -9 would ward.
func (h *helperProc) kill(t *testing.T) {
	t.Helper()
	if err := h.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	h.cmd.Wait()
}
