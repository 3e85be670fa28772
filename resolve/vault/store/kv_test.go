package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

func TestKV(t *testing.T) {
	needVault(t)
	for _, version := range []int{1, 2} {
		t.Run(map[int]string{1: "v1", 2: "v2"}[version], func(t *testing.T) {
			tc := newCase(t)
			mount := mountKV(t, version)
			user, pass := tc.canary("user"), tc.canary("pass")
			kvPut(t, mount, version, "myapp/nested/deep/db", map[string]any{
				"username": user,
				"password": pass,
				"port":     5432,
				"ratio":    0.25,
				"enabled":  true,
				"nothing":  nil,
				"tags":     []any{"a", "b"},
				"opts":     map[string]any{"ssl": "require", "retries": 3},
			})
			s := tc.rootStore()
			base := "vault://" + mount + "/myapp/nested/deep/db"
			got, err := fetch(t, s, map[string]string{
				"USER": base + "#username", "PASS": base + "#password", "PORT": base + "#port",
				"RATIO": base + "#ratio", "ENABLED": base + "#enabled", "NOTHING": base + "#nothing",
				"TAGS": base + "#tags", "OPTS": base + "#opts", "ALL": base,
			})
			if err != nil {
				t.Fatalf("fetch: %s", tc.text(err))
			}
			if string(got["USER"].Bytes) != user || string(got["PASS"].Bytes) != pass {
				t.Errorf("got wrong values for the string fields")
			}
			for name, want := range map[string]string{
				"PORT": "5432", "RATIO": "0.25", "ENABLED": "true", "NOTHING": "",
				"TAGS": `["a","b"]`, "OPTS": `{"retries":3,"ssl":"require"}`,
			} {
				if g := string(got[name].Bytes); g != want {
					t.Errorf("got %s=%q, want %q", name, g, want)
				}
			}
			all, err := resolve.JSONFields(got["ALL"].Bytes)
			if err != nil {
				t.Fatalf("the whole secret is not a JSON object: %s", tc.text(err))
			}
			if string(all["username"]) != user || string(all["port"]) != "5432" || len(all) != 8 {
				t.Errorf("the whole secret has %d fields or wrong values, want the 8 written", len(all))
			}
			wantVersion := map[int]string{1: "", 2: "v1"}[version]
			if v := got["USER"].Version; v != wantVersion {
				t.Errorf("got Version=%q, want %q", v, wantVersion)
			}
			if got["USER"].Lease != nil {
				t.Errorf("a KV secret got a lease")
			}
		})
	}
}

func TestKVv2Versions(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	mount := mountKV(t, 2)
	vals := []string{tc.canary("v1"), tc.canary("v2"), tc.canary("v3")}
	for _, v := range vals {
		kvPut(t, mount, 2, "app/cfg", map[string]any{"key": v})
	}
	s := tc.rootStore()
	ref := "vault://" + mount + "/app/cfg#key"

	got, err := fetch(t, s, map[string]string{"LATEST": ref, "FIRST": ref + "?version=1", "SECOND": ref + "?version=2"})
	if err != nil {
		t.Fatalf("fetch: %s", tc.text(err))
	}
	for name, want := range map[string]struct{ value, version string }{
		"LATEST": {vals[2], "v3"}, "FIRST": {vals[0], "v1"}, "SECOND": {vals[1], "v2"},
	} {
		if string(got[name].Bytes) != want.value {
			t.Errorf("%s: got the value of another version", name)
		}
		if got[name].Version != want.version {
			t.Errorf("%s: got Version=%q, want %q", name, got[name].Version, want.version)
		}
	}

	_, err = fetch(t, s, map[string]string{"X": ref + "?version=9"})
	tc.wantErr("version 9", err, "no version 9", "vault kv metadata get")
	if !errors.Is(err, resolve.ErrNotFound) {
		t.Errorf("version 9: got %s, want resolve.ErrNotFound", tc.text(err))
	}

	rootWrite(t, mount+"/delete/app/cfg", map[string]any{"versions": []int{2}})
	_, err = fetch(t, s, map[string]string{"X": ref + "?version=2"})
	tc.wantErr("deleted version", err, "version 2 was deleted", "vault kv undelete")
	if !errors.Is(err, resolve.ErrNotFound) {
		t.Errorf("deleted version: got %s, want resolve.ErrNotFound", tc.text(err))
	}

	rootWrite(t, mount+"/destroy/app/cfg", map[string]any{"versions": []int{1}})
	_, err = fetch(t, s, map[string]string{"X": ref + "?version=1"})
	tc.wantErr("destroyed version", err, "version 1 was destroyed")
	if !errors.Is(err, resolve.ErrNotFound) {
		t.Errorf("destroyed version: got %s, want resolve.ErrNotFound", tc.text(err))
	}

	// Deleting the latest version makes the unversioned read not found.
	rootWrite(t, mount+"/delete/app/cfg", map[string]any{"versions": []int{3}})
	_, err = fetch(t, s, map[string]string{"X": ref})
	tc.wantErr("deleted latest", err, "version 3 was deleted")
}

func TestKVv1RefusesVersion(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	mount := mountKV(t, 1)
	kvPut(t, mount, 1, "a", map[string]any{"k": tc.canary("k")})
	_, err := fetch(t, tc.rootStore(), map[string]string{"X": "vault://" + mount + "/a#k?version=1"})
	tc.wantErr("version on kv v1", err, "needs a KV v2 mount", "KV v1")
}

func TestMissing(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	v1, v2 := mountKV(t, 1), mountKV(t, 2)
	s := tc.rootStore()
	tests := []struct {
		name, ref string
		wants     []string
	}{
		{"kv v2 path", "vault://" + v2 + "/no/such#x", []string{"no secret at " + v2 + "/data/no/such", "vault kv list"}},
		{"kv v1 path", "vault://" + v1 + "/no/such#x", []string{"no secret at " + v1 + "/no/such"}},
		{"mount", "vault://" + uniq("nomount") + "/a/b#x", []string{"no secrets engine is mounted at", "vault secrets list"}},
		// The API path, as envconsul and consul-template take it: ward
		// adds data/ itself, and says so.
		{"kv v2 path with data/", "vault://" + v2 + "/data/app/db#x", []string{"no secret at " + v2 + "/data/data/app/db", "write vault://" + v2 + "/app/db"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fetch(t, s, map[string]string{"V": tt.ref})
			tc.wantErr(tt.name, err, append(tt.wants, "V: "+tt.ref)...)
			if !errors.Is(err, resolve.ErrNotFound) {
				t.Errorf("got %s, want resolve.ErrNotFound", tc.text(err))
			}
		})
	}
}

func TestMissingFieldListsNames(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	mount := mountKV(t, 2)
	kvPut(t, mount, 2, "svc", map[string]any{"api_key": tc.canary("a"), "endpoint": tc.canary("b"), "n": 7})
	_, err := fetch(t, tc.rootStore(), map[string]string{"X": "vault://" + mount + "/svc#apikey"})
	tc.wantErr("missing field", err, `no field "apikey"`, `"api_key", "endpoint", "n"`)
}

func TestPermissionDenied(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	mount := mountKV(t, 2)
	kvPut(t, mount, 2, "allowed", map[string]any{"k": tc.canary("ok")})
	kvPut(t, mount, 2, "forbidden", map[string]any{"k": tc.canary("no")})
	p := policy(t, `path "`+mount+`/data/allowed" { capabilities = ["read"] }`)
	tok := token(t, &api.TokenCreateRequest{Policies: []string{p}})
	tc.secret(tok)
	s := tc.store(Options{}, map[string]string{"VAULT_TOKEN": tok})

	if _, err := fetch(t, s, map[string]string{"OK": "vault://" + mount + "/allowed#k"}); err != nil {
		t.Fatalf("allowed path: %s", tc.text(err))
	}
	ref := "vault://" + mount + "/forbidden#k"
	_, err := fetch(t, s, map[string]string{"NO": ref})
	tc.wantErr("forbidden path", err, "NO: "+ref, "permission denied", "policy grants", mount+"/data/forbidden", "the mount")
	if !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("got %s, want ErrPermissionDenied", tc.text(err))
	}
	if errors.Is(err, resolve.ErrNotFound) {
		t.Errorf("a denied read says not found")
	}
}

// TestInvalidTokenSaysSo: a token handed to ward that Vault no longer
// knows (expired, revoked, mistyped) gets a 403 like a policy's refusal;
// the error says the token may not be valid and where it came from, not
// only to check a policy. It said only "check that the token's policy
// grants read".
func TestInvalidTokenSaysSo(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	mount := mountKV(t, 2)
	kvPut(t, mount, 2, "app", map[string]any{"k": tc.canary("v")})
	tok := token(t, &api.TokenCreateRequest{Policies: []string{"default"}})
	tc.secret(tok)
	revokeToken(t, tok)
	s := tc.store(Options{}, map[string]string{"VAULT_TOKEN": tok})
	_, err := fetch(t, s, map[string]string{"V": "vault://" + mount + "/app#k"})
	tc.wantErr("a revoked token", err, "permission denied", "may have expired, been revoked", "check VAULT_TOKEN")
	if !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("got %s, want ErrPermissionDenied", tc.text(err))
	}
}

// TestDetectionWhenMountLookupDenied puts a proxy in front of Vault that
// refuses sys/internal/ui/mounts (as a gateway that blocks sys/ paths
// does), so the store tries the v2 path, then v1, and says which worked in
// a debug line.
func TestDetectionWhenMountLookupDenied(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	v1, v2 := mountKV(t, 1), mountKV(t, 2)
	a, b := tc.canary("a"), tc.canary("b")
	kvPut(t, v2, 2, "x/y", map[string]any{"k": a})
	kvPut(t, v1, 1, "x/y", map[string]any{"k": b})
	p := policy(t, `
path "`+v2+`/data/x/y" { capabilities = ["read"] }
path "`+v1+`/x/y" { capabilities = ["read"] }
`)
	tok := token(t, &api.TokenCreateRequest{Policies: []string{p}})
	tc.secret(tok)
	addr, lookups := vaultProxy(t, "/v1/sys/internal/ui/mounts", true)
	s := tc.store(Options{Address: addr}, map[string]string{"VAULT_TOKEN": tok})
	for i := 0; i < 2; i++ { // the second round reads from the learned mounts
		got, err := fetch(t, s, map[string]string{"A": "vault://" + v2 + "/x/y#k", "B": "vault://" + v1 + "/x/y#k"})
		if err != nil {
			t.Fatalf("fetch: %s", tc.text(err))
		}
		if string(got["A"].Bytes) != a || string(got["B"].Bytes) != b {
			t.Fatalf("got wrong values")
		}
		if got["A"].Version != "v1" || got["B"].Version != "" {
			t.Errorf("got versions %q and %q, want v1 and none", got["A"].Version, got["B"].Version)
		}
	}
	logs := tc.logs.String()
	for _, want := range []string{
		"vault mount lookup refused",
		"mount=" + v2 + "/ kv_version=2",
		"mount=" + v1 + "/ kv_version=1",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the debug log does not say %q", want)
		}
	}
	if n := strings.Count(logs, "vault mount detected by trying paths"); n != 2 {
		t.Errorf("the mounts were probed %d times, want 2 (once each)", n)
	}
	if n := lookups.Load(); n != 2 {
		t.Errorf("the mounts were looked up %d times, want 2 (once each)", n)
	}

	_, err := fetch(t, s, map[string]string{"Y": "vault://" + v2 + "/x/other#k"})
	tc.wantErr("denied after detection", err, "permission denied")
	_, err = fetch(t, s, map[string]string{"Z": "vault://" + v2 + "/x/y#k?version=1"})
	if err != nil {
		t.Errorf("?version= on a learned v2 mount: %s", tc.text(err))
	}
}

func TestDedupesFields(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	mount := mountKV(t, 2)
	kvPut(t, mount, 2, "db", map[string]any{"username": tc.canary("u"), "password": tc.canary("p")})
	s := tc.rootStore()
	var reads int
	s.client = s.client.WithRequestCallbacks(func(r *api.Request) {
		if strings.HasSuffix(r.URL.Path, "/data/db") {
			reads++
		}
	})
	base := "vault://" + mount + "/db"
	if _, err := fetch(t, s, map[string]string{"U": base + "#username", "P": base + "#password", "U2": base + "#username"}); err != nil {
		t.Fatalf("fetch: %s", tc.text(err))
	}
	if reads != 1 {
		t.Errorf("got %d reads of the document, want 1", reads)
	}
}

func TestContractKVv2(t *testing.T) { contract(t, 2) }
func TestContractKVv1(t *testing.T) { contract(t, 1) }

func contract(t *testing.T, version int) {
	needVault(t)
	tc := newCase(t)
	mount := mountKV(t, version)
	s := tc.rootStore()
	resolvetest.Run(t, resolvetest.Harness{
		Store: s,
		Put: func(t *testing.T, name string, v []byte) resolve.Ref {
			tc.secret(string(v))
			kvPut(t, mount, version, name, map[string]any{"value": string(v)})
			return mustRef(t, "vault://"+mount+"/"+name+"#value")
		},
		PutFields: func(t *testing.T, name string, fields map[string]string) resolve.Ref {
			data := map[string]any{}
			for k, v := range fields {
				tc.secret(v)
				data[k] = v
			}
			kvPut(t, mount, version, name, data)
			return mustRef(t, "vault://"+mount+"/"+name)
		},
		Missing: func(t *testing.T) resolve.Ref { return mustRef(t, "vault://"+mount+"/contract/missing") },
	})
}

func TestFetchAfterCloseFails(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	mount := mountKV(t, 2)
	kvPut(t, mount, 2, "a", map[string]any{"k": "v"})
	s := tc.rootStore()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Fetch(context.Background(), mustRef(t, "vault://"+mount+"/a"))
	tc.wantErr("fetch after close", err, "closed")
}
