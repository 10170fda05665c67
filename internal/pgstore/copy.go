package pgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
)

// copyTables are the tables CopyFrom moves, parents first, with their
// columns (the same in both schemas). member_emails and member_counts
// are rebuilt by this schema's triggers; the change feed and the password
// throttles start afresh.
var copyTables = []struct {
	name, columns, order string
	bytea                map[string]bool
}{
	{"orgs", "id, name, from_config, created_at", "id", nil},
	{"accounts", "id, email, created_at", "id", nil},
	{"memberships", "id, org_id, account_id, given_name, family_name, display_name, external_id, role, active, epoch, attrs, source, created_at, updated_at, version", "rowid", nil},
	{"teams", "id, org_id, name, external_id, role, source, created_at, updated_at, version", "id", nil},
	{"team_members", "team_id, member_id", "team_id, member_id", nil},
	{"domains", "org_id, name, status, txt_value, from_config, created_at, verified_at", "org_id, name", nil},
	{"tokens", "id, org_id, name, scope, hash, created_at, last_used_at", "id", map[string]bool{"hash": true}},
	{"passwords", "account_id, hash, updated_at", "account_id", nil},
	{"sessions", "id, member_id, org_id, method, epoch, created_at, expires_at, last_seen, name_id, session_index", "id", nil},
	{"replay", "assertion_id, expires_at", "assertion_id", nil},
	{"settings", "key, value", "key", map[string]bool{"value": true}},
	{"sso_connections", "org_id, idp_sso_url, idp_issuer, idp_certificates, idp_metadata_url, idp_metadata_xml, idp_slo_url, require_sso, idp_managed_access, allow_idp_initiated, groups_attribute, state, pinned, tested_at, created_at, updated_at, version", "org_id", nil},
	{"sso_tests", "id, org_id, connection_version, created_at, expires_at, finished_at, ok, outcome", "id", nil},
	{"audit", "id, org_id, at, actor, actor_kind, action, target, before, after", "id", nil},
	{"sp_keys", "id, org_id, use, state, certificate, private_key, not_after, created_at", "id", nil},
}

// ErrNotEmpty reports a copy refused because the target holds data.
var ErrNotEmpty = errors.New("the PostgreSQL database is not empty")

// CopyCount is one table's rows in the source and, after the copy, in the
// target.
type CopyCount struct {
	Table          string
	Source, Target int
}

// CopyFrom copies every row of src, a SQLite store's database at the
// newest schema (open it with sqlitestore.Open first, which migrates it),
// into s, in one transaction, and verifies the counts. A target with an
// org refuses (ErrNotEmpty) unless force, which empties it first: with
// force, copying again gives the same result.
func (s *Store) CopyFrom(ctx context.Context, src *sql.DB, force bool) ([]CopyCount, error) {
	var counts []CopyCount
	err := s.txReadCommitted(ctx, func(tx *Tx) error {
		counts = counts[:0]
		var orgs int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM orgs").Scan(&orgs); err != nil {
			return err
		}
		if orgs > 0 && !force {
			return ErrNotEmpty
		}
		names := make([]string, 0, len(copyTables)+2)
		for _, t := range copyTables {
			names = append(names, t.name)
		}
		names = append(names, "member_emails", "member_counts", "changes", "throttle")
		if _, err := tx.ExecContext(ctx, "TRUNCATE "+strings.Join(names, ", ")+" RESTART IDENTITY CASCADE"); err != nil {
			return err
		}
		for _, t := range copyTables {
			n, err := copyTable(ctx, src, tx, t.name, t.columns, t.order, t.bytea)
			if err != nil {
				return fmt.Errorf("copying %s: %w", t.name, err)
			}
			var got int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+t.name).Scan(&got); err != nil {
				return err
			}
			counts = append(counts, CopyCount{t.name, n, got})
			if got != n {
				return fmt.Errorf("copying %s: %d rows in the source, %d in the target", t.name, n, got)
			}
		}
		// The ids to come follow the copied ones.
		for _, t := range []string{"orgs", "accounts", "audit", "sp_keys"} {
			if _, err := tx.ExecContext(ctx, "SELECT setval(pg_get_serial_sequence('"+t+"', 'id'), COALESCE((SELECT MAX(id) FROM "+t+"), 0) + 1, false)"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.Changed()
	return counts, nil
}

func copyTable(ctx context.Context, src *sql.DB, tx *Tx, table, columns, order string, bytea map[string]bool) (int, error) {
	rows, err := src.QueryContext(ctx, "SELECT "+columns+" FROM "+table+" ORDER BY "+order)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols := strings.Split(columns, ", ")
	insert := "INSERT INTO " + table + "(" + columns + ") VALUES (?" + strings.Repeat(", ?", len(cols)-1) + ")"
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return n, err
		}
		for i, c := range cols {
			// SQLite may hand a BLOB column's value back as text.
			if s, ok := vals[i].(string); ok && bytea[c] {
				vals[i] = []byte(s)
			}
		}
		if _, err := tx.ExecContext(ctx, insert, vals...); err != nil {
			return n, err
		}
		n++
	}
	return n, rows.Err()
}
