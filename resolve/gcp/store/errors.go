package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/auth"
	"google.golang.org/api/googleapi"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/certerr"
	"github.com/wardsecrets/ward/resolve/gcp"
)

// op is the API method a failed call was.
type op int

const (
	opAccess op = iota // versions.access: the payload
	opGet              // versions.get: the metadata
)

// failure describes a failed call, for its error message.
type failure struct {
	op       op
	res      gcp.Resource
	creds    *credentials
	attempts int
	elapsed  time.Duration
}

// wrap turns a failed call into an error that names the secret version
// and says what to do. Retries are over by now. It never holds a value
// or a token: Secret Manager's error bodies hold neither, and only their
// status and message are repeated.
func (f failure) wrap(err error) error {
	what := verb(f.op) + " " + describe(f.res)
	api, ok := asAPIError(err)
	if !ok {
		var je *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.Is(err, context.DeadlineExceeded):
			return fmt.Errorf("%s: no answer from secret manager in time (%s over %s; stores.gcp.timeout bounds a read): %w",
				what, attempts(f.attempts), f.elapsed.Round(time.Millisecond), context.DeadlineExceeded)
		case errors.As(err, &je), errors.As(err, &te):
			// The decoder's message may quote a byte of the answer,
			// which carries the payload.
			return fmt.Errorf("%s: secret manager's answer is not the JSON it documents", what)
		case isAuthError(err):
			return fmt.Errorf("%s: get a Google access token with %s: %s", what, f.creds.source, authFailure(err, "", f.creds.kind))
		case certerr.Is(err):
			return fmt.Errorf("%s from secret manager (%s): %w: %s", what, attempts(f.attempts), err, certerr.Hint())
		}
		if host, ok := certerr.NoSuchHost(err); ok {
			check := "check stores.gcp.endpoint"
			if f.res.Location != "" {
				check = fmt.Sprintf("check that %s is a region where Secret Manager keeps regional secrets (?location=), and stores.gcp.regional_endpoint", f.res.Location)
			}
			return fmt.Errorf("%s: no such host %s (DNS says the name of secret manager's endpoint does not exist): %s", what, host, check)
		}
		return fmt.Errorf("%s from secret manager (%s): %w", what, attempts(f.attempts), hideExecutableOutput(err))
	}
	switch {
	case api.code == http.StatusNotFound:
		// Global and regional secrets live apart: each endpoint knows
		// only its own, and the console lists them on separate tabs.
		// Google's message for a missing version of a secret that exists
		// starts "Secret Version [": then the place was right.
		where := " (a regional secret is read with ?location=REGION)"
		switch {
		case strings.HasPrefix(api.message, "Secret Version ["):
			where = ""
		case f.res.Location != "":
			where = " in " + f.res.Location + " (a global secret is read without ?location=)"
		}
		return fmt.Errorf("%s: secret manager has no such secret or version%s: %w (%w)", what, where, resolve.ErrNotFound, api)
	case api.serviceDisabled():
		return api.notEnabled(what, "Secret Manager API", "secretmanager.googleapis.com")
	case api.perimeter():
		return api.outsidePerimeter(what, "secretmanager.googleapis.com")
	case api.code == http.StatusForbidden:
		who := "ward's Google identity"
		if f.creds.identity != "" {
			who = f.creds.identity
		}
		grant := "roles/secretmanager.secretAccessor"
		if f.op == opGet {
			grant = "roles/secretmanager.viewer, or a role with the secretmanager.versions.get permission,"
		}
		return fmt.Errorf("%s: secret manager denied it to %s: grant it %s on the secret or its project (Google answers so for a project that does not exist, too) (%w)",
			what, who, grant, api)
	case api.status == "FAILED_PRECONDITION":
		state := ""
		for _, s := range []string{"DISABLED", "DESTROYED"} {
			if strings.Contains(api.message, s+" state") {
				state = s
			}
		}
		res := f.res
		if m := versionInMessage.FindStringSubmatch(api.message); m != nil {
			res.Version = m[1]
		}
		return unusable(res, state, api)
	case api.code == http.StatusUnauthorized:
		return fmt.Errorf("%s: secret manager rejected the access token from %s: %s (%w)", what, f.creds.source, tokenHint(f.creds.kind), api)
	case api.code == http.StatusTooManyRequests:
		return fmt.Errorf("%s: secret manager kept throttling ward (%s over %s): try again later, lower ward's concurrency, or raise the project's Secret Manager quota (%w)",
			what, attempts(f.attempts), f.elapsed.Round(time.Millisecond), api)
	case api.code >= 500:
		return fmt.Errorf("%s: secret manager stayed unavailable (%s over %s): try again later (%w)", what, attempts(f.attempts), f.elapsed.Round(time.Millisecond), api)
	}
	return fmt.Errorf("%s: secret manager refused (%w)", what, api)
}

// versionInMessage finds the version number in a FAILED_PRECONDITION
// message: "Secret Version [projects/1/secrets/s/versions/3] is in
// DISABLED state."
var versionInMessage = regexp.MustCompile(`/versions/([0-9]+)\]`)

// unusable is the error for a version that exists but cannot be read:
// disabled or destroyed (or a state Google may add). cause is the API's
// answer, nil when the state came from the version's metadata.
func unusable(res gcp.Resource, state string, cause error) error {
	what := describe(res)
	loc := ""
	if res.Location != "" {
		loc = " --location=" + res.Location
	}
	var msg string
	switch state {
	case "DISABLED":
		msg = fmt.Sprintf("%s is disabled: enable it (gcloud secrets versions enable %s --secret=%s --project=%s%s) or name an enabled version with ?version=N",
			what, res.Version, res.Secret, res.Project, loc)
	case "DESTROYED":
		msg = fmt.Sprintf("%s is destroyed and its data is gone: name another version with ?version=N, or add one (gcloud secrets versions add %s --project=%s%s --data-file=FILE)",
			what, res.Secret, res.Project, loc)
	case "":
		msg = fmt.Sprintf("%s cannot be read now", what)
	default:
		msg = fmt.Sprintf("%s is in state %s, not ENABLED", what, state)
	}
	if cause != nil {
		return fmt.Errorf("%s (%w)", msg, cause)
	}
	return errors.New(msg)
}

// describe names a secret version for messages.
func describe(res gcp.Resource) string {
	v := "version " + res.Version + " of"
	switch {
	case res.Version == gcp.Latest:
		v = "the latest version of"
	case gcp.IsAlias(res.Version):
		v = fmt.Sprintf("version alias %q of", res.Version)
	}
	s := fmt.Sprintf("%s secret %q in project %q", v, res.Secret, res.Project)
	if res.Location != "" {
		s += " (" + res.Location + ")"
	}
	return s
}

func attempts(n int) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}

func verb(o op) string {
	if o == opGet {
		return "read the metadata of"
	}
	return "read"
}

// apiError is Secret Manager's answer to a failed call, as much of it as
// is safe to repeat: the HTTP status, the status name and the message.
type apiError struct {
	code    int
	status  string
	message string
	// reason and consumer are the ErrorInfo detail's reason and the
	// project it names (consumer, "projects/N"), when there is one.
	reason   string
	consumer string
}

func (e *apiError) Error() string {
	s := fmt.Sprintf("%d %s", e.code, e.status)
	if e.message != "" {
		s += ": " + e.message
	}
	return s
}

// serviceDisabled reports whether Google refused the call because the API
// is not enabled in the project billed for it: not for the identity's
// roles. For gcloud's user credentials without a quota project, that
// project is gcloud's own.
func (e *apiError) serviceDisabled() bool {
	return e.code == http.StatusForbidden && e.reason == "SERVICE_DISABLED"
}

// perimeter reports whether a VPC Service Controls perimeter refused the
// call: ward called from outside it (or without an access level it
// allows). IAM was not asked, and no role would help.
func (e *apiError) perimeter() bool {
	return e.code == http.StatusForbidden && e.reason == "SECURITY_POLICY_VIOLATED"
}

// outsidePerimeter is the error for a call (what) to service that a
// perimeter refused. The message carries the violation's unique id, which
// the perimeter's audit log records.
func (e *apiError) outsidePerimeter(what, service string) error {
	project := "the project"
	if e.consumer != "" {
		project = "project " + e.consumer
	}
	return fmt.Errorf("%s: a VPC Service Controls perimeter around %s refused the call, which came from outside it: no IAM role would help; "+
		"run ward inside the perimeter (from a VPC network in it, reaching %s through Private Google Access or the restricted VIP restricted.googleapis.com, or a Private Service Connect endpoint named in stores.gcp.endpoint), "+
		"or have the perimeter's administrator add an ingress rule or access level for ward's identity and network, with the violation's id from this message (%w)",
		what, project, service, e)
}

// notEnabled is the error for a call (what) to the API title (service)
// that serviceDisabled.
func (e *apiError) notEnabled(what, title, service string) error {
	return fmt.Errorf("%s: the %s is not enabled in project %s, which the call is billed to: enable it (gcloud services enable %s --project=%s), or bill another project where it is, as its quota project (gcloud auth application-default set-quota-project PROJECT for gcloud's credentials, or stores.gcp.quota_project) (%w)",
		what, title, e.consumer, service, e.consumer, e)
}

// asAPIError reads Google's error body, {"error":{"code","message",
// "status"}}, from a failed call.
func asAPIError(err error) (*apiError, bool) {
	var ge *googleapi.Error
	if !errors.As(err, &ge) {
		return nil, false
	}
	e := &apiError{code: ge.Code, message: ge.Message}
	var body struct {
		Error struct {
			Status  string `json:"status"`
			Message string `json:"message"`
			Details []struct {
				Type     string            `json:"@type"`
				Reason   string            `json:"reason"`
				Metadata map[string]string `json:"metadata"`
			} `json:"details"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(ge.Body), &body) == nil {
		e.status = body.Error.Status
		if e.message == "" {
			e.message = body.Error.Message
		}
		for _, d := range body.Error.Details {
			if d.Type == "type.googleapis.com/google.rpc.ErrorInfo" {
				e.reason = d.Reason
				e.consumer = strings.TrimPrefix(d.Metadata["consumer"], "projects/")
			}
		}
	}
	if e.status == "" {
		e.status = statusOfCode(ge.Code)
	}
	e.message = truncate(e.message)
	return e, true
}

// statusOfCode is the status name Google's HTTP mapping gives a code.
func statusOfCode(code int) string {
	switch code {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ABORTED"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 500:
		return "INTERNAL"
	case 501:
		return "UNIMPLEMENTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	return http.StatusText(code)
}

func isAuthError(err error) bool {
	var ae *auth.Error
	return errors.As(err, &ae)
}
