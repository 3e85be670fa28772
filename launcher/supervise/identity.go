package supervise

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	wardhome "github.com/wardsecrets/ward/internal/home"
	"github.com/wardsecrets/ward/launcher/identity"
	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/launcher/plan"
	"github.com/wardsecrets/ward/launcher/secretdir"
	"github.com/wardsecrets/ward/resolve"
)

// identities are the caches of the cloud identities the manifest serves
// the child, empty until the first resolve fills them.
type identities struct {
	aws *identity.Cache
	gcp *identity.Cache
	// azure has one cache per resource, by the resource as the manifest
	// writes it.
	azure map[string]*identity.Cache
	// expired hears, under rotation.on_expired: stop, why an identity's
	// credentials expired while its source failed.
	expired chan string
}

// newIdentity returns the caches of the identities the manifest serves
// the child (nil when it serves none).
func newIdentity(o Options) (*identities, error) {
	id := o.Manifest.IdentityFor(o.Profile)
	served := id.Fields()
	if len(served) == 0 {
		return nil, nil
	}
	if o.Exec {
		flag, _ := o.execFlag()
		return nil, errors.New(flag + " cannot serve " + served[0])
	}
	ids := &identities{expired: make(chan string, 1)}
	// masked tells the masker of each credentials before they are served,
	// and the supervisor of credentials that expired with their source
	// down, under on_expired: stop.
	masked := func(c *identity.Cache, name, ref string) *identity.Cache {
		if m := o.masker; m != nil {
			c.OnNew(func(cr identity.Credentials) { m.serve(name, cr) })
		}
		if o.Manifest.Rotation.OnExpired == manifest.StopChild {
			c.OnExpired(func() {
				select {
				case ids.expired <- "the credentials of " + name + " (" + ref + ") expired and its source is down (on_expired: stop)":
				default:
				}
			})
		}
		return c
	}
	if a := id.AWS; a != nil {
		ids.aws = masked(identity.NewCache(&identity.RefSource{Fetcher: o.Fetcher, Ref: a.From}, a.RefreshBefore, o.Log), "identity.aws", a.From.Raw)
	}
	if g := id.GCP; g != nil {
		ids.gcp = masked(identity.NewCacheFor("gcp", identity.NewTokenSource(o.Fetcher, g.From, identity.GCPSourceVar), g.RefreshBefore, o.Log), "identity.gcp", g.From.Raw)
	}
	if a := id.Azure; a != nil {
		ids.azure = map[string]*identity.Cache{}
		for i, r := range a.Refs {
			ids.azure[a.Resources[i]] = masked(identity.NewCacheFor("azure", identity.NewTokenSource(o.Fetcher, r, identity.AzureSourceVar), a.RefreshBefore, o.Log), "identity.azure", r.Raw)
		}
	}
	return ids, nil
}

// fill fetches every identity's first credentials at once.
func (ids *identities) fill(ctx context.Context) error {
	caches := []*identity.Cache{ids.aws, ids.gcp}
	for _, c := range ids.azure {
		caches = append(caches, c)
	}
	errs := make([]error, len(caches))
	var wg sync.WaitGroup
	for i, c := range caches {
		if c != nil {
			wg.Go(func() { errs[i] = c.Fill(ctx) })
		}
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fetchWithIdentity resolves the child's references and, at the same
// time, the identities' first credentials: nothing starts unless both
// succeed.
func fetchWithIdentity(ctx context.Context, o Options) (map[string]resolve.Value, error) {
	id := o.identity
	if id == nil {
		return o.Fetcher.Fetch(ctx, o.Manifest.Refs(o.Profile))
	}
	var idErr error
	var wg sync.WaitGroup
	wg.Go(func() { idErr = id.fill(ctx) })
	values, err := o.Fetcher.Fetch(ctx, o.Manifest.Refs(o.Profile))
	wg.Wait()
	if err != nil || idErr != nil {
		return nil, errors.Join(err, idErr)
	}
	return values, nil
}

// identityRun is the identity endpoints of one run: the variables they
// give the child, those the child must not inherit, and their stops.
type identityRun struct {
	stops []func() error
	env   []string
	drop  []string
	// checks look at the child's environment, once its plan is built,
	// for credentials its SDK would take before the endpoint.
	checks []func(getenv func(string) string)
}

// check runs the checks over the child's environment env.
func (r *identityRun) check(env []string) {
	getenv := func(name string) string {
		for i := len(env) - 1; i >= 0; i-- {
			if k, v, ok := strings.Cut(env[i], "="); ok && k == name {
				return v
			}
		}
		return ""
	}
	for _, c := range r.checks {
		c(getenv)
	}
}

// noProxy are the endpoints' hosts, for the child's NO_PROXY: every
// endpoint listens on 127.0.0.1 (listenLoopback).
func (r *identityRun) noProxy() []string {
	if len(r.stops) == 0 {
		return nil
	}
	return []string{"127.0.0.1"}
}

// serveIdentity starts the endpoints of the filled identities, their
// files in the private directory dir. A run without an identity serves
// nothing.
func serveIdentity(o Options, dir *secretdir.Dir) (run *identityRun, err error) {
	run = &identityRun{}
	ids := o.identity
	if ids == nil {
		return run, nil
	}
	// An endpoint started before a later one fails is stopped here.
	defer func() {
		if err != nil {
			run.stop()
		}
	}()
	if ids.aws != nil {
		e, err := identity.ServeAWS(ids.aws, identity.AWSConfig{
			Log: o.Log,
			WriteToken: func(token []byte) (string, error) {
				if err := dir.Write([]secretdir.File{{Path: manifest.AWSTokenFile, Mode: 0o400, Data: token}}); err != nil {
					return "", err
				}
				if m := o.masker; m != nil {
					// A child that prints the file, or the variable
					// older botocore needs it copied into, must not
					// show it.
					m.keep("AWS_CONTAINER_AUTHORIZATION_TOKEN", token)
				}
				return filepath.Join(dir.Path, manifest.AWSTokenFile), nil
			},
		})
		if err != nil {
			return run, err
		}
		run.add(e.Close, e.Env(), identity.AWSStripped)
		run.checks = append(run.checks, func(getenv func(string) string) { warnAWSConfig(o.Log, getenv) })
	}
	if ids.gcp != nil {
		e, err := identity.ServeGCP(ids.gcp, identity.GCPConfig{
			Log:       o.Log,
			Project:   o.Manifest.IdentityFor(o.Profile).GCP.Project,
			ConfigDir: func() (string, error) { return dir.Mkdir(manifest.GCPConfigDir) },
		})
		if err != nil {
			return run, err
		}
		run.add(e.Close, e.Env(), identity.GCPStripped)
		run.checks = append(run.checks, func(getenv func(string) string) { warnGCloudADC(o.Log, getenv) })
	}
	if len(ids.azure) > 0 {
		e, err := identity.ServeAzure(ids.azure, identity.AzureConfig{Log: o.Log})
		if err != nil {
			return run, err
		}
		run.add(e.Close, e.Env(), identity.AzureStripped)
		if m := o.masker; m != nil {
			// The header is a secret in the child's environment: a child
			// that prints its environment must not show it.
			m.keep("IDENTITY_HEADER", []byte(e.Header()))
		}
	}
	// A credential variable the manifest declares still reaches the
	// child, and every SDK's chain prefers it to the endpoint.
	for _, v := range o.Manifest.EnvFor(o.Profile) {
		if slices.Contains(run.drop, v.Name) {
			o.Log.Warn("the manifest declares a cloud credential variable: the child's SDK may use it, not the identity endpoint", "name", v.Name)
		}
	}
	// One inherit: names (or a pattern of it matches) is stripped all the
	// same: said, not done in silence. Not one ward sets for the child
	// (IDENTITY_ENDPOINT: the child has ward's), nor one the manifest
	// declares (the child has that).
	var stripped []string
	for _, name := range run.drop {
		if o.Getenv(name) == "" || !plan.MatchAny(o.Manifest.Inherit.Patterns, name) || slices.Contains(stripped, name) ||
			slices.ContainsFunc(run.env, func(kv string) bool { return strings.HasPrefix(kv, name+"=") }) ||
			slices.ContainsFunc(o.Manifest.EnvFor(o.Profile), func(v *manifest.EnvVar) bool { return v.Name == name }) {
			continue
		}
		stripped = append(stripped, name)
	}
	if len(stripped) > 0 {
		slices.Sort(stripped)
		o.Log.Warn("inherit: names cloud credential variables, which the identity endpoint's child does not get: declare one under env: (env://NAME) if the child must have it", "names", strings.Join(stripped, ","))
	}
	return run, nil
}

func (r *identityRun) add(stop func() error, env, drop []string) {
	r.stops = append(r.stops, stop)
	r.env = append(r.env, env...)
	r.drop = append(r.drop, drop...)
}

// warnGCloudADC warns when the child's HOME holds gcloud's application
// default credentials: Google's Go, Java and Node.js libraries read them
// from $HOME/.config/gcloud whatever CLOUDSDK_CONFIG says, before they
// ask the metadata server, so the child would act as whoever ran gcloud
// auth application-default login there.
func warnGCloudADC(log *slog.Logger, getenv func(string) string) {
	home := getenv("HOME")
	if home == "" {
		return
	}
	f := filepath.Join(home, ".config", "gcloud", "application_default_credentials.json")
	if _, err := os.Stat(f); err == nil {
		log.Warn("the child's HOME holds gcloud's application default credentials, which Google's Go, Java and Node.js libraries use before the metadata endpoint: remove them (gcloud auth application-default revoke) or give the child another HOME", "file", f)
	}
}

// awsProfileCredentials are the settings of an AWS config file's profile
// that give it credentials of its own: every SDK's default chain takes
// them before the container endpoint.
var awsProfileCredentials = []string{
	"aws_access_key_id", "role_arn", "source_profile", "credential_source", "credential_process",
	"web_identity_token_file", "sso_session", "sso_start_url", "sso_account_id", "login_session",
}

// warnAWSConfig warns when the AWS config file the child's SDK reads
// (AWS_CONFIG_FILE, or ~/.aws/config) has a default profile with
// credentials: ward strips AWS_PROFILE and empties the shared credentials
// file, but the SDKs read the config file's default profile too, before
// the endpoint, so the child would act as whoever wrote it (aws configure
// sso, aws login). It names the settings, never their values.
func warnAWSConfig(log *slog.Logger, getenv func(string) string) {
	// Without HOME, the SDKs take the user's home from the password
	// database, as a shell's ~ does.
	f, home := getenv("AWS_CONFIG_FILE"), wardhome.Dir(getenv)
	if strings.Contains(f, "$") {
		// As botocore expands it (expandvars, then expanduser): a $HOME
		// no shell expanded (systemd's Environment=, compose).
		f = os.Expand(f, getenv)
	}
	switch {
	case f == "" && home == "":
		return
	case f == "":
		f = filepath.Join(home, ".aws", "config")
	case (f == "~" || strings.HasPrefix(f, "~/")) && home != "":
		// As botocore and the JavaScript SDK expand it: a ~ no shell
		// expanded (systemd's Environment=, compose, a quoted export).
		f = filepath.Join(home, f[1:])
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return
	}
	if found := defaultProfileCredentials(string(b)); len(found) > 0 {
		log.Warn("the AWS config file's default profile holds credentials, which the child's AWS SDK uses before the identity endpoint: remove them from it or give the child another AWS_CONFIG_FILE",
			"file", f, "settings", strings.Join(found, ", "))
	}
}

// defaultProfileCredentials returns the awsProfileCredentials that the
// default profile ([default] or [profile default]) of an AWS config
// file sets, sorted. The file is read as botocore's configparser reads
// it: a key ends at the first '=' or ':', a header at its last ']' (a
// comment may follow it), a line starting with '#' or ';' is a comment,
// and a line indented more than the key before it in its section
// continues that key's value (a nested section: s3 =, services =); an
// indented line with no key before it is a key. The keys of [DEFAULT]
// are every section's; the name of a section is as written ([ default ]
// is not the default profile), split as a shell splits it after
// "profile" ([profile "default"] is); of two sections of the default
// profile the later wins. `key: value`, an indented first key and
// `[default] ; comment` passed unwarned, and boto3 took the keys.
func defaultProfileCredentials(config string) []string {
	var defaults, profile, current []string
	inDefault, inDEFAULT, haveProfile := false, false, false
	key, keyIndent := "", 0
	for _, line := range strings.Split(config, "\n") {
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';' {
			continue
		}
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		if indent > 0 && key != "" && indent > keyIndent {
			continue
		}
		if trimmed[0] == '[' {
			if end := strings.LastIndexByte(trimmed, ']'); end > 0 {
				if inDefault {
					profile = current
				}
				name := trimmed[1:end]
				inDEFAULT = name == "DEFAULT"
				inDefault = name == "default" || defaultProfileSection(name)
				if inDefault {
					haveProfile, current = true, nil
				}
				key = ""
				continue
			}
		}
		i := strings.IndexAny(trimmed, "=:")
		if i < 0 {
			continue
		}
		key, keyIndent = strings.ToLower(strings.TrimSpace(trimmed[:i])), indent
		if !slices.Contains(awsProfileCredentials, key) {
			continue
		}
		switch {
		case inDEFAULT:
			defaults = append(defaults, key)
		case inDefault:
			current = append(current, key)
		}
	}
	if inDefault {
		profile = current
	}
	if !haveProfile {
		return nil
	}
	found := slices.Concat(profile, defaults)
	slices.Sort(found)
	return slices.Compact(found)
}

// defaultProfileSection reports whether a section's name, as written
// between its brackets, is botocore's `profile default`: "profile" and
// the name, split as a shell splits words (quotes removed).
func defaultProfileSection(name string) bool {
	if !strings.HasPrefix(name, "profile") {
		return false
	}
	var words []string
	for _, w := range strings.Fields(name) {
		if len(w) >= 2 && (w[0] == '"' || w[0] == '\'') && w[len(w)-1] == w[0] {
			w = w[1 : len(w)-1]
		}
		words = append(words, w)
	}
	return len(words) == 2 && words[0] == "profile" && words[1] == "default"
}

// stop stops the endpoints; the store that issued the last credentials
// revokes their lease when ward closes it.
func (r *identityRun) stop() {
	if r == nil {
		return
	}
	for _, stop := range r.stops {
		stop()
	}
	r.stops = nil
}
