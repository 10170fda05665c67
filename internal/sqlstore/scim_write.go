package sqlstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"github.com/ssogate/ssogate/internal/storage"
)

// ModifyMember applies fn to the member and stores the result, all inside
// one write transaction, so that two concurrent PATCHes of one user cannot
// lose each other's change. An unchanged result writes nothing (IdPs push
// whole profiles that often carry no change).
func (s *Store) ModifyMember(ctx context.Context, orgID int64, id string, fn func(*storage.Member) error) (storage.Member, error) {
	var m storage.Member
	wrote := false
	err := s.b.Tx(ctx, func(tx Querier) error {
		cur, err := ReadMember(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		next := cur
		next.Attrs = slices.Clone(cur.Attrs)
		if err := fn(&next); err != nil {
			return err
		}
		if sameProfile(cur, next) {
			m = cur
			return nil
		}
		m, err = s.updateMember(ctx, tx, orgID, cur, next)
		wrote = err == nil
		return err
	})
	if err != nil {
		return storage.Member{}, fmt.Errorf("modifying member %q: %w", id, err)
	}
	if wrote {
		s.Changed()
	}
	return m, nil
}

// sameProfile reports whether b would store nothing new over a.
func sameProfile(a, b storage.Member) bool {
	return (b.Email == "" || b.Email == a.Email) &&
		a.GivenName == b.GivenName && a.FamilyName == b.FamilyName &&
		a.DisplayName == b.DisplayName && a.ExternalID == b.ExternalID &&
		a.Active == b.Active && AttrsText(a.Attrs) == AttrsText(b.Attrs)
}

// CreateTeamWithMembers makes a team and its memberships in one
// transaction.
func (s *Store) CreateTeamWithMembers(ctx context.Context, orgID int64, name, externalID string, memberIDs []string) (storage.Team, error) {
	var t storage.Team
	err := s.b.Tx(ctx, func(tx Querier) error {
		now := Unix(s.b.Now())
		id := uuid.NewString()
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO teams(id, org_id, name, external_id, source, created_at, updated_at) VALUES (?, ?, ?, ?, 'scim', ?, ?)",
			id, orgID, name, externalID, now, now); err != nil {
			if s.b.IsUnique(err) {
				return fmt.Errorf("team name %q is taken: %w", name, storage.ErrConflict)
			}
			return err
		}
		ids := slices.Clone(memberIDs)
		slices.Sort(ids)
		if err := addTeamMembers(ctx, tx, orgID, id, slices.Compact(ids)); err != nil {
			return err
		}
		var err error
		t, err = teamByID(ctx, tx, orgID, id)
		return err
	})
	if err != nil {
		return storage.Team{}, fmt.Errorf("creating team %q: %w", name, err)
	}
	if len(t.MemberIDs) > 0 {
		s.Changed()
	}
	return t, nil
}
