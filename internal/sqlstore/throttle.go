package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
)

// readThrottle returns a key's state as of now.
func readThrottle(ctx context.Context, tx Querier, hash string, now time.Time) (storage.ThrottleRow, error) {
	var r storage.ThrottleRow
	err := tx.QueryRowContext(ctx, "SELECT failures, in_flight, locked_until, updated_at FROM throttle WHERE key = ?", hash).
		Scan(&r.Failures, &r.InFlight, &r.LockedUntil, &r.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.ThrottleRow{}, nil
	}
	if err != nil {
		return r, fmt.Errorf("reading throttle state: %w", err)
	}
	return r.Fresh(now), nil
}

func (s *Store) writeThrottle(ctx context.Context, tx Querier, hash string, r storage.ThrottleRow) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO throttle(key, failures, in_flight, locked_until, updated_at) VALUES (?, ?, ?, `+s.d.Int+`, `+s.d.Int+`)
		ON CONFLICT(key) DO UPDATE SET failures = excluded.failures, in_flight = excluded.in_flight,
			locked_until = excluded.locked_until, updated_at = excluded.updated_at`,
		hash, r.Failures, r.InFlight, r.LockedUntil, r.UpdatedAt)
	if err != nil {
		return fmt.Errorf("writing throttle state: %w", err)
	}
	return nil
}

// ReserveAttempt reads and counts in one write transaction, so that
// attempts on several processes cannot all pass a check none has updated.
// Throttle writes give no one access, so they commit like grants.
func (s *Store) ReserveAttempt(ctx context.Context, keys []storage.ThrottleKey, now time.Time) (time.Duration, error) {
	var wait time.Duration
	err := s.b.TxGrant(ctx, func(tx Querier) error {
		wait = 0
		rows := make([]storage.ThrottleRow, len(keys))
		for i, k := range keys {
			r, err := readThrottle(ctx, tx, storage.ThrottleHash(k.Name), now)
			if err != nil {
				return err
			}
			rows[i] = r
			wait = max(wait, r.Wait(k.Rule, now))
		}
		if wait > 0 {
			return nil
		}
		for i, k := range keys {
			r := rows[i]
			r.InFlight++
			r.UpdatedAt = now.UnixMilli()
			if err := s.writeThrottle(ctx, tx, storage.ThrottleHash(k.Name), r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reserving a sign-in attempt: %w", err)
	}
	return wait, nil
}

// EndAttempt ends a reserved attempt as a failure or gives it back.
func (s *Store) EndAttempt(ctx context.Context, keys []storage.ThrottleKey, now time.Time, failed bool) (time.Duration, error) {
	var lock time.Duration
	err := s.b.TxGrant(ctx, func(tx Querier) error {
		lock = 0
		for _, k := range keys {
			hash := storage.ThrottleHash(k.Name)
			r, err := readThrottle(ctx, tx, hash, now)
			if err != nil {
				return err
			}
			r.InFlight = max(r.InFlight-1, 0)
			r.UpdatedAt = now.UnixMilli()
			if failed {
				r.Failures++
				if d := k.Rule.Delay(r.Failures); d > 0 {
					r.LockedUntil = now.Add(d).UnixMilli()
					lock = max(lock, d)
				}
			}
			if err := s.writeThrottle(ctx, tx, hash, r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("ending a sign-in attempt: %w", err)
	}
	return lock, nil
}

// ResetThrottle forgets a key's failures and lock.
func (s *Store) ResetThrottle(ctx context.Context, name string) error {
	err := s.b.TxGrant(ctx, func(tx Querier) error {
		_, err := tx.ExecContext(ctx, "UPDATE throttle SET failures = 0, locked_until = 0 WHERE key = ?", storage.ThrottleHash(name))
		return err
	})
	if err != nil {
		return fmt.Errorf("resetting a throttle: %w", err)
	}
	return nil
}
