package sqlitestore

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/ssogate/ssogate/internal/storage"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "ssogate.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// acmeWithJo makes the org acme, with acme.com claimed, and its active
// member jo@acme.com.
func acmeWithJo(t *testing.T, s *Store) (storage.Org, storage.Member) {
	t.Helper()
	ctx := context.Background()
	org, err := s.EnsureOrg(ctx, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SyncConfigDomains(ctx, org.ID, []string{"acme.com"}); err != nil {
		t.Fatal(err)
	}
	m, err := s.CreateMember(ctx, org.ID, storage.NewMember{Email: "jo@acme.com", Role: storage.RoleMember, Active: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	return org, m
}
