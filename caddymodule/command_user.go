package caddymodule

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"slices"
	"sort"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/password"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

func cliUserCommand() caddycmd.Command {
	return caddycmd.Command{
		Name:  "user",
		Usage: "list | show <email> | invite <email> | set-role <email> <role> | passwd <email> [--org <name>] [--db <path>]",
		Short: "Lists, invites and manages the members of an org",
		Long: `
Manages the members of an org: accounts (people, unique by email across
all orgs) with a role in the org: owner, admin or member.

  user list                      lists the org's members
  user show <email>              shows everything about one member
  user invite <email>            adds a person to the org, also one whose
                                 account exists in another org
  user set-role <email> <role>   sets the role: owner, admin or member
  user passwd <email>            sets the account's password, read as one
                                 line from stdin (for break-glass login)

Flags:

--role owner|admin|member
    user invite: the new member's role. Default: member.

--first <name>, --last <name>
    user invite: the new member's first and last names. Default: the names
    the account has in another org, if any.
` + cliCommonFlagsDoc,
		CobraFunc: func(cmd *cobra.Command) {
			cliGroup(cmd,
				cliLeaf{
					list:  true,
					use:   "list [--json] [--org <name>] [--db <path>]",
					short: "Lists the org's members",
					long: `
Lists the org's members: email, name, role, whether active, and teams.
` + cliCommonFlagsDoc,
					run: cliUserList,
				},
				cliLeaf{
					use:   "show <email> [--org <name>] [--db <path>]",
					short: "Shows one member",
					long: `
Shows everything about the org's member with this email: ID (the SCIM
User id), names, role, state, external ID, teams, whether a password is
set, the other orgs the account belongs to, and when it was created and
changed.
` + cliCommonFlagsDoc,
					args: []string{"<email>"},
					run:  cliUserShow,
				},
				cliLeaf{
					use:   "invite <email> [--role owner|admin|member] [--first <name>] [--last <name>] [--org <name>] [--db <path>]",
					short: "Adds a person to the org",
					long: `
Adds the person with this email to the org as an active member. When the
account exists already, as a member of another org, it gains a membership
here: this is how an admin brings in someone SCIM refuses to provision
because "the account exists outside the organization". It fails when the
person is a member of the org already.

The person signs in through the org's IdP (their email's domain must be
claimed and verified by the org; a note says when it is not) or, with a
password set by user passwd, through the password form.

--role owner|admin|member
    The member's role. Default: member.

--first <name>
    The member's first name. Default: the account's first name in another
    org, if any.

--last <name>
    The member's last name. Default: as for --first.
` + cliCommonFlagsDoc,
					args: []string{"<email>"},
					flags: func(fl *pflag.FlagSet) {
						fl.String("role", string(storage.RoleMember), "owner, admin or member")
						fl.String("first", "", "first name")
						fl.String("last", "", "last name")
					},
					run: cliUserInvite,
				},
				cliLeaf{
					use:   "set-role <email> owner|admin|member [--org <name>] [--db <path>]",
					short: "Sets a member's role",
					long: `
Sets the role of the org's member with this email: owner, admin or member.
Signed-in sessions carry the new role from their next request on.
` + cliCommonFlagsDoc,
					args: []string{"<email>", "<role>"},
					run:  cliUserSetRole,
				},
				cliLeaf{
					use:   "passwd <email> [--org <name>] [--db <path>]",
					short: "Sets a member's password from stdin",
					long: `
Sets the password of the account with this email, which must be a member
of the org. The password is read as one line from stdin (with no echo,
and asked twice, when stdin is a terminal):

    printf '%s\n' "$PASSWORD" | ssogate user passwd alice@acme.com --org acme

It must have at least 8 characters and at most 1024 bytes. It is stored
as an Argon2id hash. The password belongs to the account, so it works in
every org the account is a member of. With require_sso, only owners and
admins may use the password form.
` + cliCommonFlagsDoc,
					args: []string{"<email>"},
					run:  cliUserPasswd,
				},
			)
		},
	}
}

// cliTeamNames maps each member ID of the org to the names of its teams,
// sorted.
func cliTeamNames(c *cliCall, st storage.Store, orgID int64) (map[string][]string, []storage.Team, error) {
	teams, _, err := st.ListTeams(c.ctx, orgID, storage.Page{})
	if err != nil {
		return nil, nil, err
	}
	byMember := map[string][]string{}
	for _, t := range teams {
		for _, id := range t.MemberIDs {
			byMember[id] = append(byMember[id], t.Name)
		}
	}
	for _, names := range byMember {
		sort.Strings(names)
	}
	return byMember, teams, nil
}

// cliMember returns the org's member with the email, with an error a
// person can act on when there is none.
func cliMember(c *cliCall, st storage.Store, org storage.Org, email string) (storage.Member, error) {
	m, err := st.MemberByEmail(c.ctx, org.ID, strings.TrimSpace(email))
	if errors.Is(err, storage.ErrNotFound) {
		return m, fmt.Errorf("%s is not a member of org %s; see `%s`, or add them with `%s`",
			email, org.Name, c.hint("user list", true), c.hint("user invite "+cliShellQuote(email), true))
	}
	return m, err
}

func cliFullName(m storage.Member) string {
	if n := strings.TrimSpace(m.GivenName + " " + m.FamilyName); n != "" {
		return n
	}
	return m.DisplayName
}

func cliUserList(c *cliCall) (int, error) {
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	members, _, err := st.ListMembers(c.ctx, org.ID, storage.Page{})
	if err != nil {
		return cliExitFailure, err
	}
	if len(members) == 0 && !c.json {
		c.notef("Org %s has no members; add one with `%s`, or provision them over SCIM.\n",
			cliClean(org.Name), c.hint("user invite EMAIL", true))
		return cliExitOK, nil
	}
	teams, all, err := cliTeamNames(c, st, org.ID)
	if err != nil {
		return cliExitFailure, err
	}
	sort.SliceStable(members, func(i, j int) bool {
		return strings.ToLower(members[i].Email) < strings.ToLower(members[j].Email)
	})
	rows := make([][]string, 0, len(members))
	for _, m := range members {
		rows = append(rows, []string{m.Email, cliFullName(m), cliRole(m, all), cliYesNo(m.Active), strings.Join(teams[m.ID], ", ")})
	}
	return cliResult(c.table([]string{"EMAIL", "NAME", "ROLE", "ACTIVE", "TEAMS"}, rows))
}

func cliUserShow(c *cliCall) (int, error) {
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	m, err := cliMember(c, st, org, c.args[0])
	if err != nil {
		return cliExitFailure, err
	}
	teams, all, err := cliTeamNames(c, st, org.ID)
	if err != nil {
		return cliExitFailure, err
	}
	pw := "not set"
	if _, err := st.PasswordHash(c.ctx, m.Email); err == nil {
		pw = "set"
	} else if !errors.Is(err, storage.ErrNotFound) {
		return cliExitFailure, err
	}
	others, err := cliOtherOrgs(c, st, org.ID, m.Email)
	if err != nil {
		return cliExitFailure, err
	}
	attrs := strings.TrimSpace(string(m.Attrs))
	if attrs == "{}" {
		attrs = ""
	}
	fields := [][]string{
		{"Email", m.Email},
		{"Org", org.Name},
		{"ID", m.ID},
		{"First name", m.GivenName},
		{"Last name", m.FamilyName},
		{"Display name", m.DisplayName},
		{"Role", cliRole(m, all)},
		{"Active", cliYesNo(m.Active)},
		{"External ID", m.ExternalID},
		{"Teams", strings.Join(teams[m.ID], ", ")},
		{"Password", pw},
		{"Other orgs", strings.Join(others, ", ")},
		{"SCIM attributes", attrs},
		{"Created", cliTime(m.CreatedAt)},
		{"Updated", cliTime(m.UpdatedAt)},
	}
	for _, f := range fields {
		c.printf("%-16s %s\n", f[0]+":", cliClean(f[1]))
	}
	return cliExitOK, nil
}

// cliOtherOrgs returns the names of the orgs other than orgID where the
// account with this email is a member.
func cliOtherOrgs(c *cliCall, st storage.Store, orgID int64, email string) ([]string, error) {
	ms, err := st.Memberships(c.ctx, email)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, m := range ms {
		if m.OrgID == orgID {
			continue
		}
		o, err := st.OrgByID(c.ctx, m.OrgID)
		if err != nil {
			return nil, err
		}
		names = append(names, o.Name)
	}
	sort.Strings(names)
	return names, nil
}

// cliRole is a member's role as people read it: the effective role, and
// which team raised it above the member's own.
func cliRole(m storage.Member, teams []storage.Team) string {
	var roles []storage.Role
	var by string
	for _, t := range teams {
		if t.Role != "" && slices.Contains(t.MemberIDs, m.ID) {
			roles = append(roles, t.Role)
			if storage.EffectiveRole(m.Role, t.Role) != m.Role && by == "" {
				by = t.Name
			}
		}
	}
	eff := storage.EffectiveRole(m.Role, roles...)
	if eff == m.Role {
		return string(m.Role)
	}
	return fmt.Sprintf("%s (%s by team %s)", m.Role, eff, by)
}

// cliCheckEmail returns the email in the form to store (the domain in
// lower case), or why it is not a plain address.
func cliCheckEmail(email string) (string, error) {
	addr, err := mail.ParseAddress(email)
	if err != nil || addr.Address != email || addr.Name != "" {
		return "", fmt.Errorf("%q is not an email address (want the bare address, such as alice@example.com)", email)
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || strings.Contains(domain, "@") || !strings.Contains(domain, ".") || strings.HasPrefix(domain, "[") {
		return "", fmt.Errorf("%q is not an email address with a domain name", email)
	}
	return local + "@" + strings.ToLower(domain), nil
}

func cliUserInvite(c *cliCall) (int, error) {
	role, err := storage.ParseRole(c.flags.String("role"))
	if err != nil {
		return cliExitUsage, fmt.Errorf("--role: %w", err)
	}
	email, err := cliCheckEmail(strings.TrimSpace(c.args[0]))
	if err != nil {
		return cliExitFailure, err
	}
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	if m, err := st.MemberByEmail(c.ctx, org.ID, email); err == nil {
		return cliExitFailure, fmt.Errorf("%s is a member of org %s already (role %s); change the role with `%s`",
			m.Email, org.Name, m.Role, c.hint("user set-role "+cliShellQuote(m.Email)+" ROLE", true))
	} else if !errors.Is(err, storage.ErrNotFound) {
		return cliExitFailure, err
	}
	others, err := cliOtherOrgs(c, st, org.ID, email)
	if err != nil {
		return cliExitFailure, err
	}
	inv := orgadmin.Invitation{Email: email, Role: role}
	// An account known elsewhere keeps its names unless new ones are given.
	if c.cmd.Flags().Changed("first") || c.cmd.Flags().Changed("last") || len(others) == 0 {
		first, last := c.flags.String("first"), c.flags.String("last")
		inv.GivenName, inv.FamilyName = &first, &last
	}
	m, err := c.admin(st).Invite(c.ctx, org, orgadmin.Operator, inv)
	var fe *tenant.FieldError
	if errors.As(err, &fe) && fe.Field == "email" {
		// Someone else added them between the check and the write.
		return cliExitFailure, fmt.Errorf("%s is a member of org %s already", email, org.Name)
	}
	if errors.As(err, &fe) {
		return cliExitUsage, fmt.Errorf("--%s: %s", strings.TrimSuffix(fe.Field, "_name"), fe.Reason)
	}
	if err != nil {
		return cliExitFailure, err
	}
	c.printf("Added %s to org %s as %s.\n", cliClean(m.Email), cliClean(org.Name), m.Role)
	if len(others) > 0 {
		c.notef("The account existed already (member of %s); it keeps those memberships.\n", strings.Join(others, ", "))
	}
	_, domain, _ := strings.Cut(email, "@")
	if ok, err := st.DomainVerified(c.ctx, org.ID, domain); err == nil && !ok {
		c.notef("Note: org %s has not verified %s, so %s cannot sign in through the IdP; claim it with `%s`, or set a password with `%s`.\n",
			cliClean(org.Name), domain, email, c.hint("domain claim "+domain, true), c.hint("user passwd "+cliShellQuote(email), true))
	}
	return cliExitOK, nil
}

func cliUserSetRole(c *cliCall) (int, error) {
	role, err := storage.ParseRole(c.args[1])
	if err != nil {
		return cliExitUsage, err
	}
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	m, err := cliMember(c, st, org, c.args[0])
	if err != nil {
		return cliExitFailure, err
	}
	if m.Role == role {
		c.printf("%s is %s in org %s already.\n", cliClean(m.Email), role, cliClean(org.Name))
		return cliExitOK, nil
	}
	_, err = c.admin(st).SetMemberRole(c.ctx, org, orgadmin.Operator, m.ID, role)
	var re *tenant.RuleError
	if errors.As(err, &re) {
		return cliExitFailure, fmt.Errorf("%s is the last owner of org %s, and an org needs one; make another member owner first with `%s`",
			m.Email, org.Name, c.hint("user set-role EMAIL owner", true))
	}
	if err != nil {
		return cliExitFailure, err
	}
	c.printf("%s is now %s in org %s (was %s).\n", cliClean(m.Email), role, cliClean(org.Name), m.Role)
	return cliExitOK, nil
}

func cliUserPasswd(c *cliCall) (int, error) {
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	m, err := cliMember(c, st, org, c.args[0])
	if err != nil {
		return cliExitFailure, err
	}
	pw, err := cliReadPassword(c)
	if err != nil {
		return cliExitFailure, err
	}
	if err := password.Validate(pw); err != nil {
		return cliExitFailure, err
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return cliExitFailure, err
	}
	if err := st.SetPasswordHash(c.ctx, m.Email, hash); err != nil {
		return cliExitFailure, err
	}
	// The event says that it changed, never anything of the password.
	c.admin(st).Record(c.ctx, org, orgadmin.Operator, "member.password", m.Email, nil, nil)
	c.printf("Set the password of %s; the sessions signed in with a password are ended.\n", cliClean(m.Email))
	if !m.Active {
		c.notef("Note: %s is deactivated in org %s and cannot sign in there until reactivated.\n", m.Email, cliClean(org.Name))
	}
	return cliExitOK, nil
}

// cliReadPassword reads the new password: one line from stdin, or, when
// stdin is a terminal, typed twice without echo.
func cliReadPassword(c *cliCall) (string, error) {
	if f, ok := c.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fd := int(f.Fd())
		fmt.Fprint(c.stderr, "New password: ")
		a, err := term.ReadPassword(fd)
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		fmt.Fprint(c.stderr, "Again: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(c.stderr)
		if err != nil {
			return "", fmt.Errorf("reading the password: %w", err)
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords do not match")
		}
		return string(a), nil
	}
	// Read at most one byte past the longest password and its line end,
	// so that a huge stdin is refused without being read whole.
	r := bufio.NewReader(io.LimitReader(c.stdin, password.MaxBytes+3))
	line, err := r.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the password from stdin: %w", err)
	}
	if line == "" {
		return "", errors.New("no password on stdin; pipe it in as one line, such as: printf '%s\\n' \"$PASSWORD\" | " +
			c.hint("user passwd "+cliShellQuote(c.args[0]), true))
	}
	line = strings.TrimSuffix(line, "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", errors.New("the password on stdin is empty")
	}
	return line, nil
}
