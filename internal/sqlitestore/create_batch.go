package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"sync"

	"github.com/ssogate/ssogate/internal/storage"
)

// Group commit of CreateMember. An IdP pushing users sends many creates
// at once; SQLite takes one writer at a time, and each create's own
// transaction (the write lock, the commit's WAL frames for a dozen pages,
// the hand-over to the next waiting writer) was most of its cost. Creates
// that arrive while another runs wait for it, and the next of them runs
// the whole queue in one transaction, in arrival order, each as if alone:
// a refusal (the account is a member already, or exists elsewhere) writes
// nothing and the others go on. Any other error rolls the shared
// transaction back and each create runs again in its own.
//
// The shared transaction's statements run without the callers' contexts,
// so that one caller giving up cannot interrupt (and so roll back) the
// others' work; a caller whose context ends before its turn is skipped.

type createRequest struct {
	ctx               context.Context
	orgID             int64
	nm                storage.NewMember
	requireNewAccount bool

	m    storage.Member
	err  error
	done bool // set under createQueue.run
}

type createQueue struct {
	mu      sync.Mutex // guards pending
	pending []*createRequest
	run     sync.Mutex // held while a batch runs
	batches int        // shared transactions committed (under run), for tests
}

// errRefused marks a refusal made before any write.
type errRefused struct{ error }

func (e errRefused) Unwrap() error { return e.error }

// createBatched queues r and returns its outcome once a batch has run it,
// running the batch itself if no one else did.
func (s *Store) createBatched(ctx context.Context, r *createRequest) (storage.Member, error) {
	if err := ctx.Err(); err != nil {
		return storage.Member{}, err
	}
	q := &s.creates
	q.mu.Lock()
	q.pending = append(q.pending, r)
	q.mu.Unlock()
	q.run.Lock()
	if !r.done {
		q.mu.Lock()
		batch := q.pending
		q.pending = nil
		q.mu.Unlock()
		s.runCreates(batch)
	}
	q.run.Unlock()
	return r.m, r.err
}

func (s *Store) runCreates(batch []*createRequest) {
	defer func() {
		for _, r := range batch {
			r.done = true
		}
	}()
	if len(batch) > 1 {
		ctx := context.Background()
		err := s.txGrant(ctx, func(tx *sql.Tx) error {
			for _, r := range batch {
				if r.err = r.ctx.Err(); r.err != nil {
					continue
				}
				r.m, r.err = s.createMember(ctx, s.cached(tx), r.orgID, r.nm, r.requireNewAccount)
				var refused errRefused
				if r.err != nil && !errors.As(r.err, &refused) {
					return r.err
				}
			}
			return nil
		})
		if err == nil {
			s.creates.batches++
			return
		}
	}
	// Alone, as the first of a queue, or again after a failed batch.
	for _, r := range batch {
		if r.err = r.ctx.Err(); r.err != nil {
			continue
		}
		r.err = s.txGrant(r.ctx, func(tx *sql.Tx) error {
			var err error
			r.m, err = s.createMember(r.ctx, s.cached(tx), r.orgID, r.nm, r.requireNewAccount)
			return err
		})
	}
}
