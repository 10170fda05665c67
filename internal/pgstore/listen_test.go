package pgstore

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/pgstore/pgtest"
	"github.com/ssogate/ssogate/internal/storage"
)

// waitFor polls cond for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

// TestListenerReconnects: when PostgreSQL drops the listening connection
// (pg_terminate_backend), the store connects again, runs its callbacks
// once for what it may have missed, and hears the next write of another
// process.
func TestListenerReconnects(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.Database(t)
	a, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var calls atomic.Int32
	a.OnChange(func() { calls.Add(1) })

	org, err := b.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if !waitFor(2*time.Second, func() bool { return calls.Load() > 0 }) {
		t.Fatal("a did not hear b's write")
	}

	before := calls.Load()
	var n int
	if err := b.r.QueryRowContext(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("terminated %d listeners (%v), want 2", n, err)
	}
	if !waitFor(5*time.Second, func() bool { return calls.Load() > before }) {
		t.Fatal("no catch-up run of the callbacks after the listener was cut")
	}
	// Reconnected: the next write is heard.
	if !waitFor(5*time.Second, func() bool {
		var listening int
		_ = b.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity
			WHERE datname = current_database() AND query LIKE 'LISTEN%'`).Scan(&listening)
		return listening == 2
	}) {
		t.Fatal("the listeners did not come back")
	}
	before = calls.Load()
	if _, err := b.ModifyConnection(ctx, org.ID, func(c *storage.Connection) error { c.IDPIssuer = "x"; return nil }); err != nil {
		t.Fatal(err)
	}
	if !waitFor(2*time.Second, func() bool { return calls.Load() > before }) {
		t.Fatal("a did not hear b's write after reconnecting")
	}
}

// TestMigrateOnce: stores opened together on a fresh database all come
// up on one schema.
func TestMigrateOnce(t *testing.T) {
	dsn := pgtest.Database(t)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			s, err := Open(context.Background(), dsn)
			if err == nil {
				s.Close()
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Errorf("Open = %v", err)
		}
	}
}
