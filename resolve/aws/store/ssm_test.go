package store_test

import (
	"fmt"
	"testing"

	awsstore "github.com/wardsecrets/ward/resolve/aws/store"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

func TestParameterStoreValues(t *testing.T) {
	srv := emulator(t)
	secure, plain, old, cur, field := resolvetest.Canary("secure"), resolvetest.Canary("plain"), resolvetest.Canary("old"), resolvetest.Canary("cur"), resolvetest.Canary("field")
	srv.PutParameter("/app/secure", secure, true)
	srv.PutParameter("/app/plain", plain, false)
	srv.PutParameter("/app/rot", old, true)
	srv.PutParameter("/app/rot", cur, true)
	srv.PutParameter("/app/json", fmt.Sprintf(`{"key":%q}`, field), true)
	srv.PutParameter("top", plain, false)

	tests := []struct{ name, ref, value, version string }{
		{"SECURE", "ssm:///app/secure", secure, "1"},
		{"PLAIN", "ssm:///app/plain", plain, "1"},
		{"ROT", "ssm:///app/rot", cur, "2"},
		{"ROT2", "ssm:///app/rot?version=2", cur, "2"},
		{"ROT1", "ssm:///app/rot?version=1", old, "1"},
		{"FIELD", "ssm:///app/json#key", field, "1"},
		{"TOP", "ssm://top", plain, "1"},
		{"ARN", "ssm://" + srv.ParameterARN("/app/secure"), secure, "1"},
	}
	vars := map[string]string{}
	for _, tt := range tests {
		vars[tt.name] = tt.ref
	}
	ps := awsstore.NewParameterStore(newSession())
	got, err := fetchVars(t, t.Context(), ps, vars)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		if string(got[tt.name].Bytes) != tt.value || got[tt.name].Version != tt.version {
			t.Errorf("%s: got version %q (value right: %v), want version %q", tt.ref, got[tt.name].Version, string(got[tt.name].Bytes) == tt.value, tt.version)
		}
	}
	if n := srv.Calls(""); n != 1 {
		t.Errorf("8 parameters: got %d calls, want 1 GetParameters", n)
	}

	for _, tt := range tests {
		ref := mustRef(t, tt.ref)
		s, err := ps.Fetch(t.Context(), ref.Document())
		if err != nil {
			t.Errorf("fetch %s: %v", tt.ref, err)
			continue
		}
		b := s.Value
		if ref.Field != "" {
			b, _ = s.Field(ref.Field)
		}
		if string(b) != tt.value {
			t.Errorf("fetch %s: got a wrong value", tt.ref)
		}
	}
	if n := srv.Calls("GetParameters"); n != 1+len(tests) {
		t.Errorf("got %d GetParameters calls, want %d", n, 1+len(tests))
	}
}

// TestParameterStoreLabels: ?label= reads the version a label is on, in a
// batch beside other selectors, and follows the label when it moves (its
// version is the parameter's, so a poll sees the move).
func TestParameterStoreLabels(t *testing.T) {
	srv := emulator(t)
	v1, v2, v3 := resolvetest.Canary("v1"), resolvetest.Canary("v2"), resolvetest.Canary("v3")
	for _, v := range []string{v1, v2, v3} {
		srv.PutParameter("/app/db", v, true)
	}
	srv.LabelParameter("/app/db", 2, "prod")
	srv.LabelParameter("/app/db", 1, "old.release_1")
	ps := awsstore.NewParameterStore(newSession())
	vars := map[string]string{
		"PROD":   "ssm:///app/db?label=prod",
		"OLD":    "ssm:///app/db?label=old.release_1",
		"V3":     "ssm:///app/db?version=3",
		"LATEST": "ssm:///app/db",
		"ARN":    "ssm://" + srv.ParameterARN("/app/db") + "?label=prod",
	}
	want := map[string][2]string{"PROD": {v2, "2"}, "OLD": {v1, "1"}, "V3": {v3, "3"}, "LATEST": {v3, "3"}, "ARN": {v2, "2"}}
	got, err := fetchVars(t, t.Context(), ps, vars)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		if string(got[name].Bytes) != w[0] || got[name].Version != w[1] {
			t.Errorf("%s: got version %q (value right: %v), want version %q", vars[name], got[name].Version, string(got[name].Bytes) == w[0], w[1])
		}
	}

	srv.LabelParameter("/app/db", 3, "prod")
	s, err := ps.Fetch(t.Context(), mustRef(t, "ssm:///app/db?label=prod"))
	if err != nil {
		t.Fatal(err)
	}
	if string(s.Value) != v3 || s.Version != "3" {
		t.Errorf("after the label moved to version 3: got version %q (value right: %v)", s.Version, string(s.Value) == v3)
	}
}

func TestParameterStoreLargeBatch(t *testing.T) {
	srv := emulator(t)
	vars, want := map[string]string{}, map[string]string{}
	for i := range 25 {
		name := fmt.Sprintf("P%02d", i)
		want[name] = resolvetest.Canary("big")
		srv.PutParameter(fmt.Sprintf("/big/p%02d", i), want[name], true)
		vars[name] = fmt.Sprintf("ssm:///big/p%02d", i)
		vars[name+"_AGAIN"] = vars[name]
	}
	got, err := fetchVars(t, t.Context(), awsstore.NewParameterStore(newSession()), vars)
	if err != nil {
		t.Fatal(err)
	}
	for name, w := range want {
		if string(got[name].Bytes) != w || string(got[name+"_AGAIN"].Bytes) != w {
			t.Errorf("%s: got the value of another parameter", name)
		}
	}
	if n := srv.Calls(""); n != 3 {
		t.Errorf("25 parameters, each used twice: got %d calls, want 3 GetParameters", n)
	}
}

func TestParameterStoreErrors(t *testing.T) {
	srv := emulator(t)
	good, good2, denied, undecryptable := resolvetest.Canary("good"), resolvetest.Canary("good2"), resolvetest.Canary("denied"), resolvetest.Canary("kms")
	keyDenied := resolvetest.Canary("kmskey")
	canaries := []string{good, good2, denied, undecryptable, keyDenied}
	srv.PutParameter("/e/good", good, true)
	srv.PutParameter("/e/good2", good2, false)
	srv.PutParameter("/e/denied", denied, true)
	srv.PutParameter("/e/kms", undecryptable, true)
	srv.Deny("/e/denied")
	srv.FailDecrypt("/e/kms")
	srv.PutParameter("/e/kmskey", keyDenied, true)
	srv.DenyKMS("/e/kmskey")
	ps := awsstore.NewParameterStore(newSession())

	tests := []struct {
		name     string
		ref      string
		notFound bool
		wants    []string
	}{
		{"not found", "ssm:///e/missing", true, []string{`parameter "/e/missing"`, "us-east-1", "not found", "another region", "by its ARN"}},
		{"version not found", "ssm:///e/good?version=9", true, []string{`parameter "/e/good" (version 9)`, "not found"}},
		{"label not found", "ssm:///e/good?label=prod", true, []string{`parameter "/e/good" (label prod)`, "not found"}},
		{"access denied", "ssm:///e/denied", false, []string{`parameter "/e/denied"`, "ssm:GetParameters", "AccessDeniedException"}},
		{"decryption failure", "ssm:///e/kms", false, []string{`parameter "/e/kms"`, "cannot decrypt", "kms:Decrypt", "AccessDeniedException"}},
		{"KMS key not visible", "ssm:///e/kmskey", false, []string{`parameter "/e/kmskey"`, "cannot decrypt", "kms:Decrypt", "AWSKMS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Calls("")
			_, err := ps.Fetch(t.Context(), mustRef(t, tt.ref))
			checkError(t, "Fetch", err, canaries, tt.wants...)
			checkNotFound(t, "Fetch", err, tt.notFound)
			if n := srv.Calls("") - before; n != 1 {
				t.Errorf("Fetch: got %d calls, want 1 (this error is not retried)", n)
			}
		})
	}

	t.Run("in a batch", func(t *testing.T) {
		refs := mustRefs(t, "ssm:///e/good", "ssm:///e/good2")
		for _, tt := range tests {
			refs = append(refs, mustRef(t, tt.ref))
		}
		before := srv.Calls("")
		secrets, errs := ps.FetchBatch(t.Context(), refs)
		if errs[0] != nil || errs[1] != nil || string(secrets[0].Value) != good || string(secrets[1].Value) != good2 {
			t.Errorf("the good parameters of the batch did not resolve: %v, %v", errs[0], errs[1])
		}
		for i, tt := range tests {
			checkError(t, tt.name, errs[i+2], canaries, tt.wants...)
			checkNotFound(t, tt.name, errs[i+2], tt.notFound)
		}
		// The denied batch call, then one call per name to tell which.
		if n := srv.Calls("") - before; n != 1+len(refs) {
			t.Errorf("got %d calls, want %d", n, 1+len(refs))
		}
	})

	t.Run("through the fetcher", func(t *testing.T) {
		vars := map[string]string{"GOOD": "ssm:///e/good"}
		wants := []string{fmt.Sprintf("%d secrets could not be resolved", len(tests))}
		for i, tt := range tests {
			vars[fmt.Sprintf("BAD%d", i)] = tt.ref
			wants = append(wants, fmt.Sprintf("BAD%d: %s: ", i, tt.ref))
		}
		got, err := fetchVars(t, t.Context(), ps, vars)
		if got != nil {
			t.Errorf("got %d values, want none", len(got))
		}
		checkError(t, "fetcher", err, canaries, wants...)
	})

	t.Run("missing only", func(t *testing.T) {
		before := srv.Calls("")
		_, errs := ps.FetchBatch(t.Context(), mustRefs(t, "ssm:///e/good", "ssm:///e/missing", "ssm:///e/good?version=9"))
		if errs[0] != nil {
			t.Errorf("/e/good: %v", errs[0])
		}
		checkNotFound(t, "missing", errs[1], true)
		checkNotFound(t, "missing version", errs[2], true)
		if n := srv.Calls("") - before; n != 1 {
			t.Errorf("got %d calls, want 1: InvalidParameters answer per name", n)
		}
	})
}

func TestParameterStoreThrottling(t *testing.T) {
	srv := emulator(t)
	v := resolvetest.Canary("throttle")
	srv.PutParameter("/thr/a", v, true)
	ps := awsstore.NewParameterStore(newSession())

	srv.Throttle(3)
	s, err := ps.Fetch(t.Context(), mustRef(t, "ssm:///thr/a"))
	if err != nil || string(s.Value) != v {
		t.Fatalf("throttled 3 times: %v", err)
	}
	if n := srv.Calls("GetParameters"); n != 4 {
		t.Errorf("throttled 3 times: got %d GetParameters calls, want 4", n)
	}

	srv.Throttle(100)
	before := srv.Calls("")
	_, errs := ps.FetchBatch(t.Context(), mustRefs(t, "ssm:///thr/a", "ssm:///thr/b"))
	for i, name := range []string{"/thr/a", "/thr/b"} {
		checkError(t, "throttled throughout", errs[i], []string{v}, fmt.Sprintf("parameter %q", name), "ThrottlingException")
		checkNotFound(t, "throttled throughout", errs[i], false)
	}
	if n := srv.Calls("") - before; n != awsstore.DefaultMaxAttempts {
		t.Errorf("throttled throughout: got %d calls, want %d (one batch, retried, not split)", n, awsstore.DefaultMaxAttempts)
	}
}
