package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/ssogate/ssogate/internal/throttle"
)

// ThrottleRule is how one kind of throttle key is limited: Free failures,
// then a lock of Base that doubles with each further failure, up to Max;
// the in-process limiter's rule, so that both lock alike.
type ThrottleRule = throttle.Rule

// ThrottleKey is what an attempt counts against: a name (an account, a
// client address) and its rule.
type ThrottleKey struct {
	Name string
	Rule ThrottleRule
}

// Throttle state older than these is forgotten: ThrottleForget after a
// key's last failure, ThrottleInFlight after an attempt was reserved (a
// process that died mid-check never ends its attempt).
const (
	ThrottleForget   = time.Hour
	ThrottleInFlight = time.Minute
)

// ThrottleStore keeps failed-password counters and locks where every
// process on the backend sees them, so that the limits hold across
// replicas. It stores a SHA-256 of each key's name (ThrottleHash), never
// the email or address itself.
type ThrottleStore interface {
	// ReserveAttempt counts an attempt against every key, in one
	// transaction, before the attempt is checked. It lets the attempt
	// through (wait 0) only when no key would be locked even if every
	// attempt in flight failed; else it counts nothing and returns how
	// long to wait.
	ReserveAttempt(ctx context.Context, keys []ThrottleKey, now time.Time) (wait time.Duration, err error)
	// EndAttempt ends a reserved attempt: as a failure of every key
	// (returning the longest lock it causes), or given back.
	EndAttempt(ctx context.Context, keys []ThrottleKey, now time.Time, failed bool) (lock time.Duration, err error)
	// ResetThrottle forgets a key's failures (after a successful
	// sign-in); attempts in flight keep counting.
	ResetThrottle(ctx context.Context, name string) error
}

// ThrottleHash is the stored form of a throttle key's name.
func ThrottleHash(name string) string {
	sum := sha256.Sum256([]byte(name))
	return hex.EncodeToString(sum[:])
}

// ThrottleRow is one key's stored state; times in unix milliseconds.
type ThrottleRow struct {
	Failures, InFlight     int
	LockedUntil, UpdatedAt int64
}

// Fresh is the row as of now: in-flight counts of a dead process and a
// quiet key's failures are forgotten.
func (r ThrottleRow) Fresh(now time.Time) ThrottleRow {
	ms := now.UnixMilli()
	if ms-r.UpdatedAt > ThrottleInFlight.Milliseconds() {
		r.InFlight = 0
	}
	if r.InFlight == 0 && ms-r.UpdatedAt > ThrottleForget.Milliseconds() {
		return ThrottleRow{}
	}
	return r
}

// Wait is how long the key refuses a new attempt: its lock, or the lock
// the attempts in flight would cause if they all failed.
func (r ThrottleRow) Wait(rule ThrottleRule, now time.Time) time.Duration {
	wait := time.Duration(r.LockedUntil-now.UnixMilli()) * time.Millisecond
	if r.InFlight > 0 {
		wait = max(wait, rule.Delay(r.Failures+r.InFlight))
	}
	return max(wait, 0)
}
