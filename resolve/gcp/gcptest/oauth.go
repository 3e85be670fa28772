package gcptest

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// The grant and token types of the two token endpoints.
const (
	grantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	grantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	tokenTypeAccess    = "urn:ietf:params:oauth:token-type:access_token"
)

// clockSkew is how far iat and exp may stray from the emulator's clock.
const clockSkew = 5 * time.Minute

// account is a service account whose key the emulator knows.
type account struct {
	keyID string
	key   *rsa.PublicKey
}

// serveOAuth answers the OAuth 2.0 token endpoint (/token, the
// service account JWT bearer grant of RFC 7523 as Google runs it) and the
// Security Token Service (/v1/token, the token exchange of RFC 8693).
func (s *Server) serveOAuth(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/token":
		s.count(MethodToken)
	case "/v1/token":
		s.count(MethodSTS)
	default:
		s.count("unknown")
		http.NotFound(w, r)
		return
	}
	if s.hangToken(r) {
		return
	}
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST only.")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Malformed form body.")
		return
	}
	if r.URL.Path == "/token" {
		s.jwtBearer(w, r)
	} else {
		s.tokenExchange(w, r)
	}
}

// jwtBearer checks a service account's signed assertion and issues an
// access token, with the errors Google's endpoint gives.
func (s *Server) jwtBearer(w http.ResponseWriter, r *http.Request) {
	if g := r.PostForm.Get("grant_type"); g != grantJWTBearer {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type: "+g)
		return
	}
	header, claims, signed, sig, ok := splitJWT(r.PostForm.Get("assertion"))
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT: malformed.")
		return
	}
	if header.Alg != "RS256" {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT: unsupported algorithm "+header.Alg+".")
		return
	}
	s.mu.Lock()
	acct := s.accounts[claims.Iss]
	s.mu.Unlock()
	if acct == nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid grant: account not found")
		return
	}
	if header.Kid != "" && header.Kid != acct.keyID {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	digest := sha256.Sum256([]byte(signed))
	if rsa.VerifyPKCS1v15(acct.key, crypto.SHA256, digest[:], sig) != nil {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT Signature.")
		return
	}
	if claims.Aud != s.TokenURL() {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT: Failed audience check. The right audience is "+s.TokenURL())
		return
	}
	now := s.now()
	iat, exp := time.Unix(claims.Iat, 0), time.Unix(claims.Exp, 0)
	if claims.Iat == 0 || claims.Exp == 0 || iat.After(now.Add(clockSkew)) || !exp.After(now.Add(-clockSkew)) || exp.Sub(iat) > time.Hour || !exp.After(iat) {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.")
		return
	}
	if !hasScope(claims.Scope, Scope) {
		oauthError(w, http.StatusBadRequest, "invalid_scope", "Invalid OAuth scope or ID token audience provided.")
		return
	}
	s.mu.Lock()
	tok, life := s.issueToken()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": int(life.Seconds()), "token_type": "Bearer"})
}

// tokenExchange swaps a workload identity federation subject token for a
// federated access token, as the Security Token Service does.
func (s *Server) tokenExchange(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	if g := f.Get("grant_type"); g != grantTokenExchange {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid value for \"grant_type\": "+g)
		return
	}
	if t := f.Get("requested_token_type"); t != tokenTypeAccess {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Invalid value for \"requested_token_type\".")
		return
	}
	if f.Get("subject_token_type") == "" || f.Get("subject_token") == "" {
		oauthError(w, http.StatusBadRequest, "invalid_request", "Missing subject_token or subject_token_type.")
		return
	}
	s.mu.Lock()
	want, ok := s.subjects[f.Get("audience")]
	s.mu.Unlock()
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_target", "The target service indicated by the \"audience\" parameters is invalid. This might either be because the pool or provider is disabled or deleted or because it doesn't exist.")
		return
	}
	if f.Get("subject_token") != want {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "The subject token could not be verified.")
		return
	}
	if !hasScope(f.Get("scope"), Scope) {
		oauthError(w, http.StatusBadRequest, "invalid_scope", "Invalid scope.")
		return
	}
	s.mu.Lock()
	tok, life := s.issueToken()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok, "issued_token_type": tokenTypeAccess, "token_type": "Bearer", "expires_in": int(life.Seconds()),
	})
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

type jwtClaims struct {
	Iss   string `json:"iss"`
	Aud   string `json:"aud"`
	Scope string `json:"scope"`
	Iat   int64  `json:"iat"`
	Exp   int64  `json:"exp"`
}

// splitJWT decodes a compact JWS: its header, claims, signing input and
// signature.
func splitJWT(s string) (jwtHeader, jwtClaims, string, []byte, bool) {
	var h jwtHeader
	var c jwtClaims
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return h, c, "", nil, false
	}
	hb, err1 := base64.RawURLEncoding.DecodeString(parts[0])
	cb, err2 := base64.RawURLEncoding.DecodeString(parts[1])
	sig, err3 := base64.RawURLEncoding.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || json.Unmarshal(hb, &h) != nil || json.Unmarshal(cb, &c) != nil {
		return h, c, "", nil, false
	}
	return h, c, parts[0] + "." + parts[1], sig, true
}

func hasScope(scopes, want string) bool {
	for _, sc := range strings.FieldsFunc(scopes, func(r rune) bool { return r == ' ' || r == ',' }) {
		if sc == want {
			return true
		}
	}
	return false
}

// oauthError writes an OAuth 2.0 error (RFC 6749 section 5.2).
func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}
