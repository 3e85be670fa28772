package conf

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestUnknownFieldThatMayBeAValue: a key that is no field's name (digits,
// spaces, '=', mixed with letters: a token in braces, `{value s3cr3t}`
// with its colon missed) is not quoted in the error, nor in its field;
// a misspelt field's name (`vaule`, `Env`, `API_TOKEN`) still is. ward
// printed such a key twice, in the field and in the message.
func TestUnknownFieldThatMayBeAValue(t *testing.T) {
	const secret = "ghp_S3CRETt0ken123456"
	tests := []struct{ key, want string }{
		{secret, "env.A: an unknown field of 21 characters, not shown"},
		{"value " + secret, "env.A: an unknown field of 27 characters, not shown"},
		{"value=" + secret, "env.A: an unknown field of 27 characters, not shown"},
		{"vaule", `env.A.vaule: unknown field "vaule"`},
		{"API_TOKEN", `env.A.API_TOKEN: unknown field "API_TOKEN"`},
		// A byte order mark or a zero-width space is shown, escaped.
		{"\ufeffvalue", `env.A."\ufeffvalue": unknown field "\ufeffvalue"`},
		{"val\u200bue", `env.A."val\u200bue": unknown field "val\u200bue"`},
	}
	for _, tc := range tests {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte("{"+tc.key+": x}"), &n); err != nil {
			t.Fatal(err)
		}
		var d Decoder
		d.Fields(n.Content[0], "env.A", map[string]func(k, v *yaml.Node){"value": func(k, v *yaml.Node) {}})
		if len(d.Problems) != 1 {
			t.Fatalf("%q: got %d problems", tc.key, len(d.Problems))
		}
		pr := d.Problems[0]
		got := pr.Field + ": " + pr.Msg
		if !strings.HasPrefix(got, tc.want) {
			t.Errorf("%q: got %q, want %q...", tc.key, got, tc.want)
		}
		if strings.Contains(got+pr.Hint, secret) {
			t.Errorf("%q: the key is in the error", tc.key)
		}
	}
}
