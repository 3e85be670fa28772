// Package plan composes what one start of the child gets: its
// environment (inherited variables filtered by inherit and deny, minus the
// credentials ward used, then the declared values, secrets and rendered
// templates) and its secret files. It does no I/O, and Changed compares
// two plans so that rotation acts only when the child's view changes.
package plan

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/wardsecrets/ward/launcher/manifest"
	"github.com/wardsecrets/ward/launcher/mask"
	"github.com/wardsecrets/ward/launcher/secretdir"
	"github.com/wardsecrets/ward/resolve"
)

// Plan is what one start of the child gets: its environment and its
// secret files. Two plans that Changed reports equal give the child the
// same view.
type Plan struct {
	// Env is the child's environment, KEY=VALUE.
	Env []string
	// Files are written under the private directory before the start.
	Files []secretdir.File
	// Secrets are the secret values by variable (or file) name, for
	// masking, scanning and naming what changed.
	Secrets []mask.Secret
	// Unmasked names the Secrets declared mask: false: not secret, so
	// not masked, told to a CI runner or searched for (see Masked); a
	// change to them still counts.
	Unmasked map[string]bool
	// Values are the resolved references, for audit and rotation.
	Values map[string]resolve.Value
	// Overridden names inherited variables that declared ones replaced
	// with another value.
	Overridden []string
}

// Input is what a plan is built from besides the manifest and the values.
type Input struct {
	// Environ is ward's environment, KEY=VALUE.
	Environ []string
	// Dir is the private directory the files will live in ("" when there
	// are none).
	Dir string
	// Credentials are the variables ward and its stores authenticate
	// with: never inherited unless the manifest declares them by name.
	Credentials []string
	// Drop are variables never inherited, because ward sets them for the
	// child itself (systemd's NOTIFY_SOCKET, LISTEN_*).
	Drop []string
	// Extra are KEY=VALUE entries ward adds last.
	Extra []string
	// NoProxy are hosts the child must reach directly, not through the
	// proxy HTTP_PROXY or HTTPS_PROXY names: ward's identity endpoints on
	// 127.0.0.1, which Google's and Azure's JavaScript libraries (and
	// Python's requests) would otherwise ask a proxy for. They are added
	// to the child's NO_PROXY and no_proxy (see WithNoProxy).
	NoProxy []string
}

// credentialPatterns are stripped like Input.Credentials: ward's own
// settings, but for passedSettings.
var credentialPatterns = []string{"WARD_*"}

// passedSettings are ward's settings that say where, not how: the child
// gets them as any inherited variable, so that a ward it runs (a script's
// `ward run` under an entrypoint's) finds what ward found. Stripped,
// $WARD_RUNTIME_DIR (a pod's memory emptyDir where /dev/shm is absent or
// too small) sent the inner ward's secret files to another place, or to
// none: it failed with 125, and a hint to set the variable that was set.
var passedSettings = []string{"WARD_RUNTIME_DIR"}

// processMarkers are the variables CI runners find a job's processes by,
// reading every process's /proc/PID/environ, to kill what the job left
// running when it ends or is cancelled: actions/runner's
// RUNNER_TRACKING_ID, the Azure Pipelines agent's VSTS_PROCESS_LOOKUP_ID,
// Jenkins Pipeline's JENKINS_NODE_COOKIE. A runner that is not root cannot
// read non-dumpable ward's, so the child passes them on for both: they
// reach it whatever inherit says (a deny that names them still holds, as
// Jenkins' "dontKillMe" does). They are identifiers, not secrets.
var processMarkers = []string{"RUNNER_TRACKING_ID", "VSTS_PROCESS_LOOKUP_ID", "JENKINS_NODE_COOKIE"}

// Build composes the child's environment and files from resolved values.
func Build(m *manifest.Manifest, prof *manifest.Profile, values map[string]resolve.Value, in Input) (*Plan, error) {
	env := m.EnvFor(prof)
	files := m.FilesFor(prof)
	plan := &Plan{Values: values}
	for _, f := range files {
		// The manifest's check bounds the path in the directory; the
		// child opens it by the whole path, longer by the directory's.
		if full := filepath.Join(in.Dir, filepath.FromSlash(f.Path)); in.Dir != "" && len(full) > secretdir.PathMax {
			return nil, &manifest.ValidationError{File: m.File, Line: f.Pos.Line, Col: f.Pos.Col, Field: f.Field + ".path",
				Msg:    fmt.Sprintf("the child's path to the file, in ward's private directory %s, is %d bytes, longer than the %d a program can open", in.Dir, len(full), secretdir.PathMax),
				Advice: "shorten the path (its directories' names most), or set WARD_RUNTIME_DIR to a directory with a shorter name"}
		}
	}

	vars, secret, err := render(env, values, filePaths(files, in.Dir))
	if err != nil {
		return nil, err
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
	for _, kv := range InheritEnv(in.Environ, m.Inherit, slices.Concat(m.Deny, in.Drop), in.Credentials, declared) {
		name, inherited, _ := strings.Cut(kv, "=")
		if slices.ContainsFunc(env, func(v *manifest.EnvVar) bool { return v.Name == name }) {
			// One that holds the same value is replaced by itself:
			// `SELF: env://SELF`, a ward run under another of the same
			// manifest (a shell started by ward, then `ward run -- npm
			// run dev` in it) warned of each variable.
			if inherited != vars[name] {
				plan.Overridden = append(plan.Overridden, name)
			}
			continue
		}
		plan.Env = append(plan.Env, kv)
	}
	for _, v := range env {
		plan.Env = append(plan.Env, v.Name+"="+vars[v.Name])
	}
	if err := plan.addFiles(m.File, files, values, vars, secret); err != nil {
		return nil, err
	}
	plan.Env = append(plan.Env, in.Extra...)
	plan.Env = WithNoProxy(plan.Env, in.NoProxy)
	for _, n := range slices.Sorted(maps.Keys(secret)) {
		plan.Secrets = append(plan.Secrets, mask.Secret{Name: n, Value: secret[n]})
	}
	for _, v := range env {
		if v.NoMask {
			if plan.Unmasked == nil {
				plan.Unmasked = map[string]bool{}
			}
			plan.Unmasked[v.Name] = true
		}
	}
	return plan, nil
}

// Masked are the Secrets to mask, tell a CI runner of and search for:
// all but the ones declared mask: false.
func (plan *Plan) Masked() []mask.Secret {
	if len(plan.Unmasked) == 0 {
		return plan.Secrets
	}
	return slices.DeleteFunc(slices.Clone(plan.Secrets), func(s mask.Secret) bool { return plan.Unmasked[s.Name] })
}

// filePaths maps the files' path variables to their full paths.
func filePaths(files []*manifest.FileSpec, dir string) map[string]string {
	paths := map[string]string{}
	for _, f := range files {
		if f.Env != "" {
			paths[f.Env] = filepath.Join(dir, filepath.FromSlash(f.Path))
		}
	}
	return paths
}

// render gives every variable its value: the files' path variables (which
// templates may read, and are not secrets), plain values, resolved
// references, then templates in dependency order (validation rejected
// cycles). secret holds the values that count as secrets.
func render(env []*manifest.EnvVar, values map[string]resolve.Value, paths map[string]string) (vars map[string]string, secret map[string][]byte, err error) {
	vars = make(map[string]string, len(env)+len(paths))
	maps.Copy(vars, paths)
	secret = map[string][]byte{}
	byName := map[string]*manifest.EnvVar{}
	done := map[string]bool{}
	for _, v := range env {
		byName[v.Name] = v
		switch {
		case v.IsValue:
			vars[v.Name] = v.Value
		case v.Ref != nil:
			val, ok := values[v.Name]
			if !ok {
				return nil, nil, fmt.Errorf("%s: %s was not resolved", v.Name, v.Ref.Raw)
			}
			vars[v.Name] = string(val.Bytes)
			secret[v.Name] = val.Bytes
		}
		if v.Template == nil {
			done[v.Name] = true
		}
	}
	var visit func(v *manifest.EnvVar) error
	visit = func(v *manifest.EnvVar) error {
		if done[v.Name] {
			return nil
		}
		for _, d := range v.Template.Deps {
			if dv, ok := byName[d]; ok {
				if err := visit(dv); err != nil {
					return err
				}
			}
		}
		out, err := v.Template.Render(vars)
		if err != nil {
			// A manifest error: it names the template's place and field.
			return err
		}
		vars[v.Name] = string(out)
		secret[v.Name] = out
		done[v.Name] = true
		return nil
	}
	for _, v := range env {
		if err := visit(v); err != nil {
			return nil, nil, err
		}
	}
	return vars, secret, nil
}

// addFiles adds the secret files and their path variables, whose values
// vars holds.
func (plan *Plan) addFiles(manifestFile string, files []*manifest.FileSpec, values map[string]resolve.Value, vars map[string]string, secret map[string][]byte) error {
	for _, f := range files {
		var data []byte
		source := "the rendered template"
		if f.Ref != nil {
			source = "the value of " + f.Ref.Raw
			val, ok := values[f.Key()]
			if !ok {
				return fmt.Errorf("file %s: %s was not resolved", f.Path, f.Ref.Raw)
			}
			data = val.Bytes
		} else {
			out, err := f.Template.Render(vars)
			if err != nil {
				return err
			}
			data = out
		}
		if f.Encoding == manifest.EncodingBase64 {
			decoded, ok := decodeBase64(data)
			if !ok {
				// Never the value, nor where in it the decoder stopped.
				return &manifest.ValidationError{File: manifestFile, Line: f.Pos.Line, Col: f.Pos.Col, Field: f.Field,
					Msg:    fmt.Sprintf("%s is not base64 (encoding: base64)", source),
					Advice: "store the file's base64 (base64 -w0 keystore.p12), or remove encoding: base64 to write the value as it is stored"}
			}
			data = decoded
		}
		data = asSSHReadsIt(data)
		plan.Files = append(plan.Files, secretdir.File{Path: f.Path, Mode: f.Mode, Data: data})
		secret[f.Key()] = data
		if f.Env == "" {
			continue
		}
		// A declared file variable replaces an inherited one.
		if i := slices.IndexFunc(plan.Env, func(kv string) bool { return strings.HasPrefix(kv, f.Env+"=") }); i >= 0 {
			plan.Env = slices.Delete(plan.Env, i, i+1)
			plan.Overridden = append(plan.Overridden, f.Env)
		}
		plan.Env = append(plan.Env, f.Env+"="+vars[f.Env])
	}
	return nil
}

// decodeBase64 decodes a value stored as base64 text, as the tools that
// make it print it (base64, openssl base64, Python's b64encode, Key
// Vault): the standard alphabet, padded, wrapped into lines or not, with
// LF or CRLF line ends and a last line break (vault kv put k=@file).
// Whitespace is dropped wherever it is. Unpadded and URL-safe text is
// refused: most words and tokens would read as it, and a value stored
// as it is (a password, a PEM key) would become garbage rather than an
// error.
func decodeBase64(b []byte) ([]byte, bool) {
	text := bytes.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, b)
	out := make([]byte, base64.StdEncoding.DecodedLen(len(text)))
	n, err := base64.StdEncoding.Decode(out, text)
	if err != nil {
		return nil, false
	}
	return out[:n], true
}

// The armour lines of an OpenSSH private key, the format ssh-keygen
// writes since OpenSSH 7.8.
var (
	openSSHBegin = []byte("-----BEGIN OPENSSH PRIVATE KEY-----")
	openSSHEnd   = []byte("-----END OPENSSH PRIVATE KEY-----")
)

// asSSHReadsIt returns an OpenSSH private key with LF line ends and its
// last line break, and any other value as it is. ssh refuses the key
// without that line break (a value stored as "$(cat id_ed25519)", whose
// shell drops it, or pasted into a web form) or with CRLF line ends (a
// Windows editor's), with "error in libcrypto", though the base64
// between the armour lines is the same key either way.
func asSSHReadsIt(data []byte) []byte {
	body := bytes.TrimRight(data, "\r\n")
	if !bytes.HasPrefix(data, openSSHBegin) || !bytes.HasSuffix(body, openSSHEnd) {
		return data
	}
	return append(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), '\n')
}

// WithoutProcessMarkers returns environ without the CI runners' process
// markers (see processMarkers), for ward's store helpers: a runner that
// cleans up as root reads ward's environment too and kills it with the
// child, and a helper it spares sees ward gone and gives back its leases.
func WithoutProcessMarkers(environ []string) []string {
	return slices.DeleteFunc(slices.Clone(environ), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(processMarkers, name)
	})
}

// InheritEnv filters ward's environment for the child: the inherit rule
// (which a CI runner's process marker passes), then deny, then the
// credentials (and ward's own WARD_* settings) unless declared.
func InheritEnv(parent []string, inh manifest.Inherit, deny, credentials []string, declared map[string]bool) []string {
	var out []string
	for _, kv := range parent {
		i := strings.IndexByte(kv, '=')
		if i <= 0 {
			continue
		}
		name := kv[:i]
		if !inh.All && !MatchAny(inh.Patterns, name) && !slices.Contains(processMarkers, name) {
			continue
		}
		if MatchAny(deny, name) {
			continue
		}
		if !declared[name] && (slices.Contains(credentials, name) || MatchAny(credentialPatterns, name) && !slices.Contains(passedSettings, name)) {
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
	envChanged = !slices.Equal(p.Env, next.Env)
	filesChanged = !slices.EqualFunc(p.Files, next.Files, func(a, b secretdir.File) bool {
		return a.Path == b.Path && a.Mode == b.Mode && bytes.Equal(a.Data, b.Data)
	})
	sort.Strings(names)
	return names, envChanged, filesChanged
}

// MatchAny reports whether name matches any of patterns.
func MatchAny(patterns []string, name string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return MatchPattern(p, name) })
}

// MatchPattern matches a name against a pattern where * matches any run
// of characters.
func MatchPattern(pattern, name string) bool {
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

// noProxyVars are the variables that list the hosts a client reaches
// without its proxy; libraries read one or the other first.
var noProxyVars = []string{"NO_PROXY", "no_proxy"}

// WithNoProxy adds hosts to the lists in env's NO_PROXY and no_proxy,
// keeping their entries; with neither set, it sets both to hosts. A list
// that holds a host already, or "*", is left as it is.
func WithNoProxy(env []string, hosts []string) []string {
	if len(hosts) == 0 {
		return env
	}
	found := false
	for i, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		if !slices.Contains(noProxyVars, name) {
			continue
		}
		found = true
		entries := strings.Split(value, ",")
		for j := range entries {
			entries[j] = strings.TrimSpace(entries[j])
		}
		if slices.Contains(entries, "*") {
			continue
		}
		for _, h := range hosts {
			if !slices.Contains(entries, h) {
				if value != "" {
					value += ","
				}
				value += h
			}
		}
		env[i] = name + "=" + value
	}
	if !found {
		for _, name := range noProxyVars {
			env = append(env, name+"="+strings.Join(hosts, ","))
		}
	}
	return env
}
