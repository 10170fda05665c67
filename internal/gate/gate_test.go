package gate

import (
	"context"
	"errors"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
)

type fixture struct {
	store  *sqlitestore.Store
	org    storage.Org
	member storage.Member
	s      *Sessions
}

func newFixture(t testing.TB, cfg Config) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "gate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	org, err := st.EnsureOrg(ctx, "acme", false)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.CreateMember(ctx, org.ID, storage.NewMember{Email: "alice@acme.com", GivenName: "Alice", FamilyName: "Archer", Active: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Key == nil {
		cfg.Key = []byte("0123456789abcdef0123456789abcdef")
	}
	if cfg.Lifetime == 0 {
		cfg.Lifetime = time.Hour
	}
	s, err := New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	st.OnChange(func() {
		// The same wiring as the Caddy app: the feed names changed members.
		ch, _, _ := st.ChangesSince(ctx, 0)
		s.Invalidate(ch.Members)
	})
	return &fixture{store: st, org: org, member: m, s: s}
}

func (f *fixture) issue(t testing.TB) string {
	t.Helper()
	ident, err := f.store.Identity(context.Background(), f.member.ID)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := f.s.Issue(context.Background(), ident, storage.MethodPassword, IdPSession{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLookup(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.issue(t)
	e, err := f.s.Lookup(context.Background(), c, f.org.ID)
	if err != nil {
		t.Fatalf("Lookup of a fresh session: %v", err)
	}
	if e.Identity.Email != "alice@acme.com" || e.Name != "Alice Archer" || e.HRole[0] != "member" || e.HOrg[0] != "acme" {
		t.Errorf("entry = %+v", e)
	}
	again, _ := f.s.Lookup(context.Background(), c, f.org.ID)
	if again != e {
		t.Error("second Lookup did not come from the cache")
	}
	for _, bad := range []string{"", "garbage", c[:len(c)-2] + "xx", string(make([]byte, 600))} {
		if _, err := f.s.Lookup(context.Background(), bad, f.org.ID); !errors.Is(err, ErrNoSession) {
			t.Errorf("Lookup(%.20q) = %v, want ErrNoSession", bad, err)
		}
	}
	// A cookie made with another key is refused.
	other := newFixture(t, Config{Key: []byte("another key another key another key!")})
	if _, err := other.s.Lookup(context.Background(), c, AnyOrg); !errors.Is(err, ErrNoSession) {
		t.Errorf("cookie under another key: %v, want ErrNoSession", err)
	}
}

func TestDeactivationEndsSessions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	c := f.issue(t)
	if _, err := f.s.Lookup(ctx, c, f.org.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.SetActive(ctx, f.org.ID, f.member.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Lookup(ctx, c, f.org.ID); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Lookup after deactivation = %v, want ErrNoSession", err)
	}
	if _, err := f.store.SetActive(ctx, f.org.ID, f.member.ID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Lookup(ctx, c, f.org.ID); !errors.Is(err, ErrNoSession) {
		t.Fatalf("Lookup after reactivation = %v; an old session must not come back", err)
	}
	if _, err := f.s.Lookup(ctx, f.issue(t), f.org.ID); err != nil {
		t.Fatalf("a new session after reactivation: %v", err)
	}
}

func TestRoleChangeShowsOnNextRequest(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	c := f.issue(t)
	if _, err := f.s.Lookup(ctx, c, f.org.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.SetRole(ctx, f.org.ID, f.member.ID, storage.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	e, err := f.s.Lookup(ctx, c, f.org.ID)
	if err != nil || e.HRole[0] != "admin" {
		t.Fatalf("after set-role, Lookup = %+v, %v; want role admin", e, err)
	}
}

func TestTimeLimits(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{Lifetime: time.Hour, Idle: 10 * time.Minute})
	now := time.Now()
	f.s.now = func() time.Time { return now }
	c := f.issue(t)
	for _, step := range []struct {
		advance time.Duration
		alive   bool
	}{
		{5 * time.Minute, true},   // within idle
		{9 * time.Minute, true},   // idle counts from the last use
		{11 * time.Minute, false}, // idle passed
	} {
		now = now.Add(step.advance)
		_, err := f.s.Lookup(ctx, c, f.org.ID)
		if (err == nil) != step.alive {
			t.Fatalf("after %s: Lookup = %v, want alive=%v", step.advance, err, step.alive)
		}
	}
	c = f.issue(t)
	for i := 0; i < 7; i++ { // used every 9 minutes, never idle, but absolute lifetime ends it
		now = now.Add(9 * time.Minute)
		_, err := f.s.Lookup(ctx, c, f.org.ID)
		if want := i < 6; (err == nil) != want {
			t.Fatalf("at %d min: Lookup = %v, want alive=%v", (i+1)*9, err, want)
		}
	}
}

func TestIssueRespectsIdPBound(t *testing.T) {
	f := newFixture(t, Config{Lifetime: 12 * time.Hour})
	ident, _ := f.store.Identity(context.Background(), f.member.ID)
	bound := time.Now().Add(time.Hour)
	_, exp, err := f.s.Issue(context.Background(), ident, storage.MethodPassword, IdPSession{NotAfter: bound})
	if err != nil || !exp.Equal(bound) {
		t.Fatalf("Issue with SessionNotOnOrAfter = %v, %v; want %v", exp, err, bound)
	}
}

func TestCacheIsBounded(t *testing.T) {
	f := newFixture(t, Config{MaxCached: 10})
	for i := 0; i < 50; i++ {
		if _, err := f.s.Lookup(context.Background(), f.issue(t), f.org.ID); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.s.Cached(); n > 10 {
		t.Fatalf("cache holds %d sessions, bound is 10", n)
	}
}

func BenchmarkLookupCached(b *testing.B) {
	f := newFixture(b, Config{})
	c := f.issue(b)
	ctx := context.Background()
	if _, err := f.s.Lookup(ctx, c, f.org.ID); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := f.s.Lookup(ctx, c, f.org.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeOnly is what a gate that decodes the cookie on every
// request would pay, for comparison.
func BenchmarkDecodeOnly(b *testing.B) {
	f := newFixture(b, Config{})
	c := f.issue(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var raw []byte
		if err := f.s.codec.Decode(CookieName, c, &raw); err != nil {
			b.Fatal(err)
		}
	}
}

func TestHeaderValuesHaveNoControlCharacters(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	m := f.member
	m.Email = ""
	m.GivenName = "Al\nice"
	if _, err := f.store.UpdateMember(ctx, f.org.ID, m); err != nil {
		t.Fatal(err)
	}
	team, _ := f.store.CreateTeam(ctx, f.org.ID, "Eng\r\nX-Forwarded-Role: owner", "")
	if _, err := f.store.UpdateTeam(ctx, f.org.ID, team.ID, func(tm *storage.Team) error {
		tm.MemberIDs = append(tm.MemberIDs, m.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e, err := f.s.Lookup(ctx, f.issue(t), f.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range [][]string{e.HName, e.HGroups} {
		for _, c := range v[0] {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("header value %q holds a control character", v[0])
			}
		}
	}
	if e.HName[0] != "Al ice Archer" {
		t.Errorf("name header = %q", e.HName[0])
	}
	if e.HGroups[0] != "Eng%0D%0AX-Forwarded-Role:%20owner" {
		t.Errorf("groups header = %q", e.HGroups[0])
	}
	// userinfo's JSON carries the name as it is.
	if want := []string{"Eng\r\nX-Forwarded-Role: owner"}; !slices.Equal(e.Identity.Teams, want) {
		t.Errorf("teams = %q, want %q", e.Identity.Teams, want)
	}
}

func TestJoinGroups(t *testing.T) {
	tests := []struct {
		teams []string
		want  string
	}{
		{nil, ""},
		{[]string{"Eng", "ops-2", "a_b.c"}, "Eng,ops-2,a_b.c"},
		{[]string{"Analysts,owners"}, "Analysts%2Cowners"},
		{[]string{"Sales, EMEA", "owners"}, "Sales%2C%20EMEA,owners"},
		{[]string{"100%"}, "100%25"},
		{[]string{"Ünïcode"}, "%C3%9Cn%C3%AFcode"},
		{[]string{"Eng\r\nX-Forwarded-Role: owner"}, "Eng%0D%0AX-Forwarded-Role:%20owner"},
		{[]string{"a+b", "R&D", "x/y;z?"}, "a+b,R&D,x%2Fy%3Bz%3F"},
	}
	for _, tt := range tests {
		got := joinGroups(tt.teams)
		if got != tt.want {
			t.Errorf("joinGroups(%q) = %q, want %q", tt.teams, got, tt.want)
		}
		// What an app does: split on commas, percent-decode each part.
		var back []string
		if got != "" {
			for _, part := range strings.Split(got, ",") {
				name, err := url.PathUnescape(part)
				if err != nil {
					t.Fatalf("decoding %q: %v", part, err)
				}
				back = append(back, name)
			}
		}
		if !slices.Equal(back, tt.teams) {
			t.Errorf("joinGroups(%q) reads back as %q", tt.teams, back)
		}
	}
}
