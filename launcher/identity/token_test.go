package identity

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// fakeTokenSource issues access tokens (canaries) that live life, and
// can be made to fail.
type fakeTokenSource struct {
	life     time.Duration
	identity string
	resource string

	mu     sync.Mutex
	fail   error
	issued []Credentials
}

func (f *fakeTokenSource) String() string { return "fake://token/" + f.resource }

func (f *fakeTokenSource) Fetch(ctx context.Context) (Credentials, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return Credentials{}, f.fail
	}
	now := time.Now().Round(0)
	c := Credentials{
		Token:    resolvetest.Canary("access-token"),
		Scopes:   []string{"https://www.googleapis.com/auth/cloud-platform"},
		Resource: f.resource,
		ClientID: "0b9d3a6e-1f4c-4c4e-9b3e-5a1e2d7c8f01",
		Issued:   now,
		Expires:  now.Add(f.life),
		Identity: f.identity,
	}
	f.issued = append(f.issued, c)
	return c, nil
}

func (f *fakeTokenSource) Release(ctx context.Context, c Credentials) error { return nil }

func (f *fakeTokenSource) setFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeTokenSource) tokens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.issued {
		out = append(out, c.Token)
	}
	return out
}

// filledCache is a cache of src, filled.
func filledCache(t *testing.T, cloud string, src Source, before time.Duration, log *slog.Logger) *Cache {
	t.Helper()
	c := NewCacheFor(cloud, src, before, log)
	if err := c.Fill(t.Context()); err != nil {
		t.Fatal(err)
	}
	return c
}

// auditLogs asserts that none of secrets is in the logs.
func auditLogs(t *testing.T, logs string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the endpoint's log holds a token or a header (%d bytes)", len(s))
		}
	}
}

// rawAnswer is one HTTP answer read off the wire.
type rawAnswer struct {
	status int
	header http.Header
	body   string
}

// rawRequest sends head to addr as it is and reads the answer.
func rawRequest(t *testing.T, addr, head string) rawAnswer {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.ContentLength != int64(len(b)) || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("got Content-Length=%d (body %d), Cache-Control=%q; want the body's length and no-store", resp.ContentLength, len(b), resp.Header.Get("Cache-Control"))
	}
	return rawAnswer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// head is a GET of target with the header lines.
func head(target string, lines ...string) string {
	h := "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	for _, l := range lines {
		h += l + "\r\n"
	}
	return h + "\r\n"
}

// TestIdentityTokenFromDocument reads the documents of gcpsa:// and
// aztoken://, and refuses what is not a live token, naming fields only.
func TestIdentityTokenFromDocument(t *testing.T) {
	now := time.Now().Round(0)
	exp := now.Add(time.Hour).UTC().Format(time.RFC3339)
	tok := resolvetest.Canary("token")
	tests := []struct {
		name    string
		doc     string
		check   func(Credentials) bool
		wantErr string
	}{
		{"gcpsa", `{"access_token":"` + tok + `","expiration":"` + exp + `","service_account":"a@p.iam.gserviceaccount.com","scopes":"s1,s2"}`,
			func(c Credentials) bool {
				return c.Token == tok && c.Identity == "a@p.iam.gserviceaccount.com" && len(c.Scopes) == 2 && c.Expires.Format(time.RFC3339) == exp
			}, ""},
		{"aztoken", `{"access_token":"` + tok + `","expiration":"` + exp + `","resource":"https://vault.azure.net","principal":"application x","client_id":"x"}`,
			func(c Credentials) bool {
				return c.Resource == "https://vault.azure.net" && c.Identity == "application x" && c.ClientID == "x"
			}, ""},
		{"no token", `{"expiration":"` + exp + `"}`, nil, "no access_token"},
		{"not a bearer token", `{"access_token":"a b","expiration":"` + exp + `"}`, nil, "not a bearer token"},
		{"no expiration", `{"access_token":"` + tok + `"}`, nil, "expiration is missing"},
		{"expired", `{"access_token":"` + tok + `","expiration":"2001-01-01T00:00:00Z"}`, nil, "had expired"},
		{"not json", `x`, nil, "not a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := TokenFromDocument([]byte(tt.doc), now)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), tok) {
					t.Fatalf("got %v, want an error saying %q without the token", err, tt.wantErr)
				}
				return
			}
			if err != nil || !tt.check(c) {
				t.Fatalf("got %v, %v", c, err)
			}
			for _, s := range []string{c.String(), fmt.Sprintf("%v %+v %#v", c, c, c)} {
				if strings.Contains(s, tok) {
					t.Errorf("a printed form holds the token")
				}
			}
		})
	}
}
