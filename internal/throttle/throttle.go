// Package throttle slows down password guessing. Each key (an account, a
// client address) may fail a few times for free; after that every failure
// locks the key for a delay that doubles, up to a ceiling. A locked key is
// refused without looking at the password, which is what makes guessing
// expensive; once the delay has passed, the right password works again.
// Memory is bounded: at most MaxKeys keys are tracked, quiet ones are
// forgotten.
//
// An attempt is counted when it starts, not when its slow check ends:
// Reserve checks the keys and counts the attempt in one step, as if it
// will fail, so that simultaneous attempts cannot all pass a check that
// none of them has updated yet. The attempt then ends as a failure (Fail)
// or is given back (Cancel): it was right, or never checked.
//
// This Limiter's state is per process: it is the first line, which
// refuses a key this process has locked without a store round trip and
// bounds memory. The limit that holds across processes and replicas is
// storage.ThrottleStore, the same rule kept in the shared store, which
// the password sign-in checks behind this one.
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

// Delay is the lock after the n-th failure in a row.
func (r Rule) Delay(n int) time.Duration {
	over := n - r.Free
	if over <= 0 {
		return 0
	}
	d := r.Base
	for i := 1; i < over && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}

// Key is what an attempt counts against: a name and its rule.
type Key struct {
	Name string
	Rule Rule
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
	pending  int       // attempts reserved and not yet ended
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

// Reservation is an attempt counted against its keys while it is being
// checked. End it with Fail or Cancel, once.
type Reservation struct {
	l      *Limiter
	keys   []Key
	states []*state
	ended  bool
}

// Reserve counts an attempt against every key, before it is checked. It
// lets the attempt through only when no key would be locked even if every
// attempt still in flight failed, which is what sequential attempts get;
// else it returns nil and how long to wait before trying again.
func (l *Limiter) Reserve(keys ...Key) (*Reservation, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var wait time.Duration
	for _, k := range keys {
		st := l.keys[k.Name]
		if st == nil {
			continue
		}
		if st.pending == 0 && now.Sub(st.last) > l.Forget {
			*st = state{}
		}
		wait = max(wait, st.until.Sub(now))
		if st.pending > 0 {
			// As if the attempts in flight had failed just now.
			wait = max(wait, k.Rule.Delay(st.failures+st.pending))
		}
	}
	if wait > 0 {
		return nil, wait
	}
	res := &Reservation{l: l, keys: keys, states: make([]*state, len(keys))}
	for i, k := range keys {
		st := l.keys[k.Name]
		if st == nil {
			l.makeRoom(now)
			st = &state{last: now}
			l.keys[k.Name] = st
		}
		st.pending++
		res.states[i] = st
	}
	return res, 0
}

// Fail ends the attempt as a failure of every key and returns the longest
// lock it now causes (zero while failures are still free).
func (r *Reservation) Fail() time.Duration {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	if r.ended {
		return 0
	}
	r.ended = true
	now := r.l.now()
	var lock time.Duration
	for i, st := range r.states {
		// A state dropped by makeRoom meanwhile is no longer in the map:
		// updating it changes nothing, and dropping only ever forgives.
		st.pending = max(st.pending-1, 0)
		st.failures++
		st.last = now
		if d := r.keys[i].Rule.Delay(st.failures); d > 0 {
			st.until = now.Add(d)
			lock = max(lock, d)
		}
	}
	return lock
}

// Cancel gives the attempt back: it was right, or was never checked.
func (r *Reservation) Cancel() {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	if r.ended {
		return
	}
	r.ended = true
	for i, st := range r.states {
		st.pending = max(st.pending-1, 0)
		if st.pending == 0 && st.failures == 0 && r.l.keys[r.keys[i].Name] == st {
			delete(r.l.keys, r.keys[i].Name)
		}
	}
}

// Reset forgets a key's failures (after a successful sign-in). Attempts
// still in flight keep counting.
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.keys[key]
	if st == nil {
		return
	}
	if st.pending == 0 {
		delete(l.keys, key)
		return
	}
	st.failures, st.until = 0, time.Time{}
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
		if st.pending == 0 && (now.Sub(st.last) > l.Forget || (now.After(st.until) && st.failures == 0)) {
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
