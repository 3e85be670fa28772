package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// TestMaskTrimmedValue: a value with spaces around it (pasted into a store
// with them) is masked, and found by ward scan, also as the program trims
// it: `echo $TOKEN` unquoted, a config library's TrimSpace, and the
// base64 of what is left.
func TestMaskTrimmedValue(t *testing.T) {
	w := newWardEnv(t)
	c := canary("trim")
	w.set("padded", "  "+c+"\t \n")
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://padded\n")
	code, stdout, stderr := w.run("run", "--mask", "-m", m, "--", "sh", "-c",
		`set -- $TOKEN; echo "token=$1"; printf %s "$1" | base64 -w0; echo`)
	if code != 0 {
		t.Fatalf("ward run: exit %d: %s", code, stderr)
	}
	for what, form := range map[string]string{"trimmed": c, "trimmed base64": base64.StdEncoding.EncodeToString([]byte(c))} {
		if strings.Contains(stdout, form) {
			t.Errorf("TOKEN is in the child's output unmasked, %s", what)
		}
	}
	if !strings.Contains(stdout, "token=<ward:TOKEN>") {
		t.Errorf("no token=<ward:TOKEN> line in the child's output")
	}
}

// maskedLines runs script under `ward run --mask` with prefix and a
// canary as the value of TOKEN, and checks that its output has a line
// "LABEL: <ward:TOKEN>" (in quotes, or bash's $'...', if the program
// quotes it) for each label, which names the program that printed the
// value in one of its forms (never the value, which a failure must not
// print).
func maskedLines(t *testing.T, prefix, script string, labels ...string) {
	t.Helper()
	w := newWardEnv(t)
	w.set("token", prefix+canary("forms"))
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://token\n")
	code, stdout, stderr := w.run("run", "--mask", "-m", m, "--", "bash", "-c", script)
	if code != 0 {
		t.Fatalf("ward run: exit %d: %s", code, redactAll(stderr, w.canaries...))
	}
	got := map[string]bool{}
	for _, l := range strings.Split(stdout, "\n") {
		if label, rest, ok := strings.Cut(l, ": "); ok && strings.Trim(strings.TrimPrefix(rest, "$"), "'\"`") == "<ward:TOKEN>" {
			got[label] = true
		}
	}
	for _, label := range labels {
		if !got[label] {
			t.Errorf("%s: TOKEN is not masked in what it printed", label)
		}
	}
}

// TestMaskHex: a value printed in hex, as the tools that print hex do, is
// masked.
func TestMaskHex(t *testing.T) {
	needProgram(t, "xxd", "xxd")
	needProgram(t, "node", "nodejs")
	// The canary is 37 bytes: xxd -p wraps its 74 hex digits at 60.
	maskedLines(t, "", `
printf 'xxd -p: '; printf %s "$TOKEN" | xxd -p
printf 'xxd -p -c0: '; printf %s "$TOKEN" | xxd -p -c0
printf 'xxd -p -u -c0: '; printf %s "$TOKEN" | xxd -p -u -c0
python3 -c 'import os; t = os.environ["TOKEN"].encode(); print("hex():", t.hex()); print("hex(\" \"):", t.hex(" ")); print("upper():", t.hex().upper())'
node -e 'console.log("toString(hex):", Buffer.from(process.env.TOKEN).toString("hex"))'
`, "xxd -p", "xxd -p -c0", "xxd -p -u -c0", "hex()", `hex(" ")`, "upper()", "toString(hex)")
}

// TestMaskQuoted: a value with quotes, a backslash and a '$' in it, as
// bash's xtrace, printf %q and ${v@Q}, Python's repr and shlex.quote, and
// Node's util.inspect quote it, is masked.
func TestMaskQuoted(t *testing.T) {
	needProgram(t, "node", "nodejs")
	maskedLines(t, `it's "q" \w$ `, `
exec 2>&1
set -x
true xtrace: "$TOKEN"
{ set +x; } 2>/dev/null
printf 'printf %%q: %q\n' "$TOKEN"
echo "\${TOKEN@Q}: ${TOKEN@Q}"
python3 -c 'import os, shlex; t = os.environ["TOKEN"]; print("repr:", repr(t)); print("shlex.quote:", shlex.quote(t))'
node -e 'console.log("inspect:", require("util").inspect(process.env.TOKEN))'
`, "+ true xtrace", "printf %q", "${TOKEN@Q}", "repr", "shlex.quote", "inspect")
}

// TestMaskQuotedControlAndNonASCII: a value with control characters
// (one of them ESC, and DEL) beside a non-ASCII letter, as bash's printf
// %q and declare -p ($'...', octal, \E), Python's repr, Node's
// util.inspect (upper-case \x1B) and Go's %q quote it, is masked: each
// keeps the letter as it is, which no form had beside an escaped
// control character.
func TestMaskQuotedControlAndNonASCII(t *testing.T) {
	needProgram(t, "node", "nodejs")
	script := `
printf 'printf %%q: %q\n' "$TOKEN"
declare -p TOKEN | sed 's/^declare -x TOKEN=/declare -p: /'
LC_ALL=C bash -c 'printf "C printf %%q: %q\n" "$TOKEN"; declare -p TOKEN | sed "s/^declare -x TOKEN=/C declare -p: /"'
python3 -c 'import os; print("repr:", repr(os.environ["TOKEN"])); print("ascii:", ascii(os.environ["TOKEN"]))'
node -e 'console.log("inspect:", require("util").inspect(process.env.TOKEN))'
helper quote TOKEN
`
	labels := []string{"printf %q", "declare -p", "C printf %q", "C declare -p", "repr", "ascii", "inspect", "%q", "%+q"}
	maskedLines(t, "a\x01\u00e9\x1b[1m\x7f'q ", script, labels...)
	// A letter alone: bash in the C locale, Python's ascii() and Go's
	// %+q write it escaped too.
	maskedLines(t, "caf\u00e9-", script, labels...)
}

// TestMaskJSONEncoders: a value with '/', '=', "'", '<' and a non-ASCII
// letter in it, as PHP's json_encode ("\/", "\u00e4") and Java's Gson
// ("\u003d", "\u0027") write it in JSON, is masked.
func TestMaskJSONEncoders(t *testing.T) {
	needProgram(t, "php", "php-cli")
	needProgram(t, "java", "default-jre-headless")
	const gson = "/usr/share/java/gson.jar"
	if _, err := os.Stat(gson); err != nil {
		vaulttest.RequireIntegration(t, "no "+gson+" (Debian's libgoogle-gson-java)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "PrintJSON.java")
	if err := os.WriteFile(src, []byte(`import com.google.gson.Gson;
public class PrintJSON {
    public static void main(String[] args) {
        System.out.println("toJson: " + new Gson().toJson(System.getenv("TOKEN")));
    }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	maskedLines(t, "k/ä=x'<&> ", `
php -r 'echo "json_encode: ", json_encode(getenv("TOKEN")), "\n", "JSON_UNESCAPED_UNICODE: ", json_encode(getenv("TOKEN"), JSON_UNESCAPED_UNICODE), "\n";'
java -cp `+gson+` `+src+`
`, "json_encode", "JSON_UNESCAPED_UNICODE", "toJson")
}

// TestMaskEchoBase64: `echo "$TOKEN" | base64` encodes the value and
// echo's newline; a value longer than a line of base64 (a JWT, a GitHub
// token) is masked in what base64 and openssl base64 print, whatever
// follows it.
func TestMaskEchoBase64(t *testing.T) {
	needProgram(t, "openssl", "openssl")
	w := newWardEnv(t)
	c := canary("echo-base64")
	value := c + "-" + c[:64-len(c)] // 65 bytes: not a multiple of 3
	w.set("token", value)
	m := w.manifest("version: 1\nenv:\n  TOKEN: local://token\n")
	code, stdout, stderr := w.run("run", "--mask", "-m", m, "--", "sh", "-c",
		`echo "$TOKEN" | base64; echo "$TOKEN" | openssl base64`)
	if code != 0 {
		t.Fatalf("ward run: exit %d: %s", code, redactAll(stderr, w.canaries...))
	}
	encoded := base64.StdEncoding.EncodeToString([]byte(value + "\n"))
	for tool, width := range map[string]int{"base64": 76, "openssl base64": 64} {
		if strings.Contains(stdout, encoded[:width]) {
			t.Errorf("%s: the first line of TOKEN's base64 is in the output unmasked", tool)
		}
	}
	if n := strings.Count(stdout, "<ward:TOKEN>"); n != 2 {
		t.Errorf("got <ward:TOKEN> %d times in the output, want 2", n)
	}
}

// TestMaskDoubledQuotes: a value with quotes in it, as SQL and YAML quote
// it ("'" doubled: SQLite's quote() and .dump, PyYAML) and CSV does ('"'
// doubled), is masked.
func TestMaskDoubledQuotes(t *testing.T) {
	maskedLines(t, `it's: "q" `, `
/usr/bin/python3 -c '
import csv, io, os, sqlite3, yaml
t = os.environ["TOKEN"]
db = sqlite3.connect(":memory:")
print("quote():", db.execute("select quote(?)", (t,)).fetchone()[0])
db.execute("create table s (v text)")
db.execute("insert into s values (?)", (t,))
print("iterdump:", [l for l in db.iterdump() if l.startswith("INSERT")][0].removeprefix("INSERT INTO \"s\" VALUES(").removesuffix(");"))
print(yaml.safe_dump({"safe_dump": t}), end="")
row = io.StringIO()
csv.writer(row).writerow([t])
print("csv:", row.getvalue().strip())
'
`, "quote()", "iterdump", "safe_dump", "csv")
}

var urlChildProgram = &testProgram{pkg: "./testdata/urlchild"}

// TestMaskURLEncoders: a value with '/', '+', '=', ':', '@', '!', '<' and
// a space in it, percent-encoded by Python's quote() (which leaves '/' as
// it is), Node's URL (its userinfo set), JavaScript's encodeURI and Go's
// url.UserPassword, is masked.
func TestMaskURLEncoders(t *testing.T) {
	needProgram(t, "node", "nodejs")
	child := urlChildProgram.build(t)
	maskedLines(t, "k/+=:@!< -", child+`
python3 -c 'import os, urllib.parse; print("quote:", urllib.parse.quote(os.environ["TOKEN"]))'
node -e 'const u = new URL("https://db/"); u.password = process.env.TOKEN; console.log("URL.password:", u.password)'
node -e 'console.log("encodeURI:", encodeURI(process.env.TOKEN))'
`, "url.UserPassword", "quote", "URL.password", "encodeURI")
}

// TestMaskHTMLEscaped: a value with '&', '<', '>' and quotes in it, as
// HTML and XML escapers write it (Python's html.escape and
// xml.sax.saxutils.escape, MarkupSafe as Jinja's autoescape uses it, PHP's
// htmlspecialchars), is masked.
func TestMaskHTMLEscaped(t *testing.T) {
	needProgram(t, "php", "php-cli")
	maskedLines(t, `a&b<c>d"e'f `, `
/usr/bin/python3 -c '
import html, os, markupsafe, xml.sax.saxutils
t = os.environ["TOKEN"]
print("html.escape:", html.escape(t))
print("saxutils.escape:", xml.sax.saxutils.escape(t))
print("markupsafe.escape:", markupsafe.escape(t))
'
php -r 'echo "htmlspecialchars: ", htmlspecialchars(getenv("TOKEN")), "\n", "ENT_COMPAT: ", htmlspecialchars(getenv("TOKEN"), ENT_COMPAT), "\n";'
`, "html.escape", "saxutils.escape", "markupsafe.escape", "htmlspecialchars", "ENT_COMPAT")
}

// TestMaskNonASCIIEscaped: a value with non-ASCII letters in it, as
// Python prints its UTF-8 bytes (`b'p\xc3\xa4ss'`) and PyYAML writes it
// by default (`"p\xE4ss"`), is masked.
func TestMaskNonASCIIEscaped(t *testing.T) {
	maskedLines(t, `pä'ss wörd `, `
/usr/bin/python3 -c '
import os, yaml
t = os.environ["TOKEN"]
print("bytes:", repr(t.encode()).removeprefix("b"))
print("print(bytes):", str(t.encode()).removeprefix("b"))
print(yaml.safe_dump({"safe_dump": t}), end="")
'
`, "bytes", "print(bytes)", "safe_dump")
}
