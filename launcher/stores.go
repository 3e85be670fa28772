package launcher

import (
	"context"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/stores"
)

// loadManifest reads the manifest and the profile the flags name.
func loadManifest(c *cli.Context) (*manifest.Manifest, *manifest.Profile, error) {
	m, err := manifest.Load(c.String("manifest"))
	if err != nil {
		return nil, nil, failure.New(err, "")
	}
	prof, err := m.Profile(c.String("profile"), profileSource(os.Args))
	if err != nil {
		return nil, nil, failure.New(err, "")
	}
	return m, prof, nil
}

// profileSource says what named the profile: the flag, when ward's own
// arguments (before --) have it, else $WARD_PROFILE.
func profileSource(args []string) string {
	for _, a := range args {
		switch {
		case a == "--":
			return "$WARD_PROFILE"
		case a == "-p", a == "--profile", strings.HasPrefix(a, "-p="), strings.HasPrefix(a, "--profile="):
			return "the -p flag"
		}
	}
	return "$WARD_PROFILE"
}

// openStores opens the stores the manifest configures, for one command.
// Helpers of the stores the run uses start at once, in the background.
func openStores(m *manifest.Manifest, prof *manifest.Profile, log *slog.Logger, level slog.Level) (*stores.Set, *resolve.Fetcher) {
	set := stores.Open(stores.Registry, stores.Config{
		Options:      m.Stores.Options,
		Environ:      os.Environ(),
		Getenv:       os.Getenv,
		Log:          log,
		Level:        level,
		Concurrency:  m.Stores.Concurrency,
		RevokeOnExit: m.Rotation.RevokeOnExit,
	})
	set.Prepare(m.Schemes(prof))
	return set, &resolve.Fetcher{Stores: set.For, Concurrency: m.Stores.Concurrency, Log: log}
}

// resolveOnce fetches every secret the manifest (with a profile) names,
// for check --resolve and scan; the stores are closed (and any lease
// revoked) before it returns, since no child will use them.
func resolveOnce(c *cli.Context, stdio IO, m *manifest.Manifest, prof *manifest.Profile) (map[string]resolve.Value, *slog.Logger, error) {
	log, level, err := newLogger(c, stdio.Stderr)
	if err != nil {
		return nil, nil, err
	}
	set, f := openStores(m, prof, log, level)
	defer set.Close()
	values, err := f.Fetch(context.Background(), m.Refs(prof))
	if err != nil {
		return nil, nil, failure.New(err, "")
	}
	return values, log, nil
}
