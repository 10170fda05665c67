package tenant

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
)

// enable gives the org an enabled connection with a complete explicit IdP.
func enable(t testing.TB, st *sqlitestore.Store, orgID int64) {
	t.Helper()
	c1, _ := certs(t)
	if _, err := st.ModifyConnection(context.Background(), orgID, func(c *storage.Connection) error {
		c.IDPSSOURL, c.IDPIssuer, c.IDPCertificates = ssoURL, fmt.Sprint(issuer, "/", orgID), c1
		c.State = storage.ConnectionEnabled
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// refresh applies what the change feed reports after seq, as the gate's
// poller does, and returns the new seq.
func refresh(t testing.TB, st *sqlitestore.Store, r *Registry, seq int64) int64 {
	t.Helper()
	ch, last, err := st.ChangesSince(context.Background(), seq)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Refresh(context.Background(), ch.Orgs); err != nil {
		t.Fatalf("Refresh(%v) = %v", ch.Orgs, err)
	}
	return last
}

func orgName(t *Tenant) string {
	if t == nil {
		return "<nil>"
	}
	return t.Org.Name
}

func TestRegistryLoadsThousandOrgs(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	const n = 1000
	ids := map[string]int64{}
	for i := range n {
		name := fmt.Sprintf("org%04d", i)
		o, err := st.CreateOrg(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		ids[name] = o.ID
		if i%10 == 0 {
			enable(t, st, o.ID)
			if err := st.SyncConfigDomains(ctx, o.ID, []string{name + ".example"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	r := NewRegistry(st)
	if err := r.Load(ctx); err != nil {
		t.Fatalf("Load = %v", err)
	}
	if r.Len() != n {
		t.Fatalf("Len() = %d, want %d", r.Len(), n)
	}
	for _, name := range []string{"org0000", "org0010", "org0999", "org0501"} {
		tn := r.ByName(name)
		if tn == nil || tn.Org.ID != ids[name] || r.ByID(ids[name]) != tn {
			t.Errorf("ByName(%q) = %v; want the org with ID %d, the same as ByID", name, tn, ids[name])
		}
	}
	enabled := 0
	for _, id := range ids {
		if r.ByID(id).SSOEnabled() {
			enabled++
		}
	}
	if enabled != n/10 {
		t.Errorf("%d orgs have SSO enabled, want %d", enabled, n/10)
	}
	for _, tc := range []struct{ email, want string }{
		{"jo@org0010.example", "org0010"},
		{"jo@ORG0990.Example", "org0990"},
		{"jo@org0011.example", "<nil>"}, // no domain
		{"org0010.example", "<nil>"},
	} {
		if got := orgName(r.Discover(tc.email)); got != tc.want {
			t.Errorf("Discover(%q) = %s, want %s", tc.email, got, tc.want)
		}
	}
	if r.ByName("nope") != nil || r.ByID(0) != nil || r.ByDomain("nope.example") != nil {
		t.Error("lookups of unknown names found an org")
	}
}

func TestRegistryDiscover(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	acme, _ := st.CreateOrg(ctx, "acme")
	globex, _ := st.CreateOrg(ctx, "globex")
	if _, err := st.ClaimDomain(ctx, acme.ID, "Acme.COM", "txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MarkDomainVerified(ctx, acme.ID, "acme.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ClaimDomain(ctx, globex.ID, "globex.com", "txt"); err != nil { // pending
		t.Fatal(err)
	}
	r := NewRegistry(st)
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ email, want string }{
		{"jo@acme.com", "acme"},
		{"JO@ACME.COM", "acme"},
		{"jo@Acme.Com", "acme"},
		{"jo@globex.com", "<nil>"}, // pending claim
		{"jo@eu.acme.com", "<nil>"},
		{"jo@acme.com.evil.example", "<nil>"},
		{"jo@acme", "<nil>"},
		{"jo@", "<nil>"},
		{"", "<nil>"},
		{"acme.com", "<nil>"},
	} {
		if got := orgName(r.Discover(tc.email)); got != tc.want {
			t.Errorf("Discover(%q) = %s, want %s", tc.email, got, tc.want)
		}
	}
	if d := r.ByName("acme").Domains; len(d) != 1 || d[0] != "acme.com" {
		t.Errorf("acme's domains = %q, want [acme.com]", d)
	}
	if d := r.ByName("globex").Domains; len(d) != 0 {
		t.Errorf("globex's domains = %q, want none (its claim is pending)", d)
	}
}

// TestRegistryRefreshFollowsFeed: what another process changes reaches
// the registry through the change feed and Refresh; a published Tenant
// never changes.
func TestRegistryRefreshFollowsFeed(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	acme, _ := st.CreateOrg(ctx, "acme")
	globex, _ := st.CreateOrg(ctx, "globex")
	if err := st.SyncConfigDomains(ctx, acme.ID, []string{"shared.example"}); err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(st)
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	_, seq, err := st.ChangesSince(ctx, -1)
	if err != nil {
		t.Fatal(err)
	}
	if got := orgName(r.Discover("jo@shared.example")); got != "acme" {
		t.Fatalf("Discover before the move = %s, want acme", got)
	}

	// The domain moves from acme to globex.
	if err := st.SyncConfigDomains(ctx, acme.ID, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ClaimDomain(ctx, globex.ID, "shared.example", "txt"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.MarkDomainVerified(ctx, globex.ID, "shared.example"); err != nil {
		t.Fatal(err)
	}
	if got := orgName(r.Discover("jo@shared.example")); got != "acme" {
		t.Errorf("Discover before Refresh = %s, want acme: the registry reads the store only in Load and Refresh", got)
	}
	seq = refresh(t, st, r, seq)
	if got := orgName(r.Discover("jo@shared.example")); got != "globex" {
		t.Errorf("Discover after the move = %s, want globex", got)
	}
	if d := r.ByID(acme.ID).Domains; len(d) != 0 {
		t.Errorf("acme's domains after the move = %q, want none", d)
	}

	// acme's connection is enabled.
	old := r.ByID(acme.ID)
	if old.SSOEnabled() || old.HasConn {
		t.Fatalf("acme before its connection: SSOEnabled=%v HasConn=%v", old.SSOEnabled(), old.HasConn)
	}
	enable(t, st, acme.ID)
	seq = refresh(t, st, r, seq)
	cur := r.ByID(acme.ID)
	if !cur.SSOEnabled() || !cur.HasConn || cur.IDP == nil || cur.IDPErr != nil {
		t.Errorf("acme after enabling: SSOEnabled=%v HasConn=%v IDPErr=%v", cur.SSOEnabled(), cur.HasConn, cur.IDPErr)
	}
	if r.ByName("acme") != cur || old.HasConn || old.SSOEnabled() {
		t.Error("Refresh changed the published Tenant instead of replacing it")
	}
	if got := r.ByID(globex.ID); got.SSOEnabled() {
		t.Error("globex has SSO enabled after acme's change")
	}

	// An org made at run time shows up.
	initech, err := st.CreateOrg(ctx, "initech")
	if err != nil {
		t.Fatal(err)
	}
	refresh(t, st, r, seq)
	if got := r.ByName("initech"); got == nil || got.Org.ID != initech.ID {
		t.Errorf("ByName(initech) after Refresh = %v", got)
	}
	if r.Len() != 3 {
		t.Errorf("Len() = %d, want 3", r.Len())
	}

	// An org ID that does not exist is not an org.
	if err := r.Refresh(ctx, []int64{9999}); err != nil || r.ByID(9999) != nil || r.Len() != 3 {
		t.Errorf("Refresh([9999]) = %v; ByID = %v, Len = %d", err, r.ByID(9999), r.Len())
	}
}

func TestSSOEnabled(t *testing.T) {
	org := storage.Org{ID: 1, Name: "acme"}
	incomplete := explicitConn(t, storage.ConnectionEnabled)
	incomplete.IDPCertificates = ""
	garbled := explicitConn(t, storage.ConnectionEnabled)
	garbled.IDPCertificates = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
	conn := func(c storage.Connection) *storage.Connection { return &c }
	for _, tc := range []struct {
		name    string
		conn    *storage.Connection
		want    bool
		wantIDP bool
	}{
		{"no connection", nil, false, false},
		{"draft", conn(explicitConn(t, storage.ConnectionDraft)), false, true},
		{"tested", conn(explicitConn(t, storage.ConnectionTested)), false, true},
		{"disabled", conn(explicitConn(t, storage.ConnectionDisabled)), false, true},
		{"enabled", conn(explicitConn(t, storage.ConnectionEnabled)), true, true},
		{"enabled from metadata", conn(metadataConn(t, storage.ConnectionEnabled, "")), true, true},
		{"enabled without a certificate", conn(incomplete), false, false},
		{"enabled with a certificate that does not parse", conn(garbled), false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tn := New(org, tc.conn, []string{"acme.com"})
			if got := tn.SSOEnabled(); got != tc.want {
				t.Errorf("SSOEnabled() = %v, want %v", got, tc.want)
			}
			if (tn.IDP != nil) != tc.wantIDP || (tn.IDPErr == nil) != tc.wantIDP {
				t.Errorf("IDP = %v, IDPErr = %v; want an IdP: %v", tn.IDP != nil, tn.IDPErr, tc.wantIDP)
			}
			if tn.HasConn != (tc.conn != nil) || tn.Conn.OrgID != org.ID {
				t.Errorf("HasConn = %v, Conn.OrgID = %d", tn.HasConn, tn.Conn.OrgID)
			}
		})
	}
	var none *Tenant
	if none.SSOEnabled() {
		t.Error("(*Tenant)(nil).SSOEnabled() = true")
	}
}

// TestIndexDropsADomainTwoOrgsHold: should two orgs ever both hold a
// domain (a registry refreshed for one of them only), discovery sends
// that domain to neither.
func TestIndexDropsADomainTwoOrgsHold(t *testing.T) {
	a := New(storage.Org{ID: 1, Name: "acme"}, nil, []string{"shared.example", "acme.com"})
	b := New(storage.Org{ID: 2, Name: "globex"}, nil, []string{"shared.example"})
	c := New(storage.Org{ID: 3, Name: "initech"}, nil, []string{"shared.example"})
	s := index(map[int64]*Tenant{1: a, 2: b, 3: c})
	if got := s.byDomain["shared.example"]; got != nil {
		t.Errorf("byDomain[shared.example] = %s, want nobody", got.Org.Name)
	}
	if got := s.byDomain["acme.com"]; got != a {
		t.Errorf("byDomain[acme.com] = %v, want acme", got)
	}
}

// TestRegistryConcurrentReadsAndRefreshes runs under the race detector:
// readers never see a half-built snapshot.
func TestRegistryConcurrentReadsAndRefreshes(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	acme, _ := st.CreateOrg(ctx, "acme")
	if err := st.SyncConfigDomains(ctx, acme.ID, []string{"acme.com"}); err != nil {
		t.Fatal(err)
	}
	r := NewRegistry(st)
	if err := r.Load(ctx); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if got := r.Discover("jo@acme.com"); got == nil || got.Org.ID != acme.ID {
					t.Errorf("Discover during refreshes = %v", got)
					return
				}
				_ = r.ByName("acme").SSOEnabled()
			}
		}()
	}
	for range 20 {
		if err := r.Refresh(ctx, []int64{acme.ID}); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}
