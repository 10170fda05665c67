//go:build unix

package demo_test

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/cdptest"
	"github.com/ssogate/ssogate/internal/demo"
)

// TestBrowser signs in through the ready-made demo (Options.Ready) with a
// real browser, headless Chromium: the app, the login page, Continue with SSO, the IdP's chooser,
// the auto-posted SAML response, the app page with the member's identity,
// sign-out; then a deactivated member is refused with a readable page.
// Screenshots go to $SSOGATE_SCREENSHOTS (default: ssogate-screenshots in
// the temporary directory).
func TestBrowser(t *testing.T) {
	path := cdptest.Need(t)
	began := time.Now()
	shots := os.Getenv("SSOGATE_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(os.TempDir(), "ssogate-screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}

	run, _ := startDemo(t, demo.Options{Dir: t.TempDir(), Ready: true})
	c := cdptest.Start(t, path, 1000, 820)
	t.Logf("the demo and Chromium were up %s after the start", time.Since(began).Round(time.Millisecond))
	js := func(s string) string { return fmt.Sprintf("%q", s) }

	// A member: SP-initiated sign-in from the app.
	c.Navigate(run.GateURL + "/")
	c.WaitFor("the login page", `location.pathname === "/sso/login" && document.getElementById("sso")`)
	c.Screenshot(filepath.Join(shots, "login.png"))
	c.Do(`document.getElementById("sso").click()`)
	c.WaitFor("the IdP's chooser", `location.origin === `+js(run.IdPURL)+` && document.querySelector('button[value=`+js(member.Email)+`]')`)
	c.Screenshot(filepath.Join(shots, "idp-chooser.png"))
	c.Do(`document.querySelector('button[value=` + js(member.Email) + `]').click()`)
	c.WaitFor("the app page showing the member",
		`location.href === `+js(run.GateURL+"/")+` && document.getElementById("email").textContent === `+js(member.Email))
	var teams, role string
	if err := c.Eval(`[...document.querySelectorAll(".teams span")].map(e => e.textContent).join(",")`, &teams); err != nil {
		t.Fatal(err)
	}
	if err := c.Eval(`document.querySelector('[data-header="X-Forwarded-Role"]').textContent`, &role); err != nil {
		t.Fatal(err)
	}
	if teams != "Analysts,Marketing" || role != "member" {
		t.Errorf("the app shows teams %q and role %q, want Analysts,Marketing and member", teams, role)
	}
	c.Screenshot(filepath.Join(shots, "signed-in.png"))

	// Sign-out.
	c.Act(`document.getElementById("signout").click()`)
	c.WaitPage("the sign-out page", `location.pathname === "/sso/logout" && document.getElementById("logout-form")`)
	c.Act(`document.querySelector("#logout-form button").click()`)
	c.WaitPage("the signed-out page", `location.pathname === "/sso/logout" && document.body.innerText.includes("You are signed out")`)

	// The deactivated member: refused, with a page that says why.
	c.Navigate(run.GateURL + "/")
	c.WaitFor("the login page again", `location.pathname === "/sso/login" && document.getElementById("sso")`)
	c.Do(`document.getElementById("sso").click()`)
	c.WaitFor("the IdP's chooser again", `document.querySelector('button[value=`+js(deactivated.Email)+`]')`)
	c.Do(`document.querySelector('button[value=` + js(deactivated.Email) + `]').click()`)
	c.WaitFor("the refusal", `location.pathname === "/sso/acs" && document.querySelector("h1").textContent === "Sign-in failed"`)
	var text string
	var status int
	if err := c.Eval(`document.querySelector("main").innerText`, &text); err != nil {
		t.Fatal(err)
	}
	if err := c.Eval(`performance.getEntriesByType("navigation")[0].responseStatus`, &status); err != nil {
		t.Fatal(err)
	}
	if status != 403 || !strings.Contains(text, "Your account is deactivated in this organization.") {
		t.Errorf("the deactivated member's page: status %d, text %q", status, text)
	}
	c.Screenshot(filepath.Join(shots, "refused.png"))
	var signedIn bool
	c.Navigate(run.GateURL + "/sso/userinfo")
	c.WaitFor("userinfo", `document.body`)
	if err := c.Eval(`document.body.innerText.includes(`+js(deactivated.Email)+`)`, &signedIn); err != nil || signedIn {
		t.Errorf("the deactivated member has a session (%v)", err)
	}
	t.Logf("the browser test took %s", time.Since(began).Round(time.Millisecond))
}

// TestBrowserIdPInitiatedSwitch: in a real browser, another person's
// IdP-initiated sign-in, posted from another site (the IdP as localhost,
// the gate as 127.0.0.1), asks before it replaces the member's session.
// The browser withholds the SameSite=Lax session cookie from that
// cross-site POST; the gate finds it on the GET of the ACS that follows.
func TestBrowserIdPInitiatedSwitch(t *testing.T) {
	path := cdptest.Need(t)
	run, _ := startDemo(t, demo.Options{Dir: t.TempDir(), Ready: true})
	c := cdptest.Start(t, path, 1000, 820)
	js := cdptest.JS
	appShows := func(email string) string {
		return `location.href === ` + js(run.GateURL+"/") + ` && document.getElementById("email") && document.getElementById("email").textContent === ` + js(email)
	}
	c.Open(run.GateURL+"/", "the login page", `location.pathname === "/sso/login" && document.getElementById("sso")`)
	c.Act(`document.getElementById("sso").click()`)
	c.WaitPage("the IdP's chooser", `document.querySelector('button[value=`+js(member.Email)+`]')`)
	c.Act(`document.querySelector('button[value=` + js(member.Email) + `]').click()`)
	c.WaitPage("the app page showing the member", appShows(member.Email))

	otherSite := strings.Replace(run.IdPURL, "127.0.0.1", "localhost", 1)
	start := func() {
		q := url.Values{"sp": {run.GateURL + "/sso/metadata"}, "user": {owner.Email}, "relay": {"/"}}
		c.Open(otherSite+"/start?"+q.Encode(), "the question",
			`location.pathname === "/sso/acs" && document.getElementById("switch-form")`)
		if text := c.EvalString(`document.querySelector("main").innerText`); !strings.Contains(text, "signed in as "+member.Email) || !strings.Contains(text, "Continue as "+owner.Email) {
			t.Errorf("the question says:\n%s", text)
		}
	}
	start()
	c.Act(`document.getElementById("stay").click()`)
	c.WaitPage("the app page, still the member", appShows(member.Email))

	start()
	c.Act(`document.getElementById("continue").click()`)
	c.WaitPage("the app page showing the owner", appShows(owner.Email))
}
