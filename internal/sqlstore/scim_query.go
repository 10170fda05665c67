package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/ssogate/ssogate/internal/storage"
)

// FindMembers returns the org's members matching q, oldest first (the
// order of ListMembers), and the number of matches.
func (s *Store) FindMembers(ctx context.Context, orgID int64, q storage.Query) ([]storage.Member, int, error) {
	if q.Filter == nil {
		return s.findAllMembers(ctx, orgID, q) // see scim_pages.go
	}
	pageQuery, countQuery, args, err := s.d.MemberQueries(orgID, q.Filter)
	if err != nil {
		return nil, 0, fmt.Errorf("finding members: %w", err)
	}
	out, total, err := findPage(ctx, s, q, pageQuery, countQuery, args, ScanMember)
	if err != nil {
		return nil, 0, fmt.Errorf("finding members: %w", err)
	}
	return out, total, nil
}

// MemberQueries builds the page query (its last two parameters, LIMIT and
// OFFSET, to be appended to args) and the count query of FindMembers.
func (d *Dialect) MemberQueries(orgID int64, f storage.Filter) (pageQuery, countQuery string, args []any, err error) {
	cond, args, err := d.Filter.MemberWhere(orgID, f)
	if err != nil {
		return "", "", nil, err
	}
	orgTerm, order := "m.org_id = ?", " ORDER BY m.created_at, m.id"
	if d.HideOrgIndex && selective(f) {
		// The filter finds its few members through an index of its own
		// (accounts by email, member_emails by value, the primary key,
		// external_id). Left to itself, SQLite would rather walk the
		// org's members in the index that spares the sort, which in a
		// big org is a scan; the unary plus takes that index away.
		orgTerm, order = "+m.org_id = ?", " ORDER BY +m.created_at, +m.id"
	}
	where := MemberFrom + "WHERE " + orgTerm + " AND " + cond
	args = append([]any{orgID}, args...)
	return "SELECT " + MemberColumns + where + order + " LIMIT ? OFFSET ?", "SELECT COUNT(*)" + where, args, nil
}

// FindTeams returns the org's teams matching q, by name, and the number of
// matches. Member IDs of the whole page are read with one query.
func (s *Store) FindTeams(ctx context.Context, orgID int64, q storage.Query) ([]storage.Team, int, error) {
	cond, args, err := s.d.Filter.TeamWhere(q.Filter)
	if err != nil {
		return nil, 0, fmt.Errorf("finding teams: %w", err)
	}
	where := " FROM teams t WHERE t.org_id = ? AND " + cond
	args = append([]any{orgID}, args...)
	out, total, err := findPage(ctx, s, q,
		"SELECT t.id, t.org_id, t.name, t.external_id, t.role, t.source, t.created_at, t.updated_at, t.version"+where+" ORDER BY t.name, t.id LIMIT ? OFFSET ?",
		"SELECT COUNT(*)"+where, args, scanTeam)
	if err == nil && !q.OmitMembers && len(out) > 0 {
		err = s.loadMemberIDs(ctx, out)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("finding teams: %w", err)
	}
	return out, total, nil
}

// findPage reads one page with pageQuery and returns it and the total.
// The page alone tells the total when it is not full and is not past the
// end: that saves the COUNT for the lookups IdPs make before every push
// (userName eq, displayName eq), which match one record or none. Else
// countQuery runs; it may see writes made since the page was read, which
// at worst shifts a paging client by the records just added.
func findPage[T any](ctx context.Context, s *Store, q storage.Query, pageQuery, countQuery string, args []any,
	scan func(interface{ Scan(...any) error }) (T, error)) ([]T, int, error) {
	offset, limit := queryBounds(q)
	var out []T
	if limit != 0 {
		rows, err := s.b.Cached().QueryContext(ctx, pageQuery, append(append([]any(nil), args...), s.d.Limit(limit), offset)...)
		if err != nil {
			return nil, 0, err
		}
		if out, err = Collect(rows, scan); err != nil {
			return nil, 0, err
		}
		if n := len(out); (limit < 0 || n < limit) && (offset == 0 || n > 0) {
			return out, offset + n, nil
		}
	}
	var total int
	if err := s.b.Cached().QueryRowContext(ctx, countQuery, args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// queryBounds returns OFFSET and LIMIT for q: a Count of 0 stays 0 (SCIM's
// count=0 asks for the total alone), unlike pageBounds's.
func queryBounds(q storage.Query) (offset, limit int) {
	return max(q.StartIndex-1, 0), max(q.Count, -1)
}

// loadMemberIDs fills in the member IDs of teams, sorted, reading a few
// hundred teams per query (SQLite caps the number of parameters).
func (s *Store) loadMemberIDs(ctx context.Context, teams []storage.Team) error {
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
		query := "SELECT team_id, member_id FROM team_members WHERE team_id IN (?" +
			strings.Repeat(", ?", len(part)-1) + ") ORDER BY team_id, member_id"
		// Not through the statement cache: the query's shape varies
		// with the page size.
		rows, err := s.b.Reader().QueryContext(ctx, query, args...)
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
