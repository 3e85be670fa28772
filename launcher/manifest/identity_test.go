package manifest

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestIdentityParse reads identity.aws with its default and its settings.
func TestIdentityParse(t *testing.T) {
	m, err := Parse("ward.yaml", []byte(`version: 1
identity:
  aws:
    from: awssts://arn:aws:iam::123456789012:role/deploy?duration=30m&external_id=ext-1
    refresh_before: 5m
env:
  AWS_REGION: {value: eu-west-1}
`))
	if err != nil {
		t.Fatal(err)
	}
	a := m.Identity.AWS
	if a == nil {
		t.Fatal("no identity.aws")
	}
	if a.From.Scheme != "awssts" || a.From.Path != "arn:aws:iam::123456789012:role/deploy" || a.From.Options["duration"] != "30m" {
		t.Errorf("got from %+v, want the awssts reference", a.From)
	}
	if a.RefreshBefore != 5*time.Minute || a.Pos.Line != 4 {
		t.Errorf("got refresh_before=%s at line %d, want 5m at line 4", a.RefreshBefore, a.Pos.Line)
	}
	if refs := m.Refs(nil); len(refs) != 0 {
		t.Errorf("the identity's source is among the child's references: %v", refs)
	}
	if got := m.Schemes(nil); !slices.Equal(got, []string{"awssts"}) {
		t.Errorf("got schemes %v, want the identity's (its helper starts early)", got)
	}

	m, err = Parse("ward.yaml", []byte("version: 1\nidentity: {aws: {from: vault://aws/creds/deploy}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Identity.AWS.RefreshBefore != DefaultRefreshBefore || m.Identity.AWS.From.Raw != "vault://aws/creds/deploy" {
		t.Errorf("got %+v, want vault://aws/creds/deploy with the default refresh_before", m.Identity.AWS)
	}
	if m, _ := Parse("ward.yaml", []byte("version: 1\n")); m.Identity.AWS != nil {
		t.Errorf("a manifest without identity has one")
	}
}

// TestIdentityErrors checks every refusal names its place and says why,
// with a hint.
func TestIdentityErrors(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"not a mapping", "identity: aws", "2:11: identity: want a mapping"},
		{"unknown cloud", "identity: {ibm: {}}", `identity.ibm: unknown field "ibm"`},
		{"unknown field", "identity: {aws: {from: vault://aws/creds/x, role: y}}", `identity.aws.role: unknown field`},
		{"no from", "identity: {aws: {}}", "identity.aws.from: missing"},
		{"from not a string", "identity: {aws: {from: 42}}", "identity.aws.from: want a string"},
		{"not a reference", "identity: {aws: {from: deploy}}", "identity.aws.from: not a reference"},
		{"kv scheme", "identity: {aws: {from: awssm://prod/keys}}", "awssm:// cannot issue temporary AWS credentials"},
		{"field", `identity: {aws: {from: "awssts://arn:aws:iam::123456789012:role/d#session_token"}}`, "not one field"},
		{"version", `identity: {aws: {from: "vault://aws/creds/x?version=2"}}`, "have no versions"},
		{"bad role arn", "identity: {aws: {from: awssts://deploy}}", "want an IAM role's ARN"},
		{"refresh_before sub-second", "identity: {aws: {from: vault://aws/creds/x, refresh_before: 500ms}}", "identity.aws.refresh_before: too short"},
		{"refresh_before not a duration", "identity: {aws: {from: vault://aws/creds/x, refresh_before: 5}}", "identity.aws.refresh_before: a number without a unit"},
		{"declares the token file variable", "identity: {aws: {from: vault://aws/creds/x}}\nenv: {AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: {value: /x}}", "ward sets AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"},
		{"profile declares the credentials file", "identity: {aws: {from: vault://aws/creds/x}}\nprofiles: {dev: {env: {AWS_SHARED_CREDENTIALS_FILE: {value: /x}}}}", "profiles.dev.env.AWS_SHARED_CREDENTIALS_FILE: ward sets"},
		{"file env", "identity: {aws: {from: vault://aws/creds/x}}\nfiles: [{path: t, ref: local://a/b, env: AWS_CONTAINER_CREDENTIALS_FULL_URI}]", "files[0].env: ward sets AWS_CONTAINER_CREDENTIALS_FULL_URI"},
		{"token file path", "identity: {aws: {from: vault://aws/creds/x}}\nfiles: [{path: " + AWSTokenFile + ", ref: local://a/b}]", "is where ward writes the AWS endpoint's token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("ward.yaml", []byte("version: 1\n"+tt.doc+"\n"))
			var ve ValidationErrors
			if err == nil || !asValidation(err, &ve) {
				t.Fatalf("got %v, want validation errors", err)
			}
			found := false
			for _, e := range ve {
				if strings.Contains(e.Error(), tt.want) {
					found = true
					if e.Hint() == "" {
						t.Errorf("%s: no hint", e)
					}
				}
			}
			if !found {
				t.Errorf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
	// Without identity.aws, these variables are the child's business.
	if _, err := Parse("ward.yaml", []byte("version: 1\nenv: {AWS_SHARED_CREDENTIALS_FILE: {value: /x}}\n")); err != nil {
		t.Errorf("without identity.aws: %v", err)
	}
}

func asValidation(err error, ve *ValidationErrors) bool {
	v, ok := err.(ValidationErrors)
	*ve = v
	return ok
}

// TestIdentitySchemaAgrees gives the parser and the JSON Schema identity
// sections at the edges of what they take, and wants one verdict.
func TestIdentitySchemaAgrees(t *testing.T) {
	sch := compileSchema(t)
	role := "arn:aws:iam::123456789012:role/deploy"
	tests := []struct {
		name  string
		doc   string
		valid bool
	}{
		{"vault", "identity: {aws: {from: vault://aws/creds/deploy}}", true},
		{"vault nested mount", "identity: {aws: {from: vault://team/aws/creds/deploy}}", true},
		{"vault empty query", `identity: {aws: {from: "vault://aws/creds/deploy?"}}`, true},
		{"vault field", `identity: {aws: {from: "vault://aws/creds/deploy#access_key"}}`, false},
		{"vault version", `identity: {aws: {from: "vault://aws/creds/deploy?version=1"}}`, false},
		{"vault leading slash", "identity: {aws: {from: vault:///aws/creds/deploy}}", false},
		{"awssts", "identity: {aws: {from: awssts://" + role + "}}", true},
		{"awssts options", `identity: {aws: {from: "awssts://` + role + `?session_name=ci&duration=15m&external_id=ab:c/d"}}`, true},
		{"awssts field", `identity: {aws: {from: "awssts://` + role + `#session_token"}}`, false},
		{"awssts bad arn", "identity: {aws: {from: awssts://role/deploy}}", false},
		{"awssts bad duration", `identity: {aws: {from: "awssts://` + role + `?duration=soon"}}`, false},
		{"awssts unknown option", `identity: {aws: {from: "awssts://` + role + `?role=x"}}`, false},
		{"env scheme", "identity: {aws: {from: env://AWS_CREDS}}", false},
		{"refresh_before 1s", "identity: {aws: {from: vault://aws/creds/x, refresh_before: 1s}}", true},
		{"refresh_before 2h", "identity: {aws: {from: vault://aws/creds/x, refresh_before: 2h}}", true},
		{"refresh_before 999ms", "identity: {aws: {from: vault://aws/creds/x, refresh_before: 999ms}}", false},
		{"refresh_before 0", "identity: {aws: {from: vault://aws/creds/x, refresh_before: 0s}}", false},
		{"empty identity", "identity: {}", true},
		{"null aws", "identity: {aws: }", false},
		{"no from", "identity: {aws: {refresh_before: 5m}}", false},
		{"declares the endpoint", "identity: {aws: {from: vault://aws/creds/x}}\nenv: {AWS_CONTAINER_CREDENTIALS_FULL_URI: {value: x}}", false},
		{"profile declares the token file", "identity: {aws: {from: vault://aws/creds/x}}\nprofiles: {dev: {env: {AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: {value: x}}}}", false},
		{"profile file env", "identity: {aws: {from: vault://aws/creds/x}}\nprofiles: {dev: {files: [{path: t, ref: local://a/b, env: AWS_SHARED_CREDENTIALS_FILE}]}}", false},
		{"file at the token's path", "identity: {aws: {from: vault://aws/creds/x}}\nfiles: [{path: " + AWSTokenFile + ", ref: local://a/b}]", false},
		{"other variables", "identity: {aws: {from: vault://aws/creds/x}}\nenv: {AWS_REGION: {value: x}}\nfiles: [{path: t, ref: local://a/b, env: T}]", true},
		{"no identity declares them", "env: {AWS_CONTAINER_CREDENTIALS_FULL_URI: {value: x}}\nfiles: [{path: " + AWSTokenFile + ", ref: local://a/b}]", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "version: 1\n" + tt.doc + "\n"
			_, parseErr := Parse("agree.yaml", []byte(text))
			doc, err := yamlToJSON([]byte(text))
			if err != nil {
				t.Fatal(err)
			}
			schemaErr := sch.Validate(doc)
			if got := parseErr == nil; got != tt.valid {
				t.Errorf("parser: got valid=%v, want %v (%v)", got, tt.valid, parseErr)
			}
			if got := schemaErr == nil; got != tt.valid {
				t.Errorf("schema: got valid=%v, want %v (%v)", got, tt.valid, schemaErr)
			}
		})
	}
}

// TestProfileIdentity: a profile's identities replace the manifest's cloud
// by cloud, a cloud written null is not served with the profile, and the
// others stay.
func TestProfileIdentity(t *testing.T) {
	m, err := Parse("ward.yaml", []byte(`version: 1
identity:
  aws:
    from: vault://aws/creds/prod
  azure:
    resources: [https://vault.azure.net]
profiles:
  dev:
    identity:
      aws:
        from: awssts://arn:aws:iam::123456789012:role/dev
        refresh_before: 2m
  local:
    identity:
      aws: null
      azure: ~
  plain:
    env:
      X: {value: x}
`))
	if err != nil {
		t.Fatal(err)
	}
	base := m.IdentityFor(nil)
	if base.AWS == nil || base.AWS.From.Raw != "vault://aws/creds/prod" || base.Azure == nil {
		t.Fatalf("without a profile: got aws %v, azure %v; want the manifest's", base.AWS, base.Azure)
	}
	dev := m.IdentityFor(m.Profiles["dev"])
	if dev.AWS == nil || dev.AWS.From.Raw != "awssts://arn:aws:iam::123456789012:role/dev" || dev.AWS.RefreshBefore != 2*time.Minute || dev.Azure != base.Azure {
		t.Errorf("dev: got aws %+v, azure %v; want dev's role and the manifest's azure", dev.AWS, dev.Azure)
	}
	if got := m.Schemes(m.Profiles["dev"]); !slices.Contains(got, "awssts") || slices.Contains(got, "vault") {
		t.Errorf("dev: got schemes %v, want awssts (dev's source) and not vault (the replaced one)", got)
	}
	if local := m.IdentityFor(m.Profiles["local"]); local.AWS != nil || local.Azure != nil || len(local.Fields()) != 0 {
		t.Errorf("local: got %v, want no identity served", local.Fields())
	}
	if plain := m.IdentityFor(m.Profiles["plain"]); plain.AWS != base.AWS || plain.Azure != base.Azure {
		t.Errorf("a profile without identity changed the identities")
	}
	if m.Identity.AWS.From.Raw != "vault://aws/creds/prod" {
		t.Errorf("IdentityFor changed the manifest's own identity")
	}
}
