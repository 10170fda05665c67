package caddymodule

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/crewjam/saml"
	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
)

// checkIDPPieces names each of idp_sso_url, idp_issuer and
// idp_certificate that is missing when another of them is set (and no
// metadata source is), so that the operator knows which line to add.
func (h *SSOHandler) checkIDPPieces() error {
	if h.IDPMetadataURL != "" || h.IDPMetadataFile != "" {
		return nil // more than one source is Validate's refusal
	}
	var set, missing []string
	for _, p := range []struct {
		name string
		ok   bool
	}{
		{"idp_sso_url", h.IDPSSOURL != ""},
		{"idp_issuer", h.IDPIssuer != ""},
		{"idp_certificate", len(h.IDPCertificates) > 0},
	} {
		if p.ok {
			set = append(set, p.name)
		} else {
			missing = append(missing, p.name)
		}
	}
	if len(set) == 0 || len(missing) == 0 {
		return nil
	}
	verb, verbSet := "is", "is"
	if len(missing) > 1 {
		verb = "are"
	}
	if len(set) > 1 {
		verbSet = "are"
	}
	return fmt.Errorf("%s %s missing: %s %s set, and the IdP needs all three (or idp_metadata_url or idp_metadata_file instead)",
		andList(missing), verb, andList(set), verbSet)
}

// andList is "a", "a and b", "a, b and c".
func andList(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// checkBaseURL refuses a base_url that is not an origin: the gate's own
// paths come from path_prefix, so a path here would be silently dropped.
func checkBaseURL(v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("base_url %q must be an absolute http(s) URL", v)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("base_url %q must be an origin only, such as %s://%s: the gate's paths are set by path_prefix", v, u.Scheme, u.Host)
	}
	return nil
}

// warnNoDomain warns, at provision (so at validate and at start), when
// the gate requires SSO or IdP-managed access for an org that has no
// verified domain: every SSO sign-in would be refused, since the IdP may
// vouch only for emails in the org's verified domains.
func (h *SSOHandler) warnNoDomain(ctx context.Context, configDomains []string) {
	if !h.RequireSSO && !h.IDPManagedAccess {
		return
	}
	if len(configDomains) > 0 {
		return // a domain line is verified by the config itself
	}
	claims, err := h.store.ListDomains(ctx, h.org.ID)
	if err != nil {
		return // the store's errors surface elsewhere
	}
	for _, c := range claims {
		if c.Status == storage.DomainVerified {
			return
		}
	}
	var on []string
	if h.RequireSSO {
		on = append(on, "require_sso")
	}
	if h.IDPManagedAccess {
		on = append(on, "idp_managed_access")
	}
	h.logger.Warn(fmt.Sprintf("org %s has %s but no verified domain: every SSO sign-in will be refused; add a domain line to its saml_sso block, or claim and verify one (`ssogate domain claim` then `ssogate domain verify`)",
		h.Org, andList(on)))
}

// logCertificates shows, at provision (so at validate and at start), each
// IdP signing certificate the config gives and when it expires.
func (h *SSOHandler) logCertificates(md *saml.EntityDescriptor) {
	now := time.Now()
	for _, c := range sso.SigningCertificates(md) {
		h.logger.Info(fmt.Sprintf("IdP signing certificate expires in %d days", int(c.NotAfter.Sub(now).Hours()/24)),
			zap.String("org", h.Org), zap.String("subject", c.Subject.String()), zap.Time("not_after", c.NotAfter))
	}
}
