package sqlitestore

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
)

// forceBatch runs the creates while a batch is held, so that they queue
// and the next leader runs them all in one transaction; it returns each
// create's error.
func forceBatch(t *testing.T, s *Store, orgID int64, calls []call) []error {
	t.Helper()
	s.creates.run.Lock()
	var wg sync.WaitGroup
	errs := make([]error, len(calls))
	queued := 0
	for i, c := range calls {
		if c.ctx.Err() == nil {
			queued++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.CreateMember(c.ctx, orgID, c.nm, c.requireNew)
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); ; {
		s.creates.mu.Lock()
		n := len(s.creates.pending)
		s.creates.mu.Unlock()
		if n == queued { // a canceled caller never queues
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d creates queued, want %d", n, queued)
		}
		time.Sleep(time.Millisecond)
	}
	s.creates.run.Unlock()
	wg.Wait()
	return errs
}

type call struct {
	nm         storage.NewMember
	requireNew bool
	ctx        context.Context
	want       func(error) bool
}

// TestCreateMemberBatch checks that creates run together have each the
// outcome it would have alone: duplicates refused but for the first, an
// account of another org refused or joined as asked, a caller that gave
// up skipped; and that a create failing otherwise (a bad role) fails
// alone, the others running again in their own transactions.
func TestCreateMemberBatch(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	acme, _ := s.EnsureOrg(ctx, "acme", false)
	other, _ := s.EnsureOrg(ctx, "other", false)
	for _, e := range []string{"elsewhere@acme.com", "joins@acme.com"} {
		if _, err := s.CreateMember(ctx, other.ID, storage.NewMember{Email: e}, true); err != nil {
			t.Fatal(err)
		}
	}
	ok := func(err error) bool { return err == nil }
	is := func(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }
	gone, cancel := context.WithCancel(ctx)
	cancel()

	var calls []call
	for i := range 20 {
		calls = append(calls, call{nm: storage.NewMember{Email: fmt.Sprintf("m%02d@acme.com", i), Active: true}, requireNew: true, ctx: ctx, want: ok})
	}
	calls = append(calls,
		call{nm: storage.NewMember{Email: "elsewhere@acme.com"}, requireNew: true, ctx: ctx, want: is(storage.ErrAccountExists)},
		call{nm: storage.NewMember{Email: "joins@acme.com"}, requireNew: false, ctx: ctx, want: ok},
		call{nm: storage.NewMember{Email: "gaveup@acme.com"}, requireNew: true, ctx: gone, want: is(context.Canceled)},
	)
	for range 6 {
		calls = append(calls, call{nm: storage.NewMember{Email: "dup@acme.com"}, requireNew: true, ctx: ctx,
			want: func(err error) bool { return err == nil || errors.Is(err, storage.ErrConflict) }})
	}
	errs := forceBatch(t, s, acme.ID, calls)
	dup := 0
	for i, c := range calls {
		if !c.want(errs[i]) {
			t.Errorf("create %s = %v", c.nm.Email, errs[i])
		}
		if c.nm.Email == "dup@acme.com" && errs[i] == nil {
			dup++
		}
	}
	if dup != 1 {
		t.Errorf("dup@acme.com created %d times, want once", dup)
	}
	if s.creates.batches != 1 {
		t.Errorf("%d shared transactions, want 1", s.creates.batches)
	}

	// A failing create rolls the batch back; each runs again alone.
	errs = forceBatch(t, s, acme.ID, []call{
		{nm: storage.NewMember{Email: "a@acme.com"}, requireNew: true, ctx: ctx},
		{nm: storage.NewMember{Email: "badrole@acme.com", Role: "superuser"}, requireNew: true, ctx: ctx},
		{nm: storage.NewMember{Email: "m00@acme.com"}, requireNew: true, ctx: ctx},
		{nm: storage.NewMember{Email: "b@acme.com"}, requireNew: true, ctx: ctx},
	})
	if errs[0] != nil || errs[1] == nil || errors.Is(errs[1], storage.ErrConflict) || !errors.Is(errs[2], storage.ErrConflict) || errs[3] != nil {
		t.Errorf("batch with a bad role: %v", errs)
	}
	if s.creates.batches != 1 {
		t.Errorf("%d shared transactions committed, want still 1", s.creates.batches)
	}

	members, total, err := s.ListMembers(ctx, acme.ID, storage.Page{})
	if err != nil || total != 24 || len(members) != 24 {
		t.Fatalf("acme has %d members (%v), want 24: 20 new, joins@, dup@, a@ and b@", total, err)
	}
	if _, total, _ := s.FindMembers(ctx, acme.ID, storage.Query{Count: 1}); total != 24 {
		t.Errorf("member_counts says %d, want 24", total)
	}
}
