// Package spkey makes and reads the key pairs a SAML service provider signs
// with (AuthnRequests, logout messages) and that IdPs encrypt assertions
// to: an RSA key and a self-signed certificate for it, which the SP
// metadata publishes. The certificate is never checked against a CA: an
// IdP trusts the one it was given, and the dates only say when to roll.
//
// Nothing here prints a private key: errors describe what is wrong with a
// key without quoting it.
package spkey

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Sentinel errors of Parse, matched with errors.Is.
var (
	// ErrNotRSA reports a key or certificate that is not RSA.
	ErrNotRSA = errors.New("SP keys must be RSA: XML encryption needs an RSA key")
	// ErrMismatch reports a private key that is not the certificate's.
	ErrMismatch = errors.New("the private key does not belong to the certificate")
)

// Sizes of keys and of what Parse reads.
const (
	// Bits is the size of a generated key.
	Bits = 2048
	// MinBits is the smallest key Parse accepts: IdPs (Okta, Entra)
	// refuse smaller ones.
	MinBits = 2048
	// MaxPEM bounds each PEM input of Parse; a certificate and a key are
	// a few KiB.
	MaxPEM = 64 << 10
	// Years is how long a generated certificate is valid. IdPs trust the
	// certificate they were given rather than its dates, but some warn
	// about an expired one; a rotation (roll, then retire) replaces it.
	Years = 10
)

// Pair is an SP key pair: an RSA private key and the certificate of its
// public key.
type Pair struct {
	Key  *rsa.PrivateKey
	Cert *x509.Certificate
}

// Generate makes a Bits-bit RSA key and a self-signed certificate for it,
// signed with SHA-256: subject CN=commonName, a random 128-bit serial,
// valid from an hour before now (for clocks behind ours) for Years years,
// usable to sign and to encipher keys and data.
func Generate(commonName string, now time.Time) (Pair, error) {
	key, err := rsa.GenerateKey(rand.Reader, Bits)
	if err != nil {
		return Pair{}, fmt.Errorf("generating an RSA key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return Pair{}, fmt.Errorf("making a serial number: %w", err)
	}
	// A serial of zero is invalid (RFC 5280 §4.1.2.2); one in 2^128.
	serial.Add(serial, big.NewInt(1))
	tmpl := &x509.Certificate{
		SerialNumber:       serial,
		Subject:            pkix.Name{CommonName: commonName},
		NotBefore:          now.Add(-time.Hour),
		NotAfter:           now.AddDate(Years, 0, 0),
		KeyUsage:           x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment,
		SignatureAlgorithm: x509.SHA256WithRSA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return Pair{}, fmt.Errorf("making the certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return Pair{}, fmt.Errorf("reading the certificate back: %w", err)
	}
	return Pair{Key: key, Cert: cert}, nil
}

// CertificatePEM returns the certificate as a PEM CERTIFICATE block.
func (p Pair) CertificatePEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Cert.Raw}))
}

// KeyPEM returns the private key as a PKCS#8 PEM block ("PRIVATE KEY").
// It is a secret: store it, never log or show it.
func (p Pair) KeyPEM() string {
	der, err := x509.MarshalPKCS8PrivateKey(p.Key)
	if err != nil {
		// Only unknown key types fail, and an RSA key is known.
		panic("spkey: marshalling an RSA key: " + err.Error())
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

// Parse reads a key pair as an operator gives it: the first CERTIFICATE
// block of certPEM, and the first private key block of keyPEM, PKCS#8
// ("PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY"); other blocks are skipped,
// so one file may hold both. The key must be RSA of at least MinBits and
// be the certificate's. Its errors never quote the key.
func Parse(certPEM, keyPEM []byte) (Pair, error) {
	if len(certPEM) > MaxPEM {
		return Pair{}, fmt.Errorf("the certificate is larger than %d bytes", MaxPEM)
	}
	if len(keyPEM) > MaxPEM {
		return Pair{}, fmt.Errorf("the private key is larger than %d bytes", MaxPEM)
	}
	cert, err := parseCertificate(certPEM)
	if err != nil {
		return Pair{}, err
	}
	certKey, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return Pair{}, fmt.Errorf("the certificate's key is %s: %w", keyKind(cert.PublicKey), ErrNotRSA)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return Pair{}, err
	}
	if bits := key.N.BitLen(); bits < MinBits {
		return Pair{}, fmt.Errorf("the private key has %d bits; SP keys need at least %d", bits, MinBits)
	}
	if !key.PublicKey.Equal(certKey) {
		return Pair{}, ErrMismatch
	}
	return Pair{Key: key, Cert: cert}, nil
}

func parseCertificate(data []byte) (*x509.Certificate, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("the certificate is not PEM: want a -----BEGIN CERTIFICATE----- block")
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("the certificate does not parse: %v", err)
		}
		return cert, nil
	}
}

// parseKey returns the RSA key of the first private key block. Errors say
// which format was expected, not what the parser choked on: its messages
// may describe the key's structure.
func parseKey(data []byte) (*rsa.PrivateKey, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("the private key is not PEM: want a -----BEGIN PRIVATE KEY----- (PKCS#8) or -----BEGIN RSA PRIVATE KEY----- (PKCS#1) block")
		}
		switch block.Type {
		case "PRIVATE KEY":
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, errors.New("the PRIVATE KEY block is not a PKCS#8 private key")
			}
			rk, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, fmt.Errorf("the private key is %s: %w", keyKind(k), ErrNotRSA)
			}
			return rk, nil
		case "RSA PRIVATE KEY":
			if _, encrypted := block.Headers["DEK-Info"]; encrypted {
				return nil, errors.New("the private key is encrypted: give it unencrypted (such as with `openssl pkey -in key.pem -out plain.pem`)")
			}
			k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
			if err != nil {
				return nil, errors.New("the RSA PRIVATE KEY block is not a PKCS#1 RSA private key")
			}
			return k, nil
		case "ENCRYPTED PRIVATE KEY":
			return nil, errors.New("the private key is encrypted: give it unencrypted (such as with `openssl pkey -in key.pem -out plain.pem`)")
		case "EC PRIVATE KEY":
			return nil, fmt.Errorf("the private key is an ECDSA key: %w", ErrNotRSA)
		case "OPENSSH PRIVATE KEY":
			return nil, errors.New("the private key is in OpenSSH's format: convert it to PKCS#8 (such as with `ssh-keygen -p -m PKCS8 -f key`)")
		}
		if strings.HasSuffix(block.Type, "PRIVATE KEY") {
			return nil, fmt.Errorf("a %q block is not a private key this reads: want PRIVATE KEY (PKCS#8) or RSA PRIVATE KEY (PKCS#1)", short(block.Type))
		}
	}
}

// keyKind names the kind of a public or private key for an error.
func keyKind(k any) string {
	switch k.(type) {
	case *ecdsa.PublicKey, *ecdsa.PrivateKey:
		return "an ECDSA key"
	case ed25519.PublicKey, ed25519.PrivateKey:
		return "an Ed25519 key"
	}
	return fmt.Sprintf("a %T", k)
}

func short(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// Fingerprint is the SHA-256 of the certificate's DER, as upper-case hex
// pairs joined by colons: how IdPs and openssl show it.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	pairs := make([]string, 0, len(sum))
	for i := 0; i < len(h); i += 2 {
		pairs = append(pairs, h[i:i+2])
	}
	return strings.Join(pairs, ":")
}
