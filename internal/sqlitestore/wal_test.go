package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ssogate/ssogate/internal/storage"
)

func TestCheckpointAfterLongReader(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	reader, err := sql.Open("sqlite", "file:"+s.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	tx, err := reader.Begin()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := tx.QueryRow("SELECT COUNT(*) FROM settings").Scan(&n); err != nil {
		t.Fatal(err)
	}
	// 80 MiB of writes while the reader pins the WAL.
	big := []byte(strings.Repeat("x", 1<<20))
	for i := range 80 {
		if err := s.PutSetting(ctx, fmt.Sprint("k", i), big); err != nil {
			t.Fatal(err)
		}
	}
	if size := walSize(t, s); size <= WALLimit {
		t.Fatalf("WAL is %d bytes with a reader; the test needs it past %d", size, WALLimit)
	}
	if done, err := s.Checkpoint(ctx); err != nil || done {
		t.Fatalf("Checkpoint with the reader = %v, %v; want false, nil", done, err)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if done, err := s.Checkpoint(ctx); err != nil || !done {
		t.Fatalf("Checkpoint after the reader = %v, %v; want true, nil", done, err)
	}
	if size := walSize(t, s); size > WALLimit {
		t.Fatalf("WAL is %d bytes after the checkpoint; want at most %d", size, WALLimit)
	}
	if v, err := s.Setting(ctx, "k79"); err != nil || len(v) != len(big) {
		t.Fatalf("Setting after the checkpoint = %d bytes, %v", len(v), err)
	}
}

func walSize(t *testing.T, s *Store) int64 {
	t.Helper()
	fi, err := os.Stat(s.Path() + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

func TestInspectFiles(t *testing.T) {
	walHeader := func(pageSize uint32) []byte {
		h := make([]byte, 32)
		copy(h, []byte{0x37, 0x7f, 0x06, 0x82})
		h[8], h[9], h[10], h[11] = byte(pageSize>>24), byte(pageSize>>16), byte(pageSize>>8), byte(pageSize)
		return h
	}
	frames := func(n, pageSize int) []byte { return make([]byte, n*(24+pageSize)) }
	cases := []struct {
		name     string
		wal, shm []byte // nil: no such file
		want     string // in the warning; "" for none
	}{
		{"no files", nil, nil, ""},
		{"whole frames", append(walHeader(4096), frames(3, 4096)...), []byte{0}, ""},
		{"reset WAL", []byte{}, []byte{0}, ""},
		{"shm without wal", nil, []byte{0}, "was lost"},
		{"cut frame", append(walHeader(4096), frames(3, 4096)[:3*4120-100]...), []byte{0}, "cut short"},
		{"cut header", walHeader(4096)[:20], nil, "cut short"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "ssogate.db")
			for suffix, body := range map[string][]byte{"-wal": c.wal, "-shm": c.shm} {
				if body != nil {
					if err := os.WriteFile(path+suffix, body, 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			got := strings.Join(InspectFiles(path), "\n")
			if c.want == "" && got != "" || !strings.Contains(got, c.want) {
				t.Fatalf("InspectFiles = %q; want %q", got, c.want)
			}
			if c.want != "" && !strings.Contains(got, path) {
				t.Fatalf("InspectFiles = %q; want the file named", got)
			}
		})
	}
}

// TestUnavailable: SQLite's failures of the file are ErrUnavailable,
// failures of the write are not.
func TestUnavailable(t *testing.T) {
	s := openTest(t)
	ro, err := sql.Open("sqlite", "file:"+s.Path()+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, readOnly := ro.Exec("INSERT INTO settings(key, value) VALUES ('k', 'v')")
	_, unique := s.w.Exec("INSERT INTO settings(key, value) VALUES ('k', 'v'), ('k', 'v')")
	// Locked past the busy timeout: another writer holds the lock.
	holder, err := sql.Open("sqlite", "file:"+s.Path()+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	htx, err := holder.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer htx.Rollback() //nolint:errcheck // the test's end
	waiter, err := sql.Open("sqlite", "file:"+s.Path()+"?_txlock=immediate&_pragma=busy_timeout(50)")
	if err != nil {
		t.Fatal(err)
	}
	defer waiter.Close()
	_, busy := waiter.Begin()
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"read-only", readOnly, true},
		{"busy", busy, true},
		{"uniqueness", unique, false},
		{"not SQLite", errors.New("other"), false},
		{"nil", nil, false},
	} {
		if tc.err == nil && tc.name != "nil" {
			t.Fatalf("%s: no error to classify", tc.name)
		}
		if got := errors.Is(unavailable(tc.err), storage.ErrUnavailable); got != tc.want {
			t.Errorf("%s (%v): unavailable = %v; want %v", tc.name, tc.err, got, tc.want)
		}
	}
	if c := Cause(unavailable(readOnly)); c != "the database file is read-only" {
		t.Errorf("Cause = %q", c)
	}
	if c := Cause(unavailable(busy)); c != "the database is locked by another writer" {
		t.Errorf("Cause = %q", c)
	}
}
