package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssogate/ssogate/internal/storage"
)

// TestEndSessionsByNameID: an IdP's logout request ends exactly the
// sessions it names, in its own org only, and every process learns which
// members to drop.
func testEndSessionsByNameID(t *testing.T, be Backend) {
	// The sessions every case starts from: jo has two SAML sessions in
	// acme and one by password, ann one in acme, and jo (the same
	// account, the same NameID) one in globex.
	type sess struct {
		id, org, member, method, nameID, index string
	}
	all := []sess{
		{"jo-1", "acme", "jo", storage.MethodSAML, "jo@acme.com", "idx-1"},
		{"jo-2", "acme", "jo", storage.MethodSAML, "jo@acme.com", "idx-2"},
		{"jo-pw", "acme", "jo", storage.MethodPassword, "", ""},
		{"ann-1", "acme", "ann", storage.MethodSAML, "ann@acme.com", "idx-1"},
		{"jo-globex", "globex", "joG", storage.MethodSAML, "jo@acme.com", "idx-1"},
	}
	for _, tc := range []struct {
		name    string
		org     string
		nameID  string
		indexes []string
		ended   []string
	}{
		{"every session of the NameID", "acme", "jo@acme.com", nil, []string{"jo-1", "jo-2"}},
		{"an empty list of indexes is every session", "acme", "jo@acme.com", []string{}, []string{"jo-1", "jo-2"}},
		{"one session index", "acme", "jo@acme.com", []string{"idx-2"}, []string{"jo-2"}},
		{"several session indexes", "acme", "jo@acme.com", []string{"idx-2", "idx-9", "idx-1"}, []string{"jo-1", "jo-2"}},
		{"an index of no session", "acme", "jo@acme.com", []string{"idx-9"}, nil},
		{"another org's NameID", "globex", "jo@acme.com", nil, []string{"jo-globex"}},
		{"a NameID of no session", "acme", "nobody@acme.com", nil, nil},
		{"the NameID compared exactly", "acme", "JO@acme.com", nil, nil},
		{"an empty NameID ends no password session", "acme", "", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := be.Open(t)
			orgs := map[string]storage.Org{"acme": mustOrg(t, s, "acme"), "globex": mustOrg(t, s, "globex")}
			members := map[string]storage.Member{
				"jo":  mustMember(t, s, orgs["acme"].ID, "jo@acme.com", storage.RoleMember),
				"ann": mustMember(t, s, orgs["acme"].ID, "ann@acme.com", storage.RoleMember),
				"joG": mustMember(t, s, orgs["globex"].ID, "jo@acme.com", storage.RoleMember),
			}
			now := time.Now().Unix()
			for _, x := range all {
				m := members[x.member]
				if err := s.CreateSession(ctx, storage.Session{ID: x.id, MemberID: m.ID, OrgID: m.OrgID, Method: x.method,
					CreatedAt: now, ExpiresAt: now + 3600, LastSeen: now, NameID: x.nameID, SessionIndex: x.index}, nil); err != nil {
					t.Fatal(err)
				}
			}
			calls := 0
			s.OnChange(func() { calls++ })
			seq := feedSeq(t, s)

			n, err := s.EndSessionsByNameID(ctx, orgs[tc.org].ID, tc.nameID, tc.indexes)
			if err != nil {
				t.Fatalf("EndSessionsByNameID = %v", err)
			}
			if n != len(tc.ended) {
				t.Errorf("EndSessionsByNameID = %d, want %d", n, len(tc.ended))
			}
			ended := map[string]bool{}
			wantFeed := storage.Changes{}
			for _, id := range tc.ended {
				ended[id] = true
			}
			for _, x := range all {
				_, err := s.SessionByID(ctx, x.id)
				if gone := errors.Is(err, storage.ErrNotFound); gone != ended[x.id] || err != nil && !gone {
					t.Errorf("SessionByID(%q) = %v; want gone=%v", x.id, err, ended[x.id])
				}
				if ended[x.id] && (len(wantFeed.Members) == 0 || wantFeed.Members[len(wantFeed.Members)-1] != members[x.member].ID) {
					wantFeed.Members = append(wantFeed.Members, members[x.member].ID)
				}
			}
			if diff := cmp.Diff(wantFeed, changesAfter(t, s, seq), cmpChanges); diff != "" {
				t.Errorf("feed after the logout (-want +got):\n%s", diff)
			}
			if (calls > 0) != (n > 0) {
				t.Errorf("OnChange ran %d times after %d sessions ended", calls, n)
			}
		})
	}
}

// TestSessionEndsOnFeed: every way a live session ends puts its member on
// the change feed and runs the OnChange hooks, so that every gate in every
// process drops its cached copy; a new password ends the account's
// password sessions in every org and only those; the sweep of expired
// sessions leaves the feed alone.
func testSessionEndsOnFeed(t *testing.T, be Backend) {
	// jo has a password and a SAML session in acme, and (the same account)
	// a password session in globex; ann a password session in acme; old
	// an expired session in acme.
	type sess struct{ id, member, method string }
	all := []sess{
		{"jo-pw", "jo", storage.MethodPassword},
		{"jo-saml", "jo", storage.MethodSAML},
		{"joG-pw", "joG", storage.MethodPassword},
		{"ann-pw", "ann", storage.MethodPassword},
	}
	for _, tc := range []struct {
		name  string
		end   func(ctx context.Context, s storage.Store, m map[string]storage.Member) error
		ended []string // session IDs
		feed  []string // members
	}{
		{"logout", func(ctx context.Context, s storage.Store, _ map[string]storage.Member) error {
			return s.DeleteSession(ctx, "jo-saml")
		}, []string{"jo-saml"}, []string{"jo"}},
		{"logout of an unknown session", func(ctx context.Context, s storage.Store, _ map[string]storage.Member) error {
			return s.DeleteSession(ctx, "nope")
		}, nil, nil},
		{"a new password: password sessions in every org", func(ctx context.Context, s storage.Store, _ map[string]storage.Member) error {
			return s.SetPasswordHash(ctx, "jo@acme.com", "new-hash")
		}, []string{"jo-pw", "joG-pw"}, []string{"jo", "joG"}},
		{"a first password of an account with only SAML sessions", func(ctx context.Context, s storage.Store, _ map[string]storage.Member) error {
			return s.SetPasswordHash(ctx, "sam@acme.com", "hash")
		}, nil, nil},
		{"deactivation", func(ctx context.Context, s storage.Store, m map[string]storage.Member) error {
			_, err := s.SetActive(ctx, m["ann"].OrgID, m["ann"].ID, false)
			return err
		}, []string{"ann-pw"}, []string{"ann"}},
		{"deletion", func(ctx context.Context, s storage.Store, m map[string]storage.Member) error {
			return s.DeleteMember(ctx, m["joG"].OrgID, m["joG"].ID)
		}, []string{"joG-pw"}, []string{"joG"}},
		{"the IdP's logout", func(ctx context.Context, s storage.Store, m map[string]storage.Member) error {
			_, err := s.EndSessionsByNameID(ctx, m["jo"].OrgID, "jo@acme.com", nil)
			return err
		}, []string{"jo-saml"}, []string{"jo"}},
		{"the sweep of expired sessions", func(ctx context.Context, s storage.Store, _ map[string]storage.Member) error {
			return s.DeleteExpired(ctx, time.Now().Unix())
		}, []string{"old-pw"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := be.Open(t)
			acme, globex := mustOrg(t, s, "acme"), mustOrg(t, s, "globex")
			m := map[string]storage.Member{
				"jo":  mustMember(t, s, acme.ID, "jo@acme.com", storage.RoleMember),
				"joG": mustMember(t, s, globex.ID, "jo@acme.com", storage.RoleMember),
				"ann": mustMember(t, s, acme.ID, "ann@acme.com", storage.RoleMember),
				"sam": mustMember(t, s, acme.ID, "sam@acme.com", storage.RoleMember),
				"old": mustMember(t, s, acme.ID, "old@acme.com", storage.RoleMember),
			}
			for _, x := range all {
				mustSession(t, s, x.id, m[x.member], x.method)
			}
			mustSession(t, s, "sam-saml", m["sam"], storage.MethodSAML)
			now := time.Now().Unix()
			if err := s.CreateSession(ctx, storage.Session{ID: "old-pw", MemberID: m["old"].ID, OrgID: acme.ID,
				Method: storage.MethodPassword, CreatedAt: now - 7200, ExpiresAt: now - 60, LastSeen: now - 3600}, nil); err != nil {
				t.Fatal(err)
			}
			calls := 0
			s.OnChange(func() { calls++ })
			seq := feedSeq(t, s)

			if err := tc.end(ctx, s, m); err != nil {
				t.Fatalf("ending = %v", err)
			}
			ended := map[string]bool{}
			for _, id := range tc.ended {
				ended[id] = true
			}
			for _, x := range append(all, sess{id: "sam-saml"}, sess{id: "old-pw"}) {
				_, err := s.SessionByID(ctx, x.id)
				if gone := errors.Is(err, storage.ErrNotFound); gone != ended[x.id] || err != nil && !gone {
					t.Errorf("SessionByID(%q) = %v; want gone=%v", x.id, err, ended[x.id])
				}
			}
			want := storage.Changes{}
			for _, name := range tc.feed {
				want.Members = append(want.Members, m[name].ID)
			}
			slices.Sort(want.Members)
			if diff := cmp.Diff(want, changesAfter(t, s, seq), cmpChanges); diff != "" {
				t.Errorf("feed after the end (-want +got):\n%s", diff)
			}
			if (calls > 0) != (len(tc.feed) > 0) {
				t.Errorf("OnChange ran %d times; want it to run when the feed names a member", calls)
			}
		})
	}
}
