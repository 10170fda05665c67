package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLostWALWarnedAtStartThroughTheBinary: a database whose -wal is
// missing beside its -shm (a copy of the .db alone, or a lost file)
// starts, as SQLite does, but with a loud log line naming the files.
func TestLostWALWarnedAtStartThroughTheBinary(t *testing.T) {
	bin := ssogateBinary(t)
	home := t.TempDir()
	db := filepath.Join(home, "ssogate.db")
	if r := runSSOGate(t, bin, home, "", "org", "create", "acme", "--db", db); r.code != 0 {
		t.Fatalf("org create: exit %d: %s", r.code, r.stderr)
	}
	if err := os.WriteFile(db+"-shm", make([]byte, 32768), 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(db + "-wal")
	port := freePort(t)
	cfg := filepath.Join(home, "Caddyfile")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`{
	admin off
	ssogate {
		database sqlite %s
	}
}

http://127.0.0.1:%d {
	scim_server
}
`, db, port)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, logs := startSSOGate(t, bin, home, cfg, port)
	out := logs.String()
	if !strings.Contains(out, "DATABASE FILES INCOMPLETE") || !strings.Contains(out, db+"-shm") || !strings.Contains(out, db+"-wal") {
		t.Fatalf("no warning naming the files at start; log:\n%s", out)
	}
}
