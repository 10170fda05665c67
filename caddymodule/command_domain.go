package caddymodule

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ssogate/ssogate/internal/domainclaim"
	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

func cliDomainCommand() caddycmd.Command {
	return caddycmd.Command{
		Name:  "domain",
		Usage: "claim|verify|list|remove [<domain>] [--org <name>] [--db <path>]",
		Short: "Claims and verifies the email domains of an org",
		Long: `
Manages the email domains an org claims. Only people whose email domain
the org has claimed and verified can sign in through its IdP or be
provisioned over SCIM. A claim is proved with a DNS TXT record; domains
named with "domain" in a Caddyfile are verified by the config itself.

  domain claim <domain>    starts a claim; prints the TXT value to publish
                           (alone on stdout; the instructions go to stderr)
  domain verify <domain>   looks up the TXT record and verifies the claim
  domain list              lists the org's claims
  domain remove <domain>   removes a claim (members are kept)

Flags:

--dns-resolver <host[:port]>
    domain verify: the DNS server to ask for the TXT record. Default: the
    system resolver.
` + cliCommonFlagsDoc,
		CobraFunc: func(cmd *cobra.Command) {
			cliGroup(cmd,
				cliLeaf{
					use:   "claim <domain> [--org <name>] [--db <path>]",
					short: "Starts a claim on a domain",
					long: `
Records a pending claim on the domain for the org and prints the DNS TXT
record that proves it. Stdout holds the TXT value alone, so a script can
capture it; the record's name and the instructions go to stderr. Publish
the record, then run domain verify. Public suffixes (com, co.uk) and
malformed names are refused, and so is a domain another org verified.
Claiming a domain the org has pending already prints the same value again.
` + cliCommonFlagsDoc,
					args: []string{"<domain>"},
					run:  cliDomainClaim,
				},
				cliLeaf{
					use:   "verify <domain> [--dns-resolver <host[:port]>] [--org <name>] [--db <path>]",
					short: "Verifies a claim by its DNS TXT record",
					long: `
Looks up the TXT record at _ssogate-challenge.<domain> and, when it holds
the claim's value, marks the claim verified. Otherwise it exits with 1
and says what it found.

--dns-resolver <host[:port]>
    The DNS server to ask (port 53 when omitted). Default: the system
    resolver. Set it like the ssogate app's dns_resolver option.
` + cliCommonFlagsDoc,
					args: []string{"<domain>"},
					flags: func(fl *pflag.FlagSet) {
						fl.String("dns-resolver", "", "DNS server host[:port] (default: the system resolver)")
					},
					run: cliDomainVerify,
				},
				cliLeaf{
					list:  true,
					use:   "list [--json] [--org <name>] [--db <path>]",
					short: "Lists the org's domain claims",
					long: `
Lists the org's claims: the domain, its status (pending or verified),
where it comes from ("config" for a Caddyfile domain line, "claim" for
domain claim), when it was claimed and verified, and for a pending claim
the TXT value still to publish.
` + cliCommonFlagsDoc,
					run: cliDomainList,
				},
				cliLeaf{
					use:   "remove <domain> [--org <name>] [--db <path>]",
					short: "Removes a domain claim",
					long: `
Removes the org's claim on the domain. Existing members keep their
membership; new sign-ins and provisioning for the domain are refused.
A domain from a Caddyfile is claimed again when the config next loads,
unless its domain line is removed too.
` + cliCommonFlagsDoc,
					args: []string{"<domain>"},
					run:  cliDomainRemove,
				},
			)
		},
	}
}

func cliDomainClaim(c *cliCall) (int, error) {
	domain, err := domainclaim.Normalize(c.args[0])
	if err != nil {
		return cliExitFailure, err
	}
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	// A pending claim is shown again rather than refused, so that a lost
	// TXT value is one command away.
	claim, err := st.DomainByName(c.ctx, org.ID, domain)
	switch {
	case err == nil && claim.Status == storage.DomainVerified:
		return cliExitFailure, fmt.Errorf("org %s has %s verified already", org.Name, domain)
	case err == nil:
		c.notef("Org %s claimed %s already; the challenge is unchanged.\n", cliClean(org.Name), domain)
	case errors.Is(err, storage.ErrNotFound):
		claim, err = c.admin(st).ClaimDomain(c.ctx, org, orgadmin.Operator, domain)
		var re *tenant.RuleError
		if errors.As(err, &re) {
			return cliExitFailure, errors.New(re.Reason)
		}
		if err != nil {
			return cliExitFailure, err
		}
		c.notef("Claimed %s for org %s; the claim is pending.\n", domain, cliClean(org.Name))
	default:
		return cliExitFailure, err
	}
	c.notef(`To prove it, publish this DNS TXT record:

    name:  %s
    value: %s

then run: %s
`, domainclaim.RecordName(domain), claim.TXTValue, c.hint("domain verify "+domain, true))
	c.printf("%s\n", claim.TXTValue)
	return cliExitOK, nil
}

func cliDomainVerify(c *cliCall) (int, error) {
	domain, err := domainclaim.Normalize(c.args[0])
	if err != nil {
		return cliExitFailure, err
	}
	resolver, err := cliResolverAddr(c.flags.String("dns-resolver"))
	if err != nil {
		return cliExitUsage, err
	}
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	claim, err := st.DomainByName(c.ctx, org.ID, domain)
	if errors.Is(err, storage.ErrNotFound) {
		return cliExitFailure, fmt.Errorf("org %s has no claim on %s; start one with `%s`",
			org.Name, domain, c.hint("domain claim "+domain, true))
	}
	if err != nil {
		return cliExitFailure, err
	}
	if claim.Status == storage.DomainVerified {
		c.printf("%s is verified for org %s (since %s).\n", domain, cliClean(org.Name), cliTime(claim.VerifiedAt))
		return cliExitOK, nil
	}
	admin := c.admin(st)
	admin.Resolver = domainclaim.NewResolver(resolver)
	_, err = admin.VerifyDomain(c.ctx, org, orgadmin.Operator, domain)
	var ve *orgadmin.VerifyError
	var re *tenant.RuleError
	switch {
	case errors.As(err, &ve):
		return cliExitFailure, errors.New(ve.Reason) // says what to publish
	case errors.As(err, &re):
		return cliExitFailure, errors.New(re.Reason)
	case err != nil:
		return cliExitFailure, err
	}
	c.printf("Verified %s for org %s.\n", domain, cliClean(org.Name))
	return cliExitOK, nil
}

// cliResolverAddr checks a --dns-resolver value, adding port 53 when it
// has none.
func cliResolverAddr(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	if host, port, err := net.SplitHostPort(v); err == nil {
		if n, err := strconv.ParseUint(port, 10, 16); host == "" || err != nil || n == 0 {
			return "", fmt.Errorf("--dns-resolver %q is not host[:port]", v)
		}
		return v, nil
	}
	// No port: a host name or an IP address, IPv6 ones unbracketed.
	if net.ParseIP(v) != nil || !strings.ContainsRune(v, ':') {
		return net.JoinHostPort(v, "53"), nil
	}
	return "", fmt.Errorf("--dns-resolver %q is not host[:port]", v)
}

func cliDomainList(c *cliCall) (int, error) {
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	domains, err := st.ListDomains(c.ctx, org.ID)
	if err != nil {
		return cliExitFailure, err
	}
	if len(domains) == 0 && !c.json {
		c.notef("Org %s has no domains; claim one with `%s`.\n", cliClean(org.Name), c.hint("domain claim DOMAIN", true))
		return cliExitOK, nil
	}
	rows := make([][]string, 0, len(domains))
	for _, d := range domains {
		source, verified, txt := "claim", "-", d.TXTValue
		if d.FromConfig {
			source = "config"
		}
		if d.Status == storage.DomainVerified {
			verified, txt = cliTime(d.VerifiedAt), ""
		}
		rows = append(rows, []string{d.Name, d.Status, source, cliTime(d.CreatedAt), verified, txt})
	}
	return cliResult(c.table([]string{"DOMAIN", "STATUS", "SOURCE", "CLAIMED", "VERIFIED", "TXT VALUE"}, rows))
}

func cliDomainRemove(c *cliCall) (int, error) {
	domain, err := domainclaim.Normalize(c.args[0])
	if err != nil {
		return cliExitFailure, err
	}
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	claim, err := st.DomainByName(c.ctx, org.ID, domain)
	if err == nil {
		// The operator may remove a Caddyfile's domain too (a note below
		// says it comes back), as nobody else may.
		err = c.admin(st).RemoveDomain(c.ctx, org, orgadmin.Operator, domain)
	}
	var re *tenant.RuleError
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return cliExitFailure, fmt.Errorf("org %s has no claim on %s; see `%s`", org.Name, domain, c.hint("domain list", true))
	case errors.As(err, &re):
		return cliExitFailure, errors.New(re.Reason)
	case err != nil:
		return cliExitFailure, err
	}
	c.printf("Removed %s from org %s. Members keep their membership; new sign-ins from %s are refused.\n",
		domain, cliClean(org.Name), domain)
	if claim.FromConfig {
		c.notef("Note: %s comes from a Caddyfile domain line; it is claimed again when the config next loads unless that line goes too.\n", domain)
	}
	return cliExitOK, nil
}
