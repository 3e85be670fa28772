package store

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/internal/logbuf"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/resolvetest"
	"github.com/wardsecrets/ward/resolve/vault"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// The Vault test server (package vaulttest): needVault sets them.
var (
	srv       *vaulttest.Server
	vaultAddr string
	root      *api.Client
)

// needVault skips t without a Vault test server, or fails it when
// WARD_REQUIRE_INTEGRATION=1.
func needVault(t testing.TB) {
	t.Helper()
	srv = vaulttest.Require(t)
	vaultAddr, root = srv.Addr, srv.Root
}

// tcase follows one test: the secrets it must never see in a log line or
// an error, and the log the stores write.
type tcase struct {
	t       *testing.T
	mu      sync.Mutex
	secrets []string
	logs    logbuf.Buffer
}

func newCase(t *testing.T) *tcase {
	tc := &tcase{t: t}
	t.Cleanup(func() {
		if leaked := tc.leaks(tc.logs.String()); leaked != "" {
			t.Errorf("the store's log holds a secret (%s)", leaked)
		}
	})
	return tc
}

// secret registers values that must never be logged or put in an error.
func (tc *tcase) secret(vs ...string) {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for _, v := range vs {
		if v != "" {
			tc.secrets = append(tc.secrets, v)
		}
	}
}

// canary returns a fresh secret value.
func (tc *tcase) canary(tag string) string {
	v := resolvetest.Canary(tag)
	tc.secret(v)
	return v
}

// leaks names which kind of secret s holds, or "".
func (tc *tcase) leaks(s string) string {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for i, v := range tc.secrets {
		if strings.Contains(s, v) {
			return fmt.Sprintf("secret #%d", i)
		}
	}
	return ""
}

// text is err's message, with any secret replaced, for failure messages.
// A secret in it fails the test.
func (tc *tcase) text(err error) string {
	tc.t.Helper()
	if err == nil {
		return "<nil>"
	}
	msg := err.Error()
	if leaked := tc.leaks(msg); leaked != "" {
		tc.t.Errorf("an error holds a secret (%s)", leaked)
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for _, v := range tc.secrets {
		msg = strings.ReplaceAll(msg, v, "<secret>")
	}
	return msg
}

// wantErr checks that err is an error naming each of wants, and no secret.
func (tc *tcase) wantErr(label string, err error, wants ...string) {
	tc.t.Helper()
	if err == nil {
		tc.t.Errorf("%s: got no error", label)
		return
	}
	msg := tc.text(err)
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			tc.t.Errorf("%s: got error %q, want it to say %q", label, msg, w)
		}
	}
}

// logger is a debug logger into the case's buffer.
func (tc *tcase) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(&tc.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// store returns a store on the test server with env as its whole
// environment (HOME is a fresh directory unless env sets it); Close runs
// at the end of the test.
func (tc *tcase) store(opts Options, env map[string]string) *Store {
	tc.t.Helper()
	return tc.storeRevoking(opts, env, true)
}

// storeRevoking is store with revoke_on_exit set to revoke.
func (tc *tcase) storeRevoking(opts Options, env map[string]string, revoke bool) *Store {
	tc.t.Helper()
	return tc.storeWaiting(opts, env, revoke, retryWaits{5 * time.Millisecond, 20 * time.Millisecond})
}

// storeWaiting is storeRevoking with the API client's waits between
// retries of a 5xx (retryWaits{}: ward's own, 1 to 1.5 s).
func (tc *tcase) storeWaiting(opts Options, env map[string]string, revoke bool, waits retryWaits) *Store {
	tc.t.Helper()
	if opts.Address == "" {
		opts.Address = vaultAddr
	}
	e := map[string]string{"HOME": tc.t.TempDir()}
	for k, v := range env {
		e[k] = v
	}
	s, err := newStore(opts, resolve.Env{Getenv: func(k string) string { return e[k] }, Log: tc.logger(), RevokeOnExit: revoke}, waits)
	if err != nil {
		tc.t.Fatalf("new store: %s", tc.text(err))
	}
	tc.t.Cleanup(func() {
		if err := s.Close(); err != nil {
			tc.t.Errorf("close: %s", tc.text(err))
		}
	})
	return s
}

// refs parses vault:// references.
var refs = resolve.NewRegistry(vault.Kind)

// rootStore is a store that reads with the root token.
func (tc *tcase) rootStore() *Store {
	return tc.store(Options{}, map[string]string{"VAULT_TOKEN": root.Token()})
}

// fetch resolves vars (name to reference) through a resolve.Fetcher, as
// ward does.
func fetch(t testing.TB, s resolve.Store, vars map[string]string) (map[string]resolve.Value, error) {
	t.Helper()
	refs := map[string]resolve.Ref{}
	for name, r := range vars {
		refs[name] = mustRef(t, r)
	}
	f := &resolve.Fetcher{Stores: func(string) (resolve.Store, error) { return s, nil }}
	return f.Fetch(context.Background(), refs)
}

func mustRef(t testing.TB, s string) resolve.Ref {
	t.Helper()
	r, err := refs.ParseRef(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// storeToken is the token the store uses now.
func storeToken(s *Store) (string, int) {
	s.auth.mu.Lock()
	defer s.auth.mu.Unlock()
	return s.auth.token, s.auth.gen
}

// signingKey is an RSA key that signs test JWTs.
type signingKey struct {
	key *rsa.PrivateKey
	pem string // the public key, PEM
}

func newSigningKey(t testing.TB) *signingKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &signingKey{key: k, pem: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}
}

// sign makes an RS256 JWT of claims.
func (k *signingKey) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT"})
	c, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	signed := enc.EncodeToString(h) + "." + enc.EncodeToString(c)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + enc.EncodeToString(sig)
}

// verify checks a JWT's signature and returns its claims.
func (k *signingKey) verify(jwt string) (map[string]any, bool) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return nil, false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return nil, false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if rsa.VerifyPKCS1v15(&k.key.PublicKey, crypto.SHA256, sum[:], sig) != nil {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, false
	}
	var claims map[string]any
	if json.Unmarshal(b, &claims) != nil {
		return nil, false
	}
	return claims, true
}

// Shorthands for the set-up every test here does on the test server.
func rootWrite(t testing.TB, path string, data map[string]any) *api.Secret {
	return srv.Write(t, path, data)
}
func mountKV(t testing.TB, version int) string { return srv.MountKV(t, version) }
func kvPut(t testing.TB, mount string, version int, path string, data map[string]any) {
	srv.KVPut(t, mount, version, path, data)
}
func policy(t testing.TB, hcl string) string                 { return srv.Policy(t, hcl) }
func token(t testing.TB, req *api.TokenCreateRequest) string { return srv.NewToken(t, req) }
func enableAuth(t testing.TB, typ string) string             { return srv.EnableAuth(t, typ) }
func revokeToken(t testing.TB, tok string)                   { srv.RevokeToken(t, tok) }
func uniq(prefix string) string                              { return vaulttest.Uniq(prefix) }
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	vaulttest.WaitFor(t, what, d, cond)
}
