package azuretest

// Microsoft Entra ID (Microsoft identity platform v2.0): the tenant's
// OpenID configuration, AAD instance discovery, and the token endpoint's
// client credentials grant with a client secret or a federated client
// assertion.

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// jwtBearer is the client_assertion_type of RFC 7523.
const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// tokenLifetime is how long an access token the emulator issues lasts,
// unless SetTokenLifetime says otherwise.
const tokenLifetime = time.Hour

// FederatedToken returns a token such as Kubernetes projects into a pod
// for workload identity, or a GitHub Actions job gets from its OIDC
// provider: a JWT signed by FederatedIssuer's key, with issuer
// FederatedIssuer, subject FederatedSubject and the given audience (Entra
// ID accepts only FederatedAudience), valid for ttl from now (a negative
// ttl makes an expired one). Write it to the file WorkloadIdentityEnv
// names.
func (s *Server) FederatedToken(audience string, ttl time.Duration) string {
	s.mu.Lock()
	now := s.now()
	s.mu.Unlock()
	iat := now
	if ttl < 0 {
		iat = now.Add(2 * ttl)
	}
	claims := map[string]any{
		"iss": FederatedIssuer,
		"sub": FederatedSubject,
		"aud": []string{audience},
		"iat": iat.Unix(),
		"nbf": iat.Unix(),
		"exp": now.Add(ttl).Unix(),
		"kubernetes.io": map[string]any{
			"namespace":      "default",
			"serviceaccount": map[string]string{"name": "ward"},
		},
	}
	header := map[string]string{"alg": "RS256", "kid": "azuretest-federation", "typ": "JWT"}
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	signing := b64(h) + "." + b64(c)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(nil, s.federationKey, crypto.SHA256, digest[:])
	if err != nil {
		panic(err)
	}
	return signing + "." + b64(sig)
}

func (s *Server) serveEntra(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/common/discovery/instance":
		s.count(RouteInstanceDiscovery)
		s.instanceDiscovery(w, r)
	case r.Method == http.MethodGet && len(parts) == 4 && parts[1] == "v2.0" && parts[2] == ".well-known" && parts[3] == "openid-configuration":
		s.count(RouteOpenIDConfig)
		s.openIDConfiguration(w, parts[0])
	case r.Method == http.MethodPost && len(parts) == 4 && parts[1] == "oauth2" && parts[2] == "v2.0" && parts[3] == "token":
		s.count(RouteToken)
		s.token(w, r, parts[0])
	default:
		s.count(RouteOther)
		s.writeOAuthError(w, http.StatusNotFound, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a GET request.")
	}
}

// instanceDiscovery answers MSAL's authority validation for this host.
func (s *Server) instanceDiscovery(w http.ResponseWriter, r *http.Request) {
	host := strings.TrimPrefix(s.entra.URL, "https://")
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": s.entra.URL + "/" + TenantID + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{
			{"preferred_network": host, "preferred_cache": host, "aliases": []string{host}},
		},
	})
}

func (s *Server) openIDConfiguration(w http.ResponseWriter, tenant string) {
	if !strings.EqualFold(tenant, TenantID) {
		s.tenantNotFound(w, tenant)
		return
	}
	base := s.entra.URL + "/" + TenantID
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        base + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              base + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                base + "/v2.0",
		"request_uri_parameter_supported":       false,
		"authorization_endpoint":                base + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         base + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  base + "/oauth2/v2.0/logout",
		"tenant_region_scope":                   "EU",
		"cloud_instance_name":                   "microsoftonline.com",
		"cloud_graph_host_name":                 "graph.windows.net",
		"msgraph_host":                          "graph.microsoft.com",
	})
}

// token is the client credentials grant.
func (s *Server) token(w http.ResponseWriter, r *http.Request, tenant string) {
	if !strings.EqualFold(tenant, TenantID) {
		s.tenantNotFound(w, tenant)
		return
	}
	if err := r.ParseForm(); err != nil {
		s.writeOAuthError(w, http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
		return
	}
	f := r.PostForm
	if gt := f.Get("grant_type"); gt != "client_credentials" {
		s.writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", gt))
		return
	}
	resource := ""
	for _, sc := range strings.Fields(f.Get("scope")) {
		if r, ok := strings.CutSuffix(sc, "/.default"); ok {
			resource = r
		}
	}
	if resource == "" {
		s.writeOAuthError(w, http.StatusBadRequest, "invalid_scope", 1002012,
			fmt.Sprintf("The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", f.Get("scope")))
		return
	}
	client := f.Get("client_id")
	secret, assertion := f.Get("client_secret"), f.Get("client_assertion")
	switch {
	case client != ClientID && client != WorkloadClientID:
		s.writeOAuthError(w, http.StatusBadRequest, "unauthorized_client", 700016,
			fmt.Sprintf("Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", client, TenantID))
		return
	case secret == "" && assertion == "":
		s.writeOAuthError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	case secret != "" && assertion != "":
		s.writeOAuthError(w, http.StatusBadRequest, "invalid_request", 50027, "Only one client credential may be presented: 'client_assertion' or 'client_secret'.")
		return
	case client == ClientID && secret != s.clientSecret:
		// The message names the application, never what was sent.
		s.writeOAuthError(w, http.StatusUnauthorized, "invalid_client", 7000215,
			fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", ClientID))
		return
	case client == WorkloadClientID:
		if status, code, n, msg := s.checkFederated(f.Get("client_assertion_type"), assertion); status != 0 {
			s.writeOAuthError(w, status, code, n, msg)
			return
		}
	}
	life := s.tokenLife()
	tok := s.issueToken(grant{resource: resource, tenant: TenantID, appID: client, expires: s.clock().Add(life)})
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"expires_in":     int(life.Seconds()) - 1,
		"ext_expires_in": int(life.Seconds()) - 1,
		"access_token":   tok,
	})
}

// checkFederated validates a client assertion against the workload
// application's federated identity credential: signed by the issuer's key,
// issuer, subject and audience as configured, within its valid time. It
// returns a zero status when the assertion is good.
func (s *Server) checkFederated(assertionType, assertion string) (status int, code string, aadsts int, msg string) {
	if assertionType != jwtBearer || assertion == "" {
		return http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'."
	}
	parts := strings.Split(assertion, ".")
	if len(parts) != 3 {
		return http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed."
	}
	var header struct {
		Alg string `json:"alg"`
	}
	var claims struct {
		Iss string          `json:"iss"`
		Sub string          `json:"sub"`
		Aud json.RawMessage `json:"aud"`
		Exp int64           `json:"exp"`
		Nbf int64           `json:"nbf"`
	}
	if decodeSegment(parts[0], &header) != nil || decodeSegment(parts[1], &claims) != nil {
		return http.StatusBadRequest, "invalid_request", 50027, "JWT token is invalid or malformed."
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err != nil || header.Alg != "RS256" || rsa.VerifyPKCS1v15(&s.federationKey.PublicKey, crypto.SHA256, digest[:], sig) != nil {
		return http.StatusUnauthorized, "invalid_client", 700027, "Client assertion failed signature validation."
	}
	if claims.Iss != FederatedIssuer {
		return http.StatusBadRequest, "invalid_request", 700211,
			fmt.Sprintf("No matching federated identity record found for presented assertion issuer '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.", claims.Iss)
	}
	if claims.Sub != FederatedSubject {
		return http.StatusBadRequest, "invalid_request", 700213,
			fmt.Sprintf("No matching federated identity record found for presented assertion subject '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.", claims.Sub)
	}
	auds := audiences(claims.Aud)
	ok := false
	for _, a := range auds {
		ok = ok || a == FederatedAudience
	}
	if !ok {
		return http.StatusBadRequest, "invalid_request", 700212,
			fmt.Sprintf("No matching federated identity record found for presented assertion audience '%s'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.", strings.Join(auds, ","))
	}
	now := s.clock().Unix()
	if now >= claims.Exp || now < claims.Nbf-300 {
		return http.StatusBadRequest, "invalid_client", 700024,
			fmt.Sprintf("Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s.",
				time.Unix(now, 0).UTC().Format(time.RFC3339), time.Unix(claims.Nbf, 0).UTC().Format(time.RFC3339), time.Unix(claims.Exp, 0).UTC().Format(time.RFC3339))
	}
	return 0, "", 0, ""
}

// audiences reads a JWT aud claim, a string or an array of them.
func audiences(raw json.RawMessage) []string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return []string{one}
	}
	var many []string
	_ = json.Unmarshal(raw, &many)
	return many
}

func (s *Server) tenantNotFound(w http.ResponseWriter, tenant string) {
	s.writeOAuthError(w, http.StatusBadRequest, "invalid_tenant", 90002,
		fmt.Sprintf("Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", tenant))
}

// writeOAuthError writes Entra ID's error response (RFC 6749 section 5.2
// with Microsoft's extra members).
func (s *Server) writeOAuthError(w http.ResponseWriter, status int, code string, aadsts int, desc string) {
	trace, corr := newUUID(), newUUID()
	ts := s.clock().UTC().Format("2006-01-02 15:04:05Z")
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", aadsts, desc, trace, corr, ts),
		"error_codes":       []int{aadsts},
		"timestamp":         ts,
		"trace_id":          trace,
		"correlation_id":    corr,
		"error_uri":         fmt.Sprintf("%s/error?code=%d", s.entra.URL, aadsts),
	})
}

func (s *Server) clock() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now()
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
