package pgstore

import (
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ssogate/ssogate/internal/storage"
)

func TestUnavailable(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"disk full", &pgconn.PgError{Code: "53100"}, true},
		{"too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"connection failure", &pgconn.PgError{Code: "08006"}, true},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, true},
		{"read-only standby", &pgconn.PgError{Code: "25006"}, true},
		{"connection dropped", fmt.Errorf("reading: %w", io.ErrUnexpectedEOF), true},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"not found", storage.ErrNotFound, false},
		{"other", errors.New("boom"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := unavailable(tc.err)
			if errors.Is(got, storage.ErrUnavailable) != tc.want {
				t.Errorf("unavailable(%v) = %v; ErrUnavailable %v", tc.err, got, tc.want)
			}
			if !errors.Is(got, tc.err) {
				t.Errorf("unavailable(%v) = %v lost the cause", tc.err, got)
			}
		})
	}
	if unavailable(nil) != nil {
		t.Error("unavailable(nil) != nil")
	}
}
