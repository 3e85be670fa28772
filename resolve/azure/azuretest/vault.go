package azuretest

// Key Vault: GET /secrets/{name}, GET /secrets/{name}/{version}.

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// APIVersions are the Key Vault API versions the emulator accepts: the
// stable ones whose secret bundle and error shapes it follows.
var APIVersions = []string{"7.0", "7.1", "7.2", "7.3", "7.4", "7.5", "7.6", "2025-07-01", "2026-04-01"}

var secretNameRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,127}$`)

type secret struct {
	name     string // as first written
	versions []*version
	deleted  bool
}

type version struct {
	id               string
	value            string
	enabled          bool
	created, updated time.Time
	// notBefore and expires are the nbf and exp attributes; zero when
	// unset.
	notBefore, expires time.Time
}

func (sec *secret) current() *version { return sec.versions[len(sec.versions)-1] }

func (sec *secret) find(id string) *version {
	for _, v := range sec.versions {
		if strings.EqualFold(v.id, id) {
			return v
		}
	}
	return nil
}

// SetSecret adds a version holding value to the named secret, creating
// the secret (or undeleting it) as needed, and returns the new version's
// id. The new version becomes the current one.
func (s *Server) SetSecret(name, value string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := strings.ToLower(name)
	sec := s.secrets[key]
	if sec == nil || sec.deleted {
		sec = &secret{name: name}
		s.secrets[key] = sec
	}
	now := s.now().UTC().Truncate(time.Second)
	v := &version{id: randomHex(16), value: value, enabled: true, created: now, updated: now}
	sec.versions = append(sec.versions, v)
	return v.id
}

// versionOf is one version of a secret not deleted, its current one when
// version is empty; nil when there is none. The caller holds s.mu.
func (s *Server) versionOf(name, version string) *version {
	sec := s.secrets[strings.ToLower(name)]
	if sec == nil || sec.deleted {
		return nil
	}
	if version != "" {
		return sec.find(version)
	}
	return sec.current()
}

// Disable disables one version of a secret (its current one when version
// is empty), as az keyvault secret set-attributes --enabled false does;
// reading it then fails with 403 Forbidden, inner error SecretDisabled.
func (s *Server) Disable(name, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.versionOf(name, version); v != nil {
		v.enabled = false
		v.updated = s.now().UTC().Truncate(time.Second)
	}
}

// SetValidity sets the nbf (not before) and exp (expires) attributes of
// one version of a secret (its current one when version is empty), as az
// keyvault secret set-attributes --not-before --expires does; a zero time
// leaves the attribute unset. Key Vault documents both as informational:
// a get still returns a version outside its window.
func (s *Server) SetValidity(name, version string, notBefore, expires time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.versionOf(name, version); v != nil {
		v.notBefore, v.expires = notBefore.Truncate(time.Second), expires.Truncate(time.Second)
		v.updated = s.now().UTC().Truncate(time.Second)
	}
}

// DeleteSecret deletes a secret with all its versions; reads then get 404
// SecretNotFound, as for a soft-deleted secret.
func (s *Server) DeleteSecret(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if sec := s.secrets[strings.ToLower(name)]; sec != nil {
		sec.deleted = true
	}
}

// secretBundle is the JSON of a secret version (SecretBundle).
type secretBundle struct {
	Value      string            `json:"value"`
	ID         string            `json:"id"`
	Attributes secretAttributes  `json:"attributes"`
	Tags       map[string]string `json:"tags"`
}

// secretAttributes carries times as Unix seconds, as Key Vault does.
type secretAttributes struct {
	Enabled         bool   `json:"enabled"`
	NotBefore       int64  `json:"nbf,omitempty"`
	Expires         int64  `json:"exp,omitempty"`
	Created         int64  `json:"created"`
	Updated         int64  `json:"updated"`
	RecoveryLevel   string `json:"recoveryLevel"`
	RecoverableDays int    `json:"recoverableDays"`
}

// kvError is Key Vault's error body.
type kvError struct {
	Error kvErrorDetail `json:"error"`
}

type kvErrorDetail struct {
	Code       string         `json:"code"`
	Message    string         `json:"message"`
	InnerError *kvErrorDetail `json:"innererror,omitempty"`
}

func (s *Server) serveVault(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-ms-request-id", newUUID())
	w.Header().Set("x-ms-keyvault-service-version", "1.9.0.0")
	route, name, ver := vaultRoute(r)
	s.count(route)
	s.mu.Lock()
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 {
		time.Sleep(latency) // simulated network distance
	}
	if route == RouteOther {
		writeKVError(w, http.StatusBadRequest, "BadParameter", "The operation is not supported by the azuretest emulator.", "")
		return
	}
	if !apiVersionOK(r.URL.Query().Get("api-version")) {
		writeKVError(w, http.StatusBadRequest, "BadParameter",
			fmt.Sprintf("The specified version (%s) is not recognized. Consider using the latest supported version (7.6).", r.URL.Query().Get("api-version")), "")
		return
	}
	g, ok := s.authorize(w, r)
	if !ok {
		return
	}

	s.mu.Lock()
	s.authorized[route]++
	if s.throttle > 0 {
		s.throttle--
		wait := s.retryAfter
		s.mu.Unlock()
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(max(wait, time.Second).Seconds()))))
		writeKVError(w, http.StatusTooManyRequests, "Throttled",
			"Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached", "")
		return
	}
	if network := s.network; network != "" {
		s.mu.Unlock()
		writeKVError(w, http.StatusForbidden, "Forbidden", networkRefusal(network, g, r), network)
		return
	}
	if s.deny[""] || s.deny[strings.ToLower(name)] {
		s.mu.Unlock()
		writeKVError(w, http.StatusForbidden, "Forbidden", rbacDenial(g, name), "ForbiddenByRbac")
		return
	}
	if !secretNameRE.MatchString(name) {
		s.mu.Unlock()
		writeKVError(w, http.StatusBadRequest, "BadParameter", "The request URI contains an invalid name: "+name, "")
		return
	}
	var v *version
	if sec := s.secrets[strings.ToLower(name)]; sec != nil && !sec.deleted {
		if ver == "" {
			v = sec.current()
		} else {
			v = sec.find(ver)
		}
		name = sec.name
	}
	var bundle secretBundle
	if v != nil && v.enabled {
		bundle = secretBundle{
			Value: v.value,
			ID:    "https://" + r.Host + "/secrets/" + name + "/" + v.id,
			Attributes: secretAttributes{
				Enabled: true, Created: v.created.Unix(), Updated: v.updated.Unix(),
				RecoveryLevel: "Recoverable+Purgeable", RecoverableDays: 90,
			},
			Tags: map[string]string{},
		}
		if !v.notBefore.IsZero() {
			bundle.Attributes.NotBefore = v.notBefore.Unix()
		}
		if !v.expires.IsZero() {
			bundle.Attributes.Expires = v.expires.Unix()
		}
	}
	s.mu.Unlock()

	switch {
	case v == nil:
		id := name
		if ver != "" {
			id += "/" + ver
		}
		writeKVError(w, http.StatusNotFound, "SecretNotFound",
			"A secret with (name/id) "+id+" was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182", "")
	case !v.enabled:
		writeKVError(w, http.StatusForbidden, "Forbidden", "Operation get is not allowed on a disabled secret.", "SecretDisabled")
	default:
		writeJSON(w, http.StatusOK, bundle)
	}
}

// vaultRoute names the route of a request and its secret name and
// version. azsecrets asks for the current version as /secrets/{name}/
// (an empty version segment).
func vaultRoute(r *http.Request) (route, name, ver string) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/secrets/")
	if r.Method != http.MethodGet || !ok || rest == "" {
		return RouteOther, "", ""
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 1, len(parts) == 2 && parts[1] == "":
		return RouteGetSecret, parts[0], ""
	case len(parts) == 2 && parts[1] != "versions":
		return RouteGetSecretVersion, parts[0], parts[1]
	}
	return RouteOther, "", ""
}

func apiVersionOK(v string) bool {
	for _, a := range APIVersions {
		if v == a {
			return true
		}
	}
	return false
}

// authorize checks the bearer token. A request without one draws the
// challenge azsecrets answers by fetching a token for the resource it
// names from the tenant it names.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (grant, bool) {
	challenge := fmt.Sprintf(`Bearer authorization="%s/%s", resource="%s"`, s.entra.URL, TenantID, VaultResource)
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		w.Header().Set("WWW-Authenticate", challenge)
		writeKVError(w, http.StatusUnauthorized, "Unauthorized", "AKV10000: Request is missing a Bearer or PoP token.", "")
		return grant{}, false
	}
	s.mu.Lock()
	g, known := s.tokens[tok]
	now := s.now()
	s.mu.Unlock()
	msg := ""
	switch {
	case !known:
		msg = "AKV10022: Invalid audience or the token was not issued by this directory."
	case now.After(g.expires):
		msg = "AKV10023: Token expired."
	case strings.TrimSuffix(g.resource, "/") != VaultResource:
		msg = fmt.Sprintf("AKV10022: Invalid audience. Expected %s, found: %s.", VaultResource, g.resource)
	case g.tenant != TenantID:
		msg = fmt.Sprintf("AKV10032: Invalid issuer. Expected one of https://sts.windows.net/%s/, found https://sts.windows.net/%s/.", TenantID, g.tenant)
	}
	if msg != "" {
		s.mu.Lock()
		s.rejected++
		s.mu.Unlock()
		w.Header().Set("WWW-Authenticate", challenge)
		writeKVError(w, http.StatusUnauthorized, "Unauthorized", msg, "")
		return grant{}, false
	}
	s.mu.Lock()
	s.used[tok]++
	s.mu.Unlock()
	return g, true
}

// networkRefusal is the message Key Vault gives when its network settings
// refuse the caller.
func networkRefusal(code string, g grant, r *http.Request) string {
	caller := "Caller: appid=" + g.appID + ";oid=" + g.appID + ";iss=https://sts.windows.net/" + g.tenant + "/\r\n" +
		"Vault: " + VaultName + ";location=westeurope"
	if code == ForbiddenByConnection {
		return "Public network access is disabled and request is not from a trusted service nor via an approved private link.\r\n" + caller
	}
	addr, _, _ := strings.Cut(r.RemoteAddr, ":")
	return "Client address is not authorized and caller is not a trusted service.\r\nClient address: " + addr + "\r\n" + caller
}

// rbacDenial is the message Key Vault gives when no role assignment
// allows the read.
func rbacDenial(g grant, name string) string {
	return "Caller is not authorized to perform action on resource.\r\n" +
		"If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n" +
		"Caller: appid=" + g.appID + ";oid=" + g.appID + ";iss=https://sts.windows.net/" + g.tenant + "/\r\n" +
		"Action: 'Microsoft.KeyVault/vaults/secrets/getSecret/action'\r\n" +
		"Resource: '/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/azuretest/providers/microsoft.keyvault/vaults/" + VaultName + "/secrets/" + strings.ToLower(name) + "'\r\n" +
		"Assignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: " + VaultName + ";location=westeurope\r\n"
}

func writeKVError(w http.ResponseWriter, status int, code, message, inner string) {
	e := kvError{Error: kvErrorDetail{Code: code, Message: message}}
	if inner != "" {
		e.Error.InnerError = &kvErrorDetail{Code: inner}
	}
	writeJSON(w, status, e)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func newUUID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}
