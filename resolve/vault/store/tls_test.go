package store

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/wardsecrets/ward/resolve"
	"github.com/wardsecrets/ward/resolve/vault/vaulttest"
)

// testCA signs certificates for a test's TLS listener and its clients.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ward test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, der: der}
}

// issue writes a certificate valid until notAfter, and its key, to
// cert and key (replacing them by a rename, as a certificate manager
// does).
func (ca *testCA) issue(t *testing.T, cn string, notAfter time.Time, usage x509.ExtKeyUsage, cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &k.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	write := func(path string, b []byte) {
		if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	write(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}))
}

// freeAddr is a loopback address no one listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// tlsVault starts a dev Vault server with a TLS listener presenting the
// certificate in dir/server.pem (issued by the caller), plus the
// listener settings in extra, and returns the listener's address. Vault
// loads the certificate again on SIGHUP (the returned func sends it).
func tlsVault(t *testing.T, dir, extra string) (addr string, reload func()) {
	t.Helper()
	bin := os.Getenv("VAULT_TEST_BIN")
	if bin == "" {
		vaulttest.RequireIntegration(t, "no vault binary for a TLS listener: VAULT_TEST_BIN is not set")
	}
	addr = freeAddr(t)
	conf := fmt.Sprintf(`listener "tcp" {
  address = %q
  cluster_address = %q
  tls_cert_file = %q
  tls_key_file = %q
%s}
`, addr, freeAddr(t), filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"), extra)
	if err := os.WriteFile(filepath.Join(dir, "listener.hcl"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := exec.Command(bin, "server", "-dev", "-dev-root-token-id=tls-root", "-dev-no-store-token",
		"-dev-listen-address="+freeAddr(t), "-config="+filepath.Join(dir, "listener.hcl"))
	srv.Env = []string{"HOME=" + dir, "PATH=/usr/bin:/bin"}
	logf, err := os.Create(filepath.Join(dir, "vault.log"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Stdout, srv.Stderr = logf, logf
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Process.Kill(); srv.Wait() })
	return addr, func() {
		if err := srv.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
	}
}

// writeCAs writes the PEM bundle of cas to path, by a rename.
func writeCAs(t *testing.T, path string, cas ...*testCA) {
	t.Helper()
	var b []byte
	for _, ca := range cas {
		b = append(b, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.der})...)
	}
	if err := os.WriteFile(path+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

// TestClientCertRotated: a Vault listener that requires a client
// certificate (tls_require_and_verify_client_cert), and a client
// certificate that a certificate manager replaces before it expires (in
// Kubernetes, cert-manager's renewal at two thirds of its life): the
// store presents the new one. It loaded the pair once, and once the
// first had expired every new connection was refused until ward was
// restarted.
func TestClientCertRotated(t *testing.T) {
	needVault(t)
	tc := newCase(t)
	dir := t.TempDir()
	ca := newTestCA(t)
	caFile := filepath.Join(dir, "ca.pem")
	writeCAs(t, caFile, ca)
	ca.issue(t, "vault", time.Now().Add(time.Hour), x509.ExtKeyUsageServerAuth, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	tlsAddr, _ := tlsVault(t, dir, fmt.Sprintf("  tls_require_and_verify_client_cert = true\n  tls_client_ca_file = %q\n", caFile))

	cert, key := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client-key.pem")
	// The first client certificate ends in 2 s; the manager's next one,
	// in place before then, in an hour.
	firstEnds := time.Now().Add(2 * time.Second)
	ca.issue(t, "ward", firstEnds, x509.ExtKeyUsageClientAuth, cert, key)
	s := tc.store(Options{Address: "https://" + tlsAddr, CACert: caFile, ClientCert: cert, ClientKey: key},
		map[string]string{"VAULT_TOKEN": "tls-root"})
	waitFor(t, "the TLS listener", 30*time.Second, func() bool {
		_, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/ward-ready"))
		return err == nil || !isRefused(err)
	})
	ca.issue(t, "ward", time.Now().Add(time.Hour), x509.ExtKeyUsageClientAuth, cert, key)
	waitFor(t, "the first client certificate to expire", 10*time.Second, func() bool { return time.Now().After(firstEnds.Add(time.Second)) })
	s.client.CloneConfig().HttpClient.CloseIdleConnections()
	_, err := s.Fetch(context.Background(), mustRef(t, "vault://secret/ward-ready"))
	if err != nil && !errors.Is(err, resolve.ErrNotFound) {
		t.Errorf("a read after the client certificate was replaced: got %s, want it to reach Vault", tc.text(err))
	}
}

// TestCARotated: an operator rotates Vault's CA as trust-manager or a
// ConfigMap does it: the new CA joins the bundle in VAULT_CACERT (or a
// file in VAULT_CAPATH), then Vault presents a certificate the new CA
// signed (reloaded on SIGHUP). The store trusts it on its next
// connection; it had loaded the bundle once and refused Vault ("signed
// by unknown authority") until ward was restarted.
func TestCARotated(t *testing.T) {
	needVault(t)
	for _, inDir := range []bool{false, true} {
		name := "VAULT_CACERT"
		if inDir {
			name = "VAULT_CAPATH"
		}
		t.Run(name, func(t *testing.T) {
			tc := newCase(t)
			dir := t.TempDir()
			old, next := newTestCA(t), newTestCA(t)
			caDir := filepath.Join(dir, "cas")
			if err := os.Mkdir(caDir, 0o700); err != nil {
				t.Fatal(err)
			}
			caFile := filepath.Join(dir, "bundle.pem")
			opts := Options{CACert: caFile}
			if inDir {
				caFile, opts = filepath.Join(caDir, "old.pem"), Options{CAPath: caDir}
			}
			writeCAs(t, caFile, old)
			server, serverKey := filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem")
			old.issue(t, "vault", time.Now().Add(time.Hour), x509.ExtKeyUsageServerAuth, server, serverKey)
			addr, reload := tlsVault(t, dir, "")
			opts.Address = "https://" + addr
			s := tc.store(opts, map[string]string{"VAULT_TOKEN": "tls-root"})
			ref := mustRef(t, "vault://secret/ward-ca")
			waitFor(t, "the TLS listener", 30*time.Second, func() bool {
				_, err := s.Fetch(context.Background(), ref)
				return err == nil || !isRefused(err)
			})
			if _, err := s.Fetch(context.Background(), ref); !errors.Is(err, resolve.ErrNotFound) {
				t.Fatalf("a read with the first CA: got %s, want not found", tc.text(err))
			}

			if inDir {
				writeCAs(t, filepath.Join(caDir, "next.pem"), next)
			} else {
				writeCAs(t, caFile, old, next)
			}
			next.issue(t, "vault", time.Now().Add(time.Hour), x509.ExtKeyUsageServerAuth, server, serverKey)
			reload()
			nextOnly := x509.NewCertPool()
			nextOnly.AddCert(next.cert)
			waitFor(t, "Vault to present the new CA's certificate", 30*time.Second, func() bool {
				c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: nextOnly})
				if err == nil {
					c.Close()
				}
				return err == nil
			})
			s.client.CloneConfig().HttpClient.CloseIdleConnections()
			// The files are looked at once a second at most.
			var err error
			defer func() {
				if t.Failed() {
					t.Logf("the last read: %s", tc.text(err))
				}
			}()
			waitFor(t, "a read after Vault's CA was rotated to reach Vault", 5*time.Second, func() bool {
				_, err = s.Fetch(context.Background(), ref)
				return errors.Is(err, resolve.ErrNotFound)
			})
		})
	}
}

// isRefused reports whether err is a connection refused: the listener is
// not up yet.
func isRefused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }
