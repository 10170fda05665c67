//go:build unix

package demo_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/demo"
	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// The real-browser tests of the Access Security pages (/sso/admin/...), on
// the default demo, where the org's SSO is its owner's to set up.

// TestBrowserAdminSetup walks the setup an org's IT admin does, as the
// demo's summary tells a newcomer, in headless Chromium: the owner signs
// in with the printed password; pastes the IdP's Authentication URL,
// Issuer URL and Public Certificate (downloaded from the IdP); claims and
// verifies the domain; runs a test sign-in at the IdP and reads its
// result; enables SSO and requires it; generates a SCIM token, which then
// works on the SCIM sidecar; gives a team the admin role; reads it all in
// the Activity; signs out. Then a member signs in through the IdP and
// lands on the app with her identity. Each step checks what the page
// shows; every page is saved as a screenshot (admin-*.png).
func TestBrowserAdminSetup(t *testing.T) {
	path := browserTest(t)
	began := time.Now()
	shots := screenshotDir(t)
	dir := t.TempDir()
	run, _ := startDemo(t, demo.Options{Dir: dir})
	st := openDemoStore(t, dir)
	c := startChrome(t, path, 1100, 900)
	t.Logf("the demo and Chromium were up %s after the start", time.Since(began).Round(time.Millisecond))
	if run.SSOState != "" || run.DomainState != "" {
		t.Fatalf("the default demo starts with SSO %q and the domain %q; want neither", run.SSOState, run.DomainState)
	}

	// 1. The owner signs in with the printed password and lands on 2FA & SSO.
	signInWithPassword(c, run, run.OwnerLoginURL)
	if who := c.str(`document.querySelector("header .who").innerText`); who != owner.Email+" (owner)" {
		t.Errorf("the header says %q, want the owner", who)
	}
	if c.boolean(`!!document.getElementById("certificates")`) || !c.boolean(`document.getElementById("test").disabled`) ||
		!c.boolean(`document.getElementById("enable").disabled`) {
		t.Error("before the IdP is given, the page shows certificates, or Test sign-in or Enable can be pressed")
	}
	if acs := c.str(`document.getElementById("acs-url").textContent`); acs != run.GateURL+"/sso/o/demo/acs" {
		t.Errorf("the ACS URL to copy into the IdP is %q", acs)
	}

	// 2. The IdP's three values: the certificate as the IdP offers it for download.
	certPEM := download(t, run.IdPURL+"/certificate.pem")
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil {
		t.Fatalf("the IdP's certificate.pem is not PEM:\n%s", certPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	c.setValue("idp_sso_url", run.IdPSSOURL)
	c.setValue("idp_issuer", run.IdPIssuer)
	c.setValue("idp_certificate", certPEM)
	c.act(`document.getElementById("save-values").click()`)
	c.waitPage("the IdP settings saved", `document.getElementById("flash").textContent.startsWith("The IdP settings are saved.")`)
	if got := c.state(); got != "draft" {
		t.Errorf("the state after saving: %q, want draft", got)
	}
	certs := c.str(`document.getElementById("certificates").innerText`)
	if !strings.Contains(certs, cert.Subject.String()) || !strings.Contains(certs, cert.NotAfter.UTC().Format("2006-01-02")) {
		t.Errorf("the certificates table does not show the certificate's subject %q and expiry %s:\n%s", cert.Subject, cert.NotAfter, certs)
	}
	if c.str(`document.getElementById("idp_sso_url").value`) != run.IdPSSOURL || c.str(`document.getElementById("idp_issuer").value`) != run.IdPIssuer {
		t.Error("the saved Authentication URL and Issuer URL are not shown")
	}

	// 3. Domains: claim demo.example, see the TXT record, verify.
	c.open(run.GateURL+"/sso/admin/domains", "the Domains page", `document.getElementById("claim-form")`)
	if !c.boolean(`!!document.getElementById("no-domains")`) {
		t.Error("the Domains page of a fresh demo lists a domain")
	}
	c.setValue("domain", demo.Domain)
	c.act(`document.getElementById("claim").click()`)
	c.waitPage("the domain claimed", `document.getElementById("flash").textContent.startsWith("The domain is claimed.")`)
	txtName, txtValue := c.str(`document.getElementById("txt-name-0").textContent`), c.str(`document.getElementById("txt-value-0").textContent`)
	if txtName != demo.ChallengeName || len(txtValue) < 16 {
		t.Errorf("the TXT record to publish: %q = %q; want the name %s and a value", txtName, txtValue, demo.ChallengeName)
	}
	if got := c.str(`document.querySelector("#domains tr:nth-child(2) td:nth-child(2)").innerText`); got != "pending" {
		t.Errorf("the claim's status: %q, want pending", got)
	}
	c.screenshot(filepath.Join(shots, "admin-domains-pending.png"))
	c.act(`document.getElementById("verify-` + demo.Domain + `").click()`)
	c.waitPage("the domain verified", `document.getElementById("flash").textContent === "The domain is verified."`)
	if got := c.str(`document.querySelector("#domains tr:nth-child(2) td:nth-child(2)").innerText`); got != "verified" {
		t.Errorf("the claim's status after Verify: %q, want verified", got)
	}
	c.screenshot(filepath.Join(shots, "admin-domains.png"))

	// 4. Test sign-in: off to the IdP, as a member; the result page.
	c.open(run.GateURL+"/sso/admin/sso", "the SSO settings", `document.getElementById("test")`)
	c.act(`document.getElementById("test").click()`)
	c.waitPage("the IdP's chooser", `location.origin === `+jsq(run.IdPURL)+` && document.querySelector('button[value=`+jsq(member.Email)+`]')`)
	c.act(`document.querySelector('button[value=` + jsq(member.Email) + `]').click()`)
	c.waitPage("the test result", `document.getElementById("result")`)
	if got := c.str(`document.getElementById("result").textContent`); got != "Test sign-in passed" {
		t.Fatalf("the test result says %q:\n%s", got, c.str(`document.body.innerText`))
	}
	rules := c.str(`[...document.querySelectorAll("#rules tr")].slice(1).map(r => r.cells[0].innerText + ": " + r.cells[1].innerText).join("\n")`)
	if rules == "" || strings.Contains(rules, "failed") {
		t.Errorf("the test's rules:\n%s", rules)
	}
	if sent := c.str(`document.getElementById("sent").innerText`); !strings.Contains(sent, member.Email) || !strings.Contains(sent, member.GivenName) {
		t.Errorf("what the IdP sent does not name %s:\n%s", member.Email, sent)
	}
	c.screenshot(filepath.Join(shots, "admin-test-result.png"))
	// Nobody was signed in: the owner still is.
	c.act(`document.getElementById("back").click()`)
	c.waitPage("back on the SSO settings", `location.pathname === "/sso/admin/sso" && document.getElementById("state")`)
	if got := c.state(); got != "tested" {
		t.Errorf("the state after the test: %q, want tested", got)
	}
	if got := c.str(`document.querySelector("#last-test h4").textContent`); !strings.HasPrefix(got, "Last test sign-in: passed") {
		t.Errorf("the last test: %q", got)
	}
	if who := c.str(`document.querySelector("header .who").innerText`); who != owner.Email+" (owner)" {
		t.Errorf("after the test sign-in the page is %q's; the test must sign nobody in", who)
	}

	// 5. Enable, then Require Single Sign-On.
	c.act(`document.getElementById("enable").click()`)
	c.waitPage("SSO enabled", `document.getElementById("flash").textContent.startsWith("Single sign-on is enabled")`)
	if got := c.state(); got != "enabled" || !c.boolean(`!!document.getElementById("disable")`) {
		t.Errorf("the state after Enable: %q, want enabled with a Disable button", got)
	}
	if c.boolean(`document.getElementById("require_sso").checked`) {
		t.Error("Require Single Sign-On is on before it was asked for")
	}
	c.do(`document.getElementById("require_sso").click()`)
	c.act(`document.getElementById("save-switches").click()`)
	c.waitPage("the rules saved", `document.getElementById("flash").textContent === "The sign-in rules are saved."`)
	if !c.boolean(`document.getElementById("require_sso").checked`) || c.boolean(`document.getElementById("idp_managed_access").checked`) {
		t.Error("after saving, Require Single Sign-On is not checked, or IdP Managed Access is")
	}
	c.screenshot(filepath.Join(shots, "admin-sso.png"))

	// 6. SCIM: a token, shown once, that the sidecar takes.
	c.open(run.GateURL+"/sso/admin/scim", "the SCIM page", `document.getElementById("token-form")`)
	if got := c.str(`(document.getElementById("scim-url") || document.getElementById("scim-url-unknown")).textContent`); got != run.SCIMURL+"/scim/v2" {
		t.Errorf("the SCIM page shows the base URL as %q, want %s/scim/v2", got, run.SCIMURL)
	}
	c.setValue("name", "okta")
	c.act(`document.getElementById("generate").click()`)
	c.waitPage("the new token", `document.getElementById("secret")`)
	secret := c.str(`document.getElementById("secret").textContent`)
	if got := c.str(`document.getElementById("created-h").textContent`); got != "New token: okta" || len(secret) < 20 {
		t.Errorf("the new token: %q, secret %q", got, secret)
	}
	c.screenshot(filepath.Join(shots, "admin-scim.png"))
	base := c.str(`document.getElementById("scim-url").textContent`)
	if status, body := scimGet(t, base+"/Users", secret); status != http.StatusOK || !strings.Contains(body, member.Email) {
		t.Errorf("GET %s/Users with the new token: %d %s", base, status, body)
	}
	if status, _ := scimGet(t, base+"/Users", secret+"x"); status != http.StatusUnauthorized {
		t.Errorf("GET %s/Users with a wrong token: %d, want 401", base, status)
	}
	c.open(run.GateURL+"/sso/admin/scim", "the SCIM page again", `document.getElementById("tokens")`)
	if c.boolean(`!!document.getElementById("secret")`) {
		t.Error("the token's secret is shown again")
	}
	if tokens := c.str(`document.getElementById("tokens").innerText`); !strings.Contains(tokens, "okta") || !strings.Contains(tokens, demo.TokenName) {
		t.Errorf("the tokens listed:\n%s", tokens)
	}

	// 7. Teams: the demo's, with their members; Marketing's members become admins.
	c.open(run.GateURL+"/sso/admin/teams", "the Teams page", `document.getElementById("teams")`)
	teamRows := `[...document.querySelectorAll("#teams tr")].slice(1)`
	if got := c.str(teamRows + `.map(r => r.cells[0].innerText + " " + r.cells[1].innerText + " " + r.cells[2].innerText).join(", ")`); got != "Analysts 2 manual, Marketing 1 manual" {
		t.Errorf("the teams listed: %q", got)
	}
	marketing := teamRows + `.find(r => r.cells[0].innerText === "Marketing")`
	c.do(marketing + `.querySelector("select").value = "admin"`)
	c.act(marketing + `.querySelector("button[type=submit]").click()`)
	c.waitPage("the team saved", `document.getElementById("flash").textContent === "The team is saved."`)
	if got := c.str(marketing + `.querySelector("select").value`); got != "admin" {
		t.Errorf("Marketing's role after saving: %q, want admin", got)
	}
	c.screenshot(filepath.Join(shots, "admin-teams.png"))

	// 8. Members: Grace is an admin by her team now; Alan is deactivated.
	c.open(run.GateURL+"/sso/admin/members", "the Members page", `document.getElementById("members")`)
	memberRow := func(email string) string {
		return c.str(`[...document.querySelectorAll("#members tr")].find(r => r.cells[0].innerText === ` + jsq(email) + `).innerText`)
	}
	if row := memberRow(member.Email); !strings.Contains(row, "admin by team") {
		t.Errorf("Grace's row: %q, want admin by team", row)
	}
	if row := memberRow(deactivated.Email); !strings.Contains(row, "deactivated") {
		t.Errorf("Alan's row: %q, want deactivated", row)
	}
	c.screenshot(filepath.Join(shots, "admin-members.png"))

	// 9. Activity: each change above, by the owner, and the test sign-in's
	// result, by the member the IdP named; newest first, no secrets.
	c.open(run.GateURL+"/sso/admin/activity", "the Activity page", `document.getElementById("activity")`)
	actions := c.str(`[...document.querySelectorAll("#activity tr")].slice(1).map(r => r.cells[2].innerText).join(" ")`)
	if want := "team.role token.create sso.update sso.enable sso.test.passed sso.test domain.verify domain.claim sso.update"; actions != want {
		t.Errorf("the activity, newest first: %q, want %q", actions, want)
	}
	if row := c.str(`[...document.querySelectorAll("#activity tr")].find(r => r.cells[2].innerText === "sso.test.passed").innerText`); !strings.Contains(row, member.Email) {
		t.Errorf("the test sign-in's result is not by %s: %q", member.Email, row)
	}
	activity := c.str(`document.getElementById("activity").innerText`)
	if strings.Count(activity, owner.Email) != 8 || strings.Contains(activity, "BEGIN CERTIFICATE") || strings.Contains(activity, secret) {
		t.Errorf("the activity names the owner %d times (want 8), or shows a certificate or the token:\n%s", strings.Count(activity, owner.Email), activity)
	}
	c.screenshot(filepath.Join(shots, "admin-activity.png"))

	// 10. Signed out, a member signs in through the IdP: straight there, as SSO is required.
	c.open(run.GateURL+"/sso/logout", "the signed-out page", `document.body.innerText.includes("You are signed out")`)
	c.open(run.GateURL+"/", "the IdP's chooser", `location.origin === `+jsq(run.IdPURL)+` && document.querySelector('button[value=`+jsq(member.Email)+`]')`)
	c.act(`document.querySelector('button[value=` + jsq(member.Email) + `]').click()`)
	c.waitPage("the app page showing the member",
		`location.href === `+jsq(run.GateURL+"/")+` && document.getElementById("email").textContent === `+jsq(member.Email))
	if role := c.str(`document.querySelector('[data-header="X-Forwarded-Role"]').textContent`); role != "admin" {
		t.Errorf("the app gets Grace's role as %q, want admin (by the Marketing team)", role)
	}

	// The store agrees with what the pages showed.
	ctx := context.Background()
	org, err := st.OrgByName(ctx, demo.Org)
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := st.Connection(ctx, org.ID); err != nil || conn.State != storage.ConnectionEnabled || !conn.RequireSSO {
		t.Errorf("the stored connection: %v, state %q, require SSO %v", err, conn.State, conn.RequireSSO)
	}
	t.Logf("the admin browser test took %s", time.Since(began).Round(time.Millisecond))
}

// TestBrowserAdminGuards checks who may change SSO: a member gets 403
// with the reason on the pages, and an owner whose sign-in is older than
// reauth_after (Options.ReauthAfter) signs in again before Disable goes
// through, then comes back to the page.
func TestBrowserAdminGuards(t *testing.T) {
	path := browserTest(t)
	began := time.Now()
	shots := screenshotDir(t)
	dir := t.TempDir()
	const window = 5 * time.Second
	run, _ := startDemo(t, demo.Options{Dir: dir, ReauthAfter: window})
	if cfg, err := os.ReadFile(run.Caddyfile); err != nil || !strings.Contains(string(cfg), "\t\treauth_after 5s\n") {
		t.Errorf("the Caddyfile does not set reauth_after 5s (%v):\n%s", err, cfg)
	}
	st := openDemoStore(t, dir)
	setUpSSO(t, run, st)
	c := startChrome(t, path, 1100, 900)

	// A member, signed in through the IdP, is refused with the reason.
	c.open(run.GateURL+"/", "the login page", `location.pathname === "/sso/login" && document.getElementById("sso")`)
	c.act(`document.getElementById("sso").click()`)
	c.waitPage("the IdP's chooser", `location.origin === `+jsq(run.IdPURL)+` && document.querySelector('button[value=`+jsq(member.Email)+`]')`)
	c.act(`document.querySelector('button[value=` + jsq(member.Email) + `]').click()`)
	c.waitPage("the app page showing the member", `document.getElementById("email") && document.getElementById("email").textContent === `+jsq(member.Email))
	for _, page := range []string{"sso", "scim", "members"} {
		c.open(run.GateURL+"/sso/admin/"+page, "the refusal of /sso/admin/"+page, `document.getElementById("main")`)
		text := c.str(`document.getElementById("main").innerText`)
		if status := c.status(); status != http.StatusForbidden ||
			!strings.Contains(text, "Only owners and admins of demo can open its Access Security settings. Ask one of them.") {
			t.Errorf("a member on /sso/admin/%s: %d\n%s", page, status, text)
		}
		if c.boolean(`!!document.querySelector("form")`) {
			t.Errorf("the refusal of /sso/admin/%s has a form", page)
		}
	}
	c.screenshot(filepath.Join(shots, "admin-forbidden.png"))
	c.open(run.GateURL+"/sso/logout", "the signed-out page", `document.body.innerText.includes("You are signed out")`)

	// The owner, with a fresh sign-in: no note.
	signInWithPassword(c, run, run.OwnerLoginURL)
	signedIn := time.Now()
	if c.boolean(`!!document.getElementById("stale")`) {
		t.Error("a fresh sign-in is called stale")
	}
	// Past the window, the page says so, and Disable asks to sign in again.
	time.Sleep(time.Until(signedIn.Add(window + 700*time.Millisecond)))
	c.open(run.GateURL+"/sso/admin/sso", "the SSO settings, stale", `document.getElementById("disable")`)
	if !c.boolean(`!!document.getElementById("stale")`) {
		t.Errorf("%s after the sign-in the page does not say it is stale", time.Since(signedIn).Round(time.Millisecond))
	}
	c.act(`document.getElementById("disable").click()`)
	c.waitPage("the sign-in-again page", `location.pathname === "/sso/login" && document.getElementById("password-form")`)
	if !c.boolean(`!!document.getElementById("reauth")`) ||
		c.str(`document.getElementById("reauth").textContent`) != "For your security, sign in again to continue." {
		t.Errorf("the sign-in page does not say why:\n%s", c.str(`document.body.innerText`))
	}
	if rd := c.str(`document.querySelector("#password-form input[name=rd]").value`); rd != "/sso/admin/sso" {
		t.Errorf("signing in again returns to %q, want /sso/admin/sso", rd)
	}
	c.screenshot(filepath.Join(shots, "admin-reauth.png"))
	if state := connState(t, st); state != storage.ConnectionEnabled {
		t.Fatalf("a stale Disable changed the state to %q", state)
	}
	signInAgain(c, run)
	if c.boolean(`!!document.getElementById("stale")`) {
		t.Error("after signing in again the page still says the sign-in is stale")
	}
	c.act(`document.getElementById("disable").click()`)
	c.waitPage("SSO disabled", `document.getElementById("flash").textContent.startsWith("Single sign-on is disabled")`)
	if got := c.state(); got != "disabled" {
		t.Errorf("the state after Disable: %q", got)
	}
	if state := connState(t, st); state != storage.ConnectionDisabled {
		t.Errorf("the stored state after Disable: %q", state)
	}
	t.Logf("the guards browser test took %s", time.Since(began).Round(time.Millisecond))
}

// TestBrowserAdminBadInput sends bad values through the forms of an org
// whose SSO is enabled: each gets its reason beside the field (or a 403
// for a form without its CSRF token), what was typed is kept, and nothing
// changes in the store.
func TestBrowserAdminBadInput(t *testing.T) {
	path := browserTest(t)
	began := time.Now()
	shots := screenshotDir(t)
	dir := t.TempDir()
	run, _ := startDemo(t, demo.Options{Dir: dir})
	st := openDemoStore(t, dir)
	setUpSSO(t, run, st)
	c := startChrome(t, path, 1100, 900)
	ctx := context.Background()
	org, err := st.OrgByName(ctx, demo.Org)
	if err != nil {
		t.Fatal(err)
	}
	before, err := st.Connection(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	unchanged := func(what string) {
		t.Helper()
		after, err := st.Connection(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if after.Version != before.Version || after.State != storage.ConnectionEnabled || after.IDPIssuer != run.IdPIssuer ||
			after.IDPSSOURL != run.IdPSSOURL || after.IDPCertificates != before.IDPCertificates {
			t.Errorf("%s changed the connection: version %d → %d, state %q", what, before.Version, after.Version, after.State)
		}
	}
	signInWithPassword(c, run, run.OwnerLoginURL)

	// refused checks the page after a refused form: the status, the
	// reason beside the field, the note at the top, the state.
	refused := func(what, field, reason string, status int) {
		t.Helper()
		c.waitPage(what+" refused", `document.getElementById(`+jsq(field+"-error")+`)`)
		if got := c.status(); got != status {
			t.Errorf("%s: status %d, want %d", what, got, status)
		}
		if got := c.str(`document.getElementById(` + jsq(field+"-error") + `).textContent`); !strings.Contains(got, reason) {
			t.Errorf("%s: the reason beside the field is %q, want it to say %q", what, got, reason)
		}
		if got := c.str(`document.getElementById("error").textContent`); got != "Nothing was changed: correct the field marked below." {
			t.Errorf("%s: the note at the top is %q", what, got)
		}
		if c.boolean(`!!document.getElementById("state")`) {
			if got := c.state(); got != "enabled" {
				t.Errorf("%s: the page shows the state %q, want enabled", what, got)
			}
		}
		unchanged(what)
	}

	// A garbage certificate, with another Issuer URL typed: both kept on the page.
	const issuer = "https://idp.example.com/changed"
	c.setValue("idp_issuer", issuer)
	c.setValue("idp_certificate", "this is not a certificate")
	c.act(`document.getElementById("save-values").click()`)
	refused("a garbage certificate", "idp_certificate", "", http.StatusBadRequest)
	t.Logf("a garbage certificate: %s", c.str(`document.getElementById("idp_certificate-error").textContent`))
	if c.str(`document.getElementById("idp_issuer").value`) != issuer || c.str(`document.getElementById("idp_sso_url").value`) != run.IdPSSOURL ||
		c.str(`document.getElementById("idp_certificate").value`) != "this is not a certificate" {
		t.Errorf("the values typed are not kept: %q %q %q", c.str(`document.getElementById("idp_issuer").value`),
			c.str(`document.getElementById("idp_sso_url").value`), c.str(`document.getElementById("idp_certificate").value`))
	}
	if c.str(`document.getElementById("idp_certificate").getAttribute("aria-describedby")`) != "idp_certificate-help idp_certificate-error" {
		t.Error("the certificate field is not described by its error")
	}
	c.screenshot(filepath.Join(shots, "admin-sso-error.png"))

	// An expired certificate.
	c.open(run.GateURL+"/sso/admin/sso", "the SSO settings", `document.getElementById("values-form")`)
	c.setValue("idp_certificate", expiredCertificate(t))
	c.act(`document.getElementById("save-values").click()`)
	refused("an expired certificate", "idp_certificate", "expired on", http.StatusBadRequest)

	// A plain-http Authentication URL off localhost.
	c.open(run.GateURL+"/sso/admin/sso", "the SSO settings", `document.getElementById("values-form")`)
	c.setValue("idp_sso_url", "http://idp.example.com/sso")
	c.act(`document.getElementById("save-values").click()`)
	refused("a plain-http URL", "idp_sso_url", "Must use https", http.StatusBadRequest)
	if got := c.str(`document.getElementById("idp_sso_url").getAttribute("aria-invalid")`); got != "true" {
		t.Errorf("the refused URL field: aria-invalid %q", got)
	}

	// Metadata that is not SAML.
	c.open(run.GateURL+"/sso/admin/sso", "the SSO settings", `document.getElementById("metadata-form")`)
	c.do(`document.querySelector("#metadata-form").closest("details").open = true`)
	c.setValue("idp_metadata_xml", "<html><body>Sign in</body></html>")
	c.act(`document.getElementById("save-metadata").click()`)
	refused("metadata that is not SAML", "idp_metadata_xml", "not SAML metadata", http.StatusBadRequest)
	if !c.boolean(`document.querySelector("#metadata-form").closest("details").open`) {
		t.Error("the refused metadata form is folded away")
	}

	// A public suffix as the domain.
	domains := func() string {
		ds, err := st.ListDomains(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, d := range ds {
			names = append(names, d.Name+" "+d.Status)
		}
		return strings.Join(names, ", ")
	}
	claimed := domains()
	c.open(run.GateURL+"/sso/admin/domains", "the Domains page", `document.getElementById("claim-form")`)
	c.setValue("domain", "co.uk")
	c.act(`document.getElementById("claim").click()`)
	refused("a public suffix", "domain", "", http.StatusBadRequest)
	t.Logf("a public suffix: %s", c.str(`document.getElementById("domain-error").textContent`))
	if got := c.str(`document.getElementById("domain").value`); got != "co.uk" {
		t.Errorf("the domain typed is not kept: %q", got)
	}
	c.screenshot(filepath.Join(shots, "admin-domains-error.png"))
	if got := domains(); got != claimed {
		t.Errorf("the domains after a public suffix: %q, want %q", got, claimed)
	}

	// A form without its CSRF token: 403, nothing claimed.
	c.open(run.GateURL+"/sso/admin/domains", "the Domains page", `document.getElementById("claim-form")`)
	c.setValue("domain", "other.example")
	c.do(`document.querySelector("#claim-form input[name=csrf]").remove()`)
	c.act(`document.getElementById("claim").click()`)
	c.waitPage("the form without a token refused", `document.getElementById("error")`)
	if got, text := c.status(), c.str(`document.getElementById("error").textContent`); got != http.StatusForbidden ||
		text != "The form expired or came from another site. Nothing was changed; please try again." {
		t.Errorf("a form without its CSRF token: %d %q", got, text)
	}
	if got := domains(); got != claimed {
		t.Errorf("the domains after a form without its token: %q, want %q", got, claimed)
	}
	unchanged("the forms")
	t.Logf("the bad-input browser test took %s", time.Since(began).Round(time.Millisecond))
}

// browserTest skips the test without a browser, and returns Chromium's path.
func browserTest(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("real-browser test")
	}
	path := chromiumPath()
	if path == "" {
		t.Skip("no Chromium found, so the real-browser test does not run: install Debian's chromium package " +
			"(apt-get install -y chromium) or set SSOGATE_CHROMIUM to a Chromium or Chrome binary")
	}
	return path
}

// screenshotDir is $SSOGATE_SCREENSHOTS, or ssogate-screenshots in the
// temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	shots := os.Getenv("SSOGATE_SCREENSHOTS")
	if shots == "" {
		shots = filepath.Join(os.TempDir(), "ssogate-screenshots")
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return shots
}

// openDemoStore opens the demo's database beside the demo, to check and
// to change what the pages work on.
func openDemoStore(t *testing.T, dir string) *sqlitestore.Store {
	t.Helper()
	st, err := sqlitestore.Open(context.Background(), filepath.Join(dir, "ssogate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// setUpSSO does the owner's setup at once, as the operator would: the
// IdP's three values, the domain claimed and verified, SSO enabled. It
// returns once the gate offers "Continue with SSO".
func setUpSSO(t *testing.T, run *demo.Running, st *sqlitestore.Store) {
	t.Helper()
	ctx := context.Background()
	org, err := st.OrgByName(ctx, demo.Org)
	if err != nil {
		t.Fatal(err)
	}
	svc := &orgadmin.Service{Store: st, Resolver: resolverAt(run.DNSAddr, "udp")}
	ssoURL, issuer, certs := run.IdPSSOURL, run.IdPIssuer, []string{run.IdPCertificatePEM}
	if _, err := svc.UpdateSSO(ctx, org, orgadmin.Operator, tenant.Settings{IDPSSOURL: &ssoURL, IDPIssuer: &issuer, IDPCertificates: &certs}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ClaimDomain(ctx, org, orgadmin.Operator, demo.Domain); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.VerifyDomain(ctx, org, orgadmin.Operator, demo.Domain); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.EnableSSO(ctx, org, orgadmin.Operator, true); err != nil {
		t.Fatal(err)
	}
	// The gate follows the store by polling it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		body := download(t, run.GateURL+"/sso/login")
		if strings.Contains(body, `id="sso"`) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("20s after SSO was enabled in the store, the login page does not offer it:\n%s", body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func connState(t *testing.T, st *sqlitestore.Store) storage.ConnectionState {
	t.Helper()
	ctx := context.Background()
	org, err := st.OrgByName(ctx, demo.Org)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := st.Connection(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	return conn.State
}

// signInWithPassword opens a sign-in page and signs in as the owner with
// the printed password; it returns on the SSO settings.
func signInWithPassword(c *chrome, run *demo.Running, loginURL string) {
	c.t.Helper()
	c.open(loginURL, "the password form", `document.getElementById("password-form")`)
	signInAgain(c, run)
}

// signInAgain fills the password form the tab shows, as the owner.
func signInAgain(c *chrome, run *demo.Running) {
	c.t.Helper()
	if run.OwnerPassword == "" {
		c.t.Fatal("the demo printed no password for the owner")
	}
	c.setValue("email", run.OwnerEmail)
	c.setValue("password", run.OwnerPassword)
	c.act(`document.querySelector("#password-form button[type=submit]").click()`)
	c.waitPage("the SSO settings", `location.pathname === "/sso/admin/sso" && document.getElementById("state")`)
}

// download GETs a URL and returns its body; any status but 200 fails the test.
func download(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", u, resp.StatusCode, err)
	}
	return string(b)
}

// expiredCertificate is a self-signed certificate that expired yesterday.
func expiredCertificate(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "expired IdP"},
		NotBefore: time.Now().Add(-60 * 24 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// jsq quotes s as a JavaScript string.
func jsq(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// act marks the page as left, then runs js (a click that submits a form
// or follows a link); waitPage then waits for the next page, not this one.
func (c *chrome) act(js string) {
	c.t.Helper()
	c.do("window.__left = true; " + js)
}

// waitPage waits for a page that act or open led to: not the one left.
func (c *chrome) waitPage(what, cond string) {
	c.t.Helper()
	c.waitFor(what, "!window.__left && ("+cond+")")
}

// open navigates to u and waits for the page.
func (c *chrome) open(u, what, cond string) {
	c.t.Helper()
	c.do("window.__left = true")
	c.navigate(u)
	c.waitPage(what, cond)
}

// setValue sets a form field's value, as typing or pasting does.
func (c *chrome) setValue(id, value string) {
	c.t.Helper()
	c.do(`(() => { const e = document.getElementById(` + jsq(id) + `); e.value = ` + jsq(value) +
		`; e.dispatchEvent(new Event("input", {bubbles: true})) })()`)
}

// str evaluates a JavaScript expression to a string.
func (c *chrome) str(expr string) string {
	c.t.Helper()
	var s string
	if err := c.eval(expr, &s); err != nil {
		c.t.Fatal(err)
	}
	return s
}

// boolean evaluates a JavaScript expression to a boolean.
func (c *chrome) boolean(expr string) bool {
	c.t.Helper()
	var b bool
	if err := c.eval(expr, &b); err != nil {
		c.t.Fatal(err)
	}
	return b
}

// state is the SSO connection's state the SSO page shows.
func (c *chrome) state() string {
	c.t.Helper()
	return c.str(`document.querySelector("#state strong").textContent`)
}

// status is the HTTP status of the page the tab shows.
func (c *chrome) status() int {
	c.t.Helper()
	var n int
	if err := c.eval(`performance.getEntriesByType("navigation")[0].responseStatus`, &n); err != nil {
		c.t.Fatal(err)
	}
	return n
}
