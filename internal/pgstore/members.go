package pgstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/ssogate/ssogate/internal/sqlstore"
	"github.com/ssogate/ssogate/internal/storage"
)

const memberColumns = sqlstore.MemberColumns

const memberFrom = sqlstore.MemberFrom

func scanMember(row interface{ Scan(...any) error }) (storage.Member, error) {
	var m storage.Member
	var role, attrs string
	var created, updated int64
	err := row.Scan(&m.ID, &m.OrgID, &m.AccountID, &m.Email, &m.GivenName, &m.FamilyName,
		&m.DisplayName, &m.ExternalID, &role, &m.Active, &m.Epoch, &attrs, &m.Source, &created, &updated, &m.Version)
	m.Role = storage.Role(role)
	m.Attrs = json.RawMessage(attrs)
	m.CreatedAt, m.UpdatedAt = fromUnix(created), fromUnix(updated)
	return m, err
}

func notFound(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, storage.ErrNotFound)
	}
	return err
}

func attrsText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	return string(raw)
}

// MemberByEmail returns the org's member with this email.
func (s *Store) MemberByEmail(ctx context.Context, orgID int64, email string) (storage.Member, error) {
	return memberByEmail(ctx, s.r, orgID, email)
}

func memberByEmail(ctx context.Context, q queryRower, orgID int64, email string) (storage.Member, error) {
	m, err := scanMember(q.QueryRowContext(ctx, qMemberByEmail, orgID, email))
	return m, notFound(err, fmt.Sprintf("member %q", email))
}

// SignInLookup is a sign-in's domain and member reads, on the writer
// connection (see warmReader).
func (s *Store) SignInLookup(ctx context.Context, orgID int64, domain, email string) (bool, storage.Member, error) {
	w := s.r
	verified, err := domainVerified(ctx, w, orgID, domain)
	if err != nil || !verified {
		return false, storage.Member{}, err
	}
	m, err := memberByEmail(ctx, w, orgID, email)
	return true, m, err
}

// MemberByID returns the org's member with this ID.
func (s *Store) MemberByID(ctx context.Context, orgID int64, id string) (storage.Member, error) {
	return memberByID(ctx, s.r, orgID, id)
}

type queryRower interface {
	QueryRowContext(ctx context.Context, query string, args ...any) sqlstore.Row
}

func memberByID(ctx context.Context, q queryRower, orgID int64, id string) (storage.Member, error) {
	m, err := scanMember(q.QueryRowContext(ctx, qMemberByID, orgID, id))
	return m, notFound(err, fmt.Sprintf("member %q", id))
}

// Memberships returns the account's memberships in every org.
func (s *Store) Memberships(ctx context.Context, email string) ([]storage.Member, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+memberColumns+memberFrom+"WHERE a.email = ? ORDER BY m.created_at, m.rowid", email)
	if err != nil {
		return nil, fmt.Errorf("listing memberships of %q: %w", email, err)
	}
	return collect(rows, scanMember)
}

// AccountExists reports whether an account has this email.
func (s *Store) AccountExists(ctx context.Context, email string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM accounts WHERE email = ?", email).Scan(&n)
	return n > 0, err
}

// CreateMember makes the account if needed and its membership in the org,
// in one statement and one round trip: an IdP's initial push sends
// thousands of creates at once, from several replicas, and a transaction
// of seven statements spent most of its time in round trips and context
// switches. The unique keys on accounts.email and (org_id, account_id)
// settle two creates of one account; the statement runs again in the rare
// case that it lost such a race and its snapshot does not show the
// winner's row yet.
func (s *Store) CreateMember(ctx context.Context, orgID int64, nm storage.NewMember, requireNewAccount bool) (storage.Member, error) {
	if nm.Role == "" {
		nm.Role = storage.RoleMember
	}
	m, err := s.createMember(ctx, orgID, nm, requireNewAccount)
	if err != nil {
		return storage.Member{}, fmt.Errorf("creating member %q: %w", nm.Email, unavailable(err))
	}
	return m, nil
}

// qCreateMember inserts the account unless it exists, then the membership
// unless the account is a member already or (with requireNewAccount) is
// not new. Its one row tells which: new (the account was made here),
// existing (the ID of the account's membership in the org, as the
// statement's snapshot shows it) and the membership's columns when it was
// made. No row: another create of the same email committed after the
// snapshot was taken.
const qCreateMember = `WITH ins AS (
	INSERT INTO accounts(email, created_at) VALUES (?, ?) ON CONFLICT (email) DO NOTHING RETURNING id, email
), acc AS (
	SELECT id, email, true AS new FROM ins
	UNION ALL
	SELECT id, email, false FROM accounts WHERE email = ? AND NOT EXISTS (SELECT 1 FROM ins)
), m AS (
	INSERT INTO memberships(id, org_id, account_id, given_name, family_name,
		display_name, external_id, role, active, attrs, source, created_at, updated_at)
	SELECT ?, ?, acc.id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM acc WHERE acc.new OR NOT ?::boolean
	ON CONFLICT (org_id, account_id) DO NOTHING
	RETURNING *
)
SELECT acc.new, COALESCE((SELECT x.id FROM memberships x WHERE x.org_id = ? AND x.account_id = acc.id), ''),
	m.id, m.org_id, m.account_id, acc.email, m.given_name, m.family_name, m.display_name, m.external_id,
	m.role, m.active, m.epoch, m.attrs, m.source, m.created_at, m.updated_at, m.version
FROM acc LEFT JOIN m ON true`

func (s *Store) createMember(ctx context.Context, orgID int64, nm storage.NewMember, requireNewAccount bool) (storage.Member, error) {
	now := unix(s.now())
	// One ID for every attempt: an attempt whose answer was lost with its
	// connection may have committed, and then the next finds its own
	// membership.
	id := uuid.NewString()
	var err error
	for range maxAttempts {
		var isNew bool
		var existing string
		var mid sql.NullString
		var m storage.Member
		var role, attrs sql.NullString
		var created, updated sql.NullInt64
		var mOrg, mAccount, mEpoch, mVersion sql.NullInt64
		var active sql.NullBool
		var given, family, display, external, source sql.NullString
		err = s.r.QueryRowContext(ctx, qCreateMember,
			nm.Email, now, nm.Email,
			id, orgID, nm.GivenName, nm.FamilyName, nm.DisplayName, nm.ExternalID,
			string(nm.Role), boolInt(nm.Active), attrsText(nm.Attrs), nm.Source, now, now, requireNewAccount,
			orgID,
		).Scan(&isNew, &existing, &mid, &mOrg, &mAccount, &m.Email, &given, &family, &display, &external,
			&role, &active, &mEpoch, &attrs, &source, &created, &updated, &mVersion)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue // lost a race to another create of this email: look again
		case connLost(err) && ctx.Err() == nil:
			continue
		case err != nil:
			return storage.Member{}, err
		case mid.Valid:
			m.ID, m.OrgID, m.AccountID = mid.String, mOrg.Int64, mAccount.Int64
			m.GivenName, m.FamilyName, m.DisplayName, m.ExternalID = given.String, family.String, display.String, external.String
			m.Role, m.Active, m.Epoch, m.Attrs, m.Source = storage.Role(role.String), active.Bool, mEpoch.Int64, json.RawMessage(attrs.String), source.String
			m.CreatedAt, m.UpdatedAt, m.Version = fromUnix(created.Int64), fromUnix(updated.Int64), mVersion.Int64
			return m, nil
		case existing == id:
			// An earlier attempt committed.
			return memberByID(ctx, s.r, orgID, id)
		case existing != "":
			return storage.Member{}, storage.ErrConflict
		case requireNewAccount && !isNew:
			return storage.Member{}, storage.ErrAccountExists
		default:
			// The membership's insert met one committed after the
			// snapshot: the account is a member already.
			return storage.Member{}, storage.ErrConflict
		}
	}
	if err == nil || errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("%d attempts lost races to other creates of the same email", maxAttempts)
	}
	return storage.Member{}, err
}

// UpdateMember replaces a member's profile fields and active state.
func (s *Store) UpdateMember(ctx context.Context, orgID int64, in storage.Member) (storage.Member, error) {
	var m storage.Member
	err := s.tx(ctx, func(tx *Tx) error {
		cur, err := memberByID(ctx, tx, orgID, in.ID)
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
func (s *Store) updateMember(ctx context.Context, tx *Tx, orgID int64, cur, in storage.Member) (storage.Member, error) {
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
			if isUnique(err) {
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
		in.GivenName, in.FamilyName, in.DisplayName, in.ExternalID, boolInt(in.Active), epoch,
		attrsText(in.Attrs), unix(s.now()), cur.ID); err != nil {
		return storage.Member{}, err
	}
	if epoch != cur.Epoch {
		if _, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE member_id = ?", cur.ID); err != nil {
			return storage.Member{}, err
		}
	}
	return memberByID(ctx, tx, orgID, cur.ID)
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
	err := s.tx(ctx, func(tx *Tx) error {
		cur, err := memberByID(ctx, tx, orgID, id)
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
			string(role), unix(s.now()), id); err != nil {
			return err
		}
		m, err = memberByID(ctx, tx, orgID, id)
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
	err := s.tx(ctx, func(tx *Tx) error {
		m, err := memberByID(ctx, tx, orgID, id)
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
	if err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM memberships WHERE org_id = ?", orgID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("counting members: %w", err)
	}
	offset, limit := pageBounds(page)
	rows, err := s.r.QueryContext(ctx, "SELECT "+memberColumns+memberFrom+
		"WHERE m.org_id = ? ORDER BY m.created_at, m.id LIMIT ? OFFSET ?", orgID, limitArg(limit), offset)
	if err != nil {
		return nil, 0, fmt.Errorf("listing members: %w", err)
	}
	defer rows.Close()
	var out []storage.Member
	for rows.Next() {
		m, err := scanMember(rows)
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
	err := s.r.QueryRowContext(ctx, qIdentity, memberID).Scan(&id.MemberID, &id.OrgID, &id.OrgName, &id.Email, &id.GivenName, &id.FamilyName, &role, &id.Active, &id.Epoch)
	if err != nil {
		return id, notFound(err, fmt.Sprintf("member %q", memberID))
	}
	id.Role = storage.Role(role)
	rows, err := s.r.QueryContext(ctx, qIdentityTeams, memberID)
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
