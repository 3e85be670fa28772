package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve/azure"
)

func TestScrub(t *testing.T) {
	t.Setenv("AZURE_CLIENT_SECRET", "s3cret-value-xyz")
	t.Setenv("IDENTITY_HEADER", "hdr-0123456789")
	jwt := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	tests := []struct{ in, gone string }{
		{"AADSTS7000215: secret s3cret-value-xyz was wrong", "s3cret-value-xyz"},
		{"assertion " + jwt + " rejected", jwt},
		{"Authorization: Bearer abc.def-ghi", "abc.def-ghi"},
		{"header hdr-0123456789 sent", "hdr-0123456789"},
	}
	for _, tt := range tests {
		t.Run(tt.gone, func(t *testing.T) {
			if got := scrub(tt.in); strings.Contains(got, tt.gone) {
				t.Errorf("scrub left a credential in %q", got)
			}
		})
	}
	for _, k := range secretEnv {
		if !slices.Contains(azure.CredentialEnv, k) {
			t.Errorf("%s is scrubbed from messages but not stripped from the child's environment", k)
		}
	}
}

func TestCredentialsTried(t *testing.T) {
	msg := "DefaultAzureCredential: failed to acquire a token.\nAttempted credentials:\n" +
		"\tEnvironmentCredential: missing environment variable AZURE_TENANT_ID\n" +
		"\tWorkloadIdentityCredential authentication failed. \n\t\tPOST https://login.example/t/oauth2/v2.0/token\n\t\t{\"error\":\"x\"}\n" +
		"\tAzureCLICredential: Azure CLI not found on path"
	got := credentialsTried(msg)
	want := "EnvironmentCredential: missing environment variable AZURE_TENANT_ID; WorkloadIdentityCredential authentication failed.; AzureCLICredential: Azure CLI not found on path"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// MSAL's "server response error:\n %w", as the chain indents it:
	// the headline goes on with its cause.
	cut := "failed to acquire a token.\nAttempted credentials:\n" +
		"\tClientSecretCredential: unable to resolve an endpoint: server response error:\n\t\t the answer from 127.0.0.1:1 is larger than 16 MiB\n\t\tmore\n" +
		"\tAzureCLICredential: Azure CLI not found on path"
	if got, want := credentialsTried(cut), "ClientSecretCredential: unable to resolve an endpoint: server response error: the answer from 127.0.0.1:1 is larger than 16 MiB; AzureCLICredential: Azure CLI not found on path"; got != want {
		t.Errorf("a headline cut at its colon: got %q, want %q", got, want)
	}
	if got := credentialsTried("something else\nsecond line"); got != "something else" {
		t.Errorf("an unknown shape: got %q, want its first line", got)
	}
}

func TestShouldRetry(t *testing.T) {
	resp := func(status int, retryAfter string, deadline time.Duration) *http.Response {
		ctx := context.Background()
		if deadline > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, deadline)
			t.Cleanup(cancel)
		}
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://v.vault.azure.net/secrets/x", nil)
		r := &http.Response{StatusCode: status, Header: http.Header{}, Request: req}
		if retryAfter != "" {
			r.Header.Set("Retry-After", retryAfter)
		}
		return r
	}
	tests := []struct {
		name string
		resp *http.Response
		want bool
	}{
		{"429", resp(429, "", 0), true},
		{"429 with Retry-After within the deadline", resp(429, "1", time.Minute), true},
		{"429 with Retry-After beyond the deadline", resp(429, "5", time.Second), false},
		{"503", resp(503, "", 0), true},
		{"500", resp(500, "", 0), true},
		{"400", resp(400, "", 0), false},
		{"401", resp(401, "", 0), false},
		{"403", resp(403, "", 0), false},
		{"404", resp(404, "", 0), false},
		{"408", resp(408, "", 0), false},
		{"501", resp(501, "", 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shouldRetry(tt.resp, nil); got != tt.want {
				t.Errorf("got shouldRetry=%v, want %v", got, tt.want)
			}
		})
	}
	if !shouldRetry(nil, context.DeadlineExceeded) {
		t.Errorf("a transport error is not retried")
	}
	certErr := &url.Error{Op: "Get", URL: "https://v.vault.azure.net/", Err: &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}}
	if shouldRetry(nil, certErr) {
		t.Errorf("a certificate that does not verify is retried: a retry meets the same certificate")
	}
	if msg := (target{vault: "v", name: "x"}).fail(certErr, &attempts{start: time.Now()}, time.Second).Error(); !strings.Contains(msg, "SSL_CERT_FILE") {
		t.Errorf("the error does not say what to set for a certificate of one's own CA: %s", msg)
	}
}

func TestRetryAfter(t *testing.T) {
	tests := []struct {
		header, value string
		want          time.Duration
	}{
		{"Retry-After", "3", 3 * time.Second},
		{"retry-after-ms", "250", 250 * time.Millisecond},
		{"x-ms-retry-after-ms", "40", 40 * time.Millisecond},
		{"Retry-After", "soon", 0},
		{"Retry-After", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.header+"="+tt.value, func(t *testing.T) {
			r := &http.Response{Header: http.Header{}}
			r.Header.Set(tt.header, tt.value)
			if got := retryAfter(r); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}
