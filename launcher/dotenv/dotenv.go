// Package dotenv reads .env files for `ward import`. It is hand-written
// on purpose: the values are secrets, so the parser must never put any
// part of one in an error, a warning or a log line (the common dotenv
// libraries quote the offending text), must not expand ${VAR} (which would
// read ward's own environment into the store), and must keep track of the
// line of each variable for messages that name lines, not values.
package dotenv

import (
	"bytes"
	"fmt"
	"unicode"

	"github.com/wardsecrets/ward/resolve"
)

// Pair is one variable read from a dotenv file. Value is a secret:
// it never goes into an error, a warning or a log line.
type Pair struct {
	Key   string
	Value []byte
	// Line is where the variable was (last) set.
	Line int
}

// Warning is something a dotenv file does that ward accepts but the
// user should know about. It names a variable, never a value.
type Warning struct {
	Line int
	Key  string
	Msg  string
}

func (w Warning) String() string {
	return fmt.Sprintf("line %d: %s: %s", w.Line, w.Key, w.Msg)
}

// Error is a syntax error in a dotenv file. Msg is always one of the
// fixed messages below and Key, when set, is a valid variable name read
// from the file's key position: an error never carries any part of a value.
type Error struct {
	Line int
	Key  string
	Msg  string
	// Hint, when set, says how to fix what Msg names.
	Hint string
}

func (e *Error) Error() string {
	if e.Key != "" {
		return fmt.Sprintf("line %d: %s: %s", e.Line, e.Key, e.Msg)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// The only messages an Error carries, and the warnings.
const (
	msgNoEquals       = "expected KEY=VALUE"
	msgNameAlone      = "a name without '=': docker compose's env_file passes such a variable on from its own environment, which ward import cannot store"
	hintNameAlone     = `a name alone: delete the line, ward run passes its environment on as compose did (unless ward.yaml's inherit: leaves it out), or write NAME= for an empty value; a line of a value of several lines: quote the value, KEY="..."`
	msgBadName        = "invalid variable name (names are letters, digits and '_', not starting with a digit)"
	hintBadName       = `rename the variable, as the program may read it too: spring.datasource.url or my-key as SPRING_DATASOURCE_URL or MY_KEY (Spring Boot reads that form); a line of a value of several lines: quote the value, KEY="..."`
	msgUnterminatedSQ = "unterminated single quote"
	msgUnterminatedDQ = "unterminated double quote"
	msgUnterminatedBQ = "unterminated backtick quote"
	msgTextAfterQuote = "unexpected text after the closing quote"
	msgJoined         = "quoted strings side by side are joined into one value, as sh joins them (chamber env writes a ' so, as '\"'\"'); the npm dotenv package, python-dotenv and docker compose do not read this line so"
	msgNUL            = "the value contains a NUL byte, which no environment variable can hold"
	msgJSONArray      = "a JSON array, not an object of names and values"
	hintJSONArray     = `import a JSON object, {"NAME": "value", ...}, or a dotenv file of NAME=value lines`
	hintNUL           = "store binary data (a keystore) with ward local set NAME < FILE, and give it to the program as a file (files: in the manifest)"
	msgUTF16          = "the file is UTF-16 text, which no dotenv reader reads (the npm dotenv package finds no variable in it, python-dotenv stops)"
	hintUTF16         = "save it as UTF-8: Windows PowerShell's > and Out-File write UTF-16; use Set-Content -Encoding utf8, or an editor's Save As"
	msgEscapes        = `\\, \", \t and \$ in double quotes are read as docker compose and sh read them (python-dotenv too, but for \$), \! and \` + "`" + ` as godotenv reads them (chamber export writes them); the npm dotenv package keeps the backslash, so a Node.js program was given it`
	msgDuplicate      = "set again (before on line %d); the last value wins"
	msgExpand         = "$NAME and ${...} are not expanded: ward stores the text as written (compose values with a template in ward.yaml)"
	msgDollars        = "$$ is stored as written, two characters: docker compose reads it as one $ (and a $NAME after it as text), so a program that had the value through compose had one $ there; set it with ward local set if that is the value"
	msgHashInValue    = "'#' without a space before it is kept in the value, as python-dotenv, docker compose and sh read it; the npm dotenv package and node --env-file end the value at it, so a Node.js program was given only the text before it"
)

// Parse reads a dotenv file: KEY=VALUE lines with an optional
// `export ` prefix and spaces around '='; '#' comment lines, and ' #'
// comments after unquoted values; single-quoted and backtick-quoted
// values (literal) and double-quoted values (escapes \n \r \t \\ \" \$ \! \`),
// all of which may span lines; empty values; CRLF or CR line ends and a UTF-8 BOM
// (a UTF-16 file is refused, saying so). A variable set twice
// keeps its first place and its last value, with a warning. Values are
// never expanded. The first syntax error stops the parse. A file that
// is a JSON object is read as one (see parseJSON).
func Parse(data []byte) ([]Pair, []Warning, error) {
	// Its byte order mark, either way round; without one, its key would
	// be refused as a name with NUL bytes in it.
	if bytes.HasPrefix(data, []byte("\xff\xfe")) || bytes.HasPrefix(data, []byte("\xfe\xff")) {
		return nil, nil, &Error{Line: 1, Msg: msgUTF16, Hint: hintUTF16}
	}
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if looksLikeJSON(data) {
		return parseJSON(data)
	}
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '[' {
		// No dotenv line starts with '[' either: a JSON array (of a
		// store's entries, `aws ssm get-parameters-by-path`'s list).
		return nil, nil, &Error{Line: 1 + bytes.Count(data[:len(data)-len(t)], []byte("\n")), Msg: msgJSONArray, Hint: hintJSONArray}
	}
	if bytes.IndexByte(data, '\r') >= 0 {
		data = lineFeeds(data)
		// The copy holds the values too.
		defer clear(data)
	}
	p := &parser{data: data, line: 1}
	var pairs []Pair
	index := map[string]int{}
	for {
		key, value, line, expands, err := p.next()
		if err != nil {
			return nil, nil, err
		}
		if key == "" {
			break
		}
		switch {
		case expands && p.dollars:
			p.warns = append(p.warns, Warning{Line: line, Key: key, Msg: msgDollars})
		case expands:
			p.warns = append(p.warns, Warning{Line: line, Key: key, Msg: msgExpand})
		}
		if i, ok := index[key]; ok {
			p.warns = append(p.warns, Warning{Line: line, Key: key, Msg: fmt.Sprintf(msgDuplicate, pairs[i].Line)})
			clear(pairs[i].Value)
			pairs[i].Value, pairs[i].Line = value, line
			continue
		}
		index[key] = len(pairs)
		pairs = append(pairs, Pair{Key: key, Value: value, Line: line})
	}
	return pairs, p.warns, nil
}

// lineFeeds returns a copy of data with each CRLF and each lone CR made
// one LF, as the npm dotenv package and python-dotenv (a text file's
// universal newlines) read a file: a file saved with CR line ends holds
// one variable per line, not one variable with every line in its value,
// and a CR inside quotes reaches the program as an LF.
func lineFeeds(data []byte) []byte {
	out := make([]byte, 0, len(data))
	for i := 0; i < len(data); i++ {
		if data[i] != '\r' {
			out = append(out, data[i])
			continue
		}
		out = append(out, '\n')
		if i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
	}
	return out
}

type parser struct {
	data  []byte
	pos   int
	line  int
	warns []Warning
	// joined is the line of the variable whose quoted strings side by
	// side were last warned of.
	joined int
	// dollars is set when the value being read has a $$ as written, not
	// of an escaped \$ and a $ after it.
	dollars bool
}

// next returns the next variable, or an empty key at the end of the file.
func (p *parser) next() (key string, value []byte, line int, expands bool, err error) {
	for p.pos < len(p.data) {
		p.skipBlanks()
		if p.pos >= len(p.data) {
			break
		}
		switch p.data[p.pos] {
		case '\n':
			p.pos++
			p.line++
			continue
		case '#':
			p.skipLine()
			continue
		}
		return p.assignment()
	}
	return "", nil, 0, false, nil
}

func (p *parser) assignment() (key string, value []byte, line int, expands bool, err error) {
	line = p.line
	p.dollars = false
	rest := p.data[p.pos:]
	if nl := bytes.IndexByte(rest, '\n'); nl >= 0 {
		rest = rest[:nl]
	}
	eq := bytes.IndexByte(rest, '=')
	if eq < 0 {
		// docker compose's env_file (and a shell's `export NAME`): a
		// name alone passes the variable of the environment on.
		alone := bytes.TrimFunc(rest, unicode.IsSpace)
		if after, ok := bytes.CutPrefix(alone, []byte("export")); ok && len(after) > 0 && (after[0] == ' ' || after[0] == '\t') {
			alone = bytes.TrimLeft(after, " \t")
		}
		if resolve.ValidEnvName(string(alone)) {
			return "", nil, line, false, &Error{Line: line, Msg: msgNameAlone, Hint: hintNameAlone}
		}
		return "", nil, line, false, &Error{Line: line, Msg: msgNoEquals}
	}
	name := bytes.TrimRight(rest[:eq], " \t")
	if after, ok := bytes.CutPrefix(name, []byte("export")); ok && len(after) > 0 && (after[0] == ' ' || after[0] == '\t') {
		name = bytes.TrimLeft(after, " \t")
	}
	// The text before '=' is not known to be a name until it validates: a
	// stray line of a multi-line value could sit there, so it stays out
	// of the error.
	if !resolve.ValidEnvName(string(name)) {
		return "", nil, line, false, &Error{Line: line, Msg: msgBadName, Hint: hintBadName}
	}
	key = string(name)
	p.pos += eq + 1
	valueStart := p.pos
	p.skipBlanks()
	if p.pos < len(p.data) {
		switch p.data[p.pos] {
		case '\'':
			value, err = p.literalQuoted(key, line, '\'', msgUnterminatedSQ)
		case '`':
			// As the dotenv library (motdotla) reads it: literal, like
			// single quotes.
			value, err = p.literalQuoted(key, line, '`', msgUnterminatedBQ)
		case '"':
			value, expands, err = p.doubleQuoted(key, line)
		default:
			value, expands = p.unquoted(key, line, p.pos > valueStart)
		}
	} else {
		value = []byte{}
	}
	if err != nil {
		return "", nil, line, false, err
	}
	if bytes.IndexByte(value, 0) >= 0 {
		clear(value)
		return "", nil, line, false, &Error{Line: line, Key: key, Msg: msgNUL, Hint: hintNUL}
	}
	return key, value, line, expands, nil
}

// unquoted reads a value up to the end of the line or a '#' that follows
// a space or tab (afterBlank: blanks came before the value), without the
// white space around it. A '#' kept in the value is warned of: the readers of
// the Node.js world end the value at any '#', so a program may have been
// given less than ward stores.
func (p *parser) unquoted(key string, line int, afterBlank bool) ([]byte, bool) {
	start := p.pos
	end := start
	hash := false
	for end < len(p.data) && p.data[end] != '\n' {
		if p.data[end] == '#' {
			if end == start && afterBlank || end > start && (p.data[end-1] == ' ' || p.data[end-1] == '\t') {
				break
			}
			hash = true
		}
		end++
	}
	if hash {
		p.warns = append(p.warns, Warning{Line: line, Key: key, Msg: msgHashInValue})
	}
	// Unicode's spaces too (a no-break space pasted from a web page), as
	// JavaScript's trim() and Python's strip() drop them: the npm dotenv
	// package and python-dotenv gave the program the value without them.
	raw := bytes.TrimFunc(p.data[start:end], unicode.IsSpace)
	p.pos = end
	p.skipLine()
	expands := false
	for i := range raw {
		expands = expands || raw[i] == '$' && startsExpansion(raw[i+1:])
	}
	p.dollars = p.dollars || bytes.Contains(raw, []byte("$$"))
	return bytes.Clone(raw), expands
}

// startsExpansion reports whether rest, what follows a '$', makes it an
// expansion as dotenv-expand and docker compose read one: ${...}, or
// $NAME (a letter or '_' first).
func startsExpansion(rest []byte) bool {
	if len(rest) == 0 {
		return false
	}
	c := rest[0]
	// $$ too: docker compose reads it as one $ (see msgDollars).
	return c == '{' || c == '_' || c == '$' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z'
}

// literalQuoted reads a value between quote characters (' or `), taken
// as it is.
func (p *parser) literalQuoted(key string, line int, quote byte, unterminated string) ([]byte, error) {
	start := p.pos + 1
	end := bytes.IndexByte(p.data[start:], quote)
	if end < 0 {
		return nil, &Error{Line: line, Key: key, Msg: unterminated}
	}
	value := bytes.Clone(p.data[start : start+end])
	p.line += bytes.Count(value, []byte("\n"))
	p.pos = start + end + 1
	// sh joins a single-quoted string to the next, not a backtick's.
	join := &value
	if quote != '\'' {
		join = nil
	}
	if err := p.afterQuote(key, line, join, nil); err != nil {
		clear(value)
		return nil, err
	}
	return value, nil
}

func (p *parser) doubleQuoted(key string, line int) ([]byte, bool, error) {
	value := []byte{}
	expands, escaped := false, false
	i := p.pos + 1
	lines := 0
	for ; i < len(p.data); i++ {
		c := p.data[i]
		switch c {
		case '"':
			p.line += lines
			p.pos = i + 1
			if err := p.afterQuote(key, line, &value, &expands); err != nil {
				clear(value)
				return nil, false, err
			}
			if escaped {
				p.warns = append(p.warns, Warning{Line: line, Key: key, Msg: msgEscapes})
			}
			return value, expands, nil
		case '\\':
			if i+1 < len(p.data) {
				if e, ok := escapes[p.data[i+1]]; ok {
					// The npm dotenv package reads \n and \r alone.
					escaped = escaped || p.data[i+1] != 'n' && p.data[i+1] != 'r'
					value = append(value, e)
					i++
					continue
				}
			}
		case '$':
			if startsExpansion(p.data[i+1:]) {
				expands = true
			}
			p.dollars = p.dollars || i+1 < len(p.data) && p.data[i+1] == '$'
		case '\n':
			lines++
		}
		value = append(value, c)
	}
	clear(value)
	return nil, false, &Error{Line: line, Key: key, Msg: msgUnterminatedDQ}
}

// escapes are the escapes a double-quoted value understands; any
// other backslash is kept as written. \! and \` are how `chamber export
// --format dotenv` and godotenv's Marshal write '!' and '`' (godotenv
// reads them back so, as sh reads \`): a password ending in '!' kept the
// backslash.
var escapes = map[byte]byte{'n': '\n', 'r': '\r', 't': '\t', '\\': '\\', '"': '"', '$': '$', '!': '!', '`': '`'}

// afterQuote accepts only blanks and a comment after a closing quote,
// or, right after it and when value is not nil, another quoted string,
// which sh joins to it: `chamber env` (shellescape) writes a ' as
// '"'"', as in export PW='it'"'"'s'; the second string is appended to
// *value.
func (p *parser) afterQuote(key string, line int, value *[]byte, expands *bool) error {
	if value != nil && p.pos < len(p.data) && (p.data[p.pos] == '\'' || p.data[p.pos] == '"') {
		var more []byte
		var err error
		if p.joined != line {
			p.joined = line
			p.warns = append(p.warns, Warning{Line: line, Key: key, Msg: msgJoined})
		}
		if p.data[p.pos] == '\'' {
			more, err = p.literalQuoted(key, line, '\'', msgUnterminatedSQ)
		} else {
			var exp bool
			more, exp, err = p.doubleQuoted(key, line)
			if expands != nil {
				*expands = *expands || exp
			}
		}
		if err != nil {
			return err
		}
		*value = append(*value, more...)
		clear(more)
		return nil
	}
	p.skipBlanks()
	if p.pos < len(p.data) && p.data[p.pos] != '\n' && p.data[p.pos] != '#' {
		return &Error{Line: p.line, Key: key, Msg: msgTextAfterQuote}
	}
	p.skipLine()
	return nil
}

func (p *parser) skipBlanks() {
	for p.pos < len(p.data) && (p.data[p.pos] == ' ' || p.data[p.pos] == '\t') {
		p.pos++
	}
}

// skipLine moves past the end of the current line.
func (p *parser) skipLine() {
	nl := bytes.IndexByte(p.data[p.pos:], '\n')
	if nl < 0 {
		p.pos = len(p.data)
		return
	}
	p.pos += nl + 1
	p.line++
}
