package demo_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/ssogate/ssogate/internal/apitoken"
	"github.com/ssogate/ssogate/internal/demo"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
)

// TestDemoDefault checks the default demo, where the org's SSO is the
// owner's to set up: nothing is set up at the start and members cannot
// sign in through the IdP; the summary gives the owner's password and the
// IdP's three values; the IdP offers its certificate; the demo's DNS
// publishes the org's claim; the printed values, pasted through the admin
// API, set SSO up (claim, verify, test, enable) so that members sign in;
// and a rerun on the folder keeps it working.
func TestDemoDefault(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	dir := t.TempDir()
	run, cancel := startDemo(t, demo.Options{Dir: dir})
	t.Logf("the demo started in %s", run.StartedIn)
	if run.Ready {
		t.Fatal("Running.Ready is set without Options.Ready")
	}
	if run.IdPSSOURL != run.IdPURL+"/sso" || run.IdPIssuer != run.IdPURL+"/metadata" ||
		run.IdPCertificateURL != run.IdPURL+"/certificate.pem" || run.OwnerEmail != owner.Email ||
		run.OwnerLoginURL != run.GateURL+"/sso/password?rd=/sso/admin/sso" {
		t.Errorf("the values to paste: %q %q %q, owner %q at %q", run.IdPSSOURL, run.IdPIssuer, run.IdPCertificateURL, run.OwnerEmail, run.OwnerLoginURL)
	}

	var summary strings.Builder
	if err := run.WriteSummary(&summary); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Authentication URL   " + run.IdPSSOURL, "Issuer URL           " + run.IdPIssuer,
		"Public Certificate", run.IdPCertificatePEM, run.IdPCertificateURL,
		owner.Email, "Password: " + run.OwnerPassword, run.OwnerLoginURL,
		"the demo's DNS publishes the record for you", demo.ChallengeName, run.DNSAddr,
		"generate a token", run.SCIMURL + "/scim/v2", run.SCIMToken, member.Email, deactivated.Email,
		"--ready", dir, "Ctrl-C",
	} {
		if want == "" || !strings.Contains(summary.String(), want) {
			t.Errorf("the summary lacks %q:\n%s", want, summary.String())
		}
	}
	if strings.Contains(summary.String(), "Now:") {
		t.Errorf("the summary of a fresh folder reports an earlier run's setup:\n%s", summary.String())
	}

	// The Caddyfile leaves the org's IdP and domain to the store.
	cfg, err := os.ReadFile(run.Caddyfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(cfg), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && (strings.HasPrefix(f[0], "idp_") || f[0] == "domain") {
			t.Errorf("the default Caddyfile has %q", strings.TrimSpace(line))
		}
	}
	for _, want := range []string{"org demo", "base_url " + run.GateURL, "dns_resolver " + run.DNSAddr, "base_url " + run.SCIMURL} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("the Caddyfile lacks %q:\n%s", want, cfg)
		}
	}

	// At the start: no enabled connection, no verified domain.
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(dir, "ssogate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	org, err := st.OrgByName(ctx, demo.Org)
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := st.Connection(ctx, org.ID); err == nil {
		if conn.State == storage.ConnectionEnabled || conn.IDPSSOURL != "" || conn.IDPCertificates != "" || len(conn.Pinned) > 0 {
			t.Errorf("the org starts with a connection: %+v", conn)
		}
	} else if !errors.Is(err, storage.ErrNotFound) {
		t.Fatal(err)
	}
	domains, err := st.ListDomains(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range domains {
		if d.Status == storage.DomainVerified {
			t.Errorf("the org starts with %s verified", d.Name)
		}
	}
	if run.SSOState != "" || run.DomainState != "" || len(run.SetupNotes) > 0 {
		t.Errorf("SSOState %q, DomainState %q, SetupNotes %q; want none", run.SSOState, run.DomainState, run.SetupNotes)
	}

	t.Run("members cannot sign in through the IdP yet", func(t *testing.T) {
		b := newBrowser(t)
		login := b.get(run.GateURL + "/")
		if login.status != http.StatusOK || !strings.HasPrefix(login.url, run.GateURL+"/sso/login?") {
			t.Fatalf("the app sent a new browser to %s (%d), want the login page", login.url, login.status)
		}
		if strings.Contains(login.body, "Continue with SSO") {
			t.Errorf("the login page offers SSO before it is set up:\n%s", login.body)
		}
		findForm(t, login.body, "password-form")
		if p := b.get(run.GateURL + "/sso/login?start=sso"); !strings.Contains(p.body, "Single sign-on is not set up for this organization yet.") {
			t.Errorf("/sso/login?start=sso: %d %s", p.status, p.body)
		}
		// A tile on the IdP's page is refused too.
		home := b.get(run.IdPURL + "/")
		form := b.get(resolve(t, home.url, findLink(t, home.body, member.Email)))
		f := findForm(t, form.body, "")
		if page := b.post(f.action, f.values); page.status == http.StatusOK || strings.Contains(page.body, `<strong id="email">`) {
			t.Errorf("an IdP-initiated sign-in before the setup: %d at %s:\n%s", page.status, page.url, page.body)
		}
		if me := b.get(run.GateURL + "/sso/userinfo"); me.status != http.StatusUnauthorized {
			t.Errorf("/sso/userinfo = %d, want 401", me.status)
		}
	})

	t.Run("owner signs in with the printed password", func(t *testing.T) {
		b := newBrowser(t)
		login := b.get(run.OwnerLoginURL)
		f := findForm(t, login.body, "password-form")
		if f.values.Get("rd") != "/sso/admin/sso" {
			t.Errorf("the password form returns to %q, want /sso/admin/sso", f.values.Get("rd"))
		}
		f.values.Set("email", owner.Email)
		f.values.Set("password", run.OwnerPassword)
		page := b.post(resolve(t, login.url, f.action), f.values)
		if page.url != run.GateURL+"/sso/admin/sso" {
			t.Errorf("after the password the browser is at %s (%d), want the SSO settings", page.url, page.status)
		}
		me := b.get(run.GateURL + "/sso/userinfo")
		if me.status != http.StatusOK || !strings.Contains(me.body, owner.Email) || !strings.Contains(me.body, `"owner"`) {
			t.Errorf("/sso/userinfo after the password: %d %s", me.status, me.body)
		}
	})

	var certPEM string
	t.Run("the IdP offers its certificate", func(t *testing.T) {
		resp, err := http.Get(run.IdPCertificateURL)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Disposition"), "attachment;") ||
			!strings.Contains(resp.Header.Get("Content-Disposition"), `filename="`) {
			t.Fatalf("GET %s: %d, Content-Disposition %q", run.IdPCertificateURL, resp.StatusCode, resp.Header.Get("Content-Disposition"))
		}
		block, rest := pem.Decode(body)
		if block == nil || block.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
			t.Fatalf("the download is not one PEM certificate:\n%s", body)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if !cert.Equal(run.IdP().Cert) || time.Now().After(cert.NotAfter) {
			t.Errorf("the download is not the IdP's signing certificate, in date: %s until %s", cert.Subject, cert.NotAfter)
		}
		if string(body) != run.IdPCertificatePEM {
			t.Error("the download differs from the printed certificate")
		}
		if file, err := os.ReadFile(filepath.Join(dir, "idp-certificate.pem")); err != nil || string(file) != string(body) {
			t.Errorf("the folder's copy differs from the download (%v)", err)
		}
		certPEM = string(body)

		// The IdP's page shows the three values.
		home := newBrowser(t).get(run.IdPURL + "/")
		for id, want := range map[string]string{"idp-sso-url": run.IdPSSOURL, "idp-issuer": run.IdPIssuer, "idp-certificate": run.IdPCertificatePEM} {
			if got := elementText(t, home.body, id); strings.TrimSpace(got) != strings.TrimSpace(want) {
				t.Errorf("the IdP's page shows %s = %q, want %q", id, got, want)
			}
		}
		if href := findLink(t, home.body, "Download the certificate"); resolve(t, home.url, href) != run.IdPCertificateURL {
			t.Errorf("the IdP's download link is %q", href)
		}
		if !strings.Contains(home.body, "not enabled yet") {
			t.Errorf("the IdP's page does not say SSO is not set up:\n%s", home.body)
		}
	})

	// The owner's SSO setup, with the printed values, through the admin
	// API (the Access Security pages do the same).
	tok, hash, err := apitoken.New()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateToken(ctx, org.ID, "test admin", storage.ScopeAdmin, hash); err != nil {
		t.Fatal(err)
	}
	api := func(method, path string, body any) (int, map[string]any) {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = strings.NewReader(string(b))
		}
		req, _ := http.NewRequest(method, run.SCIMURL+"/api/v1"+path, rd)
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		raw, _ := io.ReadAll(resp.Body)
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("%s %s: %d, not JSON: %s", method, path, resp.StatusCode, raw)
		}
		return resp.StatusCode, out
	}

	t.Run("the demo's DNS publishes the claim", func(t *testing.T) {
		for _, network := range []string{"udp", "tcp"} {
			r := resolverAt(run.DNSAddr, network)
			if txt, err := r.LookupTXT(ctx, demo.ChallengeName); !isNotFound(err) {
				t.Errorf("%s: TXT %s before a claim = %q, %v; want NXDOMAIN", network, demo.ChallengeName, txt, err)
			}
		}
		status, claim := api(http.MethodPost, "/domains", map[string]string{"domain": demo.Domain})
		value, _ := claim["txt_value"].(string)
		if status != http.StatusCreated || value == "" || claim["txt_name"] != demo.ChallengeName || claim["status"] != storage.DomainPending {
			t.Fatalf("claiming %s: %d %v", demo.Domain, status, claim)
		}
		for _, network := range []string{"udp", "tcp"} {
			r := resolverAt(run.DNSAddr, network)
			txt, err := r.LookupTXT(ctx, demo.ChallengeName)
			if err != nil || len(txt) != 1 || txt[0] != value {
				t.Errorf("%s: TXT %s = %q, %v; want [%q]", network, demo.ChallengeName, txt, err, value)
			}
			for _, other := range []string{"_ssogate-challenge.other.example", demo.Domain, "x." + demo.ChallengeName, "example.com"} {
				if txt, err := r.LookupTXT(ctx, other); !isNotFound(err) {
					t.Errorf("%s: TXT %s = %q, %v; want NXDOMAIN", network, other, txt, err)
				}
			}
		}
		// The gate's app asks this DNS: Verify passes with nothing published by hand.
		if status, d := api(http.MethodPost, "/domains/"+demo.Domain+"/verify", nil); status != http.StatusOK || d["status"] != storage.DomainVerified {
			t.Fatalf("verifying %s: %d %v", demo.Domain, status, d)
		}
	})

	t.Run("the IdP's metadata URL is accepted too", func(t *testing.T) {
		// The test IdP is on 127.0.0.1: the demo's Caddyfile allows a
		// private metadata URL.
		status, conn := api(http.MethodPut, "/sso", map[string]any{"idp_metadata_url": run.IdPMetadataURL})
		if status != http.StatusOK || conn["idp_metadata_url"] != run.IdPMetadataURL {
			t.Errorf("PUT /api/v1/sso with the metadata URL: %d %v", status, conn)
		}
	})

	t.Run("the printed values set SSO up", func(t *testing.T) {
		if certPEM == "" {
			t.Skip("no certificate downloaded")
		}
		status, conn := api(http.MethodPut, "/sso", map[string]any{
			"idp_sso_url": run.IdPSSOURL, "idp_issuer": run.IdPIssuer, "idp_certificates": []string{certPEM},
		})
		if status != http.StatusOK || conn["state"] != "draft" {
			t.Fatalf("PUT /api/v1/sso: %d %v", status, conn)
		}
		status, test := api(http.MethodPost, "/sso/test", nil)
		testURL, _ := test["url"].(string)
		if status != http.StatusCreated || !strings.HasPrefix(testURL, run.GateURL+"/sso/o/demo/test/") {
			t.Fatalf("POST /api/v1/sso/test: %d %v", status, test)
		}
		b := newBrowser(t)
		chooser := b.get(testURL)
		f := findForm(t, chooser.body, "choose")
		f.values.Set("email", member.Email)
		autopost := b.post(resolve(t, chooser.url, f.action), f.values)
		acs := findForm(t, autopost.body, "")
		if acs.action != run.GateURL+"/sso/o/demo/acs" {
			t.Fatalf("the IdP answers the test at %q, want the org's ACS", acs.action)
		}
		result := b.post(acs.action, acs.values)
		if result.status != http.StatusOK || !strings.Contains(result.body, "Test sign-in passed") {
			t.Fatalf("the test sign-in: %d:\n%s", result.status, result.body)
		}
		if status, conn := api(http.MethodPost, "/sso/enable", nil); status != http.StatusOK || conn["state"] != "enabled" {
			t.Fatalf("POST /api/v1/sso/enable: %d %v", status, conn)
		}

		// Members sign in through the IdP now: from the app and from a tile.
		if page := newBrowser(t).spLogin(run.GateURL, member.Email); page.status != http.StatusOK ||
			!strings.Contains(page.body, `<strong id="email">`+member.Email+`</strong>`) {
			t.Fatalf("member sign-in after the setup: %d at %s:\n%s", page.status, page.url, page.body)
		}
		tb := newBrowser(t)
		home := tb.get(run.IdPURL + "/")
		if !strings.Contains(home.body, "is enabled and "+demo.Domain+" is verified") {
			t.Errorf("the IdP's page does not say SSO is set up:\n%s", home.body)
		}
		form := tb.get(resolve(t, home.url, findLink(t, home.body, member.Email)))
		tf := findForm(t, form.body, "")
		if page := tb.post(tf.action, tf.values); page.status != http.StatusOK || !strings.Contains(page.body, `<strong id="email">`+member.Email+`</strong>`) {
			t.Errorf("IdP-initiated sign-in after the setup: %d at %s:\n%s", page.status, page.url, page.body)
		}
		if page := newBrowser(t).spLogin(run.GateURL, deactivated.Email); page.status != http.StatusForbidden {
			t.Errorf("the deactivated member after the setup: %d", page.status)
		}
	})
	if t.Failed() {
		return
	}

	// A rerun on the folder keeps the setup, and the IdP its key.
	cancel()
	<-run.Done()
	again, cancel2 := startDemo(t, demo.Options{Dir: dir, IdPPort: run.IdPPort})
	if !again.Reused || again.SSOState != "enabled" || again.DomainState != "verified" || len(again.SetupNotes) > 0 {
		t.Errorf("the rerun: Reused %v, SSOState %q, DomainState %q, SetupNotes %q", again.Reused, again.SSOState, again.DomainState, again.SetupNotes)
	}
	if again.IdPCertificatePEM != run.IdPCertificatePEM {
		t.Error("the rerun's IdP has another certificate")
	}
	summary.Reset()
	if err := again.WriteSummary(&summary); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(summary.String(), "Now: SSO enabled, demo.example verified") {
		t.Errorf("the rerun's summary does not say how far the setup is:\n%s", summary.String())
	}
	if page := newBrowser(t).spLogin(again.GateURL, member.Email); page.status != http.StatusOK ||
		!strings.Contains(page.body, `<strong id="email">`+member.Email+`</strong>`) {
		t.Errorf("member sign-in on the rerun: %d at %s:\n%s", page.status, page.url, page.body)
	}

	// On another IdP port, the stored settings no longer fit: the summary says so.
	cancel2()
	<-again.Done()
	port := freePort(t)
	moved, _ := startDemo(t, demo.Options{Dir: dir, IdPPort: port})
	if len(moved.SetupNotes) != 1 || !strings.Contains(moved.SetupNotes[0], "paste the three values again") {
		t.Errorf("a rerun with the IdP on port %d: SetupNotes %q", port, moved.SetupNotes)
	}
}

// TestDemoReadyStartsSetUp checks that Options.Ready gives the ready-made
// setup: the IdP and the domain in the Caddyfile, SSO enabled at once.
func TestDemoReadyStartsSetUp(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test")
	}
	run, _ := startDemo(t, demo.Options{Dir: t.TempDir(), Ready: true})
	if !run.Ready || run.SSOState != "enabled" || run.DomainState != "verified" {
		t.Errorf("Ready %v, SSOState %q, DomainState %q", run.Ready, run.SSOState, run.DomainState)
	}
	cfg, err := os.ReadFile(run.Caddyfile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"idp_sso_url " + run.IdPSSOURL, "idp_issuer " + run.IdPIssuer, "idp_certificate ", "domain " + demo.Domain} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("the ready-made Caddyfile lacks %q:\n%s", want, cfg)
		}
	}
	var summary strings.Builder
	if err := run.WriteSummary(&summary); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(summary.String(), "Sign in through the IdP: open the app, Continue with SSO, choose a person.") ||
		strings.Contains(summary.String(), "Set up single sign-on") {
		t.Errorf("the ready-made summary:\n%s", summary.String())
	}
}

// resolverAt asks the DNS server at addr over network ("udp" or "tcp").
func resolverAt(addr, network string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

func isNotFound(err error) bool {
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && dnsErr.IsNotFound
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// elementText is the text of the element with this id.
func elementText(t *testing.T, body, id string) string {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var text *string
	walk(doc, func(n *html.Node) bool {
		if attr(n, "id") == id {
			s := textOf(n)
			text = &s
			return false
		}
		return true
	})
	if text == nil {
		t.Fatalf("no element #%s in:\n%s", id, body)
	}
	return *text
}
