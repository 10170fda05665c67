package caddymodule

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
)

// TestCLIAudit: the CLI's changes are events of the org's activity log,
// with the operator as the actor and no secret in any of them; audit
// shows them newest first, for people or as JSON lines.
func TestCLIAudit(t *testing.T) {
	ct := newCLITest(t, "acme", "globex")
	dir := t.TempDir()
	cert := testCert(t, "Okta", time.Now().Add(365*24*time.Hour))
	certFile := writeFile(t, dir, "okta.pem", certPEM(cert))
	metadata := idpMetadataXML(t, "https://acme.okta.com/sso", "http://www.okta.com/exk2", cert)
	metadataFile := writeFile(t, dir, "metadata.xml", metadata)
	const password = "correct horse battery staple"

	secret := strings.TrimSpace(ct.ok("", "token", "create", "--org", "acme", "--scope", "scim", "--name", "okta"))
	ct.ok("", "user", "invite", "alice@acme.com", "--org", "acme")
	ct.ok("", "user", "set-role", "alice@acme.com", "owner", "--org", "acme")
	ct.ok(password+"\n", "user", "passwd", "alice@acme.com", "--org", "acme")
	ct.ok("", "domain", "claim", "acme.com", "--org", "acme")
	ct.ok("", "sso", "set", "--org", "acme", "--idp-sso-url", "https://acme.okta.com/sso", "--idp-issuer", "http://www.okta.com/exk1",
		"--idp-certificate", certFile)
	ct.ok("", "sso", "set", "--org", "acme", "--idp-metadata-file", metadataFile)
	ct.ok("", "sso", "enable", "--org", "acme", "--untested")
	ct.ok("", "sso", "disable", "--org", "acme")
	// Unchanged or refused: no event.
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"user", "set-role", "alice@acme.com", "owner"}, 0},
		{[]string{"sso", "disable"}, 0},
		{[]string{"sso", "set", "--require-sso", "true"}, 1},
		{[]string{"domain", "claim", "co.uk"}, 1},
		{[]string{"token", "revoke", "tok_nope"}, 1},
	} {
		if out := ct.run("", append(tt.args, "--org", "acme")...); out.code != tt.code {
			t.Fatalf("%v: exit %d (%s), want %d", tt.args, out.code, out.errMsg, tt.code)
		}
	}

	out := ct.run("", "audit", "--org", "acme", "--json")
	wantOutcome(t, out, 0, out.stdout)
	for _, s := range []string{secret, password, "BEGIN CERTIFICATE", string(metadata), "EntityDescriptor"} {
		if strings.Contains(out.stdout, s) {
			t.Errorf("audit --json shows a secret (%.30q): %s", s, out.stdout)
		}
	}
	var actions []string
	var prev int64
	for i, line := range strings.Split(strings.TrimSuffix(out.stdout, "\n"), "\n") {
		var e orgadmin.Event
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("line %d %q: %v", i+1, line, err)
		}
		if e.Actor != "operator (ssogate CLI)" || e.ActorKind != storage.ActorOperator || e.At.IsZero() || i > 0 && e.ID >= prev {
			t.Errorf("line %d: %+v; want the operator's event, newest first", i+1, e)
		}
		prev = e.ID
		actions = append(actions, e.Action+" "+e.Target)
	}
	want := []string{
		"sso.disable SSO connection",
		"sso.enable SSO connection",
		"sso.update SSO connection",
		"sso.update SSO connection",
		"domain.claim acme.com",
		"member.password alice@acme.com",
		"member.role alice@acme.com",
		"member.invite alice@acme.com",
		"token.create token okta (" + tokenID(t, ct, "acme", "okta") + ")",
		"org.create acme",
	}
	if diff := cmp.Diff(want, actions); diff != "" {
		t.Fatalf("audit --json (-want +got):\n%s", diff)
	}

	// For people: the newest first, the change as before → after.
	out = ct.run("", "audit", "--org", "acme", "--limit", "4")
	wantOutcome(t, out, 0, out.stdout)
	lines := strings.Split(strings.TrimSuffix(auditStable(out.stdout), "\n"), "\n")
	wantLines := []string{
		"WHEN WHO WHAT TARGET CHANGE",
		"WHEN operator (ssogate CLI) sso.disable SSO connection state: enabled → disabled",
		"WHEN operator (ssogate CLI) sso.enable SSO connection state: draft → enabled",
		"WHEN operator (ssogate CLI) sso.update SSO connection idp_certificates: [\"" + fingerprint(cert) + "\"] → []; " +
			"idp_issuer: http://www.okta.com/exk1 → \"\"; idp_metadata_xml: \"\" → " + bytesOf(t, ct, "acme") +
			"; idp_sso_url: https://acme.okta.com/sso → \"\"",
		"WHEN operator (ssogate CLI) sso.update SSO connection idp_certificates: [] → [\"" + fingerprint(cert) + "\"]; " +
			"idp_issuer: \"\" → http://www.okta.com/exk1; idp_sso_url: \"\" → https://acme.okta.com/sso",
	}
	if diff := cmp.Diff(wantLines, lines); diff != "" {
		t.Errorf("audit --limit 4 (-want +got):\n%s", diff)
	}
	if !strings.Contains(out.stderr, "The newest 4 of 10 events") {
		t.Errorf("stderr = %q, want a note that more events exist", out.stderr)
	}

	// Another org's log holds its own events only.
	out = ct.run("", "audit", "--org", "globex", "--json")
	if strings.Count(out.stdout, "\n") != 1 || !strings.Contains(out.stdout, `"action":"org.create","target":"globex"`) {
		t.Errorf("globex's log: %q", out.stdout)
	}
	for _, tt := range []struct {
		name    string
		args    []string
		errPart string
	}{
		{"no events", []string{"--limit", "0"}, "at least 1"},
		{"not a number", []string{"--limit", "many"}, "invalid argument"},
		{"an argument", []string{"acme"}, "takes no arguments"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantOutcome(t, ct.run("", append([]string{"audit", "--org", "acme"}, tt.args...)...), 2, "", tt.errPart)
		})
	}
}

func tokenID(t *testing.T, ct *cliTest, org, name string) string {
	t.Helper()
	st := ct.store()
	ts, err := st.ListTokens(context.Background(), ct.org(st, org).ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range ts {
		if tok.Name == name {
			return tok.ID
		}
	}
	t.Fatalf("no token %s", name)
	return ""
}

// bytesOf is how an event shows the org's stored metadata document.
func bytesOf(t *testing.T, ct *cliTest, org string) string {
	t.Helper()
	st := ct.store()
	return strconv.Itoa(len(connection(t, st, ct.org(st, org).ID).IDPMetadataXML)) + " bytes"
}

// auditStable replaces the times of an audit table and squeezes the
// columns' padding, so that rows compare as words.
func auditStable(s string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		line = auditTimeRE.ReplaceAllString(line, "WHEN")
		out = append(out, strings.Join(strings.Fields(line), " "))
	}
	return strings.Join(out, "\n")
}

var auditTimeRE = regexp.MustCompile(`\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC`)

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in      string
		want    time.Time
		wantErr bool
	}{
		{in: "", want: time.Time{}},
		{in: "24h", want: now.Add(-24 * time.Hour)},
		{in: "90m", want: now.Add(-90 * time.Minute)},
		{in: "2026-12-01T09:00:00Z", want: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)},
		{in: "2026-12-01T09:00:00+01:00", want: time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)},
		{in: "-1h", wantErr: true},
		{in: "0s", wantErr: true},
		{in: "yesterday", wantErr: true},
		{in: "2026-12-01", wantErr: true},
	} {
		got, err := parseSince(tc.in, now)
		if tc.wantErr {
			if err == nil || !strings.Contains(err.Error(), "--since takes") {
				t.Errorf("parseSince(%q) = %v, %v; want a usage error", tc.in, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

// auditLog is an AuditStore over a slice, newest first.
type auditLog []storage.AuditEvent

func (l auditLog) RecordAudit(context.Context, storage.AuditEvent) error { return nil }

func (l auditLog) ListAudit(_ context.Context, _ int64, p storage.Page) ([]storage.AuditEvent, int, error) {
	from := min(p.StartIndex-1, len(l))
	return l[from:min(from+p.Count, len(l))], len(l), nil
}

// TestAuditSince: events at or after the bound, newest first, across
// pages, with "more" only when the limit cut some off.
func TestAuditSince(t *testing.T) {
	now := time.Now()
	var log auditLog
	for i := range 500 { // one an hour, newest first
		log = append(log, storage.AuditEvent{ID: int64(500 - i), At: now.Add(-time.Duration(i) * time.Hour)})
	}
	for _, tc := range []struct {
		since     time.Time
		limit     int
		wantN     int
		wantMore  bool
		wantTotal int
	}{
		{time.Time{}, 50, 50, true, 500},
		{time.Time{}, 1000, 500, false, 500},
		{now.Add(-90 * time.Minute), 50, 2, false, 500},
		{now.Add(-300*time.Hour - time.Minute), 1000, 301, false, 500},
		{now.Add(-300*time.Hour - time.Minute), 250, 250, true, 500},
		{now.Add(time.Hour), 50, 0, false, 500},
	} {
		got, more, total, err := auditSince(context.Background(), log, 1, tc.since, tc.limit)
		if err != nil || len(got) != tc.wantN || more != tc.wantMore || total != tc.wantTotal {
			t.Errorf("auditSince(%v, %d) = %d events, more %v, total %d, %v; want %d, %v, %d",
				tc.since, tc.limit, len(got), more, total, err, tc.wantN, tc.wantMore, tc.wantTotal)
		}
		for i := 1; i < len(got); i++ {
			if got[i].ID != got[i-1].ID-1 {
				t.Fatalf("events out of order or skipped at %d: %d after %d", i, got[i].ID, got[i-1].ID)
			}
		}
	}
}
