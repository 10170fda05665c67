package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssogate/ssogate/internal/storage"
)

// The store keeps SP keys as PEM text it never parses: these tests use
// stand-ins, and internal/spkey's tests the real thing.

func fakeKey(use, label string) storage.SPKey {
	return storage.SPKey{Use: use, CertificatePEM: "cert " + label, KeyPEM: "key " + label,
		NotAfter: time.Date(2036, 1, 2, 3, 4, 5, 0, time.UTC)}
}

// keyRow is what a test compares of a key: which one it is (by its
// certificate's stand-in), where, and its state.
type keyRow struct {
	Org   int64
	Use   string
	State string
	Cert  string
}

func keyRows(keys []storage.SPKey) []keyRow {
	out := []keyRow{}
	for _, k := range keys {
		out = append(out, keyRow{k.OrgID, k.Use, k.State, k.CertificatePEM})
	}
	return out
}

func mustKeys(t *testing.T, s storage.Store, orgID int64) []storage.SPKey {
	t.Helper()
	keys, err := s.SPKeys(context.Background(), orgID)
	if err != nil {
		t.Fatalf("SPKeys(%d) = %v", orgID, err)
	}
	return keys
}

func testSPKeysLifecycle(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	globex := mustOrg(t, s, "globex")
	row := func(use, state, cert string) keyRow { return keyRow{acme.ID, use, state, cert} }

	if got := mustKeys(t, s, acme.ID); len(got) != 0 {
		t.Fatalf("SPKeys of a new org = %v, want none", got)
	}
	for _, step := range []struct {
		name    string
		write   func() ([]storage.SPKey, error)
		wantErr error // nil: success
		want    []keyRow
	}{
		{"retire before any key", func() ([]storage.SPKey, error) { return s.RetireSPKeys(ctx, acme.ID) },
			storage.ErrConflict, []keyRow{}},
		{"roll before any key", func() ([]storage.SPKey, error) {
			return s.RollSPKeys(ctx, acme.ID, []storage.SPKey{fakeKey(storage.SPKeySigning, "s2")})
		}, storage.ErrNotFound, []keyRow{}},
		{"ensure makes the current keys", func() ([]storage.SPKey, error) {
			// Given encryption first: the answer is in its order anyway.
			return s.EnsureSPKeys(ctx, acme.ID, []storage.SPKey{fakeKey(storage.SPKeyEncryption, "e1"), fakeKey(storage.SPKeySigning, "s1")})
		}, nil, []keyRow{row("signing", "current", "cert s1"), row("encryption", "current", "cert e1")}},
		{"ensure again keeps them", func() ([]storage.SPKey, error) {
			return s.EnsureSPKeys(ctx, acme.ID, []storage.SPKey{fakeKey(storage.SPKeySigning, "sX"), fakeKey(storage.SPKeyEncryption, "eX")})
		}, nil, []keyRow{row("signing", "current", "cert s1"), row("encryption", "current", "cert e1")}},
		{"roll both", func() ([]storage.SPKey, error) {
			return s.RollSPKeys(ctx, acme.ID, []storage.SPKey{fakeKey(storage.SPKeySigning, "s2"), fakeKey(storage.SPKeyEncryption, "e2")})
		}, nil, []keyRow{row("signing", "current", "cert s1"), row("signing", "next", "cert s2"),
			row("encryption", "current", "cert e1"), row("encryption", "next", "cert e2")}},
		{"roll again before retiring", func() ([]storage.SPKey, error) {
			return s.RollSPKeys(ctx, acme.ID, []storage.SPKey{fakeKey(storage.SPKeySigning, "s3")})
		}, storage.ErrConflict, nil},
		{"ensure during a rotation keeps all", func() ([]storage.SPKey, error) {
			return s.EnsureSPKeys(ctx, acme.ID, []storage.SPKey{fakeKey(storage.SPKeySigning, "sX")})
		}, nil, []keyRow{row("signing", "current", "cert s1"), row("signing", "next", "cert s2"),
			row("encryption", "current", "cert e1"), row("encryption", "next", "cert e2")}},
		{"retire", func() ([]storage.SPKey, error) { return s.RetireSPKeys(ctx, acme.ID) },
			nil, []keyRow{row("signing", "current", "cert s2"), row("encryption", "current", "cert e2")}},
		{"retire again", func() ([]storage.SPKey, error) { return s.RetireSPKeys(ctx, acme.ID) },
			storage.ErrConflict, nil},
		{"roll one use", func() ([]storage.SPKey, error) {
			return s.RollSPKeys(ctx, acme.ID, []storage.SPKey{fakeKey(storage.SPKeyEncryption, "e3")})
		}, nil, []keyRow{row("signing", "current", "cert s2"), row("encryption", "current", "cert e2"), row("encryption", "next", "cert e3")}},
		{"roll the other use and one already rolled", func() ([]storage.SPKey, error) {
			return s.RollSPKeys(ctx, acme.ID, []storage.SPKey{fakeKey(storage.SPKeySigning, "s3"), fakeKey(storage.SPKeyEncryption, "e4")})
		}, storage.ErrConflict, nil},
		{"retire the one use", func() ([]storage.SPKey, error) { return s.RetireSPKeys(ctx, acme.ID) },
			nil, []keyRow{row("signing", "current", "cert s2"), row("encryption", "current", "cert e3")}},
	} {
		before := mustKeys(t, s, acme.ID)
		got, err := step.write()
		switch {
		case step.wantErr == nil && err != nil:
			t.Fatalf("%s: %v", step.name, err)
		case step.wantErr != nil && !errors.Is(err, step.wantErr):
			t.Fatalf("%s = %v, want an error matching %v", step.name, err, step.wantErr)
		case step.wantErr != nil:
			if diff := cmp.Diff(keyRows(before), keyRows(mustKeys(t, s, acme.ID))); diff != "" {
				t.Errorf("%s was refused but changed the keys (-before +after):\n%s", step.name, diff)
			}
			if step.want != nil {
				if diff := cmp.Diff(step.want, keyRows(mustKeys(t, s, acme.ID))); diff != "" {
					t.Errorf("keys after %s (-want +got):\n%s", step.name, diff)
				}
			}
			continue
		}
		if diff := cmp.Diff(step.want, keyRows(got)); diff != "" {
			t.Errorf("%s returned (-want +got):\n%s", step.name, diff)
		}
		if diff := cmp.Diff(keyRows(got), keyRows(mustKeys(t, s, acme.ID))); diff != "" {
			t.Errorf("SPKeys after %s differs from what it returned (-returned +stored):\n%s", step.name, diff)
		}
	}
	if got := mustKeys(t, s, globex.ID); len(got) != 0 {
		t.Errorf("SPKeys(globex) = %v; want none: acme's keys are acme's", got)
	}

	keys := mustKeys(t, s, acme.ID)
	k := keys[0]
	if k.KeyPEM != "key s2" || !k.NotAfter.Equal(time.Date(2036, 1, 2, 3, 4, 5, 0, time.UTC)) || k.CreatedAt.IsZero() || k.ID == 0 {
		t.Errorf("stored key = %+v (key %q); want its private key, expiry, creation time and ID", k, k.KeyPEM)
	}
	for _, printed := range []string{k.String(), fmt.Sprint(k), fmt.Sprintf("%+v", k), fmt.Sprintf("%#v", keys)} {
		if strings.Contains(printed, "key s2") {
			t.Errorf("a printed key shows its private key: %s", printed)
		}
	}
}

func testSPKeysRefusals(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	for _, tc := range []struct {
		name    string
		org     int64
		keys    []storage.SPKey
		wantErr error
	}{
		{"no key", acme.ID, nil, nil},
		{"unknown use", acme.ID, []storage.SPKey{fakeKey("decoration", "x")}, nil},
		{"no private key", acme.ID, []storage.SPKey{{Use: storage.SPKeySigning, CertificatePEM: "cert"}}, nil},
		{"no certificate", acme.ID, []storage.SPKey{{Use: storage.SPKeySigning, KeyPEM: "key secret"}}, nil},
		{"org that does not exist", 9999, []storage.SPKey{fakeKey(storage.SPKeySigning, "x")}, storage.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seq := feedSeq(t, s)
			_, err := s.EnsureSPKeys(ctx, tc.org, tc.keys)
			if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("EnsureSPKeys = %v, want an error matching %v (nil: any)", err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("EnsureSPKeys = %q, which quotes the private key", err)
			}
			if _, err := s.RollSPKeys(ctx, tc.org, tc.keys); err == nil {
				t.Error("RollSPKeys with the same keys succeeded")
			}
			if got := mustKeys(t, s, tc.org); len(got) != 0 {
				t.Errorf("SPKeys after a refusal = %v, want none", got)
			}
			if ch := changesAfter(t, s, seq); !ch.Empty() {
				t.Errorf("feed after a refusal = %+v, want nothing", ch)
			}
		})
	}
}

// TestSPKeysFeed: every key change is an org-level event, so that each
// process's registry reloads the org (its SP metadata, what it decrypts
// with), and tells this process at once.
func testSPKeysFeed(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	mustOrg(t, s, "globex")
	calls := 0
	s.OnChange(func() { calls++ })
	both := func(label string) []storage.SPKey {
		return []storage.SPKey{fakeKey(storage.SPKeySigning, "s"+label), fakeKey(storage.SPKeyEncryption, "e"+label)}
	}
	for _, step := range []struct {
		name   string
		write  func() error
		change bool
	}{
		{"ensure", func() error { _, err := s.EnsureSPKeys(ctx, acme.ID, both("1")); return err }, true},
		{"ensure of keys there", func() error { _, err := s.EnsureSPKeys(ctx, acme.ID, both("x")); return err }, false},
		{"roll", func() error { _, err := s.RollSPKeys(ctx, acme.ID, both("2")); return err }, true},
		{"retire", func() error { _, err := s.RetireSPKeys(ctx, acme.ID); return err }, true},
		{"org deleted", func() error {
			_, err := be.SQL(s).ExecContext(ctx, "DELETE FROM orgs WHERE id = ?", acme.ID)
			return err
		}, true},
	} {
		seq, before := feedSeq(t, s), calls
		if err := step.write(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		want := storage.Changes{}
		if step.change {
			want.Orgs = []int64{acme.ID}
		}
		if diff := cmp.Diff(want, changesAfter(t, s, seq), cmpChanges); diff != "" {
			t.Errorf("feed after %s (-want +got):\n%s", step.name, diff)
		}
		if called := calls > before; called != step.change && step.name != "org deleted" {
			t.Errorf("OnChange ran after %s: %v, want %v", step.name, called, step.change)
		}
	}
	var n int
	if err := be.SQL(s).QueryRowContext(ctx, "SELECT COUNT(*) FROM sp_keys").Scan(&n); err != nil || n != 0 {
		t.Errorf("sp_keys rows after the org was deleted = %d, %v; want 0", n, err)
	}
}

// TestEnsureSPKeysRace: processes that find an org without keys all make
// some; they agree on one set, whichever wrote first.
func testEnsureSPKeysRace(t *testing.T, be Backend) {
	ctx := context.Background()
	const n = 6
	first := be.Open(t)
	stores := []storage.Store{first, be.Again(t, first)}
	acme := mustOrg(t, stores[0], "acme")
	got := make([][]storage.SPKey, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			label := fmt.Sprint(i)
			got[i], errs[i] = stores[i%2].EnsureSPKeys(ctx, acme.ID,
				[]storage.SPKey{fakeKey(storage.SPKeySigning, "s"+label), fakeKey(storage.SPKeyEncryption, "e"+label)})
		}()
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("EnsureSPKeys #%d = %v", i, errs[i])
		}
		if len(got[i]) != 2 {
			t.Fatalf("EnsureSPKeys #%d = %d keys, want 2", i, len(got[i]))
		}
		if diff := cmp.Diff(keyRows(got[0]), keyRows(got[i])); diff != "" {
			t.Errorf("EnsureSPKeys #%d disagrees with #0 (-#0 +#%d):\n%s", i, i, diff)
		}
	}
	for _, s := range stores {
		if diff := cmp.Diff(keyRows(got[0]), keyRows(mustKeys(t, s, acme.ID))); diff != "" {
			t.Errorf("SPKeys differs from what EnsureSPKeys returned (-returned +stored):\n%s", diff)
		}
	}
}

func testGroupsAttributeIsKept(t *testing.T, be Backend) {
	ctx := context.Background()
	s := be.Open(t)
	acme := mustOrg(t, s, "acme")
	c := mustModifyConnection(t, s, acme.ID, func(c *storage.Connection) { c.GroupsAttribute = "groups" })
	if c.GroupsAttribute != "groups" {
		t.Errorf("ModifyConnection returned groups attribute %q, want groups", c.GroupsAttribute)
	}
	c = mustModifyConnection(t, s, acme.ID, func(c *storage.Connection) {
		c.GroupsAttribute = "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
	})
	got, err := s.Connection(ctx, acme.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(c, got); diff != "" || got.GroupsAttribute != "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups" {
		t.Errorf("Connection after setting the groups attribute (-returned +stored):\n%s", diff)
	}
}
