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
		if err != nil {
			return 0, true, fmt.Errorf("%w: unreadable uid in %s", errPeerUnknown, procNetTCP)
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
