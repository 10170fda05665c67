package caddymodule

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/spkey"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// The SP keys of an org sign its logout messages (and AuthnRequests, when
// they are signed) and decrypt the assertions its IdP encrypts. They come
// from the Caddyfile (sp_certificate and sp_key, one pair for both uses,
// for the pinned org) or from the store: generated there the first time
// the org needs them, rolled and retired with `ssogate sso keys`.

// loadSPKeyPair reads the Caddyfile's sp_certificate and sp_key: each a
// file path or inline PEM, placeholders such as {env.SP_KEY} expanded. A
// key file open to other users is warned about.
func loadSPKeyPair(certificate, key string, logger *zap.Logger) (*sso.KeyPair, error) {
	if certificate == "" && key == "" {
		return nil, nil
	}
	if certificate == "" || key == "" {
		return nil, errors.New("sp_certificate and sp_key go together")
	}
	repl := caddy.NewReplacer()
	certPEM, err := pemValue("sp_certificate", repl.ReplaceAll(certificate, ""))
	if err != nil {
		return nil, err
	}
	key = repl.ReplaceAll(key, "")
	keyPEM, err := pemValue("sp_key", key)
	if err != nil {
		return nil, err
	}
	if !strings.Contains(key, "-----BEGIN") {
		warnOpenFiles(logger, "the sp_key file", "can decrypt the IdP's assertions and sign as this SP", key)
	}
	pair, err := spkey.Parse(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("sp_certificate and sp_key: %w", err)
	}
	return &sso.KeyPair{Key: pair.Key, Cert: pair.Cert}, nil
}

// pemValue is inline PEM, or the content of the file it names.
func pemValue(name, v string) ([]byte, error) {
	if strings.Contains(v, "-----BEGIN") {
		return []byte(v), nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return b, nil
}

// spKeys returns the org's signing and encryption keys, current first.
func (h *SSOHandler) spKeys(ctx context.Context, org storage.Org) (signing, encryption []sso.KeyPair, err error) {
	if h.spPair != nil && !h.shared && org.ID == h.org.ID {
		return []sso.KeyPair{*h.spPair}, []sso.KeyPair{*h.spPair}, nil
	}
	keys, err := tenant.EnsureSPKeys(ctx, h.store, org, time.Now())
	if err != nil {
		return nil, nil, err
	}
	for _, k := range keys {
		pair, err := spkey.Parse([]byte(k.CertificatePEM), []byte(k.KeyPEM))
		if err != nil {
			return nil, nil, fmt.Errorf("org %s: SP %s key %d: %w", org.Name, k.Use, k.ID, err)
		}
		kp := sso.KeyPair{Key: pair.Key, Cert: pair.Cert}
		if k.Use == storage.SPKeySigning {
			signing = append(signing, kp)
		} else {
			encryption = append(encryption, kp)
		}
	}
	return signing, encryption, nil
}

// expiryWarning is how long before a certificate expires the log starts
// saying so, once a day.
const expiryWarning = 30 * 24 * time.Hour

// warnExpiring logs the Caddyfile's IdP signing certificates and SP key
// that expire within expiryWarning (or have): an IdP certificate that
// expires stops every sign-in, an SP certificate may be refused by the
// IdP. The orgs' own connections and keys are checked by the app.
func (h *SSOHandler) warnExpiring(now time.Time) {
	if h.static != nil {
		for _, c := range sso.SigningCertificates(h.static.Load().md) {
			warnCertificate(h.logger, now, "IdP signing certificate", h.Org, c)
		}
	}
	if h.spPair != nil {
		warnCertificate(h.logger, now, "SP certificate (sp_certificate)", h.Org, h.spPair.Cert)
	}
}

// warnCertificate logs a certificate that expires within expiryWarning.
func warnCertificate(logger *zap.Logger, now time.Time, what, org string, c *x509.Certificate) {
	left := c.NotAfter.Sub(now)
	if left > expiryWarning {
		return
	}
	fields := []zap.Field{zap.String("org", org), zap.String("subject", c.Subject.String()), zap.Time("not_after", c.NotAfter)}
	if left <= 0 {
		logger.Error(what+" has expired", fields...)
		return
	}
	logger.Warn(fmt.Sprintf("%s expires in %d days", what, int(left.Hours()/24)), fields...)
}
