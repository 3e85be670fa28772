package gcp

import (
	"bytes"

	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
)

// Kind is Google Cloud in ward's registry: Secret Manager (gcpsm://) and
// service account access tokens (gcpsa://), served by the helper program
// ward-gcp.
var Kind = &resolve.Kind{
	Name: "gcp",
	Schemes: []*resolve.Scheme{{
		Name:       Scheme,
		Summary:    "Google Cloud Secret Manager",
		Example:    "gcpsm://my-project/db-password",
		ExampleVar: "GCP_DB_PASSWORD",
		Check:      CheckRef,
		Pattern:    refPattern,
		// secrets-init's name of a secret.
		Foreign: func(v []byte) (string, string) {
			if bytes.HasPrefix(v, []byte("gcp:secretmanager:")) {
				return "Google Cloud (secrets-init)", Scheme + "://PROJECT/SECRET"
			}
			return "", ""
		},
		Refresh: resolve.Polled,
	}, tokenScheme},
	NewOptions: func() resolve.Options { return &Options{} },
}

// refPattern is the grammar CheckRef reads, from its own regular
// expressions; what it checks between the path and the options (a version
// or location given twice) is left to it.
func refPattern() string {
	project := "(" + conf.Unanchored(projectIDRE) + "|" + conf.Unanchored(projectNumberRE) + ")"
	secret := conf.Unanchored(secretIDRE)
	version := "(" + conf.Unanchored(versionRE) + "|" + conf.Unanchored(aliasRE) + ")"
	location := conf.Unanchored(locationRE)
	path := "(" + project + "/" + secret + "|projects/" + project + "(/locations/" + location + ")?/secrets/" + secret + "(/versions/" + version + ")?)"
	return conf.RefPattern(Scheme, path, false, conf.RefOption{Name: "version", Value: version}, conf.RefOption{Name: "location", Value: location})
}

// CredentialEnv lists the variables Application Default Credentials read
// a credential from.
func (o *Options) CredentialEnv() []string { return CredentialEnv }

// Decode reads stores.gcp.
func (o *Options) Decode(d *conf.Decoder, n *yaml.Node, f string) {
	d.Fields(n, f, map[string]func(k, v *yaml.Node){
		"endpoint":          d.SetStr(&o.Endpoint, f+".endpoint"),
		"regional_endpoint": d.SetStr(&o.RegionalEndpoint, f+".regional_endpoint"),
		"quota_project":     d.SetStr(&o.QuotaProject, f+".quota_project"),
		"iam_endpoint":      d.SetStr(&o.IAMEndpoint, f+".iam_endpoint"),
		"timeout":           func(_, v *yaml.Node) { o.Timeout, _ = d.Duration(v, f+".timeout") },
	})
	if n.Kind == yaml.MappingNode {
		if err := o.Validate(); err != nil {
			d.Fail(n, f, "see the README's Google Cloud Secret Manager section", "%s", err.Error())
		}
	}
}

// endpointPattern is what checkEndpoint takes: nothing (the default), or
// an http(s) URL (the scheme in any case, as url.Parse reads it) with a
// host and no query or fragment.
const endpointPattern = `^([Hh][Tt][Tt][Pp][Ss]?://[^/?#]+[^?#]*)?$`

// Schema describes stores.gcp.
func (o *Options) Schema() *conf.Shape {
	return conf.Object("Google Cloud Secret Manager; credentials come from Application Default Credentials (key file, workload identity federation, metadata server).",
		conf.Prop{Name: "endpoint", Shape: &conf.Shape{Kind: "string", Desc: "The global API's URL, for Private Service Connect or a restricted VIP (default https://secretmanager.googleapis.com/); https under googleapis.com, or listed in $WARD_GCP_ENDPOINTS.", Pattern: endpointPattern, Examples: []any{"https://secretmanager-myendpoint.p.googleapis.com/"}}},
		conf.Prop{Name: "regional_endpoint", Shape: &conf.Shape{Kind: "string", Desc: "The URL of the API for regional secrets (?location=); {location} stands for the region; https under googleapis.com, or listed in $WARD_GCP_ENDPOINTS.", Pattern: endpointPattern, Examples: []any{"https://secretmanager.{location}.rep.googleapis.com/"}}},
		conf.Prop{Name: "iam_endpoint", Shape: &conf.Shape{Kind: "string", Desc: "The IAM Credentials API's URL, which gcpsa:// tokens come from (default https://iamcredentials.googleapis.com/); https under googleapis.com, or listed in $WARD_GCP_ENDPOINTS.", Pattern: endpointPattern, Examples: []any{"https://iamcredentials-myendpoint.p.googleapis.com/"}}},
		conf.Prop{Name: "quota_project", Shape: &conf.Shape{Kind: "string", Desc: "The project billed for ward's requests (X-Goog-User-Project).", Pattern: "^(" + conf.Unanchored(projectIDRE) + "|" + conf.Unanchored(projectNumberRE) + ")?$", Examples: []any{"billing-project"}}},
		conf.Prop{Name: "timeout", Shape: conf.Ref("duration", "Bound on one read, token fetch and retries included (default 30s).")},
	)
}
