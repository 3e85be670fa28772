// Package systemd is what ward does for systemd: it relays the child's
// sd_notify messages as its own (NotifyAccess=main), and hands sockets
// passed by socket activation on to the child with LISTEN_PID naming it.
package systemd

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/wardsecrets/ward/launcher/secretdir"
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
}

// NewRelay listens on a socket in dir when notifySocket (ward's
// NOTIFY_SOCKET) is set; it returns nil when it is not.
func NewRelay(notifySocket, dir string, log *slog.Logger) (*Relay, error) {
	if notifySocket == "" {
		return nil, nil
	}
	name := notifySocket
	if strings.HasPrefix(name, "@") {
		// An abstract socket: Go spells it with a leading NUL.
		name = "\x00" + name[1:]
	}
	target := &net.UnixAddr{Name: name, Net: "unixgram"}
	path := filepath.Join(dir, secretdir.NotifySocket)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("create the notify socket for the child: %w", err)
	}
	return &Relay{conn: conn, target: target, log: log, Path: path}, nil
}

// Run relays datagrams until the socket is closed.
func (r *Relay) Run() {
	buf := make([]byte, 4096)
	for {
		n, _, err := r.conn.ReadFromUnix(buf)
		if err != nil {
			return
		}
		msg := relayable(string(buf[:n]))
		if msg == "" {
			continue
		}
		// Sent from a fresh unbound socket, so systemd sees ward's pid.
		out, err := net.DialUnix("unixgram", nil, r.target)
		if err != nil {
			r.log.Warn("cannot reach systemd's notify socket", "error", err.Error())
			continue
		}
		if _, err := out.Write([]byte(msg)); err != nil {
			r.log.Warn("cannot relay a notify message to systemd", "error", err.Error())
		}
		out.Close()
	}
}

// relayable drops the assignments that would make systemd track another
// process (MAINPID) or hand over descriptors, keeping the rest in order.
func relayable(msg string) string {
	var keep []string
	for _, line := range strings.Split(msg, "\n") {
		if line == "" || strings.HasPrefix(line, "MAINPID=") || strings.HasPrefix(line, "FDSTORE=") || strings.HasPrefix(line, "BARRIER=") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// Close stops the relay and removes its socket.
func (r *Relay) Close() {
	if r != nil {
		r.conn.Close()
		os.Remove(r.Path)
	}
}

// ListenFDs returns the sockets systemd passed to ward (LISTEN_FDS with
// LISTEN_PID naming ward), as files for fds 3, 4, ...; nil when none.
func ListenFDs(getenv func(string) string) []*os.File {
	if getenv("LISTEN_PID") != strconv.Itoa(os.Getpid()) {
		return nil
	}
	n, err := strconv.Atoi(getenv("LISTEN_FDS"))
	if err != nil || n <= 0 || n > 1000 {
		return nil
	}
	files := make([]*os.File, n)
	for i := range files {
		files[i] = os.NewFile(uintptr(3+i), "LISTEN_FD_"+strconv.Itoa(3+i))
	}
	return files
}

// Vars are replaced for the child: NOTIFY_SOCKET points at the
// relay, and LISTEN_PID must name the child, which only it can know.
var Vars = []string{"NOTIFY_SOCKET", "LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"}

// ListenExecArg marks the trampoline run of ward for socket activation:
// ward __listen-exec PATH ARGV0 ARGS...
const ListenExecArg = "__ward-listen-exec"

// ListenExec is the trampoline: it sets LISTEN_PID to its own pid and
// replaces itself with the program, which keeps that pid.
func ListenExec(args []string) int {
	if len(args) < 2 {
		fmt.Fprintln(os.Stderr, "ward: error: internal: bad trampoline arguments")
		return 125
	}
	env := append(os.Environ(), "LISTEN_PID="+strconv.Itoa(os.Getpid()))
	err := syscall.Exec(args[0], args[1:], env)
	fmt.Fprintf(os.Stderr, "ward: error: %s: %v\n", args[0], err)
	return 126
}
