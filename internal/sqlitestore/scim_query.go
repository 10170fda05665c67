package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/ssogate/ssogate/internal/storage"
)

// FindMembers returns the org's members matching q, oldest first (the
// order of ListMembers), and the number of matches.
//
// The count and the page come from one read transaction, so that they
// agree with each other while writers carry on.
func (s *Store) FindMembers(ctx context.Context, orgID int64, q storage.Query) ([]storage.Member, int, error) {
	cond, args, err := memberWhere(q.Filter)
	if err != nil {
		return nil, 0, fmt.Errorf("finding members: %w", err)
	}
	where := memberFrom + "WHERE m.org_id = ? AND " + cond
	args = append([]any{orgID}, args...)

	var out []storage.Member
	var total int
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*)"+where, args...).Scan(&total); err != nil {
			return err
		}
		offset, limit, ok := queryBounds(q, total)
		if !ok {
			return nil
		}
		rows, err := tx.QueryContext(ctx, "SELECT "+memberColumns+where+" ORDER BY m.created_at, m.id LIMIT ? OFFSET ?",
			append(args, limit, offset)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMember(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, fmt.Errorf("finding members: %w", err)
	}
	return out, total, nil
}

// FindTeams returns the org's teams matching q, by name, and the number of
// matches. Member IDs of the whole page are read with one query.
func (s *Store) FindTeams(ctx context.Context, orgID int64, q storage.Query) ([]storage.Team, int, error) {
	cond, args, err := teamWhere(q.Filter)
	if err != nil {
		return nil, 0, fmt.Errorf("finding teams: %w", err)
	}
	where := " FROM teams t WHERE t.org_id = ? AND " + cond
	args = append([]any{orgID}, args...)

	var out []storage.Team
	var total int
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*)"+where, args...).Scan(&total); err != nil {
			return err
		}
		offset, limit, ok := queryBounds(q, total)
		if !ok {
			return nil
		}
		cols := "t.id, t.org_id, t.name, t.external_id, t.created_at, t.updated_at, t.version"
		rows, err := tx.QueryContext(ctx, "SELECT "+cols+where+" ORDER BY t.name, t.id LIMIT ? OFFSET ?",
			append(args, limit, offset)...)
		if err != nil {
			return err
		}
		for rows.Next() {
			t, err := scanTeam(rows)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, t)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if q.OmitMembers || len(out) == 0 {
			return nil
		}
		return loadMemberIDs(ctx, tx, out)
	})
	if err != nil {
		return nil, 0, fmt.Errorf("finding teams: %w", err)
	}
	return out, total, nil
}

// loadMemberIDs fills in the member IDs of teams, sorted, reading a few
// hundred teams per query (SQLite caps the number of parameters).
func loadMemberIDs(ctx context.Context, tx *sql.Tx, teams []storage.Team) error {
	const chunk = 500
	index := make(map[string]int, len(teams))
	for i := range teams {
		teams[i].MemberIDs = []string{}
		index[teams[i].ID] = i
	}
	for start := 0; start < len(teams); start += chunk {
		part := teams[start:min(start+chunk, len(teams))]
		args := make([]any, len(part))
		for i := range part {
			args[i] = part[i].ID
		}
		rows, err := tx.QueryContext(ctx, "SELECT team_id, member_id FROM team_members WHERE team_id IN (?"+
			strings.Repeat(", ?", len(part)-1)+") ORDER BY team_id, member_id", args...)
		if err != nil {
			return err
		}
		for rows.Next() {
			var tid, mid string
			if err := rows.Scan(&tid, &mid); err != nil {
				rows.Close()
				return err
			}
			i := index[tid]
			teams[i].MemberIDs = append(teams[i].MemberIDs, mid)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// queryBounds returns OFFSET and LIMIT for q, and false when the page is
// empty anyway (count 0, or a start past the end), which saves the query.
func queryBounds(q storage.Query, total int) (offset, limit int, ok bool) {
	offset = q.StartIndex - 1
	if offset < 0 {
		offset = 0
	}
	limit = q.Count
	if limit < 0 {
		limit = -1
	}
	return offset, limit, limit != 0 && offset < total
}

// readTx runs fn in a read-only transaction on the reader pool: one
// snapshot for all its queries.
func (s *Store) readTx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("beginning read: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a read-only transaction has nothing to undo
	return fn(tx)
}
