// Package stores assembles ward's registry of stores and opens the ones a
// run uses: in ward's own process for the local store, mounted files and
// the environment; through a helper program (package remote) for the
// stores whose SDKs ward must not pay for at every start.
package stores

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/aws"
	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/env"
	"github.com/wardsecrets/ward/resolve/file"
	"github.com/wardsecrets/ward/resolve/gcp"
	"github.com/wardsecrets/ward/resolve/local"
	"github.com/wardsecrets/ward/resolve/remote"
	"github.com/wardsecrets/ward/resolve/vault"
)

// Registry is every store ward knows, in the order help texts show them.
// Adding a store is a package under resolve/ and one line here.
var Registry = resolve.NewRegistry(
	vault.Kind,
	aws.Kind,
	gcp.Kind,
	azure.Kind,
	local.Kind,
	file.Kind,
	env.Kind,
)

// Config is what a run's stores are opened with.
type Config struct {
	// Options are the decoded stores.<name> blocks, by store name; a store
	// without a block gets its defaults.
	Options map[string]resolve.Options
	// Environ is ward's environment, which helpers inherit; Getenv reads
	// it for the stores in ward's process.
	Environ []string
	Getenv  func(string) string
	Log     *slog.Logger
	// Level is the log level helpers send records at.
	Level        slog.Level
	Concurrency  int
	RevokeOnExit bool
	// Version is ward's version, which helpers of another one are told
	// apart by.
	Version string
}

// Set is the stores of one run: each opened on first use, all closed
// together.
type Set struct {
	reg *resolve.Registry
	cfg Config

	mu   sync.Mutex
	open map[string]*opened
}

type opened struct {
	once  sync.Once
	store resolve.Store
	err   error
}

// Open returns the set; nothing is opened or started yet.
func Open(reg *resolve.Registry, cfg Config) *Set {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Set{reg: reg, cfg: cfg, open: map[string]*opened{}}
}

// For returns the store that serves scheme, opening it on first use.
func (s *Set) For(scheme string) (resolve.Store, error) {
	k := s.reg.KindOf(scheme)
	if k == nil {
		return nil, fmt.Errorf("unknown scheme %q", scheme)
	}
	s.mu.Lock()
	o, ok := s.open[k.Name]
	if !ok {
		o = &opened{}
		s.open[k.Name] = o
	}
	s.mu.Unlock()
	o.once.Do(func() { o.store, o.err = s.openKind(k) })
	return o.store, o.err
}

// Prepare starts the helpers of the stores that serve schemes and opens
// their stores in the background, so that their start-up overlaps ward's
// own work before the first fetch needs them. The processes start before
// Prepare returns, ahead of anything in ward that keeps processes from
// starting for a moment (signals.Notify).
func (s *Set) Prepare(schemes []string) {
	for _, sch := range schemes {
		k := s.reg.KindOf(sch)
		if k == nil || k.Open != nil {
			continue
		}
		st, err := s.For(sch)
		c, ok := st.(*remote.Client)
		if !ok || err != nil {
			continue
		}
		// The process starts here, the store opens in the background. A
		// failure of either shows again, with its reference, when the
		// fetch asks.
		if c.Spawn() == nil {
			go c.Start(context.Background())
		}
	}
}

func (s *Set) openKind(k *resolve.Kind) (resolve.Store, error) {
	opts := s.options(k)
	env := resolve.Env{Getenv: s.cfg.Getenv, Log: s.cfg.Log, Concurrency: s.cfg.Concurrency, RevokeOnExit: s.cfg.RevokeOnExit}
	if k.Open != nil {
		return k.Open(opts, env)
	}
	return remote.New(remote.Config{
		Program: k.Helper(), Store: k.Name, Options: opts,
		Environ: s.cfg.Environ, Concurrency: s.cfg.Concurrency, RevokeOnExit: s.cfg.RevokeOnExit,
		Log: s.cfg.Log, Level: s.cfg.Level, Version: s.cfg.Version,
	}), nil
}

func (s *Set) options(k *resolve.Kind) resolve.Options {
	if o, ok := s.cfg.Options[k.Name]; ok {
		return o
	}
	if k.NewOptions != nil {
		return k.NewOptions()
	}
	return nil
}

// CredentialEnv lists every variable any store reads a credential from
// under this run's settings: none of them reaches the child unless the
// manifest declares it.
func (s *Set) CredentialEnv() []string {
	var names []string
	for _, k := range s.reg.Kinds() {
		if o := s.options(k); o != nil {
			for _, n := range o.CredentialEnv() {
				if !slices.Contains(names, n) {
					names = append(names, n)
				}
			}
		}
	}
	return names
}

// HelperPids lists the process ids of the helpers that run now.
func (s *Set) HelperPids() []int {
	s.mu.Lock()
	open := make([]*opened, 0, len(s.open))
	for _, o := range s.open {
		open = append(open, o)
	}
	s.mu.Unlock()
	var pids []int
	for _, o := range open {
		// Every entry's open has begun; this waits for it to end.
		o.once.Do(func() {})
		if c, ok := o.store.(*remote.Client); ok {
			if pid := c.Pid(); pid != 0 {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// Close closes every store that was opened, concurrently (each may revoke
// leases), and logs what failed.
func (s *Set) Close() {
	s.mu.Lock()
	open := s.open
	s.open = map[string]*opened{}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for name, o := range open {
		// Waits for an open under way, and keeps a later one from
		// starting.
		o.once.Do(func() {})
		c, ok := o.store.(resolve.Closer)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Close(); err != nil {
				s.cfg.Log.Warn("closing a store", "store", name, "error", err.Error())
			}
		}()
	}
	wg.Wait()
}
