package caddymodule

import (
	"encoding/json"
	"fmt"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
)

// cliAuditDefaultLimit is how many events audit shows without --limit.
const cliAuditDefaultLimit = 50

func cliAuditCommand() caddycmd.Command {
	return caddycmd.Command{
		Name:  "audit",
		Usage: "[--limit <n>] [--json] [--org <name>] [--db <path>]",
		Short: "Shows an org's activity log",
		Long: `
Shows the org's activity log, newest first: every change made through the
Access Security pages, the admin API, this CLI and SCIM provisioning, with
when it was made, who made it (a member's email, a token's name and ID,
the IdP's SCIM token, or the operator), what it was, what it changed and
the values before and after. No event holds a secret: a token is named,
never shown; a password change says that it happened; a certificate shows
as its fingerprint and a metadata document as its size.

  WHEN     the time of the change, in UTC
  WHO      who made it
  WHAT     the change, such as sso.update, token.create, member.role or
           scim.user.update
  TARGET   what it changed: an email, a domain, a team or token name
  CHANGE   the fields changed, "field: before → after"

--limit <n>
    Show the newest n events. Default: 50.

--json
    Print each event as one JSON object per line (JSON Lines), newest
    first, in the admin API's shape (GET /api/v1/audit): id, at, actor,
    actor_kind, action, target, before and after (objects, or null).
` + cliCommonFlagsDoc,
		CobraFunc: func(cmd *cobra.Command) {
			cliSingle(cmd, cliLeaf{
				flags: func(fl *pflag.FlagSet) {
					fl.Int("limit", cliAuditDefaultLimit, "how many of the newest events to show")
					fl.Bool("json", false, "print JSON Lines, one event a line")
				},
				run: cliAudit,
			})
		},
	}
}

func cliAudit(c *cliCall) (int, error) {
	limit, err := c.cmd.Flags().GetInt("limit")
	if err != nil || limit < 1 {
		return cliExitUsage, fmt.Errorf("--limit takes a number of events, at least 1, not %q", c.cmd.Flags().Lookup("limit").Value)
	}
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	events, total, err := st.ListAudit(c.ctx, org.ID, storage.Page{StartIndex: 1, Count: limit})
	if err != nil {
		return cliExitFailure, err
	}
	if c.flags.Bool("json") {
		enc := json.NewEncoder(c.stdout)
		enc.SetEscapeHTML(false)
		for _, e := range events {
			if err := enc.Encode(orgadmin.DescribeEvent(e)); err != nil {
				return cliExitFailure, err
			}
		}
		return cliExitOK, nil
	}
	if len(events) == 0 {
		c.notef("Org %s has no recorded activity yet.\n", cliClean(org.Name))
		return cliExitOK, nil
	}
	rows := make([][]string, 0, len(events))
	for _, e := range events {
		rows = append(rows, []string{e.At.UTC().Format("2006-01-02 15:04:05 UTC"), orgadmin.Who(e), e.Action, e.Target, orgadmin.ChangeText(e.Before, e.After)})
	}
	if err := c.table([]string{"WHEN", "WHO", "WHAT", "TARGET", "CHANGE"}, rows); err != nil {
		return cliExitFailure, err
	}
	if total > len(events) {
		c.notef("The newest %d of %d events; --limit shows more.\n", len(events), total)
	}
	return cliExitOK, nil
}
