package azuretest

// The App Service managed identity endpoint (IDENTITY_ENDPOINT,
// IDENTITY_HEADER, API version 2019-08-01).

import (
	"net/http"
	"strconv"
)

func (s *Server) serveManagedIdentity(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/msi/token" {
		s.count(RouteOther)
		http.NotFound(w, r)
		return
	}
	s.count(RouteManagedIdentity)
	q := r.URL.Query()
	fail := func(status int, msg string) {
		writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "correlationId": newUUID()})
	}
	if r.Header.Get("X-IDENTITY-HEADER") != s.identityHeader {
		fail(http.StatusUnauthorized, "The X-IDENTITY-HEADER header is missing or invalid.")
		return
	}
	if q.Get("api-version") != "2019-08-01" {
		fail(http.StatusBadRequest, "The api-version is missing or not supported.")
		return
	}
	resource := q.Get("resource")
	if resource == "" {
		fail(http.StatusBadRequest, "The resource parameter is missing.")
		return
	}
	s.mu.Lock()
	assigned := s.miAssigned
	s.mu.Unlock()
	// A user-assigned identity named by client_id must be the one assigned.
	if id := q.Get("client_id"); !assigned || (id != "" && id != s.miClientID) || q.Get("mi_res_id") != "" || q.Get("principal_id") != "" {
		fail(http.StatusBadRequest, "Unable to load the proper Managed Identity.")
		return
	}
	expires := s.clock().Add(s.tokenLife())
	tok := s.issueToken(grant{resource: resource, tenant: TenantID, appID: s.miClientID, expires: expires})
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token": tok,
		"expires_on":   strconv.FormatInt(expires.Unix(), 10),
		"resource":     resource,
		"token_type":   "Bearer",
		"client_id":    s.miClientID,
	})
}
