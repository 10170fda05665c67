package caddymodule

import (
	"context"
	"crypto/x509"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
	"github.com/ssogate/ssogate/internal/testidp"
)

func TestBackoff(t *testing.T) {
	b := newBackoff(24 * time.Hour)
	for i, tc := range []struct {
		ok   bool
		want time.Duration
	}{
		{true, 24 * time.Hour},
		{false, 30 * time.Second},
		{false, time.Minute},
		{false, 2 * time.Minute},
		{true, 24 * time.Hour},
		{false, 30 * time.Second},
	} {
		if got := b.next(tc.ok); got != tc.want {
			t.Fatalf("step %d (ok %v): wait %s, want %s", i, tc.ok, got, tc.want)
		}
	}
	short := newBackoff(time.Minute)
	for range 5 {
		short.next(false)
	}
	if got := short.next(false); got != time.Minute {
		t.Fatalf("backoff past the interval: %s, want the interval", got)
	}
}

// metadataServer serves whatever document it holds, or fails.
type metadataServer struct {
	mu   sync.Mutex
	doc  []byte
	down bool
}

func (m *metadataServer) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write(m.doc)
}

func (m *metadataServer) set(doc []byte, down bool) {
	m.mu.Lock()
	m.doc, m.down = doc, down
	m.mu.Unlock()
}

// idpDocument is a test IdP's metadata document at baseURL, with a fresh
// key each time (a certificate rollover keeps the entity ID).
func idpDocument(t *testing.T, baseURL string) []byte {
	t.Helper()
	idp, err := testidp.New(baseURL)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := xml.Marshal(idp.IDP.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// TestOrgUpkeepRefresh: an org's metadata URL is fetched again; a good,
// changed document replaces the kept one and leaves the connection
// enabled; an unreachable URL, or a document naming another IdP, keeps
// the old one.
func TestOrgUpkeepRefresh(t *testing.T) {
	ctx := context.Background()
	st, err := sqlitestore.Open(ctx, filepath.Join(t.TempDir(), "upkeep.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	org, err := st.EnsureOrg(ctx, "acme", true)
	if err != nil {
		t.Fatal(err)
	}
	srv := &metadataServer{}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	first := idpDocument(t, "https://idp.example.com")
	if _, err := st.ModifyConnection(ctx, org.ID, func(c *storage.Connection) error {
		c.IDPMetadataURL, c.IDPMetadataXML, c.State = ts.URL+"/metadata", string(first), storage.ConnectionEnabled
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	reg := tenant.NewRegistry(st)
	var allowPrivate atomic.Bool
	allowPrivate.Store(true) // the test server is on loopback
	core, logs := observer.New(zap.InfoLevel)
	u := newOrgUpkeep(st, reg, zap.New(core), &allowPrivate)
	stored := func() storage.Connection {
		c, err := st.Connection(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	refresh := func() bool {
		if err := reg.Load(ctx); err != nil {
			t.Fatal(err)
		}
		return u.refresh(ctx, reg.ByID(org.ID), time.Now())
	}

	rolled := idpDocument(t, "https://idp.example.com")
	for _, tc := range []struct {
		name    string
		doc     []byte
		down    bool
		ok      bool
		wantXML []byte
	}{
		{"unchanged", first, false, true, first},
		{"the IdP rolled its certificate", rolled, false, true, rolled},
		{"unreachable", nil, true, false, rolled},
		{"another IdP", idpDocument(t, "https://evil.example.com"), false, false, rolled},
		{"not metadata", []byte("<html>maintenance</html>"), false, false, rolled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.set(tc.doc, tc.down)
			before := stored()
			if got := refresh(); got != tc.ok {
				t.Fatalf("refresh = %v, want %v", got, tc.ok)
			}
			after := stored()
			if after.IDPMetadataXML != string(tc.wantXML) {
				t.Fatal("the kept metadata is not the one expected")
			}
			if after.State != storage.ConnectionEnabled {
				t.Fatalf("state %s after a refresh, want enabled", after.State)
			}
			if (after.Version != before.Version) != (string(tc.wantXML) != before.IDPMetadataXML) {
				t.Errorf("version %d -> %d: a write without a change, or none with one", before.Version, after.Version)
			}
		})
	}
	if logs.FilterMessage("refreshing an organization's IdP metadata; keeping the previous copy").Len() != 3 {
		t.Errorf("refusals logged: %v", logs.All())
	}

	// refreshDue fetches each org once its turn comes (the first within
	// the hour), and not before.
	srv.set(first, false)
	if err := reg.Load(ctx); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	u.refreshDue(ctx, now)
	if stored().IDPMetadataXML != string(rolled) {
		t.Fatal("refreshDue fetched before the org's turn")
	}
	u.refreshDue(ctx, now.Add(time.Hour))
	if stored().IDPMetadataXML != string(first) {
		t.Fatal("refreshDue did not fetch within the first hour")
	}
}

func TestWarnCertificate(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		notAfter time.Time
		level    string
		message  string
	}{
		{"a year left", now.AddDate(1, 0, 0), "", ""},
		{"31 days left", now.Add(31 * 24 * time.Hour), "", ""},
		{"29 days left", now.Add(29*24*time.Hour + time.Hour), "warn", "expires in 29 days"},
		{"expired", now.Add(-time.Hour), "error", "has expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			warnCertificate(zap.New(core), now, "IdP signing certificate", "acme", &x509.Certificate{NotAfter: tc.notAfter})
			if tc.level == "" {
				if logs.Len() != 0 {
					t.Fatalf("logged %v", logs.All())
				}
				return
			}
			if logs.Len() != 1 {
				t.Fatalf("logged %d lines", logs.Len())
			}
			e := logs.All()[0]
			if e.Level.String() != tc.level || !strings.Contains(e.Message, tc.message) || e.ContextMap()["org"] != "acme" {
				t.Fatalf("logged %s %q %v", e.Level, e.Message, e.ContextMap())
			}
		})
	}
}
