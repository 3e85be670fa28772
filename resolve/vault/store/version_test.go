package store

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hashicorp/vault/api"
)

// TestVersion checks what a poll asks before reading: a KV v2 secret's
// current version from its metadata, moving with each write, its own
// answer for a deleted or destroyed current version and for a secret that
// is gone, the pinned version for ?version=, no version for KV v1, and
// no data read at all.
func TestVersion(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	mount := mountKV(t, 2)
	kvPut(t, mount, 2, "app/cfg", map[string]any{"key": tc.canary("v1")})
	addr, dataReads := countingVault(t, "/v1/"+mount+"/data/")
	s := tc.store(Options{Address: addr}, map[string]string{"VAULT_TOKEN": root.Token()})
	ctx := context.Background()
	ref := mustRef(t, "vault://"+mount+"/app/cfg#key").Document()
	version := func(label, want string) {
		t.Helper()
		got, err := s.Version(ctx, ref)
		if err != nil {
			t.Fatalf("%s: %s", label, tc.text(err))
		}
		if got != want {
			t.Errorf("%s: got version %q, want %q", label, got, want)
		}
	}

	version("first", "v1")
	kvPut(t, mount, 2, "app/cfg", map[string]any{"key": tc.canary("v2")})
	version("after a write", "v2")
	// The version a read reports is the one Version answers.
	got, err := fetch(t, s, map[string]string{"K": "vault://" + mount + "/app/cfg#key"})
	if err != nil {
		t.Fatalf("fetch: %s", tc.text(err))
	}
	if got["K"].Version != "v2" {
		t.Errorf("the read reports %q, Version v2", got["K"].Version)
	}
	reads := dataReads.Load()
	version("again", "v2")
	if n := dataReads.Load() - reads; n != 0 {
		t.Errorf("Version read the secret's data %d times", n)
	}

	for _, opt := range []string{"1", "01"} {
		// As a read records it: ?version=01 is v1, or every poll reads it.
		pinned, err := s.Version(ctx, mustRef(t, "vault://"+mount+"/app/cfg?version="+opt).Document())
		if err != nil || pinned != "v1" {
			t.Errorf("pinned ?version=%s: got %q, %v, want v1", opt, pinned, err)
		}
	}

	rootWrite(t, mount+"/delete/app/cfg", map[string]any{"versions": []int{2}})
	version("current version deleted", "v2 deleted")
	kvPut(t, mount, 2, "app/cfg", map[string]any{"key": tc.canary("v3")})
	rootWrite(t, mount+"/destroy/app/cfg", map[string]any{"versions": []int{3}})
	version("current version destroyed", "v3 deleted")
	if _, err := root.Logical().Delete(mount + "/metadata/app/cfg"); err != nil {
		t.Fatal(err)
	}
	version("metadata deleted", "gone")

	v1 := mountKV(t, 1)
	kvPut(t, v1, 1, "a", map[string]any{"k": tc.canary("k")})
	_, err = s.Version(ctx, mustRef(t, "vault://"+v1+"/a").Document())
	if !errors.Is(err, errNoVersions) {
		t.Errorf("KV v1: got %s, want errNoVersions", tc.text(err))
	}
}

// TestVersionMetadataDenied: a token that may read a secret's data but
// not its metadata gets a clear error once, and later polls of the same
// mount do not ask again (they read values).
func TestVersionMetadataDenied(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	mount := mountKV(t, 2)
	kvPut(t, mount, 2, "a", map[string]any{"k": tc.canary("a")})
	kvPut(t, mount, 2, "b", map[string]any{"k": tc.canary("b")})
	p := policy(t, `path "`+mount+`/data/*" { capabilities = ["read"] }`)
	tok := token(t, &api.TokenCreateRequest{Policies: []string{p}})
	tc.secret(tok)
	addr, metadataReads := countingVault(t, "/v1/"+mount+"/metadata/")
	s := tc.store(Options{Address: addr}, map[string]string{"VAULT_TOKEN": tok})
	ctx := context.Background()

	_, err := s.Version(ctx, mustRef(t, "vault://"+mount+"/a").Document())
	tc.wantErr("denied metadata", err, "permission denied", mount+"/metadata/a", "grant")
	if !errors.Is(err, ErrPermissionDenied) {
		t.Errorf("got %s, want ErrPermissionDenied", tc.text(err))
	}
	_, err = s.Version(ctx, mustRef(t, "vault://"+mount+"/b").Document())
	if !errors.Is(err, errNoVersions) {
		t.Errorf("second secret of the mount: got %s, want errNoVersions without asking", tc.text(err))
	}
	if n := metadataReads.Load(); n != 1 {
		t.Errorf("the metadata was asked for %d times, want once", n)
	}
	if _, err := fetch(t, s, map[string]string{"A": "vault://" + mount + "/a#k"}); err != nil {
		t.Errorf("the data read still works: %s", tc.text(err))
	}
}

// countingVault is a proxy before the test server that counts the
// requests whose path starts with prefix; it returns the proxy's address.
func countingVault(t *testing.T, prefix string) (string, *atomic.Int32) {
	return vaultProxy(t, prefix, false)
}

// vaultProxy is countingVault that, with refuse, answers the requests it
// counts with Vault's 403 itself instead of passing them on.
func vaultProxy(t *testing.T, prefix string, refuse bool) (string, *atomic.Int32) {
	t.Helper()
	target, _ := url.Parse(vaultAddr)
	proxy := httputil.NewSingleHostReverseProxy(target)
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, prefix) {
			n.Add(1)
			if refuse {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusForbidden)
				io.WriteString(w, `{"errors":["permission denied"]}`)
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &n
}

// TestVersionMetadataAskedAgainWithANewToken: a 403 on metadata from a
// token that was revoked (a sink that writes the next token a moment
// later) is not taken for the policy's answer for good: with the new
// token the metadata is asked again, and polls go on reading no values.
func TestVersionMetadataAskedAgainWithANewToken(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	mount := mountKV(t, 2)
	kvPut(t, mount, 2, "a", map[string]any{"k": tc.canary("a")})
	p := policy(t, `path "`+mount+`/data/*" { capabilities = ["read"] }
path "`+mount+`/metadata/*" { capabilities = ["read"] }`)
	sink := filepath.Join(t.TempDir(), "token")
	write := func() string {
		tok := token(t, &api.TokenCreateRequest{Policies: []string{p}})
		tc.secret(tok)
		if err := os.WriteFile(sink+".tmp", []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(sink+".tmp", sink); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	first := write()
	addr, metadataReads := countingVault(t, "/v1/"+mount+"/metadata/")
	s := tc.store(Options{Address: addr, Auth: Auth{Method: "token_file", TokenFile: sink}}, nil)
	ctx := context.Background()
	ref := mustRef(t, "vault://"+mount+"/a").Document()
	if v, err := s.Version(ctx, ref); err != nil || v != "v1" {
		t.Fatalf("first: got %q, %s", v, tc.text(err))
	}
	revokeToken(t, first)
	if _, err := s.Version(ctx, ref); err == nil {
		t.Fatalf("with the token revoked and no new one, Version answered")
	}
	write()
	asked := metadataReads.Load()
	v, err := s.Version(ctx, ref)
	if err != nil || v != "v1" {
		t.Errorf("with the sink's new token: got %q, %s, want v1", v, tc.text(err))
	}
	if metadataReads.Load() == asked {
		t.Errorf("the metadata was not asked again with the new token")
	}
}

// TestVersionMetadataAskedAgainAfterTheDataWasRefused: a policy that
// denies a path for a while refuses its metadata and its data alike; the
// metadata's 403 then says nothing of a policy that grants data and not
// metadata, and once the path is granted back the polls ask for versions
// again. The refusal was kept for the token's life: every poll read the
// value (a VAULT_TOKEN's life, the whole run).
func TestVersionMetadataAskedAgainAfterTheDataWasRefused(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	mount := mountKV(t, 2)
	kvPut(t, mount, 2, "a", map[string]any{"k": tc.canary("a")})
	grant := `path "` + mount + `/data/*" { capabilities = ["read"] }
path "` + mount + `/metadata/*" { capabilities = ["read"] }`
	p := policy(t, grant)
	tok := token(t, &api.TokenCreateRequest{Policies: []string{p}})
	tc.secret(tok)
	put := func(hcl string) {
		if err := srv.Root.Sys().PutPolicy(p, hcl); err != nil {
			t.Fatal(err)
		}
	}
	s := tc.store(Options{Auth: Auth{Method: "token"}}, map[string]string{"VAULT_TOKEN": tok})
	ctx := context.Background()
	ref := mustRef(t, "vault://"+mount+"/a").Document()
	if v, err := s.Version(ctx, ref); err != nil || v != "v1" {
		t.Fatalf("first: got %q, %s", v, tc.text(err))
	}
	put(`path "` + mount + `/*" { capabilities = ["deny"] }`)
	if _, err := s.Version(ctx, ref); !errors.Is(err, ErrPermissionDenied) {
		t.Fatalf("with the path denied, Version: %s, want a refusal", tc.text(err))
	}
	if _, err := s.Fetch(ctx, ref); err == nil {
		t.Fatalf("with the path denied, the poll's read of the value answered")
	}
	put(grant)
	if v, err := s.Version(ctx, ref); err != nil || v != "v1" {
		t.Errorf("with the path granted again: got %q, %s, want v1", v, tc.text(err))
	}
}

// TestVersionWithDeleteVersionAfter: on a KV v2 mount with
// delete_version_after, every version carries the deletion_time to come.
// A version whose deletion is still ahead is live: Version answers as the
// read does, so polls read no data. It answered "v1 deleted", and every
// poll read the value.
func TestVersionWithDeleteVersionAfter(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	mount := mountKV(t, 2)
	rootWrite(t, mount+"/config", map[string]any{"delete_version_after": "1h"})
	kvPut(t, mount, 2, "app/cfg", map[string]any{"key": tc.canary("v1")})
	s := tc.rootStore()
	got, err := fetch(t, s, map[string]string{"K": "vault://" + mount + "/app/cfg#key"})
	if err != nil {
		t.Fatalf("fetch: %s", tc.text(err))
	}
	ver, err := s.Version(context.Background(), mustRef(t, "vault://"+mount+"/app/cfg"))
	if err != nil || ver != got["K"].Version {
		t.Errorf("got version %q (%v), want the read's %q", ver, err, got["K"].Version)
	}
}
