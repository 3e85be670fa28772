package gcp

import (
	"encoding/json"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBaseURL(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		location string
		want     string
	}{
		{"global default", Options{}, "", "https://secretmanager.googleapis.com/"},
		{"regional default", Options{}, "europe-west1", "https://secretmanager.europe-west1.rep.googleapis.com/"},
		{"global override", Options{Endpoint: "https://secretmanager-psc.p.googleapis.com"}, "", "https://secretmanager-psc.p.googleapis.com/"},
		{"global override leaves regional", Options{Endpoint: "https://x.example/"}, "us-east1", "https://secretmanager.us-east1.rep.googleapis.com/"},
		{"regional template", Options{RegionalEndpoint: "https://sm-{location}.example/"}, "us-east1", "https://sm-us-east1.example/"},
		{"regional without template", Options{RegionalEndpoint: "http://127.0.0.1:8080"}, "us-east1", "http://127.0.0.1:8080/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.opts.BaseURL(tt.location); got != tt.want {
				t.Errorf("got BaseURL(%q)=%q, want %q", tt.location, got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string // "" for valid
	}{
		{"zero", Options{}, ""},
		{"all set", Options{Endpoint: "https://a.example/", RegionalEndpoint: "https://sm.{location}.example/", QuotaProject: "billing-project", Timeout: time.Second}, ""},
		{"quota project number", Options{QuotaProject: "123456789012"}, ""},
		{"endpoint without scheme", Options{Endpoint: "secretmanager.googleapis.com"}, "stores.gcp.endpoint"},
		{"endpoint ftp", Options{Endpoint: "ftp://a.example/"}, "stores.gcp.endpoint"},
		{"regional endpoint with query", Options{RegionalEndpoint: "https://a.example/?x=1"}, "stores.gcp.regional_endpoint"},
		{"bad quota project", Options{QuotaProject: "Billing"}, "stores.gcp.quota_project"},
		{"negative timeout", Options{Timeout: -time.Second}, "stores.gcp.timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got error %v, want none", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got error %v, want one naming %s", err, tt.want)
			}
		})
	}
}

// TestOptionsJSON checks the keys the options travel under to the helper
// program, and that they come back whole.
func TestOptionsJSON(t *testing.T) {
	o := Options{Endpoint: "https://a.example/", RegionalEndpoint: "https://{location}.example/", QuotaProject: "billing-project", Timeout: 5 * time.Second}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"endpoint":"https://a.example/","regional_endpoint":"https://{location}.example/","quota_project":"billing-project","timeout":5000000000}`
	if string(b) != want {
		t.Errorf("got %s, want %s", b, want)
	}
	var back Options
	if err := json.Unmarshal(b, &back); err != nil || back != o {
		t.Errorf("round trip: got %+v (%v), want %+v", back, err, o)
	}
	if b, _ := json.Marshal(Options{}); string(b) != "{}" {
		t.Errorf("zero Options: got %s, want {}", b)
	}
}

func TestReadTimeout(t *testing.T) {
	if got := (Options{}).ReadTimeout(); got != DefaultTimeout {
		t.Errorf("got %v, want DefaultTimeout", got)
	}
	if got := (Options{Timeout: time.Second}).ReadTimeout(); got != time.Second {
		t.Errorf("got %v, want 1s", got)
	}
}

func TestCredentialEnv(t *testing.T) {
	for _, want := range []string{"GOOGLE_APPLICATION_CREDENTIALS", "CLOUDSDK_CONFIG", "GOOGLE_API_CERTIFICATE_CONFIG"} {
		if !slices.Contains(CredentialEnv, want) {
			t.Errorf("CredentialEnv lacks %s", want)
		}
	}
	for _, setting := range []string{"GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_QUOTA_PROJECT", "GCE_METADATA_HOST"} {
		if slices.Contains(CredentialEnv, setting) {
			t.Errorf("CredentialEnv holds the plain setting %s", setting)
		}
	}
}

// TestImportsStayLight keeps this package free of Google's libraries (and
// of anything but the standard library, resolve, resolve/conf and
// yaml.v3, which ward's core links anyway): ward's core links it.
func TestImportsStayLight(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		file, err := parser.ParseFile(fset, f, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			first, _, _ := strings.Cut(path, "/")
			light := path == "github.com/wardsecrets/ward/resolve" || path == "github.com/wardsecrets/ward/resolve/conf" || path == "gopkg.in/yaml.v3"
			if strings.Contains(first, ".") && !light {
				t.Errorf("%s imports %s: package gcp may import only the standard library, resolve, resolve/conf and yaml.v3", f, path)
			}
		}
	}
}

func TestTrustedEndpoints(t *testing.T) {
	const emulator = "http://127.0.0.1:8085/"
	for _, tt := range []struct {
		name string
		o    Options
		env  map[string]string
		err  string
	}{
		{"defaults", Options{}, nil, ""},
		{"global", Options{Endpoint: DefaultEndpoint, RegionalEndpoint: DefaultRegionalEndpoint, IAMEndpoint: DefaultIAMEndpoint}, nil, ""},
		{"private service connect", Options{Endpoint: "https://secretmanager-corp.p.googleapis.com/", IAMEndpoint: "https://iamcredentials-corp.p.googleapis.com"}, nil, ""},
		{"restricted VIP, port and case", Options{Endpoint: "https://Restricted.GoogleAPIs.com.:443/"}, nil, ""},
		{"another host", Options{Endpoint: "https://secretmanager.attacker.example/"}, nil, "stores.gcp.endpoint is https://secretmanager.attacker.example/, which is not"},
		{"a look-alike", Options{Endpoint: "https://secretmanager.googleapis.com.attacker.example/"}, nil, "stores.gcp.endpoint"},
		{"user info", Options{Endpoint: "https://secretmanager.googleapis.com@attacker.example/"}, nil, "stores.gcp.endpoint"},
		{"plain http to Google", Options{Endpoint: "http://secretmanager.googleapis.com/"}, nil, "stores.gcp.endpoint"},
		{"regional elsewhere", Options{RegionalEndpoint: "https://{location}.attacker.example/"}, nil, "stores.gcp.regional_endpoint is https://{location}.attacker.example/"},
		{"iam elsewhere", Options{IAMEndpoint: "https://iam.attacker.example/"}, nil, "stores.gcp.iam_endpoint"},
		{"emulator not listed", Options{Endpoint: emulator}, nil, "set WARD_GCP_ENDPOINTS=http://127.0.0.1:8085"},
		{"emulator listed", Options{Endpoint: emulator, RegionalEndpoint: "http://127.0.0.1:8086"}, map[string]string{EndpointsVar: "http://127.0.0.1:8085, http://127.0.0.1:8086/v1"}, ""},
		{"listed on another port", Options{Endpoint: emulator}, map[string]string{EndpointsVar: "http://127.0.0.1:8086"}, "stores.gcp.endpoint"},
		{"listed as https", Options{Endpoint: emulator}, map[string]string{EndpointsVar: "https://127.0.0.1:8085"}, "stores.gcp.endpoint"},
		{"default port", Options{Endpoint: "https://proxy.corp.example/"}, map[string]string{EndpointsVar: "https://PROXY.corp.example:443"}, ""},
		{"regional emulator", Options{RegionalEndpoint: "http://{location}.localhost:8086/"}, map[string]string{EndpointsVar: "http://{location}.localhost:8086"}, ""},
		{"regional emulator not listed", Options{RegionalEndpoint: "http://{location}.localhost:8086/"}, map[string]string{EndpointsVar: "http://us-east1.localhost:8086"}, "set WARD_GCP_ENDPOINTS=http://{location}.localhost:8086 in"},
		{"universe", Options{Endpoint: "https://secretmanager.s3nsapis.fr/"}, map[string]string{"GOOGLE_CLOUD_UNIVERSE_DOMAIN": "s3nsapis.fr"}, ""},
		{"another universe", Options{Endpoint: "https://secretmanager.s3nsapis.fr/"}, map[string]string{"GOOGLE_CLOUD_UNIVERSE_DOMAIN": "apis-tsp.example"}, "under googleapis.com or apis-tsp.example"},
	} {
		err := TrustedEndpoints(tt.o, func(k string) string { return tt.env[k] })
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error()+" "+resolveHint(err), tt.err)):
			t.Errorf("%s: got %v, want an error saying %q", tt.name, err, tt.err)
		}
	}
}

// resolveHint is the hint resolve.WithHint gave err, or "".
func resolveHint(err error) string {
	if h, ok := err.(interface{ Hint() string }); ok {
		return h.Hint()
	}
	return ""
}
