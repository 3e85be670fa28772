package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wardsecrets/ward/internal/logbuf"
	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/gcp"
	"github.com/wardsecrets/ward/resolve/gcp/gcptest"
	"github.com/wardsecrets/ward/resolve/gcp/store"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

func TestVersions(t *testing.T) {
	srv := emulator(t)
	vals := []string{resolvetest.Canary("v1"), resolvetest.Canary("v2"), resolvetest.Canary("v3")}
	for _, v := range vals {
		srv.AddVersion(secretName("rot"), []byte(v))
	}
	s := newStore(t, srv, nil)
	tests := []struct {
		ref     string
		value   string
		version string
	}{
		{"gcpsm://" + project + "/rot", vals[2], "3"},
		{"gcpsm://" + project + "/rot?version=latest", vals[2], "3"},
		{"gcpsm://" + project + "/rot?version=1", vals[0], "1"},
		{"gcpsm://" + project + "/rot?version=2", vals[1], "2"},
		{"gcpsm://projects/" + project + "/secrets/rot", vals[2], "3"},
		{"gcpsm://projects/" + project + "/secrets/rot/versions/2", vals[1], "2"},
		{"gcpsm://projects/" + gcptest.ProjectNumber(project) + "/secrets/rot/versions/1", vals[0], "1"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			ref := mustRef(t, tt.ref)
			sec, err := s.Fetch(t.Context(), ref)
			if err != nil {
				t.Fatal(err)
			}
			if string(sec.Value) != tt.value || sec.Version != tt.version {
				t.Errorf("Fetch: got version %q (value right: %v), want version %s", sec.Version, string(sec.Value) == tt.value, tt.version)
			}
			// Version is a metadata read: no payload is accessed.
			access, get := srv.Calls("versions.access"), srv.Calls("versions.get")
			v, err := s.Version(t.Context(), ref)
			if err != nil {
				t.Fatal(err)
			}
			if v != sec.Version {
				t.Errorf("Version: got %q, want %q, what Fetch reported", v, sec.Version)
			}
			if a, g := srv.Calls("versions.access")-access, srv.Calls("versions.get")-get; a != 0 || g != 1 {
				t.Errorf("Version made %d access and %d get calls, want 0 and 1", a, g)
			}
		})
	}

	// A new version moves latest; Version sees it without reading it.
	v4 := resolvetest.Canary("v4")
	srv.AddVersion(secretName("rot"), []byte(v4))
	access := srv.Calls("versions.access")
	ref := mustRef(t, "gcpsm://"+project+"/rot")
	if v, err := s.Version(t.Context(), ref); err != nil || v != "4" {
		t.Errorf("Version after a new version: got %q, %v, want 4", v, err)
	}
	if n := srv.Calls("versions.access") - access; n != 0 {
		t.Errorf("Version accessed the payload %d times", n)
	}
	if sec, err := s.Fetch(t.Context(), ref); err != nil || sec.Version != "4" || string(sec.Value) != v4 {
		t.Errorf("Fetch after a new version: got version %q, %v, want 4", sec.Version, err)
	}
}

func TestJSONFields(t *testing.T) {
	srv := emulator(t)
	user, pass := resolvetest.Canary("user"), resolvetest.Canary("pass")
	doc := fmt.Sprintf(`{"username":%q,"password":%q,"port":5432,"tls":{ "verify": true },"none":null}`, user, pass)
	srv.AddVersion(secretName("db"), []byte(doc))
	s := newStore(t, srv, nil)

	got, err := fetchVars(t, t.Context(), s, map[string]string{
		"USER": "gcpsm://" + project + "/db#username",
		"PASS": "gcpsm://" + project + "/db#password",
		"PORT": "gcpsm://" + project + "/db#port",
		"TLS":  "gcpsm://" + project + "/db#tls",
		"NONE": "gcpsm://" + project + "/db#none",
		"DOC":  "gcpsm://" + project + "/db",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"USER": user, "PASS": pass, "PORT": "5432", "TLS": `{"verify":true}`, "NONE": "", "DOC": doc}
	for name, w := range want {
		if string(got[name].Bytes) != w {
			t.Errorf("%s: got a wrong value (%d bytes, want %d)", name, len(got[name].Bytes), len(w))
		}
		if got[name].Version != "1" {
			t.Errorf("%s: got Version=%q, want 1", name, got[name].Version)
		}
	}
	if n := srv.Calls("versions.access"); n != 1 {
		t.Errorf("six variables of one secret: got %d access calls, want 1", n)
	}

	_, err = fetchVars(t, t.Context(), s, map[string]string{"X": "gcpsm://" + project + "/db#nope"})
	checkError(t, "missing field", err, []string{user, pass}, "X: gcpsm://"+project+"/db#nope", `"username"`, `"password"`)

	bin := append([]byte{0, 0xff, '\n'}, resolvetest.Canary("bin")...)
	srv.AddVersion(secretName("bin"), bin)
	sec, err := s.Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/bin"))
	if err != nil || !bytes.Equal(sec.Value, bin) {
		t.Errorf("binary payload: got %d bytes, %v, want the %d bytes as they are", len(sec.Value), err, len(bin))
	}
	_, err = fetchVars(t, t.Context(), s, map[string]string{"F": "gcpsm://" + project + "/bin#field"})
	checkError(t, "field of a binary secret", err, []string{string(bin)}, "not a JSON object")
}

func TestErrors(t *testing.T) {
	srv := emulator(t)
	var canaries []string
	put := func(id string) int {
		c := resolvetest.Canary(id)
		canaries = append(canaries, c)
		return srv.AddVersion(secretName(id), []byte(c))
	}
	for range 3 {
		put("db")
	}
	srv.DisableVersion(secretName("db"), 2)
	put("off")
	srv.DisableVersion(secretName("off"), 1)
	put("burnt")
	put("burnt")
	srv.DestroyVersion(secretName("burnt"), 2)
	put("denied")
	srv.Deny(secretName("denied"))
	put("viewer")
	srv.Deny(secretName("viewer"), gcptest.PermissionGet)
	put("gone")
	srv.DeleteSecret(secretName("gone"))

	logs := &logbuf.Buffer{}
	s := newStore(t, srv, debugLogger(logs))
	fetch := func(ref string) error {
		_, err := s.Fetch(t.Context(), mustRef(t, ref))
		return err
	}
	version := func(ref string) error {
		_, err := s.Version(t.Context(), mustRef(t, ref))
		return err
	}
	p := "gcpsm://" + project + "/"
	tests := []struct {
		name     string
		call     func(string) error
		ref      string
		notFound bool
		wants    []string
	}{
		{"no secret", fetch, p + "nope", true, []string{`read the latest version of secret "nope" in project "` + project + `"`, "secret manager has no such secret or version (a regional secret is read with ?location=REGION): not found", "404 NOT_FOUND"}},
		{"no version", fetch, p + "db?version=9", true, []string{`read version 9 of secret "db"`, "not found", "404 NOT_FOUND"}},
		{"deleted secret", fetch, p + "gone", true, []string{`secret "gone"`, "not found"}},
		{"no secret, metadata", version, p + "nope", true, []string{`read the metadata of the latest version of secret "nope"`, "not found"}},
		{"denied", fetch, p + "denied", false, []string{`secret "denied"`, "denied it to service account " + gcptest.ClientEmail, "grant it roles/secretmanager.secretAccessor on the secret or its project", "403 PERMISSION_DENIED", "secretmanager.versions.access"}},
		{"denied, metadata", version, p + "denied", false, []string{"grant it roles/secretmanager.viewer, or a role with the secretmanager.versions.get permission,", "403 PERMISSION_DENIED"}},
		{"viewer missing", version, p + "viewer", false, []string{`secret "viewer"`, "roles/secretmanager.viewer", "secretmanager.versions.get"}},
		{"disabled", fetch, p + "db?version=2", false, []string{`version 2 of secret "db" in project "` + project + `" is disabled`, "gcloud secrets versions enable 2 --secret=db --project=" + project, "?version=N", "400 FAILED_PRECONDITION"}},
		{"latest disabled", fetch, p + "off", false, []string{`version 1 of secret "off"`, "is disabled", "gcloud secrets versions enable 1 --secret=off"}},
		{"destroyed", fetch, p + "burnt", false, []string{`version 2 of secret "burnt"`, "is destroyed and its data is gone", "?version=N", "gcloud secrets versions add burnt --project=" + project}},
		{"disabled, metadata", version, p + "db?version=2", false, []string{`version 2 of secret "db"`, "is disabled", "gcloud secrets versions enable 2"}},
		{"latest disabled, metadata", version, p + "off", false, []string{`version 1 of secret "off"`, "is disabled"}},
		{"destroyed, metadata", version, p + "burnt", false, []string{`version 2 of secret "burnt"`, "is destroyed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call(tt.ref)
			checkError(t, tt.name, err, canaries, tt.wants...)
			checkNotFound(t, tt.name, err, tt.notFound)
		})
	}

	// Denied access leaves the metadata readable, and the other way round.
	if _, err := s.Fetch(t.Context(), mustRef(t, p+"viewer")); err != nil {
		t.Errorf("access with only versions.get denied: %v", err)
	}
	if v, err := s.Version(t.Context(), mustRef(t, p+"db?version=3")); err != nil || v != "3" {
		t.Errorf("Version of an enabled version beside a disabled one: got %q, %v", v, err)
	}

	// A reference no one checked is checked here.
	bad := resolve.Ref{Raw: "gcpsm://x/y", Scheme: gcp.Scheme, Path: "x/y"}
	_, err := s.Fetch(t.Context(), bad)
	checkError(t, "unchecked reference", err, nil, `"x" is not a project id`)

	// 401: the emulator expires the token the client still holds.
	srv.ExpireTokens()
	err = fetch(p + "db")
	checkError(t, "expired token", err, canaries, "rejected the access token from the credentials file GOOGLE_APPLICATION_CREDENTIALS=", "401 UNAUTHENTICATED")

	if !strings.Contains(logs.String(), "google credentials ready") {
		t.Errorf("the log has no line about the credentials")
	}
	if leaks(logs.String(), canaries) || strings.Contains(logs.String(), tokenPrefix) {
		t.Errorf("the store's log holds a secret value or a token")
	}
}

func TestChecksumMismatch(t *testing.T) {
	srv := emulator(t)
	v := resolvetest.Canary("crc")
	srv.AddVersion(secretName("crc"), []byte(v))
	s := newStore(t, srv, nil)
	ref := mustRef(t, "gcpsm://"+project+"/crc")

	srv.CorruptChecksums(1)
	_, err := s.Fetch(t.Context(), ref)
	checkError(t, "corrupted checksum", err, []string{v}, `read the latest version of secret "crc"`, "failed its CRC32C check", "not used")
	sec, err := s.Fetch(t.Context(), ref)
	if err != nil || string(sec.Value) != v {
		t.Errorf("after the corrupted answer: got %d bytes, %v", len(sec.Value), err)
	}
}

func TestRegional(t *testing.T) {
	srv := emulator(t)
	global, regional := resolvetest.Canary("global"), resolvetest.Canary("regional")
	srv.AddVersion(secretName("db"), []byte(global))
	srv.AddVersion("projects/"+project+"/locations/europe-west1/secrets/db", []byte("old"))
	srv.AddVersion("projects/"+project+"/locations/europe-west1/secrets/db", []byte(regional))
	s := newStore(t, srv, nil)

	for _, ref := range []string{
		"gcpsm://" + project + "/db?location=europe-west1",
		"gcpsm://projects/" + project + "/locations/europe-west1/secrets/db",
		"gcpsm://projects/" + project + "/locations/europe-west1/secrets/db/versions/2",
	} {
		sec, err := s.Fetch(t.Context(), mustRef(t, ref))
		if err != nil || string(sec.Value) != regional || sec.Version != "2" {
			t.Errorf("%s: got version %q, %v (value right: %v), want the regional secret's version 2", ref, sec.Version, err, string(sec.Value) == regional)
		}
	}
	v, err := s.Version(t.Context(), mustRef(t, "gcpsm://"+project+"/db?location=europe-west1"))
	if err != nil || v != "2" {
		t.Errorf("Version of the regional secret: got %q, %v, want 2", v, err)
	}
	sec, err := s.Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/db"))
	if err != nil || string(sec.Value) != global {
		t.Errorf("the global secret of the same id: got %v (value right: %v)", err, string(sec.Value) == global)
	}
	if a, g, ga := srv.Calls(gcptest.MethodRegionalAccess), srv.Calls(gcptest.MethodRegionalGet), srv.Calls(gcptest.MethodAccess); a != 3 || g != 1 || ga != 1 {
		t.Errorf("got %d regional access, %d regional get and %d global access calls, want 3, 1 and 1", a, g, ga)
	}

	_, err = s.Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/db?location=us-east1"))
	checkError(t, "regional secret in another location", err, []string{global, regional}, `secret "db" in project "`+project+`" (us-east1)`, "not found")
	checkNotFound(t, "regional secret in another location", err, true)

	// A regional endpoint setting that points at the global endpoint
	// gets the global endpoint's refusal: the setting is what routes.
	opts := srv.Options()
	opts.RegionalEndpoint = srv.URL()
	_, err = newStoreWith(t, opts, nil).Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/db?location=europe-west1"))
	checkError(t, "regional endpoint set to the global one", err, []string{regional}, "400 INVALID_ARGUMENT", "secretmanager.europe-west1.rep.googleapis.com")
}

func TestNewIsLazy(t *testing.T) {
	srv := emulator(t)
	if _, err := store.New(srv.Options(), nil); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls(""); n != 0 {
		t.Errorf("New made %d requests, want none", n)
	}
	_, err := store.New(gcp.Options{Endpoint: "secretmanager.googleapis.com"}, nil)
	checkError(t, "bad endpoint", err, nil, "stores.gcp.endpoint")
}

func TestConcurrentFirstFetches(t *testing.T) {
	srv := emulator(t)
	v := resolvetest.Canary("conc")
	srv.AddVersion(secretName("conc"), []byte(v))
	s := newStore(t, srv, nil)
	ref := mustRef(t, "gcpsm://"+project+"/conc")
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sec, err := s.Fetch(context.Background(), ref)
			if err == nil && string(sec.Value) != v {
				err = fmt.Errorf("got a different value (%d bytes)", len(sec.Value))
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := srv.Calls(gcptest.MethodToken); n != 1 {
		t.Errorf("32 concurrent first fetches: got %d token requests, want 1 (one set-up, one token)", n)
	}
}

func TestClose(t *testing.T) {
	srv := emulator(t)
	srv.AddVersion(secretName("c"), []byte("x"))
	s := newStore(t, srv, nil)
	ref := mustRef(t, "gcpsm://"+project+"/c")
	if _, err := s.Fetch(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := s.Fetch(t.Context(), ref)
	checkError(t, "fetch after Close", err, nil, "closed")
}

func TestQuotaProject(t *testing.T) {
	srv := emulator(t)
	srv.AddVersion(secretName("q"), []byte("x"))
	ref := mustRef(t, "gcpsm://"+project+"/q")
	if _, err := newStore(t, srv, nil).Fetch(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if got := srv.UserProject(); got != "" {
		t.Errorf("no quota project: got X-Goog-User-Project %q, want none", got)
	}
	opts := srv.Options()
	opts.QuotaProject = "billing-project"
	if _, err := newStoreWith(t, opts, nil).Fetch(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	if got := srv.UserProject(); got != "billing-project" {
		t.Errorf("quota_project billing-project: got X-Goog-User-Project %q", got)
	}
}

// TestTimeout: a server slower than stores.gcp.timeout.
func TestTimeout(t *testing.T) {
	srv := emulator(t)
	srv.AddVersion(secretName("slow"), []byte("x"))
	opts := srv.Options()
	opts.Timeout = 200 * time.Millisecond
	s := newStoreWith(t, opts, nil)
	ref := mustRef(t, "gcpsm://"+project+"/slow")
	if _, err := s.Fetch(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	srv.SetLatency(time.Second)
	_, err := s.Fetch(t.Context(), ref)
	checkError(t, "slow server", err, nil, `read the latest version of secret "slow"`, "no answer from secret manager in time (1 attempt over", "stores.gcp.timeout")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("got %v, want an error that is context.DeadlineExceeded", err)
	}
}

// TestVersionAliases: a version alias (gcloud secrets update
// --update-version-aliases=prod=2) reads the version it points at, as
// Google documents, in both reference forms; Version follows the alias
// when it moves, without reading the payload.
func TestVersionAliases(t *testing.T) {
	srv := emulator(t)
	vals := []string{resolvetest.Canary("alias1"), resolvetest.Canary("alias2"), resolvetest.Canary("alias3")}
	for _, v := range vals {
		srv.AddVersion(secretName("aliased"), []byte(v))
	}
	srv.SetAlias(secretName("aliased"), "prod", 2)
	s := newStore(t, srv, nil)
	for _, r := range []string{
		"gcpsm://" + project + "/aliased?version=prod",
		"gcpsm://projects/" + project + "/secrets/aliased/versions/prod",
	} {
		ref := mustRef(t, r)
		sec, err := s.Fetch(t.Context(), ref)
		if err != nil {
			t.Fatal(err)
		}
		if string(sec.Value) != vals[1] || sec.Version != "2" {
			t.Errorf("%s: got version %q (value right: %v), want version 2", r, sec.Version, string(sec.Value) == vals[1])
		}
	}

	ref := mustRef(t, "gcpsm://"+project+"/aliased?version=prod")
	srv.SetAlias(secretName("aliased"), "prod", 3)
	access := srv.Calls("versions.access")
	if v, err := s.Version(t.Context(), ref); err != nil || v != "3" {
		t.Errorf("Version after the alias moved: got %q, %v, want 3", v, err)
	}
	if n := srv.Calls("versions.access") - access; n != 0 {
		t.Errorf("Version accessed the payload %d times", n)
	}
	if sec, err := s.Fetch(t.Context(), ref); err != nil || sec.Version != "3" || string(sec.Value) != vals[2] {
		t.Errorf("Fetch after the alias moved: got version %q, %v, want 3", sec.Version, err)
	}

	// An alias the secret does not have is not found, and named.
	_, err := s.Fetch(t.Context(), mustRef(t, "gcpsm://"+project+"/aliased?version=staging"))
	checkNotFound(t, "unknown alias", err, true)
	checkError(t, "unknown alias", err, vals, `version alias "staging" of secret "aliased"`)
}
