package plan

import (
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
	parent := []string{"PATH=/bin", "HOME=/root", "APP_X=1", "VAULT_TOKEN=t", "VAULT_ADDR=http://v", "WARD_PROFILE=dev", "AWS_SECRET_ACCESS_KEY=s", "AWS_REGION=r", "OTHER=o"}
	tests := []struct {
		name     string
		inherit  manifest.Inherit
		deny     []string
		declared map[string]bool
		want     string
	}{
		{"all minus credentials", manifest.Inherit{All: true}, nil, nil, "PATH HOME APP_X VAULT_ADDR AWS_REGION OTHER"},
		{"deny", manifest.Inherit{All: true}, []string{"AWS_*", "OTHER"}, nil, "PATH HOME APP_X VAULT_ADDR"},
		{"none", manifest.Inherit{}, nil, nil, ""},
		{"patterns", manifest.Inherit{Patterns: []string{"APP_*", "PATH"}}, nil, nil, "PATH APP_X"},
		{"declared credential passes", manifest.Inherit{All: true}, nil, map[string]bool{"VAULT_TOKEN": true}, "PATH HOME APP_X VAULT_TOKEN VAULT_ADDR AWS_REGION OTHER"},
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
