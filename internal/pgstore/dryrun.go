package pgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Probe is what a dry run learned of a PostgreSQL database.
type Probe struct {
	// Where is the server, user and database, for messages.
	Where string
	// Version is the database's schema version, 0 before the first
	// start; Known is the newest this binary's migrations make.
	Version, Known int
	// Copied is how many orgs were copied into the dry run's store.
	Copied int
}

// dryRunTables are what provisioning a config reads of the store (an
// org's id, its verified domains, the IdP metadata kept from the last
// fetch), with their columns as in copyTables; citext is read as text.
var dryRunTables = []struct{ name, selects, columns string }{
	{"orgs", "id, name, from_config, created_at", "id, name, from_config, created_at"},
	{"domains", "org_id, name::text, status, txt_value, from_config, created_at, verified_at",
		"org_id, name, status, txt_value, from_config, created_at, verified_at"},
	{"sso_connections", "org_id, idp_sso_url, idp_issuer, idp_certificates, idp_metadata_url, idp_metadata_xml, idp_slo_url, require_sso, idp_managed_access, allow_idp_initiated, groups_attribute, state, pinned, tested_at, created_at, updated_at, version",
		"org_id, idp_sso_url, idp_issuer, idp_certificates, idp_metadata_url, idp_metadata_xml, idp_slo_url, require_sso, idp_managed_access, allow_idp_initiated, groups_attribute, state, pinned, tested_at, created_at, updated_at, version"},
}

// DryRun checks the database dsn names without writing to it, on one
// connection in one read-only transaction: that the DSN parses, that the
// server answers and accepts the credentials, and that the schema is not
// newer than this binary's migrations (and, when the start would migrate
// it, that the user may create tables). When the schema is this binary's,
// it copies into dst, a SQLite store's database at its newest schema,
// what provisioning reads (dryRunTables). Its errors are one sentence
// that names the server and never the password.
func DryRun(ctx context.Context, dsn string, dst *sql.DB) (Probe, error) {
	var p Probe
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included.
		return p, errors.New("the PostgreSQL DSN is not a valid postgres:// URL or key=value string")
	}
	host := cfg.Host
	if !strings.HasPrefix(host, "/") {
		host = net.JoinHostPort(host, strconv.Itoa(int(cfg.Port)))
	}
	p.Where = fmt.Sprintf("PostgreSQL at %s (user %s, database %s)", host, cfg.User, cfg.Database)
	fail := func(format string, args ...any) (Probe, error) {
		msg := fmt.Sprintf(format, args...)
		if cfg.Password != "" {
			msg = strings.ReplaceAll(msg, cfg.Password, "********")
		}
		return p, errors.New(msg)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fail("cannot connect to %s: %s", p.Where, connectCause(err, cfg.ConnectTimeout))
	}
	defer conn.Close(context.Background())
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fail("reading %s: %s", p.Where, connectCause(err, cfg.ConnectTimeout))
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read only: nothing to keep

	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return p, err
	}
	p.Known = len(names)
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass('schema_version') IS NOT NULL").Scan(&exists); err != nil {
		return fail("reading the schema version of %s: %s", p.Where, connectCause(err, cfg.ConnectTimeout))
	}
	if exists {
		if err := tx.QueryRow(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&p.Version); err != nil {
			return fail("reading the schema version of %s: %s", p.Where, connectCause(err, cfg.ConnectTimeout))
		}
	}
	switch {
	case p.Version > p.Known:
		return fail("the schema of %s is version %d, newer than this ssogate knows (%d): run the ssogate version that migrated it, or a newer one",
			p.Where, p.Version, p.Known)
	case p.Version < p.Known:
		// The first start migrates: it creates tables.
		var may bool
		var schema *string
		if err := tx.QueryRow(ctx, "SELECT current_schema(), COALESCE(has_schema_privilege(current_schema(), 'CREATE'), false)").Scan(&schema, &may); err != nil {
			return fail("reading the privileges of user %s on %s: %s", cfg.User, p.Where, connectCause(err, cfg.ConnectTimeout))
		}
		if schema == nil {
			return fail("%s has no schema on the user's search_path to create ssogate's tables in", p.Where)
		}
		if !may {
			return fail("user %s may not create tables in schema %s of %s, which the first start must do: GRANT CREATE ON SCHEMA %s TO %s",
				cfg.User, *schema, p.Where, *schema, cfg.User)
		}
		return p, nil
	}
	for _, t := range dryRunTables {
		n, err := copyOut(ctx, tx, dst, t.name, t.selects, t.columns)
		if err != nil {
			return fail("reading %s of %s: %s", t.name, p.Where, connectCause(err, cfg.ConnectTimeout))
		}
		if t.name == "orgs" {
			p.Copied = n
		}
	}
	return p, nil
}

// copyOut copies the rows of a table from PostgreSQL into dst.
func copyOut(ctx context.Context, tx pgx.Tx, dst *sql.DB, table, selects, columns string) (int, error) {
	rows, err := tx.Query(ctx, "SELECT "+selects+" FROM "+table)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := len(strings.Split(columns, ", "))
	insert := "INSERT INTO " + table + "(" + columns + ") VALUES (?" + strings.Repeat(", ?", n-1) + ")"
	copied := 0
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return copied, err
		}
		if _, err := dst.ExecContext(ctx, insert, vals...); err != nil {
			return copied, fmt.Errorf("writing the dry run's copy: %w", err)
		}
		copied++
	}
	return copied, rows.Err()
}

// connectCause is why a connection or query failed, in a few words: the
// server's own message (a role or database that does not exist, a
// password refused), or the network's. pgconn's own messages repeat the
// user and address, which the caller names already.
func connectCause(err error, timeout time.Duration) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Message
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return "cannot resolve " + dns.Name + ": " + dns.Err
	}
	if errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) {
		return "no answer within " + timeout.String()
	}
	var op *net.OpError
	if errors.As(err, &op) {
		return op.Err.Error()
	}
	for {
		inner := errors.Unwrap(err)
		if inner == nil {
			return err.Error()
		}
		err = inner
	}
}
