package integration

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/password"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
)

// withStore runs fn on a second connection to the running gate's
// database (as the ssogate subcommands and a sidecar process do), with
// org acme.
func (e *env) withStore(fn func(st *sqlitestore.Store, org storage.Org) error) {
	e.t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, e.dbPath)
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	org, err := st.OrgByName(ctx, "acme")
	if err != nil {
		e.t.Fatal(err)
	}
	if err := fn(st, org); err != nil {
		e.t.Fatal(err)
	}
}

// seedMember adds a member with a role and, unless pw is empty, a password.
func (e *env) seedMember(email string, role storage.Role, pw string) storage.Member {
	e.t.Helper()
	var m storage.Member
	e.withStore(func(st *sqlitestore.Store, org storage.Org) error {
		ctx := context.Background()
		var err error
		m, err = st.CreateMember(ctx, org.ID, storage.NewMember{Email: email, GivenName: "Pat", FamilyName: "Doe", Role: role, Active: true}, false)
		if err != nil || pw == "" {
			return err
		}
		hash, err := password.Hash(pw)
		if err != nil {
			return err
		}
		return st.SetPasswordHash(ctx, email, hash)
	})
	return m
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// passwordLogin loads the password form and posts it; it returns the POST
// response.
func (e *env) passwordLogin(b *browser, email, pw string) *http.Response {
	e.t.Helper()
	resp := b.navigate(e.gate + "/sso/password?rd=/home")
	page := readBody(e.t, resp)
	m := csrfRE.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil {
		e.t.Fatalf("password form = %d without a CSRF token:\n%s", resp.StatusCode, page)
	}
	return b.postFrom(e.gate, e.gate+"/sso/password", url.Values{
		"csrf": {m[1]}, "rd": {"/home"}, "email": {email}, "password": {pw},
	})
}

func TestPasswordLogin(t *testing.T) {
	e := startEnv(t, "")
	e.seedMember("pat@acme.com", storage.RoleMember, "correct horse battery")
	b := newBrowser(t)

	resp := e.passwordLogin(b, "pat@acme.com", "wrong password!")
	wrong := readBody(t, resp)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(wrong, "Incorrect email or password") {
		t.Fatalf("wrong password = %d: %s", resp.StatusCode, wrong)
	}
	resp = e.passwordLogin(b, "nobody@acme.com", "wrong password!")
	unknown := readBody(t, resp)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(unknown, "Incorrect email or password") {
		t.Fatalf("unknown email = %d: %s", resp.StatusCode, unknown)
	}
	resp = e.passwordLogin(b, "pat@acme.com", "correct horse battery")
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/home" {
		t.Fatalf("right password = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	code, info := b.getJSON(e.gate+"/sso/userinfo", nil)
	if code != http.StatusOK || info["email"] != "pat@acme.com" {
		t.Fatalf("userinfo after password sign-in = %d %v", code, info)
	}

	// A form posted without the browser's CSRF cookie is refused.
	resp = newBrowser(t).postFrom(e.gate, e.gate+"/sso/password", url.Values{
		"csrf": {"forged"}, "email": {"pat@acme.com"}, "password": {"correct horse battery"},
	})
	readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("POST without CSRF cookie = %d, want 403", resp.StatusCode)
	}
}

func TestRequireSSOBreakGlass(t *testing.T) {
	e := startEnv(t, "require_sso")
	e.seedMember("pat@acme.com", storage.RoleMember, "member password 1")
	e.seedMember("root@acme.com", storage.RoleAdmin, "admin password 1")

	resp := e.passwordLogin(newBrowser(t), "pat@acme.com", "member password 1")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "requires single sign-on") {
		t.Fatalf("member with password under require_sso = %d: %s", resp.StatusCode, body)
	}
	admin := newBrowser(t)
	resp = e.passwordLogin(admin, "root@acme.com", "admin password 1")
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("admin break-glass sign-in = %d, want 303", resp.StatusCode)
	}
	code, info := admin.getJSON(e.gate+"/sso/userinfo", nil)
	if code != http.StatusOK || info["role"] != "admin" {
		t.Fatalf("admin userinfo = %d %v", code, info)
	}
	// The same member signs in through the IdP.
	m := newBrowser(t)
	resp = e.spLogin(m, "/home", "alice@acme.com")
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("SSO sign-in under require_sso = %d", resp.StatusCode)
	}
}

func TestIdPManagedAccess(t *testing.T) {
	e := startEnv(t, "idp_managed_access")
	resp := e.spLogin(newBrowser(t), "/", "bob@acme.com")
	body := readBody(t, resp)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "not been provisioned") {
		t.Fatalf("unprovisioned sign-in = %d: %s", resp.StatusCode, body)
	}
	e.seedMember("alice@acme.com", storage.RoleMember, "")
	b := newBrowser(t)
	resp = e.spLogin(b, "/", "alice@acme.com")
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("provisioned sign-in = %d, want 303", resp.StatusCode)
	}
}

// TestPasswordThrottle drives 20 wrong passwords at one account: after the
// free ones, each failure locks the account for longer (429 with a growing
// Retry-After), and once the lock has passed the right password works.
func TestPasswordThrottle(t *testing.T) {
	e := startEnv(t, "")
	e.seedMember("pat@acme.com", storage.RoleMember, "correct horse battery")
	b := newBrowser(t)
	var retries []int
	for i := 0; i < 20; i++ {
		resp := e.passwordLogin(b, "pat@acme.com", "wrong guess "+strconv.Itoa(i))
		readBody(t, resp)
		switch resp.StatusCode {
		case http.StatusUnauthorized:
		case http.StatusTooManyRequests:
			ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil || ra < 1 {
				t.Fatalf("429 without a usable Retry-After: %q", resp.Header.Get("Retry-After"))
			}
			retries = append(retries, ra)
			// Wait out the first two locks so that later failures count
			// and the delay can be seen growing.
			if len(retries) <= 2 {
				time.Sleep(time.Duration(ra) * time.Second)
			}
		default:
			t.Fatalf("attempt %d = %d", i, resp.StatusCode)
		}
	}
	if len(retries) < 3 || retries[1] <= retries[0] || retries[len(retries)-1] <= retries[0] {
		t.Fatalf("Retry-After values %v do not grow", retries)
	}
	// While locked, even the right password is refused.
	resp := e.passwordLogin(b, "pat@acme.com", "correct horse battery")
	readBody(t, resp)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right password while locked = %d, want 429", resp.StatusCode)
	}
	wait, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	time.Sleep(time.Duration(wait) * time.Second)
	resp = e.passwordLogin(b, "pat@acme.com", "correct horse battery")
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right password after the lock passed = %d, want 303", resp.StatusCode)
	}
}
