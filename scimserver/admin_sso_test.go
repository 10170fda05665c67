package scimserver_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
	"github.com/ssogate/ssogate/internal/testcert"
	"github.com/ssogate/ssogate/internal/testidp"
	"github.com/ssogate/ssogate/scimserver"
)

// certPEM makes a self-signed certificate valid until notAfter.
func certPEM(t testing.TB, cn string, notAfter time.Time) string {
	t.Helper()
	_, pemText := testcert.New(t, cn, notAfter)
	return pemText
}

// Test IdPs are made once: each holds an RSA key.
var (
	idpOnce       sync.Once
	idpA, idpB    *testidp.IdP
	idpMetadataB  string
	errIdPMissing error
)

// testIdPs returns two test IdPs and the metadata document of the second.
func testIdPs(t testing.TB) (a, b *testidp.IdP, metadataB string) {
	t.Helper()
	idpOnce.Do(func() {
		if idpA, errIdPMissing = testidp.New("https://idp-a.example.com"); errIdPMissing != nil {
			return
		}
		if idpB, errIdPMissing = testidp.New("https://idp-b.example.com"); errIdPMissing != nil {
			return
		}
		var raw []byte
		raw, errIdPMissing = xml.Marshal(idpB.IDP.Metadata())
		idpMetadataB = string(raw)
	})
	if errIdPMissing != nil {
		t.Fatal(errIdPMissing)
	}
	return idpA, idpB, idpMetadataB
}

// explicitIdP is the PUT body that sets an IdP by its three values.
func explicitIdP(p *testidp.IdP) map[string]any {
	return map[string]any{"idp_sso_url": p.SSOURL(), "idp_issuer": p.EntityID(), "idp_certificates": string(p.CertificatePEM())}
}

// js encodes v as a JSON body for a step.
func js(t testing.TB, v any) string {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// passTest simulates the gate: it finishes the org's test sign-in as
// passed, as the gate does after a good response from the IdP.
func (e *env) passTest(org storage.Org, id string, ok bool) {
	e.t.Helper()
	outcome := `{"ok":` + map[bool]string{true: "true", false: "false"}[ok] + `,"email":"jo@acme.com","rules":[]}`
	if _, err := e.store.FinishSSOTest(context.Background(), org.ID, id, ok, []byte(outcome)); err != nil {
		e.t.Fatal(err)
	}
}

// TestSSOConnection walks an org's SSO connection from nothing to
// enabled and back through the admin API, with the gate's part (finishing
// a test sign-in) done on the store.
func TestSSOConnection(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b, mdB := testIdPs(t)
	vars := map[string]string{}
	api := func(s step) step {
		if s.token == "" {
			s.token = e.admin
		}
		return s
	}
	other := certPEM(t, "rotation", time.Now().Add(90*24*time.Hour))

	e.run(t, vars, []step{
		api(step{name: "a new org has a draft with the defaults", method: "GET", path: "/api/v1/sso", status: 200, checks: []check{
			eq("org", "acme"), eq("state", "draft"), eq("idp_sso_url", ""), eq("idp_certificates", []any{}), eq("certificates", []any{}),
			eq("pinned", []any{}), eq("require_sso", false), eq("allow_idp_initiated", true), eq("idp_managed_access", false),
			eq("groups_attribute", ""), eq("version", 0), eq("updated_at", nil), eq("tested_at", nil), eq("last_test", nil),
			eq("sp/acs_url", "/sso/o/acme/acs"), eq("sp/entity_id", "/sso/o/acme/metadata"), eq("sp/metadata_url", "/sso/o/acme/metadata"),
			eq("sp/logout_url", "/sso/o/acme/logout"), eq("sp/gate_url_known", false), contains("sp/note", "path_prefix"),
			eq("attribute_statements", []any{
				map[string]any{"name": "email", "value": "user.email"},
				map[string]any{"name": "firstName", "value": "user.firstName"},
				map[string]any{"name": "lastName", "value": "user.lastName"},
			}),
		}}),
		api(step{name: "no test without an IdP", method: "POST", path: "/api/v1/sso/test", status: 409, checks: []check{contains("error", "complete IdP")}}),
		api(step{name: "no enabling without an IdP", method: "POST", path: "/api/v1/sso/enable", status: 409, checks: []check{contains("error", "no IdP")}}),
		api(step{name: "set the IdP by its values", method: "PUT", path: "/api/v1/sso", body: js(t, explicitIdP(a)), status: 200, checks: []check{
			eq("state", "draft"), eq("idp_sso_url", a.SSOURL()), eq("idp_issuer", a.EntityID()),
			eq("idp_certificates", []any{string(a.CertificatePEM())}), length("certificates", 1),
			eq("certificates/0/subject", "CN=ssogate test IdP"), nonEmpty("certificates/0/sha256_fingerprint"),
			eq("certificates/0/expired", false), eq("certificates/0/expires_soon", false), eq("version", 1), nonEmpty("updated_at"),
		}}),
		api(step{name: "an empty body changes nothing", method: "PUT", path: "/api/v1/sso", body: `{}`, status: 200, checks: []check{eq("version", 1)}}),
		api(step{name: "the same values change nothing", method: "PUT", path: "/api/v1/sso", body: js(t, explicitIdP(a)), status: 200, checks: []check{eq("version", 1)}}),
		api(step{name: "require_sso before enabling", method: "PUT", path: "/api/v1/sso", body: `{"require_sso":true}`, status: 409,
			checks: []check{contains("error", "enabled SSO connection first")}}),
		api(step{name: "enable before a test", method: "POST", path: "/api/v1/sso/enable", status: 409, checks: []check{contains("error", "test sign-in")}}),
		api(step{name: "GET is not how a test starts", method: "GET", path: "/api/v1/sso/test", status: 405}),
		api(step{name: "start a test", method: "POST", path: "/api/v1/sso/test", status: 201, checks: []check{
			nonEmpty("test_id"), contains("url", "/o/acme/test/"), contains("note", "path_prefix"), nonEmpty("expires_at"),
		}, save: map[string]string{"test": "test_id", "testURL": "url"}}),
		api(step{name: "the test is pending", method: "GET", path: "/api/v1/sso/test/{{test}}", status: 200, checks: []check{
			eq("id", "{{test}}"), eq("status", "pending"), eq("finished_at", nil), eq("outcome", nil), nonEmpty("created_at"),
		}}),
	})
	if want := "/sso/o/acme/test/" + vars["test"]; vars["testURL"] != want {
		t.Fatalf("test URL = %q, want %q", vars["testURL"], want)
	}
	e.passTest(e.org, vars["test"], true)
	e.run(t, vars, []step{
		api(step{name: "the test passed", method: "GET", path: "/api/v1/sso/test/{{test}}", status: 200, checks: []check{
			eq("status", "passed"), nonEmpty("finished_at"), eq("outcome/email", "jo@acme.com"),
		}}),
		api(step{name: "the connection is tested", method: "GET", path: "/api/v1/sso", status: 200, checks: []check{
			eq("state", "tested"), nonEmpty("tested_at"), eq("last_test/id", "{{test}}"), eq("last_test/ok", true),
			eq("last_test/outcome/ok", true), nonEmpty("last_test/finished_at"),
		}}),
		api(step{name: "enable", method: "POST", path: "/api/v1/sso/enable", status: 200, checks: []check{eq("state", "enabled")}}),
		api(step{name: "enable again changes nothing", method: "POST", path: "/api/v1/sso/enable", status: 200,
			checks: []check{eq("state", "enabled"), number("version")}}),
		api(step{name: "a second certificate keeps it enabled", method: "PUT", path: "/api/v1/sso",
			body: js(t, map[string]any{"idp_certificates": []string{string(a.CertificatePEM()), other}}), status: 200, checks: []check{
				eq("state", "enabled"), length("idp_certificates", 2), length("certificates", 2), eq("certificates/1/subject", "CN=rotation"),
			}}),
		api(step{name: "http on localhost is allowed", method: "PUT", path: "/api/v1/sso", body: `{"idp_sso_url":"http://localhost:8080/sso","idp_slo_url":"http://127.0.0.1:8080/slo"}`,
			status: 200, checks: []check{eq("idp_sso_url", "http://localhost:8080/sso"), eq("idp_slo_url", "http://127.0.0.1:8080/slo"), eq("state", "enabled")}}),
		api(step{name: "null clears a string", method: "PUT", path: "/api/v1/sso", body: `{"idp_slo_url":null}`, status: 200, checks: []check{eq("idp_slo_url", "")}}),
		api(step{name: "the switches", method: "PUT", path: "/api/v1/sso", body: `{"idp_managed_access":true,"allow_idp_initiated":false}`, status: 200,
			checks: []check{eq("idp_managed_access", true), eq("allow_idp_initiated", false)}}),
		api(step{name: "the groups attribute keeps it enabled", method: "PUT", path: "/api/v1/sso",
			body: `{"groups_attribute":" http://schemas.microsoft.com/ws/2008/06/identity/claims/groups "}`, status: 200,
			checks: []check{eq("groups_attribute", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"), eq("state", "enabled")}}),
		api(step{name: "null clears the groups attribute", method: "PUT", path: "/api/v1/sso", body: `{"groups_attribute":null}`, status: 200,
			checks: []check{eq("groups_attribute", "")}}),
		api(step{name: "require_sso with an enabled connection and a verified domain", method: "PUT", path: "/api/v1/sso", body: `{"require_sso":true}`,
			status: 200, checks: []check{eq("require_sso", true)}}),
		api(step{name: "the IdP cannot be left incomplete while enabled", method: "PUT", path: "/api/v1/sso", body: `{"idp_certificates":[]}`, status: 400,
			checks: []check{eq("field", "idp_certificates")}}),
		api(step{name: "disable takes require_sso with it", method: "POST", path: "/api/v1/sso/disable", status: 200, checks: []check{
			eq("state", "disabled"), eq("require_sso", false), contains("notice", "require_sso"),
		}}),
		api(step{name: "disable again changes nothing", method: "POST", path: "/api/v1/sso/disable", status: 200, checks: []check{eq("state", "disabled"), absent("notice")}}),
		api(step{name: "a disabled connection may be enabled again", method: "POST", path: "/api/v1/sso/enable", status: 200, checks: []check{eq("state", "enabled")}}),
		api(step{name: "another IdP on an enabled connection needs a test first", method: "PUT", path: "/api/v1/sso", body: js(t, map[string]any{"idp_metadata_xml": mdB}),
			status: 409, checks: []check{contains("error", "another IdP")}}),
		api(step{name: "disable", method: "POST", path: "/api/v1/sso/disable", status: 200, checks: []check{eq("state", "disabled")}}),
		api(step{name: "metadata replaces the values and makes a disabled connection a draft", method: "PUT", path: "/api/v1/sso", body: js(t, map[string]any{"idp_metadata_xml": mdB}),
			status: 200, checks: []check{
				eq("state", "draft"), eq("idp_sso_url", ""), eq("idp_issuer", ""), eq("idp_certificates", []any{}),
				nonEmpty("idp_metadata_xml"), length("certificates", 1),
			}}),
		api(step{name: "values replace the metadata", method: "PUT", path: "/api/v1/sso", body: js(t, explicitIdP(b)), status: 200, checks: []check{
			eq("idp_metadata_xml", ""), eq("idp_sso_url", b.SSOURL()), eq("state", "draft"),
		}}),
		api(step{name: "a new IdP keeps a draft a draft", method: "PUT", path: "/api/v1/sso", body: js(t, explicitIdP(a)), status: 200,
			checks: []check{eq("state", "draft")}}),
		api(step{name: "which must be tested again", method: "POST", path: "/api/v1/sso/enable", status: 409, checks: []check{contains("error", "test sign-in")}}),
		api(step{name: "start another test", method: "POST", path: "/api/v1/sso/test", status: 201, save: map[string]string{"failing": "test_id"}}),
	})
	e.passTest(e.org, vars["failing"], false)
	e.run(t, vars, []step{
		api(step{name: "a failed test", method: "GET", path: "/api/v1/sso/test/{{failing}}", status: 200, checks: []check{eq("status", "failed"), eq("outcome/ok", false)}}),
		// (last_test is not checked: both tests may finish in one second,
		// the store's resolution.)
		api(step{name: "leaves the connection a draft", method: "GET", path: "/api/v1/sso", status: 200, checks: []check{eq("state", "draft")}}),
		api(step{name: "an unknown test", method: "GET", path: "/api/v1/sso/test/nope", status: 404, checks: []check{contains("error", "POST /api/v1/sso/test")}}),
		api(step{name: "an unknown endpoint", method: "POST", path: "/api/v1/sso/start", status: 404}),
		api(step{name: "a wrong method", method: "DELETE", path: "/api/v1/sso", status: 405}),
	})

	t.Run("an expired test", func(t *testing.T) {
		past := time.Now().Add(-time.Hour).Truncate(time.Second)
		if err := e.store.CreateSSOTest(ctx, storage.SSOTest{ID: "old-test", OrgID: e.org.ID, CreatedAt: past.Add(-tenant.TestLifetime), ExpiresAt: past}); err != nil {
			t.Fatal(err)
		}
		r := e.do("GET", "/api/v1/sso/test/old-test", e.admin, nil)
		if r.status != 200 || r.str("status") != "expired" {
			t.Fatalf("= %d %s; want 200 expired", r.status, r.raw)
		}
	})

	t.Run("the gate's URL makes the endpoints URLs", func(t *testing.T) {
		if err := e.store.PutSetting(ctx, tenant.GateURLKey(""), []byte("https://shared.example.com/sso")); err != nil {
			t.Fatal(err)
		}
		r := e.do("GET", "/api/v1/sso", e.admin, nil)
		for _, c := range []check{eq("sp/acs_url", "https://shared.example.com/sso/o/acme/acs"), eq("sp/gate_url_known", true), absent("sp/note")} {
			if err := c.verify(r.body); err != nil {
				t.Error(err)
			}
		}
		// A gate pinned to the org wins over the shared one.
		if err := e.store.PutSetting(ctx, tenant.GateURLKey("acme"), []byte("https://acme.example.com/sso")); err != nil {
			t.Fatal(err)
		}
		r = e.do("POST", "/api/v1/sso/test", e.admin, nil)
		if r.status != 201 || r.str("url") != "https://acme.example.com/sso/o/acme/test/"+r.str("test_id") || r.body["note"] != nil {
			t.Fatalf("= %d %s", r.status, r.raw)
		}
		if loc := r.header.Get("Location"); !strings.HasSuffix(loc, "/api/v1/sso/test/"+r.str("test_id")) {
			t.Errorf("Location = %q", loc)
		}
	})
}

// TestSSORequireSSONeedsVerifiedDomain: an org with an enabled connection
// but no verified domain cannot require SSO, since nobody could sign in.
func TestSSORequireSSONeedsVerifiedDomain(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	org, _, admin := e.addOrg("initech")
	a, _, _ := testIdPs(t)
	if r := e.do("PUT", "/api/v1/sso", admin, explicitIdP(a)); r.status != 200 {
		t.Fatalf("PUT = %d %s", r.status, r.raw)
	}
	r := e.do("POST", "/api/v1/sso/test", admin, nil)
	if r.status != 201 {
		t.Fatalf("test = %d %s", r.status, r.raw)
	}
	e.passTest(org, r.str("test_id"), true)
	if r := e.do("POST", "/api/v1/sso/enable", admin, nil); r.status != 200 || r.str("state") != "enabled" {
		t.Fatalf("enable = %d %s", r.status, r.raw)
	}
	r = e.do("PUT", "/api/v1/sso", admin, `{"require_sso":true}`)
	if r.status != 409 || !strings.Contains(r.str("error"), "verified domain") {
		t.Fatalf("require_sso = %d %s; want 409 naming the verified domain", r.status, r.raw)
	}
	if c, err := e.store.Connection(ctx, org.ID); err != nil || c.RequireSSO {
		t.Fatalf("stored %+v, %v; want require_sso off", c, err)
	}
	// With a pending claim it is still refused: a pending claim counts
	// for nothing.
	if _, err := e.store.ClaimDomain(ctx, org.ID, "initech.com", "x"); err != nil {
		t.Fatal(err)
	}
	if r := e.do("PUT", "/api/v1/sso", admin, `{"require_sso":true}`); r.status != 409 {
		t.Fatalf("with a pending claim = %d %s; want 409", r.status, r.raw)
	}
	if _, err := e.store.MarkDomainVerified(ctx, org.ID, "initech.com"); err != nil {
		t.Fatal(err)
	}
	if r := e.do("PUT", "/api/v1/sso", admin, `{"require_sso":true}`); r.status != 200 || r.body["require_sso"] != true {
		t.Fatalf("once verified = %d %s; want 200", r.status, r.raw)
	}
	// Its last verified domain cannot go while SSO is required; with a
	// second one, or with require_sso off, it can.
	if r := e.do("DELETE", "/api/v1/domains/initech.com", admin, nil); r.status != 409 || !strings.Contains(r.str("error"), "require_sso") {
		t.Fatalf("removing the last verified domain under require_sso = %d %s; want 409", r.status, r.raw)
	}
	if ok, _ := e.store.DomainVerified(ctx, org.ID, "initech.com"); !ok {
		t.Fatal("the refused removal removed the domain")
	}
	if _, err := e.store.ClaimDomain(ctx, org.ID, "initech.net", "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.MarkDomainVerified(ctx, org.ID, "initech.net"); err != nil {
		t.Fatal(err)
	}
	if r := e.do("DELETE", "/api/v1/domains/initech.com", admin, nil); r.status != 204 {
		t.Fatalf("removing one of two verified domains = %d %s; want 204", r.status, r.raw)
	}
	if r := e.do("PUT", "/api/v1/sso", admin, `{"require_sso":false}`); r.status != 200 {
		t.Fatalf("require_sso off = %d %s", r.status, r.raw)
	}
	if r := e.do("DELETE", "/api/v1/domains/initech.net", admin, nil); r.status != 204 {
		t.Fatalf("removing the last domain without require_sso = %d %s; want 204", r.status, r.raw)
	}
}

// metadataServer serves a good IdP metadata document, a page that is not
// metadata, and a 404.
func metadataServer(t *testing.T, doc string) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/metadata", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		io.WriteString(w, doc)
	})
	mux.HandleFunc("/html", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "<html><body>Sign in</body></html>")
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// TestSSOBadInput sends every kind of bad PUT body to a configured draft:
// each is a 4xx that names the field where one is to blame, and nothing
// of it is written.
func TestSSOBadInput(t *testing.T) {
	ctx := context.Background()
	// The metadata server of these cases is on loopback, which the
	// default client refuses (TestSSOMetadataPrivateAddress).
	e := newEnv(t, func(c *scimserver.Config) { c.MetadataClient = tenant.MetadataClient(true) })
	a, _, mdB := testIdPs(t)
	md := metadataServer(t, mdB)
	if r := e.do("PUT", "/api/v1/sso", e.admin, explicitIdP(a)); r.status != 200 {
		t.Fatalf("PUT = %d %s", r.status, r.raw)
	}
	expired := certPEM(t, "old", time.Now().Add(-24*time.Hour))
	garbledPEM := "-----BEGIN CERTIFICATE-----\nMIIBnotacertificate\n-----END CERTIFICATE-----\n"

	tests := []struct {
		name   string
		body   any
		hdr    []string
		status int
		field  string
		reason string // in the error
	}{
		{"certificate not PEM", map[string]any{"idp_certificates": "hello"}, nil, 400, "idp_certificates", "not a PEM"},
		{"certificate garbled", map[string]any{"idp_certificates": []string{garbledPEM}}, nil, 400, "idp_certificates", "certificate 1"},
		{"second certificate garbled", map[string]any{"idp_certificates": []string{string(a.CertificatePEM()), "xyz"}}, nil, 400, "idp_certificates", "certificate 2"},
		{"certificate expired", map[string]any{"idp_certificates": expired}, nil, 400, "idp_certificates", "expired"},
		{"sso url http", map[string]any{"idp_sso_url": "http://idp.example.com/sso"}, nil, 400, "idp_sso_url", "https"},
		{"sso url relative", map[string]any{"idp_sso_url": "/sso"}, nil, 400, "idp_sso_url", "absolute"},
		{"sso url with a password", map[string]any{"idp_sso_url": "https://u:p@idp.example.com/sso"}, nil, 400, "idp_sso_url", "password"},
		{"slo url ftp", map[string]any{"idp_slo_url": "ftp://idp.example.com/slo"}, nil, 400, "idp_slo_url", "https"},
		{"issuer with a control character", map[string]any{"idp_issuer": "https://idp\x01"}, nil, 400, "idp_issuer", "control"},
		{"groups attribute with a control character", map[string]any{"groups_attribute": "gro\x01ups"}, nil, 400, "groups_attribute", "control"},
		{"groups attribute too long", map[string]any{"groups_attribute": strings.Repeat("g", 257)}, nil, 400, "groups_attribute", "longer than 256"},
		{"groups attribute as a list", map[string]any{"groups_attribute": []string{"groups"}}, nil, 400, "groups_attribute", "a string"},
		{"issuer cleared alone", map[string]any{"idp_issuer": nil}, nil, 400, "idp_issuer", "required"},
		{"certificates cleared alone", map[string]any{"idp_certificates": nil}, nil, 400, "idp_certificates", "required"},
		{"metadata not SAML", map[string]any{"idp_metadata_xml": "<foo/>"}, nil, 400, "idp_metadata_xml", "not SAML metadata"},
		{"metadata not XML", map[string]any{"idp_metadata_xml": "hello"}, nil, 400, "idp_metadata_xml", "not SAML metadata"},
		{"metadata url http", map[string]any{"idp_metadata_url": "http://idp.example.com/metadata"}, nil, 400, "idp_metadata_url", "https"},
		{"metadata url serving HTML", map[string]any{"idp_metadata_url": md.URL + "/html"}, nil, 400, "idp_metadata_url", "not SAML metadata"},
		{"metadata url 404", map[string]any{"idp_metadata_url": md.URL + "/missing"}, nil, 400, "idp_metadata_url", "404"},
		{"metadata url and values", map[string]any{"idp_metadata_url": md.URL + "/metadata", "idp_sso_url": "https://idp.example.com/sso"}, nil, 400, "idp_metadata_url", "not several"},
		{"metadata xml and values", map[string]any{"idp_metadata_xml": mdB, "idp_issuer": "https://idp.example.com"}, nil, 400, "idp_metadata_xml", "not several"},
		{"metadata url and xml", map[string]any{"idp_metadata_xml": mdB, "idp_metadata_url": md.URL + "/metadata"}, nil, 400, "idp_metadata_url", "not several"},
		{"require_sso before enabling", map[string]any{"require_sso": true}, nil, 409, "", "enabled"},
		{"boolean as a string", map[string]any{"require_sso": "true"}, nil, 400, "require_sso", "true or false"},
		{"boolean null", map[string]any{"idp_managed_access": nil}, nil, 400, "idp_managed_access", "true or false"},
		{"string as a number", map[string]any{"idp_sso_url": 5}, nil, 400, "idp_sso_url", "a string"},
		{"string as an object", map[string]any{"idp_issuer": map[string]any{}}, nil, 400, "idp_issuer", "an object"},
		{"certificates as a number", map[string]any{"idp_certificates": 5}, nil, 400, "idp_certificates", "list of strings"},
		{"certificates holding a number", map[string]any{"idp_certificates": []any{1}}, nil, 400, "idp_certificates", "item 1"},
		{"another org named", map[string]any{"org": "globex", "idp_issuer": "https://evil.example.com"}, nil, 400, "org", "token's"},
		{"the state", map[string]any{"state": "enabled"}, nil, 400, "state", "/enable"},
		{"a read-only field", map[string]any{"pinned": []string{}}, nil, 400, "pinned", "read-only"},
		{"a typo", map[string]any{"idp_sso_ur": "https://idp.example.com/sso"}, nil, 400, "idp_sso_ur", "idp_sso_url"},
		{"not an object", `[]`, nil, 400, "", "JSON object"},
		{"not JSON", `idp_sso_url=x`, nil, 400, "", "not valid JSON"},
		{"two objects", `{} {}`, nil, 400, "", "more than one"},
		{"empty", ``, nil, 400, "", "empty"},
		{"a form", `{}`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "", "application/json"},
		{"too large", `{"idp_metadata_xml":"` + strings.Repeat("x", 1<<20) + `"}`, nil, 413, "", "larger than"},
	}
	before := e.do("GET", "/api/v1/sso", e.admin, nil)
	stored, err := e.store.Connection(ctx, e.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := tt.body
			if body == "" {
				body = []byte{} // sent with a JSON content type, and no bytes
			}
			r := e.do("PUT", "/api/v1/sso", e.admin, body, tt.hdr...)
			if r.status != tt.status || r.str("field") != tt.field || !strings.Contains(r.str("error"), tt.reason) {
				t.Fatalf("= %d %s; want %d, field %q, error with %q", r.status, r.raw, tt.status, tt.field, tt.reason)
			}
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
				t.Errorf("Content-Type = %q", ct)
			}
			after := e.do("GET", "/api/v1/sso", e.admin, nil)
			if diff := cmp.Diff(before.body, after.body); diff != "" {
				t.Errorf("the connection changed (-before +after):\n%s", diff)
			}
		})
	}
	if now, err := e.store.Connection(ctx, e.org.ID); err != nil || now.Version != stored.Version {
		t.Fatalf("version %d -> %d (%v): a refusal wrote", stored.Version, now.Version, err)
	}

	t.Run("a good metadata URL", func(t *testing.T) {
		r := e.do("PUT", "/api/v1/sso", e.admin, map[string]any{"idp_metadata_url": md.URL + "/metadata"})
		if r.status != 200 || r.str("idp_metadata_url") != md.URL+"/metadata" || r.str("idp_metadata_xml") != mdB || r.str("idp_sso_url") != "" {
			t.Fatalf("= %d %s", r.status, r.raw)
		}
	})
}

// TestSSOPinned: a field the operator set in the Caddyfile is shown and
// cannot be changed here.
func TestSSOPinned(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	a, b, mdB := testIdPs(t)
	if r := e.do("PUT", "/api/v1/sso", e.admin, explicitIdP(a)); r.status != 200 {
		t.Fatalf("PUT = %d %s", r.status, r.raw)
	}
	if _, err := e.store.ModifyConnection(ctx, e.org.ID, func(c *storage.Connection) error {
		c.Pinned = []string{tenant.FieldIDPIssuer, tenant.FieldIDPSSOURL, tenant.FieldIDPCertificates}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before := e.do("GET", "/api/v1/sso", e.admin, nil)
	if err := eq("pinned", []any{"idp_issuer", "idp_sso_url", "idp_certificates"}).verify(before.body); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		body   any
		status int
	}{
		{"the issuer", map[string]any{"idp_issuer": b.EntityID()}, 409},
		{"another IdP", explicitIdP(b), 409},
		{"metadata instead", map[string]any{"idp_metadata_xml": mdB}, 409},
		{"a bad value is 400 before the pins are looked at", map[string]any{"idp_metadata_xml": "<x/>"}, 400},
	} {
		r := e.do("PUT", "/api/v1/sso", e.admin, tt.body)
		if r.status != tt.status || tt.status == 409 && !strings.Contains(r.str("error"), "set by the operator") {
			t.Errorf("%s: = %d %s; want %d", tt.name, r.status, r.raw, tt.status)
		}
	}
	if after := e.do("GET", "/api/v1/sso", e.admin, nil); !cmp.Equal(before.body, after.body) {
		t.Fatalf("changed: %s", cmp.Diff(before.body, after.body))
	}
	// The switches the operator did not pin stay the admin's.
	if r := e.do("PUT", "/api/v1/sso", e.admin, `{"idp_managed_access":true}`); r.status != 200 || r.body["idp_managed_access"] != true {
		t.Fatalf("= %d %s", r.status, r.raw)
	}
}

// TestSSOMetadataClient: the metadata URL is fetched with the configured
// client, so that a deployment (or a test) decides how.
func TestSSOMetadataClient(t *testing.T) {
	_, _, mdB := testIdPs(t)
	var asked []string
	var mu sync.Mutex
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		mu.Lock()
		asked = append(asked, r.URL.String())
		mu.Unlock()
		return &http.Response{StatusCode: 200, Status: "200 OK", Body: io.NopCloser(strings.NewReader(mdB)), Header: http.Header{}, Request: r}, nil
	})}
	e := newEnv(t, func(c *scimserver.Config) { c.MetadataClient = client })
	r := e.do("PUT", "/api/v1/sso", e.admin, `{"idp_metadata_url":"https://idp.example.com/app/metadata"}`)
	if r.status != 200 || r.str("idp_metadata_xml") != mdB {
		t.Fatalf("= %d %s", r.status, r.raw)
	}
	if diff := cmp.Diff([]string{"https://idp.example.com/app/metadata"}, asked); diff != "" {
		t.Fatalf("fetched (-want +got):\n%s", diff)
	}
}

// TestSSOMetadataPrivateAddress: by default the sidecar fetches an org
// admin's metadata URL only from a public address, so that no org's admin
// makes it reach into the operator's network; the refusal writes nothing.
func TestSSOMetadataPrivateAddress(t *testing.T) {
	_, _, mdB := testIdPs(t)
	md := metadataServer(t, mdB) // on 127.0.0.1
	e := newEnv(t)
	for _, u := range []string{md.URL + "/metadata", strings.Replace(md.URL, "127.0.0.1", "localhost", 1) + "/metadata"} {
		r := e.do("PUT", "/api/v1/sso", e.admin, map[string]any{"idp_metadata_url": u})
		if r.status != 400 || r.str("field") != "idp_metadata_url" || !strings.Contains(r.str("error"), "public") {
			t.Fatalf("PUT idp_metadata_url %s = %d %s; want 400 naming the field, refused as not public", u, r.status, r.raw)
		}
	}
	if _, err := e.store.Connection(context.Background(), e.org.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a refused metadata URL wrote a connection: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
