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

// TestPreparedStatements runs the hot paths on the prepared statements,
// concurrently and more than once each, and checks that every writer
// statement was prepared.
func TestPreparedStatements(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, q := range writerQueries {
		if s.wstmts[q] == nil {
			t.Errorf("writer statement not prepared: %.60s", q)
		}
	}
	org, err := s.EnsureOrg(ctx, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SyncConfigDomains(ctx, org.ID, []string{"acme.com"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- func() error {
				for i := range 10 {
					email := fmt.Sprintf("u%d-%d@acme.com", g, i)
					m, err := s.CreateMember(ctx, org.ID, storage.NewMember{Email: email, GivenName: "U", Active: true}, true)
					if err != nil {
						return err
					}
					if _, err := s.CreateMember(ctx, org.ID, storage.NewMember{Email: email}, false); !errors.Is(err, storage.ErrConflict) {
						return fmt.Errorf("second create of %s = %v, want ErrConflict", email, err)
					}
					if ok, err := s.DomainVerified(ctx, org.ID, "acme.com"); err != nil || !ok {
						return fmt.Errorf("DomainVerified = %v, %v", ok, err)
					}
					if got, err := s.MemberByEmail(ctx, org.ID, email); err != nil || got.ID != m.ID {
						return fmt.Errorf("MemberByEmail = %+v, %v", got, err)
					}
					ident, err := s.Identity(ctx, m.ID)
					if err != nil || ident.Email != email || ident.OrgName != "acme" {
						return fmt.Errorf("Identity = %+v, %v", ident, err)
					}
					id := fmt.Sprintf("s-%d-%d", g, i)
					if err := s.CreateSession(ctx, storage.Session{ID: id, MemberID: m.ID, ExpiresAt: time.Now().Add(time.Hour).Unix()}, nil); err != nil {
						return err
					}
					if sess, err := s.SessionByID(ctx, id); err != nil || sess.MemberID != m.ID {
						return fmt.Errorf("SessionByID = %+v, %v", sess, err)
					}
					if err := s.DeleteSession(ctx, id); err != nil {
						return err
					}
					if _, err := s.SessionByID(ctx, id); !errors.Is(err, storage.ErrNotFound) {
						return fmt.Errorf("SessionByID after delete = %v", err)
					}
					a := fmt.Sprintf("a-%d-%d", g, i)
					if err := s.ConsumeAssertion(ctx, a, time.Now().Add(time.Hour).Unix()); err != nil {
						return err
					}
					if err := s.ConsumeAssertion(ctx, a, time.Now().Add(time.Hour).Unix()); !errors.Is(err, storage.ErrReplayed) {
						return fmt.Errorf("second ConsumeAssertion = %v, want ErrReplayed", err)
					}
				}
				return nil
			}()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}
