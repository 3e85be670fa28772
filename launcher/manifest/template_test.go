package manifest

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestTemplateDollarRefused checks that $, text/template's name for the
// whole data, is refused like the bare dot: through it a template could
// read any variable, declared or not, without the dependency being seen,
// so that another template's value was read before it was rendered.
func TestTemplateDollarRefused(t *testing.T) {
	tests := []struct {
		name, template, msg, hint string
	}{
		{"index", `[{{ index $ "T2" }}]`, "unsupported template construct: $", "{{ .NAME }}"},
		{"index undeclared", `[{{ index $ "NOPE" }}]`, "unsupported template construct: $", "{{ .NAME }}"},
		{"bare", `{{ $ }}`, "unsupported template construct: $", "{{ .NAME }}"},
		{"piped", `{{ $ | printf "%v" }}`, "unsupported template construct: $", "{{ .NAME }}"},
		{"in if", `{{ if $ }}x{{ end }}`, "unsupported template construct: $", "{{ .NAME }}"},
		{"field", `{{ $.T2 }}`, "unsupported template construct: $.T2", "write {{ .T2 }}"},
		{"nested field", `{{ $.T2.X }}`, "unsupported template construct: $.T2.X", "{{ .NAME }}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "version: 1\nenv:\n  A: {value: canary-plain}\n  T2: {template: \"x-{{ .A }}\"}\n  T1: {template: '" + tt.template + "'}\n"
			_, err := Parse("w.yaml", []byte(text))
			e := oneError(t, err)
			want := "w.yaml:5:18: env.T1.template: " + tt.msg
			if got := e.Error(); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
			if !strings.Contains(e.Hint(), tt.hint) {
				t.Errorf("got hint %q, want one with %q", e.Hint(), tt.hint)
			}
		})
	}
}

// TestTemplateDepsThroughDot checks that what a template may still write
// reads its variables as dependencies.
func TestTemplateDepsThroughDot(t *testing.T) {
	tm, err := parseTemplate("t", `{{ if .A }}{{ .B | urlquery }}{{ else if (eq .C "x") }}{{ index .D 0 }}{{ end }}`)
	if err != nil || tm.bad != "" {
		t.Fatalf("got %v, %q, want a template ward takes", err, tm.bad)
	}
	if got := strings.Join(tm.Deps, " "); got != "A B C D" {
		t.Errorf("got deps %s, want A B C D", got)
	}
}

// TestTemplatePrintfBounded: printf's argument indexes repeat an argument
// as often as the format says (a 250 KB manifest made ward run use 2.6 GB
// and die), which the copy count did not see; they are refused, and so are
// widths from an argument, widths over 1000 and a format that is not
// written in the template. Plain formats still work.
func TestTemplatePrintfBounded(t *testing.T) {
	tests := []struct{ name, template, msg string }{
		{"index", `{{ printf "%[1]s%[1]s" .A }}`, "printf argument indexes (%[n])"},
		{"star width", `{{ printf "%*d" 5 1 }}`, "printf widths from an argument (%*)"},
		{"huge width", `{{ printf "%0999999d" 0 }}`, "a printf width or precision over 1000"},
		{"huge precision", `{{ printf "%.5000s" .A }}`, "a printf width or precision over 1000"},
		{"format from a value", `{{ printf .A 1 }}`, "a printf format that is not written in the template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "version: 1\nenv:\n  A: {value: canary-plain}\n  T1: {template: '" + tt.template + "'}\n"
			_, err := Parse("w.yaml", []byte(text))
			e := oneError(t, err)
			if want := "w.yaml:4:18: env.T1.template: unsupported template construct: " + tt.msg; e.Error() != want {
				t.Errorf("got %q, want %q", e.Error(), want)
			}
		})
	}
	for _, ok := range []string{`{{ printf "%s-%05d %%" .A 7 }}`, `{{ printf "%-20s|%.3s" .A .A }}`, `{{ .A | printf "<%s>" }}`} {
		if _, err := Parse("w.yaml", []byte("version: 1\nenv:\n  A: {value: canary-plain}\n  T1: {template: '"+ok+"'}\n")); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestTemplateFuncArgs: ward's functions take one string each, which
// text/template checks only when it runs: `ward check` passed
// {{ urlquery .A "x" }} and the start failed with "execution failed".
func TestTemplateFuncArgs(t *testing.T) {
	tests := []struct{ name, template, msg string }{
		{"two", `{{ urlquery .A "x" }}`, "urlquery with 2 arguments"},
		{"piped and one", `{{ .A | json .A }}`, "json with 2 arguments"},
		{"none", `{{ shell }}`, "shell with 0 arguments"},
		{"in if", `{{ if base64 }}x{{ end }}`, "base64 with 0 arguments"},
		{"number", `{{ json 5 }}`, "json of 5, not a string"},
		{"bool", `{{ shell true }}`, "shell of true, not a string"},
		{"a byte", `{{ index .A 0 | json }}`, "json of index's result, not a string"},
		{"a number", `{{ len .A | base64 }}`, "base64 of len's result, not a string"},
		{"a boolean", `{{ eq .A "x" | shell }}`, "shell of eq's result, not a string"},
		{"an argument", `{{ json (len .A) }}`, "json of len's result, not a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("w.yaml", []byte("version: 1\nenv:\n  A: {value: canary-plain}\n  T1: {template: '"+tt.template+"'}\n"))
			e := oneError(t, err)
			if want := "w.yaml:4:18: env.T1.template: unsupported template construct: " + tt.msg; e.Error() != want {
				t.Errorf("got %q, want %q", e.Error(), want)
			}
			if !strings.Contains(e.Hint(), "take one string each") {
				t.Errorf("got hint %q", e.Hint())
			}
		})
	}
	for _, ok := range []string{`{{ urlquery .A }}`, `{{ .A | json }}`, `{{ printf "%s:%s" .A .A | base64 }}`, `{{ if shell .A }}{{ .A | urlquery | json }}{{ end }}`, `{{ base64 "lit" }}`, `{{ slice .A 1 | json }}`, `{{ printf "%d" (len .A) | json }}`} {
		if _, err := Parse("w.yaml", []byte("version: 1\nenv:\n  A: {value: canary-plain}\n  T1: {template: '"+ok+"'}\n")); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestTemplateFailsWhateverTheValues: a template whose execution fails
// for any value (every value is a string) is refused by Parse, and so by
// ward check, at its place, naming what fails and never a value: check
// said ok, and the start failed with 125. One whose failure a value
// decides, or that runs only for some values, is left to the start.
func TestTemplateFailsWhateverTheValues(t *testing.T) {
	tests := []struct{ name, template, msg, hint string }{
		{"and of nothing", `{{ and }}`, "and with the wrong number of arguments (at 1:4 in the template)", "one argument or more"},
		{"eq of nothing", `{{ eq }}`, "eq with the wrong number of arguments (at 1:4 in the template)", "eq two or more"},
		{"eq of one", `x{{ eq .A }}`, "eq with one argument (at 1:5 in the template)", "eq two or more"},
		{"lt of one", `{{ lt .A }}`, "lt with the wrong number of arguments (at 1:4 in the template)", "ge two"},
		{"not of two", `{{ not .A .B }}`, "not with the wrong number of arguments (at 1:4 in the template)", "not and len one"},
		{"a number", `x{{ eq .A 1 }}`, "incompatible types for comparison (at 1:5 in the template)", "quoted string"},
		{"call", `{{ call .A }}`, "call of a value (at 1:4 in the template)", "every value is a string"},
		{"a string position", `{{ index .A .B }}`, "a position that is not a number (at 1:4 in the template)", "written as numbers"},
		{"slice from a string", `{{ slice .A "a" }}`, "a position that is not a number (at 1:4 in the template)", "written as numbers"},
		{"a negative position", `{{ index .A -1 }}`, "a negative position (at 1:4 in the template)", "from 0"},
		// What runs whatever the values choose, in a template that
		// chooses: an if's condition, the actions outside the ifs.
		{"an if's condition", `{{ if eq .A 1 }}x{{ end }}`, "incompatible types for comparison (at 1:7 in the template)", "quoted string"},
		{"after an if", `{{ if .B }}{{ end }}{{ eq .A 1 }}`, "incompatible types for comparison (at 1:24 in the template)", "quoted string"},
		{"before an if", `{{ index .A -1 }}{{ if .B }}{{ end }}`, "a negative position (at 1:4 in the template)", "from 0"},
		{"an if of nothing", `{{ if and }}x{{ end }}`, "and with the wrong number of arguments (at 1:7 in the template)", "one argument or more"},
		// Out of range when A is short, out of order when it is not.
		{"slice out of order", `{{ slice .A 3 2 }}`, "slice positions out of order (at 1:4 in the template)", "positions in the template"},
		{"an if's slice out of order", `{{ if (slice .A 3 2) }}x{{ end }}`, "slice positions out of order (at 1:7 in the template)", "positions in the template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("w.yaml", []byte("version: 1\nenv:\n  A: {value: canary-fails-a}\n  B: {value: canary-fails-b}\n  T1: {template: '"+tt.template+"'}\n"))
			e := oneError(t, err)
			if want := "w.yaml:5:18: env.T1.template: the template fails whatever the values: " + tt.msg; e.Error() != want {
				t.Errorf("got %q, want %q", e.Error(), want)
			}
			if !strings.Contains(e.Hint(), tt.hint) {
				t.Errorf("got hint %q, want one about %q", e.Hint(), tt.hint)
			}
			if strings.Contains(e.Error()+e.Hint(), "canary-fails") {
				t.Errorf("the error or its hint holds a value")
			}
		})
	}
	// Chosen by the values: the real ones may never take the way that
	// fails (E is "prod", A short or empty).
	for _, ok := range []string{`{{ index .A 40 }}`, `{{ index .A 99 }}`, `{{ slice .A 0 100 }}`, `{{ slice .A (len .B) 3 }}`, `{{ if eq .A "prod" }}{{ and }}{{ end }}`, `{{ .A | json }}`, `{{ printf "%d" .A }}`,
		`{{ if eq .B "prod" }}{{ .A }}{{ else }}{{ eq .A 1 }}{{ end }}`, `{{ if gt (len .A) 63 }}{{ index .A -1 }}{{ end }}`, `{{ and .A (eq .B 1) }}`, `{{ or .A (call .B) }}`,
		`{{ if and .B (eq .A 1) }}x{{ end }}`, `{{ if .B }}{{ slice .A 3 2 }}{{ end }}`, `{{ slice .A 2 3 }}`, `{{ if or .B (call .A) }}{{ end }}{{ .A }}`, `{{ if eq .A "x" }}{{ else if eq .B 1 }}{{ end }}`, `{{ if eq .A "prod" 1 }}yes{{ end }}`, `{{ eq .A "prod" 1 }}`, `{{- if not (eq .A "prod" 1) -}}x{{- end -}}`, `{{ if not .A }}{{ index .A 0 }}{{ end }}`} {
		if _, err := Parse("w.yaml", []byte("version: 1\nenv:\n  A: {value: canary-plain}\n  B: {value: canary-b}\n  T1: {template: '"+ok+"'}\n")); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

// TestValuesRunWouldRefuse: a value ward run could never pass to the
// program (a NUL byte, more than an environment variable holds) is an
// error for check too, at its position. (check said ok, run said 125.)
func TestValuesRunWouldRefuse(t *testing.T) {
	for _, tt := range []struct{ name, yaml, msg string }{
		{"nul", `"a\0b"`, "the value holds a NUL byte"},
		{"too large", strings.Repeat("x", 32*os.Getpagesize()), "the value is " + strconv.Itoa(32*os.Getpagesize()) + " bytes, more than an environment variable may hold"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("w.yaml", []byte("version: 1\nenv:\n  N: {value: "+tt.yaml+"}\n"))
			var ve ValidationErrors
			if !errors.As(err, &ve) || len(ve) != 1 || !strings.Contains(ve[0].Error(), "w.yaml:3:14: env.N.value: "+tt.msg) {
				t.Errorf("got %v, want one error at env.N.value saying %q", err, tt.msg)
			}
		})
	}
}

// TestTemplateSyntaxErrors checks that a template that does not parse is
// reported with text/template's whole message, and the line in the
// template: a message holding ": " lost its first part ("bad number
// syntax"), and in a block of many lines the place was the block's start.
func TestTemplateSyntaxErrors(t *testing.T) {
	tests := []struct {
		name, template, want string
	}{
		{"number", `'{{ 1x }}'`, `w.yaml:4:17: env.T.template: invalid template: bad number syntax: "1x" (at line 1 in the template)`},
		{"character", `"{{ 'ab' }}"`, `w.yaml:4:17: env.T.template: invalid template: malformed character constant: 'ab' (at line 1 in the template)`},
		{"third line", "|\n      [db]\n      user = {{ .A }}\n      host = {{ .A | nosuch }}\n", `w.yaml:4:17: env.T.template: invalid template: function "nosuch" not defined (at line 3 in the template)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			text := "version: 1\nenv:\n  A: {value: a}\n  T: {template: " + tt.template + "}\n"
			if strings.HasPrefix(tt.template, "|") {
				text = "version: 1\nenv:\n  A: {value: a}\n  T:\n    template: " + tt.template
				tt.want = strings.Replace(tt.want, "4:17", "5:15", 1)
			}
			_, err := Parse("w.yaml", []byte(text))
			e := oneError(t, err)
			if got := e.Error(); got != tt.want {
				t.Errorf("got  %q,\nwant %q", got, tt.want)
			}
		})
	}
}
