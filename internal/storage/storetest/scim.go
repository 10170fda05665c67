package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ssogate/ssogate/internal/storage"
)

// seedSCIM makes an org with a few members of different shapes and a
// second org whose members must never show up.
func seedSCIM(t *testing.T, s storage.Store) (orgID int64, ids map[string]string) {
	t.Helper()
	ctx := context.Background()
	acme, _ := s.EnsureOrg(ctx, "acme", false)
	other, _ := s.EnsureOrg(ctx, "other", false)
	ids = map[string]string{}
	add := func(org int64, key string, nm storage.NewMember) {
		m, err := s.CreateMember(ctx, org, nm, true)
		if err != nil {
			t.Fatal(err)
		}
		ids[key] = m.ID
	}
	add(acme.ID, "jo", storage.NewMember{Email: "Jo@Acme.com", GivenName: "Jo", FamilyName: "Smith", ExternalID: "ext-Jo", Active: true,
		Attrs: json.RawMessage(`{"emails":[{"value":"jo@acme.com","type":"work","primary":true},{"value":"jo@home.example","type":"home"}]}`)})
	add(acme.ID, "ann", storage.NewMember{Email: "ann@acme.com", GivenName: "Ann", FamilyName: "Lee", DisplayName: "Ann_Lee%", Active: false})
	add(acme.ID, "bob", storage.NewMember{Email: "bob@acme.com", GivenName: "Bob", FamilyName: "Smithers", Active: true,
		Attrs: json.RawMessage(`{"emails":["not an object",{"value":"bob@work.example","type":"Work"}]}`)})
	add(other.ID, "zed", storage.NewMember{Email: "zed@acme.com", GivenName: "Jo", FamilyName: "Smith", Active: true})
	return acme.ID, ids
}

func testFindMembers(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	org, ids := seedSCIM(t, s)
	email := func(f storage.Filter) storage.Filter { return storage.AnyEmail{Filter: f} }
	cmpf := func(f storage.Field, op storage.Op, v any) storage.Filter {
		return storage.Compare{Field: f, Op: op, Value: v}
	}
	tests := []struct {
		name   string
		filter storage.Filter
		want   []string
	}{
		{"all", nil, []string{"jo", "ann", "bob"}},
		{"userName eq ignores case", cmpf(storage.FieldEmail, storage.OpEq, "JO@acme.COM"), []string{"jo"}},
		{"userName sw", cmpf(storage.FieldEmail, storage.OpSw, "b"), []string{"bob"}},
		{"userName co", cmpf(storage.FieldEmail, storage.OpCo, "O@ACME"), []string{"jo"}},
		{"userName ew", cmpf(storage.FieldEmail, storage.OpEw, "ACME.com"), []string{"jo", "ann", "bob"}},
		{"userName ne", cmpf(storage.FieldEmail, storage.OpNe, "jo@acme.com"), []string{"ann", "bob"}},
		{"userName gt", cmpf(storage.FieldEmail, storage.OpGt, "B"), []string{"jo", "bob"}},
		{"like wildcards are literal", cmpf(storage.FieldDisplayName, storage.OpCo, "_lee%"), []string{"ann"}},
		{"underscore matches only itself", cmpf(storage.FieldDisplayName, storage.OpCo, "n_L"), []string{"ann"}},
		{"underscore is no wildcard", cmpf(storage.FieldDisplayName, storage.OpCo, "nXL"), nil},
		{"externalId is exact", cmpf(storage.FieldExternalID, storage.OpEq, "ext-jo"), nil},
		{"externalId eq", cmpf(storage.FieldExternalID, storage.OpEq, "ext-Jo"), []string{"jo"}},
		{"externalId sw exact case", cmpf(storage.FieldExternalID, storage.OpSw, "ext-J"), []string{"jo"}},
		{"externalId sw wrong case", cmpf(storage.FieldExternalID, storage.OpSw, "EXT"), nil},
		{"externalId ew", cmpf(storage.FieldExternalID, storage.OpEw, "-Jo"), []string{"jo"}},
		{"externalId co", cmpf(storage.FieldExternalID, storage.OpCo, "t-J"), []string{"jo"}},
		{"externalId pr", cmpf(storage.FieldExternalID, storage.OpPr, nil), []string{"jo"}},
		{"active eq false", cmpf(storage.FieldActive, storage.OpEq, false), []string{"ann"}},
		{"active ne false", cmpf(storage.FieldActive, storage.OpNe, false), []string{"jo", "bob"}},
		{"and", storage.And{Left: cmpf(storage.FieldFamilyName, storage.OpSw, "smith"), Right: cmpf(storage.FieldGivenName, storage.OpEq, "bob")}, []string{"bob"}},
		{"or", storage.Or{Left: cmpf(storage.FieldGivenName, storage.OpEq, "ann"), Right: cmpf(storage.FieldGivenName, storage.OpEq, "bob")}, []string{"ann", "bob"}},
		{"not", storage.Not{Filter: cmpf(storage.FieldGivenName, storage.OpEq, "ann")}, []string{"jo", "bob"}},
		{"id", cmpf(storage.FieldID, storage.OpEq, ids["bob"]), []string{"bob"}},
		{"other org's id", cmpf(storage.FieldID, storage.OpEq, ids["zed"]), nil},
		{"created before now", cmpf(storage.FieldCreated, storage.OpLe, time.Now().Add(time.Minute)), []string{"jo", "ann", "bob"}},
		{"created after now", cmpf(storage.FieldCreated, storage.OpGt, time.Now().Add(time.Minute)), nil},
		{"stored email", email(cmpf(storage.FieldEmailValue, storage.OpEq, "JO@home.example")), []string{"jo"}},
		{"implied email", email(cmpf(storage.FieldEmailValue, storage.OpEq, "ann@acme.com")), []string{"ann"}},
		{"stored list hides the account email", email(cmpf(storage.FieldEmailValue, storage.OpEq, "bob@acme.com")), nil},
		{"email type and value", email(storage.And{Left: cmpf(storage.FieldEmailType, storage.OpEq, "work"), Right: cmpf(storage.FieldEmailValue, storage.OpEq, "bob@work.example")}), []string{"bob"}},
		{"email type mismatch", email(storage.And{Left: cmpf(storage.FieldEmailType, storage.OpEq, "home"), Right: cmpf(storage.FieldEmailValue, storage.OpEq, "bob@work.example")}), nil},
		{"implied email is work and primary", email(storage.And{Left: cmpf(storage.FieldEmailType, storage.OpEq, "work"), Right: cmpf(storage.FieldEmailPrimary, storage.OpEq, true)}), []string{"jo", "ann"}},
		{"email co", email(cmpf(storage.FieldEmailValue, storage.OpCo, "example")), []string{"jo", "bob"}},
		{"email pr", email(cmpf(storage.FieldEmailValue, storage.OpPr, nil)), []string{"jo", "ann", "bob"}},
	}
	name := map[string]string{}
	for k, v := range ids {
		name[v] = k
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total, err := s.FindMembers(ctx, org, storage.Query{Filter: tt.filter, Count: -1})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, m := range got {
				names = append(names, name[m.ID])
			}
			// The order is stable but not the order of creation: members
			// made in the same second sort by ID.
			if diff := cmp.Diff(tt.want, names, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("members (-want +got):\n%s", diff)
			}
			if total != len(tt.want) {
				t.Errorf("total = %d, want %d", total, len(tt.want))
			}
		})
	}
}

func testFindMembersPaging(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	org, _ := seedSCIM(t, s)
	all, _, err := s.FindMembers(ctx, org, storage.Query{Count: -1})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		start, count int
		want         int
	}{{1, 2, 2}, {2, 2, 2}, {3, 2, 1}, {4, 2, 0}, {0, 1, 1}, {-5, 10, 3}, {1, 0, 0}} {
		got, total, err := s.FindMembers(ctx, org, storage.Query{StartIndex: tt.start, Count: tt.count})
		if err != nil {
			t.Fatal(err)
		}
		if total != 3 || len(got) != tt.want {
			t.Errorf("start %d count %d: %d of %d; want %d of 3", tt.start, tt.count, len(got), total, tt.want)
		}
		off := max(tt.start-1, 0)
		for i, m := range got {
			if m.ID != all[off+i].ID {
				t.Errorf("start %d count %d: item %d is %s, want %s (stable order)", tt.start, tt.count, i, m.ID, all[off+i].ID)
			}
		}
	}
}

func testFindMembersBadFilter(t *testing.T, be Backend) {
	s := be.Open(t)
	org, _ := seedSCIM(t, s)
	for _, f := range []storage.Filter{
		storage.Compare{Field: storage.FieldActive, Op: storage.OpGt, Value: true},
		storage.Compare{Field: storage.FieldEmail, Op: storage.OpEq, Value: 3},
		storage.Compare{Field: storage.FieldEmailValue, Op: storage.OpEq, Value: "x"},
		storage.Compare{Field: storage.FieldName, Op: storage.OpEq, Value: "x"},
		storage.AnyEmail{Filter: storage.AnyEmail{}},
		storage.Compare{Field: storage.FieldCreated, Op: storage.OpCo, Value: time.Now()},
	} {
		if _, _, err := s.FindMembers(context.Background(), org, storage.Query{Filter: f}); !errors.Is(err, storage.ErrBadFilter) {
			t.Errorf("FindMembers(%#v) = %v, want ErrBadFilter", f, err)
		}
	}
}

func testFindTeams(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	org, ids := seedSCIM(t, s)
	eng, err := s.CreateTeamWithMembers(ctx, org, "Engineering", "x1", []string{ids["jo"], ids["bob"], ids["jo"]})
	if err != nil {
		t.Fatal(err)
	}
	if len(eng.MemberIDs) != 2 {
		t.Fatalf("members = %v, want jo and bob once each", eng.MemberIDs)
	}
	if _, err := s.CreateTeamWithMembers(ctx, org, "ops", "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateTeamWithMembers(ctx, org, "ENGINEERING", "", nil); !errors.Is(err, storage.ErrConflict) {
		t.Fatalf("duplicate name: %v, want ErrConflict", err)
	}
	if _, err := s.CreateTeamWithMembers(ctx, org, "sales", "", []string{ids["ann"], ids["zed"]}); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("other org's member: %v, want ErrNotFound", err)
	}
	if got, _, _ := s.FindTeams(ctx, org, storage.Query{Filter: storage.Compare{Field: storage.FieldName, Op: storage.OpEq, Value: "sales"}}); len(got) != 0 {
		t.Fatalf("failed create left team %+v", got)
	}
	for _, tt := range []struct {
		name        string
		filter      storage.Filter
		omit        bool
		wantNames   []string
		wantMembers int
	}{
		{"name any case", storage.Compare{Field: storage.FieldName, Op: storage.OpEq, Value: "engineering"}, false, []string{"Engineering"}, 2},
		{"omit members", storage.Compare{Field: storage.FieldName, Op: storage.OpEq, Value: "engineering"}, true, []string{"Engineering"}, 0},
		{"has member", storage.Compare{Field: storage.FieldMemberID, Op: storage.OpEq, Value: ids["bob"]}, false, []string{"Engineering"}, 2},
		{"all", nil, false, []string{"Engineering", "ops"}, 2},
		{"has members", storage.Compare{Field: storage.FieldMemberID, Op: storage.OpPr}, false, []string{"Engineering"}, 2},
	} {
		got, total, err := s.FindTeams(ctx, org, storage.Query{Filter: tt.filter, Count: 10, OmitMembers: tt.omit})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var names []string
		for _, tm := range got {
			names = append(names, tm.Name)
		}
		if diff := cmp.Diff(tt.wantNames, names); diff != "" || total != len(tt.wantNames) {
			t.Errorf("%s: total %d, names (-want +got):\n%s", tt.name, total, diff)
		}
		if len(got) > 0 && len(got[0].MemberIDs) != tt.wantMembers {
			t.Errorf("%s: %d members, want %d", tt.name, len(got[0].MemberIDs), tt.wantMembers)
		}
	}
}

func testModifyMember(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	org, ids := seedSCIM(t, s)
	jo := ids["jo"]
	before, _ := s.MemberByID(ctx, org, jo)
	if err := s.CreateSession(ctx, storage.Session{ID: "s1", MemberID: jo, Epoch: before.Epoch, ExpiresAt: time.Now().Add(time.Hour).Unix()}, nil); err != nil {
		t.Fatal(err)
	}

	// An unchanged result writes nothing.
	same, err := s.ModifyMember(ctx, org, jo, func(m *storage.Member) error { return nil })
	if err != nil || same.Version != before.Version {
		t.Fatalf("no-op modify: version %d -> %d, %v", before.Version, same.Version, err)
	}
	// An error writes nothing.
	boom := errors.New("boom")
	if _, err := s.ModifyMember(ctx, org, jo, func(m *storage.Member) error { m.GivenName = "X"; return boom }); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want boom", err)
	}
	// Deactivation bumps the epoch and ends sessions.
	m, err := s.ModifyMember(ctx, org, jo, func(m *storage.Member) error { m.Active = false; return nil })
	if err != nil || m.Active || m.Epoch != before.Epoch+1 {
		t.Fatalf("deactivate: %+v, %v", m, err)
	}
	if _, err := s.SessionByID(ctx, "s1"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("session after deactivation: %v, want ErrNotFound", err)
	}
	if _, err := s.ModifyMember(ctx, org, ids["zed"], func(*storage.Member) error { return nil }); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("other org's member: %v, want ErrNotFound", err)
	}

	// Concurrent modifications are serialized: none is lost.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.ModifyMember(ctx, org, jo, func(m *storage.Member) error {
				var attrs map[string]any
				if err := json.Unmarshal(m.Attrs, &attrs); err != nil {
					return err
				}
				attrs[fmt.Sprintf("k%d", i)] = true
				m.Attrs, _ = json.Marshal(attrs)
				return nil
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	m, _ = s.MemberByID(ctx, org, jo)
	if n := strings.Count(string(m.Attrs), `"k`); n != 20 {
		t.Fatalf("attrs after 20 concurrent modifications hold %d keys, want 20: %s", n, m.Attrs)
	}
}

// TestMemberEmailsFollowAttrs checks that the email index follows writes
// of Member.Attrs, through the triggers of migration 0002.
func testMemberEmailsFollowAttrs(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	org, ids := seedSCIM(t, s)
	find := func(email string) int {
		_, n, err := s.FindMembers(ctx, org, storage.Query{Count: 10, Filter: storage.AnyEmail{
			Filter: storage.Compare{Field: storage.FieldEmailValue, Op: storage.OpEq, Value: email}}})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if find("jo@home.example") != 1 {
		t.Fatal("stored email not found")
	}
	if _, err := s.ModifyMember(ctx, org, ids["jo"], func(m *storage.Member) error {
		m.Attrs = json.RawMessage(`{"emails":[{"value":"jo.new@acme.com","type":"work"}]}`)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if find("jo@home.example") != 0 || find("jo.new@acme.com") != 1 {
		t.Fatal("the email index did not follow the update")
	}
	// Without a list, the account email stands in.
	if _, err := s.ModifyMember(ctx, org, ids["jo"], func(m *storage.Member) error { m.Attrs = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if find("jo.new@acme.com") != 0 || find("jo@acme.com") != 1 {
		t.Fatal("the implied email did not take over")
	}
	if err := s.DeleteMember(ctx, org, ids["bob"]); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := be.SQL(s).QueryRowContext(ctx, "SELECT COUNT(*) FROM member_emails WHERE member_id = ?", ids["bob"]).Scan(&n); err != nil || n != 0 {
		t.Fatalf("emails of a deleted member: %d, %v", n, err)
	}
}
