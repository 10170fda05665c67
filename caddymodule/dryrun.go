package caddymodule

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
)

// dryRun is set in a process that only checks a config (`validate`,
// `adapt --validate`): Caddy provisions every module to check it, and
// provisioning opens the database, creates it when missing and writes the
// orgs the config names. In a dry run the app works on a throwaway copy
// of the database instead, so that checking a config writes nothing.
var dryRun atomic.Bool

// dryRunCopy returns the path of a copy of the database at path in a new
// temporary folder (an empty folder when there is no database yet), and
// the folder, to remove when done.
func dryRunCopy(ctx context.Context, path string) (copyPath, dir string, err error) {
	dir, err = os.MkdirTemp("", "ssogate-validate-")
	if err != nil {
		return "", "", fmt.Errorf("making a folder for the dry run: %w", err)
	}
	copyPath = filepath.Join(dir, "ssogate.db")
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return copyPath, dir, nil
	}
	if err := vacuumInto(ctx, path, copyPath); err != nil {
		// A database SQLite cannot open read-only: copy its files.
		os.Remove(copyPath)
		for _, suffix := range []string{"", "-wal"} {
			if cerr := copyFile(path+suffix, copyPath+suffix); cerr != nil && !errors.Is(cerr, fs.ErrNotExist) {
				os.RemoveAll(dir)
				return "", "", fmt.Errorf("copying the database for the dry run: %w (and %v)", cerr, err)
			}
		}
	}
	return copyPath, dir, nil
}

// vacuumInto writes a consistent copy of the database at src to dst,
// opening src read-only.
func vacuumInto(ctx context.Context, src, dst string) error {
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Path: src, RawQuery: q.Encode()}).String())
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", dst)
	return err
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// endDryRun removes the dry run's folder, if any.
func endDryRun(dir string) {
	if dir != "" {
		os.RemoveAll(dir)
	}
}
