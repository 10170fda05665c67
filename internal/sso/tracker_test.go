package sso

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func testTracker(seed byte) *Tracker {
	return NewTracker(bytes.Repeat([]byte{seed}, 32), bytes.Repeat([]byte{seed + 1}, 32))
}

// track runs Track and returns the cookie it set.
func track(t *testing.T, tr *Tracker, relay string, p Pending, secure bool) *http.Cookie {
	t.Helper()
	w := httptest.NewRecorder()
	if err := tr.Track(w, relay, p, secure, "/sso"); err != nil {
		t.Fatal(err)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		t.Fatalf("Track set %d cookies", len(cookies))
	}
	return cookies[0]
}

func requestWith(cookies ...*http.Cookie) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "https://app.example/sso/acs", nil)
	for _, c := range cookies {
		r.AddCookie(c)
	}
	return r
}

func TestTrackerRoundTrip(t *testing.T) {
	tr := testTracker(1)
	relay, err := NewRelayState()
	if err != nil {
		t.Fatal(err)
	}
	if len(relay) != 22 || strings.ContainsAny(relay, "=;, \t+/") {
		t.Fatalf("RelayState %q: want 22 URL-safe characters", relay)
	}
	if other, _ := NewRelayState(); other == relay {
		t.Fatal("two RelayStates are equal")
	}
	for _, p := range []Pending{
		{RequestID: "id-0123456789abcdef", ReturnPath: "/reports?x=1#top"},
		{RequestID: "id-x", ReturnPath: ""},
		{RequestID: "", ReturnPath: "/"},
		{RequestID: strings.Repeat("i", 300), ReturnPath: "/" + strings.Repeat("p", 1500)},
	} {
		c := track(t, tr, relay, p, true)
		got, err := tr.Resolve(requestWith(c), relay)
		if err != nil || got != p {
			t.Errorf("Resolve = %+v, %v; want %+v", got, err, p)
		}
	}
}

func TestTrackerCookieAttributes(t *testing.T) {
	tr := testTracker(1)
	c := track(t, tr, "relay1", Pending{RequestID: "id-1", ReturnPath: "/"}, true)
	if c.Name != "ssogate_req_relay1" || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteNoneMode ||
		c.Path != "/sso" || c.MaxAge != 600 {
		t.Errorf("https cookie = %+v; want HttpOnly, Secure, SameSite=None (the IdP's POST is cross-site), Path /sso, 10 min", c)
	}
	if strings.Contains(c.Value, "id-1") {
		t.Errorf("cookie value shows the request ID: %q", c.Value)
	}
	c = track(t, tr, "relay1", Pending{RequestID: "id-1", ReturnPath: "/"}, false)
	if c.Secure || c.SameSite != http.SameSiteLaxMode {
		t.Errorf("http cookie = %+v; want SameSite=Lax, not Secure", c)
	}

	w := httptest.NewRecorder()
	tr.Forget(w, "relay1", "/sso", true)
	cs := w.Result().Cookies()
	if len(cs) != 1 || cs[0].Name != "ssogate_req_relay1" || cs[0].MaxAge >= 0 || cs[0].Value != "" || cs[0].Path != "/sso" {
		t.Errorf("Forget set %+v; want the cookie deleted", cs)
	}
}

func TestTrackerRefuses(t *testing.T) {
	tr := testTracker(1)
	p := Pending{RequestID: "id-1", ReturnPath: "/a"}
	good := track(t, tr, "relayA", p, true)
	other := track(t, tr, "relayB", Pending{RequestID: "id-2", ReturnPath: "/b"}, true)

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for _, tc := range []struct {
		name    string
		cookies []*http.Cookie
		relay   string
		tracker *Tracker
	}{
		{name: "no cookie", relay: "relayA"},
		{name: "empty RelayState", cookies: []*http.Cookie{good}, relay: ""},
		{name: "RelayState of no cookie", cookies: []*http.Cookie{good}, relay: "relayC"},
		{name: "RelayState naming the cookie prefix", cookies: []*http.Cookie{good}, relay: "relayA; ssogate_req_relayA"},
		{name: "RelayState with separators", cookies: []*http.Cookie{good}, relay: "relayA=x"},
		{name: "RelayState over 64 bytes", cookies: []*http.Cookie{good}, relay: strings.Repeat("r", 65)},
		{name: "cookie value tampered (MAC)", cookies: []*http.Cookie{{Name: good.Name, Value: flip(good.Value, len(good.Value)-5)}}, relay: "relayA"},
		{name: "cookie value tampered (payload)", cookies: []*http.Cookie{{Name: good.Name, Value: flip(good.Value, 20)}}, relay: "relayA"},
		{name: "cookie value truncated", cookies: []*http.Cookie{{Name: good.Name, Value: good.Value[:len(good.Value)/2]}}, relay: "relayA"},
		{name: "empty cookie value", cookies: []*http.Cookie{{Name: good.Name, Value: ""}}, relay: "relayA"},
		{name: "another login's value under this name", cookies: []*http.Cookie{{Name: good.Name, Value: other.Value}}, relay: "relayA"},
		{name: "this login's value under another name", cookies: []*http.Cookie{{Name: other.Name, Value: good.Value}}, relay: "relayB"},
		{name: "cookie from another key", cookies: []*http.Cookie{good}, relay: "relayA", tracker: testTracker(7)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tr
			if tc.tracker != nil {
				r = tc.tracker
			}
			got, err := r.Resolve(requestWith(tc.cookies...), tc.relay)
			if err == nil {
				t.Fatalf("Resolve = %+v, want a refusal", got)
			}
			if got != (Pending{}) {
				t.Fatalf("refusal came with %+v", got)
			}
		})
	}

	// Two pending logins in one browser resolve each to its own request.
	r := requestWith(good, other)
	if got, err := tr.Resolve(r, "relayA"); err != nil || got != p {
		t.Errorf("relayA = %+v, %v", got, err)
	}
	if got, err := tr.Resolve(r, "relayB"); err != nil || got.RequestID != "id-2" {
		t.Errorf("relayB = %+v, %v", got, err)
	}
}

func TestSafeReturnPath(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"/", true},
		{"/reports", true},
		{"/reports?x=1&y=%2F%2Fevil#frag", true},
		{"/a/b//c", true},
		{"/%2F%2Fevil.example", true}, // a path segment, not a host
		{"/.well-known/x", true},
		{"/a:b", true},
		{"/" + strings.Repeat("a", 2047), true},

		{"", false},
		{"reports", false},
		{"//evil.example", false},
		{"///evil.example", false},
		{`/\evil.example`, false},
		{`\\evil.example`, false},
		{`\/evil.example`, false},
		{`/a\b`, false},
		{"https://evil.example", false},
		{"http:/evil.example", false},
		{"javascript:alert(1)", false},
		{"JAVASCRIPT:alert(1)", false},
		{"data:text/html,x", false},
		{" /reports", false},
		{"/\t/evil.example", false},
		{"/\n/evil.example", false},
		{"/\r\nLocation: https://evil.example", false},
		{"/\x00", false},
		{"/\x7f", false},
		{"/" + strings.Repeat("a", 2048), false},
		{"/100%", false}, // not a URL: would skip http.Redirect's cleaning
		{"/%zz", false},
	} {
		if got := SafeReturnPath(tc.in); got != tc.want {
			t.Errorf("SafeReturnPath(%q) = %v, want %v", tc.in, got, tc.want)
		}
		if tc.want {
			checkLocalRedirect(t, tc.in)
		}
	}
}

// checkLocalRedirect redirects to s as the gate does and checks that a
// browser resolving the Location stays on the gate's origin.
func checkLocalRedirect(t *testing.T, s string) {
	t.Helper()
	w := httptest.NewRecorder()
	http.Redirect(w, httptest.NewRequest(http.MethodPost, "https://app.example/sso/acs", nil), s, http.StatusSeeOther)
	loc := w.Header().Get("Location")
	base, _ := url.Parse("https://app.example/sso/acs")
	u, err := url.Parse(loc)
	if err != nil {
		return // the browser cannot follow it anywhere else either
	}
	if u.Scheme != "" || u.Host != "" || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, `/\`) {
		t.Errorf("SafeReturnPath(%q) allowed Location %q", s, loc)
	}
	if got := base.ResolveReference(u); got.Scheme != "https" || got.Host != "app.example" {
		t.Errorf("SafeReturnPath(%q): Location %q resolves to %s", s, loc, got)
	}
}

func TestPruneBoundsPendingCookies(t *testing.T) {
	tr := NewTracker(make([]byte, 32), make([]byte, 32))
	r := httptest.NewRequest(http.MethodGet, "/sso/login", nil)
	for i := 0; i < maxPending-1; i++ {
		r.AddCookie(&http.Cookie{Name: trackCookiePrefix + "r" + string(rune('a'+i)), Value: "x"})
	}
	w := httptest.NewRecorder()
	tr.Prune(w, r, "/sso", false)
	if n := len(w.Result().Cookies()); n != 0 {
		t.Fatalf("Prune with %d pending logins expired %d cookies, want none", maxPending-1, n)
	}
	r.AddCookie(&http.Cookie{Name: trackCookiePrefix + "last", Value: "x"})
	r.AddCookie(&http.Cookie{Name: "other", Value: "x"})
	w = httptest.NewRecorder()
	tr.Prune(w, r, "/sso", false)
	cookies := w.Result().Cookies()
	if len(cookies) != maxPending {
		t.Fatalf("Prune with %d pending logins expired %d cookies, want all of them", maxPending, len(cookies))
	}
	for _, c := range cookies {
		if c.MaxAge >= 0 || !strings.HasPrefix(c.Name, trackCookiePrefix) {
			t.Errorf("Prune set %+v", c)
		}
	}
}

func TestReturnPathParam(t *testing.T) {
	for _, tc := range []struct {
		query, want string
		safe        bool
	}{
		{"rd=%2Freports%2Fq1%3Fx%3D1%26y%3D2", "/reports/q1?x=1&y=2", true},
		// nginx's rd=$request_uri: the original URI, unescaped, last.
		{"rd=/reports/q1?x=1&y=2", "/reports/q1?x=1&y=2", true},
		{"rd=/reports/q1?x=1&y=a%20b&z=", "/reports/q1?x=1&y=a%20b&z=", true},
		{"start=sso&rd=/a?b=1&c=2", "/a?b=1&c=2", true},
		{"rd=/plain&reauth=1", "/plain", true},
		{"rd=%2Fplain&start=sso", "/plain", true},
		{"x=1&rd=/a+b", "/a b", true},
		{"", "", false},
		{"rdx=/a", "", false},
		{"ard=/a", "", false},
		{"rd=%zz", "", false},
		// Still same-origin only, escaped or not.
		{"rd=//evil.example?x=1&y=2", "//evil.example?x=1&y=2", false},
		{"rd=https://evil.example/?x=1&y=2", "https://evil.example/?x=1&y=2", false},
		{"rd=/\\evil.example?x=1", "/\\evil.example?x=1", false},
		{"rd=%2F%2Fevil.example", "//evil.example", false},
		{"rd=/%0d%0aLocation:%20https://evil.example?x", "/%0d%0aLocation:%20https://evil.example?x", true},
		{"rd=%2F%0D%0ALocation:x", "/\r\nLocation:x", false},
	} {
		got := ReturnPathParam(tc.query)
		if got != tc.want {
			t.Errorf("ReturnPathParam(%q) = %q, want %q", tc.query, got, tc.want)
		}
		if SafeReturnPath(got) != tc.safe {
			t.Errorf("SafeReturnPath(ReturnPathParam(%q)) = %v, want %v", tc.query, !tc.safe, tc.safe)
		}
		if tc.safe {
			checkLocalRedirect(t, got)
		}
	}
}
