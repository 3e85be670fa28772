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
