// Package store reads azkv:// references from Azure Key Vault with the
// Azure SDK for Go (azsecrets), authenticating with azidentity's
// DefaultAzureCredential chain: a service principal in the environment
// (AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or
// AZURE_CLIENT_CERTIFICATE_PATH), workload identity (AZURE_FEDERATED_TOKEN_FILE,
// as the AKS webhook or a GitHub Actions OIDC step sets it up), a managed
// identity, then the Azure CLI's login. AZURE_TOKEN_CREDENTIALS narrows the
// chain as azidentity documents.
//
// The identity needs the RBAC role "Key Vault Secrets User" on the vault
// (or on each secret), or, on a vault that uses access policies, the
// secret permission "get".
//
// The package links the SDK; ward's core imports resolve/azure instead and
// runs this store only when a manifest has azkv:// references.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/bodylimit"
	"github.com/wardsecrets/ward/resolve/proxyconnect"
)

// Store reads secrets from any number of vaults, with one credential and
// one client per vault URL, both made on first use.
//
// It is not a resolve.Versioner: Key Vault has no cheaper way than reading
// the secret to learn which version is current. GET /secrets/{name} returns
// the value with the id; the versions list returns no values but pages
// through every version (25 a page), does not say which one is current,
// and needs the "list" permission besides "get".
type Store struct {
	opts azure.Options
	log  *slog.Logger
	http *http.Client

	mu      sync.Mutex
	cred    azcore.TokenCredential
	clients map[string]*azsecrets.Client
	// outside holds the secret versions (their ids) already warned about
	// as outside their nbf/exp window: a poll reads them again each time.
	outside map[string]bool
}

var (
	_ resolve.Store  = (*Store)(nil)
	_ resolve.Closer = (*Store)(nil)
)

// New returns a store configured by opts. It makes no request and reads
// no credential: that happens on the first Fetch. log receives the
// store's own lines (client creation, throttling), never a value or a
// token; nil discards them.
func New(opts azure.Options, log *slog.Logger) (*Store, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := azure.SameAuthority(opts, os.Getenv); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	sdkEvents(log, os.Getenv)
	// One transport for the vaults and the token endpoints, so that Close
	// can let its connections go. resolve.Fetcher sends up to
	// DefaultConcurrency reads to one vault at once: keep that many idle.
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = resolve.DefaultConcurrency
	t.OnProxyConnectResponse = proxyconnect.Check
	return &Store{
		opts:    opts,
		log:     log,
		http:    &http.Client{Transport: bodylimit.Transport(t, bodylimit.Max)},
		clients: map[string]*azsecrets.Client{},
		outside: map[string]bool{},
	}, nil
}

// Fetch reads one secret with GetSecret: its current version, or the one
// ?version= names. Secret.Version is the version id from the secret's id
// and Secret.Updated its attributes.updated time. The read, token
// request and retries included, lasts at most Options.Timeout.
func (s *Store) Fetch(ctx context.Context, ref resolve.Ref) (resolve.Secret, error) {
	if ref.Scheme == azure.TokenScheme {
		return s.accessToken(ctx, ref)
	}
	if err := azure.CheckRef(&ref); err != nil {
		return resolve.Secret{}, err
	}
	t := target{vault: azure.VaultURL(ref), name: azure.SecretName(ref), version: azure.Version(ref)}
	c, err := s.client(t.vault)
	if err != nil {
		return resolve.Secret{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	ctx, tries := withAttempts(ctx, ref.Document().Raw)
	resp, err := c.GetSecret(ctx, t.name, t.version, nil)
	if err != nil {
		return resolve.Secret{}, t.fail(err, tries, s.timeout())
	}
	if resp.Value == nil {
		return resolve.Secret{}, fmt.Errorf("read %s: key vault returned no value", t)
	}
	sec := resolve.Secret{Value: []byte(*resp.Value)}
	if resp.ID != nil {
		sec.Version = resp.ID.Version()
	}
	if resp.Attributes != nil && resp.Attributes.Updated != nil {
		sec.Updated = *resp.Attributes.Updated
	}
	if resp.ID != nil && resp.Attributes != nil {
		s.checkValidity(ref.Document().Raw, string(*resp.ID), resp.Attributes)
	}
	return sec, nil
}

// checkValidity warns, once a version, about a secret read outside the
// window its nbf and exp attributes set. Key Vault documents them as
// informational and serves such a version anyway (for tests, for
// recovery), so ward uses it too rather than stop a service the moment a
// date passes; but its owner marked it not to be used now, and the
// warning is the only place anyone would learn so.
func (s *Store) checkValidity(ref, id string, a *azsecrets.SecretAttributes) {
	now := time.Now()
	expired := a.Expires != nil && !now.Before(*a.Expires)
	early := a.NotBefore != nil && now.Before(*a.NotBefore)
	if !expired && !early {
		return
	}
	s.mu.Lock()
	warned := s.outside[id]
	s.outside[id] = true
	s.mu.Unlock()
	if warned {
		return
	}
	if expired {
		s.log.Warn("a key vault secret is past its expiry (its exp attribute): Key Vault still serves it and the child gets it, but its owner marked it not to be used any more; rotate it, or move its expiry with az keyvault secret set-attributes --expires",
			"ref", ref, "id", id, "expired_at", a.Expires.UTC().Format(time.RFC3339))
	}
	if early {
		s.log.Warn("a key vault secret is not valid yet (its nbf attribute): Key Vault still serves it and the child gets it, but its owner marked it not to be used before then; check that the newest version was meant to be current, or move its start with az keyvault secret set-attributes --not-before",
			"ref", ref, "id", id, "not_before", a.NotBefore.UTC().Format(time.RFC3339))
	}
}

// Close lets the store's idle connections go. The store stays usable.
func (s *Store) Close() error {
	s.http.CloseIdleConnections()
	return nil
}

// sdkEvents takes the Azure SDK's log events into log at debug, one record
// an event, when AZURE_SDK_GO_LOGGING=all asks for them (set to debug
// another Azure program of the machine, or this one) and log is at debug;
// otherwise it turns them off. Left to the SDK, they went to stderr, which
// ward logs line by line as warnings: every request's and answer's
// headers (their values redacted, as the SDK does) a dozen warnings each,
// at every start and every poll. The SDK's listener is global: the helper
// serves one store.
func sdkEvents(log *slog.Logger, getenv func(string) string) {
	if getenv("AZURE_SDK_GO_LOGGING") != "all" || !log.Enabled(context.Background(), slog.LevelDebug) {
		azlog.SetListener(nil)
		return
	}
	azlog.SetListener(func(ev azlog.Event, msg string) {
		first, rest, _ := strings.Cut(strings.TrimSpace(msg), "\n")
		attrs := []any{"event", string(ev)}
		if rest = strings.TrimSpace(rest); rest != "" {
			attrs = append(attrs, "detail", rest)
		}
		log.Debug("azure sdk: "+strings.TrimSpace(first), attrs...)
	})
}

// client returns the client of one vault, creating it and the credential
// on first use.
func (s *Store) client(vaultURL string) (*azsecrets.Client, error) {
	if err := azure.TrustedVault(s.opts, vaultURL, os.Getenv); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.clients[vaultURL]; c != nil {
		return c, nil
	}
	if s.cred == nil {
		cred, err := s.newCredential()
		if err != nil {
			return nil, err
		}
		s.cred = markedCredential{cred}
	}
	c, err := azsecrets.NewClient(vaultURL, s.cred, &azsecrets.ClientOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:            s.cloud(),
			Transport:        s.http,
			Retry:            retryOptions(),
			PerRetryPolicies: []policy.Policy{observer{log: s.log}},
		},
		DisableChallengeResourceVerification: s.opts.DisableChallengeResourceVerification,
	})
	if err != nil {
		return nil, fmt.Errorf("set up the key vault client for %s: %w", vaultURL, err)
	}
	s.clients[vaultURL] = c
	s.log.Debug("key vault client created", "vault", vaultURL)
	return c, nil
}

// cloud is the cloud configuration of Options.AuthorityHost; the zero
// configuration leaves the choice to AZURE_AUTHORITY_HOST, then the
// public cloud.
func (s *Store) cloud() cloud.Configuration {
	if s.opts.AuthorityHost == "" {
		return cloud.Configuration{}
	}
	return cloud.Configuration{ActiveDirectoryAuthorityHost: s.opts.AuthorityHost}
}

func (s *Store) timeout() time.Duration {
	if s.opts.Timeout > 0 {
		return s.opts.Timeout
	}
	return azure.DefaultTimeout
}

// markedCredential marks every error of the credential chain, so that a
// failed read can tell an authentication failure from anything else the
// pipeline returns.
type markedCredential struct {
	azcore.TokenCredential
}

// GetToken implements azcore.TokenCredential.
func (m markedCredential) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := m.TokenCredential.GetToken(ctx, opts)
	if err != nil {
		return tok, &credentialError{err: err}
	}
	return tok, nil
}

// credentialError is a failure of the credential chain.
type credentialError struct{ err error }

func (e *credentialError) Error() string { return e.err.Error() }
func (e *credentialError) Unwrap() error { return e.err }

// isCredentialError reports whether err came from the credential chain.
func isCredentialError(err error) (*credentialError, bool) {
	var ce *credentialError
	return ce, errors.As(err, &ce)
}

// Open is the helper's way in: it opens the store from its decoded
// stores.azure settings.
func Open(opts resolve.Options, env resolve.Env) (resolve.Store, error) {
	o, _ := opts.(*azure.Options)
	if o == nil {
		o = &azure.Options{}
	}
	return New(*o, env.Log)
}
