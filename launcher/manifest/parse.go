package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/wardsecrets/ward/launcher/secretdir"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/conf"
	"github.com/wardsecrets/ward/resolve/stores"
	"github.com/wardsecrets/ward/signals"
)

// ValidationError is one problem in a manifest, with its place and the
// field it concerns. It never holds a secret value.
type ValidationError struct {
	File  string
	Line  int
	Col   int
	Field string
	Msg   string
	// Advice is what to do about it.
	Advice string
	// Unknown is "field" or "scheme" for a name this ward does not know
	// (which a later ward may), else empty.
	Unknown string
}

func (e *ValidationError) Error() string {
	loc := fmt.Sprintf("%s:%d:%d", QuotePath(e.File), e.Line, e.Col)
	if e.Field != "" {
		return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
	}
	return fmt.Sprintf("%s: %s", loc, e.Msg)
}

// Hint says what to do about the problem.
func (e *ValidationError) Hint() string { return e.Advice }

// QuotePath returns path quoted (as Go quotes a string, much as git's
// core.quotePath does; ward scan quotes the files it names so) when it
// holds a control character or bytes that are not UTF-8, or starts with
// a quote: a manifest in a directory whose name holds a line break split
// ward's error in two ("ward: error: nl" alone on a line), and an escape
// sequence there was run by the terminal, not shown.
func QuotePath(path string) string {
	if utf8.ValidString(path) && !strings.HasPrefix(path, `"`) && !strings.ContainsFunc(path, unicode.IsControl) {
		return path
	}
	return strconv.Quote(path)
}

// QuoteName gives a profile's name for a message: quoted when it has
// what would run into the words around it (a space, a comma, a quote, a
// character not printed, or nothing at all).
func QuoteName(name string) string {
	if name == "" || strings.ContainsAny(name, " ,;:()\"'") || conf.Printable(name) != name {
		return strconv.Quote(name)
	}
	return name
}

// ValidationErrors is every problem found in a manifest, in file order.
type ValidationErrors []*ValidationError

func (es ValidationErrors) Error() string {
	parts := make([]string, len(es))
	for i, e := range es {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "\n")
}

// Unwrap lists the problems, so each is reported with its own hint.
func (es ValidationErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// maxSize bounds what Load reads: a manifest is a list of references,
// and a huge file is a mistake (or an attack on the parser).
const maxSize = 1 << 20

// Load reads and validates the manifest at file.
func Load(file string) (*Manifest, error) {
	f, err := os.Open(file)
	switch {
	case os.IsNotExist(err):
		return nil, ValidationErrors{{File: file, Line: 1, Col: 1, Msg: "no such file", Advice: "create one with `ward init`, or name another with -m"}}
	case errors.Is(err, syscall.ELOOP):
		// As one found without -m is told: it said only "too many levels
		// of symbolic links".
		return nil, ValidationErrors{{File: file, Line: 1, Col: 1, Msg: "is a symbolic link that leads round in a loop, to no file", Advice: "point the link at the manifest, or name the manifest itself with -m"}}
	case err != nil:
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.IsDir() {
		return nil, ValidationErrors{{File: file, Line: 1, Col: 1, Msg: "is a directory, not a manifest", Advice: "name the manifest's file: -m " + filepath.Join(file, "ward.yaml") + "?"}}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	if len(b) > maxSize {
		return nil, ValidationErrors{{File: file, Line: 1, Col: 1, Msg: "the manifest is larger than 1 MiB", Advice: "a manifest holds references, not data"}}
	}
	return Parse(file, b)
}

var yamlLineRE = conf.Lazy(`^yaml: line (\d+): (.*)$`)

// Parse parses and validates a manifest held in memory; file names it in
// messages.
func Parse(file string, data []byte) (*Manifest, error) {
	p := &parser{file: file, reg: stores.Registry}
	if text, _, ok, err := fromUTF16(data); err != nil {
		return nil, ValidationErrors{{File: file, Line: 1, Col: 1, Msg: "the manifest starts with UTF-16's byte order mark and is not UTF-16 text: " + err.Error(), Advice: "save it as UTF-8"}}
	} else if ok {
		data = text
	}
	if p.lineSeparators(data); p.d.Failed() {
		return nil, p.errors()
	}
	if data = p.yamlVersion(data); p.d.Failed() {
		return nil, p.errors()
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return nil, ValidationErrors{yamlError(file, err, data)}
	}
	// A document of nothing but a "---" (or null) is as empty as a file
	// of comments: the root is a null, which ward called "want a mapping,
	// got nothing", at the line after the last one, with the hint to
	// indent NAME: VALUE lines "under the field".
	if doc.Kind == 0 || len(doc.Content) == 0 || doc.Content[0].Kind == yaml.ScalarNode && doc.Content[0].Tag == "!!null" && doc.Content[0].Style&yaml.TaggedStyle == 0 {
		// "---\n---\nversion: 1": the manifest is there, in a second
		// document, which ward would not read.
		var next yaml.Node
		if doc.Kind != 0 && dec.Decode(&next) == nil {
			return nil, ValidationErrors{{File: file, Line: next.Line, Col: next.Column, Msg: "a second YAML document starts here, after an empty first one", Advice: "ward reads one manifest per file, the first document: remove the --- lines before this one"}}
		}
		return nil, ValidationErrors{{File: file, Line: 1, Col: 1, Msg: "the manifest is empty", Advice: "start with `version: 1` and an `env:` mapping"}}
	}
	// Aliases, merge keys and tags are refused before the structure is
	// read: the parser would see an alias where a value belongs and a
	// "<<" where a name does, and say so in terms that hide the cause.
	if more := p.yamlFeatures(doc.Content[0], maxFeatureProblems); p.d.Failed() {
		p.andMore(more, "remove them all: each is refused as the ones above", "YAML aliases, merge keys or tags")
		return nil, p.errors()
	}
	m := p.manifest(doc.Content[0])
	// A second document was ignored, and everything in it with it: what it
	// declares, and what is wrong in it. One after a trailing --- with
	// nothing in it is refused as well: one rule, no exception.
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == io.EOF:
	case err != nil:
		p.d.Problems = append(p.d.Problems, yamlProblem(err, data))
	default:
		p.failAt(Pos{next.Line, next.Column}, "", "ward reads one manifest per file: remove this --- and what follows it, or move that to a file of its own; for variants of one manifest, use profiles", "a second YAML document starts here")
	}
	if p.d.Failed() {
		return nil, p.errors()
	}
	return m, nil
}

// plainTags are the tags whose values every YAML reader reads alike;
// yaml.v3 gives one of them, or !!timestamp or !!merge, to untagged nodes.
var plainTags = []string{"!!str", "!!int", "!!float", "!!bool", "!!null", "!!map", "!!seq"}

// yamlFeatures refuses the YAML features a manifest does without: an
// alias, a merge key (<<), and a tag other than the plain ones (!vault,
// !!binary). Editors and yaml.v3's own decoding read them, each its own
// way (!!binary is decoded, a local tag dropped), so the value ward would
// read is not the one the user sees. The walk does not follow aliases, so
// an alias bomb costs no more than its text. It reports the first limit
// of them, and returns how many more there are: each was an error of its
// own, and a manifest of 300,000 aliases in 900 KB (a bomb's last level
// written out) gave 300,000, 75 MB of text and 107 MB of JSON records.
func (p *parser) yamlFeatures(n *yaml.Node, limit int) (more int) {
	found := 0
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		var hint, msg string
		switch {
		case n.Kind == yaml.AliasNode:
			hint, msg = "write the value out here; for one secret under two names, declare it once and write {template: \"{{ .NAME }}\"} for the other; for variants of the manifest, use profiles", fmt.Sprintf("YAML alias *%s: ward does not read aliases", n.Value)
		case n.Kind == yaml.ScalarNode && n.Tag == "!!merge":
			hint, msg = "write the keys out in this mapping; for variants of the manifest, use profiles, which take the base's variables and replace those they name", fmt.Sprintf("YAML merge key %s: ward does not read merge keys", n.Value)
		case n.Style&yaml.TaggedStyle != 0 && !slices.Contains(plainTags, n.Tag):
			hint, msg = "remove the tag: a value is read as the text written, and a secret belongs in a store, named by a reference", fmt.Sprintf("YAML tag %s: ward does not read tags", conf.Printable(n.Tag))
		}
		if msg != "" {
			if found++; found <= limit {
				p.fail(n, "", hint, "%s", msg)
			} else {
				more++
			}
			if n.Kind == yaml.AliasNode {
				return
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return more
}

// maxFeatureProblems is how many aliases, merge keys and tags are
// reported one by one.
const maxFeatureProblems = 100

// andMore reports, at the last problem's place, that more (when above
// 0) of what was reported there came after it.
func (p *parser) andMore(more int, hint, what string) {
	if more <= 0 {
		return
	}
	last := p.d.Problems[len(p.d.Problems)-1]
	p.failAt(Pos{last.Line, last.Col}, "", hint, "and %d more %s after this one", more, what)
}

// lineSeparators refuses U+0085, U+2028 and U+2029 written as they are.
// yaml.v3 reads them as line breaks, YAML 1.2 and editors as text: every
// later error's line was one too far, and inside quotes the character
// became a space in the value. Each is reported at its line and column,
// as an editor counts them.
//
// It also finds the first character YAML takes in no file: a NUL byte
// (a file saved as UTF-16 without its byte order mark holds one in
// every other byte), another control character, or bytes that are not
// UTF-8 (a file saved as Latin-1 or Windows-1252). yaml.v3 names no
// place for these, and ward said "1:1: invalid YAML: control characters
// are not allowed", with a hint on indentation and quoting, wherever
// the byte was. Neither the byte nor its line is quoted: it may be part
// of a value. A file saved as UTF-16 is read as UTF-8 before (fromUTF16).
func (p *parser) lineSeparators(data []byte) {
	line, col := 1, 1
	found := 0
	defer func() {
		p.andMore(found-maxFeatureProblems, `write each as an escape in a double-quoted string ("\u2028"), or remove them`, "raw U+0085, U+2028 or U+2029")
	}()
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		i += size
		switch {
		case r == '\n':
			line, col = line+1, 1
			continue
		case r == '\r':
			// CR LF ends a line at its LF; a CR alone ends one too, for
			// yaml.v3 as for an old Mac editor.
			if i == len(data) || data[i] != '\n' {
				line, col = line+1, 1
			}
			continue
		case r == 0xFEFF && col == 1 && i > size:
			// At the start of a later line, that of a file joined to
			// another (cat a.yaml b.yaml): yaml.v3 reads it as part of
			// the text, and the key after it was "an unknown field of 4
			// characters" where a name looked right. (Inside a
			// reference, the reference names it; see ref.)
			if found++; found <= maxFeatureProblems {
				p.failAt(Pos{line, col}, "", "remove it: a byte order mark belongs at the start of a file only, and this one came with a file joined to another (cat a.yaml b.yaml)", "a byte order mark at the start of a line")
			}
			continue
		case r == 0xFEFF:
			// A byte order mark takes no column.
			continue
		case r == 0x85, r == 0x2028, r == 0x2029:
			if found++; found <= maxFeatureProblems {
				p.failAt(Pos{line, col}, "", fmt.Sprintf(`write it as an escape in a double-quoted string ("\u%04x"), or remove it if it came with a paste`, r), "a raw U+%04X: YAML readers disagree on whether it ends a line", r)
			}
		case r == utf8.RuneError && size == 1:
			p.failAt(Pos{line, col}, "", "save the file as UTF-8 (it may have been written as Latin-1 or Windows-1252: iconv -f WINDOWS-1252 -t UTF-8); a value that is not text belongs in a store, delivered as a file", "a byte that is not UTF-8: a manifest is UTF-8 text")
			return
		case r == 0:
			p.failAt(Pos{line, col}, "", "remove it; a file with a NUL in every other byte was saved as UTF-16 without its byte order mark: save it as UTF-8", "a NUL byte: a manifest is text")
			return
		case r < 0x20 && r != '\t', r >= 0x7F && r < 0xA0, r == 0xFFFE, r == 0xFFFF:
			p.failAt(Pos{line, col}, "", `remove it, or write it as an escape in a double-quoted string ("\x1b"); a value that is not text belongs in a store`, "a control character, which YAML takes in no file")
			return
		}
		col++
	}
}

// yamlVersion reads a %YAML directive before the document: yaml.v3
// takes only "%YAML 1.1", and refused "%YAML 1.2", the version whose
// reading it gives (`on:` and `yes:` are names, 0400 is 0400), which a
// generator writes (ruamel.yaml's version (1, 2)) and a user adds so
// that editors read the file as ward does, with "found incompatible
// YAML document" and a hint on indentation and quoting. 1.2 is read
// now, as 1.1 always was (the directive changes nothing in yaml.v3's
// reading); another version is refused, saying which ward reads. It
// returns data, with a 1.2 directive written as 1.1 for yaml.v3.
func (p *parser) yamlVersion(data []byte) []byte {
	out, _, bad := yaml12(data)
	if bad > 0 {
		p.failAt(Pos{bad, 1}, "", "write %YAML 1.2, or remove the line", "a %%YAML directive of a version ward does not read: it reads YAML 1.2 (and takes 1.1's directive)")
		return data
	}
	return out
}

// yaml12 returns data with a "%YAML 1.2" directive written "%YAML 1.1",
// which yaml.v3 takes, and where it wrote that "1.1"; or the line of a
// directive of another version (bad), else 0.
func yaml12(data []byte) (out []byte, at []int, bad int) {
	out = data
	start := 0
	for line := 1; start < len(data); line++ {
		end := bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			end = len(data) - start
		}
		text, bom := bytes.TrimSuffix(data[start:start+end], []byte("\r")), 0
		if line == 1 && bytes.HasPrefix(text, []byte("\ufeff")) {
			text, bom = text[3:], 3
		}
		rest, ok := bytes.CutPrefix(text, []byte("%YAML"))
		switch {
		case ok && (len(rest) == 0 || rest[0] == ' ' || rest[0] == '\t'):
			version := bytes.Fields(rest)
			switch {
			case len(version) > 0 && string(version[0]) == "1.2":
				i := start + bom + bytes.Index(text, version[0])
				if len(at) == 0 {
					out = bytes.Clone(data)
				}
				copy(out[i:], "1.1")
				at = append(at, i)
			case len(version) > 0 && string(version[0]) == "1.1":
			default:
				return data, nil, line
			}
		case bytes.HasPrefix(text, []byte("%")), len(bytes.TrimSpace(text)) == 0, bytes.HasPrefix(bytes.TrimSpace(text), []byte("#")):
			// Another directive, a blank line or a comment: the
			// directives may go on.
		default:
			// The document's start (---) or its first line: no
			// directive comes after it.
			return out, at, 0
		}
		start += end + 1
	}
	return out, at, 0
}

// yamlParserProblems are the messages of yaml.v3's parser (parserc.go),
// whose lines it numbers from 0; its scanner's it numbers from 1.
var yamlParserProblems = []string{
	"did not find expected ',' or ']'",
	"did not find expected ',' or '}'",
	"did not find expected '-' indicator",
	"did not find expected <document start>",
	"did not find expected <stream-start>",
	"did not find expected key",
	"did not find expected node content",
	"found duplicate %TAG directive",
	"found duplicate %YAML directive",
	"found incompatible YAML document",
	"found undefined tag handle",
}

// yamlError is a YAML syntax error, at the line the YAML parser names.
func yamlError(file string, err error, data []byte) *ValidationError {
	pr := yamlProblem(err, data)
	return &ValidationError{File: file, Line: pr.Line, Col: pr.Col, Msg: pr.Msg, Advice: pr.Hint}
}

func yamlProblem(err error, data []byte) *conf.Problem {
	line, msg := 1, err.Error()
	lines := bytes.Split(data, []byte("\n"))
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ = strconv.Atoi(m[1])
		msg = m[2]
		// yaml.v3 numbers a scanner's lines from 1 and its parser's from
		// 0: a flow mapping left open or holding a ": " (`{value: a: b}`,
		// `{value: a #b}`), a key out of line, was blamed on the line
		// above it, with the hint to check that line.
		if slices.ContainsFunc(yamlParserProblems, func(p string) bool { return strings.HasPrefix(msg, p) }) {
			line++
		}
		// What is missing at the end of the file (a bracket never
		// closed) is found at the end of the stream, which yaml.v3 puts
		// on a line after the last: name the last line with text on it.
		if line > len(lines) || line == len(lines) && len(bytes.TrimSpace(lines[line-1])) == 0 {
			for line = min(line, len(lines)); line > 1 && len(bytes.TrimSpace(lines[line-1])) == 0; line-- {
			}
		}
	}
	if l, col, ok := tabIndent(lines, line, strings.TrimPrefix(msg, "yaml: ")); ok {
		return &conf.Problem{Line: l, Col: col, Msg: "invalid YAML: a tab in the indentation: YAML indents with spaces only", Hint: "replace the tab with spaces (an editor's \"indent using spaces\")"}
	}
	if col, n, ok := longKey(lines, line, strings.TrimPrefix(msg, "yaml: ")); ok {
		return &conf.Problem{Line: line, Col: col, Msg: fmt.Sprintf("invalid YAML: a key of %d characters: YAML reads a key of at most %d", n, maxYAMLKey), Hint: "shorten it"}
	}
	return &conf.Problem{Line: line, Col: 1, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: "), Hint: "check the indentation and quoting on that line"}
}

// maxYAMLKey is the most characters YAML reads in a key written on one
// line before its colon, quotes included ("implicit key").
const maxYAMLKey = 1024

// longKey finds the key over maxYAMLKey characters, among the
// manifest's lines, that yaml.v3's msg at line is about: it said
// "could not find expected ':'" (or "mapping values are not allowed
// in this context") of a line with its colon there, and the hint to
// check its quoting. It returns the key's column and length; the key
// is not quoted, as a line of the manifest never is.
func longKey(lines [][]byte, line int, msg string) (col, n int, ok bool) {
	if msg != "could not find expected ':'" && msg != "mapping values are not allowed in this context" {
		return 0, 0, false
	}
	if line < 1 || line > len(lines) {
		return 0, 0, false
	}
	text := string(bytes.TrimSuffix(bytes.TrimPrefix(lines[line-1], []byte("\ufeff")), []byte("\r")))
	rest := strings.TrimLeft(text, " ")
	for _, indicator := range []string{"- ", "? "} {
		rest = strings.TrimLeft(strings.TrimPrefix(rest, indicator), " ")
	}
	col = utf8.RuneCountInString(text[:len(text)-len(rest)]) + 1
	key, _, found := strings.Cut(rest, ": ")
	if !found {
		key, found = strings.CutSuffix(rest, ":")
	}
	if n = utf8.RuneCountInString(key); !found || n <= maxYAMLKey {
		return 0, 0, false
	}
	return col, n, true
}

// tabIndent finds the tab, among the manifest's lines, that yaml.v3's
// msg at line is about: a tab in a line's indentation, the commonest
// mistake of a hand-written manifest. yaml.v3 said "found character
// that cannot start any token" at the tab's line, and, after a line
// ending in a plain value (`A: local://app/a`), "found a tab
// character that violates indentation" at the line of that value,
// above the tab. It returns the tab's line and column.
func tabIndent(lines [][]byte, line int, msg string) (int, int, bool) {
	var last int // the last line the tab may be on
	switch msg {
	case "found character that cannot start any token":
		last = line
	case "found a tab character that violates indentation":
		// The value may go on over several lines; the tab is on the
		// first line after it that has one in its indentation.
		last = math.MaxInt
	default:
		return 0, 0, false
	}
	for l := line; l <= len(lines) && l <= last; l++ {
		text := bytes.TrimPrefix(lines[l-1], []byte("\ufeff"))
		indent := len(text) - len(bytes.TrimLeft(text, " \t"))
		if i := bytes.IndexByte(text[:indent], '\t'); i >= 0 {
			return l, i + 1, true
		}
	}
	return 0, 0, false
}

// parser walks the manifest's YAML nodes.
type parser struct {
	file string
	reg  *resolve.Registry
	d    conf.Decoder
	// unreadEnv holds the env blocks ("env", "profiles.NAME.env") that were
	// not mappings: their variables are unknown, so templates are not
	// checked against them.
	unreadEnv map[string]bool
	// baseTemplates holds what the base manifest's templates were
	// reported for, by field: a cycle ("cycle"), an expansion (its
	// count as text). A profile that leaves it as it is does not report
	// it again.
	baseTemplates map[string]string
}

func (p *parser) fail(n *yaml.Node, field, hint, format string, args ...any) {
	p.d.Fail(n, field, hint, format, args...)
}

// failAt records a problem at a position the parser kept.
func (p *parser) failAt(pos Pos, field, hint, format string, args ...any) {
	p.d.Problems = append(p.d.Problems, &conf.Problem{Line: pos.Line, Col: pos.Col, Field: field, Msg: fmt.Sprintf(format, args...), Hint: hint})
}

// errors returns the problems in file order.
func (p *parser) errors() ValidationErrors {
	out := make(ValidationErrors, len(p.d.Problems))
	for i, pr := range p.d.Problems {
		out[i] = &ValidationError{File: p.file, Line: pr.Line, Col: pr.Col, Field: pr.Field, Msg: pr.Msg, Advice: pr.Hint, Unknown: pr.Unknown}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Line < b.Line || a.Line == b.Line && a.Col < b.Col
	})
	return out
}

func (p *parser) duration(n *yaml.Node, field string) (time.Duration, bool) {
	return p.d.Duration(n, field)
}

func (p *parser) signal(n *yaml.Node, field string) (syscall.Signal, bool) {
	var s string
	if f, ok := number(n); ok {
		// An unquoted number is read by its value, as YAML (and the
		// schema, through JSON) reads it: one that YAML 1.1 and 1.2
		// read differently (012: SIGUSR1 to ward, SIGUSR2 to editors)
		// is refused.
		if conf.NotDecimal(n) {
			p.fail(n, field, conf.NotDecimalHint+", or the signal's name: SIGUSR2", "want a signal's name or number in decimal, got %s", n.Value)
			return 0, false
		}
		s = strconv.FormatFloat(f, 'f', -1, 64)
	} else if s, ok = p.d.Str(n, field); !ok {
		return 0, false
	}
	sig, err := signals.Parse(s)
	if err != nil || s != strings.TrimSpace(s) || sig == syscall.SIGKILL || sig == syscall.SIGSTOP {
		hint := "write a signal name such as SIGTERM, SIGHUP or SIGUSR1"
		if h, ok := realTimeHint(s); ok {
			hint = h
		}
		p.fail(n, field, hint, "unknown or uncatchable signal %q", n.Value)
		return 0, false
	}
	return sig, true
}

// realTimeHint is the hint for a real-time signal's name (SIGRTMIN+3,
// RTMAX-1), which ward does not take: SIGRTMIN's number depends on the C
// library, 34 under glibc and 35 under musl (Alpine), which keeps two for
// its threads; SIGRTMAX is 64 under both. The hint gives the numbers of
// the very signal named.
func realTimeHint(name string) (string, bool) {
	up := strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(name)), "SIG")
	const general = "write a real-time signal by its number, as the program's C library numbers it (SIGRTMIN is 34 under glibc, 35 under musl: Alpine; SIGRTMAX is 64)"
	var base, sign int
	switch {
	case strings.HasPrefix(up, "RTMIN"):
		base, sign = 34, 1
	case strings.HasPrefix(up, "RTMAX"):
		base, sign = 64, -1
	default:
		return "", false
	}
	rest, n := up[5:], 0
	if rest != "" {
		if rest[0] != "+-"[(1-sign)/2] {
			return general, true
		}
		var err error
		if n, err = strconv.Atoi(rest[1:]); err != nil || n < 0 || rest[1:] != strconv.Itoa(n) {
			return general, true
		}
	}
	if sign > 0 {
		if base+n+1 > 64 {
			return general, true
		}
		return fmt.Sprintf("write a real-time signal by its number, as the program's C library numbers it: SIG%s is %d under glibc, %d under musl (Alpine), which keeps one more for its threads: rotation.signal: %d", up, base+n, base+n+1, base+n), true
	}
	if base-n < 35 {
		return general, true
	}
	return fmt.Sprintf("write a real-time signal by its number: SIG%s is %d under glibc and musl alike: rotation.signal: %d", up, base-n, base-n), true
}

// str reads a string. An unquoted number or boolean is refused, not read
// as its text: the schema, and every YAML reader that turns the manifest
// into JSON, sees a number or a boolean there.
func (p *parser) str(n *yaml.Node, field string) (string, bool) {
	if _, isNumber := number(n); isNumber || n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		p.fail(n, field, fmt.Sprintf("quote it: %q", n.Value), "want a string, got %s", conf.KindName(n))
		return "", false
	}
	return p.d.Str(n, field)
}

// wholeNumber reads an unquoted whole number. 1.0 counts, as it does in
// JSON Schema's integer: YAML tags it a float, but a schema validator
// sees the number 1.
func (p *parser) wholeNumber(n *yaml.Node, field string) (int, bool) {
	if conf.NotDecimal(n) {
		p.fail(n, field, conf.NotDecimalHint, "want a whole number in decimal, got %s", n.Value)
		return 0, false
	}
	f, ok := number(n)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		p.fail(n, field, "write a whole number, unquoted, such as 1", "want a whole number, got %s", conf.KindName(n))
		return 0, false
	}
	return int(f), true
}

// number reads an unquoted YAML number (int or float) by its value.
func number(n *yaml.Node) (float64, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!int" && n.Tag != "!!float" {
		return 0, false
	}
	var f float64
	if n.Decode(&f) != nil {
		return 0, false
	}
	return f, true
}

func (p *parser) manifest(n *yaml.Node) *Manifest {
	m := &Manifest{File: p.file, Rotation: DefaultRotation(), Inherit: Inherit{All: true}, Profiles: map[string]*Profile{}}
	// A manifest of another version is another format: its fields are
	// not this version's mistakes, and listing them as such would send
	// the user to edit the manifest rather than to upgrade ward.
	for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
		if k, v := n.Content[i], n.Content[i+1]; k.Value == "version" {
			if f, ok := number(v); ok && f != 1 && f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
				p.fail(v, "version", "this ward reads manifest version 1: use the ward the manifest was written for, or upgrade", "unsupported version %s", v.Value)
				return m
			}
		}
	}
	var versionSeen bool
	var profilesAt Pos
	p.d.Fields(n, "", map[string]func(k, v *yaml.Node){
		"version": func(k, v *yaml.Node) {
			versionSeen = true
			// Another whole number ended the parse above.
			if i, ok := p.wholeNumber(v, "version"); ok {
				m.Version = i
			}
		},
		"stores":   func(k, v *yaml.Node) { m.Stores = p.stores(v) },
		"env":      func(k, v *yaml.Node) { m.Env = p.env(v, "env") },
		"files":    func(k, v *yaml.Node) { m.Files = p.files(v, "files") },
		"inherit":  func(k, v *yaml.Node) { m.Inherit = p.inherit(v) },
		"deny":     func(k, v *yaml.Node) { m.Deny = p.patterns(v, "deny") },
		"rotation": func(k, v *yaml.Node) { p.rotation(v, &m.Rotation) },
		"mask":     func(k, v *yaml.Node) { m.Mask, _ = p.d.Bool(v, "mask") },
		"profiles": func(k, v *yaml.Node) {
			profilesAt = Pos{k.Line, k.Column}
			p.profiles(v, m)
		},
		"identity": func(k, v *yaml.Node) { m.Identity = p.identity(v) },
	})
	if n.Kind == yaml.MappingNode && !versionSeen {
		p.fail(n, "version", "add `version: 1` at the top", "missing")
	}
	// Each profile is checked with the base's variables and files: a
	// hostile manifest within 1 MiB could hold 14,000 of each, and keep
	// every check and start busy for minutes.
	if n := len(m.Env) + len(m.Files); len(m.Profiles) > 0 && (len(m.Profiles)+1)*n > maxProfileChecks {
		p.failAt(profilesAt, "profiles", fmt.Sprintf("a manifest this large is a mistake: keep (profiles + 1) × (variables + files) under %d, or split it into manifests of their own (-m)", maxProfileChecks), "%d profiles over %d variables and files", len(m.Profiles), n)
		return m
	}
	// Templates and files are checked on what parsed, in the same pass as
	// the structure, so that one `ward check` reports every problem.
	p.checkTemplates(m, "", nil)
	for _, name := range slices.Sorted(maps.Keys(m.Profiles)) {
		p.checkTemplates(m, name, m.Profiles[name])
	}
	p.checkFiles(m)
	p.checkIdentity(m)
	return m
}

// maxProfileChecks bounds (profiles + 1) × (variables + files), the
// work of checking every profile: far above a real manifest's (20
// profiles of 1,000 variables are 21,000), about a second at most.
const maxProfileChecks = 1_000_000

func (p *parser) profiles(n *yaml.Node, m *Manifest) {
	p.d.Pairs(n, "profiles", func(pk, pv *yaml.Node) {
		name := conf.Join("profiles", pk.Value)
		if pk.Value == "" {
			// `-p ""` is refused (a script's unset variable), and an empty
			// WARD_PROFILE means none: no one could ask for this profile,
			// which ward took without a word.
			p.fail(pk, name, "name the profile, as -p and WARD_PROFILE will name it", "a profile's name is empty")
			return
		}
		prof := &Profile{Pos: Pos{pk.Line, pk.Column}}
		p.d.Fields(pv, name, map[string]func(k, v *yaml.Node){
			"env":   func(k, v *yaml.Node) { prof.Env = p.env(v, name+".env") },
			"files": func(k, v *yaml.Node) { prof.Files = p.files(v, name+".files") },
			"identity": func(k, v *yaml.Node) {
				prof.Identity, prof.Unserved = p.identityAt(v, name+".identity", true)
			},
		})
		m.Profiles[pk.Value] = prof
	})
}

// stores reads the stores block: concurrency, and each store's own
// settings, decoded by the store's package.
func (p *parser) stores(n *yaml.Node) Stores {
	s := Stores{Options: map[string]resolve.Options{}}
	known := map[string]func(k, v *yaml.Node){
		"concurrency": func(k, v *yaml.Node) {
			if i, ok := p.wholeNumber(v, "stores.concurrency"); ok {
				if i < 1 || i > 256 {
					p.fail(v, "stores.concurrency", "choose 1 to 256 (default 16)", "out of range: %d", i)
					return
				}
				s.Concurrency = i
			}
		},
	}
	for _, kind := range p.reg.Kinds() {
		if kind.NewOptions == nil {
			continue
		}
		known[kind.Name] = func(k, v *yaml.Node) {
			opts := kind.NewOptions()
			opts.Decode(&p.d, v, "stores."+kind.Name)
			s.Options[kind.Name] = opts
		}
	}
	p.d.Fields(n, "stores", known)
	return s
}

func (p *parser) rotation(n *yaml.Node, r *Rotation) {
	f := "rotation"
	// Where signal and stop_signal were written, for the check below.
	var sigNode, stopNode *yaml.Node
	defer func() {
		if r.OnChange != SignalChild || r.Signal != r.StopSignal {
			return
		}
		// One signal cannot ask the program both to read its files again
		// and to stop: a program that stops on it ended ward's run at the
		// first rotation (or was restarted, when it died of it); one that
		// reloads on it was killed at stop_timeout at every stop.
		at, field := n, f
		switch {
		case sigNode != nil:
			at, field = sigNode, f+".signal"
		case stopNode != nil:
			at, field = stopNode, f+".stop_signal"
		}
		p.fail(at, field, "give rotation.signal the signal the program reloads on (SIGHUP by default) and stop_signal the one it stops on, or write on_change: restart for a stop and a new child at each change", "%s is both rotation.signal and stop_signal: with on_change: signal, every rotation would stop the program", signals.Name(r.Signal))
	}()
	p.d.Fields(n, f, map[string]func(k, v *yaml.Node){
		"on_change": func(k, v *yaml.Node) {
			if s, ok := p.d.OneOf(v, f+".on_change", string(Restart), string(SignalChild), string(DoNothing)); ok {
				r.OnChange = OnChange(s)
			}
		},
		"signal": func(k, v *yaml.Node) {
			if s, ok := p.signal(v, f+".signal"); ok {
				r.Signal, sigNode = s, v
			}
		},
		"poll": func(k, v *yaml.Node) {
			if d, ok := p.duration(v, f+".poll"); ok {
				if d < time.Second {
					p.fail(v, f+".poll", "poll at most once a second; stores bill and throttle calls", "too short: %s", d)
				}
				r.Poll = d
			}
		},
		"jitter": func(k, v *yaml.Node) {
			j, ok := number(v)
			if !ok {
				s, isStr := p.d.Str(v, f+".jitter")
				if !isStr {
					return
				}
				j, ok = parseFraction(s)
			}
			if !ok || !(j >= 0 && j <= 0.5) {
				p.fail(v, f+".jitter", "write a percentage from 0% to 50%, e.g. 10%", "invalid jitter %q", v.Value)
				return
			}
			r.Jitter = j
		},
		"debounce": func(k, v *yaml.Node) {
			// 0 turns debouncing off, written as a number or a duration.
			if z, ok := number(v); ok && z == 0 || v.Kind == yaml.ScalarNode && isZeroDuration(v.Value) {
				r.Debounce = 0
				return
			}
			if d, ok := p.duration(v, f+".debounce"); ok {
				r.Debounce = d
			}
		},
		"stop_signal": func(k, v *yaml.Node) {
			s, ok := p.signal(v, f+".stop_signal")
			if ok && slices.Contains(nonTerminatingSignals, s) {
				p.fail(v, f+".stop_signal", "choose one a program ends by, or stops on with a handler: SIGTERM (the default), SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGWINCH (Apache's graceful stop)", "%s does not end a program: a stop would wait stop_timeout, then kill", signals.Name(s))
				return
			}
			if ok {
				r.StopSignal, stopNode = s, v
			}
		},
		"stop_timeout": func(k, v *yaml.Node) {
			if d, ok := p.duration(v, f+".stop_timeout"); ok {
				r.StopTimeout = d
			}
		},
		"on_expired": func(k, v *yaml.Node) {
			if s, ok := p.d.OneOf(v, f+".on_expired", string(KeepRunning), string(StopChild)); ok {
				r.OnExpired = OnExpired(s)
			}
		},
		"revoke_on_exit": func(k, v *yaml.Node) {
			if b, ok := p.d.Bool(v, f+".revoke_on_exit"); ok {
				r.RevokeOnExit = b
			}
		},
	})
}

// decimalRE is a plain decimal number, as jitter is written: no sign,
// exponent, hexadecimal, Inf or NaN, which strconv.ParseFloat would read.
var decimalRE = conf.Lazy(`^([0-9]+\.?[0-9]*|\.[0-9]+)$`)

// parseFraction reads a percentage (10%) or a fraction (0.1) written as
// text; the caller checks the range.
func parseFraction(s string) (float64, bool) {
	num, pct := strings.CutSuffix(s, "%")
	if !decimalRE.MatchString(num) {
		return 0, false
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, false
	}
	if pct {
		f /= 100
	}
	return f, true
}

// isZeroDuration reports whether s is a duration of zero (0, 0s, 0.0ms).
func isZeroDuration(s string) bool {
	d, err := time.ParseDuration(s)
	return err == nil && d == 0
}

// badName reports an invalid variable name s at n: a key of the
// mapping field when key is set (and then named in the field too), else
// field's value. A name holding "=" is a NAME=VALUE pasted whole (`env:
// {DB_PASS=...}`): only what comes before the "=" is shown, in the
// field and the message, as a `ward run -- NAME=VALUE` command is named
// without its value.
func (p *parser) badName(n *yaml.Node, field string, key bool, s string) {
	msg, shown, pasted := nameShown("invalid variable name", s)
	hint := "variable names match [A-Za-z_][A-Za-z0-9_]*"
	if pasted {
		hint = "write NAME: reference, the value in a store"
	}
	if key && shown != "" {
		field = conf.Join(field, shown)
	}
	p.fail(n, field, hint+rotateHint(shown, pasted), "%s", msg)
}

// nameShown is the message for s, what (an invalid variable name, an
// invalid pattern) where a value may have been pasted: s quoted whole;
// a NAME=VALUE (pasted) as NAME= and the count of the rest; a token
// (`sk-proj-...`, a JWT) or a NAME:VALUE by its length alone (see
// conf.ValueLike). shown is what of s the message quotes, "" for none.
func nameShown(what, s string) (msg, shown string, pasted bool) {
	before, after, pasted := strings.Cut(s, "=")
	switch {
	case pasted && resolve.ValidEnvName(before):
		return fmt.Sprintf("%s %q and %d characters more, not shown: a NAME=VALUE where a name goes", what, before+"=", utf8.RuneCountInString(after)), before + "=", true
	case conf.ValueLike(s):
		return fmt.Sprintf("an %s of %d characters, not shown: it may be a value written where a name goes", what, utf8.RuneCountInString(s)), "", false
	}
	return fmt.Sprintf("%s %q", what, s), s, false
}

// rotateHint is what a hint adds for a name nameShown did not quote
// whole.
func rotateHint(shown string, pasted bool) string {
	switch {
	case pasted:
		return "; if what follows = is a real secret, it is now in this file: rotate it"
	case shown == "":
		return "; if it is a secret, it is now in this file: rotate it"
	}
	return ""
}

func (p *parser) env(n *yaml.Node, field string) []*EnvVar {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		// `env:` with every entry commented out, as ward init writes it.
		return nil
	}
	if n.Kind != yaml.MappingNode {
		if p.unreadEnv == nil {
			p.unreadEnv = map[string]bool{}
		}
		p.unreadEnv[field] = true
	}
	var out []*EnvVar
	p.d.Pairs(n, field, func(k, v *yaml.Node) {
		name := conf.Join(field, k.Value)
		if !resolve.ValidEnvName(k.Value) {
			p.badName(k, field, true, k.Value)
			return
		}
		// A name that reads as a token (`env: {ghp_...}`, a value pasted
		// with nothing after it) is not quoted in its errors, nor in
		// their hints.
		shown := k.Value
		if conf.ValueLike(k.Value) {
			shown = "NAME"
			name = field + fmt.Sprintf(".(a name of %d characters, not shown)", len(k.Value))
		}
		// The variable is declared even when its value is wrong, so that
		// templates reading it are not reported too.
		ev := &EnvVar{Name: k.Value, Pos: Pos{k.Line, k.Column}, Field: name}
		out = append(out, ev)
		switch {
		case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
			// Nothing was pasted: the hint about a secret in the file
			// would alarm for nothing. A profile's null reads as a
			// removal, which profiles do not do.
			hint := fmt.Sprintf("write a reference such as local://myapp/%s, {value: ...} or {template: ...}, or remove the line", strings.ToLower(shown))
			if strings.HasPrefix(field, "profiles.") {
				hint = fmt.Sprintf("a profile replaces or adds variables and cannot remove one: declare %s in the profiles that need it rather than in the base env", shown)
			}
			p.fail(v, name, hint, "no value")
		case v.Kind == yaml.ScalarNode:
			// A reference after an invisible character (a paste's zero-width
			// space or no-break space) is read as one, so that the
			// character is named (see ref); it was "not a secret
			// reference", with the hint to rotate a pasted secret.
			if v.Tag != "!!str" || !resolve.LooksLikeRef(strings.TrimLeftFunc(v.Value, isInvisible)) {
				// The hint must not repeat the string: it may be a secret
				// pasted where a reference belongs.
				p.fail(v, name, fmt.Sprintf("write a reference such as local://myapp/%s, or {value: \"...\"} for a plain value; if this string is a real secret, it is now in this file: rotate it", strings.ToLower(shown)), "not a secret reference")
				return
			}
			ev.Ref = p.ref(v, name)
		case v.Kind == yaml.MappingNode:
			p.envEntry(v, name, ev)
		default:
			p.fail(v, name, "write a reference, {value: ...} or {template: ...}", "want a string or a mapping, got %s", conf.KindName(v))
		}
	})
	return out
}

// MaxArgStrlen returns the kernel's limit on one argument or environment
// string passed to execve (MAX_ARG_STRLEN, 32 of its pages), its NUL
// included; plan.CheckDeliverable checks every NAME=VALUE against it at
// the start. It is 128 KiB with 4 KiB pages, and 2 MiB with the 64 KiB
// pages of ppc64le's kernels and some arm64 ones (RHEL's kernel-64k): a
// fixed 32 * 4096 refused there a value the kernel passes.
func MaxArgStrlen() int { return 32 * os.Getpagesize() }

// maxEnvValue is about the longest value an environment variable can
// pass to a program: MaxArgStrlen for NAME=VALUE and its NUL, less a
// short name (the start checks the exact figure).
func maxEnvValue() int { return MaxArgStrlen() - 5 }

// envEntry reads {value: ...}, {ref: ...} or {template: ...}.
func (p *parser) envEntry(v *yaml.Node, name string, ev *EnvVar) {
	kinds := 0
	var maskKey *yaml.Node
	p.d.Fields(v, name, map[string]func(k, v *yaml.Node){
		"value": func(_, vv *yaml.Node) {
			kinds++
			if vv.Kind != yaml.ScalarNode || vv.Tag == "!!null" {
				p.fail(vv, name+".value", "quote the value", "want a string, got %s", conf.KindName(vv))
				return
			}
			// What ward run refuses at the start (plan.CheckDeliverable),
			// check refuses too: the value is in the manifest.
			switch {
			case strings.IndexByte(vv.Value, 0) >= 0:
				p.fail(vv, name+".value", "an environment variable cannot hold a NUL byte: deliver such a value as a file (files:)", "the value holds a NUL byte")
				return
			case len(vv.Value) > maxEnvValue():
				p.fail(vv, name+".value", "deliver a value this large as a file (files:)", "the value is %d bytes, more than an environment variable may hold (%d)", len(vv.Value), maxEnvValue())
				return
			}
			ev.Value, ev.IsValue = vv.Value, true
		},
		"ref": func(_, vv *yaml.Node) {
			kinds++
			if _, ok := p.str(vv, name+".ref"); ok {
				ev.Ref = p.ref(vv, name+".ref")
			}
		},
		"template": func(_, vv *yaml.Node) {
			kinds++
			if s, ok := p.str(vv, name+".template"); ok {
				ev.Template = p.template(vv, name+".template", s)
			}
		},
		"mask": func(k, vv *yaml.Node) {
			maskKey = k
			if b, ok := p.d.Bool(vv, name+".mask"); ok {
				ev.NoMask = !b
			}
		},
	})
	if kinds != 1 {
		p.fail(v, name, "give exactly one of value, ref or template", "%d of value, ref, template given", kinds)
	} else if ev.IsValue && maskKey != nil {
		// It was taken and did nothing: {value: X, mask: true} left X
		// unmasked, and the schema refused it.
		hint := "a value: is written in the manifest, for all to read, and is never masked: keep a secret in a store (ward local set NAME, then ref: local://NAME), or remove mask"
		if ev.NoMask {
			hint = "a value: is never masked: remove mask: false"
		}
		p.fail(maskKey, name+".mask", hint, "mask is for a ref or a template, not a value")
	}
}

func (p *parser) ref(n *yaml.Node, field string) *resolve.Ref {
	if i, c, ok := invisible(n.Value); ok {
		col := n.Column + i
		if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
			col++
		}
		if strings.Contains(n.Value, "\n") || n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			col = n.Column
		}
		hint := "remove it: it came with a paste (a chat, a wiki page, a word processor), and it is in no name a store holds"
		if c == '\n' && n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
			// `A: |` and the reference on the next line: the block
			// keeps its last line break, and no paste is to blame.
			hint = "a block scalar (| or >) keeps the line break after its text: write the reference on the name's line (A: local://NAME), or start the block with |- or >-"
		}
		p.failAt(Pos{n.Line, col}, field, hint, "the reference holds an invisible character, U+%04X, as its character %d", c, i+1)
		return nil
	}
	r, err := p.reg.ParseRef(n.Value)
	if err != nil {
		hint := ""
		msg := err.Error()
		re, isRefErr := err.(*resolve.RefError)
		if isRefErr {
			hint, msg = re.Hint, re.Msg
		}
		p.fail(n, field, hint, "%s", msg)
		if isRefErr && re.UnknownScheme {
			p.d.Problems[len(p.d.Problems)-1].Unknown = "scheme"
		}
		return nil
	}
	return &r
}

// invisible finds the first character of s that a terminal and an
// editor show as nothing or as a space: a format character (a zero-width
// space, a byte order mark, a left-to-right mark, a soft hyphen), a
// no-break space, a control character. (Other spaces are left: macOS
// names its screenshots with U+202F, and a file:// path may be one.)
// Pasted from a chat or a wiki page into a reference that looks right,
// it made `local://app/a` "an invalid local store name", a Vault path
// "400: Bad Request", a field "no field", each naming a reference that
// read the same as the one meant. It returns the character's index, in
// characters, and the character.
func invisible(s string) (int, rune, bool) {
	i := 0
	for _, r := range s {
		if isInvisible(r) {
			return i, r, true
		}
		i++
	}
	return 0, 0, false
}

// isInvisible reports whether r is a character a reference may not hold
// unseen: a format character (a zero-width space, a byte order mark), a
// no-break space, a control character.
func isInvisible(r rune) bool {
	return unicode.Is(unicode.Cf, r) || r == 0xA0 || unicode.IsControl(r)
}

func (p *parser) template(n *yaml.Node, field, text string) *Template {
	t, err := parseTemplate(field, text)
	if err != nil {
		p.fail(n, field, "templates use Go text/template syntax: {{ .NAME }}, {{ .NAME | urlquery }}", "invalid template: %s", err.Error())
		return nil
	}
	if t.bad != "" {
		hint := t.badHint
		if hint == "" {
			hint = "templates may only read declared variables as {{ .NAME }}"
		}
		p.fail(n, field, hint, "unsupported template construct: %s", t.bad)
		return nil
	}
	if msg, hint, fails := t.failsForAny(); fails {
		p.fail(n, field, hint, "the template fails whatever the values: %s", msg)
		return nil
	}
	t.file, t.field, t.pos = p.file, field, Pos{n.Line, n.Column}
	return t
}

func (p *parser) files(n *yaml.Node, field string) []*FileSpec {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, field, "write a list of {path, ref, mode, encoding, env}", "want a list, got %s", conf.KindName(n))
		return nil
	}
	var out []*FileSpec
	for i, item := range n.Content {
		if f := p.fileSpec(item, fmt.Sprintf("%s[%d]", field, i)); f != nil {
			out = append(out, f)
		}
	}
	return out
}

// fileSpec reads one entry of files; nil when it is not a mapping.
func (p *parser) fileSpec(item *yaml.Node, name string) *FileSpec {
	spec := &FileSpec{Mode: 0o400, Pos: Pos{item.Line, item.Column}, Field: name}
	var pathNode *yaml.Node
	pathRead := false
	p.d.Fields(item, name, map[string]func(k, v *yaml.Node){
		"path": func(k, v *yaml.Node) {
			pathNode = v
			spec.Path, pathRead = p.str(v, name+".path")
		},
		"ref": func(k, v *yaml.Node) {
			if _, ok := p.str(v, name+".ref"); ok {
				spec.Ref = p.ref(v, name+".ref")
			}
		},
		"template": func(k, v *yaml.Node) {
			if s, ok := p.str(v, name+".template"); ok {
				spec.Template = p.template(v, name+".template", s)
			}
		},
		"mode": func(k, v *yaml.Node) {
			if _, isNumber := number(v); isNumber {
				// Unquoted, 0400 is 256 to YAML 1.1 (yaml.v3, Kubernetes)
				// and 400 to YAML 1.2 (editors): which mode was meant is
				// not for ward to guess.
				p.fail(v, name+".mode", fmt.Sprintf(`quote it: mode: "%s"; unquoted, YAML reads it as a number (0400 is 256 or 400, by YAML version)`, v.Value), "want a quoted octal mode, got a number")
				return
			}
			s, ok := p.str(v, name+".mode")
			if !ok {
				return
			}
			m, err := strconv.ParseUint(s, 8, 32)
			if err != nil || m > 0o777 || m&0o400 == 0 {
				p.fail(v, name+".mode", `write an octal mode such as "0400" or "0440", owner-readable`, "invalid mode %q", s)
				return
			}
			spec.Mode = fs.FileMode(m)
		},
		"encoding": func(k, v *yaml.Node) {
			s, ok := p.str(v, name+".encoding")
			if !ok {
				return
			}
			if s != EncodingBase64 {
				p.fail(v, name+".encoding", "write encoding: base64 for a value stored as base64 text, or leave it out to write the value as it is stored", "invalid encoding %q", s)
				return
			}
			spec.Encoding = s
		},
		"env": func(k, v *yaml.Node) {
			s, ok := p.str(v, name+".env")
			if !ok {
				return
			}
			if !resolve.ValidEnvName(s) {
				p.badName(v, name+".env", false, s)
				return
			}
			spec.Env, spec.EnvPos = s, Pos{v.Line, v.Column}
		},
	})
	if item.Kind != yaml.MappingNode {
		return nil
	}
	if pathNode == nil {
		p.fail(item, name+".path", "name the file relative to ward's private directory, e.g. tls/key.pem", "missing")
	} else if pathRead {
		// Clean("") is ".": an empty path is refused, as a run refuses it.
		// A refused path is dropped, so checkFiles does not compare it.
		clean := path.Clean(spec.Path)
		switch {
		case strings.ContainsAny(spec.Path, "\x00\n\r"):
			p.fail(pathNode, name+".path", "file names hold no NUL or line break", "invalid path %q", spec.Path)
			spec.Path = ""
		case path.IsAbs(spec.Path) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") || clean != spec.Path:
			p.fail(pathNode, name+".path", "paths are relative to ward's private tmpfs directory; the child learns the full path from `env`", "invalid path %q", spec.Path)
			spec.Path = ""
		case secretdir.Reserved(spec.Path) != "":
			p.fail(pathNode, name+".path", "choose another name", "path %q is %s", spec.Path, secretdir.Reserved(spec.Path))
		case pathTooLong(spec.Path) != "":
			// The path is not quoted: it is long, and its place is named.
			p.fail(pathNode, name+".path", fmt.Sprintf("shorten it: a directory name takes up to %d bytes, a file name %d (rotation writes the file through a longer temporary name), the whole path %d", secretdir.NameMax, secretdir.FileNameMax, secretdir.PathMax), "%s", pathTooLong(spec.Path))
			spec.Path = ""
		}
	}
	if (spec.Ref == nil) == (spec.Template == nil) {
		p.fail(item, name, "give exactly one of ref or template", "a file needs one source")
	}
	return spec
}

// pathTooLong says which part of a clean relative path is longer, in
// bytes, than ward's private directory takes, "" when none is.
func pathTooLong(p string) string {
	if len(p) > secretdir.PathMax {
		return fmt.Sprintf("a path of %d bytes is longer than %d", len(p), secretdir.PathMax)
	}
	dirs, file := path.Split(p)
	for _, d := range strings.Split(strings.TrimSuffix(dirs, "/"), "/") {
		if len(d) > secretdir.NameMax {
			return fmt.Sprintf("a directory name of %d bytes is longer than %d", len(d), secretdir.NameMax)
		}
	}
	if len(file) > secretdir.FileNameMax {
		return fmt.Sprintf("a file name of %d bytes is longer than %d", len(file), secretdir.FileNameMax)
	}
	return ""
}

func (p *parser) inherit(n *yaml.Node) Inherit {
	if n.Kind == yaml.ScalarNode {
		switch n.Value {
		case "all":
			return Inherit{All: true}
		case "none":
			return Inherit{}
		}
		msg, shown, pasted := nameShown("invalid value", n.Value)
		p.fail(n, "inherit", "write all, none, or a list of names and patterns such as [PATH, HOME, \"APP_*\"]"+rotateHint(shown, pasted), "%s", msg)
		return Inherit{All: true}
	}
	return Inherit{Patterns: p.patterns(n, "inherit")}
}

var patternRE = conf.Lazy(`^[A-Za-z0-9_*]+$`)

func (p *parser) patterns(n *yaml.Node, field string) []string {
	if n.Kind != yaml.SequenceNode {
		p.fail(n, field, "write a list such as [\"AWS_*\", GITHUB_TOKEN]", "want a list, got %s", conf.KindName(n))
		return nil
	}
	var out []string
	for i, item := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		s, ok := p.str(item, f)
		if !ok {
			continue
		}
		if !patternRE.MatchString(s) {
			msg, shown, pasted := nameShown("invalid pattern", s)
			p.fail(item, f, "names and * wildcards only, e.g. \"APP_*\""+rotateHint(shown, pasted), "%s", msg)
			continue
		}
		out = append(out, s)
	}
	return out
}
