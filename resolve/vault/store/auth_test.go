package store

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// readable writes a secret on a fresh KV v2 mount and a policy that reads
// it; it returns the reference, the value and the policy.
func readable(t *testing.T, tc *tcase) (ref, value, pol string) {
	t.Helper()
	mount := mountKV(t, 2)
	value = tc.canary("auth")
	kvPut(t, mount, 2, "app/secret", map[string]any{"k": value})
	pol = policy(t, `path "`+mount+`/data/app/secret" { capabilities = ["read"] }`)
	return "vault://" + mount + "/app/secret#k", value, pol
}

// wantValue fetches ref through s and checks it reads value.
func wantValue(t *testing.T, tc *tcase, s *Store, ref, value string) {
	t.Helper()
	got, err := fetch(t, s, map[string]string{"X": ref})
	if err != nil {
		t.Fatalf("fetch %s: %s", ref, tc.text(err))
	}
	if string(got["X"].Bytes) != value {
		t.Fatalf("fetch %s: got another value", ref)
	}
}

// checkRelogin revokes the store's token behind its back and checks that
// the next fetch logs in again and reads the same value.
func checkRelogin(t *testing.T, tc *tcase, s *Store, ref, value string) {
	t.Helper()
	before, gen := storeToken(s)
	tc.secret(before)
	revokeToken(t, before)
	wantValue(t, tc, s, ref, value)
	after, gen2 := storeToken(s)
	tc.secret(after)
	if after == before || gen2 == gen {
		t.Errorf("the token did not change after the old one was revoked")
	}
	if !strings.Contains(tc.logs.String(), "vault token no longer valid; logging in again") {
		t.Errorf("the log does not say the store logged in again")
	}
}

func TestAuthTokenEnvAndFile(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, value, pol := readable(t, tc)

	t.Run("VAULT_TOKEN", func(t *testing.T) {
		tok := token(t, &api.TokenCreateRequest{Policies: []string{pol}})
		tc.secret(tok)
		wantValue(t, tc, tc.store(Options{}, map[string]string{"VAULT_TOKEN": tok}), ref, value)
	})
	t.Run("~/.vault-token", func(t *testing.T) {
		tok := token(t, &api.TokenCreateRequest{Policies: []string{pol}})
		tc.secret(tok)
		home := t.TempDir()
		if err := os.WriteFile(filepath.Join(home, ".vault-token"), []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		wantValue(t, tc, tc.store(Options{}, map[string]string{"HOME": home}), ref, value)
	})
	t.Run("no token", func(t *testing.T) {
		_, err := fetch(t, tc.store(Options{}, nil), map[string]string{"X": ref})
		tc.wantErr("no token", err, "no vault token", "VAULT_TOKEN", ".vault-token")
	})
}

// TestAuthTokenHelperLoginAgain: a token from the Vault CLI's token
// helper that Vault no longer knows (it expired; the user ran vault login
// again, which gave the helper a new one) is asked of the helper again,
// as ~/.vault-token is read again: a developer's long ward run goes on
// after a new login. It kept the dead token until ward was restarted.
func TestAuthTokenHelperLoginAgain(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, value, pol := readable(t, tc)
	home := t.TempDir()
	keychain := filepath.Join(home, "keychain")
	helper := filepath.Join(home, "helper")
	if err := os.WriteFile(helper, []byte("#!/bin/sh\n[ \"$1\" = get ] && cat "+keychain+"\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".vault"), []byte(fmt.Sprintf("token_helper = %q\n", helper)), 0o600); err != nil {
		t.Fatal(err)
	}
	login := func() string {
		tok := token(t, &api.TokenCreateRequest{Policies: []string{pol}})
		tc.secret(tok)
		if err := os.WriteFile(keychain, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := login()
	s := tc.store(Options{}, map[string]string{"HOME": home})
	wantValue(t, tc, s, ref, value)
	revokeToken(t, first)
	login()
	// The mount is known by now: the read is the first request with the
	// dead token.
	wantValue(t, tc, s, ref, value)
}

// TestAuthTokenFile plays a Vault Agent sink: the store follows the file
// when the agent writes a new token, and re-reads it after a 403.
func TestAuthTokenFile(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, value, pol := readable(t, tc)
	sink := filepath.Join(t.TempDir(), "token")
	write := func() string {
		tok := token(t, &api.TokenCreateRequest{Policies: []string{pol}})
		tc.secret(tok)
		tmp := sink + ".tmp"
		if err := os.WriteFile(tmp, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, sink); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := write()
	s := tc.store(Options{Auth: Auth{Method: "token_file", TokenFile: sink}}, nil)
	wantValue(t, tc, s, ref, value)

	// The agent writes a new token and the old one is revoked.
	second := write()
	revokeToken(t, first)
	wantValue(t, tc, s, ref, value)
	if tok, _ := storeToken(s); tok != second {
		t.Errorf("the store does not use the sink's new token")
	}

	// The file changes without its look changing (same size, mtime put
	// back): the 403 makes the store read it again.
	st, err := os.Stat(sink)
	if err != nil {
		t.Fatal(err)
	}
	third := write()
	if err := os.Chtimes(sink, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	revokeToken(t, second)
	wantValue(t, tc, s, ref, value)
	if tok, _ := storeToken(s); tok != third {
		t.Errorf("the store did not re-read the sink after a 403")
	}
}

// approle enables AppRole with a role reading pol and returns the mount,
// the role name and its role_id.
func approle(t *testing.T, pol string, extra map[string]any) (mount, role, roleID string) {
	t.Helper()
	mount = enableAuth(t, "approle")
	role = uniq("role")
	data := map[string]any{"token_policies": pol, "token_ttl": "5m"}
	for k, v := range extra {
		data[k] = v
	}
	rootWrite(t, "auth/"+mount+"/role/"+role, data)
	sec, err := root.Logical().Read("auth/" + mount + "/role/" + role + "/role-id")
	if err != nil {
		t.Fatal(err)
	}
	return mount, role, sec.Data["role_id"].(string)
}

// secretID issues a secret id of AppRole role at mount, a secret of the
// test.
func (tc *tcase) secretID(mount, role string) string {
	tc.t.Helper()
	id := rootWrite(tc.t, "auth/"+mount+"/role/"+role+"/secret-id", nil).Data["secret_id"].(string)
	tc.secret(id)
	return id
}

func TestAuthAppRole(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, value, pol := readable(t, tc)
	mount, role, roleID := approle(t, pol, nil)
	secretID := tc.secretID(mount, role)

	t.Run("role_id env, secret_id file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "secret-id")
		if err := os.WriteFile(f, []byte(secretID+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		s := tc.store(Options{Auth: Auth{Method: "approle", Mount: mount, SecretIDFile: f}}, map[string]string{"VAULT_ROLE_ID": roleID})
		wantValue(t, tc, s, ref, value)
		checkRelogin(t, tc, s, ref, value)
	})
	t.Run("role_id value, secret_id custom env", func(t *testing.T) {
		s := tc.store(Options{Auth: Auth{Method: "approle", Mount: mount, RoleID: roleID, SecretIDEnv: "APP_SECRET_ID"}}, map[string]string{"APP_SECRET_ID": secretID})
		wantValue(t, tc, s, ref, value)
	})
	t.Run("bad secret_id", func(t *testing.T) {
		bad := tc.canary("bad-secret-id")
		s := tc.store(Options{Auth: Auth{Method: "approle", Mount: mount, RoleID: roleID}}, map[string]string{"VAULT_SECRET_ID": bad})
		_, err := fetch(t, s, map[string]string{"X": ref})
		tc.wantErr("bad secret_id", err, "log in to vault with approle", "auth/"+mount+"/login", "check role_id and secret_id")
	})
	t.Run("no secret_id", func(t *testing.T) {
		s := tc.store(Options{Auth: Auth{Method: "approle", Mount: mount, RoleID: roleID, WrappedSecretID: true}}, nil)
		_, err := fetch(t, s, map[string]string{"X": ref})
		tc.wantErr("no secret_id", err, "$VAULT_WRAPPED_SECRET_ID or $VAULT_SECRET_ID is empty or not set")
	})
}

// wrappingClient is root's client with every answer response-wrapped
// (for 2 minutes), as an operator's delivery of a secret_id is.
func wrappingClient(t *testing.T) *api.Client {
	t.Helper()
	wrapper, err := root.Clone()
	if err != nil {
		t.Fatal(err)
	}
	wrapper.SetToken(root.Token())
	wrapper.SetWrappingLookupFunc(func(string, string) string { return "2m" })
	return wrapper
}

func TestAuthAppRoleWrappedSecretID(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, value, pol := readable(t, tc)
	mount, role, roleID := approle(t, pol, nil)
	wrapper := wrappingClient(t)
	sec, err := wrapper.Logical().Write("auth/"+mount+"/role/"+role+"/secret-id", nil)
	if err != nil || sec.WrapInfo == nil {
		t.Fatalf("wrapped secret-id: %v", err)
	}
	wrapping := sec.WrapInfo.Token
	tc.secret(wrapping)

	s := tc.store(Options{Auth: Auth{Method: "approle", Mount: mount, RoleIDEnv: "MY_ROLE_ID", WrappedSecretID: true}},
		map[string]string{"MY_ROLE_ID": roleID, "VAULT_WRAPPED_SECRET_ID": wrapping})
	wantValue(t, tc, s, ref, value)
	tc.secret(s.auth.unwrapped.secretID)
	// The wrapping token is spent: logging in again uses the secret_id it
	// held.
	checkRelogin(t, tc, s, ref, value)

	// Another store given the spent wrapping token cannot log in.
	s2 := tc.store(Options{Auth: Auth{Method: "approle", Mount: mount, RoleID: roleID, WrappedSecretID: true}},
		map[string]string{"VAULT_SECRET_ID": wrapping})
	_, err = fetch(t, s2, map[string]string{"X": ref})
	tc.wantErr("spent wrapping token", err, "unwrap the approle secret_id", "unwrapped already")
}

// TestAuthAppRoleWrappedSecretIDTampered: the two signs of tampering
// Vault's response-wrapping guide says to check. A wrapping token someone
// else unwrapped on the way was reported as "unwrapped once and expires;
// deliver a fresh one", as if nothing could be wrong; a wrapping token
// put in the place of the one delivered (here, of a KV read) was
// unwrapped, spending what it wrapped, before ward found no secret_id.
func TestAuthAppRoleWrappedSecretIDTampered(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, _, pol := readable(t, tc)
	mount, role, roleID := approle(t, pol, nil)
	wrapper := wrappingClient(t)
	wrapped := func(path string, write bool) string {
		t.Helper()
		var sec *api.Secret
		var err error
		if write {
			sec, err = wrapper.Logical().Write(path, nil)
		} else {
			sec, err = wrapper.Logical().Read(path)
		}
		if err != nil || sec == nil || sec.WrapInfo == nil {
			t.Fatalf("wrap %s: %v", path, err)
		}
		tc.secret(sec.WrapInfo.Token)
		return sec.WrapInfo.Token
	}
	login := func(wrapping string) error {
		t.Helper()
		s := tc.store(Options{Auth: Auth{Method: "approle", Mount: mount, RoleID: roleID, WrappedSecretID: true}},
			map[string]string{"VAULT_WRAPPED_SECRET_ID": wrapping})
		_, err := fetch(t, s, map[string]string{"X": ref})
		return err
	}

	t.Run("unwrapped on the way", func(t *testing.T) {
		w := wrapped("auth/"+mount+"/role/"+role+"/secret-id", true)
		thief, err := root.Clone()
		if err != nil {
			t.Fatal(err)
		}
		thief.SetToken(w)
		stolen, err := thief.Logical().Unwrap("")
		if err != nil {
			t.Fatal(err)
		}
		tc.secret(stolen.Data["secret_id"].(string))
		tc.wantErr("a wrapping token someone else unwrapped", login(w),
			"unwrapped already", "someone else may have unwrapped it", "auth/"+mount+"/role/ROLE/secret-id-accessor/destroy")
	})
	t.Run("another path's answer", func(t *testing.T) {
		kvPath := strings.Replace(strings.TrimSuffix(strings.TrimPrefix(ref, "vault://"), "#k"), "/", "/data/", 1)
		w := wrapped(kvPath, false)
		tc.wantErr("a wrapping token of a KV read", login(w),
			`wraps the answer of "`+kvPath+`"`, "not of an approle secret-id endpoint", "not unwrapped")
		// What it wraps is still there for whom it was meant.
		owner, err := root.Clone()
		if err != nil {
			t.Fatal(err)
		}
		owner.SetToken(w)
		if _, err := owner.Logical().Unwrap(""); err != nil {
			t.Errorf("the wrapping token was spent: %v", err)
		}
	})
}

// TestAuthTokenExpiry gives AppRole tokens a short max TTL: the renewer
// renews until it cannot, then the store logs in again by itself, and
// reads go on.
func TestAuthTokenExpiry(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, value, pol := readable(t, tc)
	mount, role, roleID := approle(t, pol, map[string]any{"token_ttl": "2s", "token_max_ttl": "4s"})
	secretID := tc.secretID(mount, role)
	s := tc.store(Options{Auth: Auth{Method: "approle", Mount: mount, RoleID: roleID}}, map[string]string{"VAULT_SECRET_ID": secretID})
	wantValue(t, tc, s, ref, value)
	first, gen := storeToken(s)
	tc.secret(first)
	waitFor(t, "a new login after the token's max TTL", 20*time.Second, func() bool {
		_, g := storeToken(s)
		return g != gen
	})
	second, _ := storeToken(s)
	tc.secret(second)
	wantValue(t, tc, s, ref, value)
	// The first token has run out by now, or soon will: reads go on.
	waitFor(t, "the first token to expire", 20*time.Second, func() bool {
		_, err := root.Auth().Token().Lookup(first)
		return err != nil
	})
	wantValue(t, tc, s, ref, value)
	logs := tc.logs.String()
	if !strings.Contains(logs, "vault token renewed") {
		t.Errorf("the log shows no renewal")
	}
	// At the renewal the max TTL caps (2 s asked, 1 s left), or when the
	// renewer gives up.
	if !strings.Contains(logs, "vault token reaches its max TTL; logging in again") && !strings.Contains(logs, "vault token can no longer be renewed; logging in again") {
		t.Errorf("the log does not say the store logged in again")
	}
}

// manySecrets writes n secrets on a fresh KV v2 mount and a policy that
// reads them; it returns the references by variable, their values and the
// policy.
func manySecrets(t *testing.T, tc *tcase, n int) (vars, values map[string]string, pol string) {
	t.Helper()
	mount := mountKV(t, 2)
	vars, values = map[string]string{}, map[string]string{}
	for i := range n {
		name := fmt.Sprintf("S%d", i)
		values[name] = tc.canary("many")
		kvPut(t, mount, 2, fmt.Sprintf("app/s%d", i), map[string]any{"k": values[name]})
		vars[name] = fmt.Sprintf("vault://%s/app/s%d#k", mount, i)
	}
	pol = policy(t, `path "`+mount+`/data/app/*" { capabilities = ["read"] }`)
	return vars, values, pol
}

// TestAuthAppRoleTokenNumUses: a role whose tokens have a use limit
// (token_num_uses, 10 in Vault's own AppRole example) and a start with
// more secrets than that. Vault revokes such a token at its last use; the
// reads beyond it got 403s, and 14 of 30 failed with "check that the
// token's policy grants read", of a policy that did.
func TestAuthAppRoleTokenNumUses(t *testing.T) {
	needVault(t)
	for _, uses := range []int{4, 1} {
		t.Run(fmt.Sprintf("%d uses", uses), func(t *testing.T) {
			tc := newCase(t)
			vars, values, pol := manySecrets(t, tc, 30)
			mount, role, roleID := approle(t, pol, map[string]any{"token_num_uses": uses})
			secretID := tc.secretID(mount, role)
			s := tc.store(Options{Auth: Auth{Method: "approle", Mount: mount, RoleID: roleID}}, map[string]string{"VAULT_SECRET_ID": secretID})
			for round := range 2 { // the start, and a poll
				got, err := fetch(t, s, vars)
				if err != nil {
					t.Fatalf("round %d: fetch 30 secrets with a token of %d uses: %s", round, uses, tc.text(err))
				}
				for name, v := range values {
					if string(got[name].Bytes) != v {
						t.Fatalf("round %d: %s: got another value", round, name)
					}
				}
			}
			logs := tc.logs.String()
			if !strings.Contains(logs, fmt.Sprintf("num_uses=%d", uses)) {
				t.Errorf("the login's log line does not give the token's use limit")
			}
			// Each login comes before its token is spent, not after a 403.
			if strings.Contains(logs, "vault token no longer valid") {
				t.Errorf("a read was refused with a spent token:\n%s", logs)
			}
		})
	}
}

// TestAuthTokenBoundCIDRs: a role whose tokens are bound to addresses
// that do not hold the one Vault sees for ward (token_bound_cidrs; behind
// a load balancer, Vault sees its address). Vault refuses such a token
// for every request. ward logged in again at each read's 403 (9 logins
// for a start with 30 secrets, each spending a use of the secret_id), and
// said "check that the token's policy grants read"; for VAULT_TOKEN it
// named nothing that could be the cause.
func TestAuthTokenBoundCIDRs(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	vars, _, pol := manySecrets(t, tc, 20)
	// The test server is reached on 127.0.0.1.
	mount, role, roleID := approle(t, pol, map[string]any{"token_bound_cidrs": "10.0.0.0/8"})
	secretID := tc.secretID(mount, role)

	t.Run("approle", func(t *testing.T) {
		s := tc.store(Options{Auth: Auth{Method: "approle", Mount: mount, RoleID: roleID}}, map[string]string{"VAULT_SECRET_ID": secretID})
		_, err := fetch(t, s, vars)
		tc.wantErr("a token bound to other addresses", err, "refuses the token it has just issued", "token_bound_cidrs")
		if n := strings.Count(tc.logs.String(), `msg="vault login"`); n != 1 {
			t.Errorf("%d logins for one start, want 1", n)
		}
	})
	t.Run("VAULT_TOKEN", func(t *testing.T) {
		tokenRole := uniq("role")
		rootWrite(t, "auth/token/roles/"+tokenRole, map[string]any{"allowed_policies": pol, "token_bound_cidrs": "10.0.0.0/8"})
		sec, err := root.Auth().Token().CreateWithRole(&api.TokenCreateRequest{Policies: []string{pol}}, tokenRole)
		if err != nil {
			t.Fatal(err)
		}
		tc.secret(sec.Auth.ClientToken)
		s := tc.store(Options{}, map[string]string{"VAULT_TOKEN": sec.Auth.ClientToken})
		_, err = fetch(t, s, map[string]string{"X": vars["S0"]})
		tc.wantErr("VAULT_TOKEN bound to other addresses", err, "token_bound_cidrs", "check VAULT_TOKEN")
	})
}

// TestAuthNoDefaultPolicy: a role whose tokens lack the default policy
// (token_no_default_policy), so they may not look themselves up, and a
// secret its policy does not grant. The 403 was taken for a dead token:
// each read of it logged in again, and the error blamed
// token_bound_cidrs.
func TestAuthNoDefaultPolicy(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	vars, values, _ := manySecrets(t, tc, 2)
	one := strings.TrimPrefix(strings.TrimSuffix(vars["S0"], "#k"), "vault://")
	one = strings.Replace(one, "/", "/data/", 1)
	pol := policy(t, `path "`+one+`" { capabilities = ["read"] }`)
	mount, role, roleID := approle(t, pol, map[string]any{"token_no_default_policy": true})
	secretID := tc.secretID(mount, role)
	s := tc.store(Options{Auth: Auth{Method: "approle", Mount: mount, RoleID: roleID}}, map[string]string{"VAULT_SECRET_ID": secretID})
	got, err := fetch(t, s, map[string]string{"S0": vars["S0"]})
	if err != nil || string(got["S0"].Bytes) != values["S0"] {
		t.Fatalf("fetch the granted secret: %s", tc.text(err))
	}
	for range 3 {
		_, err = fetch(t, s, map[string]string{"S1": vars["S1"]})
		tc.wantErr("a secret the policy does not grant", err, "permission denied", "check that the token's policy grants")
	}
	if strings.Contains(tc.text(err), "token_bound_cidrs") {
		t.Errorf("the error blames token_bound_cidrs: %s", tc.text(err))
	}
	if n := strings.Count(tc.logs.String(), `msg="vault login"`); n != 1 {
		t.Errorf("%d logins, want 1: a policy's 403 was taken for a dead token", n)
	}
}

// TestAuthStaticTokenUseLimit: VAULT_TOKEN with a use limit (vault token
// create -use-limit, or a role's token_num_uses handed on by a CI step).
// ward cannot log in again for it: it warns at the start, and when the
// uses are spent the error says that may be why. Nothing said so: polls
// spent the token in silence, and then failed with "check that the
// token's policy grants read ... it may have expired or been revoked".
func TestAuthStaticTokenUseLimit(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, value, pol := readable(t, tc)
	tok := token(t, &api.TokenCreateRequest{Policies: []string{pol}, NumUses: 6})
	tc.secret(tok)
	s := tc.store(Options{}, map[string]string{"VAULT_TOKEN": tok})
	wantValue(t, tc, s, ref, value)
	waitFor(t, "a warning that the token has a use limit", 10*time.Second, func() bool {
		return strings.Contains(tc.logs.String(), "the vault token has a use limit (num_uses)")
	})
	var err error
	for range 10 {
		if _, err = fetch(t, s, map[string]string{"X": ref}); err != nil {
			break
		}
	}
	tc.wantErr("a read after the token's uses are spent", err, "permission denied", "spent its uses if it has a use limit (num_uses)", "check VAULT_TOKEN")
}

// TestAuthKubernetes configures the kubernetes auth method with a service
// account issuer key made here (pem_keys) and a TokenReview API played by
// this test, and logs in with a service account JWT signed here.
func TestAuthKubernetes(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, value, pol := readable(t, tc)
	key := newSigningKey(t)
	const ns, sa, uid = "apps", "myapp", "6b5d9c1e-ward-test"
	var reviews atomic.Int32
	kube := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
			http.NotFound(w, r)
			return
		}
		reviews.Add(1)
		var req struct {
			Spec struct {
				Token     string   `json:"token"`
				Audiences []string `json:"audiences"`
			} `json:"spec"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad review", http.StatusBadRequest)
			return
		}
		status := map[string]any{"authenticated": false}
		if _, ok := key.verify(req.Spec.Token); ok && r.Header.Get("Authorization") != "" {
			status = map[string]any{
				"authenticated": true,
				"user":          map[string]any{"username": "system:serviceaccount:" + ns + ":" + sa, "uid": uid},
				"audiences":     req.Spec.Audiences,
			}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status})
	}))
	t.Cleanup(kube.Close)

	mount := enableAuth(t, "kubernetes")
	rootWrite(t, "auth/"+mount+"/config", map[string]any{
		"kubernetes_host":      kube.URL,
		"kubernetes_ca_cert":   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kube.Certificate().Raw})),
		"pem_keys":             []string{key.pem},
		"disable_local_ca_jwt": true,
	})
	role := uniq("role")
	rootWrite(t, "auth/"+mount+"/role/"+role, map[string]any{
		"bound_service_account_names":      sa,
		"bound_service_account_namespaces": ns,
		"token_policies":                   pol,
		"token_ttl":                        "5m",
	})
	jwt := key.sign(t, map[string]any{
		"iss":                                    "kubernetes/serviceaccount",
		"sub":                                    "system:serviceaccount:" + ns + ":" + sa,
		"kubernetes.io/serviceaccount/namespace": ns,
		"kubernetes.io/serviceaccount/secret.name":          sa + "-token",
		"kubernetes.io/serviceaccount/service-account.name": sa,
		"kubernetes.io/serviceaccount/service-account.uid":  uid,
	})
	tc.secret(jwt)
	jwtFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(jwtFile, []byte(jwt), 0o600); err != nil {
		t.Fatal(err)
	}
	s := tc.store(Options{Auth: Auth{Method: "kubernetes", Mount: mount, Role: role, JWTFile: jwtFile}}, nil)
	wantValue(t, tc, s, ref, value)
	if reviews.Load() == 0 {
		t.Errorf("vault never asked the TokenReview API")
	}
	checkRelogin(t, tc, s, ref, value)

	t.Run("wrong issuer key", func(t *testing.T) {
		other := newSigningKey(t)
		forged := other.sign(t, map[string]any{
			"iss":                                    "kubernetes/serviceaccount",
			"kubernetes.io/serviceaccount/namespace": ns,
			"kubernetes.io/serviceaccount/service-account.name": sa,
			"kubernetes.io/serviceaccount/service-account.uid":  uid,
		})
		tc.secret(forged)
		f := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(f, []byte(forged), 0o600); err != nil {
			t.Fatal(err)
		}
		s := tc.store(Options{Auth: Auth{Method: "kubernetes", Mount: mount, Role: role, JWTFile: f}}, nil)
		_, err := fetch(t, s, map[string]string{"X": ref})
		tc.wantErr("forged service account token", err, "log in to vault with kubernetes", "check the role")
	})
}

// TestAuthJWT configures the jwt auth method with a public key made here
// and logs in with a JWT signed here, as a CI job does with its OIDC token.
func TestAuthJWT(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, value, pol := readable(t, tc)
	key := newSigningKey(t)
	mount := enableAuth(t, "jwt")
	rootWrite(t, "auth/"+mount+"/config", map[string]any{
		"jwt_validation_pubkeys": []string{key.pem},
		"bound_issuer":           "ward-test-issuer",
	})
	role := uniq("role")
	rootWrite(t, "auth/"+mount+"/role/"+role, map[string]any{
		"role_type":       "jwt",
		"user_claim":      "sub",
		"bound_subject":   "repo:ward:ref:main",
		"bound_audiences": []string{"ward-test"},
		"token_policies":  pol,
		"token_ttl":       "5m",
	})
	claims := func(exp time.Time) map[string]any {
		now := time.Now()
		return map[string]any{
			"iss": "ward-test-issuer", "sub": "repo:ward:ref:main", "aud": "ward-test",
			"iat": now.Add(-time.Minute).Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": exp.Unix(),
		}
	}
	jwt := key.sign(t, claims(time.Now().Add(10*time.Minute)))
	tc.secret(jwt)

	opts := Options{Auth: Auth{Method: "jwt", Mount: mount, Role: role, JWTEnv: "CI_ID_TOKEN"}}
	s := tc.store(opts, map[string]string{"CI_ID_TOKEN": jwt})
	wantValue(t, tc, s, ref, value)
	checkRelogin(t, tc, s, ref, value)
	if env := opts.CredentialEnv(); !slices.Contains(env, "CI_ID_TOKEN") || !slices.Contains(env, "VAULT_TOKEN") {
		t.Errorf("CredentialEnv()=%v, want CI_ID_TOKEN and VAULT_TOKEN in it", env)
	}

	t.Run("jwt file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "id-token")
		if err := os.WriteFile(f, []byte(jwt), 0o600); err != nil {
			t.Fatal(err)
		}
		wantValue(t, tc, tc.store(Options{Auth: Auth{Method: "jwt", Mount: mount, Role: role, JWTFile: f}}, nil), ref, value)
	})
	t.Run("expired jwt", func(t *testing.T) {
		old := key.sign(t, claims(time.Now().Add(-time.Hour)))
		tc.secret(old)
		s := tc.store(Options{Auth: Auth{Method: "jwt", Mount: mount, Role: role}}, map[string]string{"VAULT_JWT": old})
		_, err := fetch(t, s, map[string]string{"X": ref})
		tc.wantErr("expired jwt", err, "log in to vault with jwt", "the JWT in $VAULT_JWT expired at", "token_max_ttl", "jwt_file")
	})
	// What `jq -r .value` prints for a field the answer lacks (a CI step
	// whose token request failed): said so, not sent to Vault, whose
	// "compact JWS format must have three parts" came with a hint on the
	// role's bound audiences.
	t.Run("jwt null", func(t *testing.T) {
		s := tc.store(Options{Auth: Auth{Method: "jwt", Mount: mount, Role: role}}, map[string]string{"VAULT_JWT": "null"})
		_, err := fetch(t, s, map[string]string{"X": ref})
		tc.wantErr("jwt null", err, `$VAULT_JWT is "null", what jq -r prints for a field the answer lacks`)
	})
	t.Run("expired jwt file", func(t *testing.T) {
		old := key.sign(t, claims(time.Now().Add(-time.Hour)))
		tc.secret(old)
		f := filepath.Join(t.TempDir(), "id-token")
		if err := os.WriteFile(f, []byte(old), 0o600); err != nil {
			t.Fatal(err)
		}
		s := tc.store(Options{Auth: Auth{Method: "jwt", Mount: mount, Role: role, JWTFile: f}}, nil)
		_, err := fetch(t, s, map[string]string{"X": ref})
		tc.wantErr("expired jwt file", err, "log in to vault with jwt", "the JWT in "+f+" expired at", "a fresh one must be written there")
	})
}

// TestAuthJWTExpiresBeforeRelogin: a CI job's OIDC token in a variable,
// valid for a few minutes, and a job that outlives the Vault token's max
// TTL. The login again at the max TTL cannot succeed; ward says so at
// the first that fails, with when reads stop, and the failed
// logins name the JWT's expiry and what to do. They said only "check the
// role ..., that the JWT has not expired, and the mount's keys".
func TestAuthJWTExpiresBeforeRelogin(t *testing.T) {
	tc, _, _, _ := jwtExpiringSoon(t, false)
	waitFor(t, "a warning that the token ends and ward cannot log in again", 20*time.Second, func() bool {
		return strings.Contains(tc.logs.String(), "the vault token ends and ward cannot log in again")
	})
	waitFor(t, "a failed login again", 20*time.Second, func() bool {
		return strings.Contains(tc.logs.String(), "vault login failed")
	})
	logs := tc.logs.String()
	for _, want := range []string{"the JWT in $CI_ID_TOKEN expired at", "token_max_ttl", "jwt_file", "ends_at="} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log does not say %q", want)
		}
	}
}

// jwtExpiringSoon is a store that logged in with a JWT in $CI_ID_TOKEN
// that expires 2 s later, for a role whose tokens live 3 s, at most 6 s,
// and read ref (value) with it. Vault takes an expired JWT for the
// role's leeway (150 s by default), or, leeway unset, 1 s.
func jwtExpiringSoon(t *testing.T, leeway bool) (tc *tcase, s *Store, ref, value string) {
	t.Helper()
	needVault(t)
	tc = newCase(t)
	ref, value, pol := readable(t, tc)
	key := newSigningKey(t)
	mount := enableAuth(t, "jwt")
	rootWrite(t, "auth/"+mount+"/config", map[string]any{"jwt_validation_pubkeys": []string{key.pem}})
	role := uniq("role")
	settings := map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": []string{"ward-test"},
		"token_policies": pol, "token_ttl": "3s", "token_max_ttl": "6s",
	}
	if !leeway {
		settings["expiration_leeway"], settings["clock_skew_leeway"] = 1, 1
	}
	rootWrite(t, "auth/"+mount+"/role/"+role, settings)
	now := time.Now()
	jwt := key.sign(t, map[string]any{"sub": "job", "aud": "ward-test", "iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(2 * time.Second).Unix()})
	tc.secret(jwt)
	s = tc.store(Options{Auth: Auth{Method: "jwt", Mount: mount, Role: role, JWTEnv: "CI_ID_TOKEN"}}, map[string]string{"CI_ID_TOKEN": jwt})
	wantValue(t, tc, s, ref, value)
	return tc, s, ref, value
}

// TestAuthJWTExpiredWithinVaultsLeeway: the same JWT, expired when the
// Vault token reaches its max TTL, but within the role's leeway (Vault's
// default, 150 s): the login again works, and ward does not say it
// cannot (it warned, then logged in).
func TestAuthJWTExpiredWithinVaultsLeeway(t *testing.T) {
	tc, s, ref, value := jwtExpiringSoon(t, true)
	_, gen := storeToken(s)
	waitFor(t, "the login again past the JWT's exp", 20*time.Second, func() bool {
		_, g := storeToken(s)
		return g != gen
	})
	wantValue(t, tc, s, ref, value)
	if strings.Contains(tc.logs.String(), "cannot log in again") {
		t.Errorf("ward said it cannot log in again, and did:\n%s", tc.logs.String())
	}
}

// TestAuthStaticTokenRenewed: a renewable VAULT_TOKEN with a short TTL is
// renewed in the background, so it outlives its first TTL; when it reaches
// its max TTL, ward says it cannot log in again.
func TestAuthStaticTokenRenewed(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, value, pol := readable(t, tc)
	renewable := true
	tok := token(t, &api.TokenCreateRequest{Policies: []string{pol}, TTL: "3s", ExplicitMaxTTL: "8s", Renewable: &renewable})
	tc.secret(tok)
	first, err := root.Auth().Token().Lookup(tok)
	if err != nil {
		t.Fatal(err)
	}
	firstExpiry := first.Data["expire_time"]
	s := tc.store(Options{Auth: Auth{Method: "token"}}, map[string]string{"VAULT_TOKEN": tok})
	wantValue(t, tc, s, ref, value)
	waitFor(t, "the token's expiry to move (a renewal)", 20*time.Second, func() bool {
		sec, err := root.Auth().Token().Lookup(tok)
		return err == nil && sec.Data["expire_time"] != firstExpiry
	})
	waitFor(t, "the warning at the max TTL", 30*time.Second, func() bool {
		return strings.Contains(tc.logs.String(), "the vault token can no longer be renewed and will expire")
	})
}

// TestAuthStaticTokenRenewedAfterFailedLookup: the lookup that tells
// whether VAULT_TOKEN can be renewed fails (Vault sealed a moment, a 429
// of a quota, a restart), and the token is renewed all the same, once
// the lookup works. It was never renewed: a periodic token expired in
// the middle of the run, and the leases it created with it.
func TestAuthStaticTokenRenewedAfterFailedLookup(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, value, pol := readable(t, tc)
	renewable := true
	tok := token(t, &api.TokenCreateRequest{Policies: []string{pol}, TTL: "5s", ExplicitMaxTTL: "60s", Renewable: &renewable})
	tc.secret(tok)
	first, err := root.Auth().Token().Lookup(tok)
	if err != nil {
		t.Fatal(err)
	}
	firstExpiry := first.Data["expire_time"]
	// The first lookups, the API client's retries included, find Vault
	// sealed.
	u, _ := url.Parse(vaultAddr)
	rp := httputil.NewSingleHostReverseProxy(u)
	var lookups atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/auth/token/lookup-self" && lookups.Add(1) <= 3 {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"errors":["Vault is sealed"]}`)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	s := tc.store(Options{Address: proxy.URL, Auth: Auth{Method: "token"}}, map[string]string{"VAULT_TOKEN": tok})
	wantValue(t, tc, s, ref, value)
	waitFor(t, "the token's expiry to move (a renewal)", 20*time.Second, func() bool {
		sec, err := root.Auth().Token().Lookup(tok)
		return err == nil && sec.Data["expire_time"] != firstExpiry
	})
	if n := lookups.Load(); n <= 3 {
		t.Errorf("got %d lookups, want more than the 3 that failed", n)
	}
}

// TestAuthStaticTokenLookedUpAfterTheReads: the lookup of a static token
// (for its renewal) waits until the first fetch's reads are done: the first
// answer is the mount's lookup, and a lookup-self sent then shared Vault,
// the helper and the CPUs with the read the child waits for (measured: 0.6
// to 0.8 ms of a one-secret run, 3 ms of a 200-secret one, on 2 cores).
// The read is held back here so that a lookup sent with it cannot go
// unseen; the token is still looked up, and renewed, afterwards.
func TestAuthStaticTokenLookedUpAfterTheReads(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, value, pol := readable(t, tc)
	renewable := true
	tok := token(t, &api.TokenCreateRequest{Policies: []string{pol}, TTL: "1h", Renewable: &renewable})
	tc.secret(tok)
	u, _ := url.Parse(vaultAddr)
	rp := httputil.NewSingleHostReverseProxy(u)
	var lookups atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/v1/auth/token/lookup-self":
			lookups.Add(1)
		case strings.HasSuffix(r.URL.Path, "/data/app/secret"):
			time.Sleep(300 * time.Millisecond) // a slow read: latency, not a wait for an event
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	s := tc.store(Options{Address: proxy.URL, Auth: Auth{Method: "token"}}, map[string]string{"VAULT_TOKEN": tok})
	wantValue(t, tc, s, ref, value)
	if n := lookups.Load(); n != 0 {
		t.Errorf("the token was looked up %d times while the first fetch read, want 0", n)
	}
	waitFor(t, "the token's lookup, for its renewal", 10*time.Second, func() bool { return lookups.Load() == 1 })
}

// TestAuthVaultAgent runs a real Vault Agent whose API proxy adds its
// auto-auth token to requests that carry none, and sets VAULT_AGENT_ADDR,
// as the Vault CLI reads it (over VAULT_ADDR): the store goes through the
// agent with no token of its own. It ignored VAULT_AGENT_ADDR and asked
// for a token: "no vault token: VAULT_TOKEN is empty or not set".
func TestAuthVaultAgent(t *testing.T) {
	needVault(t)
	bin := os.Getenv("VAULT_TEST_BIN")
	if bin == "" {
		vaulttest.RequireIntegration(t, "no vault binary for the agent: VAULT_TEST_BIN is not set")
	}
	tc := newCase(t)
	ref, value, pol := readable(t, tc)
	tok := token(t, &api.TokenCreateRequest{Policies: []string{pol}})
	tc.secret(tok)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(tok), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := l.Addr().String()
	l.Close()
	conf := fmt.Sprintf(`vault { address = %q }
auto_auth {
  method "token_file" {
    config = { token_file_path = %q }
  }
}
api_proxy { use_auto_auth_token = true }
listener "tcp" {
  address     = %q
  tls_disable = true
}
listener "unix" {
  address     = %q
  tls_disable = true
}
`, vaultAddr, filepath.Join(dir, "token"), listen, filepath.Join(dir, "agent.sock"))
	if err := os.WriteFile(filepath.Join(dir, "agent.hcl"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	agent := exec.Command(bin, "agent", "-config="+filepath.Join(dir, "agent.hcl"))
	agent.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	// Ready once it listens and has read the token: it listens before
	// its auto-auth is done, and a request forwarded meanwhile goes
	// without a token (403, "permission denied"; seen in CI).
	waitFor(t, "the agent to listen with its token", 30*time.Second, func() bool {
		resp, err := http.Get("http://" + listen + "/v1/auth/token/lookup-self")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	// VAULT_AGENT_ADDR, and VAULT_ADDR naming the agent's unix socket,
	// as the CLI takes it too: a unix socket is an agent's or a proxy's.
	// ward asked for a token of its own: "no vault token".
	for _, env := range []map[string]string{
		{"VAULT_AGENT_ADDR": "http://" + listen, "VAULT_ADDR": "http://127.0.0.1:1"},
		{"VAULT_ADDR": "unix://" + filepath.Join(dir, "agent.sock")},
	} {
		env["HOME"] = t.TempDir()
		s, err := newStore(Options{}, resolve.Env{Getenv: func(k string) string { return env[k] }, Log: tc.logger(), RevokeOnExit: true},
			retryWaits{5 * time.Millisecond, 20 * time.Millisecond})
		if err != nil {
			t.Fatalf("new store: %s", tc.text(err))
		}
		t.Cleanup(func() { s.Close() })
		wantValue(t, tc, s, ref, value)
	}
}

// TestCredsSettingWithoutCredentialsDirectory: a creds://NAME auth
// setting outside a systemd unit is an error naming the variable, as a
// creds:// reference is. It was joined to an empty directory, so ward
// read ./NAME in its working directory and logged in with whatever that
// file held.
func TestCredsSettingWithoutCredentialsDirectory(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, value, pol := readable(t, tc)
	mount, role, roleID := approle(t, pol, nil)
	secretID := tc.secretID(mount, role)
	tok := token(t, &api.TokenCreateRequest{Policies: []string{pol}})
	tc.secret(tok)
	// The working directory holds files named as the credentials, with
	// values that would work.
	t.Chdir(t.TempDir())
	for name, v := range map[string]string{"tok": tok, "secret-id": secretID} {
		if err := os.WriteFile(name, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name string
		auth Auth
		env  map[string]string
		want string
	}{
		{"token_file", Auth{Method: "token_file", TokenFile: "creds://tok"}, nil, "creds://tok: $CREDENTIALS_DIRECTORY is not set"},
		{"secret_id_file", Auth{Method: "approle", Mount: mount, SecretIDFile: "creds://secret-id"}, map[string]string{"VAULT_ROLE_ID": roleID}, "creds://secret-id: $CREDENTIALS_DIRECTORY is not set"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tc.store(Options{Auth: tt.auth}, tt.env)
			_, err := fetch(t, s, map[string]string{"X": ref})
			tc.wantErr(tt.name, err, tt.want)
		})
	}
	// Under a unit, the same setting reads $CREDENTIALS_DIRECTORY/NAME.
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	s := tc.store(Options{Auth: Auth{Method: "token_file", TokenFile: "creds://tok"}}, map[string]string{"CREDENTIALS_DIRECTORY": wd})
	wantValue(t, tc, s, ref, value)
}

// TestAuthTokenCappedOneSecondShort: a login token's renewal that Vault
// caps at the role's token_max_ttl and answers with one second less than
// the token's TTL (3 s asked, 2 s left) is the token's last: the store
// logs in again then, and the leases the token created are read again
// before it ends. Vault counts the max TTL in whole seconds, and a cap
// one second short was taken for no cap (d < ttl-1s, the lease keeper's
// fault fixed before): the renewer went on, its next renewal was refused
// ("past the max TTL") or came too late, and the new login came with a
// third of the 2 s left, or less.
func TestAuthTokenCappedOneSecondShort(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, value, pol := readable(t, tc)
	mount, role, roleID := approle(t, pol, map[string]any{"token_ttl": "3s", "token_max_ttl": "7s"})
	secretID := tc.secretID(mount, role)
	s := tc.store(Options{Auth: Auth{Method: "approle", Mount: mount, RoleID: roleID}}, map[string]string{"VAULT_SECRET_ID": secretID})
	wantValue(t, tc, s, ref, value)
	// Renewals come at about 0.7 of the TTL, and Vault caps in whole
	// seconds: within a few tokens of 7 s one is answered with 2 s.
	capped := `msg="vault token renewed" ttl=2s`
	waitFor(t, "a token renewal answered with 2 s", 90*time.Second, func() bool {
		return strings.Contains(tc.logs.String(), capped)
	})
	var next string
	waitFor(t, "what the store does after it", 20*time.Second, func() bool {
		after := tc.logs.String()
		after = after[strings.Index(after, capped)+len(capped):]
		for _, line := range strings.Split(after, "\n") {
			for _, m := range []string{"vault token reaches its max TTL", "vault token can no longer be renewed", "vault token renewal failed", `msg="vault token renewed"`} {
				if strings.Contains(line, m) {
					next = line
					return true
				}
			}
		}
		return false
	})
	if !strings.Contains(next, "vault token reaches its max TTL") {
		t.Errorf("after a token renewal capped at 2 s of 3, the store did not log in again at once; next: %s", next)
	}
}

// TestAuthTokenPastMaxTTLNotRetried: Vault refuses a login token's
// renewal past its max TTL with a 500 ("past the max TTL, cannot
// renew"), which the API client retried after 1 to 1.5 s, twice. Vault
// counts the max TTL in whole seconds, so a token of 2 s (at most 6 s)
// issued in the middle of a second is renewed in full once more, past
// its max TTL, and the next renewal is refused with about 0.6 s of the
// token left: the store logged in again only after it had ended, and
// the leases it created with it. Each new login must come while the old
// token lives.
func TestAuthTokenPastMaxTTLNotRetried(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	ref, value, pol := readable(t, tc)
	mount, role, roleID := approle(t, pol, map[string]any{"token_ttl": "2s", "token_max_ttl": "6s"})
	secretID := tc.secretID(mount, role)
	// With ward's own waits between retries of a 5xx (1 to 1.5 s), not
	// the tests' 5 to 20 ms.
	s := tc.storeWaiting(Options{Auth: Auth{Method: "approle", Mount: mount, RoleID: roleID}}, map[string]string{"VAULT_SECRET_ID": secretID}, true, retryWaits{})
	// The first login in the middle of a second: its renewals, about
	// 1.43 s apart, answer 2 s up to 4.3 s in, and the one at 5.7 s is
	// past the max TTL (a login early in a second has its last renewal
	// capped to 1 s instead, which TestAuthTokenCappedOneSecondShort
	// holds). Not a wait for an event: a choice of the clock's phase.
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(1500 * time.Millisecond)))
	wantValue(t, tc, s, ref, value)
	old, gen := storeToken(s)
	tc.secret(old)
	for i := range 3 {
		waitFor(t, fmt.Sprintf("login %d", i+2), 20*time.Second, func() bool {
			_, g := storeToken(s)
			return g != gen
		})
		if _, err := root.Auth().Token().Lookup(old); err != nil {
			t.Fatalf("login %d came after the token before it had ended (%v)", i+2, tc.text(err))
		}
		old, gen = storeToken(s)
		tc.secret(old)
	}
	if !strings.Contains(tc.logs.String(), "vault token can no longer be renewed; logging in again") {
		t.Errorf("no token renewal was refused past the max TTL: the logins came at capped renewals, and the refusal was not tried")
	}
}
