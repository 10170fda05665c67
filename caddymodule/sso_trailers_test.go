package caddymodule

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/ssogate/ssogate/internal/gate"
)

// TestGateStripsIdentityTrailers sends a chunked body with trailers to a
// real net/http server, which fills r.Trailer in only at the body's end:
// the handler after the gate reads the body, then sees no identity name.
func TestGateStripsIdentityTrailers(t *testing.T) {
	h, cookie := gateFixture(t)
	type seen struct {
		body    string
		trailer http.Header
	}
	got := make(chan seen, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// As Caddy does, handlers get a copy of the server's request.
		r = r.WithContext(context.WithValue(r.Context(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
		next := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
			b, err := io.ReadAll(r.Body)
			got <- seen{string(b), r.Trailer.Clone()}
			return err
		})
		if err := h.ServeHTTP(w, r, next); err != nil {
			t.Error(err)
		}
	}))
	defer srv.Close()

	// An io.MultiReader has no known length: the client sends it chunked.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/upload", io.MultiReader(strings.NewReader("hello")))
	req.Header.Set("Cookie", gate.CookieName+"="+cookie)
	req.Header.Set("Accept", "application/json")
	req.Trailer = http.Header{
		"X-Forwarded-User": {"ceo@acme.com"}, "X_forwarded_role": {"owner"},
		"X-Forwarded-Groups": {"owners"}, "X-Checksum": {"sha256=abc"},
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	s := <-got
	if s.body != "hello" || len(s.trailer) != 1 || s.trailer.Get("X-Checksum") != "sha256=abc" {
		t.Errorf("after the gate: body %q, trailers %v; want hello and only X-Checksum", s.body, s.trailer)
	}
}
