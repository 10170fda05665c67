package scimserver

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// The SSO connection API (issue 10): an org's admin gives its IdP, runs a
// test sign-in, and turns SSO on and off. The rules (which values are
// valid, what a state allows) are internal/tenant's and the operations
// internal/orgadmin's; this file reads bodies and maps the refusals: a bad
// value is 400 naming its field, a rule of the connection's state is 409.

// ssoSettable are the fields PUT takes: SPEC section 8's names.
var ssoSettable = []string{
	tenant.FieldIDPSSOURL, tenant.FieldIDPIssuer, tenant.FieldIDPCertificates,
	tenant.FieldIDPMetadataURL, tenant.FieldIDPMetadataXML, tenant.FieldIDPSLOURL,
	tenant.FieldRequireSSO, tenant.FieldIDPManagedAccess, tenant.FieldAllowIDPInitiated,
	tenant.FieldGroupsAttribute,
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

func (s *Server) getSSO(rq *request) (response, error) {
	return s.ssoResponse(rq, "")
}

// ssoResponse is 200 with the org's connection, what to copy into the
// IdP, and a notice.
func (s *Server) ssoResponse(rq *request, notice string) (response, error) {
	b, err := s.admin.View(rq.ctx(), rq.tenant)
	if err != nil {
		return response{}, err
	}
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
		{tenant.FieldGroupsAttribute, &in.GroupsAttribute},
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

// putSSO changes the connection. orgadmin checks the values before the
// write (fetching a metadata URL among them) and the rules against the
// connection as it is inside the write, so a refusal writes nothing.
func (s *Server) putSSO(rq *request) (response, error) {
	in, err := readSSOSettings(rq)
	if err != nil {
		return response{}, err
	}
	if _, err := s.admin.UpdateSSO(rq.ctx(), rq.tenant, rq.actor, in); err != nil {
		return response{}, tenantErr(err, "saving the SSO connection")
	}
	return s.ssoResponse(rq, "")
}

// startSSOTest records a test sign-in of the connection as it is now and
// answers where to run it. The gate runs it and records the outcome; a
// pass moves a draft connection (of this version) to tested.
func (s *Server) startSSOTest(rq *request) (response, error) {
	t, err := s.admin.StartTest(rq.ctx(), rq.tenant, rq.actor)
	var re *tenant.RuleError
	if errors.As(err, &re) {
		return response{}, errorf(http.StatusConflict, "", "%s (PUT /api/v1/sso)", re.Reason)
	}
	if err != nil {
		return response{}, err
	}
	body := struct {
		TestID    string    `json:"test_id"`
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expires_at"`
		Note      string    `json:"note,omitempty"`
	}{TestID: t.Test.ID, URL: t.URL, ExpiresAt: t.Test.ExpiresAt, Note: t.Note}
	return response{status: http.StatusCreated, body: body, location: rq.base + "/sso/test/" + t.Test.ID}, nil
}

// getSSOTest reports a test sign-in of the org; another org's test ID is
// 404, as a test ID that never existed.
func (s *Server) getSSOTest(rq *request, id string) (response, error) {
	t, err := s.admin.Test(rq.ctx(), rq.tenant, id)
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
	if _, err := s.admin.EnableSSO(rq.ctx(), rq.tenant, rq.actor, false); err != nil {
		return response{}, tenantErr(err, "enabling the SSO connection")
	}
	return s.ssoResponse(rq, "")
}

// disableSSO turns the connection off; the org's SAML sessions end with
// it, and require_sso goes off (said in the notice), since nobody could
// sign in by SSO any more.
func (s *Server) disableSSO(rq *request) (response, error) {
	_, cleared, err := s.admin.DisableSSO(rq.ctx(), rq.tenant, rq.actor)
	if err != nil {
		return response{}, tenantErr(err, "disabling the SSO connection")
	}
	notice := ""
	if cleared {
		notice = "require_sso was turned off with the connection: members sign in with a password again where they may; turn it back on after enabling SSO again"
	}
	return s.ssoResponse(rq, notice)
}
