package pgstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"
	"sync"

	"github.com/ssogate/ssogate/internal/sqlstore"
)

// The shared queries (internal/sqlstore) take ? placeholders; PostgreSQL
// numbers its own ($1, $2, ...). DB and Tx rewrite them on the way, with
// the rewrites cached (pgx then caches each query's prepared statement
// per connection).

var rebound sync.Map // query with ? -> query with $n

// maxRebound bounds the cache: filter queries vary with the filter's
// shape, and an odd client cannot grow it past this.
const maxRebound = 1024

var reboundCount int64
var reboundMu sync.Mutex

// rebind numbers the ? placeholders of query, outside quoted strings.
func rebind(query string) string {
	if v, ok := rebound.Load(query); ok {
		return v.(string)
	}
	if !strings.Contains(query, "?") {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	inQuote := false
	for i := 0; i < len(query); i++ {
		c := query[i]
		switch {
		case c == '\'':
			inQuote = !inQuote
			b.WriteByte(c)
		case c == '?' && !inQuote:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	out := b.String()
	reboundMu.Lock()
	if reboundCount < maxRebound {
		reboundCount++
		rebound.Store(query, out)
	}
	reboundMu.Unlock()
	return out
}

// DB is the pool, taking ? placeholders. A read that finds its
// connection dropped (PostgreSQL restarted, a failover, an idle
// connection cut by a proxy) runs again on another.
type DB struct{ db *sql.DB }

func (d *DB) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return d.db.ExecContext(ctx, rebind(query), args...)
}

func (d *DB) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	q := rebind(query)
	var rows *sql.Rows
	var err error
	for range maxAttempts {
		if rows, err = d.db.QueryContext(ctx, q, args...); !connLost(err) || ctx.Err() != nil {
			break
		}
	}
	return rows, err
}

func (d *DB) QueryRowContext(ctx context.Context, query string, args ...any) sqlstore.Row {
	rows, err := d.QueryContext(ctx, query, args...)
	return &Row{rows, err}
}

// Row is the first row of a query's answer, as sql.Row.
type Row struct {
	rows *sql.Rows
	err  error
}

// Scan copies the row's columns into dest; sql.ErrNoRows when there is
// no row.
func (r *Row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	return r.rows.Close()
}

// Tx is a transaction, taking ? placeholders.
type Tx struct{ tx *sql.Tx }

func (t *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, rebind(query), args...)
}

func (t *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, rebind(query), args...)
}

func (t *Tx) QueryRowContext(ctx context.Context, query string, args ...any) sqlstore.Row {
	rows, err := t.tx.QueryContext(ctx, rebind(query), args...)
	return &Row{rows, err}
}
