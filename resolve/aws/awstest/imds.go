package awstest

import (
	"net/http"
	"net/http/httptest"
)

// IMDS emulates the EC2 instance metadata service of an instance that
// requires IMDSv2 (HttpTokens=required, the default of new instances) as
// a container on it sees it when the instance's hop limit is 1
// (HttpPutResponseHopLimit, the default outside EKS's and ECS's AMIs): the
// answer to the session token request (PUT /latest/api/token) is dropped
// by the network, one hop too far, so it never arrives; a request without
// a token is answered 401. Point the SDK at it with Env.
type IMDS struct {
	ts *httptest.Server
}

// NewIMDS starts the emulated metadata service.
func NewIMDS() *IMDS {
	m := &IMDS{}
	m.ts = httptest.NewServer(http.HandlerFunc(m.serveHTTP))
	return m
}

// Close shuts the service down.
func (m *IMDS) Close() {
	m.ts.CloseClientConnections()
	m.ts.Close()
}

// Env points the SDK at the service (AWS_EC2_METADATA_SERVICE_ENDPOINT)
// and enables it; append it after Server.Env, with the static keys unset.
func (m *IMDS) Env() []string {
	return []string{
		"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + m.ts.URL,
		"AWS_EC2_METADATA_DISABLED=",
	}
}

func (m *IMDS) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPut && r.URL.Path == "/latest/api/token" {
		// The answer would leave with a TTL of 1 and die at the
		// container's bridge: the client waits until it gives up.
		<-r.Context().Done()
		return
	}
	if r.Header.Get("X-Aws-Ec2-Metadata-Token") == "" {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.NotFound(w, r)
}
