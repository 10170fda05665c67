package caddymodule

import (
	"fmt"
	"sort"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/ssogate/ssogate/internal/storage"
)

func cliTeamCommand() caddycmd.Command {
	return caddycmd.Command{
		Name:  "team",
		Usage: "list [--org <name>] [--db <path>]",
		Short: "Lists the teams of an org",
		Long: `
Shows the teams of an org: named sets of members, which IdPs push as SCIM
Groups and the gate passes to the app in X-Forwarded-Groups.

  team list   lists the org's teams with their members

Flags:
` + cliCommonFlagsDoc,
		CobraFunc: func(cmd *cobra.Command) {
			cliGroup(cmd,
				cliLeaf{
					use:   "list [--org <name>] [--db <path>]",
					short: "Lists the org's teams",
					long: `
Lists the org's teams: name, number of members, and the members' emails.
` + cliCommonFlagsDoc,
					run: cliTeamList,
				},
			)
		},
	}
}

func cliTeamList(c *cliCall) (int, error) {
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	teams, _, err := st.ListTeams(c.ctx, org.ID, storage.Page{})
	if err != nil {
		return cliExitFailure, err
	}
	if len(teams) == 0 {
		c.notef("Org %s has no teams; an IdP creates them by pushing groups over SCIM.\n", cliClean(org.Name))
		return cliExitOK, nil
	}
	members, _, err := st.ListMembers(c.ctx, org.ID, storage.Page{})
	if err != nil {
		return cliExitFailure, err
	}
	emails := make(map[string]string, len(members))
	for _, m := range members {
		emails[m.ID] = m.Email
	}
	rows := make([][]string, 0, len(teams))
	for _, t := range teams {
		list := make([]string, 0, len(t.MemberIDs))
		for _, id := range t.MemberIDs {
			if e, ok := emails[id]; ok {
				list = append(list, e)
			}
		}
		sort.Slice(list, func(i, j int) bool { return strings.ToLower(list[i]) < strings.ToLower(list[j]) })
		rows = append(rows, []string{t.Name, fmt.Sprint(len(t.MemberIDs)), strings.Join(list, ", ")})
	}
	return cliResult(c.table([]string{"TEAM", "MEMBERS", "EMAILS"}, rows))
}
