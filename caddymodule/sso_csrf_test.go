package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func csrfHandler() *SSOHandler {
	h := &SSOHandler{PathPrefix: "/sso", csrfKey: []byte("0123456789abcdef0123456789abcdef"),
		csrfCookieKey: []byte("fedcba9876543210fedcba9876543210")}
	h.baseURL, _ = url.Parse("https://app.example")
	return h
}

// gateCSRFCookie is a CSRF cookie value the gate made for seed.
func gateCSRFCookie(h *SSOHandler, seed string) string {
	return seed + "." + h.csrfMAC(h.csrfCookieKey, seed)
}

// TestCheckForm: a form passes with the token of a cookie the gate made
// and this site's Origin, or its Referer when Origin is absent; anything
// else is refused with its reason.
func TestCheckForm(t *testing.T) {
	h := csrfHandler()
	seed := strings.Repeat("s", csrfSeedLen)
	chosen := strings.Repeat("c", csrfSeedLen) // an attacker's value
	for _, tc := range []struct {
		name            string
		cookie, token   string
		origin, referer string
		want            error
	}{
		{"this site's Origin", gateCSRFCookie(h, seed), h.csrfFor(seed), "https://app.example", "", nil},
		{"Origin with another case", gateCSRFCookie(h, seed), h.csrfFor(seed), "https://APP.example", "", nil},
		{"Referer without Origin", gateCSRFCookie(h, seed), h.csrfFor(seed), "", "https://app.example/sso/logout?rd=/x", nil},
		{"neither Origin nor Referer", gateCSRFCookie(h, seed), h.csrfFor(seed), "", "", errFormBlind},
		{"another site's Origin", gateCSRFCookie(h, seed), h.csrfFor(seed), "https://evil.example", "", errFormSite},
		{"Origin null", gateCSRFCookie(h, seed), h.csrfFor(seed), "null", "https://app.example/", errFormSite},
		{"Origin over http", gateCSRFCookie(h, seed), h.csrfFor(seed), "http://app.example", "", errFormSite},
		{"another site's Referer", gateCSRFCookie(h, seed), h.csrfFor(seed), "", "https://evil.example/app.example", errFormSite},
		{"a client-chosen cookie and its token", chosen, h.csrfFor(chosen), "https://app.example", "", errFormToken},
		{"a chosen seed with a forged mac", chosen + "." + h.csrfFor(chosen), h.csrfFor(chosen), "https://app.example", "", errFormToken},
		{"another browser's token", gateCSRFCookie(h, seed), h.csrfFor(chosen), "https://app.example", "", errFormToken},
		{"no token", gateCSRFCookie(h, seed), "", "https://app.example", "", errFormToken},
		{"no cookie", "", h.csrfFor(seed), "https://app.example", "", errFormToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "https://app.example/sso/logout", strings.NewReader(url.Values{"csrf": {tc.token}}.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tc.cookie != "" {
				r.Header.Set("Cookie", csrfCookie+"="+tc.cookie)
			}
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.referer != "" {
				r.Header.Set("Referer", tc.referer)
			}
			if err := r.ParseForm(); err != nil {
				t.Fatal(err)
			}
			if got := h.checkForm(r); got != tc.want {
				t.Errorf("checkForm = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestCSRFTokenMintsItsOwnCookie: the gate keeps a cookie it made and
// replaces any other, never giving a token for a value the client chose.
func TestCSRFTokenMintsItsOwnCookie(t *testing.T) {
	h := csrfHandler()
	token := func(cookie string) (string, *http.Cookie) {
		r := httptest.NewRequest(http.MethodGet, "https://app.example/sso/password", nil)
		if cookie != "" {
			r.Header.Set("Cookie", csrfCookie+"="+cookie)
		}
		w := httptest.NewRecorder()
		tok, err := h.csrfToken(w, r)
		if err != nil {
			t.Fatal(err)
		}
		var set *http.Cookie
		for _, c := range w.Result().Cookies() {
			if c.Name == csrfCookie {
				set = c
			}
		}
		return tok, set
	}
	seed := strings.Repeat("s", csrfSeedLen)
	if tok, set := token(gateCSRFCookie(h, seed)); set != nil || tok != h.csrfFor(seed) {
		t.Errorf("the gate's own cookie: token %q, new cookie %v; want its token and no new cookie", tok, set)
	}
	for _, chosen := range []string{"", strings.Repeat("c", csrfSeedLen), strings.Repeat("c", csrfSeedLen) + ".forged", "x"} {
		tok, set := token(chosen)
		if set == nil {
			t.Fatalf("cookie %q: no new cookie", chosen)
		}
		if !set.HttpOnly || !set.Secure || set.SameSite != http.SameSiteStrictMode || set.Path != "/sso" {
			t.Errorf("new cookie %+v; want HttpOnly, Secure, SameSite=Strict, Path=/sso", set)
		}
		newSeed, _, _ := strings.Cut(set.Value, ".")
		if set.Value == chosen || tok != h.csrfFor(newSeed) || (chosen != "" && tok == h.csrfFor(chosen)) {
			t.Errorf("cookie %q: adopted, or the token is not the new cookie's", chosen)
		}
		r := httptest.NewRequest(http.MethodGet, "https://app.example/sso/password", nil)
		r.Header.Set("Cookie", csrfCookie+"="+set.Value)
		if _, ok := h.csrfSeed(r); !ok {
			t.Errorf("the gate does not take back its own new cookie %q", set.Value)
		}
	}
}
