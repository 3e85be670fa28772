// Package systemd is what ward does for systemd: it relays the child's
// sd_notify messages as its own (NotifyAccess=main), and hands sockets
// passed by socket activation on to the child with LISTEN_PID naming it.
package systemd

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wardsecrets/ward/launcher/logfmt"
	"github.com/wardsecrets/ward/launcher/secretdir"
	"github.com/wardsecrets/ward/signals"
)

// Relay stands between systemd's notify socket and the child: with
// NotifyAccess=main only ward (the main process) may notify, so ward hands
// the child a socket of its own and passes the child's READY=1, STOPPING=1,
// STATUS=... on as its own messages.
type Relay struct {
	conn   *net.UnixConn
	target *net.UnixAddr
	log    *slog.Logger
	// Path is what the child gets as NOTIFY_SOCKET.
	Path string
	// restarting is set while ward restarts the child (Restarting).
	restarting atomic.Bool
	// running is set while Run runs; done closes when it returns.
	running atomic.Bool
	done    chan struct{}
	// Watchdog is systemd's watchdog interval for ward (WatchdogSec=),
	// 0 when there is none; see Vouch.
	Watchdog time.Duration
	// inflight is the socket a relayed message is being sent on, which
	// Close gives up on.
	inflight atomic.Pointer[net.UnixConn]
	// closeBy is when Close gives up on what is still to be relayed, 0
	// until Close has begun.
	closeBy atomic.Int64
	// unusable says why NOTIFY_SOCKET names no socket the relay can
	// send to ("" when it does); warned says which failures were
	// warned of (each once: a child's WATCHDOG=1 made one a second).
	unusable string
	warnedMu sync.Mutex
	warned   map[string]bool
}

// relayWait bounds the sending of one relayed message: a systemd too busy
// to read its socket (its queue holds net.unix.max_dgram_qlen messages,
// 10 by default) held the relay, and with it ward's exit, for good after
// the child had exited. The child sending to systemd itself would wait
// as long; what waits longer is dropped, with a warning.
const relayWait = 5 * time.Second

// Restarting says whether ward is restarting the child. Meanwhile the old
// child's STOPPING=1 is not passed on: to systemd it would mean that the
// service (ward) is stopping, and systemd would start its stop timeout
// and kill ward and the new child when it runs out, ignoring the new
// child's READY=1. The new child's READY=1 ends the restart for the
// relay; so does a stop of ward (Restarting(false)).
func (r *Relay) Restarting(on bool) {
	if r != nil {
		r.restarting.Store(on)
	}
}

// maxMessage is the largest notify message systemd reads (its
// NOTIFY_BUFFER_MAX); it drops a longer one, and so does the relay rather
// than pass on its first 4096 bytes.
const maxMessage = 4096

// NewRelay listens on a socket in dir when notifySocket (ward's
// NOTIFY_SOCKET) is set; it returns nil when it is not.
func NewRelay(notifySocket, dir string, log *slog.Logger) (*Relay, error) {
	if notifySocket == "" {
		return nil, nil
	}
	name, unusable := notifySocket, ""
	switch {
	case strings.HasPrefix(name, "@"):
		// An abstract socket: Go spells it with a leading NUL.
		name = "\x00" + name[1:]
	case strings.HasPrefix(name, "vsock"):
		// systemd 254's vsock:CID:PORT, for a service in a VM.
		unusable = "an AF_VSOCK address, which ward cannot relay to"
	case !filepath.IsAbs(name):
		unusable = "not an absolute path nor an abstract socket (@NAME), as systemd gives it"
	}
	if unusable != "" {
		log.Warn("NOTIFY_SOCKET names no socket ward can relay the child's notifications to: they are dropped", "notify_socket", notifySocket, "why", unusable)
	}
	target := &net.UnixAddr{Name: name, Net: "unixgram"}
	path := filepath.Join(dir, secretdir.NotifySocket)
	if len(path) > maxSocketPath {
		return nil, fmt.Errorf("the notify socket for the child, %s, would have a path of %d bytes, more than the %d a unix socket's may have: set $WARD_RUNTIME_DIR to a shorter directory", path, len(path), maxSocketPath)
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("create the notify socket for the child: %w", err)
	}
	return &Relay{conn: conn, target: target, log: log, Path: path, done: make(chan struct{}), unusable: unusable}, nil
}

// maxSocketPath is the longest path a unix socket may have on Linux
// (sun_path holds 108 bytes with the NUL).
const maxSocketPath = 107

// Run relays datagrams until the socket is closed.
func (r *Relay) Run() {
	r.running.Store(true)
	defer close(r.done)
	buf := make([]byte, maxMessage+1)
	// Room for the descriptors, and for credentials (a struct ucred)
	// should the sender add them.
	oob := make([]byte, unix.CmsgSpace(maxFDs*4)+unix.CmsgSpace(12))
	for {
		// Descriptors come close-on-exec (Go reads with MSG_CMSG_CLOEXEC):
		// no child inherits them.
		n, oobn, flags, _, err := r.conn.ReadMsgUnix(buf, oob)
		if err != nil {
			return
		}
		received := receivedFDs(oob[:oobn])
		fds := received
		msg, pass := "", false
		switch {
		case n > maxMessage:
			r.log.Warn("a notify message over 4096 bytes is dropped, as systemd would drop it")
		case flags&unix.MSG_CTRUNC != 0:
			r.warnOnce("a notify message came with more file descriptors than systemd takes in one; they are dropped", errors.New("descriptors cut off"))
			msg = relayable(string(buf[:n]), false)
		default:
			msg = relayable(string(buf[:n]), len(fds) > 0)
			// Only for the store or a barrier: systemd closes others
			// with a complaint.
			pass = len(fds) > 0 && (hasLine(msg, "FDSTORE=1") || hasLine(msg, "BARRIER=1"))
		}
		if r.restarting.Load() {
			msg = r.duringRestart(msg)
		}
		if !pass {
			fds = nil
		}
		if msg != "" {
			r.send(msg, fds, relayWait)
		}
		for _, fd := range received {
			unix.Close(fd)
		}
	}
}

// hasLine reports whether msg holds line as one of its lines.
func hasLine(msg, line string) bool {
	for _, l := range strings.Split(msg, "\n") {
		if l == line {
			return true
		}
	}
	return false
}

// writeWithFDs writes msg to the connected socket out, with fds when
// there are some (WriteMsgUnix refuses a connected socket), within its
// write deadline.
func writeWithFDs(out *net.UnixConn, msg []byte, fds []int) error {
	if len(fds) == 0 {
		_, err := out.Write(msg)
		return err
	}
	raw, err := out.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), msg, unix.UnixRights(fds...), nil, unix.MSG_DONTWAIT)
		return serr != unix.EAGAIN
	}); err != nil {
		return err
	}
	return serr
}

// maxFDs is the most descriptors one message carries (the kernel's
// SCM_MAX_FD).
const maxFDs = 253

// receivedFDs returns the descriptors a message's control data carries.
func receivedFDs(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		if f, err := unix.ParseUnixRights(&msgs[i]); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

// send passes msg to systemd as ward's own message, giving up after
// within (a systemd too busy to read its socket), or at once when Close
// has begun.
func (r *Relay) send(msg string, fds []int, within time.Duration) {
	if r.unusable != "" {
		return
	}
	// Sent from a fresh unbound socket, so systemd sees ward's pid.
	out, err := net.DialUnix("unixgram", nil, r.target)
	if err != nil {
		r.warnOnce("cannot reach systemd's notify socket", err)
		return
	}
	defer out.Close()
	out.SetWriteDeadline(time.Now().Add(within))
	r.inflight.Store(out)
	defer r.inflight.CompareAndSwap(out, nil)
	if by := r.closeBy.Load(); by != 0 {
		// Close may have looked before the store: what is queued is
		// still relayed, within what is left of Close's wait.
		out.SetWriteDeadline(time.Unix(0, by))
	}
	if err := writeWithFDs(out, []byte(msg), fds); err != nil {
		r.warnOnce("cannot relay a notify message to systemd", err)
	}
}

// warnOnce warns of a failure the first time it comes, and logs it at
// debug after that.
func (r *Relay) warnOnce(msg string, err error) {
	r.warnedMu.Lock()
	seen := r.warned[msg+err.Error()]
	if r.warned == nil {
		r.warned = map[string]bool{}
	}
	r.warned[msg+err.Error()] = true
	r.warnedMu.Unlock()
	if seen {
		r.log.Debug(msg, "error", err.Error())
		return
	}
	r.log.Warn(msg+" (said once; later ones at debug)", "error", err.Error())
}

// Vouch sends WATCHDOG=1 for the service at once and then every half
// watchdog interval, until the stop it returns is called. While ward
// restarts the child for new secrets no child sends it: the old one,
// draining for up to stop_timeout, has stopped, and the new one has not
// started; systemd would kill the service for a missed watchdog. ward
// vouches only until the new child has started, which then has a whole
// interval for its first WATCHDOG=1: a new child that hangs is still
// caught.
func (r *Relay) Vouch() (stop func()) {
	if r == nil || r.Watchdog <= 0 {
		return func() {}
	}
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(r.Watchdog / 2)
		defer t.Stop()
		for {
			// Bounded: the stop waits for this goroutine, and a stop
			// of ward must not wait for a systemd that reads nothing.
			r.send("WATCHDOG=1", nil, r.Watchdog/2)
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	var once sync.Once
	return func() {
		// Once it returns, no WATCHDOG=1 of ward's can follow the new
		// child's messages.
		once.Do(func() { close(quit); <-finished })
	}
}

// WatchdogInterval is systemd's watchdog interval for ward: WATCHDOG_USEC
// when WATCHDOG_PID names ward or is not set (as sd_watchdog_enabled
// reads them), 0 when there is none.
func WatchdogInterval(getenv func(string) string) time.Duration {
	usec, err := strconv.ParseUint(getenv("WATCHDOG_USEC"), 10, 63)
	if err != nil || usec == 0 {
		return 0
	}
	if pid := getenv("WATCHDOG_PID"); pid != "" && pid != strconv.Itoa(os.Getpid()) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond
}

// duringRestart drops the old child's STOPPING=1 from msg (see
// Restarting); a READY=1 in it ends the restart.
func (r *Relay) duringRestart(msg string) string {
	var keep []string
	for _, line := range strings.Split(msg, "\n") {
		switch line {
		case "STOPPING=1":
			r.log.Debug("the old child's STOPPING=1 is not passed on to systemd: ward is restarting it, not stopping")
			continue
		case "READY=1":
			r.restarting.Store(false)
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// relayable drops the assignments that would make systemd track another
// process (MAINPID), and those that hand over descriptors (FDSTORE=1,
// to systemd's store; BARRIER=1, a pipe systemd closes once it has read
// what came before) unless the message carries them (withFDs): ward
// passes them on as its own, and systemd keeps them for the service, and
// gives them back at its next start in LISTEN_FDS (the child's, see
// socket activation). They were dropped, with the child's FDSTORE=1,
// and FDNAME= passed on alone.
func relayable(msg string, withFDs bool) string {
	var keep []string
	for _, line := range strings.Split(msg, "\n") {
		if line == "" || strings.HasPrefix(line, "MAINPID=") || !withFDs && (strings.HasPrefix(line, "FDSTORE=") || strings.HasPrefix(line, "BARRIER=")) {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// drainWait is how long Close waits for more messages once the child is
// gone: what it sent before exiting (STOPPING=1 from a shutdown handler)
// is queued on the socket already and read at once; the wait only ends
// the last read.
const drainWait = 2 * time.Millisecond

// Close relays what is still queued, stops the relay and removes its
// socket. Closing the socket at once dropped what the child sent just
// before it exited.
func (r *Relay) Close() {
	if r == nil {
		return
	}
	// What the child sent just before it exited still reaches a systemd
	// whose queue is full for a moment (the socket is every service's),
	// within relayWait in all; one that reads nothing holds ward's exit
	// no longer.
	by := time.Now().Add(relayWait)
	r.closeBy.Store(by.UnixNano())
	if out := r.inflight.Load(); out != nil {
		out.SetWriteDeadline(by)
	}
	if r.running.Load() {
		r.conn.SetReadDeadline(time.Now().Add(drainWait))
		<-r.done
	}
	r.conn.Close()
	os.Remove(r.Path)
}

// ListenFDs returns the sockets systemd passed to ward (LISTEN_FDS with
// LISTEN_PID naming ward), as files for fds 3, 4, ...; nil when none,
// with an error when the variables name fds that were not passed: one
// not open, or open close-on-exec, as every file ward (and the Go
// runtime: its cgroup files) opens is and none passed across an exec is.
// A LISTEN_FDS of 2 set by hand handed the child the runtime's
// cpu.cfs_quota_us and cpu.cfs_period_us for its sockets.
func ListenFDs(getenv func(string) string) ([]*os.File, error) {
	if getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return nil, nil
	}
	n, err := strconv.Atoi(getenv("LISTEN_FDS"))
	if err != nil || n <= 0 || n > 1000 {
		return nil, nil
	}
	for fd := 3; fd < 3+n; fd++ {
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err != nil || flags&unix.FD_CLOEXEC != 0 {
			return nil, fmt.Errorf("LISTEN_FDS=%d names fds 3 to %d, and fd %d was not passed to ward: the child gets no LISTEN_FDS (set by hand, or by a program between systemd and ward that closed them?)", n, 2+n, fd)
		}
	}
	files := make([]*os.File, n)
	for i := range files {
		files[i] = os.NewFile(uintptr(3+i), "LISTEN_FD_"+strconv.Itoa(3+i))
	}
	return files, nil
}

// Vars are replaced for the child: NOTIFY_SOCKET points at the
// relay, and LISTEN_PID must name the child, which only it can know.
// WATCHDOG_PID names ward: a child that found it was not its own pid
// would think the watchdog is not for it (sd_watchdog_enabled) and never
// send WATCHDOG=1; without it, WATCHDOG_USEC is for whoever reads it.
var Vars = []string{"NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES", "WATCHDOG_PID", "WATCHDOG_USEC"}

// ListenExecArg marks the trampoline run of ward for socket activation:
// ward __ward-listen-exec LOG PATH ARGV0 ARGS..., LOG being ward's log
// format and level (see logfmt.Arg).
const ListenExecArg = "__ward-listen-exec"

// ListenExec is the trampoline: it sets LISTEN_PID to its own pid and
// replaces itself with the program, which keeps that pid.
func ListenExec(args []string) int {
	log, ok := (*slog.Logger)(nil), len(args) >= 3
	if ok {
		log, ok = logfmt.FromArg(os.Stderr, args[0])
	}
	if !ok {
		fmt.Fprintln(os.Stderr, "ward: error: internal: bad trampoline arguments")
		return 125
	}
	args = args[1:]
	env := append(os.Environ(), "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	// As ward's own start says it: a missing #! interpreter is 127 and
	// named, a program being written is waited for (the bare exec said
	// "no such file or directory" of the program, and 126, for each).
	err := signals.WhileWritten(signals.SayWritten(log, args[0]), func() error { return signals.Exec(args[0], args[1:], env) })
	logfmt.Error(log, os.Stderr, err)
	var se *signals.StartError
	if errors.As(err, &se) {
		return se.Code
	}
	return signals.ExitNotExecutable
}
