//go:build linux

package signals

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// savedCore is ward's RLIMIT_CORE before Harden, restored for children.
var savedCore *unix.Rlimit

// BecomeSubreaper makes orphaned descendants ward's children when ward is
// not PID 1, so the reaper collects them and the main child's grandchildren
// do not escape to init.
func BecomeSubreaper() error {
	if os.Getpid() == 1 {
		// PID 1 already inherits every orphan in its namespace.
		return nil
	}
	return unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
}

// Harden marks ward non-dumpable (no core dump, no ptrace by the same
// user, /proc/<pid>/environ and mem closed) and sets its core size limit to
// 0. The programs it starts get the limit it was started with (see
// childStart).
func Harden() error {
	if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
		return err
	}
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_CORE, &old); err != nil {
		return err
	}
	savedCore = &old
	return unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: old.Max})
}

// StopWithParent has sig sent to ward when its parent dies. The kernel
// keeps the setting with the calling thread, which must live as long as
// it matters. It reports whether the parent was still there once the
// setting took effect.
func StopWithParent(sig syscall.Signal) bool {
	parent := os.Getppid()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(sig), 0, 0, 0); err != nil {
		return true
	}
	return os.Getppid() == parent
}

func platformAttr(attr *syscall.SysProcAttr) {
	// If ward dies without forwarding (SIGKILL, OOM), the child is told.
	// The signal follows the OS thread that forked, so the run loop keeps
	// its goroutine locked to one thread for its whole life.
	attr.Pdeathsig = syscall.SIGTERM
}

// uncatchable are the signals Go's runtime neither handles nor lets a
// program catch (32 and 33, glibc's own, and 34, musl's): their default
// action kills the process, so `kill -RTMIN ward` (34 to bash) killed
// ward, which forwarded nothing and left its secret files behind. ward
// ignores those that have the default action (a cgo build's glibc may
// handle 32 and 33 itself); ignoreUncatchable records them, and
// childStart gives the programs ward starts their default action.
var uncatchable = []syscall.Signal{32, 33, 34}

// ignored are the signals of uncatchable that ward ignores.
var ignored []syscall.Signal

// ignoreUncatchable ignores each signal of uncatchable whose action is
// the default.
func ignoreUncatchable() {
	for _, sig := range uncatchable {
		var cur [4]uint64
		if _, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), 0, uintptr(unsafe.Pointer(&cur)), 8, 0, 0); errno != 0 || cur[0] != 0 {
			continue
		}
		if setAction(sig, 1) {
			ignored = append(ignored, sig)
		}
	}
}

// setAction sets sig's action to the default (0) or to ignore (1), with no
// flags and an empty mask.
func setAction(sig syscall.Signal, handler uint64) bool {
	act := [4]uint64{handler}
	_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&act)), 0, 8, 0, 0)
	return errno == 0
}

// childStart runs start (a fork and exec, or ward's own exec) with what
// the program is to inherit as ward was started with: the signals ward
// ignores (see uncatchable) have their default action again, and the
// core limit is the one ward had, so the program has it from its first
// instruction (set on the child after the start, it raced the program's
// own start: a shell's `ulimit -c` read 0). ward stays non-dumpable
// meanwhile, which alone keeps it from dumping core; the limit of 0 and
// the ignored signals are back once start returns.
func childStart(start func() error) error {
	// An ignored signal stays ignored across exec: the program gets the
	// default action of the signals ward ignores (see uncatchable) for
	// the moment of the start as well.
	for _, sig := range ignored {
		setAction(sig, 0)
		defer setAction(sig, 1)
	}
	if savedCore == nil {
		return start()
	}
	if unix.Setrlimit(unix.RLIMIT_CORE, savedCore) != nil {
		return start()
	}
	defer unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{Cur: 0, Max: savedCore.Max})
	return start()
}

// childCPULimit gives the child pid the soft CPU limit ward was started
// with, when the kernel has raised ward's since: it raises it by a second
// at each SIGXCPU it sends for ward's own CPU time (see OwnLimit), and a
// child started after that inherited ward's raised limit, not the one it
// was given (a restarted child's `ulimit -St` read 4, not 1). It cannot
// be put back in ward for the moment of the fork, as the core limit is:
// below ward's CPU time, the kernel raises it again within a tick or two,
// before the fork. Set on the child at once, it is the child's own from
// its first millisecond of CPU time, which is what the limit counts.
func childCPULimit(pid int) {
	var cpu unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_CPU, &cpu) != nil || cpu.Cur <= startCPU || startCPU > cpu.Max {
		return
	}
	// A program that runs set-user-ID is not ward's to change: EPERM,
	// and it keeps the raised limit.
	_ = unix.Prlimit(pid, unix.RLIMIT_CPU, &unix.Rlimit{Cur: startCPU, Max: cpu.Max}, nil)
}

// defaultAction sets sig's action to the default and returns what puts
// the previous (Go's) handler back. The kernel's struct sigaction for
// rt_sigaction is four words on amd64 and arm64 (handler, flags,
// restorer, mask); zero is SIG_DFL with no flags and an empty mask.
func defaultAction(sig syscall.Signal) (restore func()) {
	var dfl, old [4]uint64
	_, _, errno := unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&dfl)), uintptr(unsafe.Pointer(&old)), 8, 0, 0)
	if errno != 0 {
		return func() {}
	}
	return func() {
		unix.RawSyscall6(unix.SYS_RT_SIGACTION, uintptr(sig), uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0)
	}
}

// raise sends sig to the calling thread, as raise(3) does.
func raise(sig syscall.Signal) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	unix.Tgkill(os.Getpid(), unix.Gettid(), sig)
}

// backgroundWrite writes b to f with SIGTTOU blocked on the writing
// thread, which lets the kernel take the write from a process in the
// background of its terminal under `stty tostop` instead of sending
// SIGTTOU and restarting it (see Writer).
func backgroundWrite(f *os.File, b []byte) (int, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ttou, old unix.Sigset_t
	n := uint(syscall.SIGTTOU) - 1
	ttou.Val[n/64] |= 1 << (n % 64)
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &ttou, &old); err != nil {
		return f.Write(b)
	}
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return f.Write(b)
}

// EndBy ends ward by sig, the terminal's interrupt or quit signal that
// killed the child, so that whoever waits for ward acts on it as on any
// program's: a shell script or make that ran `ward run` stops instead of
// going on to its next command (a shell reads an exit with 130 as a
// program that handled SIGINT itself). With group set, sig goes to
// ward's whole process group, ward included: the signal came from the
// terminal, which sent it to the child's group, the foreground ward gave
// it, instead of to ward's, where a shell without job control or make
// waits with ward. As PID 1, which the kernel does not let die of its own
// signal, and when the signal does not end ward, it returns.
func EndBy(sig syscall.Signal, group bool) {
	if os.Getpid() == 1 {
		return
	}
	// The kernel's default action, not Go's: for SIGQUIT, Go's prints
	// every goroutine's stack.
	defaultAction(sig)
	if group {
		syscall.Kill(0, sig)
	}
	raise(sig)
}

// noexecMount returns where the file system holding p is mounted, when it
// is mounted noexec ("" when it is not, or that cannot be told).
func noexecMount(p string) string {
	var fs unix.Statfs_t
	if unix.Statfs(p, &fs) != nil || fs.Flags&unix.ST_NOEXEC == 0 {
		return ""
	}
	return mountPoint(p)
}

// SecureExec says why the kernel will run the program at path in secure
// execution (AT_SECURE) for ward's user: a set-user-ID program of
// another owner, a set-group-ID one of another group, a program with
// file capabilities (for a user other than root); "" for none of them,
// and for a program no dynamic loader is run for (a static binary: Go's,
// busybox's), whose environment no C library then filters. The C
// library of one that has a loader drops, from the environment it gets,
// the variables that could subvert it (LD_*, TMPDIR, ... : see
// SecureDropped).
func SecureExec(path string) string {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return ""
	}
	euid, egid := os.Geteuid(), os.Getegid()
	why := ""
	switch {
	case st.Mode&unix.S_ISUID != 0 && int(st.Uid) != euid:
		why = "set-user-ID"
	case st.Mode&unix.S_ISGID != 0 && int(st.Gid) != egid:
		why = "set-group-ID"
	case euid != 0:
		if n, err := unix.Getxattr(path, "security.capability", nil); err == nil && n > 0 {
			why = "given file capabilities (setcap)"
		}
	}
	if why == "" || !dynamic(path) {
		return ""
	}
	return why
}

// Self returns the file to execute to run ward's own program again (the
// socket-activation trampoline, the pty session's leader, the guard) and the path to
// name it by in argv: its path, or /proc/self/exe where the file at that
// path is no longer the one running. An upgrade (`go install`, a package
// manager, `mv` of a new build) renames another program over it while a
// long-lived ward runs, and an uninstall removes it: the kernel keeps the
// running program, which /proc/self/exe still opens, while the path names
// another version, whose internal arguments may differ, or nothing.
func Self() (exe, name string, err error) {
	name, err = os.Executable()
	if err != nil {
		return "", "", err
	}
	running, err := os.Stat("/proc/self/exe")
	if err != nil {
		return name, name, nil
	}
	if st, err := os.Stat(name); err == nil && os.SameFile(st, running) {
		return name, name, nil
	}
	return "/proc/self/exe", name, nil
}

// HasExited reports whether child pid has exited (or been killed) and
// waits to be reaped, leaving it for the reaper (WNOWAIT): what ward is
// about to do to a running child (a rotation's restart) it must not do
// to one that ended by itself.
func HasExited(pid int) bool {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOHANG|unix.WNOWAIT, nil)
		if err == syscall.EINTR {
			continue
		}
		// WNOHANG: a child still running leaves info zeroed (no pid).
		return err == nil && info.Signo != 0
	}
}

// mountPoint is the directory (or file) where the mount holding p is
// mounted, as /proc/self/mountinfo lists it. A bind mount of a directory
// or a file of the same file system (`mount --bind -o noexec`, a
// container's volume) shares its device with what is around it, and the
// device alone named the file system's root instead. (Nor statx's mount
// id: qemu-user, which runs the tests of other machines, says it gives
// one and gives 0.) Where mountinfo cannot be read, the highest directory
// above p on its device.
func mountPoint(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return ""
	}
	if mp := mountinfoPoint(abs); mp != "" {
		return mp
	}
	var st unix.Stat_t
	if unix.Stat(abs, &st) != nil {
		return ""
	}
	dir := abs
	for dir != "/" {
		parent := filepath.Dir(dir)
		var pst unix.Stat_t
		if unix.Stat(parent, &pst) != nil || pst.Dev != st.Dev {
			break
		}
		dir = parent
	}
	return dir
}

// mountinfoPoint is the mount point /proc/self/mountinfo lists that holds
// p (its links resolved): the longest that is p or a directory above it,
// the last listed of equals (a mount over another). "" when it cannot be
// read.
func mountinfoPoint(p string) string {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return ""
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return ""
	}
	best := ""
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if (real == mp || mp == "/" || strings.HasPrefix(real, mp+"/")) && len(mp) >= len(best) {
			best = mp
		}
	}
	return best
}

// unescapeMountinfo undoes the kernel's octal escapes of a path in
// mountinfo (\040 for a space, \011, \012, \134).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, "\\") {
		return s
	}
	var out strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				out.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		out.WriteByte(s[i])
	}
	return out.String()
}
