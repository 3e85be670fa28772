package mask

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"html"
	"math/rand"
	"net/url"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// testPEM returns a PEM block of made-up key material (not a key): its
// armour, the base64 body lines, wrapped at 64 characters, and the whole
// text with a trailing newline.
func testPEM(seed int64, size int) (body []string, pem string) {
	r := rand.New(rand.NewSource(seed))
	der := make([]byte, size)
	r.Read(der)
	b64 := base64.StdEncoding.EncodeToString(der)
	for len(b64) > 64 {
		body = append(body, b64[:64])
		b64 = b64[64:]
	}
	body = append(body, b64)
	return body, "-----BEGIN PRIVATE KEY-----\n" + strings.Join(body, "\n") + "\n-----END PRIVATE KEY-----\n"
}

func TestFormsOfPercentEncoded(t *testing.T) {
	// The wants are what Python's urllib.parse.quote(v, safe="") and
	// JavaScript's encodeURIComponent print for these values.
	tests := []struct {
		name, value string
		want        []string
	}{
		{"quote and encodeURIComponent agree", "p@ss w/rd+<ok>?", []string{
			"p%40ss%20w%2Frd%2B%3Cok%3E%3F",
			"p%40ss%20w%2frd%2b%3cok%3e%3f",
		}},
		{"they differ on !'()*", "it's (a) *secret*! ~x", []string{
			"it%27s%20%28a%29%20%2Asecret%2A%21%20~x",
			"it's%20(a)%20*secret*!%20~x",
			"it%27s%20%28a%29%20%2asecret%2a%21%20~x",
		}},
		{"utf-8", "naïve café", []string{
			"na%C3%AFve%20caf%C3%A9",
			"na%c3%afve%20caf%c3%a9",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forms := FormsOf([]byte(tt.value))
			for i, w := range tt.want {
				if !slices.ContainsFunc(forms, func(f Form) bool { return f.Encoding == URL && string(f.Bytes) == w }) {
					t.Errorf("want %d: no url form of %d bytes", i, len(w))
				}
			}
		})
	}
}

func TestFormsOfLines(t *testing.T) {
	body, pem := testPEM(1, 100)
	last := body[len(body)-1] // 136 base64 characters in all: 64, 64, 8
	kubeconfig := "apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ\n"
	tests := []struct {
		name, value string
		want        []string // the Line forms, in order
	}{
		{"pem body lines, not the armour", pem, body},
		{"pem with crlf and indent", "  " + strings.ReplaceAll(pem, "\n", "\r\n  "), body},
		{"a short last line is left out", "-----BEGIN KEY-----\n" + body[0] + "\nAbCd==\n-----END KEY-----", body[:1]},
		{"a config document: token lines only", kubeconfig, []string{"token: eyJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ"}},
		{"punctuation and blank lines", "-----\n\n=========\nsecret-part-1a2b3c4d\n", []string{"secret-part-1a2b3c4d"}},
		{"base64 outside armour needs a token", "password\nletters-only-here\n", nil},
		{"a line of symbols alone", "user=x\n)(*&^%$#@!\n+--+--+--+\n", []string{")(*&^%$#@!"}},
		{"one line", "single-line-value-1234\n", nil},
	}
	if len(last) != 8 {
		t.Fatalf("test PEM's last line has %d characters, want 8", len(last))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, f := range FormsOf([]byte(tt.value)) {
				if f.Encoding == Line {
					got = append(got, string(f.Bytes))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %d line forms %v, want %d", len(got), lineLens(got), len(tt.want))
			}
		})
	}
}

// lineLens describes lines by their lengths: they may be test values.
func lineLens(lines []string) []int {
	var n []int
	for _, l := range lines {
		n = append(n, len(l))
	}
	return n
}

func TestWriterIndentedPEM(t *testing.T) {
	body, pem := testPEM(2, 300)
	secrets := []Secret{{Name: "TLS_KEY", Value: []byte(pem)}}
	// The key as a YAML block scalar prints it indented: the value as a
	// whole is not in the output, each of its lines is.
	in := "tls:\n  key: |\n    " + strings.ReplaceAll(strings.TrimSuffix(pem, "\n"), "\n", "\n    ") + "\n  port: 443\n"
	want := "tls:\n  key: |\n    -----BEGIN PRIVATE KEY-----\n" + strings.Repeat("    <ward:TLS_KEY>\n", len(body)) + "    -----END PRIVATE KEY-----\n  port: 443\n"
	for split := 0; split <= len(in); split += 7 {
		if got := maskChunks(t, secrets, []byte(in), []int{split}); string(got) != want {
			t.Fatalf("split at %d: %s", split, diff(got, []byte(want)))
		}
	}
	// Printed whole, it is one value (its line break after it, which
	// a file's value ends in, is shown).
	if got := maskChunks(t, secrets, []byte("key: "+pem), nil); string(got) != "key: <ward:TLS_KEY>\n" {
		t.Errorf("whole value: %s", diff(got, []byte("key: <ward:TLS_KEY>\n")))
	}
	// Another key's armour is not touched.
	_, other := testPEM(3, 100)
	if got := maskChunks(t, secrets, []byte(other), nil); !bytes.Equal(got, []byte(other)) {
		t.Errorf("another key: %s", diff(got, []byte(other)))
	}
}

func TestWriterPercentEncoded(t *testing.T) {
	secrets := []Secret{{Name: "DB_PASS", Value: []byte("it's (a) *secret*! ~x")}}
	for _, enc := range []string{
		"it%27s%20%28a%29%20%2Asecret%2A%21%20~x", // Python quote(v, safe="")
		"it's%20(a)%20*secret*!%20~x",             // encodeURIComponent
		"it%27s%20%28a%29%20%2asecret%2a%21%20~x", // lower-case hex
		"it%27s+%28a%29+%2Asecret%2A%21+~x",       // url.QueryEscape, as before
	} {
		in := "postgres://app:" + enc + "@db/app"
		if got := maskChunks(t, secrets, []byte(in), nil); string(got) != "postgres://app:<ward:DB_PASS>@db/app" {
			t.Errorf("%d-byte form: %s", len(enc), diff(got, []byte("postgres://app:<ward:DB_PASS>@db/app")))
		}
	}
}

func TestFormsOfJSONASCII(t *testing.T) {
	// The lower-case wants are what Python's json.dumps(v) (ensure_ascii,
	// the default) prints between the quotes; the upper-case ones are
	// Jackson's ESCAPE_NON_ASCII.
	tests := []struct {
		name, value string
		want        []string
	}{
		{"latin-1", "pässwörd-canary-1", []string{`p\u00e4ssw\u00f6rd-canary-1`, `p\u00E4ssw\u00F6rd-canary-1`}},
		{"outside the BMP", "tok-😀-canary-2", []string{`tok-\ud83d\ude00-canary-2`, `tok-\uD83D\uDE00-canary-2`}},
		{"control characters and DEL", "ctl\x7f\x1b\b\f\n-canary-3", []string{`ctl\u007f\u001b\b\f\n-canary-3`, `ctl\u007F\u001B\b\f\n-canary-3`}},
		{"quotes and U+2028", "a\u2028b<&>/\"\\-canary-4", []string{`a\u2028b<&>/\"\\-canary-4`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forms := FormsOf([]byte(tt.value))
			for i, w := range tt.want {
				if !slices.ContainsFunc(forms, func(f Form) bool { return f.Encoding == JSON && string(f.Bytes) == w }) {
					t.Errorf("want %d: no json form of %d bytes", i, len(w))
				}
			}
		})
	}
	// An ASCII value's escaped forms are Go's own: none is added.
	n := 0
	for _, f := range FormsOf([]byte(`say "hi"\now`)) {
		if f.Encoding == JSON {
			n++
		}
	}
	if n != 1 {
		t.Errorf("got %d json forms of an ASCII value, want 1", n)
	}
}

func TestWriterJSONASCII(t *testing.T) {
	secrets := []Secret{{Name: "DB_PASS", Value: []byte("pässwörd-canary-X")}}
	// What print(json.dumps({"password": v})) prints.
	in := []byte(`{"password": "p\u00e4ssw\u00f6rd-canary-X"}` + "\n")
	want := []byte(`{"password": "<ward:DB_PASS>"}` + "\n")
	for split := 0; split <= len(in); split++ {
		if got := maskChunks(t, secrets, in, []int{split}); !bytes.Equal(got, want) {
			t.Fatalf("split at %d: %s", split, diff(got, want))
		}
	}
}

// TestFormsOfWrappedBase64: the base64 forms of a value include what
// coreutils base64 and openssl base64 print (less the last line break),
// and with "\r\n" line breaks, once the encoding is longer than a line.
func TestFormsOfWrappedBase64(t *testing.T) {
	value := randToken(rand.New(rand.NewSource(5)), 100)
	forms := FormsOf(value)
	for _, tool := range [][]string{{"base64"}, {"openssl", "base64"}} {
		t.Run(strings.Join(tool, " "), func(t *testing.T) {
			if _, err := exec.LookPath(tool[0]); err != nil {
				t.Skipf("%s is not installed", tool[0])
			}
			cmd := exec.Command(tool[0], tool[1:]...)
			cmd.Stdin = bytes.NewReader(value)
			out, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			printed := bytes.TrimSuffix(out, []byte("\n"))
			for _, want := range [][]byte{printed, bytes.ReplaceAll(printed, []byte("\n"), []byte("\r\n"))} {
				if !slices.ContainsFunc(forms, func(f Form) bool { return f.Encoding == Base64 && bytes.Equal(f.Bytes, want) }) {
					t.Errorf("no base64 form equal to the %d bytes %s prints", len(want), tool[0])
				}
			}
			// What it prints for the value and a newline (echo's)
			// holds a form whose lines end where the output's do but
			// for the last one.
			cmd = exec.Command(tool[0], tool[1:]...)
			cmd.Stdin = bytes.NewReader(append(bytes.Clone(value), '\n'))
			if out, err = cmd.Output(); err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(forms, func(f Form) bool {
				return f.Encoding == Base64 && bytes.Count(f.Bytes, []byte("\n")) == bytes.Count(out, []byte("\n"))-1 && bytes.HasPrefix(out, f.Bytes)
			}) {
				t.Errorf("no wrapped base64 form at the start of what %s prints for the value and a newline", tool[0])
			}
		})
	}
	// Only an encoding longer than a line is wrapped: 48 bytes make 64
	// characters, 49 make 68, 57 make 76, 58 make 80. Where the length
	// is not a multiple of 3, the characters the value alone decides are
	// wrapped too: 49 bytes decide 65, 58 decide 77.
	for _, tt := range []struct{ n, wrapped int }{{48, 0}, {49, 4}, {57, 2}, {58, 8}} {
		got := 0
		for _, f := range FormsOf(randToken(rand.New(rand.NewSource(6)), tt.n)) {
			if f.Encoding == Base64 && bytes.IndexByte(f.Bytes, '\n') >= 0 {
				got++
			}
		}
		if got != tt.wrapped {
			t.Errorf("%d bytes: got %d wrapped forms, want %d", tt.n, got, tt.wrapped)
		}
	}
}

func TestFormsOfShell(t *testing.T) {
	// How a .env file (`"..."`, read by python-dotenv, docker compose and
	// `ward import`) and a shell script (`export X="..."`) write the
	// value inside double quotes.
	tests := []struct {
		name, value string
		want        []string
	}{
		{"dollars", "pa$$w0rd-canary-1", []string{`pa\$\$w0rd-canary-1`}},
		{"dollar, quote and backslash", `a$b"c\d-canary-2`, []string{`a\$b\"c\\d-canary-2`}},
		{"backtick", "a`b$c-canary-3", []string{"a`b\\$c-canary-3", "a\\`b\\$c-canary-3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			forms := FormsOf([]byte(tt.value))
			for i, w := range tt.want {
				if !slices.ContainsFunc(forms, func(f Form) bool { return f.Encoding == Shell && string(f.Bytes) == w }) {
					t.Errorf("want %d: no shell form of %d bytes", i, len(w))
				}
			}
		})
	}
	// A value with nothing to escape gets no form of its own, but for
	// printf %q's (a backslash before each space and quote).
	value := []byte(`say "hi" to-canary-4`)
	for _, f := range FormsOf(value) {
		if f.Encoding == Shell && !bytes.Equal(f.Bytes, printfQ(value)) {
			t.Errorf("got a shell form of a value whose JSON form is the same")
		}
	}
}

// TestFormsOfHex: the hex forms of a value are what the tools that print
// hex print for it.
func TestFormsOfHex(t *testing.T) {
	value := []byte("canary-hex-0123456789abcdef01234567") // 35 bytes
	want := []string{
		// xxd -p -c0, Python's bytes.hex(), Go's %x
		"63616e6172792d6865782d303132333435363738396162636465663031323334353637",
		// xxd -p -u -c0, Go's %X
		"63616E6172792D6865782D303132333435363738396162636465663031323334353637",
		// Go's "% x", Python's bytes.hex(" ")
		"63 61 6e 61 72 79 2d 68 65 78 2d 30 31 32 33 34 35 36 37 38 39 61 62 63 64 65 66 30 31 32 33 34 35 36 37",
		// xxd -p, less its last line break, and as a terminal shows it
		"63616e6172792d6865782d30313233343536373839616263646566303132\n3334353637",
		"63616e6172792d6865782d30313233343536373839616263646566303132\r\n3334353637",
	}
	forms := FormsOf(value)
	for i, w := range want {
		if !slices.ContainsFunc(forms, func(f Form) bool { return f.Encoding == Hex && string(f.Bytes) == w }) {
			t.Errorf("want %d: no hex form of %d bytes", i, len(w))
		}
	}
	// 30 bytes fill one line of xxd -p: no wrapped form.
	for _, f := range FormsOf(value[:30]) {
		if f.Encoding == Hex && bytes.IndexByte(f.Bytes, '\n') >= 0 {
			t.Errorf("a wrapped hex form of a 30-byte value")
		}
	}
}

func TestWriterHex(t *testing.T) {
	value := []byte("canary-hex-0123456789abcdef01234567")
	secrets := []Secret{{Name: "TOKEN", Value: value}}
	// What `printf 'token: '; printf %s "$TOKEN" | xxd -p` prints.
	in := []byte("token: 63616e6172792d6865782d30313233343536373839616263646566303132\n3334353637\nreq=63616e61 done\n")
	want := []byte("token: <ward:TOKEN>\nreq=63616e61 done\n")
	everySplit(t, secrets, in, want)
}

// TestFormsOfQuoted: the forms of a value with quotes in it include what
// shells and languages print when they quote it; each want is what the
// programs named beside it print between their quotes.
func TestFormsOfQuoted(t *testing.T) {
	const value = "#~a=~b:~c it's \"q\" \\w$ `x`"
	tests := []struct {
		value string
		enc   Encoding
		want  string
	}{
		{value, Shell, `#~a=~b:~c it'\''s "q" \w$ ` + "`x`"},             // bash: set -x, ${v@Q}
		{value, Shell, `#~a=~b:~c it'"'"'s "q" \w$ ` + "`x`"},            // Python: shlex.quote
		{value, Shell, `\#~a=\~b:\~c\ it\'s\ \"q\"\ \\w\$\ \` + "`x\\`"}, // bash: printf %q
		{value, Quoted, `#~a=~b:~c it\'s "q" \\w$ ` + "`x`"},             // Python: repr; Node: util.inspect
		{`it's "q" \w`, Quoted, `it's "q" \\w`},                          // Node: util.inspect, in backticks
		{value, Quoted, `#~a=~b:~c it''s "q" \w$ ` + "`x`"},              // SQLite: quote(), .dump; PyYAML
		{value, Quoted, `#~a=~b:~c it's ""q"" \w$ ` + "`x`"},             // Python: csv.writer
	}
	for i, tt := range tests {
		if !slices.ContainsFunc(FormsOf([]byte(tt.value)), func(f Form) bool { return f.Encoding == tt.enc && string(f.Bytes) == tt.want }) {
			t.Errorf("want %d: no %s form of %d bytes", i, tt.enc, len(tt.want))
		}
	}
	// A value with nothing to quote gets none of these forms.
	for _, f := range FormsOf([]byte("plain-token-canary-1")) {
		if f.Encoding == Shell || f.Encoding == Quoted {
			t.Errorf("a %s form of a value with nothing to quote", f.Encoding)
		}
	}
}

// TestPrintfQAgainstBash compares printfQ with bash's printf %q for each
// printable ASCII character at the start of a value, in its middle and
// after '=' and ':'.
func TestPrintfQAgainstBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	var values []string
	for c := byte(' '); c < 0x7f; c++ {
		values = append(values, string(c)+"ab", "a"+string(c)+"b", "a="+string(c), "a:"+string(c))
	}
	cmd := exec.Command(bash, append([]string{"-c", `for v; do printf '%q\n' "$v"; done`, "bash"}, values...)...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	if len(got) != len(values) {
		t.Fatalf("bash printed %d lines for %d values", len(got), len(values))
	}
	for i, v := range values {
		if q := string(printfQ([]byte(v))); q != got[i] {
			t.Errorf("%q: got %q, bash printed %q", v, q, got[i])
		}
	}
}

func TestWriterQuoted(t *testing.T) {
	secrets := []Secret{{Name: "DB_PASS", Value: []byte(`it's "q" \w-canary-5`)}}
	// What Python's logging.info("%s", {"password": v}) and bash's set -x
	// print.
	in := []byte(`INFO:root:{'password': 'it\'s "q" \\w-canary-5'}` + "\n" + `+ psql -c 'it'\''s "q" \w-canary-5'` + "\n")
	want := []byte(`INFO:root:{'password': '<ward:DB_PASS>'}` + "\n" + `+ psql -c '<ward:DB_PASS>'` + "\n")
	everySplit(t, secrets, in, want)
}

// TestFormsOfJSONEncoders: the JSON forms of a value include what PHP's
// json_encode and Java's Gson print between the quotes.
func TestFormsOfJSONEncoders(t *testing.T) {
	value := []byte(`k/ä=x'<&>"\-canary-6`)
	forms := FormsOf(value)
	for i, want := range []string{
		`k\/\u00e4=x'<&>\"\\-canary-6`,                    // json_encode($v)
		`k\/ä=x'<&>\"\\-canary-6`,                         // json_encode($v, JSON_UNESCAPED_UNICODE)
		`k/ä\u003dx\u0027\u003c\u0026\u003e\"\\-canary-6`, // new Gson().toJson(v)
	} {
		if !slices.ContainsFunc(forms, func(f Form) bool { return f.Encoding == JSON && string(f.Bytes) == want }) {
			t.Errorf("want %d: no json form of %d bytes", i, len(want))
		}
	}
}

func TestWriterJSONEncoders(t *testing.T) {
	secrets := []Secret{{Name: "AWS_SECRET_ACCESS_KEY", Value: []byte("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY==")}}
	// What a PHP app's json_encode($config) and a Java app's
	// gson.toJson(config) print.
	in := []byte(`{"secret":"wJalrXUtnFEMI\/K7MDENG\/bPxRfiCYEXAMPLEKEY=="}` + "\n" + `{"secret":"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\u003d\u003d"}` + "\n")
	want := []byte(`{"secret":"<ward:AWS_SECRET_ACCESS_KEY>"}` + "\n" + `{"secret":"<ward:AWS_SECRET_ACCESS_KEY>"}` + "\n")
	everySplit(t, secrets, in, want)
}

func TestWriterDoubledQuotes(t *testing.T) {
	secrets := []Secret{{Name: "DB_PASS", Value: []byte(`it's "q"-canary-7`)}}
	// What sqlite3's .dump and Python's csv.writer print.
	in := []byte(`INSERT INTO "users" VALUES('app','it''s "q"-canary-7');` + "\n" + `app,"it's ""q""-canary-7"` + "\r\n")
	want := []byte(`INSERT INTO "users" VALUES('app','<ward:DB_PASS>');` + "\n" + `app,"<ward:DB_PASS>"` + "\r\n")
	everySplit(t, secrets, in, want)
}

// TestFormsOfURLPasswords compares the percent-encodings of a URL's
// password with Go's url.UserPassword, Python's quote() and Node's URL,
// and JavaScript's encodeURI, for each printable ASCII character and a non-ASCII one beside the
// characters on which they differ.
func TestFormsOfURLPasswords(t *testing.T) {
	var values []string
	for c := byte(' '); c < 0x7f; c++ {
		values = append(values, "ab"+string(c)+"/+=:@!cd")
	}
	values = append(values, "abä/+=:@!cd")
	check := func(t *testing.T, printed []string) {
		t.Helper()
		if len(printed) != len(values) {
			t.Fatalf("printed %d lines for %d values", len(printed), len(values))
		}
		for i, v := range values {
			forms := FormsOf([]byte(v))
			if !slices.ContainsFunc(forms, func(f Form) bool { return string(f.Bytes) == printed[i] }) {
				t.Errorf("%q: no form equal to %q", v, printed[i])
			}
		}
	}
	t.Run("url.UserPassword", func(t *testing.T) {
		var printed []string
		for _, v := range values {
			printed = append(printed, strings.TrimPrefix(url.UserPassword("u", v).String(), "u:"))
		}
		check(t, printed)
	})
	for _, tt := range []struct{ name, program, script string }{
		{"quote", "python3", `import sys, urllib.parse
for v in sys.argv[1:]: print(urllib.parse.quote(v))`},
		{"URL.password", "node", `const u = new URL("https://h/")
for (const v of process.argv.slice(1)) { u.password = v; console.log(u.password) }`},
		{"encodeURI", "node", `for (const v of process.argv.slice(1)) console.log(encodeURI(v))`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := exec.LookPath(tt.program); err != nil {
				t.Skipf("%s is not installed", tt.program)
			}
			flag := "-c"
			if tt.program == "node" {
				flag = "-e"
			}
			out, err := exec.Command(tt.program, append([]string{flag, tt.script}, values...)...).Output()
			if err != nil {
				t.Fatal(err)
			}
			check(t, strings.Split(strings.TrimSuffix(string(out), "\n"), "\n"))
		})
	}
}

// TestFormsOfHTML: the html forms of a value include what HTML and XML
// escapers print for it.
func TestFormsOfHTML(t *testing.T) {
	value := `a&b<c>d"e'f-canary-8`
	var xmlText bytes.Buffer
	if err := xml.EscapeText(&xmlText, []byte(value)); err != nil {
		t.Fatal(err)
	}
	forms := FormsOf([]byte(value))
	for i, want := range []string{
		`a&amp;b&lt;c&gt;d"e'f-canary-8`,           // xml.sax.saxutils.escape
		`a&amp;b&lt;c&gt;d&quot;e&#x27;f-canary-8`, // html.escape
		html.EscapeString(value),                   // Go, and MarkupSafe's escape
		xmlText.String(),                           // Go's encoding/xml
		`a&amp;b&lt;c&gt;d&quot;e&#039;f-canary-8`, // htmlspecialchars
		`a&amp;b&lt;c&gt;d&quot;e'f-canary-8`,      // htmlspecialchars(v, ENT_COMPAT)
		`a&amp;b&lt;c&gt;d&quot;e&apos;f-canary-8`, // the XML entities
	} {
		if !slices.ContainsFunc(forms, func(f Form) bool { return f.Encoding == HTML && string(f.Bytes) == want }) {
			t.Errorf("want %d: no html form of %d bytes", i, len(want))
		}
	}
	for _, f := range FormsOf([]byte("plain-token-canary-9")) {
		if f.Encoding == HTML {
			t.Errorf("an html form of a value with nothing to escape")
		}
	}
}

func TestWriterHTML(t *testing.T) {
	secrets := []Secret{{Name: "SMTP_PASS", Value: []byte(`p&ss<w>rd-canary-10`)}}
	// A Jinja template's output with autoescape, and an XML document.
	in := []byte(`<input value="p&amp;ss&lt;w&gt;rd-canary-10">` + "\n" + `<password>p&amp;ss&lt;w&gt;rd-canary-10</password>` + "\n")
	want := []byte(`<input value="<ward:SMTP_PASS>">` + "\n" + `<password><ward:SMTP_PASS></password>` + "\n")
	everySplit(t, secrets, in, want)
}

// TestFormsOfPythonBytesAndYAML compares pythonBytes with Python's repr of
// bytes for every byte value, and yamlDoubleQuoted with PyYAML's
// double-quoted scalars for runes of each kind it escapes.
func TestFormsOfPythonBytesAndYAML(t *testing.T) {
	const python = "/usr/bin/python3"
	if _, err := exec.LookPath(python); err != nil {
		t.Skip("python3 is not installed")
	}
	run := func(t *testing.T, script string, args []string) []string {
		t.Helper()
		out, err := exec.Command(python, append([]string{"-c", script}, args...)...).Output()
		if err != nil {
			t.Fatal(err)
		}
		return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
	}
	t.Run("bytes", func(t *testing.T) {
		var values [][]byte
		var args []string
		for c := range 256 {
			for _, rest := range []string{`d'x`, `d'x"`} {
				v := []byte("ab" + string(rune(0)) + "c" + rest)
				v[2] = byte(c)
				values = append(values, v)
				args = append(args, hex.EncodeToString(v))
			}
		}
		printed := run(t, `import sys
for h in sys.argv[1:]: print(repr(bytes.fromhex(h))[2:-1])`, args)
		for i, v := range values {
			if !bytes.Equal(pythonBytes(v, true), []byte(printed[i])) && !bytes.Equal(pythonBytes(v, false), []byte(printed[i])) {
				t.Errorf("%q: no form equal to %q", v, printed[i])
			}
		}
	})
	t.Run("yaml", func(t *testing.T) {
		if err := exec.Command(python, "-c", "import yaml").Run(); err != nil {
			t.Skip("PyYAML is not installed")
		}
		var values []string
		for r := range rune(0x80) {
			values = append(values, "ab"+string(r)+"cd")
		}
		for _, r := range []rune{0x85, 0xa0, 0xe4, 0xff, 0x100, 0x2028, 0x2029, 0x4e2d, 0xfeff, 0x1f600} {
			values = append(values, "ab"+string(r)+"cd")
		}
		var args []string
		for _, v := range values {
			args = append(args, hex.EncodeToString([]byte(v)))
		}
		printed := run(t, `import sys, yaml
for h in sys.argv[1:]: print(yaml.safe_dump(bytes.fromhex(h).decode(), default_style='"', width=1000).split("\n")[0][1:-1])`, args)
		for i, v := range values {
			if got := string(yamlDoubleQuoted([]byte(v))); got != printed[i] {
				t.Errorf("%q: got %q, PyYAML printed %q", v, got, printed[i])
			}
		}
	})
}

func TestWriterNonASCIIEscaped(t *testing.T) {
	secrets := []Secret{{Name: "DB_PASS", Value: []byte("pässwörd-canary-11")}}
	// What Python's print(v.encode()) and PyYAML's safe_dump({"password": v}) print.
	in := []byte(`b'p\xc3\xa4ssw\xc3\xb6rd-canary-11'` + "\n" + `password: "p\xE4ssw\xF6rd-canary-11"` + "\n")
	want := []byte(`b'<ward:DB_PASS>'` + "\n" + `password: "<ward:DB_PASS>"` + "\n")
	everySplit(t, secrets, in, want)
}

// TestWriterCRLFValueOnATerminal: a value with "\r\n" line ends (a file
// saved on Windows) is masked as a pseudo-terminal shows it, each "\n"
// made "\r\n": it came out "\r\r\n" and in clear.
func TestWriterCRLFValueOnATerminal(t *testing.T) {
	value := "[db]\r\nuser = app\r\npassword = correct-horse-battery\r\n"
	secrets := []Secret{{Name: "DB_INI", Value: []byte(value)}}
	shown := strings.ReplaceAll(value, "\n", "\r\n")
	// printf '%s\n' "$DB_INI": the line breaks at its end are the trimmed
	// value's, and stay.
	everySplit(t, secrets, []byte(shown+"\r\n"), []byte("<ward:DB_INI>\r\r\n\r\n"))
	everySplit(t, secrets, []byte("> "+value), []byte("> <ward:DB_INI>\r\n"))
}

// TestWriterValueWithOtherLineEnds: a value printed with line ends other
// than its own is masked: one with "\r\n" (a file saved on Windows)
// printed with "\n" by a program that reads text (Python's open), and one
// with "\n" printed with "\r\n", which a pseudo-terminal shows "\r\r\n".
// Both came out whole, in clear: only lines that look like a key or a
// token are matched on their own.
func TestWriterValueWithOtherLineEnds(t *testing.T) {
	windows := "user = app\r\nsecret = horse battery\r\n"
	unix := "user = app\nsecret = staple horse\n"
	secrets := []Secret{{Name: "WIN_INI", Value: []byte(windows)}, {Name: "UNIX_INI", Value: []byte(unix)}}
	lf := strings.ReplaceAll(windows, "\r\n", "\n")
	crlfOnTTY := strings.ReplaceAll(strings.ReplaceAll(unix, "\n", "\r\n"), "\n", "\r\n")
	everySplit(t, secrets, []byte("a: "+lf+"b: "+crlfOnTTY+"."), []byte("a: <ward:WIN_INI>\nb: <ward:UNIX_INI>\r\r\n."))
	// In every form too: json.dumps of the file read as text, base64
	// of the other line ends (the first fix matched them printed as
	// they are only).
	jsonLF, _ := json.Marshal(lf)
	jsonCRLF, _ := json.Marshal(strings.ReplaceAll(unix, "\n", "\r\n"))
	b64 := base64.StdEncoding.EncodeToString([]byte(lf))
	in := "j " + string(jsonLF) + " k " + string(jsonCRLF) + " b " + b64 + "."
	want := "j \"<ward:WIN_INI>\" k \"<ward:UNIX_INI>\" b <ward:WIN_INI>."
	everySplit(t, secrets, []byte(in), []byte(want))
}

// TestWriterValueEndingInsideAStyle: a value whose bytes end inside a
// style sequence (a binary value's last bytes "\e[1", by chance), which
// what the program prints next completes ("m"), is masked as the
// terminal shows it, up to that style: the text without the completed
// style held its bytes no more, and it was printed in clear.
func TestWriterValueEndingInsideAStyle(t *testing.T) {
	secrets := []Secret{
		{Name: "KEY1", Value: []byte("canary-PE1aa\x1b[1")},
		{Name: "KEY2", Value: []byte("canary-PE2bb\x1b")},
		{Name: "TOKEN", Value: []byte("tok-3f9a2c7e")},
	}
	in := "1 canary-PE1aa\x1b[1m tail\n2 canary-PE2bb\x1b[0m tail2\n3 tok-\x1b[1m3f9a2c7e\x1b[m\n"
	want := "1 <ward:KEY1>\x1b[1m tail\n2 <ward:KEY2>\x1b[0m tail2\n3 <ward:TOKEN>\x1b[1m\x1b[m\n"
	everySplit(t, secrets, []byte(in), []byte(want))
	// One whose head before the open style is too short to match: the
	// look through styles stays on for the others (the first fix turned
	// it off, and the token was printed in clear).
	short := append(secrets, Secret{Name: "ODD", Value: []byte("ab\x1b[1;2;3")})
	everySplit(t, short, []byte("x tok-\x1b[31m3f9a2c7e\x1b[0m y\n"), []byte("x <ward:TOKEN>\x1b[31m\x1b[0m y\n"))
	// A complete style before the one left open: a style, in the value as
	// in output. It was text in the value, which then matched neither as
	// it is (output's style is not text) nor without its styles (none
	// made), and went by in clear.
	open := []Secret{{Name: "K3", Value: []byte("1m3\x1b[13m\x1b")}, {Name: "K4", Value: []byte("1bd\x1b[m\x1b[1")}, secrets[2]}
	everySplit(t, open, []byte("4 1m3\x1b[13m\x1b\n5 1bd\x1b[m\x1b[1\n"), []byte("4 <ward:K3>\x1b[13m\n5 <ward:K4>\x1b[m\n"))
	everySplit(t, open, []byte("e 1m3\x1b[13m\x1b"), []byte("e <ward:K3>\x1b[13m"))
}
