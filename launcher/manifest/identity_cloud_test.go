package manifest

import (
	"strings"
	"testing"
	"time"
)

// TestIdentityCloudParse reads identity.gcp and identity.azure with their
// defaults and their settings.
func TestIdentityCloudParse(t *testing.T) {
	m, err := Parse("ward.yaml", []byte(`version: 1
identity:
  gcp:
    from: gcpsa://app@my-project.iam.gserviceaccount.com?lifetime=30m
  azure:
    resources: [https://vault.azure.net, "https://management.azure.com/"]
    refresh_before: 5m
`))
	if err != nil {
		t.Fatal(err)
	}
	g, a := m.Identity.GCP, m.Identity.Azure
	if g == nil || g.From.Scheme != "gcpsa" || g.Project != "my-project" || g.RefreshBefore != DefaultTokenRefreshBefore {
		t.Errorf("got gcp %+v, want gcpsa://, the account's project and the default refresh_before", g)
	}
	if a == nil || len(a.Refs) != 2 || a.Refs[0].Raw != "aztoken://vault.azure.net" || a.Refs[1].Raw != "aztoken://management.azure.com" || a.RefreshBefore != 5*time.Minute {
		t.Fatalf("got azure %+v", a)
	}
	if a.Resources[1] != "https://management.azure.com/" {
		t.Errorf("the resource is not kept as written: %q", a.Resources[1])
	}
	if schemes := m.Schemes(nil); strings.Join(schemes, ",") != "aztoken,gcpsa" {
		t.Errorf("got schemes %v, want the identities' aztoken and gcpsa", schemes)
	}

	m, err = Parse("ward.yaml", []byte("version: 1\nidentity: {gcp: {from: gcpsa://123456789-compute@developer.gserviceaccount.com, project: other-project}}\n"))
	if err != nil || m.Identity.GCP.Project != "other-project" {
		t.Errorf("got %v, %+v, want the project given", err, m.Identity.GCP)
	}
}

// TestIdentityCloudErrors checks every refusal names its place and says
// why, with a hint.
func TestIdentityCloudErrors(t *testing.T) {
	const sa = "gcpsa://app@my-project.iam.gserviceaccount.com"
	tests := []struct {
		name, doc, want string
	}{
		{"gcp no from", "identity: {gcp: {project: my-project}}", "identity.gcp.from: missing"},
		{"gcp compute account, no project", "identity: {gcp: {from: gcpsa://123456789-compute@developer.gserviceaccount.com}}", "identity.gcp.project: missing: 123456789-compute@developer.gserviceaccount.com's email does not name its project"},
		{"gcp service agent, no project", "identity: {gcp: {from: gcpsa://service-123@gcp-sa-pubsub.iam.gserviceaccount.com}}", "identity.gcp.project: missing"},
		{"gcp compute's service agent, no project", "identity: {gcp: {from: gcpsa://service-123@compute-system.iam.gserviceaccount.com}}", "identity.gcp.project: missing"},
		{"gcp kv scheme", "identity: {gcp: {from: gcpsm://my-project/key}}", "gcpsm:// cannot issue the access tokens"},
		{"gcp field", `identity: {gcp: {from: "` + sa + `#access_token"}}`, "not one field"},
		{"gcp bad lifetime", `identity: {gcp: {from: "` + sa + `?lifetime=13h"}}`, `invalid lifetime "13h"`},
		{"gcp unknown option", `identity: {gcp: {from: "` + sa + `?delegates=x"}}`, "unknown option"},
		{"gcp bad project", "identity: {gcp: {from: " + sa + ", project: My_Project}}", "is not a project id"},
		{"gcp unknown field", "identity: {gcp: {from: " + sa + ", scopes: x}}", `identity.gcp.scopes: unknown field`},
		{"gcp refresh_before", "identity: {gcp: {from: " + sa + ", refresh_before: 10ms}}", "identity.gcp.refresh_before: too short"},
		{"gcp declares CLOUDSDK_CONFIG", "identity: {gcp: {from: " + sa + "}}\nprofiles: {dev: {env: {CLOUDSDK_CONFIG: {value: /x}}}}", "profiles.dev.env.CLOUDSDK_CONFIG: ward sets"},
		{"gcp file at the config dir", "identity: {gcp: {from: " + sa + "}}\nfiles: [{path: " + GCPConfigDir + ", ref: local://a/b}]", "empty gcloud configuration"},
		{"azure resources not a list", "identity: {azure: {resources: https://vault.azure.net}}", "want a list"},
		{"azure empty resources", "identity: {azure: {resources: []}}", "identity.azure.resources: empty"},
		{"azure bare host", "identity: {azure: {resources: [vault.azure.net]}}", "is not an https resource"},
		{"azure app id uri", "identity: {azure: {resources: [\"api://0b9d3a6e\"]}}", "is not an https resource"},
		{"azure twice", "identity: {azure: {resources: [https://vault.azure.net, https://vault.azure.net/]}}", "listed twice"},
		{"azure twice, in two cases", "identity: {azure: {resources: [https://vault.azure.net, https://VAULT.azure.net]}}", "listed twice"},
		{"azure scope", "identity: {azure: {resources: [\"https://vault.azure.net/.default\"]}}", `"https://vault.azure.net/.default" is a scope, not a resource`},
		{"azure scope in capitals", "identity: {azure: {resources: [\"https://vault.azure.net/.Default\"]}}", `"https://vault.azure.net/.Default" is a scope, not a resource`},
		{"azure paths in two cases", "identity: {azure: {resources: [https://x.example.com/Foo, https://X.example.com/Foo]}}", "listed twice"},
		{"azure file env", "identity: {azure: {resources: [https://vault.azure.net]}}\nfiles: [{path: t, ref: local://a/b, env: IDENTITY_ENDPOINT}]", "files[0].env: ward sets IDENTITY_ENDPOINT for identity.azure"},
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
}

// TestIdentityCloudSchemaAgrees gives the parser and the JSON Schema
// identity.gcp and identity.azure sections at the edges of what they
// take, and wants one verdict.
func TestIdentityCloudSchemaAgrees(t *testing.T) {
	sch := compileSchema(t)
	const sa = "gcpsa://app@my-project.iam.gserviceaccount.com"
	tests := []struct {
		name  string
		doc   string
		valid bool
	}{
		{"gcp", "identity: {gcp: {from: " + sa + "}}", true},
		{"gcp options", `identity: {gcp: {from: "` + sa + `?scopes=cloud-platform,https://www.googleapis.com/auth/userinfo.email&lifetime=30m"}}`, true},
		{"gcp google-managed account", "identity: {gcp: {from: gcpsa://123456789-compute@developer.gserviceaccount.com, project: my-project}}", true},
		{"gcp google-managed account, no project", "identity: {gcp: {from: gcpsa://123456789-compute@developer.gserviceaccount.com}}", false},
		{"gcp app engine account", "identity: {gcp: {from: gcpsa://my-project@appspot.gserviceaccount.com}}", true},
		{"gcp app engine account, options", `identity: {gcp: {from: "gcpsa://my-project@appspot.gserviceaccount.com?lifetime=30m"}}`, true},
		{"gcp service agent", "identity: {gcp: {from: gcpsa://service-123@gcp-sa-pubsub.iam.gserviceaccount.com}}", false},
		{"gcp service agent, project", "identity: {gcp: {from: gcpsa://service-123@gcp-sa-pubsub.iam.gserviceaccount.com, project: my-project}}", true},
		{"gcp compute's service agent", "identity: {gcp: {from: gcpsa://service-123@compute-system.iam.gserviceaccount.com}}", false},
		{"gcp all", "identity: {gcp: {from: " + sa + ", project: my-project, refresh_before: 5m}}", true},
		{"gcp field", `identity: {gcp: {from: "` + sa + `#access_token"}}`, false},
		{"gcp not an account", "identity: {gcp: {from: gcpsa://app@example.com}}", false},
		{"gcp kv scheme", "identity: {gcp: {from: gcpsm://my-project/key}}", false},
		{"gcp bad lifetime", `identity: {gcp: {from: "` + sa + `?lifetime=soon"}}`, false},
		{"gcp bad project", "identity: {gcp: {from: " + sa + ", project: P}}", false},
		{"gcp no from", "identity: {gcp: {project: my-project}}", false},
		{"gcp sub-second", "identity: {gcp: {from: " + sa + ", refresh_before: 999ms}}", false},
		{"gcp declares the host", "identity: {gcp: {from: " + sa + "}}\nenv: {GCE_METADATA_HOST: {value: x}}", false},
		{"gcp file under the config dir", "identity: {gcp: {from: " + sa + "}}\nfiles: [{path: " + GCPConfigDir + "/x, ref: local://a/b}]", false},
		{"gcp file beside the config dir", "identity: {gcp: {from: " + sa + "}}\nfiles: [{path: " + GCPConfigDir + "2, ref: local://a/b}]", true},
		{"azure", "identity: {azure: {resources: [https://vault.azure.net]}}", true},
		{"azure several", "identity: {azure: {resources: [https://vault.azure.net, \"https://management.azure.com/\", https://127.0.0.1:8443/x], refresh_before: 2m}}", true},
		{"azure empty", "identity: {azure: {resources: []}}", false},
		{"azure http", "identity: {azure: {resources: [http://vault.azure.net]}}", false},
		{"azure query", "identity: {azure: {resources: [\"https://vault.azure.net?x=1\"]}}", false},
		{"azure scope", "identity: {azure: {resources: [\"https://vault.azure.net/.default\"]}}", false},
		{"azure paths differing in case", "identity: {azure: {resources: [https://x.example.com/Foo, https://x.example.com/foo]}}", true},
		{"azure no resources", "identity: {azure: {refresh_before: 5m}}", false},
		{"azure declares the header", "identity: {azure: {resources: [https://vault.azure.net]}}\nprofiles: {dev: {env: {IDENTITY_HEADER: {value: x}}}}", false},
		{"no identity declares them", "env: {IDENTITY_HEADER: {value: x}, GCE_METADATA_HOST: {value: y}}\nfiles: [{path: " + GCPConfigDir + ", ref: local://a/b}]", true},
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

// TestIdentityGCPRefusedProjectIsNotMissing: a project written but
// refused, for an account whose email names none, is one error: it was
// "missing" too.
func TestIdentityGCPRefusedProjectIsNotMissing(t *testing.T) {
	_, err := Parse("ward.yaml", []byte("version: 1\nidentity: {gcp: {from: gcpsa://123-compute@developer.gserviceaccount.com, project: Bad_Proj}}\n"))
	var ve ValidationErrors
	if !asValidation(err, &ve) || len(ve) != 1 || !strings.Contains(ve[0].Error(), `"Bad_Proj" is not a project id`) {
		t.Errorf("got %v, want the one error refusing the project", err)
	}
}

// TestIdentityAzureScopeHint: a scope whose resource ward cannot serve
// (an api:// app id) is not told to write that resource, which is
// refused in turn.
func TestIdentityAzureScopeHint(t *testing.T) {
	_, err := Parse("ward.yaml", []byte("version: 1\nidentity: {azure: {resources: [\"api://1234/.default\"]}}\n"))
	var ve ValidationErrors
	if !asValidation(err, &ve) || len(ve) != 1 || strings.Contains(ve[0].Hint(), "write the resource: api://") || !strings.Contains(ve[0].Hint(), "https resources only") {
		t.Errorf("got %v (hint %q), want the scope refused with the https hint", err, func() string {
			if len(ve) > 0 {
				return ve[0].Hint()
			}
			return ""
		}())
	}
}
