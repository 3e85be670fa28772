package store_test

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"

	"github.com/wardsecrets/ward/resolve"
	awsstore "github.com/wardsecrets/ward/resolve/aws/store"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

func TestSecretsManagerJSONFields(t *testing.T) {
	srv := emulator(t)
	user, pass := resolvetest.Canary("user"), resolvetest.Canary("pass")
	doc := fmt.Sprintf(`{"username":%q,"password":%q,"port":5432,"tls":{ "verify": true, "ca": "x" },"none":null}`, user, pass)
	version := srv.PutSecretString("prod/db", doc)

	sm := awsstore.NewSecretsManager(newSession())
	got, err := fetchVars(t, t.Context(), sm, map[string]string{
		"USER": "awssm://prod/db#username",
		"PASS": "awssm://prod/db#password",
		"PORT": "awssm://prod/db#port",
		"TLS":  "awssm://prod/db#tls",
		"NONE": "awssm://prod/db#none",
		"DOC":  "awssm://prod/db",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"USER": user, "PASS": pass, "PORT": "5432", "TLS": `{"verify":true,"ca":"x"}`, "NONE": "", "DOC": doc}
	for name, w := range want {
		if string(got[name].Bytes) != w {
			t.Errorf("%s: got a wrong value (%d bytes, want %d)", name, len(got[name].Bytes), len(w))
		}
		if got[name].Version != version {
			t.Errorf("%s: got Version=%q, want %q", name, got[name].Version, version)
		}
	}
	if n := srv.Calls(""); n != 1 {
		t.Errorf("six variables of one secret: got %d calls, want 1", n)
	}

	_, err = fetchVars(t, t.Context(), sm, map[string]string{"X": "awssm://prod/db#nope"})
	checkError(t, "missing field", err, []string{user, pass}, "X: awssm://prod/db#nope", `"username"`, `"password"`)
}

func TestSecretsManagerBinary(t *testing.T) {
	srv := emulator(t)
	bin := append([]byte{0, 0xff, 0xfe, '\n'}, resolvetest.Canary("bin")...)
	str := resolvetest.Canary("str")
	version := srv.PutSecretBinary("app/key", bin)
	srv.PutSecretString("app/str", str)
	sm := awsstore.NewSecretsManager(newSession())

	s, err := sm.Fetch(t.Context(), mustRef(t, "awssm://app/key"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Value, bin) || s.Version != version {
		t.Errorf("Fetch: got %d bytes at version %q, want the %d raw bytes at %q", len(s.Value), s.Version, len(bin), version)
	}

	secrets, errs := sm.FetchBatch(t.Context(), mustRefs(t, "awssm://app/key", "awssm://app/str"))
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("FetchBatch: %v, %v", errs[0], errs[1])
	}
	if !bytes.Equal(secrets[0].Value, bin) || string(secrets[1].Value) != str {
		t.Errorf("FetchBatch: got wrong values")
	}

	_, err = fetchVars(t, t.Context(), sm, map[string]string{"F": "awssm://app/key#field"})
	checkError(t, "field of a binary secret", err, []string{string(bin)}, "F: awssm://app/key#field", "not a JSON object")
}

func TestSecretsManagerStagesAndVersionIDs(t *testing.T) {
	srv := emulator(t)
	old, cur := resolvetest.Canary("old"), resolvetest.Canary("cur")
	v1 := srv.PutSecretString("rot", old)
	v2 := srv.PutSecretString("rot", cur)
	sm := awsstore.NewSecretsManager(newSession())

	got, err := fetchVars(t, t.Context(), sm, map[string]string{
		"CUR":  "awssm://rot",
		"CUR2": "awssm://rot?stage=AWSCURRENT",
		"PREV": "awssm://rot?stage=AWSPREVIOUS",
		"V1":   "awssm://rot?version_id=" + v1,
		"V2":   "awssm://rot?version_id=" + v2,
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]string{"CUR": {cur, v2}, "CUR2": {cur, v2}, "PREV": {old, v1}, "V1": {old, v1}, "V2": {cur, v2}}
	for name, w := range want {
		if string(got[name].Bytes) != w[0] || got[name].Version != w[1] {
			t.Errorf("%s: got version %q (value right: %v), want version %q", name, got[name].Version, string(got[name].Bytes) == w[0], w[1])
		}
	}
	if b, g := srv.Calls("BatchGetSecretValue"), srv.Calls("GetSecretValue"); b != 1 || g != 4 {
		t.Errorf("got %d BatchGetSecretValue and %d GetSecretValue calls, want 1 and 4 (a batch cannot select versions)", b, g)
	}

	_, err = sm.Fetch(t.Context(), mustRef(t, "awssm://rot?stage=AWSPENDING"))
	checkError(t, "missing stage", err, []string{old, cur}, `secret "rot" (stage "AWSPENDING")`, "not found")
	checkNotFound(t, "missing stage", err, true)
	_, err = sm.Fetch(t.Context(), mustRef(t, "awssm://rot?version_id=00000000-0000-4000-8000-000000000000"))
	checkError(t, "missing version id", err, []string{old, cur}, `secret "rot" (version id "00000000-0000-4000-8000-000000000000")`, "not found")
	checkNotFound(t, "missing version id", err, true)
}

func TestSecretsManagerARNs(t *testing.T) {
	srv := emulator(t)
	vals := map[string]string{}
	for _, n := range []string{"arn/a", "arn/b", "arn/c"} {
		vals[n] = resolvetest.Canary("arn")
		srv.PutSecretString(n, vals[n])
	}
	tests := []struct{ ref, secret string }{
		{"awssm://arn/a", "arn/a"},
		{"awssm://" + srv.SecretARN("arn/b"), "arn/b"},
		{"awssm://" + partialARNPrefix + "arn/c", "arn/c"},
		{"awssm://" + partialARNPrefix + "arn/a", "arn/a"},
		{"awssm://" + srv.SecretARN("arn/c"), "arn/c"},
	}
	sm := awsstore.NewSecretsManager(newSession())
	refs := make([]resolve.Ref, len(tests))
	for i, tt := range tests {
		refs[i] = mustRef(t, tt.ref)
	}
	secrets, errs := sm.FetchBatch(t.Context(), refs)
	for i, tt := range tests {
		if errs[i] != nil {
			t.Errorf("batch %s: %v", tt.ref, errs[i])
		} else if string(secrets[i].Value) != vals[tt.secret] {
			t.Errorf("batch %s: got the value of another secret", tt.ref)
		}
	}
	if b, g := srv.Calls("BatchGetSecretValue"), srv.Calls("GetSecretValue"); b != 1 || g != 0 {
		t.Errorf("got %d BatchGetSecretValue and %d GetSecretValue calls, want 1 and 0: every ARN should match its result", b, g)
	}
	for i, tt := range tests {
		s, err := sm.Fetch(t.Context(), refs[i])
		if err != nil {
			t.Errorf("fetch %s: %v", tt.ref, err)
		} else if string(s.Value) != vals[tt.secret] {
			t.Errorf("fetch %s: got the value of another secret", tt.ref)
		}
	}
}

func TestSecretsManagerLargeBatch(t *testing.T) {
	srv := emulator(t)
	vars, want := map[string]string{}, map[string]string{}
	for i := range 45 {
		name := fmt.Sprintf("big/s%02d", i)
		want[name] = resolvetest.Canary("big")
		srv.PutSecretString(name, want[name])
		vars[fmt.Sprintf("S%02d", i)] = "awssm://" + name
	}
	got, err := fetchVars(t, t.Context(), awsstore.NewSecretsManager(newSession()), vars)
	if err != nil {
		t.Fatal(err)
	}
	for v, ref := range vars {
		if string(got[v].Bytes) != want[ref[len("awssm://"):]] {
			t.Errorf("%s: got the value of another secret", v)
		}
	}
	if b, g := srv.Calls("BatchGetSecretValue"), srv.Calls("GetSecretValue"); b != 3 || g != 0 {
		t.Errorf("45 secrets: got %d BatchGetSecretValue and %d GetSecretValue calls, want 3 and 0", b, g)
	}
}

func TestSecretsManagerDuplicatesFetchedOnce(t *testing.T) {
	srv := emulator(t)
	vars := map[string]string{}
	for i := range 12 {
		name := fmt.Sprintf("dup/s%d", i)
		srv.PutSecretString(name, fmt.Sprintf(`{"a":%q,"b":%q}`, resolvetest.Canary("a"), resolvetest.Canary("b")))
		vars[fmt.Sprintf("WHOLE%d", i)] = "awssm://" + name
		vars[fmt.Sprintf("WHOLE%d_AGAIN", i)] = "awssm://" + name
		vars[fmt.Sprintf("A%d", i)] = "awssm://" + name + "#a"
		vars[fmt.Sprintf("B%d", i)] = "awssm://" + name + "#b"
	}
	if _, err := fetchVars(t, t.Context(), awsstore.NewSecretsManager(newSession()), vars); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls(""); n != 1 {
		t.Errorf("48 variables over 12 secrets: got %d calls, want 1", n)
	}
}

func TestSecretsManagerConcurrencyBound(t *testing.T) {
	srv := emulator(t)
	var refs []resolve.Ref
	for i := range 30 {
		name := fmt.Sprintf("conc/s%d", i)
		srv.PutSecretString(name, resolvetest.Canary("conc"))
		refs = append(refs, mustRef(t, "awssm://"+name))
	}
	session := newSession()
	var flight inFlight
	awsstore.AddAPIOptionForTest(session, flight.middleware)
	sm := awsstore.NewSecretsManager(session)
	sm.NoBatch, sm.Concurrency = true, 3
	_, errs := sm.FetchBatch(t.Context(), refs)
	for i, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", refs[i].Raw, err)
		}
	}
	if n := srv.Calls("GetSecretValue"); n != 30 {
		t.Errorf("NoBatch: got %d GetSecretValue calls, want 30", n)
	}
	if n := srv.Calls("BatchGetSecretValue"); n != 0 {
		t.Errorf("NoBatch: got %d BatchGetSecretValue calls, want 0", n)
	}
	if p := flight.peak(); p > 3 {
		t.Errorf("got %d requests in flight at once, want at most 3", p)
	}
}

func TestSecretsManagerThrottling(t *testing.T) {
	srv := emulator(t)
	v := resolvetest.Canary("throttle")
	srv.PutSecretString("thr/a", v)
	srv.PutSecretString("thr/b", v)
	sm := awsstore.NewSecretsManager(newSession())

	srv.Throttle(3)
	if _, err := sm.Fetch(t.Context(), mustRef(t, "awssm://thr/a")); err != nil {
		t.Fatalf("throttled 3 times: %v", err)
	}
	if n := srv.Calls("GetSecretValue"); n != 4 {
		t.Errorf("throttled 3 times: got %d GetSecretValue calls, want 4", n)
	}

	srv.Throttle(3)
	_, errs := sm.FetchBatch(t.Context(), mustRefs(t, "awssm://thr/a", "awssm://thr/b"))
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("batch throttled 3 times: %v, %v", errs[0], errs[1])
	}
	if n := srv.Calls("BatchGetSecretValue"); n != 4 {
		t.Errorf("batch throttled 3 times: got %d BatchGetSecretValue calls, want 4", n)
	}

	srv.FailInternal(2)
	if _, err := sm.Fetch(t.Context(), mustRef(t, "awssm://thr/b")); err != nil {
		t.Fatalf("two internal errors: %v", err)
	}

	srv.Throttle(100)
	before := srv.Calls("GetSecretValue")
	_, err := sm.Fetch(t.Context(), mustRef(t, "awssm://thr/a"))
	checkError(t, "throttled throughout", err, []string{v}, `secret "thr/a"`, "ThrottlingException")
	if n := srv.Calls("GetSecretValue") - before; n != awsstore.DefaultMaxAttempts {
		t.Errorf("throttled throughout: got %d attempts, want %d", n, awsstore.DefaultMaxAttempts)
	}
}

// TestRetriesAfterAnOutage: ward-aws lives as long as ward, polling for
// months. The SDK's retry quota (a bucket of 500 tokens per client, 5 a
// throttled retry and 14 another, one back per call that succeeds at
// once) ran dry after some 25 reads that failed throughout an outage or a
// throttling storm, and for hundreds of polls after it a single throttle
// or 5xx failed the read at once instead of being retried.
func TestRetriesAfterAnOutage(t *testing.T) {
	srv := emulator(t)
	v := resolvetest.Canary("outage")
	srv.PutSecretString("out/s", v)
	srv.PutParameter("/out/p", v, true)
	session := newSession()
	sm, ps := awsstore.NewSecretsManager(session), awsstore.NewParameterStore(session)
	secret, param := mustRef(t, "awssm://out/s"), mustRef(t, "ssm:///out/p")
	for range 40 {
		srv.Throttle(awsstore.DefaultMaxAttempts)
		if _, err := sm.Fetch(t.Context(), secret); err == nil {
			t.Fatal("a read throttled throughout succeeded")
		}
		srv.FailInternal(awsstore.DefaultMaxAttempts)
		if _, err := ps.Fetch(t.Context(), param); err == nil {
			t.Fatal("a read that met internal errors throughout succeeded")
		}
	}

	srv.Throttle(2)
	before := srv.Calls("")
	if _, err := sm.Fetch(t.Context(), secret); err != nil {
		checkError(t, "throttled twice after the storm", err, []string{v})
		t.Errorf("throttled twice after the storm: the read failed: %v", err)
	}
	if n := srv.Calls("") - before; n != 3 {
		t.Errorf("throttled twice after the storm: got %d calls, want 3", n)
	}
	srv.FailInternal(2)
	before = srv.Calls("")
	if _, err := ps.Fetch(t.Context(), param); err != nil {
		checkError(t, "two internal errors after the outage", err, []string{v})
		t.Errorf("two internal errors after the outage: the read failed: %v", err)
	}
	if n := srv.Calls("") - before; n != 3 {
		t.Errorf("two internal errors after the outage: got %d calls, want 3", n)
	}
}

func TestSecretsManagerErrors(t *testing.T) {
	srv := emulator(t)
	good, denied, undecryptable, deleted := resolvetest.Canary("good"), resolvetest.Canary("denied"), resolvetest.Canary("kms"), resolvetest.Canary("deleted")
	keyDenied := resolvetest.Canary("kmskey")
	canaries := []string{good, denied, undecryptable, deleted, keyDenied}
	srv.PutSecretString("err/good", good)
	srv.PutSecretString("err/denied", denied)
	srv.PutSecretString("err/kms", undecryptable)
	srv.PutSecretString("err/deleted", deleted)
	srv.Deny("err/denied")
	srv.FailDecrypt("err/kms")
	srv.ScheduleDeletion("err/deleted")
	srv.PutSecretString("err/kmskey", keyDenied)
	srv.DenyKMS("err/kmskey")

	tests := []struct {
		name     string
		ref      string
		notFound bool
		wants    []string
	}{
		// Secrets are regional: the hint names the region asked and the
		// way to another.
		{"not found", "awssm://err/missing", true, []string{`secret "err/missing"`, "us-east-1", "not found", "another region", "by its ARN"}},
		{"access denied", "awssm://err/denied", false, []string{`secret "err/denied"`, "secretsmanager:GetSecretValue", "kms:Decrypt", "AccessDeniedException"}},
		{"decryption failure", "awssm://err/kms", false, []string{`secret "err/kms"`, "cannot decrypt", "kms:Decrypt", "DecryptionFailure"}},
		// Allowed the secret, not its key: the fault is KMS's, not IAM's
		// on the secret.
		{"KMS key not allowed", "awssm://err/kmskey", false, []string{`secret "err/kmskey"`, "cannot decrypt", "kms:Decrypt", "Access to KMS is not allowed"}},
		{"scheduled for deletion", "awssm://err/deleted", false, []string{`secret "err/deleted"`, "scheduled for deletion",
			"aws secretsmanager restore-secret --secret-id err/deleted --region us-east-1", "InvalidRequestException"}},
	}
	sm := awsstore.NewSecretsManager(newSession())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Calls("GetSecretValue")
			_, err := sm.Fetch(t.Context(), mustRef(t, tt.ref))
			checkError(t, "Fetch", err, canaries, tt.wants...)
			checkNotFound(t, "Fetch", err, tt.notFound)
			if n := srv.Calls("GetSecretValue") - before; n != 1 {
				t.Errorf("Fetch: got %d attempts, want 1 (this error is not retried)", n)
			}
		})
	}

	t.Run("in a batch", func(t *testing.T) {
		before := srv.Calls("")
		refs := []resolve.Ref{mustRef(t, "awssm://err/good")}
		for _, tt := range tests {
			refs = append(refs, mustRef(t, tt.ref))
		}
		secrets, errs := sm.FetchBatch(t.Context(), refs)
		if errs[0] != nil || string(secrets[0].Value) != good {
			t.Errorf("the good secret of the batch did not resolve: %v", errs[0])
		}
		for i, tt := range tests {
			checkError(t, tt.name, errs[i+1], canaries, tt.wants...)
			checkNotFound(t, tt.name, errs[i+1], tt.notFound)
		}
		if n := srv.Calls("") - before; n != 1 {
			t.Errorf("got %d calls, want 1 BatchGetSecretValue", n)
		}
	})

	t.Run("through the fetcher", func(t *testing.T) {
		vars := map[string]string{"GOOD": "awssm://err/good"}
		for i, tt := range tests {
			vars[fmt.Sprintf("BAD%d", i)] = tt.ref + "#field"
		}
		got, err := fetchVars(t, t.Context(), sm, vars)
		if got != nil {
			t.Errorf("got %d values, want none", len(got))
		}
		wants := []string{fmt.Sprintf("%d secrets could not be resolved", len(tests))}
		for i, tt := range tests {
			wants = append(wants, fmt.Sprintf("BAD%d: %s#field: ", i, tt.ref))
		}
		checkError(t, "fetcher", err, canaries, wants...)
	})
}

func TestSecretsManagerBatchDeniedFallsBack(t *testing.T) {
	srv := emulator(t)
	var refs []resolve.Ref
	want := map[string]string{}
	for i := range 5 {
		name := fmt.Sprintf("fb/s%d", i)
		want[name] = resolvetest.Canary("fb")
		srv.PutSecretString(name, want[name])
		refs = append(refs, mustRef(t, "awssm://"+name))
	}
	session := newSession()
	var batchCalls atomic.Int32
	awsstore.AddAPIOptionForTest(session, denyBatch(&batchCalls))
	sm := awsstore.NewSecretsManager(session)

	for round := 1; round <= 2; round++ {
		secrets, errs := sm.FetchBatch(t.Context(), refs)
		for i, r := range refs {
			if errs[i] != nil {
				t.Errorf("round %d: %s: %v", round, r.Raw, errs[i])
			} else if string(secrets[i].Value) != want[r.Path] {
				t.Errorf("round %d: %s: got the value of another secret", round, r.Raw)
			}
		}
	}
	if n := batchCalls.Load(); n != 1 {
		t.Errorf("got %d BatchGetSecretValue attempts, want 1: a denied batch call is not tried again", n)
	}
	if n := srv.Calls("GetSecretValue"); n != 10 {
		t.Errorf("got %d GetSecretValue calls, want 10", n)
	}
}

// denyBatch fails every BatchGetSecretValue call as IAM does when a policy
// grants secretsmanager:GetSecretValue only, counting the attempts.
func denyBatch(calls *atomic.Int32) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		return st.Initialize.Add(middleware.InitializeMiddlewareFunc("wardTestDenyBatch",
			func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if _, ok := in.Parameters.(*secretsmanager.BatchGetSecretValueInput); ok {
					calls.Add(1)
					return middleware.InitializeOutput{}, middleware.Metadata{}, &smithy.GenericAPIError{
						Code:    "AccessDeniedException",
						Message: "User: arn:aws:iam::123456789012:user/x is not authorized to perform: secretsmanager:BatchGetSecretValue",
					}
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.Before)
	}
}
