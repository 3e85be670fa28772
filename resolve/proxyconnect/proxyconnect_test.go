package proxyconnect

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestRefusalNamed: a proxy's 403 or 407 to the CONNECT of an https://
// request fails the request with a RefusedError naming the proxy, its
// password hidden, the endpoint and the status; Go's own error was the
// status text alone.
func TestRefusalNamed(t *testing.T) {
	for _, code := range []int{http.StatusForbidden, http.StatusProxyAuthRequired} {
		proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
		}))
		defer proxy.Close()
		u, _ := url.Parse("http://alice:hunter2-proxy-password@" + proxy.Listener.Addr().String())
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = http.ProxyURL(u)
		tr.OnProxyConnectResponse = Check
		_, err := (&http.Client{Transport: tr}).Get("https://store.example.test/secret")
		var re *RefusedError
		if !errors.As(err, &re) {
			t.Fatalf("%d: got %v, want a RefusedError", code, err)
		}
		msg := err.Error()
		for _, want := range []string{"the proxy http://alice:xxxxx@" + proxy.Listener.Addr().String(), "refused the connection to store.example.test:443", http.StatusText(code)} {
			if !strings.Contains(msg, want) {
				t.Errorf("%d: got %q, want it to say %q", code, msg, want)
			}
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("%d: the proxy's password is in the error", code)
		}
	}
}
