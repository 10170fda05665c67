package pgstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"

	"github.com/ssogate/ssogate/internal/sqlstore"
	"github.com/ssogate/ssogate/internal/storage"
)

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

// createMember makes the account if needed and its membership in the org,
// in one statement and one round trip: an IdP's initial push sends
// thousands of creates at once, from several replicas, and a transaction
// of seven statements spent most of its time in round trips and context
// switches. The unique keys on accounts.email and (org_id, account_id)
// settle two creates of one account; the statement runs again in the rare
// case that it lost such a race and its snapshot does not show the
// winner's row yet.
func (s *Store) createMember(ctx context.Context, orgID int64, nm storage.NewMember, requireNewAccount bool) (storage.Member, error) {
	now := sqlstore.Unix(s.now())
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
			string(nm.Role), sqlstore.BoolInt(nm.Active), sqlstore.AttrsText(nm.Attrs), nm.Source, now, now, requireNewAccount,
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
			m.CreatedAt, m.UpdatedAt, m.Version = sqlstore.FromUnix(created.Int64), sqlstore.FromUnix(updated.Int64), mVersion.Int64
			return m, nil
		case existing == id:
			// An earlier attempt committed.
			return sqlstore.ReadMember(ctx, s.r, orgID, id)
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
