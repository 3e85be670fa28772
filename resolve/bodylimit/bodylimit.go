// Package bodylimit bounds the body of every answer a store's helper
// reads, from the store and from the endpoints that give its
// credentials. The SDKs (Vault's API client too) read an answer whole into
// memory, without a bound: something at a store's endpoint that answers with a body that
// never ends (a proxy gone wrong, a server that is not the store's) grew
// the helper by gigabytes until the request timed out, or until the
// kernel killed it or a neighbour for the memory.
package bodylimit

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Max bounds a cloud store's answer: their secrets are at most 64 KiB
// (Secrets Manager, Secret Manager), a page of a listing or a token far
// less.
const Max = 16 << 20

// TooLargeError is a body past its bound.
type TooLargeError struct {
	// Host is the endpoint's host, as the request named it.
	Host string
	Max  int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("the answer from %s is larger than %d MiB, more than a store or a credentials endpoint sends for any secret or token: a proxy, or a server that is not theirs, answered", e.Host, e.Max>>20)
}

// NonRetriable tells Azure's SDK (azcore's errorinfo.NonRetriable) not
// to read the answer again: the same would come, 16 MiB at a time, until
// the request's time ran out.
func (*TooLargeError) NonRetriable() {}

// Transport returns next with the body of each answer bounded by max.
func Transport(next http.RoundTripper, max int64) http.RoundTripper {
	return &transport{next: next, max: max}
}

type transport struct {
	next http.RoundTripper
	max  int64
}

func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	Bound(resp, r, t.max)
	return resp, err
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport underneath.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Bound bounds the body of resp, the answer to r, by max. The AWS SDK
// takes a middleware for each request of its clients, those of the
// credential providers too, where a transport of ward's cannot reach.
func Bound(resp *http.Response, r *http.Request, max int64) {
	if resp != nil && resp.Body != nil {
		resp.Body = &body{ReadCloser: resp.Body, left: max, err: &TooLargeError{Host: r.URL.Host, Max: max}}
	}
}

// body fails past its bound.
type body struct {
	io.ReadCloser
	left   int64
	err    error
	failed bool
}

func (b *body) Read(p []byte) (int, error) {
	if b.failed {
		// Said once, to the reader; the SDK's drain of the rest before
		// it closes the body ends here, or it warns of the same.
		return 0, io.EOF
	}
	if b.left <= 0 {
		// Exactly at the bound is no fault: only a byte past it.
		var one [1]byte
		if n, err := b.ReadCloser.Read(one[:]); n == 0 && err != nil {
			return 0, err
		}
		b.failed = true
		return 0, b.err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// Writer takes up to Left bytes, passing them to W (when not nil), then
// fails every write: given to os/exec as a process's stdout, past the
// bound the copy stops, the pipe closes, and the process ends on it
// (SIGPIPE) or its timeout. The credential helpers a cloud SDK runs (a
// credential_process, an executable-sourced subject token) print one
// small JSON document; one that printed without end grew the SDK's
// buffer, and the helper, by gigabytes.
type Writer struct {
	W    io.Writer
	Left int
	// Over is whether a write went past the bound; read it once the
	// process has been waited for.
	Over bool
}

// ErrWriter is a write past a Writer's bound.
var ErrWriter = errors.New("output past its bound")

func (w *Writer) Write(p []byte) (int, error) {
	if len(p) > w.Left {
		w.Over = true
		return 0, ErrWriter
	}
	w.Left -= len(p)
	if w.W != nil {
		return w.W.Write(p)
	}
	return len(p), nil
}
