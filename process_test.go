package main

import (
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/signals"
	"golang.org/x/sys/unix"
)

const emptyManifest = "version: 1\nenv:\n  PLAIN: {value: x}\n"

func TestExitCodesPassThrough(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	for _, code := range []int{0, 1, 2, 42, 255} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			got, _, stderr := w.run("run", "-m", m, "--", "helper", "exit", fmt.Sprint(code))
			if got != code {
				t.Errorf("got exit code %d, want %d (stderr: %s)", got, code, stderr)
			}
		})
	}
}

func TestSignalDeathGives128PlusN(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	tests := []struct {
		name string
		sig  syscall.Signal
	}{
		{"HUP", syscall.SIGHUP}, {"INT", syscall.SIGINT}, {"QUIT", syscall.SIGQUIT},
		{"USR1", syscall.SIGUSR1}, {"USR2", syscall.SIGUSR2}, {"TERM", syscall.SIGTERM},
		{"KILL", syscall.SIGKILL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, stderr := w.run("run", "-m", m, "--", "helper", "kill", tt.name)
			if want := 128 + int(tt.sig); got != want {
				t.Errorf("got exit code %d, want %d (stderr: %s)", got, want, stderr)
			}
		})
	}
}

func TestStartFailures(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	plain := filepath.Join(w.dir, "not-executable")
	os.WriteFile(plain, []byte("#!/bin/sh\necho hi\n"), 0o644)
	noShebang := filepath.Join(w.dir, "no-shebang")
	os.WriteFile(noShebang, []byte{0x7f, 'E', 'L', 'F', 0, 0, 0}, 0o755)
	badInterpreter := filepath.Join(w.dir, "bad-interpreter")
	os.WriteFile(badInterpreter, []byte("#!/no/such/interpreter -x\necho hi\n"), 0o755)
	// /bin/sh is there: the kernel looks for "/bin/sh\r".
	crlf := filepath.Join(w.dir, "crlf")
	os.WriteFile(crlf, []byte("#!/bin/sh\r\necho hi\r\n"), 0o755)
	// A shell runs a script without #! with sh; exec does not.
	script := filepath.Join(w.dir, "script")
	os.WriteFile(script, []byte("echo hi\n"), 0o755)
	foreign := foreignELF(t, w.dir)
	// A macOS build (64-bit Mach-O) and a Windows one, copied over.
	macho := filepath.Join(w.dir, "macos-build")
	os.WriteFile(macho, append([]byte{0xcf, 0xfa, 0xed, 0xfe, 0x07, 0, 0, 0x01}, make([]byte, 64)...), 0o755)
	pe := filepath.Join(w.dir, "app.exe")
	os.WriteFile(pe, append([]byte("MZ\x90\x00\x03\x00"), make([]byte, 64)...), 0o755)
	// A program cut short (it was told to start with a #! line), a
	// script whose interpreter is a file not marked executable ("permission
	// denied" alone), a device (it was told to chmod +x /dev/null).
	cut := filepath.Join(w.dir, "cut-short")
	os.WriteFile(cut, []byte("\x7fELF\x02\x01\x01garbage"), 0o755)
	interpNotExec := filepath.Join(w.dir, "interp-not-exec")
	os.WriteFile(interpNotExec, []byte("#!"+plain+"\necho hi\n"), 0o755)
	// A named pipe with an x bit: ward opened it to read its #! line,
	// and waited for a writer for good.
	fifo := filepath.Join(w.dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(fifo, 0o755)
	tests := []struct {
		name    string
		program string
		want    int
		msg     string
	}{
		{"missing in PATH", "no-such-program-ward-test", 127, "executable file not found in $PATH\nward: hint: check the program's name, or give its path"},
		{"missing path", filepath.Join(w.dir, "nope"), 127, "no such file or directory"},
		{"not executable", plain, 126, "permission denied"},
		{"a directory", w.dir, 126, "is a directory"},
		{"bad format", noShebang, 126, "it is a program (ELF) the kernel cannot load, cut short or damaged (7 bytes)"},
		{"cut short", cut, 126, "it is a program (ELF) the kernel cannot load, cut short or damaged (14 bytes): build, download or copy it again: exec format error"},
		{"interpreter not executable", interpNotExec, 126, "its interpreter " + plain + " (its #! line) is not executable (mode 0644)"},
		{"a device", "/dev/null", 126, "/dev/null: it is a character device"},
		{"a named pipe", fifo, 126, "it is a named pipe (FIFO), not a program"},
		{"no #! line", script, 126, "it has no #! line naming its interpreter"},
		{"another machine's program", foreign, 126, "it is a program for another machine"},
		{"a macOS program", macho, 126, "it is a program for macOS (Mach-O), not for Linux: use the build for linux/" + runtime.GOARCH + ": exec format error"},
		{"a Windows program", pe, 126, "it is a program for Windows (PE), not for Linux: use the build for linux/" + runtime.GOARCH + ": exec format error"},
		// 127 as bash gives, but not "no such file" for a file that is there.
		{"interpreter missing", badInterpreter, 127, "its interpreter /no/such/interpreter (its #! line) was not found"},
		{"windows line endings", crlf, 127, `its #! line ends in a carriage return, so its interpreter is "/bin/sh\r"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, mode := range [][]string{{"run", "--log-format", "text", "-m", m}, {"run", "--log-format", "text", "--exec", "-m", m}} {
				got, _, stderr := w.run(append(mode, "--", tt.program)...)
				if got != tt.want {
					t.Errorf("%v: got exit code %d, want %d (stderr: %s)", mode, got, tt.want, stderr)
				}
				if !strings.Contains(stderr, "ward: error: ") || !strings.Contains(stderr, tt.msg) {
					t.Errorf("%v: stderr %q does not say %q", mode, stderr, tt.msg)
				}
			}
		})
	}
}

// TestStartWithoutPATH: a ward started with no PATH at all (`env -i
// ward run -- sh`, an exec of it with an empty environment) finds the
// program where execvp, env and a shell do; it said "sh: executable
// file not found in $PATH" and exited 127.
func TestStartWithoutPATH(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	w.env = withoutEnv(w.env, "PATH")
	for _, mode := range [][]string{{"run", "-m", m}, {"run", "--exec", "-m", m}} {
		code, stdout, stderr := w.run(append(mode, "--", "sh", "-c", "echo started")...)
		if code != 0 || strings.TrimSpace(stdout) != "started" {
			t.Errorf("%v: got exit code %d and stdout %q, want 0 and the child started (stderr: %s)", mode, code, stdout, stderr)
		}
	}
}

// foreignELF writes a copy of an executable of this machine marked as
// one for another (its ELF header's e_machine), as an image built for
// arm64 is on amd64: the kernel refuses it with ENOEXEC.
func foreignELF(t *testing.T, dir string) string {
	t.Helper()
	self, err := exec.LookPath("ward")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	// Where qemu-user's binfmt_misc handlers are registered (a CI runner
	// that builds multi-arch images, Docker Desktop), the kernel runs an
	// arm64 program under the emulator instead of refusing it: this
	// test then wanted 126 of a program that ran (and died of SIGILL,
	// amd64's code read as arm64's). A machine no handler takes is
	// marked instead.
	others := []elf.Machine{elf.EM_AARCH64, elf.EM_S390, elf.EM_PPC64, elf.EM_RISCV, elf.EM_VAX}
	if runtime.GOARCH == "arm64" {
		others[0] = elf.EM_X86_64
	}
	for _, other := range others {
		binary.LittleEndian.PutUint16(b[18:], uint16(other))
		if !binfmtHandles(t, b) {
			break
		}
	}
	p := filepath.Join(dir, "foreign")
	if err := os.WriteFile(p, b, 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// binfmtHandles reports whether an enabled binfmt_misc handler matches
// the start of the program b (by magic and mask, at an offset).
func binfmtHandles(t *testing.T, b []byte) bool {
	t.Helper()
	if status, err := os.ReadFile("/proc/sys/fs/binfmt_misc/status"); err != nil || strings.TrimSpace(string(status)) != "enabled" {
		return false
	}
	entries, _ := filepath.Glob("/proc/sys/fs/binfmt_misc/*")
	for _, e := range entries {
		if base := filepath.Base(e); base == "status" || base == "register" {
			continue
		}
		text, err := os.ReadFile(e)
		if err != nil || !strings.HasPrefix(string(text), "enabled\n") {
			continue
		}
		var magic, mask []byte
		offset := 0
		for _, line := range strings.Split(string(text), "\n") {
			key, value, _ := strings.Cut(line, " ")
			switch key {
			case "offset":
				offset, _ = strconv.Atoi(value)
			case "magic":
				magic, _ = hex.DecodeString(value)
			case "mask":
				mask, _ = hex.DecodeString(value)
			}
		}
		if len(magic) == 0 || offset+len(magic) > len(b) {
			continue
		}
		match := true
		for i, m := range magic {
			c := b[offset+i]
			if i < len(mask) {
				c &= mask[i]
			}
			if c != m {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}

// TestForwardSignals: each signal sent to ward reaches the child and a
// grandchild in its process group exactly once.
func TestForwardSignals(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	cmd := w.command("run", "-m", m, "--", "helper", "signals", "--grandchild", "--exit-on", "TERM")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	l := readLines(t, out)
	got := map[string]int{}
	ready := 0
	for ready < 2 {
		line := l.next("ready lines")
		if strings.Contains(line, " ready ") {
			ready++
		}
	}
	order := []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH, syscall.SIGTERM}
	for _, sig := range order {
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		// Wait for both to report this signal before sending the next:
		// standard signals coalesce while pending.
		name := unix.SignalName(sig)
		for seen := 0; seen < 2; {
			line := l.next(name)
			got[line]++
			if strings.HasSuffix(line, " "+name) {
				seen++
			}
		}
	}
	if code := exitCode(t, cmd.Wait()); code != 0 {
		t.Errorf("got exit code %d, want 0 (stderr: %s)", code, stderr.String())
	}
	for rest := range l.ch {
		got[rest]++
	}
	for _, sig := range order {
		for _, who := range []string{"child", "grandchild"} {
			line := who + " " + unix.SignalName(sig)
			if got[line] != 1 {
				t.Errorf("got %q %d times, want once", line, got[line])
			}
		}
	}
}

// TestSignalChildOnly: with --signal-child-only the grandchild in the
// group gets nothing.
func TestSignalChildOnly(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	cmd := w.command("run", "--signal-child-only", "-m", m, "--", "helper", "signals", "--grandchild", "--exit-on", "USR1")
	// A pipe of our own: the grandchild outlives ward and keeps writing.
	out, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	l := readLines(t, out)
	l.waitFor("child ready")
	var gpid int
	fmt.Sscanf(l.waitFor("grandchild ready"), "grandchild ready pid=%d", &gpid)
	defer syscall.Kill(gpid, syscall.SIGKILL)
	cmd.Process.Signal(syscall.SIGUSR1)
	if line := l.next("child USR1"); line != "child SIGUSR1" {
		t.Errorf("got %q, want child SIGUSR1", line)
	}
	// The child exits after USR1 and ward with it; the grandchild, never
	// signalled, is left behind (and killed by the deferred call).
	if code := exitCode(t, cmd.Wait()); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
	// Ask the grandchild something it must answer: if USR1 had reached it,
	// its SIGUSR1 line would come before the SIGUSR2 one.
	syscall.Kill(gpid, syscall.SIGUSR2)
	if line := l.waitFor("grandchild"); line != "grandchild SIGUSR2" {
		t.Errorf("grandchild got %q first, want SIGUSR2 (USR1 must not reach it)", line)
	}
}

// TestJobControlSignalsFromKill: SIGTTIN and SIGTTOU sent to ward with
// kill (gunicorn adds and removes a worker on them) reach the child, and
// the child alone: a worker of its group that does not catch them would
// stop. ward has no controlling terminal here, as under a service manager,
// so the kernel cannot have sent them.
func TestJobControlSignalsFromKill(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	cmd := w.command("run", "-m", m, "--", "helper", "signals", "--grandchild", "--exit-on", "TERM")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	l, stderr := started(t, cmd)
	for ready := 0; ready < 2; {
		if strings.Contains(l.next("ready lines"), " ready ") {
			ready++
		}
	}
	var grandchild []string
	for _, sig := range []syscall.Signal{syscall.SIGTTIN, syscall.SIGTTOU, syscall.SIGUSR1} {
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		want := "child " + unix.SignalName(sig)
		for line := ""; line != want; {
			line = l.next(want)
			if g, ok := strings.CutPrefix(line, "grandchild "); ok {
				grandchild = append(grandchild, g)
			}
		}
	}
	// USR1 reaches the group: the grandchild's line for it ends what it
	// got.
	for len(grandchild) == 0 || grandchild[len(grandchild)-1] != "SIGUSR1" {
		if g, ok := strings.CutPrefix(l.next("grandchild SIGUSR1"), "grandchild "); ok {
			grandchild = append(grandchild, g)
		}
	}
	if len(grandchild) != 1 {
		t.Errorf("the grandchild got %v, want SIGUSR1 alone", grandchild)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitWithin(t, cmd, 10*time.Second); code != 0 {
		t.Errorf("got exit code %d, want 0 (stderr: %s)", code, stderr.String())
	}
}

// TestStopTimeout: a child that ignores SIGTERM is killed with SIGKILL
// after stop_timeout, with one warning, also when it has a child of its
// own in its group (a shell's sleep): that used to give a second warning,
// for the group ward had just killed.
func TestStopTimeout(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest + "rotation:\n  stop_timeout: 1s\n")
	for _, argv := range [][]string{
		{"helper", "ignore-term"},
		{"sh", "-c", `trap "" TERM; for i in 1 2 3 4 5 6 7 8 9 10; do sleep 1000 & done; echo ready; while :; do sleep 0.1; done`},
	} {
		t.Run(argv[0], func(t *testing.T) {
			cmd := w.command(append([]string{"run", "-m", m, "--"}, argv...)...)
			l, stderr := started(t, cmd)
			l.waitFor("ready")
			cmd.Process.Signal(syscall.SIGTERM)
			if code := exitCode(t, cmd.Wait()); code != 128+int(syscall.SIGKILL) {
				t.Errorf("got exit code %d, want %d", code, 128+int(syscall.SIGKILL))
			}
			if n := strings.Count(stderr.String(), "did not stop in time"); n != 1 {
				t.Errorf("stderr says %d times that the child was killed, want once: %s", n, stderr.String())
			}
		})
	}
}

// TestCtrlCUnderPTY: under a terminal, the child's process group is the
// foreground group (ward's is not), and the INTR character reaches the
// child exactly once.
func TestCtrlCUnderPTY(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	cmd := w.command("run", "-m", m, "--", "helper", "signals", "--exit-on", "INT")
	ptmx, l := onPty(t, cmd)
	ready := l.waitFor("child ready")
	var pid, pgrp int
	fmt.Sscanf(ready, "child ready pid=%d pgrp=%d", &pid, &pgrp)
	fg, err := signals.IoctlInt(int(ptmx.Fd()), unix.TIOCGPGRP)
	if err != nil {
		t.Fatal(err)
	}
	if fg != pgrp || pgrp != pid {
		t.Errorf("got foreground group %d, child pid %d pgrp %d: want the child's own group in the foreground", fg, pid, pgrp)
	}
	wardPgrp, _ := unix.Getpgid(cmd.Process.Pid)
	if fg == wardPgrp {
		t.Errorf("ward's group %d is in the foreground", wardPgrp)
	}
	ptmx.Write([]byte{3}) // ^C
	var got []string
	for line := range l.ch {
		// The terminal echoes ^C before the child's line.
		line = strings.TrimPrefix(strings.TrimSpace(line), "^C")
		if strings.HasPrefix(line, "child SIG") {
			got = append(got, line)
		}
	}
	if len(got) != 1 || got[0] != "child SIGINT" {
		t.Errorf("got signals %q, want exactly one child SIGINT", got)
	}
	if code := exitCode(t, cmd.Wait()); code != 0 {
		t.Errorf("got exit code %d, want 0", code)
	}
}

// TestPID1ReapsOrphans runs ward as PID 1 in a new PID namespace, as in a
// container: a child leaves 100 orphans behind; none stays a zombie, and
// ward exits with the child's code.
func TestPID1ReapsOrphans(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		vaulttest.RequireIntegration(t, "unshare (util-linux) is not installed")
	}
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	ward, _ := exec.LookPath("ward")
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", ward, "run", "-m", m, "--", "helper", "orphans", "100", "7")
	cmd.Env = w.env
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := exitCode(t, err)
	if strings.Contains(stderr.String(), "unshare failed") {
		vaulttest.RequireIntegration(t, "cannot create a PID namespace here: "+stderr.String())
	}
	if code != 7 {
		t.Errorf("got exit code %d, want 7 (stderr: %s)", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "orphans=100 zombies=0 alive=0") {
		t.Errorf("got %q, want orphans=100 zombies=0 alive=0", stdout.String())
	}
}

// TestSubreaperReapsOrphans: not PID 1, ward is a subreaper and reaps the
// orphans of its child's tree itself.
func TestSubreaperReapsOrphans(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	cmd := w.command("run", "-m", m, "--", "helper", "orphans", "20", "0")
	var stdout strings.Builder
	cmd.Stdout = &stdout
	if code := exitCode(t, cmd.Run()); code != 0 {
		t.Fatalf("got exit code %d, want 0", code)
	}
	// Outside a namespace other zombies may exist on the machine; the
	// orphans themselves must be gone.
	if !strings.Contains(stdout.String(), "alive=0") {
		t.Errorf("got %q, want alive=0", stdout.String())
	}
}

// TestPID1StopsDaemons: as PID 1, what the child leaves behind in a
// session of its own (a daemon) is stopped with SIGTERM before ward
// exits, not only killed when the namespace goes.
func TestPID1StopsDaemons(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	out := filepath.Join(w.dir, "daemon.out")
	script := `setsid sh -c 'exec helper signals --exit-on TERM --prefix daemon' > ` + out + ` 2>&1 & while ! grep -q ready ` + out + ` 2>/dev/null; do :; done; exit 5`
	if code, stderr := runAsPID1(t, w, m, script); code != 5 {
		t.Errorf("got exit code %d, want the child's 5 (stderr: %s)", code, stderr)
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), "daemon SIGTERM") {
		t.Errorf("the daemon was not sent SIGTERM by ward as PID 1; it printed %q", b)
	}
}

// TestPID1NamesTheDaemonsItStops: as PID 1, the info line that names what
// the child left running names a daemon outside its group, and the
// warning of one that ignores SIGTERM names it when it is killed. The
// line was not written (the child's group was empty), and the warning
// spoke of the child's process group.
func TestPID1NamesTheDaemonsItStops(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest("version: 1\nrotation: {stop_timeout: 1s}\n")
	out := filepath.Join(w.dir, "daemon.out")
	script := `setsid sh -c 'exec helper ignore-term' > ` + out + ` 2>&1 & while ! grep -q ready ` + out + ` 2>/dev/null; do :; done; exit 4`
	code, stderr := runAsPID1(t, w, m, script)
	if code != 4 {
		t.Errorf("got exit code %d, want the child's 4 (stderr: %s)", code, stderr)
	}
	for _, want := range []string{
		`"msg":"the child exited; stopping what the child left running`,
		`"msg":"what the child left running did not stop in time; killing it"`,
	} {
		line := ""
		for _, l := range strings.Split(stderr, "\n") {
			if strings.Contains(l, want) {
				line = l
			}
		}
		if !strings.Contains(line, " helper") {
			t.Errorf("no line %s naming the daemon, helper (stderr: %s)", want, stderr)
		}
	}
}

// TestPID1StopWithinStopTimeout: as PID 1, ward told to stop kills what is
// left one stop_timeout after the stop signal, the daemons its child left
// included: they used to get a stop_timeout of their own after the child
// was killed, twice what `docker stop` waits before it kills everything.
func TestPID1StopWithinStopTimeout(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		vaulttest.RequireIntegration(t, "unshare (util-linux) is not installed")
	}
	w := newWardEnv(t)
	m := w.manifest("version: 1\nenv:\n  PLAIN: {value: x}\nrotation:\n  stop_timeout: 3s\n")
	ward, _ := exec.LookPath("ward")
	up := filepath.Join(w.dir, "daemon.up")
	script := `setsid sh -c 'trap "" TERM; touch ` + up + `; while :; do sleep 0.1; done' &
trap '' TERM
while [ ! -e ` + up + ` ]; do sleep 0.01; done
echo ready
while :; do sleep 0.1; done`
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", ward, "run", "-m", m, "--", "sh", "-c", script)
	cmd.Env = w.env
	stdout, stderr := started(t, cmd)
	if line, ok := <-stdout.ch; !ok || line != "ready" {
		if strings.Contains(stderr.String(), "unshare failed") {
			vaulttest.RequireIntegration(t, "cannot create a PID namespace here: "+stderr.String())
		}
		t.Fatalf("the child did not start: %q (stderr: %s)", line, stderr.String())
	}
	start := time.Now()
	syscall.Kill(childOf(t, cmd.Process.Pid), syscall.SIGTERM)
	code := exitWithin(t, cmd, 15*time.Second)
	took := time.Since(start)
	if code != 128+int(syscall.SIGKILL) {
		t.Errorf("got exit code %d, want 137 (the child killed)", code)
	}
	// One stop_timeout (3s), and some (2s for a loaded machine); the old
	// way took two.
	if took > 5*time.Second {
		t.Errorf("ward took %v to stop, want about its stop_timeout of 3s", took.Round(time.Millisecond))
	}
}

// TestPID1ChildStoppedStaysStopped: a container's PID 1 cannot stop
// itself, so ward does not follow a child stopped by SIGSTOP into the
// stop: the child stays stopped until a SIGCONT, which ward forwards.
// (ward used to wait two seconds for its own SIGCONT and then continue
// the child, undoing the stop.) A child stopped by SIGTSTP, as by a
// terminal's Ctrl-Z, is continued.
func TestPID1ChildStoppedStaysStopped(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		vaulttest.RequireIntegration(t, "unshare (util-linux) is not installed")
	}
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	ward, _ := exec.LookPath("ward")
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", ward, "run", "--log-level", "debug", "-m", m, "--", "sh", "-c", "echo ready; while :; do sleep 0.05; done")
	cmd.Env = w.env
	stdout, stderr := startedLines(t, cmd)
	if line, ok := <-stdout.ch; !ok || line != "ready" {
		vaulttest.RequireIntegration(t, "the child did not start under unshare (no PID namespace here?)")
	}
	wardPid := childOf(t, cmd.Process.Pid)
	child := onlyChild(t, wardPid)

	syscall.Kill(child, syscall.SIGSTOP)
	waitUntil(t, "the child to stop", func() bool { return procState(child) == "T" })
	// Longer than the two seconds after which the child used to be
	// continued.
	time.Sleep(2500 * time.Millisecond) // an absence over a window, not an event
	if st := procState(child); st != "T" {
		t.Errorf("the child stopped by SIGSTOP is in state %q, want T (stopped)", st)
	}
	stderr.waitForContaining("it stays stopped until SIGCONT")
	syscall.Kill(wardPid, syscall.SIGCONT)
	waitUntil(t, "ward's SIGCONT to continue the child", func() bool { st := procState(child); return st == "S" || st == "R" })

	syscall.Kill(child, syscall.SIGTSTP)
	// Said first: the state alone could be read before the stop.
	stderr.waitForContaining("ward, PID 1, continues it")
	waitUntil(t, "a terminal-like stop to be undone", func() bool { st := procState(child); return st == "S" || st == "R" })
	syscall.Kill(wardPid, syscall.SIGTERM)
	exitWithin(t, cmd, 15*time.Second)
}

// TestUncatchableSignalsDoNotKillWard: Go cannot catch signals 32 to 34,
// and their default action killed ward (`kill -RTMIN` is 34 to bash),
// which forwarded nothing and left its secret files. ward ignores them;
// the child still starts with their default action.
func TestUncatchableSignalsDoNotKillWard(t *testing.T) {
	w := newWardEnv(t)
	value := canary("uncatchable")
	w.set("app/f", value)
	m := w.manifest("version: 1\nfiles:\n  - path: f\n    ref: local://app/f\n    env: F\n")
	cmd := w.command("run", "-m", m, "--", "sh", "-c", `echo "ready $F"; while :; do sleep 0.05; done`)
	stdout, stderr := started(t, cmd)
	file := strings.TrimPrefix(stdout.waitFor("ready "), "ready ")
	child := onlyChild(t, cmd.Process.Pid)
	ign, _ := sigIgnored(child)
	for _, sig := range []uint{32, 33, 34} {
		if ign&(1<<(sig-1)) != 0 {
			t.Errorf("the child starts with signal %d ignored", sig)
		}
	}
	// ward ignores them but for the moment it starts a program (which
	// gets their default action): wait until that moment is over.
	var wardIgn uint64
	waitUntil(t, "ward to ignore signal 34 again after the start", func() bool {
		ign, ok := sigIgnored(cmd.Process.Pid)
		wardIgn = ign
		return ok && ign&(1<<33) != 0
	})
	syscall.Kill(cmd.Process.Pid, 34)
	// 32 only when ward ignores it: a C library may handle it itself.
	if wardIgn&(1<<31) != 0 {
		syscall.Kill(cmd.Process.Pid, 32)
	}
	// Still there: it forwards SIGTERM and cleans up.
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitWithin(t, cmd, 15*time.Second); code != 128+int(syscall.SIGTERM) {
		t.Errorf("got exit code %d, want 143: ward did not live to forward SIGTERM", code)
	}
	if _, err := os.Stat(file); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the secret file is left after the run: %v", err)
	}
	if strings.Contains(stderr.String(), value) {
		t.Errorf("a canary is in ward's stderr")
	}
}

// sigIgnored is the set of signals pid ignores (bit N-1 for signal N), from
// /proc/PID/status.
func sigIgnored(pid int) (uint64, bool) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if mask, ok := strings.CutPrefix(line, "SigIgn:"); ok {
			ign, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
			return ign, err == nil
		}
	}
	return 0, false
}

// TestInheritedIgnoredSignalsStayIgnored: a signal ignored when ward
// starts (nohup's SIGHUP, the SIGINT and SIGQUIT a shell without job
// control ignores for `cmd &`) stays ignored by ward and by the child, as
// it would be without ward in between. ward caught them and forwarded
// them, so `nohup ward run -- server &` died with the terminal.
func TestInheritedIgnoredSignalsStayIgnored(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	cmd := exec.Command("sh", "-c", `trap "" HUP INT; exec ward "$@"`, "sh",
		"run", "-m", m, "--", "sh", "-c", `grep ^SigIgn: /proc/self/status; exec helper signals --exit-on TERM`)
	cmd.Env, cmd.Dir = w.env, w.dir
	stdout, stderr := started(t, cmd)
	var ign uint64
	fmt.Sscanf(stdout.waitFor("SigIgn:"), "SigIgn: %x", &ign)
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT} {
		if ign&(1<<(sig-1)) == 0 {
			t.Errorf("the child starts with %s caught or default, want it ignored as ward's parent left it", unix.SignalName(sig))
		}
	}
	stdout.waitFor("child ready")
	// Standard signals pending together are delivered lowest first: were
	// HUP or INT forwarded, the child would report it before TERM.
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM} {
		cmd.Process.Signal(sig)
	}
	// ward continues the child after a SIGTERM (it may be stopped), and
	// the Go runtime may report that SIGCONT first: it is not forwarded.
	line := stdout.next("the child's first signal")
	if line == "child SIGCONT" {
		line = stdout.next("the child's first signal")
	}
	if line != "child SIGTERM" {
		t.Errorf("the child got %q first, want child SIGTERM (SIGHUP and SIGINT were ignored when ward started)", line)
	}
	if code := exitWithin(t, cmd, 15*time.Second); code != 0 {
		t.Errorf("got exit code %d, want 0 (stderr: %s)", code, stderr.String())
	}
}

// TestCtrlCStopsTheScript: Ctrl-C during a script's `ward run` stops the
// script, as it does during any program that dies of it. The terminal
// sent SIGINT to the child alone (ward gave it the foreground), and ward
// exited 130, which bash reads as a program that handled SIGINT itself:
// the script went on with its next command. Likewise when a CI runner
// cancels a job with SIGINT to its process group.
func TestCtrlCStopsTheScript(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	script := `ward run "$@" -- helper sleep; echo "after $?"`
	check := func(t *testing.T, cmd *exec.Cmd, l *lines) {
		t.Helper()
		err := cmd.Wait()
		for line := range l.ch {
			if strings.Contains(line, "after") {
				t.Errorf("the script went on after the interrupt: %q", line)
			}
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("the script ended with %v, want it killed by SIGINT", err)
		}
		if ws := ee.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGINT {
			t.Errorf("the script ended with %v, want it killed by SIGINT", err)
		}
	}
	terminals := []struct {
		name  string
		flags []string
	}{{"terminal", []string{"-m", m}}, {"pty of --mask", []string{"--mask", "-m", m}}}
	for _, tt := range terminals {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command("bash", append([]string{"-c", script, "bash"}, tt.flags...)...)
			cmd.Env, cmd.Dir = w.env, w.dir
			ptmx, l := onPty(t, cmd)
			l.waitFor("ready")
			ptmx.Write([]byte{3}) // ^C
			check(t, cmd, l)
		})
	}
	t.Run("group", func(t *testing.T) {
		cmd := exec.Command("bash", "-c", script, "bash", "-m", m)
		cmd.Env, cmd.Dir = w.env, w.dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		l, _ := started(t, cmd)
		l.waitFor("ready")
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		check(t, cmd, l)
	})
	// Before the child started: ward, stopped while a store blocks,
	// exited 130 too.
	// (A Vault that takes the connection and answers nothing: a named
	// pipe, which the test used, is refused at once since the twentieth
	// run.)
	t.Run("while resolving", func(t *testing.T) {
		addr, accepted, _ := silentVault(t)
		slow := w.manifest("version: 1\nenv:\n  A: vault://secret/app#a\nrotation:\n  stop_timeout: 1s\n")
		cmd := exec.Command("bash", "-c", script, "bash", "-m", slow)
		cmd.Env, cmd.Dir = append(w.env, "VAULT_ADDR="+addr, "VAULT_TOKEN=t"), w.dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		l, _ := started(t, cmd)
		select {
		case <-accepted:
		case <-time.After(10 * time.Second):
			t.Fatal("ward's Vault helper never connected")
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		check(t, cmd, l)
	})
}

// TestBackgroundOfScriptLeavesTerminal: `ward run -- cmd &` in a script
// (a shell without job control: ward shares the script's process group,
// the terminal's foreground) leaves the terminal to the script. ward took
// it for its child, and the script's next `read` stopped (SIGTTIN) or
// failed (EIO).
func TestBackgroundOfScriptLeavesTerminal(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	cmd := exec.Command("bash", "-c", `ward run -m "$1" -- helper sleep & wait`, "bash", m)
	cmd.Env, cmd.Dir = w.env, w.dir
	ptmx, l := onPty(t, cmd)
	l.waitFor("ready")
	fg, err := signals.IoctlInt(int(ptmx.Fd()), unix.TIOCGPGRP)
	if err != nil {
		t.Fatal(err)
	}
	if fg != cmd.Process.Pid {
		t.Errorf("the terminal's foreground group is %d, want the script's (%d)", fg, cmd.Process.Pid)
	}
	syscall.Kill(onlyChild(t, cmd.Process.Pid), syscall.SIGTERM)
	if code := exitWithin(t, cmd, 15*time.Second); code != 0 {
		t.Errorf("the script ended with %d, want 0", code)
	}
}

// TestPID1StopWhileLoading: a `docker stop` that comes while ward, as PID
// 1, still reads its manifest ends the run with 143 and says so. ward
// caught signals only once it had read the manifest; until then Go's own
// handler took SIGTERM, and as PID 1 (which the kernel does not let die
// of it) that handler exits 2, without a word.
func TestPID1StopWhileLoading(t *testing.T) {
	if _, err := exec.LookPath("unshare"); err != nil {
		vaulttest.RequireIntegration(t, "unshare (util-linux) is not installed")
	}
	w := newWardEnv(t)
	// A FIFO holds ward in the manifest's read for as long as the test
	// needs: the window, made wide.
	fifo := filepath.Join(w.dir, "ward.yaml")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ward, _ := exec.LookPath("ward")
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", ward, "run", "--log-format", "text", "-m", fifo, "--", "helper", "exit", "3")
	cmd.Env = w.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	pid1 := onlyChild(t, cmd.Process.Pid)
	waitUntil(t, "ward to block opening its manifest", func() bool {
		tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid1))
		for _, task := range tasks {
			if b, _ := os.ReadFile(task); string(b) == "wait_for_partner" {
				return true
			}
		}
		return false
	})
	t.Cleanup(func() { syscall.Kill(pid1, syscall.SIGKILL) })
	syscall.Kill(pid1, syscall.SIGTERM)
	// Not blocking: a ward that died of the signal reads nothing. The
	// signal takes ward out of its open for a moment (the kernel
	// restarts the open after Go's handler), and a writer's open then
	// finds no reader (ENXIO): again, until ward opens once more or is
	// gone. Written once, the manifest never reached a ward back in its
	// open, which waited there for good (once in CI, on a loaded machine).
	waitUntil(t, "the manifest written to ward, or ward gone", func() bool {
		f, err := os.OpenFile(fifo, os.O_WRONLY|unix.O_NONBLOCK, 0)
		if err == nil {
			f.WriteString(emptyManifest)
			f.Close()
			return true
		}
		return !errors.Is(err, unix.ENXIO) || syscall.Kill(pid1, 0) != nil
	})
	code := exitWithin(t, cmd, 15*time.Second)
	if strings.Contains(stderr.String(), "unshare failed") {
		vaulttest.RequireIntegration(t, "cannot create a PID namespace here: "+stderr.String())
	}
	// The signal reaches ward's channel a moment after the manifest's
	// read returns: ward stops before resolving, or, when the resolve (of
	// nothing) was quicker, forwards it to the child it just started.
	if reason := stderr.String(); code != 143 || !strings.Contains(reason, "stopped by SIGTERM") && !strings.Contains(reason, "signal=TERM") {
		t.Errorf("got exit code %d, want 143 and the reason (stderr: %q)", code, reason)
	}
}

// onPty starts cmd with a new pty as its terminal and returns the pty's
// master and its lines; the process is killed and the pty closed when the
// test ends.
func onPty(t *testing.T, cmd *exec.Cmd) (*os.File, *lines) {
	t.Helper()
	ptmx, err := pty.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		ptmx.Close()
	})
	return ptmx, readLines(t, ptmx)
}

// TestJobControlSignalsNotCaught: a `kill -TTIN` of ward in front of a
// program that does not catch SIGTTIN changes nothing, as it would
// without ward under a service manager (the kernel discards it for the
// orphaned process group a service runs in). Passed on, it stopped the
// program, and ward followed it into the stop: a stray kill froze the
// service until someone sent SIGCONT.
func TestJobControlSignalsNotCaught(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest(emptyManifest)
	cmd := w.command("run", "-m", m, "--", "sh", "-c", `trap 'echo usr1' USR1; echo ready; while :; do sleep 0.05; done`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	l, stderr := started(t, cmd)
	l.waitFor("ready")
	for _, sig := range []syscall.Signal{syscall.SIGTTIN, syscall.SIGTTOU} {
		cmd.Process.Signal(sig)
		// ward handles its signals in order: the USR1 after it reaches a
		// shell that is not stopped only if this one did not stop it.
		cmd.Process.Signal(syscall.SIGUSR1)
		l.waitFor("usr1")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if code := exitWithin(t, cmd, 10*time.Second); code != 143 {
		t.Errorf("got exit code %d, want 143 (stderr: %s)", code, stderr.String())
	}
}

// TestPID1StoppedDaemonContinued: as PID 1, a process the child left
// stopped (SIGSTOP: a debugger's, an operator's) is sent SIGCONT after
// the SIGTERM that stops what is left, as an init system does, so that
// it stops gracefully; it stayed stopped, the SIGTERM pending, until the
// SIGKILL at stop_timeout.
func TestPID1StoppedDaemonContinued(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest("version: 1\nenv:\n  PLAIN: {value: x}\nrotation:\n  stop_timeout: 3s\n")
	out := filepath.Join(w.dir, "daemon.out")
	script := `setsid helper signals --exit-on TERM --prefix daemon > ` + out + ` 2>&1 &
d=$!
while ! grep -q ready ` + out + ` 2>/dev/null; do :; done
kill -STOP $d
while ! grep -q '^State:.*T' /proc/$d/status; do :; done
exit 5`
	if code, stderr := runAsPID1(t, w, m, script); code != 5 {
		t.Errorf("got exit code %d, want the child's 5 (stderr: %s)", code, stderr)
	}
	b, _ := os.ReadFile(out)
	if !strings.Contains(string(b), "daemon SIGTERM") {
		t.Errorf("the stopped daemon did not handle the SIGTERM of ward as PID 1 (killed at stop_timeout); it printed %q", b)
	}
}

// runAsPID1 runs `ward run -m m -- sh -c script` in w.dir as PID 1 of a
// PID namespace of its own (unshare, as a container's entrypoint), and
// returns its exit code and stderr. Where no namespace can be made, the
// test is skipped, or fails under WARD_REQUIRE_INTEGRATION.
func runAsPID1(t *testing.T, w *wardEnv, m, script string) (int, string) {
	t.Helper()
	if _, err := exec.LookPath("unshare"); err != nil {
		vaulttest.RequireIntegration(t, "unshare (util-linux) is not installed")
	}
	ward, _ := exec.LookPath("ward")
	cmd := exec.Command("unshare", "--pid", "--fork", "--mount-proc", ward, "run", "-m", m, "--", "sh", "-c", script)
	cmd.Env, cmd.Dir = w.env, w.dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	code := exitCode(t, cmd.Run())
	if strings.Contains(stderr.String(), "unshare failed") {
		vaulttest.RequireIntegration(t, "cannot create a PID namespace here: "+stderr.String())
	}
	return code, stderr.String()
}
