package identity

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
)

// procNetTCP and procNetTCP6 list the TCP sockets of ward's network
// namespace: IPv4 ones, and IPv6 ones, among them the dual-stack sockets
// that reach 127.0.0.1 as ::ffff:127.0.0.1 (Java's, by default). Under
// /proc/self, which /proc/net links to: a proc that shows processes only
// (systemd's ProcSubset=pid, mount -o subset=pid) has no /proc/net.
const (
	procNetTCP  = "/proc/self/net/tcp"
	procNetTCP6 = "/proc/self/net/tcp6"
)

// peerUID finds the owner of the socket at the other end of the loopback
// connection local<-remote: the socket whose own address is remote and
// whose peer is local, in /proc/net/tcp, else (an IPv6 socket) in
// /proc/net/tcp6, which give each socket's uid. Both ends are in ward's
// network namespace, as every loopback connection's are.
func peerUID(local, remote *net.TCPAddr) (uid int, checked bool, err error) {
	uid, err = findPeer(procNetTCP, procAddr(remote), procAddr(local))
	if errors.Is(err, errPeerNotListed) {
		uid, err = findPeer(procNetTCP6, procAddr6(remote), procAddr6(local))
	}
	if errors.Is(err, errPeerNotListed) {
		err = errPeerUnknown
	}
	return uid, true, err
}

// errPeerNotListed is a socket a table does not list.
var errPeerNotListed = fmt.Errorf("%w: not listed", errPeerUnknown)

// findPeer returns the uid of the socket table lists with the address
// want and the peer peer.
func findPeer(table, want, peer string) (int, error) {
	f, err := os.Open(table)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errPeerUnknown, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // the header line
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[1] != want || fields[2] != peer {
			continue
		}
		uid, err := strconv.Atoi(fields[7])
		if err != nil || len(fields) < 10 {
			return 0, fmt.Errorf("%w: unreadable uid in %s", errPeerUnknown, table)
		}
		// ward's own uid is not enough: another container of the pod
		// (its own PID namespace, the pod's network) may run as it too,
		// and cannot read ward's memory as a process beside ward can.
		if uid == os.Getuid() {
			held, unsure := heldByMe("socket:[" + fields[9] + "]")
			switch {
			case held:
			case overflowAmbiguous(uid):
				return 0, fmt.Errorf("%w: uid %d is also every user's this user namespace does not map, and no process of ward's user holds the socket", errPeerUnknown, uid)
			case !unsure:
				return 0, fmt.Errorf("%w: no process ward can see holds the socket (one of another PID namespace, such as another container of the pod)", errPeerUnknown)
			}
		}
		return uid, nil
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%w: %v", errPeerUnknown, err)
	}
	return 0, errPeerNotListed
}

// procAddr writes an IPv4 address and port as /proc/net/tcp does: the
// address's four bytes read as one word in host byte order, in hex, then
// the port.
func procAddr(a *net.TCPAddr) string {
	ip := a.IP.To4()
	if ip == nil {
		return ""
	}
	return fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(ip), a.Port)
}

// procAddr6 writes an address as /proc/net/tcp6 does: its sixteen bytes
// (an IPv4 address mapped, ::ffff:a.b.c.d) as four words in host byte
// order, then the port.
func procAddr6(a *net.TCPAddr) string {
	ip := a.IP.To16()
	if ip == nil {
		return ""
	}
	var b strings.Builder
	for i := 0; i < 16; i += 4 {
		fmt.Fprintf(&b, "%08X", binary.NativeEndian.Uint32(ip[i:i+4]))
	}
	return fmt.Sprintf("%s:%04X", b.String(), a.Port)
}

// overflowAmbiguous reports whether uid, as /proc/net/tcp shows it, may
// be a user this user namespace does not map: the kernel shows every such
// user as the overflow uid (65534, nobody). ward running as that uid in a
// user namespace (a rootless container as nobody, with the host's
// network) would otherwise serve every other user of the host.
func overflowAmbiguous(uid int) bool {
	b, err := os.ReadFile("/proc/sys/kernel/overflowuid")
	if err != nil {
		return true
	}
	o, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return true
	}
	if o != uid {
		return false
	}
	m, err := os.ReadFile("/proc/self/uid_map")
	if err != nil {
		return true
	}
	// The initial namespace maps every uid, in one line.
	return strings.Join(strings.Fields(string(m)), " ") != "0 0 4294967295"
}

// heldByMe reports whether a process whose descriptors ward may read
// (only its own user's, unless it is root, in ward's PID namespace or
// one below it) holds the socket link names. unsure is set when a
// process of ward's user hides its descriptors (a non-dumpable one: ssh-
// agent, a program with file capabilities), which may be the holder;
// not ward's own, which hide theirs too (its store helpers, the --mask
// session's leader).
func heldByMe(link string) (held, unsure bool) {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return false, false
	}
	me := strconv.Itoa(os.Geteuid())
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		dir := "/proc/" + p.Name() + "/fd"
		fds, err := os.ReadDir(dir)
		if err != nil {
			unsure = unsure || (errors.Is(err, fs.ErrPermission) && hidesFromMe(p.Name(), me))
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(dir + "/" + fd.Name()); err == nil && l == link {
				return true, false
			}
		}
	}
	return false, unsure
}

// hidesFromMe reports whether process pid, whose descriptors ward may
// not read, is of ward's effective user me and not one of ward's own (a
// child of ward named ward...): what its status says.
func hidesFromMe(pid, me string) bool {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return false
	}
	var name, ppid, euid string
	for _, line := range strings.Split(string(b), "\n") {
		key, value, _ := strings.Cut(line, ":")
		f := strings.Fields(value)
		switch {
		case len(f) == 0:
		case key == "Name":
			name = f[0]
		case key == "PPid":
			ppid = f[0]
		case key == "Uid" && len(f) >= 2:
			euid = f[1]
		}
	}
	own := ppid == strconv.Itoa(os.Getpid()) && strings.HasPrefix(name, "ward")
	return euid == me && !own
}
