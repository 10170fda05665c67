// Package tenant is where ssogate decides which org a sign-in belongs to
// and whether it may go in. It holds:
//
//   - the Registry: every org with its SSO connection and verified
//     domains, read from the store once and kept current by the change
//     feed, so that home-realm discovery and the ACS find an org with a
//     map read, never a query;
//   - the admission rules of SPEC §4, evaluated per org (Evaluate, Admit);
//   - the checks on connection settings and the connection's life
//     (draft → tested → enabled ⇄ disabled) that the admin API and the CLI
//     share, so both refuse the same input with the same words.
//
// It holds no HTTP and no Caddy: the gate and the sidecar call it.
package tenant

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/crewjam/saml"

	"github.com/ssogate/ssogate/internal/storage"
)

// Tenant is one org as the gate sees it. A Tenant is never changed once
// published; a change to the org makes a new one.
type Tenant struct {
	Org storage.Org
	// Conn is the org's connection; HasConn is false when it has none.
	Conn    storage.Connection
	HasConn bool
	// Domains are the org's verified domains.
	Domains []string
	// IDP is the IdP's metadata built from Conn, nil when Conn has no
	// complete IdP; IDPErr then says why.
	IDP    *saml.EntityDescriptor
	IDPErr error
}

// SSOEnabled reports whether the org's connection signs people in.
func (t *Tenant) SSOEnabled() bool {
	return t != nil && t.HasConn && t.Conn.State == storage.ConnectionEnabled && t.IDP != nil
}

// registryStore is what the registry reads.
type registryStore interface {
	ListOrgs(ctx context.Context) ([]storage.Org, error)
	OrgByID(ctx context.Context, id int64) (storage.Org, error)
	OrgByName(ctx context.Context, name string) (storage.Org, error)
	ListConnections(ctx context.Context) ([]storage.Connection, error)
	Connection(ctx context.Context, orgID int64) (storage.Connection, error)
	ListVerifiedDomains(ctx context.Context) ([]storage.VerifiedDomain, error)
	ListDomains(ctx context.Context, orgID int64) ([]storage.Domain, error)
}

// snapshot is the registry's content at one moment.
type snapshot struct {
	byID     map[int64]*Tenant
	byName   map[string]*Tenant
	byDomain map[string]*Tenant
}

// Registry is every org with its connection and verified domains. Reads
// are lock-free map lookups on an immutable snapshot; Load and Refresh
// build a new one.
type Registry struct {
	store registryStore

	mu   sync.Mutex // one writer at a time
	snap atomic.Pointer[snapshot]
}

// NewRegistry returns an empty registry reading from st; call Load.
func NewRegistry(st registryStore) *Registry {
	r := &Registry{store: st}
	r.snap.Store(&snapshot{byID: map[int64]*Tenant{}, byName: map[string]*Tenant{}, byDomain: map[string]*Tenant{}})
	return r
}

// Load reads every org from the store: three queries whatever their number.
func (r *Registry) Load(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	orgs, err := r.store.ListOrgs(ctx)
	if err != nil {
		return err
	}
	conns, err := r.store.ListConnections(ctx)
	if err != nil {
		return err
	}
	doms, err := r.store.ListVerifiedDomains(ctx)
	if err != nil {
		return err
	}
	byOrg := make(map[int64]*storage.Connection, len(conns))
	for i := range conns {
		byOrg[conns[i].OrgID] = &conns[i]
	}
	domains := map[int64][]string{}
	for _, d := range doms {
		domains[d.OrgID] = append(domains[d.OrgID], strings.ToLower(d.Name))
	}
	byID := make(map[int64]*Tenant, len(orgs))
	for _, o := range orgs {
		byID[o.ID] = newTenant(o, byOrg[o.ID], domains[o.ID])
	}
	r.snap.Store(index(byID))
	return nil
}

// Refresh reads these orgs again (the change feed named them); an org
// that no longer exists leaves the registry.
func (r *Registry) Refresh(ctx context.Context, orgIDs []int64) error {
	if len(orgIDs) == 0 {
		return nil
	}
	// Reads happen under the lock too, so that two refreshes cannot
	// publish what they read in the other order.
	r.mu.Lock()
	defer r.mu.Unlock()
	byID := maps.Clone(r.snap.Load().byID)
	for _, id := range orgIDs {
		t, err := r.read(ctx, id)
		if err != nil {
			return err
		}
		if t == nil {
			delete(byID, id)
		} else {
			byID[id] = t
		}
	}
	r.snap.Store(index(byID))
	return nil
}

// read loads one org, or nil when it does not exist.
func (r *Registry) read(ctx context.Context, id int64) (*Tenant, error) {
	org, err := r.store.OrgByID(ctx, id)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var conn *storage.Connection
	c, err := r.store.Connection(ctx, id)
	switch {
	case err == nil:
		conn = &c
	case !errors.Is(err, storage.ErrNotFound):
		return nil, err
	}
	ds, err := r.store.ListDomains(ctx, id)
	if err != nil {
		return nil, err
	}
	var verified []string
	for _, d := range ds {
		if d.Status == storage.DomainVerified {
			verified = append(verified, strings.ToLower(d.Name))
		}
	}
	return newTenant(org, conn, verified), nil
}

// New returns the tenant of an org with this connection (nil: none) and
// verified domains, outside any registry: for a test sign-in, which must
// run on the connection as stored this instant.
func New(o storage.Org, conn *storage.Connection, domains []string) *Tenant {
	return newTenant(o, conn, domains)
}

func newTenant(o storage.Org, conn *storage.Connection, domains []string) *Tenant {
	t := &Tenant{Org: o, Domains: domains}
	if conn != nil {
		t.Conn, t.HasConn = *conn, true
		t.IDP, t.IDPErr = IDPMetadata(*conn)
	} else {
		t.Conn = storage.NewConnection(o.ID)
		t.IDPErr = errors.New("no SSO connection is configured")
	}
	return t
}

// index builds the lookup maps. A domain is verified by one org at most
// (the store's unique index); should two ever claim it, neither gets it.
func index(byID map[int64]*Tenant) *snapshot {
	s := &snapshot{byID: byID, byName: make(map[string]*Tenant, len(byID)), byDomain: map[string]*Tenant{}}
	taken := map[string]bool{}
	for _, t := range byID {
		s.byName[t.Org.Name] = t
		for _, d := range t.Domains {
			if taken[d] {
				delete(s.byDomain, d)
				continue
			}
			taken[d] = true
			s.byDomain[d] = t
		}
	}
	return s
}

// ByName returns the named org, or nil.
func (r *Registry) ByName(name string) *Tenant { return r.snap.Load().byName[name] }

// Lookup returns the named org like ByName, but reads the store when the
// registry does not know the name yet: an org made by another process a
// moment ago (the feed names it within a poll) is served at once. It is
// for endpoints that name an org (its ACS, metadata, test sign-in), not
// for the per-request path; an unknown name costs one indexed read.
func (r *Registry) Lookup(ctx context.Context, name string) (*Tenant, error) {
	if t := r.ByName(name); t != nil {
		return t, nil
	}
	org, err := r.store.OrgByName(ctx, name)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if err := r.Refresh(ctx, []int64{org.ID}); err != nil {
		return nil, err
	}
	return r.ByID(org.ID), nil
}

// ByID returns the org with this ID, or nil.
func (r *Registry) ByID(id int64) *Tenant { return r.snap.Load().byID[id] }

// ByDomain returns the org that verified the domain (lower case), or nil.
func (r *Registry) ByDomain(domain string) *Tenant { return r.snap.Load().byDomain[domain] }

// All returns every org, in no order.
func (r *Registry) All() []*Tenant {
	byID := r.snap.Load().byID
	out := make([]*Tenant, 0, len(byID))
	for _, t := range byID {
		out = append(out, t)
	}
	return out
}

// Len returns the number of orgs.
func (r *Registry) Len() int { return len(r.snap.Load().byID) }

// Discover finds the org of a work email: the org that verified its
// domain, or nil. It says nothing about the account: discovery must not
// tell who has one.
func (r *Registry) Discover(email string) *Tenant {
	at := strings.LastIndexByte(email, '@')
	if at < 0 || at == len(email)-1 {
		return nil
	}
	return r.ByDomain(strings.ToLower(email[at+1:]))
}

// String describes the registry for logs.
func (r *Registry) String() string {
	s := r.snap.Load()
	enabled := 0
	for _, t := range s.byID {
		if t.SSOEnabled() {
			enabled++
		}
	}
	return fmt.Sprintf("%d orgs, %d with SSO enabled, %d verified domains", len(s.byID), enabled, len(s.byDomain))
}
