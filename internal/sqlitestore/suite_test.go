package sqlitestore

import (
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/storage/storetest"
)

// TestConformance runs the backend-neutral store suite on SQLite.
func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) storage.Store { return openTest(t) },
		Again: func(t *testing.T, s storage.Store) storage.Store {
			again, err := Open(t.Context(), s.(*Store).Path())
			if err != nil {
				t.Fatalf("Open again: %v", err)
			}
			t.Cleanup(func() { again.Close() })
			return again
		},
		SQL:      func(s storage.Store) storetest.SQL { return s.(*Store).w },
		SetClock: func(s storage.Store, now func() time.Time) { s.(*Store).now = now },
	})
}
