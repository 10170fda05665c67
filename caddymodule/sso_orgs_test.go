package caddymodule

import (
	"context"
	"crypto/x509"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/testidp"
)

// addOrgs puts n orgs in the fixture's store (org-0000, org-0001, …) and
// reloads the registry.
func addOrgs(tb testing.TB, h *SSOHandler, n int) {
	tb.Helper()
	idp, err := testidp.New("https://idp.example")
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		addOrg(tb, h, fmt.Sprintf("org-%04d", i), idp)
	}
	if err := h.registry.Load(context.Background()); err != nil {
		tb.Fatal(err)
	}
}

// addOrg puts an org in the store with an enabled connection to its own
// IdP values and a verified domain, <name>.example.
func addOrg(tb testing.TB, h *SSOHandler, name string, idp *testidp.IdP) {
	tb.Helper()
	ctx := context.Background()
	org, err := h.store.CreateOrg(ctx, name)
	if err != nil {
		tb.Fatal(err)
	}
	if err := h.store.SyncConfigDomains(ctx, org.ID, []string{name + ".example"}); err != nil {
		tb.Fatal(err)
	}
	if _, err := h.store.ModifyConnection(ctx, org.ID, func(c *storage.Connection) error {
		c.IDPSSOURL, c.IDPIssuer = "https://idp.example/"+name+"/sso", "https://idp.example/"+name
		c.IDPCertificates = encodeCertificates([]*x509.Certificate{idp.Cert})
		c.State = storage.ConnectionEnabled
		return nil
	}); err != nil {
		tb.Fatal(err)
	}
}

// sharedGate turns the fixture's pinned gate into a shared one.
func sharedGate(h *SSOHandler) {
	h.shared, h.org, h.Org = true, storage.Org{}, ""
}

// TestGateOrgIsolation: a gate pinned to one org refuses another org's
// session cookie (even signed with the same key), and a shared gate passes
// it and names its org, whatever the client sent.
func TestGateOrgIsolation(t *testing.T) {
	h, aliceCookie := gateFixture(t) // alice is acme's
	addOrgs(t, h, 2)
	other := h.registry.ByName("org-0001")
	for _, tc := range []struct {
		name       string
		pin        func(*SSOHandler)
		accept     string
		wantStatus int
		wantOrg    string
	}{
		{"pinned to acme", func(*SSOHandler) {}, "application/json", http.StatusOK, "acme"},
		{"pinned to another org", func(h *SSOHandler) { h.org, h.Org = other.Org, other.Org.Name }, "application/json", http.StatusUnauthorized, ""},
		{"pinned to another org, navigation", func(h *SSOHandler) { h.org, h.Org = other.Org, other.Org.Name }, "text/html", http.StatusFound, ""},
		{"shared", sharedGate, "application/json", http.StatusOK, "acme"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := *h
			tc.pin(&g)
			var seen http.Header
			next := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
				seen = r.Header
				return nil
			})
			r := newGateRequest(aliceCookie, http.Header{"Accept": {tc.accept}, "X-Forwarded-Org": {other.Org.Name}})
			w := httptest.NewRecorder()
			if err := g.ServeHTTP(w, r, next); err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", w.Code, tc.wantStatus)
			}
			if got := seen.Get("X-Forwarded-Org"); got != tc.wantOrg {
				t.Fatalf("the app saw X-Forwarded-Org %q, want %q", got, tc.wantOrg)
			}
		})
	}
}

// BenchmarkGateOrgs is the gate's per-request cost with 1 and with 1,000
// orgs in the store, for a gate pinned to one org and for a shared gate:
// the same, since the request path reads no registry and no store.
func BenchmarkGateOrgs(b *testing.B) {
	for _, shared := range []bool{false, true} {
		for _, n := range []int{1, 1000} {
			mode := "pinned"
			if shared {
				mode = "shared"
			}
			b.Run(fmt.Sprintf("%s/orgs=%d", mode, n), func(b *testing.B) {
				h, cookie := gateFixture(b)
				addOrgs(b, h, n-1) // with acme, n orgs
				if h.registry.Len() != n {
					b.Fatalf("%d orgs in the registry, want %d", h.registry.Len(), n)
				}
				if shared {
					sharedGate(h)
				}
				next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
				r := newGateRequest(cookie, http.Header{"Accept": {"text/html"}, "User-Agent": {"bench"}})
				benchGate(b, h, r, next)
			})
		}
	}
}

// BenchmarkDiscovery is home-realm discovery with 1,000 orgs: the
// registry's lookup alone, and the whole POST /sso/login at a shared gate
// up to the redirect to the org's IdP (form, CSRF check, AuthnRequest,
// tracking cookie).
func BenchmarkDiscovery(b *testing.B) {
	h, _ := gateFixture(b)
	addOrgs(b, h, 1000)
	sharedGate(h)
	key := make([]byte, 64)
	h.csrfKey = gate.DeriveKey(key, "ssogate csrf")
	h.csrfCookieKey = gate.DeriveKey(key, "ssogate csrf cookie")
	h.tracker = sso.NewTracker(gate.DeriveKey(key, "ssogate tracker hmac"), gate.DeriveKey(key, "ssogate tracker aes"))
	h.providers = newProviderCache()
	h.spBase = sso.Config{AllowIDPInitiated: true, ClockSkew: defaultClockSkew, ReplayCache: replayCache{h.store}}
	h.baseURL, _ = url.Parse("https://app.example")
	b.Run("registry", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if t := h.registry.Discover(fmt.Sprintf("jo@org-%04d.example", i%1000)); t == nil {
				b.Fatal("no org found")
			}
			i++
		}
	})
	b.Run("post-login", func(b *testing.B) {
		seed := strings.Repeat("s", 43)
		form := url.Values{"csrf": {h.csrfFor(seed)}, "rd": {"/reports"}}
		i := 0
		for b.Loop() {
			form.Set("email", fmt.Sprintf("jo@org-%04d.example", i%1000))
			i++
			r := httptest.NewRequest(http.MethodPost, "https://app.example/sso/login", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Cookie", csrfCookie+"="+gateCSRFCookie(h, seed))
			r.Header.Set("Origin", "https://app.example")
			w := httptest.NewRecorder()
			if err := h.serveDiscovery(w, r); err != nil {
				b.Fatal(err)
			}
			if w.Code != http.StatusFound || !strings.HasPrefix(w.Header().Get("Location"), "https://idp.example/org-") {
				b.Fatalf("POST /sso/login = %d to %q", w.Code, w.Header().Get("Location"))
			}
		}
	})
}

// TestRegistryFollowsTheStore: an org created and configured after the
// gate started is served without a reload, once the feed names it.
func TestRegistryFollowsTheStore(t *testing.T) {
	h, _ := gateFixture(t)
	sharedGate(h)
	ctx := context.Background()
	feed := newChangeFeed(h.store, h.registry, zap.NewNop())
	if err := feed.init(ctx); err != nil {
		t.Fatal(err)
	}
	idp, err := testidp.New("https://idp.example")
	if err != nil {
		t.Fatal(err)
	}
	addOrg(t, h, "late", idp)
	if h.registry.ByName("late") != nil {
		t.Fatal("the registry knew the org before the feed named it")
	}
	feed.poll(ctx)
	late := h.registry.ByName("late")
	if late == nil || !late.SSOEnabled() || h.registry.Discover("jo@late.example") != late {
		t.Fatalf("after a poll the registry has %+v; want late, enabled, discoverable", late)
	}
	if got, err := h.tenantNamed(ctx, "late"); err != nil || got != late {
		t.Fatalf("the shared gate does not serve the new org: %+v", got)
	}
}

// TestSharedGateFindsANewOrg: an org made by another process a moment ago
// is served at its endpoints before the feed names it; a name no org has
// stays unknown.
func TestSharedGateFindsANewOrg(t *testing.T) {
	h, _ := gateFixture(t)
	sharedGate(h)
	ctx := context.Background()
	idp, err := testidp.New("https://idp.example")
	if err != nil {
		t.Fatal(err)
	}
	addOrg(t, h, "fresh", idp) // the registry is not told
	if h.registry.ByName("fresh") != nil {
		t.Fatal("the registry knew the org already")
	}
	got, err := h.tenantNamed(ctx, "fresh")
	if err != nil || got == nil || got.Org.Name != "fresh" || !got.SSOEnabled() {
		t.Fatalf("tenantNamed(fresh) = %+v, %v; want the new org, enabled", got, err)
	}
	if got, err := h.tenantNamed(ctx, "nobody"); err != nil || got != nil {
		t.Fatalf("tenantNamed(nobody) = %+v, %v; want nil", got, err)
	}
	w := httptest.NewRecorder()
	if err := h.serveEndpoint(w, httptest.NewRequest(http.MethodGet, "/sso/o/nobody/metadata", nil), "/o/nobody/metadata"); err != nil || w.Code != http.StatusNotFound {
		t.Fatalf("metadata of an org nobody has = %d, %v; want 404", w.Code, err)
	}
}
