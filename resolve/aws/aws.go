// Package aws is what ward knows about AWS Secrets Manager, Systems
// Manager Parameter Store and STS without the AWS SDK: the awssm://,
// ssm:// and awssts:// reference grammars, the stores.aws settings and the
// variables AWS credentials come from. The stores themselves, on
// aws-sdk-go-v2, are in aws/store and run in the helper program ward-aws,
// so that a ward without AWS references never pays for the SDK's start-up.
package aws

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
)

// secretsInitARN tells secrets-init's reference to a secret of the
// service that service names in an ARN (an ARN in the program's
// environment, which it resolved for the program).
func secretsInitARN(v []byte, service, instead string) (string, string) {
	if bytes.HasPrefix(v, []byte("arn:aws")) && bytes.Contains(v, []byte(service)) {
		return "AWS (secrets-init)", instead
	}
	return "", ""
}

// AssumeRoleScheme is awssts://ROLE_ARN: STS AssumeRole with ward's own
// credentials.
const AssumeRoleScheme = "awssts"

// AssumeRoleExample is an awssts:// reference, for hints.
const AssumeRoleExample = AssumeRoleScheme + "://arn:aws:iam::123456789012:role/deploy?duration=1h"

// Kind is AWS in ward's registry: awssm://, ssm:// and awssts://, one
// helper.
var Kind = &resolve.Kind{
	Name: "aws",
	Schemes: []*resolve.Scheme{
		{
			Name:       "awssm",
			Summary:    "AWS Secrets Manager",
			Example:    "awssm://prod/myapp/stripe#secret_key",
			ExampleVar: "STRIPE_KEY",
			Check:      checkSecretsManagerRef,
			Foreign: func(v []byte) (string, string) {
				return secretsInitARN(v, ":secretsmanager:", "awssm://arn:aws:secretsmanager:...")
			},
			Pattern: func() string {
				// A name (which holds no colon), or an ARN.
				return conf.RefPattern("awssm", `([^#?:]+|`+secretARNPattern+`)`, true,
					conf.RefOption{Name: "stage", Value: `[^&#;%]+`}, conf.RefOption{Name: "version_id", Value: `[^&#;%]+`})
			},
			Refresh: resolve.Polled,
		},
		{
			Name:       "ssm",
			Summary:    "AWS Systems Manager Parameter Store (decrypted)",
			Example:    "ssm:///myapp/prod/feature_flags",
			ExampleVar: "FEATURE_FLAGS",
			Check:      checkParameterRef,
			Foreign: func(v []byte) (string, string) {
				return secretsInitARN(v, ":ssm:", "ssm:///NAME")
			},
			Pattern: func() string {
				// A name from the root, a simple name, or an ARN.
				return conf.RefPattern("ssm", `((/[^/#?]+)+|`+parameterARNPattern+`|[^/#?:]+)`, true,
					conf.RefOption{Name: "version", Value: `0*[1-9][0-9]*`}, conf.RefOption{Name: "label", Value: labelPattern})
			},
			Refresh: resolve.Polled,
		},
		{
			Name:       AssumeRoleScheme,
			Summary:    "AWS STS AssumeRole with ward's own credentials (short-lived keys; serve them with identity: aws:)",
			Example:    "awssts://arn:aws:iam::123456789012:role/myapp-deploy?session_name=ward#access_key_id",
			ExampleVar: "DEPLOY_ACCESS_KEY_ID",
			Check:      checkAssumeRoleRef,
			Pattern: func() string {
				return conf.RefPattern(AssumeRoleScheme, roleARNPattern, false,
					conf.RefOption{Name: "session_name", Value: sessionNamePattern},
					conf.RefOption{Name: "duration", Value: stsDurationPattern},
					conf.RefOption{Name: "external_id", Value: externalIDPattern})
			},
			Refresh: resolve.Polled,
		},
	},
	NewOptions: func() resolve.Options { return &Options{} },
}

func checkSecretsManagerRef(r *resolve.Ref) *resolve.RefError {
	// Secrets Manager's names hold no colon: a path with one is an ARN,
	// whose region ward reads it in.
	if strings.HasPrefix(r.Path, "arn:") && !secretARNRE.MatchString(r.Path) {
		return &resolve.RefError{Msg: fmt.Sprintf("%q is not a secret's ARN", r.Path),
			Hint: "e.g. awssm://arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf, with a region such as eu-west-1 and a 12-digit account (a parameter's ARN is ssm://)"}
	}
	if strings.Contains(r.Path, ":") && !strings.HasPrefix(r.Path, "arn:") {
		name, after, _ := strings.Cut(r.Path, ":")
		return &resolve.RefError{Msg: fmt.Sprintf("secret name %q holds a colon, which no secret name does", r.Path),
			Hint: fmt.Sprintf("a stage or version is an option: awssm://%s?stage=%s or ?version_id=...", name, after)}
	}
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
	if strings.Contains(r.Path, ":") && !parameterARNRE.MatchString(r.Path) {
		hint := "write ssm:///path/to/param, or its ARN: ssm://arn:aws:ssm:REGION:ACCOUNT:parameter/path/to/param, with a region such as eu-west-1"
		if name, v, _ := strings.Cut(r.Path, ":"); !strings.HasPrefix(r.Path, "arn:") {
			// Parameter Store's own name:version and name:label.
			switch {
			case positiveRE.MatchString(v):
				hint = fmt.Sprintf("a version is an option: ssm://%s?version=%s", name, v)
			case labelAccepted(v):
				hint = fmt.Sprintf("a label is an option: ssm://%s?label=%s", name, v)
			}
		}
		return &resolve.RefError{Msg: fmt.Sprintf("%q is neither a parameter name (which holds no colon) nor a parameter's ARN", r.Path), Hint: hint}
	}
	// Parameter Store names a parameter in a hierarchy from the root:
	// app/prod/db can name nothing, and is ssm://app/prod/db, a slash
	// short of ssm:///app/prod/db.
	if strings.Contains(r.Path, "/") && !strings.HasPrefix(r.Path, "/") && !strings.HasPrefix(r.Path, "arn:") {
		return &resolve.RefError{Msg: fmt.Sprintf("parameter name %q has a / but does not start with one", r.Path),
			Hint: "a parameter in a hierarchy is named from the root: write ssm:///" + r.Path + " (three slashes)"}
	}
	if err := resolve.AllowOptions(r, "version", "label"); err != nil {
		return err
	}
	label, hasLabel := r.Options["label"]
	if _, hasVersion := r.Options["version"]; hasVersion && hasLabel {
		return &resolve.RefError{Msg: "both version and label given", Hint: "choose one: ?version=3 or ?label=prod"}
	}
	if hasLabel && !labelAccepted(label) {
		return &resolve.RefError{Msg: fmt.Sprintf("option label=%q is not a label Parameter Store accepts", label),
			Hint: "a label is 1 to 100 letters, digits, '.', '-' and '_', and does not begin with a digit, \"aws\" or \"ssm\""}
	}
	return resolve.PositiveIntOption(r, "version")
}

// labelPattern is what a Parameter Store label is made of; labelAccepted
// adds the prefixes it may not begin with.
const labelPattern = `[a-zA-Z._-][a-zA-Z0-9._-]{0,99}`

// labelAccepted reports whether Parameter Store accepts label, as
// LabelParameterVersion documents: at most 100 letters, digits, '.', '-'
// and '_', not beginning with a digit, "aws" or "ssm" (in any case).
func labelAccepted(label string) bool {
	lower := strings.ToLower(label)
	return labelRE.MatchString(label) && !strings.HasPrefix(lower, "aws") && !strings.HasPrefix(lower, "ssm")
}

// DefaultTimeout bounds one request when Options.Timeout is zero: its
// retries, and the credentials' fetch when it needs one, included, as for
// the other cloud stores.
const DefaultTimeout = 30 * time.Second

// Options are the stores.aws settings; the SDK's default chain decides
// everything they leave empty.
type Options struct {
	// Region overrides AWS_REGION and the profile's region.
	Region string `json:"region,omitempty"`
	// Profile overrides AWS_PROFILE.
	Profile string `json:"profile,omitempty"`
	// Timeout bounds one request, its retries and a credentials fetch
	// included. 0 means DefaultTimeout.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// CredentialEnv lists the variables AWS credentials come from: the static
// keys, the container-credentials token, the web identity token file
// (EKS IRSA, a CI job's OIDC token), which, like Azure's
// AZURE_FEDERATED_TOKEN_FILE, holds a credential that STS trades for
// ward's role, and ECS's relative URI, whose path is the only secret the
// task's credential endpoint asks for. AWS_ACCESS_KEY and AWS_SECRET_KEY
// are the EC2 API tools' names for the keys, which aws-sdk-go-v2 (ward's
// helper's SDK) reads when the usual ones are unset. None may reach the
// child. The
// variables that only name a role, a profile or an endpoint stay
// (AWS_CONTAINER_CREDENTIALS_FULL_URI too: its endpoints ask for the
// token).
func (o *Options) CredentialEnv() []string {
	return []string{
		"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
		"AWS_ACCESS_KEY", "AWS_SECRET_KEY", "AWS_CREDENTIAL_FILE", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
	}
}

// Decode reads stores.aws.
func (o *Options) Decode(d *conf.Decoder, n *yaml.Node, f string) {
	d.Fields(n, f, map[string]func(k, v *yaml.Node){
		"region": func(k, v *yaml.Node) {
			d.SetStr(&o.Region, f+".region")(k, v)
			if o.Region != "" && !regionRE.MatchString(o.Region) {
				d.Fail(v, f+".region", "an AWS region such as eu-west-1, us-gov-west-1 or cn-north-1", "%q is not an AWS region", o.Region)
			}
		},
		"profile": d.SetStr(&o.Profile, f+".profile"),
		"timeout": func(_, v *yaml.Node) { o.Timeout, _ = d.Duration(v, f+".timeout") },
	})
}

// Schema describes stores.aws.
func (o *Options) Schema() *conf.Shape {
	return conf.Object("AWS Secrets Manager and SSM Parameter Store.",
		conf.Prop{Name: "region", Shape: &conf.Shape{Kind: "string", Desc: "Default $AWS_REGION or the shared config.", Pattern: "^(" + regionPattern + ")?$", Examples: []any{"eu-west-1"}}},
		conf.Prop{Name: "profile", Shape: conf.Str("Default $AWS_PROFILE.", "prod")},
		conf.Prop{Name: "timeout", Shape: conf.Ref("duration", "Bound on one request, retries and a credentials fetch included (default 30s).")},
	)
}

// Patterns of awssts:// references, as IAM and STS define them (written
// for both Go and ECMA-262 regular expressions, without anchors).
const (
	// roleARNPattern is an IAM role's ARN, in any partition, with an
	// optional path.
	roleARNPattern = `arn:aws[a-z-]*:iam::[0-9]{12}:role(/[A-Za-z0-9_+=,.@-]+)+`
	// sessionNamePattern is AssumeRole's RoleSessionName.
	sessionNamePattern = `[A-Za-z0-9_+=,.@-]{2,64}`
	// stsDurationPattern is a Go duration without a sign: the parser then
	// bounds it.
	stsDurationPattern = `([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))*`
	// externalIDPattern is AssumeRole's ExternalId, less its length bound
	// (2 to 1224), which the parser checks.
	externalIDPattern = `[A-Za-z0-9_+=,.@:/-]+`
	// parameterARNPattern is an SSM parameter's ARN, in any partition:
	// Parameter Store's names hold no colon, so an ssm:// path with one
	// must be this.
	parameterARNPattern = `arn:aws[a-z-]*:ssm:` + regionPattern + `:[0-9]{12}:parameter(/[^/#?]+)+`
	// secretARNPattern is a secret's ARN, full (NAME-AbCdEf) or partial
	// (NAME), in any partition.
	secretARNPattern = `arn:aws[a-z-]*:secretsmanager:` + regionPattern + `:[0-9]{12}:secret:[^#?:]+`
	// regionPattern is an AWS region's name: us-east-1, us-gov-west-1,
	// cn-north-1, us-isob-east-1, eusc-de-east-1. A reference by ARN is
	// read in its region, so a typo there would send requests nowhere.
	regionPattern = `[a-z]+(-[a-z]+)+-[0-9]+`
)

var (
	roleARNRE      = conf.Lazy(`^` + roleARNPattern + `$`)
	sessionNameRE  = conf.Lazy(`^` + sessionNamePattern + `$`)
	stsDurationRE  = conf.Lazy(`^` + stsDurationPattern + `$`)
	externalIDRE   = conf.Lazy(`^` + externalIDPattern + `$`)
	parameterARNRE = conf.Lazy(`^` + parameterARNPattern + `$`)
	secretARNRE    = conf.Lazy(`^` + secretARNPattern + `$`)
	regionRE       = conf.Lazy(`^` + regionPattern + `$`)
	positiveRE     = conf.Lazy(`^[1-9][0-9]*$`)
	labelRE        = conf.Lazy(`^` + labelPattern + `$`)
)

// MaxSessionDuration is the longest session AssumeRole grants (12 hours,
// for a role whose MaxSessionDuration allows it).
const MaxSessionDuration = 12 * time.Hour

// DefaultSessionDuration is an awssts:// session's length when the
// reference gives no duration: AssumeRole's own default.
const DefaultSessionDuration = time.Hour

// DefaultSessionName is AssumeRole's RoleSessionName when the reference
// gives no session_name: CloudTrail shows it beside every call the
// credentials make.
const DefaultSessionName = "ward"

// checkAssumeRoleRef checks awssts://ROLE_ARN[?session_name=&duration=&external_id=].
// Durations below STS's 15-minute minimum are let through: AWS refuses
// them with a clear error, and emulators accept them.
func checkAssumeRoleRef(r *resolve.Ref) *resolve.RefError {
	if !roleARNRE.MatchString(r.Path) {
		return &resolve.RefError{Msg: "want an IAM role's ARN", Hint: "e.g. awssts://arn:aws:iam::123456789012:role/deploy"}
	}
	if err := resolve.AllowOptions(r, "session_name", "duration", "external_id"); err != nil {
		return err
	}
	if v, ok := r.Options["session_name"]; ok && !sessionNameRE.MatchString(v) {
		return &resolve.RefError{Msg: fmt.Sprintf("invalid session_name %q", v), Hint: "2 to 64 letters, digits and _+=,.@-"}
	}
	if v, ok := r.Options["duration"]; ok {
		d, err := time.ParseDuration(v)
		if !stsDurationRE.MatchString(v) || err != nil || d < time.Second || d > MaxSessionDuration {
			return &resolve.RefError{Msg: fmt.Sprintf("invalid duration %q", v), Hint: "a duration from 15m (AWS's minimum) to 12h, such as 1h"}
		}
	}
	if v, ok := r.Options["external_id"]; ok && (len(v) < 2 || len(v) > 1224 || !externalIDRE.MatchString(v)) {
		return &resolve.RefError{Msg: "invalid external_id", Hint: "2 to 1224 letters, digits and _+=,.@:/-, as the role's trust policy names it"}
	}
	return nil
}

// SessionDuration is the session length an awssts:// reference asks for.
func SessionDuration(r resolve.Ref) time.Duration {
	if d, err := time.ParseDuration(r.Options["duration"]); err == nil {
		return d
	}
	return DefaultSessionDuration
}

// SessionName is the RoleSessionName an awssts:// reference asks for.
func SessionName(r resolve.Ref) string {
	if n := r.Options["session_name"]; n != "" {
		return n
	}
	return DefaultSessionName
}
