package orgadmin

import (
	"context"

	"github.com/ssogate/ssogate/internal/storage"
)

// RecordTeamsFromAssertion records, as member.teams, what a sign-in's
// groups changed of the member's teams (storage's SetMemberTeamsByName,
// called by tenant.Admit): the teams joined, left and made, by name. The
// member is the actor: their IdP vouched for them. Nothing is recorded
// when nothing changed, as at most sign-ins.
func (s *Service) RecordTeamsFromAssertion(ctx context.Context, org storage.Org, email string, ch storage.TeamsChange) {
	if ch.Empty() {
		return
	}
	after := map[string]any{}
	for _, f := range []struct {
		name  string
		teams []string
	}{{"joined", ch.Added}, {"left", ch.Removed}, {"made", ch.Created}} {
		if len(f.teams) > 0 {
			after[f.name] = f.teams
		}
	}
	s.Record(ctx, org, Member(email), "member.teams", email, nil, after)
}
