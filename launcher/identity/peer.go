package identity

import (
	"errors"
	"net"
	"os"
)

// errPeerUnknown is a connection whose peer's owner cannot be found.
var errPeerUnknown = errors.New("the connecting socket's owner cannot be found")

// samePeerUser reports whether the process at the other end of a
// loopback connection runs as ward's own user. The GCE metadata protocol
// has no secret (its Metadata-Flavor header only stops a browser or a
// server-side request forgery from reaching it), so on Linux the
// metadata endpoint serves only connections whose socket ward's user
// owns and a process ward can see holds: processes of ward's user beside
// it can read ward's memory and environment anyway (ptrace,
// /proc/PID/environ), so they learn nothing new; every other user's are
// refused, and so are those of another PID namespace (another container
// of a pod, which shares the pod's network), whatever their user
// (peerUID tells an unmapped user, which the kernel shows as the
// overflow uid, from ward's own when that is ward's). Where the owner
// cannot be found, the
// connection is refused. checked is false where the system cannot tell
// (not Linux): the endpoint then relies on loopback and the headers.
func samePeerUser(conn net.Conn) (same, checked bool, err error) {
	if c, ok := conn.(*peerConn); ok {
		// Found once, when the server accepted it.
		return c.same, c.checked, c.err
	}
	local, ok1 := conn.LocalAddr().(*net.TCPAddr)
	remote, ok2 := conn.RemoteAddr().(*net.TCPAddr)
	if !ok1 || !ok2 {
		return false, true, errPeerUnknown
	}
	uid, checked, err := peerUID(local, remote)
	if !checked {
		return true, false, nil
	}
	if err != nil {
		return false, true, err
	}
	return uid == os.Getuid(), true, nil
}

// peerConn is a connection whose peer's owner the server looked up when
// it accepted it (samePeerUser), so that an endpoint's answer does not
// read /proc/net/tcp again.
type peerConn struct {
	net.Conn
	same, checked bool
	err           error
}
