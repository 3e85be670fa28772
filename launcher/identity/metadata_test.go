package identity

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	googlecreds "cloud.google.com/go/auth/credentials"
	"golang.org/x/sys/unix"

	"github.com/wardsecrets/ward/internal/logbuf"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

const testSA = "app@my-project.iam.gserviceaccount.com"

type gcpTest struct {
	*GCPEndpoint
	src  *fakeTokenSource
	logs *logbuf.Buffer
}

func startGCP(t *testing.T, life, before time.Duration) *gcpTest {
	t.Helper()
	src := &fakeTokenSource{life: life, identity: testSA}
	logs := &logbuf.Buffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := t.TempDir()
	e, err := ServeGCP(filledCache(t, "gcp", src, before, log), GCPConfig{
		Project: "my-project",
		Log:     log,
		ConfigDir: func() (string, error) {
			p := filepath.Join(dir, manifest.GCPConfigDir)
			return p, os.Mkdir(p, 0o700)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	g := &gcpTest{GCPEndpoint: e, src: src, logs: logs}
	t.Cleanup(func() {
		e.Close()
		auditLogs(t, logs.String(), src.tokens()...)
	})
	return g
}

const flavor = "Metadata-Flavor: Google"

// TestIdentityMetadataAnswers covers each answer the metadata endpoint
// gives: who may ask first, then the paths Google's libraries read.
func TestIdentityMetadataAnswers(t *testing.T) {
	e := startGCP(t, time.Hour, 10*time.Minute)
	const tokenPath = gcpRoot + "instance/service-accounts/default/token"
	tests := []struct {
		name   string
		head   string
		status int
		body   string // a part of the body
		ctype  string
	}{
		{"no flavor", head(tokenPath), 403, "Missing Metadata-Flavor", "application/text"},
		{"lower-case flavor value", head(tokenPath, "Metadata-Flavor: google"), 403, "Missing Metadata-Flavor", ""},
		{"two flavors", head(tokenPath, flavor, flavor), 403, "Missing Metadata-Flavor", ""},
		{"forwarded", head(tokenPath, flavor, "X-Forwarded-For: 10.1.2.3"), 403, "forwarded", ""},
		{"root without flavor", head("/"), 403, "Missing Metadata-Flavor", ""},
		// A web page whose host name a DNS rebinding pointed at 127.0.0.1
		// is same-origin with the endpoint: the browser sends its custom
		// header without a preflight, and the page's own Host.
		{"rebound host", "GET " + tokenPath + " HTTP/1.1\r\nHost: rebind.example:8080\r\n" + flavor + "\r\n\r\n", 403, "Host", ""},
		{"two hosts", "GET " + tokenPath + " HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: rebind.example\r\n" + flavor + "\r\n\r\n", 403, "Host", ""},
		{"host with port", "GET " + gcpRoot + "instance/service-accounts/default/email HTTP/1.1\r\nHost: 127.0.0.1:1234\r\n" + flavor + "\r\n\r\n", 200, testSA, ""},
		{"post", "POST " + tokenPath + " HTTP/1.1\r\n" + flavor + "\r\nContent-Length: 0\r\n\r\n", 405, "GET only", ""},
		{"body", "GET " + tokenPath + " HTTP/1.1\r\n" + flavor + "\r\nContent-Length: 2\r\n\r\n{}", 400, "body", ""},
		{"malformed", "GET / HTTP/9\r\n\r\n", 400, "Bad request", ""},
		{"root", head("/", flavor), 200, "computeMetadata/", "application/text"},
		{"v1", head(gcpRoot, flavor), 200, "instance/\nproject/", ""},
		{"instance", head(gcpRoot+"instance/", flavor), 200, "service-accounts/", ""},
		{"accounts", head(gcpRoot+"instance/service-accounts/", flavor), 200, "default/\n" + testSA + "/", ""},
		{"account dir", head(gcpRoot+"instance/service-accounts/default/", flavor), 200, "token", ""},
		{"recursive account", head(gcpRoot+"instance/service-accounts/default/?recursive=true", flavor), 200, `"email":"` + testSA + `"`, "application/json"},
		{"recursive root", head(gcpRoot+"?recursive=true", flavor), 200, `"projectId":"my-project"`, "application/json"},
		{"email", head(gcpRoot+"instance/service-accounts/default/email", flavor), 200, testSA, ""},
		{"email by name", head(gcpRoot+"instance/service-accounts/"+testSA+"/email", flavor), 200, testSA, ""},
		{"aliases", head(gcpRoot+"instance/service-accounts/default/aliases", flavor), 200, "default", ""},
		{"scopes", head(gcpRoot+"instance/service-accounts/default/scopes", flavor), 200, "https://www.googleapis.com/auth/cloud-platform\n", ""},
		{"project", head(gcpRoot+"project/project-id", flavor), 200, "my-project", ""},
		{"universe", head(gcpRoot+"universe/universe-domain", flavor), 200, "googleapis.com", ""},
		{"other account", head(gcpRoot+"instance/service-accounts/other@x.iam.gserviceaccount.com/token", flavor), 404, "Not Found", ""},
		{"id token", head(gcpRoot+"instance/service-accounts/default/identity?audience=x", flavor), 404, "Not Found", ""},
		{"zone", head(gcpRoot+"instance/zone", flavor), 404, "Not Found", ""},
		{"token", head(tokenPath+"?scopes=https://www.googleapis.com/auth/cloud-platform", flavor), 200, `"token_type":"Bearer"`, "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := rawRequest(t, e.Host(), tt.head)
			if a.status != tt.status || !strings.Contains(a.body, tt.body) {
				t.Fatalf("got %d with %q, want %d with %q", a.status, redact(a.body, e.src.tokens()), tt.status, tt.body)
			}
			if a.header.Get("Metadata-Flavor") != "Google" {
				t.Errorf("the answer has no Metadata-Flavor: Google")
			}
			if tt.ctype != "" && a.header.Get("Content-Type") != tt.ctype {
				t.Errorf("got Content-Type %q, want %q", a.header.Get("Content-Type"), tt.ctype)
			}
			if tt.status != 200 || tt.name != "token" {
				for _, tok := range e.src.tokens() {
					if strings.Contains(a.body, tok) {
						t.Errorf("the answer holds the token")
					}
				}
			}
		})
	}
	a := rawRequest(t, e.Host(), head(tokenPath, flavor))
	var doc struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		TokenType   string `json:"token_type"`
	}
	cur, _ := e.Cache().Current()
	if err := json.Unmarshal([]byte(a.body), &doc); err != nil || doc.AccessToken != cur.Token || doc.ExpiresIn < 3590 || doc.ExpiresIn > 3600 || doc.TokenType != "Bearer" {
		t.Errorf("the token answer is not the current token in the metadata format (expires_in %d)", doc.ExpiresIn)
	}
	if n := e.Served(); n != 2 {
		t.Errorf("served the token %d times, want 2", n)
	}
	if !strings.Contains(e.logs.String(), "gcp endpoint refused a request") {
		t.Errorf("refused requests were not logged")
	}
	if env := strings.Join(e.Env(), " "); !strings.Contains(env, "GCE_METADATA_HOST="+e.Host()) || !strings.Contains(env, "GCE_METADATA_IP="+e.Host()) || !strings.Contains(env, "CLOUDSDK_CONFIG=") {
		t.Errorf("got env %q", env)
	}
}

func redact(s string, secrets []string) string {
	for _, x := range secrets {
		s = strings.ReplaceAll(s, x, "<token>")
	}
	return s
}

// TestIdentityMetadataOutage makes the source fail: the token is served
// until it expires, then 503, and a fresh one as soon as the source
// recovers; the log says so, with no token.
func TestIdentityMetadataOutage(t *testing.T) {
	e := startGCP(t, 2*time.Second, 500*time.Millisecond)
	tokenHead := head(gcpRoot+"instance/service-accounts/default/token", flavor)
	e.src.setFail(errors.New("iam credentials unavailable"))
	waitFor(t, "the token to expire", 10*time.Second, func() bool { _, ok := e.Cache().Current(); return !ok })
	if a := rawRequest(t, e.Host(), tokenHead); a.status != 503 {
		t.Errorf("expired: got %d, want 503", a.status)
	}
	// A refresh that fails after the expiry logs the 503s (the first
	// retry may still fall before it): wait for it before recovering.
	waitFor(t, "the log of a refresh failed after expiry", 10*time.Second, func() bool { return strings.Contains(e.logs.String(), "answers 503") })
	e.src.setFail(nil)
	// The recovery is logged just after the new credentials are in.
	waitFor(t, "recovery", 10*time.Second, func() bool {
		_, ok := e.Cache().Current()
		return ok && strings.Contains(e.logs.String(), "gcp identity refresh recovered")
	})
	if a := rawRequest(t, e.Host(), tokenHead); a.status != 200 {
		t.Errorf("recovered: got %d, want 200", a.status)
	}
	logs := e.logs.String()
	for _, want := range []string{"cannot refresh the gcp identity; serving the current credentials", "answers 503", "iam credentials unavailable", "gcp identity refresh recovered"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not say %q", want)
		}
	}
}

// TestIdentityMetadataWithLibrary has Google's own Go library find its
// credentials the way the child does: Application Default Credentials
// with GCE_METADATA_HOST, and no key file or gcloud login.
func TestIdentityMetadataWithLibrary(t *testing.T) {
	e := startGCP(t, time.Hour, 10*time.Minute)
	t.Setenv("HOME", t.TempDir())
	for _, name := range GCPStripped {
		t.Setenv(name, "")
		os.Unsetenv(name)
	}
	for _, kv := range e.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	creds, err := googlecreds.DetectDefault(&googlecreds.DetectOptions{Scopes: []string{"https://www.googleapis.com/auth/cloud-platform"}})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := creds.Token(t.Context())
	if err != nil {
		t.Fatalf("the library cannot read the endpoint: %v", err)
	}
	cur, _ := e.Cache().Current()
	if tok.Value != cur.Token || tok.Type != "Bearer" || time.Until(tok.Expiry) < 59*time.Minute {
		t.Errorf("the library got another token than the endpoint serves, or another expiry")
	}
	if p, err := creds.ProjectID(t.Context()); err != nil || p != "my-project" {
		t.Errorf("project: got %q, %v", p, err)
	}
}

// namespaceTools are unshare, to make the namespaces the endpoint serves
// in, and nsenter, to connect from inside them.
func namespaceTools(t *testing.T) (unshare, nsenter string) {
	t.Helper()
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		vaulttest.RequireIntegration(t, "no unshare to make namespaces")
	}
	nsenter, err = exec.LookPath("nsenter")
	if err != nil {
		vaulttest.RequireIntegration(t, "no nsenter to connect from inside a namespace")
	}
	return unshare, nsenter
}

// bashAsAnotherUser is bash, which connects with /dev/tcp, for tests that
// run it as another user: they need root to switch users.
func bashAsAnotherUser(t *testing.T) string {
	t.Helper()
	if os.Getuid() != 0 {
		vaulttest.RequireIntegration(t, "switching to another user to connect needs root, and the test runs as uid "+strconv.Itoa(os.Getuid()))
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		vaulttest.RequireIntegration(t, "no bash to connect with /dev/tcp")
	}
	return bash
}

// TestIdentityMetadataForeignUser connects as another user (nobody,
// 65534): the endpoint refuses it, while ward's own user gets the token.
// It needs root to switch users.
func TestIdentityMetadataForeignUser(t *testing.T) {
	bash := bashAsAnotherUser(t)
	e := startGCP(t, time.Hour, 10*time.Minute)
	if got := metadataStatus(t, bash, e.Host(), nil); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("ward's own user: got %q, want 200", got)
	}
	if got := metadataStatus(t, bash, e.Host(), &syscall.Credential{Uid: 65534, Gid: 65534}); !strings.HasPrefix(got, "HTTP/1.1 403") {
		t.Errorf("another user: got %q, want 403", got)
	}
	if !strings.Contains(e.logs.String(), "a connection from another user") {
		t.Errorf("the refusal was not logged")
	}
}

// metadataStatus asks the metadata endpoint at addr for the account's
// email with bash's /dev/tcp, as cred (nil: this process's user), and
// returns the status line. bash runs under wrap, when given (nsenter),
// and alone holds the socket (its read is a builtin's).
func metadataStatus(t *testing.T, bash, addr string, cred *syscall.Credential, wrap ...string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	script := `exec 3<>/dev/tcp/` + host + `/` + port + `; printf 'GET /computeMetadata/v1/instance/service-accounts/default/email HTTP/1.1\r\nMetadata-Flavor: Google\r\n\r\n' >&3; read -r status <&3; printf '%s\n' "$status"`
	argv := append(wrap, bash, "-c", script)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bash as %v: %v: %s", cred, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestIdentityMetadataDualStack: a client that connects to 127.0.0.1
// from an IPv6 socket, as Java does by default (and bash given
// ::ffff:127.0.0.1), is listed in /proc/net/tcp6, not /proc/net/tcp:
// ward's own user's Java child got 403. Another user's is still refused.
func TestIdentityMetadataDualStack(t *testing.T) {
	bash := bashAsAnotherUser(t)
	e := startGCP(t, time.Hour, 10*time.Minute)
	_, port, _ := net.SplitHostPort(e.Host())
	addr := net.JoinHostPort("::ffff:127.0.0.1", port)
	if got := metadataStatus(t, bash, addr, nil); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("ward's own user from an IPv6 socket: got %q, want 200", got)
	}
	if got := metadataStatus(t, bash, addr, &syscall.Credential{Uid: 65534, Gid: 65534}); !strings.HasPrefix(got, "HTTP/1.1 403") {
		t.Errorf("another user from an IPv6 socket: got %q, want 403", got)
	}
}

// TestIdentityMetadataUnmappedUser runs the endpoint as nobody (65534) in
// a user namespace that shares the host's network, as a rootless
// container run as nobody with --network host does. The kernel shows
// every user that namespace does not map as 65534 too, so every other
// user of the host got the token; ward's own user in the namespace (its
// child) must still get it. It needs root, to map the namespace and to
// switch users.
func TestIdentityMetadataUnmappedUser(t *testing.T) {
	if servingInNamespace(t) {
		return
	}
	bash := bashAsAnotherUser(t)
	unshare, nsenter := namespaceTools(t)
	addr, pid := serveInNamespace(t, unshare, "--user", "--map-user=65534", "--map-group=65534")
	if got := metadataStatus(t, bash, addr, &syscall.Credential{Uid: 65534, Gid: 65534}); !strings.HasPrefix(got, "HTTP/1.1 403") {
		t.Errorf("the host's nobody, which the namespace does not map: got %q, want 403", got)
	}
	if got := metadataStatus(t, bash, addr, &syscall.Credential{Uid: 1000, Gid: 1000}); !strings.HasPrefix(got, "HTTP/1.1 403") {
		t.Errorf("the host's uid 1000: got %q, want 403", got)
	}
	inside := []string{nsenter, "--user", "--preserve-credentials", "--target", strconv.Itoa(pid)}
	if got := metadataStatus(t, bash, addr, nil, inside...); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("ward's own user, in its namespace: got %q, want 200", got)
	}
}

// TestIdentityMetadataOtherPIDNamespace runs the endpoint in a PID
// namespace of its own, with its own /proc, as ward is in a container of
// a pod; the pod's other containers share its network, each in a PID
// namespace of its own, often as the same user (a pod-wide runAsUser, or
// root). Such a sidecar got the token, though it cannot read ward's
// memory; a process of ward's own namespace still gets it. It needs
// root, to make the namespaces.
func TestIdentityMetadataOtherPIDNamespace(t *testing.T) {
	if servingInNamespace(t) {
		return
	}
	bash := bashAsAnotherUser(t)
	unshare, nsenter := namespaceTools(t)
	addr, pid := serveInNamespace(t, unshare, "--pid", "--fork", "--mount", "--mount-proc")
	sidecar := []string{unshare, "--pid", "--fork", "--mount", "--mount-proc"}
	if got := metadataStatus(t, bash, addr, nil, sidecar...); !strings.HasPrefix(got, "HTTP/1.1 403") {
		t.Errorf("ward's user in another PID namespace: got %q, want 403", got)
	}
	inside := []string{nsenter, "--pid", "--target", strconv.Itoa(unshareChild(t, pid))}
	if got := metadataStatus(t, bash, addr, nil, inside...); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("ward's user in its own PID namespace: got %q, want 200", got)
	}
}

// TestIdentityMetadataProcSubsetPid runs the endpoint where /proc shows
// processes only (systemd's ProcSubset=pid, a proc mounted with
// subset=pid): there is no /proc/net, and every connection, the child's
// too, got 403 as one whose owner cannot be found. /proc/self/net, the
// same table, is there. It needs root, to make the namespaces.
func TestIdentityMetadataProcSubsetPid(t *testing.T) {
	if servingInNamespace(t) {
		return
	}
	bash := bashAsAnotherUser(t)
	unshare, nsenter := namespaceTools(t)
	addr, pid := serveInNamespace(t, unshare, "--pid", "--fork", "--mount", "sh", "-c", `mount -t proc -o subset=pid proc /proc && exec "$@"`, "sh")
	inside := []string{nsenter, "--pid", "--target", strconv.Itoa(unshareChild(t, pid))}
	if got := metadataStatus(t, bash, addr, nil, inside...); !strings.HasPrefix(got, "HTTP/1.1 200") {
		t.Errorf("ward's own user, under subset=pid: got %q, want 200", got)
	}
}

// TestIdentityMetadataUndumpableChild runs the endpoint as a user other
// than root in a PID namespace of its own, and its child as that user,
// non-dumpable (prctl(PR_SET_DUMPABLE, 0), as ssh-agent does; the kernel
// does the same to a program run with file capabilities, setcap
// cap_net_bind_service on node): ward cannot read which sockets it
// holds. It is served, as a process of ward's user was before ward asked
// who holds a socket; another container's is still refused, with ward's
// own non-dumpable helpers beside the endpoint. It needs root, to make
// the namespaces and switch users.
func TestIdentityMetadataUndumpableChild(t *testing.T) {
	if os.Getenv("IDENTITY_TEST_HELPER") != "" {
		// As ward's store helpers: non-dumpable, until stdin closes.
		if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, os.Stdin)
		return
	}
	if os.Getenv("IDENTITY_TEST_SERVE") != "" {
		// ward's own non-dumpable helper beside the endpoint is no holder
		// of the sidecar's socket.
		helper := exec.Command(filepath.Join(filepath.Dir(os.Args[0]), "ward-vault"), "-test.run=^"+t.Name()+"$")
		helper.Env = append(os.Environ(), "IDENTITY_TEST_HELPER=1")
		in, err := helper.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := helper.Start(); err != nil {
			t.Fatal(err)
		}
		defer helper.Wait()
		defer in.Close()
	}
	if servingInNamespace(t) {
		return
	}
	if addr := os.Getenv("IDENTITY_TEST_UNDUMPABLE_CLIENT"); addr != "" {
		if err := unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0); err != nil {
			t.Fatal(err)
		}
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.Write([]byte("GET /computeMetadata/v1/instance/service-accounts/default/email HTTP/1.1\r\n" + flavor + "\r\n\r\n"))
		status, _ := bufio.NewReader(conn).ReadString('\n')
		os.Stdout.WriteString("status: " + status)
		return
	}
	bash := bashAsAnotherUser(t)
	unshare, nsenter := namespaceTools(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		vaulttest.RequireIntegration(t, "no setpriv to switch users")
	}
	// A copy of this program the user may run (t.TempDir's parent is
	// root's alone).
	dir, err := os.MkdirTemp("", "identity-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	self := filepath.Join(dir, "identity.test")
	b, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	// And one named as ward's helper.
	for _, p := range []string{self, filepath.Join(dir, "ward-vault")} {
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	user := []string{setpriv, "--reuid=1000", "--regid=1000", "--clear-groups"}
	addr, pid := serveProgramInNamespace(t, self, append([]string{unshare, "--pid", "--fork", "--mount", "--mount-proc"}, user...)...)
	argv := append(append([]string{nsenter, "--pid", "--target", strconv.Itoa(unshareChild(t, pid))}, user...), self, "-test.run=^"+t.Name()+"$")
	client := exec.Command(argv[0], argv[1:]...)
	client.Dir = "/"
	client.Env = append(os.Environ(), "IDENTITY_TEST_UNDUMPABLE_CLIENT="+addr)
	out, err := client.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "status: HTTP/1.1 200") {
		t.Errorf("ward's user's non-dumpable child: got %q (%v), want 200", out, err)
	}
	sidecar := append([]string{unshare, "--pid", "--fork", "--mount", "--mount-proc"}, user...)
	if got := metadataStatus(t, bash, addr, nil, sidecar...); !strings.HasPrefix(got, "HTTP/1.1 403") {
		t.Errorf("ward's user in another PID namespace: got %q, want 403", got)
	}
}

// servingInNamespace is true in the copy of the test serveInNamespace
// starts: it has started the endpoint, written its address and served
// until stdin closed.
func servingInNamespace(t *testing.T) bool {
	if os.Getenv("IDENTITY_TEST_SERVE") == "" {
		return false
	}
	e := startGCP(t, time.Hour, 10*time.Minute)
	os.Stdout.WriteString(e.Host() + "\n")
	io.Copy(io.Discard, os.Stdin)
	return true
}

// serveInNamespace runs this test again under wrap (unshare and its
// arguments), where servingInNamespace serves the endpoint until the
// test ends, and returns the endpoint's address and wrap's pid.
func serveInNamespace(t *testing.T, wrap ...string) (string, int) {
	t.Helper()
	return serveProgramInNamespace(t, os.Args[0], wrap...)
}

// serveProgramInNamespace is serveInNamespace running self, a copy of
// this test's program.
func serveProgramInNamespace(t *testing.T, self string, wrap ...string) (string, int) {
	t.Helper()
	argv := append(wrap, self, "-test.run=^"+t.Name()+"$")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "IDENTITY_TEST_SERVE=1")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			t.Errorf("the endpoint in the namespace: %v: %s", err, stderr.String())
		}
	})
	addr, _ := bufio.NewReader(stdout).ReadString('\n')
	addr = strings.TrimSpace(addr)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("the endpoint in the namespace did not start: %q %s", addr, stderr.String())
	}
	return addr, cmd.Process.Pid
}

// unshareChild is the one child of unshare --fork: unshare stays in the
// PID namespace it was started in, its child is the new one's first
// process.
func unshareChild(t *testing.T, pid int) int {
	t.Helper()
	p := strconv.Itoa(pid)
	b, err := os.ReadFile("/proc/" + p + "/task/" + p + "/children")
	f := strings.Fields(string(b))
	if err != nil || len(f) != 1 {
		t.Fatalf("unshare's child: %q %v", b, err)
	}
	child, _ := strconv.Atoi(f[0])
	return child
}

// TestIdentityPeerSameUser finds the owner of a connection this process
// made: itself.
func TestIdentityPeerSameUser(t *testing.T) {
	ln := mustListen(t)
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	srv, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	same, checked, err := samePeerUser(srv)
	if checked && (err != nil || !same) {
		t.Errorf("a connection from this process: same=%v err=%v, want the same user", same, err)
	}
	if !checked {
		t.Logf("this system cannot tell a connection's owner")
	}
}

// TestIdentityForeignFlood: another user's connections that never send a
// request (a slowloris) do not hold the slots ward's own user needs: they
// get a few of their own, and the rest are closed at once. (They used to
// take every slot for 5 s each, and the child's credential refresh timed
// out.) It needs root to switch users.
func TestIdentityForeignFlood(t *testing.T) {
	bash := bashAsAnotherUser(t)
	e := startGCP(t, time.Hour, 10*time.Minute)
	host, port, _ := strings.Cut(e.Host(), ":")
	flood := exec.Command(bash, "-c", `for i in $(seq 60); do exec {fd}<>/dev/tcp/`+host+`/`+port+` || exit 1; done; echo held; exec sleep 60`)
	flood.Dir = "/"
	flood.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, _ := flood.StdoutPipe()
	if err := flood.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { flood.Process.Kill(); flood.Wait() }()
	if line, _ := bufio.NewReader(out).ReadString('\n'); strings.TrimSpace(line) != "held" {
		t.Fatalf("the flood did not open its connections: %q", line)
	}
	req, _ := http.NewRequest("GET", "http://"+e.Host()+"/computeMetadata/v1/instance/service-accounts/default/email", nil)
	req.Header.Set("Metadata-Flavor", "Google")
	// Well under the 5 s each silent connection could hold a slot.
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("ward's own user's request during another user's flood: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("ward's own user got %d, want 200", resp.StatusCode)
	}
}
