package pgstore

import (
	"context"
	"fmt"

	"github.com/ssogate/ssogate/internal/sqlstore"
	"github.com/ssogate/ssogate/internal/storage"
)

// CreateSession records a new session and the assertion that granted it
// in one statement: a sign-in costs one write and one round trip, and an
// assertion is never recorded without its session nor a session granted
// twice by one assertion (the replay table's key refuses the second).
// It takes the place of the shared two-statement transaction.
func (s *Store) CreateSession(ctx context.Context, sess storage.Session, granted *storage.ConsumedAssertion) error {
	q, args := sqlstore.QInsertSession, []any{sess.ID, sess.MemberID, sess.OrgID, sess.Method, sess.Epoch, sess.CreatedAt, sess.ExpiresAt, sess.LastSeen, sess.NameID, sess.SessionIndex}
	if granted != nil {
		q = "WITH replayed AS (" + sqlstore.QInsertReplay + ") " + q
		args = append([]any{granted.ID, granted.ExpiresAt}, args...)
	}
	var err error
	for range maxAttempts {
		_, err = s.db.ExecContext(ctx, rebind(q), args...)
		if !connLost(err) || ctx.Err() != nil {
			break
		}
		// The connection dropped with the statement sent: it may have
		// committed, and then the next attempt meets its own assertion.
		var n int
		if s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM sessions WHERE id = ?", sess.ID).Scan(&n) == nil && n == 1 {
			return nil
		}
	}
	switch {
	case err == nil:
		return nil
	case granted != nil && isUniqueOn(err, "replay_pkey"):
		return storage.ErrReplayed
	}
	return fmt.Errorf("creating session: %w", unavailable(err))
}

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
