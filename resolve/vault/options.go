package vault

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

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

// Options configures the Vault store. Empty settings fall back to the Vault
// CLI's own environment variables (VAULT_ADDR, VAULT_NAMESPACE,
// VAULT_CACERT, VAULT_CAPATH, VAULT_CLIENT_CERT, VAULT_CLIENT_KEY,
// VAULT_TLS_SERVER_NAME, VAULT_SKIP_VERIFY, VAULT_CLIENT_TIMEOUT,
// VAULT_MAX_RETRIES), then to Vault's defaults.
type Options struct {
	// Address is the Vault server's URL.
	Address string
	// Namespace is the Vault Enterprise namespace to work in.
	Namespace string
	// CACert is a PEM file of CA certificates to trust.
	CACert string
	// CAPath is a directory of PEM CA certificates to trust.
	CAPath string
	// ClientCert and ClientKey are the PEM files of a TLS client
	// certificate, for Vault's cert auth or a server that asks for one.
	ClientCert string
	// ClientKey is the private key of ClientCert.
	ClientKey string
	// TLSServerName is the name to expect in the server's certificate.
	TLSServerName string
	// SkipVerify turns TLS certificate verification off (logged as a
	// warning). Nil means VAULT_SKIP_VERIFY decides.
	SkipVerify *bool
	// Timeout bounds one request, its retries included; 0 means
	// VAULT_CLIENT_TIMEOUT or DefaultTimeout.
	Timeout time.Duration
	// MaxRetries is how often a request is retried, with backoff, after a
	// 5xx answer or a connection error. Nil means VAULT_MAX_RETRIES or
	// DefaultMaxRetries.
	MaxRetries *int
	// Auth says how ward logs in.
	Auth Auth
	// RevokeOnExit revokes, on Close, the leases of the dynamic secrets the
	// store read. Nil means true.
	RevokeOnExit *bool
	// Log receives the store's log lines: never a token, a secret_id, a
	// JWT or a value. Nil discards them.
	Log *slog.Logger

	// minRetryWait and maxRetryWait, when set, replace the API client's
	// backoff bounds (1s to 1.5s); tests shorten them.
	minRetryWait, maxRetryWait time.Duration
}

// Auth configures how ward logs in to Vault.
type Auth struct {
	// Method is token (the default), token_file, approle, kubernetes or jwt.
	Method string
	// Mount is where the auth method is enabled; it defaults to the
	// method's name (approle, kubernetes, jwt).
	Mount string
	// Role is the role to log in as (kubernetes, jwt).
	Role string
	// TokenFile is the file a Vault Agent sink writes the token to
	// (token_file). It is read again when it changes.
	TokenFile string
	// RoleID is the AppRole role_id itself; it is not a secret.
	RoleID string
	// RoleIDFile is a file holding the role_id.
	RoleIDFile string
	// RoleIDEnv names the variable holding the role_id; VAULT_ROLE_ID by
	// default.
	RoleIDEnv string
	// SecretIDFile is a file holding the secret_id.
	SecretIDFile string
	// SecretIDEnv names the variable holding the secret_id;
	// VAULT_SECRET_ID by default.
	SecretIDEnv string
	// WrappedSecretID says the secret_id is a response-wrapping token to
	// unwrap first. Its default variable is then VAULT_WRAPPED_SECRET_ID,
	// then VAULT_SECRET_ID.
	WrappedSecretID bool
	// JWTFile is a file holding the JWT (jwt); kubernetes reads
	// DefaultKubernetesJWTFile unless it is set.
	JWTFile string
	// JWTEnv names the variable holding the JWT (jwt); VAULT_JWT by
	// default.
	JWTEnv string
}

// The variables the store reads credentials from by default.
const (
	envToken           = "VAULT_TOKEN"
	envRoleID          = "VAULT_ROLE_ID"
	envSecretID        = "VAULT_SECRET_ID"
	envWrappedSecretID = "VAULT_WRAPPED_SECRET_ID"
	envJWT             = "VAULT_JWT"
)

// CredentialEnv lists the environment variables the store may read a
// credential from under these options: the defaults (VAULT_TOKEN,
// VAULT_ROLE_ID, VAULT_SECRET_ID, VAULT_WRAPPED_SECRET_ID, VAULT_JWT) and
// any custom name set in role_id_env, secret_id_env or jwt_env. None of
// them may reach the child.
func (o Options) CredentialEnv() []string {
	names := []string{envToken, envRoleID, envSecretID, envWrappedSecretID, envJWT}
	for _, n := range []string{o.Auth.RoleIDEnv, o.Auth.SecretIDEnv, o.Auth.JWTEnv} {
		if n == "" {
			continue
		}
		seen := false
		for _, m := range names {
			seen = seen || m == n
		}
		if !seen {
			names = append(names, n)
		}
	}
	return names
}

// settings are Options with the environment's fallbacks applied.
type settings struct {
	Options
	skipVerify bool
	maxRetries int
	revoke     bool
	home       string
}

// resolveSettings applies the Vault CLI's environment variables where o is
// silent and checks what can be checked without the network.
func resolveSettings(o Options, getenv func(string) string) (settings, error) {
	s := settings{Options: o}
	or := func(v *string, name string) {
		if *v == "" {
			*v = strings.TrimSpace(getenv(name))
		}
	}
	or(&s.Address, "VAULT_ADDR")
	if s.Address == "" {
		s.Address = DefaultAddress
	}
	or(&s.Namespace, "VAULT_NAMESPACE")
	or(&s.CACert, "VAULT_CACERT")
	or(&s.CAPath, "VAULT_CAPATH")
	or(&s.ClientCert, "VAULT_CLIENT_CERT")
	or(&s.ClientKey, "VAULT_CLIENT_KEY")
	or(&s.TLSServerName, "VAULT_TLS_SERVER_NAME")

	if o.SkipVerify != nil {
		s.skipVerify = *o.SkipVerify
	} else if v := strings.TrimSpace(getenv("VAULT_SKIP_VERIFY")); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return s, fmt.Errorf("VAULT_SKIP_VERIFY=%q is not true or false", v)
		}
		s.skipVerify = b
	}

	if s.Timeout == 0 {
		s.Timeout = DefaultTimeout
		if v := strings.TrimSpace(getenv("VAULT_CLIENT_TIMEOUT")); v != "" {
			d, err := parseSeconds(v)
			if err != nil || d <= 0 {
				return s, fmt.Errorf("VAULT_CLIENT_TIMEOUT=%q is not a positive duration such as 30s or 30", v)
			}
			s.Timeout = d
		}
	}

	s.maxRetries = DefaultMaxRetries
	if o.MaxRetries != nil {
		s.maxRetries = *o.MaxRetries
	} else if v := strings.TrimSpace(getenv("VAULT_MAX_RETRIES")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return s, fmt.Errorf("VAULT_MAX_RETRIES=%q is not a whole number of retries", v)
		}
		s.maxRetries = n
	}

	s.revoke = o.RevokeOnExit == nil || *o.RevokeOnExit
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	s.home = getenv("HOME")
	if s.home == "" {
		s.home, _ = os.UserHomeDir()
	}

	a := &s.Auth
	if a.Method == "" {
		a.Method = "token"
	}
	switch a.Method {
	case "token":
	case "token_file":
		if a.TokenFile == "" {
			return s, fmt.Errorf("vault auth method token_file needs token_file: the file a Vault Agent sink writes")
		}
	case "approle":
		if a.Mount == "" {
			a.Mount = "approle"
		}
		if a.RoleIDEnv == "" {
			a.RoleIDEnv = envRoleID
		}
	case "kubernetes":
		if a.Mount == "" {
			a.Mount = "kubernetes"
		}
		if a.JWTFile == "" {
			a.JWTFile = DefaultKubernetesJWTFile
		}
		if a.Role == "" {
			return s, fmt.Errorf("vault auth method kubernetes needs role: the Vault role to log in as")
		}
	case "jwt":
		if a.Mount == "" {
			a.Mount = "jwt"
		}
		if a.JWTFile == "" && a.JWTEnv == "" {
			a.JWTEnv = envJWT
		}
		if a.Role == "" {
			return s, fmt.Errorf("vault auth method jwt needs role: the Vault role to log in as")
		}
	default:
		return s, fmt.Errorf("unknown vault auth method %q: choose token, token_file, approle, kubernetes or jwt", a.Method)
	}
	a.Mount = strings.Trim(a.Mount, "/")
	if a.TokenFile != "" {
		a.TokenFile = expandHome(a.TokenFile, s.home)
	}
	return s, nil
}

// parseSeconds reads a duration the way the Vault CLI does: a Go duration,
// or a bare number of seconds.
func parseSeconds(v string) (time.Duration, error) {
	if n, err := strconv.Atoi(v); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	return time.ParseDuration(v)
}

func expandHome(p, home string) string {
	if home != "" && (p == "~" || strings.HasPrefix(p, "~/")) {
		return filepath.Join(home, strings.TrimPrefix(p, "~"))
	}
	return p
}
