package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/ssogate/ssogate/internal/storage"
)

// ScanMember reads a row of MemberColumns.
func ScanMember(row interface{ Scan(...any) error }) (storage.Member, error) {
	var m storage.Member
	var role, attrs string
	var created, updated int64
	err := row.Scan(&m.ID, &m.OrgID, &m.AccountID, &m.Email, &m.GivenName, &m.FamilyName,
		&m.DisplayName, &m.ExternalID, &role, &m.Active, &m.Epoch, &attrs, &m.Source, &created, &updated, &m.Version)
	m.Role = storage.Role(role)
	m.Attrs = json.RawMessage(attrs)
	m.CreatedAt, m.UpdatedAt = FromUnix(created), FromUnix(updated)
	return m, err
}

// AttrsText is a member's attributes as stored: an object, {} when empty.
func AttrsText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	return string(raw)
}

// MemberByEmail returns the org's member with this email.
func (s *Store) MemberByEmail(ctx context.Context, orgID int64, email string) (storage.Member, error) {
	return memberByEmail(ctx, s.b.Cached(), orgID, email)
}

func memberByEmail(ctx context.Context, q queryRower, orgID int64, email string) (storage.Member, error) {
	m, err := ScanMember(q.QueryRowContext(ctx, QMemberByEmail, orgID, email))
	return m, NotFound(err, fmt.Sprintf("member %q", email))
}

// SignInLookup is a sign-in's domain and member reads, on the writer
// connection when the store has one (Backend.Warm).
func (s *Store) SignInLookup(ctx context.Context, orgID int64, domain, email string) (bool, storage.Member, error) {
	w := s.b.Warm()
	verified, err := domainVerified(ctx, w, orgID, domain)
	if err != nil || !verified {
		return false, storage.Member{}, err
	}
	m, err := memberByEmail(ctx, w, orgID, email)
	return true, m, err
}

// MemberByID returns the org's member with this ID.
func (s *Store) MemberByID(ctx context.Context, orgID int64, id string) (storage.Member, error) {
	return ReadMember(ctx, s.b.Cached(), orgID, id)
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) Row
}

// ReadMember reads the org's member with this ID through q.
func ReadMember(ctx context.Context, q queryRower, orgID int64, id string) (storage.Member, error) {
	m, err := ScanMember(q.QueryRowContext(ctx, QMemberByID, orgID, id))
	return m, NotFound(err, fmt.Sprintf("member %q", id))
}

// Memberships returns the account's memberships in every org.
func (s *Store) Memberships(ctx context.Context, email string) ([]storage.Member, error) {
	rows, err := s.b.Reader().QueryContext(ctx, "SELECT "+MemberColumns+MemberFrom+"WHERE a.email = ? ORDER BY m.created_at, m.rowid", email)
	if err != nil {
		return nil, fmt.Errorf("listing memberships of %q: %w", email, err)
	}
	return Collect(rows, ScanMember)
}

// AccountExists reports whether an account has this email.
func (s *Store) AccountExists(ctx context.Context, email string) (bool, error) {
	var n int
	err := s.b.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM accounts WHERE email = ?", email).Scan(&n)
	return n > 0, err
}

// CreateMember makes the account if needed and its membership in the org
// (Backend.CreateMember).
func (s *Store) CreateMember(ctx context.Context, orgID int64, nm storage.NewMember, requireNewAccount bool) (storage.Member, error) {
	if nm.Role == "" {
		nm.Role = storage.RoleMember
	}
	m, err := s.b.CreateMember(ctx, orgID, nm, requireNewAccount)
	if err != nil {
		return storage.Member{}, fmt.Errorf("creating member %q: %w", nm.Email, err)
	}
	return m, nil
}

// UpdateMember replaces a member's profile fields and active state.
func (s *Store) UpdateMember(ctx context.Context, orgID int64, in storage.Member) (storage.Member, error) {
	var m storage.Member
	err := s.b.Tx(ctx, func(tx Querier) error {
		cur, err := ReadMember(ctx, tx, orgID, in.ID)
		if err != nil {
			return err
		}
		m, err = s.updateMember(ctx, tx, orgID, cur, in)
		return err
	})
	if err != nil {
		return storage.Member{}, fmt.Errorf("updating member %q: %w", in.ID, err)
	}
	s.Changed()
	return m, nil
}

// updateMember writes in over cur, the member's current row, inside tx. It
// is shared by UpdateMember and ModifyMember so that both end sessions on
// deactivation the same way.
func (s *Store) updateMember(ctx context.Context, tx Querier, orgID int64, cur, in storage.Member) (storage.Member, error) {
	// Emails compare without case, as accounts.email does: a case-only
	// spelling is no change, and the stored spelling stays.
	if in.Email != "" && !strings.EqualFold(in.Email, cur.Email) {
		// The email is the account's, which other orgs may share: only
		// an org that has the account to itself may change it.
		var others int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM memberships WHERE account_id = ? AND org_id != ?",
			cur.AccountID, orgID).Scan(&others); err != nil {
			return storage.Member{}, err
		}
		if others > 0 {
			return storage.Member{}, storage.ErrSharedAccount
		}
		if _, err := tx.ExecContext(ctx, "UPDATE accounts SET email = ? WHERE id = ?", in.Email, cur.AccountID); err != nil {
			if s.b.IsUnique(err) {
				return storage.Member{}, fmt.Errorf("email %q is taken: %w", in.Email, storage.ErrConflict)
			}
			return storage.Member{}, err
		}
	}
	epoch := cur.Epoch
	if cur.Active && !in.Active {
		epoch++
	}
	if _, err := tx.ExecContext(ctx, `UPDATE memberships SET given_name = ?, family_name = ?, display_name = ?,
		external_id = ?, active = ?, epoch = ?, attrs = ?, updated_at = ?, version = version + 1
		WHERE id = ?`,
		in.GivenName, in.FamilyName, in.DisplayName, in.ExternalID, BoolInt(in.Active), epoch,
		AttrsText(in.Attrs), Unix(s.b.Now()), cur.ID); err != nil {
		return storage.Member{}, err
	}
	if epoch != cur.Epoch {
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE member_id = ?", cur.ID); err != nil {
			return storage.Member{}, err
		}
	}
	return ReadMember(ctx, tx, orgID, cur.ID)
}

// SetActive activates or deactivates a member.
func (s *Store) SetActive(ctx context.Context, orgID int64, id string, active bool) (storage.Member, error) {
	m, err := s.MemberByID(ctx, orgID, id)
	if err != nil {
		return m, err
	}
	m.Email = ""
	m.Active = active
	return s.UpdateMember(ctx, orgID, m)
}

// SetRole changes a member's role.
func (s *Store) SetRole(ctx context.Context, orgID int64, id string, role storage.Role) (storage.Member, error) {
	var m storage.Member
	err := s.b.Tx(ctx, func(tx Querier) error {
		cur, err := ReadMember(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		if cur.Role == storage.RoleOwner && role != storage.RoleOwner {
			var owners int
			// Deactivated owners do not count: they cannot sign in.
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM memberships WHERE org_id = ? AND role = 'owner' AND active = 1",
				orgID).Scan(&owners); err != nil {
				return err
			}
			if owners <= 1 {
				return storage.ErrLastOwner
			}
		}
		if _, err := tx.ExecContext(ctx, "UPDATE memberships SET role = ?, updated_at = ?, version = version + 1 WHERE id = ?",
			string(role), Unix(s.b.Now()), id); err != nil {
			return err
		}
		m, err = ReadMember(ctx, tx, orgID, id)
		return err
	})
	if err != nil {
		return m, fmt.Errorf("setting role of member %q: %w", id, err)
	}
	s.Changed()
	return m, nil
}

// DeleteMember removes a membership, its sessions, and the account when it
// is in no other org.
func (s *Store) DeleteMember(ctx context.Context, orgID int64, id string) error {
	err := s.b.Tx(ctx, func(tx Querier) error {
		m, err := ReadMember(ctx, tx, orgID, id)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM team_members WHERE member_id = ?", id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM memberships WHERE id = ?", id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx,
			"DELETE FROM accounts WHERE id = ? AND NOT EXISTS (SELECT 1 FROM memberships WHERE account_id = ?)",
			m.AccountID, m.AccountID)
		return err
	})
	if err != nil {
		return fmt.Errorf("deleting member %q: %w", id, err)
	}
	s.Changed()
	return nil
}

// ListMembers returns a page of the org's members, oldest first.
func (s *Store) ListMembers(ctx context.Context, orgID int64, page storage.Page) ([]storage.Member, int, error) {
	var total int
	if err := s.b.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM memberships WHERE org_id = ?", orgID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("counting members: %w", err)
	}
	offset, limit := pageBounds(page)
	rows, err := s.b.Reader().QueryContext(ctx, "SELECT "+MemberColumns+MemberFrom+
		"WHERE m.org_id = ? ORDER BY m.created_at, m.id LIMIT ? OFFSET ?", orgID, s.d.Limit(limit), offset)
	if err != nil {
		return nil, 0, fmt.Errorf("listing members: %w", err)
	}
	defer rows.Close()
	var out []storage.Member
	for rows.Next() {
		m, err := ScanMember(rows)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, m)
	}
	return out, total, rows.Err()
}

// pageBounds turns a 1-based page into OFFSET and LIMIT; a Count of 0 or
// less means no limit.
func pageBounds(p storage.Page) (offset, limit int) {
	offset = p.StartIndex - 1
	if offset < 0 {
		offset = 0
	}
	limit = p.Count
	if limit <= 0 {
		limit = -1
	}
	return offset, limit
}

// Identity returns what the gate tells the app about a member.
func (s *Store) Identity(ctx context.Context, memberID string) (storage.Identity, error) {
	var id storage.Identity
	var role string
	err := s.b.Cached().QueryRowContext(ctx, QIdentity, memberID).Scan(&id.MemberID, &id.OrgID, &id.OrgName, &id.Email, &id.GivenName, &id.FamilyName, &role, &id.Active, &id.Epoch)
	if err != nil {
		return id, NotFound(err, fmt.Sprintf("member %q", memberID))
	}
	id.Role = storage.Role(role)
	rows, err := s.b.Cached().QueryContext(ctx, QIdentityTeams, memberID)
	if err != nil {
		return id, fmt.Errorf("listing teams of %q: %w", memberID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, teamRole string
		if err := rows.Scan(&name, &teamRole); err != nil {
			return id, err
		}
		id.Teams = append(id.Teams, name)
		id.Role = storage.EffectiveRole(id.Role, storage.Role(teamRole))
	}
	return id, rows.Err()
}
