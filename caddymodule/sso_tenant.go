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

// siteConfig is the SP configuration of an org's site, without the IdP:
// its endpoints, its entity ID and the org's SP keys.
func (h *SSOHandler) siteConfig(ctx context.Context, t *tenant.Tenant, s site) (sso.Config, error) {
	cfg := h.spBase
	base := h.PathPrefix
	if s == siteOrg {
		base = tenant.OrgPath(h.PathPrefix, t.Org.Name)
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
	// The Caddyfile's groups attribute holds for every org it serves;
	// without it, each org's connection says.
	if cfg.GroupsAttribute == "" {
		cfg.GroupsAttribute = t.Conn.GroupsAttribute
	}
	var err error
	cfg.SigningKeys, cfg.EncryptionKeys, err = h.spKeys(ctx, t.Org)
	return cfg, err
}

// staticIDP is a Caddyfile's IdP: its metadata, as given or as last
// fetched.
type staticIDP struct {
	md  *saml.EntityDescriptor
	xml string // the metadata document, when it came as one
}

// providerCache keeps the service providers of each org and site, built
// for one tenant (the registry makes a new one whenever the org, its
// connection or its SP keys change) and one IdP metadata document.
type providerCache struct {
	mu sync.Mutex
	m  map[providerKey]providerEntry
}

type providerKey struct {
	org  int64
	site site
}

type providerEntry struct {
	t  *tenant.Tenant
	md *saml.EntityDescriptor
	p  *sso.Provider
}

func newProviderCache() *providerCache {
	return &providerCache{m: map[providerKey]providerEntry{}}
}

// maxProviders bounds the cache; past it, entries are dropped at random.
const maxProviders = 4096

// get returns the provider built for t and md, building it if needed.
// build runs outside the lock: it reads the store and, the first time an
// org needs SP keys, generates them.
func (c *providerCache) get(k providerKey, t *tenant.Tenant, md *saml.EntityDescriptor, build func() (*sso.Provider, error)) (*sso.Provider, error) {
	c.mu.Lock()
	e, ok := c.m[k]
	c.mu.Unlock()
	if ok && e.t == t && e.md == md {
		return e.p, nil
	}
	p, err := build()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) >= maxProviders {
		for key := range c.m {
			delete(c.m, key)
			if len(c.m) < maxProviders*9/10 {
				break
			}
		}
	}
	c.m[k] = providerEntry{t: t, md: md, p: p}
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

// provider returns the service provider of the org's site: for the
// Caddyfile's IdP, or one built from the org's connection (any state: a
// test sign-in runs on a draft). Callers check ssoEnabled first for
// sign-ins.
func (h *SSOHandler) provider(ctx context.Context, t *tenant.Tenant, s site) (*sso.Provider, error) {
	md := t.IDP
	if st := h.staticFor(t); st != nil {
		md = st.md
	} else if md == nil {
		return nil, t.IDPErr
	}
	return h.providers.get(providerKey{t.Org.ID, s}, t, md, func() (*sso.Provider, error) {
		return h.newProvider(ctx, t, s, md)
	})
}

// newProvider builds the provider of an org's site for an IdP.
func (h *SSOHandler) newProvider(ctx context.Context, t *tenant.Tenant, s site, md *saml.EntityDescriptor) (*sso.Provider, error) {
	cfg, err := h.siteConfig(ctx, t, s)
	if err != nil {
		return nil, err
	}
	cfg.IDP = md
	p, err := sso.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("setting up the service provider: %w", err)
	}
	return p, nil
}

// spMetadata is the SP metadata of the org's site; it needs no IdP.
func (h *SSOHandler) spMetadata(ctx context.Context, t *tenant.Tenant, s site, origin *url.URL) ([]byte, error) {
	if p, err := h.provider(ctx, t, s); err == nil {
		return p.Metadata(origin)
	}
	cfg, err := h.siteConfig(ctx, t, s)
	if err != nil {
		return nil, err
	}
	return sso.SPMetadata(cfg, origin)
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
