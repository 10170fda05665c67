package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	_ "github.com/jackc/pgx/v5/stdlib" // the pgx driver, for seeding and sizes

	"github.com/ssogate/ssogate/internal/pgstore"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
)

// backend is one store the harness measures: SQLite always, PostgreSQL
// beside it with -store postgres. Each has its own gate process (and
// scim_server site) on its own database, the same upstream and IdP.
type backend struct {
	name     string // for people: "SQLite", "PostgreSQL"
	database string // the ssogate app's database line: "sqlite PATH" or "postgres DSN"
	path     string // SQLite's file
	dsn      string // PostgreSQL's database
	gate     *gateway
	scim     string // the scim_server site of the gate process
}

func (be *backend) postgres() bool { return be.dsn != "" }

// open opens the backend's store, as another process would.
func (be *backend) open(ctx context.Context) (storage.Store, error) {
	if be.postgres() {
		return pgstore.Open(ctx, be.dsn)
	}
	return sqlitestore.Open(ctx, be.path)
}

// withStore runs f on the backend's store and org acme.
func (be *backend) withStore(ctx context.Context, f func(storage.Store, storage.Org) error) error {
	st, err := be.open(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", be.name, err)
	}
	defer st.Close()
	org, err := st.OrgByName(ctx, "acme")
	if err != nil {
		return fmt.Errorf("%s: org acme: %w", be.name, err)
	}
	return f(st, org)
}

// createDatabase makes a database of the harness's own on the server dsn
// names, and returns its DSN and a function that drops it.
func createDatabase(ctx context.Context, dsn string) (string, func(), error) {
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", nil, errors.New("-postgres must be a postgres:// URL")
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "gatebench_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, err
	}
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("creating database %s on %s (the user needs CREATEDB): %w", name, u.Host, err)
	}
	drop := func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			fmt.Fprintf(os.Stderr, "gatebench: dropping database %s: %v\n", name, err)
		}
	}
	u.Path = "/" + name
	return u.String(), drop, nil
}

// seedMembers adds members shaped as SCIM creates them (the emails list in
// attrs, which the store's triggers index) until org acme has n, and
// returns every member's email. Through the store's CreateMember, a
// transaction each, this would take minutes; the write path is what the
// create rate measures.
func (be *backend) seedMembers(ctx context.Context, n int) ([]string, error) {
	var orgID int64
	if err := be.withStore(ctx, func(_ storage.Store, org storage.Org) error { orgID = org.ID; return nil }); err != nil {
		return nil, err
	}
	if be.postgres() {
		return seedPostgres(ctx, be.dsn, orgID, n)
	}
	return seedSQLite(ctx, be.path, orgID, n)
}

const memberEmailsSQL = "SELECT a.email FROM memberships m JOIN accounts a ON a.id = m.account_id WHERE m.org_id = "

func seedSQLite(ctx context.Context, path string, orgID int64, n int) ([]string, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	emails, err := queryStrings(ctx, db, memberEmailsSQL+strconv.FormatInt(orgID, 10))
	if err != nil {
		return nil, err
	}
	now := time.Now().Unix()
	for i := 0; len(emails) < n; {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		account, err := tx.PrepareContext(ctx, "INSERT INTO accounts(email, created_at) VALUES (?, ?) RETURNING id")
		if err != nil {
			tx.Rollback()
			return nil, err
		}
		member, err := tx.PrepareContext(ctx, `INSERT INTO memberships(id, org_id, account_id, given_name, family_name, active, attrs, created_at, updated_at)
			VALUES (?, ?, ?, 'Seed', ?, 1, ?, ?, ?)`)
		if err != nil {
			tx.Rollback()
			return nil, err
		}
		for batch := 0; batch < 10_000 && len(emails) < n; batch++ {
			email := fmt.Sprintf("seed%06d@acme.com", i)
			i++
			var accountID int64
			if err := account.QueryRowContext(ctx, email, now).Scan(&accountID); err != nil {
				tx.Rollback()
				return nil, err
			}
			if _, err := member.ExecContext(ctx, uuid.NewString(), orgID, accountID, fmt.Sprintf("Member %d", i), emailsAttrs(email), now, now); err != nil {
				tx.Rollback()
				return nil, err
			}
			emails = append(emails, email)
		}
		if err := tx.Commit(); err != nil {
			return nil, err
		}
	}
	return emails, nil
}

func emailsAttrs(email string) string {
	return `{"emails":[{"primary":true,"type":"work","value":"` + email + `"}]}`
}

// seedPostgres fills the org in two set-based statements, in batches of
// 50,000 so that no transaction grows without bound; the triggers fill
// member_emails and member_counts as for creates one by one.
func seedPostgres(ctx context.Context, dsn string, orgID int64, n int) ([]string, error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	emails, err := queryStrings(ctx, db, memberEmailsSQL+strconv.FormatInt(orgID, 10))
	if err != nil {
		return nil, err
	}
	now := time.Now().Unix()
	for first := 0; len(emails) < n; {
		last := first + min(50_000, n-len(emails)) - 1
		if _, err := db.ExecContext(ctx, `WITH a AS (
			INSERT INTO accounts(email, created_at)
			SELECT 'seed' || lpad(i::text, 6, '0') || '@acme.com', $3 FROM generate_series($1::int, $2::int) i
			RETURNING id, email)
			INSERT INTO memberships(id, org_id, account_id, given_name, family_name, active, attrs, created_at, updated_at)
			SELECT gen_random_uuid()::text, $4, a.id, 'Seed', 'Member ' || a.id, 1,
				'{"emails":[{"primary":true,"type":"work","value":"' || a.email || '"}]}', $3, $3 FROM a`,
			first, last, now, orgID); err != nil {
			return nil, fmt.Errorf("seeding members: %w", err)
		}
		for i := first; i <= last; i++ {
			emails = append(emails, fmt.Sprintf("seed%06d@acme.com", i))
		}
		first = last + 1
	}
	// What autovacuum does soon after a bulk load (fresh statistics, so
	// that the planner knows the org's size, and the visibility map), now
	// rather than during the measurements.
	if _, err := db.ExecContext(ctx, "VACUUM ANALYZE"); err != nil {
		return nil, err
	}
	return emails, nil
}

func queryStrings(ctx context.Context, db *sql.DB, q string) ([]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// size returns the store's size on disk: SQLite's file and WAL after a
// checkpoint; PostgreSQL's database (tables, indexes, TOAST; not its WAL,
// which the server shares among its databases).
func (be *backend) size(ctx context.Context) (int64, error) {
	if be.postgres() {
		db, err := sql.Open("pgx", be.dsn)
		if err != nil {
			return 0, err
		}
		defer db.Close()
		var n int64
		err = db.QueryRowContext(ctx, "SELECT pg_database_size(current_database())").Scan(&n)
		return n, err
	}
	db, err := sql.Open("sqlite", "file:"+be.path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return 0, err
	}
	_, _ = db.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	db.Close()
	var total int64
	for _, p := range []string{be.path, be.path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			total += fi.Size()
		}
	}
	return total, nil
}

// postgresTicks is the CPU time of the PostgreSQL server processes on
// this machine: with -store postgres they work for the harness, and
// counting them as other work would have every run measured again.
func postgresTicks() int64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0
	}
	var n int64
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		if t, err := cpuTicks(pid); err == nil {
			n += t
		}
	}
	return n
}
