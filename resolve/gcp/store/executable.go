package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials/externalaccount"

	"github.com/wardsecrets/ward/resolve/bodylimit"
)

// maxExecutableOutput bounds what an external_account file's executable
// may print on stdout (and stderr): one JSON document with a subject
// token, a few KiB. The auth library reads at most as much of the output
// file.
const maxExecutableOutput = 1 << 20

// ExecutableOutputError is an external_account file's executable that
// printed more than maxExecutableOutput.
type ExecutableOutputError struct {
	// Program is the command's program, without its arguments.
	Program string
	Max     int
}

func (e *ExecutableOutputError) Error() string {
	return fmt.Sprintf("the credentials file's executable %s (credential_source.executable) printed more than %d MiB, where the Google auth library reads one JSON document with a subject token: ward stopped reading it; check the command (a loop, a log written to stdout)", e.Program, e.Max>>20)
}

// executableFile is what ward reads of an external_account file whose
// subject token an executable gives (pluggable auth).
type executableFile struct {
	Type                           string `json:"type"`
	Audience                       string `json:"audience"`
	SubjectTokenType               string `json:"subject_token_type"`
	TokenURL                       string `json:"token_url"`
	TokenInfoURL                   string `json:"token_info_url"`
	ServiceAccountImpersonationURL string `json:"service_account_impersonation_url"`
	ServiceAccountImpersonation    struct {
		TokenLifetimeSeconds int `json:"token_lifetime_seconds"`
	} `json:"service_account_impersonation"`
	ClientID                 string `json:"client_id"`
	ClientSecret             string `json:"client_secret"`
	WorkforcePoolUserProject string `json:"workforce_pool_user_project"`
	UniverseDomain           string `json:"universe_domain"`
	CredentialSource         struct {
		Executable *struct {
			Command       string `json:"command"`
			TimeoutMillis int    `json:"timeout_millis"`
			OutputFile    string `json:"output_file"`
		} `json:"executable"`
	} `json:"credential_source"`
}

// boundExecutable returns creds, which DetectDefault made (and so
// checked) from an external_account file, with its subject token from
// ward's run of the file's executable when it has one; else creds as
// they are. The auth library runs the executable itself, reading all it
// prints on stdout and stderr into memory, and takes no hook for it: an
// executable that printed without end (a loop, a wrapper's log on
// stdout) grew ward-gcp by gigabytes until its timeout (30 s by
// default). ward gives the library the executable's subject token
// instead (externalaccount's SubjectTokenProvider), run as the library
// documents and does: its command split on spaces, no shell, the
// environment with GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE, _TOKEN_TYPE,
// _INTERACTIVE=0, _IMPERSONATED_EMAIL and _OUTPUT_FILE, its timeout,
// GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1 required, and the output
// file read first; but at most maxExecutableOutput of what it prints.
// As with metadataCredentials, the library's regional access boundary
// lookup (GOOGLE_AUTH_TRUST_BOUNDARY_ENABLED) is not made for them.
func boundExecutable(creds *auth.Credentials) (*auth.Credentials, error) {
	var f executableFile
	if json.Unmarshal(creds.JSON(), &f) != nil || f.Type != "external_account" || f.CredentialSource.Executable == nil {
		return creds, nil
	}
	x := f.CredentialSource.Executable
	src := &executableSource{command: x.Command, outputFile: x.OutputFile, timeout: 30 * time.Second}
	if x.TimeoutMillis > 0 {
		src.timeout = time.Duration(x.TimeoutMillis) * time.Millisecond
	}
	if m := impersonationRE.FindStringSubmatch(f.ServiceAccountImpersonationURL); m != nil {
		src.impersonated = m[1]
	}
	ext, err := externalaccount.NewCredentials(&externalaccount.Options{
		Audience:                       f.Audience,
		SubjectTokenType:               f.SubjectTokenType,
		TokenURL:                       f.TokenURL,
		TokenInfoURL:                   f.TokenInfoURL,
		ServiceAccountImpersonationURL: f.ServiceAccountImpersonationURL,
		ServiceAccountImpersonationLifetimeSeconds: f.ServiceAccountImpersonation.TokenLifetimeSeconds,
		ClientID:                 f.ClientID,
		ClientSecret:             f.ClientSecret,
		Scopes:                   []string{scope},
		WorkforcePoolUserProject: f.WorkforcePoolUserProject,
		SubjectTokenProvider:     src,
		Logger:                   discard,
	})
	if err != nil {
		return nil, err
	}
	// The token is ward's; the rest (project, quota project, universe)
	// is what DetectDefault read.
	return auth.NewCredentials(&auth.CredentialsOptions{
		TokenProvider:          ext.TokenProvider,
		JSON:                   creds.JSON(),
		ProjectIDProvider:      auth.CredentialsPropertyFunc(creds.ProjectID),
		QuotaProjectIDProvider: auth.CredentialsPropertyFunc(creds.QuotaProjectID),
		UniverseDomainProvider: auth.CredentialsPropertyFunc(creds.UniverseDomain),
	}), nil
}

// impersonationRE finds the service account in an impersonation URL, as
// the library does for GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL.
var impersonationRE = regexp.MustCompile(`https://iamcredentials..+/v1/projects/-/serviceAccounts/(.*@.*):generateAccessToken`)

// executableSource runs an external_account file's executable for its
// subject token.
type executableSource struct {
	command      string
	outputFile   string
	timeout      time.Duration
	impersonated string
}

func (e *executableSource) SubjectToken(ctx context.Context, opts *externalaccount.RequestOptions) (string, error) {
	if e.outputFile != "" {
		if token, err := e.fromOutputFile(); token != "" || err != nil {
			return token, err
		}
	}
	if os.Getenv("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES") != "1" {
		return "", errors.New("credentials: executables need to be explicitly allowed (set GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES to '1') to run")
	}
	fields := strings.Fields(e.command)
	if len(fields) == 0 {
		return "", errors.New("credentials: missing `command` field — executable command must be provided")
	}
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, fields[0], fields[1:]...)
	cmd.Env = append(os.Environ(),
		"GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE="+opts.Audience,
		"GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE="+opts.SubjectTokenType,
		"GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE=0")
	if e.impersonated != "" {
		cmd.Env = append(cmd.Env, "GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL="+e.impersonated)
	}
	if e.outputFile != "" {
		cmd.Env = append(cmd.Env, "GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE="+e.outputFile)
	}
	var stdout, stderr bytes.Buffer
	out := &bodylimit.Writer{W: &stdout, Left: maxExecutableOutput}
	errOut := &bodylimit.Writer{W: &stderr, Left: maxExecutableOutput}
	cmd.Stdout, cmd.Stderr = out, errOut
	// A process the executable left behind, holding the pipes, does not
	// hold the run past its end.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if out.Over || errOut.Over {
		// The program only: its arguments are the file's, not ward's.
		return "", &ExecutableOutputError{Program: fields[0], Max: maxExecutableOutput}
	}
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return "", fmt.Errorf("credentials: the executable did not finish within its timeout (%s, credential_source.executable.timeout_millis): %w", e.timeout, context.DeadlineExceeded)
		}
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			return "", fmt.Errorf("credentials: executable command failed with exit code %v: %w", ee.ExitCode(), err)
		}
		return "", fmt.Errorf("credentials: executable command failed: %w", err)
	}
	// As the library: stdout, or stderr when stdout is empty.
	output := bytes.TrimSpace(stdout.Bytes())
	if len(output) == 0 {
		output = bytes.TrimSpace(stderr.Bytes())
	}
	return e.parse(output, "response")
}

// fromOutputFile is the subject token the executable left in its output
// file, still valid; none ("", nil) when the file is missing, empty,
// expired or holds a failure, as the library reads it.
func (e *executableSource) fromOutputFile() (string, error) {
	f, err := os.Open(e.outputFile)
	if err != nil {
		return "", nil
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxExecutableOutput))
	if err != nil || len(data) == 0 {
		return "", nil
	}
	token, err := e.parse(data, "output file")
	if errors.As(err, new(nonCacheable)) {
		return "", nil
	}
	return token, err
}

// nonCacheable is a failure that the executable's next run may not have:
// an expired token, or one the executable says it could not get.
type nonCacheable string

func (e nonCacheable) Error() string { return string(e) }

// parse reads the executable's response, as the library does, with its
// messages; the one for output that is not JSON begins with
// executableParseFailed and quotes no output (hideExecutableOutput).
func (e *executableSource) parse(b []byte, source string) (string, error) {
	var r struct {
		Version        int    `json:"version"`
		Success        *bool  `json:"success"`
		TokenType      string `json:"token_type"`
		ExpirationTime int64  `json:"expiration_time"`
		IDToken        string `json:"id_token"`
		SamlResponse   string `json:"saml_response"`
		Code           string `json:"code"`
		Message        string `json:"message"`
	}
	if json.Unmarshal(b, &r) != nil {
		return "", fmt.Errorf("%s%q", executableParseFailed, source)
	}
	switch {
	case r.Version == 0:
		return "", fmt.Errorf("credentials: %q missing %q field", source, "version")
	case r.Success == nil:
		return "", fmt.Errorf("credentials: %q missing %q field", source, "success")
	case !*r.Success && (r.Code == "" || r.Message == ""):
		return "", nonCacheable("credentials: response must include `error` and `message` fields when unsuccessful")
	case !*r.Success:
		return "", nonCacheable(fmt.Sprintf("credentials: response contains unsuccessful response: (%v) %v", r.Code, r.Message))
	case r.Version > 1 || r.Version < 0:
		return "", fmt.Errorf("credentials: %v contains unsupported version: %v", source, r.Version)
	case r.ExpirationTime == 0 && e.outputFile != "":
		return "", fmt.Errorf("credentials: %q missing %q field", source, "expiration_time")
	case r.TokenType == "":
		return "", fmt.Errorf("credentials: %q missing %q field", source, "token_type")
	case r.ExpirationTime != 0 && r.ExpirationTime < time.Now().Unix():
		return "", nonCacheable("credentials: the token returned by the executable is expired")
	}
	switch r.TokenType {
	case "urn:ietf:params:oauth:token-type:jwt", "urn:ietf:params:oauth:token-type:id_token":
		if r.IDToken == "" {
			return "", fmt.Errorf("credentials: %q missing %q field", source, "id_token")
		}
		return r.IDToken, nil
	case "urn:ietf:params:oauth:token-type:saml2":
		if r.SamlResponse == "" {
			return "", fmt.Errorf("credentials: %q missing %q field", source, "saml_response")
		}
		return r.SamlResponse, nil
	}
	return "", fmt.Errorf("credentials: %v contains unsupported token type", source)
}
