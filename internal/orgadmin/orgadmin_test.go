package orgadmin_test

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssogate/ssogate/internal/domainclaim"
	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
	"github.com/ssogate/ssogate/internal/testdns"
	"github.com/ssogate/ssogate/internal/testidp"
)

// Two test IdPs (each an RSA key) and the metadata document of the
// second, made once.
var idps = sync.OnceValues(func() ([2]*testidp.IdP, error) {
	var out [2]*testidp.IdP
	for i, base := range []string{"https://idp-a.example.com", "https://idp-b.example.com"} {
		p, err := testidp.New(base)
		if err != nil {
			return out, err
		}
		out[i] = p
	}
	return out, nil
})

func testIdPs(t *testing.T) (a, b *testidp.IdP, metadataB string) {
	t.Helper()
	ps, err := idps()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := xml.Marshal(ps[1].IDP.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	return ps[0], ps[1], string(raw)
}

// fixture is a real store with two orgs: acme, with acme.com verified by
// its Caddyfile, and globex.
type fixture struct {
	t             *testing.T
	ctx           context.Context
	st            *sqlitestore.Store
	svc           *orgadmin.Service
	dns           *testdns.Server
	acme, globex  storage.Org
	metadataURL   string
	metadataFetch []string // URLs the service fetched
}

func newFixture(t *testing.T, metadata string) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "ssogate.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f := &fixture{t: t, ctx: ctx, st: st, dns: testdns.Start(t), metadataURL: "https://idp-b.example.com/metadata"}
	f.svc = &orgadmin.Service{
		Store: st,
		Fetch: func(_ context.Context, u string) ([]byte, error) {
			f.metadataFetch = append(f.metadataFetch, u)
			if u != f.metadataURL {
				return nil, errors.New("404 Not Found")
			}
			return []byte(metadata), nil
		},
		Resolver: domainclaim.NewResolver(f.dns.Addr),
	}
	for _, name := range []string{"acme", "globex"} {
		o, err := st.EnsureOrg(ctx, name, true)
		if err != nil {
			t.Fatal(err)
		}
		if name == "acme" {
			f.acme = o
		} else {
			f.globex = o
		}
	}
	if err := st.SyncConfigDomains(ctx, f.acme.ID, []string{"acme.com"}); err != nil {
		t.Fatal(err)
	}
	return f
}

// event is an audit event as compared: before and after decoded.
type event struct {
	Actor, ActorKind, Action, Target string
	Before, After                    any
}

func decode(t *testing.T, raw []byte) any {
	t.Helper()
	if len(raw) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("an event's value is not JSON: %s", raw)
	}
	return v
}

// events returns the org's events, oldest first.
func (f *fixture) events(org storage.Org) []storage.AuditEvent {
	f.t.Helper()
	es, total, err := f.st.ListAudit(f.ctx, org.ID, storage.Page{})
	if err != nil {
		f.t.Fatal(err)
	}
	if total != len(es) {
		f.t.Fatalf("ListAudit: %d events, total %d", len(es), total)
	}
	for i, j := 0, len(es)-1; i < j; i, j = i+1, j-1 {
		es[i], es[j] = es[j], es[i]
	}
	return es
}

func (f *fixture) conn() storage.Connection {
	f.t.Helper()
	c, err := f.st.Connection(f.ctx, f.acme.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// step is one operation and the event it must record (nil: none).
type step struct {
	name string
	do   func() error
	// wantErr reports whether err is the refusal expected; nil: success.
	wantErr func(error) bool
	// want is the event, made after the operation ran (IDs and sizes are
	// known then); nil: no event.
	want func() *event
}

func isField(field string) func(error) bool {
	return func(err error) bool {
		var fe *tenant.FieldError
		return errors.As(err, &fe) && fe.Field == field
	}
}

func isRule(err error) bool {
	var re *tenant.RuleError
	return errors.As(err, &re)
}

func isVerify(err error) bool {
	var ve *orgadmin.VerifyError
	return errors.As(err, &ve)
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }

func obj(kv ...any) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i].(string)] = kv[i+1]
	}
	return m
}

// run runs the steps in order on acme: each success records exactly the
// event it names, each refusal records nothing, and globex's log stays
// as it was.
func (f *fixture) run(steps []step) {
	t := f.t
	for _, s := range steps {
		ok := t.Run(s.name, func(t *testing.T) {
			before := len(f.events(f.acme))
			globex := len(f.events(f.globex))
			err := s.do()
			switch {
			case s.wantErr == nil && err != nil:
				t.Fatalf("error %v; want success", err)
			case s.wantErr != nil && !s.wantErr(err):
				t.Fatalf("error %v (%T); want the refusal", err, err)
			}
			es := f.events(f.acme)
			var want *event
			if s.want != nil {
				want = s.want()
			}
			if want == nil {
				if len(es) != before {
					t.Fatalf("recorded %d events; want none: %+v", len(es)-before, es[before:])
				}
			} else {
				if len(es) != before+1 {
					t.Fatalf("recorded %d events; want one", len(es)-before)
				}
				e := es[before]
				got := &event{Actor: e.Actor, ActorKind: e.ActorKind, Action: e.Action, Target: e.Target,
					Before: decode(t, e.Before), After: decode(t, e.After)}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("event (-want +got):\n%s", diff)
				}
				if e.OrgID != f.acme.ID || e.At.IsZero() {
					t.Errorf("event org %d at %v; want acme's, with a time", e.OrgID, e.At)
				}
			}
			if n := len(f.events(f.globex)); n != globex {
				t.Errorf("globex's log grew by %d", n-globex)
			}
		})
		if !ok {
			t.FailNow()
		}
	}
}

// noSecrets fails when any event holds one of secrets.
func (f *fixture) noSecrets(org storage.Org, secrets ...string) {
	f.t.Helper()
	for _, e := range f.events(org) {
		raw, err := json.Marshal(e)
		if err != nil {
			f.t.Fatal(err)
		}
		text := string(raw) + string(e.Before) + string(e.After)
		for _, s := range secrets {
			if s != "" && strings.Contains(text, s) {
				f.t.Errorf("event %s %s holds a secret (%.40q...): %s", e.Action, e.Target, s, text)
			}
		}
	}
}

func fingerprint(t *testing.T, pemText string) string {
	t.Helper()
	cs := tenant.DescribeCertificates(pemText, time.Now())
	if len(cs) != 1 {
		t.Fatalf("%d certificates", len(cs))
	}
	return cs[0].Fingerprint
}

func ptr[T any](v T) *T { return &v }

// TestAuditSSO: each change of the SSO connection is one event with the
// fields changed, certificates by fingerprint and metadata by size;
// refusals and no-op changes record nothing.
func TestAuditSSO(t *testing.T) {
	a, _, mdB := testIdPs(t)
	f := newFixture(t, mdB)
	olive := orgadmin.Member("olive@acme.com")
	certA := string(a.CertificatePEM())
	fpA := fingerprint(t, certA)
	var testID string
	want := func(action string, before, after any) func() *event {
		return func() *event {
			return &event{Actor: "olive@acme.com", ActorKind: storage.ActorMember, Action: action, Target: "SSO connection", Before: before, After: after}
		}
	}
	update := func(in tenant.Settings) func() error {
		return func() error { _, err := f.svc.UpdateSSO(f.ctx, f.acme, olive, in); return err }
	}
	f.run([]step{
		{name: "give the IdP by its values", do: update(tenant.Settings{IDPSSOURL: ptr(a.SSOURL()), IDPIssuer: ptr(a.EntityID()), IDPCertificates: &[]string{certA}}),
			want: want("sso.update",
				obj("idp_sso_url", "", "idp_issuer", "", "idp_certificates", []any{}),
				obj("idp_sso_url", a.SSOURL(), "idp_issuer", a.EntityID(), "idp_certificates", []any{fpA}))},
		{name: "the same values change nothing", do: update(tenant.Settings{IDPSSOURL: ptr(a.SSOURL())})},
		{name: "a garbled certificate", do: update(tenant.Settings{IDPCertificates: &[]string{"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}}),
			wantErr: isField(tenant.FieldIDPCertificates)},
		{name: "require_sso before enabling", do: update(tenant.Settings{RequireSSO: ptr(true)}), wantErr: isRule},
		{name: "enable before a test", do: func() error { _, err := f.svc.EnableSSO(f.ctx, f.acme, olive, false); return err }, wantErr: isRule},
		{name: "start a test", do: func() error {
			st, err := f.svc.StartTest(f.ctx, f.acme, olive)
			testID = st.Test.ID
			return err
		}, want: want("sso.test", nil, obj("version", 1.0))},
		{name: "the gate passes it (not an admin's change)", do: func() error {
			_, err := f.st.FinishSSOTest(f.ctx, f.acme.ID, testID, true, []byte(`{"ok":true}`))
			return err
		}},
		{name: "enable", do: func() error { _, err := f.svc.EnableSSO(f.ctx, f.acme, olive, false); return err },
			want: want("sso.enable", obj("state", "tested"), obj("state", "enabled"))},
		{name: "enable again changes nothing", do: func() error { _, err := f.svc.EnableSSO(f.ctx, f.acme, olive, false); return err }},
		{name: "require_sso", do: update(tenant.Settings{RequireSSO: ptr(true), IDPManagedAccess: ptr(true)}),
			want: want("sso.update", obj("require_sso", false, "idp_managed_access", false), obj("require_sso", true, "idp_managed_access", true))},
		{name: "the groups attribute", do: update(tenant.Settings{GroupsAttribute: ptr("groups")}),
			want: want("sso.update", obj("groups_attribute", ""), obj("groups_attribute", "groups"))},
		{name: "a groups attribute with a control character", do: update(tenant.Settings{GroupsAttribute: ptr("gro\x1bups")}),
			wantErr: isField(tenant.FieldGroupsAttribute)},
		{name: "another IdP while enabled", do: update(tenant.Settings{IDPMetadataXML: &mdB}), wantErr: isRule},
		{name: "disable takes require_sso with it", do: func() error { _, _, err := f.svc.DisableSSO(f.ctx, f.acme, olive); return err },
			want: want("sso.disable", obj("state", "enabled", "require_sso", true), obj("state", "disabled", "require_sso", false))},
		{name: "disable again changes nothing", do: func() error { _, _, err := f.svc.DisableSSO(f.ctx, f.acme, olive); return err }},
		{name: "metadata replaces the values", do: update(tenant.Settings{IDPMetadataXML: &mdB}), want: func() *event {
			return want("sso.update",
				obj("state", "disabled", "idp_sso_url", a.SSOURL(), "idp_issuer", a.EntityID(), "idp_certificates", []any{fpA}, "idp_metadata_xml", ""),
				obj("state", "draft", "idp_sso_url", "", "idp_issuer", "", "idp_certificates", []any{},
					"idp_metadata_xml", fmt.Sprintf("%d bytes", len(f.conn().IDPMetadataXML))))()
		}},
		{name: "a metadata URL serving the same document", do: update(tenant.Settings{IDPMetadataURL: &f.metadataURL}),
			want: want("sso.update", obj("idp_metadata_url", ""), obj("idp_metadata_url", f.metadataURL))},
		{name: "a metadata URL that fails", do: update(tenant.Settings{IDPMetadataURL: ptr("https://idp-b.example.com/missing")}),
			wantErr: isField(tenant.FieldIDPMetadataURL)},
	})
	if c := f.conn(); !strings.Contains(c.IDPMetadataXML, "EntityDescriptor") || len(tenant.DescribeCertificates(c.IDPCertificates, time.Now())) != 0 {
		t.Fatalf("the connection holds no metadata document: %+v", c)
	}
	f.noSecrets(f.acme, "BEGIN CERTIFICATE", mdB, "EntityDescriptor", "<?xml", "<md:")

	t.Run("a test needs a complete IdP", func(t *testing.T) {
		if _, err := f.svc.StartTest(f.ctx, f.globex, olive); !isRule(err) {
			t.Fatalf("StartTest on globex = %v; want a rule refusal", err)
		}
		if es := f.events(f.globex); len(es) != 0 {
			t.Fatalf("globex recorded %+v", es)
		}
	})
}
