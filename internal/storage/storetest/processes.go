package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
)

// The guarantees that hold between processes sharing one database (two
// Store values on it, as two replicas have): concurrent writers on both
// behave as if they took turns.

// twoStores returns two stores on one fresh database.
func twoStores(t *testing.T, be Backend) [2]storage.Store {
	s := be.Open(t)
	return [2]storage.Store{s, be.Again(t, s)}
}

// testProcessesCreateMember: simultaneous creates of one account, split
// over two processes, make one member; the others are refused as
// conflicts, not failures. Distinct accounts are all created.
func testProcessesCreateMember(t *testing.T, be Backend) {
	ctx := context.Background()
	ss := twoStores(t, be)
	org := mustOrg(t, ss[0], "acme")
	const n = 16
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = ss[i%2].CreateMember(ctx, org.ID, storage.NewMember{Email: "jo@acme.com", Active: true}, false)
		})
	}
	wg.Wait()
	created := 0
	for i, err := range errs {
		switch {
		case err == nil:
			created++
		case !errors.Is(err, storage.ErrConflict):
			t.Errorf("create #%d = %v; want nil or ErrConflict", i, err)
		}
	}
	if created != 1 {
		t.Errorf("%d creates of one account succeeded, want 1", created)
	}

	for i := range 40 {
		wg.Go(func() {
			if _, err := ss[i%2].CreateMember(ctx, org.ID, storage.NewMember{Email: fmt.Sprintf("u%d@acme.com", i), Active: true}, true); err != nil {
				t.Errorf("CreateMember(u%d) = %v", i, err)
			}
		})
	}
	wg.Wait()
	_, total, err := ss[1].FindMembers(ctx, org.ID, storage.Query{Count: 1})
	if err != nil || total != 41 {
		t.Errorf("FindMembers total = %d, %v; want 41", total, err)
	}
}

// testProcessesCreateAccountInOrgs: creates of one email in several orgs at
// once, from two processes, make one account. Where the create requires a
// new account, one wins and the others are told the account exists;
// otherwise every org gets its membership.
func testProcessesCreateAccountInOrgs(t *testing.T, be Backend) {
	ctx := context.Background()
	ss := twoStores(t, be)
	const n = 8
	for _, requireNew := range []bool{true, false} {
		orgs := make([]storage.Org, n)
		for i := range orgs {
			orgs[i] = mustOrg(t, ss[0], fmt.Sprintf("org%d-%t", i, requireNew))
		}
		email := fmt.Sprintf("Guest-%t@Example.com", requireNew)
		var wg sync.WaitGroup
		errs := make([]error, n)
		ms := make([]storage.Member, n)
		for i := range n {
			wg.Go(func() {
				ms[i], errs[i] = ss[i%2].CreateMember(ctx, orgs[i].ID, storage.NewMember{Email: email, Active: true}, requireNew)
			})
		}
		wg.Wait()
		created, account := 0, int64(0)
		for i, err := range errs {
			switch {
			case err == nil:
				created++
				if account != 0 && ms[i].AccountID != account {
					t.Errorf("requireNew=%t: memberships of one email in accounts %d and %d", requireNew, account, ms[i].AccountID)
				}
				account = ms[i].AccountID
				if ms[i].Email != email || ms[i].OrgID != orgs[i].ID || !ms[i].Active || ms[i].Role != storage.RoleMember {
					t.Errorf("requireNew=%t: create #%d = %+v", requireNew, i, ms[i])
				}
			case requireNew && errors.Is(err, storage.ErrAccountExists):
			default:
				t.Errorf("requireNew=%t: create #%d = %v", requireNew, i, err)
			}
		}
		if want := map[bool]int{true: 1, false: n}[requireNew]; created != want {
			t.Errorf("requireNew=%t: %d creates succeeded, want %d", requireNew, created, want)
		}
		got, err := ss[1].Memberships(ctx, strings.ToLower(email))
		if err != nil || len(got) != created {
			t.Errorf("requireNew=%t: Memberships = %d, %v; want %d", requireNew, len(got), err, created)
		}
	}
}

// testProcessesTeamAdds: members added to one team by concurrent updates
// from two processes are all kept.
func testProcessesTeamAdds(t *testing.T, be Backend) {
	ctx := context.Background()
	ss := twoStores(t, be)
	org := mustOrg(t, ss[0], "acme")
	team, err := ss[0].CreateTeam(ctx, org.ID, "Eng", "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 20 {
		ids = append(ids, mustMember(t, ss[0], org.ID, fmt.Sprintf("m%d@acme.com", i), storage.RoleMember).ID)
	}
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			if _, err := ss[i%2].UpdateTeam(ctx, org.ID, team.ID, func(t *storage.Team) error {
				t.MemberIDs = append(t.MemberIDs, id)
				return nil
			}); err != nil {
				t.Errorf("UpdateTeam = %v", err)
			}
		})
	}
	wg.Wait()
	got, err := ss[1].TeamByID(ctx, org.ID, team.ID)
	if err != nil || len(got.MemberIDs) != len(ids) {
		t.Fatalf("team has %d members (%v); want %d", len(got.MemberIDs), err, len(ids))
	}
}

// testProcessesOneSessionPerAssertion: one assertion presented to both
// processes at once grants one session.
func testProcessesOneSessionPerAssertion(t *testing.T, be Backend) {
	ctx := context.Background()
	ss := twoStores(t, be)
	org := mustOrg(t, ss[0], "acme")
	m := mustMember(t, ss[0], org.ID, "jo@acme.com", storage.RoleMember)
	now := time.Now().Unix()
	for round := range 5 {
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				errs[i] = ss[i%2].CreateSession(ctx, storage.Session{ID: fmt.Sprintf("s%d-%d", round, i), MemberID: m.ID, OrgID: org.ID,
					Method: storage.MethodSAML, CreatedAt: now, ExpiresAt: now + 3600, LastSeen: now},
					&storage.ConsumedAssertion{ID: fmt.Sprintf("assertion-%d", round), ExpiresAt: now + 300})
			})
		}
		wg.Wait()
		granted := 0
		for i, err := range errs {
			switch {
			case err == nil:
				granted++
			case !errors.Is(err, storage.ErrReplayed):
				t.Errorf("round %d: CreateSession #%d = %v; want nil or ErrReplayed", round, i, err)
			}
		}
		if granted != 1 {
			t.Errorf("round %d: %d sessions granted by one assertion, want 1", round, granted)
		}
		for i := range n {
			_, err := ss[0].SessionByID(ctx, fmt.Sprintf("s%d-%d", round, i))
			if (err == nil) != (errs[i] == nil) {
				t.Errorf("round %d: session #%d stored = %v, but CreateSession said %v", round, i, err == nil, errs[i])
			}
		}
	}
}

// testProcessesSeeDeactivation: a deactivation made through one process
// is on the other's change feed, and its session is gone there.
func testProcessesSeeDeactivation(t *testing.T, be Backend) {
	ctx := context.Background()
	ss := twoStores(t, be)
	org := mustOrg(t, ss[0], "acme")
	m := mustMember(t, ss[0], org.ID, "jo@acme.com", storage.RoleMember)
	mustSession(t, ss[0], "s1", m, storage.MethodSAML)
	var calls atomic.Int32
	ss[1].OnChange(func() { calls.Add(1) })
	seq := feedSeq(t, ss[1])
	if _, err := ss[0].SetActive(ctx, org.ID, m.ID, false); err != nil {
		t.Fatal(err)
	}
	if ch := changesAfter(t, ss[1], seq); len(ch.Members) != 1 || ch.Members[0] != m.ID {
		t.Errorf("the other process's feed names %v, want [%s]", ch.Members, m.ID)
	}
	if _, err := ss[1].SessionByID(ctx, "s1"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("SessionByID on the other process = %v, want ErrNotFound", err)
	}
	if be.Notifies {
		// Pushed to the other process, not only there for its poll.
		deadline := time.Now().Add(2 * time.Second)
		for calls.Load() == 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if calls.Load() == 0 {
			t.Error("the other process's OnChange callbacks did not run")
		}
	}
}
