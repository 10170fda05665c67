package gate

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/ssogate/ssogate/internal/storage"
)

// addOrg makes another org with one active member in the fixture's store.
func (f *fixture) addOrg(t *testing.T, name, email string) (storage.Org, storage.Member) {
	t.Helper()
	ctx := context.Background()
	org, err := f.store.EnsureOrg(ctx, name, false)
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.store.CreateMember(ctx, org.ID, storage.NewMember{Email: email, Active: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	return org, m
}

// issueFor starts a session of the member, signed in by method.
func (f *fixture) issueFor(t *testing.T, memberID, method string) string {
	t.Helper()
	ident, err := f.store.Identity(context.Background(), memberID)
	if err != nil {
		t.Fatal(err)
	}
	c, _, err := f.s.Issue(context.Background(), ident, method, IdPSession{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCookieIsBoundToItsOrg: acme's cookie is refused by a gate of
// globex, whether or not this process has it cached, and accepted by a
// gate serving every org.
func TestCookieIsBoundToItsOrg(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	acme := f.org
	globex, gus := f.addOrg(t, "globex", "gus@globex.com")
	c := f.issue(t)

	if _, err := f.s.Lookup(ctx, c, globex.ID); !errors.Is(err, ErrOtherOrg) || !errors.Is(err, ErrNoSession) {
		t.Fatalf("Lookup(acme's cookie, globex) before caching = %v, want ErrOtherOrg matching ErrNoSession", err)
	}
	if n := f.s.Cached(); n != 0 {
		t.Fatalf("a refused Lookup cached %d sessions", n)
	}
	e, err := f.s.Lookup(ctx, c, acme.ID)
	if err != nil {
		t.Fatalf("Lookup(acme's cookie, acme) = %v", err)
	}
	if e.Identity.OrgID != acme.ID || e.HOrg[0] != "acme" {
		t.Errorf("Lookup(acme's cookie, acme) = org %d %q, want %d acme", e.Identity.OrgID, e.HOrg[0], acme.ID)
	}
	if _, err := f.s.Lookup(ctx, c, globex.ID); !errors.Is(err, ErrOtherOrg) {
		t.Fatalf("Lookup(acme's cookie, globex) once cached = %v, want ErrOtherOrg", err)
	}
	shared, err := f.s.Lookup(ctx, c, AnyOrg)
	if err != nil || shared != e {
		t.Fatalf("Lookup(acme's cookie, AnyOrg) = %p, %v; want the cached entry %p", shared, err, e)
	}
	// The refusal did not evict acme's own use of it.
	if again, err := f.s.Lookup(ctx, c, acme.ID); err != nil || again != e {
		t.Errorf("Lookup(acme's cookie, acme) after globex's refusal = %p, %v; want the cached entry %p", again, err, e)
	}

	g := f.issueFor(t, gus.ID, storage.MethodSAML)
	if _, err := f.s.Lookup(ctx, g, acme.ID); !errors.Is(err, ErrOtherOrg) {
		t.Errorf("Lookup(globex's cookie, acme) = %v, want ErrOtherOrg", err)
	}
	ge, err := f.s.Lookup(ctx, g, globex.ID)
	if err != nil || ge.Identity.OrgID != globex.ID || ge.HOrg[0] != "globex" {
		t.Fatalf("Lookup(globex's cookie, globex) = %+v, %v", ge, err)
	}
	if _, err := f.s.Lookup(ctx, g, acme.ID); !errors.Is(err, ErrOtherOrg) {
		t.Errorf("Lookup(globex's cookie, acme) once cached = %v, want ErrOtherOrg", err)
	}

	// A second process (a fresh cache) on the same store agrees.
	fresh, err := New(f.store, Config{Key: []byte("0123456789abcdef0123456789abcdef"), Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fresh.Lookup(ctx, c, globex.ID); !errors.Is(err, ErrOtherOrg) {
		t.Errorf("another process: Lookup(acme's cookie, globex) = %v, want ErrOtherOrg", err)
	}
	if e, err := fresh.Lookup(ctx, c, AnyOrg); err != nil || e.Identity.OrgID != acme.ID {
		t.Errorf("another process: Lookup(acme's cookie, AnyOrg) = %+v, %v; want acme's session", e, err)
	}
}

// retarget flips bits of the sealed payload of a session cookie so that,
// were the MAC not checked, it would decrypt to "<to>." instead of
// "<from>." (AES-CTR is malleable). It checks that claim by decrypting.
func retarget(t *testing.T, key []byte, cookie string, from, to int64) string {
	t.Helper()
	a, b := strconv.FormatInt(from, 10), strconv.FormatInt(to, 10)
	if len(a) != len(b) {
		t.Fatalf("org IDs %s and %s differ in length", a, b)
	}
	outer, err := base64.URLEncoding.DecodeString(cookie)
	if err != nil {
		t.Fatal(err)
	}
	parts := bytes.SplitN(outer, []byte("|"), 3) // date | value | mac
	if len(parts) != 3 {
		t.Fatalf("cookie has %d parts", len(parts))
	}
	sealed, err := base64.URLEncoding.DecodeString(string(parts[1]))
	if err != nil {
		t.Fatal(err)
	}
	iv, ct := sealed[:aes.BlockSize], sealed[aes.BlockSize:]
	for i := range a {
		ct[i] ^= a[i] ^ b[i]
	}
	blockKey := derive(key, "ssogate session aes")
	block, err := aes.NewCipher(blockKey[:])
	if err != nil {
		t.Fatal(err)
	}
	plain := make([]byte, len(ct))
	cipher.NewCTR(block, iv).XORKeyStream(plain, ct)
	if !bytes.HasPrefix(plain, []byte(b+".")) {
		t.Fatalf("retargeted payload decrypts to %q, want it to start with %q", plain, b+".")
	}
	parts[1] = []byte(base64.URLEncoding.EncodeToString(sealed))
	return base64.URLEncoding.EncodeToString(bytes.Join(parts, []byte("|")))
}

func TestTamperedCookieCannotChangeOrg(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	globex, _ := f.addOrg(t, "globex", "gus@globex.com")
	c := f.issue(t)
	forged := retarget(t, []byte("0123456789abcdef0123456789abcdef"), c, f.org.ID, globex.ID)
	for _, org := range []int64{globex.ID, f.org.ID, AnyOrg} {
		if e, err := f.s.Lookup(ctx, forged, org); !errors.Is(err, ErrNoSession) {
			t.Errorf("Lookup(retargeted cookie, %d) = %+v, %v; want ErrNoSession", org, e, err)
		}
	}
	// The genuine cookie still works, cached or not.
	if _, err := f.s.Lookup(ctx, c, f.org.ID); err != nil {
		t.Errorf("Lookup(genuine cookie) = %v", err)
	}
	if _, err := f.s.Lookup(ctx, forged, globex.ID); !errors.Is(err, ErrNoSession) {
		t.Errorf("Lookup(retargeted cookie, globex) once the genuine one is cached = %v, want ErrNoSession", err)
	}
}

// TestCookiePayloads: what the envelope must hold, sealed with the right
// keys (as only the gate can), for the session to be looked up at all.
func TestCookiePayloads(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	c := f.issue(t)
	var raw []byte
	if err := f.s.codec.Decode(CookieName, c, &raw); err != nil {
		t.Fatal(err)
	}
	org, sid, ok := bytes.Cut(raw, []byte("."))
	if !ok || string(org) != strconv.FormatInt(f.org.ID, 10) {
		t.Fatalf("issued payload = %q, want \"<org ID>.<session ID>\"", raw)
	}
	for _, tc := range []struct {
		name    string
		payload string
		ok      bool
	}{
		{"as issued", string(raw), true},
		{"org zero", "0." + string(sid), false},
		{"negative org", "-" + string(raw), false},
		{"org not a number", "acme." + string(sid), false},
		{"no org", string(sid), false},
		{"no session", string(org) + ".", false},
		{"empty", "", false},
		{"another org", strconv.FormatInt(f.org.ID+1, 10) + "." + string(sid), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := f.s.codec.Encode(CookieName, []byte(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			_, err = f.s.Lookup(ctx, v, AnyOrg)
			if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrNoSession) {
				t.Errorf("Lookup(payload %q) = %v, want ok=%v", tc.payload, err, tc.ok)
			}
		})
	}
}

func TestIssueNeedsAnOrg(t *testing.T) {
	f := newFixture(t, Config{})
	ident, err := f.store.Identity(context.Background(), f.member.ID)
	if err != nil {
		t.Fatal(err)
	}
	ident.OrgID = AnyOrg
	c, _, err := f.s.Issue(context.Background(), ident, storage.MethodPassword, IdPSession{})
	if err == nil || c != "" {
		t.Fatalf("Issue(OrgID 0) = %q, %v; want an error and no cookie", c, err)
	}
}

// TestStoreRecordMustNameCookieOrg: the cookie, the session record and
// the membership must all name one org; a record written by anything
// else (a bug, an old schema) grants nothing.
func TestStoreRecordMustNameCookieOrg(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	acme, jo := f.org, f.member
	globex, gus := f.addOrg(t, "globex", "gus@globex.com")
	now := time.Now().Unix()
	for _, tc := range []struct {
		name       string
		sessionOrg int64
		member     storage.Member
		cookieOrg  int64
		want       error // nil: accepted
	}{
		{"all name acme", acme.ID, jo, acme.ID, nil},
		{"record names globex", globex.ID, jo, acme.ID, ErrOtherOrg},
		{"record names no org", 0, jo, acme.ID, ErrOtherOrg},
		{"member of globex", acme.ID, gus, acme.ID, ErrOtherOrg},
		{"globex record and member under an acme cookie", globex.ID, gus, acme.ID, ErrOtherOrg},
		{"acme record and member under a globex cookie", acme.ID, jo, globex.ID, ErrOtherOrg},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "s-" + tc.name
			if err := f.store.CreateSession(ctx, storage.Session{ID: id, MemberID: tc.member.ID, OrgID: tc.sessionOrg,
				Method: storage.MethodPassword, Epoch: tc.member.Epoch, CreatedAt: now, ExpiresAt: now + 3600, LastSeen: now}, nil); err != nil {
				t.Fatal(err)
			}
			cookie, err := f.s.codec.Encode(CookieName, cookiePayload(tc.cookieOrg, id))
			if err != nil {
				t.Fatal(err)
			}
			for _, org := range []int64{tc.cookieOrg, AnyOrg} {
				e, err := f.s.Lookup(ctx, cookie, org)
				if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
					t.Errorf("Lookup(%d) = %v, want %v", org, err, tc.want)
				}
				if err == nil && e.Identity.OrgID != tc.cookieOrg {
					t.Errorf("Lookup(%d) = org %d, want %d", org, e.Identity.OrgID, tc.cookieOrg)
				}
			}
		})
	}
}

// TestDisablingConnectionEndsSAMLSessionsAtTheGate: the store ends the
// org's SAML sessions when its connection leaves enabled, and the feed
// drops them from this gate's cache at once; password sessions and other
// orgs' sessions stay.
func TestDisablingConnectionEndsSAMLSessionsAtTheGate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, Config{})
	globex, gus := f.addOrg(t, "globex", "gus@globex.com")
	for _, org := range []int64{f.org.ID, globex.ID} {
		if _, err := f.store.ModifyConnection(ctx, org, func(c *storage.Connection) error {
			c.State = storage.ConnectionEnabled
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	saml := f.issueFor(t, f.member.ID, storage.MethodSAML)
	password := f.issueFor(t, f.member.ID, storage.MethodPassword)
	other := f.issueFor(t, gus.ID, storage.MethodSAML)
	cookies := map[string]string{"acme saml": saml, "acme password": password, "globex saml": other}
	orgs := map[string]int64{"acme saml": f.org.ID, "acme password": f.org.ID, "globex saml": globex.ID}
	for name, c := range cookies {
		if _, err := f.s.Lookup(ctx, c, orgs[name]); err != nil {
			t.Fatalf("Lookup(%s) = %v", name, err)
		}
	}
	if _, err := f.store.ModifyConnection(ctx, f.org.ID, func(c *storage.Connection) error {
		c.State = storage.ConnectionDisabled
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for name, alive := range map[string]bool{"acme saml": false, "acme password": true, "globex saml": true} {
		_, err := f.s.Lookup(ctx, cookies[name], orgs[name])
		if (err == nil) != alive {
			t.Errorf("Lookup(%s) after acme's connection was disabled = %v, want alive=%v", name, err, alive)
		}
	}
}
