package launcher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/wardsecrets/ward/launcher/failure"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/launcher/plan"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/stores"
	"github.com/wardsecrets/ward/resolve/vault"
)

// loadManifest reads the manifest (the one -m or $WARD_MANIFEST names,
// else the nearest ward.yaml: see findManifest) and the profile the flags
// name.
func loadManifest(c *cli.Context, log *slog.Logger) (*manifest.Manifest, *manifest.Profile, error) {
	file, err := manifestFile(c)
	if err != nil {
		return nil, nil, err
	}
	log.Debug("using manifest", "file", file)
	m, err := manifest.Load(file)
	if err != nil {
		return nil, nil, failure.New(laterWard(err), "")
	}
	name := c.String("profile")
	source := profileSource(commandWords(c), name, os.Getenv)
	if name == "" && source == profileFlagName {
		// -p "$ENV" with ENV unset: running with no profile could
		// give a deploy the development values.
		return nil, nil, failure.New(errors.New(source+" names no profile: it is empty"), m.ProfilesHint()+"; leave out -p for none")
	}
	prof, err := m.Profile(name, source)
	if err != nil {
		return nil, nil, failure.New(err, "")
	}
	return m, prof, nil
}

// laterWard adds this ward's version to the hint of each field or scheme
// of the manifest it does not know: one a later ward added, in a manifest
// written for that ward and checked by an older one (`ward check` in CI
// pinned to a version, an image not rebuilt), read as a typo, with the
// known names listed and no word of the version.
func laterWard(err error) error {
	var problems manifest.ValidationErrors
	if !errors.As(err, &problems) {
		return err
	}
	for _, p := range problems {
		if p.Unknown != "" {
			p.Advice += "; a " + p.Unknown + " a later ward added needs that ward: this is ward " + Version()
		}
	}
	return err
}

// manifestFile is the manifest a command reads: the one -m or
// $WARD_MANIFEST names, else the one findManifest finds (an empty
// $WARD_MANIFEST names none).
func manifestFile(c *cli.Context) (string, error) {
	if file := c.String("manifest"); c.IsSet("manifest") {
		switch file {
		case "":
			return "", emptyManifest(c.Command.Name)
		case "-":
			return stdinManifest(c)
		}
		return file, nil
	}
	wd, err := workingDir("name the manifest with -m")
	if err != nil {
		return "", err
	}
	return findManifest(wd, defaultManifest)
}

// emptyManifest is the error for -m "" typed out (-m "$MANIFEST" with
// the variable unset in a script): as for -p "", ward takes no other
// manifest in its place, which could be another environment's. (An empty
// $WARD_MANIFEST counts as unset: see unsetEmptyFlagVars.)
func emptyManifest(command string) error {
	hint := "leave out -m for the nearest " + defaultManifest
	if command == "init" || command == "import" {
		hint = "leave out -m for " + defaultManifest + " in this directory"
	}
	return failure.New(errors.New("the -m flag names no manifest: it is empty"), hint)
}

// directoryManifest is the error for ward init's and ward import's -m
// naming a directory (ward init -m config, for config/ward.yaml), as
// ward check's reads: init said the manifest "already exists" and to
// run again with --force, which failed with "rename ...: file exists";
// import said "read config: read config: is a directory".
func directoryManifest(path string) error {
	if b := filepath.Base(path); strings.HasSuffix(path, "/") || b == "." || b == ".." {
		// A folder not made yet: ward import made it, then failed to
		// rename its manifest over it.
		return failure.New(fmt.Errorf("%s names a folder (it ends in /, . or ..), not a manifest", path), "name the manifest's file: -m "+filepath.Join(path, defaultManifest))
	}
	if st, err := os.Stat(path); err != nil || !st.IsDir() {
		return nil
	}
	return failure.New(fmt.Errorf("%s is a directory, not a manifest", path), "name the manifest's file: -m "+filepath.Join(path, defaultManifest))
}

// specialManifest refuses a manifest that ward import would edit and
// that is no file: a named pipe or a device, itself or through a link (a
// cloned repository's ward.yaml -> /dev/tty), which reading would wait
// on, or read the terminal.
func specialManifest(path string) error {
	st, err := os.Stat(path)
	if err != nil || st.IsDir() || st.Mode().IsRegular() {
		return nil
	}
	return failure.New(fmt.Errorf("%s is not a manifest ward can edit: %s", manifest.QuotePath(path), notAFile(path, st)), "remove it, or name the manifest with -m")
}

// stdinManifest is -m -: the manifest on standard input, as `ward import -`
// reads a .env file there. Only the commands that read the manifest and
// nothing else from standard input take it (check, scan); ward run's
// standard input is the program's, and import and init write the
// manifest. ward read a file named "-" ("-:1:1: no such file"). The
// error names what said "-": the -m flag or $WARD_MANIFEST.
func stdinManifest(c *cli.Context) (string, error) {
	said := "-m -"
	if flagSource(commandWords(c), []string{"m", "manifest"}, "-", "-m", "WARD_MANIFEST", os.Getenv) != "-m" {
		said = "$WARD_MANIFEST is -"
	}
	switch command := c.Command.Name; command {
	case "check", "scan":
		return "/dev/stdin", nil
	case "run":
		return "", failure.New(fmt.Errorf("%s: ward run's standard input is the program's, so the manifest cannot come from it", said), "name the manifest's file with -m, or check one from a pipe with ward check -m -")
	default:
		return "", failure.New(fmt.Errorf("%s: ward %s writes the manifest, so it cannot be standard input", said, command), "name the manifest's file with -m")
	}
}

// profileSource says what named the profile: profileFlagName or
// $WARD_PROFILE (see flagSource).
func profileSource(words []string, profile string, getenv func(string) string) string {
	return flagSource(words, []string{"p", "profile"}, profile, profileFlagName, "WARD_PROFILE", getenv)
}

// profileFlagName is the -p flag, as errors name it.
const profileFlagName = "the -p flag"

// openStores opens the stores the manifest configures, for one command.
// Helpers of the stores the run uses start at once, in the background.
// With keepLeases the stores revoke nothing when they close: a run that
// execs its program leaves the program the leases, and the helpers see
// the end of their input at the exec.
func openStores(m *manifest.Manifest, prof *manifest.Profile, lg logs, keepLeases bool) (*stores.Set, *resolve.Fetcher) {
	set := stores.Open(stores.Registry, stores.Config{
		Options:      m.Stores.Options,
		Environ:      plan.WithoutProcessMarkers(os.Environ()),
		Getenv:       os.Getenv,
		Log:          lg.log,
		Level:        lg.level,
		Concurrency:  m.Stores.Concurrency,
		RevokeOnExit: m.Rotation.RevokeOnExit && !keepLeases,
		Version:      Version(),
	})
	set.Prepare(m.Schemes(prof))
	return set, &resolve.Fetcher{Stores: set.For, Concurrency: m.Stores.Concurrency, Log: lg.audit}
}

// resolveOnce fetches every secret the manifest (with a profile) names,
// for check --resolve, all or none; the stores are closed (and any lease
// revoked) before it returns, since no child will use them.
func resolveOnce(lg logs, m *manifest.Manifest, prof *manifest.Profile) (map[string]resolve.Value, error) {
	if err := manifestOnlyVault(m, prof); err != nil {
		return nil, failure.New(err, "")
	}
	set, f := openStores(m, prof, lg, false)
	defer set.Close()
	start := time.Now()
	values, err := f.Fetch(context.Background(), m.Refs(prof))
	if err != nil {
		return nil, failure.New(err, "")
	}
	logResolved(lg.log, values, time.Since(start))
	return values, nil
}

// resolveAvailable fetches what it can of the secrets the manifest names,
// for scan: the variables that cannot be resolved (a store down, a
// colleague's local secret) are returned apart, and the rest resolved.
func resolveAvailable(lg logs, m *manifest.Manifest, prof *manifest.Profile) (map[string]resolve.Value, []resolve.VarError) {
	refs := m.Refs(prof)
	var refused []resolve.VarError
	if err := manifestOnlyVault(m, prof); err != nil {
		for name, r := range refs {
			if r.Scheme == vault.Scheme {
				refused = append(refused, resolve.VarError{Name: name, Ref: r, Err: err})
				delete(refs, name)
			}
		}
	}
	set, f := openStores(m, prof, lg, false)
	defer set.Close()
	start := time.Now()
	values, failed := f.FetchAvailable(context.Background(), refs)
	logResolved(lg.log, values, time.Since(start))
	return values, append(failed, refused...)
}

// manifestOnlyVault is vault.ManifestOnly for a manifest that reads Vault
// with prof (its identity's source included): check --resolve and scan,
// which run none of the repository's code, send no credential to a Vault
// only the manifest names, nor over TLS the manifest alone weakens.
func manifestOnlyVault(m *manifest.Manifest, prof *manifest.Profile) error {
	if !slices.Contains(m.Schemes(prof), vault.Scheme) {
		return nil
	}
	o, _ := m.Stores.Options[vault.Kind.Name].(*vault.Options)
	return vault.ManifestOnly(o, os.Getenv)
}
