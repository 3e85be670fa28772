//go:build linux

package signals

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
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

// raise sends sig to the calling thread, as raise(3) does. With others,
// sig is blocked on the thread and sent, others is called, and the
// signal unblocked: others runs before the stop is taken, and a SIGCONT
// meanwhile discards it (see StopSelfAndGroup).
func raise(sig syscall.Signal, others func()) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set, old unix.Sigset_t
	n := uint(sig) - 1
	set.Val[n/64] |= 1 << (n % 64)
	if others == nil || sig == syscall.SIGSTOP || unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old) != nil {
		// SIGSTOP cannot be blocked.
		if others != nil {
			others()
		}
		unix.Tgkill(os.Getpid(), unix.Gettid(), sig)
		return
	}
	unix.Tgkill(os.Getpid(), unix.Gettid(), sig)
	others()
	unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
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
	raise(sig, nil)
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

// execWatch looks for ward's child stopped before its exec while a start
// is under way: a Ctrl-Z typed between the forked child's taking of the
// terminal (StartOptions.Foreground) and its exec reaches it alone,
// still ward (its command line is ward's), and stops it there. The fork
// waits for that exec (vfork): ward hung, the terminal held by a stopped
// group no key could reach. The child is continued to its exec, and the
// signal that stopped it is given to the program once it runs (see
// watchStart): the key stops the job a moment later.
//
// The fork holds its thread's scheduler (a P) until the exec, and what
// waits on it waits for good: a goroutine started for the start, a timer
// set by it, and a garbage collection, whose start stops every P (the
// collector is off meanwhile: see collectorOff). The watch is a
// goroutine of its own, started before the first start, that waits in a
// read of a pipe (a system call, which leaves its P to others) for each
// start's byte, and allocates nothing from there on (see execLook).
var execWatch struct {
	once  sync.Once
	ready chan struct{}
	// wake is written a byte at each start, through wakeFd; watch reads
	// it (kept here, from the finalizer that would close them).
	wake, watch *os.File
	wakeFd      int
	// starting is the forking thread's id while a start is under way,
	// 0 otherwise; stopped is the signal the watch took from the child
	// of the start under way, 0 for none.
	starting atomic.Int64
	stopped  atomic.Int64
}

// watchStart tells the watch a start begins on this thread, and returns
// what the caller calls once the fork returned: the signal that stopped
// the child before its exec, which it sends the program, or 0.
func watchStart() (after func() syscall.Signal) {
	w := &execWatch
	w.once.Do(func() {
		look := newExecLook()
		r, wr, err := os.Pipe()
		if look == nil || err != nil {
			return
		}
		// Never waited on (Fd made it blocking): a watch gone (a read's
		// error) must not hold a start once its pipe is full.
		w.wakeFd = int(wr.Fd())
		syscall.SetNonblock(w.wakeFd, true)
		w.ready, w.wake, w.watch = make(chan struct{}), wr, r
		go watchExecs(r, look)
		<-w.ready
	})
	if w.wake == nil {
		return func() syscall.Signal { return 0 }
	}
	// The child is the forking thread's: the thread is kept until then.
	runtime.LockOSThread()
	w.stopped.Store(0)
	w.starting.Store(int64(unix.Gettid()))
	// Without waiting: a pipe full of unread bytes (starts faster than
	// the watch) needs no more.
	unix.Write(w.wakeFd, []byte{0})
	return func() syscall.Signal {
		w.starting.Store(0)
		runtime.UnlockOSThread()
		return syscall.Signal(w.stopped.Swap(0))
	}
}

// watchExecs is the watch: for each start, the forking thread's children
// stopped before their exec are looked for every startLooked until it is
// over.
func watchExecs(r *os.File, look *execLook) {
	w := &execWatch
	fd := int(r.Fd())
	syscall.SetNonblock(fd, false)
	close(w.ready)
	for {
		if _, err := syscall.Read(fd, look.buf[:64]); err != nil && err != syscall.EINTR {
			return
		}
		for {
			tid := w.starting.Load()
			if tid == 0 {
				break
			}
			ts := unix.NsecToTimespec(startLooked.Nanoseconds())
			unix.Nanosleep(&ts, nil)
			if w.starting.Load() != tid {
				continue
			}
			if pid, sig := look.stopped(int(tid)); pid != 0 {
				w.stopped.Store(int64(sig))
				syscall.Kill(pid, syscall.SIGCONT)
			}
		}
	}
}

// startLooked is how often, while a start is under way, its child is
// looked for stopped.
const startLooked = 2 * time.Millisecond

// execLook reads /proc without allocating: into buf, by paths written
// into path, through raw system calls.
type execLook struct {
	self []byte // ward's command line
	buf  [4096]byte
	path [64]byte
	kids [64]int
}

func newExecLook() *execLook {
	self, err := os.ReadFile("/proc/self/cmdline")
	if err != nil || len(self) == 0 || len(self) > 4096 {
		return nil
	}
	return &execLook{self: self}
}

// stopped returns a child of thread tid stopped before its exec (leading
// its own group or session, its command line ward's) and the signal that
// stopped it; 0 for none.
func (l *execLook) stopped(tid int) (int, syscall.Signal) {
	b := l.read("/proc/self/task/", tid, "/children")
	n := 0
	for v := 0; len(b) > 0 && n < len(l.kids); b = b[1:] {
		if c := b[0]; c >= '0' && c <= '9' {
			v = v*10 + int(c-'0')
			if len(b) == 1 || b[1] < '0' || b[1] > '9' {
				l.kids[n], n, v = v, n+1, 0
			}
		}
	}
	for _, pid := range l.kids[:n] {
		// stat: pid (comm) state ppid pgrp session ...
		st := l.read("/proc/", pid, "/stat")
		i := bytes.LastIndexByte(st, ')')
		if i < 0 || i+3 > len(st) || st[i+2] != 'T' {
			continue
		}
		var f [3]int // ppid, pgrp, session
		k, v := 0, 0
		for _, c := range st[i+4:] {
			if c == ' ' {
				if f[k], k, v = v, k+1, 0; k == len(f) {
					break
				}
				continue
			}
			v = v*10 + int(c-'0')
		}
		if k < len(f) || f[1] != pid && f[2] != pid || !bytes.Equal(l.read("/proc/", pid, "/cmdline"), l.self) {
			continue
		}
		return pid, stopSignal(pid)
	}
	return 0, 0
}

// read reads the file prefix+n+suffix into buf, up to its size; nil when
// it cannot.
func (l *execLook) read(prefix string, n int, suffix string) []byte {
	p := append(l.path[:0], prefix...)
	p = strconv.AppendInt(p, int64(n), 10)
	p = append(p, suffix...)
	if len(p) >= len(l.path) {
		return nil
	}
	p = append(p, 0)
	cwd := unix.AT_FDCWD
	fd, _, errno := unix.Syscall6(unix.SYS_OPENAT, uintptr(cwd), uintptr(unsafe.Pointer(&p[0])), uintptr(unix.O_RDONLY|unix.O_CLOEXEC), 0, 0, 0)
	if errno != 0 {
		return nil
	}
	got := 0
	for got < len(l.buf) {
		n, _, errno := unix.Syscall(unix.SYS_READ, fd, uintptr(unsafe.Pointer(&l.buf[got])), uintptr(len(l.buf)-got))
		if errno != 0 || n == 0 {
			break
		}
		got += int(n)
	}
	unix.Syscall(unix.SYS_CLOSE, fd, 0, 0)
	return l.buf[:got]
}

// stopSignal returns the signal that stopped child pid, read without
// taking its stop from the reaper (waitid with WNOWAIT); SIGTSTP when it
// cannot be read. The kernel's siginfo for SIGCHLD holds, after signo,
// errno and code (aligned to a pointer), the pid, the uid and the status.
func stopSignal(pid int) syscall.Signal {
	var info [128]byte
	_, _, errno := unix.Syscall6(unix.SYS_WAITID, unix.P_PID, uintptr(pid), uintptr(unsafe.Pointer(&info[0])), unix.WSTOPPED|unix.WNOHANG|unix.WNOWAIT, 0, 0)
	align := unsafe.Sizeof(uintptr(0))
	at := (12 + align - 1) &^ (align - 1)
	if errno != 0 || *(*int32)(unsafe.Pointer(&info[0])) != int32(syscall.SIGCHLD) {
		return syscall.SIGTSTP
	}
	if sig := syscall.Signal(*(*int32)(unsafe.Pointer(&info[at+8]))); sig > 0 && sig < 65 {
		return sig
	}
	return syscall.SIGTSTP
}
