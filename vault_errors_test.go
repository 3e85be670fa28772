package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// TestRefusedTokenReportedOnce: a token the real Vault refuses fails every
// document, and each document's message names its own paths (vault://,
// the KV v2 API path, the policy path); the report is still one line for
// all of them, not one per variable or per document.
func TestRefusedTokenReportedOnce(t *testing.T) {
	_, addr, _ := testVault(t)
	w := newWardEnv(t)
	w.env = append(w.env, "VAULT_TOKEN=not-a-token", "WARD_LOG_FORMAT=text")
	var m strings.Builder
	fmt.Fprintf(&m, "version: 1\nstores:\n  vault:\n    address: %s\nenv:\n", addr)
	for d := range 5 {
		for _, f := range []string{"user", "password"} {
			fmt.Fprintf(&m, "  D%d_%s: vault://secret/app%d#%s\n", d, strings.ToUpper(f), d, f)
		}
	}
	manifest := w.manifest(m.String())
	code, _, stderr := w.run("run", "-m", manifest, "--", "helper", "touch", "started")
	if code != 125 {
		t.Fatalf("got exit %d, want 125; stderr:\n%s", code, stderr)
	}
	var errs []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "ward: error: ") {
			errs = append(errs, l)
		}
	}
	want := "ward: error: D0_PASSWORD, D0_USER, D1_PASSWORD, D1_USER, D2_PASSWORD, D2_USER, D3_PASSWORD, D3_USER and 2 more: read vault://secret/app0 and 4 more: permission denied"
	if len(errs) != 1 || !strings.HasPrefix(errs[0], want) || !strings.Contains(errs[0], "cannot look itself up") {
		t.Errorf("got %d error lines, want one starting %q and saying the token cannot look itself up:\n%s", len(errs), want, stderr)
	}
}

// TestVaultWriteOnlyPath: a reference to a path Vault issues from on a
// write (PKI's issue/ROLE) fails with 125 and says that ward reads, and
// how to get the certificate to the child; it said "vault answered 405:
// unsupported operation" and no more.
func TestVaultWriteOnlyPath(t *testing.T) {
	root, addr, token := testVault(t)
	mount := vaulttest.Uniq("pki")
	if err := root.Sys().Mount(mount, &vaultapi.MountInput{Type: "pki"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Sys().Unmount(mount) })
	vaulttest.Require(t).Write(t, mount+"/roles/web", map[string]any{"allowed_domains": "example.com", "allow_subdomains": true})
	w := newWardEnv(t)
	w.env = append(w.env, "VAULT_ADDR="+addr, "VAULT_TOKEN="+token)
	m := w.manifest(fmt.Sprintf("version: 1\nenv:\n  CERT: vault://%s/issue/web#certificate\n", mount))
	code, _, stderr := w.run("run", "-m", m, "--", "helper", "touch", "started")
	if code != 125 {
		t.Fatalf("got exit %d, want 125; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"CERT: vault://" + mount + "/issue/web#certificate", "405", "vault write " + mount + "/issue/web", "file://"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the error does not say %q:\n%s", want, stderr)
		}
	}
}

// TestVaultRawEndpoint: a reference to one of PKI's raw endpoints
// (MOUNT/ca/pem, a PEM body rather than Vault's JSON) fails with 125 and
// names the JSON path that holds the certificate; it said "vault answered
// 200 with a body that is not a Vault response (..., with up to 2
// retries)", and took the answer for Vault's outage: the reads queued
// behind it failed with the same words.
func TestVaultRawEndpoint(t *testing.T) {
	root, addr, token := testVault(t)
	mount := vaulttest.Uniq("pki")
	if err := root.Sys().Mount(mount, &vaultapi.MountInput{Type: "pki"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Sys().Unmount(mount) })
	vaulttest.Require(t).Write(t, mount+"/root/generate/internal", map[string]any{"common_name": "example.com", "key_type": "ec", "ttl": "1h"})
	kv := vaulttest.Require(t).MountKV(t, 2)
	kvPut(t, kv, "app", map[string]any{"a": canary("raw")})
	w := newWardEnv(t)
	w.env = append(w.env, "VAULT_ADDR="+addr, "VAULT_TOKEN="+token, "WARD_LOG_FORMAT=text")
	// One read at a time: the KV secret's read comes after the PEM's.
	m := w.manifest(fmt.Sprintf("version: 1\nstores:\n  concurrency: 1\nenv:\n  CA: vault://%s/ca/pem\n  A: vault://%s/app#a\n", mount, kv))
	code, _, stderr := w.run("run", "-m", m, "--", "helper", "touch", "started")
	if code != 125 {
		t.Fatalf("got exit %d, want 125; stderr:\n%s", code, stderr)
	}
	if strings.Contains(stderr, "ward: error: A") || strings.Contains(stderr, "A, CA") {
		t.Errorf("the KV secret read after the PEM failed too:\n%s", stderr)
	}
	for _, want := range []string{"ward: error: CA: vault://" + mount + "/ca/pem", "application/pem-certificate-chain", "vault://" + mount + "/cert/ca#certificate"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the error does not say %q:\n%s", want, stderr)
		}
	}
	if strings.Contains(stderr, "retries") {
		t.Errorf("the error speaks of retries, though a 200 is never retried:\n%s", stderr)
	}
}

// TestVaultAddressVariableWithPassword: a VAULT_ADDR (or VAULT_AGENT_ADDR)
// with a password before the host fails the start, naming the variable
// and not its value, in ward run and ward check --resolve: every failure
// to reach that Vault printed the address, password and all ("vault at
// http://u:PASSWORD@..."). No Vault is needed: nothing is sent.
func TestVaultAddressVariableWithPassword(t *testing.T) {
	for _, name := range []string{"VAULT_ADDR", "VAULT_AGENT_ADDR"} {
		t.Run(name, func(t *testing.T) {
			w := newWardEnv(t)
			pw := canary("addrpw")
			// A password with a "/" in it too, and a mistyped scheme:
			// the host ended at the "/" for a URL parser, and the
			// address was printed whole.
			w.env = append(w.env, name+"=http://u:"+pw+"/x@127.0.0.1:1", "VAULT_TOKEN=not-a-token", "WARD_LOG_FORMAT=text")
			m := w.manifest("version: 1\nenv:\n  DB: vault://secret/app#password\n")
			for _, args := range [][]string{{"run", "-m", m, "--", "helper", "touch", "started"}, {"check", "--resolve", "-m", m}} {
				code, stdout, stderr := w.run(args...)
				if code != 125 || !strings.Contains(stderr, name+" holds a user name or password") {
					t.Errorf("ward %s: exit %d, want 125 naming %s\n%s", args[0], code, name, redactAll(stderr, pw))
				}
				if strings.Contains(stdout+stderr, pw) {
					t.Errorf("ward %s printed the password", args[0])
				}
			}
			if _, err := os.Stat(filepath.Join(w.dir, "started")); err == nil {
				t.Errorf("the child started")
			}
		})
	}
}
