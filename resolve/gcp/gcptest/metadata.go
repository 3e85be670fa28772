package gcptest

import (
	"net/http"
	"strings"
)

// serveMetadata answers what Google's libraries ask the GCE metadata
// server (reached through GCE_METADATA_HOST): the default service
// account's access token and email, the project, the universe domain.
// Like the real one it wants the Metadata-Flavor: Google header on every
// request, refuses requests that were forwarded, and says who it is in
// its own Metadata-Flavor header.
func (s *Server) serveMetadata(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	if path == "/computeMetadata/v1/instance/service-accounts/default/token" {
		s.count(MethodMetadataToken)
		if s.hangToken(r) {
			return
		}
	} else {
		s.count("metadata." + strings.TrimPrefix(path, "/computeMetadata/v1/"))
	}
	w.Header().Set("Metadata-Flavor", "Google")
	w.Header().Set("Server", "Metadata Server for VM")
	if r.Header.Get("X-Forwarded-For") != "" {
		http.Error(w, "Forbidden", http.StatusForbidden)
		return
	}
	if path == "/" {
		// The reachability probe of OnGCE.
		w.Header().Set("Content-Type", "application/text")
		_, _ = w.Write([]byte("computeMetadata/\n"))
		return
	}
	if r.Header.Get("Metadata-Flavor") != "Google" {
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("Missing Metadata-Flavor:Google header.\n"))
		return
	}
	text := func(v string) {
		w.Header().Set("Content-Type", "application/text")
		_, _ = w.Write([]byte(v))
	}
	switch path {
	case "/computeMetadata/v1/instance/service-accounts/default/token":
		if sc := r.URL.Query().Get("scopes"); sc != "" && !hasScope(sc, Scope) {
			http.Error(w, "scopes not granted to the instance", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		tok, life := s.issueToken()
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"access_token": tok, "expires_in": int(life.Seconds()), "token_type": "Bearer"})
	case "/computeMetadata/v1/instance/service-accounts/default/email":
		text(ClientEmail)
	case "/computeMetadata/v1/instance/service-accounts/default/scopes":
		text(Scope + "\n")
	case "/computeMetadata/v1/project/project-id":
		text(Project)
	case "/computeMetadata/v1/project/numeric-project-id":
		text(ProjectNumber(Project))
	case "/computeMetadata/v1/universe/universe-domain":
		text("googleapis.com")
	default:
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte("Not Found\n"))
	}
}
