package bodylimit

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestBound: a body of exactly the bound is read whole; one byte more
// fails with TooLargeError naming the host, through a transport and
// through Bound alike.
func TestBound(t *testing.T) {
	const max = 1 << 10
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := max
		if r.URL.Path == "/over" {
			n++
		}
		w.Write(bytes.Repeat([]byte("A"), n))
	}))
	defer srv.Close()
	host := srv.Listener.Addr().String()
	clients := map[string]doer{
		"transport": (&http.Client{Transport: Transport(http.DefaultTransport, max)}).Do,
		"bound": func(r *http.Request) (*http.Response, error) {
			resp, err := http.DefaultClient.Do(r)
			Bound(resp, r, max)
			return resp, err
		},
	}
	for name, c := range clients {
		t.Run(name, func(t *testing.T) {
			for path, wantErr := range map[string]bool{"/at": false, "/over": true} {
				req, _ := http.NewRequest("GET", srv.URL+path, nil)
				resp, err := c(req)
				if err != nil {
					t.Fatal(err)
				}
				b, err := io.ReadAll(resp.Body)
				if rest, err := io.Copy(io.Discard, resp.Body); rest != 0 || err != nil {
					t.Errorf("%s: a drain after the end read %d bytes more (error %v), want none and no error", path, rest, err)
				}
				resp.Body.Close()
				var tl *TooLargeError
				if got := errors.As(err, &tl); got != wantErr || (got && tl.Host != host) {
					t.Errorf("%s: got %d bytes and error %v, want a TooLargeError naming %s: %v", path, len(b), err, host, wantErr)
				}
				if !wantErr && len(b) != max {
					t.Errorf("%s: got %d bytes, want %d", path, len(b), max)
				}
			}
		})
	}
}

// doer sends a request as http.Client.Do does.
type doer func(*http.Request) (*http.Response, error)
