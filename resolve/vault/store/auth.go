package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/vault"
)

// authState holds the store's token: where it came from, how to get a new
// one, and the renewer that keeps a login token alive.
type authState struct {
	s    *Store
	bare *api.Client // no token: for logins

	bg     context.Context // ends on Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// answered is closed when the first request with the token has been
	// answered (firstAnswer).
	answered    chan struct{}
	firstAnswer sync.Once

	mu      sync.Mutex // held while a token is read or a login runs
	ready   bool
	stopped bool
	token   string
	gen     int    // counts token changes, so concurrent 403s log in once
	file    string // token file (token_file, ~/.vault-token) or ""
	helper  string // the Vault CLI's token helper the token came from, or ""
	// helperConfig is the CLI's configuration file that names helper.
	helperConfig string
	fileMod      time.Time
	fileLen      int64
	watcher      *api.LifetimeWatcher
	// uses is how many requests a login token may make when its role
	// limits them (token_num_uses; 0: no limit), and spent how many it
	// has made: Vault revokes it at its last use. Such a token is not
	// renewed (a renewal spends a use).
	uses, spent int
	// inflight is held (read) by each request counted against uses.
	inflight sync.RWMutex
	// issued is when the token in hand was issued by a login, and proven
	// whether Vault has taken it for a request since.
	issued time.Time
	proven bool
	// jwtExp is when the JWT of the last login attempt (jwt,
	// kubernetes) expires, by its exp claim (zero: not known).
	jwtExp time.Time
	// unwrapped remembers the secret_id behind a wrapping token already
	// spent, so a later login can use it again: a wrapping token unwraps
	// once.
	unwrapped struct {
		wrapping [sha256.Size]byte
		secretID string
	}
	// ends are when login tokens that can no longer be renewed expire, by
	// generation: Vault revokes the leases a token created when it
	// expires, so a lease it created must be read again, with a newer
	// token, before then. changed is closed, and replaced, when an end is
	// learnt or the token changes.
	ends    map[int]time.Time
	changed chan struct{}
}

func newAuthState(s *Store) (*authState, error) {
	bare, err := s.client.CloneWithHeaders()
	if err != nil {
		return nil, err
	}
	bare.ClearToken()
	a := &authState{s: s, bare: bare, answered: make(chan struct{}), ends: map[int]time.Time{}, changed: make(chan struct{})}
	a.bg, a.cancel = context.WithCancel(context.Background())
	return a, nil
}

// do runs op with the store's token. When Vault answers 403 because the
// token has expired or was revoked (or the token file has a new one), it
// gets a new token (logging in again, or re-reading the file) and runs op
// once more. A 403 from a policy is returned as it is.
func (a *authState) do(ctx context.Context, op func(context.Context) (reply, error)) (reply, error) {
	if _, err := a.current(ctx); err != nil {
		return reply{}, err
	}
	gen, done, err := a.use(ctx)
	if err != nil {
		return reply{}, err
	}
	if err := a.s.outage.recent(); err != nil {
		done()
		return reply{}, err
	}
	rep, err := a.s.served(ctx, op)
	done()
	if err != nil && ctx.Err() == nil && vaultWide(err) {
		a.s.outage.note(err)
	}
	rep.gen = gen
	a.firstAnswer.Do(func() { close(a.answered) })
	if err != nil || rep.status != http.StatusForbidden {
		if err == nil {
			a.taken(gen)
		}
		return rep, err
	}
	changed, err := a.refresh(ctx, gen)
	if err != nil {
		return reply{}, err
	}
	if !changed {
		return rep, nil
	}
	gen, done, err = a.use(ctx)
	if err != nil {
		return reply{}, err
	}
	rep, err = a.s.served(ctx, op)
	done()
	rep.gen = gen
	if err == nil && rep.status != http.StatusForbidden {
		a.taken(gen)
	}
	return rep, err
}

// use counts a request about to be made with a login token whose role
// limits its uses (token_num_uses), logging in again first when they are
// spent, and returns the generation of the token to make it with, and
// done, to call once the request is answered: a login for the next uses
// waits for the requests counted against the token in hand, which would
// otherwise go with the new one (the client has one token) and spend its
// uses uncounted. Vault revokes such a token at its last use: a start
// with more secrets than uses got 403s, read as a policy's refusal, for
// the reads beyond them. Requests outside do (a renewal, a lookup) spend
// uses uncounted; the 403 that follows logs in again, as for a revoked
// token.
func (a *authState) use(ctx context.Context) (gen int, done func(), err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.uses == 0 {
		return a.gen, func() {}, nil
	}
	if a.spent >= a.uses {
		a.s.log.Debug("vault token has spent its uses (token_num_uses); logging in again", "method", a.s.set.Auth.Method, "uses", a.uses)
		// No request waits for mu while it holds inflight: this waits
		// for those in flight alone.
		a.inflight.Lock()
		err := a.login(ctx)
		a.inflight.Unlock()
		if err != nil {
			return 0, nil, err
		}
		if a.uses == 0 {
			return a.gen, func() {}, nil
		}
	}
	a.spent++
	a.inflight.RLock()
	return a.gen, a.inflight.RUnlock, nil
}

// taken records that Vault took the token of generation gen for a
// request.
func (a *authState) taken(gen int) {
	a.mu.Lock()
	if a.gen == gen {
		a.proven = true
	}
	a.mu.Unlock()
}

// served runs op until Vault stops answering 429 for a rate-limit quota
// an operator set, waiting with backoff and jitter between tries, for as
// long as the request timeout. The API client's own retries (max_retries,
// a second or so apart) are too few for a quota that the reads of a start
// with many secrets overrun for seconds. Each try has a timeout of its
// own, so that the last answer is Vault's 429, not a deadline. Vault
// Enterprise's lease-count quota answers 429 too; it is not waited for:
// leases end when they end.
func (s *Store) served(ctx context.Context, op func(context.Context) (reply, error)) (reply, error) {
	deadline := time.Now().Add(s.set.Timeout)
	wait := throttleWait
	for {
		rep, err := op(ctx)
		if rep.status != http.StatusTooManyRequests || strings.Contains(strings.Join(rep.msgs, " "), "lease count quota") {
			return rep, err
		}
		// Spread the waits of the reads that were refused together.
		d := wait/2 + rand.N(wait)
		if time.Until(deadline) < d {
			return rep, err
		}
		if !resolve.Sleep(ctx, d) {
			return rep, err
		}
		wait = min(2*wait, maxThrottleWait)
	}
}

// The waits between tries of a request Vault throttles.
const (
	throttleWait    = 500 * time.Millisecond
	maxThrottleWait = 8 * time.Second
)

// current makes sure there is a token, getting the first one on first use
// and re-reading a token file that changed, and returns its generation.
func (a *authState) current(ctx context.Context) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return 0, errors.New("the vault store is closed")
	}
	if a.ready {
		if a.file != "" && a.fileChanged() {
			if _, err := a.readFile(); err != nil {
				// A sink rewriting its file can leave it briefly empty:
				// the token in hand may still be good.
				a.s.log.Debug("vault token file changed but could not be read; keeping the token in hand", "file", a.file, "error", err.Error())
			}
		}
		return a.gen, nil
	}
	if err := a.acquire(ctx); err != nil {
		return 0, err
	}
	return a.gen, nil
}

// acquire gets the first token. Callers hold mu.
func (a *authState) acquire(ctx context.Context) error {
	auth := a.s.set.Auth
	switch auth.Method {
	case vault.MethodToken:
		if t := strings.TrimSpace(a.s.getenv(vault.EnvToken)); t != "" {
			a.setToken(t)
			a.renewStatic(a.gen)
			return nil
		}
		// As the CLI: a token helper in its configuration, else
		// ~/.vault-token (the CLI's own helper).
		helper, config, err := a.s.set.tokenHelper(a.s.getenv)
		if err != nil {
			return fmt.Errorf("no vault token: VAULT_TOKEN is empty or not set, and %w", err)
		}
		if helper != "" {
			t, err := runTokenHelper(ctx, helper, config, a.s.getenv)
			if err != nil {
				return fmt.Errorf("no vault token: VAULT_TOKEN is empty or not set, and %w", err)
			}
			switch {
			case t != "":
				a.helper, a.helperConfig = helper, config
				a.setToken(t)
				a.renewStatic(a.gen)
				return nil
			case a.s.set.agent:
				a.setToken("")
				return nil
			}
			return fmt.Errorf("no vault token: VAULT_TOKEN is empty or not set, and the vault token helper %s (token_helper in %s) has none: run vault login", helper, config)
		}
		if a.s.set.home == "" {
			return errors.New("no vault token: VAULT_TOKEN is empty or not set and there is no home directory for ~/.vault-token: set VAULT_TOKEN or choose a login method under stores.vault.auth")
		}
		a.file = filepath.Join(a.s.set.home, ".vault-token")
		if _, err := a.readFile(); err != nil {
			if errors.Is(err, os.ErrNotExist) && a.s.set.agent {
				// The agent adds its auto-auth token (api_proxy's
				// use_auto_auth_token): requests go without one.
				a.file = ""
				a.setToken("")
				a.s.log.Debug("no vault token: requests go through the Vault Agent or Proxy at the address, which adds its own", "address", a.s.set.Address)
				return nil
			}
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("no vault token: VAULT_TOKEN is empty or not set and %s does not exist: set VAULT_TOKEN, run vault login, set VAULT_AGENT_ADDR to a Vault Agent that adds its auto-auth token, or choose a login method under stores.vault.auth", a.file)
			}
			return err
		}
		return nil
	case vault.MethodTokenFile:
		file, err := a.s.set.credsPath(auth.TokenFile)
		if err != nil {
			return fmt.Errorf("read the vault token file: %w", err)
		}
		a.file = file
		if _, err := a.readFile(); err != nil {
			return fmt.Errorf("%w: check that the Vault Agent sink writes there", err)
		}
		return nil
	}
	return a.login(ctx)
}

// refresh gets a new token after a 403 on generation gen: it logs in
// again, or re-reads the token file. It reports whether the token
// changed, so the request is worth repeating.
func (a *authState) refresh(ctx context.Context, gen int) (bool, error) {
	a.mu.Lock()
	file, helper, newer := a.file, a.helper, a.gen != gen
	a.mu.Unlock()
	switch {
	case newer:
		// Another request got a new token meanwhile.
		return true, nil
	case !a.s.set.loginMethod() && file == "" && helper == "":
		// VAULT_TOKEN: there is no other token to get.
		return false, nil
	case (a.s.set.loginMethod() || helper != "") && !a.tokenInvalid(ctx):
		// The token is fine: the policy said no. (Asking a token
		// helper again starts a program: only for a dead token.)
		return false, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopped {
		return false, errors.New("the vault store is closed")
	}
	if a.gen != gen {
		// Another request got a new token meanwhile.
		return true, nil
	}
	if a.file != "" {
		return a.readFile()
	}
	if a.helper != "" {
		// As ~/.vault-token is read again: a vault login since gave the
		// helper a new token.
		t, err := runTokenHelper(ctx, a.helper, a.helperConfig, a.s.getenv)
		if err != nil || t == "" || t == a.token {
			return false, err
		}
		a.s.log.Info("vault token no longer valid; the token helper has a new one", "helper", a.helper)
		a.setToken(t)
		a.renewStatic(a.gen)
		return true, nil
	}
	if !a.proven && time.Since(a.issued) < refusedAtBirth {
		// Vault refused this login's token for every request, its own
		// lookup included, from the first: logging in again gives one
		// refused so too (one login per read of a start, each spending
		// a use of the secret_id).
		return false, fmt.Errorf("vault refuses the token it has just issued to ward (%s login) for every request, even auth/token/lookup-self: the role's token_bound_cidrs may not include the address Vault sees for ward (a load balancer's or proxy's in front of Vault, unless its listener trusts their X-Forwarded-For)", a.s.set.Auth.Method)
	}
	a.s.log.Info("vault token no longer valid; logging in again", "method", a.s.set.Auth.Method)
	if err := a.login(ctx); err != nil {
		return false, err
	}
	return true, nil
}

// refusedAtBirth is how long a login token that Vault has refused from
// the first request is not replaced by another login: afterwards (the
// next polls), ward logs in again, in case what refused it changed.
const refusedAtBirth = time.Minute

// source says where the token handed to ward came from.
func (a *authState) source() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.file != "":
		return "the token in " + a.file
	case a.helper != "":
		return "the token of the vault token helper " + a.helper
	case a.token == "":
		return "the auto-auth token of the Vault Agent or Proxy at " + a.s.set.Address
	}
	return vault.EnvToken
}

// tokenInvalid asks Vault whether the token in hand still works. A token
// without the default policy (a role's token_no_default_policy) may not
// look itself up: the UI's list of mounts, which answers any token Vault
// knows (with the mounts it may see), tells it from a dead one. Taken for
// dead, it was replaced by a new login at each 403 of its policy.
func (a *authState) tokenInvalid(ctx context.Context) bool {
	_, err := a.s.client.Auth().Token().LookupSelfWithContext(ctx)
	if !forbidden(err) {
		return false
	}
	resp, err := a.s.client.Logical().ReadRawWithContext(ctx, "sys/internal/ui/mounts")
	if resp != nil {
		resp.Body.Close()
	}
	return forbidden(err)
}

// forbidden reports whether err is Vault's 403.
func forbidden(err error) bool {
	var re *api.ResponseError
	return errors.As(err, &re) && re.StatusCode == http.StatusForbidden
}

// loginMethod reports whether the auth method logs in (and so can log in
// again).
func (s settings) loginMethod() bool {
	switch s.Auth.Method {
	case vault.MethodAppRole, vault.MethodKubernetes, vault.MethodJWT:
		return true
	}
	return false
}

// setToken makes t the token every request uses. Callers hold mu.
func (a *authState) setToken(t string) {
	a.token = t
	a.gen++
	a.uses, a.spent = 0, 0
	a.proven = false
	a.ready = true
	a.s.client.SetToken(t)
	a.notify()
}

// notify wakes up whoever waits on changed. Callers hold mu.
func (a *authState) notify() {
	close(a.changed)
	a.changed = make(chan struct{})
}

// tokenEnd is when the token of generation gen expires for good (zero
// while that is not known), whether a newer token is in use, and a
// channel closed when either may have changed.
func (a *authState) tokenEnd(gen int) (end time.Time, replaced bool, changed <-chan struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ends[gen], a.gen != gen, a.changed
}

// ending records that the login token of generation gen expires at end
// and cannot be renewed past it, then logs in again so that what is
// read from now on (a lease first of all) comes with a token that lives
// on.
func (a *authState) ending(gen int, end time.Time) {
	a.mu.Lock()
	if a.stopped || a.gen != gen {
		a.mu.Unlock()
		return
	}
	if e, ok := a.ends[gen]; !ok || end.Before(e) {
		a.ends[gen] = end
		a.notify()
	}
	// A variable's JWT that has expired: the login again may fail. Said
	// if it does, with when reads will stop: Vault takes a JWT for a
	// while past its exp (the role's expiration_leeway, 150 s by
	// default), and the warning came before logins that worked.
	why := ""
	if a.s.set.Auth.Method == vault.MethodJWT && a.s.set.Auth.JWTFile == "" {
		why = a.jwtExpired()
	}
	a.mu.Unlock()
	a.relogin(gen, func() {
		if why != "" {
			a.s.log.Warn("the vault token ends and ward cannot log in again: reads fail from then on (the child keeps what it has)", "ends_at", end.UTC().Format(time.RFC3339), "why", why)
		}
	})
}

// readFile reads the token file and reports whether the token changed.
// Callers hold mu.
func (a *authState) readFile() (bool, error) {
	st, err := os.Stat(a.file)
	if err != nil {
		return false, fmt.Errorf("read the vault token file: %w", err)
	}
	b, err := os.ReadFile(a.file)
	if err != nil {
		return false, fmt.Errorf("read the vault token file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return false, fmt.Errorf("the vault token file %s is empty", a.file)
	}
	a.fileMod, a.fileLen = st.ModTime(), st.Size()
	if t == a.token {
		return false, nil
	}
	if a.ready {
		a.s.log.Info("vault token file changed; using its new token", "file", a.file)
		// Nobody renews the old token now (an agent that wrote a new
		// one has logged in again): the leases it created end when it
		// does, and are read again with the new token before then.
		if end, ok := a.endOfToken(); ok {
			a.ends[a.gen] = end
		}
	}
	a.setToken(t)
	return true, nil
}

// endOfToken asks Vault when the token in hand expires: at once when Vault
// no longer knows it, never (false) for a token that does not expire.
// Callers hold mu.
func (a *authState) endOfToken() (time.Time, bool) {
	ctx, cancel := context.WithTimeout(a.bg, a.s.set.Timeout)
	defer cancel()
	sec, err := a.s.client.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil || sec == nil {
		return time.Now(), true
	}
	ttl, err := sec.TokenTTL()
	if err != nil {
		return time.Now(), true
	}
	if ttl <= 0 {
		if expires(sec) {
			// Vault's ttl is whole seconds, rounded: 0 is also a token
			// with less than half a second left, which was taken for
			// one that never expires, and the leases it created were
			// not read again before they ended with it.
			return time.Now(), true
		}
		return time.Time{}, false
	}
	return time.Now().Add(ttl), true
}

// expires reports whether a token lookup has an expire_time: a token
// that expires, whatever its ttl says (a token that never expires has
// none). The time itself is Vault's clock's, not ward's.
func expires(sec *api.Secret) bool {
	if sec == nil || sec.Data == nil {
		return false
	}
	v, _ := sec.Data["expire_time"].(string)
	return v != ""
}

// fromFile reports whether the token comes from a file (a Vault Agent
// sink, ~/.vault-token), which can change under the store.
func (a *authState) fromFile() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.file != ""
}

// fileChanged reports whether the token file looks different from when it
// was last read. Callers hold mu.
func (a *authState) fileChanged() bool {
	st, err := os.Stat(a.file)
	if err != nil {
		return false
	}
	return !st.ModTime().Equal(a.fileMod) || st.Size() != a.fileLen
}

// login logs in with the configured method, makes the new token current
// and starts renewing it. The old token is left to expire: revoking it
// would revoke the leases it created, and change secrets the child uses.
// Callers hold mu.
func (a *authState) login(ctx context.Context) error {
	auth := a.s.set.Auth
	body, err := a.credentials(ctx)
	if err != nil {
		return err
	}
	path := "auth/" + auth.Mount + "/login"
	ctx, cancel := context.WithTimeout(ctx, a.s.set.Timeout)
	defer cancel()
	sec, uses, err := a.post(ctx, path, body)
	if re := (*api.ResponseError)(nil); errors.As(err, &re) && re.StatusCode < 500 && re.StatusCode != http.StatusTooManyRequests {
		if why := a.jwtExpired(); why != "" {
			return fmt.Errorf("log in to vault with %s (PUT %s): %w: %s", auth.Method, path, compact(err), why)
		}
		return fmt.Errorf("log in to vault with %s (PUT %s): %w: %s", auth.Method, path, compact(err), loginHint(auth))
	}
	if err != nil {
		// Vault sealed, down or throttling: it did not look at the
		// credentials, and they are not what to check.
		return fmt.Errorf("log in to vault with %s (PUT %s): %w", auth.Method, path, compact(err))
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return fmt.Errorf("log in to vault with %s (PUT %s): the answer holds no token", auth.Method, path)
	}
	// A login for the next uses of a use-limited token comes once per
	// few requests: the first says what they are.
	level := slog.LevelInfo
	if a.uses > 0 && a.spent >= a.uses {
		level = slog.LevelDebug
	}
	a.setToken(sec.Auth.ClientToken)
	a.issued = time.Now()
	ttl := time.Duration(sec.Auth.LeaseDuration) * time.Second
	attrs := []any{"method", auth.Method, "mount", auth.Mount, "ttl", ttl.String(), "renewable", sec.Auth.Renewable, "policies", strings.Join(sec.Auth.Policies, ",")}
	if uses > 0 {
		a.uses = uses
		attrs = append(attrs, "num_uses", uses)
	}
	a.s.log.Log(ctx, level, "vault login", attrs...)
	a.startRenewer(sec, a.gen)
	return nil
}

// post sends a login and returns its answer, with the token's use limit
// (num_uses, which api.SecretAuth leaves out; 0: none).
func (a *authState) post(ctx context.Context, path string, body map[string]any) (*api.Secret, int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, 0, errors.New("encode the login request")
	}
	resp, err := a.bare.Logical().WriteRawWithContext(ctx, path, b)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		return nil, 0, err
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, 0, err
	}
	sec, err := api.ParseSecret(bytes.NewReader(raw))
	if err != nil {
		return nil, 0, err
	}
	var limit struct {
		Auth struct {
			NumUses int `json:"num_uses"`
		} `json:"auth"`
	}
	_ = json.Unmarshal(raw, &limit)
	return sec, limit.Auth.NumUses, nil
}

func loginHint(auth Auth) string {
	switch auth.Method {
	case vault.MethodAppRole:
		return "check role_id and secret_id (a secret_id can expire or run out of uses) and that approle is enabled at auth/" + auth.Mount
	case vault.MethodKubernetes:
		return fmt.Sprintf("check the role %q (its bound service account names and namespaces), the service account token in %s, and the mount's kubernetes_host", auth.Role, auth.JWTFile)
	}
	return fmt.Sprintf("check the role %q (its bound audiences, subject and claims), that the JWT has not expired, and the mount's keys or discovery URL", auth.Role)
}

// jwtExpired says, when the JWT of the last login attempt has expired
// by its exp claim, when, and what to do for the method and where the
// JWT comes from; "" otherwise. Callers hold mu.
func (a *authState) jwtExpired() string {
	if a.jwtExp.IsZero() || time.Now().Before(a.jwtExp) {
		return ""
	}
	auth := a.s.set.Auth
	at := a.jwtExp.UTC().Format(time.RFC3339)
	if auth.Method == vault.MethodJWT && auth.JWTFile == "" {
		return fmt.Sprintf("the JWT in $%s expired at %s (its exp claim), and a variable's cannot be replaced while ward runs: ward logs in again when the vault token reaches its max TTL or is revoked, so give the role a token_max_ttl that covers the run, or set jwt_file to a file a fresh JWT is written to", auth.JWTEnv, at)
	}
	return fmt.Sprintf("the JWT in %s expired at %s (its exp claim): ward reads the file again at each login, and a fresh one must be written there (the kubelet rotates a projected service account token; a CI runner or agent, a JWT it fetches)", auth.JWTFile, at)
}

// jwtExpiry is when a JWT expires by its exp claim, read without
// verifying it (Vault does); zero when it has none or is not a JWT.
func jwtExpiry(jwt string) time.Time {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return time.Time{}
	}
	exp, err := claims.Exp.Float64()
	if err != nil || exp <= 0 {
		return time.Time{}
	}
	return time.Unix(int64(exp), 0)
}

// credentials reads what the method logs in with: from the manifest, files
// or the environment, afresh for each login (files rotate).
func (a *authState) credentials(ctx context.Context) (map[string]any, error) {
	auth := a.s.set.Auth
	switch auth.Method {
	case vault.MethodAppRole:
		roleID, err := a.read("role_id", auth.RoleID, auth.RoleIDFile, auth.RoleIDEnv)
		if err != nil {
			return nil, err
		}
		body := map[string]any{"role_id": roleID}
		envs := []string{auth.SecretIDEnv}
		if auth.SecretIDEnv == "" {
			envs = []string{vault.EnvSecretID}
			if auth.WrappedSecretID {
				envs = []string{vault.EnvWrappedSecretID, vault.EnvSecretID}
			}
		}
		secretID, err := a.read("secret_id", "", auth.SecretIDFile, envs...)
		if err != nil && (auth.WrappedSecretID || auth.SecretIDFile != "" || auth.SecretIDEnv != "") {
			return nil, err
		}
		if auth.WrappedSecretID {
			if secretID, err = a.unwrap(ctx, secretID); err != nil {
				return nil, err
			}
		}
		if secretID != "" {
			body["secret_id"] = secretID
		}
		return body, nil
	case vault.MethodKubernetes:
		jwt, err := a.read("service account token", "", auth.JWTFile)
		if err != nil {
			return nil, err
		}
		a.jwtExp = jwtExpiry(jwt)
		return map[string]any{"role": auth.Role, "jwt": jwt}, nil
	case vault.MethodJWT:
		jwt, err := a.read("JWT", "", auth.JWTFile, auth.JWTEnv)
		if err != nil {
			return nil, err
		}
		a.jwtExp = jwtExpiry(jwt)
		return map[string]any{"role": auth.Role, "jwt": jwt}, nil
	}
	return nil, fmt.Errorf("unknown vault auth method %q", auth.Method)
}

// read returns a credential from value, else file, else the first set
// variable of envs. Errors name where it looked, never what it found.
func (a *authState) read(what, value, file string, envs ...string) (string, error) {
	if v := strings.TrimSpace(value); v != "" {
		return v, nil
	}
	if file != "" {
		file, err := a.s.set.credsPath(file)
		if err != nil {
			return "", fmt.Errorf("read the vault %s: %w", what, err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read the vault %s: %w", what, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("read the vault %s: %s is empty", what, file)
		}
		return v, nil
	}
	var names []string
	for _, e := range envs {
		if e == "" {
			continue
		}
		if v := strings.TrimSpace(a.s.getenv(e)); v != "" {
			if v == "null" {
				// What `jq -r .value` prints for a field the answer
				// lacks: Vault refused it as a JWT of no three parts,
				// and the hint was about the role's bound audiences.
				return "", fmt.Errorf("no vault %s: $%s is \"null\", what jq -r prints for a field the answer lacks: check the command that set it", what, e)
			}
			return v, nil
		}
		names = append(names, "$"+e)
	}
	if len(names) == 0 {
		return "", fmt.Errorf("no vault %s configured", what)
	}
	return "", fmt.Errorf("no vault %s: %s is empty or not set", what, strings.Join(names, " or "))
}

// unwrap turns a response-wrapping token into the secret_id it wraps. A
// wrapping token unwraps once, so the secret_id is kept for later logins
// while the same wrapping token is what the source still holds.
//
// As Vault's response-wrapping guide says, the token is looked up first
// (sys/wrapping/lookup, which spends nothing): one Vault no longer knows
// may have been unwrapped by someone who now holds the secret_id, and
// one created at another path than an AppRole secret-id endpoint of the
// mount may have been put in the place of the one delivered. Neither is
// unwrapped, and each error says so.
func (a *authState) unwrap(ctx context.Context, wrapping string) (string, error) {
	sum := sha256.Sum256([]byte(wrapping))
	if a.unwrapped.secretID != "" && a.unwrapped.wrapping == sum {
		return a.unwrapped.secretID, nil
	}
	c, err := a.bare.CloneWithHeaders()
	if err != nil {
		return "", err
	}
	c.SetToken(wrapping)
	ctx, cancel := context.WithTimeout(ctx, a.s.set.Timeout)
	defer cancel()
	const what = "unwrap the approle secret_id (wrapped_secret_id is on)"
	look, err := c.Logical().WriteWithContext(ctx, "sys/wrapping/lookup", map[string]any{"token": wrapping})
	if re := (*api.ResponseError)(nil); errors.As(err, &re) && re.StatusCode == http.StatusBadRequest {
		return "", fmt.Errorf("%s: %w: it was unwrapped already, or it expired or was revoked; a run of ward unwraps it, so a restart with the same one fails too; if no earlier run nor its TTL explains it, someone else may have unwrapped it and hold the secret_id: destroy the role's secret ids issued since (vault list auth/%[3]s/role/ROLE/secret-id, then vault write auth/%[3]s/role/ROLE/secret-id-accessor/destroy secret_id_accessor=...), find out who, and deliver a fresh one", what, compact(err), a.s.set.Auth.Mount)
	}
	if err != nil {
		return "", fmt.Errorf("%s: look up the wrapping token: %w", what, compact(err))
	}
	var path string
	if look != nil {
		path, _ = look.Data["creation_path"].(string)
	}
	if !secretIDPath(path, a.s.set.Auth.Mount) {
		return "", fmt.Errorf("%s: the wrapping token wraps the answer of %q, not of an approle secret-id endpoint (auth/%s/role/ROLE/secret-id): it may have been put in the place of the one delivered; it was not unwrapped: deliver a wrapping token of vault write -wrap-ttl=... -f auth/%s/role/ROLE/secret-id", what, path, a.s.set.Auth.Mount, a.s.set.Auth.Mount)
	}
	sec, err := c.Logical().UnwrapWithContext(ctx, "")
	if err != nil {
		return "", fmt.Errorf("%s: %w: a wrapping token can be unwrapped once and expires; deliver a fresh one", what, compact(err))
	}
	if sec == nil || sec.Data == nil {
		return "", errors.New(what + ": the wrapping token wraps nothing")
	}
	id, _ := sec.Data["secret_id"].(string)
	if id == "" {
		return "", errors.New(what + ": the wrapped response holds no secret_id")
	}
	a.unwrapped.wrapping, a.unwrapped.secretID = sum, id
	a.s.log.Info("vault approle secret_id unwrapped", "creation_path", path)
	return id, nil
}

// secretIDPath reports whether a wrapping token's creation path is an
// AppRole secret-id endpoint of mount (a namespace may come before it).
func secretIDPath(path, mount string) bool {
	i := strings.Index(path, "auth/"+mount+"/role/")
	if i < 0 || i > 0 && path[i-1] != '/' {
		return false
	}
	return strings.HasSuffix(path, "/secret-id") || strings.HasSuffix(path, "/custom-secret-id")
}

// renewStatic renews a token handed to ward (VAULT_TOKEN) in the
// background when it is renewable, so a long-running child does not outlive
// it; ward cannot log in again for it, so when renewal ends it only warns.
// The lookup runs in the background, lookupDelay after the first request
// has been answered: it must not delay the first fetch, nor share Vault
// and the CPUs with its reads (the first answer is the mount's lookup,
// which only begins them; measured on 2 cores: looking up at the first
// answer cost a one-secret `ward run` 0.6 to 0.8 ms, a 200-secret one
// 3 ms).
// A lookup that fails (Vault sealed a moment, a quota's 429) is tried
// again with backoff: given up, the token would expire in the middle of
// the run, and with it the leases it created.
func (a *authState) renewStatic(gen int) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		select {
		case <-a.answered:
		case <-a.bg.Done():
			return
		}
		if !resolve.Sleep(a.bg, lookupDelay) {
			return
		}
		var sec *api.Secret
		for wait := time.Second; ; wait = min(2*wait, time.Minute) {
			var err error
			sec, err = a.s.client.Auth().Token().LookupSelfWithContext(a.bg)
			var re *api.ResponseError
			if err == nil || errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
				// Looked up, or a token Vault does not know: nothing to
				// renew.
				break
			}
			a.s.log.Debug("vault token lookup failed; trying again to renew the token", "error", compact(err).Error(), "retry_in", wait.String())
			if !resolve.Sleep(a.bg, wait) {
				return
			}
		}
		if sec == nil {
			return
		}
		if n, _ := sec.Data["num_uses"].(json.Number); n != "" && n != "0" {
			// Vault revokes it at its last use; each read, poll and
			// renewal spends one.
			a.s.log.Warn("the vault token has a use limit (num_uses): each read, poll and renewal spends a use, and Vault revokes the token at its last; ward cannot log in again with method token: give ward a token without a use limit, or a login method", "uses_left", n, "token", a.source())
		}
		renewable, _ := sec.TokenIsRenewable()
		ttl, _ := sec.TokenTTL()
		if !renewable || ttl <= 0 {
			return
		}
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.stopped || a.gen != gen {
			return
		}
		a.startRenewer(&api.Secret{Auth: &api.SecretAuth{ClientToken: a.token, Renewable: true, LeaseDuration: int(ttl.Seconds())}}, gen)
	}()
}

// startRenewer renews the login token in the background; when it can no
// longer be renewed, it logs in again. Callers hold mu.
func (a *authState) startRenewer(sec *api.Secret, gen int) {
	if a.watcher != nil {
		a.watcher.Stop()
		a.watcher = nil
	}
	if sec.Auth.LeaseDuration <= 0 {
		return // the token does not expire
	}
	in := &api.LifetimeWatcherInput{Secret: sec}
	if a.uses > 0 {
		// Each renewal spends a use, the first at once (a token of one
		// use was spent by it before the read it was for): a token
		// with a use limit is not renewed, and ward logs in again
		// near the end of its TTL.
		in.RenewBehavior = api.RenewBehaviorRenewDisabled
	}
	w, err := a.s.client.NewLifetimeWatcher(in)
	if err != nil {
		a.s.log.Warn("vault token will not be renewed", "error", err.Error())
		return
	}
	a.watcher = w
	a.wg.Add(1)
	go a.watch(w, gen, time.Duration(sec.Auth.LeaseDuration)*time.Second)
}

// watch follows one token's renewer until it ends, then logs in again.
// A login token's renewal that comes back shorter than its TTL has hit
// the token's max TTL: its end is known, and the store logs in again
// then, not at the end, so that the leases that token created (which end
// with it) can be read again with the new token in time.
func (a *authState) watch(w *api.LifetimeWatcher, gen int, ttl time.Duration) {
	defer a.wg.Done()
	go w.Start()
	for {
		select {
		case err := <-w.DoneCh():
			a.mu.Lock()
			current := !a.stopped && a.gen == gen
			a.mu.Unlock()
			if !current {
				return
			}
			if !a.s.set.loginMethod() {
				// A token handed to ward: there is no login to repeat.
				a.s.log.Warn("the vault token can no longer be renewed and will expire; ward cannot log in again with method token: use a login method (approle, kubernetes, jwt) or a Vault Agent sink for long-running services")
				return
			}
			if err != nil {
				a.s.log.Warn("vault token renewal failed; logging in again", "error", compact(err).Error())
			} else {
				a.s.log.Info("vault token can no longer be renewed; logging in again", "method", a.s.set.Auth.Method)
			}
			a.ending(gen, time.Now())
			return
		case r := <-w.RenewCh():
			if r == nil || r.Secret == nil || r.Secret.Auth == nil {
				continue
			}
			d := time.Duration(r.Secret.Auth.LeaseDuration) * time.Second
			a.s.log.Debug("vault token renewed", "ttl", d.String())
			// Vault answers the TTL asked for in whole seconds, or less
			// when the max TTL caps it: a second short is a cap (a 3 s
			// token answered 2 s was taken for none, and the renewer went
			// on until its next renewal was refused or capped again, with
			// a third of what was left).
			if a.s.set.loginMethod() && d < ttl {
				a.s.log.Info("vault token reaches its max TTL; logging in again, and reading the leases it created again before it ends", "method", a.s.set.Auth.Method, "ends_in", d.String())
				w.Stop()
				a.ending(gen, r.RenewedAt.Add(d))
				return
			}
		case <-a.bg.Done():
			w.Stop()
			return
		}
	}
}

// relogin logs in again after the token of generation gen ran out, with
// backoff, until it succeeds, another login replaced it, or the store
// closes; failed is called at the first login that fails.
func (a *authState) relogin(gen int, failed func()) {
	wait := time.Second
	for first := true; ; first = false {
		a.mu.Lock()
		if a.stopped || a.gen != gen {
			a.mu.Unlock()
			return
		}
		err := a.login(a.bg)
		a.mu.Unlock()
		if err == nil {
			return
		}
		if first {
			failed()
		}
		a.s.log.Warn("vault login failed; trying again", "error", err.Error(), "retry_in", wait.String())
		if !resolve.Sleep(a.bg, wait) {
			return
		}
		wait = min(2*wait, time.Minute)
	}
}

// stop ends the renewer and any login in flight.
func (a *authState) stop() {
	a.cancel()
	a.mu.Lock()
	a.stopped = true
	if a.watcher != nil {
		a.watcher.Stop()
	}
	a.mu.Unlock()
	a.wg.Wait()
}

// lookupDelay is how long after the first answer renewStatic looks the
// token up: past the first fetch's reads, and past the whole of a short
// run (`ward run -- make test`), which then never asks. A token is not
// handed out with less than a few seconds to live.
const lookupDelay = time.Second
