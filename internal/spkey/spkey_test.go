package spkey

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// Generating an RSA key takes a while (more under -race): the tests share
// two pairs.
var (
	pairs = sync.OnceValues(func() ([2]Pair, error) {
		var out [2]Pair
		for i := range out {
			p, err := Generate("ssogate SP test", now)
			if err != nil {
				return out, err
			}
			out[i] = p
		}
		return out, nil
	})
)

func testPairs(t testing.TB) (Pair, Pair) {
	t.Helper()
	ps, err := pairs()
	if err != nil {
		t.Fatal(err)
	}
	return ps[0], ps[1]
}

func pemOf(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// certFor makes a self-signed certificate for key's public key.
func certFor(t testing.TB, pub, priv any) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other"},
		NotBefore: now, NotAfter: now.AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGenerate(t *testing.T) {
	p, other := testPairs(t)
	c := p.Cert
	for _, check := range []struct {
		what      string
		got, want any
	}{
		{"subject", c.Subject.String(), "CN=ssogate SP test"},
		{"issuer", c.Issuer.String(), "CN=ssogate SP test"},
		{"key bits", p.Key.N.BitLen(), 2048},
		{"signature algorithm", c.SignatureAlgorithm, x509.SHA256WithRSA},
		{"not before", c.NotBefore, now.Add(-time.Hour)},
		{"not after", c.NotAfter, time.Date(2036, 3, 1, 12, 0, 0, 0, time.UTC)},
		{"key usage", c.KeyUsage, x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageDataEncipherment},
		{"certificate of the key", p.Key.PublicKey.Equal(c.PublicKey), true},
		{"serial positive", c.SerialNumber.Sign(), 1},
		{"serial at most 128 bits", c.SerialNumber.BitLen() <= 129, true},
		{"serials differ", c.SerialNumber.Cmp(other.Cert.SerialNumber) != 0, true},
		{"keys differ", p.Key.Equal(other.Key), false},
	} {
		if check.got != check.want {
			t.Errorf("Generate: %s = %v, want %v", check.what, check.got, check.want)
		}
	}
	if err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
		t.Errorf("Generate: the certificate is not self-signed: %v", err)
	}
}

func TestPEMRoundTrip(t *testing.T) {
	p, _ := testPairs(t)
	certBlock, _ := pem.Decode([]byte(p.CertificatePEM()))
	keyBlock, _ := pem.Decode([]byte(p.KeyPEM()))
	if certBlock == nil || certBlock.Type != "CERTIFICATE" || keyBlock == nil || keyBlock.Type != "PRIVATE KEY" {
		t.Fatalf("CertificatePEM, KeyPEM = %v, %v; want CERTIFICATE and PRIVATE KEY blocks", certBlock, keyBlock)
	}
	got, err := Parse([]byte(p.CertificatePEM()), []byte(p.KeyPEM()))
	if err != nil {
		t.Fatalf("Parse(CertificatePEM, KeyPEM) = %v", err)
	}
	if !got.Key.Equal(p.Key) || !got.Cert.Equal(p.Cert) {
		t.Error("Parse(CertificatePEM, KeyPEM) returned another pair")
	}
}

func TestParse(t *testing.T) {
	p, other := testPairs(t)
	certPEM, keyPEM := p.CertificatePEM(), p.KeyPEM()
	pkcs1 := pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(p.Key))

	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	ecSEC1, err := x509.MarshalECPrivateKey(ec)
	if err != nil {
		t.Fatal(err)
	}
	ecCert := pemOf("CERTIFICATE", certFor(t, &ec.PublicKey, ec).Raw)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallCert := pemOf("CERTIFICATE", certFor(t, &small.PublicKey, small).Raw)
	smallKey := pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small))
	keyBlock, _ := pem.Decode([]byte(keyPEM))
	truncated := pemOf("PRIVATE KEY", keyBlock.Bytes[:len(keyBlock.Bytes)/2])
	encryptedPKCS1 := "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n"

	for _, tc := range []struct {
		name      string
		cert, key string
		wantErr   error  // a sentinel the error must match
		wantText  string // a part of the error; "" with wantErr nil: success
	}{
		{"PKCS#8", certPEM, keyPEM, nil, ""},
		{"PKCS#1", certPEM, pkcs1, nil, ""},
		{"one file with both", keyPEM + certPEM, keyPEM + certPEM, nil, ""},
		{"other blocks first", pemOf("EC PARAMETERS", []byte{6, 8}) + certPEM, pemOf("CERTIFICATE", []byte("x")) + keyPEM, nil, ""},
		{"Windows line ends", strings.ReplaceAll(certPEM, "\n", "\r\n"), strings.ReplaceAll(keyPEM, "\n", "\r\n"), nil, ""},
		{"another pair's key", certPEM, other.KeyPEM(), ErrMismatch, ""},
		{"another pair's certificate", other.CertificatePEM(), pkcs1, ErrMismatch, ""},
		{"ECDSA key in PKCS#8", certPEM, pemOf("PRIVATE KEY", ecDER), ErrNotRSA, "ECDSA"},
		{"ECDSA key in SEC 1", certPEM, pemOf("EC PRIVATE KEY", ecSEC1), ErrNotRSA, "ECDSA"},
		{"ECDSA certificate", ecCert, keyPEM, ErrNotRSA, "certificate"},
		{"1024-bit key", smallCert, smallKey, nil, "1024 bits"},
		{"no certificate", "", keyPEM, nil, "BEGIN CERTIFICATE"},
		{"garbage certificate", "not a certificate", keyPEM, nil, "not PEM"},
		{"certificate block of garbage", pemOf("CERTIFICATE", []byte("garbage")), keyPEM, nil, "does not parse"},
		{"no key", certPEM, "", nil, "BEGIN PRIVATE KEY"},
		{"only a certificate as key", certPEM, certPEM, nil, "not PEM"},
		{"garbage key", certPEM, "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n", nil, "not PEM"},
		{"truncated PKCS#8", certPEM, truncated, nil, "not a PKCS#8"},
		{"PKCS#1 bytes in a PKCS#8 block", certPEM, pemOf("PRIVATE KEY", x509.MarshalPKCS1PrivateKey(p.Key)), nil, "not a PKCS#8"},
		{"PKCS#8 bytes in a PKCS#1 block", certPEM, pemOf("RSA PRIVATE KEY", keyBlock.Bytes), nil, "not a PKCS#1"},
		{"encrypted PKCS#8", certPEM, pemOf("ENCRYPTED PRIVATE KEY", []byte("x")), nil, "encrypted"},
		{"encrypted PKCS#1", certPEM, encryptedPKCS1, nil, "encrypted"},
		{"OpenSSH key", certPEM, pemOf("OPENSSH PRIVATE KEY", []byte("x")), nil, "OpenSSH"},
		{"DSA key", certPEM, pemOf("DSA PRIVATE KEY", []byte("x")), nil, `"DSA PRIVATE KEY"`},
		{"certificate too large", certPEM + strings.Repeat(" ", MaxPEM), keyPEM, nil, "larger than"},
		{"key too large", certPEM, keyPEM + strings.Repeat(" ", MaxPEM), nil, "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.cert), []byte(tc.key))
			if tc.wantErr == nil && tc.wantText == "" {
				if err != nil {
					t.Fatalf("Parse = %v, want a pair", err)
				}
				if got.Key == nil || got.Cert == nil || !got.Key.PublicKey.Equal(got.Cert.PublicKey) {
					t.Fatalf("Parse = %+v, want the key and its certificate", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse = a pair, want an error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("Parse = %v, want an error matching %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantText) {
				t.Errorf("Parse = %q, want it to say %q", err, tc.wantText)
			}
			// Base64 of a DER SEQUENCE starts "MII": no error quotes a key.
			if strings.Contains(err.Error(), "MII") || strings.Contains(err.Error(), "-----") && !strings.Contains(err.Error(), "want a -----") {
				t.Errorf("Parse = %q, which quotes the input", err)
			}
			if got.Key != nil || got.Cert != nil {
				t.Errorf("Parse returned a pair with its error: %+v", got)
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	p, other := testPairs(t)
	got := Fingerprint(p.Cert)
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(got) {
		t.Fatalf("Fingerprint = %q, want 32 upper-case hex pairs joined by colons", got)
	}
	sum := sha256.Sum256(p.Cert.Raw)
	if want := strings.ToUpper(hex.EncodeToString(sum[:])); strings.ReplaceAll(got, ":", "") != want {
		t.Errorf("Fingerprint = %q, want the SHA-256 of the DER %s", got, want)
	}
	if Fingerprint(other.Cert) == got {
		t.Error("two certificates have one fingerprint")
	}
}

// FuzzParse: Parse never panics, and what it accepts is a matching RSA
// pair that survives a round trip through PEM.
func FuzzParse(f *testing.F) {
	p, other := testPairs(f)
	f.Add([]byte(p.CertificatePEM()), []byte(p.KeyPEM()))
	f.Add([]byte(p.CertificatePEM()), []byte(pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(p.Key))))
	f.Add([]byte(p.CertificatePEM()), []byte(other.KeyPEM()))
	f.Add([]byte(p.KeyPEM()+p.CertificatePEM()), []byte(p.KeyPEM()+p.CertificatePEM()))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n\n-----END CERTIFICATE-----\n"), []byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte(""), []byte(""))
	f.Add([]byte("garbage"), []byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n"))
	f.Fuzz(func(t *testing.T, certPEM, keyPEM []byte) {
		got, err := Parse(certPEM, keyPEM)
		if err != nil {
			if got.Key != nil || got.Cert != nil {
				t.Fatalf("Parse returned a pair with its error %v", err)
			}
			return
		}
		if got.Key.N.BitLen() < MinBits || !got.Key.PublicKey.Equal(got.Cert.PublicKey) {
			t.Fatalf("Parse accepted a key of %d bits that is not its certificate's", got.Key.N.BitLen())
		}
		again, err := Parse([]byte(got.CertificatePEM()), []byte(got.KeyPEM()))
		if err != nil || !again.Key.Equal(got.Key) || !again.Cert.Equal(got.Cert) {
			t.Fatalf("a parsed pair does not survive a round trip: %v", err)
		}
	})
}
