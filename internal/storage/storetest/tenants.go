package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ssogate/ssogate/internal/storage"
)

// Helpers for the tenant tests: every org, member and session is made
// through the store's own methods, on a real database file.

func mustOrg(t *testing.T, s storage.Store, name string) storage.Org {
	t.Helper()
	o, err := s.CreateOrg(context.Background(), name)
	if err != nil {
		t.Fatalf("CreateOrg(%q) = %v", name, err)
	}
	return o
}

func mustMember(t *testing.T, s storage.Store, orgID int64, email string, role storage.Role) storage.Member {
	t.Helper()
	m, err := s.CreateMember(context.Background(), orgID, storage.NewMember{Email: email, Role: role, Active: true}, false)
	if err != nil {
		t.Fatalf("CreateMember(%d, %q) = %v", orgID, email, err)
	}
	return m
}

func mustSession(t *testing.T, s storage.Store, id string, m storage.Member, method string) {
	t.Helper()
	now := time.Now().Unix()
	sess := storage.Session{ID: id, MemberID: m.ID, OrgID: m.OrgID, Method: method, Epoch: m.Epoch,
		CreatedAt: now, ExpiresAt: now + 3600, LastSeen: now}
	if method == storage.MethodSAML {
		sess.NameID, sess.SessionIndex = m.Email, "idx-"+id
	}
	if err := s.CreateSession(context.Background(), sess, nil); err != nil {
		t.Fatalf("CreateSession(%q) = %v", id, err)
	}
}

func mustModifyConnection(t *testing.T, s storage.Store, orgID int64, fn func(*storage.Connection)) storage.Connection {
	t.Helper()
	c, err := s.ModifyConnection(context.Background(), orgID, func(c *storage.Connection) error {
		fn(c)
		return nil
	})
	if err != nil {
		t.Fatalf("ModifyConnection(%d) = %v", orgID, err)
	}
	return c
}

// feedSeq returns the change feed's newest seq.
func feedSeq(t *testing.T, s storage.Store) int64 {
	t.Helper()
	_, seq, err := s.ChangesSince(context.Background(), -1)
	if err != nil {
		t.Fatalf("ChangesSince(-1) = %v", err)
	}
	return seq
}

// changesAfter returns what the feed names after seq, each list sorted.
func changesAfter(t *testing.T, s storage.Store, seq int64) storage.Changes {
	t.Helper()
	ch, _, err := s.ChangesSince(context.Background(), seq)
	if err != nil {
		t.Fatalf("ChangesSince(%d) = %v", seq, err)
	}
	slices.Sort(ch.Members)
	slices.Sort(ch.Orgs)
	return ch
}

func sortedIDs(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// cmpChanges compares change-feed results; nil and empty lists are the
// same answer.
var cmpChanges = cmpopts.EquateEmpty()

func testModifyConnectionCreatesAndUpdates(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	other := mustOrg(t, s, "other")

	if _, err := s.Connection(ctx, acme.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Connection(acme) before any = %v, want ErrNotFound", err)
	}
	var seen storage.Connection
	c, err := s.ModifyConnection(ctx, acme.ID, func(c *storage.Connection) error {
		seen = *c
		c.IDPSSOURL = "https://idp.example/sso"
		c.IDPIssuer = "https://idp.example"
		c.Pinned = []string{"idp_sso_url", "state"}
		c.OrgID = other.ID // ignored: the org is the one asked about
		return nil
	})
	if err != nil {
		t.Fatalf("ModifyConnection(acme) = %v", err)
	}
	if diff := cmp.Diff(storage.NewConnection(acme.ID), seen); diff != "" {
		t.Errorf("fn of an org without a connection got (-want +got):\n%s", diff)
	}
	want := storage.Connection{OrgID: acme.ID, IDPSSOURL: "https://idp.example/sso", IDPIssuer: "https://idp.example",
		AllowIDPInitiated: true, State: storage.ConnectionDraft, Pinned: []string{"idp_sso_url", "state"}, Version: 1}
	ignoreTimes := cmpopts.IgnoreFields(storage.Connection{}, "CreatedAt", "UpdatedAt")
	if diff := cmp.Diff(want, c, ignoreTimes); diff != "" {
		t.Errorf("ModifyConnection(acme) returned (-want +got):\n%s", diff)
	}
	if c.CreatedAt.IsZero() || c.UpdatedAt.IsZero() {
		t.Errorf("ModifyConnection(acme) times = %v, %v; want both set", c.CreatedAt, c.UpdatedAt)
	}
	if _, err := s.Connection(ctx, other.ID); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Connection(other) = %v, want ErrNotFound: fn cannot move a connection to another org", err)
	}
	stored, err := s.Connection(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, stored); diff != "" {
		t.Errorf("Connection(acme) differs from what ModifyConnection returned (-want +got):\n%s", diff)
	}

	c2 := mustModifyConnection(t, s, acme.ID, func(c *storage.Connection) {
		c.IDPSLOURL = "https://idp.example/slo"
		c.RequireSSO, c.IDPManagedAccess, c.AllowIDPInitiated = true, true, false
		c.State = storage.ConnectionEnabled
	})
	want.IDPSLOURL = "https://idp.example/slo"
	want.RequireSSO, want.IDPManagedAccess, want.AllowIDPInitiated = true, true, false
	want.State = storage.ConnectionEnabled
	want.Version = 2
	if diff := cmp.Diff(want, c2, ignoreTimes); diff != "" {
		t.Errorf("second ModifyConnection(acme) returned (-want +got):\n%s", diff)
	}
	if !c2.CreatedAt.Equal(c.CreatedAt) {
		t.Errorf("CreatedAt moved from %v to %v on update", c.CreatedAt, c2.CreatedAt)
	}

	list, err := s.ListConnections(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]storage.Connection{c2}, list); diff != "" {
		t.Errorf("ListConnections() (-want +got):\n%s", diff)
	}
}

func testModifyConnectionWritesNothingOnRefusal(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	fresh := mustOrg(t, s, "fresh")
	before := mustModifyConnection(t, s, acme.ID, func(c *storage.Connection) { c.IDPIssuer = "https://idp.example" })
	errFn := errors.New("refused by fn")

	for _, tc := range []struct {
		name    string
		org     int64
		fn      func(*storage.Connection) error
		wantErr error
	}{
		{"fn error on a new connection", fresh.ID, func(c *storage.Connection) error {
			c.IDPIssuer = "https://evil.example"
			return errFn
		}, errFn},
		{"fn error on an existing connection", acme.ID, func(c *storage.Connection) error {
			c.IDPIssuer = "https://evil.example"
			return errFn
		}, errFn},
		{"unknown state", acme.ID, func(c *storage.Connection) error {
			c.IDPIssuer = "https://evil.example"
			c.State = "bogus"
			return nil
		}, nil},
		{"empty state", fresh.ID, func(c *storage.Connection) error {
			c.State = ""
			return nil
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seq := feedSeq(t, s)
			_, err := s.ModifyConnection(ctx, tc.org, tc.fn)
			if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("ModifyConnection = %v, want an error matching %v (nil: any)", err, tc.wantErr)
			}
			if got, err := s.Connection(ctx, fresh.ID); !errors.Is(err, storage.ErrNotFound) {
				t.Errorf("Connection(fresh) = %+v, %v; want ErrNotFound", got, err)
			}
			got, err := s.Connection(ctx, acme.ID)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(before, got); diff != "" {
				t.Errorf("Connection(acme) changed (-want +got):\n%s", diff)
			}
			if ch := changesAfter(t, s, seq); !ch.Empty() {
				t.Errorf("feed after a refused write = %+v, want nothing", ch)
			}
		})
	}

	t.Run("org that does not exist", func(t *testing.T) {
		called := false
		_, err := s.ModifyConnection(ctx, 9999, func(*storage.Connection) error {
			called = true
			return nil
		})
		if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("ModifyConnection(9999) = %v, want ErrNotFound", err)
		}
		if called {
			t.Error("ModifyConnection(9999) called fn for an org that does not exist")
		}
		if _, err := s.Connection(ctx, 9999); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("Connection(9999) = %v, want ErrNotFound", err)
		}
	})
}

// TestLeavingEnabledEndsSAMLSessions: a connection that stops being
// enabled ends exactly its org's SAML sessions, and the feed names their
// members so that every gate drops them.
func testLeavingEnabledEndsSAMLSessions(t *testing.T, be Backend) {
	for _, tc := range []struct {
		name  string
		from  storage.ConnectionState
		to    storage.ConnectionState
		ended bool
	}{
		{"enabled to disabled", storage.ConnectionEnabled, storage.ConnectionDisabled, true},
		{"enabled to draft", storage.ConnectionEnabled, storage.ConnectionDraft, true},
		{"enabled to tested", storage.ConnectionEnabled, storage.ConnectionTested, true},
		{"enabled stays enabled", storage.ConnectionEnabled, storage.ConnectionEnabled, false},
		{"draft to enabled", storage.ConnectionDraft, storage.ConnectionEnabled, false},
		{"disabled to draft", storage.ConnectionDisabled, storage.ConnectionDraft, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s := be.Open(t)
			acme := mustOrg(t, s, "acme")
			globex := mustOrg(t, s, "globex")
			jo := mustMember(t, s, acme.ID, "jo@acme.com", storage.RoleMember)
			ann := mustMember(t, s, acme.ID, "ann@acme.com", storage.RoleMember)
			pat := mustMember(t, s, acme.ID, "pat@acme.com", storage.RoleOwner)
			gus := mustMember(t, s, globex.ID, "gus@globex.com", storage.RoleMember)
			mustSession(t, s, "jo-saml", jo, storage.MethodSAML)
			mustSession(t, s, "jo-password", jo, storage.MethodPassword)
			mustSession(t, s, "ann-saml", ann, storage.MethodSAML)
			mustSession(t, s, "pat-password", pat, storage.MethodPassword)
			mustSession(t, s, "gus-saml", gus, storage.MethodSAML)
			for _, org := range []int64{acme.ID, globex.ID} {
				mustModifyConnection(t, s, org, func(c *storage.Connection) { c.State = tc.from })
			}

			seq := feedSeq(t, s)
			mustModifyConnection(t, s, acme.ID, func(c *storage.Connection) {
				c.State = tc.to
				c.IDPSLOURL = "https://idp.example/slo" // a change even when the state stays
			})

			wantGone := map[string]bool{"jo-saml": tc.ended, "ann-saml": tc.ended}
			for _, id := range []string{"jo-saml", "jo-password", "ann-saml", "pat-password", "gus-saml"} {
				_, err := s.SessionByID(ctx, id)
				if gone := errors.Is(err, storage.ErrNotFound); gone != wantGone[id] || err != nil && !gone {
					t.Errorf("SessionByID(%q) = %v; want gone=%v", id, err, wantGone[id])
				}
			}
			want := storage.Changes{Orgs: []int64{acme.ID}}
			if tc.ended {
				want.Members = sortedIDs(jo.ID, ann.ID)
			}
			if diff := cmp.Diff(want, changesAfter(t, s, seq), cmpChanges); diff != "" {
				t.Errorf("feed after the state change (-want +got):\n%s", diff)
			}
		})
	}
}

func testSSOTestLifecycle(t *testing.T, be Backend) {
	ctx := context.Background()
	at := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	// setup makes acme with a draft connection and a test of its current
	// version, and globex with a connection of its own.
	setup := func(t *testing.T) (storage.Store, storage.Org, storage.Org, storage.Connection) {
		s := be.Open(t)
		be.SetClock(s, func() time.Time { return at })
		acme := mustOrg(t, s, "acme")
		globex := mustOrg(t, s, "globex")
		c := mustModifyConnection(t, s, acme.ID, func(c *storage.Connection) { c.IDPIssuer = "https://idp.acme" })
		mustModifyConnection(t, s, globex.ID, func(c *storage.Connection) { c.IDPIssuer = "https://idp.globex" })
		if err := s.CreateSSOTest(ctx, storage.SSOTest{ID: "t1", OrgID: acme.ID, ConnectionVersion: c.Version,
			CreatedAt: at.Add(-time.Minute), ExpiresAt: at.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		return s, acme, globex, c
	}

	t.Run("ok on the current draft makes it tested", func(t *testing.T) {
		s, acme, _, c := setup(t)
		got, err := s.SSOTest(ctx, acme.ID, "t1")
		if err != nil {
			t.Fatal(err)
		}
		wantTest := storage.SSOTest{ID: "t1", OrgID: acme.ID, ConnectionVersion: c.Version,
			CreatedAt: at.Add(-time.Minute), ExpiresAt: at.Add(time.Hour)}
		if diff := cmp.Diff(wantTest, got); diff != "" {
			t.Errorf("SSOTest(acme, t1) before finishing (-want +got):\n%s", diff)
		}
		if _, err := s.LatestSSOTest(ctx, acme.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("LatestSSOTest before any finished = %v, want ErrNotFound", err)
		}
		seq := feedSeq(t, s)
		fin, err := s.FinishSSOTest(ctx, acme.ID, "t1", true, []byte(`{"ok":true}`))
		if err != nil {
			t.Fatalf("FinishSSOTest = %v", err)
		}
		wantTest.FinishedAt, wantTest.OK, wantTest.Outcome = at, true, []byte(`{"ok":true}`)
		if diff := cmp.Diff(wantTest, fin); diff != "" {
			t.Errorf("FinishSSOTest returned (-want +got):\n%s", diff)
		}
		conn, err := s.Connection(ctx, acme.ID)
		if err != nil {
			t.Fatal(err)
		}
		if conn.State != storage.ConnectionTested || !conn.TestedAt.Equal(at) || conn.Version != c.Version+1 {
			t.Errorf("connection after a good test = %s, tested at %v, version %d; want tested, %v, %d",
				conn.State, conn.TestedAt, conn.Version, at, c.Version+1)
		}
		if diff := cmp.Diff(storage.Changes{Orgs: []int64{acme.ID}}, changesAfter(t, s, seq), cmpChanges); diff != "" {
			t.Errorf("feed after a good test (-want +got):\n%s", diff)
		}
		latest, err := s.LatestSSOTest(ctx, acme.ID)
		if err != nil || latest.ID != "t1" {
			t.Errorf("LatestSSOTest = %+v, %v; want t1", latest, err)
		}

		_, err = s.FinishSSOTest(ctx, acme.ID, "t1", false, []byte(`{"ok":false}`))
		if !errors.Is(err, storage.ErrConflict) {
			t.Fatalf("second FinishSSOTest = %v, want ErrConflict", err)
		}
		again, err := s.SSOTest(ctx, acme.ID, "t1")
		if err != nil || !again.OK || string(again.Outcome) != `{"ok":true}` {
			t.Errorf("SSOTest after a second finish = %+v, %v; want the first outcome kept", again, err)
		}
	})

	t.Run("failed test keeps the draft", func(t *testing.T) {
		s, acme, _, c := setup(t)
		fin, err := s.FinishSSOTest(ctx, acme.ID, "t1", false, []byte(`{"error":"x"}`))
		if err != nil || fin.OK || fin.FinishedAt.IsZero() {
			t.Fatalf("FinishSSOTest(failed) = %+v, %v", fin, err)
		}
		conn, _ := s.Connection(ctx, acme.ID)
		if conn.State != storage.ConnectionDraft || !conn.TestedAt.IsZero() || conn.Version != c.Version {
			t.Errorf("connection after a failed test = %+v; want the draft untouched", conn)
		}
	})

	t.Run("ok after the connection moved keeps the draft", func(t *testing.T) {
		s, acme, _, c := setup(t)
		moved := mustModifyConnection(t, s, acme.ID, func(c *storage.Connection) { c.IDPIssuer = "https://idp2.acme" })
		if _, err := s.FinishSSOTest(ctx, acme.ID, "t1", true, nil); err != nil {
			t.Fatal(err)
		}
		conn, _ := s.Connection(ctx, acme.ID)
		if conn.State != storage.ConnectionDraft || !conn.TestedAt.IsZero() || conn.Version != moved.Version {
			t.Errorf("connection after a good test of version %d (now %d) = %s, tested at %v, version %d; want the draft untouched",
				c.Version, moved.Version, conn.State, conn.TestedAt, conn.Version)
		}
	})

	t.Run("ok while enabled keeps it enabled", func(t *testing.T) {
		s, acme, _, _ := setup(t)
		en := mustModifyConnection(t, s, acme.ID, func(c *storage.Connection) { c.State = storage.ConnectionEnabled })
		if err := s.CreateSSOTest(ctx, storage.SSOTest{ID: "t2", OrgID: acme.ID, ConnectionVersion: en.Version,
			CreatedAt: at, ExpiresAt: at.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.FinishSSOTest(ctx, acme.ID, "t2", true, nil); err != nil {
			t.Fatal(err)
		}
		conn, _ := s.Connection(ctx, acme.ID)
		if conn.State != storage.ConnectionEnabled {
			t.Errorf("connection after a good test while enabled = %s, want enabled", conn.State)
		}
	})

	t.Run("another org's test is not found", func(t *testing.T) {
		s, acme, globex, _ := setup(t)
		if _, err := s.SSOTest(ctx, globex.ID, "t1"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("SSOTest(globex, acme's test) = %v, want ErrNotFound", err)
		}
		if _, err := s.FinishSSOTest(ctx, globex.ID, "t1", true, nil); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("FinishSSOTest(globex, acme's test) = %v, want ErrNotFound", err)
		}
		if _, err := s.LatestSSOTest(ctx, globex.ID); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("LatestSSOTest(globex) = %v, want ErrNotFound", err)
		}
		got, err := s.SSOTest(ctx, acme.ID, "t1")
		if err != nil || !got.FinishedAt.IsZero() {
			t.Errorf("acme's test after globex's attempts = %+v, %v; want it unfinished", got, err)
		}
		conn, _ := s.Connection(ctx, acme.ID)
		if conn.State != storage.ConnectionDraft {
			t.Errorf("acme's connection = %s, want draft", conn.State)
		}
	})

	t.Run("duplicate ID", func(t *testing.T) {
		s, _, globex, _ := setup(t)
		err := s.CreateSSOTest(ctx, storage.SSOTest{ID: "t1", OrgID: globex.ID, CreatedAt: at, ExpiresAt: at})
		if !errors.Is(err, storage.ErrConflict) {
			t.Errorf("CreateSSOTest with an ID in use = %v, want ErrConflict", err)
		}
	})
}

func countSSOTests(t *testing.T, be Backend, s storage.Store, orgID int64) int {
	t.Helper()
	var n int
	if err := be.SQL(s).QueryRowContext(context.Background(), "SELECT COUNT(*) FROM sso_tests WHERE org_id = ?", orgID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func testCreateSSOTestKeepsRecentOnes(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	globex := mustOrg(t, s, "globex")
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		if err := s.CreateSSOTest(ctx, storage.SSOTest{ID: fmt.Sprint("g", i), OrgID: globex.ID,
			CreatedAt: base, ExpiresAt: base.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 25 {
		if err := s.CreateSSOTest(ctx, storage.SSOTest{ID: fmt.Sprint("a", i), OrgID: acme.ID,
			CreatedAt: base.Add(time.Duration(i) * time.Second), ExpiresAt: base.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := countSSOTests(t, be, s, globex.ID); n != 3 {
		t.Errorf("globex has %d tests after acme made 25, want its 3", n)
	}
	// The newest test (the one an admin is running) always stays.
	if _, err := s.SSOTest(ctx, acme.ID, "a24"); err != nil {
		t.Errorf("SSOTest(newest) = %v", err)
	}
	if _, err := s.SSOTest(ctx, acme.ID, "a0"); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("SSOTest(oldest of 25) = %v, want ErrNotFound", err)
	}
	n := countSSOTests(t, be, s, acme.ID)
	if n > 21 || n < 20 {
		t.Errorf("acme has %d tests after 25, want about 20", n)
	}
}

func testCreateSSOTestKeepsAtMost20(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	base := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 25 {
		if err := s.CreateSSOTest(ctx, storage.SSOTest{ID: fmt.Sprint("a", i), OrgID: acme.ID,
			CreatedAt: base.Add(time.Duration(i) * time.Second), ExpiresAt: base.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if n := countSSOTests(t, be, s, acme.ID); n != 20 {
		t.Errorf("acme has %d tests after 25, want 20", n)
	}
}

// TestChangeFeedNamesOrgs: every write that changes what the registry
// holds of an org puts the org on the feed; team role changes put the
// team's members on it.
func testChangeFeedNamesOrgs(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	jo := mustMember(t, s, acme.ID, "jo@acme.com", storage.RoleMember)
	ann := mustMember(t, s, acme.ID, "ann@acme.com", storage.RoleMember)
	mustMember(t, s, acme.ID, "pat@acme.com", storage.RoleMember) // in no team
	team, err := s.CreateTeam(ctx, acme.ID, "Eng", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTeam(ctx, acme.ID, team.ID, func(tm *storage.Team) error {
		tm.MemberIDs = []string{jo.ID, ann.ID}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	empty, err := s.CreateTeam(ctx, acme.ID, "Empty", "")
	if err != nil {
		t.Fatal(err)
	}
	var newOrg storage.Org
	members := sortedIDs(jo.ID, ann.ID)

	for _, step := range []struct {
		name  string
		write func() error
		want  func() storage.Changes
	}{
		{"CreateOrg", func() (err error) {
			newOrg, err = s.CreateOrg(ctx, "initech")
			return err
		}, func() storage.Changes { return storage.Changes{Orgs: []int64{newOrg.ID}} }},
		{"EnsureOrg of a new org", func() (err error) {
			newOrg, err = s.EnsureOrg(ctx, "hooli", true)
			return err
		}, func() storage.Changes { return storage.Changes{Orgs: []int64{newOrg.ID}} }},
		{"connection inserted", func() error {
			_, err := s.ModifyConnection(ctx, acme.ID, func(c *storage.Connection) error { c.IDPIssuer = "x"; return nil })
			return err
		}, func() storage.Changes { return storage.Changes{Orgs: []int64{acme.ID}} }},
		{"connection updated", func() error {
			_, err := s.ModifyConnection(ctx, acme.ID, func(c *storage.Connection) error { c.IDPManagedAccess = true; return nil })
			return err
		}, func() storage.Changes { return storage.Changes{Orgs: []int64{acme.ID}} }},
		{"domain claimed", func() error {
			_, err := s.ClaimDomain(ctx, acme.ID, "acme.com", "txt")
			return err
		}, func() storage.Changes { return storage.Changes{Orgs: []int64{acme.ID}} }},
		{"domain verified", func() error {
			_, err := s.MarkDomainVerified(ctx, acme.ID, "acme.com")
			return err
		}, func() storage.Changes { return storage.Changes{Orgs: []int64{acme.ID}} }},
		{"domain removed", func() error {
			return s.RemoveDomain(ctx, acme.ID, "acme.com")
		}, func() storage.Changes { return storage.Changes{Orgs: []int64{acme.ID}} }},
		{"config domains synced", func() error {
			return s.SyncConfigDomains(ctx, acme.ID, []string{"acme.org"})
		}, func() storage.Changes { return storage.Changes{Orgs: []int64{acme.ID}} }},
		{"team role set", func() error {
			_, err := s.SetTeamRole(ctx, acme.ID, team.ID, storage.RoleAdmin)
			return err
		}, func() storage.Changes { return storage.Changes{Members: members} }},
		{"team role set to the same", func() error {
			_, err := s.SetTeamRole(ctx, acme.ID, team.ID, storage.RoleAdmin)
			return err
		}, func() storage.Changes { return storage.Changes{} }},
		{"team role of a team without members", func() error {
			_, err := s.SetTeamRole(ctx, acme.ID, empty.ID, storage.RoleAdmin)
			return err
		}, func() storage.Changes { return storage.Changes{} }},
		{"team role cleared", func() error {
			_, err := s.SetTeamRole(ctx, acme.ID, team.ID, "")
			return err
		}, func() storage.Changes { return storage.Changes{Members: members} }},
		{"team deleted", func() error {
			return s.DeleteTeam(ctx, acme.ID, team.ID)
		}, func() storage.Changes { return storage.Changes{Members: members} }},
	} {
		seq := feedSeq(t, s)
		if err := step.write(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if diff := cmp.Diff(step.want(), changesAfter(t, s, seq), cmpChanges); diff != "" {
			t.Errorf("ChangesSince after %s (-want +got):\n%s", step.name, diff)
		}
	}
	seq := feedSeq(t, s)
	if ch, last, err := s.ChangesSince(ctx, seq); err != nil || !ch.Empty() || last != seq {
		t.Errorf("ChangesSince(newest) = %+v, %d, %v; want nothing, %d", ch, last, err, seq)
	}
}

// TestOnChangeRunsForOrgWrites: writes that change what the tenant
// registry holds tell this process at once, not only at the next poll.
func testOnChangeRunsForOrgWrites(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	calls := 0
	s.OnChange(func() { calls++ })
	acme := mustOrg(t, s, "acme")
	for _, step := range []struct {
		name  string
		write func() error
	}{
		{"CreateOrg", func() error { _, err := s.CreateOrg(ctx, "globex"); return err }},
		{"ModifyConnection", func() error {
			_, err := s.ModifyConnection(ctx, acme.ID, func(c *storage.Connection) error { c.IDPIssuer = "x"; return nil })
			return err
		}},
		{"SyncConfigDomains", func() error { return s.SyncConfigDomains(ctx, acme.ID, []string{"acme.com"}) }},
		{"MarkDomainVerified", func() error {
			if _, err := s.ClaimDomain(ctx, acme.ID, "acme.org", "t"); err != nil {
				return err
			}
			_, err := s.MarkDomainVerified(ctx, acme.ID, "acme.org")
			return err
		}},
		{"RemoveDomain", func() error { return s.RemoveDomain(ctx, acme.ID, "acme.org") }},
	} {
		before := calls
		if err := step.write(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if calls == before {
			t.Errorf("%s did not run the OnChange callbacks", step.name)
		}
	}
}

// twoOrgAccount makes jo@acme.com a member of acme (first) and of globex.
func twoOrgAccount(t *testing.T, be Backend, s storage.Store) (acme, globex storage.Org, inAcme, inGlobex storage.Member) {
	t.Helper()
	acme = mustOrg(t, s, "acme")
	globex = mustOrg(t, s, "globex")
	ctx := context.Background()
	// Created a second apart, so that "oldest first" has one answer
	// (created_at counts seconds).
	now := time.Now()
	be.SetClock(s, func() time.Time { return now.Add(-time.Second) })
	defer be.SetClock(s, time.Now)
	var err error
	inAcme, err = s.CreateMember(ctx, acme.ID, storage.NewMember{Email: "Jo@acme.com", GivenName: "Jo", FamilyName: "Acme",
		Role: storage.RoleMember, Active: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	be.SetClock(s, func() time.Time { return now })
	inGlobex, err = s.CreateMember(ctx, globex.ID, storage.NewMember{Email: "jo@acme.com", GivenName: "Joanna", FamilyName: "Globex",
		Role: storage.RoleOwner, Active: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	if inAcme.AccountID != inGlobex.AccountID {
		t.Fatalf("the two memberships have accounts %d and %d, want one account", inAcme.AccountID, inGlobex.AccountID)
	}
	return acme, globex, inAcme, inGlobex
}

func testSharedAccountEmailIsRefused(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme, globex, inAcme, inGlobex := twoOrgAccount(t, be, s)

	for _, tc := range []struct {
		name string
		org  int64
		m    storage.Member
	}{
		{"from acme", acme.ID, inAcme},
		{"from globex", globex.ID, inGlobex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			m.Email = "jo.new@acme.com"
			m.GivenName = "Changed"
			_, err := s.UpdateMember(ctx, tc.org, m)
			if !errors.Is(err, storage.ErrSharedAccount) || !errors.Is(err, storage.ErrConflict) {
				t.Fatalf("UpdateMember(%q) = %v, want ErrSharedAccount matching ErrConflict", m.Email, err)
			}
			_, err = s.ModifyMember(ctx, tc.org, m.ID, func(mm *storage.Member) error {
				mm.Email = "jo.new@acme.com"
				return nil
			})
			if !errors.Is(err, storage.ErrSharedAccount) {
				t.Fatalf("ModifyMember(email %q) = %v, want ErrSharedAccount", m.Email, err)
			}
			if got, err := s.Memberships(ctx, "jo@acme.com"); err != nil || len(got) != 2 {
				t.Fatalf("Memberships(jo@acme.com) = %d, %v; want both kept", len(got), err)
			}
			for _, org := range []int64{acme.ID, globex.ID} {
				if mm, err := s.MemberByEmail(ctx, org, "jo.new@acme.com"); !errors.Is(err, storage.ErrNotFound) {
					t.Errorf("MemberByEmail(%d, new email) = %+v, %v; want ErrNotFound", org, mm, err)
				}
			}
			got, _ := s.MemberByID(ctx, tc.org, m.ID)
			if got.GivenName == "Changed" {
				t.Errorf("refused UpdateMember wrote the names: %+v", got)
			}
		})
	}

	t.Run("names change per membership", func(t *testing.T) {
		m := inAcme
		m.GivenName, m.FamilyName, m.DisplayName = "Joe", "Acme-Smith", "Joe A."
		got, err := s.UpdateMember(ctx, acme.ID, m)
		if err != nil {
			t.Fatalf("UpdateMember(names) = %v", err)
		}
		if got.GivenName != "Joe" || got.Email != inAcme.Email {
			t.Errorf("UpdateMember(names) = %+v", got)
		}
		other, err := s.MemberByID(ctx, globex.ID, inGlobex.ID)
		if err != nil {
			t.Fatal(err)
		}
		if other.GivenName != "Joanna" || other.FamilyName != "Globex" {
			t.Errorf("globex's membership = %q %q after acme renamed its own; want Joanna Globex", other.GivenName, other.FamilyName)
		}
		// The same email, spelled as stored, is no change.
		m.Email = inAcme.Email
		if _, err := s.UpdateMember(ctx, acme.ID, m); err != nil {
			t.Errorf("UpdateMember(same email) = %v", err)
		}
	})

	t.Run("an account in one org changes its email", func(t *testing.T) {
		initech := mustOrg(t, s, "initech")
		solo := mustMember(t, s, initech.ID, "solo@initech.com", storage.RoleMember)
		solo.Email = "solo.new@initech.com"
		got, err := s.UpdateMember(ctx, initech.ID, solo)
		if err != nil || got.Email != "solo.new@initech.com" {
			t.Fatalf("UpdateMember(new email) = %+v, %v", got, err)
		}
		if ms, err := s.Memberships(ctx, "solo.new@initech.com"); err != nil || len(ms) != 1 {
			t.Errorf("Memberships(new email) = %+v, %v", ms, err)
		}
		if ok, _ := s.AccountExists(ctx, "solo@initech.com"); ok {
			t.Error("the old email still names an account")
		}
		// Taking another account's email is a plain conflict.
		got.Email = "jo@acme.com"
		if _, err := s.UpdateMember(ctx, initech.ID, got); !errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrSharedAccount) {
			t.Errorf("UpdateMember(taken email) = %v, want ErrConflict (not ErrSharedAccount)", err)
		}
	})
}

// TestSharedAccountCaseOnlyEmail: the store compares emails without case
// (accounts.email is COLLATE NOCASE, MemberByEmail ignores case), and the
// SCIM server sees a case-only userName as no change; a SCIM client of the
// second org that spells the shared address in another case must still be
// able to deactivate its member.
func testSharedAccountCaseOnlyEmail(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	_, globex, _, inGlobex := twoOrgAccount(t, be, s) // stored as Jo@acme.com
	got, err := s.ModifyMember(ctx, globex.ID, inGlobex.ID, func(m *storage.Member) error {
		m.Email = "jo@acme.com"
		m.Active = false
		return nil
	})
	if err != nil {
		t.Fatalf("ModifyMember(globex, case-only email, deactivate) = %v, want nil", err)
	}
	if got.Active {
		t.Errorf("ModifyMember(deactivate) = %+v, want inactive", got)
	}
}

func testSetRoleKeepsAnOwner(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	globex := mustOrg(t, s, "globex")
	a := mustMember(t, s, acme.ID, "a@acme.com", storage.RoleOwner)
	b := mustMember(t, s, acme.ID, "b@acme.com", storage.RoleOwner)
	mustMember(t, s, globex.ID, "g@globex.com", storage.RoleOwner) // another org's owner counts for nothing here

	steps := []struct {
		id      string
		role    storage.Role
		wantErr error
	}{
		{a.ID, storage.RoleAdmin, nil},                   // two owners: one may go
		{b.ID, storage.RoleMember, storage.ErrLastOwner}, // the last may not
		{b.ID, storage.RoleAdmin, storage.ErrLastOwner},
		{b.ID, storage.RoleOwner, nil},  // the last owner stays owner
		{a.ID, storage.RoleOwner, nil},  // promote
		{b.ID, storage.RoleMember, nil}, // then the other may go
		{a.ID, storage.RoleMember, storage.ErrLastOwner},
	}
	for i, st := range steps {
		got, err := s.SetRole(ctx, acme.ID, st.id, st.role)
		if !errors.Is(err, st.wantErr) {
			t.Fatalf("step %d: SetRole(%s) = %v, want %v", i, st.role, err, st.wantErr)
		}
		if st.wantErr != nil {
			if !errors.Is(err, storage.ErrConflict) {
				t.Errorf("step %d: %v does not match ErrConflict", i, err)
			}
			cur, _ := s.MemberByID(ctx, acme.ID, st.id)
			if cur.Role != storage.RoleOwner {
				t.Errorf("step %d: refused SetRole left role %s, want owner", i, cur.Role)
			}
			continue
		}
		if got.Role != st.role {
			t.Errorf("step %d: SetRole(%s) = role %s", i, st.role, got.Role)
		}
	}
	if _, err := s.SetRole(ctx, globex.ID, a.ID, storage.RoleMember); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("SetRole(globex, acme's member) = %v, want ErrNotFound", err)
	}
}

// TestSetRoleConcurrentDemotions: two owners demoting each other at once
// cannot both succeed.
func testSetRoleConcurrentDemotions(t *testing.T, be Backend) {
	ctx := context.Background()
	for i := range 5 {
		s := be.Open(t)
		acme := mustOrg(t, s, fmt.Sprint("acme", i))
		a := mustMember(t, s, acme.ID, "a@acme.com", storage.RoleOwner)
		b := mustMember(t, s, acme.ID, "b@acme.com", storage.RoleOwner)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for j, id := range []string{a.ID, b.ID} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[j] = s.SetRole(ctx, acme.ID, id, storage.RoleMember)
			}()
		}
		wg.Wait()
		refused := 0
		for _, err := range errs {
			switch {
			case errors.Is(err, storage.ErrLastOwner):
				refused++
			case err != nil:
				t.Fatal(err)
			}
		}
		if refused != 1 {
			t.Fatalf("two concurrent demotions of the two owners: %v; want exactly one refused", errs)
		}
	}
}

func testIdentityEffectiveRole(t *testing.T, be Backend) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		own   storage.Role
		teams []storage.Role
		want  storage.Role
	}{
		{"member alone", storage.RoleMember, nil, storage.RoleMember},
		{"member in an admin team", storage.RoleMember, []storage.Role{storage.RoleAdmin}, storage.RoleAdmin},
		{"admin in a member team", storage.RoleAdmin, []storage.Role{storage.RoleMember}, storage.RoleAdmin},
		{"member in a team granting nothing", storage.RoleMember, []storage.Role{""}, storage.RoleMember},
		{"member in a member and an admin team", storage.RoleMember, []storage.Role{storage.RoleMember, storage.RoleAdmin}, storage.RoleAdmin},
		{"owner in an admin team", storage.RoleOwner, []storage.Role{storage.RoleAdmin}, storage.RoleOwner},
		{"owner in a member team", storage.RoleOwner, []storage.Role{storage.RoleMember}, storage.RoleOwner},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := be.Open(t)
			acme := mustOrg(t, s, "acme")
			m := mustMember(t, s, acme.ID, "jo@acme.com", tc.own)
			var names []string
			for i, role := range tc.teams {
				name := fmt.Sprint("team", i)
				names = append(names, name)
				team, err := s.CreateTeam(ctx, acme.ID, name, "")
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.UpdateTeam(ctx, acme.ID, team.ID, func(tm *storage.Team) error {
					tm.MemberIDs = []string{m.ID}
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				got, err := s.SetTeamRole(ctx, acme.ID, team.ID, role)
				if err != nil || got.Role != role {
					t.Fatalf("SetTeamRole(%q) = %+v, %v", role, got, err)
				}
			}
			id, err := s.Identity(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			if id.Role != tc.want || id.OrgID != acme.ID || id.OrgName != "acme" {
				t.Errorf("Identity(%s with teams %q) = role %s, org %d %q; want %s, %d acme",
					tc.own, tc.teams, id.Role, id.OrgID, id.OrgName, tc.want, acme.ID)
			}
			if diff := cmp.Diff(names, id.Teams, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Identity teams (-want +got):\n%s", diff)
			}
			// The member's own role is unchanged: a team grants, it does
			// not write.
			if got, _ := s.MemberByID(ctx, acme.ID, m.ID); got.Role != tc.own {
				t.Errorf("MemberByID role = %s, want %s", got.Role, tc.own)
			}
		})
	}
}

func testSetTeamRole(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	globex := mustOrg(t, s, "globex")
	team, err := s.CreateTeam(ctx, acme.ID, "Eng", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetTeamRole(ctx, acme.ID, team.ID, storage.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	seq := feedSeq(t, s)
	for _, tc := range []struct {
		name string
		org  int64
		id   string
		role storage.Role
		want error
	}{
		{"owner", acme.ID, team.ID, storage.RoleOwner, storage.ErrConflict},
		{"unknown role", acme.ID, team.ID, "superuser", nil},
		{"another org's team", globex.ID, team.ID, storage.RoleMember, storage.ErrNotFound},
		{"no such team", acme.ID, "nope", storage.RoleMember, storage.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.SetTeamRole(ctx, tc.org, tc.id, tc.role)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("SetTeamRole(%q) = %v, want an error matching %v (nil: any)", tc.role, err, tc.want)
			}
			got, err := s.TeamByID(ctx, acme.ID, team.ID)
			if err != nil || got.Role != storage.RoleAdmin {
				t.Errorf("team after a refused SetTeamRole = %+v, %v; want role admin", got, err)
			}
		})
	}
	if ch := changesAfter(t, s, seq); !ch.Empty() {
		t.Errorf("feed after refused SetTeamRole calls = %+v, want nothing", ch)
	}
	// A team role survives renames and membership changes (UpdateTeam
	// does not touch it).
	got, err := s.UpdateTeam(ctx, acme.ID, team.ID, func(tm *storage.Team) error { tm.Name = "Engineering"; return nil })
	if err != nil || got.Role != storage.RoleAdmin {
		t.Errorf("UpdateTeam(rename) = %+v, %v; want the admin role kept", got, err)
	}
}

func testMembershipsAcrossOrgs(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme, globex, inAcme, inGlobex := twoOrgAccount(t, be, s)
	initech := mustOrg(t, s, "initech")
	mustMember(t, s, initech.ID, "someone@initech.com", storage.RoleMember)

	for _, email := range []string{"jo@acme.com", "JO@ACME.COM", "Jo@acme.com"} {
		got, err := s.Memberships(ctx, email)
		if err != nil {
			t.Fatal(err)
		}
		var orgs []int64
		var ids []string
		for _, m := range got {
			orgs = append(orgs, m.OrgID)
			ids = append(ids, m.ID)
		}
		if diff := cmp.Diff([]int64{acme.ID, globex.ID}, orgs); diff != "" {
			t.Errorf("Memberships(%q) orgs, oldest first (-want +got):\n%s", email, diff)
		}
		if diff := cmp.Diff([]string{inAcme.ID, inGlobex.ID}, ids); diff != "" {
			t.Errorf("Memberships(%q) IDs (-want +got):\n%s", email, diff)
		}
	}
	got, err := s.Memberships(ctx, "nobody@acme.com")
	if err != nil || len(got) != 0 {
		t.Errorf("Memberships(unknown) = %+v, %v; want none", got, err)
	}
}

func testTouchTokenNeverMovesBack(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	tok, err := s.CreateToken(ctx, acme.ID, "okta", storage.ScopeSCIM, []byte("hash-1"))
	if err != nil {
		t.Fatal(err)
	}
	if !tok.LastUsedAt.IsZero() {
		t.Fatalf("a new token was last used at %v, want never", tok.LastUsedAt)
	}
	for _, step := range []struct{ at, want int64 }{
		{2000, 2000},
		{1000, 2000}, // a process reporting late
		{2000, 2000},
		{3000, 3000},
	} {
		if err := s.TouchToken(ctx, tok.ID, step.at); err != nil {
			t.Fatal(err)
		}
		got, err := s.TokenByHash(ctx, []byte("hash-1"))
		if err != nil {
			t.Fatal(err)
		}
		if got.LastUsedAt.Unix() != step.want {
			t.Errorf("after TouchToken(%d): LastUsedAt = %d, want %d", step.at, got.LastUsedAt.Unix(), step.want)
		}
	}
	if err := s.TouchToken(ctx, "tok_unknown", 5000); err != nil {
		t.Errorf("TouchToken(unknown) = %v, want nil (a revoked token's last use is nothing to record)", err)
	}
}

func testOrgByID(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	got, err := s.OrgByID(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(acme, got); diff != "" {
		t.Errorf("OrgByID(%d) (-want +got):\n%s", acme.ID, diff)
	}
	for _, id := range []int64{0, -1, acme.ID + 1} {
		if _, err := s.OrgByID(ctx, id); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("OrgByID(%d) = %v, want ErrNotFound", id, err)
		}
	}
}

func testListVerifiedDomains(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	globex := mustOrg(t, s, "globex")
	if err := s.SyncConfigDomains(ctx, acme.ID, []string{"Acme.com"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"globex.com", "pending.example"} {
		if _, err := s.ClaimDomain(ctx, globex.ID, d, "txt"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.MarkDomainVerified(ctx, globex.ID, "globex.com"); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListVerifiedDomains(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []storage.VerifiedDomain{{Name: "acme.com", OrgID: acme.ID}, {Name: "globex.com", OrgID: globex.ID}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ListVerifiedDomains() (-want +got):\n%s", diff)
	}
}

func testSettings(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	if _, err := s.Setting(ctx, "gate_url:acme"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Setting(unset) = %v, want ErrNotFound", err)
	}
	for _, v := range []string{"https://a.example/sso", "https://b.example/sso", ""} {
		if err := s.PutSetting(ctx, "gate_url:acme", []byte(v)); err != nil {
			t.Fatal(err)
		}
		got, err := s.Setting(ctx, "gate_url:acme")
		if err != nil || string(got) != v {
			t.Errorf("Setting after PutSetting(%q) = %q, %v", v, got, err)
		}
	}
	// EnsureSetting keeps what PutSetting stored.
	if err := s.PutSetting(ctx, "k", []byte("put")); err != nil {
		t.Fatal(err)
	}
	if got, err := s.EnsureSetting(ctx, "k", []byte("ensure")); err != nil || string(got) != "put" {
		t.Errorf("EnsureSetting after PutSetting = %q, %v; want put", got, err)
	}
}

// TestSetRoleDeactivatedOwnerDoesNotCount: an org whose other owner is
// deactivated has one owner who can sign in; that one stays owner.
func testSetRoleDeactivatedOwnerDoesNotCount(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	a := mustMember(t, s, acme.ID, "a@acme.com", storage.RoleOwner)
	b := mustMember(t, s, acme.ID, "b@acme.com", storage.RoleOwner)
	if _, err := s.SetActive(ctx, acme.ID, b.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetRole(ctx, acme.ID, a.ID, storage.RoleMember); !errors.Is(err, storage.ErrLastOwner) {
		t.Fatalf("SetRole(the last active owner, member) = %v, want ErrLastOwner", err)
	}
	if _, err := s.SetActive(ctx, acme.ID, b.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetRole(ctx, acme.ID, a.ID, storage.RoleMember); err != nil {
		t.Fatalf("SetRole(one of two active owners, member) = %v, want nil", err)
	}
}
