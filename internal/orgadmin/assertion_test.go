package orgadmin_test

import (
	"testing"

	"github.com/ssogate/ssogate/internal/storage"
)

// TestRecordTeamsFromAssertion: a sign-in that changed the member's teams
// is one event, with the member as the actor; one that changed nothing is
// none.
func TestRecordTeamsFromAssertion(t *testing.T) {
	f := newFixture(t, "")
	f.run([]step{
		{name: "nothing changed", do: func() error {
			f.svc.RecordTeamsFromAssertion(f.ctx, f.acme, "jo@acme.com", storage.TeamsChange{})
			return nil
		}},
		{name: "teams joined, made and left", do: func() error {
			f.svc.RecordTeamsFromAssertion(f.ctx, f.acme, "jo@acme.com",
				storage.TeamsChange{Added: []string{"Eng", "Ops"}, Created: []string{"Ops"}, Removed: []string{"Sales"}})
			return nil
		}, want: func() *event {
			return &event{Actor: "jo@acme.com", ActorKind: storage.ActorMember, Action: "member.teams", Target: "jo@acme.com",
				After: obj("joined", []any{"Eng", "Ops"}, "made", []any{"Ops"}, "left", []any{"Sales"})}
		}},
		{name: "teams left only", do: func() error {
			f.svc.RecordTeamsFromAssertion(f.ctx, f.acme, "jo@acme.com", storage.TeamsChange{Removed: []string{"Eng"}})
			return nil
		}, want: func() *event {
			return &event{Actor: "jo@acme.com", ActorKind: storage.ActorMember, Action: "member.teams", Target: "jo@acme.com",
				After: obj("left", []any{"Eng"})}
		}},
	})
}
