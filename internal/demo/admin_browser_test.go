//go:build unix

package demo_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/cdptest"
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
	path := cdptest.Need(t)
	began := time.Now()
	shots := screenshotDir(t)
	dir := t.TempDir()
	run, _ := startDemo(t, demo.Options{Dir: dir})
	st := openDemoStore(t, dir)
	c := cdptest.Start(t, path, 1100, 900)
	t.Logf("the demo and Chromium were up %s after the start", time.Since(began).Round(time.Millisecond))
	if run.SSOState != "" || run.DomainState != "" {
		t.Fatalf("the default demo starts with SSO %q and the domain %q; want neither", run.SSOState, run.DomainState)
	}

	// 1. The owner signs in with the printed password and lands on 2FA & SSO.
	signInWithPassword(t, c, run, run.OwnerLoginURL)
	if who := c.EvalString(`document.querySelector("header .who").innerText`); who != owner.Email+" (owner)" {
		t.Errorf("the header says %q, want the owner", who)
	}
	if c.EvalBool(`!!document.getElementById("certificates")`) || !c.EvalBool(`document.getElementById("test").disabled`) ||
		!c.EvalBool(`document.getElementById("enable").disabled`) {
		t.Error("before the IdP is given, the page shows certificates, or Test sign-in or Enable can be pressed")
	}
	if acs := c.EvalString(`document.getElementById("acs-url").textContent`); acs != run.GateURL+"/sso/o/demo/acs" {
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
	c.SetValue("idp_sso_url", run.IdPSSOURL)
	c.SetValue("idp_issuer", run.IdPIssuer)
	c.SetValue("idp_certificate", certPEM)
	c.Act(`document.getElementById("save-values").click()`)
	c.WaitPage("the IdP settings saved", `document.getElementById("flash").textContent.startsWith("The IdP settings are saved.")`)
	if got := ssoState(t, c); got != "draft" {
		t.Errorf("the state after saving: %q, want draft", got)
	}
	certs := c.EvalString(`document.getElementById("certificates").innerText`)
	if !strings.Contains(certs, cert.Subject.String()) || !strings.Contains(certs, cert.NotAfter.UTC().Format("2006-01-02")) {
		t.Errorf("the certificates table does not show the certificate's subject %q and expiry %s:\n%s", cert.Subject, cert.NotAfter, certs)
	}
	if c.EvalString(`document.getElementById("idp_sso_url").value`) != run.IdPSSOURL || c.EvalString(`document.getElementById("idp_issuer").value`) != run.IdPIssuer {
		t.Error("the saved Authentication URL and Issuer URL are not shown")
	}

	// 3. Domains: claim demo.example, see the TXT record, verify.
	c.Open(run.GateURL+"/sso/admin/domains", "the Domains page", `document.getElementById("claim-form")`)
	if !c.EvalBool(`!!document.getElementById("no-domains")`) {
		t.Error("the Domains page of a fresh demo lists a domain")
	}
	c.SetValue("domain", demo.Domain)
	c.Act(`document.getElementById("claim").click()`)
	c.WaitPage("the domain claimed", `document.getElementById("flash").textContent.startsWith("The domain is claimed.")`)
	txtName, txtValue := c.EvalString(`document.getElementById("txt-name-0").textContent`), c.EvalString(`document.getElementById("txt-value-0").textContent`)
	if txtName != demo.ChallengeName || len(txtValue) < 16 {
		t.Errorf("the TXT record to publish: %q = %q; want the name %s and a value", txtName, txtValue, demo.ChallengeName)
	}
	if got := c.EvalString(`document.querySelector("#domains tr:nth-child(2) td:nth-child(2)").innerText`); got != "pending" {
		t.Errorf("the claim's status: %q, want pending", got)
	}
	c.Screenshot(filepath.Join(shots, "admin-domains-pending.png"))
	c.Act(`document.getElementById("verify-` + demo.Domain + `").click()`)
	c.WaitPage("the domain verified", `document.getElementById("flash").textContent === "The domain is verified."`)
	if got := c.EvalString(`document.querySelector("#domains tr:nth-child(2) td:nth-child(2)").innerText`); got != "verified" {
		t.Errorf("the claim's status after Verify: %q, want verified", got)
	}
	c.Screenshot(filepath.Join(shots, "admin-domains.png"))

	// 4. Test sign-in: off to the IdP, as a member; the result page.
	c.Open(run.GateURL+"/sso/admin/sso", "the SSO settings", `document.getElementById("test")`)
	c.Act(`document.getElementById("test").click()`)
	c.WaitPage("the IdP's chooser", `location.origin === `+cdptest.JS(run.IdPURL)+` && document.querySelector('button[value=`+cdptest.JS(member.Email)+`]')`)
	c.Act(`document.querySelector('button[value=` + cdptest.JS(member.Email) + `]').click()`)
	c.WaitPage("the test result", `document.getElementById("result")`)
	if got := c.EvalString(`document.getElementById("result").textContent`); got != "Test sign-in passed" {
		t.Fatalf("the test result says %q:\n%s", got, c.EvalString(`document.body.innerText`))
	}
	rules := c.EvalString(`[...document.querySelectorAll("#rules tr")].slice(1).map(r => r.cells[0].innerText + ": " + r.cells[1].innerText).join("\n")`)
	if rules == "" || strings.Contains(rules, "failed") {
		t.Errorf("the test's rules:\n%s", rules)
	}
	if sent := c.EvalString(`document.getElementById("sent").innerText`); !strings.Contains(sent, member.Email) || !strings.Contains(sent, member.GivenName) {
		t.Errorf("what the IdP sent does not name %s:\n%s", member.Email, sent)
	}
	c.Screenshot(filepath.Join(shots, "admin-test-result.png"))
	// Nobody was signed in: the owner still is.
	c.Act(`document.getElementById("back").click()`)
	c.WaitPage("back on the SSO settings", `location.pathname === "/sso/admin/sso" && document.getElementById("state")`)
	if got := ssoState(t, c); got != "tested" {
		t.Errorf("the state after the test: %q, want tested", got)
	}
	if got := c.EvalString(`document.querySelector("#last-test h4").textContent`); !strings.HasPrefix(got, "Last test sign-in: passed") {
		t.Errorf("the last test: %q", got)
	}
	if who := c.EvalString(`document.querySelector("header .who").innerText`); who != owner.Email+" (owner)" {
		t.Errorf("after the test sign-in the page is %q's; the test must sign nobody in", who)
	}

	// 5. Enable, then Require Single Sign-On.
	c.Act(`document.getElementById("enable").click()`)
	c.WaitPage("SSO enabled", `document.getElementById("flash").textContent.startsWith("Single sign-on is enabled")`)
	if got := ssoState(t, c); got != "enabled" || !c.EvalBool(`!!document.getElementById("disable")`) {
		t.Errorf("the state after Enable: %q, want enabled with a Disable button", got)
	}
	if c.EvalBool(`document.getElementById("require_sso").checked`) {
		t.Error("Require Single Sign-On is on before it was asked for")
	}
	c.Do(`document.getElementById("require_sso").click()`)
	c.Act(`document.getElementById("save-switches").click()`)
	c.WaitPage("the rules saved", `document.getElementById("flash").textContent === "The sign-in rules are saved."`)
	if !c.EvalBool(`document.getElementById("require_sso").checked`) || c.EvalBool(`document.getElementById("idp_managed_access").checked`) {
		t.Error("after saving, Require Single Sign-On is not checked, or IdP Managed Access is")
	}
	c.Screenshot(filepath.Join(shots, "admin-sso.png"))

	// 6. SCIM: a token, shown once, that the sidecar takes.
	c.Open(run.GateURL+"/sso/admin/scim", "the SCIM page", `document.getElementById("token-form")`)
	if got := c.EvalString(`(document.getElementById("scim-url") || document.getElementById("scim-url-unknown")).textContent`); got != run.SCIMURL+"/scim/v2" {
		t.Errorf("the SCIM page shows the base URL as %q, want %s/scim/v2", got, run.SCIMURL)
	}
	c.SetValue("name", "okta")
	c.Act(`document.getElementById("generate").click()`)
	c.WaitPage("the new token", `document.getElementById("secret")`)
	secret := c.EvalString(`document.getElementById("secret").textContent`)
	if got := c.EvalString(`document.getElementById("created-h").textContent`); got != "New token: okta" || len(secret) < 20 {
		t.Errorf("the new token: %q, secret %q", got, secret)
	}
	c.Screenshot(filepath.Join(shots, "admin-scim.png"))
	base := c.EvalString(`document.getElementById("scim-url").textContent`)
	if status, body := scimGet(t, base+"/Users", secret); status != http.StatusOK || !strings.Contains(body, member.Email) {
		t.Errorf("GET %s/Users with the new token: %d %s", base, status, body)
	}
	if status, _ := scimGet(t, base+"/Users", secret+"x"); status != http.StatusUnauthorized {
		t.Errorf("GET %s/Users with a wrong token: %d, want 401", base, status)
	}
	c.Open(run.GateURL+"/sso/admin/scim", "the SCIM page again", `document.getElementById("tokens")`)
	if c.EvalBool(`!!document.getElementById("secret")`) {
		t.Error("the token's secret is shown again")
	}
	if tokens := c.EvalString(`document.getElementById("tokens").innerText`); !strings.Contains(tokens, "okta") || !strings.Contains(tokens, demo.TokenName) {
		t.Errorf("the tokens listed:\n%s", tokens)
	}

	// 7. Teams: the demo's, with their members; Marketing's members become admins.
	c.Open(run.GateURL+"/sso/admin/teams", "the Teams page", `document.getElementById("teams")`)
	teamRows := `[...document.querySelectorAll("#teams tr")].slice(1)`
	if got := c.EvalString(teamRows + `.map(r => r.cells[0].innerText + " " + r.cells[1].innerText + " " + r.cells[2].innerText).join(", ")`); got != "Analysts 2 manual, Marketing 1 manual" {
		t.Errorf("the teams listed: %q", got)
	}
	marketing := teamRows + `.find(r => r.cells[0].innerText === "Marketing")`
	c.Do(marketing + `.querySelector("select").value = "admin"`)
	c.Act(marketing + `.querySelector("button[type=submit]").click()`)
	c.WaitPage("the team saved", `document.getElementById("flash").textContent === "The team is saved."`)
	if got := c.EvalString(marketing + `.querySelector("select").value`); got != "admin" {
		t.Errorf("Marketing's role after saving: %q, want admin", got)
	}
	c.Screenshot(filepath.Join(shots, "admin-teams.png"))

	// 8. Members: Grace is an admin by her team now; Alan is deactivated.
	c.Open(run.GateURL+"/sso/admin/members", "the Members page", `document.getElementById("members")`)
	memberRow := func(email string) string {
		return c.EvalString(`[...document.querySelectorAll("#members tr")].find(r => r.cells[0].innerText === ` + cdptest.JS(email) + `).innerText`)
	}
	if row := memberRow(member.Email); !strings.Contains(row, "admin by team") {
		t.Errorf("Grace's row: %q, want admin by team", row)
	}
	if row := memberRow(deactivated.Email); !strings.Contains(row, "deactivated") {
		t.Errorf("Alan's row: %q, want deactivated", row)
	}
	c.Screenshot(filepath.Join(shots, "admin-members.png"))

	// 9. Activity: each change above, by the owner, and the test sign-in's
	// result, by the member the IdP named; newest first, no secrets.
	c.Open(run.GateURL+"/sso/admin/activity", "the Activity page", `document.getElementById("activity")`)
	actions := c.EvalString(`[...document.querySelectorAll("#activity tr")].slice(1).map(r => r.cells[2].innerText).join(" ")`)
	if want := "team.role token.create sso.update sso.enable sso.test.passed sso.test domain.verify domain.claim sso.update"; actions != want {
		t.Errorf("the activity, newest first: %q, want %q", actions, want)
	}
	if row := c.EvalString(`[...document.querySelectorAll("#activity tr")].find(r => r.cells[2].innerText === "sso.test.passed").innerText`); !strings.Contains(row, member.Email) {
		t.Errorf("the test sign-in's result is not by %s: %q", member.Email, row)
	}
	activity := c.EvalString(`document.getElementById("activity").innerText`)
	if strings.Count(activity, owner.Email) != 8 || strings.Contains(activity, "BEGIN CERTIFICATE") || strings.Contains(activity, secret) {
		t.Errorf("the activity names the owner %d times (want 8), or shows a certificate or the token:\n%s", strings.Count(activity, owner.Email), activity)
	}
	c.Screenshot(filepath.Join(shots, "admin-activity.png"))

	// 10. Signed out, a member signs in through the IdP: straight there, as SSO is required.
	signOut(c, run)
	c.Open(run.GateURL+"/", "the IdP's chooser", `location.origin === `+cdptest.JS(run.IdPURL)+` && document.querySelector('button[value=`+cdptest.JS(member.Email)+`]')`)
	c.Act(`document.querySelector('button[value=` + cdptest.JS(member.Email) + `]').click()`)
	c.WaitPage("the app page showing the member",
		`location.href === `+cdptest.JS(run.GateURL+"/")+` && document.getElementById("email").textContent === `+cdptest.JS(member.Email))
	if role := c.EvalString(`document.querySelector('[data-header="X-Forwarded-Role"]').textContent`); role != "admin" {
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
	path := cdptest.Need(t)
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
	c := cdptest.Start(t, path, 1100, 900)

	// A member, signed in through the IdP, is refused with the reason.
	c.Open(run.GateURL+"/", "the login page", `location.pathname === "/sso/login" && document.getElementById("sso")`)
	c.Act(`document.getElementById("sso").click()`)
	c.WaitPage("the IdP's chooser", `location.origin === `+cdptest.JS(run.IdPURL)+` && document.querySelector('button[value=`+cdptest.JS(member.Email)+`]')`)
	c.Act(`document.querySelector('button[value=` + cdptest.JS(member.Email) + `]').click()`)
	c.WaitPage("the app page showing the member", `document.getElementById("email") && document.getElementById("email").textContent === `+cdptest.JS(member.Email))
	for _, page := range []string{"sso", "scim", "members"} {
		c.Open(run.GateURL+"/sso/admin/"+page, "the refusal of /sso/admin/"+page, `document.getElementById("main")`)
		text := c.EvalString(`document.getElementById("main").innerText`)
		if status := c.Status(); status != http.StatusForbidden ||
			!strings.Contains(text, "Only owners and admins of demo can open its Access Security settings. Ask one of them.") {
			t.Errorf("a member on /sso/admin/%s: %d\n%s", page, status, text)
		}
		if c.EvalBool(`!!document.querySelector("form")`) {
			t.Errorf("the refusal of /sso/admin/%s has a form", page)
		}
	}
	c.Screenshot(filepath.Join(shots, "admin-forbidden.png"))
	signOut(c, run)

	// The owner, with a fresh sign-in: no note.
	signInWithPassword(t, c, run, run.OwnerLoginURL)
	signedIn := time.Now()
	if c.EvalBool(`!!document.getElementById("stale")`) {
		t.Error("a fresh sign-in is called stale")
	}
	// Past the window, the page says so, and Disable asks to sign in again.
	time.Sleep(time.Until(signedIn.Add(window + 700*time.Millisecond)))
	c.Open(run.GateURL+"/sso/admin/sso", "the SSO settings, stale", `document.getElementById("disable")`)
	if !c.EvalBool(`!!document.getElementById("stale")`) {
		t.Errorf("%s after the sign-in the page does not say it is stale", time.Since(signedIn).Round(time.Millisecond))
	}
	c.Act(`document.getElementById("disable").click()`)
	c.WaitPage("the sign-in-again page", `location.pathname === "/sso/login" && document.getElementById("password-form")`)
	if !c.EvalBool(`!!document.getElementById("reauth")`) ||
		c.EvalString(`document.getElementById("reauth").textContent`) != "For your security, sign in again to continue." {
		t.Errorf("the sign-in page does not say why:\n%s", c.EvalString(`document.body.innerText`))
	}
	if rd := c.EvalString(`document.querySelector("#password-form input[name=rd]").value`); rd != "/sso/admin/sso" {
		t.Errorf("signing in again returns to %q, want /sso/admin/sso", rd)
	}
	c.Screenshot(filepath.Join(shots, "admin-reauth.png"))
	if state := connState(t, st); state != storage.ConnectionEnabled {
		t.Fatalf("a stale Disable changed the state to %q", state)
	}
	signInAgain(t, c, run)
	if c.EvalBool(`!!document.getElementById("stale")`) {
		t.Error("after signing in again the page still says the sign-in is stale")
	}
	c.Act(`document.getElementById("disable").click()`)
	c.WaitPage("SSO disabled", `document.getElementById("flash").textContent.startsWith("Single sign-on is disabled")`)
	if got := ssoState(t, c); got != "disabled" {
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
	path := cdptest.Need(t)
	began := time.Now()
	shots := screenshotDir(t)
	dir := t.TempDir()
	run, _ := startDemo(t, demo.Options{Dir: dir})
	st := openDemoStore(t, dir)
	setUpSSO(t, run, st)
	c := cdptest.Start(t, path, 1100, 900)
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
	signInWithPassword(t, c, run, run.OwnerLoginURL)

	// refused checks the page after a refused form: the status, the
	// reason beside the field, the note at the top, the state.
	refused := func(what, field, reason string, status int) {
		t.Helper()
		c.WaitPage(what+" refused", `document.getElementById(`+cdptest.JS(field+"-error")+`)`)
		if got := c.Status(); got != status {
			t.Errorf("%s: status %d, want %d", what, got, status)
		}
		if got := c.EvalString(`document.getElementById(` + cdptest.JS(field+"-error") + `).textContent`); !strings.Contains(got, reason) {
			t.Errorf("%s: the reason beside the field is %q, want it to say %q", what, got, reason)
		}
		if got := c.EvalString(`document.getElementById("error").textContent`); got != "Nothing was changed: correct the field marked below." {
			t.Errorf("%s: the note at the top is %q", what, got)
		}
		if c.EvalBool(`!!document.getElementById("state")`) {
			if got := ssoState(t, c); got != "enabled" {
				t.Errorf("%s: the page shows the state %q, want enabled", what, got)
			}
		}
		unchanged(what)
	}

	// A garbage certificate, with another Issuer URL typed: both kept on the page.
	const issuer = "https://idp.example.com/changed"
	c.SetValue("idp_issuer", issuer)
	c.SetValue("idp_certificate", "this is not a certificate")
	c.Act(`document.getElementById("save-values").click()`)
	refused("a garbage certificate", "idp_certificate", "", http.StatusBadRequest)
	t.Logf("a garbage certificate: %s", c.EvalString(`document.getElementById("idp_certificate-error").textContent`))
	if c.EvalString(`document.getElementById("idp_issuer").value`) != issuer || c.EvalString(`document.getElementById("idp_sso_url").value`) != run.IdPSSOURL ||
		c.EvalString(`document.getElementById("idp_certificate").value`) != "this is not a certificate" {
		t.Errorf("the values typed are not kept: %q %q %q", c.EvalString(`document.getElementById("idp_issuer").value`),
			c.EvalString(`document.getElementById("idp_sso_url").value`), c.EvalString(`document.getElementById("idp_certificate").value`))
	}
	if c.EvalString(`document.getElementById("idp_certificate").getAttribute("aria-describedby")`) != "idp_certificate-help idp_certificate-error" {
		t.Error("the certificate field is not described by its error")
	}
	c.Screenshot(filepath.Join(shots, "admin-sso-error.png"))

	// An expired certificate.
	c.Open(run.GateURL+"/sso/admin/sso", "the SSO settings", `document.getElementById("values-form")`)
	c.SetValue("idp_certificate", expiredCertificate(t))
	c.Act(`document.getElementById("save-values").click()`)
	refused("an expired certificate", "idp_certificate", "expired on", http.StatusBadRequest)

	// A plain-http Authentication URL off localhost.
	c.Open(run.GateURL+"/sso/admin/sso", "the SSO settings", `document.getElementById("values-form")`)
	c.SetValue("idp_sso_url", "http://idp.example.com/sso")
	c.Act(`document.getElementById("save-values").click()`)
	refused("a plain-http URL", "idp_sso_url", "Must use https", http.StatusBadRequest)
	if got := c.EvalString(`document.getElementById("idp_sso_url").getAttribute("aria-invalid")`); got != "true" {
		t.Errorf("the refused URL field: aria-invalid %q", got)
	}

	// Metadata that is not SAML.
	c.Open(run.GateURL+"/sso/admin/sso", "the SSO settings", `document.getElementById("metadata-form")`)
	c.Do(`document.querySelector("#metadata-form").closest("details").open = true`)
	c.SetValue("idp_metadata_xml", "<html><body>Sign in</body></html>")
	c.Act(`document.getElementById("save-metadata").click()`)
	refused("metadata that is not SAML", "idp_metadata_xml", "not SAML metadata", http.StatusBadRequest)
	if !c.EvalBool(`document.querySelector("#metadata-form").closest("details").open`) {
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
	c.Open(run.GateURL+"/sso/admin/domains", "the Domains page", `document.getElementById("claim-form")`)
	c.SetValue("domain", "co.uk")
	c.Act(`document.getElementById("claim").click()`)
	refused("a public suffix", "domain", "", http.StatusBadRequest)
	t.Logf("a public suffix: %s", c.EvalString(`document.getElementById("domain-error").textContent`))
	if got := c.EvalString(`document.getElementById("domain").value`); got != "co.uk" {
		t.Errorf("the domain typed is not kept: %q", got)
	}
	c.Screenshot(filepath.Join(shots, "admin-domains-error.png"))
	if got := domains(); got != claimed {
		t.Errorf("the domains after a public suffix: %q, want %q", got, claimed)
	}

	// A form without its CSRF token: 403, nothing claimed.
	c.Open(run.GateURL+"/sso/admin/domains", "the Domains page", `document.getElementById("claim-form")`)
	c.SetValue("domain", "other.example")
	c.Do(`document.querySelector("#claim-form input[name=csrf]").remove()`)
	c.Act(`document.getElementById("claim").click()`)
	c.WaitPage("the form without a token refused", `document.getElementById("error")`)
	if got, text := c.Status(), c.EvalString(`document.getElementById("error").textContent`); got != http.StatusForbidden ||
		text != "The form expired or came from another site. Nothing was changed; please try again." {
		t.Errorf("a form without its CSRF token: %d %q", got, text)
	}
	if got := domains(); got != claimed {
		t.Errorf("the domains after a form without its token: %q, want %q", got, claimed)
	}
	unchanged("the forms")
	t.Logf("the bad-input browser test took %s", time.Since(began).Round(time.Millisecond))
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
func signInWithPassword(t *testing.T, c *cdptest.Chrome, run *demo.Running, loginURL string) {
	t.Helper()
	c.Open(loginURL, "the password form", `document.getElementById("password-form")`)
	signInAgain(t, c, run)
}

// signInAgain fills the password form the tab shows, as the owner.
func signInAgain(t *testing.T, c *cdptest.Chrome, run *demo.Running) {
	t.Helper()
	if run.OwnerPassword == "" {
		t.Fatal("the demo printed no password for the owner")
	}
	c.SetValue("email", run.OwnerEmail)
	c.SetValue("password", run.OwnerPassword)
	c.Act(`document.querySelector("#password-form button[type=submit]").click()`)
	c.WaitPage("the SSO settings", `location.pathname === "/sso/admin/sso" && document.getElementById("state")`)
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

// ssoState is the SSO connection's state the SSO page shows.
func ssoState(t *testing.T, c *cdptest.Chrome) string {
	t.Helper()
	return c.EvalString(`document.querySelector("#state strong").textContent`)
}

// signOut signs the browser out as a person does: the sign-out page, its
// button.
func signOut(c *cdptest.Chrome, run *demo.Running) {
	c.Open(run.GateURL+"/sso/logout", "the sign-out page", `document.getElementById("logout-form")`)
	c.Act(`document.querySelector("#logout-form button").click()`)
	c.WaitPage("the signed-out page", `document.body.innerText.includes("You are signed out")`)
}
