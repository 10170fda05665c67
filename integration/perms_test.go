package integration

import (
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/spkey"
)

// openFolder makes a folder open to others, as /var/lib/ssogate often is
// before ssogate first runs.
func openFolder(t *testing.T, path string) string {
	t.Helper()
	if err := os.Mkdir(path, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return path
}

// wantPrivate fails for each file under root that others may read or
// write, and for each folder other than root (which the test made) that
// is not its owner's only.
func wantPrivate(t *testing.T, root string, mustExist ...string) {
	t.Helper()
	for _, name := range mustExist {
		if _, err := os.Stat(filepath.Join(root, name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		switch m := fi.Mode(); {
		case m.IsDir() && m.Perm() != 0o700:
			t.Errorf("folder %s has mode %04o, want 0700", rel, m.Perm())
		case m.IsRegular() && m.Perm() != 0o600:
			t.Errorf("file %s has mode %04o, want 0600", rel, m.Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFilesPrivate runs the gate with its database in a folder that
// exists and is open to others: the database, its -wal and -shm, after a
// sign-in, are the owner's only; a folder ssogate makes too.
func TestFilesPrivate(t *testing.T) {
	data := openFolder(t, filepath.Join(t.TempDir(), "data"))
	g := startPasswordGate(t, filepath.Join(data, "ssogate.db"))
	f := openPasswordForm(t, g.origin)
	if a := f.send(f.request("pat@acme.com", patPassword)); a.err != nil || a.status != http.StatusSeeOther {
		t.Fatalf("password sign-in = %d, %v", a.status, a.err)
	}
	wantPrivate(t, data, "ssogate.db", "ssogate.db-wal", "ssogate.db-shm")
	if strings.Contains(g.logs.String(), "chmod") {
		t.Errorf("a warning about permissions for files ssogate made:\n%s", g.logs.String())
	}

	// A folder ssogate makes for a new database (here through the CLI).
	fresh := filepath.Join(data, "new")
	if r := runSSOGate(t, g.bin, g.home, "", "org", "create", "globex", "--db", filepath.Join(fresh, "db", "ssogate.db")); r.code != 0 {
		t.Fatalf("ssogate org create: exit %d: %s", r.code, r.stderr)
	}
	wantPrivate(t, fresh, "db/ssogate.db")
}

// TestOpenFilesWarned starts the gate on a database and an SP key file
// that others may read: it starts, and its log names each file and the
// chmod that fixes it.
func TestOpenFilesWarned(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "ssogate.db")
	pair, err := spkey.Generate("sp.acme.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(dir, "sp.pem"), filepath.Join(dir, "sp-key.pem")
	for path, body := range map[string]string{db: "", cert: pair.CertificatePEM(), key: pair.KeyPEM()} {
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g := startPasswordGate(t, db, "sp_certificate "+cert, "sp_key "+key)
	logs := g.logs.String()
	for _, p := range []string{db, key} {
		if !strings.Contains(logs, p+" is open to other users") || !strings.Contains(logs, "chmod 600 "+p) {
			t.Errorf("no warning naming %s and `chmod 600 %[1]s`; the log:\n%s", p, logs)
		}
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "chmod") {
			t.Logf("warned: %s", line)
		}
	}
	if strings.Contains(logs, cert+" is open") {
		t.Errorf("a warning about the certificate, which is public:\n%s", logs)
	}
	// It still serves.
	f := openPasswordForm(t, g.origin)
	if a := f.send(f.request("pat@acme.com", patPassword)); a.status != http.StatusSeeOther {
		t.Fatalf("password sign-in = %d, %v", a.status, a.err)
	}
}

// TestDemoFilesPrivate runs `ssogate demo` on a folder that exists and is
// open to others: every file it writes there (database, -wal, -shm, the
// IdP's key, the Caddyfile, the log, Caddy's storage) is the owner's only.
func TestDemoFilesPrivate(t *testing.T) {
	bin := ssogateBinary(t)
	home := t.TempDir()
	dir := openFolder(t, filepath.Join(home, "demo"))
	args := []string{"demo", "--dir", dir}
	for _, flag := range []string{"--gate-port", "--scim-port", "--idp-port"} {
		args = append(args, flag, strconv.Itoa(freePort(t)))
	}
	cmd := ssogateCmd(bin, home, args...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
	})
	for start := time.Now(); !strings.Contains(out.String(), "Press Ctrl-C to stop."); time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("ssogate demo not ready after 30s; it printed, last:\n%s", lastLines(out.String(), 5))
		}
	}
	wantPrivate(t, dir, "ssogate.db", "ssogate.db-wal", "ssogate.db-shm", "idp-key.pem", "Caddyfile", "caddy.log")
}
