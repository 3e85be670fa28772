package store_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/option"
	secretmanager "google.golang.org/api/secretmanager/v1"

	"github.com/wardsecrets/ward/internal/logbuf"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/gcp/gcptest"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

// TestAuthKeyFile: a service account key file in
// GOOGLE_APPLICATION_CREDENTIALS; the library signs a JWT with the key and
// exchanges it at the key's token_uri, once for many reads.
func TestAuthKeyFile(t *testing.T) {
	srv := emulator(t)
	v := resolvetest.Canary("key")
	srv.AddVersion(secretName("k"), []byte(v))
	s := newStore(t, srv, nil)
	for range 3 {
		if sec, err := s.Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/k")); err != nil || string(sec.Value) != v {
			t.Fatalf("fetch: %v", err)
		}
	}
	if tok, md, sts := srv.Calls(gcptest.MethodToken), srv.Calls(gcptest.MethodMetadataToken), srv.Calls(gcptest.MethodSTS); tok != 1 || md != 0 || sts != 0 {
		t.Errorf("got %d token, %d metadata and %d STS requests, want 1, 0 and 0", tok, md, sts)
	}
}

// TestAuthMetadataServer: no credentials file; the metadata server
// (GCE_METADATA_HOST) gives the token, as on GCE, GKE and Cloud Run.
func TestAuthMetadataServer(t *testing.T) {
	srv := emulator(t)
	unsetenv(t, "GOOGLE_APPLICATION_CREDENTIALS")
	v := resolvetest.Canary("mds")
	srv.AddVersion(secretName("m"), []byte(v))
	s := newStore(t, srv, nil)
	for range 2 {
		if sec, err := s.Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/m")); err != nil || string(sec.Value) != v {
			t.Fatalf("fetch: %v", err)
		}
	}
	if tok, md := srv.Calls(gcptest.MethodToken), srv.Calls(gcptest.MethodMetadataToken); tok != 0 || md != 1 {
		t.Errorf("got %d token and %d metadata token requests, want 0 and 1", tok, md)
	}

	// A denial names the metadata server as the source of the identity.
	srv.Deny(secretName("m"))
	_, err := s.Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/m"))
	checkError(t, "denied", err, []string{v}, "denied it to ward's Google identity", "roles/secretmanager.secretAccessor")
}

// TestAuthMetadataAnswerBounded: something at the metadata server's
// address (GCE_METADATA_HOST here) answers 200 with a body that never
// ends. The fetch fails at 16 MiB, naming the host, at one request, and
// without the hint to attach a service account; the metadata library
// read on into memory for its 5 s, gigabytes.
func TestAuthMetadataAnswerBounded(t *testing.T) {
	srv := emulator(t)
	unsetenv(t, "GOOGLE_APPLICATION_CREDENTIALS")
	endless := resolvetest.NewEndless(t, false)
	t.Setenv("GCE_METADATA_HOST", endless.Host())
	_, err := newStore(t, srv, nil).Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/m"))
	checkError(t, "endless metadata answer", err, nil, "get a Google access token with the metadata server at GCE_METADATA_HOST="+endless.Host()+": ", "the answer from "+endless.Host()+" is larger than 16 MiB")
	if err != nil && strings.Contains(err.Error(), "check that a service account is attached") {
		t.Errorf("the error sends the user to the service account: %v", err)
	}
	if n := endless.Requests(); n != 1 {
		t.Errorf("the metadata server took %d requests, want 1", n)
	}
	if sent := endless.Sent(); sent > 64<<20 {
		t.Errorf("the metadata server sent %d MiB, want about 16", sent>>20)
	}
}

// TestAuthExternalAccount: workload identity federation, a subject token
// from a file exchanged at the Security Token Service.
func TestAuthExternalAccount(t *testing.T) {
	srv := emulator(t)
	path, err := srv.WriteExternalAccountFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", path)
	v := resolvetest.Canary("wif")
	srv.AddVersion(secretName("w"), []byte(v))
	s := newStore(t, srv, nil)
	if sec, err := s.Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/w")); err != nil || string(sec.Value) != v {
		t.Fatalf("fetch: %v", err)
	}
	if tok, sts := srv.Calls(gcptest.MethodToken), srv.Calls(gcptest.MethodSTS); tok != 0 || sts != 1 {
		t.Errorf("got %d token and %d STS requests, want 0 and 1", tok, sts)
	}

	// A subject token the provider does not accept.
	cfg := readJSON(t, path)
	subject := cfg["credential_source"].(map[string]any)["file"].(string)
	if err := os.WriteFile(subject, []byte("eyJ.stale."), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = newStore(t, srv, nil).Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/w"))
	checkError(t, "stale subject token", err, []string{v}, "get a Google access token with the credentials file GOOGLE_APPLICATION_CREDENTIALS="+path, "invalid_grant", "check the subject token")
}

func TestAuthFailures(t *testing.T) {
	srv := emulator(t)
	v := resolvetest.Canary("auth")
	srv.AddVersion(secretName("a"), []byte(v))
	ref := mustRef(t, "gcpsm://"+project+"/a")
	good := os.Getenv("GOOGLE_APPLICATION_CREDENTIALS")
	key := readJSON(t, good)
	privateKey := key["private_key"].(string)
	// A line from the middle of the PEM: key material.
	keyLine := strings.Split(privateKey, "\n")[5]

	dir := t.TempDir()
	write := func(name string, doc map[string]any) string {
		b, _ := json.Marshal(doc)
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	with := func(k, val string) map[string]any {
		d := map[string]any{}
		for kk, vv := range key {
			d[kk] = vv
		}
		d[k] = val
		return d
	}
	closed := closedAddr(t)
	// An executable-sourced subject token (pluggable auth: an Okta or SAML
	// helper) that prints a log line before its JSON, which holds the
	// subject token.
	subjectToken := resolvetest.Canary("subject-token")
	executable := filepath.Join(dir, "subject-token.sh")
	if err := os.WriteFile(executable, []byte("#!/bin/sh\necho 'using the cached token'\necho '{\"version\":1,\"success\":true,\"token_type\":\"urn:ietf:params:oauth:token-type:id_token\",\"id_token\":\""+subjectToken+"\"}'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	executableFile := write("executable.json", map[string]any{
		"type":               "external_account",
		"audience":           gcptest.WorkloadPoolAudience,
		"subject_token_type": "urn:ietf:params:oauth:token-type:id_token",
		"token_url":          srv.STSURL(),
		"credential_source":  map[string]any{"executable": map[string]any{"command": executable, "timeout_millis": 5000}},
	})
	// Token endpoints that fail on their side: a 500 with a word, a 503
	// with a proxy's page of 100 KB (the library quoted all of it).
	failing := func(code int, body string) string {
		h := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(code)
			io.WriteString(w, body)
		}))
		t.Cleanup(h.Close)
		return strings.TrimPrefix(h.URL, "http://")
	}
	down500 := failing(http.StatusInternalServerError, "internal error\n")
	notFound := failing(http.StatusNotFound, "not found\n")
	page503 := failing(http.StatusServiceUnavailable, "<html>"+strings.Repeat("unavailable ", 100000/12)+"</html>")
	federated, err := srv.WriteExternalAccountFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	withSTS := func(name, host string) string {
		doc := readJSON(t, federated)
		doc["token_url"] = "http://" + host + "/v1/token"
		return write(name, doc)
	}
	tokenHost := strings.TrimSuffix(strings.TrimPrefix(srv.TokenURL(), "http://"), "/token")
	tests := []struct {
		name  string
		env   map[string]string
		wants []string
	}{
		{"unknown service account", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": write("unknown.json", with("client_email", "gone@"+project+".iam.gserviceaccount.com"))},
			[]string{"get a Google access token with the credentials file GOOGLE_APPLICATION_CREDENTIALS=", "the token endpoint at " + tokenHost + " refused (HTTP 400): invalid_grant", "check that the service account and its key exist"}},
		{"token endpoint 500", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": write("500.json", with("token_uri", "http://"+down500+"/token"))},
			[]string{"the token endpoint at " + down500 + " refused (HTTP 500): the endpoint failed on its side"}},
		{"STS 500", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": withSTS("sts500.json", down500)},
			[]string{"the token endpoint at " + down500 + " refused (HTTP 500): internal error: the endpoint failed on its side"}},
		{"STS 503 with a page", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": withSTS("sts503.json", page503)},
			[]string{"the token endpoint at " + page503 + " refused (HTTP 503): <html>unavailable unavailable", "...: the endpoint failed on its side"}},
		{"STS down", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": withSTS("stsdown.json", closed)},
			[]string{"get a Google access token with the credentials file", closed, "connection refused"}},
		{"token endpoint 404", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": write("404.json", with("token_uri", "http://"+notFound+"/token"))},
			[]string{"the token endpoint at " + notFound + " refused (HTTP 404)", "check the token URL the credentials name"}},
		{"token endpoint down", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": write("down.json", with("token_uri", "http://"+closed+"/token"))},
			[]string{"get a Google access token with the credentials file", "connection refused", "the token endpoint could not be reached"}},
		{"missing file", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": filepath.Join(dir, "nope.json")},
			[]string{"load the Google credentials in the credentials file GOOGLE_APPLICATION_CREDENTIALS=" + filepath.Join(dir, "nope.json")}},
		{"not a credentials file", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": write("other.json", map[string]any{"type": "something_else"})},
			[]string{"load the Google credentials in the credentials file", "something_else"}},
		{"no metadata server", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": "", "GCE_METADATA_HOST": closed},
			[]string{"get a Google access token with the metadata server at GCE_METADATA_HOST=" + closed, "check that a service account is attached"}},
		{"executable output not JSON", map[string]string{"GOOGLE_APPLICATION_CREDENTIALS": executableFile, "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES": "1"},
			[]string{"get a Google access token with the credentials file", "the executable's output is not the JSON", "check the subject token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, val := range tt.env {
				if val == "" {
					unsetenv(t, k)
				} else {
					t.Setenv(k, val)
				}
			}
			opts := srv.Options()
			opts.Timeout = 5 * time.Second
			logs := &logbuf.Buffer{}
			_, err := newStoreWith(t, opts, debugLogger(logs)).Fetch(t.Context(), ref)
			checkError(t, tt.name, err, []string{v, keyLine, "PRIVATE KEY", tokenPrefix, subjectToken}, tt.wants...)
			if err != nil && len(err.Error()) > 1000 {
				t.Errorf("the error is %d bytes long, want a line", len(err.Error()))
			}
			if leaks(logs.String(), []string{v, keyLine, tokenPrefix, subjectToken}) {
				t.Errorf("the log holds a value, a token or key material")
			}
		})
	}
}

// TestSetUpRetried: a failed set-up is not remembered; the next read
// tries again.
func TestSetUpRetried(t *testing.T) {
	srv := emulator(t)
	v := resolvetest.Canary("again")
	srv.AddVersion(secretName("a"), []byte(v))
	good := os.Getenv("GOOGLE_APPLICATION_CREDENTIALS")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", filepath.Join(t.TempDir(), "not-yet.json"))
	s := newStore(t, srv, nil)
	ref := mustRef(t, "gcpsm://"+project+"/a")
	_, err := s.Fetch(t.Context(), ref)
	checkError(t, "first fetch", err, []string{v}, "load the Google credentials")
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", good)
	if sec, err := s.Fetch(t.Context(), ref); err != nil || string(sec.Value) != v {
		t.Errorf("second fetch, credentials now in place: %v", err)
	}
}

// TestLibraryDebugLogSilenced: GOOGLE_SDK_GO_LOGGING_LEVEL=debug makes
// Google's libraries log response bodies to stderr; the store must keep
// the payload (and the tokens) out of it. The control shows that a client
// made without the store's precautions does log them, so the check can
// fail.
func TestLibraryDebugLogSilenced(t *testing.T) {
	srv := emulator(t)
	t.Setenv("GOOGLE_SDK_GO_LOGGING_LEVEL", "debug")
	v := resolvetest.Canary("debuglog")
	srv.AddVersion(secretName("d"), []byte(v))

	control := captureStderr(t, func() {
		svc, err := secretmanager.NewService(context.Background(), option.WithEndpoint(srv.URL()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Projects.Secrets.Versions.Access(secretName("d") + "/versions/latest").Do(); err != nil {
			t.Fatal(err)
		}
	})
	if !leaks(control, []string{v}) {
		t.Fatalf("control: a plain client with GOOGLE_SDK_GO_LOGGING_LEVEL=debug logged no payload (%d bytes of stderr); the check below would prove nothing", len(control))
	}

	got := captureStderr(t, func() {
		s := newStore(t, srv, nil)
		if _, err := s.Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/d")); err != nil {
			t.Fatal(err)
		}
	})
	if leaks(got, []string{v}) || strings.Contains(got, tokenPrefix) {
		t.Errorf("the store let the library log a payload or a token to stderr")
	}
}

// captureStderr runs fn with os.Stderr going to a pipe and returns what
// was written.
func captureStderr(t *testing.T, fn func()) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(r)
		out <- string(b)
	}()
	saved := os.Stderr
	os.Stderr = w
	defer func() { os.Stderr = saved }()
	fn()
	os.Stderr = saved
	w.Close()
	return <-out
}

// closedAddr is a loopback address where nothing listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func readJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestAPINotEnabled: a call billed to a project where the Secret Manager
// API is not enabled (gcloud's own project, for a user's credentials
// without a quota project) says to enable it or set a quota project, not
// to grant a role.
func TestAPINotEnabled(t *testing.T) {
	srv := emulator(t)
	srv.AddVersion(secretName("e"), []byte(resolvetest.Canary("enabled")))
	srv.DisableAPI(gcptest.ServiceSecretManager, "gcloud-project")
	n := gcptest.ProjectNumber("gcloud-project")
	_, err := newStore(t, srv, nil).Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/e"))
	checkError(t, "API not enabled", err, nil, "the Secret Manager API is not enabled in project "+n,
		"gcloud services enable secretmanager.googleapis.com --project="+n, "gcloud auth application-default set-quota-project", "stores.gcp.quota_project")
	if err != nil && strings.Contains(err.Error(), "grant it") {
		t.Errorf("the error says to grant a role: %v", err)
	}
}

// TestUniverseDomain: credentials of another universe than Google's
// public cloud (a sovereign cloud: universe_domain in the credentials
// file, or the metadata server's) are sent to that universe's Secret
// Manager, not to secretmanager.googleapis.com, which does not know them.
// Neither host resolves here: the error names the one tried.
func TestUniverseDomain(t *testing.T) {
	srv := emulator(t)
	key := readJSON(t, os.Getenv("GOOGLE_APPLICATION_CREDENTIALS"))
	key["universe_domain"] = "example-universe.test"
	b, _ := json.Marshal(key)
	file := filepath.Join(t.TempDir(), "sovereign.json")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", file)
	opts := srv.Options()
	opts.Endpoint = ""
	opts.Timeout = time.Second
	_, err := newStoreWith(t, opts, nil).Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/u"))
	checkError(t, "another universe", err, nil, "secretmanager.example-universe.test")
	if err != nil && strings.Contains(err.Error(), "googleapis.com") {
		t.Errorf("the call went to googleapis.com: %v", err)
	}
}

// TestTokenEndpointThatHangs: a token endpoint that takes the first
// request and never answers it (a firewall that drops the answers, a
// proxy that waits on its upstream) fails that read within the store's
// timeout, and a later read asks again: one that answers gets its token.
func TestTokenEndpointThatHangs(t *testing.T) {
	for _, flow := range []string{"key file", "external account", "metadata server"} {
		t.Run(flow, func(t *testing.T) {
			srv := emulator(t)
			v := resolvetest.Canary("hang")
			srv.AddVersion(secretName("h"), []byte(v))
			switch flow {
			case "external account":
				f, err := srv.WriteExternalAccountFile(t.TempDir())
				if err != nil {
					t.Fatal(err)
				}
				t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", f)
			case "metadata server":
				unsetenv(t, "GOOGLE_APPLICATION_CREDENTIALS")
			}
			srv.HangTokens(1)
			opts := srv.Options()
			opts.Timeout = 2 * time.Second
			s := newStoreWith(t, opts, nil)
			ref := mustRef(t, "gcpsm://"+project+"/h")
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			_, err := s.Fetch(ctx, ref)
			if err == nil {
				t.Fatal("the first read succeeded with a token endpoint that never answered")
			} else if ctx.Err() != nil {
				t.Fatalf("the first read outlived 10 timeouts: %v", err)
			}
			// The error says which endpoint did not answer.
			if want := map[string]string{"key file": "the token endpoint did not answer within stores.gcp.timeout", "external account": "the token endpoint did not answer within stores.gcp.timeout", "metadata server": "the metadata server did not answer within stores.gcp.timeout"}[flow]; !strings.Contains(err.Error(), want) {
				t.Errorf("the first read's error does not say %q: %v", want, err)
			}
			// A read that came while the first attempt was under way
			// shares its failure; the one after asks again.
			var sec resolve.Secret
			for range 2 {
				ctx, cancel = context.WithTimeout(t.Context(), 20*time.Second)
				defer cancel()
				if sec, err = s.Fetch(ctx, ref); err == nil {
					break
				}
			}
			if err != nil {
				t.Fatalf("the later reads, with an endpoint that answers: %v", err)
			}
			if string(sec.Value) != v {
				t.Fatal("the later read got another value")
			}
		})
	}
}
