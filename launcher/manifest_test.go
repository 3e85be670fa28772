package launcher

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve"
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
	m, err := ParseManifest("ward.yaml", []byte(fullManifest))
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
	if m.Stores.Concurrency != 8 || m.Stores.Vault.Auth.Method != "approle" || m.Stores.AWS.Region != "eu-west-1" {
		t.Errorf("got stores %+v", m.Stores)
	}
	if m.Inherit.All || len(m.Inherit.Patterns) != 3 || len(m.Deny) != 1 || !m.Mask {
		t.Errorf("got inherit %+v deny %v mask %v", m.Inherit, m.Deny, m.Mask)
	}
	if m.Files[0].Mode != 0o400 || m.Files[0].Env != "TLS_KEY_FILE" || m.Files[1].Mode != 0o400 {
		t.Errorf("got files %+v %+v", m.Files[0], m.Files[1])
	}
	prof, err := m.Profile("dev")
	if err != nil {
		t.Fatal(err)
	}
	env := m.EnvFor(prof)
	if env[0].Ref.Scheme != "local" || len(env) != 8 {
		t.Errorf("profile dev did not replace DATABASE_URL in place")
	}
}

func TestDefaults(t *testing.T) {
	m, err := ParseManifest("ward.yaml", []byte("version: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Rotation != DefaultRotation() || !m.Inherit.All {
		t.Errorf("got %+v, want the defaults", m.Rotation)
	}
}

func TestValidationErrorsAreAllReported(t *testing.T) {
	_, err := ParseManifest("w.yaml", []byte("version: 1\nenv:\n  A: nope\n  B: bad://x\nfoo: 1\n"))
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

func TestInheritEnv(t *testing.T) {
	parent := []string{"PATH=/bin", "HOME=/root", "APP_X=1", "VAULT_TOKEN=t", "VAULT_ADDR=http://v", "WARD_PROFILE=dev", "AWS_SECRET_ACCESS_KEY=s", "AWS_REGION=r", "OTHER=o"}
	tests := []struct {
		name     string
		inherit  Inherit
		deny     []string
		declared map[string]bool
		want     string
	}{
		{"all minus credentials", Inherit{All: true}, nil, nil, "PATH HOME APP_X VAULT_ADDR AWS_REGION OTHER"},
		{"deny", Inherit{All: true}, []string{"AWS_*", "OTHER"}, nil, "PATH HOME APP_X VAULT_ADDR"},
		{"none", Inherit{}, nil, nil, ""},
		{"patterns", Inherit{Patterns: []string{"APP_*", "PATH"}}, nil, nil, "PATH APP_X"},
		{"declared credential passes", Inherit{All: true}, nil, map[string]bool{"VAULT_TOKEN": true}, "PATH HOME APP_X VAULT_TOKEN VAULT_ADDR AWS_REGION OTHER"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(envNames(InheritEnv(parent, tt.inherit, tt.deny, tt.declared)), " ")
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
		if got := matchPattern(tt.p, tt.n); got != tt.want {
			t.Errorf("matchPattern(%q, %q) = %v, want %v", tt.p, tt.n, got, tt.want)
		}
	}
}

func TestPlanChanged(t *testing.T) {
	m, err := ParseManifest("w.yaml", []byte("version: 1\ninherit: none\nenv:\n  A: local://a/a\n  B: local://a/b\n"))
	if err != nil {
		t.Fatal(err)
	}
	plan := func(a, b string) *Plan {
		ra, rb := *m.Env[0].Ref, *m.Env[1].Ref
		p, err := BuildPlan(m, nil, map[string]resolve.Value{"A": {Ref: ra, Bytes: []byte(a)}, "B": {Ref: rb, Bytes: []byte(b)}}, nil, "")
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	names, envChanged, _ := plan("1", "2").Changed(plan("1", "2"))
	if len(names) != 0 || envChanged {
		t.Errorf("identical plans: got changed %v env %v", names, envChanged)
	}
	names, envChanged, _ = plan("1", "2").Changed(plan("1", "3"))
	if len(names) != 1 || names[0] != "B" || !envChanged {
		t.Errorf("got changed %v env %v, want [B] true", names, envChanged)
	}
}

func FuzzParseManifest(f *testing.F) {
	f.Add([]byte(fullManifest))
	f.Add([]byte("version: 1\nenv:\n  A: local://a/b\n"))
	f.Add([]byte("version: 1\nfiles:\n  - path: x\n    template: '{{ .A }}'\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxManifestSize/16 {
			// Size is bounded by LoadManifest; big inputs only slow the
			// YAML parser down.
			return
		}
		m, err := ParseManifest("fuzz.yaml", data)
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
