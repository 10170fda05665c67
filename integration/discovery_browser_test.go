//go:build unix

package integration

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/cdptest"
)

// TestBrowserDiscovery signs in through the shared gate's home-realm
// discovery in a real browser, headless Chromium, through the built
// binary: the app's page leads to the work-email form; carol@acme.com,
// typed and submitted, goes on to acme's IdP (the form's answer is a
// redirect to another origin, which the page's CSP form-action must let
// through: Chromium holds a form's redirects to it); she chooses herself
// there, the IdP posts back to acme's ACS on the shared gate, and the app
// gets her identity. A new visitor whose domain has no SSO gets the
// password form. Screenshots (discovery.png, discovery-password.png) go
// to $SSOGATE_SCREENSHOTS when it is set.
func TestBrowserDiscovery(t *testing.T) {
	path := cdptest.Need(t)
	began := time.Now()
	shots := os.Getenv("SSOGATE_SCREENSHOTS")
	if shots != "" {
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	e := startTenants(t)
	acme := e.idps["acme"]
	const carol, nobody = "carol@acme.com", "nobody@example.org"
	// The gate is ready for carol (discovery without a browser); what
	// follows is what a browser adds.
	e.waitFor("discovery sends "+carol+" to acme's IdP", func() bool {
		resp := e.discover(newBrowser(t), carol)
		readBody(t, resp)
		return resp.StatusCode == http.StatusFound && strings.HasPrefix(follow(t, resp), acme.url+"/sso?")
	})

	c := cdptest.Start(t, path, 1000, 820)
	// The tab's documents, requests and redirects, in order; and what
	// the browser logs (a CSP violation says which directive held what).
	var mu sync.Mutex
	var docs, logs []string
	c.On("Network.requestWillBeSent", func(p json.RawMessage) {
		var ev struct {
			Type    string
			Request struct{ Method, URL string }
		}
		if json.Unmarshal(p, &ev) == nil && ev.Type == "Document" {
			mu.Lock()
			docs = append(docs, ev.Request.Method+" "+ev.Request.URL)
			mu.Unlock()
		}
	})
	c.On("Log.entryAdded", func(p json.RawMessage) {
		var ev struct {
			Entry struct{ Level, Source, Text, URL string }
		}
		if json.Unmarshal(p, &ev) == nil {
			line := ev.Entry.Level + " " + ev.Entry.Source + ": " + ev.Entry.Text
			if ev.Entry.URL != "" {
				line += " (" + ev.Entry.URL + ")"
			}
			mu.Lock()
			logs = append(logs, line)
			mu.Unlock()
		}
	})
	c.Call("Network.enable", nil)
	c.Call("Log.enable", nil)
	t.Cleanup(func() {
		if t.Failed() {
			mu.Lock()
			defer mu.Unlock()
			t.Logf("the tab's documents:\n%s\nChromium's log:\n%s", strings.Join(docs, "\n"), strings.Join(logs, "\n"))
		}
	})
	shot := func(name string) {
		t.Helper()
		if shots != "" {
			c.Screenshot(filepath.Join(shots, name))
		}
	}
	discoveryPage := `location.pathname === "/sso/login" && document.getElementById("discovery-form")`
	submit := `document.querySelector("#discovery-form button[type=submit]").click()`
	t.Logf("the gates, the IdPs and Chromium were up %s after the start", time.Since(began).Round(time.Millisecond))

	// carol opens the app: the work-email form, which returns her to /reports.
	c.Open(e.shared+"/reports", "the discovery page", discoveryPage)
	if rd := c.EvalString(`document.querySelector("#discovery-form input[name=rd]").value`); rd != "/reports" {
		t.Errorf("the discovery form returns to %q, want /reports", rd)
	}
	c.Type("email", carol)
	shot("discovery.png")
	c.Act(submit)
	// On to acme's IdP, which asks who to be.
	c.WaitPage("acme's IdP", `location.origin === `+cdptest.JS(acme.url)+` && document.querySelector('button[value=`+cdptest.JS(carol)+`]')`)
	if h1 := c.EvalString(`document.querySelector("h1").textContent`); h1 != "ssogate test IdP" {
		t.Errorf("acme's IdP shows %q", h1)
	}
	c.Act(`document.querySelector('button[value=` + cdptest.JS(carol) + `]').click()`)
	// The IdP posts back to the shared gate; the app gets carol.
	c.WaitPage("the app's /reports", `location.href === `+cdptest.JS(e.shared+"/reports")+` && document.body.innerText.includes("X-Forwarded-User")`)
	page := c.EvalString(`document.body.innerText`)
	var seen map[string]string
	if err := json.Unmarshal([]byte(strings.TrimSpace(page)), &seen); err != nil {
		t.Fatalf("the app's page is not its JSON answer (%v):\n%s", err, page)
	}
	if seen["X-Forwarded-Org"] != "acme" || seen["X-Forwarded-User"] != carol || seen["path"] != "/reports" {
		t.Errorf("the app behind the shared gate saw %v; want carol of acme on /reports", seen)
	}
	// The way there: each hop a browser's, in order.
	mu.Lock()
	got := append([]string(nil), docs...)
	mu.Unlock()
	want := []string{
		"GET " + e.shared + "/reports",
		"GET " + e.shared + "/sso/login?",
		"POST " + e.shared + "/sso/login",
		"GET " + acme.url + "/sso?",
		"POST " + acme.url + "/login",
		"GET " + acme.url + "/sso?",
		"POST " + e.shared + "/sso/o/acme/acs",
		"GET " + e.shared + "/reports",
	}
	if !hopsInOrder(got, want) {
		t.Errorf("the tab's documents:\n%s\nwant, in order, ones starting:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	short := make([]string, len(got))
	for i, g := range got {
		if before, _, ok := strings.Cut(g, "?"); ok {
			g = before + "?…"
		}
		short[i] = g
	}
	t.Logf("the way to the app:\n\t%s", strings.Join(short, "\n\t"))

	// A new visitor whose domain has no SSO: the password form, with
	// the email kept, returning to /reports.
	c.Call("Network.clearBrowserCookies", nil)
	c.Open(e.shared+"/reports", "the discovery page for a new visitor", discoveryPage)
	c.Type("email", nobody)
	c.Act(submit)
	c.WaitPage("the password form", `document.getElementById("password-form")`)
	if where, status := c.EvalString(`location.href`), c.Status(); where != e.shared+"/sso/login" || status != http.StatusOK {
		t.Errorf("the password form came at %s with %d; want the discovery form's answer, 200", where, status)
	}
	if got := c.EvalString(`document.querySelector("#password-form input[name=email]").value`); got != nobody {
		t.Errorf("the password form's email is %q, want %q", got, nobody)
	}
	if got := c.EvalString(`document.querySelector("#password-form input[name=rd]").value`); got != "/reports" {
		t.Errorf("the password form returns to %q, want /reports", got)
	}
	if c.EvalBool(`!!document.getElementById("discovery-form") || !!document.getElementById("sso")`) {
		t.Error("the password form of a domain without SSO offers SSO or discovery again")
	}
	shot("discovery-password.png")
	t.Logf("the browser test took %s", time.Since(began).Round(time.Millisecond))
}

// hopsInOrder reports whether want's prefixes match entries of got, in
// order (other entries may come between).
func hopsInOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && strings.HasPrefix(g, want[i]) {
			i++
		}
	}
	return i == len(want)
}
