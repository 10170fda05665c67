package throttle

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

var (
	account = Rule{Free: 5, Base: time.Second, Max: 15 * time.Minute}
	address = Rule{Free: 20, Base: time.Second, Max: 15 * time.Minute}
)

func acct(name string) Key { return Key{Name: "acct:" + name, Rule: account} }

// TestTwentyWrongPasswords drives 20 wrong passwords at one account, one
// after another: the first five are free, then each locks for twice as
// long, up to the ceiling; once the lock passes the key may try again.
func TestTwentyWrongPasswords(t *testing.T) {
	l := New()
	now := time.Unix(1_000_000, 0)
	l.SetClock(func() time.Time { return now })
	var prev time.Duration
	for i := 1; i <= 20; i++ {
		res, wait := l.Reserve(acct("alice"))
		if res == nil {
			t.Fatalf("attempt %d: still locked for %s", i, wait)
		}
		d := res.Fail()
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
			if res, wait := l.Reserve(acct("alice")); res != nil || wait != d-d/2 {
				t.Fatalf("after failure %d, halfway through its delay: reserved %v, wait %s", i, res != nil, wait)
			}
			now = now.Add(d - d/2)
		}
	}
	if prev != account.Max {
		t.Fatalf("after 20 failures the delay is %s, want the ceiling %s", prev, account.Max)
	}
	res, _ := l.Reserve(acct("alice"))
	if res == nil {
		t.Fatal("after the lock passed, the key is still locked")
	}
	res.Cancel()
	l.Reset("acct:alice")
	if res, _ := l.Reserve(acct("alice")); res == nil || res.Fail() != 0 {
		t.Fatal("after a success, the first failure locked the key")
	}
}

// TestSimultaneousAttempts: attempts that start together are counted
// before any of them ends, so no more get through than one after another
// (Free+1), and the rest are told how long to wait.
func TestSimultaneousAttempts(t *testing.T) {
	l := New()
	now := time.Unix(1_000_000, 0)
	l.SetClock(func() time.Time { return now })
	var admitted []*Reservation
	for i := 0; i < 20; i++ {
		res, wait := l.Reserve(acct("alice"), Key{Name: "ip:192.0.2.1", Rule: address})
		if res == nil {
			if wait != time.Second {
				t.Fatalf("refused attempt %d: wait %s, want the first delay 1s", i, wait)
			}
			continue
		}
		admitted = append(admitted, res)
	}
	if len(admitted) != account.Free+1 {
		t.Fatalf("%d of 20 simultaneous attempts got through, want %d as one after another", len(admitted), account.Free+1)
	}
	// The last one was right: it gives back its count and clears the
	// account; the others, wrong, fail afterwards and still count.
	admitted[len(admitted)-1].Cancel()
	l.Reset("acct:alice")
	for _, res := range admitted[:len(admitted)-1] {
		res.Fail()
	}
	if res, _ := l.Reserve(acct("alice")); res == nil {
		t.Fatal("after a success and five failures, the account is locked")
	} else {
		res.Cancel()
	}
	// The address counted five failures, not the right attempt.
	for i := 0; i < address.Free-5; i++ {
		res, _ := l.Reserve(Key{Name: "ip:192.0.2.1", Rule: address})
		if res == nil {
			t.Fatalf("address locked after %d failures; the right attempt counted too", 5+i)
		}
		res.Fail()
	}
	if res, _ := l.Reserve(Key{Name: "ip:192.0.2.1", Rule: address}); res == nil {
		t.Fatal("address locked after its free failures")
	} else if d := res.Fail(); d != time.Second {
		t.Fatalf("address's first lock = %s, want 1s", d)
	}
}

// TestRefusedAttemptCountsNothing: an attempt refused by one key does not
// count against the others.
func TestRefusedAttemptCountsNothing(t *testing.T) {
	l := New()
	now := time.Unix(1_000_000, 0)
	l.SetClock(func() time.Time { return now })
	for i := 0; i < account.Free+1; i++ {
		res, _ := l.Reserve(acct("alice"))
		res.Fail()
	}
	ip := Key{Name: "ip:192.0.2.1", Rule: Rule{Free: 0, Base: time.Second, Max: time.Minute}}
	if res, _ := l.Reserve(acct("alice"), ip); res != nil {
		t.Fatal("a locked account let an attempt through")
	}
	if res, wait := l.Reserve(ip); res == nil {
		t.Fatalf("the address is locked for %s by an attempt its account refused", wait)
	}
}

// TestConcurrentReservations races goroutines on one key: exactly Free+1
// get through.
func TestConcurrentReservations(t *testing.T) {
	l := New()
	var mu sync.Mutex
	var got int
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 50; i++ {
		wg.Go(func() {
			<-start
			res, _ := l.Reserve(acct("alice"))
			if res == nil {
				return
			}
			mu.Lock()
			got++
			mu.Unlock()
			time.Sleep(10 * time.Millisecond) // the slow check
			res.Fail()
		})
	}
	close(start)
	wg.Wait()
	if got != account.Free+1 {
		t.Fatalf("%d of 50 concurrent attempts got through, want %d", got, account.Free+1)
	}
}

func TestForgetsQuietKeys(t *testing.T) {
	l := New()
	now := time.Unix(1_000_000, 0)
	l.SetClock(func() time.Time { return now })
	for i := 0; i < 5; i++ {
		res, _ := l.Reserve(Key{Name: "k", Rule: account})
		res.Fail()
	}
	now = now.Add(2 * time.Hour)
	if res, _ := l.Reserve(Key{Name: "k", Rule: account}); res == nil || res.Fail() != 0 {
		t.Fatal("a failure after an hour of quiet locked the key")
	}
}

func TestMemoryIsBounded(t *testing.T) {
	l := New()
	l.MaxKeys = 100
	for i := 0; i < 10_000; i++ {
		if res, _ := l.Reserve(Key{Name: fmt.Sprintf("ip:%d", i), Rule: account}); res != nil {
			res.Fail()
		}
	}
	if n := l.Len(); n > 100 {
		t.Fatalf("tracking %d keys, bound is 100", n)
	}
	// A right attempt leaves nothing behind.
	l = New()
	res, _ := l.Reserve(Key{Name: "ip:1", Rule: account})
	res.Cancel()
	if n := l.Len(); n != 0 {
		t.Fatalf("after a cancelled attempt, tracking %d keys", n)
	}
}
