// Package launcher reads ward's manifest, builds the launch plan (the
// child's environment and secret files) and runs the child: start,
// supervise, rotate, stop.
package launcher

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/template"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/signals"
)

// Manifest is a parsed and validated ward.yaml.
type Manifest struct {
	// File is where the manifest was read from, for messages.
	File     string
	Version  int
	Stores   StoresConfig
	Env      []*EnvVar
	Files    []*FileSpec
	Inherit  Inherit
	Deny     []string
	Rotation Rotation
	Mask     bool
	Profiles map[string]*Profile
}

// EnvVar is one declared variable: a reference, a plain value or a
// template over other variables.
type EnvVar struct {
	Name string
	// Exactly one of Ref, Value (with IsValue) and Template is set.
	Ref      *resolve.Ref
	Value    string
	IsValue  bool
	Template *Template
	Pos      Pos
}

// Secret reports whether the variable's value counts as a secret: plain
// values do not; references and rendered templates do.
func (v *EnvVar) Secret() bool { return !v.IsValue }

// FileSpec is one secret file under the private tmpfs directory.
type FileSpec struct {
	// Path is relative to the private directory.
	Path     string
	Ref      *resolve.Ref
	Template *Template
	Mode     fs.FileMode
	// Env, when set, names the variable that gives the child the path.
	Env string
	Pos Pos
}

// Template is a parsed text/template and the variables it reads.
type Template struct {
	Text string
	Deps []string
	tmpl *template.Template
}

// Inherit says which variables of ward's environment the child gets.
type Inherit struct {
	All      bool
	Patterns []string
}

// Profile overrides or adds variables and files.
type Profile struct {
	Env   []*EnvVar
	Files []*FileSpec
	Pos   Pos
}

// Rotation configures what happens when a secret changes.
type Rotation struct {
	OnChange     string // restart | signal | none
	Signal       syscall.Signal
	Poll         time.Duration
	Jitter       float64
	Debounce     time.Duration
	StopSignal   syscall.Signal
	StopTimeout  time.Duration
	OnExpired    string // keep | stop
	RevokeOnExit bool
}

// StoresConfig holds per-store settings; absent stores take their
// defaults from the usual environment.
type StoresConfig struct {
	Vault       *VaultConfig
	AWS         *AWSConfig
	Concurrency int
}

// VaultConfig configures the Vault store.
type VaultConfig struct {
	Address       string
	Namespace     string
	CACert        string
	CAPath        string
	ClientCert    string
	ClientKey     string
	TLSServerName string
	SkipVerify    *bool
	Timeout       time.Duration
	MaxRetries    *int
	Auth          VaultAuth
	Pos           Pos
}

// VaultAuth configures how ward logs in to Vault.
type VaultAuth struct {
	Method          string // token | token_file | approle | kubernetes | jwt
	Mount           string
	Role            string
	TokenFile       string
	RoleID          string
	RoleIDFile      string
	RoleIDEnv       string
	SecretIDFile    string
	SecretIDEnv     string
	WrappedSecretID bool
	JWTFile         string
	JWTEnv          string
	Pos             Pos
}

// AWSConfig configures the AWS stores.
type AWSConfig struct {
	Region  string
	Profile string
	Pos     Pos
}

// Pos is a place in the manifest.
type Pos struct{ Line, Col int }

// DefaultRotation returns the rotation settings used where the manifest is
// silent.
func DefaultRotation() Rotation {
	return Rotation{
		OnChange:     "restart",
		Signal:       syscall.SIGHUP,
		Poll:         5 * time.Minute,
		Jitter:       0.1,
		Debounce:     2 * time.Second,
		StopSignal:   syscall.SIGTERM,
		StopTimeout:  30 * time.Second,
		OnExpired:    "keep",
		RevokeOnExit: true,
	}
}

// ValidationError is one problem in a manifest, with its place and the
// field it concerns. It never holds a secret value.
type ValidationError struct {
	File  string
	Line  int
	Col   int
	Field string
	Msg   string
	Hint  string
}

func (e *ValidationError) Error() string {
	loc := fmt.Sprintf("%s:%d:%d", e.File, e.Line, e.Col)
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// ValidationErrors is every problem found in a manifest, in file order.
type ValidationErrors []*ValidationError

func (es ValidationErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Hints returns the distinct hints of the errors.
func (es ValidationErrors) Hints() []string {
	var out []string
	seen := map[string]bool{}
	for _, e := range es {
		if e.Hint != "" && !seen[e.Hint] {
			seen[e.Hint] = true
			out = append(out, e.Hint)
		}
	}
	return out
}

// maxManifestSize bounds what LoadManifest reads: a manifest is a list of
// references, and a huge file is a mistake (or an attack on the parser).
const maxManifestSize = 1 << 20

// LoadManifest reads and validates the manifest at file.
func LoadManifest(file string) (*Manifest, error) {
	f, err := os.Open(file)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, ValidationErrors{{File: file, Line: 1, Col: 1, Msg: "no such file", Hint: "create one with `ward init`, or name another with -m"}}
		}
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if len(b) > maxManifestSize {
		return nil, ValidationErrors{{File: file, Line: 1, Col: 1, Msg: "the manifest is larger than 1 MiB", Hint: "a manifest holds references, not data"}}
	}
	return ParseManifest(file, b)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ParseManifest parses and validates a manifest held in memory; file names
// it in messages.
func ParseManifest(file string, data []byte) (*Manifest, error) {
	p := &parser{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := 1, err.Error()
		if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		return nil, ValidationErrors{{File: file, Line: line, Col: 1, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: "), Hint: "check the indentation and quoting on that line"}}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, ValidationErrors{{File: file, Line: 1, Col: 1, Msg: "the manifest is empty", Hint: "start with `version: 1` and an `env:` mapping"}}
	}
	m := p.manifest(doc.Content[0])
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool {
			a, b := p.errs[i], p.errs[j]
			return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
		})
		return nil, p.errs
	}
	return m, nil
}

type parser struct {
	file string
	errs ValidationErrors
}

func (p *parser) fail(n *yaml.Node, field, hint, format string, args ...any) {
	p.errs = append(p.errs, &ValidationError{File: p.file, Line: n.Line, Col: n.Column, Field: field, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// fields walks a mapping node, calling handle for each known key and
// reporting unknown and duplicate keys.
func (p *parser) fields(n *yaml.Node, field string, known map[string]func(k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, field, "", "want a mapping, got %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := join(field, k.Value)
		if seen[k.Value] {
			p.fail(k, name, "remove one of them", "duplicate key")
			continue
		}
		seen[k.Value] = true
		h, ok := known[k.Value]
		if !ok {
			names := make([]string, 0, len(known))
			for n := range known {
				names = append(names, n)
			}
			sort.Strings(names)
			p.fail(k, name, "known fields here: "+strings.Join(names, ", "), "unknown field %q", k.Value)
			continue
		}
		h(k, v)
	}
}

// pairs walks a mapping whose keys are user names (env vars, profiles),
// reporting duplicates.
func (p *parser) pairs(n *yaml.Node, field string, each func(k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		p.fail(n, field, "", "want a mapping, got %s", kindName(n))
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			p.fail(k, join(field, k.Value), "remove one of them", "duplicate key")
			continue
		}
		seen[k.Value] = true
		each(k, v)
	}
}

func (p *parser) str(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.fail(n, field, "", "want a string, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (p *parser) boolean(n *yaml.Node, field string) (bool, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		var b bool
		if n.Decode(&b) == nil {
			return b, true
		}
	}
	p.fail(n, field, "write true or false", "want a boolean, got %s", kindName(n))
	return false, false
}

func (p *parser) integer(n *yaml.Node, field string) (int, bool) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!int" {
		var i int
		if n.Decode(&i) == nil {
			return i, true
		}
	}
	p.fail(n, field, "", "want a whole number, got %s", kindName(n))
	return 0, false
}

func (p *parser) duration(n *yaml.Node, field string) (time.Duration, bool) {
	s, ok := p.str(n, field)
	if !ok {
		return 0, false
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		p.fail(n, field, "write a duration such as 30s, 5m or 1h", "invalid duration %q", s)
		return 0, false
	}
	return d, true
}

func (p *parser) signal(n *yaml.Node, field string) (syscall.Signal, bool) {
	s, ok := p.str(n, field)
	if !ok {
		return 0, false
	}
	sig, err := signals.Parse(s)
	if err != nil || sig == syscall.SIGKILL || sig == syscall.SIGSTOP {
		p.fail(n, field, "write a signal name such as SIGTERM, SIGHUP or SIGUSR1", "unknown or uncatchable signal %q", s)
		return 0, false
	}
	return sig, true
}

func (p *parser) oneOf(n *yaml.Node, field string, choices ...string) (string, bool) {
	s, ok := p.str(n, field)
	if !ok {
		return "", false
	}
	for _, c := range choices {
		if s == c {
			return s, true
		}
	}
	p.fail(n, field, "choose one of: "+strings.Join(choices, ", "), "invalid value %q", s)
	return "", false
}

func (p *parser) manifest(n *yaml.Node) *Manifest {
	m := &Manifest{File: p.file, Rotation: DefaultRotation(), Inherit: Inherit{All: true}, Profiles: map[string]*Profile{}}
	var versionSeen bool
	p.fields(n, "", map[string]func(k, v *yaml.Node){
		"version": func(k, v *yaml.Node) {
			versionSeen = true
			if i, ok := p.integer(v, "version"); ok {
				if i != 1 {
					p.fail(v, "version", "this ward reads manifest version 1", "unsupported version %d", i)
				}
				m.Version = i
			}
		},
		"stores": func(k, v *yaml.Node) { p.stores(v, &m.Stores) },
		"env":    func(k, v *yaml.Node) { m.Env = p.env(v, "env") },
		"files":  func(k, v *yaml.Node) { m.Files = p.files(v, "files") },
		"inherit": func(k, v *yaml.Node) {
			m.Inherit = p.inherit(v)
		},
		"deny":     func(k, v *yaml.Node) { m.Deny = p.patterns(v, "deny") },
		"rotation": func(k, v *yaml.Node) { p.rotation(v, &m.Rotation) },
		"mask": func(k, v *yaml.Node) {
			m.Mask, _ = p.boolean(v, "mask")
		},
		"profiles": func(k, v *yaml.Node) {
			p.pairs(v, "profiles", func(pk, pv *yaml.Node) {
				name := join("profiles", pk.Value)
				prof := &Profile{Pos: Pos{pk.Line, pk.Column}}
				p.fields(pv, name, map[string]func(k, v *yaml.Node){
					"env":   func(k, v *yaml.Node) { prof.Env = p.env(v, name+".env") },
					"files": func(k, v *yaml.Node) { prof.Files = p.files(v, name+".files") },
				})
				m.Profiles[pk.Value] = prof
			})
		},
	})
	if n.Kind == yaml.MappingNode && !versionSeen {
		p.fail(n, "version", "add `version: 1` at the top", "missing")
	}
	if len(p.errs) == 0 {
		p.checkTemplates(n, m, "", nil)
		for name, prof := range m.Profiles {
			p.checkTemplates(n, m, name, prof)
		}
		p.checkFiles(m)
	}
	return m
}

func (p *parser) stores(n *yaml.Node, s *StoresConfig) {
	p.fields(n, "stores", map[string]func(k, v *yaml.Node){
		"concurrency": func(k, v *yaml.Node) {
			if i, ok := p.integer(v, "stores.concurrency"); ok {
				if i < 1 || i > 256 {
					p.fail(v, "stores.concurrency", "choose 1 to 256 (default 16)", "out of range: %d", i)
				}
				s.Concurrency = i
			}
		},
		"vault": func(k, v *yaml.Node) {
			vc := &VaultConfig{Pos: Pos{k.Line, k.Column}}
			f := "stores.vault"
			setStr := func(dst *string, name string) func(k, v *yaml.Node) {
				return func(k, v *yaml.Node) {
					if s, ok := p.str(v, join(f, name)); ok {
						*dst = s
					}
				}
			}
			p.fields(v, f, map[string]func(k, v *yaml.Node){
				"address":         setStr(&vc.Address, "address"),
				"namespace":       setStr(&vc.Namespace, "namespace"),
				"ca_cert":         setStr(&vc.CACert, "ca_cert"),
				"ca_path":         setStr(&vc.CAPath, "ca_path"),
				"client_cert":     setStr(&vc.ClientCert, "client_cert"),
				"client_key":      setStr(&vc.ClientKey, "client_key"),
				"tls_server_name": setStr(&vc.TLSServerName, "tls_server_name"),
				"skip_verify": func(k, v *yaml.Node) {
					if b, ok := p.boolean(v, f+".skip_verify"); ok {
						vc.SkipVerify = &b
					}
				},
				"timeout": func(k, v *yaml.Node) { vc.Timeout, _ = p.duration(v, f+".timeout") },
				"max_retries": func(k, v *yaml.Node) {
					if i, ok := p.integer(v, f+".max_retries"); ok {
						if i < 0 || i > 20 {
							p.fail(v, f+".max_retries", "choose 0 to 20", "out of range: %d", i)
						}
						vc.MaxRetries = &i
					}
				},
				"auth": func(k, v *yaml.Node) { p.vaultAuth(v, &vc.Auth) },
			})
			if vc.Address != "" && !strings.HasPrefix(vc.Address, "http://") && !strings.HasPrefix(vc.Address, "https://") {
				p.fail(v, f+".address", "write https://HOST:PORT", "invalid address %q", vc.Address)
			}
			s.Vault = vc
		},
		"aws": func(k, v *yaml.Node) {
			ac := &AWSConfig{Pos: Pos{k.Line, k.Column}}
			p.fields(v, "stores.aws", map[string]func(k, v *yaml.Node){
				"region": func(k, v *yaml.Node) {
					if s, ok := p.str(v, "stores.aws.region"); ok {
						ac.Region = s
					}
				},
				"profile": func(k, v *yaml.Node) {
					if s, ok := p.str(v, "stores.aws.profile"); ok {
						ac.Profile = s
					}
				},
			})
			s.AWS = ac
		},
	})
}

func (p *parser) vaultAuth(n *yaml.Node, a *VaultAuth) {
	f := "stores.vault.auth"
	a.Pos = Pos{n.Line, n.Column}
	setStr := func(dst *string, name string) func(k, v *yaml.Node) {
		return func(k, v *yaml.Node) {
			if s, ok := p.str(v, join(f, name)); ok {
				*dst = s
			}
		}
	}
	p.fields(n, f, map[string]func(k, v *yaml.Node){
		"method": func(k, v *yaml.Node) {
			a.Method, _ = p.oneOf(v, f+".method", "token", "token_file", "approle", "kubernetes", "jwt")
		},
		"mount":          setStr(&a.Mount, "mount"),
		"role":           setStr(&a.Role, "role"),
		"token_file":     setStr(&a.TokenFile, "token_file"),
		"role_id":        setStr(&a.RoleID, "role_id"),
		"role_id_file":   setStr(&a.RoleIDFile, "role_id_file"),
		"role_id_env":    setStr(&a.RoleIDEnv, "role_id_env"),
		"secret_id_file": setStr(&a.SecretIDFile, "secret_id_file"),
		"secret_id_env":  setStr(&a.SecretIDEnv, "secret_id_env"),
		"wrapped_secret_id": func(k, v *yaml.Node) {
			a.WrappedSecretID, _ = p.boolean(v, f+".wrapped_secret_id")
		},
		"jwt_file": setStr(&a.JWTFile, "jwt_file"),
		"jwt_env":  setStr(&a.JWTEnv, "jwt_env"),
	})
	need := func(ok bool, field, hint string) {
		if !ok {
			p.fail(n, join(f, field), hint, "required for method %s", a.Method)
		}
	}
	switch a.Method {
	case "":
		p.fail(n, f+".method", "choose one of: token, token_file, approle, kubernetes, jwt", "missing")
	case "token_file":
		need(a.TokenFile != "", "token_file", "name the file a Vault Agent sink writes, e.g. /run/vault/token")
	case "approle":
		need(a.RoleID != "" || a.RoleIDFile != "" || a.RoleIDEnv != "", "role_id_file", "give role_id, role_id_file or role_id_env")
	case "kubernetes", "jwt":
		need(a.Role != "", "role", "name the Vault role to log in as")
	}
}

func (p *parser) rotation(n *yaml.Node, r *Rotation) {
	f := "rotation"
	p.fields(n, f, map[string]func(k, v *yaml.Node){
		"on_change": func(k, v *yaml.Node) {
			if s, ok := p.oneOf(v, f+".on_change", "restart", "signal", "none"); ok {
				r.OnChange = s
			}
		},
		"signal": func(k, v *yaml.Node) {
			if s, ok := p.signal(v, f+".signal"); ok {
				r.Signal = s
			}
		},
		"poll": func(k, v *yaml.Node) {
			if d, ok := p.duration(v, f+".poll"); ok {
				if d < time.Second {
					p.fail(v, f+".poll", "poll at most once a second; stores bill and throttle calls", "too short: %s", d)
				}
				r.Poll = d
			}
		},
		"jitter": func(k, v *yaml.Node) {
			s, ok := p.str(v, f+".jitter")
			if !ok {
				return
			}
			j, err := parseFraction(s)
			if err != nil {
				p.fail(v, f+".jitter", "write a percentage from 0% to 50%, e.g. 10%", "invalid jitter %q", s)
				return
			}
			r.Jitter = j
		},
		"debounce": func(k, v *yaml.Node) {
			if v.Kind == yaml.ScalarNode && v.Value == "0" {
				r.Debounce = 0
				return
			}
			if d, ok := p.duration(v, f+".debounce"); ok {
				r.Debounce = d
			}
		},
		"stop_signal": func(k, v *yaml.Node) {
			if s, ok := p.signal(v, f+".stop_signal"); ok {
				r.StopSignal = s
			}
		},
		"stop_timeout": func(k, v *yaml.Node) {
			if d, ok := p.duration(v, f+".stop_timeout"); ok {
				r.StopTimeout = d
			}
		},
		"on_expired": func(k, v *yaml.Node) {
			if s, ok := p.oneOf(v, f+".on_expired", "keep", "stop"); ok {
				r.OnExpired = s
			}
		},
		"revoke_on_exit": func(k, v *yaml.Node) {
			if b, ok := p.boolean(v, f+".revoke_on_exit"); ok {
				r.RevokeOnExit = b
			}
		},
	})
}

func parseFraction(s string) (float64, error) {
	s = strings.TrimSpace(s)
	pct := strings.HasSuffix(s, "%")
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil {
		return 0, err
	}
	if pct {
		f /= 100
	}
	if f < 0 || f > 0.5 {
		return 0, fmt.Errorf("out of range")
	}
	return f, nil
}

func (p *parser) env(n *yaml.Node, field string) []*EnvVar {
	var out []*EnvVar
	p.pairs(n, field, func(k, v *yaml.Node) {
		name := join(field, k.Value)
		if !resolve.ValidEnvName(k.Value) {
			p.fail(k, name, "variable names match [A-Za-z_][A-Za-z0-9_]*", "invalid variable name %q", k.Value)
			return
		}
		ev := &EnvVar{Name: k.Value, Pos: Pos{k.Line, k.Column}}
		switch v.Kind {
		case yaml.ScalarNode:
			if v.Tag != "!!str" || !resolve.LooksLikeRef(v.Value) {
				// The hint must not repeat the string: it may be a secret
				// pasted where a reference belongs.
				p.fail(v, name, fmt.Sprintf("write a reference such as local://myapp/%s, or {value: \"...\"} for a plain value; if this string is a real secret, it is now in this file: rotate it", strings.ToLower(k.Value)), "not a secret reference")
				return
			}
			ev.Ref = p.ref(v, name)
		case yaml.MappingNode:
			kinds := 0
			p.fields(v, name, map[string]func(k, v *yaml.Node){
				"value": func(_, vv *yaml.Node) {
					kinds++
					if vv.Kind != yaml.ScalarNode || vv.Tag == "!!null" {
						p.fail(vv, name+".value", "quote the value", "want a string, got %s", kindName(vv))
						return
					}
					ev.Value, ev.IsValue = vv.Value, true
				},
				"ref": func(_, vv *yaml.Node) {
					kinds++
					if _, ok := p.str(vv, name+".ref"); ok {
						ev.Ref = p.ref(vv, name+".ref")
					}
				},
				"template": func(_, vv *yaml.Node) {
					kinds++
					if s, ok := p.str(vv, name+".template"); ok {
						ev.Template = p.template(vv, name+".template", s)
					}
				},
			})
			if kinds != 1 && v.Kind == yaml.MappingNode {
				p.fail(v, name, "give exactly one of value, ref or template", "%d of value, ref, template given", kinds)
			}
		default:
			p.fail(v, name, "write a reference, {value: ...} or {template: ...}", "want a string or a mapping, got %s", kindName(v))
			return
		}
		out = append(out, ev)
	})
	return out
}

func (p *parser) ref(n *yaml.Node, field string) *resolve.Ref {
	r, err := resolve.ParseRef(n.Value)
	if err != nil {
		hint := ""
		msg := err.Error()
		if re, ok := err.(*resolve.RefError); ok {
			hint, msg = re.Hint, re.Msg
		}
		p.fail(n, field, hint, "%s", msg)
		return nil
	}
	return &r
}

var tmplFuncs = template.FuncMap{
	"urlquery": urlqueryFunc,
	"json":     jsonFunc,
	"shell":    shellFunc,
	"base64":   base64Func,
}

func (p *parser) template(n *yaml.Node, field, text string) *Template {
	t, err := template.New(field).Funcs(tmplFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		p.fail(n, field, "templates use Go text/template syntax: {{ .NAME }}, {{ .NAME | urlquery }}", "invalid template: %s", msg)
		return nil
	}
	deps, bad := templateDeps(t)
	if bad != "" {
		p.fail(n, field, "templates may only read declared variables as {{ .NAME }}", "unsupported template construct: %s", bad)
		return nil
	}
	return &Template{Text: text, Deps: deps, tmpl: t}
}

func (p *parser) files(n *yaml.Node, field string) []*FileSpec {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, field, "write a list of {path, ref, mode, env}", "want a list, got %s", kindName(n))
		return nil
	}
	var out []*FileSpec
	for i, item := range n.Content {
		name := fmt.Sprintf("%s[%d]", field, i)
		fsSpec := &FileSpec{Mode: 0o400, Pos: Pos{item.Line, item.Column}}
		var pathNode *yaml.Node
		p.fields(item, name, map[string]func(k, v *yaml.Node){
			"path": func(k, v *yaml.Node) {
				pathNode = v
				if s, ok := p.str(v, name+".path"); ok {
					fsSpec.Path = s
				}
			},
			"ref": func(k, v *yaml.Node) {
				if _, ok := p.str(v, name+".ref"); ok {
					fsSpec.Ref = p.ref(v, name+".ref")
				}
			},
			"template": func(k, v *yaml.Node) {
				if s, ok := p.str(v, name+".template"); ok {
					fsSpec.Template = p.template(v, name+".template", s)
				}
			},
			"mode": func(k, v *yaml.Node) {
				s, ok := p.str(v, name+".mode")
				if !ok {
					return
				}
				m, err := strconv.ParseUint(s, 8, 32)
				if err != nil || m > 0o777 || m&0o400 == 0 {
					p.fail(v, name+".mode", `write an octal mode such as "0400" or "0440", owner-readable`, "invalid mode %q", s)
					return
				}
				fsSpec.Mode = fs.FileMode(m)
			},
			"env": func(k, v *yaml.Node) {
				s, ok := p.str(v, name+".env")
				if !ok {
					return
				}
				if !resolve.ValidEnvName(s) {
					p.fail(v, name+".env", "variable names match [A-Za-z_][A-Za-z0-9_]*", "invalid variable name %q", s)
					return
				}
				fsSpec.Env = s
			},
		})
		if item.Kind != yaml.MappingNode {
			continue
		}
		if pathNode == nil {
			p.fail(item, name+".path", "name the file relative to ward's private directory, e.g. tls/key.pem", "missing")
		} else if fsSpec.Path != "" {
			clean := path.Clean(fsSpec.Path)
			if path.IsAbs(fsSpec.Path) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") || clean != fsSpec.Path {
				p.fail(pathNode, name+".path", "paths are relative to ward's private tmpfs directory; the child learns the full path from `env`", "invalid path %q", fsSpec.Path)
			}
		}
		if (fsSpec.Ref == nil) == (fsSpec.Template == nil) {
			p.fail(item, name, "give exactly one of ref or template", "a file needs one source")
		}
		out = append(out, fsSpec)
	}
	return out
}

func (p *parser) inherit(n *yaml.Node) Inherit {
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "all":
			return Inherit{All: true}
		case "none":
			return Inherit{}
		}
		p.fail(n, "inherit", "write all, none, or a list of names and patterns such as [PATH, HOME, \"APP_*\"]", "invalid value %q", n.Value)
		return Inherit{All: true}
	}
	return Inherit{Patterns: p.patterns(n, "inherit")}
}

var patternRE = regexp.MustCompile(`^[A-Za-z0-9_*]+$`)

func (p *parser) patterns(n *yaml.Node, field string) []string {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, field, "write a list such as [\"AWS_*\", GITHUB_TOKEN]", "want a list, got %s", kindName(n))
		return nil
	}
	var out []string
	for i, item := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		s, ok := p.str(item, f)
		if !ok {
			continue
		}
		if !patternRE.MatchString(s) {
			p.fail(item, f, "names and * wildcards only, e.g. \"APP_*\"", "invalid pattern %q", s)
			continue
		}
		out = append(out, s)
	}
	return out
}

// checkTemplates checks that every template reads only declared
// variables and that templates do not depend on each other in a cycle, for
// the base manifest and for each profile.
func (p *parser) checkTemplates(root *yaml.Node, m *Manifest, profile string, prof *Profile) {
	env := m.EnvFor(prof)
	byName := map[string]*EnvVar{}
	for _, v := range env {
		byName[v.Name] = v
	}
	where := ""
	if profile != "" {
		where = fmt.Sprintf(" (with profile %s)", profile)
	}
	for _, v := range env {
		if v.Template == nil {
			continue
		}
		for _, d := range v.Template.Deps {
			if _, ok := byName[d]; !ok {
				p.errs = append(p.errs, &ValidationError{File: p.file, Line: v.Pos.Line, Col: v.Pos.Col, Field: "env." + v.Name, Msg: fmt.Sprintf("template reads undeclared variable %s%s", d, where), Hint: "declare " + d + " under env"})
			}
		}
	}
	// Cycle check: depth-first over template dependencies.
	state := map[string]int{}
	var visit func(v *EnvVar) bool
	visit = func(v *EnvVar) bool {
		switch state[v.Name] {
		case 1:
			return false
		case 2:
			return true
		}
		state[v.Name] = 1
		if v.Template != nil {
			for _, d := range v.Template.Deps {
				if dv, ok := byName[d]; ok && !visit(dv) {
					return false
				}
			}
		}
		state[v.Name] = 2
		return true
	}
	for _, v := range env {
		if !visit(v) {
			p.errs = append(p.errs, &ValidationError{File: p.file, Line: v.Pos.Line, Col: v.Pos.Col, Field: "env." + v.Name, Msg: "templates depend on each other in a cycle" + where, Hint: "break the cycle"})
			return
		}
	}
	for i, f := range m.FilesFor(prof) {
		if f.Template == nil {
			continue
		}
		for _, d := range f.Template.Deps {
			if _, ok := byName[d]; !ok {
				p.errs = append(p.errs, &ValidationError{File: p.file, Line: f.Pos.Line, Col: f.Pos.Col, Field: fmt.Sprintf("files[%d].template", i), Msg: fmt.Sprintf("template reads undeclared variable %s%s", d, where), Hint: "declare " + d + " under env"})
			}
		}
	}
}

func (p *parser) checkFiles(m *Manifest) {
	check := func(files []*FileSpec, env []*EnvVar, field string) {
		paths := map[string]bool{}
		envs := map[string]bool{}
		for _, v := range env {
			envs[v.Name] = true
		}
		for i, f := range files {
			if paths[f.Path] {
				p.errs = append(p.errs, &ValidationError{File: p.file, Line: f.Pos.Line, Col: f.Pos.Col, Field: fmt.Sprintf("%s[%d].path", field, i), Msg: fmt.Sprintf("path %q used twice", f.Path), Hint: "give each file its own path"})
			}
			paths[f.Path] = true
			if f.Env != "" && envs[f.Env] {
				p.errs = append(p.errs, &ValidationError{File: p.file, Line: f.Pos.Line, Col: f.Pos.Col, Field: fmt.Sprintf("%s[%d].env", field, i), Msg: fmt.Sprintf("variable %s is also declared under env", f.Env), Hint: "choose another name for the file's path variable"})
			}
			envs[f.Env] = f.Env != ""
		}
	}
	check(m.Files, m.Env, "files")
	for name, prof := range m.Profiles {
		check(m.FilesFor(prof), m.EnvFor(prof), "profiles."+name+".files")
	}
}

// EnvFor returns the variables with a profile's overrides applied (nil
// profile: the base manifest).
func (m *Manifest) EnvFor(prof *Profile) []*EnvVar {
	if prof == nil {
		return m.Env
	}
	return overlay(m.Env, prof.Env, func(v *EnvVar) string { return v.Name })
}

// FilesFor returns the files with a profile's applied: a profile file with
// the same path replaces the base one.
func (m *Manifest) FilesFor(prof *Profile) []*FileSpec {
	if prof == nil {
		return m.Files
	}
	return overlay(m.Files, prof.Files, func(f *FileSpec) string { return f.Path })
}

// overlay replaces the base items that over has a key for, in place, and
// appends the rest of over in its order.
func overlay[T any](base, over []T, key func(T) string) []T {
	if len(over) == 0 {
		return base
	}
	pending := map[string]T{}
	for _, o := range over {
		pending[key(o)] = o
	}
	out := make([]T, 0, len(base)+len(over))
	for _, b := range base {
		if o, ok := pending[key(b)]; ok {
			out = append(out, o)
			delete(pending, key(b))
		} else {
			out = append(out, b)
		}
	}
	for _, o := range over {
		if _, ok := pending[key(o)]; ok {
			out = append(out, o)
		}
	}
	return out
}

// Profile returns the named profile; "" is the base manifest.
func (m *Manifest) Profile(name string) (*Profile, error) {
	if name == "" {
		return nil, nil
	}
	prof, ok := m.Profiles[name]
	if !ok {
		names := make([]string, 0, len(m.Profiles))
		for n := range m.Profiles {
			names = append(names, n)
		}
		sort.Strings(names)
		hint := "the manifest defines no profiles"
		if len(names) > 0 {
			hint = "profiles in " + m.File + ": " + strings.Join(names, ", ")
		}
		return nil, &ValidationError{File: m.File, Line: 1, Col: 1, Field: "profiles", Msg: fmt.Sprintf("no profile %q", name), Hint: hint}
	}
	return prof, nil
}

func join(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.Tag {
		case "!!null":
			return "nothing"
		case "!!int":
			return "a number"
		case "!!bool":
			return "a boolean"
		case "!!float":
			return "a number"
		}
		return "a string"
	}
	return "nothing"
}
