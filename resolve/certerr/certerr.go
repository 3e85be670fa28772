// Package certerr tells a server certificate that cannot be verified from
// the connection errors worth a retry, for the cloud stores' helpers. It
// is a package of its own so that ward's own binary, which speaks no TLS,
// does not link crypto/tls and its initialisers.
package certerr

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
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
// not verify: the helpers take their CAs from the system's roots.
const Hint = "if the endpoint's certificate is signed by a CA of your own (a TLS-inspecting proxy's, a private endpoint's), point SSL_CERT_FILE or SSL_CERT_DIR at it"
