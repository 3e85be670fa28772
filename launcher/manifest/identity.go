package manifest

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
	"github.com/wardsecrets/ward/resolve/stores"
)

// Identity is the manifest's identity section: the cloud identities ward
// serves the child on a local endpoint its SDK reads and refreshes
// credentials from, so that short-lived credentials rotate without a
// restart and the child never holds a long-lived key.
type Identity struct {
	// AWS is served in the container-credentials format (nil: none).
	AWS *AWSIdentity
}

// AWSIdentity says where the child's AWS credentials come from.
type AWSIdentity struct {
	// From is a reference whose document holds temporary AWS credentials:
	// vault://MOUNT/creds/ROLE (Vault's AWS secrets engine) or
	// awssts://ROLE_ARN (STS AssumeRole with ward's own credentials).
	From resolve.Ref
	// RefreshBefore is how long before the credentials expire ward
	// replaces them; it is clamped to a third of their lifetime.
	RefreshBefore time.Duration
	Pos           Pos
}

// DefaultRefreshBefore is identity.aws.refresh_before when the manifest is
// silent: the longest window in which an AWS SDK refreshes credentials
// from a container endpoint (botocore's advisory 15 minutes; the Go and
// JavaScript SDKs use 5), so that no SDK is ever handed credentials it
// considers due for refresh.
const DefaultRefreshBefore = 15 * time.Minute

// AWSIdentityVars are the variables ward sets for the child when the
// manifest has identity.aws: the endpoint, the file holding its token,
// and an empty shared credentials file so that no [default] profile's
// keys win over the endpoint. The manifest may not declare them.
var AWSIdentityVars = []string{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_SHARED_CREDENTIALS_FILE"}

// AWSTokenFile is the file in ward's private directory that holds the AWS
// endpoint's token; no secret file may take its name.
const AWSTokenFile = "aws-endpoint.token"

// identitySchemes are the schemes an identity's credentials may come from.
var identitySchemes = []string{"vault", "awssts"}

const identityFromHint = "write vault://MOUNT/creds/ROLE (a role of Vault's AWS secrets engine) or awssts://ROLE_ARN (STS AssumeRole with ward's own credentials)"

func (p *parser) identity(n *yaml.Node) Identity {
	var id Identity
	p.d.Fields(n, "identity", map[string]func(k, v *yaml.Node){
		"aws": func(k, v *yaml.Node) { id.AWS = p.awsIdentity(v) },
	})
	return id
}

// awsIdentity reads identity.aws; nil when it is not a mapping or names
// no usable source.
func (p *parser) awsIdentity(n *yaml.Node) *AWSIdentity {
	const f = "identity.aws"
	a := &AWSIdentity{RefreshBefore: DefaultRefreshBefore, Pos: Pos{n.Line, n.Column}}
	var from *resolve.Ref
	fromSeen := false
	p.d.Fields(n, f, map[string]func(k, v *yaml.Node){
		"from": func(k, v *yaml.Node) {
			fromSeen = true
			if _, ok := p.str(v, f+".from"); ok {
				from = p.identityRef(v, f+".from")
			}
		},
		"refresh_before": func(k, v *yaml.Node) {
			d, ok := p.duration(v, f+".refresh_before")
			if !ok {
				return
			}
			if d < time.Second {
				p.fail(v, f+".refresh_before", "refresh at least a second before expiry; the default is 15m", "too short: %s", d)
				return
			}
			a.RefreshBefore = d
		},
	})
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if !fromSeen {
		p.fail(n, f+".from", identityFromHint, "missing")
	}
	if from == nil {
		return nil
	}
	a.From = *from
	return a
}

// identityRef reads the reference of an identity's source: a whole
// document of a scheme that issues temporary credentials.
func (p *parser) identityRef(n *yaml.Node, field string) *resolve.Ref {
	r := p.ref(n, field)
	switch {
	case r == nil:
		return nil
	case !slices.Contains(identitySchemes, r.Scheme):
		p.fail(n, field, identityFromHint, "%s:// cannot issue temporary AWS credentials", r.Scheme)
		return nil
	case r.Field != "":
		p.fail(n, field, "drop #"+r.Field+": ward reads the access key, secret key, session token and expiry from the whole document", "an identity reads the whole document, not one field")
		return nil
	case r.Options["version"] != "":
		p.fail(n, field, "?version= reads a KV secret's version; AWS credentials come from an AWS secrets engine role: vault://aws/creds/ROLE", "an identity's credentials have no versions")
		return nil
	}
	return r
}

// checkIdentity refuses what would clash with the identity endpoint: a
// variable ward sets for it declared by the manifest, and a secret file
// named as its token file.
func (p *parser) checkIdentity(m *Manifest) {
	if m.Identity.AWS == nil {
		return
	}
	hint := "remove it: with identity.aws, ward sets it for the child (the child's SDK then reads credentials from ward's endpoint)"
	checkEnv := func(env []*EnvVar, field string) {
		for _, v := range env {
			if slices.Contains(AWSIdentityVars, v.Name) {
				p.failAt(v.Pos, conf.Join(field, v.Name), hint, "ward sets %s for identity.aws", v.Name)
			}
		}
	}
	checkFiles := func(files []*FileSpec, field string) {
		for i, f := range files {
			name := fmt.Sprintf("%s[%d]", field, i)
			if slices.Contains(AWSIdentityVars, f.Env) {
				p.failAt(f.Pos, name+".env", hint, "ward sets %s for identity.aws", f.Env)
			}
			if f.Path == AWSTokenFile {
				p.failAt(f.Pos, name+".path", "choose another name", "path %q is where ward writes the AWS endpoint's token", f.Path)
			}
		}
	}
	checkEnv(m.Env, "env")
	checkFiles(m.Files, "files")
	for _, name := range slices.Sorted(maps.Keys(m.Profiles)) {
		prof := m.Profiles[name]
		checkEnv(prof.Env, "profiles."+name+".env")
		checkFiles(prof.Files, "profiles."+name+".files")
	}
}

// identityShape is the identity section, as identity.go reads it.
func identityShape() *conf.Shape {
	p := func(name string, s *conf.Shape) conf.Prop { return conf.Prop{Name: name, Shape: s} }
	return conf.Object("Cloud identities ward serves the program on a loopback endpoint its SDK refreshes credentials from: short-lived credentials rotate without a restart.",
		p("aws", conf.WithRequired(conf.Object("AWS credentials served in the container-credentials format (AWS_CONTAINER_CREDENTIALS_FULL_URI); ward strips every other AWS credential variable from the program's environment.",
			p("from", &conf.Shape{
				Kind:    "string",
				Desc:    "Where the credentials come from: vault://MOUNT/creds/ROLE (Vault's AWS secrets engine, an STS credential type) or awssts://ROLE_ARN[?session_name=&duration=&external_id=] (STS AssumeRole with ward's own credentials). The whole document, no #field.",
				Pattern: `^(vault|awssts)://[^#]*$`,
				AllOf: []map[string]any{
					{"if": map[string]any{"pattern": "^vault://"}, "then": map[string]any{"pattern": vaultIdentityPattern}},
					{"if": map[string]any{"pattern": "^awssts://"}, "then": map[string]any{"pattern": awsstsPattern()}},
				},
				Examples: []any{"vault://aws/creds/deploy", "awssts://arn:aws:iam::123456789012:role/deploy?duration=1h"},
			}),
			p("refresh_before", &conf.Shape{
				Def:  "duration",
				Desc: "Replace the credentials this long before they expire, at most a third of their lifetime (at least 1s; default 15m, the longest window an AWS SDK refreshes in).",
				Not:  &conf.Shape{Pattern: conf.SubSecondPattern},
			}),
		), "from")),
	)
}

// withIdentityRules adds to the manifest's shape what checkIdentity
// refuses: with identity.aws, no declared variable and no file variable
// may be one ward sets for it, and no file may take its token file's name.
func withIdentityRules(s *conf.Shape) *conf.Shape {
	names := make([]any, len(AWSIdentityVars))
	for i, n := range AWSIdentityVars {
		names[i] = n
	}
	notOurs := map[string]any{"not": map[string]any{"enum": names}}
	env := map[string]any{"propertyNames": notOurs}
	files := map[string]any{"items": map[string]any{"properties": map[string]any{
		"env":  notOurs,
		"path": map[string]any{"not": map[string]any{"const": AWSTokenFile}},
	}}}
	s.AllOf = append(s.AllOf, map[string]any{
		"if": map[string]any{"required": []any{"identity"}, "properties": map[string]any{"identity": map[string]any{"required": []any{"aws"}}}},
		"then": map[string]any{"properties": map[string]any{
			"env":      env,
			"files":    files,
			"profiles": map[string]any{"additionalProperties": map[string]any{"properties": map[string]any{"env": env, "files": files}}},
		}},
	})
	return s
}

// vaultIdentityPattern is a vault:// reference with no field and no
// option: an AWS secrets engine role's credentials.
const vaultIdentityPattern = `^vault://[^/#?]+(/[^/#?]+)+(\?&*)?$`

// awsstsPattern is the awssts:// scheme's own pattern; with no '#' (the
// section's pattern), it has no field.
func awsstsPattern() string {
	if s := stores.Registry.Scheme("awssts"); s != nil {
		return s.Pattern
	}
	return "^awssts://"
}
