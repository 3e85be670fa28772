package plan

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/resolve"
)

// credentials are the names the tests treat as ward's credentials.
var credentials = []string{"VAULT_TOKEN", "AWS_SECRET_ACCESS_KEY"}

// envNames returns the names of KEY=VALUE entries.
func envNames(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if i := strings.IndexByte(kv, '='); i > 0 {
			out = append(out, kv[:i])
		}
	}
	return out
}

func TestInheritEnv(t *testing.T) {
	parent := []string{"PATH=/bin", "HOME=/root", "APP_X=1", "VAULT_TOKEN=t", "VAULT_ADDR=http://v", "WARD_PROFILE=dev", "AWS_SECRET_ACCESS_KEY=s", "AWS_REGION=r", "OTHER=o", "RUNNER_TRACKING_ID=github_1", "JENKINS_NODE_COOKIE=c"}
	tests := []struct {
		name     string
		inherit  manifest.Inherit
		deny     []string
		declared map[string]bool
		want     string
	}{
		{"all minus credentials", manifest.Inherit{All: true}, nil, nil, "PATH HOME APP_X VAULT_ADDR AWS_REGION OTHER RUNNER_TRACKING_ID JENKINS_NODE_COOKIE"},
		{"deny", manifest.Inherit{All: true}, []string{"AWS_*", "OTHER"}, nil, "PATH HOME APP_X VAULT_ADDR RUNNER_TRACKING_ID JENKINS_NODE_COOKIE"},
		{"patterns", manifest.Inherit{Patterns: []string{"APP_*", "PATH"}}, nil, nil, "PATH APP_X RUNNER_TRACKING_ID JENKINS_NODE_COOKIE"},
		{"declared credential passes", manifest.Inherit{All: true}, nil, map[string]bool{"VAULT_TOKEN": true}, "PATH HOME APP_X VAULT_TOKEN VAULT_ADDR AWS_REGION OTHER RUNNER_TRACKING_ID JENKINS_NODE_COOKIE"},
		{"process markers pass inherit", manifest.Inherit{}, nil, nil, "RUNNER_TRACKING_ID JENKINS_NODE_COOKIE"},
		{"deny holds for process markers", manifest.Inherit{Patterns: []string{"PATH"}}, []string{"RUNNER_TRACKING_ID"}, nil, "PATH JENKINS_NODE_COOKIE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(envNames(InheritEnv(parent, tt.inherit, tt.deny, credentials, tt.declared)), " ")
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestMatchPattern(t *testing.T) {
	tests := []struct {
		p, n string
		want bool
	}{
		{"AWS_*", "AWS_REGION", true}, {"AWS_*", "XAWS_", false}, {"*_TOKEN", "GH_TOKEN", true},
		{"A*B*C", "AxxBxxC", true}, {"A*B*C", "AC", false}, {"X", "X", true}, {"X", "XY", false}, {"*", "", true},
	}
	for _, tt := range tests {
		if got := MatchPattern(tt.p, tt.n); got != tt.want {
			t.Errorf("MatchPattern(%q, %q) = %v, want %v", tt.p, tt.n, got, tt.want)
		}
	}
}

func TestPlanChanged(t *testing.T) {
	m, err := manifest.Parse("w.yaml", []byte("version: 1\ninherit: none\nenv:\n  A: local://a/a\n  B: local://a/b\n"))
	if err != nil {
		t.Fatal(err)
	}
	build := func(a, b string) *Plan {
		ra, rb := *m.Env[0].Ref, *m.Env[1].Ref
		p, err := Build(m, nil, map[string]resolve.Value{"A": {Ref: ra, Bytes: []byte(a)}, "B": {Ref: rb, Bytes: []byte(b)}}, Input{})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	names, envChanged, _ := build("1", "2").Changed(build("1", "2"))
	if len(names) != 0 || envChanged {
		t.Errorf("identical plans: got changed %v env %v", names, envChanged)
	}
	names, envChanged, _ = build("1", "2").Changed(build("1", "3"))
	if len(names) != 1 || names[0] != "B" || !envChanged {
		t.Errorf("got changed %v env %v, want [B] true", names, envChanged)
	}
}

// TestRenderErrorNamesThePlace checks that a template that fails at run
// time is reported like a manifest error: the template's file:line:col,
// its field and a hint, whether it is a variable's, a file's or a
// profile's, and never with a value.
func TestRenderErrorNamesThePlace(t *testing.T) {
	text := `version: 1
env:
  A: local://app/a
  T: {template: "{{ index .A 99 }}"}
  U: {template: "x{{ slice .A (len .A) 3 }}"}
files:
  - path: f
    template: "{{ index .A 99 }}"
profiles:
  dev:
    files:
      - path: g
        template: |
          line one
          {{ index .A 99 }}
`
	m, err := manifest.Parse("w.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	canary := "canary-render"
	values := map[string]resolve.Value{"A": {Name: "A", Bytes: []byte(canary)}}
	tests := []struct {
		name, profile, only, want, hint string
	}{
		{"index", "", "T", "w.yaml:4:17: env.T.template: render template: index out of range (at 1:4 in the template)", "index and slice"},
		{"slice", "", "U", "w.yaml:5:17: env.U.template: render template: slice positions out of order (at 1:5 in the template)", "index and slice"},
		{"file", "", "f", "w.yaml:8:15: files[0].template: render template: index out of range (at 1:4 in the template)", "index and slice"},
		{"profile file", "dev", "g", "w.yaml:13:19: profiles.dev.files[0].template: render template: index out of range (at 2:4 in the template)", "index and slice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Only the variable or file under test, so that it is the
			// one that fails.
			mm := *m
			mm.Env = slicesKeep(m.Env, func(v *manifest.EnvVar) bool { return v.Name == "A" || v.Name == tt.only })
			mm.Files = slicesKeep(m.Files, func(f *manifest.FileSpec) bool { return f.Path == tt.only })
			prof, err := mm.Profile(tt.profile, "-p")
			if err != nil {
				t.Fatal(err)
			}
			_, err = Build(&mm, prof, values, Input{Dir: "/run/x"})
			var ve *manifest.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a validation error", err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if !strings.Contains(ve.Hint(), tt.hint) {
				t.Errorf("got hint %q, want one about %q", ve.Hint(), tt.hint)
			}
			if strings.Contains(err.Error()+ve.Hint(), canary) {
				t.Error("the error or its hint holds the value")
			}
		})
	}
}

// TestFileWholePathTooLong: a file whose path in the directory passes the
// manifest's check but whose whole path, the directory's added, is longer
// than a program can open, fails the start at its place: the child was
// started with a path it could not open ("File name too long").
func TestFileWholePathTooLong(t *testing.T) {
	long := strings.Repeat(strings.Repeat("d", 250)+"/", 16) + strings.Repeat("f", 70)
	text := "version: 1\nenv:\n  A: local://app/a\nfiles:\n  - path: " + long + "\n    ref: local://app/a\n    env: LP\n"
	m, err := manifest.Parse("w.yaml", []byte(text))
	if err != nil {
		t.Fatalf("the manifest's check: %v", err)
	}
	values := map[string]resolve.Value{"A": {Name: "A", Bytes: []byte("canary-long-path")}}
	for _, v := range m.Files {
		values[v.Key()] = resolve.Value{Name: v.Key(), Bytes: []byte("canary-long-path")}
	}
	_, err = Build(m, nil, values, Input{Dir: "/dev/shm/ward-0/run-12345-abcdef"})
	var ve *manifest.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want a validation error", err)
	}
	if want := "w.yaml:5:5: files[0].path: the child's path to the file"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %q, want it to start %q", err.Error(), want)
	}
	if !strings.Contains(ve.Hint(), "WARD_RUNTIME_DIR") {
		t.Errorf("got hint %q, want one naming WARD_RUNTIME_DIR", ve.Hint())
	}
	// With a short directory it fits.
	if _, err := Build(m, nil, values, Input{Dir: "/r"}); err != nil {
		t.Errorf("with a short directory: %v", err)
	}
}

func slicesKeep[T any](s []T, keep func(T) bool) []T {
	var out []T
	for _, e := range s {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func TestWithNoProxy(t *testing.T) {
	hosts := []string{"127.0.0.1"}
	tests := []struct {
		name    string
		env     []string
		want    []string
		hostsIn []string
	}{
		{"neither set", []string{"A=1"}, []string{"A=1", "NO_PROXY=127.0.0.1", "no_proxy=127.0.0.1"}, hosts},
		{"upper kept", []string{"NO_PROXY=corp.internal", "B=2"}, []string{"NO_PROXY=corp.internal,127.0.0.1", "B=2"}, hosts},
		{"both kept", []string{"no_proxy=.a", "NO_PROXY="}, []string{"no_proxy=.a,127.0.0.1", "NO_PROXY=127.0.0.1"}, hosts},
		{"already", []string{"NO_PROXY=localhost, 127.0.0.1"}, []string{"NO_PROXY=localhost, 127.0.0.1"}, hosts},
		{"everything", []string{"no_proxy=*"}, []string{"no_proxy=*"}, hosts},
		{"no endpoint", []string{"A=1"}, []string{"A=1"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := WithNoProxy(slices.Clone(tt.env), tt.hostsIn); !slices.Equal(got, tt.want) {
				t.Errorf("WithNoProxy(%q) = %q, want %q", tt.env, got, tt.want)
			}
		})
	}
}

func TestWithoutProcessMarkers(t *testing.T) {
	environ := []string{"PATH=/bin", "RUNNER_TRACKING_ID=github_1", "VAULT_ADDR=http://v", "JENKINS_NODE_COOKIE=c", "VSTS_PROCESS_LOOKUP_ID=v"}
	if got := strings.Join(envNames(WithoutProcessMarkers(environ)), " "); got != "PATH VAULT_ADDR" {
		t.Errorf("got %q, want %q", got, "PATH VAULT_ADDR")
	}
	if environ[1] != "RUNNER_TRACKING_ID=github_1" || environ[2] != "VAULT_ADDR=http://v" {
		t.Errorf("the environment given was changed: %q", environ)
	}
}

// TestDecodeBase64 reads base64 as the tools that write it print it, and
// refuses what is not base64.
func TestDecodeBase64(t *testing.T) {
	// 0xfb 0xff 0xbf is "+/+/" in the standard alphabet; 0x00 and 0x0a
	// must survive.
	want := []byte("\xfb\xff\xbf\x00\x0a\x30\x82")
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"one line", "+/+/AAowgg==", true},
		{"last line break", "+/+/AAowgg==\n", true},
		{"wrapped, CRLF", "+/+/\r\nAAow\r\ngg==\r\n", true},
		{"spaces", " +/+/ AAow gg== ", true},
		{"not base64", "-----BEGIN PRIVATE KEY-----", false},
		{"cut short", "+/+/AAowg", false},
		{"unpadded", "+/+/AAowgg", false},
		{"URL-safe", "-_-_AAowgg==", false},
		{"a token stored as it is", "canary-not-base64-0123456789abcdef01234567", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := decodeBase64([]byte(tt.in))
			if ok != tt.ok || (ok && string(got) != string(want)) {
				t.Errorf("got %q, %v; want %q, %v", got, ok, want, tt.ok)
			}
		})
	}
}

// TestAsSSHReadsIt: an OpenSSH private key gets LF line ends and its last
// line break; everything else is left byte for byte.
func TestAsSSHReadsIt(t *testing.T) {
	const key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA\nAAAEbm9uZQ==\n-----END OPENSSH PRIVATE KEY-----\n"
	crlf := strings.ReplaceAll(key, "\n", "\r\n")
	tests := []struct{ name, in, want string }{
		{"as ssh-keygen writes it", key, key},
		{"no last line break", strings.TrimSuffix(key, "\n"), key},
		{"CRLF", crlf, key},
		{"CRLF, no last line break", strings.TrimSuffix(crlf, "\r\n"), key},
		{"two last line breaks", key + "\n", key},
		{"a PEM key, which openssl reads either way", "-----BEGIN PRIVATE KEY-----\r\nMC4CAQ==\r\n-----END PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----\r\nMC4CAQ==\r\n-----END PRIVATE KEY-----"},
		{"text after the key", key + "comment", key + "comment"},
		{"a value that is not a key", "hunter2", "hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(asSSHReadsIt([]byte(tt.in))); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
