package sqlitestore

import (
	"context"
	"testing"

	"github.com/ssogate/ssogate/internal/storage"
)

// teamsOf returns the names of the member's teams, from its identity.
func teamsOf(t *testing.T, s *Store, memberID string) []string {
	t.Helper()
	id, err := s.Identity(context.Background(), memberID)
	if err != nil {
		t.Fatalf("Identity(%q) = %v", memberID, err)
	}
	return id.Teams
}

// orgTeams returns the org's teams by name, with their sources.
func orgTeams(t *testing.T, s *Store, orgID int64) map[string]storage.Team {
	t.Helper()
	teams, _, err := s.ListTeams(context.Background(), orgID, storage.Page{StartIndex: 1, Count: 1000})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]storage.Team{}
	for _, tm := range teams {
		out[tm.Name] = tm
	}
	return out
}
