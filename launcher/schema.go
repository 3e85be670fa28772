package launcher

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/wardsecrets/ward/resolve"
)

//go:generate go test -run ^TestSchemaFile$ -update-schema .

// SchemaURL is where the manifest's JSON Schema is published; manifests
// that ward writes point editors at it with a yaml-language-server
// modeline.
const SchemaURL = "https://raw.githubusercontent.com/wardsecrets/ward/main/schema/ward.schema.json"

// SchemaModeline is the first line of every manifest ward writes: it lets
// editors running yaml-language-server validate and complete the file.
const SchemaModeline = "# yaml-language-server: $schema=" + SchemaURL

// Schema returns the JSON Schema (draft 2020-12) of ward.yaml, built from
// manifestShape. schema/ward.schema.json is its checked-in rendering, and
// a test checks that the schema and ParseManifest agree on every field.
func Schema() map[string]any {
	s := manifestShape.json()
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = SchemaURL
	s["title"] = "ward manifest (ward.yaml)"
	defs := map[string]any{}
	for name, d := range schemaDefs {
		defs[name] = d.json()
	}
	s["$defs"] = defs
	return s
}

// SchemaJSON returns Schema as indented JSON with a final newline, as
// schema/ward.schema.json holds it.
func SchemaJSON() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(Schema()); err != nil {
		// The schema is built from constants: failing to encode it is a
		// bug in this file.
		panic("encode the manifest schema: " + err.Error())
	}
	return b.Bytes()
}

// shape describes one node of the manifest for the schema: a small
// declarative mirror of what the parser in manifest.go accepts.
type shape struct {
	kind     string // object, map, array, string, integer, boolean, number, scalar, or "" (alternatives only)
	desc     string
	fields   []prop // object: its keys, in the order the docs show them
	required []string
	keys     *shape // map: what its keys must look like
	elems    *shape // map values, array items
	pattern  string
	enum     []string
	min, max *int
	fmin     *float64
	fmax     *float64
	oneOf    []*shape
	anyOf    []*shape
	allOf    []map[string]any // object: conditions between its fields (if/then)
	def      string           // a reference to schemaDefs[def]
	constant any
	examples []any
}

type prop struct {
	name  string
	shape *shape
}

func (s *shape) json() map[string]any {
	if s.def != "" {
		out := map[string]any{"$ref": "#/$defs/" + s.def}
		if s.desc != "" {
			out["description"] = s.desc
		}
		return out
	}
	out := map[string]any{}
	if s.desc != "" {
		out["description"] = s.desc
	}
	switch s.kind {
	case "":
	case "scalar":
		out["type"] = []string{"string", "number", "boolean"}
	case "map":
		out["type"] = "object"
	default:
		out["type"] = s.kind
	}
	switch s.kind {
	case "object":
		props := map[string]any{}
		for _, f := range s.fields {
			props[f.name] = f.shape.json()
		}
		out["properties"] = props
		out["additionalProperties"] = false
	case "map":
		if s.keys != nil {
			out["propertyNames"] = s.keys.json()
		}
		out["additionalProperties"] = s.elems.json()
	case "array":
		out["items"] = s.elems.json()
	}
	if len(s.required) > 0 {
		out["required"] = s.required
	}
	if s.pattern != "" {
		out["pattern"] = s.pattern
	}
	if len(s.enum) > 0 {
		out["enum"] = s.enum
	}
	if s.min != nil {
		out["minimum"] = *s.min
	}
	if s.max != nil {
		out["maximum"] = *s.max
	}
	if s.fmin != nil {
		out["minimum"] = *s.fmin
	}
	if s.fmax != nil {
		out["maximum"] = *s.fmax
	}
	if s.constant != nil {
		out["const"] = s.constant
	}
	if len(s.oneOf) > 0 {
		out["oneOf"] = shapesJSON(s.oneOf)
	}
	if len(s.anyOf) > 0 {
		out["anyOf"] = shapesJSON(s.anyOf)
	}
	if len(s.allOf) > 0 {
		out["allOf"] = s.allOf
	}
	if len(s.examples) > 0 {
		out["examples"] = s.examples
	}
	return out
}

func shapesJSON(ss []*shape) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s.json()
	}
	return out
}

func strShape(desc string, examples ...any) *shape {
	return &shape{kind: "string", desc: desc, examples: examples}
}

func boolShape(desc string) *shape { return &shape{kind: "boolean", desc: desc} }

func intShape(desc string, lo, hi int, example int) *shape {
	return &shape{kind: "integer", desc: desc, min: &lo, max: &hi, examples: []any{example}}
}

func enumShape(desc string, choices ...string) *shape {
	return &shape{kind: "string", desc: desc, enum: choices}
}

func defShape(def, desc string) *shape { return &shape{def: def, desc: desc} }

func objShape(desc string, fields ...prop) *shape {
	return &shape{kind: "object", desc: desc, fields: fields}
}

func withRequired(s *shape, names ...string) *shape {
	s.required = names
	return s
}

func requiresShape(names ...string) *shape { return &shape{required: names} }

// ifThen says: when the field is set to value, the object also needs
// then (a JSON Schema fragment).
func ifThen(field, value string, then map[string]any) map[string]any {
	return map[string]any{
		"if":   map[string]any{"properties": map[string]any{field: map[string]any{"const": value}}, "required": []string{field}},
		"then": then,
	}
}

func requiredJSON(names ...string) map[string]any { return map[string]any{"required": names} }

func anyRequiredJSON(names ...string) map[string]any {
	alts := make([]any, len(names))
	for i, n := range names {
		alts[i] = requiredJSON(n)
	}
	return map[string]any{"anyOf": alts}
}

// Patterns the parser checks, written for ECMA-262 regular expressions.
const (
	envNamePattern   = `^[A-Za-z_][A-Za-z0-9_]*$`
	wildcardPattern  = `^[A-Za-z0-9_*]+$`
	durationPattern  = `^([0-9]*\.?[0-9]+(ns|us|µs|ms|s|m|h))+$`
	signalPattern    = `^([Ss][Ii][Gg])?[A-Za-z0-9]+$`
	modePattern      = `^0*[4-7][0-7]{2}$`
	percentPattern   = `^(50(\.0+)?|[1-4]?[0-9](\.[0-9]+)?)%$`
	httpURLPattern   = `^https?://`
	vaultAuthMethods = "token token_file approle kubernetes jwt"
)

// referencePattern matches SCHEME://... for every scheme resolve knows.
var referencePattern = "^(" + strings.Join(resolve.Schemes, "|") + ")://.+"

var (
	schemaZero = 0.0
	schemaHalf = 0.5
)

// schemaDefs are the shapes used in more than one place.
var schemaDefs = map[string]*shape{
	"reference": {
		kind:    "string",
		desc:    "A secret reference: SCHEME://PATH[#FIELD][?OPTIONS], with SCHEME one of " + strings.Join(resolve.Schemes, ", ") + ".",
		pattern: referencePattern,
		examples: []any{
			"local://myapp/api_token",
			"vault://secret/myapp/db#url",
			"awssm://prod/myapp/stripe#secret_key",
			"ssm:///myapp/prod/flag",
			"file:///run/secrets/db_password",
			"creds://db-password",
			"env://CI_DEPLOY_TOKEN",
		},
	},
	"env": {
		kind:     "map",
		desc:     "Variables given to the program: NAME: reference, or NAME: {value|ref|template: ...}.",
		keys:     &shape{pattern: envNamePattern},
		elems:    defShape("envEntry", ""),
		examples: []any{map[string]any{"API_TOKEN": "local://myapp/api_token"}},
	},
	"envEntry": {
		desc: "A reference string, or a mapping with exactly one of value, ref or template.",
		oneOf: []*shape{
			defShape("reference", ""),
			withRequired(objShape("A plain value, not a secret.",
				prop{"value", &shape{kind: "scalar", desc: "The value, as written.", examples: []any{"info"}}}), "value"),
			withRequired(objShape("A secret reference, as a mapping.",
				prop{"ref", defShape("reference", "")}), "ref"),
			withRequired(objShape("A value composed from the manifest's variables with Go text/template ({{ .NAME }}, with urlquery, json, shell, base64); the result counts as a secret.",
				prop{"template", strShape("The template.", "postgres://app@db:5432/app?sslmode=require")}), "template"),
		},
	},
	"files": {
		kind: "array",
		desc: "Secret files written under ward's private tmpfs directory.",
		elems: &shape{
			kind: "object",
			desc: "One secret file: a path and exactly one of ref or template.",
			fields: []prop{
				{"path", strShape("Relative to ward's private directory; clean, and it cannot leave it.", "tls/key.pem")},
				{"ref", defShape("reference", "The secret written to the file.")},
				{"template", strShape("A Go text/template over the manifest's variables, rendered into the file.", `{"region": "eu-west-1"}`)},
				{"mode", &shape{kind: "string", desc: `Octal file mode, owner-readable (default "0400"); quote it.`, pattern: modePattern, examples: []any{"0400"}}},
				{"env", &shape{kind: "string", desc: "A variable that gives the program the file's full path.", pattern: envNamePattern, examples: []any{"TLS_KEY_FILE"}}},
			},
			required: []string{"path"},
			oneOf:    []*shape{requiresShape("ref"), requiresShape("template")},
		},
	},
	"patterns": {
		kind:  "array",
		desc:  "Variable names and * wildcards.",
		elems: &shape{kind: "string", pattern: wildcardPattern, examples: []any{"APP_*"}},
	},
	"duration": {
		kind:     "string",
		desc:     "A Go duration such as 30s, 5m or 1h30m.",
		pattern:  durationPattern,
		examples: []any{"30s"},
	},
	"signal": {
		kind:     "string",
		desc:     "A catchable signal's name (SIGTERM, HUP) or number.",
		pattern:  signalPattern,
		examples: []any{"SIGTERM", "SIGHUP", "SIGUSR1"},
	},
}

// manifestShape is ward.yaml, field by field, as manifest.go parses it.
var manifestShape = withRequired(objShape("ward's manifest: the secrets a program needs, as references to the stores that hold them.",
	prop{"version", &shape{kind: "integer", desc: "The manifest format: 1.", constant: 1}},
	prop{"stores", objShape("Store settings; absent stores take their defaults from the usual environment (VAULT_ADDR, AWS_REGION...).",
		prop{"concurrency", intShape("Fetches in flight at once (default 16).", 1, 256, 16)},
		prop{"vault", objShape("HashiCorp Vault.",
			prop{"address", &shape{kind: "string", desc: "Default $VAULT_ADDR.", pattern: httpURLPattern, examples: []any{"https://vault.internal:8200"}}},
			prop{"namespace", strShape("Default $VAULT_NAMESPACE.", "team-a")},
			prop{"ca_cert", strShape("Default $VAULT_CACERT.", "/etc/ssl/vault-ca.pem")},
			prop{"ca_path", strShape("Default $VAULT_CAPATH.", "/etc/ssl/vault-cas")},
			prop{"client_cert", strShape("Default $VAULT_CLIENT_CERT.", "/etc/ssl/client.pem")},
			prop{"client_key", strShape("Default $VAULT_CLIENT_KEY.", "/etc/ssl/client-key.pem")},
			prop{"tls_server_name", strShape("The name to verify in the server's certificate.", "vault.internal")},
			prop{"skip_verify", boolShape("Skip TLS verification (logs a warning). Default $VAULT_SKIP_VERIFY.")},
			prop{"timeout", defShape("duration", "Per-request timeout.")},
			prop{"max_retries", intShape("Retries with backoff on 5xx and connection errors.", 0, 20, 3)},
			prop{"auth", &shape{
				kind: "object",
				desc: "How ward logs in to Vault.",
				fields: []prop{
					{"method", enumShape("The auth method.", strings.Fields(vaultAuthMethods)...)},
					{"mount", strShape("The auth mount (default: the method's name).", "approle")},
					{"role", strShape("The role (kubernetes, jwt).", "myapp")},
					{"token_file", strShape("A token file, e.g. a Vault Agent sink (token_file).", "/run/vault/token")},
					{"role_id", strShape("The AppRole role id.", "db02de05-fa39-4855-059b-67221c5c2f63")},
					{"role_id_file", strShape("A file holding the AppRole role id.", "/run/secrets/role-id")},
					{"role_id_env", strShape("A variable holding the AppRole role id.", "VAULT_ROLE_ID")},
					{"secret_id_file", strShape("A file holding the AppRole secret id.", "/run/secrets/secret-id")},
					{"secret_id_env", strShape("A variable holding the AppRole secret id.", "VAULT_SECRET_ID")},
					{"wrapped_secret_id", boolShape("The secret id is response-wrapped.")},
					{"jwt_file", strShape("A file holding the JWT (kubernetes, jwt).", "/var/run/secrets/kubernetes.io/serviceaccount/token")},
					{"jwt_env", strShape("A variable holding the JWT (jwt), e.g. a CI OIDC token.", "CI_JOB_JWT_V2")},
				},
				required: []string{"method"},
				allOf: []map[string]any{
					ifThen("method", "token_file", requiredJSON("token_file")),
					ifThen("method", "approle", anyRequiredJSON("role_id", "role_id_file", "role_id_env")),
					ifThen("method", "kubernetes", requiredJSON("role")),
					ifThen("method", "jwt", requiredJSON("role")),
				},
			}},
		)},
		prop{"aws", objShape("AWS Secrets Manager and SSM Parameter Store.",
			prop{"region", strShape("Default $AWS_REGION or the shared config.", "eu-west-1")},
			prop{"profile", strShape("Default $AWS_PROFILE.", "prod")},
		)},
	)},
	prop{"env", defShape("env", "")},
	prop{"files", defShape("files", "")},
	prop{"inherit", &shape{
		desc: "Which of ward's variables the program inherits: all (minus credentials), none, or names and * patterns.",
		oneOf: []*shape{
			enumShape("", "all", "none"),
			defShape("patterns", ""),
		},
	}},
	prop{"deny", defShape("patterns", "Variables never passed from ward's environment.")},
	prop{"mask", boolShape("Replace secret values in the program's output with <ward:NAME>.")},
	prop{"rotation", objShape("What happens when a secret changes.",
		prop{"on_change", enumShape("Restart the program, signal it, or do nothing (default restart).", "restart", "signal", "none")},
		prop{"signal", defShape("signal", "The signal for on_change: signal (default SIGHUP).")},
		prop{"poll", defShape("duration", "How often to poll stores that cannot push changes (at least 1s; default 5m).")},
		prop{"jitter", &shape{
			desc: "Random spread of poll times: 0% to 50% (default 10%).",
			anyOf: []*shape{
				{kind: "string", pattern: percentPattern, examples: []any{"10%"}},
				{kind: "number", fmin: &schemaZero, fmax: &schemaHalf, examples: []any{0.1}},
			},
		}},
		prop{"debounce", &shape{
			desc: "Changes within this window cause one restart (default 2s); 0 turns it off.",
			anyOf: []*shape{
				defShape("duration", ""),
				{kind: "integer", constant: 0},
			},
		}},
		prop{"stop_signal", defShape("signal", "The signal that asks the program to stop (default SIGTERM).")},
		prop{"stop_timeout", defShape("duration", "How long to wait after stop_signal before SIGKILL (default 30s).")},
		prop{"on_expired", enumShape("When a lease expires and cannot be renewed: keep the program running, or stop it (default keep).", "keep", "stop")},
		prop{"revoke_on_exit", boolShape("Revoke the dynamic leases ward created when it exits (default true).")},
	)},
	prop{"profiles", &shape{
		kind: "map",
		desc: "Named variations (ward run -p NAME): their variables and files replace or add to the base ones.",
		elems: objShape("One profile.",
			prop{"env", defShape("env", "")},
			prop{"files", defShape("files", "")},
		),
		examples: []any{map[string]any{"dev": map[string]any{"env": map[string]any{"API_TOKEN": "local://myapp/api_token"}}}},
	}},
), "version")
