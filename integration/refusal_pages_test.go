package integration

import (
	"net/http"
	"strings"
	"testing"
)

// TestRefusalPagesThroughTheBinary: each refusal says what happened and
// what to do next, and offers a new sign-in only where one can help.
func TestRefusalPagesThroughTheBinary(t *testing.T) {
	g := startObservedGate(t)

	// dora is deactivated by the IdP before her first sign-in.
	r := runSSOGate(t, g.bin, g.home, "", "token", "create", "--org", "acme", "--scope", "scim", "--db", g.db)
	if r.code != 0 {
		t.Fatalf("token create: %+v", r)
	}
	token := strings.TrimSpace(r.stdout)
	if code, body := scimCall(t, http.MethodPost, g.sidecar+"/scim/v2/Users", token, map[string]any{
		"schemas":  []string{"urn:ietf:params:scim:schemas:core:2.0:User"},
		"userName": "dora@acme.com", "name": map[string]any{"givenName": "Dora", "familyName": "Doe"},
		"emails": []any{map[string]any{"primary": true, "value": "dora@acme.com"}}, "active": false,
	}); code != http.StatusCreated {
		t.Fatalf("SCIM create dora = %d %v", code, body)
	}

	type want struct {
		status int
		parts  []string
		link   string // the link text offered; "" for none
	}
	check := func(t *testing.T, resp *http.Response, w want) {
		t.Helper()
		body := readBody(t, resp)
		if resp.StatusCode != w.status {
			t.Errorf("status = %d, want %d", resp.StatusCode, w.status)
		}
		for _, p := range w.parts {
			if !strings.Contains(body, p) {
				t.Errorf("page lacks %q:\n%s", p, body)
			}
		}
		if w.link != "" && !strings.Contains(body, `/sso/login">`+w.link+`</a>`) {
			t.Errorf("page lacks the link %q:\n%s", w.link, body)
		}
		if w.link == "" && strings.Contains(body, "<a ") {
			t.Errorf("page offers a link where signing in again cannot help:\n%s", body)
		}
	}

	t.Run("domain not claimed", func(t *testing.T) {
		resp, _ := g.signIn(t, newBrowser(t), "eve@evil.example")
		check(t, resp, want{status: http.StatusForbidden, link: "Sign in with another account", parts: []string{
			"The email domain evil.example is not claimed by this organization.",
			"Sign in with your account of this organization, or ask its administrator to claim your email domain.",
		}})
	})
	t.Run("deactivated", func(t *testing.T) {
		resp, _ := g.signIn(t, newBrowser(t), "dora@acme.com")
		check(t, resp, want{status: http.StatusForbidden, parts: []string{
			"Your account is deactivated in this organization.",
			"Ask your organization&#39;s administrator to reactivate it; signing in again will not help until they do.",
		}})
	})
	t.Run("posted again", func(t *testing.T) {
		b := newBrowser(t)
		resp, form := g.signIn(t, b, "alice@acme.com")
		readBody(t, resp)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in of alice = %d", resp.StatusCode)
		}
		check(t, b.post(form.Action, form.Values), want{status: http.StatusForbidden, link: "Start a new sign-in", parts: []string{
			"This sign-in was finished already, or it was started in another browser or tab.",
		}})
	})
	t.Run("finished in another browser", func(t *testing.T) {
		b := newBrowser(t)
		page := readBody(t, b.navigate(g.gateURL+"/sso/login?rd=/"))
		resp := b.navigate(g.gateURL + loginLink(t, page))
		readBody(t, resp)
		b.signInAtIdP(g.idp.url, "alice@acme.com")
		form := parseSAMLForm(t, readBody(t, b.navigate(follow(t, resp))))
		check(t, newBrowser(t).post(form.Action, form.Values), want{status: http.StatusForbidden, link: "Start a new sign-in", parts: []string{
			"This sign-in was finished already, or it was started in another browser or tab.",
		}})
	})
	t.Run("garbage", func(t *testing.T) {
		check(t, newBrowser(t).post(g.gateURL+"/sso/acs", map[string][]string{"SAMLResponse": {"bm90IHhtbA=="}}),
			want{status: http.StatusBadRequest, link: "Start a new sign-in", parts: []string{
				"The response is not well-formed XML.",
				"If it happens again, tell your administrator: the log names this refusal malformed_response.",
			}})
	})

	// A session ended under its holder (deactivated over SCIM): the next
	// page says so, instead of a bare login page.
	t.Run("session ended", func(t *testing.T) {
		b := newBrowser(t)
		resp, _ := g.signIn(t, b, "alice@acme.com")
		readBody(t, resp)
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-in of alice = %d", resp.StatusCode)
		}
		id := memberID(t, g.sidecar, token, "alice@acme.com")
		if code, body := scimCall(t, http.MethodPatch, g.sidecar+"/scim/v2/Users/"+id, token, setActive(false)); code != http.StatusOK {
			t.Fatalf("deactivating alice = %d %v", code, body)
		}
		var loc string
		waitUntil(t, "the gate sends alice to the login page", func() bool {
			resp := b.navigate(g.gateURL + "/reports")
			readBody(t, resp)
			loc = resp.Header.Get("Location")
			return resp.StatusCode == http.StatusFound
		})
		if !strings.Contains(loc, "ended=1") {
			t.Fatalf("redirect to %q, want the login page told the session ended", loc)
		}
		page := readBody(t, b.navigate(g.gateURL+loc))
		if !strings.Contains(page, "Your session has ended") {
			t.Errorf("login page after the session ended:\n%s", page)
		}
	})
}
