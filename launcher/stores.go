package launcher

import (
	"fmt"
	"log/slog"
	"sync"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/env"
	"github.com/wardsecrets/ward/resolve/file"
	"github.com/wardsecrets/ward/resolve/local"
)

// Stores builds each store on first use, so a manifest without AWS
// references never loads the AWS SDK's configuration.
type Stores struct {
	getenv func(string) string
	log    *slog.Logger

	mu    sync.Mutex
	local *local.Store
}

// NewStores returns the stores, configured from getenv.
func NewStores(getenv func(string) string, log *slog.Logger) *Stores {
	return &Stores{getenv: getenv, log: log}
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
	case "local", "file", "creds", "env":
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
	case "vault", "awssm", "ssm":
		return nil, fmt.Errorf("%s:// references: %w", scheme, resolve.ErrNotSupported)
	}
	return nil, fmt.Errorf("unknown scheme %q", scheme)
}

// Close releases what the stores hold (connections, renewers).
func (s *Stores) Close() {}
