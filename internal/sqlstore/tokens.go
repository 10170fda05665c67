package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/ssogate/ssogate/internal/storage"
)

const tokenColumns = "id, org_id, name, scope, created_at, last_used_at"

func scanToken(row interface{ Scan(...any) error }) (storage.Token, error) {
	var t storage.Token
	var scope string
	var created, used int64
	err := row.Scan(&t.ID, &t.OrgID, &t.Name, &scope, &created, &used)
	t.Scope = storage.Scope(scope)
	t.CreatedAt, t.LastUsedAt = FromUnix(created), FromUnix(used)
	return t, err
}

// CreateToken stores a token's hash under a new short public ID.
func (s *Store) CreateToken(ctx context.Context, orgID int64, name string, scope storage.Scope, hash []byte) (storage.Token, error) {
	var idBytes [6]byte
	if _, err := rand.Read(idBytes[:]); err != nil {
		return storage.Token{}, err
	}
	var t storage.Token
	err := s.b.Tx(ctx, func(tx Querier) error {
		var err error
		t, err = scanToken(tx.QueryRowContext(ctx,
			"INSERT INTO tokens(id, org_id, name, scope, hash, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING "+tokenColumns,
			"tok_"+hex.EncodeToString(idBytes[:]), orgID, name, string(scope), hash, Unix(s.b.Now())))
		return err
	})
	if err != nil {
		return t, fmt.Errorf("creating token: %w", err)
	}
	return t, nil
}

// TokenByHash returns the token with this hash.
func (s *Store) TokenByHash(ctx context.Context, hash []byte) (storage.Token, error) {
	t, err := scanToken(s.b.Reader().QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE hash = ?", hash))
	return t, NotFound(err, "token")
}

// ListTokens returns the org's tokens, oldest first.
func (s *Store) ListTokens(ctx context.Context, orgID int64) ([]storage.Token, error) {
	rows, err := s.b.Reader().QueryContext(ctx, "SELECT "+tokenColumns+" FROM tokens WHERE org_id = ? ORDER BY created_at, id", orgID)
	if err != nil {
		return nil, fmt.Errorf("listing tokens: %w", err)
	}
	return Collect(rows, scanToken)
}

// RevokeToken deletes one of the org's tokens.
func (s *Store) RevokeToken(ctx context.Context, orgID int64, id string) error {
	if err := s.execOne(ctx, "DELETE FROM tokens WHERE org_id = ? AND id = ?", orgID, id); err != nil {
		return fmt.Errorf("revoking token %q: %w", id, err)
	}
	return nil
}

// TouchToken records when a token was last used; it never moves the time
// back, so processes reporting out of order agree.
func (s *Store) TouchToken(ctx context.Context, id string, at int64) error {
	return s.b.TxGrant(ctx, func(tx Querier) error {
		_, err := tx.ExecContext(ctx, "UPDATE tokens SET last_used_at = "+s.d.Greatest+"(last_used_at, "+s.d.Int+") WHERE id = ?", at, id)
		return err
	})
}
