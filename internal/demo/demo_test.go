package demo_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	_ "github.com/caddyserver/caddy/v2/modules/standard"
	"golang.org/x/net/html"

	_ "github.com/ssogate/ssogate/caddymodule"
	"github.com/ssogate/ssogate/internal/demo"
)

// The demo people the tests sign in as.
var (
	member      = demo.People[0]
	owner       = demo.People[1]
	deactivated = demo.People[2]
)

func init() {
	if member.Role != "member" || !member.Active || owner.Role != "owner" || deactivated.Active {
		panic("demo.People changed order; update the tests")
	}
}

// startDemo runs the demo until the test ends, and checks that it stops
// cleanly then.
func startDemo(t *testing.T, opts demo.Options) (*demo.Running, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	run, err := demo.Run(ctx, opts)
	if err != nil {
		cancel()
		t.Fatalf("demo.Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-run.Done():
		case <-time.After(15 * time.Second):
			t.Error("the demo did not stop within 15s")
		}
	})
	return run, cancel
}

// TestDemo checks the ready-made setup (Options.Ready): people sign in
// through the IdP at once.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	// The default gate port is taken: the demo must pick another and say so.
	if l, err := net.Listen("tcp", "127.0.0.1:8080"); err == nil {
		t.Cleanup(func() { l.Close() })
	}
	dir := t.TempDir()
	run, cancel := startDemo(t, demo.Options{Dir: dir, Ready: true})
	t.Logf("the demo started in %s", run.StartedIn)
	if run.StartedIn > 10*time.Second {
		t.Errorf("the demo took %s to start, want well under 10s", run.StartedIn)
	}
	if run.GatePort == 8080 {
		t.Fatal("the gate uses port 8080, which the test holds")
	}
	if note := strings.Join(run.PortNotes, "\n"); !strings.Contains(note, "port 8080 was taken, so the gate uses "+strconv.Itoa(run.GatePort)) {
		t.Errorf("PortNotes = %q, want a note on port 8080", run.PortNotes)
	}
	if run.Reused || run.Dir != dir {
		t.Errorf("Dir = %q, Reused = %v; want %q, false", run.Dir, run.Reused, dir)
	}
	var summary strings.Builder
	if err := run.WriteSummary(&summary); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{run.GateURL + "/", run.IdPURL + "/", run.SCIMURL + "/scim/v2",
		member.Email, owner.Email, deactivated.Email, run.OwnerPassword, run.SCIMToken,
		"curl -s -H 'Authorization: Bearer " + run.SCIMToken + "' " + run.SCIMURL + "/scim/v2/Users",
		dir, "port 8080 was taken", "Ctrl-C"} {
		if want == "" || !strings.Contains(summary.String(), want) {
			t.Errorf("the summary lacks %q:\n%s", want, summary.String())
		}
	}

	t.Run("member signs in", func(t *testing.T) {
		b := newBrowser(t)
		page := b.spLogin(run.GateURL, member.Email)
		if page.status != http.StatusOK || page.url != run.GateURL+"/" {
			t.Fatalf("after sign-in: %d at %s, want 200 at the app", page.status, page.url)
		}
		for _, want := range []string{`<strong id="email">` + member.Email + `</strong>`,
			`data-header="X-Forwarded-Groups">Analysts,Marketing<`, `data-header="X-Forwarded-Role">member<`,
			`data-header="X-Forwarded-Name">` + member.Name() + `<`, `data-header="X-Forwarded-Org">demo<`,
			`href="/sso/logout"`} {
			if !strings.Contains(page.body, want) {
				t.Errorf("the app page lacks %q:\n%s", want, page.body)
			}
		}
		// The app's link leads to the gate's sign-out page; its button signs out.
		confirm := b.get(run.GateURL + "/sso/logout")
		signout := findForm(t, confirm.body, "logout-form")
		out := b.post(resolve(t, confirm.url, signout.action), signout.values)
		if out.status != http.StatusOK || !strings.Contains(out.body, "You are signed out") {
			t.Errorf("sign-out: %d %s", out.status, out.body)
		}
		if again := b.get(run.GateURL + "/"); !strings.Contains(again.url, "/sso/login") {
			t.Errorf("after sign-out the app is at %s, want the login page", again.url)
		}
	})

	t.Run("deactivated member is refused", func(t *testing.T) {
		b := newBrowser(t)
		page := b.spLogin(run.GateURL, deactivated.Email)
		if page.status != http.StatusForbidden || !strings.Contains(page.body, "Your account is deactivated in this organization.") {
			t.Fatalf("deactivated sign-in: %d at %s:\n%s", page.status, page.url, page.body)
		}
		if me := b.get(run.GateURL + "/sso/userinfo"); me.status != http.StatusUnauthorized {
			t.Errorf("/sso/userinfo after a refused sign-in = %d, want 401", me.status)
		}
	})

	t.Run("owner signs in with the printed password", func(t *testing.T) {
		b := newBrowser(t)
		login := b.get(run.GateURL + "/sso/login")
		f := findForm(t, login.body, "password-form")
		f.values.Set("email", owner.Email)
		f.values.Set("password", run.OwnerPassword)
		page := b.post(resolve(t, login.url, f.action), f.values)
		if page.status != http.StatusOK || !strings.Contains(page.body, `<strong id="email">`+owner.Email+`</strong>`) {
			t.Fatalf("password sign-in: %d at %s:\n%s", page.status, page.url, page.body)
		}
	})

	t.Run("IdP-initiated sign-in from the IdP's page", func(t *testing.T) {
		b := newBrowser(t)
		home := b.get(run.IdPURL + "/")
		tile := findLink(t, home.body, member.Email)
		form := b.get(resolve(t, home.url, tile))
		f := findForm(t, form.body, "")
		page := b.post(f.action, f.values)
		if page.status != http.StatusOK || !strings.Contains(page.body, `<strong id="email">`+member.Email+`</strong>`) {
			t.Fatalf("IdP-initiated sign-in: %d at %s:\n%s", page.status, page.url, page.body)
		}
	})

	t.Run("someone else, added at the IdP", func(t *testing.T) {
		for _, tc := range []struct {
			email  string
			status int
			want   string
		}{
			{"New.Person@" + demo.Domain, http.StatusOK, `<strong id="email">new.person@` + demo.Domain + `</strong>`},
			{"someone@elsewhere.example", http.StatusForbidden, "The email domain elsewhere.example is not claimed by this organization."},
		} {
			b := newBrowser(t)
			login := b.get(run.GateURL + "/")
			chooser := b.get(resolve(t, login.url, findLink(t, login.body, "Continue with SSO")))
			f := findForm(t, chooser.body, "someone-else")
			f.values.Set("email", tc.email)
			f.values.Set("given", "New")
			f.values.Set("family", "Person")
			autopost := b.post(resolve(t, chooser.url, f.action), f.values)
			acs := findForm(t, autopost.body, "")
			page := b.post(acs.action, acs.values)
			if page.status != tc.status || !strings.Contains(page.body, tc.want) {
				t.Errorf("signing in as %s: %d at %s, want %d with %q:\n%s", tc.email, page.status, page.url, tc.status, tc.want, page.body)
			}
		}
	})

	t.Run("the SCIM token works", func(t *testing.T) {
		status, body := scimGet(t, run.SCIMURL+"/scim/v2/Users", run.SCIMToken)
		if status != http.StatusOK || !strings.Contains(body, member.Email) || !strings.Contains(body, deactivated.Email) {
			t.Fatalf("GET /scim/v2/Users = %d: %s", status, body)
		}
		if status, body := scimGet(t, run.SCIMURL+"/scim/v2/Groups", run.SCIMToken); status != http.StatusOK ||
			!strings.Contains(body, "Analysts") || !strings.Contains(body, "Marketing") {
			t.Errorf("GET /scim/v2/Groups = %d: %s", status, body)
		}
	})

	// Stopping frees every port.
	cancel()
	select {
	case <-run.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the demo did not stop within 10s of the cancel")
	}
	if err := run.Err(); err != nil {
		t.Errorf("stopping: %v", err)
	}
	for _, port := range []int{run.GatePort, run.SCIMPort, run.IdPPort} {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Errorf("port %d is still in use after the stop: %v", port, err)
			continue
		}
		l.Close()
	}
	if _, err := http.Get(run.GateURL + "/"); err == nil {
		t.Error("the gate still answers after the stop")
	}

	// A second run on the same folder keeps the data and renews the
	// secrets.
	again, _ := startDemo(t, demo.Options{Dir: dir, Ready: true})
	if !again.Reused {
		t.Error("the second run on the folder did not report reusing it")
	}
	if again.SCIMToken == run.SCIMToken || again.OwnerPassword == run.OwnerPassword || again.OwnerPassword == "" {
		t.Error("the second run did not renew the token and the password")
	}
	if !again.IdP().Cert.Equal(run.IdP().Cert) {
		t.Error("the second run's IdP signs with another certificate")
	}
	if status, _ := scimGet(t, again.SCIMURL+"/scim/v2/Users", run.SCIMToken); status != http.StatusUnauthorized {
		t.Errorf("the first run's token = %d, want 401 (revoked)", status)
	}
	status, body := scimGet(t, again.SCIMURL+"/scim/v2/Users?filter="+url.QueryEscape(`userName eq "`+member.Email+`"`), again.SCIMToken)
	if status != http.StatusOK || !strings.Contains(body, `"totalResults":1`) {
		t.Errorf("the member after a rerun: %d %s", status, body)
	}
	page := newBrowser(t).spLogin(again.GateURL, member.Email)
	if page.status != http.StatusOK || !strings.Contains(page.body, member.Email) {
		t.Errorf("sign-in on the second run: %d %s", page.status, page.body)
	}
}

// TestRunTwice checks that a second demo in one process is refused:
// Caddy runs one configuration per process.
func TestRunTwice(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	startDemo(t, demo.Options{Dir: t.TempDir()})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := demo.Run(ctx, demo.Options{Dir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("a second Run = %v, want an error", err)
	}
}

// TestExplicitPortTaken: a port asked for must be free.
func TestExplicitPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = demo.Run(context.Background(), demo.Options{Dir: t.TempDir(), IdPPort: port})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("port %d for the test IdP", port)) {
		t.Errorf("Run with a taken IdP port = %v, want an error naming it", err)
	}
}

func scimGet(t *testing.T, rawURL, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, rawURL, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// browser is a scripted browser: a cookie jar, redirects followed, HTML
// accepted.
type browser struct {
	t *testing.T
	c *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, c: &http.Client{Jar: jar, Timeout: 20 * time.Second}}
}

// page is where a request ended: its URL after redirects, status and body.
type page struct {
	url    string
	status int
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return page{url: resp.Request.URL.String(), status: resp.StatusCode, body: string(body)}
}

func (b *browser) get(rawURL string) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, rawURL, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *browser) post(rawURL string, v url.Values) page {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, rawURL, strings.NewReader(v.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if u, err := url.Parse(rawURL); err == nil {
		// As a browser does on a form POST; the gate checks it.
		req.Header.Set("Origin", u.Scheme+"://"+u.Host)
	}
	return b.do(req)
}

// spLogin walks an SP-initiated sign-in as a person: the app, the login
// page, Continue with SSO, the IdP's chooser, the auto-posted form to the
// ACS; it returns where that ended.
func (b *browser) spLogin(gateURL, email string) page {
	b.t.Helper()
	login := b.get(gateURL + "/")
	if login.status != http.StatusOK || !strings.HasPrefix(login.url, gateURL+"/sso/login?") {
		b.t.Fatalf("the app sent a new browser to %s (%d), want the login page", login.url, login.status)
	}
	chooser := b.get(resolve(b.t, login.url, findLink(b.t, login.body, "Continue with SSO")))
	if chooser.status != http.StatusOK || !strings.Contains(chooser.url, "/sso?SAMLRequest=") {
		b.t.Fatalf("Continue with SSO led to %s (%d), want the IdP", chooser.url, chooser.status)
	}
	f := findForm(b.t, chooser.body, "choose")
	f.values.Set("email", email)
	autopost := b.post(resolve(b.t, chooser.url, f.action), f.values)
	if autopost.status != http.StatusOK {
		b.t.Fatalf("choosing %s at the IdP: %d at %s:\n%s", email, autopost.status, autopost.url, autopost.body)
	}
	acs := findForm(b.t, autopost.body, "")
	// The gate's ACS with the Caddyfile's IdP (the ready-made setup), the
	// org's with the IdP set up in the store.
	if acs.values.Get("SAMLResponse") == "" || (acs.action != gateURL+"/sso/acs" && acs.action != gateURL+"/sso/o/"+demo.Org+"/acs") {
		b.t.Fatalf("the IdP's form posts %v to %s, want a SAMLResponse to the ACS", acs.values, acs.action)
	}
	return b.post(acs.action, acs.values)
}

// form is an HTML form: its action and the values it would send (hidden
// and text inputs; buttons are left out).
type form struct {
	id, action string
	values     url.Values
}

// findForm returns the form with this id, or with an empty id the first
// form of the page.
func findForm(t *testing.T, body, id string) form {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var found *form
	walk(doc, func(n *html.Node) bool {
		if n.Data != "form" || (id != "" && attr(n, "id") != id) {
			return true
		}
		f := form{id: attr(n, "id"), action: attr(n, "action"), values: url.Values{}}
		walk(n, func(in *html.Node) bool {
			if in.Data == "input" && attr(in, "name") != "" && attr(in, "type") != "submit" {
				f.values.Set(attr(in, "name"), attr(in, "value"))
			}
			return true
		})
		found = &f
		return false
	})
	if found == nil {
		t.Fatalf("no form %q in:\n%s", id, body)
	}
	return *found
}

// findLink returns the href of the first link whose text contains text.
func findLink(t *testing.T, body, text string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	href := ""
	walk(doc, func(n *html.Node) bool {
		if n.Data == "a" && strings.Contains(textOf(n), text) {
			href = attr(n, "href")
			return false
		}
		return true
	})
	if href == "" {
		t.Fatalf("no link %q in:\n%s", text, body)
	}
	return href
}

// walk visits the element nodes under n in document order until fn
// returns false.
func walk(n *html.Node, fn func(*html.Node) bool) bool {
	if n.Type == html.ElementNode && !fn(n) {
		return false
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if !walk(c, fn) {
			return false
		}
	}
	return true
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var rec func(*html.Node)
	rec = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			rec(c)
		}
	}
	rec(n)
	return b.String()
}

func resolve(t *testing.T, base, ref string) string {
	t.Helper()
	bu, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	ru, err := url.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	return bu.ResolveReference(ru).String()
}
