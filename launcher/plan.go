package launcher

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"

	"github.com/wardsecrets/ward/resolve"
)

// Plan is what one start of the child gets: its environment and its
// secret files. Two plans that are Equal give the child the same view.
type Plan struct {
	// Env is the child's environment, KEY=VALUE.
	Env []string
	// Files are written under the private directory before the start.
	Files []PlannedFile
	// Secrets are the secret values by variable (or file) name, for
	// masking and for naming what changed.
	Secrets []NamedSecret
	// Values are the resolved references, for audit and rotation.
	Values map[string]resolve.Value
	// Overridden names inherited variables that declared ones replaced.
	Overridden []string
}

// PlannedFile is one secret file.
type PlannedFile struct {
	Path string // relative to the private directory
	Mode fs.FileMode
	Data []byte
	Env  string
}

// NamedSecret is one secret value and the name ward shows instead of it.
type NamedSecret struct {
	Name  string
	Value []byte
}

// Credentials lists the variables ward and its stores authenticate with.
// They never reach the child unless the manifest declares them by name.
var Credentials = []string{
	"VAULT_TOKEN", "VAULT_ROLE_ID", "VAULT_SECRET_ID", "VAULT_WRAPPED_SECRET_ID", "VAULT_JWT",
	"VAULT_CLIENT_KEY", "VAULT_CLIENT_CERT", "VAULT_AUTH_TOKEN",
	"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
	"AWS_CREDENTIAL_FILE", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	"GOOGLE_APPLICATION_CREDENTIALS", "AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
}

// credentialPatterns are stripped like Credentials: ward's own settings.
var credentialPatterns = []string{"WARD_*"}

// Refs returns every reference the plan needs, keyed by the name its value
// is delivered under: the variable, or "file:PATH" for a file.
func Refs(env []*EnvVar, files []*FileSpec) map[string]resolve.Ref {
	refs := map[string]resolve.Ref{}
	for _, v := range env {
		if v.Ref != nil {
			refs[v.Name] = *v.Ref
		}
	}
	for _, f := range files {
		if f.Ref != nil {
			refs[fileKey(f)] = *f.Ref
		}
	}
	return refs
}

func fileKey(f *FileSpec) string { return "file:" + f.Path }

// BuildPlan composes the child's environment and files from resolved
// values. dir is the private directory the files will live in ("" when
// there are none); extra entries (KEY=VALUE, ward's systemd relay) come
// last. It does no I/O.
func BuildPlan(m *Manifest, prof *Profile, values map[string]resolve.Value, parentEnv []string, dir string, extra ...string) (*Plan, error) {
	env := m.EnvFor(prof)
	files := m.FilesFor(prof)
	plan := &Plan{Values: values}

	vars := make(map[string]string, len(env))
	secret := map[string][]byte{}
	for _, v := range env {
		switch {
		case v.IsValue:
			vars[v.Name] = v.Value
		case v.Ref != nil:
			val, ok := values[v.Name]
			if !ok {
				return nil, fmt.Errorf("%s: %s was not resolved", v.Name, v.Ref.Raw)
			}
			vars[v.Name] = string(val.Bytes)
			secret[v.Name] = val.Bytes
		}
	}
	// Render templates in dependency order; validation rejected cycles.
	done := map[string]bool{}
	byName := map[string]*EnvVar{}
	for _, v := range env {
		byName[v.Name] = v
		if v.Template == nil {
			done[v.Name] = true
		}
	}
	var render func(v *EnvVar) error
	render = func(v *EnvVar) error {
		if done[v.Name] {
			return nil
		}
		for _, d := range v.Template.Deps {
			if dv, ok := byName[d]; ok {
				if err := render(dv); err != nil {
					return err
				}
			}
		}
		out, err := v.Template.Render(vars)
		if err != nil {
			return fmt.Errorf("%s: %w", v.Name, err)
		}
		vars[v.Name] = string(out)
		secret[v.Name] = out
		done[v.Name] = true
		return nil
	}
	for _, v := range env {
		if err := render(v); err != nil {
			return nil, err
		}
	}

	declared := map[string]bool{}
	for _, v := range env {
		declared[v.Name] = true
	}
	for _, f := range files {
		if f.Env != "" {
			declared[f.Env] = true
		}
	}
	for _, p := range m.Inherit.Patterns {
		if !strings.Contains(p, "*") {
			declared[p] = true
		}
	}
	inherited := InheritEnv(parentEnv, m.Inherit, m.Deny, declared)
	for _, kv := range inherited {
		name := kv[:strings.IndexByte(kv, '=')]
		if _, ok := byName[name]; ok {
			plan.Overridden = append(plan.Overridden, name)
			continue
		}
		plan.Env = append(plan.Env, kv)
	}
	for _, v := range env {
		plan.Env = append(plan.Env, v.Name+"="+vars[v.Name])
	}

	for _, f := range files {
		var data []byte
		if f.Ref != nil {
			val, ok := values[fileKey(f)]
			if !ok {
				return nil, fmt.Errorf("file %s: %s was not resolved", f.Path, f.Ref.Raw)
			}
			data = val.Bytes
		} else {
			out, err := f.Template.Render(vars)
			if err != nil {
				return nil, fmt.Errorf("file %s: %w", f.Path, err)
			}
			data = out
		}
		plan.Files = append(plan.Files, PlannedFile{Path: f.Path, Mode: f.Mode, Data: data, Env: f.Env})
		secret[fileKey(f)] = data
		if f.Env != "" {
			// Overridden inherited variables were skipped above.
			for i, kv := range plan.Env {
				if strings.HasPrefix(kv, f.Env+"=") {
					plan.Env = append(plan.Env[:i], plan.Env[i+1:]...)
					plan.Overridden = append(plan.Overridden, f.Env)
					break
				}
			}
			plan.Env = append(plan.Env, f.Env+"="+filepath.Join(dir, filepath.FromSlash(f.Path)))
		}
	}

	plan.Env = append(plan.Env, extra...)

	names := make([]string, 0, len(secret))
	for n := range secret {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		plan.Secrets = append(plan.Secrets, NamedSecret{Name: n, Value: secret[n]})
	}
	return plan, nil
}

// InheritEnv filters ward's environment for the child: the inherit rule,
// then deny, then the credentials ward itself used, unless declared.
func InheritEnv(parent []string, inh Inherit, deny []string, declared map[string]bool) []string {
	var out []string
	for _, kv := range parent {
		i := strings.IndexByte(kv, '=')
		if i <= 0 {
			continue
		}
		name := kv[:i]
		if !inh.All && !matchAny(inh.Patterns, name) {
			continue
		}
		if matchAny(deny, name) || contains(systemdVars, name) {
			continue
		}
		if !declared[name] && (contains(Credentials, name) || matchAny(credentialPatterns, name)) {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Changed names the secrets whose values differ between two plans, and
// reports whether the child's view (env or files) differs at all.
func (p *Plan) Changed(next *Plan) (names []string, envChanged, filesChanged bool) {
	old := map[string][]byte{}
	for _, s := range p.Secrets {
		old[s.Name] = s.Value
	}
	seen := map[string]bool{}
	for _, s := range next.Secrets {
		seen[s.Name] = true
		if o, ok := old[s.Name]; !ok || !bytes.Equal(o, s.Value) {
			names = append(names, s.Name)
		}
	}
	for _, s := range p.Secrets {
		if !seen[s.Name] {
			names = append(names, s.Name)
		}
	}
	envChanged = !equalStrings(p.Env, next.Env)
	filesChanged = len(p.Files) != len(next.Files)
	for i := 0; !filesChanged && i < len(p.Files); i++ {
		a, b := p.Files[i], next.Files[i]
		filesChanged = a.Path != b.Path || a.Mode != b.Mode || !bytes.Equal(a.Data, b.Data)
	}
	return names, envChanged, filesChanged
}

// Resolve fetches what the manifest (with a profile) needs.
func Resolve(ctx context.Context, f *resolve.Fetcher, m *Manifest, prof *Profile) (map[string]resolve.Value, error) {
	return f.Fetch(ctx, Refs(m.EnvFor(prof), m.FilesFor(prof)))
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if matchPattern(p, name) {
			return true
		}
	}
	return false
}

// matchPattern matches a name against a pattern where * matches any run of
// characters.
func matchPattern(pattern, name string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == name
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(name, parts[0]) {
		return false
	}
	name = name[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(name, mid)
		if i < 0 {
			return false
		}
		name = name[i+len(mid):]
	}
	return strings.HasSuffix(name, last)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
