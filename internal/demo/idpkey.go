package demo

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ssogate/ssogate/internal/testidp"
)

// The test IdP's key and certificate in the data folder.
const (
	idpKeyFile  = "idp-key.pem"
	idpCertFile = "idp-certificate.pem"
)

// keepIdPKey gives the IdP the signing key and certificate of the
// folder's earlier run, or writes its fresh ones there: the org's SSO
// settings in the store name the IdP's certificate, so a run on the same
// folder must sign with the same key. A key or certificate that cannot be
// read, does not match or expires within 30 days is replaced.
func keepIdPKey(dir string, idp *testidp.IdP) (certPath string, err error) {
	keyPath := filepath.Join(dir, idpKeyFile)
	certPath = filepath.Join(dir, idpCertFile)
	if key, cert, ok := readIdPKey(keyPath, certPath); ok {
		idp.Key, idp.Cert = key, cert
		idp.IDP.Key, idp.IDP.Certificate = key, cert
		return certPath, nil
	}
	der, err := x509.MarshalPKCS8PrivateKey(idp.Key)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return "", fmt.Errorf("keeping the test IdP's key: %w", err)
	}
	if err := os.WriteFile(certPath, idp.CertificatePEM(), 0o600); err != nil {
		return "", fmt.Errorf("keeping the test IdP's certificate: %w", err)
	}
	return certPath, nil
}

func readIdPKey(keyPath, certPath string) (*rsa.PrivateKey, *x509.Certificate, bool) {
	kb, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, nil, false
	}
	cb, err := os.ReadFile(certPath)
	if err != nil {
		return nil, nil, false
	}
	kblock, _ := pem.Decode(kb)
	cblock, _ := pem.Decode(cb)
	if kblock == nil || cblock == nil || kblock.Type != "PRIVATE KEY" || cblock.Type != "CERTIFICATE" {
		return nil, nil, false
	}
	parsed, err := x509.ParsePKCS8PrivateKey(kblock.Bytes)
	if err != nil {
		return nil, nil, false
	}
	key, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return nil, nil, false
	}
	cert, err := x509.ParseCertificate(cblock.Bytes)
	if err != nil {
		return nil, nil, false
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return nil, nil, false
	}
	now := time.Now()
	if now.Before(cert.NotBefore) || now.Add(30*24*time.Hour).After(cert.NotAfter) {
		return nil, nil, false
	}
	return key, cert, true
}
