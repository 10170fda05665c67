package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
)

var throttleAccount = storage.ThrottleRule{Free: 5, Base: time.Second, Max: 15 * time.Minute}

// testThrottleAcrossProcesses: wrong passwords alternated between two
// processes meet one limit: Free+1 attempts pass, the next waits the
// first delay, and a success on either clears the account for both.
func testThrottleAcrossProcesses(t *testing.T, be Backend) {
	ctx := context.Background()
	ss := twoStores(t, be)
	keys := []storage.ThrottleKey{{Name: "acct:jo@acme.com", Rule: throttleAccount}}
	now := time.UnixMilli(1_800_000_000_000)
	for i := range throttleAccount.Free + 1 {
		s := ss[i%2]
		wait, err := s.ReserveAttempt(ctx, keys, now)
		if err != nil || wait != 0 {
			t.Fatalf("attempt %d: wait %s, err %v; want through", i+1, wait, err)
		}
		lock, err := s.EndAttempt(ctx, keys, now, true)
		if err != nil {
			t.Fatal(err)
		}
		if want := throttleAccount.Delay(i + 1); lock != want {
			t.Fatalf("failure %d locked for %s, want %s", i+1, lock, want)
		}
	}
	for i, s := range ss {
		if wait, err := s.ReserveAttempt(ctx, keys, now.Add(400*time.Millisecond)); err != nil || wait != 600*time.Millisecond {
			t.Fatalf("process %d after %d failures: wait %s, err %v; want 600ms", i+1, throttleAccount.Free+1, wait, err)
		}
	}
	// Once the lock passes, a right password on one process clears the
	// account on the other.
	now = now.Add(time.Second)
	if wait, err := ss[1].ReserveAttempt(ctx, keys, now); err != nil || wait != 0 {
		t.Fatalf("after the lock: wait %s, err %v", wait, err)
	}
	if _, err := ss[1].EndAttempt(ctx, keys, now, false); err != nil {
		t.Fatal(err)
	}
	if err := ss[1].ResetThrottle(ctx, keys[0].Name); err != nil {
		t.Fatal(err)
	}
	if wait, err := ss[0].ReserveAttempt(ctx, keys, now); err != nil || wait != 0 {
		t.Fatalf("after a success: wait %s, err %v", wait, err)
	}
	if lock, err := ss[0].EndAttempt(ctx, keys, now, true); err != nil || lock != 0 {
		t.Fatalf("the first failure after a success locked for %s (err %v)", lock, err)
	}

	// Only a hash of the key is stored.
	db := be.SQL(ss[0])
	var n int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM throttle WHERE key = ?", keys[0].Name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("rows keyed by the plain name: %d (err %v), want 0", n, err)
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM throttle WHERE key = ?", storage.ThrottleHash(keys[0].Name)).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows keyed by the hash: %d (err %v), want 1", n, err)
	}
	// The sweep drops the row an hour after its last write, not before.
	if err := ss[0].DeleteExpired(ctx, now.Unix()+60); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM throttle").Scan(&n); err != nil || n != 1 {
		t.Fatalf("after a sweep a minute later: %d rows (err %v), want 1", n, err)
	}
	if err := ss[0].DeleteExpired(ctx, now.Unix()+3601); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM throttle").Scan(&n); err != nil || n != 0 {
		t.Fatalf("after a sweep an hour later: %d rows (err %v), want 0", n, err)
	}
}

// testThrottleSimultaneous: attempts started together on two processes
// are counted before any ends, so no more pass than one after another;
// an attempt refused by one key counts against no other.
func testThrottleSimultaneous(t *testing.T, be Backend) {
	ctx := context.Background()
	ss := twoStores(t, be)
	now := time.UnixMilli(1_800_000_000_000)
	acct := storage.ThrottleKey{Name: "acct:jo@acme.com", Rule: throttleAccount}
	addr := storage.ThrottleKey{Name: "ip:192.0.2.1", Rule: storage.ThrottleRule{Free: 20, Base: time.Second, Max: time.Minute}}
	keys := []storage.ThrottleKey{acct, addr}
	var mu sync.Mutex
	var through int
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			wait, err := ss[i%2].ReserveAttempt(ctx, keys, now)
			if err != nil {
				t.Errorf("attempt %d: %v", i, err)
				return
			}
			if wait == 0 {
				mu.Lock()
				through++
				mu.Unlock()
			} else if wait != time.Second {
				t.Errorf("refused attempt %d waits %s, want the first delay 1s", i, wait)
			}
		})
	}
	wg.Wait()
	if through != throttleAccount.Free+1 {
		t.Fatalf("%d of 20 simultaneous attempts passed, want %d", through, throttleAccount.Free+1)
	}
	// Every attempt in flight fails: the address counted only those.
	for i := range through {
		if _, err := ss[i%2].EndAttempt(ctx, keys, now, true); err != nil {
			t.Fatal(err)
		}
	}
	if wait, err := ss[0].ReserveAttempt(ctx, []storage.ThrottleKey{addr}, now); err != nil || wait != 0 {
		t.Fatalf("the address waits %s (err %v) after %d failures of 20 free", wait, err, through)
	}
	if _, err := ss[0].EndAttempt(ctx, []storage.ThrottleKey{addr}, now, false); err != nil {
		t.Fatal(err)
	}

	// A process that dies mid-check holds its key only for a while.
	other := []storage.ThrottleKey{{Name: "acct:kim@acme.com", Rule: storage.ThrottleRule{Free: 0, Base: time.Second, Max: time.Minute}}}
	if wait, err := ss[1].ReserveAttempt(ctx, other, now); err != nil || wait != 0 {
		t.Fatalf("first attempt: wait %s, err %v", wait, err)
	}
	if wait, _ := ss[0].ReserveAttempt(ctx, other, now); wait == 0 {
		t.Fatal("a second attempt passed while the first, with no free failure, is in flight")
	}
	if wait, err := ss[0].ReserveAttempt(ctx, other, now.Add(storage.ThrottleInFlight+time.Second)); err != nil || wait != 0 {
		t.Fatalf("an attempt never ended still holds the key: wait %s, err %v", wait, err)
	}
}
