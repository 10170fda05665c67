package caddymodule

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// TestOpenHeld: a held sign-in opens only from a cookie the gate made,
// for the org whose ACS is asked, within its two minutes.
func TestOpenHeld(t *testing.T) {
	h := &SSOHandler{PathPrefix: "/sso", heldCodec: newHeldCodec(make([]byte, 64))}
	acme := &tenant.Tenant{Org: storage.Org{ID: 1, Name: "acme"}}
	ok := heldSignIn{ID: "x", OrgID: 1, MemberID: "m", Email: "jo@acme.com", ReturnPath: "/r", Expires: time.Now().Add(time.Minute).Unix()}
	seal := func(hs heldSignIn) string {
		v, err := h.heldCodec.Encode(heldCookie, hs)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	with := func(f func(*heldSignIn)) string {
		hs := ok
		f(&hs)
		return seal(hs)
	}
	otherKey := &SSOHandler{heldCodec: newHeldCodec(append(make([]byte, 63), 1))}
	foreign, _ := otherKey.heldCodec.Encode(heldCookie, ok)
	for _, tc := range []struct {
		name   string
		cookie string
		want   bool
	}{
		{"the gate's, in time", seal(ok), true},
		{"expired", with(func(hs *heldSignIn) { hs.Expires = time.Now().Add(-time.Second).Unix() }), false},
		{"another org's", with(func(hs *heldSignIn) { hs.OrgID = 2 }), false},
		{"an unsafe return path", with(func(hs *heldSignIn) { hs.ReturnPath = "//evil.example" }), false},
		{"sealed with another key", foreign, false},
		{"forged", "forged", false},
		{"none", "", false},
	} {
		r := httptest.NewRequest(http.MethodGet, "/sso/acs", nil)
		if tc.cookie != "" {
			r.Header.Set("Cookie", heldCookie+"="+tc.cookie)
		}
		got, opened := h.openHeld(r, acme)
		if opened != tc.want || opened && got != ok {
			t.Errorf("%s: openHeld = %+v, %v; want %v", tc.name, got, opened, tc.want)
		}
	}
}
