package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

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
		Usage: "[--since <time|duration>] [--limit <n>] [--json] [--org <name>] [--db <path>]",
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

--since <time|duration>
    Show only the events at or after a time: an RFC 3339 time such as
    2026-12-01T09:00:00Z, or a duration back from now such as 24h or 90m.

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
					fl.String("since", "", "only events at or after this RFC 3339 time, or this long ago (24h)")
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
	since, err := parseSince(c.flags.String("since"), time.Now())
	if err != nil {
		return cliExitUsage, err
	}
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	events, more, total, err := auditSince(c.ctx, st, org.ID, since, limit)
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
		if !since.IsZero() {
			c.notef("Org %s has no recorded activity since %s.\n", cliClean(org.Name), since.UTC().Format(time.RFC3339))
			return cliExitOK, nil
		}
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
	switch {
	case more && !since.IsZero():
		c.notef("The newest %d events since %s; --limit shows more.\n", len(events), since.UTC().Format(time.RFC3339))
	case more:
		c.notef("The newest %d of %d events; --limit shows more.\n", len(events), total)
	}
	return cliExitOK, nil
}

// parseSince reads --since: an RFC 3339 time, or a duration back from
// now. The zero time means no bound.
func parseSince(v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since takes an RFC 3339 time such as 2026-12-01T09:00:00Z or a duration such as 24h, not %q", v)
}

// auditPage is how many events auditSince reads at a time.
const auditPage = 200

// auditSince returns up to limit of the newest events at or after since
// (any, when since is zero), whether there are more, and how many events
// the org has in all. The log is newest first, so reading stops at the
// first older event.
func auditSince(ctx context.Context, st storage.AuditStore, orgID int64, since time.Time, limit int) (out []storage.AuditEvent, more bool, total int, err error) {
	for start := 1; ; {
		var page []storage.AuditEvent
		page, total, err = st.ListAudit(ctx, orgID, storage.Page{StartIndex: start, Count: min(limit+1-len(out), auditPage)})
		if err != nil {
			return nil, false, 0, err
		}
		for _, e := range page {
			if !since.IsZero() && e.At.Before(since) {
				return out, false, total, nil
			}
			if len(out) == limit {
				return out, true, total, nil
			}
			out = append(out, e)
		}
		start += len(page)
		if len(page) == 0 || start > total {
			return out, false, total, nil
		}
	}
}
