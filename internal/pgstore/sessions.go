package pgstore

import (
	"context"
	"fmt"
)

// TouchSessions records when sessions were last seen.
func (s *Store) TouchSessions(ctx context.Context, seen map[string]int64) error {
	if len(seen) == 0 {
		return nil
	}
	ids := make([]string, 0, len(seen))
	ats := make([]int64, 0, len(seen))
	for id, at := range seen {
		ids = append(ids, id)
		ats = append(ats, at)
	}
	// One statement for the whole batch, in a stable order so that two
	// processes touching the same sessions lock their rows in one order.
	return s.tx(ctx, func(tx *Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE sessions s SET last_seen = GREATEST(s.last_seen, v.at)
			FROM (SELECT * FROM unnest(?::text[], ?::bigint[]) AS u(id, at) ORDER BY id) v
			WHERE s.id = v.id AND v.at > s.last_seen`, ids, ats)
		if err != nil {
			return fmt.Errorf("touching sessions: %w", err)
		}
		return nil
	})
}
