//go:build linux && amd64

// Command seccomp runs a program under a seccomp filter, as systemd's
// SystemCallFilter= and Docker's seccomp profile put a service under one:
//
//	seccomp [-allow system-service] [-deny NAME,NAME] [-action kill|EPERM|ENOSYS] -- PROGRAM [ARGS...]
//
// -allow system-service allows what `SystemCallFilter=@system-service`
// and `~@privileged @resources` allow and gives every other system call
// the action; -deny gives the named ones the action and allows the rest
// (Docker's profile for the calls it does not know). kill is
// SECCOMP_RET_KILL_PROCESS (systemd's default: the process dies of
// SIGSYS), EPERM and ENOSYS are SECCOMP_RET_ERRNO with that error
// (SystemCallErrorNumber=, older and newer Docker). A call of another
// architecture is killed (SystemCallArchitectures=native). The filter
// is set with no_new_privs, then the program is executed.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	allow := flag.String("allow", "", "allow only this set (system-service)")
	deny := flag.String("deny", "", "comma-separated system calls to deny")
	action := flag.String("action", "kill", "kill, EPERM or ENOSYS")
	flag.Parse()
	if flag.NArg() == 0 {
		fail("usage: seccomp [-allow system-service] [-deny NAME,...] [-action kill|EPERM|ENOSYS] -- PROGRAM [ARGS...]")
	}
	var act uint32
	switch *action {
	case "kill":
		act = unix.SECCOMP_RET_KILL_PROCESS
	case "EPERM":
		act = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
	case "ENOSYS":
		act = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	default:
		fail("unknown action " + *action)
	}
	var names []string
	listed, other := act, uint32(unix.SECCOMP_RET_ALLOW)
	switch {
	case *allow == "system-service":
		names = systemService
		listed, other = unix.SECCOMP_RET_ALLOW, act
	case *allow != "":
		fail("unknown set " + *allow)
	case *deny != "":
		names = strings.Split(*deny, ",")
	}
	var nrs []uint32
	for _, n := range names {
		if nr, ok := numbers[n]; ok {
			nrs = append(nrs, nr)
		} else if *deny != "" {
			fail("unknown system call " + n)
		}
	}
	prog := filter(nrs, listed, other)

	path, err := exec.LookPath(flag.Arg(0))
	if err != nil {
		fail(err.Error())
	}
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fail("no_new_privs: " + err.Error())
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if _, _, errno := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); errno != 0 {
		fail("seccomp: " + errno.Error())
	}
	err = syscall.Exec(path, flag.Args(), os.Environ())
	fail("exec: " + err.Error())
}

// filter is the BPF program: another architecture killed, the listed
// numbers given listed, every other one other.
func filter(nrs []uint32, listed, other uint32) []unix.SockFilter {
	const archOff, nrOff = 4, 0
	p := []unix.SockFilter{
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, archOff),
		jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, unix.AUDIT_ARCH_X86_64, 1, 0),
		stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_KILL_PROCESS),
		stmt(unix.BPF_LD|unix.BPF_W|unix.BPF_ABS, nrOff),
		// x32 calls (bit 30 set) are another ABI: killed.
		jump(unix.BPF_JMP|unix.BPF_JGE|unix.BPF_K, 0x40000000, 0, 1),
		stmt(unix.BPF_RET|unix.BPF_K, unix.SECCOMP_RET_KILL_PROCESS),
	}
	for _, nr := range nrs {
		p = append(p,
			jump(unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K, nr, 0, 1),
			stmt(unix.BPF_RET|unix.BPF_K, listed))
	}
	return append(p, stmt(unix.BPF_RET|unix.BPF_K, other))
}

func stmt(code uint16, k uint32) unix.SockFilter { return unix.SockFilter{Code: code, K: k} }

func jump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "seccomp:", msg)
	os.Exit(2)
}
