// Package certerr tells the connection errors no retry mends (a server
// certificate that cannot be verified, a host name DNS says does not
// exist) from those worth a retry, for the cloud stores' helpers. It
// is a package of its own so that ward's own binary, which speaks no TLS,
// does not link crypto/tls and its initialisers.
package certerr

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
)

// Is reports whether err is a server certificate that cannot be verified
// (an unknown authority, another name, expired): a retry meets the same
// certificate. It comes wrapped in a *url.Error, which is a net.Error,
// the mark of a connection worth trying again.
func Is(err error) bool {
	var ve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ie x509.CertificateInvalidError
	return errors.As(err, &ve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ie)
}

// Hint is what to do about a certificate of a cloud's endpoint that does
// not verify: the helpers take their CAs from the system's roots. Where
// there are none, the certificate is everyone's, and a CA of one's own
// is the wrong lead.
func Hint() string {
	if NoSystemRoots() {
		return NoRootsHint + ", or point SSL_CERT_FILE at a CA bundle"
	}
	return "if the endpoint's certificate is signed by a CA of your own (a TLS-inspecting proxy's, a private endpoint's), point SSL_CERT_FILE or SSL_CERT_DIR at it"
}

// NoRootsHint says that the system has no CA certificates, and what to
// do in an image.
const NoRootsHint = "this system has no CA certificates to verify it with (an image FROM scratch, or one without the ca-certificates package): install them, or copy /etc/ssl/certs/ca-certificates.crt in from a build stage"

// NoSystemRoots reports whether the system's CA certificates, which
// SSL_CERT_FILE and SSL_CERT_DIR may name, are none. (On Linux the system
// pool is an ordinary one; elsewhere the platform verifies, and it is
// never equal to an empty pool.)
func NoSystemRoots() bool {
	pool, err := x509.SystemCertPool()
	return err != nil || pool.Equal(x509.NewCertPool())
}

// NoSuchHost reports whether err is DNS's answer that a host name does
// not exist (NXDOMAIN), and returns the name: a vault name or a region
// with a typo, which a retry asks about again in vain. A resolver that
// failed or timed out is not such an answer, and is worth a retry.
func NoSuchHost(err error) (string, bool) {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return de.Name, true
	}
	return "", false
}
