package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/ssogate/ssogate/internal/gate"
)

func TestServeAuth(t *testing.T) {
	h, cookie := gateFixture(t)
	const deepLogin = "/sso/login?rd=%2Freports%2Fq1%3Fx%3D1%26y%3D2"
	for _, tc := range []struct {
		name       string
		noCookies  bool   // forward_auth_cookies off
		cookie     string // the Cookie line; "" for none
		hdr        http.Header
		wantStatus int
		wantLogin  string // Location of a 302, X-Auth-Request-Redirect of a 401
		wantCookie string // X-Auth-Request-Cookie of a 200
	}{
		{name: "nginx, no original URI", wantStatus: 401, wantLogin: "/sso/login?rd=%2F"},
		{name: "nginx X-Original-URI", hdr: http.Header{"X-Original-Uri": {"/reports/q1?x=1&y=2"}, "Accept": {"text/html"}},
			wantStatus: 401, wantLogin: deepLogin},
		{name: "X-Original-URL, host dropped", hdr: http.Header{"X-Original-Url": {"https://app.example/reports/q1?x=1&y=2"}},
			wantStatus: 401, wantLogin: deepLogin},
		{name: "Traefik/Caddy navigation", hdr: http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/reports/q1?x=1&y=2"},
			"Accept": {"text/html,application/xhtml+xml"}}, wantStatus: 302, wantLogin: deepLogin},
		{name: "Traefik/Caddy API call", hdr: http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"/api/x"},
			"Accept": {"application/json"}}, wantStatus: 401, wantLogin: "/sso/login?rd=%2Fapi%2Fx"},
		{name: "Traefik/Caddy form post", hdr: http.Header{"X-Forwarded-Method": {"POST"}, "X-Forwarded-Uri": {"/form"},
			"Accept": {"text/html"}}, wantStatus: 401, wantLogin: "/sso/login?rd=%2Fform"},
		{name: "foreign URI", hdr: http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Uri": {"//evil.example/x"},
			"Accept": {"text/html"}}, wantStatus: 302, wantLogin: "/sso/login?rd=%2F"},
		{name: "forged cookie", cookie: gate.CookieName + "=abc", wantStatus: 401, wantLogin: "/sso/login?rd=%2F"},
		{name: "session only", cookie: gate.CookieName + "=" + cookie, wantStatus: 200},
		{name: "session among the app's", cookie: "theme=dark; " + gate.CookieName + "=" + cookie + "; other=1",
			wantStatus: 200, wantCookie: "theme=dark; other=1"},
		{name: "session first", cookie: gate.CookieName + "=" + cookie + "; theme=dark",
			wantStatus: 200, wantCookie: "theme=dark"},
		// Off, a page's script calling /sso/auth on the app's origin
		// reads no HttpOnly cookie from the answer.
		{name: "forward_auth_cookies off", noCookies: true, cookie: "theme=dark; " + gate.CookieName + "=" + cookie,
			wantStatus: 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.ForwardAuthCookies = !tc.noCookies
			r := httptest.NewRequest(http.MethodGet, "/sso/auth", nil)
			for k, v := range tc.hdr {
				r.Header[k] = v
			}
			if tc.cookie != "" {
				r.Header.Set("Cookie", tc.cookie)
			}
			w := httptest.NewRecorder()
			next := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error {
				t.Fatal("/sso/auth went on to the next handler")
				return nil
			})
			if err := h.ServeHTTP(w, r, next); err != nil {
				t.Fatal(err)
			}
			if w.Code != tc.wantStatus {
				t.Fatalf("status %d, want %d", w.Code, tc.wantStatus)
			}
			switch tc.wantStatus {
			case 302:
				if got := w.Header().Get("Location"); got != tc.wantLogin {
					t.Errorf("Location %q, want %q", got, tc.wantLogin)
				}
			case 401:
				if got := w.Header().Get("X-Auth-Request-Redirect"); got != tc.wantLogin {
					t.Errorf("X-Auth-Request-Redirect %q, want %q", got, tc.wantLogin)
				}
			case 200:
				if got := w.Header().Get("X-Forwarded-User"); got != "alice@acme.com" {
					t.Errorf("X-Forwarded-User %q", got)
				}
				for _, name := range []string{"X-Auth-Request-Cookie", "Cookie"} {
					if got, ok := w.Header()[name]; tc.wantCookie == "" && ok || tc.wantCookie != "" && (len(got) != 1 || got[0] != tc.wantCookie) {
						t.Errorf("%s %q, want %q", name, got, tc.wantCookie)
					}
				}
			}
		})
	}
}

func TestLoginKeepsUnescapedReturnPath(t *testing.T) {
	h, cookie := gateFixture(t)
	// A signed-in browser at /sso/login goes straight to rd: what nginx's
	// "return 302 /sso/login?rd=$request_uri" sends comes back whole.
	r := httptest.NewRequest(http.MethodGet, "/sso/login?rd=/reports/q1?x=1&y=2", nil)
	r.Header.Set("Cookie", gate.CookieName+"="+cookie)
	w := httptest.NewRecorder()
	if err := h.ServeHTTP(w, r, nil); err != nil {
		t.Fatal(err)
	}
	if got := w.Header().Get("Location"); w.Code != http.StatusSeeOther || got != "/reports/q1?x=1&y=2" {
		t.Fatalf("%d to %q, want 303 to /reports/q1?x=1&y=2", w.Code, got)
	}
}
