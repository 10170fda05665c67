package caddymodule

import (
	"fmt"
	"sort"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
)

func cliTeamCommand() caddycmd.Command {
	return caddycmd.Command{
		Name:  "team",
		Usage: "list | set-role <team> admin|member|none [--org <name>] [--db <path>]",
		Short: "Lists the teams of an org and sets the role they grant",
		Long: `
Shows the teams of an org: named sets of members, which IdPs push as SCIM
Groups and the gate passes to the app in X-Forwarded-Groups. A team may
grant its members a role (admin or member): a member's role is the highest
of their own and their teams' roles. A team never grants owner.

  team list                        lists the org's teams with their roles
                                   and members
  team set-role <team> <role>      sets the role the team grants: admin,
                                   member, or none

Flags:
` + cliCommonFlagsDoc,
		CobraFunc: func(cmd *cobra.Command) {
			cliGroup(cmd,
				cliLeaf{
					list:  true,
					use:   "list [--json] [--org <name>] [--db <path>]",
					short: "Lists the org's teams",
					long: `
Lists the org's teams: name, the role it grants ("-" for none), number
of members, and the members' emails.
` + cliCommonFlagsDoc,
					run: cliTeamList,
				},
				cliLeaf{
					use:   "set-role <team> admin|member|none [--org <name>] [--db <path>]",
					short: "Sets the role a team grants",
					long: `
Sets the role the team grants its members: admin, member, or none. The
team is named as team list shows it (in any case) or by its ID (the SCIM
Group id). Signed-in members carry their new effective role from their
next request on. A team cannot grant owner; make owners one by one with
user set-role.
` + cliCommonFlagsDoc,
					args: []string{"<team>", "<role>"},
					run:  cliTeamSetRole,
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
	if len(teams) == 0 && !c.json {
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
		rows = append(rows, []string{t.Name, string(t.Role), fmt.Sprint(len(t.MemberIDs)), strings.Join(list, ", ")})
	}
	return cliResult(c.table([]string{"TEAM", "ROLE", "MEMBERS", "EMAILS"}, rows))
}

func cliTeamSetRole(c *cliCall) (int, error) {
	role, err := storage.ParseTeamRole(c.args[1])
	if err != nil {
		return cliExitUsage, err
	}
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	team, err := cliTeam(c, st, org, c.args[0])
	if err != nil {
		return cliExitFailure, err
	}
	if team.Role == role {
		c.printf("Team %s grants %s already.\n", cliClean(team.Name), cliTeamRole(role))
		return cliExitOK, nil
	}
	if _, err := c.admin(st).SetTeamRole(c.ctx, org, orgadmin.Operator, team.ID, role); err != nil {
		return cliExitFailure, err
	}
	c.printf("Team %s now grants %s to its %s (was %s).\n",
		cliClean(team.Name), cliTeamRole(role), cliPlural(len(team.MemberIDs), "member"), cliTeamRole(team.Role))
	return cliExitOK, nil
}

// cliTeam finds the org's team by ID or by name, as team list shows it.
func cliTeam(c *cliCall, st storage.Store, org storage.Org, nameOrID string) (storage.Team, error) {
	teams, _, err := st.ListTeams(c.ctx, org.ID, storage.Page{})
	if err != nil {
		return storage.Team{}, err
	}
	for _, t := range teams {
		if t.ID == nameOrID {
			return t, nil
		}
	}
	for _, t := range teams {
		if strings.EqualFold(t.Name, nameOrID) {
			return t, nil
		}
	}
	return storage.Team{}, fmt.Errorf("org %s has no team %q; see `%s`", org.Name, nameOrID, c.hint("team list", true))
}

// cliTeamRole names the role a team grants, "none" for none.
func cliTeamRole(r storage.Role) string {
	if r == "" {
		return "none"
	}
	return string(r)
}

// cliPlural is "1 member", "2 members".
func cliPlural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
