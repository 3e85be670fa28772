package conf

import (
	"fmt"
	"strings"
)

// Shape describes one node of ward.yaml for the manifest's JSON Schema
// (draft 2020-12): a small declarative mirror of what a Decoder accepts.
// Stores describe their stores.<name> block with it, and the manifest the
// rest; JSON renders it.
type Shape struct {
	// Kind is object, map, array, string, integer, boolean, number,
	// scalar, or "" (alternatives or a reference only).
	Kind     string
	Desc     string
	Fields   []Prop // object: its keys, in the order the docs show them
	Required []string
	Keys     *Shape // map: what its keys must look like
	Elems    *Shape // map values, array items
	Pattern  string
	Enum     []string
	Min, Max *int
	FMin     *float64
	FMax     *float64
	OneOf    []*Shape
	AnyOf    []*Shape
	AllOf    []map[string]any // conditions (if/then) and further patterns
	// Def refers to the schema's $defs[Def]; the shape's other keywords
	// narrow it further.
	Def   string
	Not   *Shape // what the value must not match
	Const any
	// Nullable lets null stand for the shape too: a block whose entries
	// are all commented out.
	Nullable bool
	Examples []any
	// Extra is merged into the rendering as it is, for what Shape has no
	// field for (an enum of numbers, minLength...).
	Extra map[string]any
}

// Prop is one key of an object.
type Prop struct {
	Name  string
	Shape *Shape
}

// JSON renders the shape as a JSON Schema fragment.
func (s *Shape) JSON() map[string]any {
	out := map[string]any{}
	if s.Def != "" {
		out["$ref"] = "#/$defs/" + s.Def
	}
	if s.Desc != "" {
		out["description"] = s.Desc
	}
	var types []string
	switch s.Kind {
	case "":
	case "scalar":
		types = []string{"string", "number", "boolean"}
	case "map":
		types = []string{"object"}
	default:
		types = []string{s.Kind}
	}
	if s.Nullable {
		types = append(types, "null")
	}
	switch len(types) {
	case 0:
	case 1:
		out["type"] = types[0]
	default:
		out["type"] = types
	}
	switch s.Kind {
	case "object":
		props := map[string]any{}
		for _, f := range s.Fields {
			props[f.Name] = f.Shape.JSON()
		}
		out["properties"] = props
		out["additionalProperties"] = false
	case "map":
		if s.Keys != nil {
			out["propertyNames"] = s.Keys.JSON()
		}
		out["additionalProperties"] = s.Elems.JSON()
	case "array":
		out["items"] = s.Elems.JSON()
	}
	if len(s.Required) > 0 {
		out["required"] = s.Required
	}
	if s.Pattern != "" {
		out["pattern"] = s.Pattern
	}
	if len(s.Enum) > 0 {
		out["enum"] = s.Enum
	}
	if s.Min != nil {
		out["minimum"] = *s.Min
	}
	if s.Max != nil {
		out["maximum"] = *s.Max
	}
	if s.FMin != nil {
		out["minimum"] = *s.FMin
	}
	if s.FMax != nil {
		out["maximum"] = *s.FMax
	}
	if s.Const != nil {
		out["const"] = s.Const
	}
	if len(s.OneOf) > 0 {
		out["oneOf"] = shapesJSON(s.OneOf)
	}
	if len(s.AnyOf) > 0 {
		out["anyOf"] = shapesJSON(s.AnyOf)
	}
	if len(s.AllOf) > 0 {
		out["allOf"] = s.AllOf
	}
	if s.Not != nil {
		out["not"] = s.Not.JSON()
	}
	if len(s.Examples) > 0 {
		out["examples"] = s.Examples
	}
	for k, v := range s.Extra {
		out[k] = v
	}
	return out
}

func shapesJSON(ss []*Shape) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s.JSON()
	}
	return out
}

// Str is a string with a description and examples.
func Str(desc string, examples ...any) *Shape {
	return &Shape{Kind: "string", Desc: desc, Examples: examples}
}

// File is a setting SetFile reads: a path, or creds://NAME.
func File(desc string, examples ...any) *Shape {
	return &Shape{Kind: "string", Desc: desc, Examples: examples, AnyOf: []*Shape{
		{Not: &Shape{Pattern: "^creds://"}},
		{Pattern: "^creds://" + strings.TrimPrefix(CredName.String(), "^")},
	}}
}

// Bool is a boolean.
func Bool(desc string) *Shape { return &Shape{Kind: "boolean", Desc: desc} }

// Int is a whole number from lo to hi.
func Int(desc string, lo, hi int, example int) *Shape {
	return &Shape{Kind: "integer", Desc: desc, Min: &lo, Max: &hi, Examples: []any{example}}
}

// Enum is a string from a fixed list.
func Enum(desc string, choices ...string) *Shape {
	return &Shape{Kind: "string", Desc: desc, Enum: choices}
}

// Ref refers to a shape defined once under $defs.
func Ref(def, desc string) *Shape { return &Shape{Def: def, Desc: desc} }

// Object is a mapping with known keys.
func Object(desc string, fields ...Prop) *Shape {
	return &Shape{Kind: "object", Desc: desc, Fields: fields}
}

// WithRequired marks keys of s as required and returns s.
func WithRequired(s *Shape, names ...string) *Shape {
	s.Required = names
	return s
}

// Requires is an alternative that only requires keys.
func Requires(names ...string) *Shape { return &Shape{Required: names} }

// IfThen says: when field is set to value, the object also needs then (a
// JSON Schema fragment).
func IfThen(field, value string, then map[string]any) map[string]any {
	return map[string]any{
		"if":   map[string]any{"properties": map[string]any{field: map[string]any{"const": value}}, "required": []string{field}},
		"then": then,
	}
}

// FilledJSON is the fragment that requires names, each a string that is
// not empty: the decoders treat an empty setting as an unset one.
func FilledJSON(names ...string) map[string]any {
	props := map[string]any{}
	for _, n := range names {
		props[n] = map[string]any{"minLength": 1}
	}
	return map[string]any{"required": names, "properties": props}
}

// AnyFilledJSON is the fragment that requires at least one of names, as
// FilledJSON does.
func AnyFilledJSON(names ...string) map[string]any {
	alts := make([]any, len(names))
	for i, n := range names {
		alts[i] = FilledJSON(n)
	}
	return map[string]any{"anyOf": alts}
}

// Patterns shared by the manifest and the stores, for ECMA-262 regular
// expressions (and Go's, which read them alike). Each accepts everything
// the parser accepts; where the parser checks more than a pattern can see,
// the pattern refuses what it can.
const (
	// DurationPattern is the syntax of time.ParseDuration without a minus
	// sign, such as 30s, 1h30m or 1.5s: numbers, each with its unit.
	DurationPattern = `^\+?(` + durationNumber + durationUnit + `)+$`
	// NonZeroPattern, matched together with DurationPattern, makes the
	// duration positive: a number has a digit other than 0 (units have no
	// digits).
	NonZeroPattern = `[1-9]`
	// ZeroDurationPattern is a duration of zero: 0, 0s, 0.0ms...
	ZeroDurationPattern = `^[-+]?(0|((0+\.?0*|\.0+)` + durationUnit + `)+)$`
	// SubSecondPattern is a duration of a single number and unit that is
	// shorter than a second, such as 500ms, 0.5s or 999999us. Sums of
	// several (500ms400ms) and fractions of minutes or hours it leaves to
	// the parser.
	SubSecondPattern = `^\+?(0*[0-9]{0,9}(\.[0-9]*)?ns|0*[0-9]{0,6}(\.[0-9]*)?(us|µs|μs)|0*[0-9]{0,3}(\.[0-9]*)?ms|0*(\.[0-9]*)?s)$`

	durationNumber = `([0-9]+\.?[0-9]*|\.[0-9]+)`
	// durationUnit lists time.ParseDuration's units; it reads both micro
	// signs, U+00B5 and U+03BC.
	durationUnit = `(ns|us|µs|μs|ms|s|m|h)`
)

// RefOption is one ?NAME=VALUE option of a scheme's references, for
// RefPattern: Value is the pattern of the value written plainly (no
// %-escapes), without anchors.
type RefOption struct {
	Name, Value string
}

// RefPattern is a pattern that every valid reference of a scheme matches:
// SCHEME://PATH, then #FIELD and ?OPTIONS in either order, split the way
// resolve.ParseRef splits them. path is the pattern of the path, without
// anchors; it must not match '#' or '?'. A scheme without options takes
// none; with exclusive, at most one of its options may be given.
//
// A query piece holding a %-escape could spell any name or value, and one
// after the field holding a '#' is part of a value, so such pieces are let
// through: the pattern must never refuse a valid reference, and refuses
// what it can see is wrong.
func RefPattern(scheme, path string, exclusive bool, options ...RefOption) string {
	const field = `[^#?]+`
	fieldFirst := query(`[^&;]*[%#][^&;]*`, exclusive, options)
	optionsFirst := query(`[^&#;]*%[^&#;]*`, exclusive, options)
	return "^" + scheme + "://" + path + `(#` + field + `(\?` + fieldFirst + `)?|\?` + optionsFirst + `(#` + field + `)?)?$`
}

// Unanchored is re's pattern without its ^ and $, as a group: a part to
// build a larger pattern from, so that the parser's regular expressions
// and the schema's patterns are written once.
func Unanchored(re fmt.Stringer) string {
	return "(" + strings.TrimSuffix(strings.TrimPrefix(re.String(), "^"), "$") + ")"
}

// query is the pattern of a reference's query: pieces separated by '&',
// each empty, NAME=VALUE for a known option, or escaped (an unreadable
// piece). A ';' is never valid: url.ParseQuery refuses it.
func query(escaped string, exclusive bool, options []RefOption) string {
	if len(options) == 0 {
		return `&*`
	}
	alts := make([]string, len(options))
	for i, o := range options {
		alts[i] = o.Name + "=" + o.Value
	}
	known := "(" + strings.Join(alts, "|") + ")"
	other := "(" + escaped + ")?"
	if exclusive {
		return "(" + other + "&)*(" + known + "|" + other + ")(&" + other + ")*"
	}
	piece := "(" + known + "|" + escaped + ")?"
	return piece + "(&" + piece + ")*"
}
