package gcp

import (
	"strings"
	"testing"

	"github.com/wardsecrets/ward/resolve"
)

// registry parses references the way ward does, with CheckRef for gcpsm.
var registry = resolve.NewRegistry(&resolve.Kind{Name: "gcp", Schemes: []*resolve.Scheme{{Name: Scheme, Check: CheckRef}}})

func TestParseResource(t *testing.T) {
	tests := []struct {
		ref  string
		want Resource
		name string
	}{
		{"gcpsm://my-project/db-password", Resource{"my-project", "", "db-password", "latest"}, "projects/my-project/secrets/db-password/versions/latest"},
		{"gcpsm://my-project/db_password#user", Resource{"my-project", "", "db_password", "latest"}, "projects/my-project/secrets/db_password/versions/latest"},
		{"gcpsm://my-project/DB?version=3", Resource{"my-project", "", "DB", "3"}, "projects/my-project/secrets/DB/versions/3"},
		{"gcpsm://my-project/db?version=latest", Resource{"my-project", "", "db", "latest"}, "projects/my-project/secrets/db/versions/latest"},
		{"gcpsm://my-project/db#password?version=12", Resource{"my-project", "", "db", "12"}, "projects/my-project/secrets/db/versions/12"},
		{"gcpsm://123456789012/db", Resource{"123456789012", "", "db", "latest"}, "projects/123456789012/secrets/db/versions/latest"},
		{"gcpsm://example.com:my-project/db", Resource{"example.com:my-project", "", "db", "latest"}, "projects/example.com:my-project/secrets/db/versions/latest"},
		{"gcpsm://my-project/db?location=europe-west1", Resource{"my-project", "europe-west1", "db", "latest"}, "projects/my-project/locations/europe-west1/secrets/db/versions/latest"},
		{"gcpsm://my-project/db?location=us-central1&version=2", Resource{"my-project", "us-central1", "db", "2"}, "projects/my-project/locations/us-central1/secrets/db/versions/2"},
		{"gcpsm://projects/my-project/secrets/db", Resource{"my-project", "", "db", "latest"}, "projects/my-project/secrets/db/versions/latest"},
		{"gcpsm://projects/my-project/secrets/db?version=4", Resource{"my-project", "", "db", "4"}, "projects/my-project/secrets/db/versions/4"},
		{"gcpsm://projects/my-project/secrets/db/versions/7", Resource{"my-project", "", "db", "7"}, "projects/my-project/secrets/db/versions/7"},
		{"gcpsm://projects/my-project/secrets/db/versions/prod", Resource{"my-project", "", "db", "prod"}, "projects/my-project/secrets/db/versions/prod"},
		{"gcpsm://my-project/db?version=Blue_2-a", Resource{"my-project", "", "db", "Blue_2-a"}, "projects/my-project/secrets/db/versions/Blue_2-a"},
		{"gcpsm://projects/my-project/secrets/db/versions/latest#password", Resource{"my-project", "", "db", "latest"}, "projects/my-project/secrets/db/versions/latest"},
		{"gcpsm://projects/my-project/locations/europe-west1/secrets/db", Resource{"my-project", "europe-west1", "db", "latest"}, "projects/my-project/locations/europe-west1/secrets/db/versions/latest"},
		{"gcpsm://projects/my-project/locations/europe-west1/secrets/db/versions/2", Resource{"my-project", "europe-west1", "db", "2"}, "projects/my-project/locations/europe-west1/secrets/db/versions/2"},
		{"gcpsm://projects/my-project/locations/europe-west1/secrets/db?location=europe-west1", Resource{"my-project", "europe-west1", "db", "latest"}, "projects/my-project/locations/europe-west1/secrets/db/versions/latest"},
		{"gcpsm://projects/my-project/locations/europe-west1/secrets/db?version=5", Resource{"my-project", "europe-west1", "db", "5"}, "projects/my-project/locations/europe-west1/secrets/db/versions/5"},
		{"gcpsm://projects/projects/secrets/secrets", Resource{"projects", "", "secrets", "latest"}, "projects/projects/secrets/secrets/versions/latest"},
		{"gcpsm://my-project/" + strings.Repeat("s", 255), Resource{"my-project", "", strings.Repeat("s", 255), "latest"}, "projects/my-project/secrets/" + strings.Repeat("s", 255) + "/versions/latest"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			r, err := registry.ParseRef(tt.ref)
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			got := ParseResource(r)
			if got != tt.want {
				t.Errorf("got ParseResource=%+v, want %+v", got, tt.want)
			}
			if got.Name() != tt.name {
				t.Errorf("got Name()=%q, want %q", got.Name(), tt.name)
			}
		})
	}
}

func TestCheckRefRejects(t *testing.T) {
	long := strings.Repeat("s", 256)
	tests := []struct {
		ref       string
		msg, hint string
	}{
		{"gcpsm://my-project", "want PROJECT/SECRET", "e.g. gcpsm://my-project/db-password"},
		{"gcpsm://my-project/", "empty segment", "gcpsm://PROJECT/SECRET"},
		{"gcpsm:///db", "empty segment", "gcpsm://PROJECT/SECRET"},
		{"gcpsm://my-project//db", "empty segment", "gcpsm://PROJECT/SECRET"},
		{"gcpsm://projects/my-project/secrets/", "empty segment", "gcpsm://PROJECT/SECRET"},
		{"gcpsm://my-project/db/3", "three segments", "gcpsm://my-project/db?version=3"},
		{"gcpsm://a/b/c/d/e", "want PROJECT/SECRET or projects/PROJECT/secrets/SECRET", "gcpsm://projects/my-project/secrets/db-password/versions/3"},
		{"gcpsm://projects/my-project/db", "malformed resource name", "e.g. gcpsm://projects/my-project/secrets/db-password/versions/3"},
		{"gcpsm://projects/my-project/keys/db", "malformed resource name", "gcpsm://projects/my-project/secrets/db-password/versions/3"},
		{"gcpsm://projects/my-project/secrets/db/versions", "malformed resource name", "e.g."},
		{"gcpsm://projects/my-project/secrets/db/aliases/3", "malformed resource name", "e.g."},
		{"gcpsm://projects/my-project/locations/europe-west1/db", "malformed resource name", "e.g."},
		{"gcpsm://projects/my-project/secrets/db/versions/3/x", "malformed resource name", "e.g."},
		{"gcpsm://My-Project/db", `"My-Project" is not a project id`, "6 to 30 lowercase letters"},
		{"gcpsm://proj/db", `"proj" is not a project id`, "gcpsm://my-project/db-password"},
		{"gcpsm://my-project-/db", `"my-project-" is not a project id`, "does not end with a hyphen"},
		{"gcpsm://1project/db", `"1project" is not a project id`, "starts with a letter"},
		{"gcpsm://my_project/db", `"my_project" is not a project id`, "project number"},
		{"gcpsm://" + strings.Repeat("p", 31) + "/db", "is not a project id", "6 to 30"},
		{"gcpsm://my-project/db.password", `secret id "db.password" has a character other than letters, digits, '-' and '_'`, "#password selects a field"},
		{"gcpsm://my-project/db%20x", `secret id "db%20x"`, "e.g. gcpsm://my-project/db-password"},
		{"gcpsm://my-project/" + long, "the secret id has 256 characters, more than 255", "e.g."},
		{"gcpsm://my-project/db?stage=AWSCURRENT", `unknown option "stage"`, "gcpsm references take version and location, e.g. gcpsm://my-project/db-password?version=3"},
		{"gcpsm://my-project/db?version=", "option version is empty", "?version=3"},
		{"gcpsm://my-project/db?location=", "option location is empty", "?location=europe-west1"},
		{"gcpsm://my-project/db?version=0", `version "0" is neither a positive whole number, latest nor a version alias`, "versions count from 1"},
		{"gcpsm://my-project/db?version=-1", `version "-1"`, "versions count from 1"},
		{"gcpsm://my-project/db?version=03", `version "03"`, "?version=3"},
		{"gcpsm://my-project/db?version=LATEST", `version "LATEST"`, "latest is the default"},
		{"gcpsm://my-project/db?version=new", `version "new"`, "an alias starts with a letter"},
		{"gcpsm://my-project/db?version=Latest", `version "Latest"`, "latest is the default"},
		{"gcpsm://my-project/db?version=_prod", `version "_prod"`, "an alias starts with a letter"},
		{"gcpsm://my-project/db?version=" + strings.Repeat("a", 64), `version "` + strings.Repeat("a", 64) + `"`, "an alias"},
		{"gcpsm://projects/my-project/secrets/db/versions/prod.1", `version "prod.1"`, "an alias"},
		{"gcpsm://projects/my-project/secrets/db/versions/0", `version "0"`, "versions count from 1"},
		{"gcpsm://projects/my-project/secrets/db/versions/3?version=3", "version given twice: versions/3 in the path and ?version=3", "keep one, e.g. gcpsm://projects/my-project/secrets/db/versions/3"},
		{"gcpsm://projects/my-project/secrets/db/versions/3?version=latest", "version given twice", "keep one"},
		{"gcpsm://projects/my-project/locations/europe-west1/secrets/db?location=us-east1", "location given twice and differently: locations/europe-west1 in the path and ?location=us-east1",
			"keep one, e.g. gcpsm://projects/my-project/locations/europe-west1/secrets/db"},
		{"gcpsm://my-project/db?location=Europe-West1", `location "Europe-West1" is not a Google Cloud region`, "?location=europe-west1"},
		{"gcpsm://my-project/db?location=evil.example.com", `location "evil.example.com"`, "e.g."},
		{"gcpsm://my-project/db?location=eu-", `location "eu-"`, "e.g."},
		{"gcpsm://projects/my-project/locations/evil.example.com:443/secrets/db", `location "evil.example.com:443"`, "e.g."},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			_, err := registry.ParseRef(tt.ref)
			if err == nil {
				t.Fatal("got no error")
			}
			re, ok := err.(*resolve.RefError)
			if !ok {
				t.Fatalf("got %T, want *resolve.RefError", err)
			}
			if !strings.Contains(re.Msg, tt.msg) {
				t.Errorf("got Msg=%q, want it to say %q", re.Msg, tt.msg)
			}
			if !strings.Contains(re.Hint, tt.hint) {
				t.Errorf("got Hint=%q, want it to say %q", re.Hint, tt.hint)
			}
			if re.Ref != tt.ref {
				t.Errorf("got Ref=%q, want %q", re.Ref, tt.ref)
			}
			if strings.Contains(re.Msg, tt.ref) {
				t.Errorf("Msg %q repeats the reference, which Error() shows already", re.Msg)
			}
		})
	}
}
