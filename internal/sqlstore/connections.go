package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/ssogate/ssogate/internal/storage"
)

const connectionColumns = `org_id, idp_sso_url, idp_issuer, idp_certificates, idp_metadata_url, idp_metadata_xml,
	idp_slo_url, require_sso, idp_managed_access, allow_idp_initiated, groups_attribute, state, pinned, tested_at,
	created_at, updated_at, version`

func scanConnection(row interface{ Scan(...any) error }) (storage.Connection, error) {
	var c storage.Connection
	var state, pinned string
	var tested, created, updated int64
	err := row.Scan(&c.OrgID, &c.IDPSSOURL, &c.IDPIssuer, &c.IDPCertificates, &c.IDPMetadataURL, &c.IDPMetadataXML,
		&c.IDPSLOURL, &c.RequireSSO, &c.IDPManagedAccess, &c.AllowIDPInitiated, &c.GroupsAttribute, &state, &pinned, &tested,
		&created, &updated, &c.Version)
	c.State = storage.ConnectionState(state)
	if pinned != "" {
		c.Pinned = strings.Split(pinned, ",")
	}
	c.TestedAt, c.CreatedAt, c.UpdatedAt = FromUnix(tested), FromUnix(created), FromUnix(updated)
	return c, err
}

func connectionByOrg(ctx context.Context, q queryRower, orgID int64) (storage.Connection, error) {
	c, err := scanConnection(q.QueryRowContext(ctx, "SELECT "+connectionColumns+" FROM sso_connections WHERE org_id = ?", orgID))
	return c, NotFound(err, fmt.Sprintf("connection of org %d", orgID))
}

// Connection returns the org's SSO connection.
func (s *Store) Connection(ctx context.Context, orgID int64) (storage.Connection, error) {
	return connectionByOrg(ctx, s.b.Reader(), orgID)
}

// ListConnections returns every org's connection.
func (s *Store) ListConnections(ctx context.Context) ([]storage.Connection, error) {
	rows, err := s.b.Reader().QueryContext(ctx, "SELECT "+connectionColumns+" FROM sso_connections ORDER BY org_id")
	if err != nil {
		return nil, fmt.Errorf("listing connections: %w", err)
	}
	return Collect(rows, scanConnection)
}

// ModifyConnection applies fn to the org's connection and stores it in one
// transaction. A connection that leaves the enabled state takes the org's
// SAML sessions with it: they were granted by an IdP the org no longer
// trusts.
func (s *Store) ModifyConnection(ctx context.Context, orgID int64, fn func(*storage.Connection) error) (storage.Connection, error) {
	var out storage.Connection
	err := s.b.Tx(ctx, func(tx Querier) error {
		cur, err := connectionByOrg(ctx, tx, orgID)
		exists := err == nil
		switch {
		case errors.Is(err, storage.ErrNotFound):
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM orgs WHERE id = ?", orgID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return fmt.Errorf("org %d: %w", orgID, storage.ErrNotFound)
			}
			cur = storage.NewConnection(orgID)
		case err != nil:
			return err
		}
		next := cur
		next.Pinned = append([]string(nil), cur.Pinned...)
		if err := fn(&next); err != nil {
			return err
		}
		next.OrgID = orgID
		switch next.State {
		case storage.ConnectionDraft, storage.ConnectionTested, storage.ConnectionEnabled, storage.ConnectionDisabled:
		default:
			return fmt.Errorf("unknown connection state %q", next.State)
		}
		now := Unix(s.b.Now())
		args := []any{next.IDPSSOURL, next.IDPIssuer, next.IDPCertificates, next.IDPMetadataURL, next.IDPMetadataXML,
			next.IDPSLOURL, BoolInt(next.RequireSSO), BoolInt(next.IDPManagedAccess), BoolInt(next.AllowIDPInitiated),
			next.GroupsAttribute, string(next.State), strings.Join(next.Pinned, ","), Unix(next.TestedAt), now}
		if exists {
			_, err = tx.ExecContext(ctx, `UPDATE sso_connections SET idp_sso_url = ?, idp_issuer = ?, idp_certificates = ?,
				idp_metadata_url = ?, idp_metadata_xml = ?, idp_slo_url = ?, require_sso = ?, idp_managed_access = ?,
				allow_idp_initiated = ?, groups_attribute = ?, state = ?, pinned = ?, tested_at = ?, updated_at = ?,
				version = version + 1 WHERE org_id = ?`, append(args, orgID)...)
		} else {
			_, err = tx.ExecContext(ctx, `INSERT INTO sso_connections(idp_sso_url, idp_issuer, idp_certificates,
				idp_metadata_url, idp_metadata_xml, idp_slo_url, require_sso, idp_managed_access, allow_idp_initiated,
				groups_attribute, state, pinned, tested_at, updated_at, created_at, org_id)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				append(args, now, orgID)...)
		}
		if err != nil {
			return err
		}
		if exists && cur.State == storage.ConnectionEnabled && next.State != storage.ConnectionEnabled {
			if _, err := endSessions(ctx, tx, "org_id = ? AND method = 'saml'", orgID); err != nil {
				return err
			}
		}
		out, err = connectionByOrg(ctx, tx, orgID)
		return err
	})
	if err != nil {
		return out, fmt.Errorf("saving the SSO connection: %w", err)
	}
	s.Changed()
	return out, nil
}

// endSessions deletes the sessions matching where; the feed names their
// members (trigger sessions_ended), so that every gate drops its cached
// copies. It returns how many sessions it deleted.
func endSessions(ctx context.Context, tx Querier, where string, args ...any) (int, error) {
	res, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE "+where, args...)
	if err != nil {
		return 0, fmt.Errorf("ending sessions: %w", err)
	}
	n, err := res.RowsAffected()
	return int(n), err
}

// maxSSOTests is how many test sign-ins an org keeps.
const maxSSOTests = 20

const ssoTestColumns = "id, org_id, connection_version, created_at, expires_at, finished_at, ok, outcome"

func scanSSOTest(row interface{ Scan(...any) error }) (storage.SSOTest, error) {
	var t storage.SSOTest
	var created, expires, finished int64
	var outcome string
	err := row.Scan(&t.ID, &t.OrgID, &t.ConnectionVersion, &created, &expires, &finished, &t.OK, &outcome)
	t.CreatedAt, t.ExpiresAt, t.FinishedAt = FromUnix(created), FromUnix(expires), FromUnix(finished)
	if outcome != "" {
		t.Outcome = []byte(outcome)
	}
	return t, err
}

// CreateSSOTest records a test sign-in about to start.
func (s *Store) CreateSSOTest(ctx context.Context, t storage.SSOTest) error {
	err := s.b.Tx(ctx, func(tx Querier) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO sso_tests(id, org_id, connection_version, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
			t.ID, t.OrgID, t.ConnectionVersion, Unix(t.CreatedAt), Unix(t.ExpiresAt)); err != nil {
			return err
		}
		// Old tests of the org go; the 20 newest stay readable, this one
		// among them.
		_, err := tx.ExecContext(ctx, `DELETE FROM sso_tests WHERE org_id = ? AND id NOT IN
			(SELECT id FROM sso_tests WHERE org_id = ? ORDER BY created_at DESC, id = ? DESC LIMIT `+strconv.Itoa(maxSSOTests)+`)`,
			t.OrgID, t.OrgID, t.ID)
		return err
	})
	if s.b.IsUnique(err) {
		return fmt.Errorf("recording test sign-in: %w", storage.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("recording test sign-in: %w", err)
	}
	return nil
}

// SSOTest returns the org's test sign-in.
func (s *Store) SSOTest(ctx context.Context, orgID int64, id string) (storage.SSOTest, error) {
	t, err := scanSSOTest(s.b.Reader().QueryRowContext(ctx, "SELECT "+ssoTestColumns+" FROM sso_tests WHERE org_id = ? AND id = ?", orgID, id))
	return t, NotFound(err, "test sign-in")
}

// LatestSSOTest returns the org's newest finished test sign-in.
func (s *Store) LatestSSOTest(ctx context.Context, orgID int64) (storage.SSOTest, error) {
	t, err := scanSSOTest(s.b.Reader().QueryRowContext(ctx, "SELECT "+ssoTestColumns+
		" FROM sso_tests WHERE org_id = ? AND finished_at != 0 ORDER BY finished_at DESC, created_at DESC LIMIT 1", orgID))
	return t, NotFound(err, "test sign-in")
}

// FinishSSOTest records a test's outcome once and, when it succeeded
// against the connection as it still is, marks a draft connection tested.
func (s *Store) FinishSSOTest(ctx context.Context, orgID int64, id string, ok bool, outcome []byte) (storage.SSOTest, error) {
	var out storage.SSOTest
	connChanged := false
	err := s.b.Tx(ctx, func(tx Querier) error {
		cur, err := scanSSOTest(tx.QueryRowContext(ctx, "SELECT "+ssoTestColumns+" FROM sso_tests WHERE org_id = ? AND id = ?", orgID, id))
		if err != nil {
			return NotFound(err, "test sign-in")
		}
		if !cur.FinishedAt.IsZero() {
			return fmt.Errorf("test sign-in %q is finished already: %w", id, storage.ErrConflict)
		}
		now := Unix(s.b.Now())
		if _, err := tx.ExecContext(ctx, "UPDATE sso_tests SET finished_at = ?, ok = ?, outcome = ? WHERE id = ?",
			now, BoolInt(ok), string(outcome), id); err != nil {
			return err
		}
		if ok {
			res, err := tx.ExecContext(ctx, `UPDATE sso_connections SET state = 'tested', tested_at = ?, updated_at = ?,
				version = version + 1 WHERE org_id = ? AND version = ? AND state = 'draft'`,
				now, now, orgID, cur.ConnectionVersion)
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			connChanged = n > 0
			if !connChanged {
				// Tested again while enabled, disabled or tested: only the
				// time of the last good test moves.
				if _, err := tx.ExecContext(ctx, "UPDATE sso_connections SET tested_at = ? WHERE org_id = ? AND version = ?",
					now, orgID, cur.ConnectionVersion); err != nil {
					return err
				}
			}
		}
		out, err = scanSSOTest(tx.QueryRowContext(ctx, "SELECT "+ssoTestColumns+" FROM sso_tests WHERE id = ?", id))
		return err
	})
	if err != nil {
		return out, fmt.Errorf("finishing test sign-in: %w", err)
	}
	if connChanged {
		s.Changed()
	}
	return out, nil
}
