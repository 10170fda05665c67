package scimserver

import (
	"encoding/json"
	"encoding/pem"
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

// ssoBody is an org's SSO connection as the API shows it. Every key is
// always present, so that a settings page can bind to it.
type ssoBody struct {
	Org               string                  `json:"org"`
	State             storage.ConnectionState `json:"state"`
	IDPSSOURL         string                  `json:"idp_sso_url"`
	IDPIssuer         string                  `json:"idp_issuer"`
	IDPCertificates   []string                `json:"idp_certificates"` // one PEM block each
	IDPMetadataURL    string                  `json:"idp_metadata_url"`
	IDPMetadataXML    string                  `json:"idp_metadata_xml"`
	IDPSLOURL         string                  `json:"idp_slo_url"`
	RequireSSO        bool                    `json:"require_sso"`
	IDPManagedAccess  bool                    `json:"idp_managed_access"`
	AllowIDPInitiated bool                    `json:"allow_idp_initiated"`
	// Pinned lists the fields the operator set in the Caddyfile; they are
	// read-only here.
	Pinned []string `json:"pinned"`
	// Certificates describes the IdP's signing certificates, from the
	// explicit ones or the metadata's.
	Certificates []tenant.CertificateInfo `json:"certificates"`
	// SP is what the admin copies into the IdP.
	SP                  spBody               `json:"sp"`
	AttributeStatements []attributeStatement `json:"attribute_statements"`
	TestedAt            *time.Time           `json:"tested_at"`
	UpdatedAt           *time.Time           `json:"updated_at"`
	Version             int64                `json:"version"`
	LastTest            *lastTestBody        `json:"last_test"`
	// Notice tells what a change did beyond what was asked.
	Notice string `json:"notice,omitempty"`
}

// spBody is the org's SP endpoints, as URLs when a gate recorded its own
// URL, else as paths with a note.
type spBody struct {
	tenant.Endpoints
	GateURLKnown bool   `json:"gate_url_known"`
	Note         string `json:"note,omitempty"`
}

// attributeStatement is one attribute the IdP must send, in Okta's
// expression language (Entra offers the same claims under its own names).
type attributeStatement struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// attributeStatements are the attributes the gate reads first (it also
// knows mail, givenName, surname and a few more).
var attributeStatements = []attributeStatement{
	{Name: "email", Value: "user.email"},
	{Name: "firstName", Value: "user.firstName"},
	{Name: "lastName", Value: "user.lastName"},
}

// lastTestBody is the org's newest finished test sign-in.
type lastTestBody struct {
	ID         string          `json:"id"`
	OK         bool            `json:"ok"`
	FinishedAt *time.Time      `json:"finished_at"`
	Outcome    json.RawMessage `json:"outcome"`
}

// testBody is one test sign-in.
type testBody struct {
	ID         string          `json:"id"`
	Status     string          `json:"status"` // pending, passed, failed or expired
	CreatedAt  time.Time       `json:"created_at"`
	ExpiresAt  time.Time       `json:"expires_at"`
	FinishedAt *time.Time      `json:"finished_at"`
	Outcome    json.RawMessage `json:"outcome"`
}

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

// pathNote says what to do with an org path when no gate URL is known.
func pathNote(path string) string {
	return fmt.Sprintf("no gate has recorded its URL yet (a saml_sso with base_url records it when it starts), so these are paths: "+
		"put the gate's origin and path_prefix (default /sso) before them, such as https://app.example.com/sso%s", path)
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
	b := ssoBody{
		Org:                 org,
		State:               c.State,
		IDPSSOURL:           c.IDPSSOURL,
		IDPIssuer:           c.IDPIssuer,
		IDPCertificates:     splitPEM(c.IDPCertificates),
		IDPMetadataURL:      c.IDPMetadataURL,
		IDPMetadataXML:      c.IDPMetadataXML,
		IDPSLOURL:           c.IDPSLOURL,
		RequireSSO:          c.RequireSSO,
		IDPManagedAccess:    c.IDPManagedAccess,
		AllowIDPInitiated:   c.AllowIDPInitiated,
		Pinned:              append([]string{}, c.Pinned...),
		Certificates:        tenant.Certificates(c, s.now()),
		SP:                  spBody{Endpoints: tenant.EndpointsAt(gate, org), GateURLKnown: gate != ""},
		AttributeStatements: attributeStatements,
		TestedAt:            optTime(c.TestedAt),
		UpdatedAt:           optTime(c.UpdatedAt),
		Version:             c.Version,
		Notice:              notice,
	}
	if b.Certificates == nil {
		b.Certificates = []tenant.CertificateInfo{}
	}
	if gate == "" {
		b.SP.Note = pathNote(b.SP.ACSURL)
	}
	t, err := s.store.LatestSSOTest(rq.ctx(), rq.org)
	switch {
	case err == nil:
		b.LastTest = &lastTestBody{ID: t.ID, OK: t.OK, FinishedAt: optTime(t.FinishedAt), Outcome: outcomeJSON(t.Outcome)}
	case !errors.Is(err, storage.ErrNotFound):
		return response{}, fmt.Errorf("reading the last test sign-in: %w", err)
	}
	return response{status: http.StatusOK, body: b}, nil
}

// splitPEM returns each PEM block of text on its own; text that holds
// none (never stored by this API, but an operator's value might be) is
// returned whole.
func splitPEM(text string) []string {
	out := []string{}
	rest := []byte(text)
	for {
		block, r := pem.Decode(rest)
		if block == nil {
			break
		}
		out = append(out, string(pem.EncodeToMemory(block)))
		rest = r
	}
	if len(out) == 0 && strings.TrimSpace(text) != "" {
		out = append(out, text)
	}
	return out
}

// outcomeJSON is a test's stored outcome as a JSON value: null when there
// is none or it is not JSON (the gate writes it; a bad one must not make
// the whole answer fail to encode).
func outcomeJSON(raw []byte) json.RawMessage {
	if len(raw) == 0 || !json.Valid(raw) {
		return nil
	}
	return raw
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
		body.Note = pathNote(body.URL)
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
	return response{status: http.StatusOK, body: testBody{
		ID:         t.ID,
		Status:     testStatus(t, s.now()),
		CreatedAt:  t.CreatedAt.UTC(),
		ExpiresAt:  t.ExpiresAt.UTC(),
		FinishedAt: optTime(t.FinishedAt),
		Outcome:    outcomeJSON(t.Outcome),
	}}, nil
}

// testStatus names where a test sign-in is.
func testStatus(t storage.SSOTest, now time.Time) string {
	switch {
	case !t.FinishedAt.IsZero() && t.OK:
		return "passed"
	case !t.FinishedAt.IsZero():
		return "failed"
	case now.After(t.ExpiresAt):
		return "expired"
	}
	return "pending"
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
