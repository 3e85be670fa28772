package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// inexpressible lists the manifests under testdata/bad that the schema
// cannot refuse, each with the reason. Every other bad manifest must fail
// the schema too, and every entry here must still be one the parser
// refuses and the schema accepts (or cannot read), so the list shrinks
// when the schema learns more.
var inexpressible = map[string]string{
	// YAML, not the data: the validator sees JSON, which has no such thing.
	"duplicate-env":       "duplicate keys: YAML refuses the document before it becomes JSON, and JSON Schema never sees both keys",
	"yaml-syntax":         "not YAML: there is no JSON document to validate",
	"multi-document":      "a second YAML document: a validator, like an editor's YAML language server, checks each document on its own",
	"yaml-alias":          "an alias: the validator sees the value it stands for, copied in",
	"yaml-merge-key":      "a merge key (<<): the validator sees the merged mapping",
	"yaml-tag":            "a tag (!vault, !!binary): the validator sees the value without it, or decoded",
	"yaml-alias-bomb":     "an alias bomb: yaml.v3 refuses it before there is JSON to validate",
	"yaml-line-separator": "a raw U+0085 or U+2028: the validator sees what its YAML reader made of it, a space or the character",

	// Relations between values in different places.
	"template-cycle":                     "templates reading each other in a cycle: a property of several values' template text",
	"template-undeclared":                "a template reads a variable the env mapping lacks: JSON Schema cannot compare a string's content with another object's keys",
	"profile-template-undeclared":        "the same, across a profile and the base env",
	"template-bomb":                      "how many copies of values templates expand to, through the templates they read",
	"file-env-clash":                     "a file's env names a variable declared under env: a value compared with another object's keys",
	"file-dup-path":                      "two files with one path: uniqueItems compares whole items, not one property",
	"file-and-dir":                       "one file's path a directory of another's: a relation between two items",
	"identity-profile-declared-endpoint": "a base variable ward sets for an identity only a profile serves: a relation between the base env and a profile's identity",
	"rotation-signal-is-stop-signal":     "rotation.signal naming the stop signal (or its default, SIGTERM) under on_change: signal: two properties naming one signal, each in any of its forms (TERM, SIGTERM, 15), one perhaps by its default",
	"rotation-stop-signal-is-signal":     "the same, stop_signal naming rotation.signal's default, SIGHUP",

	// A product of two objects' sizes.
	"profiles-too-many": "(profiles + 1) × (variables + files) over a bound: maxProperties bounds one object, not a product of two",

	// Arithmetic over a string's parts.
	"rotation-poll-sum-too-short": "a poll of several parts adding up to less than 1s (500ms400ms): the schema refuses a single part under 1s, but a pattern cannot add",

	// Text the schema would need Go's parsers for.
	"template-syntax":    "text/template syntax: a pattern cannot parse nested actions and pipelines",
	"template-range":     "template constructs (range, with, variables): telling an action from text, and from a string inside an action, needs the template parser",
	"template-dollar":    "the same: $ inside an action, not in text or in a string",
	"template-func-args": "the same: the arguments of a function call inside an action",
}

// TestSchemaValidatesManifests runs a real JSON Schema validator over
// every manifest in the repository: the good ones (examples, the README's,
// the starter, those the scripts use) must pass the schema, and the bad
// ones under testdata/bad must fail it, except those listed in
// inexpressible. YAML becomes JSON through yaml.v3, as the parser reads it.
func TestSchemaValidatesManifests(t *testing.T) {
	sch := compileSchema(t)
	scriptGood, scriptBad := scriptManifests(t)
	good := append(goodManifests(t), scriptGood...)
	for _, m := range good {
		t.Run("good/"+m.name, func(t *testing.T) {
			if _, err := Parse(m.name, m.text); err != nil {
				t.Fatalf("the parser refuses a manifest the repository shows as valid: %v", err)
			}
			doc, err := yamlToJSON(m.text)
			if err != nil {
				t.Fatal(err)
			}
			if err := sch.Validate(doc); err != nil {
				t.Errorf("the parser accepts it, the schema refuses it:\n%v", err)
			}
		})
	}

	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "bad", "*.yaml"))
	rejected, excused := 0, 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run("bad/"+name, func(t *testing.T) {
			text, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Parse(f, text); err == nil {
				t.Fatal("the parser accepts a manifest under testdata/bad")
			}
			doc, convErr := yamlToJSON(text)
			var valErr error
			if convErr == nil {
				valErr = sch.Validate(doc)
			}
			refused := convErr != nil || valErr != nil
			reason, listed := inexpressible[name]
			switch {
			case listed && refused && convErr == nil:
				t.Errorf("listed as inexpressible (%s), but the schema refuses it: remove it from the list:\n%v", reason, valErr)
			case listed:
				excused++
			case convErr != nil:
				t.Errorf("YAML to JSON: %v; if no schema could see this, list it in inexpressible", convErr)
			case valErr == nil:
				t.Errorf("the parser refuses it, the schema accepts it")
			default:
				rejected++
			}
		})
	}
	// The scripts' manifests meant to fail are all ones a schema sees.
	for _, m := range scriptBad {
		t.Run("bad/"+m.name, func(t *testing.T) {
			doc, err := yamlToJSON(m.text)
			if err != nil {
				t.Fatal(err)
			}
			if sch.Validate(doc) == nil {
				t.Errorf("the parser refuses it, the schema accepts it")
			}
			rejected++
		})
	}
	for name := range inexpressible {
		if _, err := os.Stat(filepath.Join("..", "..", "testdata", "bad", name+".yaml")); err != nil {
			t.Errorf("inexpressible lists %s, which is not under testdata/bad", name)
		}
	}
	t.Logf("schema: %d good manifests valid; %d bad manifests refused (%d from testdata/bad, %d from testdata/script), %d excused as inexpressible",
		len(good), rejected, rejected-len(scriptBad), len(scriptBad), excused)
}

// compileSchema compiles Schema() (the checked-in file is its rendering,
// TestSchemaFile says) with a real validator.
func compileSchema(t testing.TB) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(SchemaJSON()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaURL, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(SchemaURL)
	if err != nil {
		t.Fatalf("compile the schema: %v", err)
	}
	return sch
}

// yamlToJSON reads a manifest as yaml.v3 does into plain values, then
// writes and reads it back as JSON: what an editor's validator sees.
// Mapping keys that are not strings become their text.
func yamlToJSON(text []byte) (any, error) {
	var v any
	if err := yaml.Unmarshal(text, &v); err != nil {
		return nil, err
	}
	b, err := json.Marshal(jsonKeys(v))
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

func jsonKeys(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonKeys(e)
		}
		return v
	case map[any]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[fmt.Sprint(k)] = jsonKeys(e)
		}
		return out
	case []any:
		for i, e := range v {
			v[i] = jsonKeys(e)
		}
	}
	return v
}

type namedManifest struct {
	name string
	text []byte
}

// goodManifests gathers the manifests the repository shows as valid:
// examples/**/ward.yaml, the README's annotated manifest, the starter
// with its examples live and commented, and the parser tests' full
// manifest.
func goodManifests(t *testing.T) []namedManifest {
	t.Helper()
	root := filepath.Join("..", "..")
	var out []namedManifest
	err := filepath.WalkDir(filepath.Join(root, "examples"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "ward.yaml" {
			return err
		}
		text, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		out = append(out, namedManifest{rel, text})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) < 4 {
		t.Fatalf("got %d examples/**/ward.yaml, want at least 4", len(out))
	}
	out = append(out,
		namedManifest{"README.md#the-manifest", []byte(readmeManifest(t))},
		namedManifest{"starter-live", []byte(Starter("myapp", true))},
		namedManifest{"starter", []byte(Starter("myapp", false))},
		namedManifest{"full", []byte(fullManifest)},
	)
	return out
}

// scriptManifests returns the YAML files of testdata/script/*.txtar,
// split by the parser's verdict: the scripts hold manifests meant to work
// and manifests meant to fail. $WORK, which the scripts expand, becomes a
// directory.
func scriptManifests(t *testing.T) (good, bad []namedManifest) {
	t.Helper()
	scripts, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "script", "*.txtar"))
	for _, s := range scripts {
		ar, err := txtar.ParseFile(s)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range ar.Files {
			if !strings.HasSuffix(f.Name, ".yaml") {
				continue
			}
			m := namedManifest{filepath.Base(s) + "/" + f.Name, bytes.ReplaceAll(f.Data, []byte("$WORK"), []byte("/work"))}
			if _, err := Parse(m.name, m.text); err != nil {
				bad = append(bad, m)
			} else {
				good = append(good, m)
			}
		}
	}
	if len(good) < 20 || len(bad) < 2 {
		t.Fatalf("got %d good and %d bad manifests in testdata/script, want at least 20 and 2", len(good), len(bad))
	}
	return good, bad
}

// readmeManifest is the yaml block under "## The manifest" in README.md.
func readmeManifest(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "\n## The manifest\n")
	_, block, _ := strings.Cut(section, "```yaml\n")
	block, _, _ = strings.Cut(block, "```")
	if !strings.Contains(block, "version: 1") {
		t.Fatal("README.md: no yaml block under \"## The manifest\"")
	}
	return block
}
