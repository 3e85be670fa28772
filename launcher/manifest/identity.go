package manifest

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/aws"
	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/conf"
	"github.com/wardsecrets/ward/resolve/gcp"
	"github.com/wardsecrets/ward/resolve/stores"
	"github.com/wardsecrets/ward/resolve/vault"
)

// Identity is the manifest's identity section: the cloud identities ward
// serves the child on a local endpoint its SDK reads and refreshes
// credentials from, so that short-lived credentials rotate without a
// restart and the child never holds a long-lived key.
type Identity struct {
	// AWS is served in the container-credentials format (nil: none).
	AWS *AWSIdentity
	// GCP is served as the GCE metadata server (nil: none).
	GCP *GCPIdentity
	// Azure is served as App Service's managed identity endpoint (nil:
	// none).
	Azure *AzureIdentity
}

// Refs lists the references the identities' credentials come from.
func (id Identity) Refs() []resolve.Ref {
	var out []resolve.Ref
	if id.AWS != nil {
		out = append(out, id.AWS.From)
	}
	if id.GCP != nil {
		out = append(out, id.GCP.From)
	}
	if id.Azure != nil {
		out = append(out, id.Azure.Refs...)
	}
	return out
}

// GCPIdentity says which Google service account the child acts as.
type GCPIdentity struct {
	// From is gcpsa://EMAIL[?scopes=&lifetime=]: the service account's
	// access token, from the IAM Credentials API with ward's own
	// credentials.
	From resolve.Ref
	// Project is the project id the metadata endpoint serves; default the
	// service account's own project.
	Project string
	// RefreshBefore is how long before the token expires ward replaces
	// it; it is clamped to a third of its lifetime.
	RefreshBefore time.Duration
	Pos           Pos
}

// AzureIdentity says which resources the child may get tokens for.
type AzureIdentity struct {
	// Resources are the resources (audiences) ward serves tokens for,
	// as written, e.g. https://vault.azure.net.
	Resources []string
	// Refs are their aztoken:// references, in the same order.
	Refs []resolve.Ref
	// RefreshBefore is how long before a token expires ward replaces it;
	// it is clamped to a third of its lifetime.
	RefreshBefore time.Duration
	Pos           Pos
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

// DefaultTokenRefreshBefore is identity.gcp's and identity.azure's
// refresh_before when the manifest is silent: twice the longest window in
// which their libraries renew a token (five minutes: MSAL's and azcore's
// for Azure, Node.js's for Google; 3m45s for Google's Go, Python and
// Java libraries), so that no library is handed a token it considers
// due.
const DefaultTokenRefreshBefore = 10 * time.Minute

// GCPIdentityVars are the variables ward sets for the child when the
// manifest has identity.gcp: the metadata endpoint's host, twice, and an
// empty gcloud configuration directory. The manifest may not declare
// them.
var GCPIdentityVars = []string{"GCE_METADATA_HOST", "GCE_METADATA_IP", "CLOUDSDK_CONFIG"}

// GCPConfigDir is the empty directory in ward's private directory that
// the child's CLOUDSDK_CONFIG names; no secret file may take its name.
const GCPConfigDir = "gcloud-config"

// AzureIdentityVars are the variables ward sets for the child when the
// manifest has identity.azure: the managed identity endpoint and its
// header. The manifest may not declare them.
var AzureIdentityVars = []string{"IDENTITY_ENDPOINT", "IDENTITY_HEADER"}

// AWSIdentityVars are the variables ward sets for the child when the
// manifest has identity.aws: the endpoint, the file holding its token,
// and an empty shared credentials file so that no [default] profile's
// keys win over the endpoint. The manifest may not declare them.
var AWSIdentityVars = []string{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_SHARED_CREDENTIALS_FILE"}

// AWSTokenFile is the file in ward's private directory that holds the AWS
// endpoint's token; no secret file may take its name.
const AWSTokenFile = "aws-endpoint.token"

// identitySchemes are the schemes an identity's credentials may come from.
var identitySchemes = []string{vault.Scheme, aws.AssumeRoleScheme}

const identityFromHint = "write " + vault.Scheme + "://MOUNT/creds/ROLE (a role of Vault's AWS secrets engine) or " + aws.AssumeRoleScheme + "://ROLE_ARN (STS AssumeRole with ward's own credentials)"

func (p *parser) identity(n *yaml.Node) Identity {
	id, _ := p.identityAt(n, "identity", false)
	return id
}

// identityAt reads an identity section at field. In a profile
// (removable), a cloud written null is not served: its name is returned
// in removed.
func (p *parser) identityAt(n *yaml.Node, field string, removable bool) (id Identity, removed []string) {
	cloud := func(name string, read func(v *yaml.Node, f string)) func(k, v *yaml.Node) {
		return func(k, v *yaml.Node) {
			if removable && v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
				removed = append(removed, name)
				return
			}
			read(v, field+"."+name)
		}
	}
	p.d.Fields(n, field, map[string]func(k, v *yaml.Node){
		"aws":   cloud("aws", func(v *yaml.Node, f string) { id.AWS = p.awsIdentity(v, f) }),
		"gcp":   cloud("gcp", func(v *yaml.Node, f string) { id.GCP = p.gcpIdentity(v, f) }),
		"azure": cloud("azure", func(v *yaml.Node, f string) { id.Azure = p.azureIdentity(v, f) }),
	})
	return id, removed
}

// refreshBefore reads an identity's refresh_before.
func (p *parser) refreshBefore(v *yaml.Node, field string, def time.Duration) (time.Duration, bool) {
	d, ok := p.duration(v, field)
	if !ok {
		return 0, false
	}
	if d < time.Second {
		p.fail(v, field, "refresh at least a second before expiry; the default is "+shortDuration(def), "too short: %s", d)
		return 0, false
	}
	return d, true
}

// shortDuration writes 15m0s as 15m and 1h0m0s as 1h.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

const gcpFromHint = "write " + gcp.TokenScheme + "://SERVICE_ACCOUNT_EMAIL[?scopes=cloud-platform&lifetime=1h] (an access token ward gets with roles/iam.serviceAccountTokenCreator on the account)"

// sourcedIdentity reads an identity with a source: its from (read by
// readRef), its refresh_before (default def) and the extra fields. The
// reference is nil when n is not a mapping or from is missing or
// unusable, each reported.
func (p *parser) sourcedIdentity(n *yaml.Node, f, hint string, def time.Duration, readRef func(v *yaml.Node) *resolve.Ref, extra map[string]func(k, v *yaml.Node)) (*resolve.Ref, time.Duration) {
	var from *resolve.Ref
	fromSeen := false
	before := def
	fields := map[string]func(k, v *yaml.Node){
		"from": func(k, v *yaml.Node) {
			fromSeen = true
			if _, ok := p.str(v, f+".from"); ok {
				from = readRef(v)
			}
		},
		"refresh_before": func(k, v *yaml.Node) {
			if d, ok := p.refreshBefore(v, f+".refresh_before", def); ok {
				before = d
			}
		},
	}
	maps.Copy(fields, extra)
	p.d.Fields(n, f, fields)
	if n.Kind != yaml.MappingNode {
		return nil, 0
	}
	if !fromSeen {
		p.fail(n, f+".from", hint, "missing")
	}
	return from, before
}

// gcpIdentity reads identity.gcp (at field f); nil when it is not a
// mapping or names no usable source.
func (p *parser) gcpIdentity(n *yaml.Node, f string) *GCPIdentity {
	g := &GCPIdentity{Pos: Pos{n.Line, n.Column}}
	// A project written but refused is said once, as refused, not as
	// missing too.
	projectGiven := false
	from, before := p.sourcedIdentity(n, f, gcpFromHint, DefaultTokenRefreshBefore,
		func(v *yaml.Node) *resolve.Ref { return p.tokenRef(v, f+".from", gcp.TokenScheme, gcpFromHint) },
		map[string]func(k, v *yaml.Node){
			"project": func(k, v *yaml.Node) {
				projectGiven = true
				if s, ok := p.str(v, f+".project"); ok {
					if !gcp.IsProjectID(s) {
						p.fail(v, f+".project", "a project id: 6 to 30 lowercase letters, digits and hyphens, starting with a letter", "%q is not a project id", s)
						return
					}
					g.Project = s
				}
			},
		})
	if from == nil {
		return nil
	}
	g.From, g.RefreshBefore = *from, before
	if g.Project == "" {
		g.Project = gcp.ServiceAccountProject(from.Path)
	}
	if g.Project == "" && !projectGiven {
		// Compute Engine's default account names its project's number, a
		// service agent a project of Google's: the endpoint answered
		// project/project-id with 404, and the libraries that take their
		// project from it (Pub/Sub's, BigQuery's) had none.
		p.fail(n, f+".project", "write project: the id of the project the program works in, which Google's libraries read from the metadata server", "missing: %s's email does not name its project", from.Path)
		return nil
	}
	return g
}

const azureResourcesHint = "list the resources the program needs tokens for, e.g. [https://vault.azure.net, https://storage.azure.com]"

// azureIdentity reads identity.azure (at field f); nil when it is not a
// mapping or names no usable resource.
func (p *parser) azureIdentity(n *yaml.Node, f string) *AzureIdentity {
	a := &AzureIdentity{RefreshBefore: DefaultTokenRefreshBefore, Pos: Pos{n.Line, n.Column}}
	seen, ok := false, true
	p.d.Fields(n, f, map[string]func(k, v *yaml.Node){
		"resources": func(k, v *yaml.Node) {
			seen = true
			ok = p.azureResources(v, f+".resources", a)
		},
		"refresh_before": func(k, v *yaml.Node) {
			if d, ok := p.refreshBefore(v, f+".refresh_before", DefaultTokenRefreshBefore); ok {
				a.RefreshBefore = d
			}
		},
	})
	if n.Kind != yaml.MappingNode {
		return nil
	}
	if !seen {
		p.fail(n, f+".resources", azureResourcesHint, "missing")
		return nil
	}
	if !ok || len(a.Refs) == 0 {
		return nil
	}
	return a
}

// azureResources reads identity.azure.resources into a; false when one
// is unusable.
func (p *parser) azureResources(n *yaml.Node, field string, a *AzureIdentity) bool {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, field, azureResourcesHint, "want a list, got %s", conf.KindName(n))
		return false
	}
	if len(n.Content) == 0 {
		p.fail(n, field, azureResourcesHint, "empty")
		return false
	}
	ok := true
	seen := map[string]bool{}
	for i, v := range n.Content {
		name := fmt.Sprintf("%s[%d]", field, i)
		s, isStr := p.str(v, name)
		if !isStr {
			ok = false
			continue
		}
		if base, scope := azure.ScopeResource(s); scope {
			// A scope, as MSAL and the SDKs' credentials take it: for a
			// managed identity they ask for the resource before it, and
			// ward served the token under a name no request used.
			hint := fmt.Sprintf("write the resource: %s (the SDKs ask a managed identity for the scope %s as that resource)", base, s)
			if _, valid := azure.TokenRef(base); !valid {
				hint = "an https resource such as https://vault.azure.net: ward serves tokens for https resources only"
			}
			p.fail(v, name, hint, "%q is a scope, not a resource", s)
			ok = false
			continue
		}
		raw, valid := azure.TokenRef(s)
		if !valid {
			p.fail(v, name, "an https resource URI such as https://vault.azure.net or https://management.azure.com/", "%q is not an https resource", s)
			ok = false
			continue
		}
		// Hosts are named in any case (https://VAULT.azure.net): the
		// requests' resource is compared as one name, its path as
		// written.
		if seen[azure.ResourceKey(raw)] {
			p.fail(v, name, "list each resource once", "%q is listed twice", s)
			ok = false
			continue
		}
		seen[azure.ResourceKey(raw)] = true
		r, err := p.reg.ParseRef(raw)
		if err != nil {
			p.fail(v, name, "", "%s", err.Error())
			ok = false
			continue
		}
		a.Resources = append(a.Resources, s)
		a.Refs = append(a.Refs, r)
	}
	return ok
}

// tokenRef reads the reference of a token identity's source: a whole
// document of scheme.
func (p *parser) tokenRef(n *yaml.Node, field, scheme, hint string) *resolve.Ref {
	r := p.ref(n, field)
	switch {
	case r == nil:
		return nil
	case r.Scheme != scheme:
		p.fail(n, field, hint, "%s:// cannot issue the access tokens this identity serves", r.Scheme)
		return nil
	case r.Field != "":
		p.fail(n, field, "drop #"+r.Field+": ward reads the token and its expiry from the whole document", "an identity reads the whole document, not one field")
		return nil
	}
	return r
}

// awsIdentity reads identity.aws (at field f); nil when it is not a
// mapping or names no usable source.
func (p *parser) awsIdentity(n *yaml.Node, f string) *AWSIdentity {
	from, before := p.sourcedIdentity(n, f, identityFromHint, DefaultRefreshBefore,
		func(v *yaml.Node) *resolve.Ref { return p.identityRef(v, f+".from") }, nil)
	if from == nil {
		return nil
	}
	return &AWSIdentity{From: *from, RefreshBefore: before, Pos: Pos{n.Line, n.Column}}
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
		p.fail(n, field, "?version= reads a KV secret's version; AWS credentials come from an AWS secrets engine role: "+vault.Scheme+"://aws/creds/ROLE", "an identity's credentials have no versions")
		return nil
	}
	return r
}

// identityReserved is what one configured identity claims: the
// variables ward sets for it and the file names it writes in the private
// directory.
type identityReserved struct {
	field string
	vars  []string
	file  string
	what  string
}

// Fields names the identities the manifest serves: identity.aws,
// identity.gcp, identity.azure.
func (id Identity) Fields() []string {
	var out []string
	for _, r := range id.reserved() {
		out = append(out, r.field)
	}
	return out
}

// reserved lists what the manifest's identities claim.
func (id Identity) reserved() []identityReserved {
	var out []identityReserved
	if id.AWS != nil {
		out = append(out, identityReserved{"identity.aws", AWSIdentityVars, AWSTokenFile, "the AWS endpoint's token"})
	}
	if id.GCP != nil {
		out = append(out, identityReserved{"identity.gcp", GCPIdentityVars, GCPConfigDir, "the child's empty gcloud configuration"})
	}
	if id.Azure != nil {
		out = append(out, identityReserved{"identity.azure", AzureIdentityVars, "", ""})
	}
	return out
}

// checkIdentity refuses what would clash with an identity endpoint: a
// variable ward sets for it declared by the manifest, and a secret file
// named as a file ward writes for it. Each start is checked with the
// identities it serves (a profile's replace the manifest's); a clash is
// reported once, however many starts have it.
func (p *parser) checkIdentity(m *Manifest) {
	reported := map[string]bool{}
	fail := func(pos Pos, field, hint, format string, args ...any) {
		if key := fmt.Sprint(pos, field); !reported[key] {
			reported[key] = true
			p.failAt(pos, field, hint, format, args...)
		}
	}
	type block struct {
		env   []*EnvVar
		files []*FileSpec
		field string // env and files are at field.env, field.files
	}
	check := func(id Identity, from func(cloudField string) string, blocks ...block) {
		for _, r := range id.reserved() {
			what := from(r.field)
			hint := "remove it: with " + what + ", ward sets it for the child (the child's SDK then reads credentials from ward's endpoint)"
			for _, b := range blocks {
				for _, v := range b.env {
					if slices.Contains(r.vars, v.Name) {
						fail(v.Pos, conf.Join(conf.Join(b.field, "env"), v.Name), hint, "ward sets %s for %s", v.Name, what)
					}
				}
				for i, f := range b.files {
					name := fmt.Sprintf("%s[%d]", conf.Join(b.field, "files"), i)
					if slices.Contains(r.vars, f.Env) {
						fail(f.Pos, name+".env", hint, "ward sets %s for %s", f.Env, what)
					}
					if r.file != "" && (f.Path == r.file || strings.HasPrefix(f.Path, r.file+"/")) {
						fail(f.Pos, name+".path", "choose another name", "path %q is where ward writes %s", f.Path, r.what)
					}
				}
			}
		}
	}
	base := block{m.Env, m.Files, ""}
	check(m.Identity, func(f string) string { return f }, base)
	for _, name := range slices.Sorted(maps.Keys(m.Profiles)) {
		prof := m.Profiles[name]
		own := prof.Identity.reserved()
		from := func(f string) string {
			for _, r := range own {
				if r.field == f {
					return conf.Join("profiles."+name, f)
				}
			}
			return f
		}
		check(m.IdentityFor(prof), from, base, block{prof.Env, prof.Files, "profiles." + name})
	}
}

// refreshBeforeShape is an identity's refresh_before: a duration of at
// least a second.
func refreshBeforeShape(desc string) *conf.Shape {
	return &conf.Shape{Def: "duration", Desc: desc, Not: &conf.Shape{Pattern: conf.SubSecondPattern}}
}

// profileIdentityShape is a profile's identity section: the clouds it
// names replace the manifest's, and null removes one.
func profileIdentityShape() *conf.Shape {
	s := *identityShape()
	s.Desc = "The identities this profile serves instead of the manifest's, cloud by cloud; a cloud written null is not served with this profile."
	fields := make([]conf.Prop, len(s.Fields))
	for i, f := range s.Fields {
		c := *f.Shape
		c.Nullable = true
		c.Desc += " Null: not served with this profile."
		fields[i] = conf.Prop{Name: f.Name, Shape: &c}
	}
	s.Fields = fields
	return &s
}

// gcpProjectRequired has identity.gcp give its project when the
// account's email does not name it (see gcp.ServiceAccountProject).
func gcpProjectRequired(s *conf.Shape) *conf.Shape {
	from := func(pattern map[string]any) map[string]any {
		return map[string]any{"properties": map[string]any{"from": pattern}, "required": []any{"from"}}
	}
	project := map[string]any{"required": []any{"project"}}
	s.AllOf = append(s.AllOf,
		map[string]any{"if": from(map[string]any{"not": map[string]any{"pattern": gcp.ProjectKnownPattern}}), "then": project},
		map[string]any{"if": from(map[string]any{"pattern": gcp.ServiceAgentPattern}), "then": project},
	)
	return s
}

// identityShape is the identity section, as identity.go reads it.
func identityShape() *conf.Shape {
	p := func(name string, s *conf.Shape) conf.Prop { return conf.Prop{Name: name, Shape: s} }
	return conf.Object("Cloud identities ward serves the program on a loopback endpoint its SDK refreshes credentials from: short-lived credentials rotate without a restart.",
		p("aws", conf.WithRequired(conf.Object("AWS credentials served in the container-credentials format (AWS_CONTAINER_CREDENTIALS_FULL_URI); ward strips every other AWS credential variable from the program's environment.",
			p("from", &conf.Shape{
				Kind:    "string",
				Desc:    "Where the credentials come from: " + vault.Scheme + "://MOUNT/creds/ROLE (Vault's AWS secrets engine, an STS credential type) or " + aws.AssumeRoleScheme + "://ROLE_ARN[?session_name=&duration=&external_id=] (STS AssumeRole with ward's own credentials). The whole document, no #field.",
				Pattern: `^(` + strings.Join(identitySchemes, "|") + `)://[^#]*$`,
				AllOf: []map[string]any{
					{"if": map[string]any{"pattern": "^" + vault.Scheme + "://"}, "then": map[string]any{"pattern": vault.DocumentPattern()}},
					{"if": map[string]any{"pattern": "^" + aws.AssumeRoleScheme + "://"}, "then": map[string]any{"pattern": schemePattern(aws.AssumeRoleScheme)}},
				},
				Examples: []any{vault.AWSCredsExample, aws.AssumeRoleExample},
			}),
			p("refresh_before", refreshBeforeShape("Replace the credentials this long before they expire, at most a third of their lifetime (at least 1s; default 15m, the longest window an AWS SDK refreshes in).")),
		), "from")),
		p("gcp", gcpProjectRequired(conf.WithRequired(conf.Object("A Google service account's access token served as the GCE metadata server does (GCE_METADATA_HOST); ward strips every other Google credential variable from the program's environment.",
			p("from", &conf.Shape{
				Kind:     "string",
				Desc:     gcp.TokenScheme + "://SERVICE_ACCOUNT_EMAIL[?scopes=&lifetime=]: the account's access token from the IAM Credentials API, with ward's own credentials (roles/iam.serviceAccountTokenCreator on the account). The whole document, no #field.",
				Pattern:  `^` + gcp.TokenScheme + `://[^#]*$`,
				AllOf:    []map[string]any{{"pattern": schemePattern(gcp.TokenScheme)}},
				Examples: []any{gcp.TokenScheme + "://app@my-project.iam.gserviceaccount.com", gcp.TokenScheme + "://app@my-project.iam.gserviceaccount.com?scopes=cloud-platform&lifetime=30m"},
			}),
			p("project", &conf.Shape{Kind: "string", Desc: "The project id the metadata endpoint serves (default: the project a user-managed or App Engine account's email names; required for other accounts).", Pattern: gcp.ProjectIDPattern(), Examples: []any{"my-project"}}),
			p("refresh_before", refreshBeforeShape("Replace the token this long before it expires, at most a third of its lifetime (at least 1s; default 10m).")),
		), "from"))),
		p("azure", conf.WithRequired(conf.Object("Access tokens from ward's own Azure credential chain, served as App Service's managed identity endpoint does (IDENTITY_ENDPOINT, IDENTITY_HEADER); ward strips every other Azure credential variable from the program's environment.",
			p("resources", &conf.Shape{
				Kind:     "array",
				Desc:     "The resources (https URIs) the program may get tokens for; ward fetches each at start and refreshes it ahead of expiry, and refuses others.",
				Elems:    &conf.Shape{Kind: "string", Pattern: azure.ResourceURLPattern(), Examples: []any{"https://vault.azure.net"}},
				Extra:    map[string]any{"minItems": 1, "uniqueItems": true},
				Examples: []any{[]any{"https://vault.azure.net", "https://storage.azure.com"}},
			}),
			p("refresh_before", refreshBeforeShape("Replace a token this long before it expires, at most a third of its lifetime (at least 1s; default 10m).")),
		), "resources")),
	)
}

// schemePattern is a scheme's own pattern, from its store; with no '#'
// (the section's pattern), it has no field.
func schemePattern(scheme string) string {
	if s := stores.Registry.Scheme(scheme); s != nil {
		return s.Pattern()
	}
	return "^" + scheme + "://"
}

// withIdentityRules adds to the manifest's shape what checkIdentity
// refuses: with an identity, no declared variable and no file variable
// may be one ward sets for it, and no file may take the name of a file
// ward writes for it.
func withIdentityRules(s *conf.Shape) *conf.Shape {
	clouds := []struct {
		key  string
		vars []string
		file string
	}{
		{"aws", AWSIdentityVars, AWSTokenFile},
		{"gcp", GCPIdentityVars, GCPConfigDir},
		{"azure", AzureIdentityVars, ""},
	}
	for _, c := range clouds {
		names := make([]any, len(c.vars))
		for i, n := range c.vars {
			names[i] = n
		}
		notOurs := map[string]any{"not": map[string]any{"enum": names}}
		env := map[string]any{"propertyNames": notOurs}
		fileProps := map[string]any{"env": notOurs}
		if c.file != "" {
			fileProps["path"] = map[string]any{"not": map[string]any{"pattern": "^" + regexp.QuoteMeta(c.file) + "(/|$)"}}
		}
		files := map[string]any{"items": map[string]any{"properties": fileProps}}
		s.AllOf = append(s.AllOf, map[string]any{
			"if": map[string]any{"required": []any{"identity"}, "properties": map[string]any{"identity": map[string]any{"required": []any{c.key}}}},
			"then": map[string]any{"properties": map[string]any{
				"env":      env,
				"files":    files,
				"profiles": map[string]any{"additionalProperties": map[string]any{"properties": map[string]any{"env": env, "files": files}}},
			}},
		})
	}
	return s
}
