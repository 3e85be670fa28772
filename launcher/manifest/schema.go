package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"syscall"
	"unicode"

	"github.com/wardsecrets/ward/launcher/secretdir"
	"github.com/wardsecrets/ward/resolve/conf"
	"github.com/wardsecrets/ward/resolve/stores"
	"github.com/wardsecrets/ward/signals"
)

//go:generate go test -run ^TestSchemaFile$ -update-schema .

// SchemaURL is where the manifest's JSON Schema is published; manifests
// that ward writes point editors at it with a yaml-language-server
// modeline.
const SchemaURL = "https://raw.githubusercontent.com/wardsecrets/ward/main/schema/ward.schema.json"

// SchemaModeline is the first line of every manifest ward writes: it lets
// editors running yaml-language-server validate and complete the file.
const SchemaModeline = "# yaml-language-server: $schema=" + SchemaURL

// Schema returns the JSON Schema (draft 2020-12) of ward.yaml: the
// manifest's own fields, and each store's stores.<name> block as the
// store describes it. schema/ward.schema.json is its checked-in
// rendering, and tests check that the schema and Parse agree.
func Schema() map[string]any {
	s := manifestShape().JSON()
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["$id"] = SchemaURL
	s["title"] = "ward manifest (ward.yaml)"
	defs := map[string]any{}
	for name, d := range schemaDefs() {
		defs[name] = d.JSON()
	}
	s["$defs"] = defs
	return s
}

// SchemaJSON returns Schema as indented JSON with a final newline, as
// schema/ward.schema.json holds it.
func SchemaJSON() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(Schema()); err != nil {
		// The schema is built from constants: failing to encode it is a
		// bug in this file.
		panic("encode the manifest schema: " + err.Error())
	}
	return b.Bytes()
}

// Patterns the parser checks, written for ECMA-262 regular expressions
// (which Go's read alike).
const (
	envNamePattern  = `^[A-Za-z_][A-Za-z0-9_]*$`
	wildcardPattern = `^[A-Za-z0-9_*]+$`
	modePattern     = `^0*[4-7][0-7]{2}$`
	// percentPattern is 0% to 50%; fractionPattern 0 to 0.5, as text.
	percentPattern  = `^(0*[1-4]?[0-9](\.[0-9]*)?|\.[0-9]+|0*50(\.0*)?)%$`
	fractionPattern = `^(0+(\.([0-4][0-9]*|50*)?)?|\.([0-4][0-9]*|50*))$`
	// filePathPattern is a clean relative path: segments that are not
	// empty, . or .., with no NUL or line break in them.
	filePathPattern = `^` + fileSegment + `(/` + fileSegment + `)*$`
	fileSegment     = `([^/.\x00\n\r][^/\x00\n\r]*|\.[^/.\x00\n\r][^/\x00\n\r]*|\.\.[^/\x00\n\r]+)`
	// reservedFilePattern is what secretdir.Reserved refuses besides the
	// two names in reservedFiles: the names Replace writes through.
	reservedFilePattern = `(^|/)\.tmp-[^/]*$`
	// signalNumberPattern is 1 to 64, less SIGKILL (9) and SIGSTOP (19)
	// as Linux numbers them.
	signalNumberPattern = `([1-8]|1[0-8]|[2-5][0-9]|6[0-4])`
)

// reservedFiles are the names secretdir.Reserved keeps for itself: the
// run's lock and the systemd notify socket.
var reservedFiles = []any{".lock", "notify.sock"}

// longFilePathPattern finds a directory name over secretdir.NameMax or a
// file name over secretdir.FileNameMax. JSON Schema counts characters
// where the parser counts bytes, so a name of fewer but wider characters
// passes the schema alone.
var longFilePathPattern = fmt.Sprintf(`[^/]{%d}|[^/]{%d}$`, secretdir.NameMax+1, secretdir.FileNameMax+1)

// catchableSignals are the signal names signals.Parse reads on Linux, with
// or without SIG and in any case, less KILL and STOP, which cannot be
// caught.
var catchableSignals = []string{
	"HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM",
	"STKFLT", "CHLD", "CONT", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
}

// nonTerminatingSignals neither end a program that has no handler for
// them nor (SIGTSTP, SIGTTIN, SIGTTOU) let it handle anything: as
// stop_signal, every stop would wait stop_timeout and end in SIGKILL.
var nonTerminatingSignals = []syscall.Signal{syscall.SIGCHLD, syscall.SIGCONT, syscall.SIGURG, syscall.SIGTSTP, syscall.SIGTTIN, syscall.SIGTTOU}

// nonTerminatingShape matches nonTerminatingSignals by name or number.
func nonTerminatingShape() *conf.Shape {
	var names, numbers []string
	var ints []any
	for _, s := range nonTerminatingSignals {
		names = append(names, caseless(strings.TrimPrefix(signals.Name(s), "SIG")))
		numbers = append(numbers, strconv.Itoa(int(s)))
		ints = append(ints, int(s))
	}
	return &conf.Shape{AnyOf: []*conf.Shape{
		{Kind: "string", Pattern: "^((" + caseless("SIG") + ")?(" + strings.Join(names, "|") + ")|" + strings.Join(numbers, "|") + ")$"},
		{Kind: "integer", Extra: map[string]any{"enum": ints}},
	}}
}

// signalPattern is a catchable signal's name or number, as text.
func signalPattern() string {
	names := make([]string, len(catchableSignals))
	for i, n := range catchableSignals {
		names[i] = caseless(n)
	}
	return "^((" + caseless("SIG") + ")?(" + strings.Join(names, "|") + ")|" + signalNumberPattern + ")$"
}

// caseless is a pattern matching s in any case: ECMA-262 patterns in a
// schema take no flags.
func caseless(s string) string {
	var b strings.Builder
	for _, c := range s {
		if lo, up := unicode.ToLower(c), unicode.ToUpper(c); lo != up {
			b.WriteString("[" + string(up) + string(lo) + "]")
		} else {
			b.WriteRune(c)
		}
	}
	return b.String()
}

var (
	schemaZero = 0.0
	schemaHalf = 0.5
	signalMin  = 1
	signalMax  = 64
)

// maskProp is an env entry's mask: false.
var maskProp = conf.Prop{Name: "mask", Shape: conf.Bool("false: the value is not a secret (a user name read beside its password): --mask shows it, a CI runner is not told to hide it, and ward scan does not look for it. Default true.")}

// schemaDefs are the shapes used in more than one place.
func schemaDefs() map[string]*conf.Shape {
	reg := stores.Registry
	var examples []any
	var schemes []map[string]any
	for _, name := range reg.SchemeNames() {
		sch := reg.Scheme(name)
		examples = append(examples, sch.Example)
		// Each scheme checks its own references: the condition picks the
		// scheme, so a validator names the one rule that failed.
		schemes = append(schemes, map[string]any{
			"if":   map[string]any{"pattern": "^" + name + "://"},
			"then": map[string]any{"description": sch.Summary + ", e.g. " + sch.Example, "pattern": sch.Pattern()},
		})
	}
	return map[string]*conf.Shape{
		"reference": {
			Kind:     "string",
			Desc:     "A secret reference: SCHEME://PATH[#FIELD][?OPTIONS], with SCHEME one of " + strings.Join(reg.SchemeNames(), ", ") + ".",
			Pattern:  "^(" + strings.Join(reg.SchemeNames(), "|") + ")://",
			AllOf:    schemes,
			Examples: examples,
		},
		"env": {
			Kind:     "map",
			Nullable: true,
			Desc:     "Variables given to the program: NAME: reference, or NAME: {value|ref|template: ...}. Empty (null) when every entry is commented out.",
			Keys:     &conf.Shape{Pattern: envNamePattern},
			Elems:    conf.Ref("envEntry", ""),
			Examples: []any{map[string]any{"API_TOKEN": "local://myapp/api_token"}},
		},
		"envEntry": {
			Desc: "A reference string, or a mapping with exactly one of value, ref or template.",
			OneOf: []*conf.Shape{
				conf.Ref("reference", ""),
				conf.WithRequired(conf.Object("A plain value, not a secret.",
					conf.Prop{Name: "value", Shape: &conf.Shape{Kind: "scalar", Desc: "The value, as written.", Examples: []any{"info"}}}), "value"),
				conf.WithRequired(conf.Object("A secret reference, as a mapping.",
					conf.Prop{Name: "ref", Shape: conf.Ref("reference", "")}, maskProp), "ref"),
				conf.WithRequired(conf.Object("A value composed from the manifest's variables with Go text/template ({{ .NAME }}, with urlquery, json, shell, base64); the result counts as a secret.",
					conf.Prop{Name: "template", Shape: conf.Str("The template.", "postgres://app@db:5432/app?sslmode=require")}, maskProp), "template"),
			},
		},
		"files": {
			Kind: "array",
			Desc: "Secret files written under ward's private tmpfs directory.",
			Elems: &conf.Shape{
				Kind: "object",
				Desc: "One secret file: a path and exactly one of ref or template.",
				Fields: []conf.Prop{
					{Name: "path", Shape: &conf.Shape{
						Kind:     "string",
						Desc:     fmt.Sprintf("Relative to ward's private directory; clean (no ., .. or empty segment), and not one of the names ward keeps there (.lock, notify.sock, .tmp-*); directory names up to %d bytes, the file's name up to %d, the whole path up to %d.", secretdir.NameMax, secretdir.FileNameMax, secretdir.PathMax),
						Pattern:  filePathPattern,
						Not:      &conf.Shape{AnyOf: []*conf.Shape{{Extra: map[string]any{"enum": reservedFiles}}, {Pattern: reservedFilePattern}, {Pattern: longFilePathPattern}}},
						Extra:    map[string]any{"maxLength": secretdir.PathMax},
						Examples: []any{"tls/key.pem"},
					}},
					{Name: "ref", Shape: conf.Ref("reference", "The secret written to the file.")},
					{Name: "template", Shape: conf.Str("A Go text/template over the manifest's variables, rendered into the file.", `{"region": "eu-west-1"}`)},
					{Name: "mode", Shape: &conf.Shape{Kind: "string", Desc: `Octal file mode, owner-readable (default "0400"). Quote it: unquoted, YAML reads 0400 as a number (256 or 400, by YAML version).`, Pattern: modePattern, Examples: []any{"0400"}}},
					{Name: "encoding", Shape: conf.Enum("base64: the value is stored as base64 text (a keystore in Vault KV, a Key Vault certificate's PFX), and the file gets the bytes it decodes to. Without it the file holds the value as stored.", EncodingBase64)},
					{Name: "env", Shape: &conf.Shape{Kind: "string", Desc: "A variable that gives the program the file's full path.", Pattern: envNamePattern, Examples: []any{"TLS_KEY_FILE"}}},
				},
				Required: []string{"path"},
				OneOf:    []*conf.Shape{conf.Requires("ref"), conf.Requires("template")},
			},
		},
		"patterns": {
			Kind:  "array",
			Desc:  "Variable names and * wildcards.",
			Elems: &conf.Shape{Kind: "string", Pattern: wildcardPattern, Examples: []any{"APP_*"}},
		},
		"duration": {
			Kind:     "string",
			Desc:     "A positive Go duration such as 30s, 5m or 1h30m.",
			Pattern:  conf.DurationPattern,
			AllOf:    []map[string]any{{"pattern": conf.NonZeroPattern}},
			Examples: []any{"30s"},
		},
		"signal": {
			Desc: "A catchable signal's name (SIGTERM, HUP, usr1) or its Linux number.",
			AnyOf: []*conf.Shape{
				{Kind: "string", Pattern: signalPattern(), Examples: []any{"SIGTERM", "SIGHUP", "SIGUSR1"}},
				{Kind: "integer", Min: &signalMin, Max: &signalMax, Not: &conf.Shape{Extra: map[string]any{"enum": []any{9, 19}}}},
			},
		},
	}
}

// storesShape is the stores block: concurrency, and each store's own
// block as its package describes it.
func storesShape() *conf.Shape {
	props := []conf.Prop{{Name: "concurrency", Shape: conf.Int("Fetches in flight at once (default 16).", 1, 256, 16)}}
	for _, k := range stores.Registry.Kinds() {
		if k.NewOptions != nil {
			props = append(props, conf.Prop{Name: k.Name, Shape: k.NewOptions().Schema()})
		}
	}
	return conf.Object("Store settings; absent stores take their defaults from the usual environment (VAULT_ADDR, AWS_REGION...).", props...)
}

// manifestShape is ward.yaml, field by field, as parse.go reads it.
func manifestShape() *conf.Shape {
	p := func(name string, s *conf.Shape) conf.Prop { return conf.Prop{Name: name, Shape: s} }
	return withIdentityRules(conf.WithRequired(conf.Object("ward's manifest: the secrets a program needs, as references to the stores that hold them.",
		p("version", &conf.Shape{Kind: "integer", Desc: "The manifest format: 1.", Const: 1}),
		p("stores", storesShape()),
		p("env", conf.Ref("env", "")),
		p("files", conf.Ref("files", "")),
		p("inherit", &conf.Shape{
			Desc: "Which of ward's variables the program inherits: all (minus credentials), none, or names and * patterns.",
			OneOf: []*conf.Shape{
				conf.Enum("", "all", "none"),
				conf.Ref("patterns", ""),
			},
		}),
		p("deny", conf.Ref("patterns", "Variables never passed from ward's environment.")),
		p("mask", conf.Bool("Replace secret values in the program's output with <ward:NAME>.")),
		p("rotation", conf.Object("What happens when a secret changes.",
			p("on_change", conf.Enum("Restart the program, signal it, or do nothing (default restart).", string(Restart), string(SignalChild), string(DoNothing))),
			p("signal", conf.Ref("signal", "The signal for on_change: signal (default SIGHUP); not stop_signal, which would stop the program at every rotation.")),
			p("poll", &conf.Shape{
				Def:  "duration",
				Desc: "How often to poll stores that cannot push changes (at least 1s; default 5m).",
				Not:  &conf.Shape{Pattern: conf.SubSecondPattern},
			}),
			p("jitter", &conf.Shape{
				Desc: "Random spread of poll times: 0% to 50%, or a fraction from 0 to 0.5 (default 10%).",
				AnyOf: []*conf.Shape{
					{Kind: "string", Pattern: percentPattern, Examples: []any{"10%"}},
					{Kind: "string", Pattern: fractionPattern},
					{Kind: "number", FMin: &schemaZero, FMax: &schemaHalf, Examples: []any{0.1}},
				},
			}),
			p("debounce", &conf.Shape{
				Desc: "Changes within this window cause one restart (default 2s); 0 turns it off.",
				AnyOf: []*conf.Shape{
					conf.Ref("duration", ""),
					{Extra: map[string]any{"enum": []any{0}}},
					{Kind: "string", Pattern: conf.ZeroDurationPattern},
				},
			}),
			p("stop_signal", &conf.Shape{Def: "signal", Desc: "The signal that asks the program to stop (default SIGTERM); not one whose default is to be ignored or to pause.", Not: nonTerminatingShape()}),
			p("stop_timeout", conf.Ref("duration", "How long to wait after stop_signal before SIGKILL (default 7s: below docker stop's 10 s and Kubernetes' 30 s, leaving ward time to clean up).")),
			p("on_expired", conf.Enum("When a lease, or short-lived credentials, expire and cannot be replaced: keep the program running, or stop it (default keep).", string(KeepRunning), string(StopChild))),
			p("revoke_on_exit", conf.Bool("Revoke the dynamic leases ward created when it exits (default true).")),
		)),
		p("profiles", &conf.Shape{
			Kind: "map",
			Desc: "Named variations (ward run -p NAME): their variables and files replace or add to the base ones, and their identities replace the base ones cloud by cloud.",
			Elems: conf.Object("One profile.",
				p("env", conf.Ref("env", "")),
				p("files", conf.Ref("files", "")),
				p("identity", profileIdentityShape()),
			),
			Examples: []any{map[string]any{"dev": map[string]any{"env": map[string]any{"API_TOKEN": "local://myapp/api_token"}}}},
		}),
		p("identity", identityShape()),
	), "version"))
}
