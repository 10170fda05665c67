package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssogate/ssogate/internal/testidp"
)

// Issue 13, parts 6, 7 and 9, through the built binary: sign-out needs
// the sign-out form, an IdP-initiated sign-in does not silently replace
// another person's session, and the CSRF cookie is the gate's alone.

// csrfEnv is a gate pinned to acme, its IdP in the Caddyfile, run by the
// built binary; mallory has an account of her own with a password.
type csrfEnv struct {
	t         *testing.T
	bin, home string
	db, gate  string
	idp       *idpServer
}

const (
	malloryEmail    = "mallory@acme.com"
	malloryPassword = "mallory's own password"
	evilOrigin      = "https://evil.example"
)

func startCSRFEnv(t *testing.T) *csrfEnv {
	t.Helper()
	e := &csrfEnv{t: t, bin: ssogateBinary(t), home: t.TempDir()}
	e.db = filepath.Join(e.home, "ssogate.db")
	e.idp = startIdP(t, testidp.User{Email: "alice@acme.com", GivenName: "Alice", FamilyName: "Archer"},
		testidp.User{Email: malloryEmail, GivenName: "Mallory", FamilyName: "M"})
	up := httptest.NewServer(&recorder{})
	t.Cleanup(up.Close)
	cert := filepath.Join(e.home, "idp.pem")
	if err := os.WriteFile(cert, e.idp.CertificatePEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	e.gate = fmt.Sprintf("http://127.0.0.1:%d", port)
	cfg := filepath.Join(e.home, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{
	admin off
	storage file_system %s
	ssogate {
		database sqlite %s
	}
}

%s {
	saml_sso {
		org acme
		idp_sso_url %s
		idp_issuer %s
		idp_certificate %s
		domain acme.com
		base_url %s
	}
	reverse_proxy %s
}
`, filepath.Join(e.home, "caddy"), e.db, e.gate, e.idp.SSOURL(), e.idp.EntityID(), cert, e.gate, up.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	startSSOGate(t, e.bin, e.home, cfg, port)
	e.idp.TrustSPMetadataURL(e.gate + "/sso/metadata")
	for _, args := range [][]string{
		{"user", "invite", malloryEmail, "--org", "acme", "--role", "member"},
		{"user", "passwd", malloryEmail, "--org", "acme"},
	} {
		if r := runSSOGate(t, e.bin, e.home, malloryPassword+"\n", append(args, "--db", e.db)...); r.code != 0 {
			t.Fatalf("ssogate %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
	}
	return e
}

// with is e for a subtest: failures end the subtest.
func (e *csrfEnv) with(t *testing.T) *csrfEnv {
	c := *e
	c.t = t
	return &c
}

// idpForm is the IdP's IdP-initiated response for email, as the IdP gives
// it to whoever holds the account (here: any browser).
func (e *csrfEnv) idpForm(email, relay string) samlForm {
	e.t.Helper()
	q := url.Values{"sp": {e.gate + "/sso/metadata"}, "user": {email}, "relay": {relay}}
	resp := newBrowser(e.t).navigate(e.idp.url + "/start?" + q.Encode())
	body := readBody(e.t, resp)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("IdP start = %d: %s", resp.StatusCode, body)
	}
	return parseSAMLForm(e.t, body)
}

// signedIn is a browser signed in as email through an IdP-initiated
// sign-in.
func (e *csrfEnv) signedIn(email string) *browser {
	e.t.Helper()
	b := newBrowser(e.t)
	form := e.idpForm(email, "/home")
	resp := b.postFrom(e.idp.url, form.Action, form.Values)
	readBody(e.t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/home" {
		e.t.Fatalf("IdP-initiated sign-in of %s = %d to %q", email, resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := e.whoIs(b); got != email {
		e.t.Fatalf("signed in as %q, want %s", got, email)
	}
	return b
}

// whoIs is the email of b's session, or "".
func (e *csrfEnv) whoIs(b *browser) string {
	e.t.Helper()
	code, info := b.getJSON(e.gate+"/sso/userinfo", nil)
	if code != http.StatusOK {
		return ""
	}
	email, _ := info["email"].(string)
	return email
}

// csrfCookieOf is b's CSRF cookie at the gate.
func (e *csrfEnv) csrfCookieOf(b *browser) string {
	u, _ := url.Parse(e.gate + "/sso/password")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "ssogate_csrf" {
			return c.Value
		}
	}
	return ""
}

func formPost(b *browser, rawURL string, v url.Values, hdr map[string]string) *http.Response {
	h := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	for k, val := range hdr {
		h[k] = val
	}
	return b.do(http.MethodPost, rawURL, strings.NewReader(v.Encode()), h)
}

// TestLogoutNeedsTheForm (issue 13, part 6): another site cannot sign a
// person out, by a link or by a form; the sign-out page's own form does.
func TestLogoutNeedsTheForm(t *testing.T) {
	e := startCSRFEnv(t)
	for _, path := range []string{"/sso/logout", "/sso/o/acme/logout"} {
		t.Run(path, func(t *testing.T) {
			e := e.with(t)
			b := e.signedIn("alice@acme.com")
			// A link or an image on another site: the sign-out page, nothing more.
			resp := b.do(http.MethodGet, e.gate+path, nil, map[string]string{"Accept": "text/html", "Referer": evilOrigin + "/"})
			page := readBody(t, resp)
			if resp.StatusCode != http.StatusOK || !strings.Contains(page, `id="logout-form"`) || !strings.Contains(page, "alice@acme.com") {
				t.Fatalf("GET %s = %d; want the sign-out page:\n%s", path, resp.StatusCode, page)
			}
			if got := e.whoIs(b); got != "alice@acme.com" {
				t.Fatalf("after a cross-site GET %s the session is %q; want alice's still", path, got)
			}
			token := inputValue(t, page, "csrf")
			for _, tc := range []struct {
				name string
				form url.Values
				hdr  map[string]string
				why  string
			}{
				{"another site's form", url.Values{}, map[string]string{"Origin": evilOrigin}, "expired"},
				{"another site's form with a token", url.Values{"csrf": {token}}, map[string]string{"Origin": evilOrigin}, "another site"},
				{"no token, this site's Origin", url.Values{}, map[string]string{"Origin": e.gate}, "expired"},
				{"a wrong token", url.Values{"csrf": {"forged"}}, map[string]string{"Origin": e.gate}, "expired"},
				{"neither Origin nor Referer", url.Values{"csrf": {token}}, nil, "neither an Origin nor a Referer"},
			} {
				resp := formPost(b, e.gate+path, tc.form, tc.hdr)
				body := readBody(t, resp)
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, tc.why) {
					t.Errorf("%s: POST %s = %d; want 403 saying %q:\n%s", tc.name, path, resp.StatusCode, tc.why, body)
				}
				if got := e.whoIs(b); got != "alice@acme.com" {
					t.Fatalf("%s: after POST %s the session is %q; want alice's still", tc.name, path, got)
				}
			}
			// The page's button: signed out.
			resp = b.signOut(e.gate, path)
			if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "You are signed out") {
				t.Fatalf("the sign-out form = %d:\n%s", resp.StatusCode, body)
			}
			if got := e.whoIs(b); got != "" {
				t.Fatalf("after the sign-out form the session is %q; want none", got)
			}
			// Signed out, the page says so and has no form.
			resp = b.navigate(e.gate + path)
			if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "You are signed out") || strings.Contains(body, "<form") {
				t.Errorf("GET %s without a session = %d:\n%s", path, resp.StatusCode, body)
			}
		})
	}
	t.Run("the form with the Referer of the site, without Origin", func(t *testing.T) {
		e := e.with(t)
		b := e.signedIn("alice@acme.com")
		page := readBody(t, b.navigate(e.gate+"/sso/logout"))
		resp := formPost(b, e.gate+"/sso/logout", url.Values{"csrf": {inputValue(t, page, "csrf")}},
			map[string]string{"Referer": e.gate + "/sso/logout"})
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, "You are signed out") {
			t.Fatalf("the sign-out form with Referer = %d:\n%s", resp.StatusCode, body)
		}
		if got := e.whoIs(b); got != "" {
			t.Fatalf("after the sign-out form the session is %q; want none", got)
		}
	})
}

// TestIdPInitiatedSwitchAsks (issue 13, part 7): an IdP-initiated
// response for another person, posted into a signed-in browser from
// another site, asks before it replaces the session; the same person
// signs in as before.
func TestIdPInitiatedSwitchAsks(t *testing.T) {
	e := startCSRFEnv(t)
	// ask posts mallory's own response into the victim's browser and
	// returns the question page.
	ask := func(t *testing.T, victim *browser, relay string) (samlForm, string) {
		t.Helper()
		e := e.with(t)
		form := e.idpForm(malloryEmail, relay)
		resp := victim.postFrom(evilOrigin, form.Action, form.Values)
		page := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Continue as "+malloryEmail) || !strings.Contains(page, "alice@acme.com") {
			t.Fatalf("mallory's response in alice's browser = %d to %q; want the question:\n%s", resp.StatusCode, resp.Header.Get("Location"), page)
		}
		if strings.Contains(page, form.Values.Get("SAMLResponse")[:40]) {
			t.Error("the question page carries the assertion")
		}
		if got := e.whoIs(victim); got != "alice@acme.com" {
			t.Fatalf("while asked, the browser is signed in as %q; want alice still", got)
		}
		return form, page
	}

	t.Run("continue", func(t *testing.T) {
		e := e.with(t)
		victim := e.signedIn("alice@acme.com")
		form, page := ask(t, victim, "/from-mallory")
		// The same response again: used already.
		resp := victim.postFrom(evilOrigin, form.Action, form.Values)
		if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "This sign-in was already used.") {
			t.Errorf("the held response posted again = %d:\n%s", resp.StatusCode, body)
		}
		// Another site cannot answer the question.
		resp = formPost(victim, e.gate+formAction(t, page, "switch-form"), url.Values{"csrf": {inputValue(t, page, "csrf")}, "switch": {"continue"}},
			map[string]string{"Origin": evilOrigin})
		readBody(t, resp)
		if resp.StatusCode != http.StatusForbidden || e.whoIs(victim) != "alice@acme.com" {
			t.Fatalf("continue from another site = %d, signed in as %q; want 403 and alice", resp.StatusCode, e.whoIs(victim))
		}
		// The person's own click.
		resp = victim.postFrom(e.gate, e.gate+formAction(t, page, "switch-form"), url.Values{"csrf": {inputValue(t, page, "csrf")}, "switch": {"continue"}})
		readBody(t, resp)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/from-mallory" {
			t.Fatalf("continue = %d to %q; want 303 to the relay path", resp.StatusCode, resp.Header.Get("Location"))
		}
		if got := e.whoIs(victim); got != malloryEmail {
			t.Fatalf("after continue the browser is %q; want %s", got, malloryEmail)
		}
	})

	t.Run("stay", func(t *testing.T) {
		e := e.with(t)
		victim := e.signedIn("alice@acme.com")
		_, page := ask(t, victim, "/")
		resp := victim.postFrom(e.gate, e.gate+formAction(t, page, "switch-form"), url.Values{"csrf": {inputValue(t, page, "csrf")}, "switch": {"stay"}})
		readBody(t, resp)
		if resp.StatusCode != http.StatusSeeOther || e.whoIs(victim) != "alice@acme.com" {
			t.Fatalf("stay = %d, signed in as %q; want alice", resp.StatusCode, e.whoIs(victim))
		}
		// Nothing is left to continue with.
		page = readBody(t, victim.navigate(e.gate+"/sso/password"))
		resp = victim.postFrom(e.gate, e.gate+"/sso/acs", url.Values{"csrf": {inputValue(t, page, "csrf")}, "switch": {"continue"}})
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusBadRequest || e.whoIs(victim) != "alice@acme.com" {
			t.Fatalf("continue after stay = %d, signed in as %q; want 400 and alice:\n%s", resp.StatusCode, e.whoIs(victim), body)
		}
	})

	t.Run("the same person", func(t *testing.T) {
		e := e.with(t)
		b := e.signedIn("alice@acme.com")
		form := e.idpForm("alice@acme.com", "/again")
		resp := b.postFrom(e.idp.url, form.Action, form.Values)
		readBody(t, resp)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/again" || e.whoIs(b) != "alice@acme.com" {
			t.Fatalf("alice's own response in her browser = %d to %q; want 303 to /again as alice", resp.StatusCode, resp.Header.Get("Location"))
		}
	})

	// Browsers withhold the SameSite=Lax session cookie from the IdP's
	// cross-site POST: the gate takes it up on a GET of the ACS.
	t.Run("a cross-site post without the session cookie", func(t *testing.T) {
		e := e.with(t)
		victim := e.signedIn("alice@acme.com")
		form := e.idpForm(malloryEmail, "/x")
		post := func(b *browser) *http.Response {
			// What a browser sends: no Lax cookie, Sec-Fetch-Site.
			bare := &browser{t: t, c: &http.Client{CheckRedirect: b.c.CheckRedirect}}
			resp := formPost(bare, form.Action, form.Values, map[string]string{"Origin": e.idp.url, "Sec-Fetch-Site": "cross-site"})
			readBody(t, resp)
			u, _ := url.Parse(e.gate)
			b.c.Jar.SetCookies(u, resp.Cookies())
			return resp
		}
		resp := post(victim)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/sso/acs" {
			t.Fatalf("cross-site post = %d to %q; want 303 to /sso/acs", resp.StatusCode, resp.Header.Get("Location"))
		}
		resp = victim.navigate(e.gate + "/sso/acs")
		page := readBody(t, resp)
		if resp.StatusCode != http.StatusOK || !strings.Contains(page, "Continue as "+malloryEmail) || e.whoIs(victim) != "alice@acme.com" {
			t.Fatalf("GET /sso/acs = %d as %q; want the question, alice still:\n%s", resp.StatusCode, e.whoIs(victim), page)
		}
		resp = victim.postFrom(e.gate, e.gate+formAction(t, page, "switch-form"), url.Values{"csrf": {inputValue(t, page, "csrf")}, "switch": {"continue"}})
		readBody(t, resp)
		if resp.StatusCode != http.StatusSeeOther || e.whoIs(victim) != malloryEmail {
			t.Fatalf("continue = %d as %q; want mallory", resp.StatusCode, e.whoIs(victim))
		}

		// A browser without a session signs in, one hop later.
		fresh := newBrowser(t)
		form = e.idpForm("alice@acme.com", "/y")
		resp = post(fresh)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("cross-site post, no session = %d", resp.StatusCode)
		}
		resp = fresh.navigate(e.gate + "/sso/acs")
		readBody(t, resp)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/y" || e.whoIs(fresh) != "alice@acme.com" {
			t.Fatalf("GET /sso/acs, no session = %d to %q as %q; want 303 to /y as alice", resp.StatusCode, resp.Header.Get("Location"), e.whoIs(fresh))
		}
		// Done once: the held sign-in is gone.
		resp = fresh.navigate(e.gate + "/sso/acs")
		readBody(t, resp)
		if resp.StatusCode == http.StatusSeeOther {
			t.Errorf("GET /sso/acs again = %d; the held sign-in was used twice", resp.StatusCode)
		}
		// A held cookie the gate did not make.
		forged := newBrowser(t)
		u, _ := url.Parse(e.gate)
		forged.c.Jar.SetCookies(u, []*http.Cookie{{Name: "ssogate_held", Value: "forged", Path: "/sso"}})
		resp = forged.navigate(e.gate + "/sso/acs")
		if body := readBody(t, resp); resp.StatusCode != http.StatusBadRequest || e.whoIs(forged) != "" {
			t.Errorf("a forged held cookie = %d:\n%s", resp.StatusCode, body)
		}
	})
}

// TestCSRFCookieIsTheGates (issue 13, part 9): the gate never adopts a
// CSRF cookie a client chose, a form needs this site's Origin or Referer,
// and the cookie is new after a sign-in.
func TestCSRFCookieIsTheGates(t *testing.T) {
	e := startCSRFEnv(t)
	u, _ := url.Parse(e.gate + "/sso/")
	chosen := strings.Repeat("A", 43) // the shape of the gate's seeds
	withChosen := func(t *testing.T) *browser {
		b := newBrowser(t)
		b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "ssogate_csrf", Value: chosen, Path: "/sso"}})
		return b
	}
	signIn := func(b *browser, token string, hdr map[string]string) *http.Response {
		return formPost(b, e.gate+"/sso/password", url.Values{"csrf": {token}, "rd": {"/home"}, "email": {malloryEmail}, "password": {malloryPassword}}, hdr)
	}

	t.Run("a chosen cookie is not adopted", func(t *testing.T) {
		e := e.with(t)
		// Mallory, with the cookie she will toss into alice's browser,
		// gets the form's token for it.
		mallory := withChosen(t)
		page := readBody(t, mallory.navigate(e.gate+"/sso/password"))
		token := inputValue(t, page, "csrf")
		if got := e.csrfCookieOf(mallory); got == chosen || got == "" {
			t.Errorf("the gate kept the chosen CSRF cookie %q", got)
		}
		// Alice's browser, holding the tossed cookie, posts mallory's sign-in.
		alice := withChosen(t)
		resp := signIn(alice, token, map[string]string{"Origin": e.gate})
		body := readBody(t, resp)
		if resp.StatusCode != http.StatusForbidden || e.whoIs(alice) != "" {
			t.Fatalf("a sign-in with the chosen cookie and its token = %d, signed in as %q; want 403, nobody:\n%s", resp.StatusCode, e.whoIs(alice), body)
		}
	})

	t.Run("Origin or Referer", func(t *testing.T) {
		e := e.with(t)
		for _, tc := range []struct {
			name string
			hdr  map[string]string
			want int
		}{
			{"neither", nil, http.StatusForbidden},
			{"another site's Referer", map[string]string{"Referer": evilOrigin + "/sso/password"}, http.StatusForbidden},
			{"Origin null", map[string]string{"Origin": "null"}, http.StatusForbidden},
			{"this site's Referer", map[string]string{"Referer": e.gate + "/sso/password?rd=/home"}, http.StatusSeeOther},
			{"this site's Origin", map[string]string{"Origin": e.gate}, http.StatusSeeOther},
		} {
			b := newBrowser(t)
			page := readBody(t, b.navigate(e.gate+"/sso/password"))
			resp := signIn(b, inputValue(t, page, "csrf"), tc.hdr)
			body := readBody(t, resp)
			if resp.StatusCode != tc.want {
				t.Errorf("%s: password sign-in = %d, want %d:\n%s", tc.name, resp.StatusCode, tc.want, body)
			}
			if tc.want == http.StatusForbidden && e.whoIs(b) != "" {
				t.Errorf("%s: refused, yet signed in", tc.name)
			}
			if tc.name == "neither" && !strings.Contains(body, "neither an Origin nor a Referer") {
				t.Errorf("the refusal does not say why:\n%s", body)
			}
		}
	})

	t.Run("a new cookie at each sign-in", func(t *testing.T) {
		e := e.with(t)
		b := newBrowser(t)
		page := readBody(t, b.navigate(e.gate+"/sso/password"))
		before := e.csrfCookieOf(b)
		resp := signIn(b, inputValue(t, page, "csrf"), map[string]string{"Origin": e.gate})
		readBody(t, resp)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("password sign-in = %d", resp.StatusCode)
		}
		after := e.csrfCookieOf(b)
		if before == "" || after == "" || after == before {
			t.Fatalf("CSRF cookie %q before the password sign-in, %q after; want a new one", before, after)
		}
		// An SSO sign-in too (the same person: no question).
		form := e.idpForm(malloryEmail, "/")
		readBody(t, b.postFrom(e.idp.url, form.Action, form.Values))
		if again := e.csrfCookieOf(b); again == after || again == "" || e.whoIs(b) != malloryEmail {
			t.Fatalf("CSRF cookie %q after the SSO sign-in as %q, was %q; want a new one", again, e.whoIs(b), after)
		}
		// The new cookie's form works.
		page = readBody(t, b.navigate(e.gate+"/sso/logout"))
		resp = b.postFrom(e.gate, e.gate+"/sso/logout", url.Values{"csrf": {inputValue(t, page, "csrf")}})
		if body := readBody(t, resp); resp.StatusCode != http.StatusOK || e.whoIs(b) != "" {
			t.Fatalf("sign-out with the new cookie's token = %d:\n%s", resp.StatusCode, body)
		}
	})
}
