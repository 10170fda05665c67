package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/ssogate/ssogate/internal/storage"
)

const teamColumns = "id, org_id, name, external_id, role, source, created_at, updated_at, version"

func scanTeam(row interface{ Scan(...any) error }) (storage.Team, error) {
	var t storage.Team
	var created, updated int64
	var role string
	err := row.Scan(&t.ID, &t.OrgID, &t.Name, &t.ExternalID, &role, &t.Source, &created, &updated, &t.Version)
	t.Role = storage.Role(role)
	t.CreatedAt, t.UpdatedAt = FromUnix(created), FromUnix(updated)
	return t, err
}

type querier interface {
	queryRower
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func teamByID(ctx context.Context, q querier, orgID int64, id string) (storage.Team, error) {
	t, err := scanTeam(q.QueryRowContext(ctx, "SELECT "+teamColumns+" FROM teams WHERE org_id = ? AND id = ?", orgID, id))
	if err != nil {
		return t, NotFound(err, fmt.Sprintf("team %q", id))
	}
	rows, err := q.QueryContext(ctx, "SELECT member_id FROM team_members WHERE team_id = ? ORDER BY member_id", id)
	if err != nil {
		return t, err
	}
	defer rows.Close()
	t.MemberIDs = []string{}
	for rows.Next() {
		var mid string
		if err := rows.Scan(&mid); err != nil {
			return t, err
		}
		t.MemberIDs = append(t.MemberIDs, mid)
	}
	return t, rows.Err()
}

// CreateTeam makes a team in the org.
func (s *Store) CreateTeam(ctx context.Context, orgID int64, name, externalID string) (storage.Team, error) {
	var t storage.Team
	err := s.b.Tx(ctx, func(tx Querier) error {
		now := Unix(s.b.Now())
		var err error
		t, err = scanTeam(tx.QueryRowContext(ctx,
			"INSERT INTO teams(id, org_id, name, external_id, source, created_at, updated_at) VALUES (?, ?, ?, ?, 'manual', ?, ?) RETURNING "+teamColumns,
			uuid.NewString(), orgID, name, externalID, now, now))
		t.MemberIDs = []string{}
		return err
	})
	if s.b.IsUnique(err) {
		return t, fmt.Errorf("creating team %q: %w", name, storage.ErrConflict)
	}
	if err != nil {
		return t, fmt.Errorf("creating team %q: %w", name, err)
	}
	return t, nil
}

// TeamByID returns the org's team with its member IDs.
func (s *Store) TeamByID(ctx context.Context, orgID int64, id string) (storage.Team, error) {
	return teamByID(ctx, s.b.Reader(), orgID, id)
}

// ListTeams returns a page of the org's teams by name, with member IDs.
func (s *Store) ListTeams(ctx context.Context, orgID int64, page storage.Page) ([]storage.Team, int, error) {
	var total int
	if err := s.b.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM teams WHERE org_id = ?", orgID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("counting teams: %w", err)
	}
	offset, limit := pageBounds(page)
	rows, err := s.b.Reader().QueryContext(ctx, "SELECT "+teamColumns+" FROM teams WHERE org_id = ? ORDER BY name, id LIMIT ? OFFSET ?",
		orgID, s.d.Limit(limit), offset)
	if err != nil {
		return nil, 0, fmt.Errorf("listing teams: %w", err)
	}
	var out []storage.Team
	for rows.Next() {
		t, err := scanTeam(rows)
		if err != nil {
			rows.Close()
			return nil, 0, err
		}
		out = append(out, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	for i := range out {
		full, err := teamByID(ctx, s.b.Reader(), orgID, out[i].ID)
		if err != nil {
			return nil, 0, err
		}
		out[i].MemberIDs = full.MemberIDs
	}
	return out, total, nil
}

// DeleteTeam removes a team.
func (s *Store) DeleteTeam(ctx context.Context, orgID int64, id string) error {
	err := s.b.Tx(ctx, func(tx Querier) error {
		if _, err := teamByID(ctx, tx, orgID, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM team_members WHERE team_id = ?", id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM teams WHERE id = ?", id)
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting team %q: %w", id, err)
	}
	s.Changed()
	return nil
}

// UpdateTeam applies fn to the team inside one write transaction. Member IDs
// fn adds must be members of the same org, or the update fails with
// ErrNotFound.
func (s *Store) UpdateTeam(ctx context.Context, orgID int64, id string, fn func(*storage.Team) error) (storage.Team, error) {
	var out storage.Team
	err := s.b.Tx(ctx, func(tx Querier) error {
		cur, err := teamByID(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		next := cur
		next.MemberIDs = append([]string(nil), cur.MemberIDs...)
		if err := fn(&next); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE teams SET name = ?, external_id = ?, updated_at = ?, version = version + 1 WHERE id = ?",
			next.Name, next.ExternalID, Unix(s.b.Now()), id); err != nil {
			if s.b.IsUnique(err) {
				return fmt.Errorf("team name %q is taken: %w", next.Name, storage.ErrConflict)
			}
			return err
		}
		want := make(map[string]bool, len(next.MemberIDs))
		for _, mid := range next.MemberIDs {
			want[mid] = true
		}
		have := make(map[string]bool, len(cur.MemberIDs))
		for _, mid := range cur.MemberIDs {
			have[mid] = true
			if !want[mid] {
				if _, err := tx.ExecContext(ctx, "DELETE FROM team_members WHERE team_id = ? AND member_id = ?", id, mid); err != nil {
					return err
				}
			}
		}
		added := make([]string, 0, len(want))
		for mid := range want {
			if !have[mid] {
				added = append(added, mid)
			}
		}
		sort.Strings(added)
		if err := addTeamMembers(ctx, tx, orgID, id, added); err != nil {
			return err
		}
		out, err = teamByID(ctx, tx, orgID, id)
		return err
	})
	if err != nil {
		return out, fmt.Errorf("updating team %q: %w", id, err)
	}
	s.Changed()
	return out, nil
}

// SetTeamRole sets the role the team grants its members; a trigger puts
// its members on the change feed, so their next request shows it.
func (s *Store) SetTeamRole(ctx context.Context, orgID int64, id string, role storage.Role) (storage.Team, error) {
	if role == storage.RoleOwner {
		return storage.Team{}, fmt.Errorf("setting role of team %q: a team cannot grant owner: %w", id, storage.ErrConflict)
	}
	var out storage.Team
	err := s.b.Tx(ctx, func(tx Querier) error {
		res, err := tx.ExecContext(ctx, "UPDATE teams SET role = ?, updated_at = ?, version = version + 1 WHERE org_id = ? AND id = ?",
			string(role), Unix(s.b.Now()), orgID, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("team %q: %w", id, storage.ErrNotFound)
		}
		out, err = teamByID(ctx, tx, orgID, id)
		return err
	})
	if err != nil {
		return out, fmt.Errorf("setting role of team %q: %w", id, err)
	}
	s.Changed()
	return out, nil
}

// teamRef is a team by ID and name.
type teamRef struct{ id, name string }

// teamsPlan is what SetMemberTeamsByName would write.
type teamsPlan struct {
	join, leave []teamRef
	create      []string
}

func (p teamsPlan) empty() bool { return len(p.join) == 0 && len(p.leave) == 0 && len(p.create) == 0 }

// checkTeamNames bounds an assertion's group names and drops repeats (a
// name repeated in another case is a repeat), keeping the first spelling.
func checkTeamNames(names []string) ([]string, error) {
	if len(names) > storage.MaxTeamNames {
		return nil, fmt.Errorf("%d team names, more than %d", len(names), storage.MaxTeamNames)
	}
	out := make([]string, 0, len(names))
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || len(n) > storage.MaxTeamName {
			return nil, fmt.Errorf("a team name must have 1 to %d bytes, not %d", storage.MaxTeamName, len(n))
		}
		if key := strings.ToLower(n); !seen[key] {
			seen[key] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// planMemberTeams works out how to make the member's teams in the org
// exactly names. A name is the team with exactly that name, else the
// first (by name) whose name equals it without regard to case (Unicode
// case folding, wider than the name column's ASCII-only NOCASE, so that
// "Équipe" finds "équipe"), else a team to make.
func planMemberTeams(ctx context.Context, q querier, orgID int64, memberID string, names []string) (teamsPlan, error) {
	var p teamsPlan
	if _, err := ReadMember(ctx, q, orgID, memberID); err != nil {
		return p, err
	}
	rows, err := q.QueryContext(ctx, "SELECT id, name FROM teams WHERE org_id = ? ORDER BY name, id", orgID)
	if err != nil {
		return p, err
	}
	teams, err := Collect(rows, func(r interface{ Scan(...any) error }) (teamRef, error) {
		var t teamRef
		return t, r.Scan(&t.id, &t.name)
	})
	if err != nil {
		return p, err
	}
	rows, err = q.QueryContext(ctx, `SELECT t.id, t.name FROM team_members tm JOIN teams t ON t.id = tm.team_id
		WHERE tm.member_id = ? AND t.org_id = ? ORDER BY t.name, t.id`, memberID, orgID)
	if err != nil {
		return p, err
	}
	current, err := Collect(rows, func(r interface{ Scan(...any) error }) (teamRef, error) {
		var t teamRef
		return t, r.Scan(&t.id, &t.name)
	})
	if err != nil {
		return p, err
	}
	want := map[string]bool{}
	for _, n := range names {
		found := -1
		for i, t := range teams {
			if t.name == n {
				found = i
				break
			}
			if found < 0 && strings.EqualFold(t.name, n) {
				found = i
			}
		}
		if found < 0 {
			p.create = append(p.create, n)
			continue
		}
		if !want[teams[found].id] {
			want[teams[found].id] = true
			p.join = append(p.join, teams[found])
		}
	}
	in := map[string]bool{}
	for _, t := range current {
		in[t.id] = true
		if !want[t.id] {
			p.leave = append(p.leave, t)
		}
	}
	p.join = slices.DeleteFunc(p.join, func(t teamRef) bool { return in[t.id] })
	return p, nil
}

// SetMemberTeamsByName makes the member's teams in the org exactly the
// named ones. Most sign-ins change nothing: the plan is made on a reader
// first, and the write lock taken only when there is something to write
// (the plan is then made again inside the write, on what it sees).
func (s *Store) SetMemberTeamsByName(ctx context.Context, orgID int64, memberID string, names []string) (storage.TeamsChange, error) {
	names, err := checkTeamNames(names)
	if err != nil {
		return storage.TeamsChange{}, fmt.Errorf("setting the teams of member %q: %w", memberID, err)
	}
	p, err := planMemberTeams(ctx, s.b.Reader(), orgID, memberID, names)
	if err != nil {
		return storage.TeamsChange{}, fmt.Errorf("setting the teams of member %q: %w", memberID, err)
	}
	if p.empty() {
		return storage.TeamsChange{}, nil
	}
	var ch storage.TeamsChange
	err = s.b.Tx(ctx, func(tx Querier) error {
		p, err := planMemberTeams(ctx, tx, orgID, memberID, names)
		if err != nil {
			return err
		}
		ch, err = s.applyTeamsPlan(ctx, tx, orgID, memberID, p)
		return err
	})
	if err != nil {
		return storage.TeamsChange{}, fmt.Errorf("setting the teams of member %q: %w", memberID, err)
	}
	if !ch.Empty() {
		s.Changed()
	}
	return ch, nil
}

// applyTeamsPlan writes p inside tx. Each team the member joins or leaves
// gets a new version (its SCIM ETag); the team_members triggers put the
// member on the change feed.
func (s *Store) applyTeamsPlan(ctx context.Context, tx Querier, orgID int64, memberID string, p teamsPlan) (storage.TeamsChange, error) {
	var ch storage.TeamsChange
	now := Unix(s.b.Now())
	for _, name := range p.create {
		id := uuid.NewString()
		if _, err := tx.ExecContext(ctx, `INSERT INTO teams(id, org_id, name, external_id, source, created_at, updated_at)
			VALUES (?, ?, ?, '', ?, ?, ?)`, id, orgID, name, storage.SourceSSO, now, now); err != nil {
			if s.b.IsUnique(err) {
				return ch, fmt.Errorf("team %q: %w", name, storage.ErrConflict)
			}
			return ch, err
		}
		p.join = append(p.join, teamRef{id, name})
		ch.Created = append(ch.Created, name)
	}
	for _, t := range p.join {
		if _, err := tx.ExecContext(ctx, "INSERT INTO team_members(team_id, member_id) VALUES (?, ?)", t.id, memberID); err != nil {
			return ch, err
		}
		ch.Added = append(ch.Added, t.name)
	}
	for _, t := range p.leave {
		if _, err := tx.ExecContext(ctx, "DELETE FROM team_members WHERE team_id = ? AND member_id = ?", t.id, memberID); err != nil {
			return ch, err
		}
		ch.Removed = append(ch.Removed, t.name)
	}
	for _, t := range append(p.join, p.leave...) {
		if _, err := tx.ExecContext(ctx, "UPDATE teams SET updated_at = ?, version = version + 1 WHERE id = ?", now, t.id); err != nil {
			return ch, err
		}
	}
	slices.Sort(ch.Added)
	slices.Sort(ch.Created)
	slices.Sort(ch.Removed)
	return ch, nil
}

// addTeamMembers puts the org's members memberIDs in team teamID, in the
// order given (sorted, so that two writers lock rows in one order); a
// member of another org, or none, is storage.ErrNotFound.
func addTeamMembers(ctx context.Context, tx Querier, orgID int64, teamID string, memberIDs []string) error {
	for _, mid := range memberIDs {
		res, err := tx.ExecContext(ctx, `INSERT INTO team_members(team_id, member_id)
			SELECT ?, id FROM memberships WHERE id = ? AND org_id = ?`, teamID, mid, orgID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("member %q: %w", mid, storage.ErrNotFound)
		}
	}
	return nil
}
