package main

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// Templates render secrets into the formats real programs parse: each
// test here has the program a user runs read the rendered text back, and
// compares what it read with the value inside the child, never printing
// either.

// TestURLQueryUserinfoReadBackByLibpq: the README's connection URL,
// postgres://USER:PASS@host/db with both escaped by urlquery, logs in to
// a real PostgreSQL that checks the password, and Python's urllib,
// SQLAlchemy's make_url and Node's WHATWG URL read back the very user and
// password the store holds.
// urlquery wrote a space as "+", which userinfo does not decode: a
// password with a space was refused by PostgreSQL and read back with a
// plus by every URL parser.
func TestURLQueryUserinfoReadBackByLibpq(t *testing.T) {
	pg := vaulttest.RequireCluster(t)
	if !pg.Passwords {
		t.Fatal("the PostgreSQL test cluster does not check passwords: a login would prove nothing")
	}
	needProgram(t, "node", "nodejs")
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import sqlalchemy").CombinedOutput(); err != nil {
		vaulttest.RequireIntegration(t, fmt.Sprintf("no SQLAlchemy for %s (%v: %s): apt-get install python3-sqlalchemy, as scripts/test.sh does", python, err, strings.TrimSpace(lastLine(string(out)))))
	}
	w := newWardEnv(t)
	user := "ward_tpl+" + canary("user")[len("canary-user-"):] + "@x:y"
	pass := canary("pgpass") + ` a+b@c:d%25e/f#g?h"i'j\k é&=;`
	// The role is made through psql's stdin: never a value in argv.
	create := exec.Command(pg.Psql(), pg.URL, "-w", "-X", "-v", "ON_ERROR_STOP=1", "-q")
	create.Env = vaulttest.Env("")
	create.Stdin = strings.NewReader(fmt.Sprintf(`CREATE ROLE "%s" LOGIN IN ROLE ward_pw PASSWORD $ward_pw$%s$ward_pw$;`, user, pass))
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("create the role: %v (%d bytes of output)", err, len(out))
	}
	t.Cleanup(func() {
		drop := exec.Command(pg.Psql(), pg.URL, "-w", "-X", "-q")
		drop.Env = vaulttest.Env("")
		drop.Stdin = strings.NewReader(fmt.Sprintf(`DROP ROLE "%s";`, user))
		drop.Run()
	})
	w.set("t/user", user)
	w.set("t/pass", pass)
	m := w.manifest(`version: 1
env:
  DB_USER: {ref: local://t/user, mask: false}
  DB_PASS: local://t/pass
  DATABASE_DSN:
    template: "postgres://{{ .DB_USER | urlquery }}:{{ .DB_PASS | urlquery }}@127.0.0.1:` + pg.Port + `/postgres?sslmode=disable"
`)
	// psql logs in with the DSN through \connect on its stdin, not its
	// argv; the first connection is the superuser's, which is trusted.
	child := `
got=$(printf '\\connect %s\nselect current_user;\n' "$DATABASE_DSN" | "$PSQL" -X -w -q -tA -v ON_ERROR_STOP=1 "$ADMIN_URL" 2>&1)
if [ "$got" = "$DB_USER" ]; then echo "libpq: logged in"; else printf 'libpq: refused: %s\n' "$(printf %s "$got" | sed 's/"[^"]*"/X/g')"; fi
"$PYTHON" -c '
import os, urllib.parse as u
from sqlalchemy.engine import make_url
r = u.urlsplit(os.environ["DATABASE_DSN"])
ok = u.unquote_to_bytes(r.password) == os.environb[b"DB_PASS"] and u.unquote_to_bytes(r.username) == os.environb[b"DB_USER"]
print("python: same" if ok else "python: different")
s = make_url(os.environ["DATABASE_DSN"])
ok = s.password == os.environ["DB_PASS"] and s.username == os.environ["DB_USER"]
print("sqlalchemy: same" if ok else "sqlalchemy: different")
'
node -e '
const u = new URL(process.env.DATABASE_DSN)
const ok = decodeURIComponent(u.password) === process.env.DB_PASS && decodeURIComponent(u.username) === process.env.DB_USER
console.log(ok ? "node: same" : "node: different")
'
`
	cmd := w.command("run", "-m", m, "--", "sh", "-c", child)
	cmd.Env = append(cmd.Env, "ADMIN_URL="+pg.URL, "PSQL="+pg.Psql(), "PYTHON="+python)
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), pass) || strings.Contains(string(out), user) {
		t.Fatal("a value is in the output")
	}
	if err != nil {
		t.Fatalf("ward run: %v\n%s", err, out)
	}
	for _, want := range []string{"libpq: logged in", "python: same", "sqlalchemy: same", "node: same"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("want %q in the child's output:\n%s", want, out)
		}
	}
}

// TestJSONRefusesInvalidUTF8: a value that is not UTF-8 (a binary key, a
// password in Latin-1) fails the start of a template that quotes it with
// json, naming the template's place, never the value. json.Marshal put
// U+FFFD for each bad byte: the child read a password other than the
// store's, with no error anywhere.
func TestJSONRefusesInvalidUTF8(t *testing.T) {
	needProgram(t, "python3", "python3")
	w := newWardEnv(t)
	w.set("t/bin", canary("bin")+"-p\xe4ss\xff\xfe")
	m := w.manifest(`version: 1
env:
  B: local://t/bin
files:
  - path: app.json
    template: '{"password": {{ .B | json }}}'
    env: APP_JSON
`)
	code, stdout, stderr := w.run("run", "-m", m, "--", "python3", "-c", `
import json, os
got = json.load(open(os.environ["APP_JSON"]))["password"].encode("utf-8", "surrogateescape")
print("python: same" if got == os.environb[b"B"] else "python: different")
`)
	if code != 125 || stdout != "" {
		t.Fatalf("ward run: exit %d, want 125 before the child starts; the child printed %q", code, stdout)
	}
	if !strings.Contains(stderr, ":6:15: files[0].template: render template: json: the value is not valid UTF-8") ||
		!strings.Contains(stderr, "base64") {
		t.Errorf("want the template's place, that the value is not UTF-8 and the advice of base64 in:\n%s", stderr)
	}
}

// TestJSONReadBackAsYAMLAndTOML: json's output is a JSON string, a YAML
// double-quoted scalar and a TOML basic string, as a config file rendered
// with it may be any of them: Node's JSON.parse, PyYAML and Python's
// tomllib read back the value the store holds, with DEL, C1 controls (NEL
// among them) and U+FFFE in it. json.Marshal wrote those raw: PyYAML
// refused the file ("unacceptable character #x007f"), and read a raw NEL
// as a line break, folded to a space; tomllib refused DEL.
func TestJSONReadBackAsYAMLAndTOML(t *testing.T) {
	needProgram(t, "node", "nodejs")
	const python = "/usr/bin/python3"
	if out, err := exec.Command(python, "-c", "import yaml").CombinedOutput(); err != nil {
		vaulttest.RequireIntegration(t, fmt.Sprintf("no PyYAML for %s (%v: %s): apt-get install python3-yaml, as scripts/test.sh does", python, err, strings.TrimSpace(lastLine(string(out)))))
	}
	w := newWardEnv(t)
	values := map[string]string{
		"NEL": canary("nel") + "-a\u0085b",
		"DEL": canary("del") + "-a\x7fb\u009b\u0080c",
		"NON": canary("non") + "-a\ufffe\uffffb\u2028\"\\\n\té\U0001F600",
	}
	// One YAML and one TOML file a value, so that one refused does not
	// hide another.
	m, files := "version: 1\nenv:\n", "files:\n"
	for name, v := range values {
		w.set("t/"+name, v)
		m += "  " + name + ": local://t/" + name + "\n"
		files += "  - {path: " + name + ".yaml, template: 'v: {{ ." + name + " | json }}', env: " + name + "_YAML}\n"
		files += "  - {path: " + name + ".toml, template: 'v = {{ ." + name + " | json }}', env: " + name + "_TOML}\n"
	}
	m += files + "  - path: app.json\n    template: '{\"NEL\": {{ .NEL | json }}, \"DEL\": {{ .DEL | json }}, \"NON\": {{ .NON | json }}}'\n    env: APP_JSON\n"
	code, stdout, stderr := w.run("run", "-m", w.manifest(m), "--", "sh", "-c", python+` -c '
import os, tomllib, yaml
for name in ("NEL", "DEL", "NON"):
    try:
        got = yaml.safe_load(open(os.environ[name + "_YAML"]))["v"]
        print("yaml", name, "same" if got.encode() == os.environb[name.encode()] else "different")
    except yaml.YAMLError as e:
        print("yaml", name, "refused:", str(e).splitlines()[0])
    try:
        got = tomllib.load(open(os.environ[name + "_TOML"], "rb"))["v"]
        print("toml", name, "same" if got.encode() == os.environb[name.encode()] else "different")
    except tomllib.TOMLDecodeError as e:
        print("toml", name, "refused:", e)
'
node -e '
const got = JSON.parse(require("fs").readFileSync(process.env.APP_JSON, "utf8"))
for (const name of ["NEL", "DEL", "NON"]) console.log("json", name, got[name] === process.env[name] ? "same" : "different")
'`)
	if code != 0 {
		t.Fatalf("ward run: exit %d\n%s", code, stderr)
	}
	for name := range values {
		for _, reader := range []string{"yaml", "toml", "json"} {
			if want := reader + " " + name + " same"; !strings.Contains(stdout, want) {
				t.Errorf("want %q in the child's output:\n%s", want, stdout)
			}
		}
	}
}

// TestJSONFormMasked: with --mask, a child printing a value as json wrote
// it in a rendered file (DEL escaped, é raw: neither Go's JSON form nor
// the ASCII-only one) prints it masked.
func TestJSONFormMasked(t *testing.T) {
	needProgram(t, "python3", "python3")
	w := newWardEnv(t)
	tag := canary("json")
	w.set("t/p", tag+"-é\x7f\u0085-x")
	m := w.manifest(`version: 1
env:
  P: local://t/p
files:
  - {path: app.json, template: '{"p": {{ .P | json }}}', env: APP_JSON}
`)
	// The child prints what is between the quotes, as a program logging
	// its config's line would.
	code, stdout, stderr := w.run("run", "--mask", "-m", m, "--", "python3", "-c", `
import os
s = open(os.environ["APP_JSON"]).read()
print("p=" + s[len('{"p": "'):-len('"}')] + "|")
`)
	if code != 0 || !strings.HasPrefix(stdout, "p=") || !strings.HasSuffix(stdout, "|\n") {
		t.Fatalf("ward run: exit %d, %d bytes out\n%s", code, len(stdout), stderr)
	}
	if strings.Contains(stdout, tag) {
		t.Error("P as the json function writes it is in the child's output, unmasked")
	}
}

// TestEscapeChainBounded: json and js double a backslash, and a chain of
// them, {{ .B | json | json | ... }}, grew a value exponentially in
// memory before the 1 MiB check on the rendered text saw any of it
// (`ward check` passed it, as it depends on the value): ward run died with
// "fatal error: out of memory" (ulimit -v here; the OOM killer without
// it). Each step's result is bounded now, and the start fails with 125.
func TestEscapeChainBounded(t *testing.T) {
	w := newWardEnv(t)
	w.set("t/b", canary("chain")+`-\\\\%%%%`)
	for _, fn := range []string{"json", "js"} {
		t.Run(fn, func(t *testing.T) {
			m := w.manifest("version: 1\nenv:\n  B: local://t/b\nfiles:\n  - {path: x, template: '{{ .B" + strings.Repeat(" | "+fn, 48) + " }}'}\n")
			if code, _, stderr := w.run("check", "-m", m); code != 0 {
				t.Fatalf("ward check: exit %d, want 0 (the values decide)\n%s", code, stderr)
			}
			// ward run under a 2 GB address-space limit, so that the old
			// code fails here rather than at the machine's OOM killer.
			cmd := w.command("run", "-m", m, "--", "true")
			cmd.Path, cmd.Args = "/bin/sh", append([]string{"sh", "-c", `ulimit -v 2000000 && exec ward "$@"`, "sh"}, cmd.Args[1:]...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 125 || !strings.Contains(string(out), "render template: the result is over 1048576 bytes") {
				t.Errorf("ward run: %v, want exit 125 and the result over 1 MiB; output:\n%.2000s", err, out)
			}
			if strings.Contains(string(out), w.canaries[0]) {
				t.Error("the value is in ward's output")
			}
		})
	}
}

// TestShellAndBase64ReadBack: shell's output, eval'd and sourced from a
// rendered file by dash, bash and zsh, and base64's, decoded by base64 -d
// (a Docker config's auth, built with printf), give back the value the
// store holds: quotes, backslashes, a newline, $ and `, bytes that are not
// UTF-8.
func TestShellAndBase64ReadBack(t *testing.T) {
	shells := []string{"dash", "bash", "zsh"}
	for _, sh := range shells {
		needProgram(t, sh, sh)
	}
	w := newWardEnv(t)
	w.set("t/v", canary("sh")+" a'b\"c\\d\ne$f`g!h\xff\xe4%i{j}*?~\t")
	w.set("t/u", "user:"+canary("u"))
	m := w.manifest(`version: 1
env:
  V: local://t/v
  U: local://t/u
  Q: {template: "{{ .V | shell }}"}
  AUTH: {template: '{{ printf "%s:%s" .U .V | base64 }}'}
files:
  - {path: env.sh, template: "export X={{ .V | shell }}\n", env: ENV_SH}
`)
	child := `want=$(printf %s "$V" | od -An -c)
for sh in ` + strings.Join(shells, " ") + `; do
	got=$($sh -c 'eval "Y=$Q"; printf %s "$Y"' | od -An -c)
	[ "$got" = "$want" ] && echo "$sh eval same" || echo "$sh eval different"
	got=$($sh -c '. "$ENV_SH"; printf %s "$X"' | od -An -c)
	[ "$got" = "$want" ] && echo "$sh source same" || echo "$sh source different"
done
[ "$(printf %s "$AUTH" | base64 -d | od -An -c)" = "$(printf %s:%s "$U" "$V" | od -An -c)" ] && echo "base64 same" || echo "base64 different"
`
	code, stdout, stderr := w.run("run", "-m", m, "--", "sh", "-c", child)
	if code != 0 {
		t.Fatalf("ward run: exit %d\n%s", code, stderr)
	}
	for _, sh := range shells {
		for _, how := range []string{"eval", "source"} {
			if want := sh + " " + how + " same"; !strings.Contains(stdout, want) {
				t.Errorf("want %q in the child's output:\n%s", want, stdout)
			}
		}
	}
	if !strings.Contains(stdout, "base64 same") {
		t.Errorf("want base64 same in the child's output:\n%s", stdout)
	}
}

// TestShellFormMasked: with --mask, bash's xtrace (set -x, as CI scripts
// run) of a file rendered with shell prints a value with a ' as shell
// wrote it, each ' closed, escaped and reopened, and Python's shlex.quote
// with each ' closed, double-quoted and reopened: both are masked. Neither was a form --mask knew, and the value was printed.
func TestShellFormMasked(t *testing.T) {
	needProgram(t, "bash", "bash")
	needProgram(t, "python3", "python3")
	w := newWardEnv(t)
	tag := canary("xtrace")
	w.set("t/v", "it's-"+tag)
	m := w.manifest(`version: 1
env:
  V: local://t/v
files:
  - {path: env.sh, template: "export X={{ .V | shell }}\n", env: ENV_SH}
`)
	code, stdout, stderr := w.run("run", "--mask", "-m", m, "--", "bash", "-xc", `. "$ENV_SH"; python3 -c 'import os, shlex; print(shlex.quote(os.environ["X"]))'`)
	if code != 0 || !strings.Contains(stderr, "++ export") {
		t.Fatalf("ward run: exit %d, want 0 and bash's trace\n%s", code, stderr)
	}
	if n := strings.Count(stdout+stderr, tag); n > 0 {
		t.Errorf("V as a shell quotes it is in the output %d times, unmasked", n)
	}
}
