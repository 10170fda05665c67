package demo

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteSummary tells a person what to open and who to be.
func (r *Running) WriteSummary(w io.Writer) error {
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
		what := string(person.Role)
		if !person.Active {
			what = "deactivated " + what + ": refused at sign-in"
		} else if len(person.Teams) == 1 {
			what += ", team " + person.Teams[0]
		} else if len(person.Teams) > 1 {
			what += ", teams " + strings.Join(person.Teams, ", ")
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", person.Email, person.Name(), what)
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

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
