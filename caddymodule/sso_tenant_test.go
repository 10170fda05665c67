package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/tenant"
)

func TestOrgEndpoint(t *testing.T) {
	for _, tc := range []struct {
		sub       string
		org, rest string
		ok        bool
	}{
		{"/o/acme/acs", "acme", "/acs", true},
		{"/o/acme-eu/metadata", "acme-eu", "/metadata", true},
		{"/o/acme/test/abc", "acme", "/test/abc", true},
		{"/o/acme", "acme", "/", true},
		{"/o/acme/", "acme", "/", true},
		{"/o//acs", "", "", false},
		{"/o/Acme/acs", "", "", false},     // not a slug: no lookup with it
		{"/o/acme%2Fx/acs", "", "", false}, // escaped slash stays in the segment
		{"/o/-acme/acs", "", "", false},
		{"/acs", "", "", false},
		{"/oo/acme/acs", "", "", false},
		{"/o/../acs", "", "", false},
	} {
		t.Run(tc.sub, func(t *testing.T) {
			org, rest, ok := orgEndpoint(tc.sub)
			if org != tc.org || rest != tc.rest || ok != tc.ok {
				t.Errorf("orgEndpoint(%q) = %q, %q, %v; want %q, %q, %v", tc.sub, org, rest, ok, tc.org, tc.rest, tc.ok)
			}
		})
	}
}

// FuzzOrgEndpoint: whatever the path, a recognised org is a valid slug
// and the rest a path.
func FuzzOrgEndpoint(f *testing.F) {
	for _, s := range []string{"/o/acme/acs", "/o/", "/o//", "/o/a/b/c", "/o/\x00/acs", "/o/" + strings.Repeat("a", 70) + "/acs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sub string) {
		org, rest, ok := orgEndpoint(sub)
		if !ok {
			return
		}
		if err := tenant.ValidateOrgName(org); err != nil {
			t.Fatalf("orgEndpoint(%q) accepted org %q: %v", sub, org, err)
		}
		if !strings.HasPrefix(rest, "/") {
			t.Fatalf("orgEndpoint(%q) rest %q does not start with /", sub, rest)
		}
	})
}

// The org choice after a password sign-in at a shared gate rests on a
// ticket: bound to the browser's CSRF cookie, short-lived, unforgeable.
func TestOrgChoiceTicket(t *testing.T) {
	h := &SSOHandler{ticketKey: []byte("0123456789abcdef0123456789abcdef")}
	withCSRF := func(seed string) *http.Request {
		r := httptest.NewRequest(http.MethodPost, "/sso/password", nil)
		r.Header.Set("Cookie", csrfCookie+"="+seed)
		return r
	}
	browser := withCSRF(strings.Repeat("a", 43))
	ticket := h.newTicket(browser, "gina@globex.com")
	if email, ok := h.openTicket(browser, ticket); !ok || email != "gina@globex.com" {
		t.Fatalf("openTicket(own ticket) = %q, %v; want gina@globex.com, true", email, ok)
	}
	other := withCSRF(strings.Repeat("b", 43))
	if _, ok := h.openTicket(other, ticket); ok {
		t.Error("a ticket opened in another browser (another CSRF cookie)")
	}
	body, _, _ := strings.Cut(ticket, ".")
	expired := body + "." + strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)
	if _, ok := h.openTicket(browser, expired+"."+h.ticketMAC(browser, expired)); ok {
		t.Error("an expired ticket opened")
	}
	forged := "bWFsbG9yeUBldmlsLnRlc3Q." + strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)
	if _, ok := h.openTicket(browser, forged+"."+ticket[strings.LastIndexByte(ticket, '.')+1:]); ok {
		t.Error("a ticket with another email and the old MAC opened")
	}
	for _, bad := range []string{"", ".", "a.b", "x.y.z", strings.Repeat("a", 2000)} {
		if _, ok := h.openTicket(browser, bad); ok {
			t.Errorf("openTicket(%q) opened", bad)
		}
	}
}
