// Package pgstore is the PostgreSQL backend of storage.Store, for several
// gateway replicas sharing one database. It keeps the SQLite backend's
// schema and semantics (internal/sqlitestore): the same tables, the same
// change feed kept by triggers, versioned migrations embedded in the
// binary. Most queries are the ones both stores share (internal/sqlstore,
// through backend.go's dialect and transactions); what is its own is the
// pool, the retry policy, the listener, the one-statement CreateMember
// and the batched TouchSessions.
//
// Where the SQLite store relies on its single writer, every write
// transaction here runs at SERIALIZABLE isolation and is run again when
// PostgreSQL aborts it as a serialization failure or deadlock: writers on
// different replicas then behave as if they took turns (no duplicate
// member from two simultaneous creates, no lost team member, one session
// per assertion).
//
// The change feed is pushed as well as polled: a trigger NOTIFYs on every
// change row, and a listener on its own connection runs the OnChange
// callbacks, so that other processes' writes reach this one's caches at
// once (its own writes ran them already); after a reconnect it runs them
// too, so the callers' catch-up read (ChangesSince) finds what was missed.
package pgstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/ssogate/ssogate/internal/sqlstore"
	"github.com/ssogate/ssogate/internal/storage"
)

//go:embed migrations/*.sql
var migrations embed.FS

// notifyChannel is the channel the changes trigger notifies.
const notifyChannel = "ssogate_changes"

// migrationLock is the advisory lock key (per database, arbitrary) held
// while migrating, so that replicas starting together migrate once
// (5502625406 is the changes_seq trigger's, in migrations/0001_init.sql).
const migrationLock = 5502625405

// Store is a storage.Store on one PostgreSQL database.
type Store struct {
	*sqlstore.Store // the queries shared with the other store

	dsn  string
	pool *pgxpool.Pool
	db   *sql.DB  // pool, through database/sql
	r    *DB      // db, with ? placeholders
	own  sync.Map // PIDs of pool's backends

	stop     context.CancelFunc
	listened chan struct{} // closed when the listener has ended

	now func() time.Time
}

var _ storage.Store = (*Store)(nil)

// Open connects to the database named by dsn (a postgres:// URL or a
// key=value string; TLS options as libpq takes them), brings its schema up
// to date and starts listening for other processes' changes.
func Open(ctx context.Context, dsn string) (*Store, error) {
	if dsn == "" {
		return nil, errors.New("database DSN is empty")
	}
	pcfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the DSN, password included.
		return nil, errors.New("parsing the PostgreSQL DSN: not a valid postgres:// URL or key=value string")
	}
	s := &Store{dsn: dsn, now: time.Now, listened: make(chan struct{})}
	s.Store = sqlstore.New(backend{s}, dialect)
	if pcfg.MaxConns < 16 {
		pcfg.MaxConns = 16
	}
	// The backends of this pool, whose notifications the listener skips:
	// their writes ran the callbacks already.
	pcfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		s.own.Store(c.PgConn().PID(), true)
		return durableCommits(ctx, c)
	}
	pcfg.BeforeClose = func(c *pgx.Conn) { s.own.Delete(c.PgConn().PID()) }
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	db := stdlib.OpenDBFromPool(pool)
	s.pool, s.db, s.r = pool, db, &DB{db}
	if err := s.migrate(ctx); err != nil {
		s.closePool()
		return nil, fmt.Errorf("migrating the PostgreSQL database: %w", err)
	}
	cfg := pcfg.ConnConfig
	lctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	ready := make(chan error, 1)
	go s.listen(lctx, cfg, ready)
	select {
	case err := <-ready:
		if err != nil {
			cancel()
			<-s.listened
			s.closePool()
			return nil, fmt.Errorf("listening for changes: %w", err)
		}
	case <-ctx.Done():
		cancel()
		<-s.listened
		s.closePool()
		return nil, ctx.Err()
	}
	return s, nil
}

// Close stops the listener and closes the pool.
func (s *Store) Close() error {
	s.stop()
	<-s.listened
	return s.closePool()
}

func (s *Store) closePool() error {
	err := s.db.Close()
	s.pool.Close()
	return err
}

// DB returns the underlying pool, for tests and tools.
func (s *Store) DB() *sql.DB { return s.db }

// migrate applies, in order, every embedded migration newer than the
// database's schema version, each in its own transaction, holding an
// advisory lock so that processes starting together migrate once.
func (s *Store) migrate(ctx context.Context) error {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return fmt.Errorf("taking the migration lock: %w", err)
	}
	defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", migrationLock) //nolint:errcheck
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); err != nil {
		return fmt.Errorf("making the schema version table: %w", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&current); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	pending, err := sqlstore.Pending(migrations, current, 0)
	if err != nil {
		return err
	}
	for _, m := range pending {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("applying %s: %w", m.Name, err)
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM schema_version; INSERT INTO schema_version VALUES ("+strconv.Itoa(m.Version)+")"); err != nil {
			_ = tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("applying %s: %w", m.Name, err)
		}
	}
	return nil
}

// maxAttempts bounds how often a write transaction is run again after
// PostgreSQL aborted it to keep writers serializable.
const maxAttempts = 30

// tx runs fn in a SERIALIZABLE transaction, committing when it returns
// nil, and runs it again (fn must not keep state across runs) when
// PostgreSQL aborts it as a serialization failure or deadlock.
func (s *Store) tx(ctx context.Context, fn func(*Tx) error) error {
	var err error
	for attempt := range maxAttempts {
		if err = s.tx1(ctx, sql.LevelSerializable, fn); !retryable(err) {
			return unavailable(err)
		}
		// Jittered backoff, so that the writers that collided do not
		// collide again.
		wait := time.Duration(rand.IntN(1<<min(attempt, 7)+1)) * time.Millisecond
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return errors.Join(unavailable(err), ctx.Err())
		}
	}
	return unavailable(err)
}

// txReadCommitted runs fn in a READ COMMITTED transaction, for writes
// that make their own locks, run again like tx's on a deadlock.
func (s *Store) txReadCommitted(ctx context.Context, fn func(*Tx) error) error {
	var err error
	for range maxAttempts {
		if err = s.tx1(ctx, sql.LevelReadCommitted, fn); !retryable(err) {
			return unavailable(err)
		}
	}
	return unavailable(err)
}

func (s *Store) tx1(ctx context.Context, level sql.IsolationLevel, fn func(*Tx) error) error {
	sqlTx, err := s.db.BeginTx(ctx, &sql.TxOptions{Isolation: level})
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(&Tx{sqlTx}); err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		// Not retryable: a commit whose connection dropped may have
		// committed.
		return commitError{err}
	}
	return nil
}

type commitError struct{ error }

func (e commitError) Error() string { return "committing: " + e.error.Error() }
func (e commitError) Unwrap() error { return e.error }

// retryable reports whether err aborted a transaction that may succeed
// when run again: PostgreSQL aborted it to keep writers serializable, or
// its connection dropped before the commit.
func retryable(err error) bool {
	if errors.As(err, new(commitError)) {
		return errors.As(err, new(*pgconn.PgError)) && serializationFailure(err)
	}
	return serializationFailure(err) || connLost(err)
}

func serializationFailure(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01": // serialization_failure, deadlock_detected
			return true
		}
	}
	return false
}

// connLost reports whether err is the loss of a connection (the server
// ended it, or it broke) rather than an answer.
func connLost(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// connection_exception, admin_shutdown, crash_shutdown,
		// cannot_connect_now
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	return errors.Is(err, driver.ErrBadConn) || pgconn.SafeToRetry(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// unavailable marks the errors of a store that cannot write now, and may
// later, as storage.ErrUnavailable, which the gate and the sidecar answer
// with 503 and Retry-After: PostgreSQL unreachable or restarting, its
// disk full or out of resources, or a read-only server (a standby).
func unavailable(err error) error {
	if err == nil || errors.Is(err, storage.ErrUnavailable) {
		return err
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// insufficient_resources (53100 disk_full among them) and
		// read_only_sql_transaction, besides connLost's codes.
		if !connLost(err) && !strings.HasPrefix(pe.Code, "53") && pe.Code != "25006" {
			return err
		}
	} else if !connLost(err) && !errors.As(err, new(*pgconn.ConnectError)) {
		return err
	}
	return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
}

// listen holds a connection LISTENing on notifyChannel and runs the
// OnChange callbacks on each notification, reconnecting (with a catch-up
// run of the callbacks) when the connection drops. ready gets the first
// connection's outcome.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, ready chan<- error) {
	defer close(s.listened)
	first := true
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+notifyChannel)
		}
		if first {
			first = false
			ready <- err
			if err != nil {
				if conn != nil {
					conn.Close(context.Background())
				}
				return
			}
		} else if err == nil {
			// What was written while no one listened.
			s.Changed()
		}
		if err == nil {
			backoff = 50 * time.Millisecond
			for {
				var n *pgconn.Notification
				if n, err = conn.WaitForNotification(ctx); err != nil {
					break
				}
				if _, mine := s.own.Load(n.PID); !mine {
					s.Changed()
				}
			}
		}
		if conn != nil {
			conn.Close(context.Background())
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// isUnique reports whether err is a uniqueness violation.
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// isUniqueOn reports whether err is a unique violation of the constraint
// (or unique index) named constraint.
func isUniqueOn(err error, constraint string) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" && pe.ConstraintName == constraint
}

// limitArg is a LIMIT's argument: PostgreSQL takes NULL, not -1, for no
// limit.
func limitArg(limit int) any {
	if limit < 0 {
		return nil
	}
	return limit
}

// durableCommits makes the session's commits wait for the disk when the
// server's or database's default is synchronous_commit=off: an
// acknowledged revocation (a deactivation, a logout) must survive a power
// loss, or the IdP believes a person is off while the gate lets them back
// in. Other settings (on, local, remote_write, remote_apply) all flush
// locally first and are left as the operator chose.
func durableCommits(ctx context.Context, c *pgx.Conn) error {
	var v string
	if err := c.QueryRow(ctx, "SHOW synchronous_commit").Scan(&v); err != nil {
		return fmt.Errorf("reading synchronous_commit: %w", err)
	}
	if v != "off" {
		return nil
	}
	if _, err := c.Exec(ctx, "SET synchronous_commit TO on"); err != nil {
		return fmt.Errorf("turning synchronous_commit on: %w", err)
	}
	return nil
}
