// Package aws is what ward knows about AWS Secrets Manager and Systems
// Manager Parameter Store without the AWS SDK: the awssm:// and ssm://
// reference grammars, the stores.aws settings and the variables AWS
// credentials come from. The stores themselves, on aws-sdk-go-v2, are in
// aws/store and run in the helper program ward-aws, so that a ward without
// AWS references never pays for the SDK's start-up.
package aws

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
)

// Kind is AWS in ward's registry: awssm:// and ssm://, one helper.
var Kind = &resolve.Kind{
	Name: "aws",
	Schemes: []*resolve.Scheme{
		{
			Name:       "awssm",
			Summary:    "AWS Secrets Manager",
			Example:    "awssm://prod/myapp/stripe#secret_key",
			ExampleVar: "STRIPE_KEY",
			Check:      checkSecretsManagerRef,
			Pattern:    `^awssm://[^#?]+`,
			Refresh:    resolve.Polled,
		},
		{
			Name:       "ssm",
			Summary:    "AWS Systems Manager Parameter Store (decrypted)",
			Example:    "ssm:///myapp/prod/feature_flags",
			ExampleVar: "FEATURE_FLAGS",
			Check:      checkParameterRef,
			Pattern:    `^ssm://[^#?]+`,
			Refresh:    resolve.Polled,
		},
	},
	NewOptions: func() resolve.Options { return &Options{} },
}

func checkSecretsManagerRef(r *resolve.Ref) *resolve.RefError {
	if err := resolve.AllowOptions(r, "stage", "version_id"); err != nil {
		return err
	}
	_, stage := r.Options["stage"]
	_, id := r.Options["version_id"]
	if stage && id {
		return &resolve.RefError{Msg: "both stage and version_id given", Hint: "choose one: ?stage=AWSCURRENT or ?version_id=..."}
	}
	for k, v := range r.Options {
		if v == "" {
			return &resolve.RefError{Msg: fmt.Sprintf("option %s is empty", k), Hint: "e.g. ?stage=AWSPREVIOUS"}
		}
	}
	return nil
}

func checkParameterRef(r *resolve.Ref) *resolve.RefError {
	if strings.Contains(r.Path, "//") || strings.HasSuffix(r.Path, "/") {
		return &resolve.RefError{Msg: "parameter name has an empty segment", Hint: "write ssm:///path/to/param"}
	}
	if err := resolve.AllowOptions(r, "version"); err != nil {
		return err
	}
	return resolve.PositiveIntOption(r, "version")
}

// Options are the stores.aws settings; the SDK's default chain decides
// everything they leave empty.
type Options struct {
	// Region overrides AWS_REGION and the profile's region.
	Region string `json:"region,omitempty"`
	// Profile overrides AWS_PROFILE.
	Profile string `json:"profile,omitempty"`
}

// CredentialEnv lists the variables AWS credentials come from: the static
// keys, and the container-credentials token. None may reach the child.
func (o *Options) CredentialEnv() []string {
	return []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
		"AWS_CREDENTIAL_FILE", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
	}
}

// Decode reads stores.aws.
func (o *Options) Decode(d *conf.Decoder, n *yaml.Node, f string) {
	d.Fields(n, f, map[string]func(k, v *yaml.Node){
		"region":  d.SetStr(&o.Region, f+".region"),
		"profile": d.SetStr(&o.Profile, f+".profile"),
	})
}

// Schema describes stores.aws.
func (o *Options) Schema() *conf.Shape {
	return conf.Object("AWS Secrets Manager and SSM Parameter Store.",
		conf.Prop{Name: "region", Shape: conf.Str("Default $AWS_REGION or the shared config.", "eu-west-1")},
		conf.Prop{Name: "profile", Shape: conf.Str("Default $AWS_PROFILE.", "prod")},
	)
}
