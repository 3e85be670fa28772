package store

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// pg is the PostgreSQL test cluster.
type pg = *vaulttest.Postgres

// needPostgres skips t without a PostgreSQL test cluster, or fails it when
// WARD_REQUIRE_INTEGRATION=1.
func needPostgres(t *testing.T) pg {
	t.Helper()
	needVault(t)
	return vaulttest.RequirePostgres(t)
}

// database mounts the database engine with a connection to the test
// cluster and a role whose credentials live ttl, at most maxTTL.
func database(t *testing.T, p pg, ttl, maxTTL string) (mount, role string) {
	return srv.Database(t, p, ttl, maxTTL)
}

// TestDynamicDatabase reads real PostgreSQL credentials as an AppRole
// login whose policy reads them (and, like Vault's default policy, cannot
// call sys/leases/revoke): username and password are one read and one
// lease; psql logs in with them; Close revokes the lease and the role
// cannot log in any more.
func TestDynamicDatabase(t *testing.T) {
	p := needPostgres(t)
	tc := newCase(t)
	mount, dbRole := database(t, p, "5m", "10m")
	pol := policy(t, `path "`+mount+`/creds/`+dbRole+`" { capabilities = ["read"] }`)
	authMount, arole, roleID := approle(t, pol, nil)
	secretID := tc.secretID(authMount, arole)
	s := tc.store(Options{Auth: Auth{Method: "approle", Mount: authMount, RoleID: roleID}}, map[string]string{"VAULT_SECRET_ID": secretID})

	ref := "vault://" + mount + "/creds/" + dbRole
	got, err := fetch(t, s, map[string]string{"DB_USER": ref + "#username", "DB_PASS": ref + "#password", "ALSO_USER": ref + "#username"})
	if err != nil {
		t.Fatalf("fetch: %s", tc.text(err))
	}
	user, pass := string(got["DB_USER"].Bytes), string(got["DB_PASS"].Bytes)
	tc.secret(pass)
	if user == "" || pass == "" || string(got["ALSO_USER"].Bytes) != user {
		t.Fatalf("got an empty username or password, or two usernames")
	}
	lu, lp := got["DB_USER"].Lease, got["DB_PASS"].Lease
	if lu == nil || lp == nil || lu.ID != lp.ID {
		t.Fatalf("username and password do not share one lease")
	}
	if lu.TTL < 4*time.Minute || lu.TTL > 5*time.Minute || !lu.Renewable {
		t.Errorf("got lease TTL %s renewable=%v, want about 5m and renewable", lu.TTL, lu.Renewable)
	}
	if n := len(s.leases); n != 1 {
		t.Errorf("the store holds %d leases, want 1 (one read)", n)
	}
	if got["DB_USER"].Version != "" {
		t.Errorf("a dynamic secret got Version=%q", got["DB_USER"].Version)
	}

	out, err := p.Login(user, pass)
	if err != nil || out != user {
		t.Fatalf("psql as the new role: got %q (%v), want current_user %q", out, err, user)
	}
	if p.Passwords {
		if _, err := p.Login(user, "wrong-"+pass); err == nil {
			t.Errorf("psql logged in with a wrong password: passwords are not checked")
		}
	}

	_, err = fetch(t, s, map[string]string{"X": ref + "#username?version=2"})
	tc.wantErr("version on a dynamic secret", err, "needs a KV v2 mount", "database mount")

	if err := s.Close(); err != nil {
		t.Fatalf("close: %s", tc.text(err))
	}
	// Vault revokes a revoked token's leases in the background, at once.
	waitFor(t, "the lease to be revoked after Close", 30*time.Second, func() bool {
		_, err := root.Sys().Lookup(lu.ID)
		return err != nil
	})
	if out, err := p.Login(user, pass); err == nil {
		t.Errorf("psql still logs in after Close revoked the lease (current_user %q)", out)
	}
	if !strings.Contains(tc.logs.String(), "vault token revoked, and with it the leases it created") {
		t.Errorf("the log does not say how the lease was revoked")
	}
}

// TestKeepLeaseAndRevoke renews a short lease until its max TTL, then
// revokes a lease by hand.
func TestKeepLeaseAndRevoke(t *testing.T) {
	p := needPostgres(t)
	tc := newCase(t)
	mount, dbRole := database(t, p, "2s", "6s")
	s := tc.rootStore()
	ref := "vault://" + mount + "/creds/" + dbRole

	_, _, lease := tc.readCreds(s, ref, "fetch")
	if lease == nil || !lease.Renewable {
		t.Fatalf("got no renewable lease")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	ends, err := s.KeepLease(ctx, lease)
	if err != nil {
		t.Fatalf("KeepLease: %s", tc.text(err))
	}
	// Renewals carry the lease past its 2s TTL; the watcher gives up
	// near the 6s max TTL (late on a loaded machine, never much later).
	if d := time.Since(start); d < 2*time.Second || d > 15*time.Second {
		t.Errorf("KeepLease returned after %s, want after renewals past the 2s TTL, near the 6s max TTL", d.Round(time.Millisecond))
	}
	// It ends at its max TTL, 6s after the read.
	if ends.Before(start.Add(4*time.Second)) || ends.After(start.Add(7*time.Second)) {
		t.Errorf("KeepLease says the lease ends %s after it was read, want about 6s (its max TTL)", ends.Sub(start).Round(time.Millisecond))
	}
	if !strings.Contains(tc.logs.String(), `msg="vault lease renewed"`) {
		t.Errorf("the log shows no lease renewal")
	}

	// The caller reads again: a new lease, revoked by hand.
	user, pass, lease2 := tc.readCreds(s, ref, "fetch again")
	if lease2.ID == lease.ID {
		t.Errorf("the second read has the first read's lease")
	}
	if out, err := p.Login(user, pass); err != nil || out != user {
		t.Fatalf("psql as the second role: got %q (%v)", out, err)
	}
	if err := s.Revoke(context.Background(), lease2); err != nil {
		t.Fatalf("revoke: %s", tc.text(err))
	}
	if _, err := p.Login(user, pass); err == nil {
		t.Errorf("psql still logs in after Revoke")
	}

	// KeepLease ends with ctx.
	_, _, lease3 := tc.readCreds(s, ref, "fetch a third time")
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := s.KeepLease(ctx, lease3); err != context.Canceled {
		t.Errorf("KeepLease with a cancelled context: got %v, want context.Canceled", err)
	}
}

// TestRevokeOnExitOff keeps the lease on Close.
func TestRevokeOnExitOff(t *testing.T) {
	p := needPostgres(t)
	tc := newCase(t)
	mount, dbRole := database(t, p, "1m", "2m")
	s := tc.storeRevoking(Options{}, map[string]string{"VAULT_TOKEN": root.Token()}, false)
	user, pass, lease := tc.readCreds(s, "vault://"+mount+"/creds/"+dbRole, "fetch")
	if err := s.Close(); err != nil {
		t.Fatalf("close: %s", tc.text(err))
	}
	if out, err := p.Login(user, pass); err != nil || out != user {
		t.Errorf("psql after Close with revoke_on_exit off: got %q (%v), want a login", out, err)
	}
	if _, err := root.Logical().Write("sys/leases/revoke", map[string]any{"lease_id": lease.ID}); err != nil {
		t.Errorf("revoke the kept lease: %v", err)
	}
}

// revocableLeases is a store with a token whose policy reads a database
// role's credentials at ref and revokes leases.
func revocableLeases(t *testing.T) (p pg, tc *tcase, s *Store, ref, tok string) {
	t.Helper()
	p = needPostgres(t)
	tc = newCase(t)
	mount, dbRole := database(t, p, "5m", "10m")
	pol := policy(t, `
path "`+mount+`/creds/`+dbRole+`" { capabilities = ["read"] }
path "sys/leases/revoke" { capabilities = ["update"] }
`)
	tok = token(t, &api.TokenCreateRequest{Policies: []string{pol}})
	tc.secret(tok)
	return p, tc, tc.store(Options{}, map[string]string{"VAULT_TOKEN": tok}), "vault://" + mount + "/creds/" + dbRole, tok
}

// TestCloseRevokesLeases revokes each lease with sys/leases/revoke when
// the policy grants it: the role is gone when Close returns.
func TestCloseRevokesLeases(t *testing.T) {
	p, tc, s, ref, _ := revocableLeases(t)
	var users, passes []string
	for i := 0; i < 2; i++ {
		// Two reads in two fetches: two leases.
		user, pass, _ := tc.readCreds(s, ref, "fetch")
		users, passes = append(users, user), append(passes, pass)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %s", tc.text(err))
	}
	for i := range users {
		if _, err := p.Login(users[i], passes[i]); err == nil {
			t.Errorf("role %d still logs in after Close", i)
		}
	}
	if n := strings.Count(tc.logs.String(), `msg="vault lease revoked"`); n != 2 {
		t.Errorf("got %d lease revocations in the log, want 2", n)
	}
}

// TestCloseAfterTheTokenWasRevoked: the token ward was handed revoked
// during the run (its leases with it): Close says the lease went with its
// token, and fails nothing. It said "permission denied: check that the
// token's policy grants update on sys/leases/revoke", of a policy that
// did.
func TestCloseAfterTheTokenWasRevoked(t *testing.T) {
	p, tc, s, ref, tok := revocableLeases(t)
	user, pass, _ := tc.readCreds(s, ref, "fetch")
	if err := root.Auth().Token().RevokeTree(tok); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("close: %s, want nil: the lease went with its token", tc.text(err))
	}
	if !strings.Contains(tc.logs.String(), "vault lease gone with the token that read it") {
		t.Errorf("the lease's end with its token was not said:\n%s", tc.logs.String())
	}
	// Vault revokes a revoked token's leases in the background.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) { // polling the database, with a deadline
		if _, err := p.Login(user, pass); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the role still logs in: the lease was not revoked with its token")
		}
	}
}

// TestLeaseEndsWithItsToken: Vault revokes a lease when the token that
// created it expires, whatever the lease's own TTL. With a login token of
// short max TTL (6s) and database credentials of 1h, KeepLease must say
// "read again" once the token is known to end, after logging in again,
// and while the credentials still work: the read that follows gets a
// lease of the new token. KeepLease went on renewing the lease past the
// token's end, so the child kept credentials Vault had revoked until the
// next renewal failed, two thirds of the lease's TTL later.
func TestLeaseEndsWithItsToken(t *testing.T) {
	p := needPostgres(t)
	tc := newCase(t)
	mount, dbRole := database(t, p, "1h", "2h")
	pol := policy(t, `path "`+mount+`/creds/`+dbRole+`" { capabilities = ["read"] }
path "sys/leases/revoke" { capabilities = ["update"] }`)
	authMount, arole, roleID := approle(t, pol, map[string]any{"token_ttl": "3s", "token_max_ttl": "6s"})
	secretID := tc.secretID(authMount, arole)
	s := tc.store(Options{Auth: Auth{Method: "approle", Mount: authMount, RoleID: roleID}}, map[string]string{"VAULT_SECRET_ID": secretID})

	ref := "vault://" + mount + "/creds/" + dbRole
	user, pass, lease := tc.readCreds(s, ref, "fetch")
	_, gen := storeToken(s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := s.KeepLease(ctx, lease); err != nil {
		t.Fatalf("KeepLease of a lease whose token ends after 6s: got %v after %s, want nil (read again) before the token ends", err, time.Since(start).Round(time.Second))
	}
	if _, g := storeToken(s); g == gen {
		t.Errorf("KeepLease said read again, but the store has not logged in again")
	}
	if out, err := p.Login(user, pass); err != nil || out != user {
		t.Errorf("the credentials no longer worked when KeepLease said read again (%v)", err)
	}
	_, _, lease = tc.readCreds(s, ref, "fetch again")
	// The new lease belongs to the new token: KeepLease renews it.
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if _, err := s.KeepLease(ctx2, lease); err != context.DeadlineExceeded {
		t.Errorf("KeepLease of the lease read with the new token: got %v, want it renewed until the context ends", err)
	}
}

// TestLeaseGoneWithAnExpiredToken: a token handed to ward (method token)
// that expires, non-renewable or at its max TTL, takes its leases with
// it. The lease's check at each poll was refused (403) and said
// nothing: KeepLease renewed on, ward said nothing until its exit while
// the child ran with credentials that no longer existed, and
// rotation.on_expired never acted. KeepLease now says the lease is gone,
// at the first check after the token's end.
func TestLeaseGoneWithAnExpiredToken(t *testing.T) {
	p := needPostgres(t)
	tc := newCase(t)
	mount, dbRole := database(t, p, "1h", "2h")
	pol := policy(t, `path "`+mount+`/creds/`+dbRole+`" { capabilities = ["read"] }
path "sys/leases/revoke" { capabilities = ["update"] }`)
	no := false
	tok := token(t, &api.TokenCreateRequest{Policies: []string{pol}, TTL: "3s", Renewable: &no})
	tc.secret(tok)
	s := tc.store(Options{}, map[string]string{"VAULT_TOKEN": tok})
	ref := "vault://" + mount + "/creds/" + dbRole
	_, _, lease := tc.readCreds(s, ref, "fetch")
	lease.Check = 300 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := s.KeepLease(ctx, lease); err != nil {
		t.Fatalf("KeepLease of a lease whose token expires after 3s: got %v after %s, want it said gone", err, time.Since(start).Round(time.Second))
	}
	if !strings.Contains(tc.logs.String(), "vault lease gone with the token that read it") {
		t.Errorf("the lease's end with its token was not said:\n%s", tc.logs.String())
	}

	// A token without Vault's default policy, alive, is refused both
	// lookups from the first: its lease is kept, not said gone at
	// every check (each a restart of the child).
	tc2 := newCase(t)
	live := token(t, &api.TokenCreateRequest{Policies: []string{pol}, TTL: "1h", NoDefaultPolicy: true})
	tc2.secret(live)
	s2 := tc2.store(Options{}, map[string]string{"VAULT_TOKEN": live})
	_, _, lease2 := tc2.readCreds(s2, ref, "fetch")
	lease2.Check = 200 * time.Millisecond
	ctx2, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	if _, err := s2.KeepLease(ctx2, lease2); err != context.DeadlineExceeded {
		t.Errorf("KeepLease of a lease read by a live token without the default policy: got %v, want it kept until the context ends", err)
	}
	if strings.Contains(tc2.logs.String(), "gone with the token") {
		t.Errorf("a live token's lease was said gone")
	}
}

// sinkCase is a Vault Agent's sink (token_file) for tokens that may read
// a database role's credentials: write puts a new token of ttl (its
// explicit max TTL too) in the sink, as an agent's login does, and
// returns it.
func sinkCase(t *testing.T, p pg) (tc *tcase, mount, dbRole, sink string, write func(ttl string) string) {
	t.Helper()
	tc = newCase(t)
	mount, dbRole = database(t, p, "1h", "2h")
	pol := policy(t, `path "`+mount+`/creds/`+dbRole+`" { capabilities = ["read"] }
path "sys/leases/revoke" { capabilities = ["update"] }`)
	sink = filepath.Join(t.TempDir(), "token")
	write = func(ttl string) string {
		tok := token(t, &api.TokenCreateRequest{Policies: []string{pol}, TTL: ttl, ExplicitMaxTTL: ttl})
		tc.secret(tok)
		if err := os.WriteFile(sink+".tmp", []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(sink+".tmp", sink); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	return tc, mount, dbRole, sink, write
}

// TestLeaseOfASinksOldToken: a Vault Agent sink (token_file) gets a new
// token when the agent logs in again; the old token lives on only until
// its TTL ends, and the leases it created end with it. KeepLease of such
// a lease must notice the new token by itself and say "read again" while
// the old token still lives, so that the secret is read with the new
// one. It went on renewing the lease as if the old token were immortal.
func TestLeaseOfASinksOldToken(t *testing.T) {
	p := needPostgres(t)
	tc, mount, dbRole, sink, write := sinkCase(t, p)
	write("20s")
	s := tc.store(Options{Auth: Auth{Method: "token_file", TokenFile: sink}}, nil)
	ref := "vault://" + mount + "/creds/" + dbRole
	user, pass, lease := tc.readCreds(s, ref, "fetch")
	done := make(chan error, 1)
	var ends time.Time
	start := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		defer cancel()
		var err error
		ends, err = s.KeepLease(ctx, lease)
		done <- err
	}()
	write("1h") // the agent's new login
	if err := <-done; err != nil {
		t.Fatalf("KeepLease of a lease whose token (20s) the sink replaced: got %v after %s, want nil (read again) before that token ends", err, time.Since(start).Round(time.Second))
	}
	// The lease of 1h ends with its token, 20s after it was made.
	if ends.IsZero() || ends.After(start.Add(21*time.Second)) {
		t.Errorf("KeepLease says the lease ends %s after it was read, want at most 20s (its token's end)", ends.Sub(start).Round(time.Millisecond))
	}
	if out, err := p.Login(user, pass); err != nil || out != user {
		t.Errorf("the credentials no longer worked when KeepLease said read again (%v)", err)
	}
	_, _, lease = tc.readCreds(s, ref, "fetch again")
	ctx2, cancel2 := context.WithTimeout(context.Background(), time.Second)
	defer cancel2()
	if _, err := s.KeepLease(ctx2, lease); err != context.DeadlineExceeded {
		t.Errorf("KeepLease of the lease read with the new token: got %v, want it renewed until the context ends", err)
	}
}

// readCreds reads the username and password of the database role at ref
// in one fetch (what names the read in a failure), registers the password
// as a secret of the test, and returns them with their lease.
func (tc *tcase) readCreds(s resolve.Store, ref, what string) (user, pass string, lease *resolve.Lease) {
	tc.t.Helper()
	got, err := fetch(tc.t, s, map[string]string{"U": ref + "#username", "P": ref + "#password"})
	if err != nil {
		tc.t.Fatalf("%s: %s", what, tc.text(err))
	}
	user, pass = string(got["U"].Bytes), string(got["P"].Bytes)
	tc.secret(pass)
	return user, pass, got["U"].Lease
}

// TestStaticCredsOverdueBackOff: a database static role whose rotation
// Vault cannot make (its database role dropped) answers ttl 0 from then
// on. Each read that finds it still overdue gives the credential twice the
// wait of the one before, up to a minute; it was given 3 s each time, and
// ward read (and logged) it every 2 s for as long as the rotation failed.
// A rotation that works is still seen within seconds: the first wait is
// 3 s.
func TestStaticCredsOverdueBackOff(t *testing.T) {
	p := needPostgres(t)
	tc := newCase(t)
	mount, role := srv.StaticRole(t, p, "5s")
	if _, err := p.Super(`DROP ROLE "` + role + `"`); err != nil {
		t.Fatalf("drop the static role's database role: %v", err)
	}
	s := tc.rootStore()
	ref := "vault://" + mount + "/static-creds/" + role + "#password"
	waitFor(t, "Vault's rotation of the role to be overdue", 30*time.Second, func() bool {
		sec, err := srv.Root.Logical().Read(mount + "/static-creds/" + role)
		return err == nil && sec != nil && sec.Data["ttl"] == json.Number("0")
	})
	var waits []time.Duration
	for i := range 4 {
		got, err := fetch(t, s, map[string]string{"P": ref})
		if err != nil {
			t.Fatalf("read %d: %s", i+1, tc.text(err))
		}
		tc.secret(string(got["P"].Bytes))
		waits = append(waits, time.Until(got["P"].Expires).Round(time.Second))
	}
	want := []time.Duration{3 * time.Second, 6 * time.Second, 12 * time.Second, 24 * time.Second}
	if !slices.Equal(waits, want) {
		t.Errorf("reads of a credential whose rotation stays overdue give it %v before the next read, want %v", waits, want)
	}
}

// TestCloseRetriesAFailedRevocation: a revocation the database fails for
// a moment (PostgreSQL's "tuple concurrently updated" when a ward exits
// with several leases and their roles are dropped at once) is asked for
// again, and the role is gone when Close returns. Here the role's
// revocation statements fail the first time they run (a sequence is not
// rolled back with the failed transaction). One failure used to leave the
// credentials working until the lease's TTL ended.
func TestCloseRetriesAFailedRevocation(t *testing.T) {
	p := needPostgres(t)
	tc := newCase(t)
	mount, dbRole := database(t, p, "5m", "10m")
	seq := strings.ReplaceAll(dbRole, "-", "_") + "_revocations"
	if _, err := p.Super("CREATE SEQUENCE " + seq); err != nil {
		t.Fatalf("create sequence: %v", err)
	}
	t.Cleanup(func() { p.Super("DROP SEQUENCE IF EXISTS " + seq) })
	srv.Write(t, mount+"/roles/"+dbRole, map[string]any{
		"db_name":     "pg",
		"default_ttl": "5m",
		"max_ttl":     "10m",
		"creation_statements": []string{
			`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE ward_pw;`,
		},
		"revocation_statements": []string{
			`DO $$ BEGIN IF nextval('` + seq + `') < 2 THEN RAISE EXCEPTION 'the first revocation fails'; END IF; END $$;`,
			`DROP ROLE IF EXISTS "{{name}}";`,
		},
	})
	pol := policy(t, `
path "`+mount+`/creds/`+dbRole+`" { capabilities = ["read"] }
path "sys/leases/revoke" { capabilities = ["update"] }
`)
	tok := token(t, &api.TokenCreateRequest{Policies: []string{pol}})
	tc.secret(tok)
	s := tc.store(Options{}, map[string]string{"VAULT_TOKEN": tok})
	user, pass, _ := tc.readCreds(s, "vault://"+mount+"/creds/"+dbRole, "fetch")
	if err := s.Close(); err != nil {
		t.Fatalf("close: %s", tc.text(err))
	}
	if _, err := p.Login(user, pass); err == nil {
		t.Errorf("the role still logs in after Close")
	}
	if out, err := p.Super("SELECT last_value FROM " + seq); err != nil || out != "2" {
		t.Errorf("the revocation statements ran %q times (%v), want 2", out, err)
	}
}

// TestLeaseOfASinksOldTokenEndingWithinHalfASecond: the sink's new token
// comes when the old one has less than half a second left (an agent
// logs in again at the end of a short token's renewals). Vault's lookup
// gives that token's ttl in whole seconds, rounded: 0, which ward took
// for a token that never expires, and the leases it created were not
// read again; they ended with it, and the next renewal of a lease of an
// hour came 40 minutes later. The lookup's expire_time says when.
func TestLeaseOfASinksOldTokenEndingWithinHalfASecond(t *testing.T) {
	p := needPostgres(t)
	tc, mount, dbRole, sink, write := sinkCase(t, p)
	old := write("4s")
	sec, err := root.Auth().Token().Lookup(old)
	if err != nil {
		t.Fatal(err)
	}
	expires, err := time.Parse(time.RFC3339Nano, sec.Data["expire_time"].(string))
	if err != nil {
		t.Fatal(err)
	}
	s := tc.store(Options{Auth: Auth{Method: "token_file", TokenFile: sink}}, nil)
	ref := "vault://" + mount + "/creds/" + dbRole
	_, _, lease := tc.readCreds(s, ref, "fetch")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := s.KeepLease(ctx, lease)
		done <- err
	}()
	// The agent's new login, 0.45 s before the old token's end (its ttl
	// rounds to 0 then), which ward finds at its next request. Not a
	// wait for an event: the moment the agent writes. At 0.3 s, a test
	// woken 0.3 s late (a loaded machine) wrote after the old token
	// ended, and its leases were revoked with it.
	time.Sleep(time.Until(expires.Add(-450 * time.Millisecond)))
	write("1h")
	if _, err := fetch(t, s, map[string]string{"U": ref + "#username"}); err != nil {
		t.Fatalf("fetch with the new token: %s", tc.text(err))
	}
	if err := <-done; err != nil {
		t.Fatalf("KeepLease of a lease whose token the sink replaced 0.45 s before its end: got %v, want nil (read again): the old token was taken for one that never expires", err)
	}
}

// TestAdoptedLeaseRenewedAtOnce: a helper that takes a lease over from
// one that died (a store that read nothing, AdoptLease, KeepLease) logs
// in and renews it at once, whether its token may look leases up or not
// (a policy without sys/leases/lookup): it renewed without a token, and
// then not at all, and the lease ended while the child used it; without
// the lookup it read the secret again, and under on_change: none the
// child's lease ended in silence.
func TestAdoptedLeaseRenewedAtOnce(t *testing.T) {
	p := needPostgres(t)
	mount, dbRole := database(t, p, "1h", "2h")
	ref := "vault://" + mount + "/creds/" + dbRole
	pol := policy(t, `path "`+mount+`/creds/`+dbRole+`" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }`)
	for _, lookup := range []bool{true, false} {
		tc := newCase(t)
		tok := token(t, &api.TokenCreateRequest{Policies: []string{pol}, TTL: "1h", NoDefaultPolicy: !lookup})
		tc.secret(tok)
		env := map[string]string{"VAULT_TOKEN": tok}
		_, _, lease := tc.readCreds(tc.store(Options{}, env), ref, "fetch")
		taker := tc.store(Options{}, env)
		taker.AdoptLease(lease)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { _, err := taker.KeepLease(ctx, lease); done <- err }()
		deadline := time.Now().Add(20 * time.Second)
		for !strings.Contains(tc.logs.String(), "vault lease renewed") {
			select {
			case err := <-done:
				t.Fatalf("lookup %v: KeepLease of the lease taken over ended: %v\n%s", lookup, err, tc.logs.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("lookup %v: the lease taken over was not renewed within 20s:\n%s", lookup, tc.logs.String())
			}
			time.Sleep(20 * time.Millisecond) // polling the log, with a deadline
		}
		cancel()
		<-done
	}
}

// TestRenewalDeniedSaid: a token whose policy reads the credentials but
// may not renew leases (no default policy, none granting
// sys/leases/renew): its lease's keeper ends before the lease does, and
// says once, as a warning, why, and what to grant. The watcher took the
// refusal for a passing error and ended quietly: the child was restarted
// at each lease's end, for good, with "can no longer be renewed" alone.
func TestRenewalDeniedSaid(t *testing.T) {
	p := needPostgres(t)
	mount, dbRole := database(t, p, "3s", "1h")
	ref := "vault://" + mount + "/creds/" + dbRole
	pol := policy(t, `path "`+mount+`/creds/`+dbRole+`" { capabilities = ["read"] }`)
	tc := newCase(t)
	tok := token(t, &api.TokenCreateRequest{Policies: []string{pol}, TTL: "1h", NoDefaultPolicy: true})
	tc.secret(tok)
	// Nor revoke them: its 3 s leases end by themselves.
	s := tc.storeRevoking(Options{}, map[string]string{"VAULT_TOKEN": tok}, false)
	for range 2 {
		_, _, lease := tc.readCreds(s, ref, "fetch")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := s.KeepLease(ctx, lease)
		cancel()
		if err != nil {
			t.Fatalf("KeepLease: %s", tc.text(err))
		}
	}
	logs := tc.logs.String()
	if n := strings.Count(logs, `grant \"update\" on sys/leases/renew`); n != 1 {
		t.Errorf("the refused renewal was said %d times, want once as a warning:\n%s", n, logs)
	}
	if !strings.Contains(logs, "level=WARN msg=\"vault refuses to renew this token's leases") {
		t.Errorf("the refused renewal is not a warning:\n%s", logs)
	}
}
