package dotenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/wardsecrets/ward/resolve"
)

// The messages of a JSON file's errors, and their hints.
const (
	msgJSONSyntax   = "not valid JSON (ward import reads a dotenv file, or a JSON object of names and values)"
	hintJSONSyntax  = "jq . FILE shows where"
	hintJSONName    = `rename it, or all at once as chamber exec names them: jq 'with_entries(.key |= (gsub("[^A-Za-z0-9_]"; "_") | ascii_upcase))' | ward import -`
	msgJSONNotFlat  = "the value is a JSON object or array, not text: ward import reads a JSON object of names and text values"
	hintJSONNotFlat = "name the object that holds the values with jq: ... | jq '.data' | ward import -"
	msgJSONNull     = "the value is null"
	hintJSONNull    = `give it a value, or "" for an empty one`
	msgJSONVault    = "this is Vault's answer (vault kv get -format=json), not the secret's data"
	hintJSONVault   = "vault kv get -format=json -field=data secret/myapp | ward import -"
	msgJSONAWS      = "this is the answer of aws secretsmanager get-secret-value, not the secret"
	hintJSONAWS     = "aws secretsmanager get-secret-value --secret-id myapp --query SecretString --output text | ward import -"
	msgJSONAzure    = "this is the answer of az keyvault secret show, not the secret"
	hintJSONAzure   = "az keyvault secret show --vault-name VAULT --name NAME --query value --output tsv | ward import -"
	msgJSONGcloud   = "this is the answer of gcloud secrets versions access --format=json, not the secret"
	hintJSONGcloud  = "gcloud secrets versions access latest --secret NAME | ward import - (without --format=json)"
	msgJSONKube     = "this is a Kubernetes Secret (kubectl get secret -o json), whose data is base64, not the secret's values"
	hintJSONKube    = "kubectl get secret NAME -o json | jq '.data | map_values(@base64d)' | ward import -"
	msgJSONLower    = "names with lower-case letters are kept as written, where envconsul and chamber exec upper-case them (DB_PASSWORD); to name the variables as they did: jq 'with_entries(.key |= ascii_upcase)' | ward import -"
)

// IsJSON reports whether Parse reads data as a JSON object.
func IsJSON(data []byte) bool {
	return looksLikeJSON(bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")))
}

// looksLikeJSON reports whether data, without its BOM, is a JSON object:
// no dotenv line starts with '{'.
func looksLikeJSON(data []byte) bool {
	t := bytes.TrimLeft(data, " \t\r\n")
	return len(t) > 0 && t[0] == '{'
}

// parseJSON reads a JSON object of names and values, as `doppler secrets
// download --format json`, `chamber export --format json`, a Secrets
// Manager secret's SecretString and `vault kv get -format=json
// -field=data` write it: string values as they decode, numbers and booleans as
// written. A nested object, an array or null is refused at its line; so
// is the whole answer of `vault kv get -format=json` or `aws
// secretsmanager get-secret-value`, with the command that gives the
// secret's object. As for a dotenv file, no part of a value goes into an
// error, and a name set twice keeps its last value, with a warning.
func parseJSON(data []byte) ([]Pair, []Warning, error) {
	lineAt := func(off int64) int {
		off = min(max(off, 0), int64(len(data)))
		return 1 + bytes.Count(data[:off], []byte("\n"))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	syntax := func(err error) error {
		off := dec.InputOffset()
		if se := (*json.SyntaxError)(nil); errors.As(err, &se) {
			off = se.Offset
		}
		return &Error{Line: lineAt(off), Msg: msgJSONSyntax, Hint: hintJSONSyntax}
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, nil, syntax(err)
	}
	var pairs []Pair
	var warns []Warning
	index := map[string]int{}
	lower := false
	seen := map[string]bool{}
	fail := func(err error) ([]Pair, []Warning, error) {
		for _, p := range pairs {
			clear(p.Value)
		}
		return nil, nil, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail(syntax(err))
		}
		key, _ := tok.(string)
		line := lineAt(dec.InputOffset())
		// The key is named in an error only when it is a name, written
		// as it reads.
		named := ""
		if resolve.ValidEnvName(key) && bytes.Contains(data, []byte(key)) {
			named = key
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fail(syntax(err))
		}
		// kubectl prints apiVersion before data.
		seen[key] = true
		var value []byte
		switch {
		case key == "SecretString" || key == "SecretBinary":
			clear(raw)
			return fail(&Error{Line: line, Msg: msgJSONAWS, Hint: hintJSONAWS})
		case raw[0] == '{' && key == "attributes":
			clear(raw)
			return fail(&Error{Line: line, Msg: msgJSONAzure, Hint: hintJSONAzure})
		case raw[0] == '{' && key == "payload":
			clear(raw)
			return fail(&Error{Line: line, Msg: msgJSONGcloud, Hint: hintJSONGcloud})
		case raw[0] == '{' && key == "data" && seen["apiVersion"]:
			clear(raw)
			return fail(&Error{Line: line, Msg: msgJSONKube, Hint: hintJSONKube})
		case raw[0] == '{' && key == "data":
			clear(raw)
			return fail(&Error{Line: line, Msg: msgJSONVault, Hint: hintJSONVault})
		case raw[0] == '{' || raw[0] == '[':
			clear(raw)
			return fail(&Error{Line: line, Key: named, Msg: msgJSONNotFlat, Hint: hintJSONNotFlat})
		case raw[0] == 'n':
			return fail(&Error{Line: line, Key: named, Msg: msgJSONNull, Hint: hintJSONNull})
		case raw[0] == '"':
			value = unquoteJSON(raw)
			clear(raw)
		default:
			// A number or a boolean, as written: 8080, true.
			value = raw
		}
		if !resolve.ValidEnvName(key) {
			clear(value)
			return fail(&Error{Line: line, Msg: msgBadName, Hint: hintJSONName})
		}
		if bytes.IndexByte(value, 0) >= 0 {
			clear(value)
			return fail(&Error{Line: line, Key: key, Msg: msgNUL, Hint: hintNUL})
		}
		if i, ok := index[key]; ok {
			warns = append(warns, Warning{Line: line, Key: key, Msg: fmt.Sprintf(msgDuplicate, pairs[i].Line)})
			clear(pairs[i].Value)
			pairs[i].Value, pairs[i].Line = value, line
			continue
		}
		if !lower && strings.ToUpper(key) != key {
			// Once: it is said of the file.
			lower = true
			warns = append(warns, Warning{Line: line, Key: key, Msg: msgJSONLower})
		}
		index[key] = len(pairs)
		pairs = append(pairs, Pair{Key: key, Value: value, Line: line})
	}
	if _, err := dec.Token(); err != nil {
		return fail(syntax(err))
	}
	// Nothing but white space after it.
	end := dec.InputOffset()
	if rest := bytes.TrimLeft(data[end:], " \t\r\n"); len(rest) > 0 {
		return fail(&Error{Line: lineAt(int64(len(data) - len(rest))), Msg: msgJSONSyntax, Hint: hintJSONSyntax})
	}
	return pairs, warns, nil
}

// unquoteJSON decodes a JSON string that the decoder has checked, into
// a slice of its own (a Go string would hold the value for as long as
// the garbage collector leaves it).
func unquoteJSON(raw []byte) []byte {
	s := raw[1 : len(raw)-1]
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		i++
		switch s[i] {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r := hex4(s[i+1 : i+5])
			i += 4
			if utf16.IsSurrogate(r) && i+6 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
				if pair := utf16.DecodeRune(r, hex4(s[i+3:i+7])); pair != utf8.RuneError {
					r = pair
					i += 6
				}
			}
			out = utf8.AppendRune(out, r)
		default: // " \ /
			out = append(out, s[i])
		}
	}
	return out
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		}
	}
	return r
}
