package main

// A team moving to ward from another tool: what that tool exports, fed to
// `ward import`, must reach the program under `ward run` byte for byte.

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wardsecrets/ward/testdata/helper"
)

// chamberQuote is how `chamber export --format dotenv` (and godotenv's
// Marshal, whose code chamber took) writes a value: in double quotes,
// with a backslash before \, ", !, $ and ` and \n, \r for line breaks.
func chamberQuote(v string) string {
	for _, c := range "\\\n\r\"!$`" {
		with := `\` + string(c)
		switch c {
		case '\n':
			with = `\n`
		case '\r':
			with = `\r`
		}
		v = strings.ReplaceAll(v, string(c), with)
	}
	return `"` + v + `"`
}

// TestImportChamberDotenvExport: `chamber export --format dotenv svc >
// .env; ward import .env` gives the program the values chamber holds. A
// password with a '!' (or a '`') reached it with a backslash before it.
func TestImportChamberDotenvExport(t *testing.T) {
	w := newWardEnv(t)
	values := map[string]string{
		"DB_PASSWORD":  canary("bang") + "Hunter2!",
		"API_TOKEN":    canary("tick") + "a`b`c",
		"SIGNING_KEY":  canary("all") + `!$HOME "q" \n` + "\nsecond line!",
		"SMTP_PASSWD":  canary("dollar") + "pa$$word",
		"SESSION_SALT": canary("plain") + "abc",
	}
	var file strings.Builder
	for name, v := range values {
		w.canaries = append(w.canaries, v)
		file.WriteString(name + "=" + chamberQuote(v) + "\n")
	}
	// Outside w.dir, which the audit searches for canaries.
	env := filepath.Join(t.TempDir(), "chamber.env")
	if err := os.WriteFile(env, []byte(file.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(w.dir, "ward.yaml")
	if code, _, stderr := w.run("import", "-m", manifest, "--name-prefix", "svc/", env); code != 0 {
		t.Fatalf("ward import: exit %d: %s", code, stderr)
	}
	code, stdout, stderr := w.run("run", "-m", manifest, "--", "helper", "env")
	if code != 0 {
		t.Fatalf("ward run: exit %d: %s", code, stderr)
	}
	got := envHashes(t, stdout)
	for name, v := range values {
		if got[name] != helper.Hash(v) {
			t.Errorf("%s: the program gets another value than chamber holds", name)
		}
	}
}
