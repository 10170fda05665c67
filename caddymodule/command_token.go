package caddymodule

import (
	"errors"
	"fmt"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

func cliTokenCommand() caddycmd.Command {
	return caddycmd.Command{
		Name:  "token",
		Usage: "create --scope scim|admin [--name <name>] | list | revoke <id> [--org <name>] [--db <path>]",
		Short: "Creates, lists and revokes the sidecar's bearer tokens",
		Long: `
Manages the bearer tokens of the provisioning sidecar (scim_server). A
token belongs to one org and decides which org a request works on. Only a
hash of each token is stored, so a token is shown once, when created.

  token create --scope scim|admin [--name <name>]
      creates a token and prints it, alone, on stdout:
      TOKEN=$(ssogate token create --org acme --scope scim)
  token list          lists the org's tokens (never the secrets)
  token revoke <id>   deletes a token at once; its holder gets 401

Flags:

--scope scim|admin
    token create: what the token may do. "scim" is for an IdP's SCIM
    provisioning (/scim/v2); "admin" is for the org's admin API
    (/api/v1: SSO connection, domains, tokens, roles). Required.

--name <name>
    token create: a label to tell tokens apart, such as "okta". Optional.
` + cliCommonFlagsDoc,
		CobraFunc: func(cmd *cobra.Command) {
			cliGroup(cmd,
				cliLeaf{
					use:   "create --scope scim|admin [--name <name>] [--org <name>] [--db <path>]",
					short: "Creates a token and prints it once",
					long: `
Creates a bearer token for the org. Stdout holds the token alone, on one
line, so that a script can capture it; the note that it is shown only
once, and the token's ID (for list and revoke), go to stderr. Only a hash
of the token is stored: copy it now, it cannot be shown again.

--scope scim|admin
    What the token may do: "scim" for SCIM provisioning (/scim/v2),
    "admin" for the org's admin API (/api/v1: SSO connection, domains,
    tokens, roles). Required.

--name <name>
    A label to tell tokens apart, such as "okta". Optional.
` + cliCommonFlagsDoc,
					flags: func(fl *pflag.FlagSet) {
						fl.String("scope", "", "scim or admin (required)")
						fl.String("name", "", "a label for the token")
					},
					run: cliTokenCreate,
				},
				cliLeaf{
					list:  true,
					use:   "list [--json] [--org <name>] [--db <path>]",
					short: "Lists the org's tokens",
					long: `
Lists the org's tokens: ID, name, scope, when created and when last
used. The tokens themselves are not stored, so they are never shown.
` + cliCommonFlagsDoc,
					run: cliTokenList,
				},
				cliLeaf{
					use:   "revoke <id> [--org <name>] [--db <path>]",
					short: "Revokes a token",
					long: `
Revokes (deletes) the org's token with this ID, as shown by token list
and by token create. Requests bearing it are refused from then on.
` + cliCommonFlagsDoc,
					args: []string{"<id>"},
					run:  cliTokenRevoke,
				},
			)
		},
	}
}

func cliTokenCreate(c *cliCall) (int, error) {
	scopeName := c.flags.String("scope")
	if scopeName == "" {
		return cliExitUsage, errors.New("--scope is required: scim (for SCIM provisioning) or admin (for the admin API under /api/v1)")
	}
	scope, err := storage.ParseScope(scopeName)
	if err != nil {
		return cliExitUsage, fmt.Errorf("--scope: %w", err)
	}
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	rec, token, err := c.admin(st).CreateToken(c.ctx, org, orgadmin.Operator, c.flags.String("name"), scope)
	var fe *tenant.FieldError
	if errors.As(err, &fe) {
		return cliExitUsage, fmt.Errorf("--%s: %s", fe.Field, fe.Reason)
	}
	if err != nil {
		return cliExitFailure, err
	}
	c.notef("Created %s token %s for org %s. It is shown once, below; only its hash is kept.\n",
		scope, rec.ID, cliClean(org.Name))
	switch scope {
	case storage.ScopeSCIM:
		c.notef("Give it to the IdP as the SCIM bearer token (Okta: Authentication Mode \"HTTP Header\").\n")
	case storage.ScopeAdmin:
		c.notef("Send it as \"Authorization: Bearer <token>\" to the admin API under /api/v1.\n")
	}
	c.printf("%s\n", token)
	return cliExitOK, nil
}

func cliTokenList(c *cliCall) (int, error) {
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	tokens, err := st.ListTokens(c.ctx, org.ID)
	if err != nil {
		return cliExitFailure, err
	}
	if len(tokens) == 0 && !c.json {
		c.notef("Org %s has no tokens; create one with `%s`.\n",
			cliClean(org.Name), c.hint("token create --scope scim", true))
		return cliExitOK, nil
	}
	rows := make([][]string, 0, len(tokens))
	for _, t := range tokens {
		rows = append(rows, []string{t.ID, t.Name, string(t.Scope), cliTime(t.CreatedAt), cliTime(t.LastUsedAt)})
	}
	return cliResult(c.table([]string{"ID", "NAME", "SCOPE", "CREATED", "LAST USED"}, rows))
}

func cliTokenRevoke(c *cliCall) (int, error) {
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	id := c.args[0]
	_, err = c.admin(st).RevokeToken(c.ctx, org, orgadmin.Operator, id)
	if errors.Is(err, storage.ErrNotFound) {
		return cliExitFailure, fmt.Errorf("org %s has no token %q; see `%s`", org.Name, id, c.hint("token list", true))
	}
	if err != nil {
		return cliExitFailure, err
	}
	c.printf("Revoked token %s.\n", cliClean(id))
	return cliExitOK, nil
}
