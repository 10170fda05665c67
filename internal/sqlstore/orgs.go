package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ssogate/ssogate/internal/storage"
)

const orgColumns = "id, name, from_config, created_at"

func scanOrg(row interface{ Scan(...any) error }) (storage.Org, error) {
	var o storage.Org
	var created int64
	err := row.Scan(&o.ID, &o.Name, &o.FromConfig, &created)
	o.CreatedAt = FromUnix(created)
	return o, err
}

// EnsureOrg returns the named org, creating it if absent.
func (s *Store) EnsureOrg(ctx context.Context, name string, fromConfig bool) (storage.Org, error) {
	var o storage.Org
	err := s.b.Tx(ctx, func(tx Querier) error {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO orgs(name, from_config, created_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE SET from_config = "+s.d.Greatest+"(orgs.from_config, excluded.from_config)",
			name, BoolInt(fromConfig), Unix(s.b.Now())); err != nil {
			return err
		}
		var err error
		o, err = scanOrg(tx.QueryRowContext(ctx, "SELECT "+orgColumns+" FROM orgs WHERE name = ?", name))
		return err
	})
	if err != nil {
		return storage.Org{}, fmt.Errorf("ensuring org %q: %w", name, err)
	}
	s.Changed()
	return o, nil
}

// CreateOrg creates an org; ErrConflict when the name is taken.
func (s *Store) CreateOrg(ctx context.Context, name string) (storage.Org, error) {
	var o storage.Org
	err := s.b.Tx(ctx, func(tx Querier) error {
		var err error
		o, err = scanOrg(tx.QueryRowContext(ctx,
			"INSERT INTO orgs(name, created_at) VALUES (?, ?) RETURNING "+orgColumns, name, Unix(s.b.Now())))
		return err
	})
	if s.b.IsUnique(err) {
		return storage.Org{}, fmt.Errorf("creating org %q: %w", name, storage.ErrConflict)
	}
	if err != nil {
		return storage.Org{}, fmt.Errorf("creating org %q: %w", name, err)
	}
	s.Changed()
	return o, nil
}

// OrgByName returns the named org or ErrNotFound.
func (s *Store) OrgByName(ctx context.Context, name string) (storage.Org, error) {
	o, err := scanOrg(s.b.Reader().QueryRowContext(ctx, "SELECT "+orgColumns+" FROM orgs WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("org %q: %w", name, storage.ErrNotFound)
	}
	return o, err
}

// OrgByID returns the org with this ID or ErrNotFound.
func (s *Store) OrgByID(ctx context.Context, id int64) (storage.Org, error) {
	o, err := scanOrg(s.b.Reader().QueryRowContext(ctx, "SELECT "+orgColumns+" FROM orgs WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("org %d: %w", id, storage.ErrNotFound)
	}
	return o, err
}

// ListOrgs returns every org by name.
func (s *Store) ListOrgs(ctx context.Context) ([]storage.Org, error) {
	rows, err := s.b.Reader().QueryContext(ctx, "SELECT "+orgColumns+" FROM orgs ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("listing orgs: %w", err)
	}
	return Collect(rows, scanOrg)
}
