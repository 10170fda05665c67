package sqlitestore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/google/uuid"

	"github.com/ssogate/ssogate/internal/sqlstore"
	"github.com/ssogate/ssogate/internal/storage"
)

// createMember is CreateMember in a transaction. Its refusals
// (ErrConflict, ErrAccountExists) come before it writes anything.
func (s *Store) createMember(ctx context.Context, tx cachedTx, orgID int64, nm storage.NewMember, requireNewAccount bool) (storage.Member, error) {
	now := sqlstore.Unix(s.now())
	var accountID int64
	err := tx.QueryRowContext(ctx, qAccountIDByEmail, nm.Email).Scan(&accountID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		err = tx.QueryRowContext(ctx, qInsertAccount, nm.Email, now).Scan(&accountID)
		if err != nil {
			return storage.Member{}, err
		}
	case err != nil:
		return storage.Member{}, err
	default:
		var n int
		if err := tx.QueryRowContext(ctx, qCountMembership, orgID, accountID).Scan(&n); err != nil {
			return storage.Member{}, err
		}
		if n > 0 {
			return storage.Member{}, errRefused{storage.ErrConflict}
		}
		if requireNewAccount {
			return storage.Member{}, errRefused{storage.ErrAccountExists}
		}
	}
	id := uuid.NewString()
	if _, err := tx.ExecContext(ctx, qInsertMember,
		id, orgID, accountID, nm.GivenName, nm.FamilyName, nm.DisplayName, nm.ExternalID,
		string(nm.Role), sqlstore.BoolInt(nm.Active), sqlstore.AttrsText(nm.Attrs), nm.Source, now, now); err != nil {
		return storage.Member{}, err
	}
	return sqlstore.ReadMember(ctx, tx, orgID, id)
}
