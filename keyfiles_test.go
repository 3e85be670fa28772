package main

// Key material through ward's secret files, loaded by the programs that
// use it (openssl, keytool, ssh-keygen): the bytes the store holds reach
// the file, and the program accepts the file as ward wrote it.

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/wardsecrets/ward/resolve/azure/azuretest"
)

// testKeystore makes a PKCS#12 keystore (an RSA key and its self-signed
// certificate, password "changeit", as keytool defaults to) with openssl,
// and returns its bytes.
func testKeystore(t *testing.T) []byte {
	t.Helper()
	needProgram(t, "openssl", "openssl")
	dir := t.TempDir()
	for _, args := range [][]string{
		{"req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost", "-days", "2", "-keyout", "key.pem", "-out", "cert.pem"},
		{"pkcs12", "-export", "-in", "cert.pem", "-inkey", "key.pem", "-name", "app", "-passout", "pass:changeit", "-out", "ks.p12"},
	} {
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", args[0], err, out)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "ks.p12"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wrapBase64 is b's base64 as coreutils' base64 prints it: lines of 76
// characters, each ending in a line break.
func wrapBase64(b []byte) string {
	s := base64.StdEncoding.EncodeToString(b)
	var out strings.Builder
	for len(s) > 76 {
		out.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	return out.String() + s + "\n"
}

// keystoreChild prints the SHA-256 of the file $KS, its mode, and the
// entries keytool finds in it.
const keystoreChild = `sha256sum "$KS" | cut -d" " -f1; stat -c %a "$KS"; keytool -list -keystore "$KS" -storetype PKCS12 -storepass changeit 2>&1 | grep -c PrivateKeyEntry`

// checkKeystoreFile checks keystoreChild's output: the file holds the
// keystore's bytes, mode 0400, and keytool reads its one key.
func checkKeystoreFile(t *testing.T, stdout string, p12 []byte) {
	t.Helper()
	sum := sha256.Sum256(p12)
	got := strings.Fields(stdout)
	if len(got) != 3 {
		t.Fatalf("the child printed %d fields, want 3 (hash, mode, keys): %q", len(got), stdout)
	}
	if got[0] != hex.EncodeToString(sum[:]) {
		t.Errorf("the file KS does not hold the keystore's bytes")
	}
	if got[1] != "400" {
		t.Errorf("got mode %s for KS, want 400", got[1])
	}
	if got[2] != "1" {
		t.Errorf("keytool -list found %s private keys in KS, want 1", got[2])
	}
}

// TestFileEncodingBase64Keystore: a team keeps its Java keystore in Vault
// KV as base64 text, as KV holds text only (`vault kv put
// secret/app keystore=@<(base64 keystore.p12)`), and Key Vault gives a
// certificate's PFX as base64; `encoding: base64` on the file gives the
// program the keystore itself, which keytool reads. A value that is not
// base64 fails the start with 125, naming the file and the reference.
func TestFileEncodingBase64Keystore(t *testing.T) {
	needProgram(t, "keytool", "default-jre-headless")
	p12 := testKeystore(t)
	files := func(ref string) string {
		return "files:\n  - path: tls/keystore.p12\n    ref: " + ref + "\n    encoding: base64\n    env: KS\n"
	}

	t.Run("vault kv", func(t *testing.T) {
		_, addr, token := testVault(t)
		w := newWardEnv(t)
		w.env = append(w.env, "VAULT_ADDR="+addr, "VAULT_TOKEN="+token)
		path := "keyfiles/" + canary("keystore")
		bad := w.canary("not-base64")
		w.canaries = append(w.canaries, base64.StdEncoding.EncodeToString(p12))
		kvPut(t, "secret", path, map[string]any{"wrapped": wrapBase64(p12), "oneline": base64.StdEncoding.EncodeToString(p12), "bad": bad})
		for _, field := range []string{"wrapped", "oneline"} {
			m := w.manifest("version: 1\n" + files("vault://secret/"+path+"#"+field))
			code, stdout, stderr := w.run("run", "-m", m, "--", "sh", "-c", keystoreChild)
			if code != 0 {
				t.Fatalf("%s: ward run: got exit code %d, want 0: %s", field, code, stderr)
			}
			checkKeystoreFile(t, stdout, p12)
		}

		m := w.manifest("version: 1\n" + files("vault://secret/"+path+"#bad"))
		code, stdout, stderr := w.run("run", "-m", m, "--", "sh", "-c", "echo started")
		if code != 125 || strings.Contains(stdout, "started") {
			t.Fatalf("a value that is not base64: got exit code %d and the child's %q, want 125 and no start: %s", code, stdout, stderr)
		}
		for _, want := range []string{"files[0]", "vault://secret/" + path + "#bad", "not base64"} {
			if !strings.Contains(stderr, want) {
				t.Errorf("a value that is not base64: the error does not name %q: %s", want, stderr)
			}
		}
	})

	t.Run("azure key vault certificate", func(t *testing.T) {
		srv, w := azureWard(t, (*azuretest.Server).Env)
		w.canaries = append(w.canaries, base64.StdEncoding.EncodeToString(p12))
		srv.SetSecret("tls-cert", base64.StdEncoding.EncodeToString(p12))
		m := w.manifest("version: 1\n" + azureStores + files("azkv://"+srv.VaultHost()+"/tls-cert"))
		code, stdout, stderr := w.run("run", "-m", m, "--", "sh", "-c", keystoreChild)
		if code != 0 {
			t.Fatalf("ward run: got exit code %d, want 0: %s", code, stderr)
		}
		checkKeystoreFile(t, stdout, p12)
	})
}

// TestFileOpenSSHKeyAsSSHReadsIt: an OpenSSH private key stored without
// its last line break (`vault kv put secret/ci ssh_key="$(cat
// id_ed25519)"`: the shell drops it; a key pasted into a web form), or
// with CRLF line ends (saved by a Windows editor), is one ssh refuses
// ("error in libcrypto"), though its bytes are the key. ward writes an
// OpenSSH key file with LF line ends and its last line break, and
// ssh-keygen -y, which loads a key as ssh -i does, reads it.
func TestFileOpenSSHKeyAsSSHReadsIt(t *testing.T) {
	needProgram(t, "ssh-keygen", "openssh-client")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "id_ed25519")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "ci", "-f", keyFile).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v\n%s", err, out)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := exec.Command("ssh-keygen", "-y", "-f", keyFile).Output()
	if err != nil {
		t.Fatalf("ssh-keygen -y: %v", err)
	}
	wantPub := strings.TrimSpace(string(pub))
	noNewline := strings.TrimSuffix(string(key), "\n")
	crlf := strings.ReplaceAll(string(key), "\n", "\r\n")

	_, addr, token := testVault(t)
	w := newWardEnv(t)
	w.env = append(w.env, "VAULT_ADDR="+addr, "VAULT_TOKEN="+token)
	w.canaries = append(w.canaries, noNewline)
	w.set("ci/ssh_key_crlf", crlf)
	path := "keyfiles/" + canary("ssh")
	kvPut(t, "secret", path, map[string]any{"no_newline": noNewline, "crlf": crlf})
	m := w.manifest(`version: 1
files:
  - path: ssh/vault_no_newline
    ref: vault://secret/` + path + `#no_newline
    env: KEY_VAULT_NO_NEWLINE
  - path: ssh/vault_crlf
    ref: vault://secret/` + path + `#crlf
    env: KEY_VAULT_CRLF
  - path: ssh/local_crlf
    ref: local://ci/ssh_key_crlf
    env: KEY_LOCAL_CRLF
`)
	child := `for k in KEY_VAULT_NO_NEWLINE KEY_VAULT_CRLF KEY_LOCAL_CRLF; do eval f=\$$k; echo "$k $(ssh-keygen -y -f "$f" 2>&1)"; done`
	code, stdout, stderr := w.run("run", "-m", m, "--", "sh", "-c", child)
	if code != 0 {
		t.Fatalf("ward run: got exit code %d, want 0: %s", code, stderr)
	}
	for _, name := range []string{"KEY_VAULT_NO_NEWLINE", "KEY_VAULT_CRLF", "KEY_LOCAL_CRLF"} {
		if !strings.Contains(stdout, name+" "+wantPub) {
			t.Errorf("ssh-keygen -y -f $%s does not give the key's public key: %q", name, stdout)
		}
	}
}

// TestTemplateReadsFilePath: programs take a key file's path inside a
// variable of their own: the JVM's JAVA_TOOL_OPTIONS
// (-Djavax.net.ssl.keyStore=PATH), git's GIT_SSH_COMMAND (ssh -i PATH),
// a libpq URL's sslkey=PATH. A template reads a file's path variable as
// the file's full path, and a Java program loads the keystore that
// javax.net.ssl.keyStore names, as JSSE would.
func TestTemplateReadsFilePath(t *testing.T) {
	needProgram(t, "java", "default-jre-headless")
	p12 := testKeystore(t)
	w := newWardEnv(t)
	cmd := exec.Command("ward", "local", "set", "app/keystore")
	cmd.Env, cmd.Stdin = w.env, strings.NewReader(string(p12))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ward local set: %v\n%s", err, out)
	}
	src := filepath.Join(w.dir, "Keys.java")
	if err := os.WriteFile(src, []byte(`import java.io.FileInputStream;
import java.security.KeyStore;
import java.util.Collections;

public class Keys {
  public static void main(String[] args) throws Exception {
    KeyStore ks = KeyStore.getInstance(System.getProperty("javax.net.ssl.keyStoreType"));
    try (FileInputStream in = new FileInputStream(System.getProperty("javax.net.ssl.keyStore"))) {
      ks.load(in, System.getProperty("javax.net.ssl.keyStorePassword").toCharArray());
    }
    System.out.println("keys " + Collections.list(ks.aliases()));
  }
}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	m := w.manifest(`version: 1
env:
  JAVA_TOOL_OPTIONS:
    template: "-Djavax.net.ssl.keyStore={{ .KEYSTORE_FILE }} -Djavax.net.ssl.keyStoreType=PKCS12 -Djavax.net.ssl.keyStorePassword=changeit"
    mask: false
files:
  - path: tls/keystore.p12
    ref: local://app/keystore
    env: KEYSTORE_FILE
`)
	code, stdout, stderr := w.run("run", "-m", m, "--", "java", src)
	if code != 0 || !strings.Contains(stdout, "keys [app]") {
		t.Fatalf("ward run: got exit code %d and %q, want 0 and the keystore's one key, app: %s", code, stdout, stderr)
	}
}

// TestMaskAndScanBinaryKeystore: a binary secret (a PKCS#12 keystore,
// which holds nearly every byte value) is masked in the child's output
// under --mask while keytool reads the file, and `ward scan` finds a
// copy of it. Both built an automaton over the secret's forms that
// ward's matching library cannot hold with 255 or more distinct byte
// values: ward panicked.
func TestMaskAndScanBinaryKeystore(t *testing.T) {
	needProgram(t, "keytool", "default-jre-headless")
	p12 := testKeystore(t)
	w := newWardEnv(t)
	w.set("app/keystore", string(p12))
	m := w.manifest("version: 1\nfiles:\n  - path: tls/keystore.p12\n    ref: local://app/keystore\n    env: KS\n")

	code, stdout, stderr := w.run("run", "--mask", "-m", m, "--", "sh", "-c", `cat "$KS"; echo; keytool -list -keystore "$KS" -storetype PKCS12 -storepass changeit | grep -c PrivateKeyEntry`)
	if code != 0 || !strings.HasSuffix(stdout, "\n1\n") {
		t.Errorf("ward run --mask: got exit code %d and %d bytes of output ending %q, want 0 and keytool's count of 1: %s", code, len(stdout), stdout[max(0, len(stdout)-40):], firstLine(stderr, "panic"))
	}

	// Under GitHub Actions ward searches the runner's files (GITHUB_ENV...)
	// for the values when the child exits, with the same automaton.
	gh := w.command("run", "-m", m, "--", "true")
	gh.Env = append(gh.Env, "GITHUB_ACTIONS=true", "GITHUB_ENV="+filepath.Join(t.TempDir(), "github_env"))
	if err := os.WriteFile(gh.Env[len(gh.Env)-1][len("GITHUB_ENV="):], nil, 0o600); err != nil {
		t.Fatal(err)
	}
	var ghOut strings.Builder
	gh.Stdout, gh.Stderr = &ghOut, &ghOut
	if err := gh.Run(); err != nil {
		t.Errorf("ward run under GitHub Actions: %v, want exit code 0: %s", err, firstLine(ghOut.String(), "panic"))
	}

	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "keystore.p12"), p12, 0o600); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = w.run("scan", "-m", m, tree)
	if code != 1 || !strings.Contains(stdout, "keystore.p12") {
		t.Errorf("ward scan: got exit code %d and %q, want 1 and a find in keystore.p12: %s", code, stdout, firstLine(stderr, "panic"))
	}
}

// firstLine returns the first line of out that starts with prefix, or all
// of out when none does: a panic's message without its stack.
func firstLine(out, prefix string) string {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, prefix) {
			return line
		}
	}
	return out
}

// TestMaskCertificateBundle: a bundle of 48 certificates and their keys
// (35 KiB of PEM, as a service mesh or a CA bundle holds) given as a file
// under --mask: openssl reads every certificate, the output is masked,
// and ward stays small. Its automaton held every byte of every form of
// the value, some forty times the value's size, with a table of
// transitions per byte: ward's peak RSS was 688 MiB here.
func TestMaskCertificateBundle(t *testing.T) {
	needProgram(t, "openssl", "openssl")
	var bundle []byte
	for i := range 48 {
		cert, key := selfSigned(t, fmt.Sprintf("service-%d.internal", i))
		bundle = append(append(bundle, cert...), key...)
	}
	w := newWardEnv(t)
	w.set("mesh/bundle", string(bundle))
	m := w.manifest("version: 1\nfiles:\n  - path: tls/bundle.pem\n    ref: local://mesh/bundle\n    env: BUNDLE\n")
	cmd := w.command("run", "--mask", "-m", m, "--", "sh", "-c", `cat "$BUNDLE"; echo; openssl crl2pkcs7 -nocrl -certfile "$BUNDLE" | openssl pkcs7 -print_certs -noout | grep -c subject=`)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ward run --mask: %v: %s", err, firstLine(stderr.String(), "panic"))
	}
	if strings.Contains(stdout.String(), "PRIVATE KEY") || !strings.HasSuffix(stdout.String(), "\n48\n") {
		t.Errorf("got %d bytes of output ending %q, want the bundle masked and openssl's count of 48 certificates", stdout.Len(), stdout.String()[max(0, stdout.Len()-40):])
	}
	// About 60 MiB on an idle machine; up to 113 MiB seen with the two
	// CPUs taken by other tests (the collector runs behind the
	// automaton's allocations). The fault was 688 MiB.
	const limit = 200 << 10 // KiB, as Linux counts Maxrss
	if rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss; rss > limit {
		t.Errorf("ward's peak RSS was %d MiB, want under %d MiB", rss>>10, limit>>10)
	}
}

// TestCheckResolveRefusesWhatRunRefuses: `ward check --resolve`, the check
// before a deploy, fails where `ward run` would fail over the values it
// fetched: a file under encoding: base64 whose value is not base64, a
// keystore's bytes (with NUL bytes) given as a variable. It said "1
// secret resolved" and exit 0, and the run then failed with 125.
func TestCheckResolveRefusesWhatRunRefuses(t *testing.T) {
	w := newWardEnv(t)
	w.set("app/pem", "-----BEGIN PRIVATE KEY-----\n"+canary("pem")+"\n-----END PRIVATE KEY-----\n")
	w.set("app/keystore", "\x30\x82\x09\xcf\x02\x01\x03\x30\x82\x09\x85\x06\x09\x00"+canary("der"))
	tests := []struct {
		name, manifest string
		want           []string
	}{
		{"not base64", "version: 1\nfiles:\n  - path: tls/key.der\n    ref: local://app/pem\n    encoding: base64\n", []string{"files[0]", "local://app/pem", "not base64"}},
		{"NUL in a variable", "version: 1\nenv:\n  KEYSTORE: local://app/keystore\n", []string{"KEYSTORE", "NUL byte", "files:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := w.manifest(tt.manifest)
			for _, args := range [][]string{{"check", "--resolve", "-m", m}, {"run", "-m", m, "--", "true"}} {
				code, _, stderr := w.run(args...)
				if code != 125 {
					t.Errorf("ward %s: got exit code %d, want 125: %s", args[0], code, stderr)
				}
				for _, want := range tt.want {
					if !strings.Contains(stderr, want) {
						t.Errorf("ward %s: the error does not name %q: %s", args[0], want, stderr)
					}
				}
			}
		})
	}
}
