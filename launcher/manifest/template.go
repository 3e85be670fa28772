package manifest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"text/template"
	"text/template/parse"
)

// Template is a parsed text/template and the variables it reads.
type Template struct {
	Text string
	Deps []string
	// Uses counts how often the template reads each variable.
	Uses map[string]int
	tmpl *template.Template
	// bad describes a construct templates may not use, "" when none;
	// badHint says what to write instead, "" for the usual advice.
	bad, badHint string
}

var funcs = template.FuncMap{
	"urlquery": urlqueryFunc,
	"json":     jsonFunc,
	"shell":    shellFunc,
	"base64":   base64Func,
}

// parseTemplate parses text; the error is text/template's, without its
// name prefix.
func parseTemplate(name, text string) (*Template, error) {
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return nil, errors.New(msg)
	}
	deps, uses, bad, badHint := templateDeps(t)
	return &Template{Text: text, Deps: deps, Uses: uses, tmpl: t, bad: bad, badHint: badHint}, nil
}

// templateDeps returns the variables a template reads ({{ .NAME }}), or a
// description of a construct ward does not allow in templates and, when
// there is a better one than the usual, a hint.
func templateDeps(t *template.Template) (deps []string, uses map[string]int, bad, badHint string) {
	seen := map[string]bool{}
	uses = map[string]int{}
	var walk func(n parse.Node)
	walk = func(n parse.Node) {
		if n == nil || bad != "" {
			return
		}
		switch n := n.(type) {
		case *parse.ListNode:
			if n == nil {
				return
			}
			for _, c := range n.Nodes {
				walk(c)
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n == nil {
				return
			}
			if len(n.Decl) > 0 {
				bad = "variable declarations"
				return
			}
			for _, c := range n.Cmds {
				walk(c)
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.FieldNode:
			if len(n.Ident) != 1 {
				bad = "nested fields (." + strings.Join(n.Ident, ".") + ")"
				return
			}
			uses[n.Ident[0]]++
			if !seen[n.Ident[0]] {
				seen[n.Ident[0]] = true
				deps = append(deps, n.Ident[0])
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			bad = "range"
		case *parse.WithNode:
			bad = "with"
		case *parse.TemplateNode:
			bad = "template calls"
		case *parse.DotNode:
			bad = "the bare dot"
		case *parse.VariableNode:
			// $ is the whole data, as the bare dot is: {{ index $ "B" }}
			// reads B unseen by the dependency and declaration checks, and
			// {{ $ }} prints every value. $.B is refused too rather than
			// read as .B: the README allows {{ .NAME }} only.
			switch {
			case len(n.Ident) == 0 || n.Ident[0] != "$":
				bad = "variables"
			case len(n.Ident) == 1:
				bad = "$"
				badHint = "$ is every variable at once: read each declared variable as {{ .NAME }}"
			default:
				bad = strings.Join(n.Ident, ".")
				if len(n.Ident) == 2 {
					badHint = "write {{ ." + n.Ident[1] + " }}: templates read declared variables as {{ .NAME }}, never through $"
				}
			}
		case *parse.ChainNode:
			bad = "chained fields"
		}
	}
	walk(t.Tree.Root)
	return deps, uses, bad, badHint
}

// Render executes the template over vars. The error never includes the
// rendered text or any value.
func (t *Template) Render(vars map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	if err := t.tmpl.Execute(&limitedBuffer{b: &buf, max: MaxRendered}, vars); err != nil {
		if errors.Is(err, errTooLarge) {
			return nil, fmt.Errorf("render template: the result is over %d bytes", MaxRendered)
		}
		// text/template errors can quote the data; keep only the kind.
		return nil, fmt.Errorf("render template: %s", scrubTemplateError(err))
	}
	return buf.Bytes(), nil
}

func scrubTemplateError(err error) string {
	if e, ok := err.(template.ExecError); ok {
		return "execution failed in " + e.Name
	}
	return "execution failed"
}

func urlqueryFunc(s string) string { return url.QueryEscape(s) }

func jsonFunc(s string) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// shellFunc quotes s for a POSIX shell: single quotes, with each ' written
// as '\”.
func shellFunc(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func base64Func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// MaxRendered bounds what one template may render: a value for an
// environment variable or a file, not a way to fill memory.
const MaxRendered = 1 << 20

// MaxExpansion bounds how many copies of values one template may hold,
// counting through the templates it reads: {{ .A }}{{ .A }} over a
// template that does the same, forty deep, would be 2^40 copies.
const MaxExpansion = 1024

var errTooLarge = errors.New("rendered value too large")

// limitedBuffer fails a write that would take it past max.
type limitedBuffer struct {
	b   *bytes.Buffer
	max int
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	if l.b.Len()+len(p) > l.max {
		return 0, errTooLarge
	}
	return l.b.Write(p)
}
