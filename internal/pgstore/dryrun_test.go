package pgstore

import (
	"database/sql"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ssogate/ssogate/internal/pgstore/pgtest"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
)

// dryRunInto runs DryRun on dsn into a new SQLite store, and returns the
// probe and the store.
func dryRunInto(t *testing.T, dsn string) (Probe, *sqlitestore.Store, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dry.db")
	st, err := sqlitestore.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	dst, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := DryRun(t.Context(), dsn, dst)
	if cerr := dst.Close(); cerr != nil {
		t.Fatal(cerr)
	}
	st, oerr := sqlitestore.Open(t.Context(), path)
	if oerr != nil {
		t.Fatal(oerr)
	}
	t.Cleanup(func() { st.Close() })
	return p, st, err
}

// TestDryRun: a fresh database is checked and nothing is copied; a
// migrated one gives the dry run's store its orgs, their domains and
// connections, as the store API reads them back; a schema newer than the
// binary is refused, naming both versions.
func TestDryRun(t *testing.T) {
	ctx := t.Context()
	entries, err := migrations.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	known := len(entries)

	t.Run("fresh", func(t *testing.T) {
		dsn := pgtest.Database(t)
		p, st, err := dryRunInto(t, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if p.Version != 0 || p.Known != known || p.Copied != 0 {
			t.Errorf("probe = %+v, want version 0 of %d, nothing copied", p, known)
		}
		if orgs, err := st.ListOrgs(ctx); err != nil || len(orgs) != 0 {
			t.Errorf("orgs in the dry run's store = %v (%v), want none", orgs, err)
		}
	})

	t.Run("migrated", func(t *testing.T) {
		dsn := pgtest.Database(t)
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := s.EnsureOrg(ctx, "first", false); err != nil {
			t.Fatal(err)
		}
		org, err := s.EnsureOrg(ctx, "acme", true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ClaimDomain(ctx, org.ID, "Acme.com", "txt-value"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.MarkDomainVerified(ctx, org.ID, "acme.com"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ClaimDomain(ctx, org.ID, "pending.example", "other-txt"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ModifyConnection(ctx, org.ID, func(c *storage.Connection) error {
			c.IDPMetadataURL, c.IDPMetadataXML = "https://idp.example/metadata", "<EntityDescriptor/>"
			c.RequireSSO, c.Pinned = true, []string{"require_sso"}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		p, st, err := dryRunInto(t, dsn)
		if err != nil {
			t.Fatal(err)
		}
		if p.Version != known || p.Copied != 2 {
			t.Errorf("probe = %+v, want version %d, 2 orgs copied", p, known)
		}
		got, err := st.OrgByName(ctx, "acme")
		if err != nil || got.ID != org.ID || !got.FromConfig {
			t.Fatalf("acme in the dry run's store = %+v (%v), want %+v", got, err, org)
		}
		wantDomains, err := s.ListDomains(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if gotDomains, err := st.ListDomains(ctx, org.ID); err != nil || !reflect.DeepEqual(gotDomains, wantDomains) {
			t.Errorf("domains in the dry run's store = %+v (%v), want %+v", gotDomains, err, wantDomains)
		}
		wantConn, err := s.Connection(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if gotConn, err := st.Connection(ctx, org.ID); err != nil || !reflect.DeepEqual(gotConn, wantConn) {
			t.Errorf("connection in the dry run's store = %+v (%v), want %+v", gotConn, err, wantConn)
		}
	})

	t.Run("user who may not create tables, before the first start", func(t *testing.T) {
		dsn := pgtest.Database(t)
		admin, err := sql.Open("pgx", dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer admin.Close()
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		// Roles are the server's: one per test database.
		role := "ssogate_dryrun_" + strings.TrimPrefix(strings.TrimPrefix(u.Path, "/"), "ssogate_test_")
		for _, q := range []string{"CREATE ROLE " + role + " LOGIN", "REVOKE CREATE ON SCHEMA public FROM PUBLIC"} {
			if _, err := admin.ExecContext(ctx, q); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { admin.Exec("DROP ROLE IF EXISTS " + role) })
		u.User = url.User(role)
		_, _, err = dryRunInto(t, u.String())
		if want := "user " + role + " may not create tables in schema public"; err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DryRun = %v, want it to contain %q", err, want)
		}
	})

	t.Run("newer schema", func(t *testing.T) {
		dsn := pgtest.Database(t)
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.DB().ExecContext(ctx, "UPDATE schema_version SET version = $1", known+1)
		s.Close()
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = dryRunInto(t, dsn)
		if err == nil || !strings.Contains(err.Error(), "newer than this ssogate knows") {
			t.Errorf("DryRun on a newer schema = %v, want it refused", err)
		}
	})
}
