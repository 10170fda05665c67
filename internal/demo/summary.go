package demo

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteSummary tells a person what to open and who to be: by default the
// steps that set up the org's SSO with the values to paste, with
// Options.Ready who to sign in as.
func (r *Running) WriteSummary(w io.Writer) error {
	if !r.Ready {
		return r.writeSetupSummary(w)
	}
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("ssogate demo is running.\n\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 3, ' ', 0)
	fmt.Fprintf(tw, "  Open the app\t%s/\t(behind the saml_sso gate)\n", r.GateURL)
	fmt.Fprintf(tw, "  Demo IdP\t%s/\t(stands in for Okta; its page has dashboard tiles)\n", r.IdPURL)
	fmt.Fprintf(tw, "  SCIM sidecar\t%s/scim/v2\t(scim_server, on its own port)\n", r.SCIMURL)
	tw.Flush()

	p("\nWho to be (org %q, claimed domain %s):\n", Org, Domain)
	tw = tabwriter.NewWriter(&b, 0, 4, 3, ' ', 0)
	for _, person := range r.People {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", person.Email, person.Name(), personNote(person))
	}
	tw.Flush()
	p("  Sign in through the IdP: open the app, Continue with SSO, choose a person.\n")
	if r.OwnerPassword != "" {
		p("  Break-glass password of %s (the form on the login page): %s\n", r.OwnerEmail, r.OwnerPassword)
	}

	p("\nSCIM token (scope scim; a new one at every run):\n  %s\n", r.SCIMToken)
	p("List the members with it:\n  curl -s -H 'Authorization: Bearer %s' %s/scim/v2/Users\n", r.SCIMToken, r.SCIMURL)

	p("\nData: %s\n", r.Dir)
	if r.Reused {
		p("  (an earlier run's: its people, teams and sessions are kept; the password and token are new)\n")
	}
	p("  The Caddyfile it runs and caddy.log are in there. Run again on the same data with --dir %s\n", shellQuote(r.Dir))
	for _, n := range r.PortNotes {
		p("Note: %s.\n", n)
	}
	p("\nStarted in %s. Press Ctrl-C to stop.\n", r.StartedIn.Round(time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}

// writeSetupSummary is the summary of the default demo: the org's SSO is
// the owner's to set up, and the steps say how, with every value to paste.
func (r *Running) writeSetupSummary(w io.Writer) error {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("ssogate demo is running. Organization %q has no single sign-on yet: set it up in\n", Org)
	p("the browser as its owner, the way an organization's IT admin does.\n\n")
	tw := tabwriter.NewWriter(&b, 0, 4, 3, ' ', 0)
	fmt.Fprintf(tw, "  Open the app\t%s/\t(behind the saml_sso gate)\n", r.GateURL)
	fmt.Fprintf(tw, "  Demo IdP\t%s/\t(stands in for Okta; its page shows the values below)\n", r.IdPURL)
	fmt.Fprintf(tw, "  SCIM sidecar\t%s/scim/v2\t(scim_server, on its own port)\n", r.SCIMURL)
	tw.Flush()

	owner := r.owner()
	if r.OwnerPassword != "" {
		p("\nThe owner: %s, %s\n  Password: %s   (a new one at every run)\n", owner.Name(), r.OwnerEmail, r.OwnerPassword)
	} else {
		p("\nThe owner, %s, is no longer a member of this folder's org, so there is no password to sign in with:\n", r.OwnerEmail)
		p("  run the demo on a new folder (without --dir) to walk the setup.\n")
	}
	if state := r.setupState(); state != "" {
		p("  Now: %s (left by an earlier run on this folder).\n", state)
	}
	for _, n := range r.SetupNotes {
		p("  Note: %s.\n", n)
	}

	p("\nSet up single sign-on:\n")
	p("  1. Sign in as the owner with the password:\n       %s\n", r.OwnerLoginURL)
	p("  2. On Access Security, 2FA & SSO: paste the demo IdP's three values and save.\n")
	tw = tabwriter.NewWriter(&b, 0, 4, 3, ' ', 0)
	fmt.Fprintf(tw, "       Authentication URL\t%s\n", r.IdPSSOURL)
	fmt.Fprintf(tw, "       Issuer URL\t%s\n", r.IdPIssuer)
	fmt.Fprintf(tw, "       Public Certificate\tthe PEM printed below, or download %s\n", r.IdPCertificateURL)
	fmt.Fprintf(tw, "       \t(a copy is in %s)\n", r.CertificateFile)
	tw.Flush()
	p("  3. On Domains: claim %s, then Verify: the demo's DNS publishes the record for you\n", Domain)
	p("     (TXT %s, at %s).\n", ChallengeName, r.DNSAddr)
	p("  4. On 2FA & SSO: Test sign-in, and choose %s at the IdP; the result shows what\n", r.People[0].Name())
	p("     the IdP sent and each rule. A test passes only for an email in a verified\n")
	p("     domain: hence step 3 first.\n")
	p("  5. Enable: SSO is on for the org.\n")
	p("  6. On SCIM: generate a token. With the SCIM base URL, %s/scim/v2,\n", r.SCIMURL)
	p("     it goes into the IdP's provisioning settings (the demo IdP does not provision).\n")
	p("  7. Sign out, open %s/ and Continue with SSO, as anyone:\n", r.GateURL)
	tw = tabwriter.NewWriter(&b, 0, 4, 3, ' ', 0)
	for _, person := range r.People {
		fmt.Fprintf(tw, "       %s\t%s\t%s\n", person.Email, person.Name(), personNote(person))
	}
	tw.Flush()
	p("     Until SSO is enabled and %s verified, nobody signs in through the IdP.\n", Domain)

	p("\nPublic Certificate of the demo IdP (step 2):\n%s", r.IdPCertificatePEM)
	if !strings.HasSuffix(r.IdPCertificatePEM, "\n") {
		p("\n")
	}

	p("\nSCIM token the demo made (scope scim; a new one at every run):\n  %s\n", r.SCIMToken)
	p("List the members with it:\n  curl -s -H 'Authorization: Bearer %s' %s/scim/v2/Users\n", r.SCIMToken, r.SCIMURL)

	p("\nData: %s\n", r.Dir)
	if r.Reused {
		p("  (an earlier run's: its people, teams, SSO settings and sessions are kept; the password and token are new)\n")
	}
	p("  The Caddyfile it runs and caddy.log are in there. Run again on the same data with --dir %s\n", shellQuote(r.Dir))
	p("  `ssogate demo --ready` starts with SSO set up instead.\n")
	for _, n := range r.PortNotes {
		p("Note: %s.\n", n)
	}
	p("\nStarted in %s. Press Ctrl-C to stop.\n", r.StartedIn.Round(time.Millisecond))
	_, err := io.WriteString(w, b.String())
	return err
}

// owner is the demo person with the password.
func (r *Running) owner() Person {
	for _, p := range r.People {
		if p.HasPassword {
			return p
		}
	}
	return Person{Email: r.OwnerEmail}
}

// personNote says who a person is, for the summary's tables.
func personNote(person Person) string {
	what := string(person.Role)
	if !person.Active {
		return "deactivated " + what + ": refused at sign-in"
	}
	if len(person.Teams) == 1 {
		what += ", team " + person.Teams[0]
	} else if len(person.Teams) > 1 {
		what += ", teams " + strings.Join(person.Teams, ", ")
	}
	return what
}

// setupState says how far an earlier run got with the setup, "" when it
// starts from nothing.
func (r *Running) setupState() string {
	if r.SSOState == "" && r.DomainState == "" {
		return ""
	}
	sso := "SSO " + r.SSOState
	if r.SSOState == "" {
		sso = "no SSO settings"
	}
	domain := Domain + " " + r.DomainState
	if r.DomainState == "" {
		domain = Domain + " not claimed"
	}
	return sso + ", " + domain
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
