package conf

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
	AllOf    []map[string]any // object: conditions between its fields (if/then)
	Def      string           // a reference to the schema's $defs[Def]
	Const    any
	Examples []any
	// Extra is merged into the rendering as it is, for what Shape has no
	// field for (not, minLength...).
	Extra map[string]any
}

// Prop is one key of an object.
type Prop struct {
	Name  string
	Shape *Shape
}

// JSON renders the shape as a JSON Schema fragment.
func (s *Shape) JSON() map[string]any {
	if s.Def != "" {
		out := map[string]any{"$ref": "#/$defs/" + s.Def}
		if s.Desc != "" {
			out["description"] = s.Desc
		}
		return out
	}
	out := map[string]any{}
	if s.Desc != "" {
		out["description"] = s.Desc
	}
	switch s.Kind {
	case "":
	case "scalar":
		out["type"] = []string{"string", "number", "boolean"}
	case "map":
		out["type"] = "object"
	default:
		out["type"] = s.Kind
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

// RequiredJSON is the fragment that requires names.
func RequiredJSON(names ...string) map[string]any { return map[string]any{"required": names} }

// AnyRequiredJSON is the fragment that requires at least one of names.
func AnyRequiredJSON(names ...string) map[string]any {
	alts := make([]any, len(names))
	for i, n := range names {
		alts[i] = RequiredJSON(n)
	}
	return map[string]any{"anyOf": alts}
}

// Patterns shared by the manifest and the stores, for ECMA-262 regular
// expressions.
const (
	// DurationPattern is a Go duration such as 30s or 1h30m.
	DurationPattern = `^([0-9]*\.?[0-9]+(ns|us|µs|ms|s|m|h))+$`
	// HTTPURLPattern is an http:// or https:// address.
	HTTPURLPattern = `^https?://`
)
