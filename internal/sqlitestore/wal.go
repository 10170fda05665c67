package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"net/url"
	"os"
)

// Checkpoint brings the -wal file back under WALLimit when it has grown
// past it. SQLite's own checkpoints (every 1000 pages) cannot reset the
// WAL while a reader (a long report, a `sqlite3 .backup`) still needs its
// frames, so the file grows for as long as the reader lasts, and
// journal_size_limit trims it only at the next write after a reset.
// Called every second or so by a long-running process, Checkpoint costs
// a stat until the file is too big; then it copies the WAL into the
// database and truncates it, on a connection of its own with a short
// busy timeout, so that a reader still running makes it give up at once
// (to be tried again at the next call) instead of stalling the writer.
// It reports whether it truncated the file.
func (s *Store) Checkpoint(ctx context.Context) (bool, error) {
	fi, err := os.Stat(s.path + "-wal")
	if err != nil || fi.Size() <= WALLimit {
		return false, nil
	}
	s.mu.Lock()
	if s.ckpt == nil {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(100)")
		q.Add("_pragma", "journal_mode(WAL)")
		db, err := sql.Open("sqlite", "file:"+s.path+"?"+q.Encode())
		if err != nil {
			s.mu.Unlock()
			return false, fmt.Errorf("opening %s to checkpoint: %w", s.path, err)
		}
		db.SetMaxOpenConns(1)
		s.ckpt = db
	}
	db := s.ckpt
	s.mu.Unlock()
	// PASSIVE first, which takes no lock: frames left behind mean a
	// reader still needs them, and TRUNCATE would hold the write lock
	// while it waits for that reader.
	var busy, log, done int
	if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err != nil {
		return false, unavailable(fmt.Errorf("checkpointing %s: %w", s.path, err))
	}
	if busy != 0 || done < log {
		return false, nil
	}
	if err := db.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &log, &done); err != nil {
		return false, unavailable(fmt.Errorf("checkpointing %s: %w", s.path, err))
	}
	return busy == 0, nil
}

// InspectFiles reports what SQLite would recover silently when it opens
// the database at path: a -shm file without its -wal (the -wal was lost
// or not copied, and with it every write since the last checkpoint), or
// a -wal cut short of a whole frame (its last transactions are gone).
// Call it before Open, which makes the files anew.
func InspectFiles(path string) []string {
	var warnings []string
	wal, shm := path+"-wal", path+"-shm"
	_, werr := os.Stat(wal)
	if _, err := os.Stat(shm); err == nil && os.IsNotExist(werr) {
		warnings = append(warnings, fmt.Sprintf("%s exists but %s does not: the WAL was lost or not copied with the database, and with it the writes made since the last checkpoint", shm, wal))
	}
	if werr != nil {
		return warnings
	}
	if cut, size, err := walCut(wal); err == nil && cut {
		warnings = append(warnings, fmt.Sprintf("%s (%d bytes) is cut short of a whole frame: the transactions in its last frames are lost", wal, size))
	}
	return warnings
}

// walCut reports whether the WAL file at path is shorter than its header
// and frame size say: a header of 32 bytes, whose bytes 8-11 hold the
// page size, then frames of a 24-byte header and a page each.
func walCut(path string) (bool, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, 0, err
	}
	size := fi.Size()
	if size == 0 || size == WALLimit {
		// Reset after a checkpoint, or trimmed to journal_size_limit
		// (which cuts at a byte count, not at a frame).
		return false, size, nil
	}
	var hdr [32]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return true, size, nil
	}
	if magic := binary.BigEndian.Uint32(hdr[0:]); magic&^1 != 0x377f0682 {
		return true, size, nil
	}
	page := int64(binary.BigEndian.Uint32(hdr[8:]))
	if page == 1 {
		page = 65536
	}
	if page < 512 {
		return true, size, nil
	}
	return (size-32)%(page+24) != 0, size, nil
}

// Backup writes a consistent copy of the database to the file at to,
// readable by its owner only, while other processes keep reading and
// writing: VACUUM INTO, one read transaction as short as the copy (it
// writes a compact file, the WAL's committed frames included), on a
// connection of its own. It writes a temporary file beside to and
// renames it, so that to is never half written.
func (s *Store) Backup(ctx context.Context, to string) error {
	tmp := to + ".partial"
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("creating the backup: %w", err)
	}
	f.Close()
	defer os.Remove(tmp)
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+s.path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("opening %s: %w", s.path, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return unavailable(fmt.Errorf("copying %s: %w", s.path, err))
	}
	if err := syncFile(tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, to); err != nil {
		return fmt.Errorf("writing the backup: %w", err)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	return f.Sync()
}
