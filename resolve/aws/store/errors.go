package store

import (
	"errors"
	"fmt"
	"strings"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials/processcreds"
	"github.com/aws/smithy-go"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/certerr"
)

// target names what one request read, for error messages: never a value.
type target struct {
	service string // "secrets manager"
	what    string // `secret "prod/db" (stage "AWSPREVIOUS")`
	action  string // the IAM action the read needs
	region  string
	secret  string // a Secrets Manager SecretId, for the restore command
	// endpointEnv is the variable that sets the service's own endpoint.
	endpointEnv string
	// byName is a read of the latest by name, not by ARN: one that is not
	// found may be in another region.
	byName bool
}

// notFound is the error for a document AWS says does not exist.
func (t target) notFound() error {
	if t.byName {
		// A wrong AWS_REGION looks just like a wrong name.
		return fmt.Errorf("no %s in %s (%s; one of another region is read by its ARN, or with that region set): %w", t.what, t.service, t.region, resolve.ErrNotFound)
	}
	return fmt.Errorf("no %s in %s (%s): %w", t.what, t.service, t.region, resolve.ErrNotFound)
}

// fail turns a failed request into an error that names what was read and
// what to check. Retries are over by now: the SDK made them.
func (t target) fail(err error) error {
	var api smithy.APIError
	if !errors.As(err, &api) {
		if certerr.Is(err) {
			return fmt.Errorf("read %s from %s (%s): %w: %s", t.what, t.service, t.region, brief(err), certerr.Hint())
		}
		return fmt.Errorf("read %s from %s (%s): %w", t.what, t.service, t.region, brief(err))
	}
	return t.failAPI(api, err)
}

// failAPI is fail for an AWS error code and message, whether they came
// from a failed request (err) or from one entry of a batch (err == api).
func (t target) failAPI(api smithy.APIError, err error) error {
	said := brief(api)
	switch classify(api) {
	case notFound:
		return t.notFound()
	case decryptFailed:
		return fmt.Errorf("%s cannot decrypt %s: check that ward's AWS identity is allowed kms:Decrypt on its KMS key, by the key's policy as well as IAM, and that the key is enabled: %w", t.service, t.what, said)
	case denied:
		return fmt.Errorf("%s denied access to %s: check that ward's AWS identity is allowed %s on it (and kms:Decrypt on its KMS key): %w", t.service, t.what, t.action, said)
	case endpointRegion:
		return fmt.Errorf("the %s endpoint ward reached does not serve %s, the region it asked for %s in (a VPC or other private endpoint serves its own region only): point %s (or AWS_ENDPOINT_URL) at an endpoint of %s, or set the region the endpoint serves: %w",
			t.service, t.region, t.what, t.endpointEnv, t.region, said)
	case badCredentials:
		return fmt.Errorf("%s rejected ward's AWS credentials reading %s: check the access key, session token and clock: %w", t.service, t.what, said)
	case scheduledDeletion:
		return fmt.Errorf("%s has %s scheduled for deletion, so its value cannot be read: restore it (aws secretsmanager restore-secret --secret-id %s --region %s) or name another secret: %w",
			t.service, t.what, t.secret, t.region, said)
	}
	return fmt.Errorf("read %s from %s (%s): %w", t.what, t.service, t.region, brief(err))
}

// brief is err as far as its first line: AWS's message for a signature
// that does not match goes on with the canonical request it expected,
// which holds the value of every signed header, the session token
// (X-Amz-Security-Token) among them. Nor does it quote a credential
// process's output (hideProcessOutput). errors.Is and errors.As still see
// err.
func brief(err error) error {
	return briefError{hideProcessOutput(err)}
}

type briefError struct{ err error }

func (e briefError) Error() string {
	msg, _, _ := strings.Cut(e.err.Error(), "\n")
	return strings.TrimSpace(msg)
}

func (e briefError) Unwrap() error { return e.err }

// processParseFailed is how the SDK's credential_process provider starts
// its message for output it cannot parse, which it goes on to quote whole.
const processParseFailed = "parse failed of process output"

// hideProcessOutput is err without the output of a profile's
// credential_process that the SDK could not parse (a log line before the
// JSON, an Expiration not in RFC 3339): the SDK's message quotes all of
// it, the secret key and session token among them. errors.Is and
// errors.As still see err.
func hideProcessOutput(err error) error {
	var pe *processcreds.ProviderError
	if !errors.As(err, &pe) {
		return err
	}
	msg := err.Error()
	i := strings.Index(msg, processParseFailed)
	if i < 0 {
		return err
	}
	return resolve.Retold(msg[:i]+"the output of the profile's credential_process is not the JSON the AWS SDK reads (only that JSON on stdout: Version 1, AccessKeyId, SecretAccessKey, SessionToken, Expiration in RFC 3339); ward does not repeat it, as it holds the keys", err)
}

// failure is what an AWS error code means for the user.
type failure int

const (
	otherFailure failure = iota
	notFound
	denied
	decryptFailed
	badCredentials
	scheduledDeletion
	endpointRegion
)

// classify reads an AWS error code (and, for SSM's pass-through of KMS
// denials, the message).
func classify(api smithy.APIError) failure {
	code := api.ErrorCode()
	switch {
	case code == "ResourceNotFoundException", code == "ParameterNotFound", code == "ParameterVersionNotFound":
		return notFound
	case code == "DecryptionFailure", code == "InvalidKeyId", strings.HasPrefix(code, "KMS"):
		return decryptFailed
	case code == "AccessDeniedException" && kmsDenied(api.ErrorMessage()):
		return decryptFailed
	case code == "AccessDeniedException", code == "AccessDenied":
		return denied
	case code == "InvalidRequestException" && strings.Contains(api.ErrorMessage(), "marked for deletion"):
		// Secrets Manager's only sign of a secret DeleteSecret scheduled
		// for deletion (and RestoreSecret can bring back).
		return scheduledDeletion
	case code == "InvalidSignatureException" && strings.Contains(api.ErrorMessage(), "scoped to a valid region"):
		// The keys are fine: the endpoint serves another region than the
		// one the request was signed for.
		return endpointRegion
	case code == "UnrecognizedClientException", code == "InvalidClientTokenId", code == "ExpiredTokenException",
		code == "InvalidSignatureException", code == "IncompleteSignatureException", code == "MissingAuthenticationTokenException":
		return badCredentials
	}
	return otherFailure
}

// kmsDenied reports whether an AccessDeniedException's message is KMS
// refusing the key rather than IAM refusing the secret: SSM passes on
// KMS's own message ("not authorized to perform: kms:Decrypt", or "The
// ciphertext refers to a customer master key that ... you are not allowed
// to access. (Service: AWSKMS; ..."), and Secrets Manager says "Access to
// KMS is not allowed".
func kmsDenied(msg string) bool {
	return strings.Contains(msg, "kms:") || strings.Contains(msg, "Service: AWSKMS") || strings.Contains(msg, "Access to KMS")
}

// attributable reports whether a whole batch failed for a reason one of
// its names may have caused (a denied or undecryptable parameter, a
// malformed name), so that asking for each name alone tells which.
func attributable(err error) bool {
	var api smithy.APIError
	var resp *awshttp.ResponseError
	if !errors.As(err, &api) || !errors.As(err, &resp) {
		return false
	}
	if status := resp.HTTPStatusCode(); status < 400 || status >= 500 {
		return false
	}
	if retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == awssdk.TrueTernary {
		return false
	}
	k := classify(api)
	return k != badCredentials && k != endpointRegion
}

// batchEntryError is the error of one entry of a batch response.
func batchEntryError(code, message *string) smithy.APIError {
	return &smithy.GenericAPIError{Code: awssdk.ToString(code), Message: awssdk.ToString(message), Fault: smithy.FaultClient}
}
