package sqlstore

import (
	"context"
	"fmt"

	"github.com/ssogate/ssogate/internal/storage"
)

// AuditRetention is how long activity is kept: a year and a bit, so that
// a yearly access review sees the whole year.
const AuditRetention = 400 * 24 * 3600

// RecordAudit appends an event to its org's activity log.
func (s *Store) RecordAudit(ctx context.Context, e storage.AuditEvent) error {
	at := e.At
	if at.IsZero() {
		at = s.b.Now()
	}
	err := s.b.Alone(ctx, QInsertAudit,
		e.OrgID, Unix(at), e.Actor, e.ActorKind, e.Action, e.Target, string(e.Before), string(e.After))
	if err != nil {
		return fmt.Errorf("recording %s: %w", e.Action, err)
	}
	return nil
}

// ListAudit returns a page of the org's activity, newest first.
func (s *Store) ListAudit(ctx context.Context, orgID int64, page storage.Page) ([]storage.AuditEvent, int, error) {
	var total int
	if err := s.b.Reader().QueryRowContext(ctx, "SELECT COUNT(*) FROM audit WHERE org_id = ?", orgID).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("counting activity: %w", err)
	}
	offset, limit := pageBounds(page)
	rows, err := s.b.Reader().QueryContext(ctx, `SELECT id, org_id, at, actor, actor_kind, action, target, before, after
		FROM audit WHERE org_id = ? ORDER BY id DESC LIMIT ? OFFSET ?`, orgID, s.d.Limit(limit), offset)
	if err != nil {
		return nil, 0, fmt.Errorf("listing activity: %w", err)
	}
	out, err := Collect(rows, func(row interface{ Scan(...any) error }) (storage.AuditEvent, error) {
		var e storage.AuditEvent
		var at int64
		var before, after string
		err := row.Scan(&e.ID, &e.OrgID, &at, &e.Actor, &e.ActorKind, &e.Action, &e.Target, &before, &after)
		e.At = FromUnix(at)
		if before != "" {
			e.Before = []byte(before)
		}
		if after != "" {
			e.After = []byte(after)
		}
		return e, err
	})
	return out, total, err
}
