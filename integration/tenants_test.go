package integration

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/testdns"
	"github.com/ssogate/ssogate/internal/testidp"
)

// tenants is several orgs behind one ssogate binary, each with its own
// test IdP, tried as their admins and as an attacker would:
//
//	acme    pinned gate, IdP in the Caddyfile, domain acme.com in the Caddyfile
//	globex  pinned gate, IdP set through the admin API, domain globex.com in the Caddyfile
//	initech created at run time (ssogate org create), IdP set through the
//	        admin API, domain claimed and verified over DNS
//	shared  a gate without org: discovery for all of them
//
// The gates and a sidecar run in one ssogate process; a second ssogate
// process runs only a sidecar on the same database, and every admin call
// goes there, so each change crosses processes.
type tenants struct {
	t        *testing.T
	bin      string
	home, db string
	upstream *recorder
	dns      *testdns.Server

	acme, globex, shared string // gate origins
	sidecar, sidecar2    string // scim_server in the gate's process, in a second process

	idps map[string]*idpServer // by org
}

type idpServer struct {
	*testidp.IdP
	url string
}

func startIdP(t *testing.T, users ...testidp.User) *idpServer {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + l.Addr().String()
	idp, err := testidp.New(u, users...)
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: idp.Handler()}}
	srv.Start()
	t.Cleanup(srv.Close)
	return &idpServer{IdP: idp, url: u}
}

func startTenants(t *testing.T) *tenants {
	t.Helper()
	e := &tenants{t: t, bin: ssogateBinary(t), home: t.TempDir(), upstream: &recorder{}, idps: map[string]*idpServer{}}
	e.db = filepath.Join(e.home, "ssogate.db")
	e.dns = testdns.Start(t)
	e.idps["acme"] = startIdP(t, testidp.User{Email: "alice@acme.com", GivenName: "Alice", FamilyName: "Archer"},
		testidp.User{Email: "carol@acme.com", GivenName: "Carol", FamilyName: "Cole"},
		// acme's IdP can sign anything; the gate must not let it sign in
		// a globex address.
		testidp.User{Email: "gina@globex.com", GivenName: "Fake", FamilyName: "Gina"})
	e.idps["globex"] = startIdP(t, testidp.User{Email: "gina@globex.com", GivenName: "Gina", FamilyName: "Gold"},
		testidp.User{Email: "gus@globex.com", GivenName: "Gus", FamilyName: "Green"})
	e.idps["initech"] = startIdP(t, testidp.User{Email: "ivy@initech.com", GivenName: "Ivy", FamilyName: "Irons"})
	up := httptest.NewServer(e.upstream)
	t.Cleanup(up.Close)

	ports := map[string]int{}
	for _, name := range []string{"acme", "globex", "shared", "sidecar", "sidecar2"} {
		ports[name] = freePort(t)
	}
	origin := func(name string) string { return fmt.Sprintf("http://127.0.0.1:%d", ports[name]) }
	e.acme, e.globex, e.shared = origin("acme"), origin("globex"), origin("shared")
	e.sidecar, e.sidecar2 = origin("sidecar"), origin("sidecar2")

	acmeCert := filepath.Join(e.home, "acme-idp.pem")
	if err := os.WriteFile(acmeCert, e.idps["acme"].CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	gates := fmt.Sprintf(`{
	admin off
	storage file_system %[1]s
	ssogate {
		database sqlite %[2]s
		change_poll_interval 100ms
	}
}

%[3]s {
	saml_sso {
		org acme
		idp_sso_url %[4]s
		idp_issuer %[5]s
		idp_certificate %[6]s
		domain acme.com
		base_url %[3]s
	}
	reverse_proxy %[7]s
}

%[8]s {
	saml_sso {
		org globex
		domain globex.com
		base_url %[8]s
	}
	reverse_proxy %[7]s
}

%[9]s {
	saml_sso {
		base_url %[9]s
	}
	reverse_proxy %[7]s
}

%[10]s {
	scim_server
}
`, filepath.Join(e.home, "caddy1"), e.db, e.acme, e.idps["acme"].SSOURL(), e.idps["acme"].EntityID(), acmeCert,
		up.URL, e.globex, e.shared, e.sidecar)
	e.start("gates.Caddyfile", gates, ports["acme"])
	sidecar := fmt.Sprintf(`{
	admin off
	storage file_system %s
	ssogate {
		database sqlite %s
		dns_resolver %s
	}
}

%s {
	scim_server
}
`, filepath.Join(e.home, "caddy2"), e.db, e.dns.Addr, e.sidecar2)
	e.start("sidecar.Caddyfile", sidecar, ports["sidecar2"])

	// Each IdP learns the SPs it will meet: the acme pinned gate's own
	// endpoints, and each org's endpoints on the pinned and shared gates.
	e.idps["acme"].TrustSPMetadataURL(e.acme + "/sso/metadata")
	for org, idp := range e.idps {
		for _, g := range []string{e.acme, e.globex, e.shared} {
			idp.TrustSPMetadataURL(g + "/sso/o/" + org + "/metadata")
		}
	}
	return e
}

// sub is e for a subtest: failures end the subtest, not its parent.
func (e *tenants) sub(t *testing.T) *tenants {
	c := *e
	c.t = t
	return &c
}

func (e *tenants) start(name, cfg string, port int) {
	path := filepath.Join(e.home, name)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		e.t.Fatal(err)
	}
	startSSOGate(e.t, e.bin, e.home, path, port)
}

// cli runs an ssogate subcommand on the shared database and returns its
// stdout; a non-zero exit fails the test.
func (e *tenants) cli(stdin string, args ...string) string {
	e.t.Helper()
	r := runSSOGate(e.t, e.bin, e.home, stdin, append(args, "--db", e.db)...)
	if r.code != 0 {
		e.t.Fatalf("ssogate %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return strings.TrimSpace(r.stdout)
}

func (e *tenants) token(org, scope string) string {
	return e.cli("", "token", "create", "--org", org, "--scope", scope, "--name", org+"-"+scope)
}

// api calls the admin or SCIM API of the second process's sidecar.
func (e *tenants) api(method, path, token string, body any) (int, map[string]any) {
	e.t.Helper()
	return scimCall(e.t, method, e.sidecar2+path, token, body)
}

func (e *tenants) waitFor(what string, check func() bool) { waitUntil(e.t, what, check) }

// waitUntil retries check for up to 2 seconds: changes cross processes
// through the change feed, within a poll.
func waitUntil(t *testing.T, what string, check func() bool) {
	t.Helper()
	start := time.Now()
	for !check() {
		if time.Since(start) > 2*time.Second {
			t.Fatalf("%s: not so after %s", what, time.Since(start))
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("%s after %s", what, time.Since(start).Round(time.Millisecond))
}

// headers fetches /whoami through a gate with b and returns the identity
// headers the app received, or nil when the gate did not pass it.
func headersVia(t *testing.T, b *browser, gateURL string, extra map[string]string) map[string]string {
	t.Helper()
	hdr := map[string]string{"Accept": "application/json"}
	for k, v := range extra {
		hdr[k] = v
	}
	resp := b.do(http.MethodGet, gateURL+"/whoami", nil, hdr)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	var seen map[string]string
	if err := json.Unmarshal([]byte(body), &seen); err != nil {
		t.Fatalf("upstream answer %q: %v", body, err)
	}
	return seen
}

// ssoVia walks an SP-initiated sign-in from a redirect to an IdP: the
// IdP signs the browser in as email and posts back; it returns the
// gate's answer to that post.
func ssoVia(t *testing.T, b *browser, idp *idpServer, loc, email string) *http.Response {
	t.Helper()
	if !strings.HasPrefix(loc, idp.url+"/sso?") {
		t.Fatalf("sign-in went to %s, want the IdP at %s", loc, idp.url)
	}
	b.signInAtIdP(idp.url, email)
	resp := b.navigate(loc)
	form := parseSAMLForm(t, readBody(t, resp))
	return b.post(form.Action, form.Values)
}

// discover posts a work email to the shared gate's login form and returns
// the answer (a redirect to an IdP, or the password form).
func (e *tenants) discover(b *browser, email string) *http.Response {
	e.t.Helper()
	page := readBody(e.t, b.navigate(e.shared+"/sso/login?rd=/reports"))
	csrf := inputValue(e.t, page, "csrf")
	return b.do(http.MethodPost, e.shared+"/sso/login", strings.NewReader(url.Values{
		"csrf": {csrf}, "rd": {"/reports"}, "email": {email},
	}.Encode()), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": e.shared})
}

// inputValue returns the value of the named input of an HTML page.
func inputValue(t *testing.T, page, name string) string {
	t.Helper()
	i := strings.Index(page, `name="`+name+`" value="`)
	if i < 0 {
		t.Fatalf("no input %q in:\n%s", name, page)
	}
	rest := page[i+len(`name="`+name+`" value="`):]
	return rest[:strings.IndexByte(rest, '"')]
}

// signInShared signs email in at the shared gate through discovery.
func (e *tenants) signInShared(org, email string) *browser {
	e.t.Helper()
	b := newBrowser(e.t)
	var resp *http.Response
	// An org enabled by another process is discovered within a poll.
	e.waitFor("discovery sends "+email+" to "+org+"'s IdP", func() bool {
		resp = e.discover(b, email)
		readBody(e.t, resp)
		return resp.StatusCode == http.StatusFound
	})
	resp = ssoVia(e.t, b, e.idps[org], follow(e.t, resp), email)
	readBody(e.t, resp)
	if resp.StatusCode != http.StatusSeeOther || follow(e.t, resp) != e.shared+"/reports" {
		e.t.Fatalf("sign-in of %s at the shared gate = %d to %s", email, resp.StatusCode, resp.Header.Get("Location"))
	}
	return b
}

// sessionCookie returns the browser's session cookie for a gate.
func sessionCookie(t *testing.T, b *browser, gateURL string) string {
	t.Helper()
	u, _ := url.Parse(gateURL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == gate.CookieName {
			return c.Value
		}
	}
	t.Fatalf("no %s cookie for %s", gate.CookieName, gateURL)
	return ""
}

// withCookie is a fresh browser holding only a session cookie: what an
// attacker who copied it sends.
func withCookie(t *testing.T, cookie string) *browser {
	b := newBrowser(t)
	return &browser{t: t, c: &http.Client{CheckRedirect: b.c.CheckRedirect, Transport: cookieTransport(cookie)}}
}

type cookieTransport string

func (c cookieTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Cookie", gate.CookieName+"="+string(c))
	return http.DefaultTransport.RoundTrip(r)
}

// setUpConnection walks an org admin through the seed's setup over the
// admin API of the second process: the IdP's three values, refusals while
// untested, a test sign-in through a gate, enable, then Require SSO.
func (e *tenants) setUpConnection(org, admin, gateURL, tester string) {
	t := e.t
	t.Helper()
	idp := e.idps[org]
	code, body := e.api(http.MethodPut, "/api/v1/sso", admin, map[string]any{
		"idp_sso_url": idp.SSOURL(), "idp_issuer": idp.EntityID(), "idp_certificates": []string{string(idp.CertificatePEM())},
	})
	if code != http.StatusOK || body["state"] != "draft" {
		t.Fatalf("%s: PUT /api/v1/sso = %d %v; want 200 draft", org, code, body)
	}
	sp, _ := body["sp"].(map[string]any)
	if sp["acs_url"] != gateURL+"/sso/o/"+org+"/acs" || sp["entity_id"] != gateURL+"/sso/o/"+org+"/metadata" {
		t.Fatalf("%s: what to copy into the IdP = %v; want the org's endpoints on %s", org, sp, gateURL)
	}
	if code, body := e.api(http.MethodPut, "/api/v1/sso", admin, map[string]any{"require_sso": true}); code != http.StatusConflict {
		t.Fatalf("%s: require_sso on a draft = %d %v; want 409", org, code, body)
	}
	if code, body := e.api(http.MethodPost, "/api/v1/sso/enable", admin, nil); code != http.StatusConflict {
		t.Fatalf("%s: enable before a test sign-in = %d %v; want 409", org, code, body)
	}
	code, test := e.api(http.MethodPost, "/api/v1/sso/test", admin, nil)
	testURL, _ := test["url"].(string)
	if code != http.StatusCreated || !strings.HasPrefix(testURL, gateURL+"/sso/o/"+org+"/test/") {
		t.Fatalf("%s: POST /api/v1/sso/test = %d %v; want a URL on %s", org, code, test, gateURL)
	}
	// The admin opens the test URL: a real round trip, nobody signed in.
	b := newBrowser(t)
	resp := b.navigate(testURL)
	readBody(t, resp)
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("%s: opening the test sign-in = %d", org, resp.StatusCode)
	}
	resp = ssoVia(t, b, idp, follow(t, resp), tester)
	page := readBody(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Test sign-in passed") || !strings.Contains(page, tester) {
		t.Fatalf("%s: test sign-in result = %d:\n%s", org, resp.StatusCode, page)
	}
	u, _ := url.Parse(gateURL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == gate.CookieName {
			t.Fatalf("%s: the test sign-in set a session cookie", org)
		}
	}
	if code, got := e.api(http.MethodGet, "/api/v1/sso/test/"+fmt.Sprint(test["test_id"]), admin, nil); code != http.StatusOK || got["status"] != "passed" {
		t.Fatalf("%s: test outcome = %d %v; want passed", org, code, got)
	}
	if code, got := e.api(http.MethodPost, "/api/v1/sso/enable", admin, nil); code != http.StatusOK || got["state"] != "enabled" {
		t.Fatalf("%s: enable after the test = %d %v", org, code, got)
	}
	if code, got := e.api(http.MethodPut, "/api/v1/sso", admin, map[string]any{"require_sso": true}); code != http.StatusOK || got["require_sso"] != true {
		t.Fatalf("%s: require_sso once enabled with a verified domain = %d %v", org, code, got)
	}
}

// TestTenants is issue 10's "done when", through the built binary.
func TestTenants(t *testing.T) {
	e := startTenants(t)
	acmeSCIM, acmeAdmin := e.token("acme", "scim"), e.token("acme", "admin")
	globexSCIM, globexAdmin := e.token("globex", "scim"), e.token("globex", "admin")

	// acme: SSO from the Caddyfile, at its pinned gate.
	alice := newBrowser(t)
	resp := alice.navigate(e.acme + "/sso/login?start=sso&rd=/reports")
	readBody(t, resp)
	resp = ssoVia(t, alice, e.idps["acme"], follow(t, resp), "alice@acme.com")
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("alice's sign-in at acme = %d", resp.StatusCode)
	}
	if h := headersVia(t, alice, e.acme, nil); h["X-Forwarded-Org"] != "acme" || h["X-Forwarded-User"] != "alice@acme.com" {
		t.Fatalf("acme's app saw %v", h)
	}
	// acme's Caddyfile pins its IdP: read-only through the API.
	code, conn := e.api(http.MethodGet, "/api/v1/sso", acmeAdmin, nil)
	if code != http.StatusOK || conn["state"] != "enabled" || !strings.Contains(fmt.Sprint(conn["pinned"]), "idp_sso_url") {
		t.Fatalf("acme's connection = %d %v; want enabled, IdP pinned", code, conn)
	}
	if code, body := e.api(http.MethodPut, "/api/v1/sso", acmeAdmin, map[string]any{"idp_sso_url": "https://evil.example/sso"}); code != http.StatusConflict {
		t.Fatalf("changing a pinned IdP URL = %d %v; want 409", code, body)
	}

	t.Run("connection set through the API of another process, no reload", func(t *testing.T) {
		e := e.sub(t)
		e.setUpConnection("globex", globexAdmin, e.globex, "gina@globex.com")
		// Require SSO is on: a browser without a session goes straight to
		// globex's IdP, at the pinned gate of the other process.
		gina := newBrowser(t)
		var resp *http.Response
		e.waitFor("globex's pinned gate sends browsers to its IdP", func() bool {
			resp = gina.navigate(e.globex + "/reports")
			readBody(t, resp)
			return resp.StatusCode == http.StatusFound && strings.HasPrefix(follow(t, resp), e.idps["globex"].url)
		})
		resp = ssoVia(t, gina, e.idps["globex"], follow(t, resp), "gina@globex.com")
		readBody(t, resp)
		if h := headersVia(t, gina, e.globex, nil); h["X-Forwarded-Org"] != "globex" || h["X-Forwarded-User"] != "gina@globex.com" {
			t.Fatalf("globex's app saw %v", h)
		}
	})

	t.Run("an org created at run time, its domain verified over DNS", func(t *testing.T) {
		e := e.sub(t)
		e.cli("", "org", "create", "initech")
		admin := e.token("initech", "admin")
		code, claim := e.api(http.MethodPost, "/api/v1/domains", admin, map[string]any{"domain": "initech.com"})
		if code != http.StatusCreated {
			t.Fatalf("claiming initech.com = %d %v", code, claim)
		}
		e.dns.Publish(fmt.Sprint(claim["txt_name"]), fmt.Sprint(claim["txt_value"]))
		if code, body := e.api(http.MethodPost, "/api/v1/domains/initech.com/verify", admin, nil); code != http.StatusOK {
			t.Fatalf("verifying initech.com = %d %v", code, body)
		}
		// No gate is pinned to initech: its test runs on the shared gate.
		e.setUpConnection("initech", admin, e.shared, "ivy@initech.com")
		ivy := e.signInShared("initech", "ivy@initech.com")
		if h := headersVia(t, ivy, e.shared, nil); h["X-Forwarded-Org"] != "initech" || h["X-Forwarded-User"] != "ivy@initech.com" {
			t.Fatalf("the app behind the shared gate saw %v", h)
		}
	})

	t.Run("discovery sends each email to its own org's IdP", func(t *testing.T) {
		e := e.sub(t)
		for _, tc := range []struct{ email, org string }{
			{"carol@acme.com", "acme"}, {"gus@globex.com", "globex"}, {"ivy@initech.com", "initech"}, {"IVY@INITECH.COM", "initech"},
		} {
			resp := e.discover(newBrowser(t), tc.email)
			readBody(t, resp)
			if resp.StatusCode != http.StatusFound || !strings.HasPrefix(follow(t, resp), e.idps[tc.org].url+"/sso?") {
				t.Errorf("discovery of %s = %d to %q; want %s's IdP", tc.email, resp.StatusCode, resp.Header.Get("Location"), tc.org)
			}
		}
		// No org has SSO for these: the same password form for an
		// unknown address and an unknown domain.
		for _, email := range []string{"nobody@example.org", "stranger@acme-eu.com"} {
			resp := e.discover(newBrowser(t), email)
			page := readBody(t, resp)
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="password-form"`) {
				t.Errorf("discovery of %s = %d; want the password form", email, resp.StatusCode)
			}
		}
		acme := e.signInShared("acme", "carol@acme.com")
		if h := headersVia(t, acme, e.shared, nil); h["X-Forwarded-Org"] != "acme" {
			t.Fatalf("carol at the shared gate: the app saw %v", h)
		}
	})

	t.Run("cookies do not cross orgs", func(t *testing.T) {
		e := e.sub(t)
		aliceCookie := sessionCookie(t, alice, e.acme)
		gina := e.signInShared("globex", "gina@globex.com")
		ginaCookie := sessionCookie(t, gina, e.shared)
		hits := e.upstream.count()
		for _, tc := range []struct {
			name, cookie, gate string
		}{
			{"acme's cookie at globex's gate", aliceCookie, e.globex},
			{"globex's cookie at acme's gate", ginaCookie, e.acme},
		} {
			b := withCookie(t, tc.cookie)
			if got := b.status(tc.gate + "/reports"); got != http.StatusUnauthorized {
				t.Errorf("%s: %d, want 401", tc.name, got)
			}
			resp := b.navigate(tc.gate + "/reports")
			readBody(t, resp)
			if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || loc == "/reports" || loc == "" {
				t.Errorf("%s, browser navigation: %d to %q; want a sign-in redirect", tc.name, resp.StatusCode, loc)
			}
		}
		if e.upstream.count() != hits {
			t.Fatalf("the app was reached with another org's cookie")
		}
		// The shared gate serves every org and says whose session it is,
		// whatever the client claims.
		h := headersVia(t, withCookie(t, aliceCookie), e.shared, map[string]string{"X-Forwarded-Org": "globex", "X-Forwarded-Role": "owner"})
		if h["X-Forwarded-Org"] != "acme" || h["X-Forwarded-Role"] != "member" {
			t.Fatalf("acme's cookie at the shared gate with forged headers: the app saw %v", h)
		}
	})

	t.Run("an IdP cannot sign in another org's people", func(t *testing.T) {
		e := e.sub(t)
		// acme's IdP asserts a globex address at acme's ACS.
		b := newBrowser(t)
		resp := b.navigate(e.acme + "/sso/login?start=sso")
		readBody(t, resp)
		resp = ssoVia(t, b, e.idps["acme"], follow(t, resp), "gina@globex.com")
		page := readBody(t, resp)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "globex.com is not claimed") {
			t.Fatalf("acme's IdP signing in gina@globex.com = %d:\n%s", resp.StatusCode, page)
		}
		// A login started for globex answered at initech's ACS.
		b = newBrowser(t)
		resp = e.discover(b, "gus@globex.com")
		readBody(t, resp)
		b.signInAtIdP(e.idps["globex"].url, "gus@globex.com")
		resp = b.navigate(follow(t, resp))
		form := parseSAMLForm(t, readBody(t, resp))
		resp = b.post(strings.Replace(form.Action, "/o/globex/", "/o/initech/", 1), form.Values)
		page = readBody(t, resp)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "another organization") {
			t.Fatalf("globex's response posted to initech's ACS = %d:\n%s", resp.StatusCode, page)
		}
	})

	// gina is globex's owner with a password, and an acme guest.
	e.cli("", "user", "set-role", "--org", "globex", "gina@globex.com", "owner")
	e.cli("correct horse battery staple\n", "user", "passwd", "--org", "globex", "gina@globex.com")
	e.cli("", "user", "invite", "--org", "acme", "gina@globex.com")

	t.Run("one org's tokens cannot touch another's people", func(t *testing.T) {
		e := e.sub(t)
		ginaAtAcme := memberID(t, e.sidecar2, acmeSCIM, "gina@globex.com")
		ginaAtGlobex := memberID(t, e.sidecar2, globexSCIM, "gina@globex.com")
		// acme renames its guest: refused, since the email is globex's sign-in too.
		rename := map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "value": map[string]any{"userName": "gina@acme.com"}}},
		}
		if code, body := e.api(http.MethodPatch, "/scim/v2/Users/"+ginaAtAcme, acmeSCIM, rename); code != http.StatusConflict ||
			!strings.Contains(fmt.Sprint(body["detail"]), "another organization") || strings.Contains(fmt.Sprint(body["detail"]), "globex") {
			t.Fatalf("acme renaming a shared account = %d %v; want 409 that does not name globex", code, body)
		}
		// acme may keep its own name for her; globex's stays.
		names := map[string]any{
			"schemas":    []string{"urn:ietf:params:scim:api:messages:2.0:PatchOp"},
			"Operations": []any{map[string]any{"op": "replace", "path": "name.givenName", "value": "Guest"}},
		}
		if code, body := e.api(http.MethodPatch, "/scim/v2/Users/"+ginaAtAcme, acmeSCIM, names); code != http.StatusOK {
			t.Fatalf("acme renaming its own membership = %d %v", code, body)
		}
		code, seen := e.api(http.MethodGet, "/scim/v2/Users/"+ginaAtGlobex, globexSCIM, nil)
		name, _ := seen["name"].(map[string]any)
		if code != http.StatusOK || seen["userName"] != "gina@globex.com" || name["givenName"] != "Gina" {
			t.Fatalf("globex sees its owner as %d %v", code, seen)
		}
		// Each org's tokens against the other's IDs: 404, nothing changed.
		for _, tc := range []struct {
			method, path, token string
			body                any
		}{
			{http.MethodGet, "/scim/v2/Users/" + ginaAtGlobex, acmeSCIM, nil},
			{http.MethodPatch, "/scim/v2/Users/" + ginaAtGlobex, acmeSCIM, setActive(false)},
			{http.MethodDelete, "/scim/v2/Users/" + ginaAtGlobex, acmeSCIM, nil},
			{http.MethodPut, "/api/v1/members/" + ginaAtGlobex + "/role", acmeAdmin, map[string]any{"role": "member"}},
			{http.MethodPut, "/api/v1/members/" + ginaAtAcme + "/role", globexAdmin, map[string]any{"role": "owner"}},
		} {
			if code, body := e.api(tc.method, tc.path, tc.token, tc.body); code != http.StatusNotFound {
				t.Errorf("%s %s with the other org's token = %d %v; want 404", tc.method, tc.path, code, body)
			}
		}
		code, tokens := e.api(http.MethodGet, "/api/v1/tokens", globexAdmin, nil)
		list, _ := tokens["tokens"].([]any)
		if code != http.StatusOK || len(list) < 2 {
			t.Fatalf("globex's tokens = %d %v", code, tokens)
		}
		globexTokenID := fmt.Sprint(list[0].(map[string]any)["id"])
		if code, body := e.api(http.MethodDelete, "/api/v1/tokens/"+globexTokenID, acmeAdmin, nil); code != http.StatusNotFound {
			t.Errorf("acme revoking globex's token = %d %v; want 404", code, body)
		}
		if code, body := e.api(http.MethodGet, "/api/v1/sso", globexSCIM, nil); code != http.StatusForbidden {
			t.Errorf("a SCIM token on the admin API = %d %v; want 403", code, body)
		}
		// gina is still globex's owner, active, and her password works
		// at globex's gate (owners keep it under Require SSO).
		code, members := e.api(http.MethodGet, "/api/v1/members", globexAdmin, nil)
		if code != http.StatusOK || !strings.Contains(fmt.Sprint(members["members"]), "gina@globex.com") || !strings.Contains(fmt.Sprint(members["members"]), "role:owner") {
			t.Fatalf("globex's members = %d %v", code, members)
		}
		b := newBrowser(t)
		page := readBody(t, b.navigate(e.globex+"/sso/password"))
		resp := b.postFrom(e.globex, e.globex+"/sso/password", url.Values{"csrf": {inputValue(t, page, "csrf")}, "rd": {"/"},
			"email": {"gina@globex.com"}, "password": {"correct horse battery staple"}})
		readBody(t, resp)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("gina's password sign-in at globex = %d", resp.StatusCode)
		}
		if h := headersVia(t, b, e.globex, nil); h["X-Forwarded-Org"] != "globex" || h["X-Forwarded-Role"] != "owner" {
			t.Fatalf("globex's app saw %v", h)
		}
	})

	t.Run("a team's role reaches X-Forwarded-Role", func(t *testing.T) {
		e := e.sub(t)
		carol := newBrowser(t)
		resp := carol.navigate(e.acme + "/sso/login?start=sso")
		readBody(t, resp)
		readBody(t, ssoVia(t, carol, e.idps["acme"], follow(t, resp), "carol@acme.com"))
		if h := headersVia(t, carol, e.acme, nil); h["X-Forwarded-Role"] != "member" {
			t.Fatalf("carol before any team role: %v", h)
		}
		carolID := memberID(t, e.sidecar2, acmeSCIM, "carol@acme.com")
		code, group := e.api(http.MethodPost, "/scim/v2/Groups", acmeSCIM, map[string]any{
			"schemas": []string{"urn:ietf:params:scim:schemas:core:2.0:Group"}, "displayName": "Analysts",
			"members": []any{map[string]any{"value": carolID}},
		})
		if code != http.StatusCreated {
			t.Fatalf("pushing the Analysts group = %d %v", code, group)
		}
		teamID := fmt.Sprint(group["id"])
		if code, body := e.api(http.MethodPut, "/api/v1/teams/"+teamID+"/role", globexAdmin, map[string]any{"role": "admin"}); code != http.StatusNotFound {
			t.Fatalf("globex setting acme's team role = %d %v; want 404", code, body)
		}
		if code, body := e.api(http.MethodPut, "/api/v1/teams/"+teamID+"/role", acmeAdmin, map[string]any{"role": "owner"}); code != http.StatusBadRequest {
			t.Fatalf("a team granting owner = %d %v; want 400", code, body)
		}
		if code, body := e.api(http.MethodPut, "/api/v1/teams/"+teamID+"/role", acmeAdmin, map[string]any{"role": "admin"}); code != http.StatusOK {
			t.Fatalf("setting the team's role = %d %v", code, body)
		}
		e.waitFor("carol's next request carries the team's role", func() bool {
			h := headersVia(t, carol, e.acme, nil)
			return h["X-Forwarded-Role"] == "admin" && h["X-Forwarded-Groups"] == "Analysts"
		})
		if code, body := e.api(http.MethodPut, "/api/v1/teams/"+teamID+"/role", acmeAdmin, map[string]any{"role": "none"}); code != http.StatusOK {
			t.Fatalf("clearing the team's role = %d %v", code, body)
		}
		e.waitFor("carol is a member again", func() bool {
			return headersVia(t, carol, e.acme, nil)["X-Forwarded-Role"] == "member"
		})
	})

	t.Run("bad input changes nothing", func(t *testing.T) {
		e := e.sub(t)
		_, before := e.api(http.MethodGet, "/api/v1/sso", globexAdmin, nil)
		for _, tc := range []struct {
			name  string
			body  map[string]any
			field string
		}{
			{"garbage certificate", map[string]any{"idp_certificates": []string{"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----"}}, "idp_certificates"},
			{"plain http URL", map[string]any{"idp_sso_url": "http://idp.example.com/sso"}, "idp_sso_url"},
			{"metadata that is not SAML", map[string]any{"idp_metadata_xml": "<html>hello</html>"}, "idp_metadata_xml"},
		} {
			code, body := e.api(http.MethodPut, "/api/v1/sso", globexAdmin, tc.body)
			if code != http.StatusBadRequest || body["field"] != tc.field {
				t.Errorf("%s: %d %v; want 400 naming %s", tc.name, code, body, tc.field)
			}
		}
		if _, after := e.api(http.MethodGet, "/api/v1/sso", globexAdmin, nil); fmt.Sprint(after["version"]) != fmt.Sprint(before["version"]) {
			t.Fatalf("the connection changed after refused input: version %v → %v", before["version"], after["version"])
		}
		r := runSSOGate(t, e.bin, e.home, "", "org", "create", "Not A Slug", "--db", e.db)
		if r.code != 2 || r.stdout != "" {
			t.Fatalf("org create with a non-slug: exit %d, stdout %q, stderr %q; want exit 2", r.code, r.stdout, r.stderr)
		}
	})
}
