package integration

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/testcert"
	"github.com/ssogate/ssogate/internal/testdns"
	"github.com/ssogate/ssogate/internal/testidp"
)

// adminEnv is one org on a gate pinned to it, its SSO kept in the store,
// run by the built binary, with its own test IdP and DNS: the seed's
// customer setting things up on the Access Security pages.
type adminEnv struct {
	t        *testing.T
	bin      string
	home, db string
	gate     string
	scim     string
	idp      *idpServer
	dns      *testdns.Server
}

const ownerPassword = "correct horse battery staple"

func startAdminEnv(t *testing.T) *adminEnv {
	t.Helper()
	e := &adminEnv{t: t, bin: ssogateBinary(t), home: t.TempDir()}
	e.db = filepath.Join(e.home, "ssogate.db")
	e.dns = testdns.Start(t)
	e.idp = startIdP(t, testidp.User{Email: "olive@acme.com", GivenName: "Olive", FamilyName: "Owner"},
		testidp.User{Email: "mo@acme.com", GivenName: "Mo", FamilyName: "Member"})
	up := httptest.NewServer(&recorder{})
	t.Cleanup(up.Close)
	gatePort, scimPort := freePort(t), freePort(t)
	e.gate, e.scim = fmt.Sprintf("http://127.0.0.1:%d", gatePort), fmt.Sprintf("http://127.0.0.1:%d", scimPort)
	cfg := filepath.Join(e.home, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{
	admin off
	storage file_system %s
	ssogate {
		database sqlite %s
		dns_resolver %s
		change_poll_interval 100ms
	}
}

%s {
	saml_sso {
		org acme
		base_url %s
		reauth_after 3s
	}
	reverse_proxy %s
}

%s {
	scim_server {
		base_url %s
	}
}
`, filepath.Join(e.home, "caddy"), e.db, e.dns.Addr, e.gate, e.gate, up.URL, e.scim, e.scim)), 0o600); err != nil {
		t.Fatal(err)
	}
	startSSOGate(t, e.bin, e.home, cfg, gatePort)
	e.idp.TrustSPMetadataURL(e.gate + "/sso/o/acme/metadata")
	e.cli("", "user", "invite", "olive@acme.com", "--org", "acme", "--role", "owner")
	e.cli(ownerPassword+"\n", "user", "passwd", "olive@acme.com", "--org", "acme")
	return e
}

// sub is e for a subtest: failures end the subtest, not its parent.
func (e *adminEnv) sub(t *testing.T) *adminEnv {
	c := *e
	c.t = t
	return &c
}

func (e *adminEnv) cli(stdin string, args ...string) string {
	e.t.Helper()
	r := runSSOGate(e.t, e.bin, e.home, stdin, append(args, "--db", e.db)...)
	if r.code != 0 {
		e.t.Fatalf("ssogate %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

// passwordSignIn signs b in as the owner, from a page of the admin.
func (e *adminEnv) passwordSignIn(b *browser, from string) *http.Response {
	e.t.Helper()
	resp := b.navigate(e.gate + from)
	readBody(e.t, resp)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/sso/login") {
		e.t.Fatalf("GET %s without a session = %d to %q, want a sign-in redirect", from, resp.StatusCode, resp.Header.Get("Location"))
	}
	page := readBody(e.t, b.navigate(e.gate+resp.Header.Get("Location")))
	form := url.Values{"csrf": {inputValue(e.t, page, "csrf")}, "rd": {inputValue(e.t, page, "rd")},
		"email": {"olive@acme.com"}, "password": {ownerPassword}}
	resp = b.postFrom(e.gate, e.gate+"/sso/password", form)
	readBody(e.t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != from {
		e.t.Fatalf("owner's password sign-in = %d to %q, want back to %s", resp.StatusCode, resp.Header.Get("Location"), from)
	}
	return resp
}

// page GETs an admin page and returns its HTML.
func (e *adminEnv) page(b *browser, section string) string {
	e.t.Helper()
	resp := b.navigate(e.gate + "/sso/admin/" + section)
	body := readBody(e.t, resp)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /sso/admin/%s = %d:\n%s", section, resp.StatusCode, body)
	}
	return body
}

// submit posts a form of an admin page, with the page's CSRF token and
// this site's Origin, and returns the answer (not followed).
func (e *adminEnv) submit(b *browser, section string, v url.Values) (*http.Response, string) {
	e.t.Helper()
	if v.Get("csrf") == "" {
		v.Set("csrf", inputValue(e.t, e.page(b, section), "csrf"))
	}
	resp := b.do(http.MethodPost, e.gate+"/sso/admin/"+section, strings.NewReader(v.Encode()),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": e.gate})
	return resp, readBody(e.t, resp)
}

// done posts a form and checks it was accepted (303 back to the page).
func (e *adminEnv) done(b *browser, section string, v url.Values) {
	e.t.Helper()
	resp, body := e.submit(b, section, v)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/sso/admin/"+section+"?done=") {
		e.t.Fatalf("POST %s %s = %d to %q:\n%s", section, v.Get("action"), resp.StatusCode, resp.Header.Get("Location"), errorOf(body))
	}
}

var errorRE = regexp.MustCompile(`(?s)<p class="(?:field-)?error"[^>]*>(.*?)</p>`)

// errorOf returns the error texts of a page.
func errorOf(page string) string {
	var out []string
	for _, m := range errorRE.FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return strings.Join(out, " | ")
}

// TestAccessSecurityPages walks the seed's setup through the built binary
// on the pages, as an org's owner does: sign in with the password, give
// the IdP's three values, test, enable, claim and verify the domain,
// require SSO, make a SCIM token, give a team a role; then a member signs
// in by SSO and is refused the pages. Bad input is refused beside its
// field and changes nothing; a stale sign-in signs in again.
func TestAccessSecurityPages(t *testing.T) {
	e := startAdminEnv(t)
	owner := newBrowser(t)
	e.passwordSignIn(owner, "/sso/admin/sso")
	page := e.page(owner, "sso")
	for _, want := range []string{`id="state"`, "draft", e.gate + "/sso/o/acme/acs", e.gate + "/sso/o/acme/metadata", "firstName", `name="idp_sso_url"`, `name="idp_issuer"`, `name="idp_certificate"`} {
		if !strings.Contains(page, want) {
			t.Fatalf("the SSO page lacks %q:\n%s", want, page)
		}
	}
	for _, h := range []string{"Content-Security-Policy", "X-Frame-Options"} {
		resp := owner.navigate(e.gate + "/sso/admin/sso")
		readBody(t, resp)
		if resp.Header.Get(h) == "" || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("the SSO page's headers: %s %q, Cache-Control %q", h, resp.Header.Get(h), resp.Header.Get("Cache-Control"))
		}
	}
	version := func() string {
		return e.cli("", "sso", "show", "--org", "acme", "--json")
	}

	t.Run("bad input is refused beside its field and changes nothing", func(t *testing.T) {
		e := e.sub(t)
		before := version()
		_, expired := testcert.New(t, "old idp", time.Now().Add(-24*time.Hour))
		cert := string(e.idp.CertificatePEM())
		for _, tc := range []struct {
			name    string
			form    url.Values
			status  int
			errorID string
		}{
			{"garbage certificate", url.Values{"action": {"values"}, "idp_sso_url": {e.idp.SSOURL()}, "idp_issuer": {e.idp.EntityID()},
				"idp_certificate": {"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"}}, 400, "idp_certificate-error"},
			{"expired certificate", url.Values{"action": {"values"}, "idp_sso_url": {e.idp.SSOURL()}, "idp_issuer": {e.idp.EntityID()},
				"idp_certificate": {expired}}, 400, "idp_certificate-error"},
			{"non-https URL", url.Values{"action": {"values"}, "idp_sso_url": {"http://idp.example.com/sso"}, "idp_issuer": {e.idp.EntityID()},
				"idp_certificate": {cert}}, 400, "idp_sso_url-error"},
			{"metadata that is not SAML", url.Values{"action": {"metadata"}, "idp_metadata_xml": {"<html>hello</html>"}}, 400, "idp_metadata_xml-error"},
		} {
			resp, body := e.submit(owner, "sso", tc.form)
			if resp.StatusCode != tc.status || !strings.Contains(body, `id="`+tc.errorID+`"`) {
				t.Errorf("%s: %d, want %d with %s beside the field; errors: %s", tc.name, resp.StatusCode, tc.status, tc.errorID, errorOf(body))
			}
			if tc.name != "metadata that is not SAML" && !strings.Contains(body, tc.form.Get("idp_issuer")) {
				t.Errorf("%s: the other values were not kept", tc.name)
			}
		}
		// A public suffix as a domain.
		resp, body := e.submit(owner, "domains", url.Values{"action": {"claim"}, "domain": {"co.uk"}})
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `id="domain-error"`) {
			t.Errorf("claiming co.uk = %d; errors: %s", resp.StatusCode, errorOf(body))
		}
		// No CSRF token, then a foreign Origin: 403.
		csrf := inputValue(t, e.page(owner, "sso"), "csrf")
		good := url.Values{"action": {"values"}, "idp_sso_url": {e.idp.SSOURL()}, "idp_issuer": {e.idp.EntityID()}, "idp_certificate": {cert}}
		noToken := owner.do(http.MethodPost, e.gate+"/sso/admin/sso", strings.NewReader(good.Encode()),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": e.gate})
		readBody(t, noToken)
		good.Set("csrf", csrf)
		foreign := owner.do(http.MethodPost, e.gate+"/sso/admin/sso", strings.NewReader(good.Encode()),
			map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example"})
		readBody(t, foreign)
		if noToken.StatusCode != http.StatusForbidden || foreign.StatusCode != http.StatusForbidden {
			t.Errorf("missing CSRF = %d, foreign Origin = %d; want 403 both", noToken.StatusCode, foreign.StatusCode)
		}
		if after := version(); after != before {
			t.Fatalf("refused forms changed the connection:\nbefore %s\nafter  %s", before, after)
		}
	})

	t.Run("the IdP's three values, uploaded certificate, test, enable", func(t *testing.T) {
		e := e.sub(t)
		// The values form as a browser sends it: multipart, with the
		// certificate uploaded as a file.
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		csrf := inputValue(t, e.page(owner, "sso"), "csrf")
		for k, v := range map[string]string{"csrf": csrf, "action": "values", "idp_sso_url": e.idp.SSOURL(), "idp_issuer": e.idp.EntityID(), "idp_certificate": "", "idp_slo_url": ""} {
			_ = mw.WriteField(k, v)
		}
		fw, _ := mw.CreateFormFile("idp_certificate_file", "okta.cert")
		_, _ = fw.Write(e.idp.Cert.Raw) // DER, as some IdPs offer it
		mw.Close()
		resp := owner.do(http.MethodPost, e.gate+"/sso/admin/sso", &body, map[string]string{"Content-Type": mw.FormDataContentType(), "Origin": e.gate})
		page := readBody(t, resp)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("saving the IdP values = %d: %s", resp.StatusCode, errorOf(page))
		}
		page = e.page(owner, "sso")
		if !strings.Contains(page, "CN=ssogate test IdP") || !strings.Contains(page, `id="test"`) {
			t.Fatalf("after saving, the page does not show the certificate:\n%s", page)
		}
		// Enable is refused before a test.
		if resp, body := e.submit(owner, "sso", url.Values{"action": {"enable"}}); resp.StatusCode != http.StatusConflict || !strings.Contains(errorOf(body), "test sign-in") {
			t.Fatalf("enable before a test = %d: %s", resp.StatusCode, errorOf(body))
		}
		// Test sign-in: off to the IdP in this browser, back to a report.
		resp, _ = e.submit(owner, "sso", url.Values{"action": {"test"}})
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "/sso/o/acme/test/") {
			t.Fatalf("Test sign-in = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp = owner.navigate(follow(t, resp))
		readBody(t, resp)
		resp = ssoVia(t, owner, e.idp, follow(t, resp), "olive@acme.com")
		report := readBody(t, resp)
		// The domain is not claimed yet: the round trip works, the domain
		// rule fails, and the report says what to do.
		if !strings.Contains(report, "Test sign-in failed") || !strings.Contains(report, "acme.com is not a verified domain") {
			t.Fatalf("test sign-in before the domain is verified:\n%s", report)
		}
		e.claimAndVerify(owner, "acme.com")
		resp, _ = e.submit(owner, "sso", url.Values{"action": {"test"}})
		resp = owner.navigate(follow(t, resp))
		readBody(t, resp)
		resp = ssoVia(t, owner, e.idp, follow(t, resp), "olive@acme.com")
		if report := readBody(t, resp); !strings.Contains(report, "Test sign-in passed") {
			t.Fatalf("test sign-in once the domain is verified:\n%s", report)
		}
		e.done(owner, "sso", url.Values{"action": {"enable"}})
		e.done(owner, "sso", url.Values{"action": {"switches"}, "require_sso_shown": {"1"}, "require_sso": {"on"},
			"idp_managed_access_shown": {"1"}, "allow_idp_initiated_shown": {"1"}, "allow_idp_initiated": {"on"}})
		page = e.page(owner, "sso")
		if !strings.Contains(page, "<strong>enabled</strong>") || !strings.Contains(page, `id="require_sso" name="require_sso" checked`) {
			t.Fatalf("after enable and Require SSO, the page shows:\n%s", page)
		}
	})

	t.Run("SCIM token shown once, then used", func(t *testing.T) {
		e := e.sub(t)
		page := e.page(owner, "scim")
		if !strings.Contains(page, e.scim+"/scim/v2") {
			t.Fatalf("the SCIM page does not show the base URL %s/scim/v2", e.scim)
		}
		resp, page := e.submit(owner, "scim", url.Values{"action": {"create"}, "name": {"okta"}, "scope": {"scim"}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("generate token = %d: %s", resp.StatusCode, errorOf(page))
		}
		secret := regexp.MustCompile(`<code id="secret">([^<]+)</code>`).FindStringSubmatch(page)
		if secret == nil {
			t.Fatalf("the new token is not shown:\n%s", page)
		}
		if code, body := scimCall(t, http.MethodGet, e.scim+"/scim/v2/Users?count=1", secret[1], nil); code != http.StatusOK {
			t.Fatalf("the token against SCIM = %d %v", code, body)
		}
		if page := e.page(owner, "scim"); strings.Contains(page, secret[1]) || !strings.Contains(page, "okta") {
			t.Fatal("the token's secret is shown again, or the token is not listed")
		}
	})

	t.Run("a member signs in by SSO and gets 403 on the pages", func(t *testing.T) {
		e := e.sub(t)
		mo := newBrowser(t)
		resp := mo.navigate(e.gate + "/reports")
		readBody(t, resp)
		resp = ssoVia(t, mo, e.idp, follow(t, resp), "mo@acme.com")
		readBody(t, resp)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("mo's SSO sign-in = %d", resp.StatusCode)
		}
		resp = mo.navigate(e.gate + "/sso/admin/sso")
		if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Only owners and admins") {
			t.Fatalf("a member on the admin pages = %d:\n%s", resp.StatusCode, body)
		}
		// A team role makes mo an admin, and the pages open.
		e.done(owner, "teams", url.Values{"action": {"create"}, "name": {"Security"}, "role": {"admin"}})
		st := openStore(t, e.db)
		defer st.Close()
		addToTeam(t, st, "acme", "Security", "mo@acme.com")
		e.waitFor("mo, admin by team, opens the pages", func() bool {
			resp := mo.navigate(e.gate + "/sso/admin/members")
			readBody(t, resp)
			return resp.StatusCode == http.StatusOK
		})
	})

	t.Run("a stale sign-in signs in again before changing SSO", func(t *testing.T) {
		e := e.sub(t)
		time.Sleep(3 * time.Second) // reauth_after 3s
		page := e.page(owner, "sso")
		if !strings.Contains(page, `id="stale"`) {
			t.Fatal("the page does not say the sign-in is stale")
		}
		before := version()
		resp, _ := e.submit(owner, "sso", url.Values{"action": {"disable"}})
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "/sso/login?reauth=1") {
			t.Fatalf("disable with a stale sign-in = %d to %q; want a sign-in again", resp.StatusCode, loc)
		}
		if version() != before {
			t.Fatal("a stale sign-in changed the connection")
		}
		// Signing in again (the password: owners keep it under Require SSO)
		// comes back to the page, and the change goes through.
		page = readBody(t, owner.navigate(e.gate+loc))
		if !strings.Contains(page, `id="reauth"`) || !strings.Contains(page, `id="password-form"`) {
			t.Fatalf("the sign-in-again page:\n%s", page)
		}
		resp = owner.postFrom(e.gate, e.gate+"/sso/password", url.Values{"csrf": {inputValue(t, page, "csrf")}, "rd": {inputValue(t, page, "rd")},
			"email": {"olive@acme.com"}, "password": {ownerPassword}})
		readBody(t, resp)
		if resp.Header.Get("Location") != "/sso/admin/sso" {
			t.Fatalf("after signing in again: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		e.done(owner, "sso", url.Values{"action": {"disable"}})
	})

	t.Run("every change is in the activity", func(t *testing.T) {
		e := e.sub(t)
		page := e.page(owner, "activity")
		for _, want := range []string{"sso.update", "sso.test.failed", "sso.test.passed", "sso.enable", "sso.disable", "member.create", "domain.claim", "domain.verify", "token.create", "team.create", "olive@acme.com"} {
			if !strings.Contains(page, want) {
				t.Errorf("the activity lacks %q", want)
			}
		}
		if strings.Contains(page, "BEGIN CERTIFICATE") {
			t.Error("the activity shows a certificate's PEM")
		}
	})
}

// claimAndVerify claims a domain on the page, publishes its TXT record in
// the test DNS and verifies it.
func (e *adminEnv) claimAndVerify(b *browser, domain string) {
	e.t.Helper()
	e.done(b, "domains", url.Values{"action": {"claim"}, "domain": {domain}})
	page := e.page(b, "domains")
	value := regexp.MustCompile(`<code id="txt-value-0">([^<]+)</code>`).FindStringSubmatch(page)
	if value == nil {
		e.t.Fatalf("the domains page shows no TXT value:\n%s", page)
	}
	// Before the record is published: 422 with the reason.
	if resp, body := e.submit(b, "domains", url.Values{"action": {"verify"}, "domain": {domain}}); resp.StatusCode != http.StatusUnprocessableEntity ||
		!strings.Contains(errorOf(body), "publish a TXT record") {
		e.t.Fatalf("verify before publishing = %d: %s", resp.StatusCode, errorOf(body))
	}
	e.dns.Publish("_ssogate-challenge."+domain, value[1])
	e.done(b, "domains", url.Values{"action": {"verify"}, "domain": {domain}})
}

func (e *adminEnv) waitFor(what string, check func() bool) { waitUntil(e.t, what, check) }

func openStore(t *testing.T, path string) *sqlitestore.Store {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// addToTeam puts a member in a team, as an IdP pushing a group does.
func addToTeam(t *testing.T, st *sqlitestore.Store, orgName, team, email string) {
	t.Helper()
	ctx := context.Background()
	org, err := st.OrgByName(ctx, orgName)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.MemberByEmail(ctx, org.ID, email)
	if err != nil {
		t.Fatal(err)
	}
	teams, _, err := st.ListTeams(ctx, org.ID, storage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range teams {
		if tm.Name == team {
			if _, err := st.UpdateTeam(ctx, org.ID, tm.ID, func(tm *storage.Team) error {
				tm.MemberIDs = append(tm.MemberIDs, m.ID)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("org %s has no team %s", orgName, team)
}
