package awstest_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/wardsecrets/ward/resolve/aws/awstest"
)

const maxAttempts = 3

// sdkConfig is a client configuration for the emulator: static test
// credentials and a standard retryer with maxAttempts attempts and no backoff
// delay, so that retry tests run without waiting.
func sdkConfig(accessKey, secretKey string) aws.Config {
	return aws.Config{
		Region:      awstest.Region,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = maxAttempts
				o.RateLimiter = ratelimit.None
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
			})
		},
	}
}

func clients(t *testing.T) (*awstest.Server, *secretsmanager.Client, *ssm.Client) {
	t.Helper()
	srv := awstest.New()
	t.Cleanup(srv.Close)
	sm, ps := clientsFor(srv, awstest.AccessKeyID, awstest.SecretAccessKey)
	return srv, sm, ps
}

func clientsFor(srv *awstest.Server, accessKey, secretKey string) (*secretsmanager.Client, *ssm.Client) {
	cfg := sdkConfig(accessKey, secretKey)
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(srv.URL()) })
	ps := ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(srv.URL()) })
	return sm, ps
}

type apiError interface {
	ErrorCode() string
	ErrorMessage() string
}

type httpStatusError interface{ HTTPStatusCode() int }

// wantAPIError checks err is an AWS API error with the given code and HTTP
// status, and returns its message.
func wantAPIError(t *testing.T, err error, code string, status int) string {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %s", code)
	}
	var ae apiError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an API error, want %s", err, err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("error code = %q (%v), want %q", ae.ErrorCode(), err, code)
	}
	var he httpStatusError
	if !errors.As(err, &he) {
		t.Fatalf("error %v carries no HTTP status", err)
	}
	if he.HTTPStatusCode() != status {
		t.Fatalf("HTTP status = %d, want %d (%v)", he.HTTPStatusCode(), status, err)
	}
	return ae.ErrorMessage()
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// ---------------------------------------------------------------------------
// Secrets Manager

func TestGetSecretValueByNameAndARN(t *testing.T) {
	srv, sm, _ := clients(t)
	before := time.Now().Add(-time.Second)
	vid := srv.PutSecretString("prod/db/password", "hunter2")
	arn := srv.SecretARN("prod/db/password")
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:"+awstest.AccountID+":secret:prod/db/password-") ||
		len(arn) != len("arn:aws:secretsmanager:us-east-1:"+awstest.AccountID+":secret:prod/db/password-")+6 {
		t.Fatalf("ARN %q lacks the -XXXXXX suffix form", arn)
	}
	partial := strings.TrimSuffix(arn, arn[len(arn)-7:])

	for _, id := range []string{"prod/db/password", arn, partial} {
		out, err := sm.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if err != nil {
			t.Fatalf("GetSecretValue(%q): %v", id, err)
		}
		if aws.ToString(out.ARN) != arn || aws.ToString(out.Name) != "prod/db/password" || aws.ToString(out.VersionId) != vid {
			t.Errorf("GetSecretValue(%q) = ARN %q Name %q VersionId %q", id, aws.ToString(out.ARN), aws.ToString(out.Name), aws.ToString(out.VersionId))
		}
		if aws.ToString(out.SecretString) != "hunter2" || out.SecretBinary != nil {
			t.Errorf("GetSecretValue(%q) value = %q / %v", id, aws.ToString(out.SecretString), out.SecretBinary)
		}
		if !reflect.DeepEqual(out.VersionStages, []string{"AWSCURRENT"}) {
			t.Errorf("VersionStages = %v", out.VersionStages)
		}
		if out.CreatedDate == nil || out.CreatedDate.Before(before) || out.CreatedDate.After(time.Now().Add(time.Second)) {
			t.Errorf("CreatedDate = %v", out.CreatedDate)
		}
	}
	if got := srv.Calls("secretsmanager.GetSecretValue"); got != 3 {
		t.Errorf("Calls = %d, want 3", got)
	}
}

func TestGetSecretValueBinary(t *testing.T) {
	srv, sm, _ := clients(t)
	blob := []byte{0, 1, 2, 0xff, 'x'}
	srv.PutSecretBinary("tls/key", blob)
	out, err := sm.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String("tls/key")})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.SecretBinary, blob) || out.SecretString != nil {
		t.Fatalf("got binary %v string %v", out.SecretBinary, out.SecretString)
	}
}

func TestStagingLabelsMoveOnPutSecretValue(t *testing.T) {
	srv, sm, _ := clients(t)
	c := ctx(t)
	v1 := srv.PutSecretString("app/token", "one")
	put, err := sm.PutSecretValue(c, &secretsmanager.PutSecretValueInput{SecretId: aws.String("app/token"), SecretString: aws.String("two")})
	if err != nil {
		t.Fatal(err)
	}
	v2 := aws.ToString(put.VersionId)
	if v2 == "" || v2 == v1 || !reflect.DeepEqual(put.VersionStages, []string{"AWSCURRENT"}) || aws.ToString(put.ARN) != srv.SecretARN("app/token") {
		t.Fatalf("PutSecretValue = %+v", put)
	}

	get := func(in *secretsmanager.GetSecretValueInput) *secretsmanager.GetSecretValueOutput {
		t.Helper()
		in.SecretId = aws.String("app/token")
		out, err := sm.GetSecretValue(c, in)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if out := get(&secretsmanager.GetSecretValueInput{}); aws.ToString(out.SecretString) != "two" || aws.ToString(out.VersionId) != v2 {
		t.Errorf("default read = %q (%s)", aws.ToString(out.SecretString), aws.ToString(out.VersionId))
	}
	if out := get(&secretsmanager.GetSecretValueInput{VersionStage: aws.String("AWSPREVIOUS")}); aws.ToString(out.SecretString) != "one" ||
		!reflect.DeepEqual(out.VersionStages, []string{"AWSPREVIOUS"}) {
		t.Errorf("AWSPREVIOUS read = %q %v", aws.ToString(out.SecretString), out.VersionStages)
	}
	if out := get(&secretsmanager.GetSecretValueInput{VersionId: aws.String(v1), VersionStage: aws.String("AWSPREVIOUS")}); aws.ToString(out.SecretString) != "one" {
		t.Errorf("VersionId+VersionStage read = %q", aws.ToString(out.SecretString))
	}

	// A version put with only a custom label leaves AWSCURRENT alone.
	pend, err := sm.PutSecretValue(c, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String("app/token"), SecretString: aws.String("pending"), VersionStages: []string{"AWSPENDING"}})
	if err != nil {
		t.Fatal(err)
	}
	if out := get(&secretsmanager.GetSecretValueInput{}); aws.ToString(out.SecretString) != "two" {
		t.Errorf("AWSPENDING put moved AWSCURRENT: %q", aws.ToString(out.SecretString))
	}

	// A third current version: v1 loses its last label but stays readable by id.
	v3 := srv.PutSecretString("app/token", "three")
	if out := get(&secretsmanager.GetSecretValueInput{VersionId: aws.String(v1)}); aws.ToString(out.SecretString) != "one" || len(out.VersionStages) != 0 {
		t.Errorf("deprecated version read = %q %v", aws.ToString(out.SecretString), out.VersionStages)
	}
	desc, err := sm.DescribeSecret(c, &secretsmanager.DescribeSecretInput{SecretId: aws.String("app/token")})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{v3: {"AWSCURRENT"}, v2: {"AWSPREVIOUS"}, aws.ToString(pend.VersionId): {"AWSPENDING"}}
	if !reflect.DeepEqual(desc.VersionIdsToStages, want) {
		t.Errorf("VersionIdsToStages = %v, want %v", desc.VersionIdsToStages, want)
	}
}

func TestGetSecretValueNotFound(t *testing.T) {
	srv, sm, _ := clients(t)
	c := ctx(t)
	srv.PutSecretString("exists", "v")
	for _, in := range []*secretsmanager.GetSecretValueInput{
		{SecretId: aws.String("missing")},
		{SecretId: aws.String("arn:aws:secretsmanager:us-east-1:" + awstest.AccountID + ":secret:missing-AbCdEf")},
		{SecretId: aws.String("exists"), VersionId: aws.String("00000000-0000-4000-8000-000000000000")},
		{SecretId: aws.String("exists"), VersionStage: aws.String("AWSPENDING")},
	} {
		_, err := sm.GetSecretValue(c, in)
		var rnf *smtypes.ResourceNotFoundException
		if !errors.As(err, &rnf) {
			t.Fatalf("GetSecretValue(%+v) err = %v, want ResourceNotFoundException", in, err)
		}
		if msg := wantAPIError(t, err, "ResourceNotFoundException", 400); !strings.Contains(msg, "Secrets Manager can't find the specified secret") {
			t.Errorf("message = %q", msg)
		}
	}
}

func TestCreateSecret(t *testing.T) {
	_, sm, _ := clients(t)
	c := ctx(t)
	out, err := sm.CreateSecret(c, &secretsmanager.CreateSecretInput{
		Name: aws.String("svc/api-key"), SecretString: aws.String("k3y"), Description: aws.String("api key"),
		Tags: []smtypes.Tag{{Key: aws.String("team"), Value: aws.String("ward")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Name) != "svc/api-key" || !strings.Contains(aws.ToString(out.ARN), ":secret:svc/api-key-") || aws.ToString(out.VersionId) == "" {
		t.Fatalf("CreateSecret = %+v", out)
	}
	got, err := sm.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: out.ARN})
	if err != nil || aws.ToString(got.SecretString) != "k3y" || aws.ToString(got.VersionId) != aws.ToString(out.VersionId) {
		t.Fatalf("read back: %v %+v", err, got)
	}
	desc, err := sm.DescribeSecret(c, &secretsmanager.DescribeSecretInput{SecretId: aws.String("svc/api-key")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(desc.Description) != "api key" || len(desc.Tags) != 1 || aws.ToString(desc.Tags[0].Key) != "team" ||
		desc.CreatedDate == nil || desc.LastChangedDate == nil || desc.LastAccessedDate == nil || aws.ToString(desc.ARN) != aws.ToString(out.ARN) {
		t.Errorf("DescribeSecret = %+v", desc)
	}

	_, err = sm.CreateSecret(c, &secretsmanager.CreateSecretInput{Name: aws.String("svc/api-key"), SecretString: aws.String("other")})
	var exists *smtypes.ResourceExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("duplicate CreateSecret err = %v", err)
	}

	// A secret with no value yet has no AWSCURRENT version.
	if _, err := sm.CreateSecret(c, &secretsmanager.CreateSecretInput{Name: aws.String("empty")}); err != nil {
		t.Fatal(err)
	}
	_, err = sm.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("empty")})
	if msg := wantAPIError(t, err, "ResourceNotFoundException", 400); !strings.Contains(msg, "staging label: AWSCURRENT") {
		t.Errorf("message = %q", msg)
	}

	_, err = sm.CreateSecret(c, &secretsmanager.CreateSecretInput{Name: aws.String("bad name!")})
	wantAPIError(t, err, "ValidationException", 400)

	_, err = sm.CreateSecret(c, &secretsmanager.CreateSecretInput{Name: aws.String("both"), SecretString: aws.String("s"), SecretBinary: []byte("b")})
	var inv *smtypes.InvalidParameterException
	if !errors.As(err, &inv) {
		t.Fatalf("string+binary err = %v", err)
	}
}

func TestPutSecretValueClientRequestToken(t *testing.T) {
	srv, sm, _ := clients(t)
	c := ctx(t)
	srv.PutSecretString("tok", "a")
	token := "11111111-2222-4333-8444-555555555555"
	first, err := sm.PutSecretValue(c, &secretsmanager.PutSecretValueInput{SecretId: aws.String("tok"), SecretString: aws.String("b"), ClientRequestToken: aws.String(token)})
	if err != nil || aws.ToString(first.VersionId) != token {
		t.Fatalf("PutSecretValue = %+v, %v", first, err)
	}
	// A retry with the same token and value is a no-op.
	again, err := sm.PutSecretValue(c, &secretsmanager.PutSecretValueInput{SecretId: aws.String("tok"), SecretString: aws.String("b"), ClientRequestToken: aws.String(token)})
	if err != nil || aws.ToString(again.VersionId) != token {
		t.Fatalf("retried PutSecretValue = %+v, %v", again, err)
	}
	prev, err := sm.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("tok"), VersionStage: aws.String("AWSPREVIOUS")})
	if err != nil || aws.ToString(prev.SecretString) != "a" {
		t.Fatalf("AWSPREVIOUS after idempotent retry = %+v, %v", prev, err)
	}
	_, err = sm.PutSecretValue(c, &secretsmanager.PutSecretValueInput{SecretId: aws.String("tok"), SecretString: aws.String("c"), ClientRequestToken: aws.String(token)})
	var exists *smtypes.ResourceExistsException
	if !errors.As(err, &exists) {
		t.Fatalf("changed value under same token: err = %v", err)
	}
	_, err = sm.PutSecretValue(c, &secretsmanager.PutSecretValueInput{SecretId: aws.String("nope"), SecretString: aws.String("x")})
	var rnf *smtypes.ResourceNotFoundException
	if !errors.As(err, &rnf) {
		t.Fatalf("PutSecretValue on missing secret: err = %v", err)
	}
}

func TestBatchGetSecretValue(t *testing.T) {
	srv, sm, _ := clients(t)
	a := srv.PutSecretString("batch/a", "A")
	srv.PutSecretBinary("batch/b", []byte("B"))
	srv.PutSecretString("batch/denied", "no")
	srv.PutSecretString("batch/kms", "no")
	srv.Deny("batch/denied")
	srv.FailDecrypt("batch/kms")

	ids := []string{"batch/a", srv.SecretARN("batch/b"), "batch/missing", "batch/denied", "batch/kms"}
	out, err := sm.BatchGetSecretValue(ctx(t), &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.SecretValues) != 2 {
		t.Fatalf("SecretValues = %+v", out.SecretValues)
	}
	sv := out.SecretValues[0]
	if aws.ToString(sv.Name) != "batch/a" || aws.ToString(sv.SecretString) != "A" || aws.ToString(sv.VersionId) != a ||
		aws.ToString(sv.ARN) != srv.SecretARN("batch/a") || sv.CreatedDate == nil || !reflect.DeepEqual(sv.VersionStages, []string{"AWSCURRENT"}) {
		t.Errorf("SecretValues[0] = %+v", sv)
	}
	if sv := out.SecretValues[1]; aws.ToString(sv.Name) != "batch/b" || string(sv.SecretBinary) != "B" {
		t.Errorf("SecretValues[1] = %+v", sv)
	}
	got := map[string]string{}
	for _, e := range out.Errors {
		got[aws.ToString(e.SecretId)] = aws.ToString(e.ErrorCode)
		if aws.ToString(e.Message) == "" {
			t.Errorf("error entry without message: %+v", e)
		}
	}
	want := map[string]string{"batch/missing": "ResourceNotFoundException", "batch/denied": "AccessDeniedException", "batch/kms": "DecryptionFailure"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Errors = %v, want %v", got, want)
	}
}

func TestBatchGetSecretValueLimits(t *testing.T) {
	srv, sm, _ := clients(t)
	c := ctx(t)
	ids := make([]string, 21)
	for i := range ids {
		ids[i] = fmt.Sprintf("s%d", i)
	}
	_, err := sm.BatchGetSecretValue(c, &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids})
	if msg := wantAPIError(t, err, "ValidationException", 400); !strings.Contains(msg, "less than or equal to 20") {
		t.Errorf("message = %q", msg)
	}
	if n := srv.Calls("secretsmanager.BatchGetSecretValue"); n != 1 {
		t.Errorf("ValidationException was retried: %d calls", n)
	}
	// Exactly 20 is fine.
	if _, err := sm.BatchGetSecretValue(c, &secretsmanager.BatchGetSecretValueInput{SecretIdList: ids[:20]}); err != nil {
		t.Fatal(err)
	}
	_, err = sm.BatchGetSecretValue(c, &secretsmanager.BatchGetSecretValueInput{
		Filters: []smtypes.Filter{{Key: smtypes.FilterNameStringTypeName, Values: []string{"x"}}}})
	wantAPIError(t, err, "ValidationException", 400)
}

func TestSecretsManagerAccessDenied(t *testing.T) {
	srv, sm, _ := clients(t)
	c := ctx(t)
	srv.PutSecretString("prod/db", "x")
	srv.PutSecretString("dev/db", "y")
	srv.Deny("prod/")
	for _, id := range []string{"prod/db", srv.SecretARN("prod/db"), "prod/not-there"} {
		_, err := sm.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: aws.String(id)})
		if msg := wantAPIError(t, err, "AccessDeniedException", 400); !strings.Contains(msg, "secretsmanager:GetSecretValue") {
			t.Errorf("message = %q", msg)
		}
	}
	_, err := sm.DescribeSecret(c, &secretsmanager.DescribeSecretInput{SecretId: aws.String("prod/db")})
	wantAPIError(t, err, "AccessDeniedException", 400)
	_, err = sm.PutSecretValue(c, &secretsmanager.PutSecretValueInput{SecretId: aws.String("prod/db"), SecretString: aws.String("z")})
	wantAPIError(t, err, "AccessDeniedException", 400)
	if _, err := sm.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("dev/db")}); err != nil {
		t.Fatalf("dev/db should be readable: %v", err)
	}
	if n := srv.Calls("GetSecretValue"); n != 4 {
		t.Errorf("AccessDeniedException retried? %d calls", n)
	}
	srv.ClearFaults()
	if _, err := sm.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("prod/db")}); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
}

func TestSecretsManagerDecryptionFailure(t *testing.T) {
	srv, sm, _ := clients(t)
	srv.PutSecretString("enc", "x")
	srv.FailDecrypt("enc")
	_, err := sm.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String("enc")})
	var df *smtypes.DecryptionFailure
	if !errors.As(err, &df) {
		t.Fatalf("err = %v, want DecryptionFailure", err)
	}
	wantAPIError(t, err, "DecryptionFailure", 400)
	// Metadata does not need the key.
	if _, err := sm.DescribeSecret(ctx(t), &secretsmanager.DescribeSecretInput{SecretId: aws.String("enc")}); err != nil {
		t.Fatal(err)
	}
}

// ---------------------------------------------------------------------------
// SSM Parameter Store

func TestGetParameter(t *testing.T) {
	srv, _, ps := clients(t)
	c := ctx(t)
	before := time.Now().Add(-time.Second)
	srv.PutParameter("/app/url", "https://example.test", false)
	srv.PutParameter("/app/db/password", "s3cret", true)
	srv.PutParameter("toplevel", "t", false)

	out, err := ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/app/url")})
	if err != nil {
		t.Fatal(err)
	}
	p := out.Parameter
	if aws.ToString(p.Name) != "/app/url" || p.Type != ssmtypes.ParameterTypeString || aws.ToString(p.Value) != "https://example.test" ||
		p.Version != 1 || aws.ToString(p.ARN) != "arn:aws:ssm:us-east-1:"+awstest.AccountID+":parameter/app/url" ||
		aws.ToString(p.DataType) != "text" || p.LastModifiedDate == nil || p.LastModifiedDate.Before(before) || p.Selector != nil {
		t.Errorf("Parameter = %+v", p)
	}

	sec, err := ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/app/db/password"), WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	if sec.Parameter.Type != ssmtypes.ParameterTypeSecureString || aws.ToString(sec.Parameter.Value) != "s3cret" {
		t.Errorf("decrypted = %+v", sec.Parameter)
	}
	enc, err := ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/app/db/password")})
	if err != nil {
		t.Fatal(err)
	}
	blob, err := base64.StdEncoding.DecodeString(aws.ToString(enc.Parameter.Value))
	if err != nil || bytes.Contains(blob, []byte("s3cret")) || strings.Contains(aws.ToString(enc.Parameter.Value), "s3cret") {
		t.Errorf("SecureString without decryption = %q (%v)", aws.ToString(enc.Parameter.Value), err)
	}

	// By ARN, including a top-level name without a leading slash.
	for name, want := range map[string]string{
		srv.ParameterARN("/app/url"): "https://example.test",
		srv.ParameterARN("toplevel"): "t",
	} {
		out, err := ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String(name)})
		if err != nil || aws.ToString(out.Parameter.Value) != want {
			t.Errorf("GetParameter(%q) = %+v, %v", name, out, err)
		}
	}

	_, err = ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/app/missing")})
	var pnf *ssmtypes.ParameterNotFound
	if !errors.As(err, &pnf) {
		t.Fatalf("missing parameter: err = %v", err)
	}
	wantAPIError(t, err, "ParameterNotFound", 400)
}

func TestParameterVersionsAndSelectors(t *testing.T) {
	srv, _, ps := clients(t)
	c := ctx(t)
	for i, v := range []string{"v1", "v2", "v3"} {
		if got := srv.PutParameter("/cfg/key", v, false); got != int64(i+1) {
			t.Fatalf("PutParameter version = %d, want %d", got, i+1)
		}
	}
	out, err := ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/cfg/key:1")})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(out.Parameter.Value) != "v1" || out.Parameter.Version != 1 || aws.ToString(out.Parameter.Selector) != ":1" || aws.ToString(out.Parameter.Name) != "/cfg/key" {
		t.Errorf("name:1 = %+v", out.Parameter)
	}
	out, err = ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String(srv.ParameterARN("/cfg/key") + ":2")})
	if err != nil || aws.ToString(out.Parameter.Value) != "v2" {
		t.Errorf("arn:2 = %+v, %v", out, err)
	}
	_, err = ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/cfg/key:9")})
	var vnf *ssmtypes.ParameterVersionNotFound
	if !errors.As(err, &vnf) {
		t.Fatalf("name:9 err = %v", err)
	}
	wantAPIError(t, err, "ParameterVersionNotFound", 400)

	many, err := ps.GetParameters(c, &ssm.GetParametersInput{Names: []string{"/cfg/key:2", "/cfg/key:9", "/nope", "/cfg/key"}})
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, p := range many.Parameters {
		vals = append(vals, aws.ToString(p.Value)+"@"+aws.ToString(p.Selector))
	}
	sort.Strings(vals)
	if !reflect.DeepEqual(vals, []string{"v2@:2", "v3@"}) || !reflect.DeepEqual(many.InvalidParameters, []string{"/cfg/key:9", "/nope"}) {
		t.Errorf("GetParameters = %v invalid %v", vals, many.InvalidParameters)
	}
}

// TestParameterLabels: LabelParameterVersion as Parameter Store documents
// it (labels move between versions, a version holds ten at most, names it
// refuses come back in InvalidLabels), and name:label reads.
func TestParameterLabels(t *testing.T) {
	srv, _, ps := clients(t)
	c := ctx(t)
	for _, v := range []string{"v1", "v2", "v3"} {
		srv.PutParameter("/cfg/key", v, false)
	}
	label := func(version int64, labels ...string) *ssm.LabelParameterVersionOutput {
		t.Helper()
		in := &ssm.LabelParameterVersionInput{Name: aws.String("/cfg/key"), Labels: labels}
		if version != 0 {
			in.ParameterVersion = aws.Int64(version)
		}
		out, err := ps.LabelParameterVersion(c, in)
		if err != nil {
			t.Fatalf("LabelParameterVersion(%d, %q): %v", version, labels, err)
		}
		return out
	}
	read := func(name string) (string, int64) {
		t.Helper()
		out, err := ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String(name)})
		if err != nil {
			t.Fatalf("GetParameter(%s): %v", name, err)
		}
		return aws.ToString(out.Parameter.Value) + "@" + aws.ToString(out.Parameter.Selector), out.Parameter.Version
	}

	out := label(1, "prod", "1st", "AWSish", "ssm-x", "bad label", "good.name_-1")
	if out.ParameterVersion != 1 || !reflect.DeepEqual(out.InvalidLabels, []string{"1st", "AWSish", "ssm-x", "bad label"}) {
		t.Errorf("label v1: version %d, invalid %q", out.ParameterVersion, out.InvalidLabels)
	}
	if got, v := read("/cfg/key:prod"); got != "v1@:prod" || v != 1 {
		t.Errorf("name:prod = %s version %d, want v1@:prod version 1", got, v)
	}
	if out := label(0, "prod"); out.ParameterVersion != 3 {
		t.Errorf("label without a version went to %d, want the latest, 3", out.ParameterVersion)
	}
	if got, _ := read("/cfg/key:prod"); got != "v3@:prod" {
		t.Errorf("after moving prod: name:prod = %s, want v3", got)
	}
	if got, _ := read(srv.ParameterARN("/cfg/key") + ":good.name_-1"); got != "v1@:good.name_-1" {
		t.Errorf("ARN:good.name_-1 = %s, want v1 (the label stays where it was put)", got)
	}
	_, err := ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/cfg/key:Prod")})
	wantAPIError(t, err, "ParameterVersionNotFound", 400) // labels are case-sensitive

	many := make([]string, 10)
	for i := range many {
		many[i] = fmt.Sprintf("l%d", i)
	}
	_, err = ps.LabelParameterVersion(c, &ssm.LabelParameterVersionInput{Name: aws.String("/cfg/key"), ParameterVersion: aws.Int64(2), Labels: many})
	if err != nil {
		t.Fatal(err)
	}
	_, err = ps.LabelParameterVersion(c, &ssm.LabelParameterVersionInput{Name: aws.String("/cfg/key"), ParameterVersion: aws.Int64(2), Labels: []string{"eleventh"}})
	wantAPIError(t, err, "ParameterVersionLabelLimitExceeded", 400)
	_, err = ps.LabelParameterVersion(c, &ssm.LabelParameterVersionInput{Name: aws.String("/cfg/key"), ParameterVersion: aws.Int64(9), Labels: []string{"x"}})
	wantAPIError(t, err, "ParameterVersionNotFound", 400)
	_, err = ps.LabelParameterVersion(c, &ssm.LabelParameterVersionInput{Name: aws.String("/cfg/nope"), Labels: []string{"x"}})
	wantAPIError(t, err, "ParameterNotFound", 400)

	// The oldest version is not deleted to make room while it has a label.
	for range 97 {
		srv.PutParameter("/cfg/key", "more", false)
	}
	_, err = ps.PutParameter(c, &ssm.PutParameterInput{Name: aws.String("/cfg/key"), Value: aws.String("v101"), Overwrite: aws.Bool(true)})
	if msg := wantAPIError(t, err, "ParameterMaxVersionLimitExceeded", 400); !strings.Contains(msg, "Version 1, the oldest version, can't be deleted because it has a label") {
		t.Errorf("message %q does not name the oldest version and its label", msg)
	}
	label(3, "good.name_-1")
	if _, err := ps.PutParameter(c, &ssm.PutParameterInput{Name: aws.String("/cfg/key"), Value: aws.String("v101"), Overwrite: aws.Bool(true)}); err != nil {
		t.Errorf("after moving the label off version 1: %v", err)
	}
}

func TestGetParameters(t *testing.T) {
	srv, _, ps := clients(t)
	c := ctx(t)
	srv.PutParameter("/p/b", "B", false)
	srv.PutParameter("/p/a", "A", true)
	srv.PutParameter("/p/c", "C", false)

	out, err := ps.GetParameters(c, &ssm.GetParametersInput{Names: []string{"/p/c", "/p/a", "/p/b", "/p/zz"}, WithDecryption: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range out.Parameters {
		got = append(got, aws.ToString(p.Name)+"="+aws.ToString(p.Value))
	}
	if !reflect.DeepEqual(got, []string{"/p/a=A", "/p/b=B", "/p/c=C"}) || !reflect.DeepEqual(out.InvalidParameters, []string{"/p/zz"}) {
		t.Errorf("GetParameters = %v, invalid %v", got, out.InvalidParameters)
	}
	out, err = ps.GetParameters(c, &ssm.GetParametersInput{Names: []string{"/p/a"}})
	if err != nil || len(out.Parameters) != 1 || aws.ToString(out.Parameters[0].Value) == "A" {
		t.Errorf("SecureString without WithDecryption = %+v, %v", out, err)
	}

	names := make([]string, 11)
	for i := range names {
		names[i] = fmt.Sprintf("/p/n%d", i)
	}
	before := srv.Calls("AmazonSSM.GetParameters")
	_, err = ps.GetParameters(c, &ssm.GetParametersInput{Names: names})
	if msg := wantAPIError(t, err, "ValidationException", 400); !strings.Contains(msg, "less than or equal to 10") {
		t.Errorf("message = %q", msg)
	}
	// The error code on the wire is what AWS documents; whether the SDK
	// turns it into a typed error depends on the SDK version (ward pins
	// ssm before v1.80, whose GetParameters does not model it), so the
	// code is what this test checks (wantAPIError above).
	if n := srv.Calls("AmazonSSM.GetParameters") - before; n != 1 {
		t.Errorf("ValidationException retried: %d calls", n)
	}
	if _, err := ps.GetParameters(c, &ssm.GetParametersInput{Names: names[:10]}); err != nil {
		t.Fatalf("10 names: %v", err)
	}
}

func TestPutParameter(t *testing.T) {
	_, _, ps := clients(t)
	c := ctx(t)
	out, err := ps.PutParameter(c, &ssm.PutParameterInput{Name: aws.String("/svc/flag"), Value: aws.String("on"), Type: ssmtypes.ParameterTypeString})
	if err != nil {
		t.Fatal(err)
	}
	if out.Version != 1 || out.Tier != ssmtypes.ParameterTierStandard {
		t.Errorf("PutParameter = %+v", out)
	}
	_, err = ps.PutParameter(c, &ssm.PutParameterInput{Name: aws.String("/svc/flag"), Value: aws.String("off"), Type: ssmtypes.ParameterTypeString})
	var exists *ssmtypes.ParameterAlreadyExists
	if !errors.As(err, &exists) {
		t.Fatalf("second put without Overwrite: %v", err)
	}
	// Overwrite without Type keeps the type and bumps the version.
	out, err = ps.PutParameter(c, &ssm.PutParameterInput{Name: aws.String("/svc/flag"), Value: aws.String("off"), Overwrite: aws.Bool(true)})
	if err != nil || out.Version != 2 {
		t.Fatalf("overwrite = %+v, %v", out, err)
	}
	got, err := ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/svc/flag")})
	if err != nil || aws.ToString(got.Parameter.Value) != "off" || got.Parameter.Version != 2 || got.Parameter.Type != ssmtypes.ParameterTypeString {
		t.Fatalf("after overwrite: %+v, %v", got, err)
	}
	// SecureString over the wire.
	if _, err := ps.PutParameter(c, &ssm.PutParameterInput{Name: aws.String("/svc/pw"), Value: aws.String("pw"), Type: ssmtypes.ParameterTypeSecureString}); err != nil {
		t.Fatal(err)
	}
	got, err = ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/svc/pw"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(got.Parameter.Value) != "pw" {
		t.Fatalf("SecureString read = %+v, %v", got, err)
	}

	for _, in := range []*ssm.PutParameterInput{
		{Name: aws.String("/svc/untyped"), Value: aws.String("x")},                                      // Type required on create
		{Name: aws.String("/svc/bad name"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeString}, // space
		{Name: aws.String("no/leading/slash"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeString},
		{Name: aws.String("/aws/reserved"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeString},
		{Name: aws.String("/svc/big"), Value: aws.String(strings.Repeat("x", 4097)), Type: ssmtypes.ParameterTypeString},
	} {
		_, err := ps.PutParameter(c, in)
		wantAPIError(t, err, "ValidationException", 400)
	}
}

func TestSSMAccessDeniedAndKMS(t *testing.T) {
	srv, _, ps := clients(t)
	c := ctx(t)
	srv.PutParameter("/secret/a", "a", true)
	srv.PutParameter("/open/b", "b", false)
	srv.PutParameter("/kms/c", "c", true)
	srv.Deny("/secret")
	srv.FailDecrypt("/kms/c")

	_, err := ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/secret/a")})
	if err == nil {
		t.Fatalf("denied GetParameter succeeded")
	}
	if msg := wantAPIError(t, err, "AccessDeniedException", 400); !strings.Contains(msg, "ssm:GetParameter") {
		t.Errorf("message = %q", msg)
	}
	// One denied name fails the whole GetParameters call.
	_, err = ps.GetParameters(c, &ssm.GetParametersInput{Names: []string{"/open/b", "/secret/a:1"}})
	wantAPIError(t, err, "AccessDeniedException", 400)
	_, err = ps.PutParameter(c, &ssm.PutParameterInput{Name: aws.String("/secret/new"), Value: aws.String("x"), Type: ssmtypes.ParameterTypeString})
	wantAPIError(t, err, "AccessDeniedException", 400)

	// KMS refusal only when SSM has to decrypt.
	_, err = ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/kms/c"), WithDecryption: aws.Bool(true)})
	if msg := wantAPIError(t, err, "AccessDeniedException", 400); !strings.Contains(msg, "kms:Decrypt") {
		t.Errorf("message = %q", msg)
	}
	_, err = ps.GetParameters(c, &ssm.GetParametersInput{Names: []string{"/open/b", "/kms/c"}, WithDecryption: aws.Bool(true)})
	wantAPIError(t, err, "AccessDeniedException", 400)
	if _, err := ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/kms/c")}); err != nil {
		t.Errorf("ciphertext read needs no KMS: %v", err)
	}
}

// ---------------------------------------------------------------------------
// Faults and retries

func TestThrottlingIsRetried(t *testing.T) {
	srv, sm, ps := clients(t)
	c := ctx(t)
	srv.PutSecretString("s", "v")
	srv.PutParameter("/p", "v", false)

	srv.Throttle(maxAttempts - 1)
	if _, err := sm.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}); err != nil {
		t.Fatalf("GetSecretValue after %d throttles: %v", maxAttempts-1, err)
	}
	if n := srv.Calls("secretsmanager.GetSecretValue"); n != maxAttempts {
		t.Errorf("GetSecretValue calls = %d, want %d", n, maxAttempts)
	}

	srv.Throttle(maxAttempts - 1)
	if _, err := ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/p")}); err != nil {
		t.Fatalf("GetParameter after throttles: %v", err)
	}
	if n := srv.Calls("AmazonSSM.GetParameter"); n != maxAttempts {
		t.Errorf("GetParameter calls = %d, want %d", n, maxAttempts)
	}

	// More throttles than attempts: the error surfaces as ThrottlingException.
	srv.Throttle(maxAttempts + 1)
	_, err := sm.BatchGetSecretValue(c, &secretsmanager.BatchGetSecretValueInput{SecretIdList: []string{"s"}})
	wantAPIError(t, err, "ThrottlingException", 400)
	if n := srv.Calls("secretsmanager.BatchGetSecretValue"); n != maxAttempts {
		t.Errorf("BatchGetSecretValue calls = %d, want %d", n, maxAttempts)
	}
	// One throttle is left over for the next call.
	if _, err := ps.GetParameters(c, &ssm.GetParametersInput{Names: []string{"/p"}}); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls("AmazonSSM.GetParameters"); n != 2 {
		t.Errorf("GetParameters calls = %d, want 2", n)
	}
}

func TestInternalErrorsAreRetried(t *testing.T) {
	srv, sm, ps := clients(t)
	c := ctx(t)
	srv.PutSecretString("s", "v")
	srv.PutParameter("/p", "v", false)

	srv.FailInternal(1)
	if _, err := sm.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	if n := srv.Calls("secretsmanager.GetSecretValue"); n != 2 {
		t.Errorf("calls = %d, want 2", n)
	}

	srv.FailInternal(maxAttempts)
	_, err := sm.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	var ise *smtypes.InternalServiceError
	if !errors.As(err, &ise) {
		t.Fatalf("err = %v, want InternalServiceError", err)
	}
	wantAPIError(t, err, "InternalServiceError", 500)

	srv.FailInternal(maxAttempts)
	_, err = ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/p")})
	var ise2 *ssmtypes.InternalServerError
	if !errors.As(err, &ise2) {
		t.Fatalf("err = %v, want InternalServerError", err)
	}
	wantAPIError(t, err, "InternalServerError", 500)
}

func TestBadCredentialsRejected(t *testing.T) {
	srv := awstest.New()
	defer srv.Close()
	srv.PutSecretString("s", "v")
	c := ctx(t)

	sm, ps := clientsFor(srv, awstest.AccessKeyID, "wrong-secret-key")
	_, err := sm.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	if msg := wantAPIError(t, err, "InvalidSignatureException", 400); !strings.Contains(msg, "does not match the signature you provided") {
		t.Errorf("message = %q", msg)
	}
	_, err = ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/p")})
	wantAPIError(t, err, "InvalidSignatureException", 400)

	sm, _ = clientsFor(srv, "AKIAUNKNOWNKEY000000", awstest.SecretAccessKey)
	_, err = sm.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
	wantAPIError(t, err, "UnrecognizedClientException", 400)

	if n := srv.Calls("GetSecretValue"); n != 2 {
		t.Errorf("rejected signatures were retried: %d calls", n)
	}
}

// ---------------------------------------------------------------------------
// Raw wire format

type rawResponse struct {
	status int
	header http.Header
	body   map[string]any
}

// rawCall sends one awsJson 1.1 request. sign, if non-nil, signs it.
func rawCall(t *testing.T, srv *awstest.Server, target, body string, sign func(*http.Request)) rawResponse {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL()+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", target)
	if sign != nil {
		sign(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := rawResponse{status: resp.StatusCode, header: resp.Header}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&r.body); err != nil {
		t.Fatalf("response body %q is not a JSON object: %v", b, err)
	}
	return r
}

func signer(t *testing.T, service, secretKey string, at time.Time, body string) func(*http.Request) {
	return func(req *http.Request) {
		h := sha256.Sum256([]byte(body))
		creds := aws.Credentials{AccessKeyID: awstest.AccessKeyID, SecretAccessKey: secretKey}
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(h[:]), service, awstest.Region, at); err != nil {
			t.Fatal(err)
		}
	}
}

func wantRawError(t *testing.T, r rawResponse, status int, code, msgKey string) string {
	t.Helper()
	if r.status != status || r.header.Get("X-Amzn-ErrorType") != code || r.body["__type"] != code {
		t.Fatalf("got %d %q %v, want %d %s", r.status, r.header.Get("X-Amzn-ErrorType"), r.body, status, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		t.Errorf("Content-Type = %q", ct)
	}
	msg, _ := r.body[msgKey].(string)
	if msg == "" {
		t.Errorf("no %q member in %v", msgKey, r.body)
	}
	return msg
}

func TestWireFormat(t *testing.T) {
	srv := awstest.New()
	defer srv.Close()
	srv.PutSecretString("s", "v")
	srv.PutSecretBinary("b", []byte{0xde, 0xad})
	now := time.Now()

	body := `{"SecretId":"s"}`
	r := rawCall(t, srv, "secretsmanager.GetSecretValue", body, signer(t, "secretsmanager", awstest.SecretAccessKey, now, body))
	if r.status != 200 || r.header.Get("Content-Type") != "application/x-amz-json-1.1" || r.header.Get("X-Amzn-RequestId") == "" {
		t.Fatalf("signed request: %d %v %v", r.status, r.header, r.body)
	}
	for _, k := range []string{"ARN", "Name", "VersionId", "SecretString", "VersionStages", "CreatedDate"} {
		if _, ok := r.body[k]; !ok {
			t.Errorf("GetSecretValue response lacks %s: %v", k, r.body)
		}
	}
	if _, ok := r.body["CreatedDate"].(json.Number); !ok {
		t.Errorf("CreatedDate %v is not epoch seconds", r.body["CreatedDate"])
	}

	body = `{"SecretId":"b"}`
	r = rawCall(t, srv, "secretsmanager.GetSecretValue", body, signer(t, "secretsmanager", awstest.SecretAccessKey, now, body))
	if r.body["SecretBinary"] != base64.StdEncoding.EncodeToString([]byte{0xde, 0xad}) {
		t.Errorf("SecretBinary = %v", r.body["SecretBinary"])
	}

	// Modeled service errors: __type, message member as the model spells it.
	body = `{"SecretId":"missing"}`
	r = rawCall(t, srv, "secretsmanager.GetSecretValue", body, signer(t, "secretsmanager", awstest.SecretAccessKey, now, body))
	wantRawError(t, r, 400, "ResourceNotFoundException", "Message")
	body = `{"Name":"/missing:3"}`
	r = rawCall(t, srv, "AmazonSSM.GetParameter", body, signer(t, "ssm", awstest.SecretAccessKey, now, body))
	if r.status != 400 || r.body["__type"] != "ParameterNotFound" {
		t.Errorf("missing parameter: %d %v", r.status, r.body)
	}

	// Authentication failures.
	body = `{"SecretId":"s"}`
	r = rawCall(t, srv, "secretsmanager.GetSecretValue", body, nil)
	wantRawError(t, r, 400, "MissingAuthenticationTokenException", "message")

	r = rawCall(t, srv, "secretsmanager.GetSecretValue", body, signer(t, "secretsmanager", awstest.SecretAccessKey, now.Add(-time.Hour), body))
	if msg := wantRawError(t, r, 400, "InvalidSignatureException", "message"); !strings.HasPrefix(msg, "Signature expired") {
		t.Errorf("message = %q", msg)
	}
	r = rawCall(t, srv, "secretsmanager.GetSecretValue", body, signer(t, "ssm", awstest.SecretAccessKey, now, body))
	if msg := wantRawError(t, r, 400, "InvalidSignatureException", "message"); !strings.Contains(msg, "'secretsmanager'") {
		t.Errorf("message = %q", msg)
	}
	// Signed for one body, sent with another.
	r = rawCall(t, srv, "secretsmanager.GetSecretValue", `{"SecretId":"b"}`, signer(t, "secretsmanager", awstest.SecretAccessKey, now, body))
	wantRawError(t, r, 400, "InvalidSignatureException", "message")
	// A header covered by the signature changed after signing.
	r = rawCall(t, srv, "secretsmanager.GetSecretValue", body, func(req *http.Request) {
		signer(t, "secretsmanager", awstest.SecretAccessKey, now, body)(req)
		req.Header.Set("X-Amz-Target", "secretsmanager.DescribeSecret")
	})
	wantRawError(t, r, 400, "InvalidSignatureException", "message")
	r = rawCall(t, srv, "secretsmanager.GetSecretValue", body, func(req *http.Request) {
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential="+awstest.AccessKeyID+"/20240101/us-east-1/secretsmanager/aws4_request")
	})
	wantRawError(t, r, 400, "IncompleteSignatureException", "message")

	// Unknown operation.
	r = rawCall(t, srv, "secretsmanager.NoSuchOperation", "{}", signer(t, "secretsmanager", awstest.SecretAccessKey, now, "{}"))
	if r.status != 400 || r.body["__type"] != "UnknownOperationException" {
		t.Errorf("unknown op: %d %v", r.status, r.body)
	}
}

// TestEnv runs the SDK's default configuration chain on Env() alone, as a
// child ward process would.
func TestEnv(t *testing.T) {
	srv := awstest.New()
	defer srv.Close()
	srv.PutSecretString("env/secret", "from-env")
	srv.PutParameter("/env/param", "param-from-env", true)
	t.Setenv("HOME", t.TempDir())
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	c := ctx(t)
	cfg, err := config.LoadDefaultConfig(c)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != awstest.Region {
		t.Errorf("region = %q", cfg.Region)
	}
	out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("env/secret")})
	if err != nil || aws.ToString(out.SecretString) != "from-env" {
		t.Fatalf("GetSecretValue via Env = %+v, %v", out, err)
	}
	p, err := ssm.NewFromConfig(cfg).GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/env/param"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(p.Parameter.Value) != "param-from-env" {
		t.Fatalf("GetParameter via Env = %+v, %v", p, err)
	}
}

func TestConcurrentClients(t *testing.T) {
	srv, sm, ps := clients(t)
	c := ctx(t)
	srv.PutSecretString("c/s", "0")
	srv.PutParameter("/c/p", "0", false)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 4; j++ {
				v := fmt.Sprint(i*10 + j)
				if _, err := sm.PutSecretValue(c, &secretsmanager.PutSecretValueInput{SecretId: aws.String("c/s"), SecretString: aws.String(v)}); err != nil {
					errs <- err
				}
				if _, err := sm.GetSecretValue(c, &secretsmanager.GetSecretValueInput{SecretId: aws.String("c/s")}); err != nil {
					errs <- err
				}
				if _, err := ps.PutParameter(c, &ssm.PutParameterInput{Name: aws.String("/c/p"), Value: aws.String(v), Overwrite: aws.Bool(true)}); err != nil {
					errs <- err
				}
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	p, err := ps.GetParameter(c, &ssm.GetParameterInput{Name: aws.String("/c/p")})
	if err != nil || p.Parameter.Version != 33 {
		t.Errorf("after 32 overwrites: %+v, %v", p, err)
	}
	desc, err := sm.DescribeSecret(c, &secretsmanager.DescribeSecretInput{SecretId: aws.String("c/s")})
	if err != nil || len(desc.VersionIdsToStages) != 2 {
		t.Errorf("labelled versions = %v, %v", desc.VersionIdsToStages, err)
	}
}
