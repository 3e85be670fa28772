package identity

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// maxHead bounds a request head: the SDKs send a few hundred bytes.
const maxHead = 8 << 10

// request is the part of an HTTP/1.1 request head the endpoint reads.
type request struct {
	method string
	// path is the request target without its query; query is the rest,
	// undecoded.
	path  string
	query string
	// headers holds every header field's values, by lower-case name.
	headers map[string][]string
	// body says the request announces a body, which the endpoint refuses.
	body bool
}

// errHeadTooLarge is a head longer than maxHead.
var errHeadTooLarge = errors.New("request head larger than 8 KiB")

// readHead reads up to the blank line that ends a request head, and not
// past maxHead bytes. It returns the head without the blank line.
func readHead(r io.Reader) ([]byte, error) {
	buf := make([]byte, 0, 1024)
	chunk := make([]byte, 1024)
	for {
		if i := headEnd(buf); i >= 0 {
			return buf[:i], nil
		}
		if len(buf) >= maxHead {
			return nil, errHeadTooLarge
		}
		n, err := r.Read(chunk[:min(len(chunk), maxHead+4-len(buf))])
		buf = append(buf, chunk[:n]...)
		if err != nil {
			if i := headEnd(buf); i >= 0 {
				return buf[:i], nil
			}
			if err == io.EOF && len(buf) > 0 {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
}

// headEnd finds the blank line that ends a head, CRLF or a bare LF
// (which RFC 9112 lets a server accept), and returns where the last
// header line ends; -1 before the blank line arrives.
func headEnd(b []byte) int {
	for i, c := range b {
		if c != '\n' {
			continue
		}
		rest := b[i+1:]
		if len(rest) >= 1 && rest[0] == '\n' || len(rest) >= 2 && rest[0] == '\r' && rest[1] == '\n' {
			return i
		}
	}
	return -1
}

// parseHead parses a request head: the request line, then header fields,
// as RFC 9112 writes them. Anything it cannot read unambiguously is an
// error: the endpoint's clients are SDKs, which write plain heads.
func parseHead(head []byte) (request, error) {
	lines := strings.Split(string(head), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	var req request
	parts := strings.Split(lines[0], " ")
	if len(parts) != 3 {
		return req, errors.New("malformed request line")
	}
	method, target, version := parts[0], parts[1], parts[2]
	if !isToken(method) {
		return req, errors.New("malformed method")
	}
	if version != "HTTP/1.1" && version != "HTTP/1.0" {
		return req, errors.New("unsupported HTTP version")
	}
	if !strings.HasPrefix(target, "/") || strings.ContainsFunc(target, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return req, errors.New("malformed request target")
	}
	req.method = method
	req.path, req.query, _ = strings.Cut(target, "?")
	req.headers = map[string][]string{}
	for _, l := range lines[1:] {
		if l == "" {
			return req, errors.New("empty header line")
		}
		if l[0] == ' ' || l[0] == '\t' {
			return req, errors.New("obsolete line folding")
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || !isToken(name) {
			return req, errors.New("malformed header field")
		}
		value = strings.Trim(value, " \t")
		if strings.ContainsFunc(value, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			return req, errors.New("control character in a header field")
		}
		lower := strings.ToLower(name)
		req.headers[lower] = append(req.headers[lower], value)
		switch lower {
		case "transfer-encoding":
			req.body = true
		case "content-length":
			n, err := strconv.ParseUint(value, 10, 63)
			if err != nil {
				return req, errors.New("malformed Content-Length")
			}
			req.body = req.body || n > 0
		}
	}
	return req, nil
}

// header returns the one value of the header field name (lower case),
// and false when it is absent or given more than once.
func (r request) header(name string) (string, bool) {
	v := r.headers[name]
	if len(v) != 1 {
		return "", false
	}
	return v[0], true
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// response is one answer of the endpoint.
type response struct {
	status int
	body   []byte
	// allow is set for 405.
	allow string
	// contentType is the body's type, application/json when empty.
	contentType string
	// headers are more header lines ("Name: value").
	headers []string
}

var statusText = map[int]string{
	200: "OK",
	400: "Bad Request",
	401: "Unauthorized",
	403: "Forbidden",
	404: "Not Found",
	405: "Method Not Allowed",
	431: "Request Header Fields Too Large",
	503: "Service Unavailable",
}

// write sends the answer: a status line, its length, no caching, and the
// end of the connection.
func (r response) write(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", r.status, statusText[r.status])
	ct := r.contentType
	if ct == "" {
		ct = "application/json"
	}
	b.WriteString("Content-Type: " + ct + "\r\n")
	fmt.Fprintf(&b, "Content-Length: %d\r\n", len(r.body))
	b.WriteString("Cache-Control: no-store\r\n")
	if r.allow != "" {
		b.WriteString("Allow: " + r.allow + "\r\n")
	}
	for _, h := range r.headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("Connection: close\r\n\r\n")
	b.Write(r.body)
	_, err := w.Write(b.Bytes())
	return err
}
