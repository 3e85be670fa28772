package stores_test

import (
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/stores"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		in                  string
		scheme, path, field string
		opts                map[string]string
	}{
		{"vault://secret/myapp/db#url", "vault", "secret/myapp/db", "url", nil},
		{"vault://secret/myapp/db#url?version=3", "vault", "secret/myapp/db", "url", map[string]string{"version": "3"}},
		{"vault://secret/myapp/db?version=3#url", "vault", "secret/myapp/db", "url", map[string]string{"version": "3"}},
		{"vault://database/creds/myapp#username", "vault", "database/creds/myapp", "username", nil},
		{"awssm://prod/myapp/stripe#secret_key", "awssm", "prod/myapp/stripe", "secret_key", nil},
		{"awssm://arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/x-AbCdEf?stage=AWSPREVIOUS", "awssm", "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/x-AbCdEf", "", map[string]string{"stage": "AWSPREVIOUS"}},
		{"ssm:///myapp/prod/flag", "ssm", "/myapp/prod/flag", "", nil},
		{"ssm:///myapp/prod/flag?version=2", "ssm", "/myapp/prod/flag", "", map[string]string{"version": "2"}},
		{"local://myapp/api_token", "local", "myapp/api_token", "", nil},
		{"file:///run/secrets/x", "file", "/run/secrets/x", "", nil},
		{"creds://db-password", "creds", "db-password", "", nil},
		{"env://CI_TOKEN", "env", "CI_TOKEN", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			r, err := stores.Registry.ParseRef(tt.in)
			if err != nil {
				t.Fatalf("ParseRef(%q): %v", tt.in, err)
			}
			if r.Scheme != tt.scheme || r.Path != tt.path || r.Field != tt.field {
				t.Errorf("got scheme=%q path=%q field=%q, want %q %q %q", r.Scheme, r.Path, r.Field, tt.scheme, tt.path, tt.field)
			}
			if len(r.Options) != len(tt.opts) {
				t.Errorf("got options %v, want %v", r.Options, tt.opts)
			}
			for k, v := range tt.opts {
				if r.Options[k] != v {
					t.Errorf("got option %s=%q, want %q", k, r.Options[k], v)
				}
			}
			if r.Raw != tt.in {
				t.Errorf("got Raw=%q, want %q", r.Raw, tt.in)
			}
		})
	}
}

func TestRefKeySharesDocuments(t *testing.T) {
	a, _ := stores.Registry.ParseRef("vault://database/creds/app#username")
	b, _ := stores.Registry.ParseRef("vault://database/creds/app#password")
	c, _ := stores.Registry.ParseRef("vault://database/creds/app?version=2#password")
	if a.Key() != b.Key() {
		t.Errorf("two fields of one document got different keys")
	}
	if a.Key() == c.Key() {
		t.Errorf("two versions of one document got the same key")
	}
	if d := a.Document(); d.Field != "" || d.Raw != "vault://database/creds/app" {
		t.Errorf("got document %q field %q, want vault://database/creds/app with no field", d.Raw, d.Field)
	}
}

func TestParseRefErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "not a reference"},
		{"gcp://x/y", `unknown scheme "gcp"`},
		{"vault://onlymount", "want MOUNT/PATH"},
		{"vault://secret/a#", "empty field"},
		{"vault://secret/a?version=-1", "not a positive whole number"},
		{"vault://secret/a?version=1&version=2", `option "version" given 2 times`},
		{"awssm://x?stage=", "option stage is empty"},
		{"ssm:///a?stage=x", `unknown option "stage"`},
		{"file://relative", "absolute path"},
		{"local://a//b", "invalid local store name"},
		{"creds://a/b", "invalid credential name"},
		{"env://A-B", "invalid environment variable name"},
		{"local://", "empty path"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := stores.Registry.ParseRef(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseRef(%q): got %v, want an error containing %q", tt.in, err, tt.want)
			}
			if re, ok := err.(*resolve.RefError); ok && re.Hint == "" {
				t.Errorf("ParseRef(%q): the error has no hint", tt.in)
			}
		})
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"vault://secret/a#b?version=1", "awssm://x?stage=AWSCURRENT", "ssm:///a/b", "local://a/b", "file:///x", "env://X", "creds://x", "://", "a://b#c?d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := stores.Registry.ParseRef(s)
		if err != nil {
			return
		}
		// A valid ref re-parses to the same document.
		again, err := stores.Registry.ParseRef(r.Document().Raw)
		if err != nil {
			t.Fatalf("the document of %q does not parse: %v", s, err)
		}
		if again.Key() != r.Key() {
			t.Fatalf("the document of %q has another key", s)
		}
	})
}

// TestParseRefEscapes: a path or a field may hold '#' and '?' written
// %23 and %3F (and a '%' before those as %25), any other '%' as it is;
// a document's reference writes its path back the same way, so that it
// names that document again.
func TestParseRefEscapes(t *testing.T) {
	for _, c := range []struct{ in, path, field, doc string }{
		{"vault://kv/team%232/ready%3F/50%off#token%232", "kv/team#2/ready?/50%off", "token#2", "vault://kv/team%232/ready%3F/50%off"},
		{"vault://kv/a%3fb#ready%3F", "kv/a?b", "ready?", "vault://kv/a%3Fb"},
		{"vault://kv/lit%2523#x%2523", "kv/lit%23", "x%23", "vault://kv/lit%2523"},
		{"file:///run/secrets/db%231", "/run/secrets/db#1", "", "file:///run/secrets/db%231"},
		{"vault://kv/100%/x%", "kv/100%/x%", "", "vault://kv/100%/x%"},
	} {
		r, err := stores.Registry.ParseRef(c.in)
		if err != nil {
			t.Fatalf("ParseRef(%q): %v", c.in, err)
		}
		if r.Path != c.path || r.Field != c.field {
			t.Errorf("%s: got path %q field %q, want %q %q", c.in, r.Path, r.Field, c.path, c.field)
		}
		d := r.Document()
		if d.Raw != c.doc {
			t.Errorf("%s: its document is %q, want %q", c.in, d.Raw, c.doc)
		}
		again, err := stores.Registry.ParseRef(d.Raw)
		if err != nil || again.Path != r.Path {
			t.Errorf("%s: its document %q parses to path %q (%v), want %q", c.in, d.Raw, again.Path, err, r.Path)
		}
	}
}
