package orgadmin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// Connection returns the org's SSO connection, or the defaults of one not
// made yet.
func (s *Service) Connection(ctx context.Context, org storage.Org) (storage.Connection, error) {
	c, err := s.Store.Connection(ctx, org.ID)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.NewConnection(org.ID), nil
	}
	if err != nil {
		return c, fmt.Errorf("reading the SSO connection: %w", err)
	}
	return c, nil
}

// View returns the org's connection as its admin sees it: with what to
// copy into the IdP (under the URL of the gate serving the org) and the
// last test sign-in.
func (s *Service) View(ctx context.Context, org storage.Org) (tenant.View, error) {
	c, err := s.Connection(ctx, org)
	if err != nil {
		return tenant.View{}, err
	}
	return s.describe(ctx, org, c)
}

func (s *Service) describe(ctx context.Context, org storage.Org, c storage.Connection) (tenant.View, error) {
	gate, err := tenant.GateURL(ctx, s.Store, org.Name)
	if err != nil {
		return tenant.View{}, fmt.Errorf("reading the gate URL: %w", err)
	}
	var last *storage.SSOTest
	t, err := s.Store.LatestSSOTest(ctx, org.ID)
	switch {
	case err == nil:
		last = &t
	case !errors.Is(err, storage.ErrNotFound):
		return tenant.View{}, fmt.Errorf("reading the last test sign-in: %w", err)
	}
	return tenant.Describe(org.Name, c, gate, last, s.now()), nil
}

// HasVerifiedDomain reports whether the org has a verified domain, which
// require_sso needs.
func (s *Service) HasVerifiedDomain(ctx context.Context, org storage.Org) (bool, error) {
	ds, err := s.Store.ListDomains(ctx, org.ID)
	if err != nil {
		return false, fmt.Errorf("listing domains: %w", err)
	}
	for _, d := range ds {
		if d.Status == storage.DomainVerified {
			return true, nil
		}
	}
	return false, nil
}

// UpdateSSO changes the connection's settings given in in (nil fields
// stay). Everything slow (parsing certificates, fetching a metadata URL)
// happens before the write transaction; the rules are then checked
// against the connection as it is inside it, so a concurrent change is
// never lost and a refusal writes nothing. Nothing changed is no error.
func (s *Service) UpdateSSO(ctx context.Context, org storage.Org, a Actor, in tenant.Settings) (storage.Connection, error) {
	verified, err := s.HasVerifiedDomain(ctx, org)
	if err != nil {
		return storage.Connection{}, err
	}
	ch, err := tenant.Prepare(ctx, in, s.Fetch, s.now())
	if err != nil {
		return storage.Connection{}, err
	}
	var before storage.Connection
	c, err := s.Store.ModifyConnection(ctx, org.ID, func(c *storage.Connection) error {
		before = *c
		return ch.Apply(c, verified)
	})
	if errors.Is(err, tenant.ErrUnchanged) {
		return s.Connection(ctx, org)
	}
	if err != nil {
		return c, err
	}
	s.log().Info("changed SSO connection", zap.String("org", org.Name), zap.String("state", string(c.State)), zap.Int64("version", c.Version))
	b, af := connectionDiff(before, c)
	s.Record(ctx, org, a, "sso.update", "SSO connection", b, af)
	return c, nil
}

// EnableSSO turns the connection on: it must have passed a test sign-in
// since its IdP last changed, unless untested (the operator only).
func (s *Service) EnableSSO(ctx context.Context, org storage.Org, a Actor, untested bool) (storage.Connection, error) {
	var before storage.ConnectionState
	c, err := s.Store.ModifyConnection(ctx, org.ID, func(c *storage.Connection) error {
		before = c.State
		return tenant.Enable(c, untested)
	})
	if errors.Is(err, tenant.ErrUnchanged) {
		return s.Connection(ctx, org)
	}
	if err != nil {
		return c, err
	}
	s.log().Info("enabled SSO connection", zap.String("org", org.Name), zap.Int64("version", c.Version))
	s.Record(ctx, org, a, "sso.enable", "SSO connection", map[string]any{"state": before}, map[string]any{"state": c.State})
	return c, nil
}

// DisableSSO turns the connection off: SSO sign-ins stop and the org's SAML
// sessions end. require_sso goes off with it (requireSSOCleared), since
// nobody could sign in by SSO any more.
func (s *Service) DisableSSO(ctx context.Context, org storage.Org, a Actor) (c storage.Connection, requireSSOCleared bool, err error) {
	var before storage.Connection
	c, err = s.Store.ModifyConnection(ctx, org.ID, func(c *storage.Connection) error {
		before = *c
		var err error
		requireSSOCleared, err = tenant.Disable(c)
		return err
	})
	if errors.Is(err, tenant.ErrUnchanged) {
		c, err = s.Connection(ctx, org)
		return c, false, err
	}
	if err != nil {
		return c, false, err
	}
	s.log().Info("disabled SSO connection", zap.String("org", org.Name), zap.Bool("require_sso_cleared", requireSSOCleared))
	b, af := connectionDiff(before, c)
	s.Record(ctx, org, a, "sso.disable", "SSO connection", b, af)
	return c, requireSSOCleared, nil
}

// TestStarted is a test sign-in just recorded, and where to run it.
type TestStarted struct {
	Test storage.SSOTest
	// URL is where the test runs: on the gate serving the org, or a path
	// under the default path prefix when no gate recorded its URL (Note
	// then says so).
	URL  string
	Note string
}

// StartTest records a test sign-in of the connection as it is now. The
// gate runs it and records its outcome; a pass makes a draft (of this
// version) tested.
func (s *Service) StartTest(ctx context.Context, org storage.Org, a Actor) (TestStarted, error) {
	c, err := s.Connection(ctx, org)
	if err != nil {
		return TestStarted{}, err
	}
	if _, err := tenant.IDPMetadata(c); err != nil {
		return TestStarted{}, rule("a test sign-in needs a complete IdP: %v", err)
	}
	id, err := tenant.NewTestID()
	if err != nil {
		return TestStarted{}, fmt.Errorf("making a test ID: %w", err)
	}
	now := s.now().UTC().Truncate(time.Second) // the store keeps seconds
	t := storage.SSOTest{ID: id, OrgID: org.ID, ConnectionVersion: c.Version, CreatedAt: now, ExpiresAt: now.Add(tenant.TestLifetime)}
	if err := s.Store.CreateSSOTest(ctx, t); err != nil {
		return TestStarted{}, fmt.Errorf("starting a test sign-in: %w", err)
	}
	gate, err := tenant.GateURL(ctx, s.Store, org.Name)
	if err != nil {
		return TestStarted{}, fmt.Errorf("reading the gate URL: %w", err)
	}
	out := TestStarted{Test: t, URL: tenant.TestPath(tenant.OrgPath(gate, org.Name), id)}
	if gate == "" {
		out.URL = tenant.TestPath(tenant.OrgPath(tenant.DefaultPathPrefix, org.Name), id)
		out.Note = tenant.PathNote(out.URL)
	}
	s.log().Info("started SSO test", zap.String("org", org.Name), zap.Int64("version", c.Version))
	s.Record(ctx, org, a, "sso.test", "SSO connection", nil, map[string]any{"version": c.Version})
	return out, nil
}

// Test returns one of the org's test sign-ins.
func (s *Service) Test(ctx context.Context, org storage.Org, id string) (storage.SSOTest, error) {
	return s.Store.SSOTest(ctx, org.ID, id)
}

// connectionDiff returns the connection's fields that differ, before and
// after, as an audit event shows them: certificates by fingerprint,
// metadata by size, never the documents themselves.
func connectionDiff(a, b storage.Connection) (before, after map[string]any) {
	before, after = map[string]any{}, map[string]any{}
	set := func(field string, x, y any) {
		if x != y {
			before[field], after[field] = x, y
		}
	}
	set(tenant.FieldState, string(a.State), string(b.State))
	set(tenant.FieldIDPSSOURL, a.IDPSSOURL, b.IDPSSOURL)
	set(tenant.FieldIDPIssuer, a.IDPIssuer, b.IDPIssuer)
	if a.IDPCertificates != b.IDPCertificates {
		before[tenant.FieldIDPCertificates], after[tenant.FieldIDPCertificates] = fingerprints(a), fingerprints(b)
	}
	set(tenant.FieldIDPMetadataURL, a.IDPMetadataURL, b.IDPMetadataURL)
	if a.IDPMetadataXML != b.IDPMetadataXML {
		before[tenant.FieldIDPMetadataXML], after[tenant.FieldIDPMetadataXML] = docSize(a.IDPMetadataXML), docSize(b.IDPMetadataXML)
	}
	set(tenant.FieldIDPSLOURL, a.IDPSLOURL, b.IDPSLOURL)
	set(tenant.FieldRequireSSO, a.RequireSSO, b.RequireSSO)
	set(tenant.FieldIDPManagedAccess, a.IDPManagedAccess, b.IDPManagedAccess)
	set(tenant.FieldAllowIDPInitiated, a.AllowIDPInitiated, b.AllowIDPInitiated)
	set(tenant.FieldGroupsAttribute, a.GroupsAttribute, b.GroupsAttribute)
	return before, after
}

func fingerprints(c storage.Connection) []string {
	out := []string{}
	if c.IDPCertificates == "" {
		return out
	}
	for _, ci := range tenant.DescribeCertificates(c.IDPCertificates, time.Now()) {
		out = append(out, ci.Fingerprint)
	}
	return out
}

func docSize(doc string) string {
	if doc == "" {
		return ""
	}
	return fmt.Sprintf("%d bytes", len(doc))
}
