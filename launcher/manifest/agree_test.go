package manifest

import (
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/resolve/stores"
)

// TestSchemaAgreesWithParser gives the parser and a real validator
// manifests at the edges of what each field takes, and wants the same
// verdict from both.
func TestSchemaAgreesWithParser(t *testing.T) {
	sch := compileSchema(t)
	for _, tt := range agreeCases {
		t.Run(tt.name, func(t *testing.T) {
			text := tt.text()
			_, parseErr := Parse("agree.yaml", []byte(text))
			doc, err := yamlToJSON([]byte(text))
			if err != nil {
				t.Fatal(err)
			}
			schemaErr := sch.Validate(doc)
			if got := parseErr == nil; got != tt.valid {
				t.Errorf("parser: got valid=%v, want %v (%v)", got, tt.valid, parseErr)
			}
			if got := schemaErr == nil; got != tt.valid {
				t.Errorf("schema: got valid=%v, want %v (%v)", got, tt.valid, schemaErr)
			}
		})
	}
}

// agreeCases are manifests at the edges of what each field takes.
type agreeCase struct {
	name  string
	doc   string // after "version: 1", unless it sets version
	valid bool
}

var agreeCases = []agreeCase{
	// Issue 13's disagreements.
	{"mode unquoted", "files: [{path: x, ref: local://a/b, mode: 0400}]", false},
	{"debounce micro sign", "rotation: {debounce: 500µs}", true},
	{"debounce greek mu", "rotation: {debounce: 500μs}", true},
	{"version 1.0", "version: 1.0", true},
	{"path ./a", "files: [{path: ./a, ref: local://a/b}]", false},
	{"local trailing space", `env: {A: "local://x/y "}`, false},
	{"path empty", `files: [{path: "", ref: local://a/b}]`, false},

	{"version 1.5", "version: 1.5", false},
	{"version quoted", `version: "1"`, false},
	{"version hex", "version: 0x1", true},

	{"path nested", "files: [{path: tls/key.pem, ref: local://a/b}]", true},
	{"path dots", "files: [{path: a/.../..b/.c, ref: local://a/b}]", true},
	{"path with space", `files: [{path: "a b", ref: local://a/b}]`, true},
	{"path dotdot", "files: [{path: a/../b, ref: local://a/b}]", false},
	{"path double slash", "files: [{path: a//b, ref: local://a/b}]", false},
	{"path trailing slash", "files: [{path: a/, ref: local://a/b}]", false},
	{"path absolute", "files: [{path: /a, ref: local://a/b}]", false},
	{"path parent", "files: [{path: .., ref: local://a/b}]", false},
	{"path line break", `files: [{path: "a\nb", ref: local://a/b}]`, false},
	{"path lock", "files: [{path: .lock, ref: local://a/b}]", false},
	{"path notify socket", "files: [{path: notify.sock, ref: local://a/b}]", false},
	{"path notify socket below", "files: [{path: x/notify.sock, ref: local://a/b}]", true},
	{"path tmp", "files: [{path: x/.tmp-1, ref: local://a/b}]", false},
	{"path tmp suffix", "files: [{path: x.tmp-, ref: local://a/b}]", true},
	{"path number", "files: [{path: 2024, ref: local://a/b}]", false},
	{"path timestamp", "files: [{path: 2024-01-01, ref: local://a/b}]", true},
	{"path directory of 255", "files: [{path: " + strings.Repeat("d", 255) + "/f, ref: local://a/b}]", true},
	{"path directory of 256", "files: [{path: " + strings.Repeat("d", 256) + "/f, ref: local://a/b}]", false},
	{"path file name of 239", "files: [{path: d/" + strings.Repeat("f", 239) + ", ref: local://a/b}]", true},
	{"path file name of 240", "files: [{path: d/" + strings.Repeat("f", 240) + ", ref: local://a/b}]", false},
	{"path of 4095", "files: [{path: " + strings.Repeat(strings.Repeat("d", 254)+"/", 16) + strings.Repeat("f", 15) + ", ref: local://a/b}]", true},
	{"path of 4096", "files: [{path: " + strings.Repeat(strings.Repeat("d", 254)+"/", 16) + strings.Repeat("f", 16) + ", ref: local://a/b}]", false},

	{"mode 0440", `files: [{path: x, ref: local://a/b, mode: "0440"}]`, true},
	{"mode 400", `files: [{path: x, ref: local://a/b, mode: "400"}]`, true},
	{"mode 00600", `files: [{path: x, ref: local://a/b, mode: "00600"}]`, true},
	{"mode unreadable", `files: [{path: x, ref: local://a/b, mode: "0200"}]`, false},
	{"mode too big", `files: [{path: x, ref: local://a/b, mode: "4400"}]`, false},
	{"mode 0o", `files: [{path: x, ref: local://a/b, mode: "0o400"}]`, false},
	{"mode unquoted 400", "files: [{path: x, ref: local://a/b, mode: 400}]", false},
	{"encoding base64", "files: [{path: x, ref: local://a/b, encoding: base64}]", true},
	{"encoding of a template", "files: [{path: x, template: QUJD, encoding: base64}]", true},
	{"encoding hex", "files: [{path: x, ref: local://a/b, encoding: hex}]", false},
	{"encoding Base64", "files: [{path: x, ref: local://a/b, encoding: Base64}]", false},
	{"file env boolean", "files: [{path: x, ref: local://a/b, env: true}]", false},
	{"file template number", "files: [{path: x, template: 42}]", false},

	{"signal name", "rotation: {signal: SIGUSR1}", true},
	{"signal short lower", "rotation: {signal: hup}", true},
	{"signal mixed case", "rotation: {signal: SigWinch}", true},
	{"signal number", "rotation: {signal: 15}", true},
	{"signal number float", "rotation: {signal: 15.0}", true},
	{"signal number quoted", `rotation: {signal: "10"}`, true},
	{"signal 64", "rotation: {signal: 64}", true},
	{"signal 65", "rotation: {signal: 65}", false},
	{"signal 0", "rotation: {signal: 0}", false},
	{"signal kill number", "rotation: {stop_signal: 9}", false},
	{"signal stop number", `rotation: {stop_signal: "19"}`, false},
	{"signal stop", "rotation: {stop_signal: sigstop}", false},
	{"signal leading zero", `rotation: {signal: "015"}`, false},
	{"signal space", `rotation: {signal: " HUP"}`, false},
	{"signal realtime name", "rotation: {signal: SIGRTMIN}", false},
	{"signal boolean", "rotation: {signal: true}", false},

	{"poll 1s", "rotation: {poll: 1s}", true},
	{"poll 1000ms", "rotation: {poll: 1000ms}", true},
	{"poll 1000000us", "rotation: {poll: 1000000us}", true},
	{"poll 1.5s", "rotation: {poll: 1.5s}", true},
	{"poll 5.m", "rotation: {poll: 5.m}", true},
	{"poll plus", `rotation: {poll: "+5m"}`, true},
	{"poll 999ms", "rotation: {poll: 999ms}", false},
	{"poll 0.5s", "rotation: {poll: 0.5s}", false},
	{"poll .5s", "rotation: {poll: .5s}", false},
	{"poll 999999us", "rotation: {poll: 999999us}", false},
	{"poll 0s", "rotation: {poll: 0s}", false},
	{"poll negative", "rotation: {poll: -5m}", false},
	{"poll number", "rotation: {poll: 5}", false},
	{"stop_timeout 1h30m", "rotation: {stop_timeout: 1h30m}", true},
	{"stop_timeout 0s", "rotation: {stop_timeout: 0s}", false},
	{"stop_timeout no unit", `rotation: {stop_timeout: "30"}`, false},
	{"stop_timeout upper unit", "rotation: {stop_timeout: 30S}", false},

	{"debounce 0", "rotation: {debounce: 0}", true},
	{"debounce 0 quoted", `rotation: {debounce: "0"}`, true},
	{"debounce 0s", "rotation: {debounce: 0s}", true},
	{"debounce 0.0ms", "rotation: {debounce: 0.0ms}", true},
	{"debounce 00", "rotation: {debounce: 00}", true},
	{"debounce 2s", "rotation: {debounce: 2s}", true},
	{"debounce 1", "rotation: {debounce: 1}", false},
	{"debounce negative", "rotation: {debounce: -2s}", false},

	{"jitter 10%", "rotation: {jitter: 10%}", true},
	{"jitter 50.0%", "rotation: {jitter: 50.0%}", true},
	{"jitter .5%", "rotation: {jitter: .5%}", true},
	{"jitter 0%", "rotation: {jitter: 0%}", true},
	{"jitter 50.1%", "rotation: {jitter: 50.1%}", false},
	{"jitter 90%", "rotation: {jitter: 90%}", false},
	{"jitter fraction", "rotation: {jitter: 0.1}", true},
	{"jitter fraction quoted", `rotation: {jitter: "0.1"}`, true},
	{"jitter half", "rotation: {jitter: 0.5}", true},
	{"jitter zero", "rotation: {jitter: 0}", true},
	{"jitter exponent", "rotation: {jitter: 1e-1}", true},
	{"jitter exponent quoted", `rotation: {jitter: "1e-1"}`, false},
	{"jitter 0.6", "rotation: {jitter: 0.6}", false},
	{"jitter 10", "rotation: {jitter: 10}", false},
	{"jitter negative", `rotation: {jitter: "-1%"}`, false},
	{"jitter spaces", `rotation: {jitter: " 10%"}`, false},
	{"jitter NaN text", `rotation: {jitter: "NaN"}`, false},

	{"concurrency", "stores: {concurrency: 16}", true},
	{"concurrency 16.0", "stores: {concurrency: 16.0}", true},
	{"concurrency 0", "stores: {concurrency: 0}", false},
	{"concurrency 257", "stores: {concurrency: 257}", false},
	{"concurrency quoted", `stores: {concurrency: "16"}`, false},

	{"env null", "env:", true},
	{"env list", "env: [a]", false},
	{"profile env null", "profiles: {dev: {env: }}", true},
	{"value number", "env: {PORT: {value: 3000}}", true},
	{"value boolean", "env: {DEBUG: {value: true}}", true},
	// mask is a ref's or a template's: on a value it was taken and did
	// nothing (mask: true left the value unmasked).
	{"value mask true", "env: {A: {value: x, mask: true}}", false},
	{"value mask false", "env: {A: {value: x, mask: false}}", false},
	{"ref mask false", "env: {A: {ref: local://a/b, mask: false}}", true},
	{"template mask false", "env: {A: {template: '{{ .B }}', mask: false}, B: local://a/b}", true},
	{"template number", "env: {A: {template: 42}}", false},
	{"ref number", "env: {A: {ref: 42}}", false},
	{"inherit number", "inherit: [PATH, 1]", false},
	{"deny boolean", "deny: [true]", false},

	{"vault address empty", `stores: {vault: {address: ""}}`, true},
	{"vault address no scheme", "stores: {vault: {address: vault.internal}}", false},
	// A Vault Agent or Proxy's socket, as VAULT_ADDR and the CLI's
	// -address take it: both refused it.
	{"vault address unix socket", "stores: {vault: {address: \"unix:///run/vault/agent.sock\"}}", true},
	{"vault address unix relative", "stores: {vault: {address: \"unix://agent.sock\"}}", false},
	// A password before the host, which an error naming the address
	// printed.
	{"vault address user and password", "stores: {vault: {address: \"https://u:pw@vault.internal:8200\"}}", false},
	{"vault address user", "stores: {vault: {address: \"https://u@vault.internal\"}}", false},
	{"vault address @ in the path", "stores: {vault: {address: \"https://vault.internal:8200/v@1\"}}", false},
	{"vault address password with a slash", "stores: {vault: {address: \"http://u:pa/ss@vault.internal\"}}", false},
	{"vault token_file empty", `stores: {vault: {auth: {method: token_file, token_file: ""}}}`, false},
	{"vault role empty", `stores: {vault: {auth: {method: jwt, role: ""}}}`, false},
	{"vault approle env", `stores: {vault: {auth: {method: approle, role_id_env: MY_ROLE}}}`, true},
	{"vault approle empty", `stores: {vault: {auth: {method: approle, role_id: ""}}}`, false},
	{"gcp endpoint empty", `stores: {gcp: {endpoint: ""}}`, true},
	{"gcp endpoint upper", "stores: {gcp: {endpoint: HTTPS://secretmanager.googleapis.com/}}", true},
	{"gcp endpoint query", `stores: {gcp: {endpoint: "https://x.googleapis.com/?a=1"}}`, false},
	{"gcp endpoint no host", "stores: {gcp: {endpoint: https:///x}}", false},
	{"gcp quota project", "stores: {gcp: {quota_project: my-billing}}", true},
	{"gcp quota project bad", "stores: {gcp: {quota_project: Billing}}", false},
	{"aws region", "stores: {aws: {region: eu-west-1}}", true},
	{"aws region empty", `stores: {aws: {region: ""}}`, true},
	{"aws region typo", "stores: {aws: {region: eu-west1}}", false},
	{"aws region upper", "stores: {aws: {region: EU-WEST-1}}", false},
	{"aws timeout", "stores: {aws: {timeout: 10s}}", true},
	{"aws timeout zero", "stores: {aws: {timeout: 0s}}", false},
	{"azure authority empty", `stores: {azure: {authority_host: ""}}`, true},
	{"azure authority http", "stores: {azure: {authority_host: http://login.example}}", false},
}

func (tt agreeCase) text() string {
	if strings.HasPrefix(tt.doc, "version:") {
		return tt.doc
	}
	return "version: 1\n" + tt.doc
}

// TestReferencePatterns checks each scheme's Pattern, and the schema's
// reference, against the registry's parser: every valid reference matches
// its scheme's pattern and passes the schema; invalid ones fail the
// schema too, except the few a pattern cannot see (looser says why).
func TestReferencePatterns(t *testing.T) {
	sch := compileSchema(t)
	for _, tt := range referenceCases {
		t.Run(tt.ref, func(t *testing.T) {
			_, parseErr := stores.Registry.ParseRef(tt.ref)
			if got := parseErr == nil; got != tt.valid {
				t.Fatalf("parser: got valid=%v, want %v (%v)", got, tt.valid, parseErr)
			}
			text, err := yaml.Marshal(map[string]any{"version": 1, "env": map[string]any{"A": tt.ref}})
			if err != nil {
				t.Fatal(err)
			}
			doc, err := yamlToJSON(text)
			if err != nil {
				t.Fatal(err)
			}
			schemaErr := sch.Validate(doc)
			switch {
			case tt.valid && schemaErr != nil:
				t.Errorf("the schema refuses a valid reference: %v", schemaErr)
			case !tt.valid && tt.looser == "" && schemaErr == nil:
				t.Errorf("the schema accepts an invalid reference (%v)", parseErr)
			case !tt.valid && tt.looser != "" && schemaErr != nil:
				t.Errorf("the schema refuses it, which looser says it cannot (%s): clear looser", tt.looser)
			}
			if tt.valid {
				checkSchemePattern(t, tt.ref)
			}
		})
	}
}

// FuzzReferencePattern checks Scheme.Pattern's promise: every reference
// the registry parses matches its scheme's pattern.
func FuzzReferencePattern(f *testing.F) {
	for _, tt := range referenceCases {
		f.Add(tt.ref)
	}
	f.Fuzz(func(t *testing.T, ref string) {
		if _, err := stores.Registry.ParseRef(ref); err == nil {
			checkSchemePattern(t, ref)
		}
	})
}

func checkSchemePattern(t *testing.T, ref string) {
	t.Helper()
	scheme, _, _ := strings.Cut(ref, "://")
	pattern := stores.Registry.Scheme(scheme).Pattern()
	if !regexp.MustCompile(pattern).MatchString(ref) {
		t.Errorf("valid reference %q does not match its scheme's pattern %s", ref, pattern)
	}
}

var referenceCases = []struct {
	ref    string
	valid  bool
	looser string // why the schema accepts this invalid reference
}{
	{"vault://secret/myapp/db#url", true, ""},
	{"vault://secret/a?version=3", true, ""},
	{"vault://secret/a#f?version=3", true, ""},
	{"vault://secret/a?version=3#f", true, ""},
	{"vault://secret/a?version=007", true, ""},
	{"vault://secret/a?", true, ""},
	{"vault://secret/a?&version=1&", true, ""},
	{"vault://secret/a?version=%31", true, ""},
	{"vault://secret/a?versio%6E=1", true, ""},
	{"vault://secret/a?versio%6E=x", false, "a %-escaped option could be any option"},
	{"vault://secret/a?version=0", false, ""},
	{"vault://secret/a?version=zero", false, ""},
	{"vault://secret/a?version=1&version=2", false, ""},
	{"vault://secret/a?stage=x", false, ""},
	{"vault://secret/a?version=1;x=2", false, ""},
	{"vault:///secret/a", false, ""},
	{"vault://secret", false, ""},
	{"vault://secret/", false, ""},
	{"vault://secret//a", false, ""},
	{"vault://secret/a#", false, ""},
	{"vault://secret/a#f#g", false, ""},
	{"vault://secret/a?version=1#", false, ""},

	{"awssm://prod/myapp/stripe#secret_key", true, ""},
	{"awssm://arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/x-AbCdEf", true, ""},
	{"awssm://x?stage=AWSPREVIOUS", true, ""},
	{"awssm://x?version_id=abc-123", true, ""},
	{"awssm://x?stage=AWS+CURRENT", true, ""},
	{"awssm://x#f?stage=A#B", true, ""},
	{"awssm://x?stage=a&version_id=b", false, ""},
	{"awssm://x?stage=", false, ""},
	{"awssm://x?stage", false, ""},
	{"awssm://x?version=1", false, ""},

	{"ssm:///myapp/prod/flag", true, ""},
	{"ssm://myapp", true, ""},
	{"ssm:///a?version=2", true, ""},
	{"ssm:///a#f", true, ""},
	{"ssm:///a//b", false, ""},
	{"ssm:///a/", false, ""},
	{"ssm:///", false, ""},
	{"ssm:///a?version=x", false, ""},
	{"ssm://app/prod/db", false, ""},
	{"ssm://arn:aws:ssm:eu-west-1:123456789012:parameter/app/prod/db", true, ""},
	{"ssm://arn:aws:ssm:eu-west-1:123456789012:parameter/flag?version=2", true, ""},
	{"ssm://arn:/0", false, ""},
	{"ssm://arn:x/0", false, ""},
	{"ssm://arn:aws:secretsmanager:eu-west-1:123456789012:secret:x/y", false, ""},
	{"ssm://arn:aws:ssm:eu-west-1:123456789012:parameter", false, ""},
	{"ssm://arn:aws:ssm:eu-west-1:1234:parameter/a", false, ""},
	{"ssm://a:b", false, ""},
	{"ssm://arn:aws-us-gov:ssm:us-gov-west-1:123456789012:parameter/a", true, ""},
	{"ssm://arn:aws:ssm:eu-west1:123456789012:parameter/a", false, ""},
	{"awssm://arn:aws:secretsmanager:eu-west1:123456789012:secret:x", false, ""},
	{"awssm://arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:x#f", true, ""},
	{"awssm://x:AWSPREVIOUS", false, ""},

	{"gcpsm://my-project/db-password", true, ""},
	{"gcpsm://my-project/db-password#password?version=3&location=europe-west1", true, ""},
	{"gcpsm://projects/my-project/secrets/db/versions/latest", true, ""},
	{"gcpsm://projects/123456/locations/us-east1/secrets/db", true, ""},
	{"gcpsm://example.com:my-project/db", true, ""},
	{"gcpsm://projects/db", true, ""},
	{"gcpsm://my-project/db?version=latest", true, ""},
	{"gcpsm://my-project/db-password/3", false, ""},
	{"gcpsm://My-Project/db", false, ""},
	{"gcpsm://proj/db", false, ""},
	{"gcpsm://my-project/db.pw", false, ""},
	{"gcpsm://my-project/db?version=0", false, ""},
	{"gcpsm://my-project/db?version=prod", true, ""},
	{"gcpsm://projects/my-project/secrets/db/versions/blue_2", true, ""},
	{"gcpsm://my-project/db?version=New", false, "Google refuses new and latest in any case as aliases: a negative lookahead"},
	{"gcpsm://my-project/db?version=2x", false, ""},
	{"gcpsm://my-project/db?location=EU", false, ""},
	{"gcpsm://my-project/db?region=x", false, ""},
	{"gcpsm://projects/my-project/secrets", false, ""},
	{"gcpsm://projects/my-project/secrets/db/versions/3?version=4", false, "a version in the path and in ?version: a relation between two parts"},

	{"azkv://myvault/db-password", true, ""},
	{"azkv://myvault/db-password#password?version=0123456789abcdef0123456789abcdef", true, ""},
	{"azkv://myvault.vault.azure.cn/db", true, ""},
	{"azkv://127.0.0.1:8443/db", true, ""},
	{"azkv://[::1]:8443/db", true, ""},
	{"azkv://myvault/db_password", false, ""},
	{"azkv://myvault/a/b", false, ""},
	{"azkv://my/db", false, ""},
	{"azkv://myvault", false, ""},
	{"azkv://myvault/db?version=short", false, ""},
	{"azkv://myvault/db?stage=x", false, ""},
	{"azkv://my--vault/db", false, "no two hyphens in a row, with the length bounds, needs a lookahead"},
	{"azkv://kv.managedhsm.azure.net/db", false, "which hosts are Managed HSMs: a host is checked by its domains"},
	{"azkv://127.0.0.1:0/db", false, "a port's range"},

	{"local://myapp/api_token", true, ""},
	{"local://myapp/db#password", true, ""},
	{"local://a/b?", true, ""},
	{"local://a.b-c_d", true, ""},
	{"local://x/y ", false, ""},
	{"local://../x", false, ""},
	{"local://a//b", false, ""},
	{"local://a/-b", false, ""},
	{"local://a/b?x=1", false, ""},
	{"local://", false, ""},

	{"env://CI_TOKEN", true, ""},
	{"env://CI_JSON#user", true, ""},
	{"env://1X", false, ""},
	{"env://A-B", false, ""},
	{"env://X?x=1", false, ""},

	{"file:///run/secrets/x", true, ""},
	{"file:///run/secrets/x#f", true, ""},
	{"file://run/x", false, ""},
	{"file:///x?mode=1", false, ""},

	{"creds://db-password", true, ""},
	{"creds://a@b:c", true, ""},
	{"creds://-x", false, ""},
	{"creds://a/b", false, ""},

	{"nope://x", false, ""},
	{"LOCAL://a", false, ""},
}
