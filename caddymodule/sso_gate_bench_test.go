package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/ssogate/ssogate/internal/storage"
)

// BenchmarkGateTeams is BenchmarkGate for a member in 1 and in 200 teams:
// the check costs the same, since the cookie only names the session and
// the header values are built once per cached session. (What grows with
// the teams is the X-Forwarded-Groups header the proxy then sends to the
// app: about 13 bytes a team.)
func BenchmarkGateTeams(b *testing.B) {
	for _, n := range []int{1, 200} {
		b.Run(fmt.Sprintf("teams=%d", n), func(b *testing.B) {
			h, cookie := gateFixture(b)
			ctx := context.Background()
			m, err := h.store.MemberByEmail(ctx, h.org.ID, "alice@acme.com")
			if err != nil {
				b.Fatal(err)
			}
			for i := 2; i <= n; i++ { // gateFixture made the first
				t, err := h.store.CreateTeam(ctx, h.org.ID, fmt.Sprintf("team-%03d", i), "")
				if err != nil {
					b.Fatal(err)
				}
				if _, err := h.store.UpdateTeam(ctx, h.org.ID, t.ID, func(t *storage.Team) error {
					t.MemberIDs = append(t.MemberIDs, m.ID)
					return nil
				}); err != nil {
					b.Fatal(err)
				}
			}
			var groups string
			next := caddyhttp.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) error {
				groups = r.Header.Get("X-Forwarded-Groups")
				return nil
			})
			r := newGateRequest(cookie, http.Header{"Accept": {"text/html"}, "User-Agent": {"bench"}})
			benchGate(b, h, r, next)
			if strings.Count(groups, ",")+1 != n {
				b.Fatalf("%d groups, want %d", strings.Count(groups, ",")+1, n)
			}
		})
	}
}
