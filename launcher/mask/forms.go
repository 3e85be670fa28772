package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// MinLen is the shortest value ward masks or scans for, in bytes. Shorter
// values ("80", "yes") would mask or report ordinary text everywhere.
const MinLen = 4

// minFragmentLen is the shortest part of a value kept as a form of its own
// (an unaligned base64 fragment, a line of a multi-line value): shorter
// parts would match unrelated text.
const minFragmentLen = 8

// Encoding names the form in which a value appears.
type Encoding string

// The encodings Forms produces.
const (
	Plain  Encoding = "plain"
	Base64 Encoding = "base64"
	Hex    Encoding = "hex"
	URL    Encoding = "url"
	JSON   Encoding = "json"
	// Shell is the inside of a double-quoted string of a shell script or
	// a .env file, where a value with a '$' is written `pa\$\$word`, and
	// the value as a shell quotes it to print a command (see FormsOf).
	Shell Encoding = "shell"
	// Quoted is the inside of a string literal as a language prints it
	// for a programmer to read (Python's repr, Node's util.inspect,
	// bash's $'...') or as SQL, YAML and CSV quote it.
	Quoted Encoding = "quoted"
	// HTML is the value with '&', '<', '>' and quotes written as
	// character references, as HTML and XML escapers write text.
	HTML Encoding = "html"
	// Line is one line of a multi-line value, found on its own (a PEM key
	// printed with an indent); see FormsOf for which lines count.
	Line Encoding = "line"
)

// Form is one way a value can appear in output or in a file.
type Form struct {
	Encoding Encoding
	Bytes    []byte
}

// Forms returns value and its encoded forms, deduplicated, the value first.
// It is what a CI runner must be told to mask (see WriteAddMask).
func Forms(value []byte) [][]byte {
	forms := FormsOf(value)
	out := make([][]byte, len(forms))
	for i, f := range forms {
		out[i] = f.Bytes
	}
	return out
}

// FormsOf returns value and its encoded forms with their encodings,
// deduplicated (a form equal to an earlier one is dropped), the value first:
//
//   - plain: the value; without the white space (line breaks included)
//     at its ends, if it has any; with
//     "\r\n" line endings, if it has "\n" ones (a terminal's output
//     translation makes them so), and with "\r\r\n" for "\r\n", which
//     the same translation makes of a Windows file's line ends
//   - base64: standard and URL-safe alphabets, with and without padding, and
//     the fragments that stay the same when the value sits at any offset inside
//     a longer encoded text (as in "Basic dXNlcjpwYXNz"); the standard
//     padded one wrapped into lines as base64 tools print it, when longer
//     than a line: at 76 characters (coreutils base64, MIME) and at 64
//     (openssl base64, PEM), with "\n" and with "\r\n" line breaks (what a
//     terminal's output translation makes of "\n", and MIME's own), and
//     so wrapped without the last characters, which mix in what follows
//     the value (echo's newline)
//   - hex: the bytes in hex, lower- and upper-case, as xxd -p -c0,
//     Python's bytes.hex(), Node's toString("hex") and Go's %x print them;
//     lower-case with a space between bytes (od -An -tx1 of a value of 16
//     bytes or fewer, Go's "% x", Python's hex(" ")); and as xxd -p prints
//     it, wrapped at 60 characters, with "\n" and "\r\n" line breaks
//   - url: percent-encoded as url.QueryEscape (space as "+"), url.PathEscape,
//     RFC 3986 (only A-Z a-z 0-9 - . _ ~ left as they are, space as "%20":
//     Python's urllib.parse.quote(v, safe="")) and JavaScript's
//     encodeURIComponent (which also leaves ! ' ( ) * as they are), and as
//     the password of a URL is written by Python's quote(v) (which leaves
//     '/' as it is), by Node's URL (the URL Standard's userinfo set) and by
//     Go's url.UserPassword, and as JavaScript's encodeURI writes it in a
//     whole URL, each with upper- and lower-case hex digits
//   - json: the inside of a JSON string, with and without HTML escaping,
//     as ward's json template function writes it (DEL and C1 controls as
//     "\uXXXX"), and ASCII-only (every non-ASCII rune and DEL as "\uXXXX", a rune
//     outside the BMP as a surrogate pair: Python's json.dumps by default,
//     Jackson's ESCAPE_NON_ASCII), with lower- and upper-case hex digits;
//     with each '/' as "\/", as PHP's json_encode writes it, ASCII-only
//     (its default) or not (JSON_UNESCAPED_UNICODE); and with '=' and "'"
//     HTML-escaped too, as Java's Gson writes it by default (valid UTF-8
//     only)
//   - shell: the inside of a double-quoted string with '\', '"' and '$'
//     escaped by a backslash, as a .env file writes it, and '`' too, as a
//     shell script does; the inside of a single-quoted one, each ' closed,
//     escaped and reopened (ward's shell function, bash's set -x, ${v@Q})
//     or closed, double-quoted and reopened (Python's shlex.quote); and as
//     bash's printf %q writes it, a backslash before each character the
//     shell would take for syntax
//   - quoted: the inside of a string literal with '\' and control
//     characters escaped as in JSON, and neither quote escaped (Node's
//     util.inspect in backticks, Python's repr of a value with one kind
//     of quote) or "'" escaped (Python's repr of a value with both
//     kinds, util.inspect in single quotes, bash's $'...'), valid UTF-8
//     only; and the value with each "'" doubled, as SQL and YAML write
//     it in single quotes, or each '"' doubled, as CSV writes it in
//     double quotes; for a value with a byte from DEL up or a control
//     character, as Python's repr writes its bytes (b'p\xc3\xa4ss', "'"
//     escaped or not) and, valid UTF-8, as PyYAML writes it in double
//     quotes by default ("p\xE4ss", a line PyYAML does not fold)
//   - html: '&', '<' and '>' as "&amp;", "&lt;" and "&gt;", and quotes
//     left as they are (xml.sax.saxutils.escape) or as Python's
//     html.escape, MarkupSafe (Jinja), Go's html and encoding/xml, PHP's
//     htmlspecialchars (with and without ENT_QUOTES) and the XML
//     entities write them (see htmlEscapers)
//   - line: each line of a multi-line value, trimmed of spaces, tabs and
//     "\r", that holds key material or a token; not the PEM armour, short
//     lines or a config document's structure (see lineForms)
//
// Values shorter than MinLen give no forms.
func FormsOf(value []byte) []Form {
	if len(value) < MinLen {
		return nil
	}
	var fs formSet
	variants := [][]byte{value}
	// A program trims what it was given (`echo $TOKEN` unquoted, a config
	// library's TrimSpace) and prints what is left: that is the secret too.
	trimmed := false
	if t := bytes.TrimSpace(value); len(t) != len(value) && len(t) >= MinLen {
		variants = append(variants, t)
		trimmed = true
	}
	for _, v := range variants {
		// Its line ends as it was stored, with Unix's, with Windows',
		// and each as a terminal shows it (see onlcr): a value read from
		// a file saved on Windows and printed by a program that reads
		// text (Python's open) with "\n", a Unix value printed with
		// "\r\n", on a pseudo-terminal "\r\r\n", came out in clear.
		for _, e := range [][]byte{v, toLF(v), toCRLF(v)} {
			if e != nil {
				fs.add(Plain, e)
				if tty := onlcr(e); tty != nil {
					fs.add(Plain, tty)
				}
			}
		}
	}
	if len(value) <= lineEndsMax {
		// And in every form below: such a value printed as JSON
		// (json.dumps of the file read as text) came out in clear.
		for _, v := range slices.Clone(variants) {
			for _, e := range [][]byte{toLF(v), toCRLF(v)} {
				if e != nil {
					variants = append(variants, e)
				}
			}
		}
	}
	for _, v := range variants {
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			fs.add(Base64, []byte(enc.EncodeToString(v)))
		}
		for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
			for shift := range 3 {
				if f := shiftedBase64(enc, v, shift); len(f) >= minFragmentLen {
					fs.add(Base64, f)
				}
			}
		}
		// The characters the value alone decides, too: when more
		// follows it (`echo "$TOKEN" | base64` encodes echo's newline),
		// the last ones differ. The same as std for a length that is a
		// multiple of 3: the set drops them then.
		std := base64.StdEncoding.EncodeToString(v)
		own := string(shiftedBase64(base64.RawStdEncoding, v, 0))
		for _, width := range base64LineWidths {
			for _, enc := range []string{std, own} {
				if len(enc) > width {
					wrapped := wrapLines(enc, width)
					fs.add(Base64, wrapped)
					fs.add(Base64, toCRLF(wrapped))
				}
			}
		}
	}
	for _, v := range variants {
		lower := hex.EncodeToString(v)
		fs.add(Hex, []byte(lower))
		fs.add(Hex, []byte(strings.ToUpper(lower)))
		fs.add(Hex, spacedHex(v))
		if len(lower) > xxdWidth {
			wrapped := wrapLines(lower, xxdWidth)
			fs.add(Hex, wrapped)
			fs.add(Hex, toCRLF(wrapped))
		}
	}
	for _, v := range variants {
		for _, f := range percentForms(v) {
			fs.add(URL, f)
			fs.add(URL, lowerHex(f))
		}
	}
	for _, v := range variants {
		if !utf8.Valid(v) {
			continue
		}
		for _, html := range []bool{true, false} {
			fs.add(JSON, jsonInside(v, html))
		}
		// Equal to the HTML-escaped form above unless v holds DEL, a C1
		// control or U+FFFE/U+FFFF: the set drops it then.
		fs.add(JSON, jsonTemplate(v))
		// Equal to the form above for most values (ASCII without DEL or
		// rarer control characters): the set drops it then.
		for _, hex := range []string{lowerHexDigits, upperHexDigits} {
			fs.add(JSON, jsonASCII(v, hex))
		}
		// The three below are equal to a form above for a value without
		// '/', '=' or "'": the set drops them then.
		if bytes.IndexByte(v, '/') >= 0 {
			for _, f := range [][]byte{jsonASCII(v, lowerHexDigits), jsonInside(v, false)} {
				fs.add(JSON, bytes.ReplaceAll(f, []byte("/"), []byte(`\/`)))
			}
		}
		fs.add(JSON, gsonEscaped(jsonInside(v, true)))
	}
	for _, v := range variants {
		// Equal to the value or to its JSON form for most values (no '$'
		// or '`'): the set drops it then.
		for _, special := range []string{`\"$`, "\\\"$`"} {
			fs.add(Shell, backslashed(v, special))
		}
		// The inside of a single-quoted string, each ' closed, quoted and
		// reopened: as ward's shell template function and bash's xtrace
		// (set -x) write it, and as Python's shlex.quote does. The same
		// as the value when it has no '.
		for _, quote := range []string{`'\''`, `'"'"'`} {
			fs.add(Shell, bytes.ReplaceAll(v, []byte("'"), []byte(quote)))
		}
		fs.add(Shell, printfQ(v))
	}
	for _, v := range variants {
		if !utf8.Valid(v) {
			continue
		}
		// Equal to the JSON form for a value without '"' or "'": the
		// set drops it then.
		unquoted := bytes.ReplaceAll(jsonInside(v, false), []byte(`\"`), []byte(`"`))
		fs.add(Quoted, unquoted)
		fs.add(Quoted, bytes.ReplaceAll(unquoted, []byte("'"), []byte(`\'`)))
	}
	for _, v := range variants {
		for _, q := range []string{"'", `"`} {
			if bytes.Contains(v, []byte(q)) {
				fs.add(Quoted, bytes.ReplaceAll(v, []byte(q), []byte(q+q)))
			}
		}
		if hasEscapedByte(v) {
			for _, quote := range []bool{false, true} {
				fs.add(Quoted, pythonBytes(v, quote))
			}
			if utf8.Valid(v) {
				fs.add(Quoted, yamlDoubleQuoted(v))
			}
		}
		if hasEscapedByte(v) {
			// bash's $'...' (printf %q, declare -p), in a UTF-8 locale
			// and in the C locale (a Docker image's, env -i's), where
			// each byte from DEL up is in octal, é as \303\251.
			fs.add(Quoted, bashQuoted(v, true))
			fs.add(Quoted, bashQuoted(v, false))
		}
		if utf8.Valid(v) && hasEscapedByte(v) {
			// A control character beside a character from U+00A0 up,
			// which some keep as it is (in the forms above, JSON's
			// \u0001 and Python's bytes b'\xc3\xa9', neither wrote it),
			// and others write in ASCII (Go's %+q, Python's ascii()).
			// Most are equal to a form above for most values: the set
			// drops them then.
			for _, l := range literals {
				fs.add(Quoted, l.quote(v, 0))
				if l.quotes != 0 {
					fs.add(Quoted, l.quote(v, l.quotes))
				}
			}
		}
	}
	for _, v := range variants {
		if bytes.ContainsAny(v, `&<>"'`) {
			for _, r := range htmlEscapers() {
				fs.add(HTML, []byte(r.Replace(string(v))))
			}
		}
	}
	for _, l := range lineForms(value) {
		fs.add(Line, l)
	}
	if trimmed {
		// A form that starts or ends with what the value was pasted
		// with (a space, a line break), as it is printed or
		// shell-quoted: the trimmed value's form masks it. As a
		// pattern of its own, every output that ended in a space, or
		// every line's line break, was held back until more came, as
		// its start; and the line break after a value stored with one
		// was taken with it (<ward:TOKEN>next).
		return slices.DeleteFunc(fs.forms, func(f Form) bool { return isSpace(f.Bytes[0]) || isSpace(f.Bytes[len(f.Bytes)-1]) })
	}
	return fs.forms
}

// formSet collects forms in order, dropping repeats.
type formSet struct {
	forms []Form
	seen  map[string]bool
}

func (s *formSet) add(enc Encoding, b []byte) {
	if len(b) < MinLen || s.seen[string(b)] {
		return
	}
	if s.seen == nil {
		s.seen = make(map[string]bool)
	}
	s.seen[string(b)] = true
	s.forms = append(s.forms, Form{Encoding: enc, Bytes: b})
}

// onlcr returns v as a terminal shows it, each "\n" made "\r\n" (the
// ONLCR output translation), when that differs from toCRLF's, v having
// "\r\n" in it: a value read from a file saved on Windows, printed by a
// child on a pseudo-terminal, came out with "\r\r\n" and in clear.
func onlcr(v []byte) []byte {
	if !bytes.Contains(v, []byte("\r\n")) {
		return nil
	}
	return bytes.ReplaceAll(v, []byte("\n"), []byte("\r\n"))
}

// lineEndsMax bounds the values whose every form is matched with their
// line ends changed too: a key, a config file; not a certificate bundle,
// whose forms are some forty times its size already (three times that
// took memory and start-up for a leak no program was seen to make: a
// bundle's base64 with other line ends).
const lineEndsMax = 16 << 10

// toLF returns v with each "\r\n" made "\n", or nil if it has none.
func toLF(v []byte) []byte {
	if !bytes.Contains(v, []byte("\r\n")) {
		return nil
	}
	return bytes.ReplaceAll(v, []byte("\r\n"), []byte("\n"))
}

// toCRLF returns v with each lone "\n" made "\r\n", or nil if that changes
// nothing.
func toCRLF(v []byte) []byte {
	var out []byte
	changed := false
	for i, c := range v {
		if c == '\n' && (i == 0 || v[i-1] != '\r') {
			out = append(out, '\r')
			changed = true
		}
		out = append(out, c)
	}
	if !changed {
		return nil
	}
	return out
}

// base64LineWidths are the line lengths base64 is wrapped at by the tools
// that print it: coreutils base64 and MIME (RFC 2045) at 76, openssl base64
// and PEM (RFC 7468) at 64.
var base64LineWidths = []int{76, 64}

// wrapLines returns s cut into lines of width characters, joined by "\n"
// (none after the last), as base64 tools print it.
func wrapLines(s string, width int) []byte {
	out := make([]byte, 0, len(s)+len(s)/width)
	for len(s) > width {
		out = append(append(out, s[:width]...), '\n')
		s = s[width:]
	}
	return append(out, s...)
}

// xxdWidth is the line length of xxd -p's hex: 30 bytes a line.
const xxdWidth = 60

// spacedHex returns v in lower-case hex with a space between bytes.
func spacedHex(v []byte) []byte {
	out := make([]byte, 0, 3*len(v))
	for i, c := range v {
		if i > 0 {
			out = append(out, ' ')
		}
		out = append(out, lowerHexDigits[c>>4], lowerHexDigits[c&15])
	}
	return out
}

// shiftedBase64 returns the characters of the base64 encoding of v, placed
// shift bytes into a longer text, that depend on v alone: the characters
// at either end that mix in the neighbouring bytes are cut off.
func shiftedBase64(enc *base64.Encoding, v []byte, shift int) []byte {
	padded := make([]byte, shift+len(v))
	copy(padded[shift:], v)
	s := enc.EncodeToString(padded)
	first := (8*shift + 5) / 6       // first character made only of v's bits
	last := 8 * (shift + len(v)) / 6 // characters before it end within v
	if last <= first {
		return nil
	}
	return []byte(s[first:last])
}

// percentForms returns v percent-encoded in the ways URLs and form bodies
// carry it (see FormsOf), upper-case hex.
func percentForms(v []byte) [][]byte {
	return [][]byte{
		[]byte(url.QueryEscape(string(v))),
		[]byte(url.PathEscape(string(v))),
		percentEncode(v, rfc3986Unreserved),
		percentEncode(v, uriComponentUnreserved),
		percentEncode(v, pythonQuoteSafe),
		percentEncode(v, whatwgUserinfoSafe),
		percentEncode(v, goUserinfoSafe),
		percentEncode(v, uriSafe),
	}
}

// The bytes left as they are by RFC 3986 section 2.3, encodeURIComponent,
// Python's urllib.parse.quote (safe="/", its default), the URL Standard's
// userinfo percent-encode set (Node's and browsers' URL, setting username
// or password), Go's url.UserPassword and encodeURI (for a whole URL).
// Each set is the bytes besides ASCII letters and digits; strings, not
// tables, so that no ward start builds them (forms are made only for a
// run that masks).
const (
	rfc3986Unreserved      = "-._~"
	uriComponentUnreserved = "-._~!'()*"
	pythonQuoteSafe        = "-._~/"
	whatwgUserinfoSafe     = "-._~!$%&'()*+,"
	goUserinfoSafe         = "-._~$&+,;="
	uriSafe                = "-._~!'()*;/?:@&=+$,#"
)

// percentEncode writes every byte of v but ASCII letters, digits and the
// bytes of keep as "%XX".
func percentEncode(v []byte, keep string) []byte {
	const hex = upperHexDigits
	out := make([]byte, 0, len(v)*3)
	for _, c := range v {
		if isAlnum(c) || strings.IndexByte(keep, c) >= 0 {
			out = append(out, c)
		} else {
			out = append(out, '%', hex[c>>4], hex[c&15])
		}
	}
	return out
}

// lowerHex returns the percent-encoded f with lower-case hex digits, as some
// encoders write them.
func lowerHex(f []byte) []byte {
	out := bytes.Clone(f)
	for i := 0; i+2 < len(out); i++ {
		if out[i] == '%' {
			out[i+1], out[i+2] = toLower(out[i+1]), toLower(out[i+2])
			i += 2
		}
	}
	return out
}

func toLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// backslashed returns v with a backslash before each byte of special.
func backslashed(v []byte, special string) []byte {
	if !bytes.ContainsAny(v, special) {
		// Most values: no copy for the set to drop as a duplicate.
		return v
	}
	out := make([]byte, 0, len(v)+8)
	for _, c := range v {
		if strings.IndexByte(special, c) >= 0 {
			out = append(out, '\\')
		}
		out = append(out, c)
	}
	return out
}

// printfQ returns v as bash's printf %q writes it (bash 5.2): a backslash
// before each character the shell would take for syntax, '#' and '~' only
// where they would be. A value with a control character it writes as
// $'...', the quoted form; nil then.
func printfQ(v []byte) []byte {
	out := make([]byte, 0, len(v)+8)
	for i, c := range v {
		switch {
		case c < 0x20 || c == 0x7f:
			return nil
		case strings.IndexByte(" !\"$&'()*,;<>?[\\]^`{|}", c) >= 0,
			c == '#' && i == 0,
			c == '~' && (i == 0 || v[i-1] == '=' || v[i-1] == ':'):
			out = append(out, '\\')
		}
		out = append(out, c)
	}
	return out
}

// jsonInside returns v as it appears between the quotes of a JSON string.
func jsonInside(v []byte, escapeHTML bool) []byte {
	var b bytes.Buffer
	e := json.NewEncoder(&b)
	e.SetEscapeHTML(escapeHTML)
	// A string always encodes; the error is for other types.
	_ = e.Encode(string(v))
	out := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	return out[1 : len(out)-1]
}

// jsonTemplate returns v as ward's json template function writes it
// between the quotes (TemplateJSON): as jsonInside with HTML escaping, but
// DEL, the C1 controls, U+FFFE and U+FFFF as "\u" and four lower-case hex
// digits. json.Marshal writes those raw, which YAML refuses (PyYAML:
// "unacceptable character") or, for NEL (U+0085), reads as a line break
// folded to a space, and TOML refuses DEL; both read \uXXXX as the
// character, and a config file in YAML or TOML is rendered with json too.
func jsonTemplate(v []byte) []byte {
	in := jsonInside(v, true)
	out := make([]byte, 0, len(in))
	for _, r := range string(in) {
		if r >= 0x7f && r <= 0x9f || r == 0xfffe || r == 0xffff {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = utf8.AppendRune(out, r)
		}
	}
	return out
}

// TemplateJSON is v as the manifest's json template function writes it: a
// quoted JSON string that reads the same as a YAML double-quoted scalar
// and a TOML basic string (see jsonTemplate). The function is this one, so
// that what a child prints of a rendered file is a form --mask knows. v is
// valid UTF-8 (the function refuses any other).
func TemplateJSON(v []byte) []byte {
	return append(append([]byte{'"'}, jsonTemplate(v)...), '"')
}

// htmlEscapers write '&', '<', '>' and the quotes as the HTML and XML
// escapers do: each with its own references for the quotes. Built on
// first use, so that a run with no such value does not pay for them.
var htmlEscapers = sync.OnceValue(func() []*strings.Replacer {
	var rs []*strings.Replacer
	for _, q := range [][2]string{
		{`"`, "'"},           // xml.sax.saxutils.escape
		{"&quot;", "&#x27;"}, // Python's html.escape
		{"&#34;", "&#39;"},   // MarkupSafe, Go's html and encoding/xml
		{"&quot;", "&#039;"}, // PHP's htmlspecialchars (ENT_QUOTES, PHP 8.1's default)
		{"&quot;", "'"},      // htmlspecialchars with ENT_COMPAT, an XML attribute
		{"&quot;", "&apos;"}, // the XML entities
	} {
		rs = append(rs, strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, q[0], "'", q[1]))
	}
	return rs
})

// hasEscapedByte reports whether v has a control character or a byte from
// DEL up, which Python's bytes and PyYAML write escaped.
func hasEscapedByte(v []byte) bool {
	for _, c := range v {
		if c < 0x20 || c >= 0x7f {
			return true
		}
	}
	return false
}

// literal is how a language writes a string between its quotes for a
// programmer to read: '\' and (given) a quote with a backslash before
// them, the characters of named by their letter, the other characters
// escape takes as it writes them, the rest as they are.
type literal struct {
	named  map[rune]byte
	escape func(r rune) string // "" for a character written as it is
	quotes byte                // the quote it escapes when it quotes with it
}

// escapeUnicode writes r as Python and Go write a character in ASCII:
// \xhh below 0x100 (Go: below 0x80), \uhhhh, \Uhhhhhhhh.
func escapeUnicode(r rune, xBelow rune) string {
	switch {
	case r < xBelow:
		return fmt.Sprintf(`\x%02x`, r)
	case r < 0x10000:
		return fmt.Sprintf(`\u%04x`, r)
	}
	return fmt.Sprintf(`\U%08x`, r)
}

// literals are, in this order, Python's ascii() of a str, Go's %+q,
// Python's repr, Node's util.inspect and Go's %q.
var literals = []literal{
	{named: map[rune]byte{'\t': 't', '\n': 'n', '\r': 'r'}, quotes: '\'', escape: func(r rune) string {
		if r < 0x80 && (unicode.IsPrint(r) || r == ' ') {
			return ""
		}
		return escapeUnicode(r, 0x100)
	}},
	{named: map[rune]byte{'\a': 'a', '\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't', '\v': 'v', '"': '"'}, escape: func(r rune) string {
		if r < 0x80 && (unicode.IsPrint(r) || r == ' ') {
			return ""
		}
		return escapeUnicode(r, 0x80)
	}},
	{named: map[rune]byte{'\t': 't', '\n': 'n', '\r': 'r'}, quotes: '\'', escape: func(r rune) string {
		if unicode.IsPrint(r) || r == ' ' {
			return ""
		}
		return escapeUnicode(r, 0x100)
	}},
	{named: map[rune]byte{'\b': 'b', '\t': 't', '\n': 'n', '\f': 'f', '\r': 'r'}, quotes: '\'', escape: func(r rune) string {
		if r < 0x20 || r >= 0x7f && r <= 0x9f {
			return fmt.Sprintf(`\x%02X`, r)
		}
		return ""
	}},
	{named: map[rune]byte{'\a': 'a', '\b': 'b', '\f': 'f', '\n': 'n', '\r': 'r', '\t': 't', '\v': 'v', '"': '"'}, escape: func(r rune) string {
		if unicode.IsPrint(r) || r == ' ' {
			return ""
		}
		return escapeUnicode(r, 0x80)
	}},
}

// bashQuoted returns v as bash's printf %q and declare -p write it
// between $' and ': the characters with a letter of their own by it
// (\E for ESC), a single quote and a backslash after a backslash, each
// byte of any other character that is not printable in octal; in a UTF-8
// locale (utf8Locale) the printable characters from U+00A0 up as they
// are, in the C locale in octal too.
func bashQuoted(v []byte, utf8Locale bool) []byte {
	out := make([]byte, 0, 2*len(v))
	for i := 0; i < len(v); {
		r, size := rune(v[i]), 1
		if utf8Locale {
			r, size = utf8.DecodeRune(v[i:])
		}
		switch {
		case r < 0x80 && strings.ContainsRune("\a\b\t\n\v\f\r", r):
			out = append(out, '\\', "abtnvfr"[strings.IndexRune("\a\b\t\n\v\f\r", r)])
		case r == 0x1b:
			out = append(out, `\E`...)
		case r == '\'' || r == '\\':
			out = append(out, '\\', byte(r))
		case utf8Locale && r >= 0x80 && r != utf8.RuneError && unicode.IsPrint(r):
			out = append(out, v[i:i+size]...)
		case r < 0x20 || r >= 0x7f:
			for _, c := range v[i : i+size] {
				out = fmt.Appendf(out, `\%03o`, c)
			}
		default:
			out = append(out, v[i])
		}
		i += size
	}
	return out
}

// quote returns the valid UTF-8 v as l writes it, with quote (if not 0)
// escaped too.
func (l literal) quote(v []byte, quote byte) []byte {
	out := make([]byte, 0, len(v)+16)
	for _, r := range string(v) {
		if c, ok := l.named[r]; ok {
			out = append(out, '\\', c)
			continue
		}
		if r == '\\' || quote != 0 && r == rune(quote) {
			out = append(out, '\\', byte(r))
		} else if e := l.escape(r); e != "" {
			out = append(out, e...)
		} else {
			out = utf8.AppendRune(out, r)
		}
	}
	return out
}

// pythonBytes returns v as Python's repr of bytes writes it between the
// quotes: '\' and, with quote, "'" escaped by a backslash, tab, newline
// and carriage return as \t, \n and \r, other bytes outside printable
// ASCII as \xhh.
func pythonBytes(v []byte, quote bool) []byte {
	out := make([]byte, 0, 2*len(v))
	for _, c := range v {
		switch {
		case c == '\\' || c == '\'' && quote:
			out = append(out, '\\', c)
		case c == '\t':
			out = append(out, `\t`...)
		case c == '\n':
			out = append(out, `\n`...)
		case c == '\r':
			out = append(out, `\r`...)
		case c < 0x20 || c >= 0x7f:
			out = append(out, '\\', 'x', lowerHexDigits[c>>4], lowerHexDigits[c&15])
		default:
			out = append(out, c)
		}
	}
	return out
}

// yamlEscape returns the short escape PyYAML writes for r in a
// double-quoted scalar, if it has one.
func yamlEscape(r rune) (string, bool) {
	switch r {
	case 0:
		return `\0`, true
	case 0x07:
		return `\a`, true
	case 0x08:
		return `\b`, true
	case '\t':
		return `\t`, true
	case '\n':
		return `\n`, true
	case 0x0b:
		return `\v`, true
	case 0x0c:
		return `\f`, true
	case '\r':
		return `\r`, true
	case 0x1b:
		return `\e`, true
	case '"':
		return `\"`, true
	case '\\':
		return `\\`, true
	case 0x85:
		return `\N`, true
	case 0xa0:
		return `\_`, true
	case 0x2028:
		return `\L`, true
	case 0x2029:
		return `\P`, true
	}
	return "", false
}

// yamlDoubleQuoted returns the valid UTF-8 v as PyYAML writes it in a
// double-quoted scalar by default (allow_unicode off): printable ASCII as
// it is but for '"' and '\', the short escapes, and every other rune as
// \xHH, \uHHHH or \UHHHHHHHH.
func yamlDoubleQuoted(v []byte) []byte {
	out := make([]byte, 0, 2*len(v))
	for _, r := range string(v) {
		switch e, ok := yamlEscape(r); {
		case ok:
			out = append(out, e...)
		case r >= 0x20 && r <= 0x7e:
			out = append(out, byte(r))
		case r <= 0xff:
			out = fmt.Appendf(out, `\x%02X`, r)
		case r <= 0xffff:
			out = fmt.Appendf(out, `\u%04X`, r)
		default:
			out = fmt.Appendf(out, `\U%08X`, r)
		}
	}
	return out
}

// gsonEscaped escapes, in a JSON string's inside that Go has HTML-escaped
// ('<', '>', '&'), the two more characters Gson's HTML-safe default
// escapes.
func gsonEscaped(in []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(in, []byte("="), []byte(`\u003d`)), []byte("'"), []byte(`\u0027`))
}

// jsonASCII returns v as it appears between the quotes of a JSON string
// written in ASCII only, as Python's json.dumps (ensure_ascii, the
// default) writes it: every rune from DEL up as "\u" and four digits of
// hex, a rune outside the BMP as its UTF-16 surrogate pair; the rest as
// jsonInside without HTML escaping writes it (Python's escapes agree), its
// "\u00XX" escapes in hex's case too.
func jsonASCII(v []byte, hex string) []byte {
	in := jsonInside(v, false)
	out := make([]byte, 0, len(in)+len(in)/2)
	escape := func(r rune) {
		out = append(out, '\\', 'u', hex[r>>12&15], hex[r>>8&15], hex[r>>4&15], hex[r&15])
	}
	for i := 0; i < len(in); {
		c := in[i]
		switch {
		case c == '\\' && in[i+1] == 'u':
			// Go's own escape of a control character or U+2028/U+2029:
			// four hex digits, lower case.
			var r rune
			for _, d := range in[i+2 : i+6] {
				r = r<<4 | rune(unhex(d))
			}
			escape(r)
			i += 6
		case c == '\\':
			out = append(out, c, in[i+1])
			i += 2
		case c < 0x7f:
			out = append(out, c)
			i++
		default:
			r, n := utf8.DecodeRune(in[i:])
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				escape(r1)
				escape(r2)
			} else {
				escape(r)
			}
			i += n
		}
	}
	return out
}

// The hex digits of escapes, in either case.
const (
	lowerHexDigits = "0123456789abcdef"
	upperHexDigits = "0123456789ABCDEF"
)

func unhex(d byte) byte {
	switch {
	case '0' <= d && d <= '9':
		return d - '0'
	case 'a' <= d && d <= 'f':
		return d - 'a' + 10
	}
	return d - 'A' + 10
}

// isSpace is whether c is one of the bytes bytes.TrimSpace takes off
// (ASCII white space).
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}
