package caddymodule

import (
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ssogate/ssogate/internal/pgstore"
	"github.com/ssogate/ssogate/internal/sqlitestore"
)

func cliStoreCommand() caddycmd.Command {
	return caddycmd.Command{
		Name:  "store",
		Usage: "copy --from sqlite:<path> --to postgres:<dsn> [--force]",
		Short: "Moves the ssogate store from SQLite to PostgreSQL",
		Long: `
Moves an install's store to another backend.

  store copy   copies a SQLite database into a PostgreSQL one

Flags of store copy:
` + cliStoreCopyFlagsDoc,
		CobraFunc: func(cmd *cobra.Command) {
			cliGroup(cmd, cliLeaf{
				use:   "copy --from sqlite:<path> --to postgres:<dsn> [--force]",
				short: "Copies a SQLite store into PostgreSQL",
				long: `
Copies every org, member, team, domain, token, password, session, SSO
connection, SP key and activity record of a SQLite database into a
PostgreSQL database, in one transaction, and checks that each table has
as many rows on both sides. Stop the gateways first.

A PostgreSQL database that has an org already is refused unless --force,
which empties it first; so with --force a copy can be run again.
` + cliStoreCopyFlagsDoc,
				noOrg:     true,
				createsDB: true,
				flags: func(fl *pflag.FlagSet) {
					fl.String("from", "", "sqlite:<path> (required)")
					fl.String("to", "", "postgres:<dsn> (required)")
					fl.Bool("force", false, "empty a PostgreSQL database that is not empty")
				},
				run: cliStoreCopy,
			})
		},
	}
}

const cliStoreCopyFlagsDoc = `
--from sqlite:<path>
    The SQLite file (migrated to this binary's schema first).

--to postgres:<dsn>
    The PostgreSQL database: a postgres:// URL or a key=value string.

--force
    Replace what the PostgreSQL database holds.

--db <path>
    Not used: --from and --to name the databases.`

func cliStoreCopy(c *cliCall) (int, error) {
	from, ok := strings.CutPrefix(c.flags.String("from"), "sqlite:")
	if !ok || from == "" {
		return cliExitUsage, errors.New("--from must be sqlite:<path>")
	}
	to, ok := strings.CutPrefix(c.flags.String("to"), "postgres:")
	if !ok || to == "" {
		return cliExitUsage, errors.New("--to must be postgres:<dsn>")
	}
	// Opened as a store first, which brings its schema up to date, then
	// read as it is.
	st, err := sqlitestore.Open(c.ctx, from)
	if err != nil {
		return cliExitFailure, fmt.Errorf("opening %s: %w", from, err)
	}
	if err := st.Close(); err != nil {
		return cliExitFailure, err
	}
	src, err := sql.Open("sqlite", "file:"+from+"?mode=ro&_pragma=busy_timeout(10000)")
	if err != nil {
		return cliExitFailure, fmt.Errorf("opening %s: %w", from, err)
	}
	defer src.Close()
	dst, err := pgstore.Open(c.ctx, to)
	if err != nil {
		return cliExitFailure, fmt.Errorf("opening the PostgreSQL database: %w", err)
	}
	defer dst.Close()
	counts, err := dst.CopyFrom(c.ctx, src, c.flags.Bool("force"))
	if errors.Is(err, pgstore.ErrNotEmpty) {
		return cliExitFailure, fmt.Errorf("%w; pass --force to replace what it holds", err)
	}
	if err != nil {
		return cliExitFailure, fmt.Errorf("copying: %w", err)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tSQLITE\tPOSTGRES")
	for _, n := range counts {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", n.Table, n.Source, n.Target)
	}
	if err := tw.Flush(); err != nil {
		return cliExitFailure, err
	}
	return cliExitOK, nil
}
