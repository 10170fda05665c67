package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver

	"github.com/ssogate/ssogate/internal/pgstore"
	"github.com/ssogate/ssogate/internal/storage"
)

// postgresBackend is a fresh database on the server, dropped at close
// (internal/pgstore/pgtest's pattern).
type postgresBackend struct {
	dbName string
	admin  *sql.DB // on the server's DSN, to create and drop the database
	st     *pgstore.Store
	db     *sql.DB // on the fresh database, for the bulk inserts and the sizes
}

func openPostgres(ctx context.Context, dsn string) (*postgresBackend, error) {
	if dsn == "" {
		return nil, errors.New("no PostgreSQL server: give -postgres or set SSOGATE_TEST_POSTGRES")
	}
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, errors.New("the PostgreSQL DSN must be a postgres:// URL")
	}
	var r [6]byte
	_, _ = rand.Read(r[:])
	b := &postgresBackend{dbName: "ssogate_sizing_" + hex.EncodeToString(r[:])}
	if b.admin, err = sql.Open("pgx", dsn); err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if _, err := b.admin.ExecContext(ctx, "CREATE DATABASE "+b.dbName); err != nil {
		b.admin.Close()
		return nil, fmt.Errorf("creating the database: %w", err)
	}
	u.Path = "/" + b.dbName
	if b.st, err = pgstore.Open(ctx, u.String()); err != nil {
		b.close()
		return nil, err
	}
	if b.db, err = sql.Open("pgx", u.String()); err != nil {
		b.close()
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	return b, nil
}

func (b *postgresBackend) name() string         { return "postgres" }
func (b *postgresBackend) store() storage.Store { return b.st }

func (b *postgresBackend) close() error {
	var errs []error
	if b.db != nil {
		errs = append(errs, b.db.Close())
	}
	if b.st != nil {
		errs = append(errs, b.st.Close())
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := b.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+b.dbName+" WITH (FORCE)"); err != nil {
		errs = append(errs, fmt.Errorf("dropping the database %s: %w", b.dbName, err))
	}
	errs = append(errs, b.admin.Close())
	return errors.Join(errs...)
}

// batches calls fn with each range of at most 10,000 of [0, n).
func batches(n int, fn func(from, to int) error) error {
	for from := 0; from < n; from += 10_000 {
		if err := fn(from, min(n, from+10_000)); err != nil {
			return err
		}
	}
	return nil
}

func (b *postgresBackend) fillMembers(ctx context.Context, orgID int64, n int, now time.Time) error {
	at := now.Unix()
	err := batches(n, func(from, to int) error {
		var ids, emails, given, family, display, external, attrs []string
		for i := from; i < to; i++ {
			m := member(i)
			ids, emails, given, family = append(ids, m.ID), append(emails, m.Email), append(given, m.Given), append(family, m.Family)
			display, external, attrs = append(display, m.Display), append(external, m.External), append(attrs, m.Attrs)
		}
		// One statement a batch; the triggers fill member_emails and
		// member_counts as for creates one by one.
		_, err := b.db.ExecContext(ctx, `WITH a AS (
				INSERT INTO accounts(email, created_at) SELECT e, $1 FROM unnest($2::text[]) e RETURNING id, email)
			INSERT INTO memberships(id, org_id, account_id, given_name, family_name, display_name, external_id, role, active, attrs, source, created_at, updated_at)
			SELECT m.id, $3, a.id, m.g, m.f, m.d, m.x, 'member', 1, m.attrs, 'scim', $1, $1
			FROM unnest($4::text[], $2::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[]) AS m(id, email, g, f, d, x, attrs)
			JOIN a ON a.email = m.email`,
			at, emails, orgID, ids, given, family, display, external, attrs)
		return err
	})
	if err != nil {
		return fmt.Errorf("filling members: %w", err)
	}
	return nil
}

func (b *postgresBackend) fillAudit(ctx context.Context, orgID int64, n int, now time.Time) error {
	err := batches(n, func(from, to int) error {
		var targets []string
		for i := from; i < to; i++ {
			targets = append(targets, member(i).Email)
		}
		_, err := b.db.ExecContext(ctx, `INSERT INTO audit(org_id, at, actor, actor_kind, action, target, before, after)
			SELECT $1, $2, $3, 'scim', 'scim.user.create', t, '', $4 FROM unnest($5::text[]) t`,
			orgID, now.Unix(), auditActor, auditAfter, targets)
		return err
	})
	if err != nil {
		return fmt.Errorf("filling the activity log: %w", err)
	}
	return nil
}

func (b *postgresBackend) fillOrgs(ctx context.Context, n int, k orgKeys, now time.Time) error {
	at := now.Unix()
	err := batches(n, func(from, to int) error {
		var names, domains, txts, urls, xmls []string
		for i := from; i < to; i++ {
			o := org(i, k)
			names, domains, txts = append(names, o.Name), append(domains, o.Domain), append(txts, txtValue(i))
			urls, xmls = append(urls, o.MetadataURL), append(xmls, o.MetadataXML)
		}
		_, err := b.db.ExecContext(ctx, `WITH o AS (
				INSERT INTO orgs(name, created_at) SELECT n, $1 FROM unnest($2::text[]) n RETURNING id, name),
			v AS (SELECT o.id, v.domain, v.txt, v.url, v.xml FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) AS v(name, domain, txt, url, xml)
				JOIN o ON o.name = v.name),
			d AS (INSERT INTO domains(org_id, name, status, txt_value, created_at, verified_at) SELECT id, domain, 'verified', txt, $1, $1 FROM v),
			c AS (INSERT INTO sso_connections(org_id, idp_metadata_url, idp_metadata_xml, state, tested_at, created_at, updated_at)
				SELECT id, url, xml, 'enabled', $1, $1, $1 FROM v)
			INSERT INTO sp_keys(org_id, use, state, certificate, private_key, not_after, created_at)
			SELECT id, k.use, 'current', k.cert, k.key, $7, $1 FROM v,
				(VALUES ('signing', $8::text, $9::text), ('encryption', $10::text, $11::text)) AS k(use, cert, key)`,
			at, names, domains, txts, urls, xmls, k.notAfter, k.signingCert, k.signingKey, k.encCert, k.encKey)
		return err
	})
	if err != nil {
		return fmt.Errorf("filling orgs: %w", err)
	}
	return nil
}

// sizes returns the database's size and each table's, TOAST and indexes
// included, with its rows, after a VACUUM (what autovacuum does between
// the bulk writes and a measurement in production: the free space map and
// visibility map, dead rows made reusable).
func (b *postgresBackend) sizes(ctx context.Context) (sizes, error) {
	s := sizes{tables: map[string]tableSize{}}
	if _, err := b.db.ExecContext(ctx, "VACUUM (ANALYZE)"); err != nil {
		return s, fmt.Errorf("vacuuming: %w", err)
	}
	if err := b.db.QueryRowContext(ctx, "SELECT pg_database_size(current_database())").Scan(&s.total); err != nil {
		return s, fmt.Errorf("reading the database size: %w", err)
	}
	rows, err := b.db.QueryContext(ctx, `SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'`)
	if err != nil {
		return s, fmt.Errorf("reading the table sizes: %w", err)
	}
	return s, readTables(ctx, b.db, rows, s.tables)
}
