// Package vault is what ward knows about HashiCorp Vault without Vault's
// API client: the vault:// reference grammar, the stores.vault settings
// (decoded with their positions, and their JSON Schema), the auth methods
// and the variables they read credentials from. The store itself, on
// github.com/hashicorp/vault/api, is in vault/store and runs in the helper
// program ward-vault, so that a ward without Vault references never pays
// for the API client's start-up.
package vault

import (
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
)

// Scheme is vault://MOUNT/PATH.
const Scheme = "vault"

// pathPattern is a Vault path: a mount and at least one segment
// (Go and ECMA-262 alike, unanchored).
const pathPattern = `[^/#?]+(/[^/#?]+)+`

// DocumentPattern is a vault:// reference to a whole document with no
// option, anchored: what an identity reads its credentials from (an AWS
// secrets engine role's credentials), written as the schema needs it.
func DocumentPattern() string { return `^` + Scheme + `://` + pathPattern + `(\?&*)?$` }

// AWSCredsExample is a role of Vault's AWS secrets engine, for hints.
const AWSCredsExample = Scheme + "://aws/creds/deploy"

// Kind is Vault in ward's registry.
var Kind = &resolve.Kind{
	Name: Scheme,
	Schemes: []*resolve.Scheme{{
		Name:       Scheme,
		Summary:    "HashiCorp Vault: KV v1 and v2, dynamic secrets with leases",
		Example:    "vault://secret/myapp/db#url",
		ExampleVar: "DATABASE_URL",
		Check:      checkRef,
		Pattern: func() string {
			return conf.RefPattern(Scheme, pathPattern, true, conf.RefOption{Name: "version", Value: `0*[1-9][0-9]*`})
		},
		Refresh: resolve.Polled,
	}},
	NewOptions: func() resolve.Options { return &Options{} },
}

func checkRef(r *resolve.Ref) *resolve.RefError {
	if strings.HasPrefix(r.Path, "/") {
		return &resolve.RefError{Msg: "path starts with '/'", Hint: "write vault://MOUNT/PATH, e.g. vault://secret/myapp/db#password"}
	}
	if strings.Contains(r.Path, "//") || strings.HasSuffix(r.Path, "/") || !strings.Contains(r.Path, "/") {
		return &resolve.RefError{Msg: "want MOUNT/PATH with no empty segment", Hint: "e.g. vault://secret/myapp/db#password"}
	}
	if err := resolve.AllowOptions(r, "version"); err != nil {
		return err
	}
	return resolve.PositiveIntOption(r, "version")
}

// The defaults the Vault CLI uses where nothing is set.
const (
	// DefaultAddress is Vault's own default address.
	DefaultAddress = "https://127.0.0.1:8200"
	// DefaultTimeout bounds one request, its retries included.
	DefaultTimeout = 60 * time.Second
	// DefaultMaxRetries is how often a request is retried after a 5xx
	// answer or a connection error.
	DefaultMaxRetries = 2
	// DefaultKubernetesJWTFile is where Kubernetes mounts a pod's service
	// account token.
	DefaultKubernetesJWTFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
)

// addressPattern is an http:// or https:// address, a unix socket's
// (unix:///PATH, as VAULT_ADDR and the CLI take a Vault Agent or Proxy's),
// or nothing (VAULT_ADDR, then Vault's default). The scheme http or https
// in any case, as URLs and VAULT_ADDR take it (HTTPS://vault:8200 was
// refused here and taken from VAULT_ADDR); unix only in lower case, as
// the Vault client tells a socket by that prefix.
// An "@" anywhere is refused (see HasUserinfo): a user name and password
// before the host (https://USER:PASSWORD@HOST), which Vault takes none
// of, and an error that named the address printed the password.
const addressPattern = `^(([hH][tT][tT][pP][sS]?://[^/?#@]*([/?#][^@]*)?)|(unix:///[^@]*))?$`

// HasUserinfo reports whether addr may hold a user name or password
// before its host (USER:PASSWORD@HOST): whether it holds an "@" at all,
// whatever its scheme, or with none, or mistyped (https//u:p@h), and
// however the password is written (one with a "/", "?" or "#" in it ends
// the host before its "@" to a URL parser). Vault takes none there, and
// such an address is never named in an error or a log record, which
// would print the password.
func HasUserinfo(addr string) bool {
	return strings.Contains(addr, "@")
}

// Options are the stores.vault settings. Empty settings fall back to the
// Vault CLI's own environment variables (VAULT_ADDR, VAULT_NAMESPACE,
// VAULT_CACERT, VAULT_CAPATH, VAULT_CLIENT_CERT, VAULT_CLIENT_KEY,
// VAULT_TLS_SERVER_NAME, VAULT_SKIP_VERIFY, VAULT_CLIENT_TIMEOUT,
// VAULT_MAX_RETRIES), then to Vault's defaults; VAULT_CACERT_BYTES,
// VAULT_PROXY_ADDR and VAULT_RATE_LIMIT, which have no setting, apply
// too.
type Options struct {
	// Address is the Vault server's URL.
	Address string `json:"address,omitempty"`
	// Namespace is the Vault Enterprise namespace to work in.
	Namespace string `json:"namespace,omitempty"`
	// CACert is a PEM file of CA certificates to trust.
	CACert string `json:"ca_cert,omitempty"`
	// CAPath is a directory of PEM CA certificates to trust.
	CAPath string `json:"ca_path,omitempty"`
	// ClientCert is the PEM file of a TLS client certificate, for Vault's
	// cert auth or a server that asks for one.
	ClientCert string `json:"client_cert,omitempty"`
	// ClientKey is the private key of ClientCert.
	ClientKey string `json:"client_key,omitempty"`
	// TLSServerName is the name to expect in the server's certificate.
	TLSServerName string `json:"tls_server_name,omitempty"`
	// SkipVerify turns TLS certificate verification off (logged as a
	// warning). Nil means VAULT_SKIP_VERIFY decides.
	SkipVerify *bool `json:"skip_verify,omitempty"`
	// Timeout bounds one request, its retries included; 0 means
	// VAULT_CLIENT_TIMEOUT or DefaultTimeout.
	Timeout time.Duration `json:"timeout,omitempty"`
	// MaxRetries is how often a request is retried, with backoff, after a
	// 5xx answer or a connection error. Nil means VAULT_MAX_RETRIES or
	// DefaultMaxRetries.
	MaxRetries *int `json:"max_retries,omitempty"`
	// Auth says how ward logs in.
	Auth Auth `json:"auth"`
}

// Method is a Vault auth method ward can log in with.
type Method string

// The auth methods.
const (
	// MethodToken uses VAULT_TOKEN or ~/.vault-token (the default).
	MethodToken Method = "token"
	// MethodTokenFile reads the token a Vault Agent sink writes.
	MethodTokenFile Method = "token_file"
	// MethodAppRole logs in with a role_id and a secret_id.
	MethodAppRole Method = "approle"
	// MethodKubernetes logs in with the pod's service account token.
	MethodKubernetes Method = "kubernetes"
	// MethodJWT logs in with a JWT, such as a CI job's OIDC token.
	MethodJWT Method = "jwt"
)

// Methods lists the auth methods in the order the docs show them.
var Methods = []Method{MethodToken, MethodTokenFile, MethodAppRole, MethodKubernetes, MethodJWT}

func methodNames() []string {
	names := make([]string, len(Methods))
	for i, m := range Methods {
		names[i] = string(m)
	}
	return names
}

// Auth configures how ward logs in to Vault.
type Auth struct {
	// Method is the auth method; empty means MethodToken.
	Method Method `json:"method,omitempty"`
	// Mount is where the auth method is enabled; it defaults to the
	// method's name (approle, kubernetes, jwt).
	Mount string `json:"mount,omitempty"`
	// Role is the role to log in as (kubernetes, jwt).
	Role string `json:"role,omitempty"`
	// TokenFile is the file a Vault Agent sink writes the token to
	// (token_file). It is read again when it changes.
	TokenFile string `json:"token_file,omitempty"`
	// RoleID is the AppRole role_id itself; it is not a secret.
	RoleID string `json:"role_id,omitempty"`
	// RoleIDFile is a file holding the role_id.
	RoleIDFile string `json:"role_id_file,omitempty"`
	// RoleIDEnv names the variable holding the role_id; VAULT_ROLE_ID by
	// default.
	RoleIDEnv string `json:"role_id_env,omitempty"`
	// SecretIDFile is a file holding the secret_id.
	SecretIDFile string `json:"secret_id_file,omitempty"`
	// SecretIDEnv names the variable holding the secret_id;
	// VAULT_SECRET_ID by default.
	SecretIDEnv string `json:"secret_id_env,omitempty"`
	// WrappedSecretID says the secret_id is a response-wrapping token to
	// unwrap first. Its default variable is then VAULT_WRAPPED_SECRET_ID,
	// then VAULT_SECRET_ID.
	WrappedSecretID bool `json:"wrapped_secret_id,omitempty"`
	// JWTFile is a file holding the JWT (jwt); kubernetes reads
	// DefaultKubernetesJWTFile unless it is set.
	JWTFile string `json:"jwt_file,omitempty"`
	// JWTEnv names the variable holding the JWT (jwt); VAULT_JWT by
	// default.
	JWTEnv string `json:"jwt_env,omitempty"`
}

// The variables the store reads credentials from by default.
const (
	EnvToken           = "VAULT_TOKEN"
	EnvRoleID          = "VAULT_ROLE_ID"
	EnvSecretID        = "VAULT_SECRET_ID"
	EnvWrappedSecretID = "VAULT_WRAPPED_SECRET_ID"
	EnvJWT             = "VAULT_JWT"
)

// CredentialEnv lists the environment variables the store may read a
// credential from under these options: the defaults and any custom name
// set in role_id_env, secret_id_env or jwt_env. None of them may reach
// the child.
func (o *Options) CredentialEnv() []string {
	names := []string{EnvToken, EnvRoleID, EnvSecretID, EnvWrappedSecretID, EnvJWT,
		// The client certificate's key is a credential too; the API
		// client reads its path from here.
		"VAULT_CLIENT_KEY", "VAULT_CLIENT_CERT"}
	for _, n := range []string{o.Auth.RoleIDEnv, o.Auth.SecretIDEnv, o.Auth.JWTEnv} {
		if n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// Decode reads stores.vault.
func (o *Options) Decode(d *conf.Decoder, n *yaml.Node, f string) {
	d.Fields(n, f, map[string]func(k, v *yaml.Node){
		"address":         d.SetStr(&o.Address, f+".address"),
		"namespace":       d.SetStr(&o.Namespace, f+".namespace"),
		"ca_cert":         d.SetStr(&o.CACert, f+".ca_cert"),
		"ca_path":         d.SetStr(&o.CAPath, f+".ca_path"),
		"client_cert":     d.SetStr(&o.ClientCert, f+".client_cert"),
		"client_key":      d.SetStr(&o.ClientKey, f+".client_key"),
		"tls_server_name": d.SetStr(&o.TLSServerName, f+".tls_server_name"),
		"skip_verify": func(_, v *yaml.Node) {
			if b, ok := d.Bool(v, f+".skip_verify"); ok {
				o.SkipVerify = &b
			}
		},
		"timeout": func(_, v *yaml.Node) { o.Timeout, _ = d.Duration(v, f+".timeout") },
		"max_retries": func(_, v *yaml.Node) {
			if i, ok := d.IntIn(v, f+".max_retries", 0, 20, "choose 0 to 20"); ok {
				o.MaxRetries = &i
			}
		},
		"auth": func(_, v *yaml.Node) { o.Auth.decode(d, v, f+".auth") },
	})
	if HasUserinfo(o.Address) {
		// Not named: the address holds a password, perhaps.
		d.Fail(n, f+".address", "Vault takes its token from VAULT_TOKEN or stores.vault.auth, never from the address: write https://HOST:PORT", "the address holds a user name or password (USER:PASSWORD@ before the host), or may: it has an @ in it")
	} else if o.Address != "" && !regexp.MustCompile(addressPattern).MatchString(o.Address) {
		d.Fail(n, f+".address", "write https://HOST:PORT, or unix:///PATH for a Vault Agent or Proxy's socket", "invalid address %q", o.Address)
	}
}

func (a *Auth) decode(d *conf.Decoder, n *yaml.Node, f string) {
	methods := methodNames()
	methodGiven := false
	d.Fields(n, f, map[string]func(k, v *yaml.Node){
		"method": func(_, v *yaml.Node) {
			methodGiven = true
			m, _ := d.OneOf(v, f+".method", methods...)
			a.Method = Method(m)
		},
		"mount":          d.SetStr(&a.Mount, f+".mount"),
		"role":           d.SetStr(&a.Role, f+".role"),
		"token_file":     d.SetFile(&a.TokenFile, f+".token_file"),
		"role_id":        d.SetStr(&a.RoleID, f+".role_id"),
		"role_id_file":   d.SetFile(&a.RoleIDFile, f+".role_id_file"),
		"role_id_env":    d.SetStr(&a.RoleIDEnv, f+".role_id_env"),
		"secret_id_file": d.SetFile(&a.SecretIDFile, f+".secret_id_file"),
		"secret_id_env":  d.SetStr(&a.SecretIDEnv, f+".secret_id_env"),
		"wrapped_secret_id": func(_, v *yaml.Node) {
			a.WrappedSecretID, _ = d.Bool(v, f+".wrapped_secret_id")
		},
		"jwt_file": d.SetFile(&a.JWTFile, f+".jwt_file"),
		"jwt_env":  d.SetStr(&a.JWTEnv, f+".jwt_env"),
	})
	if n.Kind != yaml.MappingNode {
		return
	}
	if a.Method == "" {
		if !methodGiven {
			d.Fail(n, f+".method", "choose one of: "+strings.Join(methods, ", "), "missing")
		}
		return
	}
	// A setting that was written but refused (creds://../x, a list) has
	// its own error: "required" beside it said it was not there at all.
	refused := func(field string) bool {
		alternatives := []string{field}
		if field == "role_id_file" {
			alternatives = append(alternatives, "role_id", "role_id_env")
		}
		for _, p := range d.Problems {
			for _, alt := range alternatives {
				if p.Field == conf.Join(f, alt) {
					return true
				}
			}
		}
		return false
	}
	if field, hint := a.missing(); field != "" && !refused(field) {
		d.Fail(n, conf.Join(f, field), hint, "required for method %s", a.Method)
	}
}

// missing names the setting the method needs and lacks, with a hint; ""
// when nothing is missing. The manifest check and the store share it.
func (a *Auth) missing() (field, hint string) {
	switch a.Method {
	case MethodTokenFile:
		if a.TokenFile == "" {
			return "token_file", "name the file a Vault Agent sink writes, e.g. /run/vault/token"
		}
	case MethodAppRole:
		if a.RoleID == "" && a.RoleIDFile == "" && a.RoleIDEnv == "" {
			return "role_id_file", "give role_id, role_id_file or role_id_env"
		}
	case MethodKubernetes, MethodJWT:
		if a.Role == "" {
			return "role", "name the Vault role to log in as"
		}
	}
	return "", ""
}

// Check reports the setting a's method needs and lacks, as an error
// message; "" when nothing is missing.
func (a *Auth) Check() string {
	if field, hint := a.missing(); field != "" {
		return "vault auth method " + string(a.Method) + " needs " + field + ": " + hint
	}
	return ""
}

// Schema describes stores.vault.
func (o *Options) Schema() *conf.Shape {
	methods := methodNames()
	return conf.Object("HashiCorp Vault.",
		conf.Prop{Name: "address", Shape: &conf.Shape{Kind: "string", Desc: "Default $VAULT_ADDR. unix:///PATH is a Vault Agent or Proxy's socket.", Pattern: addressPattern, Examples: []any{"https://vault.internal:8200"}}},
		conf.Prop{Name: "namespace", Shape: conf.Str("Default $VAULT_NAMESPACE.", "team-a")},
		conf.Prop{Name: "ca_cert", Shape: conf.Str("Default $VAULT_CACERT.", "/etc/ssl/vault-ca.pem")},
		conf.Prop{Name: "ca_path", Shape: conf.Str("Default $VAULT_CAPATH.", "/etc/ssl/vault-cas")},
		conf.Prop{Name: "client_cert", Shape: conf.Str("Default $VAULT_CLIENT_CERT.", "/etc/ssl/client.pem")},
		conf.Prop{Name: "client_key", Shape: conf.Str("Default $VAULT_CLIENT_KEY.", "/etc/ssl/client-key.pem")},
		conf.Prop{Name: "tls_server_name", Shape: conf.Str("The name to verify in the server's certificate.", "vault.internal")},
		conf.Prop{Name: "skip_verify", Shape: conf.Bool("Skip TLS verification (logs a warning). Default $VAULT_SKIP_VERIFY.")},
		conf.Prop{Name: "timeout", Shape: conf.Ref("duration", "Per-request timeout.")},
		conf.Prop{Name: "max_retries", Shape: conf.Int("Retries with backoff on 5xx and connection errors.", 0, 20, 3)},
		conf.Prop{Name: "auth", Shape: &conf.Shape{
			Kind: "object",
			Desc: "How ward logs in to Vault.",
			Fields: []conf.Prop{
				{Name: "method", Shape: conf.Enum("The auth method.", methods...)},
				{Name: "mount", Shape: conf.Str("The auth mount (default: the method's name).", "approle")},
				{Name: "role", Shape: conf.Str("The role (kubernetes, jwt).", "myapp")},
				{Name: "token_file", Shape: conf.File("A token file, e.g. a Vault Agent sink (token_file).", "/run/vault/token")},
				{Name: "role_id", Shape: conf.Str("The AppRole role id.", "db02de05-fa39-4855-059b-67221c5c2f63")},
				{Name: "role_id_file", Shape: conf.File("A file holding the AppRole role id.", "/run/secrets/role-id")},
				{Name: "role_id_env", Shape: conf.Str("A variable holding the AppRole role id.", "VAULT_ROLE_ID")},
				{Name: "secret_id_file", Shape: conf.File("A file holding the AppRole secret id.", "/run/secrets/secret-id")},
				{Name: "secret_id_env", Shape: conf.Str("A variable holding the AppRole secret id.", "VAULT_SECRET_ID")},
				{Name: "wrapped_secret_id", Shape: conf.Bool("The secret id is response-wrapped.")},
				{Name: "jwt_file", Shape: conf.File("A file holding the JWT (kubernetes, jwt).", "/var/run/secrets/kubernetes.io/serviceaccount/token")},
				{Name: "jwt_env", Shape: conf.Str("A variable holding the JWT (jwt), e.g. a CI OIDC token.", "CI_JOB_JWT_V2")},
			},
			Required: []string{"method"},
			AllOf: []map[string]any{
				conf.IfThen("method", string(MethodTokenFile), conf.FilledJSON("token_file")),
				conf.IfThen("method", string(MethodAppRole), conf.AnyFilledJSON("role_id", "role_id_file", "role_id_env")),
				conf.IfThen("method", string(MethodKubernetes), conf.FilledJSON("role")),
				conf.IfThen("method", string(MethodJWT), conf.FilledJSON("role")),
			},
		}},
	)
}

// AddressVars are the variables in which the environment names its Vault,
// as the Vault CLI reads them.
var AddressVars = []string{"VAULT_AGENT_ADDR", "VAULT_ADDR"}

// ManifestOnly refuses, for the commands that run none of a
// repository's code (ward check --resolve, ward scan), what the manifest
// alone decides about where the environment's Vault credentials go (the
// token: VAULT_TOKEN, the token helper's or ~/.vault-token's, and the
// contents of the files and variables the manifest's auth block names):
// a Vault address the environment does not name, and TLS settings that
// change whom ward takes for the environment's Vault (skip_verify, a CA,
// the name to verify) where the environment does not set them alike. ward
// run uses both: it runs the repository's program, a deployment names its
// Vault in its manifest, and a team's manifest its CA.
func ManifestOnly(o *Options, getenv func(string) string) error {
	if o == nil {
		return nil
	}
	envAddress := ""
	for _, name := range AddressVars {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			envAddress = v
			break
		}
	}
	if envAddress == "" {
		if o.Address == "" {
			return nil
		}
		return resolve.WithHint(
			fmt.Errorf("stores.vault.address is %s and the environment names no Vault: ward check --resolve and ward scan, which run none of the repository's code, send the environment's Vault credentials (VAULT_TOKEN, ~/.vault-token, the files and variables stores.vault.auth names) only to a Vault the environment names, so that a manifest (a cloned repository's, a pull request's) cannot have them sent to a server of its own", o.Address),
			"if this is your Vault, export VAULT_ADDR="+o.Address)
	}
	return manifestTLS(o, envAddress, getenv)
}

// manifestTLS is ManifestOnly's part on TLS: the manifest's settings that
// would let a server other than the environment's Vault at envAddress
// pass for it (one with any certificate, one the repository's CA signed,
// one with a certificate for another name), against the Vault CLI's
// variables, which the environment's Vault is reached with otherwise.
func manifestTLS(o *Options, envAddress string, getenv func(string) string) error {
	if !strings.HasPrefix(strings.ToLower(envAddress), "https://") {
		return nil // no TLS to weaken: http:// (warned of) or a unix socket
	}
	var fields, exports []string
	differ := func(field, value, name string, same func(a, b string) bool) {
		if value == "" {
			return
		}
		if env := strings.TrimSpace(getenv(name)); env == "" || !same(value, env) {
			fields = append(fields, fmt.Sprintf("%s (%s %s)", field, name, describeEnv(env)))
			exports = append(exports, name+"="+value)
		}
	}
	if o.SkipVerify != nil && *o.SkipVerify {
		differ("skip_verify: true", "true", "VAULT_SKIP_VERIFY", func(_, env string) bool {
			b, err := strconv.ParseBool(env)
			return err == nil && b
		})
	}
	// The Vault client prefers VAULT_CACERT_BYTES to either file: where
	// the environment gives it, the manifest's CA is not used.
	if strings.TrimSpace(getenv("VAULT_CACERT_BYTES")) == "" {
		differ("ca_cert: "+o.CACert, absPath(o.CACert), "VAULT_CACERT", samePath)
		differ("ca_path: "+o.CAPath, absPath(o.CAPath), "VAULT_CAPATH", samePath)
	}
	differ("tls_server_name: "+o.TLSServerName, o.TLSServerName, "VAULT_TLS_SERVER_NAME", strings.EqualFold)
	if len(fields) == 0 {
		return nil
	}
	return resolve.WithHint(
		fmt.Errorf("stores.vault has %s for the environment's Vault at %s: ward check --resolve and ward scan, which run none of the repository's code, send the environment's Vault credentials only over TLS verified as the environment says, so that a manifest (a cloned repository's, a pull request's) cannot have them taken by whoever answers in its place", strings.Join(fields, ", "), envAddress),
		"if you trust these settings, export "+strings.Join(exports, " "))
}

// describeEnv says what a variable holds for manifestTLS's message: TLS
// settings are no secrets.
func describeEnv(v string) string {
	if v == "" {
		return "not set"
	}
	return "is " + v
}

// absPath is p made absolute against the working directory, as the
// Vault client opens it; "" stays "".
func absPath(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

func samePath(a, b string) bool { return absPath(a) == absPath(b) }
