package sqlstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/ssogate/ssogate/internal/storage"
)

const spKeyColumns = "id, org_id, use, state, certificate, private_key, not_after, created_at"

// spKeyOrder lists signing before encryption, current before next.
const spKeyOrder = " ORDER BY CASE use WHEN 'signing' THEN 0 ELSE 1 END, CASE state WHEN 'current' THEN 0 ELSE 1 END"

func scanSPKey(row interface{ Scan(...any) error }) (storage.SPKey, error) {
	var k storage.SPKey
	var notAfter, created int64
	err := row.Scan(&k.ID, &k.OrgID, &k.Use, &k.State, &k.CertificatePEM, &k.KeyPEM, &notAfter, &created)
	k.NotAfter, k.CreatedAt = FromUnix(notAfter), FromUnix(created)
	return k, err
}

func spKeys(ctx context.Context, q querier, orgID int64) ([]storage.SPKey, error) {
	rows, err := q.QueryContext(ctx, "SELECT "+spKeyColumns+" FROM sp_keys WHERE org_id = ?"+spKeyOrder, orgID)
	if err != nil {
		return nil, err
	}
	return Collect(rows, scanSPKey)
}

// SPKeys returns the org's SP keys.
func (s *Store) SPKeys(ctx context.Context, orgID int64) ([]storage.SPKey, error) {
	keys, err := spKeys(ctx, s.b.Reader(), orgID)
	if err != nil {
		return nil, fmt.Errorf("reading SP keys: %w", err)
	}
	return keys, nil
}

// checkSPKeys refuses keys that could not be stored; its errors name the
// use, never the key.
func checkSPKeys(keys []storage.SPKey) error {
	if len(keys) == 0 {
		return errors.New("no key given")
	}
	for _, k := range keys {
		if k.Use != storage.SPKeySigning && k.Use != storage.SPKeyEncryption {
			return fmt.Errorf("unknown SP key use %q (want signing or encryption)", k.Use)
		}
		if k.CertificatePEM == "" || k.KeyPEM == "" {
			return fmt.Errorf("the %s key lacks its certificate or private key", k.Use)
		}
	}
	return nil
}

// orgExists returns ErrNotFound for an org that does not exist, so that a
// key for it is refused as such rather than by the foreign key.
func orgExists(ctx context.Context, tx Querier, orgID int64) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM orgs WHERE id = ?", orgID).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("org %d: %w", orgID, storage.ErrNotFound)
	}
	return nil
}

// insertSPKey stores k as the org's key of its use in state, unless the
// org has one: it reports whether it stored it.
func (s *Store) insertSPKey(ctx context.Context, tx Querier, orgID int64, k storage.SPKey, state string) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO sp_keys(org_id, use, state, certificate, private_key, not_after, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(org_id, use, state) DO NOTHING`,
		orgID, k.Use, state, k.CertificatePEM, k.KeyPEM, Unix(k.NotAfter), Unix(s.b.Now()))
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// EnsureSPKeys stores each fresh key as the org's current key of its use
// when the org has none. The write lock is taken only here, after the
// caller made the keys: two processes that both made keys write one after
// the other, and the second finds the first's keys and keeps them.
func (s *Store) EnsureSPKeys(ctx context.Context, orgID int64, fresh []storage.SPKey) ([]storage.SPKey, error) {
	if err := checkSPKeys(fresh); err != nil {
		return nil, fmt.Errorf("storing SP keys: %w", err)
	}
	var out []storage.SPKey
	stored := false
	err := s.b.Tx(ctx, func(tx Querier) error {
		if err := orgExists(ctx, tx, orgID); err != nil {
			return err
		}
		for _, k := range fresh {
			ok, err := s.insertSPKey(ctx, tx, orgID, k, storage.SPKeyCurrent)
			if err != nil {
				return err
			}
			stored = stored || ok
		}
		var err error
		out, err = spKeys(ctx, tx, orgID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("storing SP keys: %w", err)
	}
	if stored {
		s.Changed()
	}
	return out, nil
}

// RollSPKeys stores the next keys beside the current ones.
func (s *Store) RollSPKeys(ctx context.Context, orgID int64, next []storage.SPKey) ([]storage.SPKey, error) {
	if err := checkSPKeys(next); err != nil {
		return nil, fmt.Errorf("rolling SP keys: %w", err)
	}
	var out []storage.SPKey
	err := s.b.Tx(ctx, func(tx Querier) error {
		cur, err := spKeys(ctx, tx, orgID)
		if err != nil {
			return err
		}
		has := map[[2]string]bool{}
		for _, k := range cur {
			has[[2]string{k.Use, k.State}] = true
		}
		for _, k := range next {
			if !has[[2]string{k.Use, storage.SPKeyCurrent}] {
				return fmt.Errorf("the org has no current %s key to roll: make its keys first: %w", k.Use, storage.ErrNotFound)
			}
			if has[[2]string{k.Use, storage.SPKeyNext}] {
				return fmt.Errorf("a new key is already published; retire the old one first: %w", storage.ErrConflict)
			}
			ok, err := s.insertSPKey(ctx, tx, orgID, k, storage.SPKeyNext)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("two new %s keys given: %w", k.Use, storage.ErrConflict)
			}
		}
		out, err = spKeys(ctx, tx, orgID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("rolling SP keys: %w", err)
	}
	s.Changed()
	return out, nil
}

// RetireSPKeys makes each next key current, deleting the key it replaces.
func (s *Store) RetireSPKeys(ctx context.Context, orgID int64) ([]storage.SPKey, error) {
	var out []storage.SPKey
	err := s.b.Tx(ctx, func(tx Querier) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sp_keys WHERE org_id = ? AND state = 'current'
			AND use IN (SELECT use FROM sp_keys WHERE org_id = ? AND state = 'next')`, orgID, orgID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "UPDATE sp_keys SET state = 'current' WHERE org_id = ? AND state = 'next'", orgID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("no new key to retire the old one for: roll first: %w", storage.ErrConflict)
		}
		out, err = spKeys(ctx, tx, orgID)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("retiring SP keys: %w", err)
	}
	s.Changed()
	return out, nil
}
