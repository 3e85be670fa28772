package main

// The advice under an error whose system call failed, made to fail by
// strace's fault injection (see underStrace): the hint names the cause
// the errno says, not the one a first guess at the place would.

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/wardsecrets/ward/resolve/remote"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// hintCase is one errno injected, with what ward's output must say (want)
// and must not (not) under it.
type hintCase struct {
	errno     string
	want, not []string
}

// checkHint fails the test unless out, ward's output under c's errno,
// says every one of c.want and none of c.not, and holds none of w's
// canaries.
func checkHint(t *testing.T, w *wardEnv, c hintCase, out string) {
	t.Helper()
	for _, s := range c.want {
		if !strings.Contains(out, s) {
			t.Errorf("%s: the output does not say %q:\n%s", c.errno, s, out)
		}
	}
	for _, s := range c.not {
		if strings.Contains(out, s) {
			t.Errorf("%s: the output says %q, which the errno contradicts:\n%s", c.errno, s, out)
		}
	}
	for _, v := range w.canaries {
		if strings.Contains(out, v) {
			t.Errorf("%s: a canary is in ward's output", c.errno)
		}
	}
}

const (
	// runtimeDirHint is the start of the advice for a private directory
	// this user may not make where it is (dirHint's other).
	runtimeDirHint = "set $WARD_RUNTIME_DIR to a directory on tmpfs"
	// eioHint is from syshint.For's advice for EIO.
	eioHint = "a device or file system failing"
	// noDevpts is from the advice for a system without pseudo-terminals.
	noDevpts = "this system gives none (no devpts"
)

// TestHintsRuntimeDirMkdir: this user's root in $WARD_RUNTIME_DIR cannot
// be made. EIO (a disk or FUSE/NFS mount failing) is said to be that;
// it got the advice for a place this user may not write (set
// $WARD_RUNTIME_DIR elsewhere), which a refusal (EACCES) still gets; an
// errno neither explains (EBUSY) gets no guess. 125 each time, the
// program never started.
func TestHintsRuntimeDirMkdir(t *testing.T) {
	for _, c := range []hintCase{
		{errno: "EIO", want: []string{"input/output error", eioHint}, not: []string{runtimeDirHint}},
		{errno: "EACCES", want: []string{"permission denied", runtimeDirHint}},
		{errno: "EROFS", want: []string{"read-only file system", "mounted read-only: " + runtimeDirHint}},
		{errno: "EBUSY", want: []string{"device or resource busy"}, not: []string{runtimeDirHint, `"hint"`}},
	} {
		t.Run(c.errno, func(t *testing.T) {
			w := newWardEnv(t)
			w.set("app/key", canary("hintdir"+c.errno))
			m := w.manifest("version: 1\nfiles:\n  - path: k.pem\n    ref: local://app/key\n    env: KEY_FILE\n")
			root := filepath.Join(w.runtime, "ward-"+strconv.Itoa(os.Geteuid()))
			out := w.refusedStart(t, []string{"-e", "trace=mkdirat", "-P", root, "-e", "inject=mkdirat:error=" + c.errno}, m)
			checkHint(t, w, c, out)
		})
	}
}

// TestHintsMaskPTY: --mask with ward's stdout a terminal, and the
// pseudo-terminal for the program cannot be opened. Only ENODEV and
// ENOENT (a container's /dev without devpts or /dev/ptmx) are a system
// that gives none; an ioctl's EIO or EINTR, a refusal and descriptors
// run out each got that advice too (EMFILE both it and the limit's).
// ENFILE, the system's table of open files full, is not ward's limit:
// it got the advice to raise ulimit -n.
// 125 each time, the program never started.
func TestHintsMaskPTY(t *testing.T) {
	for _, c := range []struct {
		hintCase
		call string
	}{
		{hintCase{errno: "EIO", want: []string{"input/output error", eioHint}, not: []string{noDevpts}}, "ioctl"},
		{hintCase{errno: "EINTR", want: []string{"interrupted system call", "none could be opened: try again, or run without --mask"}, not: []string{noDevpts}}, "ioctl"},
		{hintCase{errno: "ENODEV", want: []string{"no such device", noDevpts}}, "ioctl"},
		{hintCase{errno: "EPERM", want: []string{"operation not permitted", "this user may not open one"}, not: []string{noDevpts}}, "openat"},
		{hintCase{errno: "EMFILE", want: []string{"too many open files", "ulimit -n"}, not: []string{noDevpts}}, "openat"},
		{hintCase{errno: "ENFILE", want: []string{"too many open files in system", "fs.file-max"}, not: []string{noDevpts, "ward ran out of file descriptors"}}, "openat"},
		{hintCase{errno: "ENOENT", want: []string{"no such file or directory", noDevpts}}, "openat"},
	} {
		t.Run(c.call+"-"+c.errno, func(t *testing.T) {
			w := newWardEnv(t)
			w.set("app/token", canary("hintpty"+c.errno))
			m := w.manifest("version: 1\nenv:\n  TOKEN: local://app/token\n")
			started := filepath.Join(w.dir, "started")
			cmd, _ := w.underStrace(t, []string{"-e", "trace=" + c.call, "-P", "/dev/ptmx", "-e", "inject=" + c.call + ":error=" + c.errno},
				"run", "--mask", "-m", m, "--", "touch", started)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: 80})
			if err != nil {
				t.Fatal(err)
			}
			defer ptmx.Close()
			term := readLines(t, ptmx)
			if code := exitWithin(t, cmd, 60*time.Second); code != 125 {
				t.Fatalf("got exit code %d, want 125:\n%s", code, stderr.String())
			}
			if _, err := os.Stat(started); err == nil {
				t.Errorf("the program started")
			}
			checkHint(t, w, c.hintCase, stderr.String())
			ptmx.Close()
			for line := range term.ch {
				for _, v := range w.canaries {
					if strings.Contains(line, v) {
						t.Errorf("a canary reached the terminal")
					}
				}
			}
		})
	}
}

// TestHintsStdoutWrite: what `ward local get` prints cannot be written
// to its standard output, a file. Only a full file system (ENOSPC) wants
// space freed; an EIO (a failing disk, a terminal hung up), an EAGAIN (a
// standard output another process made non-blocking) and an EBADF (one
// closed) were told to "free space where standard output goes" too, and
// EFBIG got that under the file-size limit's advice. 125 each time.
func TestHintsStdoutWrite(t *testing.T) {
	const freeSpace = "free space where standard output goes"
	for _, c := range []hintCase{
		{errno: "EIO", want: []string{"input/output error", "what ward printed is incomplete: an input/output error is " + eioHint}, not: []string{freeSpace}},
		{errno: "EAGAIN", want: []string{"resource temporarily unavailable", "standard output is non-blocking"}, not: []string{freeSpace}},
		{errno: "EBADF", want: []string{"bad file descriptor", "standard output is closed"}, not: []string{freeSpace}},
		{errno: "EFBIG", want: []string{"file too large", "ulimit -f"}, not: []string{freeSpace}},
		{errno: "ENOSPC", want: []string{"no space left on device", freeSpace}},
	} {
		t.Run(c.errno, func(t *testing.T) {
			w := newWardEnv(t)
			w.set("app/a", canary("hintout"+c.errno))
			out := filepath.Join(w.dir, "out.txt")
			f, err := os.Create(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			cmd, _ := w.underStrace(t, []string{"-e", "trace=write", "-P", out, "-e", "inject=write:error=" + c.errno}, "local", "get", "app/a")
			var stderr strings.Builder
			cmd.Stdout, cmd.Stderr = f, &stderr
			cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != 125 {
				t.Fatalf("got exit code %d, want 125:\n%s", code, stderr.String())
			}
			checkHint(t, w, c, stderr.String())
			os.Remove(out)
		})
	}
}

// TestHintsRefusedReadable: a file:// secret, or the local store's
// identity file, is refused (EACCES, EPERM) although its owner and mode
// let ward's user read it: a security module, an ACL, NFS's root_squash
// said no, and the hint says so. It said to chown or chmod the file, or
// to run ward as the user it belongs to, which ward is. A file whose mode
// does not let ward's user read it keeps that advice. 125 each time, the
// program never started.
func TestHintsRefusedReadable(t *testing.T) {
	const elsewhere = "so something else refused: a security module"
	for _, c := range []struct {
		hintCase
		mode     os.FileMode
		identity bool
	}{
		{hintCase{errno: "EACCES", want: []string{"permission denied", elsewhere}, not: []string{"chown or chmod it"}}, 0o600, false},
		{hintCase{errno: "EACCES", want: []string{"permission denied", "chown or chmod it"}, not: []string{elsewhere}}, 0o200, false},
		{hintCase{errno: "EPERM", want: []string{"operation not permitted", elsewhere}, not: []string{"sudo -u USER"}}, 0o600, true},
	} {
		t.Run(fmt.Sprintf("%s-%04o-identity=%v", c.errno, c.mode, c.identity), func(t *testing.T) {
			w := newWardEnv(t)
			w.set("app/a", canary("hintrefused"+c.errno))
			// The mounted file's value is the user's, on disk: checked
			// against ward's output, and removed before the audit.
			v := canary("hintrefusedfile" + c.errno)
			src := w.mounted(v)
			w.canaries = append(w.canaries, v)
			defer os.Remove(src)
			refused := src
			if c.identity {
				refused = filepath.Join(w.dir, "config", "ward", "identity.txt")
			}
			if err := os.Chmod(refused, c.mode); err != nil {
				t.Fatal(err)
			}
			m := w.manifest("version: 1\nenv:\n  A: local://app/a\n  B: file://" + src + "\n")
			out := w.refusedStart(t, []string{"-e", "trace=openat", "-P", refused, "-e", "inject=openat:error=" + c.errno}, m)
			checkHint(t, w, c.hintCase, out)
		})
	}
}

// TestHintsHelperUnexamined: the store helper ward-vault is installed,
// but the look at its file fails with EIO (a failing disk or mount). It
// was said to be "not installed", with the advice to install it; it is
// now said to be there and not to be looked at, with EIO's advice. 125,
// the program never started.
func TestHintsHelperUnexamined(t *testing.T) {
	helper, err := exec.LookPath("ward-vault")
	if err != nil {
		t.Fatal(err)
	}
	w := newWardEnv(t)
	w.env = append(w.env, "VAULT_ADDR=http://127.0.0.1:1", "VAULT_TOKEN="+canary("hinthelper"))
	w.canaries = append(w.canaries, w.env[len(w.env)-1][len("VAULT_TOKEN="):])
	m := w.manifest("version: 1\nenv:\n  V: vault://secret/app#x\n")
	out := w.refusedStart(t, []string{"-e", "trace=newfstatat,statx,stat", "-P", helper, "-e", "inject=newfstatat,statx,stat:error=EIO"}, m)
	checkHint(t, w, hintCase{errno: "EIO",
		want: []string{"ward-vault cannot be looked at: ", "input/output error", eioHint},
		not:  []string{"is not installed", "install ward's store helpers"}}, out)
}

// TestHintsImportNotSynced: `ward import` whose manifest is in place but
// whose directory's fsync fails. "the disk may be failing" was said of
// every errno; a full file system (ENOSPC, which NFS reports at the
// sync) is not a failing disk. 125, "imported, but not surely kept".
func TestHintsImportNotSynced(t *testing.T) {
	for _, c := range []hintCase{
		{errno: "ENOSPC", want: []string{"no space left on device", "the file system there is full", "after a crash, run the import again"}, not: []string{"disk may be failing"}},
		{errno: "EIO", want: []string{"input/output error", eioHint, "after a crash, run the import again"}},
	} {
		t.Run(c.errno, func(t *testing.T) {
			w := newWardEnv(t)
			w.set("other/x", canary("hintimp"))
			code, out := importUnderStrace(t, w, "-e", "trace=fsync", "-P", w.dir, "-e", "inject=fsync:error="+c.errno)
			if code != 125 || !strings.Contains(out, "imported, but not surely kept") {
				t.Fatalf("got exit code %d, want 125 and that the import is written but not synced:\n%s", code, out)
			}
			checkHint(t, w, c, out)
		})
	}
}

// TestHintsNotifyRelayFull: under systemd (NOTIFY_SOCKET), the relay's
// socket in the run's private directory cannot be made: its bind fails
// with ENOSPC (a tmpfs out of inodes) or EIO. The hint is the private
// directory's, as for its files: the tmpfs full, or the device failing;
// there was none. 125, the program never started.
func TestHintsNotifyRelayFull(t *testing.T) {
	for _, c := range []hintCase{
		{errno: "ENOSPC", want: []string{"create the notify socket", "no space left on device", "the tmpfs is full"}},
		{errno: "EIO", want: []string{"create the notify socket", "input/output error", eioHint}},
	} {
		t.Run(c.errno, func(t *testing.T) {
			w := newWardEnv(t)
			w.set("app/a", canary("hintrelay"+c.errno))
			m := w.manifest("version: 1\nenv:\n  A: local://app/a\n")
			sock := newNotifySocket(t)
			out := w.refusedStart(t, []string{"-e", "trace=bind", "-e", "inject=bind:error=" + c.errno}, m, "NOTIFY_SOCKET="+sock.path)
			checkHint(t, w, c, out)
		})
	}
}

// refusedStart runs `ward run -m m -- touch started` under strace with
// straceArgs, env added to ward's environment, and returns its output,
// failing the test unless ward exits 125 without starting the program.
func (w *wardEnv) refusedStart(t *testing.T, straceArgs []string, m string, env ...string) string {
	t.Helper()
	started := filepath.Join(w.dir, "started")
	cmd, _ := w.underStrace(t, straceArgs, "run", "-m", m, "--", "touch", started)
	cmd.Env = append(cmd.Env, env...)
	out, _ := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 125 {
		t.Fatalf("got exit code %d, want 125:\n%s", code, out)
	}
	if _, err := os.Stat(started); err == nil {
		t.Errorf("the program started")
	}
	return string(out)
}

// TestHintsHelperNotRunnable: a store helper ward finds that the kernel
// will not run: one built for another machine (an arm64 release copied
// into an amd64 image), one built with cgo against musl on a glibc
// system (its loader missing), one on a file system mounted noexec
// beside ward, and one only on $PATH there. ward said "fork/exec PATH:
// exec format error" (or "no such file or directory" of a file that is
// there, "permission denied" of one whose mode lets it run), or, of the
// one on $PATH, that ward-vault "is not installed". 125, the program
// never started.
func TestHintsHelperNotRunnable(t *testing.T) {
	helper, err := exec.LookPath("ward-vault")
	if err != nil {
		t.Fatal(err)
	}
	install := "ward's helpers are static Go programs for one machine: install the ones of this ward for this one (" + runtime.GOOS + "/" + runtime.GOARCH + ")"
	for _, c := range []struct {
		name string
		// place puts the helper beside ward in dir, or elsewhere, and
		// returns the PATH ward is given ("" to keep the test's).
		place func(t *testing.T, dir string) string
		want  func(dir string) []string
		not   []string
	}{
		{"another machine", func(t *testing.T, dir string) string {
			foreignHelper(t, dir)
			return ""
		}, func(dir string) []string {
			return []string{"start " + filepath.Join(dir, "ward-vault") + ": it is a program for another machine (", install}
		}, []string{"fork/exec"}},
		{"built against musl", func(t *testing.T, dir string) string {
			alpineTrue(t, filepath.Join(dir, "ward-vault"))
			return ""
		}, func(dir string) []string {
			return []string{"start " + filepath.Join(dir, "ward-vault") + ": its dynamic loader /lib/ld-musl-x86_64.so.1 (the ELF interpreter it names) was not found", install}
		}, []string{"fork/exec"}},
		{"noexec beside ward", func(t *testing.T, dir string) string {
			noexecFile(t, helper, filepath.Join(dir, "ward-vault"))
			return ""
		}, func(dir string) []string {
			p := filepath.Join(dir, "ward-vault")
			return []string{"start " + p + ": it is on a file system mounted noexec (" + p + "), where the kernel runs no program, whatever its mode: keep it on another file system: permission denied"}
		}, []string{"fork/exec", "chmod", "install ward's store helpers"}},
		{"noexec on PATH", func(t *testing.T, dir string) string {
			bin := t.TempDir()
			noexecFile(t, helper, filepath.Join(bin, "ward-vault"))
			return bin + ":/usr/bin:/bin"
		}, func(dir string) []string {
			return []string{"ward-vault cannot be run: it is on a file system mounted noexec (", "ward-vault), where the kernel runs no program, whatever its mode: keep it on another file system: permission denied; and no other ward-vault is next to ward's executable or on $PATH", "put ward's store helpers where the kernel runs programs, beside ward"}
		}, []string{"is not installed", "chmod"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, m, dir, env := vaultWardAlone(t, "helpernotrun")
			if path := c.place(t, dir); path != "" {
				env = append(withoutEnv(env, "PATH"), "PATH="+path)
			}
			started := filepath.Join(w.dir, "started")
			cmd := exec.Command(filepath.Join(dir, "ward"), "run", "--log-format", "text", "-m", m, "--", "/usr/bin/touch", started)
			cmd.Env, cmd.Dir = env, w.dir
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 125 {
				t.Fatalf("got exit code %d, want 125:\n%s", code, out)
			}
			if _, err := os.Stat(started); err == nil {
				t.Errorf("the program started")
			}
			checkHint(t, w, hintCase{errno: c.name, want: c.want(dir), not: c.not}, string(out))
		})
	}
}

// noexecFile bind-mounts the file src at dst (made for it) on a mount
// of its own marked noexec, as a volume or a hardened host's /tmp is,
// and unmounts it after the test.
func noexecFile(t *testing.T, src, dst string) {
	t.Helper()
	if os.Geteuid() != 0 {
		vaulttest.RequireIntegration(t, "a noexec bind mount needs root")
	}
	if err := os.WriteFile(dst, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount(src, dst, "", syscall.MS_BIND, ""); err != nil {
		t.Fatalf("bind-mount %s: %v", src, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dst, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dst, err)
		}
	})
	if err := syscall.Mount("", dst, "", syscall.MS_REMOUNT|syscall.MS_BIND|syscall.MS_NOEXEC, ""); err != nil {
		t.Fatalf("remount %s noexec: %v", dst, err)
	}
}

// TestHintsGitNotRunnable: `ward scan --git-history` where git is on
// $PATH but its look fails with EIO (a failing disk or mount), or its
// file may not be run (mode 0644). exec reads both as "not found", and
// ward said "git is not installed" with the advice to install it. 125.
func TestHintsGitNotRunnable(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		vaulttest.RequireIntegration(t, "git is not installed")
	}
	for _, c := range []struct {
		name string
		run  func(t *testing.T, w *wardEnv, m string) *exec.Cmd
		want []string
	}{
		{"EIO", func(t *testing.T, w *wardEnv, m string) *exec.Cmd {
			cmd, _ := w.underStrace(t, []string{"-e", "trace=newfstatat,statx,stat", "-P", git, "-e", "inject=newfstatat,statx,stat:error=EIO"}, "scan", "--git-history", "-m", m)
			// Its directory alone (/bin, a link to /usr/bin, would find it
			// again by another name).
			cmd.Env = append(withoutEnv(cmd.Env, "PATH"), "PATH="+filepath.Dir(git))
			return cmd
		}, []string{"git cannot be looked at on $PATH: " + git + ": input/output error", eioHint}},
		{"not executable", func(t *testing.T, w *wardEnv, m string) *exec.Cmd {
			bin := t.TempDir()
			if err := os.WriteFile(filepath.Join(bin, "git"), []byte("#!/bin/sh\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := w.command("scan", "--git-history", "-m", m)
			cmd.Env = append(withoutEnv(cmd.Env, "PATH"), "PATH="+bin)
			return cmd
		}, []string{"git cannot be run: ", "/git: permission denied", "make it a program this user may run (chmod +x"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWardEnv(t)
			w.set("app/token", w.canary("gitunusable"))
			m := w.manifest("version: 1\nenv:\n  TOKEN: local://app/token\n")
			repo := t.TempDir()
			if out, err := exec.Command("git", "init", "-q", repo).CombinedOutput(); err != nil {
				t.Fatalf("git init: %v: %s", err, out)
			}
			cmd := c.run(t, w, m)
			cmd.Dir = repo
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != 125 {
				t.Fatalf("got exit code %d, want 125:\n%s", code, out)
			}
			checkHint(t, w, hintCase{errno: c.name, want: c.want, not: []string{"git is not installed", "install git"}}, string(out))
		})
	}
}

// TestCheckProbesHelpers: `ward check` (offline) runs each store helper
// the manifest needs once, as a run starts it: one that cannot run here
// (another machine's, one whose C library is missing and says so), one
// of another ward (the store protocol it answers), or a program of its
// name that answers nothing fails the check with the reason, 125, as
// every run would fail; one not installed at all is a warning, the check
// passing (a lint job with ward alone); one that runs passes without a
// word. The check passed in all of them, and `RUN ward check` in an
// image's build said nothing of a helper the container could not start
// (until the fourth and fifth rows' probe asked the protocol, of a helper
// that ended well).
func TestCheckProbesHelpers(t *testing.T) {
	helper, err := exec.LookPath("ward-vault")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		place func(t *testing.T, dir string)
		code  int
		want  []string
	}{
		{"another machine", func(t *testing.T, dir string) {
			foreignHelper(t, dir)
		}, 125, []string{"ward: error: vault:// references: start ", "ward-vault: it is a program for another machine (", "install the ones of this ward for this one"}},
		{"dies at once", func(t *testing.T, dir string) {
			script := "#!/bin/sh\necho 'ward-vault: error while loading shared libraries: libc.so.9: cannot open shared object file' >&2\nexit 127\n"
			if err := os.WriteFile(filepath.Join(dir, "ward-vault"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
		}, 125, []string{"ward-vault failed with nothing to serve (exit status 127): ward-vault: error while loading shared libraries: libc.so.9"}},
		{"another ward's", func(t *testing.T, dir string) {
			// A newer ward's real helper, as an image that copied ward
			// and its helpers from two releases holds.
			b, err := os.ReadFile(otherProtocolHelper(t, "-X github.com/wardsecrets/ward/resolve/remote.version=v9.9.9"))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "ward-vault"), b, 0o755); err != nil {
				t.Fatal(err)
			}
		}, 125, []string{fmt.Sprintf("ward-vault is the helper of ward v9.9.9 (store protocol %d), and this ward is ", remote.Protocol+1), "they cannot work together", "install the helpers of this ward beside it"}},
		{"not ward's", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "ward-vault"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
				t.Fatal(err)
			}
		}, 125, []string{"ward-vault ran and ended without answering ward's store protocol", "install the helpers of this ward beside it"}},
		{"not installed", func(t *testing.T, dir string) {}, 0, []string{"ward-vault is not installed here", "install ward's store helpers beside ward"}},
		{"installed", func(t *testing.T, dir string) {
			b, err := os.ReadFile(helper)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "ward-vault"), b, 0o755); err != nil {
				t.Fatal(err)
			}
		}, 0, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			w, m, dir, env := vaultWardAlone(t, "checkprobe")
			c.place(t, dir)
			// Where ward-vault is not beside ward, none is on $PATH.
			env = append(withoutEnv(env, "PATH"), "PATH=/usr/bin:/bin")
			cmd := exec.Command(filepath.Join(dir, "ward"), "check", "--log-format", "text", "-m", m)
			cmd.Env, cmd.Dir = env, w.dir
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != c.code {
				t.Fatalf("got exit code %d, want %d:\n%s", code, c.code, stderr.String())
			}
			if c.code == 0 && !strings.Contains(stdout.String(), ": ok: 1 variable") {
				t.Errorf("the check did not say ok: %q", stdout.String())
			}
			if c.want == nil && stderr.Len() > 0 {
				t.Errorf("a check with its helper there said: %s", stderr.String())
			}
			checkHint(t, w, hintCase{errno: c.name, want: c.want}, stderr.String()+stdout.String())
		})
	}
}

// TestCheckProbesEveryProfile: `ward check` without -p checks every
// profile, and runs the helpers of every profile's references too (a
// prod profile's vault:// beside the base's local://); with -p, that
// profile's alone.
func TestCheckProbesEveryProfile(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/a", canary("checkprofile"))
	m := w.manifest("version: 1\nenv:\n  A: local://app/a\nprofiles:\n  prod:\n    env:\n      B: vault://secret/app#b\n  dev:\n    env:\n      B: local://app/a\n")
	dir := wardAlone(t)
	foreignHelper(t, dir)
	for _, c := range []struct {
		args []string
		code int
	}{
		{nil, 125},
		{[]string{"-p", "prod"}, 125},
		{[]string{"-p", "dev"}, 0},
	} {
		cmd := exec.Command(filepath.Join(dir, "ward"), append([]string{"check", "--log-format", "text", "-m", m}, c.args...)...)
		cmd.Env, cmd.Dir = append(withoutEnv(w.env, "PATH"), "PATH=/usr/bin:/bin"), w.dir
		out, _ := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); code != c.code {
			t.Errorf("ward check %v: got exit code %d, want %d:\n%s", c.args, code, c.code, out)
		}
		if c.code != 0 && !strings.Contains(string(out), "vault:// references: start "+filepath.Join(dir, "ward-vault")+": it is a program for another machine") {
			t.Errorf("ward check %v does not name the helper that cannot run:\n%s", c.args, out)
		}
	}
}

// TestMissingHelperNamedOnce: ward-aws missing, with awssm:// and ssm://
// references: ward check names both schemes in its warning (it named the
// first), and a run fails with one error for both variables (it gave two,
// the same hint twice), and 125.
func TestMissingHelperNamedOnce(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest("version: 1\nenv:\n  A: awssm://x/a\n  B: ssm:///x/b\n")
	dir := wardAlone(t)
	env := append(withoutEnv(w.env, "PATH"), "PATH=/usr/bin:/bin")
	cmd := exec.Command(filepath.Join(dir, "ward"), "check", "--log-format", "text", "-m", m)
	cmd.Env, cmd.Dir = env, w.dir
	out, _ := cmd.CombinedOutput()
	if !strings.Contains(string(out), "this manifest's awssm:// and ssm:// references") {
		t.Errorf("ward check does not name both schemes of the missing helper:\n%s", out)
	}
	cmd = exec.Command(filepath.Join(dir, "ward"), "run", "--log-format", "text", "-m", m, "--", "true")
	cmd.Env, cmd.Dir = env, w.dir
	out, _ = cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 125 || strings.Count(string(out), "ward-aws is not installed") != 1 || !strings.Contains(string(out), "error: A, B: ") {
		t.Errorf("ward run: exit %d, want 125 and one error for A and B:\n%s", code, out)
	}
}

// TestCheckCountsTheProfile: with a profile, the check's line counts what
// a run with it gets (the base's variables and files with the profile's),
// not the base's alone.
func TestCheckCountsTheProfile(t *testing.T) {
	w := newWardEnv(t)
	m := w.manifest("version: 1\nenv: {A: {value: a}}\nprofiles:\n  ci:\n    env: {A: {value: b}, B: {value: b}, C: {value: c}}\n    files: [{path: f.txt, template: \"x\"}]\n  \"eu, staging\":\n    env: {B: {value: b}}\n")
	for _, c := range []struct {
		args []string
		env  string
		want string
	}{
		{nil, "", ": ok: 1 variable, 0 files, 2 profiles\n"},
		{[]string{"-p", "ci"}, "", ": ok: 3 variables, 1 file with profile ci, 2 profiles\n"},
		{nil, "WARD_PROFILE=ci", ": ok: 3 variables, 1 file with profile ci, 2 profiles\n"},
		// A name that would run into the counts is quoted.
		{[]string{"-p", "eu, staging"}, "", ": ok: 2 variables, 0 files with profile \"eu, staging\", 2 profiles\n"},
	} {
		cmd := w.command(append([]string{"check", "-m", m}, c.args...)...)
		if c.env != "" {
			cmd.Env = append(cmd.Env, c.env)
		}
		out, err := cmd.Output()
		if err != nil || !strings.HasSuffix(string(out), c.want) {
			t.Errorf("ward check %v %s: got %q (%v), want it to end %q", c.args, c.env, out, err, c.want)
		}
	}
}

// vaultWardAlone is a test's ward alone in a directory (wardAlone), a
// manifest naming Vault, and the environment to run it in: a Vault
// address nothing listens on, and a canary token.
func vaultWardAlone(t *testing.T, label string) (w *wardEnv, m, dir string, env []string) {
	t.Helper()
	w = newWardEnv(t)
	token := canary(label)
	w.canaries = append(w.canaries, token)
	m = w.manifest("version: 1\nenv:\n  V: vault://secret/app#x\n")
	env = append(slices.Clone(w.env), "VAULT_ADDR=http://127.0.0.1:1", "VAULT_TOKEN="+token)
	return w, m, wardAlone(t), env
}

// foreignHelper puts beside ward, in dir, a ward-vault for another
// machine (foreignELF).
func foreignHelper(t *testing.T, dir string) {
	t.Helper()
	if err := os.Rename(foreignELF(t, t.TempDir()), filepath.Join(dir, "ward-vault")); err != nil {
		t.Fatal(err)
	}
}

// TestRunStopsAForeignHelper: a program of a helper's name that is not
// ward's (a tool's own `ward-vault` on $PATH, printing its usage or a JSON
// log line of its own) ends a run's start at its first line, 125, naming
// its path and how to install ward's, and what it started is stopped with
// it: the run waited 40 s for an answer, warned twice of "a line ward
// cannot read" without the path, then said the helper "answered nothing".
// One that ends at once, before a word of the protocol, is named by its
// path too.
func TestRunStopsAForeignHelper(t *testing.T) {
	for _, tc := range []struct {
		name, script string
		want         []string
	}{
		{"a usage line", "#!/bin/sh\necho 'Usage: ward-vault [options] FILE'\nexec cat >/dev/null\n", []string{" is not ward's store helper", "install ward's own ward-vault beside ward"}},
		{"a JSON line of its own, and a child", "#!/bin/sh\nsleep 300 &\necho \"sleeper $!\" >&2\necho '{\"level\":\"info\",\"msg\":\"ready\"}'\nexec cat >/dev/null\n", []string{" is not ward's store helper"}},
		{"an end at once", "#!/bin/sh\necho 'flag provided but not defined: -ward-store-protocol' >&2\nexit 2\n", []string{"ward-vault ended before it said a word of ward's store protocol"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, m, dir, env := vaultWardAlone(t, "foreign-run")
			if err := os.WriteFile(filepath.Join(dir, "ward-vault"), []byte(tc.script), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(filepath.Join(dir, "ward"), "run", "--log-format", "text", "-m", m, "--", "true")
			cmd.Env, cmd.Dir = append(withoutEnv(env, "PATH"), "PATH=/usr/bin:/bin"), w.dir
			var stderr strings.Builder
			cmd.Stderr = &stderr
			cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != 125 {
				t.Errorf("got exit code %d, want 125", code)
			}
			for _, want := range tc.want {
				if !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), filepath.Join(dir, "ward-vault")) {
					t.Errorf("stderr does not say %q, naming the program:\n%s", want, stderr.String())
				}
			}
			if _, rest, ok := strings.Cut(stderr.String(), "sleeper "); ok {
				var pid int
				fmt.Sscanf(rest, "%d", &pid)
				t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
				waitUntil(t, "what the foreign program started stopped with it", func() bool { return syscall.Kill(pid, 0) != nil })
			}
		})
	}
}
