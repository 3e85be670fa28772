package identity

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestIdentityParseHead(t *testing.T) {
	tests := []struct {
		name    string
		head    string
		method  string
		path    string
		auth    []string
		body    bool
		wantErr string
	}{
		{name: "go sdk", head: "GET /ward/aws/credentials HTTP/1.1\r\nHost: 127.0.0.1:1234\r\nUser-Agent: aws-sdk-go-v2\r\nAccept: application/json\r\nAuthorization: tok\r\nAccept-Encoding: gzip",
			method: "GET", path: "/ward/aws/credentials", auth: []string{"tok"}},
		{name: "lower-case name, spaces", head: "GET /p?x=1 HTTP/1.1\r\nauthorization:   tok \t", method: "GET", path: "/p", auth: []string{"tok"}},
		{name: "bare LF", head: "GET / HTTP/1.0\nAuthorization: a", method: "GET", path: "/", auth: []string{"a"}},
		{name: "no auth", head: "GET / HTTP/1.1\r\nHost: x", method: "GET", path: "/"},
		{name: "two auth", head: "GET / HTTP/1.1\r\nAuthorization: a\r\nAuthorization: b", method: "GET", path: "/", auth: []string{"a", "b"}},
		{name: "empty auth", head: "GET / HTTP/1.1\r\nAuthorization:", method: "GET", path: "/", auth: []string{""}},
		{name: "post with body", head: "POST / HTTP/1.1\r\nContent-Length: 5", method: "POST", path: "/", body: true},
		{name: "chunked", head: "GET / HTTP/1.1\r\nTransfer-Encoding: chunked", method: "GET", path: "/", body: true},
		{name: "length zero", head: "GET / HTTP/1.1\r\nContent-Length: 0", method: "GET", path: "/"},
		{name: "bad length", head: "GET / HTTP/1.1\r\nContent-Length: -1", wantErr: "Content-Length"},
		{name: "request line", head: "GET /", wantErr: "request line"},
		{name: "double space", head: "GET  / HTTP/1.1", wantErr: "request line"},
		{name: "version", head: "GET / HTTP/2.0", wantErr: "version"},
		{name: "absolute form", head: "GET http://127.0.0.1/x HTTP/1.1", wantErr: "target"},
		{name: "control in target", head: "GET /\x01 HTTP/1.1", wantErr: "target"},
		{name: "method", head: "G(T / HTTP/1.1", wantErr: "method"},
		{name: "folding", head: "GET / HTTP/1.1\r\nAuthorization: a\r\n b", wantErr: "folding"},
		{name: "space before colon", head: "GET / HTTP/1.1\r\nAuthorization : a", wantErr: "header field"},
		{name: "no colon", head: "GET / HTTP/1.1\r\nAuthorization", wantErr: "header field"},
		{name: "control in value", head: "GET / HTTP/1.1\r\nAuthorization: a\x00b", wantErr: "control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := parseHead([]byte(tt.head))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got err=%v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if req.method != tt.method || req.path != tt.path || !slices.Equal(req.headers["authorization"], tt.auth) || req.body != tt.body {
				t.Errorf("got method=%q path=%q %d auth values body=%v, want %q %q %d %v", req.method, req.path, len(req.headers["authorization"]), req.body, tt.method, tt.path, len(tt.auth), tt.body)
			}
		})
	}
}

func TestIdentityReadHead(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{"crlf", "GET / HTTP/1.1\r\nA: b\r\n\r\nbody", "GET / HTTP/1.1\r\nA: b\r", nil},
		{"lf", "GET / HTTP/1.1\nA: b\n\n", "GET / HTTP/1.1\nA: b", nil},
		{"lf then crlf", "GET / HTTP/1.1\n\r\n", "GET / HTTP/1.1", nil},
		{"unfinished", "GET / HTTP/1.1\r\nA: b\r\n", "", io.ErrUnexpectedEOF},
		{"nothing", "", "", io.EOF},
		{"too large", "GET / HTTP/1.1\r\nA: " + strings.Repeat("x", maxHead) + "\r\n\r\n", "", errHeadTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte at a time: a head split across reads.
			got, err := readHead(iotest.OneByteReader(strings.NewReader(tt.in)))
			if !errors.Is(err, tt.wantErr) || string(got) != tt.want {
				t.Errorf("got %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// FuzzIdentityRequestHead feeds the parser arbitrary heads: it never panics, reads
// no more than maxHead, and what it accepts is a plain request line with
// header values free of control characters.
func FuzzIdentityRequestHead(f *testing.F) {
	for _, s := range []string{
		"GET /ward/aws/credentials HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: tok\r\n\r\n",
		"GET / HTTP/1.0\n\n",
		"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
		"GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n",
		"\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		head, err := readHead(bytes.NewReader(in))
		if err != nil {
			return
		}
		if len(head) > maxHead+4 {
			t.Fatalf("read a head of %d bytes, past the bound", len(head))
		}
		req, err := parseHead(head)
		if err != nil {
			return
		}
		if !isToken(req.method) || !strings.HasPrefix(req.path, "/") || strings.ContainsAny(req.path, " ?\r\n") {
			t.Fatalf("accepted method %q path %q", req.method, req.path)
		}
		for _, a := range req.headers["authorization"] {
			if strings.ContainsAny(a, "\r\n\x00") || a != strings.Trim(a, " \t") {
				t.Fatalf("accepted an Authorization value with a control character or untrimmed")
			}
		}
	})
}
