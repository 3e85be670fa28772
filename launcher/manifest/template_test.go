package manifest

import (
	"errors"
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
			var ve ValidationErrors
			if !errors.As(err, &ve) || len(ve) != 1 {
				t.Fatalf("got %v, want one validation error", err)
			}
			want := "w.yaml:5:18: env.T1.template: " + tt.msg
			if got := ve[0].Error(); got != want {
				t.Errorf("got %q, want %q", got, want)
			}
			if !strings.Contains(ve[0].Hint(), tt.hint) {
				t.Errorf("got hint %q, want one with %q", ve[0].Hint(), tt.hint)
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
