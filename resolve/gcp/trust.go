package gcp

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/wardsecrets/ward/resolve"
)

// EndpointsVar names the variable in which the environment lists the
// endpoints outside Google's domains (an emulator, a proxy of its own)
// that stores.gcp may name: URLs separated by spaces or commas, of which
// the scheme, host and port count.
const EndpointsVar = "WARD_GCP_ENDPOINTS"

// googleDomain is the domain of Google's APIs in its public cloud, the
// default universe; Private Service Connect endpoints
// (secretmanager-NAME.p.googleapis.com) and the restricted and private
// VIPs are under it too.
const googleDomain = "googleapis.com"

// TrustedEndpoints refuses a stores.gcp endpoint the environment does
// not agree with. The credentials are the environment's (Application
// Default Credentials: a key file, a workload identity configuration,
// gcloud's login, the metadata server), and ward sends their access token
// with every request: a cloned repository's or a pull request's manifest
// that named a server of its own as its endpoint received a token for all
// of the user's Google Cloud from `ward scan` or `ward check --resolve`,
// which run none of the repository's code. An endpoint is taken when it
// is https under Google's domain, or under the universe domain
// GOOGLE_CLOUD_UNIVERSE_DOMAIN names, or when EndpointsVar lists its
// origin.
func TrustedEndpoints(o Options, getenv func(string) string) error {
	domains := []string{googleDomain}
	if u := strings.Trim(strings.ToLower(strings.TrimSpace(getenv("GOOGLE_CLOUD_UNIVERSE_DOMAIN"))), "."); u != "" {
		domains = append(domains, u)
	}
	listed := map[string]bool{}
	for _, s := range resolve.SplitList(getenv(EndpointsVar)) {
		listed[origin(s)] = true
	}
	for _, e := range []struct{ key, url string }{
		{"endpoint", o.Endpoint},
		{"regional_endpoint", o.RegionalEndpoint},
		{"iam_endpoint", o.IAMEndpoint},
	} {
		if e.url == "" || listed[origin(e.url)] || underGoogle(e.url, domains) {
			continue
		}
		return resolve.WithHint(
			fmt.Errorf("stores.gcp.%s is %s, which is not an https endpoint under %s: ward sends the access token of the environment's Google credentials only to Google's endpoints and to those the environment lists in %s, so that a manifest (a cloned repository's, a pull request's) cannot send it to a server of its own", e.key, e.url, strings.Join(domains, " or "), EndpointsVar),
			fmt.Sprintf("for an emulator or a proxy you trust, set %s=%s in the environment that holds the credentials; for a sovereign cloud, GOOGLE_CLOUD_UNIVERSE_DOMAIN", EndpointsVar, server(e.url)))
	}
	return nil
}

// parseEndpoint parses an endpoint setting, a regional one's {location}
// read as a location: a location is one DNS label, so which one cannot
// move the host out of a domain, and a listed regional endpoint is
// written with {location} as the setting is.
func parseEndpoint(raw string) (*url.URL, error) {
	return url.Parse(strings.ReplaceAll(strings.TrimSpace(raw), LocationVar, "location"))
}

// server is raw's scheme and host, as written, for the hint.
func server(raw string) string {
	scheme, rest, _ := strings.Cut(raw, "://")
	host, _, _ := strings.Cut(rest, "/")
	return scheme + "://" + host
}

// underGoogle reports whether raw is an https URL whose host is one of
// domains or under one.
func underGoogle(raw string, domains []string) bool {
	u, err := parseEndpoint(raw)
	if err != nil || !strings.EqualFold(u.Scheme, "https") {
		return false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	for _, d := range domains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// origin is what tells two endpoints' servers apart: the scheme, the host
// in lower case and the port, the scheme's own when left out.
func origin(raw string) string {
	u, err := parseEndpoint(raw)
	if err != nil || u.Host == "" {
		return strings.TrimRight(strings.TrimSpace(raw), "/")
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[scheme]
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host + ":" + port
}
