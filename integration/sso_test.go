package integration

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSPInitiatedLogin(t *testing.T) {
	e := startEnv(t, "")
	b := newBrowser(t)

	resp := e.spLogin(b, "/reports?x=1", "alice@acme.com")
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ACS = %d, want 303", resp.StatusCode)
	}
	if got := follow(t, resp); got != e.gate+"/reports?x=1" {
		t.Fatalf("ACS redirected to %s, want the page the login started from", got)
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "ssogate_session" {
			session = c
		}
	}
	if session == nil {
		t.Fatal("ACS set no ssogate_session cookie")
	}
	if !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" || session.Secure {
		t.Errorf("session cookie = %+v; want HttpOnly, SameSite=Lax, Path=/, not Secure on http", session)
	}
	if len(session.Value) > 200 {
		t.Errorf("session cookie is %d bytes; it should only name the session", len(session.Value))
	}

	resp = b.do(http.MethodGet, e.gate+"/reports?x=1", nil, map[string]string{
		"X-Forwarded-User": "ceo@acme.com", "X-Forwarded-Role": "owner", "X_Forwarded_User": "ceo@acme.com",
	})
	var got map[string]string
	decode(t, resp, &got)
	want := map[string]string{
		"path":               "/reports",
		"X-Forwarded-User":   "alice@acme.com",
		"X-Forwarded-Email":  "alice@acme.com",
		"X-Forwarded-Name":   "Alice Archer",
		"X-Forwarded-Groups": "",
		"X-Forwarded-Role":   "member",
		"X-Forwarded-Org":    "acme",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("upstream saw (-want +got):\n%s", diff)
	}
	// The app's own cookies reach it; the gate's session cookie does not.
	gateURL, _ := url.Parse(e.gate)
	b.c.Jar.SetCookies(gateURL, []*http.Cookie{{Name: "app_theme", Value: "dark", Path: "/"}})
	readBody(t, b.do(http.MethodGet, e.gate+"/reports", nil, nil))
	e.upstream.mu.Lock()
	cookies := e.upstream.last.Values("Cookie")
	e.upstream.mu.Unlock()
	if len(cookies) != 1 || !strings.Contains(cookies[0], "app_theme=dark") || strings.Contains(cookies[0], "ssogate_session") {
		t.Errorf("upstream got Cookie %q; want the app's cookie without ssogate_session", cookies)
	}

	code, info := b.getJSON(e.gate+"/sso/userinfo", nil)
	if code != http.StatusOK || info["email"] != "alice@acme.com" || info["role"] != "member" || info["org"] != "acme" || info["name"] != "Alice Archer" {
		t.Errorf("userinfo = %d %v", code, info)
	}
	resp = b.do(http.MethodGet, e.gate+"/sso/auth", nil, nil)
	readBody(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Forwarded-Email") != "alice@acme.com" {
		t.Errorf("auth = %d %v", resp.StatusCode, resp.Header)
	}

	// Logout ends the session for good.
	resp = b.signOut(e.gate, "/sso/logout")
	readBody(t, resp)
	stale := &http.Cookie{Name: "ssogate_session", Value: session.Value}
	req, _ := http.NewRequest(http.MethodGet, e.gate+"/reports", nil)
	req.AddCookie(stale)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	readBody(t, resp)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("request with a logged-out cookie = %d, want 401", resp.StatusCode)
	}
}

func TestIdPInitiatedLogin(t *testing.T) {
	e := startEnv(t, "")
	b := newBrowser(t)
	form := e.idpForm(b, "bob@acme.com", "/dashboards/7")
	resp := b.post(form.Action, form.Values)
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || follow(t, resp) != e.gate+"/dashboards/7" {
		t.Fatalf("IdP-initiated ACS = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = b.navigate(e.gate + "/dashboards/7")
	var got map[string]string
	decode(t, resp, &got)
	if got["X-Forwarded-User"] != "bob@acme.com" || got["X-Forwarded-Name"] != "Bob Baker" {
		t.Errorf("upstream saw %v", got)
	}
}

func TestIdPInitiatedRefusedWhenOff(t *testing.T) {
	e := startEnv(t, "allow_idp_initiated false")
	b := newBrowser(t)
	form := e.idpForm(b, "bob@acme.com", "/")
	resp := b.post(form.Action, form.Values)
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "IdP-initiated") {
		t.Fatalf("unsolicited response with allow_idp_initiated false = %d: %s", resp.StatusCode, body)
	}
	assertNoSession(t, e, b)
}

func TestUnauthenticatedRequests(t *testing.T) {
	e := startEnv(t, "")
	b := newBrowser(t)
	code, body := b.getJSON(e.gate+"/api/data", map[string]string{"Accept": "application/json", "X-Forwarded-User": "alice@acme.com"})
	if code != http.StatusUnauthorized || body["error"] == "" || body["login_url"] != "/sso/login?rd=%2Fapi%2Fdata" {
		t.Errorf("API request without session = %d %v", code, body)
	}
	resp := b.navigate(e.gate + "/page")
	readBody(t, resp)
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/sso/login?rd=%2Fpage" {
		t.Errorf("navigation without session = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if n := e.upstream.count(); n != 0 {
		t.Errorf("upstream got %d requests without a session", n)
	}
}

func TestRequireSSORedirectsToIdP(t *testing.T) {
	e := startEnv(t, "require_sso")
	b := newBrowser(t)
	resp := b.navigate(e.gate + "/page")
	readBody(t, resp)
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), e.idpURL+"/sso?SAMLRequest=") {
		t.Fatalf("navigation under require_sso = %d to %q; want the IdP", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp = e.spLogin(newBrowser(t), "/page", "alice@acme.com")
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("ACS = %d", resp.StatusCode)
	}
}

func TestSignInRules(t *testing.T) {
	e := startEnv(t, "")
	b := newBrowser(t)
	// An IdP cannot sign in anyone outside the org's domains.
	resp := e.spLogin(b, "/", "mallory@evil.test")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "evil.test") {
		t.Fatalf("sign-in from an unclaimed domain = %d: %s", resp.StatusCode, body)
	}
	assertNoSession(t, e, b)
}

func TestMetadata(t *testing.T) {
	e := startEnv(t, "requestable_acs_url https://eu.example.com/sso/acs")
	resp := newBrowser(t).do(http.MethodGet, e.gate+"/sso/metadata", nil, nil)
	body := readBody(t, resp)
	for _, want := range []string{
		`entityID="` + e.gate + `/sso/metadata"`,
		`Location="` + e.gate + `/sso/acs" index="0"`,
		`Location="https://eu.example.com/sso/acs" index="1"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metadata lacks %s:\n%s", want, body)
		}
	}
}

// assertNoSession checks that the browser holds no session and the gate
// still answers.
func assertNoSession(t *testing.T, e *env, b *browser) {
	t.Helper()
	code, _ := b.getJSON(e.gate+"/sso/userinfo", nil)
	if code != http.StatusUnauthorized {
		t.Errorf("userinfo after a refused sign-in = %d, want 401", code)
	}
}

func decode(t *testing.T, resp *http.Response, v any) {
	t.Helper()
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s = %d: %s", resp.Request.URL, resp.StatusCode, body)
	}
	if err := jsonUnmarshal(body, v); err != nil {
		t.Fatalf("decoding %q: %v", body, err)
	}
}
