package integration

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
)

// TestBackupWhileServingThroughTheBinary runs `ssogate backup` while the
// gate serves: the copy is owner-only and holds what was acknowledged,
// the session that a sign-in wrote included.
func TestBackupWhileServingThroughTheBinary(t *testing.T) {
	g := startIdentityGate(t)
	g.signIn("alice@acme.com")
	to := filepath.Join(t.TempDir(), "copy.db")
	r := runSSOGate(t, g.bin, g.home, "", "backup", "--to", to, "--db", g.db)
	if r.code != 0 {
		t.Fatalf("backup: exit %d: %s", r.code, r.stderr)
	}
	fi, err := os.Stat(to)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("the copy's mode is %v; want 0600", fi.Mode().Perm())
	}
	db, err := sql.Open("sqlite", "file:"+to+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var members, sessions int
	if err := db.QueryRow("SELECT (SELECT COUNT(*) FROM memberships), (SELECT COUNT(*) FROM sessions)").Scan(&members, &sessions); err != nil {
		t.Fatal(err)
	}
	if members != 1 || sessions != 1 {
		t.Fatalf("the copy has %d members and %d sessions; want alice and her session", members, sessions)
	}
	// The gate still serves after the copy.
	g.signIn("alice@acme.com")
}
