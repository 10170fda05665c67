package integration

import (
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

// TestFullDiskAnswers503ThroughTheBinary puts the database on a small
// loop-mounted ext4 and fills it: a sign-in gets a 503 page with
// Retry-After and a start-again link, a SCIM create a 503 SCIM error,
// /sso/health a 503 with the reason; once space is freed all recover
// without a restart, and the start-again link signs the person in.
func TestFullDiskAnswers503ThroughTheBinary(t *testing.T) {
	dir := smallFilesystem(t)
	g := startIdentityGateDB(t, filepath.Join(dir, "ssogate.db"), "")
	r := runSSOGate(t, g.bin, g.home, "", "token", "create", "--org", "acme", "--scope", "scim", "--db", g.db)
	if r.code != 0 {
		t.Fatalf("token create: exit %d: %s", r.code, r.stderr)
	}
	scim := strings.TrimSpace(r.stdout)
	r = runSSOGate(t, g.bin, g.home, "", "token", "create", "--org", "acme", "--scope", "admin", "--db", g.db)
	if r.code != 0 {
		t.Fatalf("token create: exit %d: %s", r.code, r.stderr)
	}
	admin := strings.TrimSpace(r.stdout)
	create := func(email string) (int, string) {
		b := newBrowser(t)
		resp := b.do("POST", g.sidecar+"/scim/v2/Users", strings.NewReader(fmt.Sprintf(
			`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"name":{"givenName":"F","familyName":"D"},"emails":[{"value":%q,"primary":true}],"active":true}`, email, email)),
			map[string]string{"Authorization": "Bearer " + scim, "Content-Type": "application/scim+json"})
		return resp.StatusCode, readBody(t, resp) + " Retry-After=" + resp.Header.Get("Retry-After")
	}
	health := func() (int, string) {
		resp := newBrowser(t).navigate(g.gate + "/sso/health")
		return resp.StatusCode, readBody(t, resp)
	}
	if code, body := create("before@acme.com"); code != http.StatusCreated {
		t.Fatalf("create before the disk fills = %d %s", code, body)
	}
	if code, body := health(); code != http.StatusOK {
		t.Fatalf("health before the disk fills = %d %s", code, body)
	}
	g.signIn("alice@acme.com") // the org's SP keys and alice's membership exist

	// Empty the WAL, so that the next writes must grow it, then fill
	// what is left of the disk.
	db, err := sql.Open("sqlite", "file:"+g.db+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	filler := filepath.Join(dir, "filler")
	fillDisk(t, filler)

	// The sign-in: the IdP answers, the gate cannot write the session.
	b := newBrowser(t)
	page := readBody(t, b.navigate(g.gate+"/sso/login?rd=/"))
	resp := b.navigate(g.gate + loginLink(t, page))
	readBody(t, resp)
	resp = ssoVia(t, b, g.idp, follow(t, resp), "alice@acme.com")
	page = readBody(t, resp)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(page, "We could not sign you in right now; try again in a minute") || !strings.Contains(page, `href="/sso/login?start=sso"`) {
		t.Fatalf("sign-in on a full disk = %d (Retry-After %q) %s; want 503, Retry-After and the start-again page", resp.StatusCode, resp.Header.Get("Retry-After"), page)
	}
	if code, body := create("during@acme.com"); code != http.StatusServiceUnavailable ||
		!strings.Contains(body, "urn:ietf:params:scim:api:messages:2.0:Error") || !strings.Contains(body, `"status":"503"`) || !strings.Contains(body, "Retry-After=30") {
		t.Fatalf("SCIM create on a full disk = %d %s; want a 503 SCIM error with Retry-After", code, body)
	}
	resp = newBrowser(t).do("POST", g.sidecar+"/api/v1/tokens", strings.NewReader(`{"name":"ci","scope":"scim"}`),
		map[string]string{"Authorization": "Bearer " + admin, "Content-Type": "application/json"})
	if body := readBody(t, resp); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || !strings.Contains(body, `"error":`) {
		t.Fatalf("admin API token create on a full disk = %d (Retry-After %q) %s; want 503 JSON", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// Within the probe's cache time of the last good answer.
	deadline := time.Now().Add(5 * time.Second)
	for {
		code, body := health()
		if code == http.StatusServiceUnavailable && strings.Contains(body, "disk is full") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health on a full disk = %d %s; want 503 naming the full disk", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// Space again: everything recovers, with no restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		code, body := health()
		if code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health after freeing space = %d %s", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if code, body := create("after@acme.com"); code != http.StatusCreated {
		t.Fatalf("create after freeing space = %d %s", code, body)
	}
	// The page's start-again link works at once.
	resp = b.navigate(g.gate + "/sso/login?start=sso")
	readBody(t, resp)
	resp = ssoVia(t, b, g.idp, follow(t, resp), "alice@acme.com")
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in through the start-again link after freeing space = %d", resp.StatusCode)
	}
	// The gate and the sidecar (one process here) each log the episode
	// once, however many requests it failed, and its end.
	logs := g.logs.String()
	if n := strings.Count(logs, "the store cannot write; answering 503"); n < 1 || n > 2 {
		t.Errorf("the cause was logged %d times; want once each by the gate and the sidecar", n)
	}
	if !strings.Contains(logs, "the store is available again") {
		t.Errorf("the end of the episode was not logged")
	}
}

// smallFilesystem mounts an 8 MiB ext4 image on a loop device and returns
// its mount point; it skips the test where loop mounts are not allowed.
func smallFilesystem(t *testing.T) string {
	t.Helper()
	tmp := t.TempDir()
	img, dir := filepath.Join(tmp, "fs.img"), filepath.Join(tmp, "mnt")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"truncate", "-s", "8M", img}, {"mkfs.ext4", "-q", "-m", "0", img}, {"mount", "-o", "loop", img, dir}} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Skipf("no small filesystem for the database: %s: %v: %s (needs root and loop devices)", strings.Join(args, " "), err, out)
		}
	}
	t.Cleanup(func() {
		// After the gate stops (cleanups run last-registered first, and
		// this one is registered before the gate starts).
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// fillDisk writes path until the filesystem has no space left.
func fillDisk(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				_ = f.Sync()
				return
			}
			t.Fatal(err)
		}
	}
}
