package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/ssogate/ssogate/internal/storage"
)

const domainColumns = "name, org_id, status, txt_value, from_config, created_at, verified_at"

func scanDomain(row interface{ Scan(...any) error }) (storage.Domain, error) {
	var d storage.Domain
	var created, verified int64
	err := row.Scan(&d.Name, &d.OrgID, &d.Status, &d.TXTValue, &d.FromConfig, &created, &verified)
	d.CreatedAt, d.VerifiedAt = FromUnix(created), FromUnix(verified)
	return d, err
}

// SyncConfigDomains makes the org's config-declared domains exactly this set.
func (s *Store) SyncConfigDomains(ctx context.Context, orgID int64, domains []string) error {
	err := s.b.Tx(ctx, func(tx Querier) error {
		keep := make(map[string]bool, len(domains))
		now := Unix(s.b.Now())
		for _, d := range domains {
			d = strings.ToLower(d)
			keep[d] = true
			var other int64
			err := tx.QueryRowContext(ctx, "SELECT org_id FROM domains WHERE name = ? AND status = 'verified' AND org_id != ?", d, orgID).Scan(&other)
			if err == nil {
				return fmt.Errorf("domain %q is verified by another org: %w", d, storage.ErrConflict)
			}
			if err != sql.ErrNoRows {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO domains(org_id, name, status, from_config, created_at, verified_at)
				VALUES (?, ?, 'verified', 1, ?, ?)
				ON CONFLICT(org_id, name) DO UPDATE SET status = 'verified', from_config = 1,
					verified_at = CASE WHEN domains.status = 'verified' THEN domains.verified_at ELSE excluded.verified_at END`,
				orgID, d, now, now); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, "SELECT name FROM domains WHERE org_id = ? AND from_config = 1", orgID)
		if err != nil {
			return err
		}
		var stale []string
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				rows.Close()
				return err
			}
			if !keep[strings.ToLower(name)] {
				stale = append(stale, name)
			}
		}
		rows.Close()
		for _, name := range stale {
			if _, err := tx.ExecContext(ctx, "DELETE FROM domains WHERE org_id = ? AND name = ?", orgID, name); err != nil {
				return err
			}
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("syncing config domains: %w", err)
	}
	s.Changed()
	return nil
}

// DomainVerified reports whether the org has the domain verified.
func (s *Store) DomainVerified(ctx context.Context, orgID int64, domain string) (bool, error) {
	return domainVerified(ctx, s.b.Cached(), orgID, domain)
}

// domainVerified is DomainVerified on q (the reader pool, or the writer
// connection for SignInLookup).
func domainVerified(ctx context.Context, q queryRower, orgID int64, domain string) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, QDomainVerified, orgID, domain).Scan(&n); err != nil {
		return false, fmt.Errorf("checking domain %q: %w", domain, err)
	}
	return n > 0, nil
}

// ClaimDomain records a pending claim.
func (s *Store) ClaimDomain(ctx context.Context, orgID int64, domain, txtValue string) (storage.Domain, error) {
	var d storage.Domain
	err := s.b.Tx(ctx, func(tx Querier) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM domains WHERE name = ? AND (status = 'verified' OR org_id = ?)",
			domain, orgID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return storage.ErrConflict
		}
		var err error
		d, err = scanDomain(tx.QueryRowContext(ctx,
			"INSERT INTO domains(org_id, name, status, txt_value, created_at) VALUES (?, ?, 'pending', ?, ?) RETURNING "+domainColumns,
			orgID, domain, txtValue, Unix(s.b.Now())))
		return err
	})
	if err != nil {
		return d, fmt.Errorf("claiming domain %q: %w", domain, err)
	}
	s.Changed()
	return d, nil
}

// MarkDomainVerified marks the org's claim verified.
func (s *Store) MarkDomainVerified(ctx context.Context, orgID int64, domain string) (storage.Domain, error) {
	var d storage.Domain
	err := s.b.Tx(ctx, func(tx Querier) error {
		var err error
		d, err = scanDomain(tx.QueryRowContext(ctx, `UPDATE domains SET status = 'verified',
			verified_at = CASE WHEN status = 'verified' THEN verified_at ELSE `+s.d.Int+` END
			WHERE org_id = ? AND name = ? RETURNING `+domainColumns, Unix(s.b.Now()), orgID, domain))
		if s.b.IsUnique(err) {
			return storage.ErrConflict
		}
		return NotFound(err, fmt.Sprintf("domain %q", domain))
	})
	if err != nil {
		return d, fmt.Errorf("verifying domain %q: %w", domain, err)
	}
	s.Changed()
	return d, nil
}

// DomainByName returns the org's claim on the domain.
func (s *Store) DomainByName(ctx context.Context, orgID int64, domain string) (storage.Domain, error) {
	d, err := scanDomain(s.b.Reader().QueryRowContext(ctx, "SELECT "+domainColumns+" FROM domains WHERE org_id = ? AND name = ?", orgID, domain))
	return d, NotFound(err, fmt.Sprintf("domain %q", domain))
}

// ListDomains returns the org's claims by name.
func (s *Store) ListDomains(ctx context.Context, orgID int64) ([]storage.Domain, error) {
	rows, err := s.b.Reader().QueryContext(ctx, "SELECT "+domainColumns+" FROM domains WHERE org_id = ? ORDER BY name", orgID)
	if err != nil {
		return nil, fmt.Errorf("listing domains: %w", err)
	}
	return Collect(rows, scanDomain)
}

// RemoveDomain deletes the org's claim.
func (s *Store) RemoveDomain(ctx context.Context, orgID int64, domain string) error {
	if err := s.execOne(ctx, "DELETE FROM domains WHERE org_id = ? AND name = ?", orgID, domain); err != nil {
		return fmt.Errorf("removing domain %q: %w", domain, err)
	}
	s.Changed()
	return nil
}

// ListVerifiedDomains returns every verified domain with its org, by name.
func (s *Store) ListVerifiedDomains(ctx context.Context) ([]storage.VerifiedDomain, error) {
	rows, err := s.b.Reader().QueryContext(ctx, "SELECT name, org_id FROM domains WHERE status = 'verified' ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("listing verified domains: %w", err)
	}
	return Collect(rows, func(row interface{ Scan(...any) error }) (storage.VerifiedDomain, error) {
		var d storage.VerifiedDomain
		err := row.Scan(&d.Name, &d.OrgID)
		return d, err
	})
}
