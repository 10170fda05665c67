package caddymodule

import (
	"errors"
	"fmt"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

func cliOrgCommand() caddycmd.Command {
	return caddycmd.Command{
		Name:  "org",
		Usage: "create <name> | list [--db <path>]",
		Short: "Creates and lists ssogate organizations",
		Long: `
Manages organizations: the customers of the protected app, each with one
IdP, claimed domains, members and teams. An org named in a Caddyfile
(saml_sso { org NAME }) is created when the config loads; these commands
make and list them by hand.

  org create <name>   creates an org
  org list            lists every org with its member and domain counts

Flags:
` + cliCommonFlagsDoc,
		CobraFunc: func(cmd *cobra.Command) {
			cliGroup(cmd,
				cliLeaf{
					use:   "create <name> [--db <path>]",
					short: "Creates an organization",
					long: `
Creates an organization, and the database file if there is none yet.
The name may also be given as --org. It must be a slug: lower-case
letters, digits and inner hyphens, at most 63 characters (such as acme
or acme-eu), since it appears in URLs (<path_prefix>/o/<name>/acs) and
headers. It fails when the org exists.
` + cliCommonFlagsDoc,
					anyArgs:   true,
					createsDB: true,
					run:       cliOrgCreate,
				},
				cliLeaf{
					list:  true,
					use:   "list [--json] [--db <path>]",
					short: "Lists organizations",
					long: `
Lists every organization: its name, where it comes from ("config" for
one named in a Caddyfile, "manual" for one made with org create), its
members, its verified domains and when it was created.

--json
    Print a JSON array of objects, one an org, for scripts.

--db <path>
    The SQLite database of the ssogate app. Default:
    <Caddy data dir>/ssogate/ssogate.db.`,
					noOrg: true,
					run:   cliOrgList,
				},
			)
		},
	}
}

func cliOrgCreate(c *cliCall) (int, error) {
	name := ""
	orgFlag := c.cmd.Flags().Changed("org")
	switch {
	case len(c.args) > 1:
		return cliExitUsage, fmt.Errorf("`%s` takes one name, got %d arguments", cliCommandPath(c.cmd), len(c.args))
	case len(c.args) == 1 && orgFlag && c.args[0] != c.orgName:
		return cliExitUsage, fmt.Errorf("two names given: %q and --org %q; give one", c.args[0], c.orgName)
	case len(c.args) == 1:
		name = c.args[0]
	case orgFlag:
		name = c.orgName
	default:
		return cliExitUsage, fmt.Errorf("`%s` needs the name of the org to create (see `%s --help`)",
			cliCommandPath(c.cmd), cliCommandPath(c.cmd))
	}
	if err := tenant.ValidateOrgName(name); err != nil {
		return cliExitUsage, err
	}
	st, err := c.open()
	if err != nil {
		return cliExitFailure, err
	}
	org, err := st.CreateOrg(c.ctx, name)
	if errors.Is(err, storage.ErrConflict) {
		return cliExitFailure, fmt.Errorf("org %s exists already", name)
	}
	if err != nil {
		return cliExitFailure, err
	}
	c.admin(st).Record(c.ctx, org, orgadmin.Operator, "org.create", org.Name, nil, nil)
	c.printf("Created org %s.\n", cliClean(org.Name))
	return cliExitOK, nil
}

func cliOrgList(c *cliCall) (int, error) {
	st, err := c.open()
	if err != nil {
		return cliExitFailure, err
	}
	orgs, err := st.ListOrgs(c.ctx)
	if err != nil {
		return cliExitFailure, err
	}
	if len(orgs) == 0 && !c.json {
		c.notef("No orgs yet; create one with `%s` or name one in a Caddyfile.\n", c.hint("org create NAME", false))
		return cliExitOK, nil
	}
	rows := make([][]string, 0, len(orgs))
	for _, o := range orgs {
		_, members, err := st.ListMembers(c.ctx, o.ID, storage.Page{StartIndex: 1, Count: 1})
		if err != nil {
			return cliExitFailure, err
		}
		domains, err := st.ListDomains(c.ctx, o.ID)
		if err != nil {
			return cliExitFailure, err
		}
		verified := 0
		for _, d := range domains {
			if d.Status == storage.DomainVerified {
				verified++
			}
		}
		source := "manual"
		if o.FromConfig {
			source = "config"
		}
		rows = append(rows, []string{o.Name, source, fmt.Sprint(members), fmt.Sprint(verified), cliTime(o.CreatedAt)})
	}
	return cliResult(c.table([]string{"ORG", "SOURCE", "MEMBERS", "DOMAINS", "CREATED"}, rows))
}
