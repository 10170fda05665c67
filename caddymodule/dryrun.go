package caddymodule

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/pgstore"
	"github.com/ssogate/ssogate/internal/sqlitestore"
)

// dryRun is set in a process that only checks a config (`validate`,
// `adapt --validate`): Caddy provisions every module to check it, and
// provisioning opens the database, creates it when missing and writes the
// orgs the config names. In a dry run the app works on a throwaway copy
// of the database instead, so that checking a config writes nothing.
var dryRun atomic.Bool

// dryRunFail ends a dry run whose database could not be checked with
// the reason alone, on one line, and exit code 1. Returning the error
// instead would have Caddy print it behind the chain of every module that
// was loading; a dry run is a one-shot command (validate, adapt
// --validate) with nothing to stop but its folder, removed before.
var dryRunFail = func(err error) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", cliBinName(), strings.Join(strings.Fields(err.Error()), " "))
	os.Exit(cliExitFailure)
}

// dryRunPostgres prepares a dry run on the PostgreSQL database dsn names:
// it checks the database without writing to it (pgstore.DryRun: the DSN,
// the server, the credentials, the schema version) and returns a
// throwaway SQLite database, in a new temporary folder, for provisioning
// to work on, holding the orgs, domains and SSO connections PostgreSQL has
// (what provisioning reads). Not a read-only PostgreSQL session instead:
// provisioning writes (orgs, the session key), and on a database before
// its first start or migration it would have no tables to read.
func dryRunPostgres(ctx context.Context, dsn string, logger *zap.Logger) (path, dir string, err error) {
	dir, err = os.MkdirTemp("", "ssogate-validate-")
	if err != nil {
		return "", "", fmt.Errorf("making a folder for the dry run: %w", err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	path = filepath.Join(dir, "ssogate.db")
	st, err := sqlitestore.Open(ctx, path) // the newest schema
	if err != nil {
		return "", "", fmt.Errorf("making the dry run's store: %w", err)
	}
	if err := st.Close(); err != nil {
		return "", "", fmt.Errorf("making the dry run's store: %w", err)
	}
	dst, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)")
	if err != nil {
		return "", "", fmt.Errorf("making the dry run's store: %w", err)
	}
	defer dst.Close()
	p, err := pgstore.DryRun(ctx, dsn, dst)
	if err != nil {
		err = fmt.Errorf("database postgres: %w", err)
		os.RemoveAll(dir)
		dryRunFail(err)
		return "", "", err
	}
	if p.Version < p.Known {
		logger.Info("checked the PostgreSQL database, writing nothing; the first start migrates its schema, so the config is checked as on an empty store",
			zap.String("database", p.Where), zap.Int("schema_version", p.Version), zap.Int("migrates_to", p.Known))
	} else {
		logger.Info("checked the PostgreSQL database, writing nothing; the config is checked on a throwaway copy of its organizations",
			zap.String("database", p.Where), zap.Int("schema_version", p.Version), zap.Int("organizations", p.Copied))
	}
	return path, dir, nil
}

// dryRunCopy returns the path of a copy of the database at path in a new
// temporary folder (an empty folder when there is no database yet), and
// the folder, to remove when done.
func dryRunCopy(ctx context.Context, path string) (copyPath, dir string, err error) {
	dir, err = os.MkdirTemp("", "ssogate-validate-")
	if err != nil {
		return "", "", fmt.Errorf("making a folder for the dry run: %w", err)
	}
	copyPath = filepath.Join(dir, "ssogate.db")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return copyPath, dir, nil
	}
	if err := vacuumInto(ctx, path, copyPath); err != nil {
		// A database SQLite cannot open read-only: copy its files.
		os.Remove(copyPath)
		for _, suffix := range []string{"", "-wal"} {
			if cerr := copyFile(path+suffix, copyPath+suffix); cerr != nil && !errors.Is(cerr, fs.ErrNotExist) {
				os.RemoveAll(dir)
				return "", "", fmt.Errorf("copying the database for the dry run: %w (and %v)", cerr, err)
			}
		}
	}
	return copyPath, dir, nil
}

// vacuumInto writes a consistent copy of the database at src to dst,
// opening src read-only.
func vacuumInto(ctx context.Context, src, dst string) error {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: src, RawQuery: q.Encode()}).String())
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", dst)
	return err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// endDryRun removes the dry run's folder, if any.
func endDryRun(dir string) {
	if dir != "" {
		os.RemoveAll(dir)
	}
}
