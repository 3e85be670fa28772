package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
	"time"

	vaultapi "github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
	"github.com/wardsecrets/ward/testdata/helper"
)

// TestCIJWTPath is the CI recipe end to end: a job's OIDC-style JWT
// (signed here by a key the test plays issuer for) in VAULT_JWT logs ward
// in to the real Vault's jwt auth; `ward run --exec -p ci` hands the
// deploy step its secret and never the JWT.
func TestCIJWTPath(t *testing.T) {
	c, addr, _ := testVault(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pub := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))

	n := time.Now().UnixNano()
	jwtMount, policy := fmt.Sprintf("jwt%d", n), fmt.Sprintf("ci%d", n)
	mount := vaulttest.Require(t).MountKV(t, 2)
	deployKey := canary("deploy")
	kvPut(t, mount, "deploy", map[string]any{"key": deployKey})
	if err := c.Sys().EnableAuthWithOptions(jwtMount, &vaultapi.EnableAuthOptions{Type: "jwt"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Sys().DisableAuth(jwtMount) })
	c.Sys().PutPolicy(policy, fmt.Sprintf("path %q { capabilities = [\"read\"] }", mount+"/data/*"))
	write := func(path string, data map[string]any) {
		if _, err := c.Logical().Write(path, data); err != nil {
			t.Fatalf("write %s: %v", path, err)
		}
	}
	write("auth/"+jwtMount+"/config", map[string]any{"jwt_validation_pubkeys": []string{pub}, "bound_issuer": "https://token.actions.example"})
	write("auth/"+jwtMount+"/role/deploy", map[string]any{
		"role_type": "jwt", "user_claim": "sub", "bound_audiences": "vault",
		"bound_claims": map[string]any{"repository": "wardsecrets/ward"}, "token_policies": policy, "token_ttl": "5m",
	})
	token := signJWT(t, key, map[string]any{
		"iss": "https://token.actions.example", "aud": "vault", "sub": "repo:wardsecrets/ward:ref:refs/heads/main",
		"repository": "wardsecrets/ward", "iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(),
	})

	w := newWardEnv(t)
	m := w.manifest(fmt.Sprintf(`version: 1
env:
  DEPLOY_KEY: local://myapp/deploy_key
profiles:
  ci:
    env:
      DEPLOY_KEY: vault://%s/deploy#key
stores:
  vault:
    address: %s
    auth:
      method: jwt
      mount: %s
      role: deploy
      jwt_env: VAULT_JWT
`, mount, addr, jwtMount))
	cmd := w.command("run", "--exec", "-p", "ci", "-m", m, "--", "helper", "env")
	cmd.Env = append(cmd.Env, "VAULT_JWT="+token, "GITHUB_ACTIONS=true")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if code := exitCode(t, cmd.Run()); code != 0 {
		t.Fatalf("got exit code %d: %s", code, redactAll(stderr.String(), deployKey, token))
	}
	if !strings.Contains(stdout.String(), "\nDEPLOY_KEY "+helper.Hash(deployKey)+"\n") {
		t.Errorf("the deploy step does not have the key")
	}
	if strings.Contains(stdout.String(), "\nVAULT_JWT ") {
		t.Errorf("the JWT reached the deploy step")
	}
	// Under GitHub Actions the key's only place in ward's stderr is the
	// runner's ::add-mask:: command, which the runner consumes and never
	// shows; the JWT (ward's own credential, masked by the workflow that
	// fetched it) is in none.
	var masks int
	var rest strings.Builder
	for _, line := range strings.SplitAfter(stderr.String(), "\n") {
		if strings.TrimSuffix(line, "\n") == "::add-mask::"+deployKey {
			masks++
			continue
		}
		rest.WriteString(line)
	}
	if masks != 1 {
		t.Errorf("ward registered the key with the runner's masking %d times, want once", masks)
	}
	if strings.Contains(stderr.String(), token) || strings.Contains(rest.String(), deployKey) {
		t.Errorf("the JWT, or the key outside its ::add-mask:: line, is in ward's stderr")
	}

	// A JWT for another repository is refused: exit 125, nothing runs.
	bad := signJWT(t, key, map[string]any{
		"iss": "https://token.actions.example", "aud": "vault", "sub": "repo:someone/else", "repository": "someone/else",
		"iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(),
	})
	cmd = w.command("run", "--exec", "-p", "ci", "-m", m, "--", "helper", "env")
	cmd.Env = append(cmd.Env, "VAULT_JWT="+bad)
	stderr.Reset()
	cmd.Stderr = &stderr
	if code := exitCode(t, cmd.Run()); code != 125 {
		t.Errorf("a JWT for another repository: got exit code %d, want 125", code)
	}
	if strings.Contains(stderr.String(), bad) {
		t.Errorf("the refused JWT is in ward's stderr")
	}
}
