package caddymodule

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/password"
)

// TestPasswordCheckTakesAsLongForUnknownEmails: an unknown email and a
// wrong password cost the same hashing work, so the answer's timing does
// not tell whether an account exists.
func TestPasswordCheckTakesAsLongForUnknownEmails(t *testing.T) {
	if testing.Short() {
		t.Skip("timing test")
	}
	h, _ := gateFixture(t)
	ctx := context.Background()
	hash, err := password.Hash("the right password")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.SetPasswordHash(ctx, "alice@acme.com", hash); err != nil {
		t.Fatal(err)
	}
	measure := func(email string) time.Duration {
		start := time.Now()
		_, reason, err := h.checkPassword(ctx, email, true, "a wrong password")
		if err != nil || reason == "" {
			t.Fatalf("checkPassword(%s) = %q, %v; want a refusal", email, reason, err)
		}
		return time.Since(start)
	}
	// The fastest of several interleaved runs: other work on the machine
	// (CI runs test packages in parallel) only ever adds time, so the
	// minimum is what the code itself costs.
	var known, unknown []time.Duration
	for i := 0; i < 11; i++ {
		known = append(known, measure("alice@acme.com"))
		unknown = append(unknown, measure("nobody@acme.com"))
	}
	fastest := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[0]
	}
	k, u := fastest(known), fastest(unknown)
	t.Logf("fastest check: existing account %s, unknown email %s", k, u)
	if k > 2*u || u > 2*k {
		t.Fatalf("existing account %s vs unknown email %s: the timing tells them apart", k, u)
	}
	if k < time.Millisecond {
		t.Fatalf("a password check took %s: no real hashing work is done", k)
	}
}
