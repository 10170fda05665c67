package scimserver

import (
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// limiter is a token bucket per bearer token (golang.org/x/time/rate,
// which Caddy already depends on). A burst beyond it gets 429 with
// Retry-After, which Okta and Entra both back off on, instead of queueing
// on SQLite's single writer until the IdP times out.
//
// Buckets are keyed by token ID, after authentication, so an unknown
// token cannot make one. Tokens are few (a handful per org), so the map
// needs no eviction.
type limiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	buckets map[string]*rate.Limiter
}

// newLimiter allows rps requests a second with bursts of burst per key; a
// negative rps allows everything.
func newLimiter(rps float64, burst int) *limiter {
	l := &limiter{limit: rate.Limit(rps), burst: burst, buckets: map[string]*rate.Limiter{}}
	if rps < 0 || math.IsInf(rps, 1) {
		l.limit = rate.Inf
	}
	return l
}

// allow takes one request from key's bucket, or reports how long until
// one is available.
func (l *limiter) allow(key string) (bool, time.Duration) {
	if l.limit == rate.Inf {
		return true, 0
	}
	l.mu.Lock()
	b, ok := l.buckets[key]
	if !ok {
		b = rate.NewLimiter(l.limit, l.burst)
		l.buckets[key] = b
	}
	l.mu.Unlock()
	r := b.Reserve()
	if !r.OK() {
		return false, time.Second
	}
	if d := r.Delay(); d > 0 {
		r.Cancel()
		return false, d
	}
	return true, 0
}
