package store_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/aws"
	"github.com/wardsecrets/ward/resolve/aws/awstest"
	awsstore "github.com/wardsecrets/ward/resolve/aws/store"
	"github.com/wardsecrets/ward/resolve/resolvetest"
)

const stsTestRole = "arn:aws:iam::" + awstest.AccountID + ":role/ward-sts-test"

// TestSTSAssumeRoleDocument assumes a role through the stores as ward's
// helper opens them, with the SDK's default chain pointed at the
// emulator: the document holds temporary credentials that the emulator
// accepts, expiring after the reference's duration, for its session name.
func TestSTSAssumeRoleDocument(t *testing.T) {
	srv := emulator(t)
	srv.AddRole(awstest.Role{ARN: stsTestRole, ExternalID: "ext-42"})
	srv.SetMinSessionDuration(time.Second)
	stores := awsstore.New(aws.Options{}, resolve.Env{})
	ref := stsTestRole + "?session_name=ci-deploy&duration=20s&external_id=ext-42"
	before := time.Now()
	got, err := fetchVars(t, t.Context(), stores, map[string]string{"DOC": "awssts://" + ref, "KEY": "awssts://" + ref + "#access_key_id"})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AccessKeyID     string `json:"access_key_id"`
		SecretAccessKey string `json:"secret_access_key"`
		SessionToken    string `json:"session_token"`
		Expiration      time.Time
		AssumedRoleARN  string `json:"assumed_role_arn"`
	}
	if err := json.Unmarshal(got["DOC"].Bytes, &doc); err != nil {
		t.Fatalf("the document is not JSON: %v", err)
	}
	if string(got["KEY"].Bytes) != doc.AccessKeyID || !srv.SessionKey(doc.AccessKeyID) {
		t.Errorf("the access key is not one the emulator issued, or #access_key_id selects another")
	}
	if doc.SecretAccessKey == "" || doc.SessionToken == "" {
		t.Errorf("the document lacks the secret key or the session token")
	}
	if life := doc.Expiration.Sub(before); life < 18*time.Second || life > 21*time.Second {
		t.Errorf("got credentials for %s, want 20s", life)
	}
	if !got["DOC"].Expires.Equal(doc.Expiration) || !got["KEY"].Expires.Equal(doc.Expiration) {
		t.Errorf("the values expire %v and %v, want the credentials' expiration %v (rotation reads them again before it)", got["DOC"].Expires, got["KEY"].Expires, doc.Expiration)
	}
	if want := "arn:aws:sts::" + awstest.AccountID + ":assumed-role/ward-sts-test/ci-deploy"; doc.AssumedRoleARN != want {
		t.Errorf("got assumed_role_arn %s, want %s", doc.AssumedRoleARN, want)
	}
	if n := srv.SignedBy("sts.AssumeRole")[awstest.AccessKeyID]; n != 1 {
		t.Errorf("got %d AssumeRole calls signed with ward's own key, want 1 (one per document)", n)
	}

	// Every read is a new session.
	again, err := fetchVars(t, t.Context(), stores, map[string]string{"KEY": "awssts://" + ref + "#access_key_id"})
	if err != nil {
		t.Fatal(err)
	}
	if string(again["KEY"].Bytes) == doc.AccessKeyID {
		t.Errorf("a second read gave the same access key")
	}
}

// TestSTSAssumeRoleErrors checks what a refused AssumeRole says: the role
// and what to check, never a credential.
func TestSTSAssumeRoleErrors(t *testing.T) {
	srv := emulator(t)
	srv.AddRole(awstest.Role{ARN: stsTestRole, ExternalID: "ext-42"})
	stores := awsstore.New(aws.Options{}, resolve.Env{})
	tests := []struct {
		name  string
		ref   string
		wants []string
	}{
		{"unknown role", "awssts://" + stsTestRole + "-nope", []string{"sts refused to let ward assume role " + stsTestRole + "-nope", "sts:AssumeRole", "trust policy"}},
		{"wrong external id", "awssts://" + stsTestRole + "?external_id=ext-0", []string{"assume role " + stsTestRole, "with this external_id"}},
		{"below AWS's minimum", "awssts://" + stsTestRole + "?external_id=ext-42&duration=15s", []string{"refused the session", "greater than or equal to 900"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fetchVars(t, t.Context(), stores, map[string]string{"DOC": tt.ref})
			checkError(t, tt.name, err, []string{awstest.SecretAccessKey}, tt.wants...)
		})
	}

	t.Run("bad credentials", func(t *testing.T) {
		t.Setenv("AWS_SECRET_ACCESS_KEY", "not-the-key")
		_, err := fetchVars(t, t.Context(), awsstore.New(aws.Options{}, resolve.Env{}), map[string]string{"DOC": "awssts://" + stsTestRole})
		checkError(t, "bad credentials", err, []string{"not-the-key"}, "rejected ward's AWS credentials", stsTestRole)
	})
}

// TestSTSReferences checks awssts:// references' grammar.
func TestSTSReferences(t *testing.T) {
	reg := resolve.NewRegistry(aws.Kind)
	tests := []struct {
		ref  string
		want string // "" for valid
	}{
		{"awssts://" + stsTestRole, ""},
		{"awssts://arn:aws-cn:iam::123456789012:role/path/to/deploy?session_name=a@b&duration=1h30m&external_id=x:y/z", ""},
		{"awssts://" + stsTestRole + "#session_token", ""},
		{"awssts://" + stsTestRole + "?duration=15s", ""},
		{"awssts://deploy", "want an IAM role's ARN"},
		{"awssts://arn:aws:iam::123456789012:user/bob", "want an IAM role's ARN"},
		{"awssts://" + stsTestRole + "?session_name=a", "invalid session_name"},
		{"awssts://" + stsTestRole + "?session_name=a%20b", "invalid session_name"},
		{"awssts://" + stsTestRole + "?duration=13h", "invalid duration"},
		{"awssts://" + stsTestRole + "?duration=500ms", "invalid duration"},
		{"awssts://" + stsTestRole + "?duration=-1h", "invalid duration"},
		{"awssts://" + stsTestRole + "?external_id=x", "invalid external_id"},
		{"awssts://" + stsTestRole + "?role=x", `unknown option "role"`},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			_, err := reg.ParseRef(tt.ref)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("got %v, want valid", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("got %v, want an error saying %q", err, tt.want)
			}
		})
	}
	r, _ := reg.ParseRef("awssts://" + stsTestRole)
	if aws.SessionDuration(r) != time.Hour || aws.SessionName(r) != "ward" {
		t.Errorf("got defaults %s and %q, want 1h and ward", aws.SessionDuration(r), aws.SessionName(r))
	}
}

// TestSignatureMismatchKeepsTokenOut: AWS answers a signature that does not
// match with the canonical request it expected, which holds every signed
// header, the session token (X-Amz-Security-Token) among them. ward's
// error names the secret and what to check, and never repeats the token,
// nor the canonical request.
func TestSignatureMismatchKeepsTokenOut(t *testing.T) {
	srv := emulator(t)
	srv.AddRole(awstest.Role{ARN: stsTestRole})
	srv.PutSecretString("sig/app", resolvetest.Canary("sig"))
	srv.PutParameter("/sig/app", resolvetest.Canary("sigp"), true)
	got, err := fetchVars(t, t.Context(), awsstore.New(aws.Options{}, resolve.Env{}), map[string]string{"DOC": "awssts://" + stsTestRole})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AccessKeyID  string `json:"access_key_id"`
		SessionToken string `json:"session_token"`
	}
	if err := json.Unmarshal(got["DOC"].Bytes, &doc); err != nil || doc.SessionToken == "" {
		t.Fatalf("no session token: %v", err)
	}
	// The session's key with a secret key that is not its own.
	t.Setenv("AWS_ACCESS_KEY_ID", doc.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong+SecretAccessKey/00000000000000000000")
	t.Setenv("AWS_SESSION_TOKEN", doc.SessionToken)
	for ref, code := range map[string]string{
		"awssm://sig/app":         "InvalidSignatureException",
		"ssm:///sig/app":          "InvalidSignatureException",
		"awssts://" + stsTestRole: "SignatureDoesNotMatch",
	} {
		_, err := fetchVars(t, t.Context(), awsstore.New(aws.Options{}, resolve.Env{}), map[string]string{"APP": ref})
		checkError(t, ref, err, []string{doc.SessionToken}, "rejected ward's AWS credentials", code)
		if err != nil && strings.Contains(err.Error(), "Canonical String") {
			t.Errorf("%s: the error repeats the canonical request AWS expected", ref)
		}
	}
}
