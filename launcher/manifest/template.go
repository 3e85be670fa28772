package manifest

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode/utf8"

	"github.com/wardsecrets/ward/launcher/mask"
	"github.com/wardsecrets/ward/resolve/conf"
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
	// branches is set when the template chooses what it runs by the
	// values (see templateDeps).
	branches bool
	// file, field and pos place the template in the manifest, for the
	// errors of Render.
	file, field string
	pos         Pos
}

// funcs are ward's functions and text/template's escapers, each bounded
// to a result of MaxRendered: json and js double a backslash at each step,
// and {{ .B | json | json ... }} grew a value exponentially in memory
// before limitedBuffer saw the rendered text (ward run died with "fatal
// error: out of memory"). Bounded, one step holds at most a few times
// MaxRendered or the value it reads.
var funcs = template.FuncMap{
	"urlquery": func(s string) (string, error) { return bounded(urlqueryFunc(s), nil) },
	"json":     func(s string) (string, error) { return bounded(jsonFunc(s)) },
	"shell":    func(s string) (string, error) { return bounded(shellFunc(s), nil) },
	"base64":   func(s string) (string, error) { return bounded(base64Func(s), nil) },
	"html":     func(args ...any) (string, error) { return bounded(template.HTMLEscaper(args...), nil) },
	"js":       func(args ...any) (string, error) { return bounded(template.JSEscaper(args...), nil) },
}

// bounded fails a function's result over MaxRendered.
func bounded(s string, err error) (string, error) {
	if err == nil && len(s) > MaxRendered {
		return "", errTooLarge
	}
	return s, err
}

// parseTemplate parses text; the error is text/template's, without its
// name prefix.
func parseTemplate(name, text string) (*Template, error) {
	t, err := template.New(name).Funcs(funcs).Option("missingkey=error").Parse(text)
	if err != nil {
		// text/template writes "template: NAME:LINE: MESSAGE"; the
		// message may hold ": " itself (bad number syntax: "1x").
		msg := strings.TrimPrefix(err.Error(), "template: "+name+":")
		if m := parsePlaceRE.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("%s (at line %s in the template)", m[2], m[1])
		}
		return nil, errors.New(msg)
	}
	deps, uses, bad, badHint, branches := templateDeps(t)
	return &Template{Text: text, Deps: deps, Uses: uses, tmpl: t, bad: bad, badHint: badHint, branches: branches}, nil
}

// maxPrintfWidth bounds a printf width or precision in a template.
const maxPrintfWidth = 1000

// printfFormat checks a printf's arguments: a format written in the
// template (not read from a value), without argument indexes (%[1]s
// repeats an argument as often as it is written: a template could build
// gigabytes before the size check saw the result, and the copy count,
// which counts {{ .NAME }}, did not see them), * widths, or a width or
// precision over maxPrintfWidth. It returns what is wrong, "" when
// nothing is.
func printfFormat(args []parse.Node) (bad, hint string) {
	const advice = "write printf's format in the template, with plain verbs (%s, %d, %05d...) and widths up to 1000"
	if len(args) == 0 {
		return "", ""
	}
	f, ok := args[0].(*parse.StringNode)
	if !ok {
		return "a printf format that is not written in the template", advice
	}
	for i := 0; i < len(f.Text); i++ {
		if f.Text[i] != '%' {
			continue
		}
		// Flags, then width and precision, up to the verb.
		j := i + 1
		for j < len(f.Text) && strings.IndexByte("+-# 0", f.Text[j]) >= 0 {
			j++
		}
		for j < len(f.Text) && strings.IndexByte("0123456789.*[", f.Text[j]) >= 0 {
			switch f.Text[j] {
			case '[':
				return "printf argument indexes (%[n])", advice
			case '*':
				return "printf widths from an argument (%*)", advice
			}
			j++
		}
		for _, num := range strings.FieldsFunc(f.Text[i+1:j], func(r rune) bool { return r < '0' || r > '9' }) {
			if n, err := strconv.Atoi(num); err != nil || n > maxPrintfWidth {
				return "a printf width or precision over 1000", advice
			}
		}
		i = j
	}
	return "", ""
}

// funcArgs checks a call of one of ward's functions, each of which takes
// one string: text/template checks the count and the types only when it
// runs, so `ward check` passed {{ urlquery .A .B }} (text/template's own
// urlquery joins its arguments) and the start failed with "execution
// failed". prev is the command whose result is piped in, nil when none
// is. It returns what is wrong, "" when nothing is.
func funcArgs(c, prev *parse.CommandNode) (bad, hint string) {
	piped := prev != nil
	id, ok := c.Args[0].(*parse.IdentifierNode)
	if !ok {
		return "", ""
	}
	switch id.Ident {
	case "urlquery", "json", "shell", "base64":
	default:
		return "", ""
	}
	const advice = "urlquery, json, shell and base64 take one string each: {{ .NAME | json }}, or printf's result: {{ printf \"%s:%s\" .USER .PASS | base64 }}"
	args := c.Args[1:]
	if n := len(args); piped && n != 0 || !piped && n != 1 {
		if piped {
			n++
		}
		return fmt.Sprintf("%s with %d arguments", id.Ident, n), advice
	}
	for _, a := range args {
		switch a := a.(type) {
		case *parse.NumberNode, *parse.BoolNode, *parse.NilNode:
			return fmt.Sprintf("%s of %s, not a string", id.Ident, a), advice
		case *parse.PipeNode:
			// {{ json (len .A) }}
			if f := nonString(a.Cmds[len(a.Cmds)-1]); f != "" {
				return fmt.Sprintf("%s of %s's result, not a string", id.Ident, f), advice
			}
		}
	}
	if piped {
		if f := nonString(prev); f != "" {
			return fmt.Sprintf("%s of %s's result, not a string", id.Ident, f), advice
		}
	}
	return "", ""
}

// nonString names the built-in c calls when its result is never a string:
// len's is a number, index's a byte of a string, the comparisons' and
// not's a boolean ({{ index .A 0 | json }} passed check and failed the
// start). It returns "" for any other command.
func nonString(c *parse.CommandNode) string {
	if f, ok := c.Args[0].(*parse.IdentifierNode); ok {
		switch f.Ident {
		case "len", "index", "eq", "ne", "lt", "le", "gt", "ge", "not":
			return f.Ident
		}
	}
	return ""
}

// templateDeps returns the variables a template reads ({{ .NAME }}), or a
// description of a construct ward does not allow in templates and, when
// there is a better one than the usual, a hint; branches is set when it
// chooses what it runs by the values (an if, an and or or with
// arguments, which stop at their first false or true one).
func templateDeps(t *template.Template) (deps []string, uses map[string]int, bad, badHint string, branches bool) {
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
			for i, c := range n.Cmds {
				var prev *parse.CommandNode
				if i > 0 {
					prev = n.Cmds[i-1]
				}
				if b, h := funcArgs(c, prev); b != "" {
					bad, badHint = b, h
					return
				}
				walk(c)
			}
		case *parse.CommandNode:
			if choosesBy(n) {
				branches = true
			}
			if id, ok := n.Args[0].(*parse.IdentifierNode); ok && id.Ident == "printf" {
				if bad, badHint = printfFormat(n.Args[1:]); bad != "" {
					return
				}
			}
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
			branches = true
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
	return deps, uses, bad, badHint, branches
}

// Render executes the template over vars. Its error is a
// *ValidationError at the template's place in the manifest, with a hint;
// it never includes the rendered text or any value.
func (t *Template) Render(vars map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	if err := t.tmpl.Execute(&limitedBuffer{b: &buf, max: MaxRendered}, vars); err != nil {
		msg, hint := fmt.Sprintf("the result is over %d bytes", MaxRendered), "deliver a value this large from a reference, not through a template"
		if !errors.Is(err, errTooLarge) {
			msg, hint = t.scrub(err)
		}
		return nil, &ValidationError{File: t.file, Line: t.pos.Line, Col: t.pos.Col, Field: t.field, Msg: "render template: " + msg, Advice: hint}
	}
	return buf.Bytes(), nil
}

// execFailures are the kinds of text/template execution errors a template
// ward accepts can still meet, for the values it reads: a substring of the
// error, and what ward says instead. The error itself is never shown:
// text/template may quote the data.
var execFailures = []struct{ in, msg, hint string }{
	{"index out of range: -", "a negative position", "index and slice count a value's bytes from 0: {{ index .NAME 0 }}, {{ slice .NAME 0 4 }}"},
	{"index out of range", "index out of range", indexHint},
	{"invalid slice index", "slice positions out of order", indexHint},
	{errNotUTF8.Error(), "json: " + errNotUTF8.Error(), "JSON holds text: give a binary value through base64 ({{ .NAME | base64 }}), or store the value as UTF-8"},
	{"incompatible types for comparison", "incompatible types for comparison", "eq, ne, lt, le, gt and ge see each value as a string: compare it with a quoted string"},
	{"missing argument for comparison", "eq with one argument", argsHint},
	{"wrong number of args for", "a function with the wrong number of arguments", argsHint},
	{"cannot index slice/array with type", "a position that is not a number", "index and slice take positions written as numbers: every value is a string ({{ slice .NAME 0 4 }})"},
	{"non-function", "call of a value", "call runs a function, and every value is a string: templates have urlquery, json, shell, base64, html, js and text/template's own functions"},
}

// failsForAny renders the template with the same placeholder for every
// variable it reads, and returns what failed when it fails in a way no
// value can avoid: every value is a string, so {{ eq .A 1 }} and
// {{ index .A .B }} fail whatever A and B hold, as {{ and }} and
// {{ call .A }} do. ward check passed them, and the start failed with
// 125. A failure a value decides (a position past its end, a slice's
// positions from len, a result over MaxRendered) is left to the start,
// and so is every template that chooses what it runs by the values (if,
// and, or): the placeholder may take a way the real values never take.
//
// Of a template that chooses, what runs whatever the values choose is
// rendered: the actions outside every if and each outermost if's
// condition, but those that stop at an argument the values decide (see
// choosesBy). {{ if eq .A 1 }} fails for every A.
func (t *Template) failsForAny() (msg, hint string, fails bool) {
	tmpl := t.tmpl
	var spine []*parse.PipeNode
	if t.branches {
		var text strings.Builder
		for _, n := range t.tmpl.Tree.Root.Nodes {
			var pipe *parse.PipeNode
			switch n := n.(type) {
			case *parse.ActionNode:
				pipe = n.Pipe
			case *parse.IfNode:
				pipe = n.Pipe
			}
			if pipe == nil || stopsEarly(pipe) {
				continue
			}
			spine = append(spine, pipe)
			text.WriteString("{{" + pipe.String() + "}}\n")
		}
		var err error
		if len(spine) == 0 {
			return "", "", false
		}
		if tmpl, err = template.New(t.tmpl.Name()).Funcs(funcs).Option("missingkey=error").Parse(text.String()); err != nil {
			return "", "", false
		}
	}
	vars := make(map[string]string, len(t.Deps))
	for _, d := range t.Deps {
		vars[d] = placeholderValue
	}
	err := tmpl.Execute(&limitedBuffer{b: &bytes.Buffer{}, max: MaxRendered}, vars)
	if err == nil || errors.Is(err, errTooLarge) || strings.Contains(err.Error(), "invalid slice index") ||
		strings.Contains(err.Error(), "index out of range") && !strings.Contains(err.Error(), "index out of range: -") {
		// {{ slice .A 3 2 }} fails for every A: out of range when it is
		// short, positions out of order when it is not.
		node := outOfOrderSlice(tmpl.Tree.Root)
		if node == nil {
			return "", "", false
		}
		loc, _ := tmpl.Tree.ErrorContext(node)
		err = errors.New("template: " + loc + ": executing slice: error calling slice: invalid slice index")
	}
	if spine != nil {
		// The spine's place is its line, one per action: named at that
		// action's place in the template.
		if m := execPlaceRE.FindStringSubmatch(strings.TrimPrefix(err.Error(), "template: "+t.tmpl.Name()+":")); m != nil {
			if line, _ := strconv.Atoi(m[1]); line >= 1 && line <= len(spine) {
				loc, _ := t.tmpl.Tree.ErrorContext(spine[line-1])
				rest := strings.SplitN(err.Error(), ": executing ", 2)
				if len(rest) == 2 {
					err = errors.New("template: " + loc + ": executing " + rest[1])
				}
			}
		}
	}
	msg, hint = t.scrub(err)
	return msg, hint, true
}

// outOfOrderSlice returns a slice command under n whose two positions are
// numbers written out, the first past the second, nil if there is none.
func outOfOrderSlice(n parse.Node) parse.Node {
	switch n := n.(type) {
	case *parse.ListNode:
		for _, c := range n.Nodes {
			if s := outOfOrderSlice(c); s != nil {
				return s
			}
		}
	case *parse.ActionNode:
		return outOfOrderSlice(n.Pipe)
	case *parse.PipeNode:
		for _, c := range n.Cmds {
			if s := outOfOrderSlice(c); s != nil {
				return s
			}
		}
	case *parse.CommandNode:
		if id, ok := n.Args[0].(*parse.IdentifierNode); ok && id.Ident == "slice" && len(n.Args) == 4 {
			i, iok := n.Args[2].(*parse.NumberNode)
			j, jok := n.Args[3].(*parse.NumberNode)
			if iok && jok && i.IsInt && j.IsInt && i.Int64 > j.Int64 {
				return n
			}
		}
		for _, a := range n.Args {
			if s := outOfOrderSlice(a); s != nil {
				return s
			}
		}
	}
	return nil
}

// choosesBy reports whether c evaluates its arguments only up to one the
// values decide: an and or or with arguments stops at its first false or
// true one, an eq of three or more at the first that equals the first
// ({{ if eq .A "prod" 1 }} works where A is prod, and was refused).
func choosesBy(c *parse.CommandNode) bool {
	id, ok := c.Args[0].(*parse.IdentifierNode)
	return ok && ((id.Ident == "and" || id.Ident == "or") && len(c.Args) > 1 || id.Ident == "eq" && len(c.Args) > 3)
}

// stopsEarly reports whether pipe holds a command that chooses by the
// values (see choosesBy), in it or in a pipeline among its arguments.
func stopsEarly(pipe *parse.PipeNode) bool {
	for _, c := range pipe.Cmds {
		if choosesBy(c) {
			return true
		}
		for _, a := range c.Args {
			if p, ok := a.(*parse.PipeNode); ok && stopsEarly(p) {
				return true
			}
		}
	}
	return false
}

// placeholderValue stands for every value in failsForAny: printable,
// and longer than most positions a template reads.
var placeholderValue = strings.Repeat("x", 64)

const argsHint = "and and or take one argument or more, eq two or more, not and len one, ne, lt, le, gt and ge two: {{ if and .A .B }}, {{ if eq .A \"x\" }}"

const indexHint = "index and slice read a value's bytes by position: check the value's shape (its length and format) in its store, or the positions in the template"

// scrub names what went wrong in a failed execution, and where in the
// template, without the error's text.
func (t *Template) scrub(err error) (msg, hint string) {
	text := err.Error()
	msg, hint = "execution failed", "check the functions the template calls against the shape of the values it reads"
	for _, f := range execFailures {
		if strings.Contains(text, f.in) {
			msg, hint = f.msg, f.hint
			break
		}
	}
	if m := execArgsRE.FindStringSubmatch(text); m != nil {
		// The function's name comes from the template, never the data.
		msg = m[1] + " with the wrong number of arguments"
	}
	if m := execCallRE.FindStringSubmatch(text); m != nil && msg == "execution failed" {
		// The function's name comes from the template, never the data.
		msg = m[1] + " failed"
		hint = "check the arguments the template gives " + m[1] + " against the shape of the values it reads"
	}
	// text/template places the action as NAME:LINE:COL, in the template.
	if rest, ok := strings.CutPrefix(text, "template: "+t.tmpl.Name()+":"); ok {
		if m := execPlaceRE.FindStringSubmatch(rest); m != nil {
			line, _ := strconv.Atoi(m[1])
			col, _ := strconv.Atoi(m[2])
			msg += fmt.Sprintf(" (at %d:%d in the template)", line, t.column(line, col))
		}
	}
	return msg, hint
}

// column is the column, counted from 1 in characters as the manifest's
// own are, of text/template's col on line of the template, which counts
// bytes from 0: an error named the space before the action, and a
// column further on by a byte more for each byte past the first of
// every character before it (`日本語 ` put it six further on).
func (t *Template) column(line, col int) int {
	lines := strings.Split(t.Text, "\n")
	if line < 1 || line > len(lines) || col < 0 || col > len(lines[line-1]) {
		return col + 1
	}
	return utf8.RuneCountInString(lines[line-1][:col]) + 1
}

var (
	execCallRE  = conf.Lazy(`: error calling ([A-Za-z0-9_]+): `)
	execArgsRE  = conf.Lazy(`wrong number of args for ([A-Za-z0-9_]+):`)
	execPlaceRE = conf.Lazy(`^(\d+):(\d+): executing `)
	// parsePlaceRE reads a parse error after its "template: NAME:".
	parsePlaceRE = conf.Lazy(`(?s)^(\d+): (.*)$`)
)

// urlqueryFunc escapes s for any part of a URL: a query value, a path
// segment or the user and password before the @. url.QueryEscape writes a
// space as "+", which only a query string decodes: libpq, urllib and the
// WHATWG URL read a "+" in the userinfo as a plus, so a password with a
// space did not log in. Every "+" QueryEscape writes is a space (a plus
// becomes %2B), and %20 reads as a space everywhere.
func urlqueryFunc(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// errNotUTF8 is json's error for a value that is not UTF-8: a JSON
// string holds text, and json.Marshal would put U+FFFD for each bad byte,
// giving the child a value other than the store's without a word.
var errNotUTF8 = errors.New("the value is not valid UTF-8")

func jsonFunc(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", errNotUTF8
	}
	// A quoted JSON string that YAML and TOML configs read back too, as
	// --mask masks it: one code for both.
	return string(mask.TemplateJSON([]byte(s))), nil
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
