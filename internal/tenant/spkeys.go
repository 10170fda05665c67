package tenant

import (
	"context"
	"fmt"
	"time"

	"github.com/ssogate/ssogate/internal/spkey"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
)

// SPKeyUses are the uses an org has a key for, in the order the store
// lists them.
var SPKeyUses = []string{storage.SPKeySigning, storage.SPKeyEncryption}

// SPKeyCommonName is the subject common name of an org's generated SP
// keys, which IdPs show beside the certificate.
func SPKeyCommonName(org string) string { return "ssogate SP " + org }

// NewSPKey generates a key pair of the org for use, as the store keeps
// it. It takes a while (an RSA key): never call it inside a store write.
func NewSPKey(org, use string, now time.Time) (storage.SPKey, error) {
	p, err := spkey.Generate(SPKeyCommonName(org), now)
	if err != nil {
		return storage.SPKey{}, fmt.Errorf("generating the %s key: %w", use, err)
	}
	return storage.SPKey{Use: use, CertificatePEM: p.CertificatePEM(), KeyPEM: p.KeyPEM(), NotAfter: p.Cert.NotAfter}, nil
}

// EnsureSPKeys returns the org's SP keys, first generating and storing a
// current key of each use the org has none of. The keys are generated
// before the store's write; when another process stored keys in between,
// the store keeps those and the generated ones are dropped.
func EnsureSPKeys(ctx context.Context, st storage.SPKeyStore, org storage.Org, now time.Time) ([]storage.SPKey, error) {
	keys, err := st.SPKeys(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	var fresh []storage.SPKey
	for _, use := range SPKeyUses {
		if HasSPKey(keys, use, storage.SPKeyCurrent) {
			continue
		}
		k, err := NewSPKey(org.Name, use, now)
		if err != nil {
			return nil, err
		}
		fresh = append(fresh, k)
	}
	if len(fresh) == 0 {
		return keys, nil
	}
	return st.EnsureSPKeys(ctx, org.ID, fresh)
}

// HasSPKey reports whether keys hold one of this use and state.
func HasSPKey(keys []storage.SPKey, use, state string) bool {
	for _, k := range keys {
		if k.Use == use && k.State == state {
			return true
		}
	}
	return false
}

// SPKeyInfo is what an admin is shown of an SP key: its certificate,
// never its private key.
type SPKeyInfo struct {
	Use   string `json:"use"`
	State string `json:"state"`
	CertificateInfo
	// CertificatePEM is the certificate, to give an IdP that takes one
	// rather than the SP metadata.
	CertificatePEM string `json:"certificate"`
}

// DescribeSPKeys describes keys at now, in their order. A certificate
// that does not parse (which the store is never given) shows with its use
// and state alone.
func DescribeSPKeys(keys []storage.SPKey, now time.Time) []SPKeyInfo {
	out := make([]SPKeyInfo, 0, len(keys))
	for _, k := range keys {
		info := SPKeyInfo{Use: k.Use, State: k.State, CertificatePEM: k.CertificatePEM}
		if certs, err := sso.ParseCertificates([]byte(k.CertificatePEM)); err == nil && len(certs) > 0 {
			info.CertificateInfo = describe(certs[0], now)
		}
		out = append(out, info)
	}
	return out
}
