package manifest

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/aws"
	"github.com/wardsecrets/ward/resolve/vault"
)

const fullManifest = `version: 1
stores:
  concurrency: 8
  vault:
    address: https://vault.internal:8200
    auth:
      method: approle
      role_id_file: /run/secrets/role-id
      secret_id_file: /run/secrets/secret-id
  aws:
    region: eu-west-1
env:
  DATABASE_URL: vault://secret/myapp/db#url
  DB_USER: vault://database/creds/myapp#username
  DB_PASS: vault://database/creds/myapp#password
  STRIPE_KEY: awssm://prod/myapp/stripe#secret_key
  FLAG: ssm:///myapp/prod/flag
  API_TOKEN: local://myapp/api_token
  LOG_LEVEL: {value: info}
  DATABASE_DSN:
    template: "postgres://{{ .DB_USER }}:{{ .DB_PASS | urlquery }}@db:5432/app"
files:
  - path: tls/key.pem
    ref: vault://pki/issue/myapp#private_key
    mode: "0400"
    env: TLS_KEY_FILE
  - path: app.json
    template: '{"user": {{ .DB_USER | json }}, "password": {{ .DB_PASS | json }}}'
inherit: [PATH, HOME, "APP_*"]
deny: ["AWS_*"]
mask: true
rotation:
  on_change: signal
  signal: SIGUSR1
  poll: 5m
  jitter: 10%
  debounce: 2s
  stop_signal: SIGINT
  stop_timeout: 30s
  on_expired: stop
  revoke_on_exit: false
profiles:
  dev:
    env:
      DATABASE_URL: local://myapp/database_url
`

func TestParseFullManifest(t *testing.T) {
	m, err := Parse("ward.yaml", []byte(fullManifest))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Env) != 8 || len(m.Files) != 2 || len(m.Profiles) != 1 {
		t.Fatalf("got %d env, %d files, %d profiles, want 8, 2, 1", len(m.Env), len(m.Files), len(m.Profiles))
	}
	if m.Env[0].Name != "DATABASE_URL" || m.Env[7].Name != "DATABASE_DSN" {
		t.Errorf("env order not kept: got %s ... %s", m.Env[0].Name, m.Env[7].Name)
	}
	if got := m.Env[7].Template.Deps; len(got) != 2 || got[0] != "DB_USER" || got[1] != "DB_PASS" {
		t.Errorf("got template deps %v, want [DB_USER DB_PASS]", got)
	}
	r := m.Rotation
	if r.OnChange != "signal" || r.Signal != syscall.SIGUSR1 || r.Poll != 5*time.Minute || r.Jitter != 0.1 ||
		r.Debounce != 2*time.Second || r.StopSignal != syscall.SIGINT || r.StopTimeout != 30*time.Second || r.OnExpired != "stop" || r.RevokeOnExit {
		t.Errorf("got rotation %+v", r)
	}
	vo, _ := m.Stores.Options["vault"].(*vault.Options)
	ao, _ := m.Stores.Options["aws"].(*aws.Options)
	if m.Stores.Concurrency != 8 || vo == nil || vo.Auth.Method != vault.MethodAppRole || ao == nil || ao.Region != "eu-west-1" {
		t.Errorf("got stores %+v", m.Stores)
	}
	if m.Inherit.All || len(m.Inherit.Patterns) != 3 || len(m.Deny) != 1 || !m.Mask {
		t.Errorf("got inherit %+v deny %v mask %v", m.Inherit, m.Deny, m.Mask)
	}
	if m.Files[0].Mode != 0o400 || m.Files[0].Env != "TLS_KEY_FILE" || m.Files[1].Mode != 0o400 {
		t.Errorf("got files %+v %+v", m.Files[0], m.Files[1])
	}
	prof, err := m.Profile("dev", "-p")
	if err != nil {
		t.Fatal(err)
	}
	env := m.EnvFor(prof)
	if env[0].Ref.Scheme != "local" || len(env) != 8 {
		t.Errorf("profile dev did not replace DATABASE_URL in place")
	}
}

func TestDefaults(t *testing.T) {
	m, err := Parse("ward.yaml", []byte("version: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Rotation != DefaultRotation() || !m.Inherit.All {
		t.Errorf("got %+v, want the defaults", m.Rotation)
	}
}

func TestValidationErrorsAreAllReported(t *testing.T) {
	_, err := Parse("w.yaml", []byte("version: 1\nenv:\n  A: nope\n  B: bad://x\nfoo: 1\n"))
	var ve ValidationErrors
	if !errors.As(err, &ve) || len(ve) != 3 {
		t.Fatalf("got %v, want 3 errors", err)
	}
	want := []string{"w.yaml:3:6: env.A", "w.yaml:4:6: env.B", "w.yaml:5:1: foo"}
	for i, w := range want {
		if !strings.HasPrefix(ve[i].Error(), w) {
			t.Errorf("error %d: got %q, want prefix %q", i, ve[i].Error(), w)
		}
	}
}

// TestVaultAddressWithPassword: a password in stores.vault.address is
// refused without being named: ward check took it, and ward check
// --resolve printed it in its error and its hint.
func TestVaultAddressWithPassword(t *testing.T) {
	// Nor in an upper-case scheme, with no scheme, or a socket's: each was
	// "invalid address" with the address, password and all.
	for _, address := range []string{"http://u:canary-addr-pw@127.0.0.1:8200", "https://canary-addr-pw@vault.internal", "HTTPS://u:canary-addr-pw@vault", `"u:canary-addr-pw@vault:8200"`, "unix://u:canary-addr-pw@/s", "http://u:canary-addr-pw/x@127.0.0.1:8200", "https//u:canary-addr-pw@vault"} {
		_, err := Parse("w.yaml", []byte("version: 1\nstores:\n  vault:\n    address: "+address+"\n"))
		var ve ValidationErrors
		if !errors.As(err, &ve) || len(ve) != 1 || !strings.Contains(ve[0].Error(), "w.yaml:4:5: stores.vault.address: the address holds a user name or password") {
			t.Errorf("got %v, want the address refused", err)
		}
		if err != nil && strings.Contains(fmt.Sprint(err, ve), "canary-addr-pw") {
			t.Errorf("the error names the password")
		}
	}
}

// TestNumbersReadAlikeOnly: a whole number written in a form
// that YAML's versions read differently (leading zeros, underscores,
// binary) is refused: ward's YAML reader took concurrency: 0400 as octal,
// 256, in range, where the schema, an editor and any YAML 1.2 reader see
// 400, out of range. So are forms one version reads as a string (0o20,
// 2.56e2 and 1e1 to YAML 1.1; +0x10 to 1.2). Forms every reader takes for
// the same number (256.0, 2.56e+2, 0x10) are read.
func TestNumbersReadAlikeOnly(t *testing.T) {
	for _, tc := range []struct {
		doc  string
		want string
	}{
		{"version: 1\nstores: {concurrency: 0400}\n", "w.yaml:2:23: stores.concurrency: want a whole number in decimal, got 0400"},
		{"version: 1\nstores: {concurrency: 0b10}\n", "want a whole number in decimal, got 0b10"},
		{"version: 1\nstores: {concurrency: 0x10}\n", ""},
		{"version: 1\nstores: {concurrency: 0o20}\n", "want a whole number in decimal, got 0o20"},
		{"version: 1\nstores: {concurrency: +0x10}\n", "want a whole number in decimal, got +0x10"},
		{"version: 1\nstores: {concurrency: 1e1}\n", "want a whole number in decimal, got 1e1"},
		{"version: 1\nstores: {concurrency: 1.0e1}\n", "want a whole number in decimal, got 1.0e1"},
		{"version: 1\nstores: {concurrency: 1E+1}\n", "want a whole number in decimal, got 1E+1"},
		{"version: 1e0\n", "version: want a whole number in decimal, got 1e0"},
		{"version: 1\nstores: {concurrency: 0X10}\n", "want a whole number in decimal, got 0X10"},
		{"version: 0O1\n", "version: want a whole number in decimal, got 0O1"},
		{"version: 1\nstores: {concurrency: !!int 0B1}\n", "want a whole number in decimal, got 0B1"},
		{"version: 1\nstores: {concurrency: 1_6}\n", "want a whole number in decimal, got 1_6"},
		{"version: 01\n", "w.yaml:1:10: version: want a whole number in decimal, got 01"},
		{"version: 1\nstores: {vault: {max_retries: 010}}\n", "stores.vault.max_retries: want a whole number in decimal, got 010"},
		{"version: 1\nstores: {concurrency: 256.0}\n", ""},
		{"version: 1\nstores: {concurrency: 2.56e+2}\n", ""},
		{"version: 1\nstores: {concurrency: 2.0E-0}\n", ""},
		{"version: 1\nstores: {concurrency: 2.56e2}\n", "want a whole number in decimal, got 2.56e2"},
		{"version: 1\nstores: {vault: {max_retries: 0}}\n", ""},
		// Signals: 012 was SIGUSR1 to ward, SIGUSR2 to editors; 011
		// refused as SIGKILL.
		{"version: 1\nrotation: {on_change: signal, signal: 012}\n", "rotation.signal: want a signal's name or number in decimal, got 012"},
		{"version: 1\nrotation: {stop_signal: 011}\n", "rotation.stop_signal: want a signal's name or number in decimal, got 011"},
		{"version: 1\nrotation: {stop_signal: 1_5}\n", "want a signal's name or number in decimal, got 1_5"},
		// Tagged, read as octal all the same.
		{"version: 1\nrotation: {on_change: signal, signal: !!int 012}\n", "want a signal's name or number in decimal, got 012"},
		{"version: 1\nstores: {concurrency: !!int 0400}\n", "want a whole number in decimal, got 0400"},
		{"version: 1\nrotation: {on_change: signal, signal: 12}\n", ""},
		{"version: 1\nrotation: {on_change: signal, signal: 12.0}\n", ""},
	} {
		_, err := Parse("w.yaml", []byte(tc.doc))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%q: %v, want it read", tc.doc, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%q: %v, want %q", tc.doc, err, tc.want)
		}
	}
}

// TestUnknownNamesMarked: a field or a scheme this ward does not know is
// marked as such (ward adds that a later ward may know it); other
// problems, an unknown reference option or a bad value among them, are
// not.
func TestUnknownNamesMarked(t *testing.T) {
	text := "version: 1\nenv:\n  A: nope\n  B: bad://x\n  C: gcpsm://proj/sec?colour=red\nrotation:\n  on_change: reload\nfoo: 1\n"
	_, err := Parse("w.yaml", []byte(text))
	var ve ValidationErrors
	if !errors.As(err, &ve) {
		t.Fatalf("got %v, want validation errors", err)
	}
	got := map[string]string{}
	for _, e := range ve {
		got[e.Field] = e.Unknown
	}
	want := map[string]string{"env.A": "", "env.B": "scheme", "env.C": "", "rotation.on_change": "", "foo": "field"}
	if !maps.Equal(got, want) {
		t.Errorf("got the marks %v, want %v (%v)", got, want, err)
	}
}

// TestOneSignalForReloadAndStop: the same signal for rotation.signal and
// stop_signal is refused only where rotation sends it (on_change:
// signal); a restart or none never sends rotation.signal.
func TestOneSignalForReloadAndStop(t *testing.T) {
	for _, tt := range []struct {
		rotation string
		ok       bool
	}{
		{"{on_change: signal}", true},
		{"{on_change: signal, signal: USR2, stop_signal: QUIT}", true},
		{"{on_change: restart, signal: TERM}", true},
		{"{on_change: none, stop_signal: HUP}", true},
		{"{on_change: signal, signal: 15}", false},
		{"{on_change: signal, signal: SIGQUIT, stop_signal: QUIT}", false},
		{"{stop_signal: SIGHUP, on_change: signal}", false},
	} {
		_, err := Parse("w.yaml", []byte("version: 1\nrotation: "+tt.rotation+"\n"))
		if (err == nil) != tt.ok {
			t.Errorf("rotation: %s: got %v, want ok=%v", tt.rotation, err, tt.ok)
		}
		var ve ValidationErrors
		if err != nil && (!errors.As(err, &ve) || !strings.Contains(ve[0].Hint(), "on_change: restart")) {
			t.Errorf("rotation: %s: %v: the error's hint names no way out", tt.rotation, err)
		}
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(fullManifest))
	f.Add([]byte("version: 1\nenv:\n  A: local://a/b\n"))
	f.Add([]byte("version: 1\nfiles:\n  - path: x\n    template: '{{ .A }}'\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxSize/16 {
			// Size is bounded by Load; big inputs only slow the
			// YAML parser down.
			return
		}
		m, err := Parse("fuzz.yaml", data)
		if err != nil {
			var ve ValidationErrors
			if !errors.As(err, &ve) {
				t.Fatalf("got %T, want ValidationErrors", err)
			}
			for _, e := range ve {
				if e.Line < 1 || e.Col < 1 {
					t.Fatalf("error without a place: %v", e)
				}
			}
			return
		}
		if m.Version != 1 {
			t.Fatalf("accepted version %d", m.Version)
		}
		for _, v := range m.Env {
			if !resolve.ValidEnvName(v.Name) {
				t.Fatalf("accepted variable name %q", v.Name)
			}
		}
	})
}

// TestErrorsHoldNoControlCharacters checks that a key written with escapes
// in a quoted YAML string (a variable, a profile, an unknown field) is
// quoted in the errors and hints that name it: its escape sequences
// reached the terminal of whoever ran `ward check` on a cloned repository,
// where they can set the title, clear or rewrite what the errors said,
// and a line break in a key forged `ward: error:` lines.
func TestErrorsHoldNoControlCharacters(t *testing.T) {
	text := `version: 1
env:
  "A\e[2J": local://app/a
  B: {template: "{{ .C }}"}
  "X\nward: error: all is well": {value: x}
profiles:
  "p\e]0;title\a":
    env:
      T: {value: t}
    files:
      - {path: f, ref: local://app/f, env: B}
    "bogus\r": 1
`
	_, err := Parse("w.yaml", []byte(text))
	var ve ValidationErrors
	if !errors.As(err, &ve) || len(ve) < 4 {
		t.Fatalf("got %v, want at least four validation errors", err)
	}
	var lines []string
	for _, e := range ve {
		lines = append(lines, e.Error(), e.Hint())
	}
	// -p naming a profile the manifest lacks lists those it has.
	m, err := Parse("w.yaml", []byte("version: 1\nprofiles:\n  \"p\\e[2J\": {}\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.Profile("nope", "the -p flag")
	var pe *ProfileError
	if !errors.As(err, &pe) {
		t.Fatalf("got %v, want a ProfileError", err)
	}
	lines = append(lines, pe.Error(), pe.Hint())
	for _, l := range lines {
		if i := strings.IndexFunc(l, func(r rune) bool { return r < 0x20 || r == 0x7f }); i >= 0 {
			t.Errorf("a control character at %d in %q", i, l)
		}
	}
}

// TestRealTimeSignalNames: SIGRTMIN and SIGRTMAX are refused by name,
// whose number depends on the C library (34 under glibc, 35 under musl),
// with a hint that gives the very signal's number under each; a name that
// is no signal gets the names' hint.
func TestRealTimeSignalNames(t *testing.T) {
	for _, tt := range []struct{ signal, hint string }{
		{"SIGRTMIN", "SIGRTMIN is 34 under glibc, 35 under musl (Alpine), which keeps one more for its threads: rotation.signal: 34"},
		{"rtmin+3", "SIGRTMIN+3 is 37 under glibc, 38 under musl (Alpine), which keeps one more for its threads: rotation.signal: 37"},
		{"SIGRTMAX-1", "SIGRTMAX-1 is 63 under glibc and musl alike: rotation.signal: 63"},
		{"SIGRTMAX", "rotation.signal: 64"},
		{"SIGRTMIN+40", "by its number, as the program's C library numbers it (SIGRTMIN is 34"},
		{"SIGRTMAX+1", "by its number, as the program's C library numbers it (SIGRTMIN is 34"},
		{"SIGFOO", "such as SIGTERM"},
	} {
		_, err := Parse("w.yaml", []byte("version: 1\nrotation: {on_change: signal, signal: "+tt.signal+"}\n"))
		var ve ValidationErrors
		if !errors.As(err, &ve) || !strings.Contains(ve[0].Hint(), tt.hint) {
			t.Errorf("signal: %s: got %v, want a hint saying %q", tt.signal, err, tt.hint)
		}
	}
}
