package sqlitestore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestFilesPrivate: the database and its -wal and -shm are readable by
// their owner only, also in a folder that exists and is open to others
// (as /var/lib/ssogate often is); a folder Open makes is its owner's only.
func TestFilesPrivate(t *testing.T) {
	for _, tt := range []struct {
		name    string
		path    func(dir string) string
		dirMode os.FileMode // of the database's folder afterwards
	}{
		{"existing 0755 folder", func(dir string) string { return filepath.Join(dir, "ssogate.db") }, 0o755},
		{"new folder", func(dir string) string { return filepath.Join(dir, "new", "ssogate.db") }, 0o700},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Chmod(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			path := tt.path(dir)
			s, err := Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			// A write makes sure the WAL and the shared memory exist.
			if _, err := s.EnsureOrg(context.Background(), "acme", true); err != nil {
				t.Fatal(err)
			}
			for _, f := range []string{path, path + "-wal", path + "-shm"} {
				fi, err := os.Stat(f)
				if err != nil {
					t.Fatalf("%s: %v", filepath.Base(f), err)
				}
				if m := fi.Mode().Perm(); m != 0o600 {
					t.Errorf("%s has mode %04o, want 0600", filepath.Base(f), m)
				}
			}
			fi, err := os.Stat(filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			if m := fi.Mode().Perm(); m != tt.dirMode {
				t.Errorf("the database's folder has mode %04o, want %04o", m, tt.dirMode)
			}
		})
	}
}
