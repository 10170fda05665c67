package caddymodule

import (
	"context"
	"errors"
	"fmt"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

func cliBackupCommand() caddycmd.Command {
	return caddycmd.Command{
		Name:  "backup",
		Usage: "--to <file> [--db <path>]",
		Short: "Writes a consistent copy of the database",
		Long: `
Writes a consistent copy of the SQLite database to <file>, readable by its
owner only, while the gate and the sidecar keep serving: SQLite's VACUUM
INTO, whose read lasts as long as the copy and does not keep the WAL
growing. The copy is one self-contained file; restore it by stopping
ssogate and putting it in place of the database (removing the old -wal
and -shm files).

--to <file>
    Where to write the copy; an existing file is replaced.

--db <path>
    The SQLite database of the ssogate app. Default: the app's own default,
    <Caddy data dir>/ssogate/ssogate.db.`,
		CobraFunc: func(cmd *cobra.Command) {
			cliSingle(cmd, cliLeaf{
				flags: func(fl *pflag.FlagSet) {
					fl.String("to", "", "the file to write the copy to")
				},
				run: cliBackup,
			})
		},
	}
}

func cliBackup(c *cliCall) (int, error) {
	to := c.flags.String("to")
	if to == "" {
		return cliExitUsage, errors.New("--to <file> is required: where to write the copy")
	}
	st, err := c.open()
	if err != nil {
		return cliExitFailure, err
	}
	file, ok := st.(interface {
		Backup(ctx context.Context, to string) error
		Path() string
	})
	if !ok {
		return cliExitFailure, errors.New("ssogate backup copies a SQLite store; back up PostgreSQL with its own tools (pg_dump)")
	}
	if err := file.Backup(c.ctx, to); err != nil {
		return cliExitFailure, fmt.Errorf("backing up: %w", err)
	}
	c.notef("Wrote a copy of %s to %s.\n", file.Path(), to)
	return cliExitOK, nil
}
