package remote

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wardsecrets/ward/internal/logbuf"
)

// TestFrozenWithItsHelperKillsNothing: ward and its helper frozen
// together for longer than the answer timeout (`docker pause`, a freezer
// cgroup, kill -STOP of both), while ward waits on the helper (a lease it
// keeps) and a ping of its waits for an answer, then thawed, ward first.
// ward's first tick after the thaw found that ping unanswered, the
// timeout gone by the clock, and killed the helper, which answers as soon
// as it runs.
func TestFrozenWithItsHelperKillsNothing(t *testing.T) {
	const timeout = 900 * time.Millisecond
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	if err := os.Symlink(self, filepath.Join(bin, helperName)); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "WARD_TEST_DIR="+t.TempDir(), "WARD_TEST_CLIENT="+timeout.String())
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &logbuf.Buffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		b := make([]byte, 64)
		n, _ := stdout.Read(b)
		line <- string(b[:n])
	}()
	var helper int
	select {
	case l := <-line:
		if _, err := fmt.Sscanf(l, "pending helper=%d", &helper); err != nil || helper <= 0 {
			t.Fatalf("the client said %q; its log:\n%s", l, logs.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the client did not say its request was pending; its log:\n%s", logs.String())
	}
	t.Cleanup(func() { syscall.Kill(helper, syscall.SIGCONT) })
	// The freeze catches the client with a ping sent and not answered
	// yet: the helper stops first, and the client once a ping waits in
	// the helper's stdin.
	if err := syscall.Kill(helper, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// The helper's stdin is a socket, which does not open through /proc
	// (that is its point): its queue is asked of the kernel by inode.
	link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/0", helper))
	if err != nil {
		t.Fatal(err)
	}
	var ino uint32
	if _, err := fmt.Sscanf(link, "socket:[%d]", &ino); err != nil {
		t.Fatalf("the helper's stdin is %s, not a socket", link)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if n, err := unixReceiveQueue(ino); err != nil {
			t.Fatal(err)
		} else if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the client sent no ping to its stopped helper")
		}
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); !stopped(helper) || !stopped(cmd.Process.Pid); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the client and its helper did not stop")
		}
	}
	// The freeze itself: longer than the answer timeout.
	time.Sleep(2 * timeout)
	for _, pid := range []int{cmd.Process.Pid, helper} {
		if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
	}
	// Nothing is to happen: the client runs for more than the timeout,
	// pinging the helper, which answers.
	time.Sleep(2 * timeout)
	if strings.Contains(logs.String(), "answered nothing") {
		t.Errorf("the helper was killed after the thaw:\n%s", logs.String())
	}
	if err := syscall.Kill(helper, 0); err != nil {
		t.Errorf("the helper is gone after the thaw: %v", err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("the client: %v\n%s", err, logs.String())
	}
}

// unixReceiveQueue returns the bytes waiting in the receive queue of the
// Unix socket with inode ino, from the kernel's sock_diag (what `ss -x`
// shows as Recv-Q).
func unixReceiveQueue(ino uint32) (int, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	defer unix.Close(fd)
	// struct nlmsghdr, then struct unix_diag_req: family, protocol, pad,
	// states, ino, show, cookie[2].
	const udiagShowRqlen, unixDiagRqlen, sockDiagByFamily = 0x10, 4, 20
	req := make([]byte, 16+24)
	ne := binary.NativeEndian
	ne.PutUint32(req[0:], uint32(len(req)))
	ne.PutUint16(req[4:], sockDiagByFamily)
	ne.PutUint16(req[6:], unix.NLM_F_REQUEST)
	req[16] = unix.AF_UNIX
	ne.PutUint32(req[20:], 0xffffffff)
	ne.PutUint32(req[24:], ino)
	ne.PutUint32(req[28:], udiagShowRqlen)
	ne.PutUint32(req[32:], 0xffffffff)
	ne.PutUint32(req[36:], 0xffffffff)
	if err := unix.Sendto(fd, req, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, fmt.Errorf("sock_diag: %w", err)
	}
	if n < 16+16 || ne.Uint16(buf[4:]) == unix.NLMSG_ERROR {
		return 0, fmt.Errorf("sock_diag: no answer for socket %d", ino)
	}
	// struct unix_diag_msg (16 bytes), then attributes.
	for a := buf[32:min(n, int(ne.Uint32(buf[0:])))]; len(a) >= 4; {
		l := int(ne.Uint16(a[0:]))
		if l < 4 || l > len(a) {
			break
		}
		if ne.Uint16(a[2:]) == unixDiagRqlen && l >= 12 {
			return int(ne.Uint32(a[4:])), nil
		}
		a = a[min(len(a), (l+3)&^3):]
	}
	return 0, fmt.Errorf("sock_diag: no queue length for socket %d", ino)
}
