package caddymodule

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
	"github.com/ssogate/ssogate/internal/testcert"
)

// testCert makes a self-signed certificate for cn valid until notAfter.
func testCert(t *testing.T, cn string, notAfter time.Time) *x509.Certificate {
	t.Helper()
	c, _ := testcert.New(t, cn, notAfter)
	return c
}

func certPEM(c *x509.Certificate) []byte { return []byte(testcert.PEM(c)) }

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var pairs []string
	for i := 0; i < len(h); i += 2 {
		pairs = append(pairs, h[i:i+2])
	}
	return strings.Join(pairs, ":")
}

// writeFile writes data to name in dir and returns its path.
func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// idpMetadataXML is the SAML metadata of an IdP with these values.
func idpMetadataXML(t *testing.T, ssoURL, issuer string, cert *x509.Certificate) []byte {
	t.Helper()
	doc, err := xml.Marshal(sso.IDPMetadata(ssoURL, issuer, []*x509.Certificate{cert}))
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// connection reads the org's stored connection, the zero value when it
// has none.
func connection(t *testing.T, st *sqlitestore.Store, orgID int64) storage.Connection {
	t.Helper()
	c, err := st.Connection(context.Background(), orgID)
	if errors.Is(err, storage.ErrNotFound) {
		return storage.Connection{}
	}
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// ssoSetup is an org acme with a draft connection to an IdP whose
// certificate is in a file.
type ssoSetup struct {
	ct       *cliTest
	st       *sqlitestore.Store
	acme     storage.Org
	dir      string
	cert     *x509.Certificate
	certFile string
}

func newSSOSetup(t *testing.T, orgs ...string) *ssoSetup {
	t.Helper()
	ct := newCLITest(t, append([]string{"acme"}, orgs...)...)
	s := &ssoSetup{ct: ct, st: ct.store(), dir: t.TempDir()}
	s.acme = ct.org(s.st, "acme")
	s.cert = testCert(t, "Acme IdP", time.Now().Add(2*365*24*time.Hour))
	s.certFile = writeFile(t, s.dir, "idp.pem", certPEM(s.cert))
	return s
}

// setIdP gives the org the IdP by its three values.
func (s *ssoSetup) setIdP(org string) {
	s.ct.t.Helper()
	s.ct.ok("", "sso", "set", "--org", org, "--idp-sso-url", "https://idp.example.com/sso",
		"--idp-issuer", "https://idp.example.com", "--idp-certificate", s.certFile)
}

func TestCLISSOSetShow(t *testing.T) {
	s := newSSOSetup(t)
	ct, st, ctx := s.ct, s.st, context.Background()

	// An org without a connection shows an empty draft.
	out := ct.run("", "sso", "show", "--org", "acme")
	if out.code != 0 || !strings.Contains(out.stdout, "State:                   draft: being set up") ||
		!strings.Contains(out.stderr, "Next: give the IdP") {
		t.Fatalf("sso show of a new org: %+v", out)
	}

	wantOutcome(t, ct.run("", "sso", "set", "--org", "acme", "--idp-sso-url", "https://idp.example.com/sso",
		"--idp-issuer", "https://idp.example.com", "--idp-certificate", s.certFile), 0,
		"Updated the SSO connection of org acme: idp_sso_url, idp_issuer, idp_certificates.\n"+
			"State: draft: being set up; it signs nobody in.\n")
	conn := connection(t, st, s.acme.ID)
	got := []any{conn.State, conn.IDPSSOURL, conn.IDPIssuer, conn.IDPCertificates, conn.AllowIDPInitiated}
	want := []any{storage.ConnectionDraft, "https://idp.example.com/sso", "https://idp.example.com", string(certPEM(s.cert)), true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored connection (-want +got):\n%s", diff)
	}

	show := ct.ok("", "sso", "show", "--org", "acme")
	for _, part := range []string{
		"  Authentication URL:    https://idp.example.com/sso\n",
		"  Issuer URL:            https://idp.example.com\n",
		"  Certificate:           CN=Acme IdP\n",
		"SHA-256 " + fingerprint(s.cert) + "\n",
		"expires " + s.cert.NotAfter.UTC().Format("2006-01-02 15:04 UTC") + "\n",
		"  allow_idp_initiated:   yes\n",
		"(paths under the gate's base_url, with the default path_prefix /sso",
		"  Single sign-on URL:    /sso/o/acme/acs  (ACS, postback URL)\n",
		"  Audience URI:          /sso/o/acme/metadata  (SP entity ID)\n",
		"  Attribute statements:  email = user.email\n",
		"                         firstName = user.firstName\n",
		"                         lastName = user.lastName\n",
		"Last test sign-in:       none\n",
	} {
		if !strings.Contains(show, part) {
			t.Errorf("sso show lacks %q:\n%s", part, show)
		}
	}
	if strings.Contains(show, "warning") || strings.Contains(show, "BEGIN CERTIFICATE") {
		t.Errorf("sso show warns or shows the PEM:\n%s", show)
	}

	// With the gate's URL recorded, the endpoints are URLs.
	if err := st.PutSetting(ctx, tenant.GateURLKey("acme"), []byte("https://app.example.com/sso")); err != nil {
		t.Fatal(err)
	}
	show = ct.ok("", "sso", "show", "--org", "acme")
	if !strings.Contains(show, "  Single sign-on URL:    https://app.example.com/sso/o/acme/acs  (ACS, postback URL)\n") ||
		strings.Contains(show, "paths under") {
		t.Errorf("sso show with a gate URL:\n%s", show)
	}

	// JSON, for scripts: the admin API's GET /api/v1/sso, the same shape.
	var v tenant.View
	if err := json.Unmarshal([]byte(ct.ok("", "sso", "show", "--org", "acme", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.Org != "acme" || v.State != "draft" || v.IDPSSOURL != "https://idp.example.com/sso" ||
		len(v.IDPCertificates) != 1 || v.IDPCertificates[0] != string(certPEM(s.cert)) ||
		len(v.Certificates) != 1 || v.Certificates[0].Fingerprint != fingerprint(s.cert) || v.Certificates[0].ExpiresSoon ||
		v.Pinned == nil || len(v.Pinned) != 0 || !v.SP.GateURLKnown || v.LastTest != nil {
		t.Errorf("sso show --json = %+v", v)
	}
	wantEP := tenant.Endpoints{
		ACSURL:      "https://app.example.com/sso/o/acme/acs",
		EntityID:    "https://app.example.com/sso/o/acme/metadata",
		MetadataURL: "https://app.example.com/sso/o/acme/metadata",
		LogoutURL:   "https://app.example.com/sso/o/acme/logout",
	}
	if diff := cmp.Diff(wantEP, v.SP.Endpoints); diff != "" {
		t.Errorf("endpoints (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(tenant.AttributeStatements, v.AttributeStatements); diff != "" {
		t.Errorf("attribute statements (-want +got):\n%s", diff)
	}

	// Rotation: two certificates, one as base64 DER, one as DER, one of
	// them expiring within 30 days; only the certificates change.
	next := testCert(t, "Acme IdP next", time.Now().Add(10*24*time.Hour))
	b64 := writeFile(t, s.dir, "next.b64", []byte(base64.StdEncoding.EncodeToString(next.Raw)+"\n"))
	der := writeFile(t, s.dir, "cur.der", s.cert.Raw)
	wantOutcome(t, ct.run("", "sso", "set", "--org", "acme", "--idp-certificate", der, "--idp-certificate", b64), 0,
		"Updated the SSO connection of org acme: idp_certificates.\nState: draft: being set up; it signs nobody in.\n")
	if got, want := connection(t, st, s.acme.ID).IDPCertificates, string(certPEM(s.cert))+string(certPEM(next)); got != want {
		t.Errorf("certificates after rotation = %q, want %q", got, want)
	}
	show = ct.ok("", "sso", "show", "--org", "acme")
	if !strings.Contains(show, "  Certificate 2:         CN=Acme IdP next\n") ||
		!regexp.MustCompile(`warning: expires in [0-9] days; add the IdP's next certificate`).MatchString(show) {
		t.Errorf("sso show of a certificate expiring soon:\n%s", show)
	}

	// Inline PEM, the SLO URL and the switches; loopback http is allowed.
	wantOutcome(t, ct.run("", "sso", "set", "--org", "acme", "--idp-certificate", string(certPEM(s.cert)),
		"--idp-slo-url", "http://localhost:9000/slo", "--idp-managed-access", "true", "--allow-idp-initiated", "false"), 0,
		"Updated the SSO connection of org acme: idp_certificates, idp_slo_url, idp_managed_access, allow_idp_initiated.\n"+
			"State: draft: being set up; it signs nobody in.\n")
	conn = connection(t, st, s.acme.ID)
	if conn.IDPSLOURL != "http://localhost:9000/slo" || !conn.IDPManagedAccess || conn.AllowIDPInitiated ||
		conn.IDPCertificates != string(certPEM(s.cert)) {
		t.Errorf("connection after set = %+v", conn)
	}
	// The same again changes nothing.
	before := connection(t, st, s.acme.ID)
	wantOutcome(t, ct.run("", "sso", "set", "--org", "acme", "--idp-managed-access", "true"), 0,
		"The SSO connection of org acme is as given already; nothing changed.\n")
	if diff := cmp.Diff(before, connection(t, st, s.acme.ID)); diff != "" {
		t.Errorf("an unchanged set wrote (-before +after):\n%s", diff)
	}
}

func TestCLISSOSetMetadata(t *testing.T) {
	s := newSSOSetup(t)
	ct, st := s.ct, s.st
	doc := idpMetadataXML(t, "https://login.example.org/saml", "https://login.example.org", s.cert)

	file := writeFile(t, s.dir, "md.xml", doc)
	ct.ok("", "sso", "set", "--org", "acme", "--idp-metadata-file", file)
	conn := connection(t, st, s.acme.ID)
	if conn.IDPMetadataXML != string(doc) || conn.IDPMetadataURL != "" || conn.IDPSSOURL != "" {
		t.Errorf("connection after --idp-metadata-file = %+v", conn)
	}
	show := ct.ok("", "sso", "show", "--org", "acme")
	for _, part := range []string{
		"Authentication URL:    https://login.example.org/saml (from the metadata)",
		"Issuer URL:            https://login.example.org (from the metadata)",
		"SHA-256 " + fingerprint(s.cert),
		"Metadata document:     " + strconv.Itoa(len(doc)) + " bytes\n",
	} {
		if !strings.Contains(show, part) {
			t.Errorf("sso show lacks %q:\n%s", part, show)
		}
	}

	// By URL: fetched now, kept with the URL. Loopback http is allowed.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metadata" {
			http.NotFound(w, r)
			return
		}
		w.Write(doc)
	}))
	defer srv.Close()
	ct.ok("", "sso", "set", "--org", "acme", "--idp-metadata-url", srv.URL+"/metadata")
	conn = connection(t, st, s.acme.ID)
	if conn.IDPMetadataURL != srv.URL+"/metadata" || conn.IDPMetadataXML != string(doc) {
		t.Errorf("connection after --idp-metadata-url = %+v", conn)
	}
	if !strings.Contains(ct.ok("", "sso", "show", "--org", "acme"), "bytes, fetched from the metadata URL") {
		t.Error("sso show does not say the metadata was fetched")
	}
	wantOutcome(t, ct.run("", "sso", "set", "--org", "acme", "--idp-metadata-url", srv.URL+"/missing"), 2, "",
		"--idp-metadata-url: answered 404 Not Found")
	if got := connection(t, st, s.acme.ID); got.IDPMetadataURL != srv.URL+"/metadata" {
		t.Errorf("a refused metadata URL was stored: %q", got.IDPMetadataURL)
	}
}

// TestCLISSOGroupsAttribute: the groups attribute is set, shown and
// cleared like the switches: no new test sign-in needed.
func TestCLISSOGroupsAttribute(t *testing.T) {
	s := newSSOSetup(t)
	ct, st := s.ct, s.st
	s.setIdP("acme")
	if !strings.Contains(ct.ok("", "sso", "show", "--org", "acme"), "  groups_attribute:      - (the assertion's groups are ignored)\n") {
		t.Error("sso show of a connection without a groups attribute does not say the groups are ignored")
	}
	entra := "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
	wantOutcome(t, ct.run("", "sso", "set", "--org", "acme", "--groups-attribute", entra), 0,
		"Updated the SSO connection of org acme: groups_attribute.\nState: draft: being set up; it signs nobody in.\n")
	if got := connection(t, st, s.acme.ID).GroupsAttribute; got != entra {
		t.Errorf("stored groups attribute = %q, want %q", got, entra)
	}
	if show := ct.ok("", "sso", "show", "--org", "acme"); !strings.Contains(show, "  groups_attribute:      "+entra+" (sets the member's teams at each sign-in)\n") {
		t.Errorf("sso show lacks the groups attribute:\n%s", show)
	}
	var v tenant.View
	if err := json.Unmarshal([]byte(ct.ok("", "sso", "show", "--org", "acme", "--json")), &v); err != nil || v.GroupsAttribute != entra {
		t.Errorf("sso show --json groups_attribute = %q, %v; want %q", v.GroupsAttribute, err, entra)
	}
	wantOutcome(t, ct.run("", "sso", "set", "--org", "acme", "--groups-attribute", entra), 0,
		"The SSO connection of org acme is as given already; nothing changed.\n")
	wantOutcome(t, ct.run("", "sso", "set", "--org", "acme", "--groups-attribute", ""), 0,
		"Updated the SSO connection of org acme: groups_attribute.\nState: draft: being set up; it signs nobody in.\n")
	if got := connection(t, st, s.acme.ID).GroupsAttribute; got != "" {
		t.Errorf("stored groups attribute after clearing = %q", got)
	}
}

func TestCLISSOSetRefused(t *testing.T) {
	s := newSSOSetup(t)
	ct, st := s.ct, s.st
	s.setIdP("acme")
	expired := writeFile(t, s.dir, "old.pem", certPEM(testCert(t, "Old IdP", time.Now().Add(-24*time.Hour))))
	garbage := writeFile(t, s.dir, "garbage.pem", []byte("not a certificate\n"))
	notSAML := writeFile(t, s.dir, "notsaml.xml", []byte(`<?xml version="1.0"?><html><body>login</body></html>`))
	metadata := writeFile(t, s.dir, "md.xml", idpMetadataXML(t, "https://login.example.org/saml", "https://login.example.org", s.cert))

	tests := []struct {
		name    string
		args    []string
		code    int
		errPart string
	}{
		{"no flags", nil, 2, "needs at least one setting to change: --idp-sso-url, --idp-issuer, --idp-certificate"},
		{"http not on localhost", []string{"--idp-sso-url", "http://idp.example.com/sso"}, 2,
			"--idp-sso-url: must use https (plain http is allowed only on localhost)"},
		{"not a URL", []string{"--idp-sso-url", "idp.example.com/sso"}, 2, `--idp-sso-url: "idp.example.com/sso" is not an absolute https URL`},
		{"http SLO URL", []string{"--idp-slo-url", "http://idp.example.com/slo"}, 2, "--idp-slo-url: must use https"},
		{"certificate file of garbage", []string{"--idp-certificate", garbage}, 2,
			"--idp-certificate: certificate 1 is not a PEM or base64 DER X.509 certificate"},
		{"missing certificate file", []string{"--idp-certificate", filepath.Join(s.dir, "nope.pem")}, 2,
			"--idp-certificate: open " + filepath.Join(s.dir, "nope.pem")},
		{"expired certificate", []string{"--idp-certificate", s.certFile, "--idp-certificate", expired}, 2,
			`--idp-certificate: certificate "CN=Old IdP" expired on`},
		{"metadata that is not SAML", []string{"--idp-metadata-file", notSAML}, 2,
			"--idp-metadata-file: is not SAML metadata"},
		{"metadata and explicit values", []string{"--idp-metadata-file", metadata, "--idp-issuer", "https://x.example.com"}, 2,
			"--idp-metadata-file: give the IdP either as --idp-metadata-url, as --idp-metadata-file, or as --idp-sso-url"},
		{"incomplete IdP", []string{"--idp-issuer", ""}, 2,
			"--idp-issuer: is required with --idp-sso-url and --idp-certificate"},
		{"groups attribute with a control character", []string{"--groups-attribute", "gro\x1bups"}, 2,
			"--groups-attribute: holds a control character"},
		{"bad switch value", []string{"--require-sso", "maybe"}, 2, `--require-sso takes true or false, not "maybe"`},
		{"switch with an empty value", []string{"--require-sso="}, 2, `--require-sso takes true or false, not ""`},
		{"require_sso before enable", []string{"--require-sso", "true"}, 1,
			"--require-sso needs an enabled SSO connection first"},
		{"require_sso with a good change", []string{"--idp-managed-access", "true", "--require-sso", "true"}, 1,
			"needs an enabled SSO connection first"},
		{"unknown org", []string{"--org", "nope", "--idp-managed-access", "true"}, 1, "org nope does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := connection(t, st, s.acme.ID)
			args := append([]string{"sso", "set", "--org", "acme"}, tt.args...)
			wantOutcome(t, ct.run("", args...), tt.code, "", tt.errPart)
			if diff := cmp.Diff(before, connection(t, st, s.acme.ID)); diff != "" {
				t.Errorf("a refused set wrote (-before +after):\n%s", diff)
			}
		})
	}

	// A field the operator pinned in a Caddyfile cannot change.
	if _, err := st.ModifyConnection(context.Background(), s.acme.ID, func(c *storage.Connection) error {
		c.Pinned = []string{tenant.FieldIDPSSOURL, tenant.FieldAllowIDPInitiated, tenant.FieldGroupsAttribute}
		c.GroupsAttribute = "groups"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before := connection(t, st, s.acme.ID)
	wantOutcome(t, ct.run("", "sso", "set", "--org", "acme", "--idp-sso-url", "https://other.example.com/sso"), 1, "",
		"--idp-sso-url is set by the operator (in the Caddyfile) and cannot be changed here")
	wantOutcome(t, ct.run("", "sso", "set", "--org", "acme", "--idp-slo-url", "https://idp.example.com/slo",
		"--allow-idp-initiated", "false"), 1, "", "--allow-idp-initiated is set by the operator")
	wantOutcome(t, ct.run("", "sso", "set", "--org", "acme", "--groups-attribute", ""), 1, "",
		"--groups-attribute is set by the operator")
	if diff := cmp.Diff(before, connection(t, st, s.acme.ID)); diff != "" {
		t.Errorf("a refused set of a pinned field wrote (-before +after):\n%s", diff)
	}
	show := ct.ok("", "sso", "show", "--org", "acme")
	if !strings.Contains(show, "Authentication URL:    https://idp.example.com/sso (set by the operator)\n") ||
		!strings.Contains(show, "allow_idp_initiated:   yes (set by the operator)\n") ||
		!strings.Contains(show, "groups_attribute:      groups (sets the member's teams at each sign-in) (set by the operator)\n") ||
		strings.Contains(show, "Issuer URL:            https://idp.example.com (set") {
		t.Errorf("sso show of pinned fields:\n%s", show)
	}
}

// testURLRE is the URL sso test prints with the recorded gate URL.
var testURLRE = regexp.MustCompile(`^https://app\.example\.com/sso/o/acme/test/([A-Za-z0-9_-]{22})\n$`)

func TestCLISSOLifecycle(t *testing.T) {
	s := newSSOSetup(t, "globex")
	ct, st, ctx := s.ct, s.st, context.Background()
	if err := st.PutSetting(ctx, tenant.GateURLKey("acme"), []byte("https://app.example.com/sso")); err != nil {
		t.Fatal(err)
	}

	// Nothing to enable or test without an IdP; nothing written.
	wantOutcome(t, ct.run("", "sso", "enable", "--org", "acme"), 1, "", "no IdP is configured", "set it with `ssogate sso set --org acme")
	wantOutcome(t, ct.run("", "sso", "test", "--org", "acme"), 1, "", "org acme has no IdP to test")
	if _, err := st.Connection(ctx, s.acme.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("a refused enable stored a connection: %v", err)
	}
	wantOutcome(t, ct.run("", "sso", "disable", "--org", "acme"), 0, "SSO is already disabled for org acme (the connection is draft).\n")

	// Enable before a test is refused.
	s.setIdP("acme")
	before := connection(t, st, s.acme.ID)
	wantOutcome(t, ct.run("", "sso", "enable", "--org", "acme"), 1, "",
		"run a test sign-in first: `ssogate sso test --org acme --db "+ct.db+"` (or enable it anyway with --untested)")
	if diff := cmp.Diff(before, connection(t, st, s.acme.ID)); diff != "" {
		t.Errorf("a refused enable wrote (-before +after):\n%s", diff)
	}

	// A test sign-in: the URL alone on stdout, the test recorded.
	out := ct.run("", "sso", "test", "--org", "acme")
	m := testURLRE.FindStringSubmatch(out.stdout)
	if out.code != 0 || m == nil || !strings.Contains(out.stderr, "within 15 minutes") {
		t.Fatalf("sso test: %+v", out)
	}
	test, err := st.SSOTest(ctx, s.acme.ID, m[1])
	if err != nil {
		t.Fatal(err)
	}
	if test.ConnectionVersion != before.Version || test.ExpiresAt.Sub(test.CreatedAt) != tenant.TestLifetime || !test.FinishedAt.IsZero() {
		t.Errorf("recorded test = %+v, want version %d and a 15-minute lifetime", test, before.Version)
	}
	// The gate finishes it.
	outcome, _ := json.Marshal(tenant.TestOutcome{OK: true, Issuer: "https://idp.example.com", Email: "alice@acme.com",
		NameID: "alice@acme.com", GivenName: "Alice", Attributes: map[string][]string{"email": {"alice@acme.com"}},
		Rules: []tenant.Rule{{Name: "signature", Passed: true, Detail: "signed by a trusted certificate"}}})
	if _, err := st.FinishSSOTest(ctx, s.acme.ID, m[1], true, outcome); err != nil {
		t.Fatal(err)
	}
	if got := connection(t, st, s.acme.ID).State; got != storage.ConnectionTested {
		t.Fatalf("state after a passed test = %q", got)
	}
	show := ct.ok("", "sso", "show", "--org", "acme")
	for _, part := range []string{
		"State:                   tested: a test sign-in passed",
		"Last test sign-in:       passed, ",
		"  Email:                 alice@acme.com\n",
		"  Attributes:            email = alice@acme.com\n",
		"  Rules:                 pass  signature: signed by a trusted certificate\n",
	} {
		if !strings.Contains(show, part) {
			t.Errorf("sso show after a test lacks %q:\n%s", part, show)
		}
	}
	var v struct {
		LastTest struct {
			ID      string             `json:"id"`
			OK      bool               `json:"ok"`
			Outcome tenant.TestOutcome `json:"outcome"`
		} `json:"last_test"`
	}
	if err := json.Unmarshal([]byte(ct.ok("", "sso", "show", "--org", "acme", "--json")), &v); err != nil {
		t.Fatal(err)
	}
	if v.LastTest.ID != m[1] || !v.LastTest.OK || v.LastTest.Outcome.Email != "alice@acme.com" || len(v.LastTest.Outcome.Rules) != 1 {
		t.Errorf("sso show --json last_test = %+v", v.LastTest)
	}

	// Enable after the test; require_sso needs a verified domain too.
	out = ct.run("", "sso", "enable", "--org", "acme")
	wantOutcome(t, out, 0, "Enabled SSO for org acme: its people sign in through the IdP.\n")
	if !strings.Contains(out.stderr, "no verified domain yet") {
		t.Errorf("enable without a verified domain: stderr = %q", out.stderr)
	}
	wantOutcome(t, ct.run("", "sso", "enable", "--org", "acme"), 0, "SSO is already enabled for org acme.\n")
	wantOutcome(t, ct.run("", "sso", "set", "--org", "acme", "--require-sso", "true"), 1, "", "needs a verified domain first")
	if connection(t, st, s.acme.ID).RequireSSO {
		t.Fatal("require_sso was turned on without a verified domain")
	}
	if err := st.SyncConfigDomains(ctx, s.acme.ID, []string{"acme.com"}); err != nil {
		t.Fatal(err)
	}
	wantOutcome(t, ct.run("", "sso", "set", "--org", "acme", "--require-sso", "true"), 0,
		"Updated the SSO connection of org acme: require_sso.\nState: enabled: it signs people in.\n")

	// Disable turns require_sso off with it.
	wantOutcome(t, ct.run("", "sso", "disable", "--org", "acme"), 0,
		"Disabled SSO for org acme: sign-ins through the IdP stop, and the sessions they started have ended.\n"+
			"require_sso was turned off with it: members with a password may use the password form again.\n")
	if c := connection(t, st, s.acme.ID); c.State != storage.ConnectionDisabled || c.RequireSSO {
		t.Errorf("after disable: state %q, require_sso %v", c.State, c.RequireSSO)
	}
	wantOutcome(t, ct.run("", "sso", "disable", "--org", "acme"), 0, "SSO is already disabled for org acme (the connection is disabled).\n")
	// A disabled connection was tested: it may be enabled again at once.
	ct.ok("", "sso", "enable", "--org", "acme")

	// A pinned state cannot be disabled here; nothing written.
	if _, err := st.ModifyConnection(ctx, s.acme.ID, func(c *storage.Connection) error {
		c.Pinned = []string{tenant.FieldState}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before = connection(t, st, s.acme.ID)
	wantOutcome(t, ct.run("", "sso", "disable", "--org", "acme"), 1, "", "set by the operator (in the Caddyfile) and cannot be disabled here")
	if diff := cmp.Diff(before, connection(t, st, s.acme.ID)); diff != "" {
		t.Errorf("a refused disable wrote (-before +after):\n%s", diff)
	}

	// --untested enables a draft; the other org is untouched by all this.
	if c := connection(t, st, ct.org(st, "globex").ID); c.State != "" {
		t.Errorf("globex has a connection: %+v", c)
	}
	s.setIdP("globex")
	out = ct.run("", "sso", "enable", "--org", "globex", "--untested")
	wantOutcome(t, out, 0, "Enabled SSO for org globex: its people sign in through the IdP.\n")
	if !strings.Contains(out.stderr, "without a passed test sign-in (--untested)") {
		t.Errorf("enable --untested: stderr = %q", out.stderr)
	}
	if got := connection(t, st, ct.org(st, "globex").ID).State; got != storage.ConnectionEnabled {
		t.Errorf("globex after enable --untested: %q", got)
	}
}

func TestCLISSOTestPath(t *testing.T) {
	s := newSSOSetup(t)
	s.setIdP("acme")
	// No gate URL recorded: a path under the default prefix, said so.
	out := s.ct.run("", "sso", "test", "--org", "acme")
	if out.code != 0 || !regexp.MustCompile(`^/sso/o/acme/test/[A-Za-z0-9_-]{22}\n$`).MatchString(out.stdout) ||
		!strings.Contains(out.stderr, "this is a path: put the gate's origin in front") {
		t.Errorf("sso test without a gate URL: %+v", out)
	}
	// The shared gate's URL serves when no pinned gate recorded one.
	if err := s.st.PutSetting(context.Background(), tenant.GateURLKey(""), []byte("https://login.example.com/sso")); err != nil {
		t.Fatal(err)
	}
	out = s.ct.run("", "sso", "test", "--org", "acme")
	if out.code != 0 || !strings.HasPrefix(out.stdout, "https://login.example.com/sso/o/acme/test/") || strings.Contains(out.stderr, "this is a path") {
		t.Errorf("sso test with the shared gate's URL: %+v", out)
	}
}

func TestCLISSOWait(t *testing.T) {
	s := newSSOSetup(t)
	s.setIdP("acme")
	ctx := context.Background()
	call := func() (*cliCall, *bytes.Buffer) {
		var stdout bytes.Buffer
		return &cliCall{ctx: ctx, stdout: &stdout, stderr: &bytes.Buffer{}, orgName: "acme", dbPath: s.ct.db}, &stdout
	}
	create := func(id string, expires time.Time) {
		if err := s.st.CreateSSOTest(ctx, storage.SSOTest{ID: id, OrgID: s.acme.ID, CreatedAt: time.Now(), ExpiresAt: expires}); err != nil {
			t.Fatal(err)
		}
	}

	// The IdP answers while the command waits; the test failed.
	create("failing", time.Now().Add(time.Minute))
	outcome, _ := json.Marshal(tenant.TestOutcome{Error: "alice@other.org is not in a verified domain",
		Rules: []tenant.Rule{{Name: "domain", Detail: "other.org is not verified", Fix: "claim and verify other.org"}}})
	done := make(chan error, 1)
	go func() {
		time.Sleep(30 * time.Millisecond)
		_, err := s.st.FinishSSOTest(ctx, s.acme.ID, "failing", false, outcome)
		done <- err
	}()
	c, stdout := call()
	code, err := cliSSOWait(c, s.st, s.acme, "failing", 5*time.Millisecond)
	if ferr := <-done; ferr != nil {
		t.Fatal(ferr)
	}
	if code != 1 || err == nil || !strings.Contains(err.Error(), "the test sign-in failed") {
		t.Errorf("wait on a failing test = %d, %v", code, err)
	}
	for _, part := range []string{"Last test sign-in:       failed", "Error:                 alice@other.org is not in a verified domain",
		"FAIL  domain: other.org is not verified", "fix: claim and verify other.org"} {
		if !strings.Contains(stdout.String(), part) {
			t.Errorf("wait output lacks %q:\n%s", part, stdout.String())
		}
	}

	// Nobody answers before it expires.
	create("expired", time.Now().Add(-time.Second))
	c, stdout = call()
	code, err = cliSSOWait(c, s.st, s.acme, "expired", time.Millisecond)
	if code != 1 || err == nil || !strings.Contains(err.Error(), "expired at") || stdout.Len() != 0 {
		t.Errorf("wait on an expired test = %d, %v, stdout %q", code, err, stdout.String())
	}
}
