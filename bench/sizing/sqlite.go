package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
)

// sqliteBackend is a fresh database file in a temporary directory.
type sqliteBackend struct {
	dir, path string
	st        *sqlitestore.Store
	db        *sql.DB // a second connection, for the bulk inserts and the sizes
}

func openSQLite(ctx context.Context) (*sqliteBackend, error) {
	dir, err := os.MkdirTemp("", "ssogate-sizing-")
	if err != nil {
		return nil, fmt.Errorf("making a temporary directory: %w", err)
	}
	b := &sqliteBackend{dir: dir, path: filepath.Join(dir, "ssogate.db")}
	if b.st, err = sqlitestore.Open(ctx, b.path); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// The store's own settings for its writer: WAL, immediate transactions.
	b.db, err = sql.Open("sqlite", "file:"+b.path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		b.close()
		return nil, fmt.Errorf("opening %s: %w", b.path, err)
	}
	b.db.SetMaxOpenConns(1)
	return b, nil
}

func (b *sqliteBackend) name() string         { return "sqlite" }
func (b *sqliteBackend) store() storage.Store { return b.st }

func (b *sqliteBackend) close() error {
	var errs []error
	if b.db != nil {
		errs = append(errs, b.db.Close())
	}
	if b.st != nil {
		errs = append(errs, b.st.Close())
	}
	errs = append(errs, os.RemoveAll(b.dir))
	return errors.Join(errs...)
}

// batches runs fn over [0, n) in transactions of 10,000 rows.
func (b *sqliteBackend) batches(ctx context.Context, n int, prep []string, fn func(stmts []*sql.Stmt, i int) error) error {
	for start := 0; start < n; start += 10_000 {
		tx, err := b.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		stmts := make([]*sql.Stmt, len(prep))
		for j, q := range prep {
			if stmts[j], err = tx.PrepareContext(ctx, q); err != nil {
				tx.Rollback()
				return err
			}
		}
		for i := start; i < min(n, start+10_000); i++ {
			if err := fn(stmts, i); err != nil {
				tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

func (b *sqliteBackend) fillMembers(ctx context.Context, orgID int64, n int, now time.Time) error {
	at := now.Unix()
	err := b.batches(ctx, n, []string{
		"INSERT INTO accounts(email, created_at) VALUES (?, ?) RETURNING id",
		`INSERT INTO memberships(id, org_id, account_id, given_name, family_name, display_name, external_id, role, active, attrs, source, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 'member', 1, ?, 'scim', ?, ?)`,
	}, func(stmts []*sql.Stmt, i int) error {
		m := member(i)
		var account int64
		if err := stmts[0].QueryRowContext(ctx, m.Email, at).Scan(&account); err != nil {
			return err
		}
		_, err := stmts[1].ExecContext(ctx, m.ID, orgID, account, m.Given, m.Family, m.Display, m.External, m.Attrs, at, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("filling members: %w", err)
	}
	return nil
}

func (b *sqliteBackend) fillAudit(ctx context.Context, orgID int64, n int, now time.Time) error {
	err := b.batches(ctx, n, []string{
		"INSERT INTO audit(org_id, at, actor, actor_kind, action, target, before, after) VALUES (?, ?, ?, 'scim', 'scim.user.create', ?, '', ?)",
	}, func(stmts []*sql.Stmt, i int) error {
		_, err := stmts[0].ExecContext(ctx, orgID, now.Unix(), auditActor, member(i).Email, auditAfter)
		return err
	})
	if err != nil {
		return fmt.Errorf("filling the activity log: %w", err)
	}
	return nil
}

func (b *sqliteBackend) fillOrgs(ctx context.Context, n int, k orgKeys, now time.Time) error {
	at := now.Unix()
	err := b.batches(ctx, n, []string{
		"INSERT INTO orgs(name, created_at) VALUES (?, ?) RETURNING id",
		"INSERT INTO domains(org_id, name, status, txt_value, created_at, verified_at) VALUES (?, ?, 'verified', ?, ?, ?)",
		`INSERT INTO sso_connections(org_id, idp_metadata_url, idp_metadata_xml, state, tested_at, created_at, updated_at)
			VALUES (?, ?, ?, 'enabled', ?, ?, ?)`,
		"INSERT INTO sp_keys(org_id, use, state, certificate, private_key, not_after, created_at) VALUES (?, ?, 'current', ?, ?, ?, ?)",
	}, func(stmts []*sql.Stmt, i int) error {
		o := org(i, k)
		var id int64
		if err := stmts[0].QueryRowContext(ctx, o.Name, at).Scan(&id); err != nil {
			return err
		}
		if _, err := stmts[1].ExecContext(ctx, id, o.Domain, txtValue(i), at, at); err != nil {
			return err
		}
		if _, err := stmts[2].ExecContext(ctx, id, o.MetadataURL, o.MetadataXML, at, at, at); err != nil {
			return err
		}
		if _, err := stmts[3].ExecContext(ctx, id, storage.SPKeySigning, k.signingCert, k.signingKey, k.notAfter, at); err != nil {
			return err
		}
		_, err := stmts[3].ExecContext(ctx, id, storage.SPKeyEncryption, k.encCert, k.encKey, k.notAfter, at)
		return err
	})
	if err != nil {
		return fmt.Errorf("filling orgs: %w", err)
	}
	return nil
}

// sizes checkpoints the WAL into the file and returns the file's size
// (WAL included, which the checkpoint truncated) and, from dbstat, the
// bytes of each table with its indexes, and its rows.
func (b *sqliteBackend) sizes(ctx context.Context) (sizes, error) {
	s := sizes{tables: map[string]tableSize{}}
	if _, err := b.db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		return s, fmt.Errorf("checkpointing: %w", err)
	}
	for _, p := range []string{b.path, b.path + "-wal"} {
		fi, err := os.Stat(p)
		if err == nil {
			s.total += fi.Size()
		} else if !errors.Is(err, os.ErrNotExist) {
			return s, err
		}
	}
	rows, err := b.db.QueryContext(ctx, `SELECT m.tbl_name, SUM(d.pgsize) FROM dbstat d JOIN sqlite_master m ON m.name = d.name
		WHERE m.type IN ('table', 'index') GROUP BY m.tbl_name`)
	if err != nil {
		return s, fmt.Errorf("reading dbstat: %w", err)
	}
	return s, readTables(ctx, b.db, rows, s.tables)
}
