package manifest

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/resolve/conf"
)

var updateSchema = flag.Bool("update-schema", false, "rewrite schema/ward.schema.json from Schema()")

var schemaFile = filepath.Join("..", "..", "schema", "ward.schema.json")

// TestSchemaFile checks that the checked-in schema is Schema()'s rendering;
// `go generate ./launcher/manifest` (or -update-schema) rewrites it.
func TestSchemaFile(t *testing.T) {
	want := SchemaJSON()
	if *updateSchema {
		if err := os.WriteFile(schemaFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("read the checked-in schema: %v (run: go generate ./launcher/manifest)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from Schema(): run go generate ./launcher/manifest", schemaFile)
	}
}

// TestSchemaMatchesParser walks the schema and checks that Parse and a
// real validator agree with it: every property at every level is accepted
// in a minimal manifest, with each of its examples and enum values; a
// property the schema lacks is rejected as an unknown field; values
// outside an enum or a range, and wrong types, are rejected; a string
// that breaks a pattern gets the same verdict from both.
func TestSchemaMatchesParser(t *testing.T) {
	var root map[string]any
	if err := json.Unmarshal(SchemaJSON(), &root); err != nil {
		t.Fatal(err)
	}
	w := &schemaWalker{t: t, sch: compileSchema(t), defs: root["$defs"].(map[string]any)}
	w.visit(root, func(v any) any { return v }, "", false)
	if w.accepted < 60 || w.rejected < 20 {
		t.Errorf("got %d accepted and %d rejected manifests, want at least 60 and 20: the walk missed parts of the schema", w.accepted, w.rejected)
	}
}

type schemaWalker struct {
	t                  *testing.T
	sch                *jsonschema.Schema
	defs               map[string]any
	accepted, rejected int
}

const unknownKey = "zz_not_a_field"

func (w *schemaWalker) resolve(n map[string]any) map[string]any {
	for {
		r, ok := n["$ref"].(string)
		if !ok {
			return n
		}
		d, ok := w.defs[strings.TrimPrefix(r, "#/$defs/")].(map[string]any)
		if !ok {
			w.t.Fatalf("dangling $ref %s", r)
		}
		n = d
	}
}

// minimal returns the smallest instance of n the walk uses: an object with
// its required properties, a map or leaf's first example.
func (w *schemaWalker) minimal(n map[string]any) any {
	n = w.resolve(n)
	if _, ok := n["properties"]; ok {
		obj := map[string]any{}
		w.fill(n, obj)
		return obj
	}
	if ex, ok := n["examples"].([]any); ok {
		return deepCopy(ex[0])
	}
	if c, ok := n["const"]; ok {
		return c
	}
	if e, ok := n["enum"].([]any); ok {
		return e[0]
	}
	for _, k := range []string{"oneOf", "anyOf"} {
		if alts, ok := n[k].([]any); ok {
			return w.minimal(alts[0].(map[string]any))
		}
	}
	switch n["type"] {
	case "boolean":
		return true
	case "array":
		return []any{}
	case "object":
		return map[string]any{}
	}
	w.t.Fatalf("the schema gives no example for %v", n)
	return nil
}

// fill adds what obj needs to satisfy n: required properties, the first
// of alternatives that only require properties, and if/then conditions.
func (w *schemaWalker) fill(n map[string]any, obj map[string]any) {
	props, _ := n["properties"].(map[string]any)
	need := func(names any) {
		for _, name := range names.([]any) {
			if _, ok := obj[name.(string)]; !ok {
				obj[name.(string)] = w.minimal(props[name.(string)].(map[string]any))
			}
		}
	}
	if r, ok := n["required"]; ok {
		need(r)
	}
	has := func(names any) bool {
		for _, name := range names.([]any) {
			if _, ok := obj[name.(string)]; !ok {
				return false
			}
		}
		return true
	}
	for _, k := range []string{"oneOf", "anyOf"} {
		alts, _ := n[k].([]any)
		satisfied := false
		for _, a := range alts {
			if r, ok := a.(map[string]any)["required"]; ok && has(r) {
				satisfied = true
			}
		}
		if len(alts) > 0 && !satisfied {
			if r, ok := alts[0].(map[string]any)["required"]; ok {
				need(r)
			}
		}
	}
	allOf, _ := n["allOf"].([]any)
	for _, c := range allOf {
		cond := c.(map[string]any)
		ifProps := cond["if"].(map[string]any)["properties"].(map[string]any)
		match := true
		for name, s := range ifProps {
			if obj[name] != s.(map[string]any)["const"] {
				match = false
			}
		}
		if !match {
			continue
		}
		then := cond["then"].(map[string]any)
		if r, ok := then["required"]; ok {
			need(r)
		}
		if alts, ok := then["anyOf"].([]any); ok {
			need(alts[0].(map[string]any)["required"])
		}
	}
}

// visit checks n's place in the manifest: place turns an instance of n
// into a whole manifest. In one of several alternatives (alt), a refused
// value may be refused by another alternative's rule, so only the refusal
// is checked, not its message.
func (w *schemaWalker) visit(n map[string]any, place func(any) any, path string, alt bool) {
	n = w.resolve(n)
	want := func(msg string) string {
		if alt {
			return ""
		}
		return msg
	}
	if props, ok := n["properties"].(map[string]any); ok {
		with := func(name string, v any) any {
			obj := map[string]any{}
			if v != nil {
				obj[name] = v
			}
			w.fill(n, obj)
			return place(obj)
		}
		for _, name := range sortedKeys(props) {
			p := props[name].(map[string]any)
			w.accept(with(name, w.minimal(p)), path+"."+name)
			w.visit(p, func(v any) any { return with(name, v) }, conf.Join(path, name), false)
		}
		w.reject(with(unknownKey, "x"), path, fmt.Sprintf("unknown field %q", unknownKey))
	} else if vals, ok := n["additionalProperties"].(map[string]any); ok {
		ex := n["examples"].([]any)[0].(map[string]any)
		key := sortedKeys(ex)[0]
		w.visit(vals, func(v any) any { return place(map[string]any{key: v}) }, conf.Join(path, key), false)
		if names, ok := n["propertyNames"].(map[string]any); ok && names["pattern"] != nil {
			w.reject(place(map[string]any{"not-a-name": w.minimal(vals)}), path, "invalid variable name")
		}
	}
	if items, ok := n["items"].(map[string]any); ok {
		w.visit(items, func(v any) any { return place([]any{v}) }, path+"[0]", false)
	}
	for _, k := range []string{"oneOf", "anyOf"} {
		alts, _ := n[k].([]any)
		for _, a := range alts {
			// Alternatives that only require fields were handled by fill.
			if _, typed := a.(map[string]any)["type"]; typed || a.(map[string]any)["$ref"] != nil {
				w.visit(a.(map[string]any), place, path, true)
			}
		}
	}
	// The leaf's own values: examples, choices, constants are accepted;
	// values outside them are not.
	ex, _ := n["examples"].([]any)
	if _, isObject := n["properties"]; !isObject && n["additionalProperties"] == nil {
		for _, v := range ex {
			w.accept(place(v), path)
		}
	}
	if enum, ok := n["enum"].([]any); ok {
		for _, v := range enum {
			w.accept(place(v), path)
		}
		w.reject(place("zz_not_a_choice"), path, "")
	}
	if c, ok := n["const"]; ok {
		w.accept(place(c), path)
		if f, ok := c.(float64); ok {
			w.reject(place(f+1), path, "")
		}
	}
	if _, ok := n["pattern"]; ok && n["type"] == "string" {
		// Most patterns refuse it; a file's path may be anything clean.
		w.probe(place("not valid!"), path)
	}
	switch n["type"] {
	case "integer":
		if lo, ok := n["minimum"].(float64); ok {
			w.accept(place(lo), path)
			w.reject(place(lo-1), path, want("out of range"))
		}
		if hi, ok := n["maximum"].(float64); ok {
			w.accept(place(hi), path)
			w.reject(place(hi+1), path, want("out of range"))
		}
		w.reject(place("many"), path, want("want a whole number"))
	case "boolean":
		w.accept(place(true), path)
		w.accept(place(false), path)
		w.reject(place("maybe"), path, want("want a boolean"))
	}
}

func (w *schemaWalker) accept(doc any, path string) {
	w.t.Helper()
	w.accepted++
	text := marshalYAML(w.t, doc)
	if _, err := Parse("schema-test.yaml", text); err != nil {
		w.t.Errorf("%s: the schema allows it, the parser refuses it:\n%s\n%v", path, text, err)
	}
	if err := w.validate(text); err != nil {
		w.t.Errorf("%s: the walk meant the schema to allow it, the validator refuses it:\n%s\n%v", path, text, err)
	}
}

func (w *schemaWalker) reject(doc any, path, msg string) {
	w.t.Helper()
	w.rejected++
	text := marshalYAML(w.t, doc)
	if w.validate(text) == nil {
		w.t.Errorf("%s: the walk meant the schema to refuse it, the validator allows it:\n%s", path, text)
	}
	_, err := Parse("schema-test.yaml", text)
	if err == nil {
		w.t.Errorf("%s: the schema refuses it, the parser accepts it:\n%s", path, text)
		return
	}
	if !strings.Contains(err.Error(), msg) {
		w.t.Errorf("%s: got error %q, want %q", path, err, msg)
	}
}

// probe checks that the validator and the parser give doc one verdict,
// whichever it is.
func (w *schemaWalker) probe(doc any, path string) {
	w.t.Helper()
	text := marshalYAML(w.t, doc)
	schemaErr := w.validate(text)
	_, parseErr := Parse("schema-test.yaml", text)
	switch {
	case schemaErr == nil && parseErr != nil:
		w.t.Errorf("%s: the schema allows it, the parser refuses it:\n%s\n%v", path, text, parseErr)
	case schemaErr != nil && parseErr == nil:
		w.t.Errorf("%s: the schema refuses it, the parser accepts it:\n%s\n%v", path, text, schemaErr)
	case schemaErr == nil:
		w.accepted++
	default:
		w.rejected++
	}
}

func (w *schemaWalker) validate(text []byte) error {
	doc, err := yamlToJSON(text)
	if err != nil {
		w.t.Fatal(err)
	}
	return w.sch.Validate(doc)
}

func marshalYAML(t *testing.T, doc any) []byte {
	t.Helper()
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func deepCopy(v any) any {
	b, _ := json.Marshal(v)
	var out any
	json.Unmarshal(b, &out)
	return out
}
