package gcptest

import (
	"encoding/base64"
	"fmt"
	"hash/crc32"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The states of a secret version.
const (
	StateEnabled   = "ENABLED"
	StateDisabled  = "DISABLED"
	StateDestroyed = "DESTROYED"
)

// enumNumbers are the proto enum numbers of the states, sent when a client
// asks for $alt=json;enum-encoding=int.
var enumNumbers = map[string]int{StateEnabled: 1, StateDisabled: 2, StateDestroyed: 3}

// The permissions the two methods need.
const (
	PermissionAccess = "secretmanager.versions.access"
	PermissionGet    = "secretmanager.versions.get"
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

type secret struct {
	versions []*version // versions[i] is version i+1
	// aliases are the secret's versionAliases: alias name to version
	// number.
	aliases map[string]int
}

type version struct {
	data     []byte
	state    string
	created  time.Time
	destroys time.Time
}

// AddVersion adds a version holding data to the secret secretName
// (projects/P/secrets/S or projects/P/locations/L/secrets/S), creating the
// secret if needed, and returns its number. P may be an id or a number.
func (s *Server) AddVersion(secretName string, data []byte) int {
	if !secretNameRE.MatchString(secretName) {
		panic("gcptest: malformed secret name " + secretName)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := s.canonical(secretName)
	sec := s.secrets[name]
	if sec == nil {
		sec = &secret{}
		s.secrets[name] = sec
	}
	sec.versions = append(sec.versions, &version{data: append([]byte(nil), data...), state: StateEnabled, created: s.now()})
	return len(sec.versions)
}

// SetAlias points the version alias alias of a secret at version n, as
// gcloud secrets update --update-version-aliases=ALIAS=N does: the API
// then serves that version under versions/ALIAS as under its number.
func (s *Server) SetAlias(secretName, alias string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[s.canonical(secretName)]
	if sec == nil || n < 1 || n > len(sec.versions) {
		panic(fmt.Sprintf("gcptest: no version %d of %s", n, secretName))
	}
	if sec.aliases == nil {
		sec.aliases = map[string]int{}
	}
	sec.aliases[alias] = n
}

// DisableVersion disables version n of a secret: access fails with
// FAILED_PRECONDITION until it is enabled again.
func (s *Server) DisableVersion(secretName string, n int) { s.setState(secretName, n, StateDisabled) }

// EnableVersion enables version n of a secret again.
func (s *Server) EnableVersion(secretName string, n int) { s.setState(secretName, n, StateEnabled) }

// DestroyVersion destroys version n of a secret: its data is gone for
// good.
func (s *Server) DestroyVersion(secretName string, n int) { s.setState(secretName, n, StateDestroyed) }

// DeleteSecret deletes a secret and all its versions.
func (s *Server) DeleteSecret(secretName string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.secrets, s.canonical(secretName))
}

func (s *Server) setState(secretName string, n int, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[s.canonical(secretName)]
	if sec == nil || n < 1 || n > len(sec.versions) {
		panic(fmt.Sprintf("gcptest: no version %d of %s", n, secretName))
	}
	v := sec.versions[n-1]
	if v.state == StateDestroyed {
		panic(fmt.Sprintf("gcptest: version %d of %s is destroyed", n, secretName))
	}
	v.state = state
	if state == StateDestroyed {
		v.data, v.destroys = nil, s.now()
	}
}

var (
	secretNameRE = regexp.MustCompile(`^projects/[^/]+(/locations/[a-z0-9-]+)?/secrets/[A-Za-z0-9_-]{1,255}$`)
	// versionPathRE matches the path of both methods: the version's name,
	// then ":access" for access.
	versionPathRE = regexp.MustCompile(`^/v1/(projects/([^/]+)(?:/locations/([^/]+))?/secrets/([^/]+))/versions/([^/:]+)(:access)?$`)
)

// canonical writes a secret name with its project's id where the caller
// wrote the number: secrets are kept by ids. Call with s.mu held.
func (s *Server) canonical(secretName string) string {
	rest, ok := strings.CutPrefix(secretName, "projects/")
	if !ok {
		return secretName
	}
	p, tail, _ := strings.Cut(rest, "/")
	ids := []string{Project}
	for name := range s.secrets {
		ids = append(ids, projectOf(name))
	}
	for _, id := range ids {
		if p == ProjectNumber(id) {
			p = id
			break
		}
	}
	return "projects/" + p + "/" + tail
}

// numberedName writes a secret name with its project's number, as the
// API's answers do.
func numberedName(secretName string) string {
	p := projectOf(secretName)
	return "projects/" + ProjectNumber(p) + strings.TrimPrefix(secretName, "projects/"+p)
}

func projectOf(secretName string) string {
	p, _, _ := strings.Cut(strings.TrimPrefix(secretName, "projects/"), "/")
	return p
}

// serveAPI answers projects[.locations].secrets.versions.access and .get.
// The global endpoint serves global secrets, the regional one regional
// secrets, as Google's do.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, regional bool) {
	m := versionPathRE.FindStringSubmatch(r.URL.Path)
	if m == nil || r.Method != http.MethodGet {
		s.count("unknown")
		apiError(w, http.StatusNotFound, "NOT_FOUND", "The requested URL "+r.URL.Path+" was not found on this server.")
		return
	}
	secretName, location, versionID, access := m[1], m[3], m[5], m[6] != ""
	method := map[[2]bool]string{
		{false, false}: MethodGet, {false, true}: MethodAccess,
		{true, false}: MethodRegionalGet, {true, true}: MethodRegionalAccess,
	}[[2]bool{location != "", access}]
	s.count(method)
	s.mu.Lock()
	latency := s.latency
	s.userProject = r.Header.Get("X-Goog-User-Project")
	s.mu.Unlock()
	time.Sleep(latency)

	if !s.authorized(w, r) || s.answerDisabled(w, ServiceSecretManager) || s.answerPerimeter(w, ServiceSecretManager) {
		return
	}
	s.mu.Lock()
	var fault func()
	switch {
	case s.throttle > 0:
		s.throttle--
		fault = func() {
			apiError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED",
				fmt.Sprintf("Quota exceeded for quota metric 'Access requests' and limit 'Access requests per minute per project' of service 'secretmanager.googleapis.com' for consumer 'project_number:%s'.", ProjectNumber(Project)))
		}
	case s.throttleReads > 0 && !access:
		s.throttleReads--
		fault = func() {
			apiError(w, http.StatusTooManyRequests, "RESOURCE_EXHAUSTED",
				fmt.Sprintf("Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute per project' of service 'secretmanager.googleapis.com' for consumer 'project_number:%s'.", ProjectNumber(Project)))
		}
	case s.unavailable > 0:
		s.unavailable--
		fault = func() {
			apiError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "The service is currently unavailable.")
		}
	}
	s.mu.Unlock()
	if fault != nil {
		fault()
		return
	}

	if regional != (location != "") {
		// The exact answer Google gives a name sent to the wrong
		// endpoint is not documented; this one says what went wrong.
		where := "the global endpoint secretmanager.googleapis.com"
		if location != "" {
			where = "the regional endpoint secretmanager." + location + ".rep.googleapis.com"
		}
		apiError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Resource "+secretName+" must be accessed through "+where+".")
		return
	}

	permission := PermissionGet
	if access {
		permission = PermissionAccess
	}
	s.mu.Lock()
	key := s.canonical(secretName)
	s.mu.Unlock()
	if s.denied(key, permission) {
		apiError(w, http.StatusForbidden, "PERMISSION_DENIED",
			fmt.Sprintf("Permission '%s' denied for resource '%s/versions/%s' (or it may not exist).", permission, secretName, versionID))
		return
	}
	n, v, errMsg := s.lookup(key, versionID)
	if v == nil {
		apiError(w, http.StatusNotFound, "NOT_FOUND", errMsg)
		return
	}
	numbered := numberedName(key) + "/versions/" + strconv.Itoa(n)
	if !access {
		writeJSON(w, http.StatusOK, s.versionResource(numbered, v, location != "", enumInts(r)))
		return
	}
	if v.state != StateEnabled {
		apiError(w, http.StatusBadRequest, "FAILED_PRECONDITION", fmt.Sprintf("Secret Version [%s] is in %s state.", numbered, v.state))
		return
	}
	sum := crc32.Checksum(v.data, crc32c)
	s.mu.Lock()
	if s.corrupt > 0 {
		s.corrupt--
		sum ^= 0x5a5a5a5a
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"name": numbered,
		"payload": map[string]string{
			"data": base64.StdEncoding.EncodeToString(v.data),
			// int64 fields travel as decimal strings in JSON.
			"dataCrc32c": strconv.FormatInt(int64(sum), 10),
		},
	})
}

// lookup finds version versionID (a number, latest or an alias) of a secret. When
// it is missing, it returns the message of Google's NOT_FOUND.
func (s *Server) lookup(secretName, versionID string) (int, *version, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sec := s.secrets[secretName]
	if sec == nil || len(sec.versions) == 0 {
		return 0, nil, fmt.Sprintf("Secret [%s] not found or has no versions.", numberedName(secretName))
	}
	n := len(sec.versions) // latest: the most recently created version, whatever its state
	if a, ok := sec.aliases[versionID]; ok {
		n = a
	} else if versionID != "latest" {
		var err error
		n, err = strconv.Atoi(versionID)
		if err != nil || n < 1 || n > len(sec.versions) {
			return 0, nil, fmt.Sprintf("Secret Version [%s/versions/%s] not found.", numberedName(secretName), versionID)
		}
	}
	return n, sec.versions[n-1], ""
}

// enumInts reports whether the client asked for enums as numbers
// ($alt=json;enum-encoding=int, as Google's generated REST clients do).
func enumInts(r *http.Request) bool {
	q, err := url.QueryUnescape(r.URL.RawQuery)
	return err == nil && strings.Contains(q, "enum-encoding=int")
}

// versionResource is a SecretVersion as the API returns it: no data.
func (s *Server) versionResource(name string, v *version, regional, enumInts bool) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]any{
		"name":                           name,
		"createTime":                     v.created.UTC().Format(time.RFC3339Nano),
		"state":                          v.state,
		"etag":                           fmt.Sprintf("%q", strconv.FormatInt(v.created.UnixMicro(), 10)),
		"clientSpecifiedPayloadChecksum": true,
	}
	if enumInts {
		out["state"] = enumNumbers[v.state]
	}
	if !regional {
		out["replicationStatus"] = map[string]any{"automatic": map[string]any{}}
	}
	if v.state == StateDestroyed {
		out["destroyTime"] = v.destroys.UTC().Format(time.RFC3339Nano)
	}
	return out
}

// denied reports whether Deny took permission away on secretName.
func (s *Server) denied(secretName, permission string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	perms, ok := s.deny[secretName]
	if !ok {
		return false
	}
	if len(perms) == 0 {
		return true
	}
	for _, p := range perms {
		if p == permission {
			return true
		}
	}
	return false
}

// authorized checks the bearer token, answering 401 UNAUTHENTICATED as
// Google does when it is missing, unknown or expired.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	switch {
	case h == "":
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/"`)
		apiError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.")
		return false
	case !ok || !s.valid(tok):
		s.mu.Lock()
		s.rejected++
		s.mu.Unlock()
		unauthenticated(w)
		return false
	}
	s.useToken(tok)
	return true
}

// valid reports whether tok was issued here and has not expired.
func (s *Server) valid(tok string) bool {
	_, ok := s.validToken(tok)
	return ok
}

// unauthenticated answers a request whose token is unknown or expired.
func unauthenticated(w http.ResponseWriter) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
	apiError(w, http.StatusUnauthorized, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project.")
}

// apiError writes Google's JSON error body.
func apiError(w http.ResponseWriter, code int, status, message string) {
	writeJSON(w, code, map[string]any{"error": map[string]any{"code": code, "message": message, "status": status}})
}
