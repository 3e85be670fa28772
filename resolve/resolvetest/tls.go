package resolvetest

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// UntrustedEndpoint starts an HTTPS server whose certificate no client
// trusts (a TLS-inspecting proxy's, as a store's endpoint), and returns its
// URL and a count of the connections made to it.
func UntrustedEndpoint(t testing.TB) (url string, conns func() int) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	// The server logs each refused handshake.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, func() int { return int(n.Load()) }
}

// Endless is a server that answers every request 200, as JSON, with a
// body that never ends: a proxy gone wrong, or a process that is not the
// endpoint on that port.
type Endless struct {
	*httptest.Server
	requests atomic.Int32
	sent     atomic.Int64
}

// NewEndless starts an Endless server, over TLS (its certificate in
// Certificate) when tls is set.
func NewEndless(t testing.TB, tls bool) *Endless {
	t.Helper()
	e := &Endless{}
	chunk := make([]byte, 64<<10)
	for i := range chunk {
		chunk[i] = 'A'
	}
	e.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"value":"`)
		for {
			n, err := w.Write(chunk)
			e.sent.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	e.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tls {
		e.StartTLS()
	} else {
		e.Start()
	}
	t.Cleanup(func() {
		e.CloseClientConnections()
		e.Close()
	})
	return e
}

// Host is the server's host:port, as an error about it names it.
func (e *Endless) Host() string { return e.Listener.Addr().String() }

// Requests counts the requests the server took.
func (e *Endless) Requests() int { return int(e.requests.Load()) }

// Sent is how many bytes of body the server wrote.
func (e *Endless) Sent() int64 { return e.sent.Load() }
