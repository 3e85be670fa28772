// Package helper is the child program ward's tests run under ward: it
// reports what it sees (signals, its environment, its files, zombies) as
// lines on stdout, so tests wait for lines, never for time. Secret values
// are never printed: the environment is reported as names and SHA-256
// prefixes, which a test compares with the hash of its canary.
package helper

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Hash is how the helper shows a value: the first 16 hex digits of its
// SHA-256.
func Hash(v string) string {
	h := sha256.Sum256([]byte(v))
	return hex.EncodeToString(h[:8])
}

// Main runs the helper with os.Args and returns its exit code.
func Main() int {
	args := os.Args[1:]
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "helper: usage: helper MODE [ARGS]")
		return 2
	}
	mode, args := args[0], args[1:]
	switch mode {
	case "exit":
		n, _ := strconv.Atoi(arg(args, 0, "0"))
		return n
	case "kill":
		return killSelf(arg(args, 0, "TERM"))
	case "env":
		return printEnv(args)
	case "print-aws-creds":
		return printAWSCreds()
	case "signals":
		return watchSignals(args)
	case "ignore-term":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready")
		idle()
	case "sleep":
		fmt.Println("ready")
		idle()
	case "grow":
		// Takes memory, a MiB at a time and every page touched, until
		// the kernel's OOM killer ends it.
		fmt.Println("growing")
		for {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			grown = append(grown, b)
		}
	case "jobctl":
		return jobControl()
	case "orphans":
		return orphans(args)
	case "spawn-orphans":
		// The intermediate process: start the grandchildren, then exit at
		// once so they are orphaned.
		n, _ := strconv.Atoi(arg(args, 0, "1"))
		self, _ := os.Executable()
		for i := 0; i < n; i++ {
			cmd := exec.Command(self, "wait-parent-exit")
			if err := cmd.Start(); err != nil {
				fmt.Fprintln(os.Stderr, "helper:", err)
				return 1
			}
		}
		return 0
	case "wait-parent-exit":
		// Exit once orphaned (our parent is no longer the one we had).
		start := os.Getppid()
		deadline := time.Now().Add(10 * time.Second)
		for os.Getppid() == start && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		return 0
	case "file":
		return describeFile(arg(args, 0, ""))
	case "touch":
		f, err := os.Create(arg(args, 0, "touched"))
		if err != nil {
			return 1
		}
		f.Close()
		return 0
	case "quote":
		// A variable as Go's %q and %+q print it (a log line of a Go
		// program), each after a label.
		v := os.Getenv(arg(args, 0, ""))
		fmt.Printf("%%q: %q\n%%+q: %+q\n", v, v)
		return 0
	case "stdin-hash":
		b, _ := io.ReadAll(os.Stdin)
		fmt.Printf("STDIN %s\n", Hash(string(b)))
		return 0
	case "notify", "notify-once":
		// Send a sd_notify message the way libsystemd does; notify then
		// stays (the main process), notify-once exits.
		addr := &net.UnixAddr{Name: os.Getenv("NOTIFY_SOCKET"), Net: "unixgram"}
		conn, err := net.DialUnix("unixgram", nil, addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		conn.Write([]byte(strings.Join(args, "\n")))
		conn.Close()
		if mode == "notify-once" {
			return 0
		}
		fmt.Println("notified")
		idle()
	case "listen":
		// Socket activation as sd_listen_fds sees it.
		fmt.Printf("LISTEN_PID=%s pid=%d LISTEN_FDS=%s LISTEN_FDNAMES=%s\n", os.Getenv("LISTEN_PID"), os.Getpid(), os.Getenv("LISTEN_FDS"), os.Getenv("LISTEN_FDNAMES"))
		ln, err := net.FileListener(os.NewFile(3, "listen"))
		if err != nil {
			fmt.Println("fd 3:", err)
			return 1
		}
		c, err := ln.Accept()
		if err != nil {
			return 1
		}
		c.Write([]byte("hello from the child\n"))
		c.Close()
		return 0
	case "watchfile":
		// Read a file over and over, printing each distinct content's hash
		// and each SIGUSR1: a non-atomic replacement shows up as a hash
		// that is neither the old nor the new content's.
		path := arg(args, 0, "")
		usr1 := make(chan os.Signal, 8)
		signal.Notify(usr1, syscall.SIGUSR1)
		last := ""
		for {
			select {
			case <-usr1:
				fmt.Println("usr1")
			default:
			}
			b, err := os.ReadFile(path)
			if err != nil {
				fmt.Println("read error:", err)
				return 1
			}
			if h := Hash(string(b)); h != last {
				last = h
				fmt.Println("seen", h)
			}
		}
	case "pgrp":
		// TIOCGPGRP writes a C int: read as 4 bytes, as it is on a
		// big-endian machine too.
		fg, err := unix.IoctlGetUint32(0, unix.TIOCGPGRP)
		fmt.Printf("pgrp=%d fg=%d fgerr=%v\n", unix.Getpgrp(), int32(fg), err)
		return 0
	case "rlimit-core":
		var r unix.Rlimit
		unix.Getrlimit(unix.RLIMIT_CORE, &r)
		fmt.Printf("core=%d\n", r.Cur)
		return 0
	case "step":
		// A CI runner's worker running a step's process and cancelling it
		// (run it as Runner.Worker): see runStep.
		return runStep(args)
	case "kill-marked":
		// A CI runner's cleanup of a job's processes (actions/runner's
		// "Cleaning up orphan processes", the Azure Pipelines agent's,
		// Jenkins' ProcessTreeKiller): SIGKILL every process whose
		// environment holds the entry NAME=VALUE, passing over those whose
		// environment it may not read.
		return killMarked(arg(args, 0, ""))
	case "subreaper":
		// Whether orphans of this process's descendants come to it.
		var v int32
		if err := unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&v)), 0, 0, 0); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		fmt.Printf("subreaper=%d\n", v)
		return 0
	}
	fmt.Fprintf(os.Stderr, "helper: unknown mode %q\n", mode)
	return 2
}

// runStep starts args, with this process's stdout and stderr, and waits
// for it ("step: exited"). At a line "cancel" on stdin it cancels it as
// actions/runner's ProcessInvoker (and the Azure Pipelines agent's)
// cancels a step's process: SIGINT to that process alone, SIGTERM 7.5 s
// later, SIGKILL 2.5 s after that. It prints "step: sending SIGNAL"
// before each signal, then "step: exited after SIGNAL" or "step: killed".
func runStep(args []string) int {
	// The step's stdout and stderr are pipes this process reads, as the
	// runner's are (it holds their read ends).
	cmd := exec.Command(args[0], args[1:]...)
	outR, outW, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	outW.Close()
	errW.Close()
	copied := make(chan struct{}, 2)
	go func() { io.Copy(os.Stdout, outR); copied <- struct{}{} }()
	go func() { io.Copy(os.Stderr, errR); copied <- struct{}{} }()
	// As the runner, once the process is gone, read what is left in the
	// pipes for at most 5 s (its descendants may hold them), saying so
	// when they were still open then.
	drain := func() {
		for range 2 {
			select {
			case <-copied:
			case <-time.After(5 * time.Second):
				fmt.Println("step: output still open 5s after the step's end")
				return
			}
		}
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	if line, _ := bufio.NewReader(os.Stdin).ReadString('\n'); line != "cancel\n" {
		<-done
		drain()
		fmt.Println("step: exited")
		return 0
	}
	for _, step := range []struct {
		sig   syscall.Signal
		grace time.Duration
	}{{syscall.SIGINT, 7500 * time.Millisecond}, {syscall.SIGTERM, 2500 * time.Millisecond}} {
		// Said before it is sent: what the step's processes print in
		// answer must come after it.
		fmt.Println("step: sending", unix.SignalName(step.sig))
		cmd.Process.Signal(step.sig)
		select {
		case <-done:
			fmt.Println("step: exited after", unix.SignalName(step.sig))
			drain()
			return 0
		case <-time.After(step.grace):
		}
	}
	cmd.Process.Kill()
	<-done
	fmt.Println("step: killed")
	drain()
	return 0
}

// killMarked kills the processes whose environment holds entry, printing
// "killed PID" for each, then "end". It finds them all first, then kills
// them one after the other: none gets time to act on another's death.
func killMarked(entry string) int {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	var marked []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", d.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if kv == entry {
				marked = append(marked, pid)
				break
			}
		}
	}
	for _, pid := range marked {
		syscall.Kill(pid, syscall.SIGKILL)
		fmt.Println("killed", pid)
	}
	fmt.Println("end")
	return 0
}

func arg(args []string, i int, def string) string {
	if i < len(args) {
		return args[i]
	}
	return def
}

func killSelf(name string) int {
	sig := unix.SignalNum("SIG" + strings.TrimPrefix(strings.ToUpper(name), "SIG"))
	if sig == 0 {
		fmt.Fprintln(os.Stderr, "helper: unknown signal", name)
		return 2
	}
	// The Go runtime turns some signals (SIGQUIT) into its own exit code;
	// a shell dies of them with the default disposition.
	err := syscall.Exec("/bin/sh", []string{"sh", "-c", "kill -s " + strings.TrimPrefix(unix.SignalName(sig), "SIG") + " $$"}, os.Environ())
	fmt.Fprintln(os.Stderr, "helper:", err)
	return 1
}

// printEnv prints "NAME HASH" for every variable, sorted, then "end".
func printEnv(args []string) int {
	env := os.Environ()
	sort.Strings(env)
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		fmt.Printf("%s %s\n", name, Hash(value))
	}
	fmt.Println("end")
	if arg(args, 0, "") == "wait" {
		idle()
	}
	return 0
}

// watchSignals prints "ready", then "PREFIX SIGNAME" for each signal, and
// exits 0 after the signal named by --exit-on. With --grandchild it starts
// a second helper in its own process group that does the same.
func watchSignals(args []string) int {
	exitOn := "SIGTERM"
	prefix := "child"
	grandchild := false
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "--exit-on":
			i++
			exitOn = "SIG" + strings.TrimPrefix(strings.ToUpper(args[i]), "SIG")
		case "--prefix":
			i++
			prefix = args[i]
		case "--grandchild":
			grandchild = true
		}
	}
	ch := make(chan os.Signal, 32)
	signal.Notify(ch)
	out := bufio.NewWriter(os.Stdout)
	if grandchild {
		self, _ := os.Executable()
		cmd := exec.Command(self, "signals", "--prefix", "grandchild", "--exit-on", exitOn)
		cmd.Stdout = os.Stdout
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			return 1
		}
		// Not waited for: it gets its signals from the group, and is
		// reaped by whoever inherits it.
	}
	fmt.Fprintf(out, "%s ready pid=%d pgrp=%d\n", prefix, os.Getpid(), unix.Getpgrp())
	out.Flush()
	for sig := range ch {
		name := unix.SignalName(sig.(syscall.Signal))
		if name == "SIGURG" || name == "SIGCHLD" {
			continue
		}
		fmt.Fprintf(out, "%s %s\n", prefix, name)
		out.Flush()
		if name == exitOn {
			return 0
		}
	}
	return 0
}

// jobControl is a child as a shell user runs it: it stops on Ctrl-Z (no
// handler for SIGTSTP), prints "continued" on SIGCONT and "winch" on
// SIGWINCH, echoes each line it reads from stdin, and dies of SIGTERM.
func jobControl() int {
	ch := make(chan os.Signal, 8)
	signal.Notify(ch, syscall.SIGCONT, syscall.SIGWINCH)
	fmt.Printf("jobctl ready pid=%d pgrp=%d\n", os.Getpid(), unix.Getpgrp())
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			fmt.Printf("echo: %s\n", sc.Text())
		}
	}()
	for sig := range ch {
		switch sig {
		case syscall.SIGCONT:
			fmt.Println("continued")
		case syscall.SIGWINCH:
			fmt.Println("winch")
		}
	}
	return 0
}

// orphans leaves n orphaned grandchildren behind, waits until no zombie
// remains in /proc (ward must reap them), prints "zombies=N", and exits
// with the given code.
func orphans(args []string) int {
	n := arg(args, 0, "100")
	code, _ := strconv.Atoi(arg(args, 1, "0"))
	self, _ := os.Executable()
	cmd := exec.Command(self, "spawn-orphans", n)
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	want, _ := strconv.Atoi(n)
	// Wait for the orphans to be born and gone: none of them left in
	// /proc at all, zombie or running.
	deadline := time.Now().Add(20 * time.Second)
	var zombies, alive int
	for time.Now().Before(deadline) {
		zombies, alive = countProcs("wait-parent-exit")
		if zombies == 0 && alive == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Printf("orphans=%d zombies=%d alive=%d\n", want, zombies, alive)
	return code
}

// countProcs counts processes whose command line contains word, by state.
func countProcs(word string) (zombies, alive int) {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		// The state follows the command name in parentheses.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 || i+2 >= len(stat) {
			continue
		}
		state := stat[i+2]
		cmdline, _ := os.ReadFile(filepath.Join(d, "cmdline"))
		if state == 'Z' {
			// A zombie has no cmdline; count every zombie.
			zombies++
			continue
		}
		if strings.Contains(string(cmdline), word) {
			alive++
		}
	}
	return zombies, alive
}

func describeFile(path string) int {
	st, err := os.Stat(path)
	if err != nil {
		fmt.Printf("file %s: %v\n", filepath.Base(path), err)
		return 1
	}
	b, err := os.ReadFile(path)
	if err != nil {
		fmt.Printf("file %s: %v\n", filepath.Base(path), err)
		return 1
	}
	dst, _ := os.Stat(filepath.Dir(path))
	fmt.Printf("file mode=%04o dirmode=%04o hash=%s\n", st.Mode().Perm(), dst.Mode().Perm(), Hash(string(b)))
	return 0
}

// idle blocks until a signal ends the process.
// grown keeps what grow took, out of the collector's reach.
var grown [][]byte

func idle() {
	for {
		time.Sleep(time.Hour)
	}
}

// printAWSCreds prints the credentials ward's AWS container endpoint
// serves, raw, as a program that logs them would: the one mode that prints
// values, for the tests that check ward masks them. It prints them as
// "creds JSON", asks the endpoint again every 100ms until it serves other
// credentials (at most a minute), prints those, then "done".
func printAWSCreds() int {
	get := func() (body, keyID string, err error) {
		token, err := os.ReadFile(os.Getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"))
		if err != nil {
			return "", "", err
		}
		req, err := http.NewRequest("GET", os.Getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"), nil)
		if err != nil {
			return "", "", err
		}
		req.Header.Set("Authorization", strings.TrimSpace(string(token)))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			return "", "", fmt.Errorf("the endpoint answered %d", resp.StatusCode)
		}
		var doc struct{ AccessKeyId string }
		if err := json.Unmarshal(b, &doc); err != nil {
			return "", "", err
		}
		return strings.TrimSpace(string(b)), doc.AccessKeyId, nil
	}
	first, key, err := get()
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 1
	}
	fmt.Println("creds", first)
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		next, k, err := get()
		if err == nil && k != key {
			fmt.Println("creds", next)
			fmt.Println("done")
			return 0
		}
	}
	fmt.Fprintln(os.Stderr, "helper: the endpoint served the same credentials for a minute")
	return 1
}
