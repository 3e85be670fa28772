package azure

import (
	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
)

// Kind is Azure in ward's registry: Key Vault (azkv://) and access
// tokens from ward's credential chain (aztoken://), served by the helper
// program ward-azure.
var Kind = &resolve.Kind{
	Name: "azure",
	Schemes: []*resolve.Scheme{{
		Name:       Scheme,
		Summary:    "Azure Key Vault",
		Example:    "azkv://myvault/db-password",
		ExampleVar: "AZURE_DB_PASSWORD",
		Check:      CheckRef,
		Pattern:    refPattern,
		Refresh:    resolve.Polled,
	}, tokenScheme},
	NewOptions: func() resolve.Options { return &Options{} },
}

// refPattern is the grammar CheckRef reads, from its own regular
// expressions: a vault name or a host (anything with '.', ':' or '['),
// a secret name, and ?version=ID.
func refPattern() string {
	vault := "(" + conf.Unanchored(vaultNameRE) + `|[^/#?]*[.:\[][^/#?]*)`
	return conf.RefPattern(Scheme, vault+"/"+conf.Unanchored(secretNameRE), true, conf.RefOption{Name: "version", Value: conf.Unanchored(versionRE)})
}

// CredentialEnv lists the variables the credential chain reads a
// credential from.
func (o *Options) CredentialEnv() []string { return CredentialEnv }

// Decode reads stores.azure.
func (o *Options) Decode(d *conf.Decoder, n *yaml.Node, f string) {
	d.Fields(n, f, map[string]func(k, v *yaml.Node){
		"tenant_id":      d.SetStr(&o.TenantID, f+".tenant_id"),
		"authority_host": d.SetStr(&o.AuthorityHost, f+".authority_host"),
		"disable_instance_discovery": func(_, v *yaml.Node) {
			o.DisableInstanceDiscovery, _ = d.Bool(v, f+".disable_instance_discovery")
		},
		"disable_challenge_resource_verification": func(_, v *yaml.Node) {
			o.DisableChallengeResourceVerification, _ = d.Bool(v, f+".disable_challenge_resource_verification")
		},
		"timeout": func(_, v *yaml.Node) { o.Timeout, _ = d.Duration(v, f+".timeout") },
	})
	if n.Kind == yaml.MappingNode {
		if err := o.Validate(); err != nil {
			d.Fail(n, f, "see the README's Azure Key Vault section", "%s", err.Error())
		}
	}
}

// Schema describes stores.azure.
func (o *Options) Schema() *conf.Shape {
	return conf.Object("Azure Key Vault; credentials come from azidentity's default chain (environment, workload identity, managed identity, Azure CLI).",
		conf.Prop{Name: "tenant_id", Shape: conf.Str("The Microsoft Entra tenant for workload identity and the Azure CLI. Default $AZURE_TENANT_ID.", "00000000-0000-0000-0000-000000000000")},
		conf.Prop{Name: "authority_host", Shape: &conf.Shape{Kind: "string", Desc: "The Microsoft Entra endpoint of a sovereign or private cloud. Default $AZURE_AUTHORITY_HOST, then the public cloud.", Pattern: `^([Hh][Tt][Tt][Pp][Ss]://[^/?#]+.*)?$`, Examples: []any{"https://login.microsoftonline.us/"}}},
		conf.Prop{Name: "disable_instance_discovery", Shape: conf.Bool("Skip the authority check with login.microsoftonline.com (disconnected and private clouds).")},
		conf.Prop{Name: "disable_challenge_resource_verification", Shape: conf.Bool("Accept a vault whose host is outside the domain of its authentication challenge (a private endpoint's custom host name); such a host must be listed in $WARD_AZURE_VAULT_HOSTS.")},
		conf.Prop{Name: "timeout", Shape: conf.Ref("duration", "Bound on one read, token request and retries included (default 30s).")},
	)
}
