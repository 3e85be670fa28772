package dotenv

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/resolve"
)

func TestDotenv(t *testing.T) {
	type kv = [2]string
	tests := []struct {
		name  string
		in    string
		want  []kv
		err   string // the whole error, when the parse must fail
		warns []string
	}{
		{name: "plain", in: "A=1\nB=two\n", want: []kv{{"A", "1"}, {"B", "two"}}},
		{name: "no final newline", in: "A=1", want: []kv{{"A", "1"}}},
		{name: "empty file", in: "", want: nil},
		{name: "export prefix", in: "export A=1\nexport\tB=2\n", want: []kv{{"A", "1"}, {"B", "2"}}},
		{name: "a variable named export", in: "export=1\n", want: []kv{{"export", "1"}}},
		{name: "spaces around equals", in: "A = 1\n  B\t=\t2  \n", want: []kv{{"A", "1"}, {"B", "2"}}},
		{name: "comment lines and blank lines", in: "# a comment\n\n   # indented\nA=1\n\n", want: []kv{{"A", "1"}}},
		{name: "inline comment", in: "A=value # the comment\nB=v\t# tab before\n", want: []kv{{"A", "value"}, {"B", "v"}}},
		{name: "hash without a space is part of the value", in: "A=abc#def\nB=#x\nC=http://h/p#frag # c\nD='p#q'\n", want: []kv{{"A", "abc#def"}, {"B", "#x"}, {"C", "http://h/p#frag"}, {"D", "p#q"}},
			warns: []string{"line 1: A: " + msgHashInValue, "line 2: B: " + msgHashInValue, "line 3: C: " + msgHashInValue}},
		{name: "comment instead of a value", in: "A= # nothing\n", want: []kv{{"A", ""}}},
		{name: "trailing spaces dropped", in: "A=value   \nB=v \t\n", want: []kv{{"A", "value"}, {"B", "v"}}},
		{name: "unicode spaces dropped", in: "A=value\u00a0\nB=\u3000v\u2009\u00a0 # c\nC='\u00a0q\u00a0'\nD=\xff\xa0\n", want: []kv{{"A", "value"}, {"B", "v"}, {"C", "\u00a0q\u00a0"}, {"D", "\xff\xa0"}}},
		{name: "equals inside the value", in: "A=x=y==\nB=\"k=v\"\n", want: []kv{{"A", "x=y=="}, {"B", "k=v"}}},
		{name: "empty values", in: "A=\nB=''\nC=\"\"\nD=", want: []kv{{"A", ""}, {"B", ""}, {"C", ""}, {"D", ""}}},
		{name: "single quotes are literal", in: `A='a\nb $X "q" # not a comment'` + "\n", want: []kv{{"A", `a\nb $X "q" # not a comment`}}},
		{name: "single quotes span lines", in: "A='line1\nline2'\nB=2\n", want: []kv{{"A", "line1\nline2"}, {"B", "2"}}},
		{name: "double quote escapes", in: `A="a\nb\rc\td\\e\"f\$g\qh"` + "\n", want: []kv{{"A", "a\nb\rc\td\\e\"f$g\\qh"}},
			warns: []string{"line 1: A: " + msgEscapes}},
		// As `chamber export --format dotenv` and godotenv's Marshal write
		// '!' and '`', and godotenv reads them.
		{name: "chamber's escapes", in: "A=\"pa\\!ss\\`x\\`\"\n", want: []kv{{"A", "pa!ss`x`"}},
			warns: []string{"line 1: A: " + msgEscapes}},
		// As sh joins them, and chamber env (shellescape) writes a ' so.
		{name: "quoted strings side by side", in: "export A='it'\"'\"'s'\nB=\"x\"'$y'\"z\" # c\nC='a'\n", want: []kv{{"A", "it's"}, {"B", "x$yz"}, {"C", "a"}},
			warns: []string{"line 1: A: " + msgJoined, "line 2: B: " + msgJoined}},
		{name: "a backtick's value is not joined", in: "A=`x`'y'\n", err: "line 1: A: " + msgTextAfterQuote},
		// The npm dotenv package reads these two as ward does.
		{name: "newline escapes alone", in: `A="a\nb\r"` + "\n", want: []kv{{"A", "a\nb\r"}}},
		{name: "double quotes span lines", in: "A=\"-----BEGIN KEY-----\nabc\n-----END KEY-----\"\nB=2\n", want: []kv{{"A", "-----BEGIN KEY-----\nabc\n-----END KEY-----"}, {"B", "2"}}},
		{name: "hash inside quotes", in: "A=\"a # b\" # c\nB='#x'#y\n", want: []kv{{"A", "a # b"}, {"B", "#x"}}},
		{name: "spaces inside quotes kept", in: "A=\"  x  \"\n", want: []kv{{"A", "  x  "}}},
		{name: "crlf", in: "A=1\r\nB=\"x\r\ny\"\r\nC='z'\r\n", want: []kv{{"A", "1"}, {"B", "x\ny"}, {"C", "z"}}},
		// As the npm dotenv package and python-dotenv read them.
		{name: "cr line ends", in: "A=1\rB='x\ry'\rC=\"z\" # c\r\rD\r", err: "line 6: " + msgNameAlone},
		{name: "cr line ends and a cr inside quotes", in: "A=1\rB='x\ry'\rC=\"z\\r\r\" # c\r\nD=2", want: []kv{{"A", "1"}, {"B", "x\ny"}, {"C", "z\r\n"}, {"D", "2"}}},
		// Windows PowerShell 5's > and Out-File.
		{name: "utf-16", in: "\xff\xfeA\x00=\x00s\x003\x00c\x00r\x00e\x00t\x00\r\x00\n\x00", err: "line 1: " + msgUTF16},
		{name: "utf-16 big-endian", in: "\xfe\xff\x00A\x00=\x00s\x003\x00c\x00r\x00e\x00t", err: "line 1: " + msgUTF16},
		{name: "bom", in: "\xef\xbb\xbfA=1\n", want: []kv{{"A", "1"}}},
		{name: "duplicate keeps the first place and the last value", in: "A=1\nB=2\nA=3\n", want: []kv{{"A", "3"}, {"B", "2"}},
			warns: []string{"line 3: A: set again (before on line 1); the last value wins"}},
		{name: "expansion is not done", in: "A=${HOME}/x\nB='${HOME}'\nC=\"\\${HOME}\"\n", want: []kv{{"A", "${HOME}/x"}, {"B", "${HOME}"}, {"C", "${HOME}"}},
			warns: []string{"line 1: A: " + msgExpand, "line 3: C: " + msgEscapes}},
		// dotenv-expand and docker compose expand $NAME as they expand ${NAME}.
		{name: "a bare $NAME is not expanded either", in: "A=postgres://$DB_USER@h/db\nB=\"$HOME/x\"\nC=\"\\$HOME\"\nD='$HOME'\nE=price$5\n",
			want:  []kv{{"A", "postgres://$DB_USER@h/db"}, {"B", "$HOME/x"}, {"C", "$HOME"}, {"D", "$HOME"}, {"E", "price$5"}},
			warns: []string{"line 1: A: " + msgExpand, "line 2: B: " + msgExpand, "line 3: C: " + msgEscapes}},
		// docker compose reads $$ as one $; single quotes keep both there.
		{name: "$$ is kept, and said", in: "A=pa$$word\nB=\"pa$$\"\nC='pa$$word'\n", want: []kv{{"A", "pa$$word"}, {"B", "pa$$"}, {"C", "pa$$word"}},
			warns: []string{"line 1: A: " + msgDollars, "line 2: B: " + msgDollars}},
		// An escaped $ before a $NAME is no $$: the $NAME expands.
		{name: "escaped $ before $NAME", in: "D=\"\\$$b\"\n", want: []kv{{"D", "$$b"}},
			warns: []string{"line 1: D: " + msgEscapes, "line 1: D: " + msgExpand}},
		{name: "case is kept", in: "api_Key=1\n", want: []kv{{"api_Key", "1"}}},
		{name: "unterminated double quote", in: "A=1\nB=\"s3cret\nC=2\n", err: "line 2: B: unterminated double quote"},
		{name: "unterminated single quote", in: "A='s3cret\n", err: "line 1: A: unterminated single quote"},
		{name: "backticks are literal quotes", in: "A=`a 'b' \"c\" $X # d`\nB=`x\ny`\n", want: []kv{{"A", `a 'b' "c" $X # d`}, {"B", "x\ny"}}},
		{name: "unterminated backtick", in: "A=`s3cret\n", err: "line 1: A: unterminated backtick quote"},
		{name: "text after the closing quote", in: "A=\"x\"s3cret\n", err: "line 1: A: unexpected text after the closing quote"},
		{name: "text after a multi-line quote", in: "A='x\ny's3cret\n", err: "line 2: A: unexpected text after the closing quote"},
		{name: "no equals", in: "A=1\ns3cret value\n", err: "line 2: expected KEY=VALUE"},
		// docker compose's env_file passes a name alone on from its
		// environment.
		{name: "a name alone", in: "A=1\nDEBUG\n export  LANG \n", err: "line 2: " + msgNameAlone},
		{name: "export and a name alone", in: "export LANG\n", err: "line 1: " + msgNameAlone},
		{name: "dotted key", in: "app.key=s3cret\n", err: "line 1: " + msgBadName},
		{name: "dashed key", in: "APP-KEY=s3cret\n", err: "line 1: " + msgBadName},
		{name: "key starting with a digit", in: "1A=s3cret\n", err: "line 1: " + msgBadName},
		{name: "empty key", in: "=s3cret\n", err: "line 1: " + msgBadName},
		{name: "key with a space", in: "MY KEY=s3cret\n", err: "line 1: " + msgBadName},
		{name: "stray line of an unquoted multi-line value", in: "A=-----BEGIN\nMIIB+s3cret/Abc==\n", err: "line 2: " + msgBadName},
		{name: "nul byte", in: "A=s3\x00cret\n", err: "line 1: A: " + msgNUL},
		{name: "line numbers count quoted newlines", in: "A=\"1\n2\n3\"\nB='4\n5'\nC\n", err: "line 6: " + msgNameAlone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pairs, warns, err := Parse([]byte(tt.in))
			if tt.err != "" {
				if err == nil {
					t.Fatalf("got no error, want %q", tt.err)
				}
				if err.Error() != tt.err {
					t.Fatalf("got error %q, want %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "cret") {
					t.Fatalf("the error holds part of a value")
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %q, want none", err)
			}
			var got []kv
			for _, p := range pairs {
				got = append(got, kv{p.Key, string(p.Value)})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got pairs=%q, want %q", got, tt.want)
			}
			var gotWarns []string
			for _, w := range warns {
				gotWarns = append(gotWarns, w.String())
			}
			if !slices.Equal(gotWarns, tt.warns) {
				t.Errorf("got warnings=%q, want %q", gotWarns, tt.warns)
			}
		})
	}
}

// renderDotenv writes pairs as a dotenv file that Parse reads back
// exactly: every value double-quoted, with the characters that matter
// escaped.
func renderDotenv(pairs []Pair) []byte {
	var b bytes.Buffer
	for _, p := range pairs {
		b.WriteString(p.Key)
		b.WriteString(`="`)
		for _, c := range p.Value {
			switch c {
			case '\\', '"', '$':
				b.WriteByte('\\')
				b.WriteByte(c)
			case '\n':
				b.WriteString(`\n`)
			case '\r':
				b.WriteString(`\r`)
			default:
				b.WriteByte(c)
			}
		}
		b.WriteString("\"\n")
	}
	return b.Bytes()
}

var errorMsgs = []string{msgNoEquals, msgBadName, msgUnterminatedSQ, msgUnterminatedDQ, msgUnterminatedBQ, msgTextAfterQuote, msgNUL, msgUTF16,
	msgNameAlone, msgJSONSyntax, msgJSONNotFlat, msgJSONNull, msgJSONVault, msgJSONAWS, msgJSONAzure, msgJSONGcloud, msgJSONKube, msgJSONArray}

// FuzzDotenv checks that the parser never panics, that an error is made
// only of a line number, a variable name taken from the file and one of
// the fixed messages (so it can hold no part of a value), and that
// rendering what was parsed and parsing it again gives the same pairs.
func FuzzDotenv(f *testing.F) {
	for _, s := range []string{
		"A=1\nB=two\n",
		"export A = 'x'\n# c\nB=\"a\\nb\" # c\n",
		"A=\"multi\nline\"\r\nB='x\ny'\n",
		"A=1\rB=\"x\ry\"\r",
		"\xef\xbb\xbfA=v # c\nA=w\n",
		"A=\"unterminated\n",
		"A='x'junk\n",
		"bad.key=1\n",
		"A=${B}\n",
		"A=\"\\$\\\\\\\"\\t\\r\"\n",
		`{"A": "x\u00e9\ud83d\ude00\n", "b": 1, "C": true}`,
		`{"data": {"data": {"a": "b"}}}`,
		`{"A": null, "B": [1]}`,
		"\xef\xbb\xbf{\"A\":\"1\",\n\"A\":\"2\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pairs, warns, err := Parse(bytes.Clone(data))
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("got error of type %T, want *Error", err)
			}
			if de.Line < 1 || de.Line > bytes.Count(data, []byte("\n"))+bytes.Count(data, []byte("\r"))+1 {
				t.Fatalf("got error line=%d, want a line of the input", de.Line)
			}
			rest := strings.TrimPrefix(err.Error(), fmt.Sprintf("line %d: ", de.Line))
			if de.Key != "" {
				if !resolve.ValidEnvName(de.Key) || !bytes.Contains(data, []byte(de.Key)) {
					t.Fatalf("the error names a key that is not a valid name from the input")
				}
				rest = strings.TrimPrefix(rest, de.Key+": ")
			}
			if !slices.Contains(errorMsgs, rest) || rest != de.Msg {
				t.Fatalf("the error's message is not one of the fixed messages")
			}
			return
		}
		for _, w := range warns {
			if !resolve.ValidEnvName(w.Key) {
				t.Fatalf("a warning names an invalid key")
			}
			if w.Msg == msgExpand || w.Msg == msgDollars || w.Msg == msgHashInValue || w.Msg == msgEscapes || w.Msg == msgJSONLower || w.Msg == msgJoined {
				continue
			}
			var n int
			if _, err := fmt.Sscanf(w.Msg, msgDuplicate, &n); err != nil || w.Msg != fmt.Sprintf(msgDuplicate, n) {
				t.Fatalf("a warning is not made of a name and a fixed message")
			}
		}
		seen := map[string]bool{}
		for _, p := range pairs {
			if !resolve.ValidEnvName(p.Key) || seen[p.Key] {
				t.Fatalf("got an invalid or repeated key")
			}
			seen[p.Key] = true
		}
		again, warns2, err := Parse(renderDotenv(pairs))
		if err != nil {
			t.Fatalf("the rendering does not parse: %v", err)
		}
		// The rendering escapes what must be: only that is said of it.
		for _, w := range warns2 {
			if w.Msg != msgEscapes {
				t.Fatalf("the rendering gives a warning other than of its escapes")
			}
		}
		if len(again) != len(pairs) {
			t.Fatalf("got %d pairs after a round trip, want %d", len(again), len(pairs))
		}
		for i := range pairs {
			// Values stay out of the failure message, even in a test.
			if again[i].Key != pairs[i].Key || !bytes.Equal(again[i].Value, pairs[i].Value) {
				t.Fatalf("pair %d (%s) differs after a round trip", i, pairs[i].Key)
			}
		}
	})
}

func TestParseJSON(t *testing.T) {
	type kv = [2]string
	tests := []struct {
		name  string
		in    string
		want  []kv
		warns []string
		err   string
		hint  string
	}{
		{name: "doppler's download", in: "{\n  \"API_KEY\": \"sk\\\"1\\\\2\\n3\",\n  \"PORT\": \"8080\"\n}\n",
			want: []kv{{"API_KEY", "sk\"1\\2\n3"}, {"PORT", "8080"}}},
		{name: "escapes decode to their bytes", in: `{"A": "\u00e9\ud83d\ude00\/\t\b\f\r"}`, want: []kv{{"A", "é😀/\t\b\f\r"}}},
		{name: "numbers and booleans as written", in: `{"PORT": 8080, "RATIO": 1.50, "DEBUG": false}`,
			want: []kv{{"PORT", "8080"}, {"RATIO", "1.50"}, {"DEBUG", "false"}}},
		{name: "a bom and an empty value", in: "\xef\xbb\xbf {\"A\": \"\"}", want: []kv{{"A", ""}}},
		{name: "chamber's lower-case names", in: "{\"db_password\": \"x\",\n\"api_key\": \"y\"}",
			want: []kv{{"db_password", "x"}, {"api_key", "y"}}, warns: []string{"line 1: db_password: " + msgJSONLower}},
		{name: "a name set twice", in: "{\"A\": \"1\",\n\"A\": \"2\"}", want: []kv{{"A", "2"}},
			warns: []string{"line 2: A: " + fmt.Sprintf(msgDuplicate, 1)}},
		{name: "vault's answer", in: "{\n \"request_id\": \"x\",\n \"data\": {\"data\": {\"a\": \"b\"}}\n}", err: "line 3: " + msgJSONVault, hint: hintJSONVault},
		{name: "a kubernetes secret", in: "{\n \"apiVersion\": \"v1\",\n \"data\": {\"a\": \"Yg==\"},\n \"kind\": \"Secret\"\n}", err: "line 3: " + msgJSONKube, hint: hintJSONKube},
		{name: "aws's answer", in: "{\"ARN\": \"arn\",\n\"SecretString\": \"{}\"}", err: "line 2: " + msgJSONAWS, hint: hintJSONAWS},
		{name: "a nested object", in: "{\"A\": \"1\",\n\"B\": {\"c\": \"d\"}}", err: "line 2: B: " + msgJSONNotFlat},
		{name: "an array", in: `{"B": ["x"]}`, err: "line 1: B: " + msgJSONNotFlat},
		{name: "null", in: `{"B": null}`, err: "line 1: B: " + msgJSONNull},
		{name: "a name chamber would mend", in: "{\"A\": \"1\",\n\"db-password\": \"x\"}", err: "line 2: " + msgBadName, hint: hintJSONName},
		{name: "text after the object", in: "{\"A\": \"1\"}\nA=2\n", err: "line 2: " + msgJSONSyntax},
		{name: "unterminated", in: "{\"A\": \"secret-value", err: "line 1: " + msgJSONSyntax},
		{name: "a raw line break in a string", in: "{\"A\": \"sec\nret\"}", err: "line 1: " + msgJSONSyntax},
		// The dotenv parser's "expected KEY=VALUE" and its advice on
		// quoting said nothing to the point.
		{name: "a top-level array", in: "\n [{\"Name\": \"A\", \"Value\": \"x\"}]", err: "line 2: " + msgJSONArray, hint: hintJSONArray},
		{name: "a NUL byte", in: `{"A": "x\u0000y"}`, err: "line 1: A: " + msgNUL, hint: hintNUL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pairs, warns, err := Parse([]byte(tt.in))
			if tt.err != "" {
				var de *Error
				if err == nil || !errors.As(err, &de) || err.Error() != tt.err {
					t.Fatalf("got error %v, want %q", err, tt.err)
				}
				if tt.hint != "" && de.Hint != tt.hint {
					t.Fatalf("got hint %q, want %q", de.Hint, tt.hint)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []kv
			for _, p := range pairs {
				got = append(got, kv{p.Key, string(p.Value)})
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			var gotWarns []string
			for _, w := range warns {
				gotWarns = append(gotWarns, w.String())
			}
			if !slices.Equal(gotWarns, tt.warns) {
				t.Errorf("got warnings %q, want %q", gotWarns, tt.warns)
			}
		})
	}
}
