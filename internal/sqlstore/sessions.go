package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/ssogate/ssogate/internal/storage"
)

// SetPasswordHash stores the encoded password hash of an account and, in
// the same write, ends the account's sessions that were signed in with a
// password, in every org it belongs to: a new password is often set
// because the old one leaked, and whoever used it must not stay signed
// in. SAML sessions stay: the IdP vouched for them, not the password, and
// the IdP ends them (deactivation, single logout).
func (s *Store) SetPasswordHash(ctx context.Context, email, hash string) error {
	var ended int
	err := s.b.Tx(ctx, func(tx Querier) error {
		var accountID int64
		if err := tx.QueryRowContext(ctx, "SELECT id FROM accounts WHERE email = ?", email).Scan(&accountID); err != nil {
			return NotFound(err, fmt.Sprintf("account %q", email))
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO passwords(account_id, hash, updated_at) VALUES (?, ?, ?)
			ON CONFLICT(account_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at`,
			accountID, hash, Unix(s.b.Now())); err != nil {
			return err
		}
		var err error
		ended, err = endSessions(ctx, tx, "method = 'password' AND member_id IN (SELECT id FROM memberships WHERE account_id = ?)", accountID)
		return err
	})
	if err != nil {
		return fmt.Errorf("setting password: %w", err)
	}
	if ended > 0 {
		s.Changed()
	}
	return nil
}

// PasswordHash returns the account's encoded password hash.
func (s *Store) PasswordHash(ctx context.Context, email string) (string, error) {
	var h string
	err := s.b.Reader().QueryRowContext(ctx, "SELECT p.hash FROM passwords p JOIN accounts a ON a.id = p.account_id WHERE a.email = ?",
		email).Scan(&h)
	return h, NotFound(err, "password")
}

// CreateSession records a new session and the assertion that granted it
// in one transaction: a sign-in costs one write, and an assertion is never
// recorded without its session nor a session granted twice by one
// assertion.
func (s *Store) CreateSession(ctx context.Context, sess storage.Session, granted *storage.ConsumedAssertion) error {
	err := s.b.TxGrant(ctx, func(tx Querier) error {
		if granted != nil {
			if _, err := tx.ExecContext(ctx, QInsertReplay, granted.ID, granted.ExpiresAt); err != nil {
				if s.b.IsUnique(err) {
					return storage.ErrReplayed
				}
				return fmt.Errorf("recording assertion: %w", err)
			}
		}
		_, err := tx.ExecContext(ctx, QInsertSession,
			sess.ID, sess.MemberID, sess.OrgID, sess.Method, sess.Epoch, sess.CreatedAt, sess.ExpiresAt, sess.LastSeen, sess.NameID, sess.SessionIndex)
		return err
	})
	if errors.Is(err, storage.ErrReplayed) {
		return err
	}
	if err != nil {
		return fmt.Errorf("creating session: %w", err)
	}
	return nil
}

// SessionByID returns a session.
func (s *Store) SessionByID(ctx context.Context, id string) (storage.Session, error) {
	var sess storage.Session
	err := s.b.Cached().QueryRowContext(ctx, QSessionByID, id).
		Scan(&sess.ID, &sess.MemberID, &sess.OrgID, &sess.Method, &sess.Epoch, &sess.CreatedAt, &sess.ExpiresAt, &sess.LastSeen, &sess.NameID, &sess.SessionIndex)
	return sess, NotFound(err, "session")
}

// DeleteSession ends one session. The feed names its member (trigger
// sessions_ended), so that every gate, in this process and others, drops
// its cached copy.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	var n int64
	err := s.b.Tx(ctx, func(tx Querier) error {
		res, err := tx.ExecContext(ctx, QDeleteSession, id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("ending session: %w", err)
	}
	if n > 0 {
		s.Changed()
	}
	return nil
}

// EndSessionsByNameID ends the org's SAML sessions of nameID (and, with
// sessionIndexes, only those with one of them), as the IdP's logout
// request names them. The indexes go in as one JSON array, so that any
// number of them is one bound parameter.
func (s *Store) EndSessionsByNameID(ctx context.Context, orgID int64, nameID string, sessionIndexes []string) (int, error) {
	where := "org_id = ? AND method = 'saml' AND name_id = ?"
	args := []any{orgID, nameID}
	if len(sessionIndexes) > 0 {
		list, err := json.Marshal(sessionIndexes)
		if err != nil {
			return 0, fmt.Errorf("ending sessions: %w", err)
		}
		where += " AND session_index IN (" + s.d.JSONStrings + ")"
		args = append(args, string(list))
	}
	var n int
	err := s.b.Tx(ctx, func(tx Querier) error {
		var err error
		n, err = endSessions(ctx, tx, where, args...)
		return err
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		s.Changed()
	}
	return n, nil
}

// DeleteExpired removes sessions and replay records past their time, and
// change-feed rows older than an hour, audit rows past AuditRetention and
// quiet throttles, then runs the dialect's FoldCounts. Expired sessions
// leave the feed alone (the sessions_ended trigger): every gate refuses
// them already.
func (s *Store) DeleteExpired(ctx context.Context, now int64) error {
	return s.b.TxGrant(ctx, func(tx Querier) error {
		n := s.d.Int
		for _, q := range []string{
			"DELETE FROM sessions WHERE expires_at <= " + n,
			"DELETE FROM replay WHERE expires_at <= " + n,
			"DELETE FROM changes WHERE at <= " + n + " - 3600 AND seq < (SELECT MAX(seq) FROM changes)",
			"DELETE FROM audit WHERE at <= " + n + " - " + strconv.Itoa(AuditRetention),
			// Throttle rows quiet past storage.ThrottleForget (milliseconds).
			"DELETE FROM throttle WHERE updated_at <= " + n + " * 1000 - 3600000",
		} {
			if _, err := tx.ExecContext(ctx, q, now); err != nil {
				return fmt.Errorf("deleting expired rows: %w", err)
			}
		}
		if s.d.FoldCounts != "" {
			if _, err := tx.ExecContext(ctx, s.d.FoldCounts); err != nil {
				return fmt.Errorf("folding member counts: %w", err)
			}
		}
		return nil
	})
}

// ConsumeAssertion records an assertion ID once.
func (s *Store) ConsumeAssertion(ctx context.Context, id string, expiresAt int64) error {
	err := s.b.TxGrant(ctx, func(tx Querier) error {
		_, err := tx.ExecContext(ctx, QInsertReplay, id, expiresAt)
		return err
	})
	if s.b.IsUnique(err) {
		return storage.ErrReplayed
	}
	if err != nil {
		return fmt.Errorf("recording assertion: %w", err)
	}
	return nil
}

// AssertionConsumed reports whether an assertion ID is recorded.
func (s *Store) AssertionConsumed(ctx context.Context, id string) (bool, error) {
	var one int
	err := s.b.Warm().QueryRowContext(ctx, QReplaySeen, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checking the replay record: %w", err)
	}
	return true, nil
}

// EnsureSetting returns key's value, storing value first if there is none.
func (s *Store) EnsureSetting(ctx context.Context, key string, value []byte) ([]byte, error) {
	var out []byte
	err := s.b.Tx(ctx, func(tx Querier) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING", key, value); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&out)
	})
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("reading setting %q: %w", key, err)
	}
	return out, err
}

// PutSetting stores value under key.
func (s *Store) PutSetting(ctx context.Context, key string, value []byte) error {
	err := s.b.Tx(ctx, func(tx Querier) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value)
		return err
	})
	if err != nil {
		return fmt.Errorf("storing setting %q: %w", key, err)
	}
	return nil
}

// Setting returns the value stored under key.
func (s *Store) Setting(ctx context.Context, key string) ([]byte, error) {
	var out []byte
	err := s.b.Reader().QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&out)
	return out, NotFound(err, fmt.Sprintf("setting %q", key))
}
