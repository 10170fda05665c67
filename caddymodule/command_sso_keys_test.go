package caddymodule

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssogate/ssogate/internal/spkey"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
)

// keyRows returns the org's keys as sso keys lists them: use, state,
// fingerprint, read from the store.
func keyRows(t *testing.T, st *sqlitestore.Store, orgID int64) [][3]string {
	t.Helper()
	keys, err := st.SPKeys(context.Background(), orgID)
	if err != nil {
		t.Fatal(err)
	}
	out := [][3]string{}
	for _, k := range keys {
		p, err := spkey.Parse([]byte(k.CertificatePEM), []byte(k.KeyPEM))
		if err != nil {
			t.Fatalf("the stored %s key does not parse: %v", k.Use, err)
		}
		out = append(out, [3]string{k.Use, k.State, spkey.Fingerprint(p.Cert)})
	}
	return out
}

// listed returns the rows of an sso keys table in out.
var keyRowRE = regexp.MustCompile(`(?m)^(signing|encryption) +(current|next) +([0-9A-F:]{95}) +\d{4}-\d\d-\d\d \d\d:\d\d UTC$`)

func listed(out string) [][3]string {
	rows := [][3]string{}
	for _, m := range keyRowRE.FindAllStringSubmatch(out, -1) {
		rows = append(rows, [3]string{m[1], m[2], m[3]})
	}
	return rows
}

func TestCLISSOKeys(t *testing.T) {
	ct := newCLITest(t, "acme", "globex")
	st := ct.store()
	acme := ct.org(st, "acme")
	globex := ct.org(st, "globex")
	db := " --db " + ct.db

	wantOutcome(t, ct.run("", "sso", "keys", "--org", "acme"), 0, "Org acme has no SP keys yet.\n")
	wantOutcome(t, ct.run("", "sso", "keys", "retire", "--org", "acme"), 1, "",
		"no new key to retire the old one for: roll first: `ssogate sso keys roll --org acme"+db+"`")

	// The first roll makes the current keys, then the next ones.
	out := ct.run("", "sso", "keys", "roll", "--org", "acme")
	if out.code != 0 || !strings.HasPrefix(out.stdout, "Org acme had no SP keys: made its current keys first.\n"+
		"Published new SP keys of org acme beside the current ones:\nUSE         STATE    SHA-256 FINGERPRINT") {
		t.Fatalf("sso keys roll of an org without keys: %+v", out)
	}
	if want := "Next: publish: give the IdP the SP metadata again (/sso/o/acme/metadata); then run `ssogate sso keys retire --org acme" + db + "`.\n"; out.stderr != want {
		t.Errorf("sso keys roll stderr = %q, want %q", out.stderr, want)
	}
	rolled := keyRows(t, st, acme.ID)
	if diff := cmp.Diff(rolled, listed(out.stdout)); diff != "" || len(rolled) != 4 {
		t.Errorf("sso keys roll listed (-stored +listed):\n%s", diff)
	}
	list := ct.run("", "sso", "keys", "--org", "acme")
	if diff := cmp.Diff(rolled, listed(list.stdout)); diff != "" || list.code != 0 {
		t.Errorf("sso keys listed (-stored +listed):\n%s", diff)
	}
	if !strings.Contains(list.stderr, "New keys are published beside the current ones. Once the IdP has the SP metadata again, run `ssogate sso keys retire --org acme") {
		t.Errorf("sso keys stderr = %q, want the next step", list.stderr)
	}

	wantOutcome(t, ct.run("", "sso", "keys", "roll", "--org", "acme"), 1, "",
		"a new key is already published; retire the old one first: `ssogate sso keys retire --org acme"+db+"`")
	if diff := cmp.Diff(rolled, keyRows(t, st, acme.ID)); diff != "" {
		t.Errorf("a refused roll changed the keys (-before +after):\n%s", diff)
	}

	out = ct.run("", "sso", "keys", "retire", "--org", "acme")
	retired := keyRows(t, st, acme.ID)
	want := [][3]string{{"signing", "current", rolled[1][2]}, {"encryption", "current", rolled[3][2]}}
	if diff := cmp.Diff(want, retired); diff != "" || out.code != 0 {
		t.Fatalf("keys after sso keys retire (-want +got):\n%s\n%+v", diff, out)
	}
	if !strings.HasPrefix(out.stdout, "Retired the old SP keys of org acme; the new ones are current:\n") || !strings.Contains(out.stderr, "give it the SP metadata again") {
		t.Errorf("sso keys retire: %+v", out)
	}
	if diff := cmp.Diff(want, listed(out.stdout)); diff != "" {
		t.Errorf("sso keys retire listed (-want +got):\n%s", diff)
	}

	// A second roll keeps the current keys.
	out = ct.run("", "sso", "keys", "roll", "--org", "acme")
	if out.code != 0 || strings.Contains(out.stdout, "had no SP keys") {
		t.Fatalf("second sso keys roll: %+v", out)
	}
	if got := keyRows(t, st, acme.ID); len(got) != 4 || got[0] != retired[0] || got[2] != retired[1] {
		t.Errorf("keys after the second roll = %v; want the current ones kept", got)
	}

	// Each change is in the org's activity, by fingerprint; no output
	// holds a private key.
	events, _, err := st.ListAudit(context.Background(), acme.ID, storage.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range events {
		actions = append(actions, e.Action+" by "+e.ActorKind)
		if strings.Contains(string(e.Before)+string(e.After), "PRIVATE") {
			t.Errorf("event %s holds a key: %s %s", e.Action, e.Before, e.After)
		}
	}
	if diff := cmp.Diff([]string{"sp_key.roll by operator", "sp_key.retire by operator", "sp_key.roll by operator", "org.create by operator"}, actions); diff != "" {
		t.Errorf("acme's activity, newest first (-want +got):\n%s", diff)
	}
	if !strings.Contains(string(events[1].After), rolled[1][2]) {
		t.Errorf("sp_key.retire after = %s, want the new signing key's fingerprint", events[1].After)
	}
	for _, args := range [][]string{{"sso", "keys", "--org", "acme"}, {"sso", "keys", "roll", "--org", "globex"}, {"audit", "--org", "acme"}} {
		if out := ct.run("", args...); strings.Contains(out.stdout+out.stderr, "PRIVATE KEY") || strings.Contains(out.stdout+out.stderr, "CERTIFICATE") {
			t.Errorf("%v prints PEM: %+v", args, out)
		}
	}
	if got := keyRows(t, st, globex.ID); len(got) != 4 {
		t.Errorf("globex's keys after its own roll = %v", got)
	}
}

func TestCLISSOKeysRefused(t *testing.T) {
	ct := newCLITest(t, "acme")
	for _, tc := range []struct {
		name    string
		args    []string
		code    int
		errPart string
	}{
		{"unknown subcommand", []string{"sso", "keys", "rotate", "--org", "acme"}, 2, `unknown subcommand "rotate" of sso keys; want roll or retire`},
		{"unknown org", []string{"sso", "keys", "--org", "nope"}, 1, "org nope does not exist"},
		{"roll of an unknown org", []string{"sso", "keys", "roll", "--org", "nope"}, 1, "org nope does not exist"},
		{"an argument to roll", []string{"sso", "keys", "roll", "now", "--org", "acme"}, 2, "takes no arguments, got now"},
		{"unknown flag", []string{"sso", "keys", "retire", "--force"}, 2, "unknown flag: --force"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantOutcome(t, ct.run("", tc.args...), tc.code, "", tc.errPart)
		})
	}
	if got := keyRows(t, ct.store(), ct.org(ct.store(), "acme").ID); len(got) != 0 {
		t.Errorf("refused commands made keys: %v", got)
	}
}

// TestCLISSOKeysExpiry: sso keys warns from 30 days before a key expires.
func TestCLISSOKeysExpiry(t *testing.T) {
	ct := newCLITest(t, "acme")
	st := ct.store()
	acme := ct.org(st, "acme")
	// A key made ten years ago, less a week: it expires in a week.
	p, err := spkey.Generate("ssogate SP acme", time.Now().AddDate(-spkey.Years, 0, 7))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureSPKeys(context.Background(), acme.ID, []storage.SPKey{{Use: storage.SPKeySigning,
		CertificatePEM: p.CertificatePEM(), KeyPEM: p.KeyPEM(), NotAfter: p.Cert.NotAfter}}); err != nil {
		t.Fatal(err)
	}
	out := ct.run("", "sso", "keys", "--org", "acme")
	if out.code != 0 || !regexp.MustCompile("warning: the signing key \\(current\\) expires in [67] days: roll the keys with `ssogate sso keys roll").MatchString(out.stderr) {
		t.Errorf("sso keys of an expiring key: %+v", out)
	}
}
