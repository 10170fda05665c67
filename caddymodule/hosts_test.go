package caddymodule

import (
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
)

func TestParseTrustedHost(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "App.Example.com", want: "app.example.com"},
		{in: "app.example.com:443", want: "app.example.com"},
		{in: "app.example.com:80", want: "app.example.com"},
		{in: "app.example.com:8443", want: "app.example.com:8443"},
		{in: "127.0.0.1:8080", want: "127.0.0.1:8080"},
		{in: "[::1]:9000", want: "[::1]:9000"},
		{in: "[::1]", want: "[::1]"},
		{in: "", err: "empty"},
		{in: "https://app.example.com", err: "not a host"},
		{in: "app.example.com/sso", err: "not a host"},
		{in: "*.example.com", err: "wildcard"},
		{in: "{env.HOST}", err: "not a host name"},
		{in: "app.example.com:0", err: "bad port"},
		{in: "app.example.com:http", err: "bad port"},
		{in: ":8080", err: "no host name"},
	} {
		got, err := parseTrustedHost(tc.in)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("parseTrustedHost(%q) = %q, %v; want an error saying %q", tc.in, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("parseTrustedHost(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

// TestTrustedHostLookup: the request's origin is used only when its Host
// is trusted (the default port of its scheme aside); any other Host gets
// the first trusted host's origin, never its own.
func TestTrustedHostLookup(t *testing.T) {
	hosts, err := newTrustedHosts([]string{"app.example.com", "app.example.com:8443", "127.0.0.1:8080", "[::1]:9000"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		host    string
		https   bool
		origin  string
		trusted bool
	}{
		{"app.example.com", true, "https://app.example.com", true},
		{"APP.example.COM", true, "https://app.example.com", true},
		{"app.example.com:443", true, "https://app.example.com", true},
		{"app.example.com:80", false, "http://app.example.com", true},
		{"app.example.com:8443", true, "https://app.example.com:8443", true},
		{"127.0.0.1:8080", false, "http://127.0.0.1:8080", true},
		{"[::1]:9000", false, "http://[::1]:9000", true},
		{"app.example.com:443", false, "http://app.example.com", false}, // https's port over http
		{"evil.test", true, "https://app.example.com", false},
		{"app2.example.com", false, "http://app.example.com", false},
		{"app.example.com.evil.test", true, "https://app.example.com", false},
		{"127.0.0.1:9999", false, "http://app.example.com", false}, // another app on the machine
		{"127.0.0.1", false, "http://app.example.com", false},
		{"", false, "http://app.example.com", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/sso/login", nil)
		r.Host = tc.host
		if tc.https {
			r.TLS = &tls.ConnectionState{}
		}
		o, ok := hosts.lookup(r)
		if o.String() != tc.origin || ok != tc.trusted {
			t.Errorf("Host %q (https %v): %s, %v; want %s, %v", tc.host, tc.https, o, ok, tc.origin, tc.trusted)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/sso/login", nil)
	r.Host = "app.example.com:443"
	r.TLS = &tls.ConnectionState{}
	if n := testing.AllocsPerRun(100, func() { hosts.lookup(r) }); n != 0 {
		t.Errorf("lookup allocates %v times", n)
	}
}

// TestEndpointsRefuseUntrustedHosts: every endpoint that builds URLs
// answers 421 for a Host the site does not serve; the two that only read
// the session do not care.
func TestEndpointsRefuseUntrustedHosts(t *testing.T) {
	h, _ := gateFixture(t)
	for _, sub := range []string{"/metadata", "/acs", "/login", "/logout", "/password", "/admin", "/o/acme/metadata", "/o/acme/acs"} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/sso"+sub, nil)
		r.Host = "evil.test"
		if err := h.serveEndpoint(w, r, sub); err != nil || w.Code != http.StatusMisdirectedRequest {
			t.Errorf("%s with Host evil.test = %d, %v; want 421", sub, w.Code, err)
		}
	}
	// Nor does the gate start a sign-in there (require_sso).
	h.RequireSSO = true
	h.static = new(atomic.Pointer[staticIDP])
	h.static.Store(&staticIDP{md: sso.IDPMetadata("https://idp.example/sso", "https://idp.example", nil)})
	r := newGateRequest("", http.Header{"Accept": {"text/html"}})
	r.Host = "evil.test"
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, nil); err != nil || w.Code != http.StatusMisdirectedRequest || w.Header().Get("Location") != "" {
		t.Errorf("a page with Host evil.test under require_sso = %d to %q, %v; want 421", w.Code, w.Header().Get("Location"), err)
	}
	for _, sub := range []string{"/userinfo", "/auth"} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/sso"+sub, nil)
		r.Host = "evil.test"
		if err := h.serveEndpoint(w, r, sub); err != nil || w.Code != http.StatusUnauthorized {
			t.Errorf("%s with Host evil.test = %d, %v; want 401", sub, w.Code, err)
		}
	}
	// Load balancers probe health by IP.
	w = httptest.NewRecorder()
	r = httptest.NewRequest(http.MethodGet, "/sso/health", nil)
	r.Host = "10.1.2.3"
	if err := h.serveEndpoint(w, r, "/health"); err != nil || w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"status":"ok"`) {
		t.Errorf("/health with Host 10.1.2.3 = %d %s, %v; want 200", w.Code, w.Body, err)
	}
}

// TestSiteHosts: without base_url or trusted_hosts, the Caddyfile gives
// the gate its site's addresses, with the port each is served on; a site
// that answers any name needs one of them.
func TestSiteHosts(t *testing.T) {
	for _, tc := range []struct {
		name, caddyfile string
		want            []string
		err             string
	}{
		{name: "one name", caddyfile: "app.example.com {\n\tsaml_sso\n}", want: []string{"app.example.com"}},
		{name: "two names and ports", caddyfile: "http://127.0.0.1:8080, http://localhost:8080, app.example.com:8443 {\n\tsaml_sso\n}",
			want: []string{"127.0.0.1:8080", "localhost:8080", "app.example.com:8443"}},
		{name: "https_port", caddyfile: "{\n\thttps_port 8443\n}\napp.example.com {\n\tsaml_sso\n}", want: []string{"app.example.com:8443"}},
		{name: "http_port", caddyfile: "{\n\thttp_port 8080\n}\nhttp://app.example.com {\n\tsaml_sso\n}", want: []string{"app.example.com:8080"}},
		{name: "inside route", caddyfile: "app.example.com {\n\troute /x/* {\n\t\tsaml_sso\n\t}\n}", want: []string{"app.example.com"}},
		{name: "base_url", caddyfile: ":8080 {\n\tsaml_sso {\n\t\tbase_url https://app.example.com\n\t}\n}"},
		{name: "trusted_hosts", caddyfile: "*.example.com {\n\tsaml_sso {\n\t\ttrusted_hosts a.example.com b.example.com\n\t}\n}",
			want: []string{"a.example.com", "b.example.com"}},
		{name: "any host", caddyfile: ":8080 {\n\tsaml_sso\n}", err: "the site :8080 answers any host name"},
		{name: "scheme only", caddyfile: "http:// {\n\tsaml_sso\n}", err: "answers any host name"},
		{name: "wildcard", caddyfile: "*.example.com {\n\tsaml_sso\n}", err: "the site *.example.com answers every name"},
		{name: "one of the names is a wildcard", caddyfile: "app.example.com, *.example.com {\n\tsaml_sso\n}", err: "*.example.com"},
		{name: "named route", caddyfile: "&(gate) {\n\tsaml_sso\n}\napp.example.com {\n\tinvoke gate\n}", err: "named route"},
		{name: "base_url and trusted_hosts", caddyfile: "app.example.com {\n\tsaml_sso {\n\t\tbase_url https://app.example.com\n\t\ttrusted_hosts app.example.com\n\t}\n}",
			err: "trusted_hosts is for a gate without base_url"},
		{name: "wildcard trusted host", caddyfile: "app.example.com {\n\tsaml_sso {\n\t\ttrusted_hosts *.example.com\n\t}\n}", err: "wildcard"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			js, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(tc.caddyfile+"\n"), nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("adapt error %v; want one containing %q", err, tc.err)
				}
				if strings.Contains(tc.err, "any host") || strings.Contains(tc.err, "every name") {
					if !strings.Contains(err.Error(), "set base_url <origin>, or trusted_hosts <host...>") {
						t.Fatalf("error %q does not name the fix", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := gateJSON(t, js)
			if !slices.Equal(got.TrustedHosts, tc.want) {
				t.Fatalf("trusted_hosts %q, want %q", got.TrustedHosts, tc.want)
			}
			if err := got.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

// gateJSON finds the saml_sso handler in adapted JSON.
func gateJSON(t *testing.T, js []byte) *SSOHandler {
	t.Helper()
	var found *SSOHandler
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "saml_sso" {
				b, _ := json.Marshal(v)
				found = new(SSOHandler)
				if err := json.Unmarshal(b, found); err != nil {
					t.Fatal(err)
				}
				return
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	var doc any
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	walk(doc)
	if found == nil {
		t.Fatalf("no saml_sso in %s", js)
	}
	return found
}

// TestValidateNeedsHosts: a JSON config (no Caddyfile to fill them) needs
// base_url or trusted_hosts, not both.
func TestValidateNeedsHosts(t *testing.T) {
	for _, tc := range []struct {
		h   SSOHandler
		err string
	}{
		{SSOHandler{}, "set base_url <origin>, or trusted_hosts"},
		{SSOHandler{BaseURL: "https://app.example.com", TrustedHosts: []string{"app.example.com"}}, "trusted_hosts is for a gate without base_url"},
		{SSOHandler{TrustedHosts: []string{"*.example.com"}}, "wildcard"},
		{SSOHandler{TrustedHosts: []string{"app.example.com"}}, ""},
		{SSOHandler{BaseURL: "https://app.example.com"}, ""},
	} {
		err := tc.h.Validate()
		if (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Validate(base_url %q, trusted_hosts %q) = %v; want %q", tc.h.BaseURL, tc.h.TrustedHosts, err, tc.err)
		}
	}
}

// TestStoreFailedPages: a write the store could not take is a 503 page
// with Retry-After; a sign-in's links to a fresh one, a sign-out's says
// the person is still signed in.
func TestStoreFailedPages(t *testing.T) {
	h, _ := gateFixture(t)
	cause := fmt.Errorf("creating session: %w", fmt.Errorf("%w: database or disk is full", storage.ErrUnavailable))
	for _, tc := range []struct{ path, want, link string }{
		{"/sso/acs", "We could not sign you in right now; try again in a minute.", `href="/sso/login?start=sso"`},
		{"/sso/o/acme/acs", "We could not sign you in right now", `href="/sso/login?start=sso"`},
		{"/sso/logout", "We could not sign you out right now", ""},
		{"/sso/admin/members", "We could not save this right now", ""},
	} {
		w := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodPost, tc.path, nil)
		if !h.storeFailed(w, r, cause) {
			t.Fatalf("%s: storeFailed = false for ErrUnavailable", tc.path)
		}
		body := w.Body.String()
		if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") != "30" || !strings.Contains(body, tc.want) ||
			tc.link != "" && !strings.Contains(body, tc.link) || tc.link == "" && strings.Contains(body, "href=") {
			t.Errorf("%s = %d (Retry-After %q) %s", tc.path, w.Code, w.Header().Get("Retry-After"), body)
		}
	}
	if h.storeFailed(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/sso/acs", nil), errors.New("other")) {
		t.Error("storeFailed = true for another error")
	}
}
