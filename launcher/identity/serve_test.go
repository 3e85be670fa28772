package identity

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/wardsecrets/ward/internal/logbuf"
)

// failingListener fails its first accepts as a process out of file
// descriptors does (EMFILE), then accepts.
type failingListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestAcceptFailuresPaced: accepts that fail (ward out of file
// descriptors) give one warning, not one an attempt, and a line when
// accepting works again; the connection waiting meanwhile is served.
func TestAcceptFailuresPaced(t *testing.T) {
	ln, err := listenLoopback("aws")
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingListener{Listener: ln}
	fl.fails.Store(6)
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := startServer("aws", fl, log, func(net.Conn, request, error) response { return response{status: 200, body: []byte("{}")} })
	defer s.close()

	conn, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the connection waiting while accepts failed was not served: %v", err)
	}
	resp.Body.Close()

	out := logs.String()
	if n := strings.Count(out, "endpoint cannot accept a connection"); n != 1 {
		t.Errorf("6 failed accepts gave %d warnings, want 1:\n%s", n, out)
	}
	if !strings.Contains(out, `"msg":"aws endpoint accepts connections again","failed":6`) {
		t.Errorf("no line saying accepting works again after 6 failures:\n%s", out)
	}
}
