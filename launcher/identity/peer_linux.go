package identity

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// procNetTCP lists the IPv4 TCP sockets of ward's network namespace.
const procNetTCP = "/proc/net/tcp"

// peerUID finds the owner of the socket at the other end of the loopback
// connection local<-remote: the socket whose own address is remote and
// whose peer is local, in /proc/net/tcp, which gives each socket's uid.
// Both ends are in ward's network namespace, as every loopback
// connection's are.
func peerUID(local, remote *net.TCPAddr) (uid int, checked bool, err error) {
	f, err := os.Open(procNetTCP)
	if err != nil {
		return 0, true, fmt.Errorf("%w: %v", errPeerUnknown, err)
	}
	defer f.Close()
	want, peer := procAddr(remote), procAddr(local)
	sc := bufio.NewScanner(f)
	sc.Scan() // the header line
	for sc.Scan() {
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 8 || fields[1] != want || fields[2] != peer {
			continue
		}
		uid, err := strconv.Atoi(fields[7])
		if err != nil || len(fields) < 10 {
			return 0, true, fmt.Errorf("%w: unreadable uid in %s", errPeerUnknown, procNetTCP)
		}
		if uid == os.Getuid() && overflowAmbiguous(uid) && !heldByMe("socket:["+fields[9]+"]") {
			return 0, true, fmt.Errorf("%w: uid %d is also every user's this user namespace does not map, and no process of ward's user holds the socket", errPeerUnknown, uid)
		}
		return uid, true, nil
	}
	if err := sc.Err(); err != nil {
		return 0, true, fmt.Errorf("%w: %v", errPeerUnknown, err)
	}
	return 0, true, errPeerUnknown
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
// (only its own user's, unless it is root) holds the socket link names.
func heldByMe(link string) bool {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return false
	}
	for _, p := range procs {
		if _, err := strconv.Atoi(p.Name()); err != nil {
			continue
		}
		dir := "/proc/" + p.Name() + "/fd"
		fds, err := os.ReadDir(dir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			if l, err := os.Readlink(dir + "/" + fd.Name()); err == nil && l == link {
				return true
			}
		}
	}
	return false
}
