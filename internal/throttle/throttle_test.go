package throttle

import (
	"fmt"
	"testing"
	"time"
)

var account = Rule{Free: 5, Base: time.Second, Max: 15 * time.Minute}

// TestTwentyWrongPasswords drives 20 wrong passwords at one account: the
// first five are free, then each locks for twice as long, up to the
// ceiling; once the lock passes the key may try again.
func TestTwentyWrongPasswords(t *testing.T) {
	l := New()
	now := time.Unix(1_000_000, 0)
	l.SetClock(func() time.Time { return now })
	var prev time.Duration
	for i := 1; i <= 20; i++ {
		if w := l.Wait("acct:alice"); w != 0 {
			t.Fatalf("attempt %d: still locked for %s", i, w)
		}
		d := l.Fail("acct:alice", account)
		switch {
		case i <= 5 && d != 0:
			t.Fatalf("failure %d locked for %s; the first five are free", i, d)
		case i > 5 && d <= prev && d != account.Max:
			t.Fatalf("failure %d locked for %s, not more than the previous %s", i, d, prev)
		case d > account.Max:
			t.Fatalf("failure %d locked for %s, above the ceiling", i, d)
		}
		if i == 6 && d != time.Second {
			t.Fatalf("first delay = %s, want 1s", d)
		}
		prev = d
		if d > 0 {
			now = now.Add(d / 2)
			if w := l.Wait("acct:alice"); w <= 0 {
				t.Fatalf("after failure %d, key not locked halfway through its delay", i)
			}
			now = now.Add(d - d/2)
		}
	}
	if prev != account.Max {
		t.Fatalf("after 20 failures the delay is %s, want the ceiling %s", prev, account.Max)
	}
	if w := l.Wait("acct:alice"); w != 0 {
		t.Fatalf("after the lock passed, Wait = %s", w)
	}
	l.Reset("acct:alice")
	if d := l.Fail("acct:alice", account); d != 0 {
		t.Fatalf("after a success, the first failure locked for %s", d)
	}
}

func TestForgetsQuietKeys(t *testing.T) {
	l := New()
	now := time.Unix(1_000_000, 0)
	l.SetClock(func() time.Time { return now })
	for i := 0; i < 5; i++ {
		l.Fail("k", account)
	}
	now = now.Add(2 * time.Hour)
	if d := l.Fail("k", account); d != 0 {
		t.Fatalf("a failure after an hour of quiet locked for %s", d)
	}
}

func TestMemoryIsBounded(t *testing.T) {
	l := New()
	l.MaxKeys = 100
	for i := 0; i < 10_000; i++ {
		l.Fail(fmt.Sprintf("ip:%d", i), account)
	}
	if n := l.Len(); n > 100 {
		t.Fatalf("tracking %d keys, bound is 100", n)
	}
}
