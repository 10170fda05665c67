package scimserver

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// The SSO connection API (issue 10): an org's admin gives its IdP, runs a
// test sign-in, and turns SSO on and off. The rules (which values are
// valid, what a state allows) are internal/tenant's; this file reads
// bodies and maps the refusals: a bad value is 400 naming its field, a
// rule of the connection's state is 409.

// ssoSettable are the fields PUT takes: SPEC section 8's names.
var ssoSettable = []string{
	tenant.FieldIDPSSOURL, tenant.FieldIDPIssuer, tenant.FieldIDPCertificates,
	tenant.FieldIDPMetadataURL, tenant.FieldIDPMetadataXML, tenant.FieldIDPSLOURL,
	tenant.FieldRequireSSO, tenant.FieldIDPManagedAccess, tenant.FieldAllowIDPInitiated,
}

// ssoReadOnly explains why a field GET shows cannot be PUT.
func ssoReadOnly(field string) string {
	switch field {
	case "org":
		return "the organization is always the token's and is never named in a body"
	case tenant.FieldState:
		return "the state changes with POST /api/v1/sso/test, /enable and /disable"
	case "pinned", "certificates", "sp", "attribute_statements", "tested_at", "updated_at", "version", "last_test", "notice":
		return "it is read-only; PUT takes " + strings.Join(ssoSettable, ", ")
	}
	return ""
}

// routeSSO dispatches a request under /api/v1/sso.
func (s *Server) routeSSO(rq *request, segs []string) (response, error) {
	switch {
	case len(segs) == 0:
		switch rq.Method {
		case http.MethodGet:
			return s.getSSO(rq)
		case http.MethodPut:
			return s.putSSO(rq)
		}
		return response{}, methodNotAllowed(rq, http.MethodGet, http.MethodPut)
	case len(segs) == 1 && (segs[0] == "test" || segs[0] == "enable" || segs[0] == "disable"):
		if rq.Method != http.MethodPost {
			return response{}, methodNotAllowed(rq, http.MethodPost)
		}
		switch segs[0] {
		case "test":
			return s.startSSOTest(rq)
		case "enable":
			return s.enableSSO(rq)
		}
		return s.disableSSO(rq)
	case len(segs) == 2 && segs[0] == "test":
		if rq.Method != http.MethodGet {
			return response{}, methodNotAllowed(rq, http.MethodGet)
		}
		return s.getSSOTest(rq, segs[1])
	}
	return response{}, notFound("no such endpoint: /api/v1/sso has /test, /test/{id}, /enable and /disable")
}

// connection returns the org's connection, or the defaults of one not
// made yet.
func (s *Server) connection(rq *request) (storage.Connection, error) {
	c, err := s.store.Connection(rq.ctx(), rq.org)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.NewConnection(rq.org), nil
	}
	if err != nil {
		return c, fmt.Errorf("reading the SSO connection: %w", err)
	}
	return c, nil
}

// orgName returns the name of the token's org.
func (s *Server) orgName(rq *request) (string, error) {
	org, err := s.store.OrgByID(rq.ctx(), rq.org)
	if err != nil {
		return "", fmt.Errorf("reading org %d: %w", rq.org, err)
	}
	return org.Name, nil
}

// gateURL returns the org's name and the URL of the gate serving it, ""
// when no gate recorded one.
func (s *Server) gateURL(rq *request) (org, gate string, err error) {
	org, err = s.orgName(rq)
	if err != nil {
		return "", "", err
	}
	gate, err = tenant.GateURL(rq.ctx(), s.store, org)
	if err != nil {
		return "", "", fmt.Errorf("reading the gate URL: %w", err)
	}
	return org, gate, nil
}

func (s *Server) getSSO(rq *request) (response, error) {
	c, err := s.connection(rq)
	if err != nil {
		return response{}, err
	}
	return s.ssoResponse(rq, c, "")
}

// ssoResponse is 200 with the connection c and a notice.
func (s *Server) ssoResponse(rq *request, c storage.Connection, notice string) (response, error) {
	org, gate, err := s.gateURL(rq)
	if err != nil {
		return response{}, err
	}
	var last *storage.SSOTest
	t, err := s.store.LatestSSOTest(rq.ctx(), rq.org)
	switch {
	case err == nil:
		last = &t
	case !errors.Is(err, storage.ErrNotFound):
		return response{}, fmt.Errorf("reading the last test sign-in: %w", err)
	}
	b := tenant.Describe(org, c, gate, last, s.now())
	b.Notice = notice
	return response{status: http.StatusOK, body: b}, nil
}

// readSSOSettings reads a PUT /api/v1/sso body into the change it asks
// for: a field left out stays nil, so that it stays as it is.
func readSSOSettings(rq *request) (tenant.Settings, error) {
	var in tenant.Settings
	b, err := readAPIBody(rq, ssoSettable, ssoReadOnly)
	if err != nil {
		return in, err
	}
	for _, f := range []struct {
		name string
		dst  **string
	}{
		{tenant.FieldIDPSSOURL, &in.IDPSSOURL},
		{tenant.FieldIDPIssuer, &in.IDPIssuer},
		{tenant.FieldIDPMetadataURL, &in.IDPMetadataURL},
		{tenant.FieldIDPMetadataXML, &in.IDPMetadataXML},
		{tenant.FieldIDPSLOURL, &in.IDPSLOURL},
	} {
		if *f.dst, err = b.str(f.name); err != nil {
			return in, err
		}
	}
	for _, f := range []struct {
		name string
		dst  **bool
	}{
		{tenant.FieldRequireSSO, &in.RequireSSO},
		{tenant.FieldIDPManagedAccess, &in.IDPManagedAccess},
		{tenant.FieldAllowIDPInitiated, &in.AllowIDPInitiated},
	} {
		if *f.dst, err = b.boolean(f.name); err != nil {
			return in, err
		}
	}
	if in.IDPCertificates, err = b.stringList(tenant.FieldIDPCertificates); err != nil {
		return in, err
	}
	return in, nil
}

// putSSO changes the connection. Everything slow (parsing certificates,
// fetching the metadata URL) happens in tenant.Prepare, before the write
// transaction; Apply then checks the rules against the connection as it
// is inside that transaction, so a concurrent change is never lost and a
// refusal writes nothing.
func (s *Server) putSSO(rq *request) (response, error) {
	in, err := readSSOSettings(rq)
	if err != nil {
		return response{}, err
	}
	verified, err := s.hasVerifiedDomain(rq)
	if err != nil {
		return response{}, err
	}
	ch, err := tenant.Prepare(rq.ctx(), in, s.fetch, s.now())
	if err != nil {
		return response{}, tenantErr(err, "checking the SSO settings")
	}
	c, err := s.store.ModifyConnection(rq.ctx(), rq.org, func(c *storage.Connection) error { return ch.Apply(c, verified) })
	switch {
	case errors.Is(err, tenant.ErrUnchanged):
		if c, err = s.connection(rq); err != nil {
			return response{}, err
		}
	case err != nil:
		return response{}, tenantErr(err, "saving the SSO connection")
	default:
		s.log.Info("changed SSO connection", zap.Int64("org_id", rq.org), zap.String("state", string(c.State)), zap.Int64("version", c.Version))
	}
	return s.ssoResponse(rq, c, "")
}

// hasVerifiedDomain reports whether the org has a verified domain, which
// require_sso needs.
func (s *Server) hasVerifiedDomain(rq *request) (bool, error) {
	ds, err := s.store.ListDomains(rq.ctx(), rq.org)
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

// startSSOTest records a test sign-in of the connection as it is now and
// answers where to run it. The gate runs it and records the outcome; a
// pass moves a draft connection (of this version) to tested.
func (s *Server) startSSOTest(rq *request) (response, error) {
	c, err := s.connection(rq)
	if err != nil {
		return response{}, err
	}
	if _, err := tenant.IDPMetadata(c); err != nil {
		return response{}, errorf(http.StatusConflict, "", "a test sign-in needs a complete IdP: %v (PUT /api/v1/sso)", err)
	}
	id, err := tenant.NewTestID()
	if err != nil {
		return response{}, fmt.Errorf("making a test ID: %w", err)
	}
	now := s.now().UTC().Truncate(time.Second) // the store keeps seconds
	t := storage.SSOTest{ID: id, OrgID: rq.org, ConnectionVersion: c.Version, CreatedAt: now, ExpiresAt: now.Add(tenant.TestLifetime)}
	if err := s.store.CreateSSOTest(rq.ctx(), t); err != nil {
		return response{}, fmt.Errorf("starting a test sign-in: %w", err)
	}
	org, gate, err := s.gateURL(rq)
	if err != nil {
		return response{}, err
	}
	body := struct {
		TestID    string    `json:"test_id"`
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
		Note      string    `json:"note,omitempty"`
	}{TestID: id, URL: tenant.TestPath(tenant.OrgPath(gate, org), id), ExpiresAt: t.ExpiresAt}
	if gate == "" {
		body.URL = tenant.TestPath(tenant.OrgPath(tenant.DefaultPathPrefix, org), id)
		body.Note = tenant.PathNote(body.URL)
	}
	s.log.Info("started SSO test", zap.Int64("org_id", rq.org), zap.Int64("version", c.Version))
	return response{status: http.StatusCreated, body: body, location: rq.base + "/sso/test/" + id}, nil
}

// getSSOTest reports a test sign-in of the org; another org's test ID is
// 404, as a test ID that never existed.
func (s *Server) getSSOTest(rq *request, id string) (response, error) {
	t, err := s.store.SSOTest(rq.ctx(), rq.org, id)
	if errors.Is(err, storage.ErrNotFound) {
		return response{}, notFound("no test sign-in %q in this organization; start one with POST /api/v1/sso/test", printable(id))
	}
	if err != nil {
		return response{}, fmt.Errorf("reading test sign-in: %w", err)
	}
	return response{status: http.StatusOK, body: tenant.DescribeTest(t, s.now())}, nil
}

// enableSSO turns the connection on: it must have passed a test sign-in
// since its IdP last changed.
func (s *Server) enableSSO(rq *request) (response, error) {
	c, err := s.store.ModifyConnection(rq.ctx(), rq.org, func(c *storage.Connection) error { return tenant.Enable(c, false) })
	switch {
	case errors.Is(err, tenant.ErrUnchanged):
		if c, err = s.connection(rq); err != nil {
			return response{}, err
		}
	case err != nil:
		return response{}, tenantErr(err, "enabling the SSO connection")
	default:
		s.log.Info("enabled SSO connection", zap.Int64("org_id", rq.org), zap.Int64("version", c.Version))
	}
	return s.ssoResponse(rq, c, "")
}

// disableSSO turns the connection off; the org's SAML sessions end with
// it, and require_sso goes off (said in the notice), since nobody could
// sign in by SSO any more.
func (s *Server) disableSSO(rq *request) (response, error) {
	var cleared bool
	c, err := s.store.ModifyConnection(rq.ctx(), rq.org, func(c *storage.Connection) error {
		var err error
		cleared, err = tenant.Disable(c)
		return err
	})
	notice := ""
	switch {
	case errors.Is(err, tenant.ErrUnchanged):
		if c, err = s.connection(rq); err != nil {
			return response{}, err
		}
	case err != nil:
		return response{}, tenantErr(err, "disabling the SSO connection")
	default:
		s.log.Info("disabled SSO connection", zap.Int64("org_id", rq.org), zap.Bool("require_sso_cleared", cleared))
		if cleared {
			notice = "require_sso was turned off with the connection: members sign in with a password again where they may; turn it back on after enabling SSO again"
		}
	}
	return s.ssoResponse(rq, c, notice)
}
