package store

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/wardsecrets/ward/internal/home"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/vault"
)

// Aliases for the settings, which live in the light package ward's core
// links.
type (
	// Options are the stores.vault settings.
	Options = vault.Options
	// Auth is stores.vault.auth.
	Auth = vault.Auth
)

// retryWaits, when set, replace the API client's backoff bounds (1s to
// 1.5s); tests shorten them.
type retryWaits struct{ min, max time.Duration }

// settings are Options with the environment's fallbacks applied.
type settings struct {
	Options
	skipVerify bool
	// agent: the address is VAULT_AGENT_ADDR's or a unix socket, a Vault
	// Agent (or Proxy) that adds its own auto-auth token to requests that
	// carry none.
	agent      bool
	maxRetries int
	// defaultAddress: no address was set, and Address is Vault's default.
	defaultAddress bool
	// caCertBytes is VAULT_CACERT_BYTES: the CA's PEM as text.
	caCertBytes string
	// proxy is VAULT_PROXY_ADDR (or VAULT_HTTP_PROXY): every request
	// goes through it.
	proxy *url.URL
	// limiter is VAULT_RATE_LIMIT: the requests a second ward sends.
	limiter  *rate.Limiter
	revoke   bool
	home     string
	credsDir string
	log      *slog.Logger
	retry    retryWaits
}

// resolveSettings applies the Vault CLI's environment variables where o is
// silent and checks what can be checked without the network.
func resolveSettings(o Options, env resolve.Env, retry retryWaits) (settings, error) {
	getenv := env.Getenv
	s := settings{Options: o, revoke: env.RevokeOnExit, log: env.Log, retry: retry}
	or := func(v *string, name string) {
		if *v == "" {
			*v = strings.TrimSpace(getenv(name))
		}
	}
	// Before any address is named (here, in a log record, in an error):
	// one with a password in it would print it.
	for _, name := range vault.AddressVars {
		if vault.HasUserinfo(strings.TrimSpace(getenv(name))) {
			return s, resolve.WithHint(fmt.Errorf("%s holds a user name or password (USER:PASSWORD@ before the host), or may: it has an @ in it, and is not shown here", name),
				"Vault takes its token from VAULT_TOKEN or stores.vault.auth, never from the address: set "+name+" to https://HOST:PORT")
		}
	}
	if err := sameVault(o.Address, getenv); err != nil {
		return s, err
	}
	// As the Vault CLI: VAULT_AGENT_ADDR over VAULT_ADDR.
	if s.Address == "" {
		if a := strings.TrimSpace(getenv("VAULT_AGENT_ADDR")); a != "" {
			s.Address, s.agent = a, true
		}
	}
	or(&s.Address, "VAULT_ADDR")
	if strings.HasPrefix(s.Address, "unix://") {
		// A unix socket is a Vault Agent's or Proxy's listener (a
		// sidecar's): with no token of ward's own it adds its auto-auth
		// token, as for the CLI.
		s.agent = true
	}
	if s.Address == "" {
		s.Address, s.defaultAddress = vault.DefaultAddress, true
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
		s.Timeout = vault.DefaultTimeout
		if v := strings.TrimSpace(getenv("VAULT_CLIENT_TIMEOUT")); v != "" {
			d, err := parseSeconds(v)
			if err != nil || d <= 0 {
				return s, fmt.Errorf("VAULT_CLIENT_TIMEOUT=%q is not a positive duration such as 30s or 30", v)
			}
			s.Timeout = d
		}
	}

	// The CLI's other connection settings, which the manifest has no
	// field for.
	s.caCertBytes = getenv("VAULT_CACERT_BYTES")
	proxy := strings.TrimSpace(getenv("VAULT_HTTP_PROXY"))
	if v := strings.TrimSpace(getenv("VAULT_PROXY_ADDR")); v != "" {
		proxy = v
	}
	if proxy != "" {
		u, err := url.Parse(proxy)
		if err != nil || u.Host == "" {
			// Not the value: a proxy's URL may hold a password.
			return s, errors.New("VAULT_PROXY_ADDR is not a URL such as http://proxy.internal:3128 (or VAULT_HTTP_PROXY)")
		}
		s.proxy = u
	}
	if v := strings.TrimSpace(getenv("VAULT_RATE_LIMIT")); v != "" {
		limit, burst, err := parseRateLimit(v)
		if err != nil {
			return s, fmt.Errorf("VAULT_RATE_LIMIT=%q is not a rate of requests a second, with an optional burst, such as 10 or 10:20", v)
		}
		s.limiter = rate.NewLimiter(rate.Limit(limit), burst)
	}

	s.maxRetries = vault.DefaultMaxRetries
	if o.MaxRetries != nil {
		s.maxRetries = *o.MaxRetries
	} else if v := strings.TrimSpace(getenv("VAULT_MAX_RETRIES")); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return s, fmt.Errorf("VAULT_MAX_RETRIES=%q is not a whole number of retries", v)
		}
		s.maxRetries = n
	}

	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.credsDir = getenv("CREDENTIALS_DIRECTORY")
	// ~/.vault-token and ~/.vault as the Vault CLI finds them, /etc/passwd's
	// home included when $HOME is unset.
	s.home = home.Dir(getenv)
	return s, resolveAuth(&s.Auth, s.home)
}

// resolveAuth applies the auth method's defaults and checks what the
// method needs.
func resolveAuth(a *vault.Auth, home string) error {
	if a.Method == "" {
		a.Method = vault.MethodToken
	}
	switch a.Method {
	case vault.MethodToken, vault.MethodTokenFile:
	case vault.MethodAppRole:
		if a.RoleIDEnv == "" {
			a.RoleIDEnv = vault.EnvRoleID
		}
	case vault.MethodKubernetes:
		if a.JWTFile == "" {
			a.JWTFile = vault.DefaultKubernetesJWTFile
		}
	case vault.MethodJWT:
		if a.JWTFile == "" && a.JWTEnv == "" {
			a.JWTEnv = vault.EnvJWT
		}
	default:
		return fmt.Errorf("unknown vault auth method %q: choose token, token_file, approle, kubernetes or jwt", a.Method)
	}
	// After the defaults: the manifest requires an approle role_id
	// setting, but a store opened without one reads VAULT_ROLE_ID.
	if msg := a.Check(); msg != "" {
		return fmt.Errorf("%s", msg)
	}
	if a.Mount == "" && a.Method != vault.MethodToken && a.Method != vault.MethodTokenFile {
		a.Mount = string(a.Method)
	}
	a.Mount = strings.Trim(a.Mount, "/")
	if a.TokenFile != "" {
		a.TokenFile = expandHome(a.TokenFile, home)
	}
	return nil
}

// parseRateLimit reads VAULT_RATE_LIMIT as the Vault CLI does: RATE or
// RATE:BURST, the burst being the rate when it is not given.
func parseRateLimit(v string) (float64, int, error) {
	r, b, hasBurst := strings.Cut(v, ":")
	limit, err := strconv.ParseFloat(r, 64)
	if err != nil || limit <= 0 {
		return 0, 0, errors.New("not a rate")
	}
	burst := int(limit)
	if hasBurst {
		if burst, err = strconv.Atoi(b); err != nil || burst <= 0 {
			return 0, 0, errors.New("not a burst")
		}
	}
	return limit, max(burst, 1), nil
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

// credsPath maps a setting of the form creds://NAME to the file systemd
// put the credential in ($CREDENTIALS_DIRECTORY/NAME, from
// LoadCredential= or LoadCredentialEncrypted=), so a unit's manifest need
// not spell /run/credentials/UNIT/; any other path is left as it is.
// Without $CREDENTIALS_DIRECTORY it is an error, as for a creds://
// reference: joined to "", the name would be read from ward's working
// directory.
func (s settings) credsPath(p string) (string, error) {
	name, ok := strings.CutPrefix(p, "creds://")
	if !ok {
		return p, nil
	}
	if s.credsDir == "" {
		return "", fmt.Errorf("%s: $CREDENTIALS_DIRECTORY is not set: creds:// works under a systemd unit with LoadCredential=%s:/path/to/secret", p, name)
	}
	return filepath.Join(s.credsDir, name), nil
}

// sameVault refuses a manifest's stores.vault.address that names another
// Vault than the environment (VAULT_ADDR, VAULT_AGENT_ADDR). ward sends
// the credentials the user's environment gives (VAULT_TOKEN, the CLI's
// token helper and ~/.vault-token, the files and variables the login
// settings name) to the address it talks to: a cloned repository's
// manifest, or a pull request's in a CI job that has the credentials,
// named a server of its own and received them from `ward scan` or
// `ward check --resolve`, which run none of the repository's code. The
// environment is the user's; where it names a Vault, the manifest may
// only agree with it.
func sameVault(address string, getenv func(string) string) error {
	if address == "" {
		return nil
	}
	var named []string
	for _, name := range vault.AddressVars {
		env := strings.TrimSpace(getenv(name))
		if env == "" {
			continue
		}
		if vaultKey(env) == vaultKey(address) {
			return nil
		}
		named = append(named, fmt.Sprintf("%s (%s)", env, name))
	}
	if len(named) == 0 {
		return nil
	}
	return resolve.WithHint(
		fmt.Errorf("stores.vault.address is %s, but the environment names the Vault at %s: ward sends the environment's Vault credentials only to a Vault both name, so that a manifest (a cloned repository's, a pull request's) cannot send them to a server of its own", address, strings.Join(named, " and ")),
		"to use the manifest's Vault, set VAULT_ADDR to "+address+" or unset it (and VAULT_AGENT_ADDR); to use the environment's, remove stores.vault.address")
}

// vaultKey is what tells two addresses of one Vault apart: the scheme,
// the host in lower case, the port (the scheme's own when left out) and
// the path, without a trailing slash; a unix socket's path.
func vaultKey(address string) string {
	u, err := url.Parse(address)
	if err != nil || u.Scheme == "" {
		return strings.TrimRight(address, "/")
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "unix" {
		return "unix:" + filepath.Clean(u.Host+u.Path)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	return scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port + strings.TrimRight(u.Path, "/")
}
