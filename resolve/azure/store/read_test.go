package store_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/azure"
	"github.com/wardsecrets/ward/resolve/azure/azuretest"
	"github.com/wardsecrets/ward/resolve/azure/store"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

func TestVersions(t *testing.T) {
	srv := emulator(t)
	t1 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	t2 := t1.Add(36 * time.Hour)
	old, cur := resolvetest.Canary("old"), resolvetest.Canary("cur")
	srv.SetClock(func() time.Time { return t1 })
	v1 := srv.SetSecret("rotating", old)
	srv.SetClock(func() time.Time { return t2 })
	v2 := srv.SetSecret("rotating", cur)
	srv.SetClock(time.Now)
	s := newStore(t, azure.Options{})

	tests := []struct {
		ref     string
		value   string
		version string
		updated time.Time
	}{
		{"rotating", cur, v2, t2},
		{"rotating?version=" + v1, old, v1, t1},
		{"rotating?version=" + v2, cur, v2, t2},
		{"ROTATING", cur, v2, t2}, // Key Vault names ignore case
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			sec, err := s.Fetch(t.Context(), ref(t, srv, tt.ref))
			if err != nil {
				t.Fatal(err)
			}
			if string(sec.Value) != tt.value {
				t.Errorf("got a different value (%d bytes, want %d)", len(sec.Value), len(tt.value))
			}
			if sec.Version != tt.version {
				t.Errorf("got Version=%q, want %q", sec.Version, tt.version)
			}
			if !sec.Updated.Equal(tt.updated) {
				t.Errorf("got Updated=%v, want %v", sec.Updated, tt.updated)
			}
		})
	}
	if n := srv.AuthorizedCalls(azuretest.RouteGetSecretVersion); n != 2 {
		t.Errorf("got %d reads of a version, want 2", n)
	}
}

func TestJSONFields(t *testing.T) {
	srv := emulator(t)
	user, pass := resolvetest.Canary("user"), resolvetest.Canary("pass")
	doc := fmt.Sprintf(`{"username":%q,"password":%q,"port":5432,"tls":{ "verify": true },"none":null}`, user, pass)
	version := srv.SetSecret("db", doc)
	s := newStore(t, azure.Options{})
	got, err := fetchVars(t, t.Context(), s, map[string]resolve.Ref{
		"USER": ref(t, srv, "db#username"),
		"PASS": ref(t, srv, "db#password"),
		"PORT": ref(t, srv, "db#port"),
		"TLS":  ref(t, srv, "db#tls"),
		"NONE": ref(t, srv, "db#none"),
		"DOC":  ref(t, srv, "db"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"USER": user, "PASS": pass, "PORT": "5432", "TLS": `{"verify":true}`, "NONE": "", "DOC": doc}
	for name, w := range want {
		if string(got[name].Bytes) != w {
			t.Errorf("%s: got a different value (%d bytes, want %d)", name, len(got[name].Bytes), len(w))
		}
		if got[name].Version != version {
			t.Errorf("%s: got Version=%q, want %q", name, got[name].Version, version)
		}
	}
	if n := srv.AuthorizedCalls(azuretest.RouteGetSecret); n != 1 {
		t.Errorf("six variables of one secret: got %d reads, want 1", n)
	}

	_, err = fetchVars(t, t.Context(), s, map[string]resolve.Ref{"X": ref(t, srv, "db#nope")})
	checkError(t, "missing field", err, []string{user, pass}, "X: azkv://"+srv.VaultHost()+"/db#nope", `"username"`, `"password"`)

	srv.SetSecret("plain", user)
	_, err = fetchVars(t, t.Context(), s, map[string]resolve.Ref{"F": ref(t, srv, "plain#field")})
	checkError(t, "field of a plain value", err, []string{user}, "not a JSON object")
}

func TestNewIsLazy(t *testing.T) {
	srv := emulator(t)
	newStore(t, azure.Options{})
	for _, r := range []string{azuretest.RouteToken, azuretest.RouteOpenIDConfig, azuretest.RouteGetSecret, azuretest.RouteManagedIdentity} {
		if n := srv.Calls(r); n != 0 {
			t.Errorf("New made %d %s requests, want none", n, r)
		}
	}
}

// TestClientsPerVault reads one emulated vault through two host names
// (two vault URLs, two clients) from many goroutines at once: one token
// serves both, and every read gets its value.
func TestClientsPerVault(t *testing.T) {
	srv := emulator(t)
	v := resolvetest.Canary("hosts")
	srv.SetSecret("shared", v)
	_, port, err := net.SplitHostPort(srv.VaultHost())
	if err != nil {
		t.Fatal(err)
	}
	refs := []resolve.Ref{
		azuretest.MustRef(t, "azkv://127.0.0.1:"+port+"/shared"),
		azuretest.MustRef(t, "azkv://localhost:"+port+"/shared"),
	}
	t.Setenv(azure.VaultHostsVar, os.Getenv(azure.VaultHostsVar)+" localhost:"+port)
	s := newStore(t, azure.Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sec, err := s.Fetch(t.Context(), refs[i%2])
			switch {
			case err != nil:
				errs <- err
			case string(sec.Value) != v:
				errs <- fmt.Errorf("got a different value (%d bytes)", len(sec.Value))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.Calls(azuretest.RouteToken); n != 1 {
		t.Errorf("got %d token requests, want 1 (the credential caches its token)", n)
	}
}

func TestRevokedToken(t *testing.T) {
	srv := emulator(t)
	srv.SetSecret("db", resolvetest.Canary("revoked"))
	s := newStore(t, azure.Options{})
	if _, err := s.Fetch(t.Context(), ref(t, srv, "db")); err != nil {
		t.Fatal(err)
	}
	srv.RevokeTokens()
	_, err := s.Fetch(t.Context(), ref(t, srv, "db"))
	checkError(t, "revoked token", err, []string{srv.ClientSecret()}, "rejected ward's access token", "Unauthorized", "AZURE_TENANT_ID")
}

// TestValidityWarnedOncePerVersion: a version past its exp is read (Key
// Vault serves it) with one warning however often polls read it; a new
// version that is expired too gets its own.
func TestValidityWarnedOncePerVersion(t *testing.T) {
	srv := emulator(t)
	v1, v2 := resolvetest.Canary("expired1"), resolvetest.Canary("expired2")
	srv.SetSecret("old", v1)
	srv.SetValidity("old", "", time.Time{}, time.Now().Add(-time.Hour))
	var logs bytes.Buffer
	s, err := store.New(withEmulator(azure.Options{}), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	read := func(want string) {
		t.Helper()
		sec, err := s.Fetch(t.Context(), ref(t, srv, "old"))
		if err != nil {
			t.Fatal(err)
		}
		if string(sec.Value) != want {
			t.Errorf("got a different value (%d bytes, want %d)", len(sec.Value), len(want))
		}
	}
	read(v1)
	read(v1)
	if n := strings.Count(logs.String(), "past its expiry"); n != 1 {
		t.Errorf("two reads of one expired version: got %d warnings, want 1:\n%s", n, logs.String())
	}
	srv.SetSecret("old", v2)
	srv.SetValidity("old", "", time.Time{}, time.Now().Add(-time.Minute))
	read(v2)
	if n := strings.Count(logs.String(), "past its expiry"); n != 2 {
		t.Errorf("a new expired version: got %d warnings in all, want 2:\n%s", n, logs.String())
	}
	for _, c := range []string{v1, v2} {
		if strings.Contains(logs.String(), c) {
			t.Errorf("a value is in the log")
		}
	}
}
