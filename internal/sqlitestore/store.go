// Package sqlitestore is the embedded SQLite backend of storage.Store. It
// uses a pure-Go driver (no cgo), WAL journaling so that readers never wait
// for the writer, a busy timeout so that several processes can share one
// file, foreign keys, and versioned migrations embedded in the binary.
//
// Writes go through a single connection with BEGIN IMMEDIATE transactions:
// SQLite allows one writer at a time anyway, and taking the write lock up
// front avoids the deadlock of two readers upgrading at once.
//
// Most queries are the ones both stores share (internal/sqlstore, through
// backend.go's dialect, transactions and statement caches); what is its
// own is the two pools, the prepared statements, the durability of
// txGrant, the group commit of CreateMember, TouchSessions and the WAL.
package sqlitestore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ssogate/ssogate/internal/sqlstore"
	"github.com/ssogate/ssogate/internal/storage"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a storage.Store on one SQLite file.
type Store struct {
	*sqlstore.Store // the queries shared with the other store

	path string
	w    *sql.DB // the single writer connection
	r    *sql.DB // a pool of read-only connections

	mu   sync.Mutex
	ckpt *sql.DB // opened by the first Checkpoint that needs it, under mu

	stmts  stmtCache            // prepared reader statements, see scim_stmt.go
	wstmts map[string]*sql.Stmt // prepared writer statements, see stmts.go

	creates createQueue // group commit of CreateMember, see create_batch.go

	now func() time.Time
}

var _ storage.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and brings its
// schema up to date.
func Open(ctx context.Context, path string) (*Store, error) {
	return open(ctx, path, 0)
}

// open is Open with the schema brought up to version upTo (0: the newest),
// for tests that make a database as an older binary left it.
func open(ctx context.Context, path string, upTo int) (*Store, error) {
	if path == "" {
		return nil, errors.New("database path is empty")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating database directory: %w", err)
		}
	}
	if err := create(path); err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	s := &Store{path: path, w: w, now: time.Now}
	s.Store = sqlstore.New(backend{s}, dialect)
	if err := s.migrate(ctx, upTo); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrating %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn(path, true))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	s.r = r
	if upTo > 0 {
		// An old schema is only for writing rows by hand; the prepared
		// statements need the newest.
		return s, nil
	}
	if err := s.prepareWriter(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("preparing statements on %s: %w", path, err)
	}
	return s, nil
}

// create makes the database file, empty, readable by its owner only,
// unless it exists. SQLite would create it with 0644 less the umask, and
// gives the -wal and -shm files it makes next to it the database file's
// mode: they hold the same secrets (session keys, live session IDs).
func create(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating database: %w", err)
	}
	return f.Close()
}

// Files returns the files that hold the database at path: the database
// itself and SQLite's -wal and -shm next to it (which may not exist).
func Files(path string) []string {
	return []string{path, path + "-wal", path + "-shm"}
}

// WriterSynchronous is the writer connection's PRAGMA synchronous, and
// GrantSynchronous the one of the frequent writes that give access (see
// txGrant). FULL syncs the WAL at every commit, so that an acknowledged
// write (a SCIM deactivation the IdP will not send again) survives a
// power loss as well as a crash; NORMAL is crash-safe only. Benchmarks
// set them before Open to compare.
var (
	WriterSynchronous = "FULL"
	GrantSynchronous  = "NORMAL"
)

// WALLimit is the size the -wal file is brought back to: SQLite truncates
// it to this at a reset (journal_size_limit), and Checkpoint truncates it
// when it has grown past it, as it does while a long reader pins it.
const WALLimit = 64 << 20

func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Add("_pragma", "synchronous("+WriterSynchronous+")")
		q.Add("_pragma", "journal_size_limit("+strconv.Itoa(WALLimit)+")")
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Close closes both connection pools.
func (s *Store) Close() error {
	errs := []error{s.closeWriterStmts()}
	s.mu.Lock()
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.Close())
	}
	s.mu.Unlock()
	if s.r != nil {
		errs = append(errs, s.r.Close())
	}
	errs = append(errs, s.w.Close())
	return errors.Join(errs...)
}

// migrate applies, in order, every embedded migration newer than the
// database's user_version (up to version upTo, when not 0), each in its
// own transaction.
func (s *Store) migrate(ctx context.Context, upTo int) error {
	var current int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&current); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	pending, err := sqlstore.Pending(migrations, current, upTo)
	if err != nil {
		return err
	}
	for _, m := range pending {
		err := s.tx(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
				return fmt.Errorf("applying %s: %w", m.Name, err)
			}
			_, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(m.Version))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// tx runs fn in a write transaction, committing when it returns nil,
// durably (WriterSynchronous). A failure of the file rather than of the
// write (see unavailable) is also storage.ErrUnavailable.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return runTx(ctx, s.w.BeginTx, fn)
}

// txGrant is tx for the frequent writes whose loss in a power cut gives
// no one access: a SCIM create, a session, the replay record that comes
// with it, last-seen times, audit rows. They commit with
// GrantSynchronous (NORMAL: crash-safe, not power-safe), which keeps
// the fsync off a sign-in and a lone IdP's push (README,
// "Operations"); every other write, and so every one that takes access
// away, commits with WriterSynchronous. synchronous is a setting of the
// connection, so txGrant holds the writer connection for the whole
// transaction and puts the setting back before letting it go.
func (s *Store) txGrant(ctx context.Context, fn func(*sql.Tx) error) error {
	if GrantSynchronous == WriterSynchronous {
		return s.tx(ctx, fn)
	}
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return unavailable(fmt.Errorf("taking the writer connection: %w", err))
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous="+GrantSynchronous); err != nil {
		return fmt.Errorf("setting synchronous: %w", err)
	}
	defer func() {
		if _, err := conn.ExecContext(context.Background(), "PRAGMA synchronous="+WriterSynchronous); err != nil {
			// The next write must not inherit the weaker setting:
			// discard the connection, the pool opens a fresh one.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	return runTx(ctx, conn.BeginTx, fn)
}

func runTx(ctx context.Context, begin func(context.Context, *sql.TxOptions) (*sql.Tx, error), fn func(*sql.Tx) error) error {
	tx, err := begin(ctx, nil)
	if err != nil {
		return unavailable(fmt.Errorf("beginning transaction: %w", err))
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return unavailable(err)
	}
	if err := tx.Commit(); err != nil {
		return unavailable(fmt.Errorf("committing: %w", err))
	}
	return nil
}

// unavailable marks err with storage.ErrUnavailable when SQLite says the
// file cannot take writes for now: the disk is full, the file or its
// directory is read-only, another writer held the lock past the busy
// timeout, or an I/O error. These pass when the operator acts, with no
// restart; the callers answer 503.
func unavailable(err error) error {
	var se *sqlite.Error
	if err == nil || errors.Is(err, storage.ErrUnavailable) || !errors.As(err, &se) {
		return err
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_BUSY,
		sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN:
		return fmt.Errorf("%w: %w", storage.ErrUnavailable, err)
	}
	return err
}

// isUnique reports whether err is a SQLite uniqueness violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return true
		}
	}
	return false
}

// Cause says in words, without paths or data, why SQLite failed: for a
// health probe's answer.
func Cause(err error) string {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		if errors.Is(err, context.DeadlineExceeded) {
			return "timed out"
		}
		return "unexpected error"
	}
	switch se.Code() & 0xff {
	case sqlite3.SQLITE_FULL:
		return "the database's disk is full"
	case sqlite3.SQLITE_READONLY:
		return "the database file is read-only"
	case sqlite3.SQLITE_BUSY:
		return "the database is locked by another writer"
	case sqlite3.SQLITE_IOERR:
		return "an I/O error on the database file"
	case sqlite3.SQLITE_CANTOPEN:
		return "the database file cannot be opened"
	}
	return "database error " + strconv.Itoa(se.Code()&0xff)
}
