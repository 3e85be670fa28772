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

// TestPairsRefuseKeysThatAreNoNames: Pairs (every mapping of the user's
// names, and Fields) refuses a key that is a list, a mapping or nothing,
// at the key, and calls each for the others; such a key's Value is "",
// which was handed on as a name.
func TestPairsRefuseKeysThatAreNoNames(t *testing.T) {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("{[a]: 1, {b: c}: 2, ? : 3, D: 4}"), &n); err != nil {
		t.Fatal(err)
	}
	var d Decoder
	var called []string
	d.Pairs(n.Content[0], "env", func(k, v *yaml.Node) { called = append(called, k.Value) })
	if len(called) != 1 || called[0] != "D" || len(d.Problems) != 3 {
		t.Fatalf("called for %q, %d problems; want D alone, and 3", called, len(d.Problems))
	}
	for i, want := range []string{"a key that is a list", "a key that is a mapping", "a key that is nothing"} {
		if pr := d.Problems[i]; pr.Field != "env" || !strings.HasPrefix(pr.Msg, want) {
			t.Errorf("problem %d: %s: %s, want env: %s", i, pr.Field, pr.Msg, want)
		}
	}
}

// TestDurationMistakes: a number without a unit, written bare or quoted,
// is said to lack one, with the unit to add; a duration of zero is said
// to be one. The bare number was "want a string", whose hint to quote it
// led to "invalid duration".
func TestDurationMistakes(t *testing.T) {
	tests := []struct{ in, msg, hint string }{
		{"10", "a number without a unit, not a duration", "write the unit: 10s for seconds, 10m for minutes"},
		{`"10"`, "a number without a unit, not a duration", "write the unit: 10s"},
		{"1.5", "a number without a unit, not a duration", "write the unit: 1.5s"},
		{"0s", `a duration of "0s": it must be above zero`, "write a duration above zero"},
		{"-5s", `a duration of "-5s": it must be above zero`, "write a duration above zero"},
		{"soon", `invalid duration "soon"`, "write a duration such as 30s"},
		// No unit makes these a duration ward takes: 0s was refused in
		// turn.
		{"0", "a number without a unit, not a duration", "write a duration above zero"},
		{`"00"`, "a number without a unit, not a duration", "write a duration above zero"},
		{"-5", "a number without a unit, not a duration", "write a duration above zero"},
		{`"-5"`, "a number without a unit, not a duration", "write a duration above zero"},
		// No unit makes these a duration: not told to add one.
		{"0x10", "a number without a unit, not a duration", "write a duration such as 30s"},
		{"1_000", "a number without a unit, not a duration", "write a duration such as 30s"},
		{"1e3", "a number without a unit, not a duration", "write a duration such as 30s"},
	}
	for _, tc := range tests {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte("timeout: "+tc.in), &n); err != nil {
			t.Fatal(err)
		}
		var d Decoder
		if _, ok := d.Duration(n.Content[0].Content[1], "stores.vault.timeout"); ok || len(d.Problems) != 1 {
			t.Fatalf("%s: taken, or %d problems", tc.in, len(d.Problems))
		}
		if pr := d.Problems[0]; pr.Msg != tc.msg || !strings.HasPrefix(pr.Hint, tc.hint) {
			t.Errorf("%s: got %q (%s), want %q (%s...)", tc.in, pr.Msg, pr.Hint, tc.msg, tc.hint)
		}
	}
	var n yaml.Node
	if err := yaml.Unmarshal([]byte("timeout: 1m30s"), &n); err != nil {
		t.Fatal(err)
	}
	var d Decoder
	if dur, ok := d.Duration(n.Content[0].Content[1], "t"); !ok || dur != 90e9 {
		t.Errorf("1m30s: %v, %v", dur, ok)
	}
}

// TestMixedRun: a run of letters and digits both, n long or longer, is
// what import's configuration values and a name where a value may be
// pasted are told apart by; words, numbers and names joined by _ or -
// are not such a run.
func TestMixedRun(t *testing.T) {
	tests := []struct {
		s    string
		n    int
		want bool
	}{
		{"Winter2024", 8, true},
		{"a1b2c3d4", 8, true},
		{"a1b2c3d", 8, false},
		{"12345678", 8, false},
		{"abcdefgh", 8, false},
		{"eu-west-1", 8, false},
		{"api_v2_users_v3", 8, false},
		{"redis7:6379", 8, false},
		{"ghp_S3CRETt0ken123456", 16, true},
		{"S3CRETt0ken12345", 16, true},
		{"S3CRETt0ken1234", 16, false},
		{"café1234567890123", 16, false},
	}
	for _, tc := range tests {
		if got := MixedRun(tc.s, tc.n); got != tc.want {
			t.Errorf("MixedRun(%q, %d) = %v, want %v", tc.s, tc.n, got, tc.want)
		}
	}
}
