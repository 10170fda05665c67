package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
)

// TouchSessions records when sessions were last seen.
func (s *Store) TouchSessions(ctx context.Context, seen map[string]int64) error {
	if len(seen) == 0 {
		return nil
	}
	return s.txGrant(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, "UPDATE sessions SET last_seen = MAX(last_seen, ?) WHERE id = ?")
		if err != nil {
			return err
		}
		defer stmt.Close()
		for id, at := range seen {
			if _, err := stmt.ExecContext(ctx, at, id); err != nil {
				return fmt.Errorf("touching sessions: %w", err)
			}
		}
		return nil
	})
}
