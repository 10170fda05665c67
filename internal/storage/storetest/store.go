package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
)

func testOpenTwiceKeepsData(t *testing.T, be Backend) {
	ctx := context.Background()
	s1 := be.Open(t)
	if _, err := s1.EnsureOrg(ctx, "acme", true); err != nil {
		t.Fatal(err)
	}
	// A second process on the same database sees the org and agrees on
	// settings.
	s2 := be.Again(t, s1)
	o, err := s2.OrgByName(ctx, "acme")
	if err != nil || !o.FromConfig {
		t.Fatalf("OrgByName = %+v, %v; want the config org", o, err)
	}
	a, err := s1.EnsureSetting(ctx, "k", []byte("first"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s2.EnsureSetting(ctx, "k", []byte("second"))
	if err != nil {
		t.Fatal(err)
	}
	if string(a) != "first" || string(b) != "first" {
		t.Fatalf("EnsureSetting = %q, %q; want both %q", a, b, "first")
	}
}

func testMemberLifecycle(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme, _ := s.EnsureOrg(ctx, "acme", false)
	other, _ := s.EnsureOrg(ctx, "other", false)

	m, err := s.CreateMember(ctx, acme.ID, storage.NewMember{Email: "Jo@Acme.com", GivenName: "Jo", Active: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	if m.Role != storage.RoleMember || !m.Active {
		t.Fatalf("new member = %+v; want an active member", m)
	}
	if _, err := s.CreateMember(ctx, acme.ID, storage.NewMember{Email: "jo@acme.com"}, true); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("second create in same org: %v; want ErrConflict", err)
	}
	if _, err := s.CreateMember(ctx, other.ID, storage.NewMember{Email: "JO@acme.com"}, true); !errors.Is(err, storage.ErrAccountExists) {
		t.Fatalf("create in other org: %v; want ErrAccountExists", err)
	}
	if _, err := s.MemberByID(ctx, other.ID, m.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("MemberByID across orgs: %v; want ErrNotFound", err)
	}
	_, seq, err := s.ChangesSince(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.SetActive(ctx, acme.ID, m.ID, false)
	if err != nil {
		t.Fatal(err)
	}
	if d.Active || d.Epoch != m.Epoch+1 {
		t.Fatalf("deactivated = %+v; want inactive with a new epoch", d)
	}
	ch, _, err := s.ChangesSince(ctx, seq)
	if err != nil || len(ch.Members) != 1 || ch.Members[0] != m.ID || len(ch.Orgs) != 0 {
		t.Fatalf("ChangesSince = %+v, %v; want members [%s] and no orgs", ch, err, m.ID)
	}
	r, err := s.SetActive(ctx, acme.ID, m.ID, true)
	if err != nil || !r.Active || r.Epoch != d.Epoch {
		t.Fatalf("reactivated = %+v, %v; want active, same epoch", r, err)
	}
	if err := s.DeleteMember(ctx, acme.ID, m.ID); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.AccountExists(ctx, "jo@acme.com"); ok {
		t.Fatal("account kept after its only membership was deleted")
	}
}

func testTeamConcurrentAdds(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	org, _ := s.EnsureOrg(ctx, "acme", false)
	team, err := s.CreateTeam(ctx, org.ID, "Eng", "")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := 0; i < 40; i++ {
		m, err := s.CreateMember(ctx, org.ID, storage.NewMember{Email: string(rune('a'+i%26)) + string(rune('a'+i/26)) + "@acme.com", Active: true}, true)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.UpdateTeam(ctx, org.ID, team.ID, func(t *storage.Team) error {
				t.MemberIDs = append(t.MemberIDs, id)
				return nil
			}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	got, err := s.TeamByID(ctx, org.ID, team.ID)
	if err != nil || len(got.MemberIDs) != 40 {
		t.Fatalf("team has %d members (%v); want 40", len(got.MemberIDs), err)
	}
	ident, err := s.Identity(ctx, ids[0])
	if err != nil || len(ident.Teams) != 1 || ident.Teams[0] != "Eng" || ident.OrgName != "acme" {
		t.Fatalf("Identity = %+v, %v", ident, err)
	}
}

func testDomains(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	a, _ := s.EnsureOrg(ctx, "a", false)
	b, _ := s.EnsureOrg(ctx, "b", false)
	if err := s.SyncConfigDomains(ctx, a.ID, []string{"Acme.com", "acme.org"}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.DomainVerified(ctx, a.ID, "ACME.COM"); !ok {
		t.Fatal("config domain not verified")
	}
	if _, err := s.ClaimDomain(ctx, b.ID, "acme.com", "x"); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("claim of a verified domain: %v; want ErrConflict", err)
	}
	if err := s.SyncConfigDomains(ctx, a.ID, []string{"acme.com"}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.DomainVerified(ctx, a.ID, "acme.org"); ok {
		t.Fatal("domain dropped from config still verified")
	}
	if _, err := s.ClaimDomain(ctx, b.ID, "acme.org", "x"); err != nil {
		t.Fatalf("claim of a free domain: %v", err)
	}
	if _, err := s.ClaimDomain(ctx, a.ID, "acme.org", "y"); err != nil {
		t.Fatalf("pending claims block no one: %v", err)
	}
	if _, err := s.MarkDomainVerified(ctx, b.ID, "acme.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.MarkDomainVerified(ctx, a.ID, "acme.org"); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("second verification: %v; want ErrConflict", err)
	}
}

func testReplay(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	if err := s.ConsumeAssertion(ctx, "id-1", 100); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeAssertion(ctx, "id-1", 100); !errors.Is(err, storage.ErrReplayed) {
		t.Fatalf("second consume: %v; want ErrReplayed", err)
	}
}

// acmeWithJo makes the org acme, with acme.com claimed, and its active
// member jo@acme.com.
func acmeWithJo(t *testing.T, s storage.Store) (storage.Org, storage.Member) {
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

// TestSessionGrantedByAssertion: the session and its assertion's record
// are one write; an assertion recorded already grants no session.
func testSessionGrantedByAssertion(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	_, m := acmeWithJo(t, s)
	exp := time.Now().Add(time.Hour).Unix()
	session := func(id string) storage.Session {
		return storage.Session{ID: id, MemberID: m.ID, Epoch: m.Epoch, ExpiresAt: exp}
	}
	if seen, err := s.AssertionConsumed(ctx, "a-1"); err != nil || seen {
		t.Fatalf("AssertionConsumed before = %v, %v", seen, err)
	}
	if err := s.CreateSession(ctx, session("s-1"), &storage.ConsumedAssertion{ID: "a-1", ExpiresAt: exp}); err != nil {
		t.Fatal(err)
	}
	if seen, err := s.AssertionConsumed(ctx, "a-1"); err != nil || !seen {
		t.Fatalf("AssertionConsumed after = %v, %v", seen, err)
	}
	err := s.CreateSession(ctx, session("s-2"), &storage.ConsumedAssertion{ID: "a-1", ExpiresAt: exp})
	if !errors.Is(err, storage.ErrReplayed) {
		t.Fatalf("second session from the same assertion: %v; want ErrReplayed", err)
	}
	if _, err := s.SessionByID(ctx, "s-2"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("session of a replayed assertion: %v; want none", err)
	}
	// An assertion recorded by a refused sign-in grants nothing later.
	if err := s.ConsumeAssertion(ctx, "a-2", exp); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, session("s-3"), &storage.ConsumedAssertion{ID: "a-2", ExpiresAt: exp}); !errors.Is(err, storage.ErrReplayed) {
		t.Fatalf("session from a consumed assertion: %v; want ErrReplayed", err)
	}
	if _, err := s.SessionByID(ctx, "s-1"); err != nil {
		t.Fatalf("the first session: %v", err)
	}
}

func testSignInLookup(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	org, _ := acmeWithJo(t, s)
	for _, tc := range []struct {
		domain, email string
		verified      bool
		err           error
	}{
		{"acme.com", "jo@acme.com", true, nil},
		{"acme.com", "new@acme.com", true, storage.ErrNotFound},
		{"evil.test", "jo@evil.test", false, nil},
	} {
		verified, m, err := s.SignInLookup(ctx, org.ID, tc.domain, tc.email)
		if verified != tc.verified || !errors.Is(err, tc.err) || (err == nil && verified && m.Email != tc.email) {
			t.Errorf("SignInLookup(%s, %s) = %v, %+v, %v; want %v, %v", tc.domain, tc.email, verified, m, err, tc.verified, tc.err)
		}
	}
	// Inside a sign-in's sequence: the reads, then the write, then the
	// next sign-in's reads, all on the one writer connection.
	for i := range 3 {
		if _, _, err := s.SignInLookup(ctx, org.ID, "acme.com", "jo@acme.com"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AssertionConsumed(ctx, fmt.Sprint("a-", i)); err != nil {
			t.Fatal(err)
		}
		if err := s.ConsumeAssertion(ctx, fmt.Sprint("a-", i), time.Now().Add(time.Hour).Unix()); err != nil {
			t.Fatal(err)
		}
	}
}
