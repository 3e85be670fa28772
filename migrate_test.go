package main

// A team moving to ward from another tool: what that tool exports, fed to
// `ward import`, must reach the program under `ward run` byte for byte.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
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
	importAndCompare(t, w, file.String(), values, "chamber holds")
}

// importAndCompare imports the dotenv text file (written outside w.dir,
// which the audit searches for canaries) into a new ward.yaml under the
// prefix svc/, runs the program with it, and fails for each of values
// the program does not get as it is (what the tool that wrote file,
// source, holds).
func importAndCompare(t *testing.T, w *wardEnv, file string, values map[string]string, source string) {
	t.Helper()
	env := filepath.Join(t.TempDir(), "export.env")
	if err := os.WriteFile(env, []byte(file), 0o600); err != nil {
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
			t.Errorf("%s: the program gets another value than %s", name, source)
		}
	}
}

// TestImportJSONExports: what `doppler secrets download --format json`,
// `chamber export --format json`, `vault kv get -format=json -field=data`
// and a Secrets Manager secret's SecretString print, piped to `ward
// import -`, reaches the program byte for byte; Vault's and the AWS
// CLI's whole answers are refused with the command that gives the
// secret's object. ward import read JSON as a dotenv file: "line 1:
// expected KEY=VALUE", with a hint to quote values.
func TestImportJSONExports(t *testing.T) {
	_, addr, token := testVault(t)
	bin := os.Getenv("VAULT_TEST_BIN")
	if bin == "" {
		vaulttest.RequireIntegration(t, "no Vault binary: run scripts/vault-server.sh build and . DIR/vault.env")
	}
	w := newWardEnv(t)
	vaultValues := map[string]any{
		"db_password": w.canary("vault-pw") + `p@ss!"w\rd $HOME` + "\nline two\t",
		"api_key":     w.canary("vault-key") + "é😀",
	}
	path := "migrate-" + strings.ToLower(w.canary("path")[len("canary-"):])
	kvPut(t, "secret", path, vaultValues)
	vaultCLI := func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin", "VAULT_ADDR=" + addr, "VAULT_TOKEN=" + token}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("vault %s: %v", args[0], err)
		}
		return out
	}
	// The command the README gives, and the key listing's first half.
	data := vaultCLI("kv", "get", "-format=json", "-field=data", "secret/"+path)
	whole := vaultCLI("kv", "get", "-format=json", "secret/"+path)

	dopplerValues := map[string]string{
		"STRIPE_KEY":   w.canary("doppler") + "\"q\" \\ ${X} # not a comment",
		"DATABASE_URL": "postgres://app:" + w.canary("doppler-url") + "@db:5432/app",
		"PORT":         "8080",
	}
	doppler, err := json.MarshalIndent(dopplerValues, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	// What an AWS CLI prints for --query SecretString --output text: the
	// secret's JSON.
	awsValues := map[string]string{"username": "app", "password": w.canary("aws-pw") + "{}[]:,"}
	secretString, _ := json.Marshal(awsValues)
	awsAnswer, _ := json.MarshalIndent(map[string]any{
		"ARN":           "arn:aws:secretsmanager:eu-west-1:123456789012:secret:myapp-AbCdEf",
		"Name":          "myapp",
		"VersionId":     "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
		"SecretString":  string(secretString),
		"VersionStages": []string{"AWSCURRENT"},
		"CreatedDate":   1523477145.713,
	}, "", "    ")

	importStdin := func(manifest, prefix string, in []byte) (int, string) {
		t.Helper()
		cmd := w.command("import", "-m", manifest, "--name-prefix", prefix, "-")
		cmd.Stdin = bytes.NewReader(in)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		code := 0
		if err := cmd.Run(); err != nil {
			code = exitCode(t, err)
		}
		for _, c := range w.canaries {
			if strings.Contains(out.String()+errb.String(), c) {
				t.Errorf("ward import: a canary is in its output")
			}
		}
		return code, errb.String()
	}
	check := func(manifest string, want map[string]string) {
		t.Helper()
		code, stdout, stderr := w.run("run", "-m", manifest, "--", "helper", "env")
		if code != 0 {
			t.Fatalf("ward run: exit %d: %s", code, stderr)
		}
		got := envHashes(t, stdout)
		for name, v := range want {
			if got[name] != helper.Hash(v) {
				t.Errorf("%s: the program gets another value than the export held", name)
			}
		}
	}

	t.Run("vault kv get -field=data", func(t *testing.T) {
		m := filepath.Join(w.dir, "vault.yaml")
		code, stderr := importStdin(m, "vault/", data)
		if code != 0 {
			t.Fatalf("ward import: exit %d: %s", code, stderr)
		}
		if !strings.Contains(stderr, "ascii_upcase") {
			t.Errorf("no warning that the lower-case names are kept: %s", stderr)
		}
		want := map[string]string{}
		for k, v := range vaultValues {
			want[k] = v.(string)
		}
		check(m, want)
	})
	t.Run("doppler secrets download --format json", func(t *testing.T) {
		m := filepath.Join(w.dir, "doppler.yaml")
		if code, stderr := importStdin(m, "doppler/", doppler); code != 0 {
			t.Fatalf("ward import: exit %d: %s", code, stderr)
		}
		check(m, dopplerValues)
	})
	t.Run("a Secrets Manager SecretString", func(t *testing.T) {
		m := filepath.Join(w.dir, "aws.yaml")
		if code, stderr := importStdin(m, "aws/", secretString); code != 0 {
			t.Fatalf("ward import: exit %d: %s", code, stderr)
		}
		check(m, awsValues)
	})
	refusals := []struct {
		name, hint string
		in         []byte
	}{
		{"vault kv get -format=json", "vault kv get -format=json -field=data", whole},
		{"aws secretsmanager get-secret-value", "--query SecretString --output text", awsAnswer},
		// As az prints it: keys sorted, attributes first.
		{"az keyvault secret show", "--query value --output tsv", []byte(`{
  "attributes": {"created": "2024-01-01T00:00:00+00:00", "enabled": true, "recoveryLevel": "Recoverable+Purgeable"},
  "contentType": null,
  "id": "https://myvault.vault.azure.net/secrets/app/0123456789abcdef0123456789abcdef",
  "name": "app",
  "value": "{\"API_KEY\": \"` + w.canary("az") + `\"}"
}`)},
		// As kubectl prints it: apiVersion, data (base64), kind.
		{"kubectl get secret -o json", "jq '.data | map_values(@base64d)'", []byte(`{
    "apiVersion": "v1",
    "data": {"API_KEY": "c2VjcmV0"},
    "kind": "Secret",
    "metadata": {"name": "app", "namespace": "default"},
    "type": "Opaque"
}`)},
		{"gcloud secrets versions access --format=json", "without --format=json", []byte(`{
  "name": "projects/123/secrets/app/versions/1",
  "payload": {"data": "e30=", "dataCrc32c": "1"}
}`)},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			m := filepath.Join(w.dir, "refused.yaml")
			code, stderr := importStdin(m, "refused/", r.in)
			_, hint, _ := strings.Cut(stderr, "ward: hint: ")
			if code != 125 || !strings.Contains(hint, r.hint) {
				t.Errorf("got exit %d and %q, want 125 and the hint %q", code, stderr, r.hint)
			}
			if _, err := os.Stat(m); err == nil {
				t.Errorf("a manifest was written")
			}
		})
	}
}

// TestImportComposeNameAlone: a docker compose env_file's line with a
// name alone (`DEBUG`: compose passes the variable on from its own
// environment) is refused saying so, with what to do instead; it was
// "expected KEY=VALUE" and a hint to quote values, which it has none of.
func TestImportComposeNameAlone(t *testing.T) {
	w := newWardEnv(t)
	secret := w.canary("compose")
	env := filepath.Join(t.TempDir(), "app.env")
	if err := os.WriteFile(env, []byte("API_TOKEN="+secret+"\nPORT=3000\nDEBUG\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	manifest := filepath.Join(w.dir, "ward.yaml")
	code, _, stderr := w.run("import", "-m", manifest, "--name-prefix", "compose/", env)
	if code != 125 || !strings.Contains(stderr, "line 3: a name without '=': docker compose's env_file passes") || !strings.Contains(stderr, "ward: hint: a name alone: delete the line") {
		t.Errorf("got exit %d and %q, want 125, the line and what compose does with it, and the hint to delete it", code, stderr)
	}
	if _, err := os.Stat(manifest); err == nil {
		t.Errorf("a manifest was written")
	}
}

// TestImportEnvExample: a team's committed .env.example, its secrets
// empty, imported to start the manifest: each empty secret is warned of
// with the `ward local set` that fills it, and the template, which holds
// nothing, is not called leaked nor to be deleted. ward stored the empty
// secrets in silence (the program then started with them, where `ward
// local set` refuses an empty value) and told the user to rotate every
// value of the template, `git rm --cached` it and delete it.
func TestImportEnvExample(t *testing.T) {
	w := newWardEnv(t)
	repo := filepath.Join(w.dir, "app")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	example := filepath.Join(repo, ".env.example")
	if err := os.WriteFile(example, []byte("# copy to .env and fill in\nDATABASE_URL=\nSTRIPE_KEY=\nPORT=3000\nNODE_ENV=development\nAPI_TOKEN=\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"init", "-q"}, {"add", ".env.example"}, {"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "template"}} {
		git := exec.Command("git", args...)
		git.Dir = repo
		if out, err := git.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v: %s", args[0], err, out)
		}
	}
	manifest := filepath.Join(repo, "ward.yaml")
	code, stdout, stderr := w.run("import", "-m", manifest, "--name-prefix", "app/", example)
	if code != 0 {
		t.Fatalf("ward import: exit %d: %s", code, stderr)
	}
	for _, want := range []string{
		"line 3: STRIPE_KEY: the value is empty: it is stored as an empty secret, which the program gets under ward run (a template's placeholder? give it its value: ward local set app/STRIPE_KEY)",
		"line 6: API_TOKEN: the value is empty",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("no warning %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "leaked") || strings.Contains(stdout, "delete") {
		t.Errorf("the template, whose secrets are empty, is called leaked or to be deleted:\n%s%s", stdout, stderr)
	}
	if !strings.Contains(stdout, "give each secret its value (ward local set NAME: they are empty)") {
		t.Errorf("the next step is not to give the secrets their values:\n%s", stdout)
	}
}

// TestImportForeignReferences: the env file of `op run --env-file` holds
// 1Password references, and secrets-init's environment ARNs: the tool
// resolved them for the program. ward import stored the references as
// the secrets (or kept them in ward.yaml as plain URLs), so the program
// got "op://Dev/api/token" for its key; it now refuses, nothing written,
// with the command that resolves them.
func TestImportForeignReferences(t *testing.T) {
	w := newWardEnv(t)
	files := t.TempDir()
	tests := []struct {
		name, line, hint string
	}{
		{"op run --env-file", "API_KEY=op://Dev/api/token", "op inject -i " + filepath.Join(files, "0.env") + " | ward import -"},
		{"an op url", `DATABASE_URL="op://Dev/postgres/url"`, "op inject -i"},
		{"an op template inside a value", "DATABASE_URL=postgres://app:{{ op://Dev/db/password }}@db/app", "op inject -i"},
		{"secrets-init's arn", "DB_PASSWORD=arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/db-AbCdEf", "awssm://arn:aws:secretsmanager:"},
		{"secrets-init's ssm arn", "FLAG=arn:aws:ssm:eu-west-1:123456789012:parameter/app/flag", "ssm:///"},
		{"secrets-init's google name", "TOKEN=gcp:secretmanager:projects/p/secrets/token/versions/latest", "gcpsm://"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secret := w.canary("beside")
			env := filepath.Join(files, fmt.Sprintf("%d.env", i))
			if err := os.WriteFile(env, []byte("OTHER_SECRET="+secret+"\n"+tt.line+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			manifest := filepath.Join(w.dir, fmt.Sprintf("ward-%d.yaml", i))
			code, _, stderr := w.run("import", "-m", manifest, "--name-prefix", fmt.Sprintf("ref%d/", i), env)
			_, hint, _ := strings.Cut(stderr, "ward: hint: ")
			if code != 125 || !strings.Contains(stderr, "line 2: ") || !strings.Contains(stderr, "ward import would store the reference, not the secret") || !strings.Contains(hint, tt.hint) {
				t.Errorf("got exit %d and %q, want 125, line 2, and the hint %q", code, stderr, tt.hint)
			}
			if _, err := os.Stat(manifest); err == nil {
				t.Errorf("a manifest was written")
			}
			if code, stdout, _ := w.run("local", "list"); code == 0 && strings.Contains(stdout, fmt.Sprintf("ref%d/", i)) {
				t.Errorf("the local store was written")
			}
		})
	}
}

// shellQuote is alessio/shellescape's Quote, which `chamber env` writes
// each value with: safe text as it is, the rest in single quotes, a '
// as '"'"'.
func shellQuote(v string) string {
	if v == "" {
		return "''"
	}
	safe := true
	for _, c := range v {
		safe = safe && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("@%+=:,./-_", c))
	}
	if safe {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'"'"'`) + "'"
}

// TestImportChamberEnv: `chamber env svc > .env` (export lines for a
// shell to eval, as chamber exec gave them) imported gives the program
// the values; a password with a ' in it was refused ("unexpected text
// after the closing quote"), with a hint to quote the value.
func TestImportChamberEnv(t *testing.T) {
	w := newWardEnv(t)
	values := map[string]string{
		"DB_PASSWORD": w.canary("quote") + "it's o'clock",
		"TLS_KEY":     "-----BEGIN KEY-----\n" + w.canary("pem") + "\n-----END KEY-----\n",
		"API_TOKEN":   w.canary("safe"),
		"SMTP_PASSWD": w.canary("dollar") + ` $HOME "q" \n`,
	}
	var file strings.Builder
	for name, v := range values {
		file.WriteString("export " + name + "=" + shellQuote(v) + "\n")
	}
	importAndCompare(t, w, file.String(), values, "chamber env gave")
}

// TestComingFromChamberAndSecretsInit checks the migration table's rows
// for chamber and secrets-init against the AWS emulator: a secret named
// by its ARN with a field, a parameter under a name chamber would have
// lower-cased, and the AWS credentials ward read them with kept from the
// child unless the manifest names them.
func TestComingFromChamberAndSecretsInit(t *testing.T) {
	srv, w := awsWard(t)
	pass, token := w.canary("arn-pw"), w.canary("tf-token")
	srv.PutSecretString("prod/db", `{"username":"app","password":"`+pass+`"}`)
	srv.PutParameter("/myapp/tf_token", token, true)
	refs := "env:\n  DB_PASSWORD: awssm://" + srv.SecretARN("prod/db") + "#password\n  TF_VAR_token: ssm:///myapp/tf_token\n"
	creds := []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
	for _, tt := range []struct {
		name, manifest string
		creds          bool
	}{
		{"as the table writes it", "version: 1\n" + refs, false},
		{"with the credentials named", "version: 1\ninherit: [\"*\", AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY]\n" + refs, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := w.run("run", "-m", w.manifest(tt.manifest), "--", "helper", "env")
			if code != 0 {
				t.Fatalf("ward run: exit %d: %s", code, stderr)
			}
			got := envHashes(t, stdout)
			if got["DB_PASSWORD"] != helper.Hash(pass) || got["TF_VAR_token"] != helper.Hash(token) {
				t.Errorf("the child does not have DB_PASSWORD and TF_VAR_token")
			}
			for _, name := range creds {
				if _, ok := got[name]; ok != tt.creds {
					t.Errorf("%s reaches the child: %v, want %v", name, ok, tt.creds)
				}
			}
		})
	}
}

// TestVaultNoAnswerSaysSo: the envconsul row's promise, a Vault that
// takes the connection and never answers fails the start with 125 after
// the request timeout, and the error says it was no answer in that time
// and which setting bounds it. It said `look up its mount: context
// deadline exceeded`, with the hint that the child was not started.
func TestVaultNoAnswerSaysSo(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c) // held open, never answered
		}
	}()
	w := newWardEnv(t)
	m := w.manifest("version: 1\nstores:\n  vault:\n    timeout: 2s\nenv:\n  S: vault://secret/app#x\n")
	started := filepath.Join(w.dir, "started")
	cmd := w.command("run", "-m", m, "--", "helper", "touch", started)
	cmd.Env = append(cmd.Env, "VAULT_ADDR=http://"+l.Addr().String(), "VAULT_TOKEN=t", "WARD_LOG_FORMAT=text")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if code := exitWithin(t, cmd, time.Minute); code != 125 {
		t.Errorf("got exit %d, want 125", code)
	}
	if !strings.Contains(stderr.String(), "no answer within 2s, retries included (stores.vault.timeout, VAULT_CLIENT_TIMEOUT; vault at http://"+l.Addr().String()) {
		t.Errorf("the error does not say Vault gave no answer within stores.vault.timeout:\n%s", stderr.String())
	}
	if _, err := os.Stat(started); err == nil {
		t.Errorf("the child started")
	}
}

// TestImportNameNotAVariable: a docker compose env_file (or a Spring
// Boot .env) may name a variable with dots or dashes, which compose
// passes on and ward.yaml cannot hold: the refusal says to rename it, as
// the program can read it; it said to quote values.
func TestImportNameNotAVariable(t *testing.T) {
	w := newWardEnv(t)
	env := filepath.Join(t.TempDir(), "app.env")
	if err := os.WriteFile(env, []byte("PORT=8080\nspring.datasource.password="+w.canary("spring")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := w.run("import", "-m", filepath.Join(w.dir, "ward.yaml"), "--name-prefix", "app/", env)
	_, hint, _ := strings.Cut(stderr, "ward: hint: ")
	if code != 125 || !strings.Contains(stderr, "line 2: invalid variable name") || !strings.HasPrefix(hint, "rename the variable") || !strings.Contains(hint, "SPRING_DATASOURCE_URL") {
		t.Errorf("got exit %d and %q, want 125, line 2 and the hint to rename it", code, stderr)
	}
}

// TestImportJSONSetInEnvironment: a JSON export is a store's (doppler,
// chamber, Vault), whose tool set its values over the environment's, so
// a name also set where ward import runs is not warned of as one the
// program never got, as a .env's line is (the npm dotenv package leaves
// a set variable as it is).
func TestImportJSONSetInEnvironment(t *testing.T) {
	w := newWardEnv(t)
	w.env = append(w.env, "MIGRATE_REGION=eu-west-1")
	for _, tt := range []struct {
		file string
		body string
		warn bool
	}{
		{"doppler.json", `{"MIGRATE_REGION": "us-east-1", "API_TOKEN": "` + w.canary("json") + `"}`, false},
		{"app.env", "MIGRATE_REGION=us-east-1\nAPI_TOKEN=" + w.canary("env") + "\n", true},
	} {
		t.Run(tt.file, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), tt.file)
			if err := os.WriteFile(file, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := w.run("import", "-m", filepath.Join(w.dir, tt.file+".yaml"), "--name-prefix", tt.file+"/", file)
			if code != 0 {
				t.Fatalf("ward import: exit %d: %s", code, stderr)
			}
			if got := strings.Contains(stderr, "MIGRATE_REGION: set in this environment too"); got != tt.warn {
				t.Errorf("warned that MIGRATE_REGION is set in the environment: %v, want %v:\n%s", got, tt.warn, stderr)
			}
		})
	}
}
