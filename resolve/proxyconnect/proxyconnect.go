// Package proxyconnect names the proxy that refused the way to a cloud
// store's endpoint. Go's HTTP client turns a proxy's answer other than
// 200 to the CONNECT of an https:// request into an error of the status
// text alone ("Forbidden"), which, in an SDK's error about a read of a
// secret, reads as the store's refusal: the operator checks the role's
// permissions, not the proxy's rules or its credentials.
package proxyconnect

import (
	"context"
	"net/http"
	"net/url"
	"os"
)

// Check is an http.Transport's OnProxyConnectResponse: the proxy's
// refusal becomes a RefusedError.
func Check(_ context.Context, proxy *url.URL, req *http.Request, resp *http.Response) error {
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	e := &RefusedError{Status: resp.Status, Code: resp.StatusCode, Variable: variable()}
	if proxy != nil {
		e.Proxy = proxy.Redacted()
	}
	if req != nil {
		// The CONNECT's: its URL is the opaque host:port.
		e.Target = req.Host
		if e.Target == "" && req.URL != nil {
			e.Target = req.URL.Opaque
		}
	}
	return e
}

// variable names the variable that sets the proxy for https:// requests,
// as Go's client reads them.
func variable() string {
	if os.Getenv("HTTPS_PROXY") == "" && os.Getenv("https_proxy") != "" {
		return "https_proxy"
	}
	return "HTTPS_PROXY"
}

// RefusedError is a proxy's refusal of the CONNECT to an endpoint.
type RefusedError struct {
	// Proxy is the proxy's URL, its password hidden.
	Proxy string
	// Target is the endpoint's host and port.
	Target   string
	Status   string
	Code     int
	Variable string
}

func (e *RefusedError) Error() string {
	msg := "the proxy " + e.Proxy + " (" + e.Variable + ") refused the connection to " + e.Target + ": it answered " + e.Status
	if e.Code == http.StatusProxyAuthRequired {
		msg += ": check the user and password in the proxy's URL"
	} else {
		msg += ": check the proxy's rules, or add the host to NO_PROXY"
	}
	return msg
}

// NonRetriable tells Azure's SDK (azcore's errorinfo.NonRetriable) not
// to ask again: the proxy's rules answer the same.
func (*RefusedError) NonRetriable() {}
