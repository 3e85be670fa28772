package awstest_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/wardsecrets/ward/resolve/aws/awstest"
)

const testRole = "arn:aws:iam::" + awstest.AccountID + ":role/ward-test"

func stsClient(srv *awstest.Server, accessKey, secretKey, token string) *sts.Client {
	cfg := sdkConfig(accessKey, secretKey)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(accessKey, secretKey, token)
	return sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(srv.URL()) })
}

// assume assumes testRole for d with the emulator's IAM user.
func assume(t *testing.T, srv *awstest.Server, d time.Duration) *sts.AssumeRoleOutput {
	t.Helper()
	out, err := stsClient(srv, awstest.AccessKeyID, awstest.SecretAccessKey, "").AssumeRole(ctx(t), &sts.AssumeRoleInput{
		RoleArn: aws.String(testRole), RoleSessionName: aws.String("ward"), DurationSeconds: aws.Int32(int32(d / time.Second)),
	})
	if err != nil {
		t.Fatalf("AssumeRole: %v", err)
	}
	return out
}

// TestSTSAssumeRoleCredentialsSign assumes a role with the real SDK, then
// signs GetCallerIdentity and a Secrets Manager read with the temporary
// credentials: the emulator knows who signed.
func TestSTSAssumeRoleCredentialsSign(t *testing.T) {
	srv := awstest.New()
	t.Cleanup(srv.Close)
	srv.AddRole(awstest.Role{ARN: testRole})
	srv.PutSecretString("sts/s", "v")
	before := time.Now()
	out := assume(t, srv, time.Hour)
	c := out.Credentials
	if !strings.HasPrefix(*c.AccessKeyId, "ASIA") || *c.SecretAccessKey == "" || *c.SessionToken == "" {
		t.Fatalf("got credentials that do not look temporary: key prefix %q", (*c.AccessKeyId)[:4])
	}
	if got := c.Expiration.Sub(before); got < time.Hour-2*time.Second || got > time.Hour+time.Second {
		t.Errorf("got credentials for %s, want 1h", got)
	}
	wantARN := "arn:aws:sts::" + awstest.AccountID + ":assumed-role/ward-test/ward"
	if *out.AssumedRoleUser.Arn != wantARN {
		t.Errorf("got AssumedRoleUser.Arn=%s, want %s", *out.AssumedRoleUser.Arn, wantARN)
	}
	id, err := stsClient(srv, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	if err != nil {
		t.Fatalf("GetCallerIdentity with the temporary credentials: %v", err)
	}
	if *id.Arn != wantARN || *id.Account != awstest.AccountID {
		t.Errorf("got caller %s in %s, want %s in %s", *id.Arn, *id.Account, wantARN, awstest.AccountID)
	}
	cfg := sdkConfig(*c.AccessKeyId, *c.SecretAccessKey)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(srv.URL()) })
	if _, err := sm.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String("sts/s")}); err != nil {
		t.Errorf("GetSecretValue with the temporary credentials: %v", err)
	}
	signed := srv.SignedBy("GetCallerIdentity")
	if len(signed) != 1 || signed[*c.AccessKeyId] != 1 {
		t.Errorf("got %d keys signing GetCallerIdentity (the session's %d times), want the session's once", len(signed), signed[*c.AccessKeyId])
	}
	if srv.SignedBy("sts.AssumeRole")[awstest.AccessKeyID] != 1 {
		t.Errorf("AssumeRole was not counted as signed by the IAM user")
	}
}

// TestSTSExpiredAndRevoked checks that temporary credentials stop working
// at their Expiration (ExpiredToken) and when revoked
// (InvalidClientTokenId), in STS's codes and in the JSON services'.
func TestSTSExpiredAndRevoked(t *testing.T) {
	srv := awstest.New()
	t.Cleanup(srv.Close)
	srv.AddRole(awstest.Role{ARN: testRole})
	srv.SetMinSessionDuration(time.Second)

	c := assume(t, srv, 15*time.Second).Credentials
	client := stsClient(srv, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	if _, err := client.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{}); err != nil {
		t.Fatalf("fresh credentials: %v", err)
	}
	srv.Advance(16 * time.Second)
	_, err := client.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "ExpiredToken", http.StatusBadRequest)
	cfg := sdkConfig(*c.AccessKeyId, *c.SecretAccessKey)
	cfg.Credentials = credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(srv.URL()) })
	_, err = sm.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String("x")})
	wantAPIError(t, err, "ExpiredTokenException", http.StatusBadRequest)

	c = assume(t, srv, 15*time.Second).Credentials
	client = stsClient(srv, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken)
	if !srv.RevokeSession(*c.AccessKeyId) {
		t.Fatal("RevokeSession does not know the key AssumeRole issued")
	}
	_, err = client.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", http.StatusForbidden)

	// The session token is part of the credentials.
	c = assume(t, srv, 15*time.Second).Credentials
	_, err = stsClient(srv, *c.AccessKeyId, *c.SecretAccessKey, "").GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "InvalidClientTokenId", http.StatusForbidden)
	_, err = stsClient(srv, *c.AccessKeyId, "wrong"+*c.SecretAccessKey, *c.SessionToken).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "SignatureDoesNotMatch", http.StatusForbidden)

	if got := srv.Failures("GetCallerIdentity"); got["ExpiredToken"] != 1 || got["InvalidClientTokenId"] != 2 || got["SignatureDoesNotMatch"] != 1 {
		t.Errorf("got failures %v, want 1 ExpiredToken, 2 InvalidClientTokenId, 1 SignatureDoesNotMatch", got)
	}
}

// TestSTSAssumeRoleRefusals covers AssumeRole's validation and trust:
// AWS's 900-second minimum unless lowered, the role's maximum, unknown
// roles and external ids.
func TestSTSAssumeRoleRefusals(t *testing.T) {
	srv := awstest.New()
	t.Cleanup(srv.Close)
	srv.AddRole(awstest.Role{ARN: testRole})
	srv.AddRole(awstest.Role{ARN: testRole + "-ext", ExternalID: "ext-123"})
	client := stsClient(srv, awstest.AccessKeyID, awstest.SecretAccessKey, "")
	call := func(arn string, d time.Duration, ext string) error {
		in := &sts.AssumeRoleInput{RoleArn: aws.String(arn), RoleSessionName: aws.String("ward"), DurationSeconds: aws.Int32(int32(d / time.Second))}
		if ext != "" {
			in.ExternalId = aws.String(ext)
		}
		_, err := client.AssumeRole(ctx(t), in)
		return err
	}
	tests := []struct {
		name   string
		arn    string
		d      time.Duration
		ext    string
		code   string
		status int
		says   string
	}{
		{"below 900s", testRole, 15 * time.Second, "", "ValidationError", http.StatusBadRequest, "greater than or equal to 900"},
		{"above the role's maximum", testRole, 2 * time.Hour, "", "ValidationError", http.StatusBadRequest, "MaxSessionDuration"},
		{"unknown role", testRole + "-nope", time.Hour, "", "AccessDenied", http.StatusForbidden, "sts:AssumeRole on resource"},
		{"no external id", testRole + "-ext", time.Hour, "", "AccessDenied", http.StatusForbidden, "not authorized"},
		{"wrong external id", testRole + "-ext", time.Hour, "ext-999", "AccessDenied", http.StatusForbidden, "not authorized"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg := wantAPIError(t, call(tt.arn, tt.d, tt.ext), tt.code, tt.status)
			if !strings.Contains(msg, tt.says) {
				t.Errorf("got message %q, want it to say %q", msg, tt.says)
			}
		})
	}
	if err := call(testRole+"-ext", time.Hour, "ext-123"); err != nil {
		t.Errorf("the right external id: %v", err)
	}
	srv.SetMinSessionDuration(time.Second)
	if err := call(testRole, 15*time.Second, ""); err != nil {
		t.Errorf("15s once the minimum is lowered: %v", err)
	}
	if srv.Sessions() != 2 {
		t.Errorf("got %d sessions issued, want 2", srv.Sessions())
	}
}

// TestSTSSessionLifetime cuts sessions short: AssumeRole asks for AWS's
// 900-second minimum and gets credentials that expire in 15 seconds.
func TestSTSSessionLifetime(t *testing.T) {
	srv := awstest.New()
	t.Cleanup(srv.Close)
	srv.AddRole(awstest.Role{ARN: testRole})
	srv.SetSessionLifetime(15 * time.Second)
	before := time.Now()
	c := assume(t, srv, 15*time.Minute).Credentials
	if life := c.Expiration.Sub(before); life < 13*time.Second || life > 16*time.Second {
		t.Errorf("got credentials for %s, want 15s", life)
	}
	srv.Advance(16 * time.Second)
	_, err := stsClient(srv, *c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken).GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{})
	wantAPIError(t, err, "ExpiredToken", http.StatusBadRequest)
}

// TestSTSQueryProtocolErrors checks what a client that is no SDK gets:
// an XML error document with STS's codes.
func TestSTSQueryProtocolErrors(t *testing.T) {
	srv := awstest.New()
	t.Cleanup(srv.Close)
	resp, err := http.PostForm(srv.URL(), url.Values{"Action": {"GetCallerIdentity"}, "Version": {"2011-06-15"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := make([]byte, 4096)
	n, _ := resp.Body.Read(b)
	body := string(b[:n])
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "<Code>MissingAuthenticationToken</Code>") || !strings.Contains(body, "<ErrorResponse") {
		t.Errorf("unsigned request: got %d %q, want 403 with an ErrorResponse of MissingAuthenticationToken", resp.StatusCode, body)
	}
}

// TestAddRegion: a region AddRegion adds answers at the same URL for the
// requests signed for it, with its own secrets and parameters; STS is
// global, and its temporary credentials are good in every region; a
// region none serves is refused as a regional endpoint refuses it.
func TestAddRegion(t *testing.T) {
	srv := awstest.New()
	t.Cleanup(srv.Close)
	eu := srv.AddRegion("eu-west-1")
	srv.AddRole(awstest.Role{ARN: testRole})
	srv.PutSecretString("r/s", "home")
	eu.PutSecretString("r/s", "eu")
	eu.PutParameter("/r/p", "eu-p", false)
	if arn := eu.SecretARN("r/s"); !strings.HasPrefix(arn, "arn:aws:secretsmanager:eu-west-1:"+awstest.AccountID+":secret:r/s-") {
		t.Errorf("got ARN %s in eu-west-1", arn)
	}
	if eu.URL() != srv.URL() {
		t.Errorf("got URL %s for eu-west-1, want %s", eu.URL(), srv.URL())
	}

	c := assume(t, srv, time.Hour).Credentials
	regional := func(region string, creds aws.CredentialsProvider) (*secretsmanager.Client, *ssm.Client, *sts.Client) {
		cfg := sdkConfig(awstest.AccessKeyID, awstest.SecretAccessKey)
		cfg.Region, cfg.Credentials = region, creds
		return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(srv.URL()) }),
			ssm.NewFromConfig(cfg, func(o *ssm.Options) { o.BaseEndpoint = aws.String(srv.URL()) }),
			sts.NewFromConfig(cfg, func(o *sts.Options) { o.BaseEndpoint = aws.String(srv.URL()) })
	}
	for _, creds := range []aws.CredentialsProvider{
		credentials.NewStaticCredentialsProvider(awstest.AccessKeyID, awstest.SecretAccessKey, ""),
		credentials.NewStaticCredentialsProvider(*c.AccessKeyId, *c.SecretAccessKey, *c.SessionToken),
	} {
		for region, want := range map[string]string{awstest.Region: "home", "eu-west-1": "eu"} {
			sm, _, st := regional(region, creds)
			out, err := sm.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String("r/s")})
			if err != nil || aws.ToString(out.SecretString) != want {
				t.Errorf("%s: got %v, want %s's secret", region, err, want)
			}
			if _, err := st.GetCallerIdentity(ctx(t), &sts.GetCallerIdentityInput{}); err != nil {
				t.Errorf("%s: GetCallerIdentity: %v", region, err)
			}
		}
	}
	static := credentials.NewStaticCredentialsProvider(awstest.AccessKeyID, awstest.SecretAccessKey, "")
	_, ps, _ := regional(awstest.Region, static)
	_, err := ps.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String("/r/p")})
	wantAPIError(t, err, "ParameterNotFound", http.StatusBadRequest)
	_, err = ps.GetParameter(ctx(t), &ssm.GetParameterInput{Name: aws.String(eu.ParameterARN("/r/p"))})
	wantAPIError(t, err, "ParameterNotFound", http.StatusBadRequest)
	sm, _, _ := regional("ap-south-1", static)
	_, err = sm.GetSecretValue(ctx(t), &secretsmanager.GetSecretValueInput{SecretId: aws.String("r/s")})
	if msg := wantAPIError(t, err, "InvalidSignatureException", http.StatusBadRequest); !strings.Contains(msg, "scoped to a valid region, not 'ap-south-1'") {
		t.Errorf("got message %q", msg)
	}
}
