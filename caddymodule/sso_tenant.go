package caddymodule

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/crewjam/saml"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// How the gate finds the org a request is about, and the service
// provider that speaks for that org. An org's SP identity (entity ID, ACS
// URL) is a "site":
//
//   - siteOrg: <PathPrefix>/o/<org>/metadata, /acs, /logout. Every org has
//     it, on a shared gate and on a gate pinned to it.
//   - siteLegacy: <PathPrefix>/metadata, /acs, /logout. Only a pinned gate
//     has it, for its own org, so that IdPs set up before orgs had their
//     own endpoints keep working; with IdP settings in the Caddyfile it is
//     also where SP-initiated logins send the IdP's answer.
type site int

const (
	siteLegacy site = iota
	siteOrg
)

// siteConfig is the SP configuration of an org's site, without the IdP.
func (h *SSOHandler) siteConfig(org string, s site) sso.Config {
	cfg := h.spBase
	base := h.PathPrefix
	if s == siteOrg {
		base = tenant.OrgPath(h.PathPrefix, org)
	} else {
		cfg.RequestableACSURLs = h.acsURLs
	}
	cfg.MetadataPath, cfg.ACSPath, cfg.LogoutPath = base+"/metadata", base+"/acs", base+"/logout"
	switch {
	case h.EntityID != "":
		cfg.EntityID = h.EntityID
	case h.baseURL != nil:
		cfg.EntityID = h.baseURL.String() + cfg.MetadataPath
	}
	return cfg
}

// staticIDP is a Caddyfile's IdP with the providers of both sites.
type staticIDP struct {
	md            *saml.EntityDescriptor
	legacy, byOrg *sso.Provider
}

func (h *SSOHandler) newStaticIDP(md *saml.EntityDescriptor) (*staticIDP, error) {
	st := &staticIDP{md: md}
	var err error
	for s, dst := range map[site]**sso.Provider{siteLegacy: &st.legacy, siteOrg: &st.byOrg} {
		cfg := h.siteConfig(h.Org, s)
		cfg.IDP = md
		if *dst, err = sso.New(cfg); err != nil {
			return nil, fmt.Errorf("setting up the service provider: %w", err)
		}
	}
	return st, nil
}

// providerCache keeps the providers of store-backed connections, one per
// org and site, rebuilt when the connection changes.
type providerCache struct {
	mu sync.Mutex
	m  map[providerKey]providerEntry
}

type providerKey struct {
	org  int64
	site site
}

type providerEntry struct {
	version int64
	p       *sso.Provider
}

func newProviderCache() *providerCache {
	return &providerCache{m: map[providerKey]providerEntry{}}
}

// maxProviders bounds the cache; past it, entries of orgs that changed or
// went are dropped first, then any.
const maxProviders = 4096

func (c *providerCache) get(k providerKey, version int64, build func() (*sso.Provider, error)) (*sso.Provider, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok && e.version == version {
		return e.p, nil
	}
	p, err := build()
	if err != nil {
		return nil, err
	}
	if len(c.m) >= maxProviders {
		for key := range c.m {
			delete(c.m, key)
			if len(c.m) < maxProviders*9/10 {
				break
			}
		}
	}
	c.m[k] = providerEntry{version: version, p: p}
	return p, nil
}

// staticFor returns the Caddyfile's IdP when t is this gate's pinned org
// and the Caddyfile names its IdP.
func (h *SSOHandler) staticFor(t *tenant.Tenant) *staticIDP {
	if h.static == nil || h.shared || t.Org.ID != h.org.ID {
		return nil
	}
	return h.static.Load()
}

// provider returns the service provider of the org's site: the
// Caddyfile's, or one built from the org's connection (any state: a test
// sign-in runs on a draft). Callers check ssoEnabled first for sign-ins.
func (h *SSOHandler) provider(t *tenant.Tenant, s site) (*sso.Provider, error) {
	if st := h.staticFor(t); st != nil {
		if s == siteLegacy {
			return st.legacy, nil
		}
		return st.byOrg, nil
	}
	if t.IDP == nil {
		return nil, t.IDPErr
	}
	return h.providers.get(providerKey{t.Org.ID, s}, t.Conn.Version, func() (*sso.Provider, error) {
		cfg := h.siteConfig(t.Org.Name, s)
		cfg.IDP = t.IDP
		return sso.New(cfg)
	})
}

// spMetadata is the SP metadata of the org's site; it needs no IdP.
func (h *SSOHandler) spMetadata(t *tenant.Tenant, s site, origin *url.URL) ([]byte, error) {
	if p, err := h.provider(t, s); err == nil {
		return p.Metadata(origin)
	}
	return sso.SPMetadata(h.siteConfig(t.Org.Name, s), origin)
}

// ssoEnabled reports whether the org signs people in through its IdP at
// this gate.
func (h *SSOHandler) ssoEnabled(t *tenant.Tenant) bool {
	return h.staticFor(t) != nil || t.SSOEnabled()
}

// loginSite is where SP-initiated logins of the org send the IdP's answer:
// the site the org's IdP was set up with.
func (h *SSOHandler) loginSite(t *tenant.Tenant) site {
	if h.staticFor(t) != nil {
		return siteLegacy
	}
	return siteOrg
}

// pinned returns the pinned org's tenant: the registry's, or, before the
// registry has read it, the org alone with a new connection.
func (h *SSOHandler) pinned() *tenant.Tenant {
	if t := h.registry.ByID(h.org.ID); t != nil {
		return t
	}
	return &tenant.Tenant{Org: h.org, Conn: storage.NewConnection(h.org.ID)}
}

// tenantNamed returns the org named in a /o/<org>/ path that this gate
// serves, or nil: a pinned gate serves only its own. A shared gate finds
// an org made a moment ago by another process too.
func (h *SSOHandler) tenantNamed(ctx context.Context, name string) (*tenant.Tenant, error) {
	if !h.shared {
		if name != h.org.Name {
			return nil, nil
		}
		return h.pinned(), nil
	}
	return h.registry.Lookup(ctx, name)
}

// sessionOrg is the org whose sessions this gate accepts.
func (h *SSOHandler) sessionOrg() int64 {
	if h.shared {
		return gate.AnyOrg
	}
	return h.org.ID
}

// policy is the org's sign-in switches with this Caddyfile's on top.
func (h *SSOHandler) policy(t *tenant.Tenant) tenant.Policy {
	p := tenant.PolicyOf(t)
	if h.RequireSSO {
		p.RequireSSO = true
	}
	if h.IDPManagedAccess {
		p.IDPManagedAccess = true
	}
	if h.AllowIDPInitiated != nil {
		p.AllowIDPInitiated = *h.AllowIDPInitiated
	}
	return p
}

// orgEndpoint splits "/o/<org>/<rest>" (the path after PathPrefix) into
// the org and the rest; ok is false for any other path.
func orgEndpoint(sub string) (org, rest string, ok bool) {
	after, found := strings.CutPrefix(sub, "/o/")
	if !found {
		return "", "", false
	}
	org, rest, _ = strings.Cut(after, "/")
	if org == "" || tenant.ValidateOrgName(org) != nil {
		return "", "", false
	}
	return org, "/" + rest, true
}

// encodeCertificates returns certificates as PEM.
func encodeCertificates(certs []*x509.Certificate) string {
	var b bytes.Buffer
	for _, c := range certs {
		_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.String()
}

// notServed is the answer for an org this gate does not serve; it is the
// same whether or not the org exists elsewhere.
func notServed(w http.ResponseWriter) {
	writePage(w, http.StatusNotFound, "Not found", "There is no such organization here.", "")
}
