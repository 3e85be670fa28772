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

// SupportedSchemes lists the schemes this ward can read.
func SupportedSchemes() []string {
	var out []string
	for _, s := range resolve.Schemes {
		if Supported(s) {
			out = append(out, s+"://")
		}
	}
	return out
}

// Supported reports whether this ward can read a scheme.
func Supported(scheme string) bool {
	switch scheme {
	case "local", "file", "creds", "env", "awssm", "ssm":
		return true
	}
	return false
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
		return nil, fmt.Errorf("%s:// references: %w", scheme, resolve.ErrNotSupported)
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

// Close releases what the stores hold (connections, renewers).
func (s *Stores) Close() {}
