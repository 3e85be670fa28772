package gcptest

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
)

// PermissionGetAccessToken is the permission generateAccessToken needs on
// the target service account; roles/iam.serviceAccountTokenCreator
// grants it.
const PermissionGetAccessToken = "iam.serviceAccounts.getAccessToken"

// maxTokenLifetime is the longest token generateAccessToken grants
// without the organisation policy that extends it.
const maxTokenLifetime = time.Hour

// generatePathRE is generateAccessToken's path: v1/projects/-/serviceAccounts/EMAIL:generateAccessToken.
var generatePathRE = regexp.MustCompile(`^/v1/projects/([^/]+)/serviceAccounts/([^/:]+):generateAccessToken$`)

// IAMURL is the IAM Credentials API endpoint, for stores.gcp.iam_endpoint.
func (s *Server) IAMURL() string { return s.iam.URL + "/" }

// AddServiceAccount creates a service account that tokenCreators (service
// account emails, such as ClientEmail, the key file's) may get access
// tokens of: each holds roles/iam.serviceAccountTokenCreator on it.
func (s *Server) AddServiceAccount(email string, tokenCreators ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serviceAccts[email] = append([]string(nil), tokenCreators...)
}

// RevokeTokenCreator removes member's roles/iam.serviceAccountTokenCreator
// on the service account email: generateAccessToken then answers 403.
func (s *Server) RevokeTokenCreator(email, member string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serviceAccts[email] = slices.DeleteFunc(s.serviceAccts[email], func(m string) bool { return m == member })
}

// FailIAM makes the next n generateAccessToken calls fail with 503
// UNAVAILABLE.
func (s *Server) FailIAM(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.iamDenied = n
}

// serveIAM answers generateAccessToken as the IAM Credentials API does:
// the caller's bearer token must be valid, the caller must hold
// iam.serviceAccounts.getAccessToken on the target (403 PERMISSION_DENIED
// otherwise, which Google also answers when the caller may not know
// whether it exists), and the token lives the lifetime asked for, at most
// an hour.
func (s *Server) serveIAM(w http.ResponseWriter, r *http.Request) {
	m := generatePathRE.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != http.MethodPost {
		s.count("unknown")
		apiError(w, http.StatusNotFound, "NOT_FOUND", "The requested URL "+r.URL.Path+" was not found on this server.")
		return
	}
	s.count(MethodGenerateAccessToken)
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	caller, valid := s.validToken(tok)
	if !ok || !valid {
		unauthenticated(w)
		return
	}
	if s.answerDisabled(w, ServiceIAMCredentials) || s.answerPerimeter(w, ServiceIAMCredentials) {
		return
	}
	s.mu.Lock()
	fail := s.iamDenied > 0
	if fail {
		s.iamDenied--
	}
	s.mu.Unlock()
	if fail {
		apiError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "The service is currently unavailable.")
		return
	}
	project, target := m[1], m[2]
	if project != "-" {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "The project ID must be the wildcard character '-'.")
		return
	}
	var body struct {
		Scope     []string `json:"scope"`
		Lifetime  string   `json:"lifetime"`
		Delegates []string `json:"delegates"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	s.mu.Lock()
	creators, exists := s.serviceAccts[target]
	s.mu.Unlock()
	if !exists || !slices.Contains(creators, caller) {
		apiError(w, http.StatusForbidden, "PERMISSION_DENIED", "Permission '"+PermissionGetAccessToken+"' denied on resource (or it may not exist).")
		return
	}
	if len(body.Delegates) > 0 {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Delegation chains are not emulated.")
		return
	}
	if len(body.Scope) == 0 {
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Scope is required.")
		return
	}
	life := time.Hour
	if body.Lifetime != "" {
		d, err := time.ParseDuration(body.Lifetime)
		if err != nil || d <= 0 || !strings.HasSuffix(body.Lifetime, "s") {
			apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid value at 'lifetime' (type.googleapis.com/google.protobuf.Duration), Field 'lifetime', Illegal duration format; duration must end with 's'")
			return
		}
		if d > maxTokenLifetime {
			apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "The lifetime of the access token must be at most 3600 seconds.")
			return
		}
		life = d
	}
	s.mu.Lock()
	granted := s.issueTokenFor(target, life)
	expires := s.tokens[granted].expires
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"accessToken": granted, "expireTime": expires.UTC().Format(time.RFC3339)})
}
