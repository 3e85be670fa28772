//go:build !linux

package signals

import "syscall"

// SignalOthers does nothing outside Linux: ward is PID 1 only in Linux
// containers.
func SignalOthers(sig syscall.Signal, group int, spare []int) (left bool) { return false }

// SignalOrphans does nothing outside Linux, where ward is no subreaper:
// the orphans of its child are not its own.
func SignalOrphans(sig syscall.Signal, group int, spare []int) (left bool) { return false }

// Orphans is none outside Linux, where ward is no subreaper.
func Orphans(spare []int, spareArgs ...string) []int { return nil }

// GroupMembers is none outside Linux, where ward reads no /proc.
func GroupMembers(pgid int) []int { return nil }

// Others returns nothing outside Linux.
func Others(group int, spare []int) []int { return nil }

// SignalDescendants does nothing outside Linux, where ward reads no
// /proc: the child's group is signalled as before.
func SignalDescendants(pid int, sig syscall.Signal, spareArg string) (left bool) {
	return false
}

// IsStopped is true outside Linux, where ward cannot tell: a SIGCONT
// to a process that runs does nothing most programs notice.
func IsStopped(pid int) bool { return true }

// StoppedInSession is nil outside Linux, where ward cannot list a
// session's processes.
func StoppedInSession(sid int) []int { return nil }

// Runs is false outside Linux, where ward cannot tell, as IsStopped.
func Runs(pid int) (runs, ended bool) { return false, false }

// AnyStopped is true outside Linux, as IsStopped.
func AnyStopped(pgid int, session bool) bool { return true }

// groupHoldsOthers is false outside Linux, where ward cannot list its
// group's processes: only a parallel make's MAKEFLAGS keeps the terminal
// from the child there.
func groupHoldsOthers() bool { return false }

// GroupOrphaned is false where /proc cannot tell: StopSelf then stops
// with the child's own signal.
func GroupOrphaned() bool { return false }

// SignalSession sends sig to session sid's leader's group: outside Linux
// ward cannot list a session's processes.
func SignalSession(sid int, sig syscall.Signal) (left bool) {
	return syscall.Kill(-sid, sig) == nil
}

// EndedBy is false outside Linux, where ward cannot read another
// process's handlers.
func EndedBy(pid int, sig syscall.Signal) bool { return false }

// Catches is true outside Linux, where ward cannot read another
// process's handlers.
func Catches(pid int, sig syscall.Signal) bool { return true }

// Parent is unknown outside Linux, where ward reads no /proc.
func Parent(pid int) (int, bool) { return 0, false }

// Process is Process of others_linux.go; nothing to read it from.
func Process(pid int) (parent int, started string, ok bool) { return 0, "", false }

// SignalGroupButLeader is SignalGroupButLeader of others_linux.go; with
// no /proc to list the group by, it signals the whole group.
func SignalGroupButLeader(pgid int, sig syscall.Signal) (left bool) {
	return syscall.Kill(-pgid, sig) == nil
}

// GroupRunning is GroupAlive outside Linux.
func GroupRunning(pgid int) bool { return GroupAlive(pgid) }

// SignalOwnGroup is SignalOwnGroup of others_linux.go; with no /proc to
// list the group by, it signals nothing.
func SignalOwnGroup(sig syscall.Signal) bool { return false }
