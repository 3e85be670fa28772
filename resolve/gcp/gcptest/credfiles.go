package gcptest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// The test key is generated once per test binary: RSA key generation is
// slow, and every emulator may share it.
var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
	keyErr  error
)

// WriteKeyFile writes a service account key file (type service_account)
// into dir and returns its path. Its key is a freshly generated RSA key
// the emulator knows the public half of, and its token_uri is TokenURL,
// so Google's libraries sign a JWT with it and exchange it here for an
// access token. (They skip the exchange and sign JWTs for the API itself
// when a client asks for that, as cloud.google.com/go's generated
// clients do, or outside googleapis.com; ward's store detects credentials
// with scopes, as google.golang.org/api's clients do, so the exchange
// runs.) Env names the file from now on.
func (s *Server) WriteKeyFile(dir string) (string, error) {
	keyOnce.Do(func() { testKey, keyErr = rsa.GenerateKey(rand.Reader, 2048) })
	if keyErr != nil {
		return "", fmt.Errorf("generate the test key: %w", keyErr)
	}
	der, err := x509.MarshalPKCS8PrivateKey(testKey)
	if err != nil {
		return "", fmt.Errorf("encode the test key: %w", err)
	}
	keyID := randomHex(20)
	file := map[string]string{
		"type":                        "service_account",
		"project_id":                  Project,
		"private_key_id":              keyID,
		"private_key":                 string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":                ClientEmail,
		"client_id":                   "100000000000000000001",
		"auth_uri":                    "https://accounts.google.com/o/oauth2/auth",
		"token_uri":                   s.TokenURL(),
		"auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
		"universe_domain":             "googleapis.com",
	}
	path := filepath.Join(dir, "service-account.json")
	if err := writeJSONFile(path, file); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[ClientEmail] = &account{keyID: keyID, key: &testKey.PublicKey}
	s.keyFile = path
	return path, nil
}

// WorkloadPoolAudience is the audience of the workload identity pool
// provider that WriteExternalAccountFile configures.
var WorkloadPoolAudience = "//iam.googleapis.com/projects/" + ProjectNumber(Project) + "/locations/global/workloadIdentityPools/ward-pool/providers/ward-provider"

// WriteExternalAccountFile writes into dir a workload identity federation
// configuration (type external_account) whose subject token is read from
// a file beside it, as an OIDC token mounted by a CI system or Kubernetes
// would be, and whose token_url is STSURL. It returns the configuration's
// path; the emulator accepts that subject token for WorkloadPoolAudience.
func (s *Server) WriteExternalAccountFile(dir string) (string, error) {
	subject := "eyJhbGciOiJub25lIn0." + randomHex(32) + "."
	subjectFile := filepath.Join(dir, "oidc-token")
	if err := os.WriteFile(subjectFile, []byte(subject), 0o600); err != nil {
		return "", fmt.Errorf("write the subject token: %w", err)
	}
	file := map[string]any{
		"type":               "external_account",
		"audience":           WorkloadPoolAudience,
		"subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
		"token_url":          s.STSURL(),
		"credential_source":  map[string]any{"file": subjectFile},
		"universe_domain":    "googleapis.com",
	}
	path := filepath.Join(dir, "external-account.json")
	if err := writeJSONFile(path, file); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subjects[WorkloadPoolAudience] = subject
	return path, nil
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
