package launcher

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/wardsecrets/ward/resolve"
	awsstore "github.com/wardsecrets/ward/resolve/aws"
	"github.com/wardsecrets/ward/resolve/env"
	"github.com/wardsecrets/ward/resolve/file"
	"github.com/wardsecrets/ward/resolve/local"
	"github.com/wardsecrets/ward/resolve/vault"
)

// Stores builds each store on first use, so a manifest without AWS
// references never loads the AWS SDK's configuration.
type Stores struct {
	getenv func(string) string
	log    *slog.Logger
	cfg    StoresConfig

	mu      sync.Mutex
	local   *local.Store
	aws     awsstore.Options
	awsSess *awsstore.Session
	sm      *awsstore.SecretsManager
	ssm     *awsstore.ParameterStore
	vault   *vault.Store
	revoke  *bool // rotation.revoke_on_exit; nil means the store's default (true)
}

// NewStores returns the stores, configured from the manifest's stores
// section and, where it is silent, from getenv.
func NewStores(getenv func(string) string, log *slog.Logger, cfg StoresConfig) *Stores {
	s := &Stores{getenv: getenv, log: log, cfg: cfg}
	if cfg.AWS != nil {
		s.aws.Region, s.aws.Profile = cfg.AWS.Region, cfg.AWS.Profile
	}
	return s
}

// For returns the store for a scheme.
func (s *Stores) For(scheme string) (resolve.Store, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch scheme {
	case "local":
		if s.local == nil {
			ls, err := local.Open(s.getenv)
			if err != nil {
				return nil, err
			}
			s.local = ls
		}
		return s.local, nil
	case "file":
		return file.Store{}, nil
	case "creds":
		return file.CredsStore{Dir: s.getenv("CREDENTIALS_DIRECTORY")}, nil
	case "env":
		return env.Store{}, nil
	case "awssm":
		if s.sm == nil {
			s.sm = awsstore.NewSecretsManager(s.awsSession())
			if s.cfg.Concurrency > 0 {
				s.sm.Concurrency = s.cfg.Concurrency
			}
		}
		return s.sm, nil
	case "ssm":
		if s.ssm == nil {
			s.ssm = awsstore.NewParameterStore(s.awsSession())
			if s.cfg.Concurrency > 0 {
				s.ssm.Concurrency = s.cfg.Concurrency
			}
		}
		return s.ssm, nil
	case "vault":
		if s.vault == nil {
			vs, err := vault.New(vaultOptions(s.cfg.Vault, s.log, s.revoke), s.getenv)
			if err != nil {
				return nil, err
			}
			s.vault = vs
		}
		return s.vault, nil
	}
	return nil, fmt.Errorf("unknown scheme %q", scheme)
}

// awsSession returns the session both AWS stores share; it loads the SDK's
// configuration only when one of them first fetches. Callers hold s.mu.
func (s *Stores) awsSession() *awsstore.Session {
	if s.awsSess == nil {
		s.awsSess = awsstore.NewSession(s.aws)
	}
	return s.awsSess
}

// SetRevokeOnExit says whether Close revokes the dynamic secrets' leases
// (rotation.revoke_on_exit). Call it before the first For.
func (s *Stores) SetRevokeOnExit(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoke = &on
}

// CredentialEnv lists the variables the Vault store may read a credential
// from, custom role_id_env, secret_id_env and jwt_env names included: none
// may reach the child unless the manifest declares it.
func (s *Stores) CredentialEnv() []string {
	return vaultOptions(s.cfg.Vault, nil, nil).CredentialEnv()
}

// Close releases what the stores hold: it revokes the Vault leases ward
// created (unless revoke_on_exit is off) and stops renewing its token.
func (s *Stores) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vault != nil {
		if err := s.vault.Close(); err != nil && s.log != nil {
			s.log.Warn("closing the vault store", "error", err.Error())
		}
	}
}

// vaultOptions maps stores.vault (nil when absent) to the store's options.
func vaultOptions(c *VaultConfig, log *slog.Logger, revoke *bool) vault.Options {
	o := vault.Options{Log: log, RevokeOnExit: revoke}
	if c == nil {
		return o
	}
	o.Address, o.Namespace = c.Address, c.Namespace
	o.CACert, o.CAPath = c.CACert, c.CAPath
	o.ClientCert, o.ClientKey = c.ClientCert, c.ClientKey
	o.TLSServerName, o.SkipVerify = c.TLSServerName, c.SkipVerify
	o.Timeout, o.MaxRetries = c.Timeout, c.MaxRetries
	a := c.Auth
	o.Auth = vault.Auth{
		Method: a.Method, Mount: a.Mount, Role: a.Role, TokenFile: a.TokenFile,
		RoleID: a.RoleID, RoleIDFile: a.RoleIDFile, RoleIDEnv: a.RoleIDEnv,
		SecretIDFile: a.SecretIDFile, SecretIDEnv: a.SecretIDEnv, WrappedSecretID: a.WrappedSecretID,
		JWTFile: a.JWTFile, JWTEnv: a.JWTEnv,
	}
	return o
}
