//go:build linux

package signals

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// SignalOthers sends sig to every process ward can see except itself,
// spare (its own store helpers) and the members of process group group,
// and reports whether any was left. As PID 1 every process of the
// container is ward's to stop when the main child is gone: daemons that
// left the child's session included. The child's group is the caller's
// to signal, as one: signalled here too, its members got each signal
// twice, and a server that reads a second SIGTERM as "stop now" cut its
// drain short.
func SignalOthers(sig syscall.Signal, group int, spare []int) (left bool) {
	eachOther(group, spare, func(pid int, _ *stat) {
		if syscall.Kill(pid, sig) == nil {
			left = true
		}
	})
	return left
}

// eachOther calls f with every process but ward, spare and the members
// of process group group, and its stat (nil when it could not be read).
func eachOther(group int, spare []int, f func(pid int, st *stat)) {
	self := os.Getpid()
	eachProcess(func(pid int) {
		if pid == self || slices.Contains(spare, pid) {
			return
		}
		if st := procStat(pid); st == nil || st.pgrp != group {
			f(pid, st)
		}
	})
}

// SignalOrphans sends sig to ward's own children but spare (its store
// helpers) and the members of process group group, zombies aside, and
// reports whether any was there. Once the main child has exited, those
// are what it left behind in a session or group of its own (a daemon
// that called setsid()), orphaned to ward as PID 1 or as a subreaper:
// provably the old child's, unlike the other processes of a container (a
// `docker exec` shell). An orphan still in the child's group (npm's
// node, once the `sh -c` between them died) is the caller's to signal
// with the group, once.
func SignalOrphans(sig syscall.Signal, group int, spare []int) (left bool) {
	self := os.Getpid()
	eachProcess(func(pid int) {
		if st := procStat(pid); st != nil && st.ppid == self && st.state != 'Z' && st.pgrp != group && !slices.Contains(spare, pid) && syscall.Kill(pid, sig) == nil {
			left = true
		}
	})
	return left
}

// Orphans returns ward's own children but spare (its store helpers,
// its guard) and those whose first argument is one of spareArgs,
// zombies aside: once the main child is gone, what it left running that
// ward, as a subreaper, was given (a daemon that called setsid(), the
// workers of a --signal-child-only child). A nested `ward run`'s guard
// and store helpers (spareArgs names their arguments) end by themselves
// moments after their ward, and hold no secret of the child's. Read from
// /proc/self/task/*/children, a few small files, rather than every
// process's stat: ward asks at every exit.
func Orphans(spare []int, spareArgs ...string) []int {
	self := os.Getpid()
	var pids []int
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil
	}
	listed := false
	for _, task := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + task.Name() + "/children")
		if err != nil {
			continue
		}
		listed = true
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(pids, pid) {
				pids = append(pids, pid)
			}
		}
	}
	if !listed {
		// A kernel without CONFIG_PROC_CHILDREN: every process's parent.
		eachProcess(func(pid int) {
			if st := procStat(pid); st != nil && st.ppid == self {
				pids = append(pids, pid)
			}
		})
	}
	var left []int
	for _, pid := range pids {
		if st := procStat(pid); st != nil && st.state != 'Z' && !slices.Contains(spare, pid) && !slices.Contains(spareArgs, firstArg(pid)) {
			left = append(left, pid)
		}
	}
	slices.Sort(left)
	return left
}

// SignalDescendants sends sig to every process below pid (its children,
// theirs, and so on, zombies aside), whatever their process group or
// session, but those whose first argument is spareArg, and reports
// whether any was there. What the child started in a group or session
// of its own (a nested `ward run`'s child, the shell of `script -qc`) is
// beyond a signal to the child's group; once the process between them
// dies, it is no longer below the child: the caller signals these first.
// A nested ward's store helpers (spareArg is their protocol argument)
// end by themselves once their ward is gone, after giving its leases
// back: killed, they would leave them to expire.
func SignalDescendants(pid int, sig syscall.Signal, spareArg string) (left bool) {
	children := map[int][]int{}
	eachProcess(func(p int) {
		if st := procStat(p); st != nil && st.state != 'Z' {
			children[st.ppid] = append(children[st.ppid], p)
		}
	})
	below := slices.Clone(children[pid])
	for i := 0; i < len(below) && i < 1<<16; i++ {
		below = append(below, children[below[i]]...)
	}
	for _, p := range below {
		if spareArg != "" && firstArg(p) == spareArg {
			continue
		}
		if syscall.Kill(p, sig) == nil {
			left = true
		}
	}
	return left
}

// IsStopped reports whether process pid is stopped, by a signal or in a
// tracer's hands (see stoppedState).
func IsStopped(pid int) bool {
	st := procStat(pid)
	return st != nil && stoppedState(st.state)
}

// stoppedState is whether a process in state (of /proc/PID/stat) is
// stopped: by a signal (T), or in a tracer's hands (t: a debugger that
// attached to a stopped program, a breakpoint), which no SIGCONT resumes
// and which is no sign that the program runs again.
func stoppedState(state byte) bool { return state == 'T' || state == 't' }

// StoppedInSession lists the stopped processes of session sid but its
// leader: under --mask on a terminal, the program and what it started,
// whose stop ward followed (the leader, ward's own, stops itself then).
func StoppedInSession(sid int) (pids []int) {
	eachProcess(func(pid int) {
		if st := procStat(pid); pid != sid && st != nil && st.session == sid && stoppedState(st.state) {
			pids = append(pids, pid)
		}
	})
	return pids
}

// Runs reports whether process pid runs: it is there, neither stopped
// (see stoppedState) nor ended and unreaped (a zombie); ended, whether it
// is gone or a zombie.
func Runs(pid int) (runs, ended bool) {
	st := procStat(pid)
	if st == nil || st.state == 'Z' || st.state == 'X' {
		return false, true
	}
	return !stoppedState(st.state), false
}

// AnyStopped reports whether a process of process group pgid (of session
// pgid when session is set) is stopped by a signal.
func AnyStopped(pgid int, session bool) (stopped bool) {
	eachProcess(func(pid int) {
		if stopped {
			return
		}
		if st := procStat(pid); st != nil && stoppedState(st.state) && (!session && st.pgrp == pgid || session && st.session == pgid) {
			stopped = true
		}
	})
	return stopped
}

// firstArg is process pid's argv[1], "" when it has none or is gone.
func firstArg(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	args := strings.Split(string(b), "\x00")
	if len(args) < 2 {
		return ""
	}
	return args[1]
}

// groupHoldsOthers reports whether ward's process group, which it does
// not lead, holds a process other than ward, its ancestors and its
// descendants (see GroupShared).
func groupHoldsOthers() bool {
	self := os.Getpid()
	me := procStat(self)
	if me == nil {
		return false
	}
	ancestors := map[int]bool{}
	for pid, n := me.ppid, 0; pid > 1 && n < 4096; n++ {
		ancestors[pid] = true
		st := procStat(pid)
		if st == nil {
			break
		}
		pid = st.ppid
	}
	shared := false
	eachProcess(func(pid int) {
		if shared || pid == self || ancestors[pid] {
			return
		}
		st := procStat(pid)
		if st == nil || st.pgrp != me.pgrp || st.state == 'Z' {
			return
		}
		// A descendant of ward (a store helper) is not another job's.
		for p, n := st.ppid, 0; p > 1 && n < 4096; n++ {
			if p == self {
				return
			}
			up := procStat(p)
			if up == nil {
				break
			}
			p = up.ppid
		}
		shared = true
	})
	return shared
}

// eachProcess calls f with the id of every process in /proc.
func eachProcess(f func(pid int)) {
	dirs, err := os.ReadDir("/proc")
	if err != nil {
		return
	}
	for _, d := range dirs {
		if pid, err := strconv.Atoi(d.Name()); err == nil {
			f(pid)
		}
	}
}

// GroupOrphaned reports whether ward's process group is orphaned: no
// member has a parent in another group of the same session. The kernel
// discards SIGTSTP, SIGTTIN and SIGTTOU for such a group (nobody with job
// control could continue it), which is what a service's ward (systemd,
// a container's PID 1, a CI runner's setsid) is.
func GroupOrphaned() bool {
	self := procStat(os.Getpid())
	if self == nil {
		return false
	}
	orphaned := true
	eachProcess(func(pid int) {
		if !orphaned {
			return
		}
		st := procStat(pid)
		if st == nil || st.pgrp != self.pgrp {
			return
		}
		if parent := procStat(st.ppid); parent != nil && parent.pgrp != self.pgrp && parent.session == self.session {
			orphaned = false
		}
	})
	return orphaned
}

// stat is what GroupOrphaned reads of /proc/PID/stat.
type stat struct {
	state               byte
	ppid, pgrp, session int
	// start is when the process started, in clock ticks since boot: with
	// the pid, it names one process, whose pid may be reused after it.
	start string
}

func procStat(pid int) *stat {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	// The command name, in parentheses, may hold spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 4 {
		return nil
	}
	st := stat{state: f[0][0]}
	if len(f) > 19 {
		st.start = f[19]
	}
	var errs [3]error
	st.ppid, errs[0] = strconv.Atoi(f[1])
	st.pgrp, errs[1] = strconv.Atoi(f[2])
	st.session, errs[2] = strconv.Atoi(f[3])
	if errs[0] != nil || errs[1] != nil || errs[2] != nil {
		return nil
	}
	return &st
}

// Parent is pid's parent, as /proc/PID/stat says; false when it cannot be
// read (the process is gone).
func Parent(pid int) (int, bool) {
	st := procStat(pid)
	if st == nil {
		return 0, false
	}
	return st.ppid, true
}

// Process is pid's parent and when it started, as /proc/PID/stat says;
// false when it cannot be read (the process is gone). A process seen
// again with the same start is the same process, not one its pid was
// given to since.
func Process(pid int) (parent int, started string, ok bool) {
	st := procStat(pid)
	if st == nil {
		return 0, "", false
	}
	return st.ppid, st.start, true
}

// SignalSession sends sig to every process of session sid and reports
// whether any was there: the child's pty session under --mask, where the
// child has a process group of its own beside its session leader's.
func SignalSession(sid int, sig syscall.Signal) (left bool) {
	eachProcess(func(pid int) {
		if st := procStat(pid); st != nil && st.session == sid && syscall.Kill(pid, sig) == nil {
			left = true
		}
	})
	return left
}

// EndedBy reports whether sig would end process pid: pid neither catches
// nor ignores it (the SigCgt and SigIgn masks of its /proc status), and
// its default action ends a process. False when that cannot be read, and
// for a process that has exited already (a zombie), which nothing ends.
func EndedBy(pid int, sig syscall.Signal) bool {
	switch sig {
	case syscall.SIGCHLD, syscall.SIGCONT, syscall.SIGURG, syscall.SIGWINCH,
		syscall.SIGSTOP, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU:
		// Ignored or a stop by default.
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	found := 0
	for _, line := range strings.Split(string(b), "\n") {
		name, mask, ok := strings.Cut(line, ":")
		if name == "State" && strings.HasPrefix(strings.TrimSpace(mask), "Z") {
			return false
		}
		if !ok || name != "SigCgt" && name != "SigIgn" {
			continue
		}
		m, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
		if err != nil || m&(1<<(uint(sig)-1)) != 0 {
			return false
		}
		found++
	}
	return found == 2
}

// Catches reports whether process pid has a handler for sig (the SigCgt
// mask of its /proc status), true when that cannot be read.
func Catches(pid int, sig syscall.Signal) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return true
	}
	for _, line := range strings.Split(string(b), "\n") {
		if mask, ok := strings.CutPrefix(line, "SigCgt:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
			return err != nil || m&(1<<(uint(sig)-1)) != 0
		}
	}
	return true
}

// SignalOwnGroup sends sig to the other members of this process's group,
// zombies aside, and reports whether any was there: the rest of a
// shell's job (`ward run -- cmd | tee log`), which a stop of the child's
// own group by the terminal (Ctrl-Z once the child has the terminal)
// never reached. bash waited for the whole job to stop, and the prompt
// never came back.
func SignalOwnGroup(sig syscall.Signal) bool {
	return signalGroupBut(syscall.Getpgrp(), os.Getpid(), sig)
}

// SignalGroupButLeader sends sig to the members of process group pgid
// but its leader, zombies aside, and reports whether any was there: the
// leader, ward's child, has the kernel's SIGTERM when ward is killed
// (PR_SET_PDEATHSIG), and one more would be a second SIGTERM.
func SignalGroupButLeader(pgid int, sig syscall.Signal) bool {
	return signalGroupBut(pgid, pgid, sig)
}

// signalGroupBut sends sig to the members of process group pgrp but
// skip, zombies aside, and reports whether any was there.
func signalGroupBut(pgrp, skip int, sig syscall.Signal) (any bool) {
	eachProcess(func(pid int) {
		if pid == skip {
			return
		}
		if st := procStat(pid); st != nil && st.state != 'Z' && st.pgrp == pgrp && syscall.Kill(pid, sig) == nil {
			any = true
		}
	})
	return any
}

// Others returns the processes SignalOthers signals, zombies aside: as
// PID 1, what is left of the container but ward, spare and group.
func Others(group int, spare []int) []int {
	var pids []int
	eachOther(group, spare, func(pid int, st *stat) {
		if st != nil && st.state != 'Z' {
			pids = append(pids, pid)
		}
	})
	return pids
}

// GroupMembers returns the processes of process group pgid, zombies
// aside.
func GroupMembers(pgid int) []int {
	var pids []int
	eachProcess(func(pid int) {
		if st := procStat(pid); st != nil && st.state != 'Z' && st.pgrp == pgid {
			pids = append(pids, pid)
		}
	})
	return pids
}

// GroupRunning reports whether process group pgid has a member that is
// not a zombie: one that has exited waits there for whoever reaps it now
// (init, a subreaper), which may take its time.
func GroupRunning(pgid int) (running bool) {
	if !GroupAlive(pgid) {
		return false
	}
	eachProcess(func(pid int) {
		if st := procStat(pid); st != nil && st.state != 'Z' && st.pgrp == pgid {
			running = true
		}
	})
	return running
}
