// Package throttle slows down password guessing. Each key (an account, a
// client address) may fail a few times for free; after that every failure
// locks the key for a delay that doubles, up to a ceiling. A locked key is
// refused without looking at the password, which is what makes guessing
// expensive; once the delay has passed, the right password works again.
// Memory is bounded: at most MaxKeys keys are tracked, quiet ones are
// forgotten.
//
// The state is per process. Several gateway processes each apply the
// limits, which multiplies an attacker's budget by their number but never
// lifts the ceiling.
package throttle

import (
	"sync"
	"time"
)

// Rule is how one kind of key is limited.
type Rule struct {
	// Free is how many failures are allowed before delays start.
	Free int
	// Base is the first delay; each further failure doubles it.
	Base time.Duration
	// Max caps the delay.
	Max time.Duration
}

// Limiter tracks failures per key.
type Limiter struct {
	// MaxKeys bounds memory. Default 10,000.
	MaxKeys int
	// Forget drops a key this long after its last failure. Default 1h.
	Forget time.Duration

	mu   sync.Mutex
	keys map[string]*state
	now  func() time.Time
}

type state struct {
	failures int
	until    time.Time // locked until
	last     time.Time // last failure
}

// New returns an empty Limiter.
func New() *Limiter {
	return &Limiter{MaxKeys: 10_000, Forget: time.Hour, keys: map[string]*state{}, now: time.Now}
}

// SetClock replaces the clock (tests).
func (l *Limiter) SetClock(now func() time.Time) {
	l.mu.Lock()
	l.now = now
	l.mu.Unlock()
}

// Wait returns how long the key is still locked (zero if it is not).
func (l *Limiter) Wait(key string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.keys[key]
	if st == nil {
		return 0
	}
	if d := st.until.Sub(l.now()); d > 0 {
		return d
	}
	return 0
}

// Fail records a failure of key under rule and returns the lock it now
// has (zero while failures are still free).
func (l *Limiter) Fail(key string, rule Rule) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	st := l.keys[key]
	if st != nil && now.Sub(st.last) > l.Forget {
		st = nil
	}
	if st == nil {
		l.makeRoom(now)
		st = &state{}
		l.keys[key] = st
	}
	st.failures++
	st.last = now
	over := st.failures - rule.Free
	if over <= 0 {
		return 0
	}
	d := rule.Base
	for i := 1; i < over && d < rule.Max; i++ {
		d *= 2
	}
	if d > rule.Max {
		d = rule.Max
	}
	st.until = now.Add(d)
	return d
}

// Reset forgets a key (after a successful sign-in).
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	delete(l.keys, key)
	l.mu.Unlock()
}

// Len returns how many keys are tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keys)
}

// makeRoom keeps the map under MaxKeys: first drop quiet keys, then, if an
// attacker fills it with fresh ones, arbitrary ones (Go's map order is
// random). Dropping a key only ever forgives failures; it never locks
// anyone out.
func (l *Limiter) makeRoom(now time.Time) {
	if len(l.keys) < l.MaxKeys {
		return
	}
	for k, st := range l.keys {
		if now.Sub(st.last) > l.Forget || (now.After(st.until) && st.failures == 0) {
			delete(l.keys, k)
		}
	}
	for k := range l.keys {
		if len(l.keys) < l.MaxKeys {
			return
		}
		delete(l.keys, k)
	}
}
