package aws

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
)

// TestARNRegions: ward reads a reference by ARN in the ARN's region, so a
// typo there is caught when the manifest is read, as one in
// stores.aws.region is, rather than sending requests to a region that
// does not exist.
func TestARNRegions(t *testing.T) {
	registry := resolve.NewRegistry(Kind)
	wantRefsParse(t, registry,
		"awssm://arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf",
		"awssm://arn:aws-us-gov:secretsmanager:us-gov-west-1:123456789012:secret:prod/db",
		"awssm://arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:db#password",
		"awssm://arn:aws:secretsmanager:eusc-de-east-1:123456789012:secret:db",
		"ssm://arn:aws:ssm:eu-west-1:123456789012:parameter/app/db",
		"ssm://arn:aws-cn:ssm:cn-northwest-1:123456789012:parameter/app/db?version=2",
	)
	tests := []struct{ ref, msg, hint string }{
		{"awssm://arn:aws:secretsmanager:eu-west1:123456789012:secret:prod/db", "not a secret's ARN", "arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME"},
		{"awssm://arn:aws:secretsmanager:EU-WEST-1:123456789012:secret:prod/db", "not a secret's ARN", "e.g."},
		{"awssm://arn:aws:secretsmanager:eu-west-1:1234:secret:prod/db", "not a secret's ARN", "e.g."},
		{"awssm://arn:aws:ssm:eu-west-1:123456789012:parameter/db", "not a secret's ARN", "ssm://"},
		{"awssm://prod/db:AWSPREVIOUS", "holds a colon", "?stage=AWSPREVIOUS"},
		{"ssm://arn:aws:ssm:euwest-1:123456789012:parameter/app/db", "neither a parameter name", "REGION"},
		{"ssm:///app/db:3", "neither a parameter name", "?version=3"},
	}
	wantRefErrors(t, registry, tests)
}

// wantRefsParse checks that each reference is taken.
func wantRefsParse(t *testing.T, registry *resolve.Registry, refs ...string) {
	t.Helper()
	for _, ref := range refs {
		if _, err := registry.ParseRef(ref); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
}

// wantRefErrors checks that each reference is refused with a message and
// a hint that say what the test wants.
func wantRefErrors(t *testing.T, registry *resolve.Registry, tests []struct{ ref, msg, hint string }) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			_, err := registry.ParseRef(tt.ref)
			re, ok := err.(*resolve.RefError)
			if !ok {
				t.Fatalf("got %v (%T), want a *resolve.RefError", err, err)
			}
			if !strings.Contains(re.Msg, tt.msg) {
				t.Errorf("got Msg=%q, want it to say %q", re.Msg, tt.msg)
			}
			if !strings.Contains(re.Hint, tt.hint) {
				t.Errorf("got Hint=%q, want it to say %q", re.Hint, tt.hint)
			}
		})
	}
}

func TestRegionSetting(t *testing.T) {
	tests := []struct {
		region string
		ok     bool
	}{
		{"eu-west-1", true}, {"us-gov-west-1", true}, {"cn-north-1", true}, {"us-isob-east-1", true}, {"eusc-de-east-1", true},
		{"eu-west1", false}, {"EU-WEST-1", false}, {"us east 1", false}, {"eu-west-1 ", false}, {"west", false},
	}
	for _, tt := range tests {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte("region: \""+tt.region+"\"\n"), &n); err != nil {
			t.Fatal(err)
		}
		d := &conf.Decoder{}
		var o Options
		o.Decode(d, n.Content[0], "stores.aws")
		if got := !d.Failed(); got != tt.ok {
			t.Errorf("region %q: got valid=%v, want %v", tt.region, got, tt.ok)
			continue
		}
		if !tt.ok {
			p := d.Problems[0]
			if p.Field != "stores.aws.region" || p.Line != 1 || p.Col != 9 || !strings.Contains(p.Hint, "eu-west-1") {
				t.Errorf("region %q: got problem %+v, want stores.aws.region at 1:9 with a hint naming a region", tt.region, p)
			}
		}
	}
}

// TestParameterLabelRefs: ?label= takes what LabelParameterVersion
// accepts, alone, and the CLI's name:label points to it.
func TestParameterLabelRefs(t *testing.T) {
	registry := resolve.NewRegistry(Kind)
	wantRefsParse(t, registry,
		"ssm:///app/db?label=prod",
		"ssm:///app/db?label=Release-2.1_b#password",
		"ssm://arn:aws:ssm:eu-west-1:123456789012:parameter/app/db?label=prod",
		"ssm://top?label="+strings.Repeat("x", 100),
	)
	tests := []struct{ ref, msg, hint string }{
		{"ssm:///app/db:prod", "neither a parameter name", "?label=prod"},
		{"ssm:///app/db?label=prod&version=2", "both version and label", "choose one"},
		{"ssm:///app/db?label=1st", "not a label Parameter Store accepts", "does not begin with a digit"},
		{"ssm:///app/db?label=awsprod", "not a label Parameter Store accepts", `"aws"`},
		{"ssm:///app/db?label=SSM-x", "not a label Parameter Store accepts", `"ssm"`},
		{"ssm:///app/db?label=a+b", "not a label Parameter Store accepts", "letters, digits"},
		{"ssm:///app/db?label=" + strings.Repeat("x", 101), "not a label Parameter Store accepts", "1 to 100"},
		{"ssm:///app/db?label=", "not a label Parameter Store accepts", "1 to 100"},
	}
	wantRefErrors(t, registry, tests)
}
