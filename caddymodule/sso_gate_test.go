package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// gateFixture is a saml_sso handler wired to a real store, without the
// SAML side, for the per-request path.
func gateFixture(tb testing.TB) (*SSOHandler, string) {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(tb.TempDir(), "gate.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	org, _ := st.EnsureOrg(ctx, "acme", false)
	m, err := st.CreateMember(ctx, org.ID, storage.NewMember{Email: "alice@acme.com", GivenName: "Alice", FamilyName: "Archer", Active: true}, true)
	if err != nil {
		tb.Fatal(err)
	}
	team, _ := st.CreateTeam(ctx, org.ID, "Eng", "")
	if _, err := st.UpdateTeam(ctx, org.ID, team.ID, func(t *storage.Team) error {
		t.MemberIDs = append(t.MemberIDs, m.ID)
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
	sessions, err := gate.New(st, gate.Config{Key: make([]byte, 32), Lifetime: time.Hour, Idle: time.Hour})
	if err != nil {
		tb.Fatal(err)
	}
	ident, _ := st.Identity(ctx, m.ID)
	cookie, _, err := sessions.Issue(ctx, ident, storage.MethodPassword, gate.IdPSession{})
	if err != nil {
		tb.Fatal(err)
	}
	reg := tenant.NewRegistry(st)
	if err := reg.Load(ctx); err != nil {
		tb.Fatal(err)
	}
	// The site's host, as the Caddyfile gives it: httptest's requests are
	// for example.com.
	hosts, err := newTrustedHosts([]string{"example.com"})
	if err != nil {
		tb.Fatal(err)
	}
	h := &SSOHandler{PathPrefix: "/sso", Org: "acme", store: st, org: org, registry: reg, sessions: sessions, hosts: hosts, logger: zap.NewNop()}
	return h, cookie
}

func newGateRequest(cookie string, extra http.Header) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/reports", nil)
	if cookie != "" {
		r.Header.Set("Cookie", "theme=dark; "+gate.CookieName+"="+cookie+"; other=1")
	}
	for k, v := range extra {
		r.Header[k] = v
	}
	repl := caddy.NewReplacer()
	return r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, repl))
}

func TestGateSetsIdentity(t *testing.T) {
	h, cookie := gateFixture(t)
	var seen *http.Request
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		seen = r
		return nil
	})
	r := newGateRequest(cookie, http.Header{
		"X-Forwarded-User":   {"ceo@acme.com"},
		"X-Forwarded-Groups": {"Admins"},
		"X_forwarded_role":   {"owner"},
		"X-Forwarded-Org":    {"other"},
	})
	if err := h.ServeHTTP(httptest.NewRecorder(), r, next); err != nil {
		t.Fatal(err)
	}
	if seen == nil {
		t.Fatal("next handler not called with a valid session")
	}
	want := map[string]string{
		"X-Forwarded-User": "alice@acme.com", "X-Forwarded-Email": "alice@acme.com",
		"X-Forwarded-Name": "Alice Archer", "X-Forwarded-Groups": "Eng",
		"X-Forwarded-Role": "member", "X-Forwarded-Org": "acme",
	}
	for k, v := range want {
		if got := seen.Header[k]; len(got) != 1 || got[0] != v {
			t.Errorf("header %s = %q, want [%q]", k, got, v)
		}
	}
	if _, ok := seen.Header["X_forwarded_role"]; ok {
		t.Error("underscore spelling of an identity header reached the app")
	}
	repl := seen.Context().Value(caddy.ReplacerCtxKey).(*caddy.Replacer)
	for k, v := range map[string]string{
		"http.auth.user.id": "alice@acme.com", "http.auth.user.email": "alice@acme.com",
		"http.auth.user.first_name": "Alice", "http.auth.user.last_name": "Archer",
		"http.auth.user.groups": "Eng", "http.auth.user.role": "member", "http.auth.user.org": "acme",
	} {
		if got, _ := repl.GetString(k); got != v {
			t.Errorf("placeholder {%s} = %q, want %q", k, got, v)
		}
	}
}

func TestGateRefusesWithoutSession(t *testing.T) {
	h, _ := gateFixture(t)
	for _, tc := range []struct {
		name, cookie, accept string
		wantStatus           int
	}{
		{"api", "", "application/json", http.StatusUnauthorized},
		{"forged cookie", "abc", "*/*", http.StatusUnauthorized},
		{"navigation", "", "text/html", http.StatusFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			called := false
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { called = true; return nil })
			r := newGateRequest(tc.cookie, http.Header{"Accept": {tc.accept}, "X-Forwarded-User": {"alice@acme.com"}})
			w := httptest.NewRecorder()
			if err := h.ServeHTTP(w, r, next); err != nil {
				t.Fatal(err)
			}
			if called || w.Code != tc.wantStatus {
				t.Fatalf("status %d, next called %v; want %d and not called", w.Code, called, tc.wantStatus)
			}
		})
	}
}

func TestCookieValue(t *testing.T) {
	for _, tc := range []struct {
		hdr  []string
		want string
	}{
		{[]string{"ssogate_session=abc"}, "abc"},
		{[]string{"a=1; ssogate_session=abc; b=2"}, "abc"},
		{[]string{"a=1", "ssogate_session=\"abc\""}, "abc"},
		{[]string{"xssogate_session=abc"}, ""},
		{[]string{"ssogate_sessionx=abc"}, ""},
		{[]string{"ssogate_session"}, ""},
		{nil, ""},
	} {
		if got := cookieValue(http.Header{"Cookie": tc.hdr}, gate.CookieName); got != tc.want {
			t.Errorf("cookieValue(%q) = %q, want %q", tc.hdr, got, tc.want)
		}
	}
}

func TestDropSessionCookie(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []string
		want []string // nil: no Cookie header left
	}{
		{"only the session", []string{"ssogate_session=abc"}, nil},
		{"first of three", []string{"ssogate_session=abc; a=1; b=2"}, []string{"a=1; b=2"}},
		{"in the middle", []string{"a=1; ssogate_session=abc; b=2"}, []string{"a=1; b=2"}},
		{"last, quoted", []string{"a=1;ssogate_session=\"abc\""}, []string{"a=1"}},
		{"split over lines (HTTP/2)", []string{"a=1", "ssogate_session=abc", "b=2"}, []string{"a=1", "b=2"}},
		{"twice", []string{"ssogate_session=old; ssogate_session=new"}, nil},
		{"look-alike names stay", []string{"xssogate_session=1; ssogate_sessionx=2"}, []string{"xssogate_session=1; ssogate_sessionx=2"}},
		{"no session", []string{"a=1; b=2"}, []string{"a=1; b=2"}},
		{"first, kept as sent", []string{"ssogate_session=abc;a=1 ;  b=2"}, []string{"a=1 ;  b=2"}},
		{"empty pairs", []string{";; ssogate_session=abc ;"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hdr := http.Header{"Cookie": slices.Clone(tc.in)}
			dropSessionCookie(hdr)
			got, ok := hdr["Cookie"]
			if tc.want == nil {
				if ok {
					t.Fatalf("Cookie = %q, want none", got)
				}
				return
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("Cookie = %q, want %q", got, tc.want)
			}
		})
	}
	// Free unless the session sits between two of the app's cookies.
	for _, tc := range []struct {
		line   string
		allocs float64
	}{
		{"ssogate_session=abc", 0},
		{"a=1; b=2", 0},
		{"ssogate_session=abc; a=1; b=2", 0},
		{"a=1; b=2; ssogate_session=abc", 0},
		{"a=1; ssogate_session=abc; b=2", 1},
	} {
		lines := make([]string, 1)
		hdr := http.Header{}
		if n := testing.AllocsPerRun(100, func() {
			lines[0] = tc.line
			hdr["Cookie"] = lines
			dropSessionCookie(hdr)
		}); n != tc.allocs {
			t.Errorf("dropSessionCookie(%q) allocates %v times, want %v", tc.line, n, tc.allocs)
		}
	}
}

// BenchmarkGate is the per-request cost of the gate with a valid session:
// strip the client's identity headers, find the cookie, check the session,
// set headers and placeholders, call the next handler.
func BenchmarkGate(b *testing.B) {
	h, cookie := gateFixture(b)
	next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	r := newGateRequest(cookie, http.Header{"Accept": {"text/html"}, "User-Agent": {"bench"}})
	benchGate(b, h, r, next)
}

// benchGate serves r through the gate in a benchmark loop. The gate
// rewrites the Cookie line before next, so each turn puts it back; every
// turn must reach next, or the loop measured a refusal.
func benchGate(b *testing.B, h *SSOHandler, r *http.Request, next caddyhttp.Handler) {
	cookieLine, original := r.Header["Cookie"], r.Header.Get("Cookie")
	passed := 0
	counted := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		passed++
		return next.ServeHTTP(w, r)
	})
	w := httptest.NewRecorder()
	b.ReportAllocs()
	b.ResetTimer()
	turns := 0
	for b.Loop() {
		turns++
		cookieLine[0] = original
		r.Header["Cookie"] = cookieLine
		if err := h.ServeHTTP(w, r, counted); err != nil {
			b.Fatal(err)
		}
	}
	if passed != turns {
		b.Fatalf("%d of %d requests passed the gate", passed, turns)
	}
}
