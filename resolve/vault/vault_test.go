package vault

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/resolve/conf"
)

func hintOf(err error) string {
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		return h.Hint()
	}
	return ""
}

func TestManifestOnly(t *testing.T) {
	yes, no := true, false
	wd, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	const vault = "https://vault.internal.example:8200"
	for _, c := range []struct {
		name string
		o    *Options
		env  map[string]string
		want string // "" for allowed, else a part of the error
		hint string
	}{
		{name: "no vault settings", o: nil},
		{name: "nothing named anywhere", o: &Options{}},
		{name: "address the environment does not name", o: &Options{Address: "https://attacker.example"}, want: "the environment names no Vault", hint: "export VAULT_ADDR=https://attacker.example"},
		{name: "address the environment names", o: &Options{Address: vault}, env: map[string]string{"VAULT_ADDR": vault}},
		{name: "the agent's address counts", o: &Options{Address: vault}, env: map[string]string{"VAULT_AGENT_ADDR": vault}},
		{name: "skip_verify alone", o: &Options{SkipVerify: &yes}, env: map[string]string{"VAULT_ADDR": vault},
			want: "skip_verify: true (VAULT_SKIP_VERIFY not set) for the environment's Vault at " + vault, hint: "export VAULT_SKIP_VERIFY=true"},
		{name: "skip_verify the environment turns off", o: &Options{SkipVerify: &yes}, env: map[string]string{"VAULT_ADDR": vault, "VAULT_SKIP_VERIFY": "false"},
			want: "skip_verify: true (VAULT_SKIP_VERIFY is false)"},
		{name: "skip_verify both say", o: &Options{SkipVerify: &yes}, env: map[string]string{"VAULT_ADDR": vault, "VAULT_SKIP_VERIFY": "1"}},
		{name: "skip_verify false", o: &Options{SkipVerify: &no}, env: map[string]string{"VAULT_ADDR": vault}},
		{name: "a CA of the repository's", o: &Options{CACert: "certs/ca.pem"}, env: map[string]string{"VAULT_ADDR": vault},
			want: "ca_cert: certs/ca.pem (VAULT_CACERT not set)", hint: "export VAULT_CACERT=" + filepath.Join(wd, "certs/ca.pem")},
		{name: "another CA than the environment's", o: &Options{CACert: "/etc/ssl/other.pem"}, env: map[string]string{"VAULT_ADDR": vault, "VAULT_CACERT": "/etc/ssl/vault.pem"},
			want: "ca_cert: /etc/ssl/other.pem (VAULT_CACERT is /etc/ssl/vault.pem)"},
		{name: "the environment's CA, spelt otherwise", o: &Options{CACert: "certs/../certs/ca.pem"}, env: map[string]string{"VAULT_ADDR": vault, "VAULT_CACERT": filepath.Join(wd, "certs/ca.pem")}},
		{name: "a CA the client does not use", o: &Options{CACert: "certs/ca.pem", CAPath: "certs"}, env: map[string]string{"VAULT_ADDR": vault, "VAULT_CACERT_BYTES": "-----BEGIN CERTIFICATE-----"}},
		{name: "a CA directory", o: &Options{CAPath: "/etc/ssl/vault-cas"}, env: map[string]string{"VAULT_ADDR": vault},
			want: "ca_path: /etc/ssl/vault-cas (VAULT_CAPATH not set)", hint: "export VAULT_CAPATH=/etc/ssl/vault-cas"},
		{name: "another name to verify", o: &Options{TLSServerName: "attacker.example"}, env: map[string]string{"VAULT_ADDR": vault},
			want: "tls_server_name: attacker.example (VAULT_TLS_SERVER_NAME not set)", hint: "export VAULT_TLS_SERVER_NAME=attacker.example"},
		{name: "the environment's name", o: &Options{TLSServerName: "Vault.Internal"}, env: map[string]string{"VAULT_ADDR": vault, "VAULT_TLS_SERVER_NAME": "vault.internal"}},
		{name: "every setting at once", o: &Options{Address: vault, SkipVerify: &yes, CACert: "/ca.pem", TLSServerName: "x.example"}, env: map[string]string{"VAULT_ADDR": vault},
			want: "skip_verify: true (VAULT_SKIP_VERIFY not set), ca_cert: /ca.pem (VAULT_CACERT not set), tls_server_name: x.example (VAULT_TLS_SERVER_NAME not set)",
			hint: "export VAULT_SKIP_VERIFY=true VAULT_CACERT=/ca.pem VAULT_TLS_SERVER_NAME=x.example"},
		{name: "plain http has no TLS to weaken", o: &Options{SkipVerify: &yes, CACert: "/ca.pem"}, env: map[string]string{"VAULT_ADDR": "http://127.0.0.1:8200"}},
		{name: "nor has an agent's socket", o: &Options{SkipVerify: &yes}, env: map[string]string{"VAULT_AGENT_ADDR": "unix:///run/vault.sock", "VAULT_ADDR": vault}},
		{name: "the agent's address is the one used", o: &Options{SkipVerify: &yes}, env: map[string]string{"VAULT_AGENT_ADDR": "HTTPS://agent.example", "VAULT_ADDR": "http://127.0.0.1:8200"},
			want: "for the environment's Vault at HTTPS://agent.example"},
	} {
		err := ManifestOnly(c.o, func(name string) string { return c.env[name] })
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: refused: %v", c.name, err)
		case c.want != "" && err == nil:
			t.Errorf("%s: allowed, want a refusal saying %q", c.name, c.want)
		case c.want != "" && !strings.Contains(err.Error(), c.want):
			t.Errorf("%s: %v\nwant it to say %q", c.name, err, c.want)
		case c.hint != "" && !strings.Contains(hintOf(err), c.hint):
			t.Errorf("%s: hint %q, want it to say %q", c.name, hintOf(err), c.hint)
		}
	}
}

// TestAuthDecodeRefusedSettingNotMissing: a login setting written but
// refused has its own problem alone, not also "required for method";
// one not written, or written empty, is required.
func TestAuthDecodeRefusedSettingNotMissing(t *testing.T) {
	tests := []struct {
		auth string
		want []string // the problems' fields and messages
	}{
		{"{method: approle, role_id_file: creds://../x}", []string{`auth.role_id_file: invalid credential name "../x"`}},
		{"{method: token_file, token_file: [a]}", []string{"auth.token_file: want a string, got a list"}},
		{"{method: jwt, role: {a: b}}", []string{"auth.role: want a string, got a mapping"}},
		{"{method: approle}", []string{"auth.role_id_file: required for method approle"}},
		{`{method: kubernetes, role: ""}`, []string{"auth.role: required for method kubernetes"}},
	}
	for _, tt := range tests {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(tt.auth), &n); err != nil {
			t.Fatal(err)
		}
		var d conf.Decoder
		var a Auth
		a.decode(&d, n.Content[0], "auth")
		var got []string
		for _, p := range d.Problems {
			got = append(got, p.Field+": "+p.Msg)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got problems %q, want %q", tt.auth, got, tt.want)
		}
	}
}
