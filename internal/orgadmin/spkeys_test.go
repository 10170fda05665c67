package orgadmin_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// TestAuditSPKeys: rolling and retiring SP keys are one event each, with
// the keys that changed by fingerprint; refusals record nothing, and no
// event or answer holds a private key.
func TestAuditSPKeys(t *testing.T) {
	f := newFixture(t, "")
	op := orgadmin.Operator
	// fp returns the fingerprint of the org's key in a slot now.
	fp := func(use, state string) string {
		keys, err := f.svc.SPKeys(f.ctx, f.acme)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.Use == use && k.State == state {
				return k.Fingerprint
			}
		}
		return ""
	}
	want := func(action string, before, after func() map[string]any) func() *event {
		return func() *event {
			return &event{Actor: op.Name, ActorKind: storage.ActorOperator, Action: action, Target: "SP keys", Before: before(), After: after()}
		}
	}
	isRuleOf := func(sentinel error) func(error) bool {
		return func(err error) bool {
			var re *tenant.RuleError
			return errors.As(err, &re) && errors.Is(err, sentinel) && re.Reason == sentinel.Error()
		}
	}
	var keysBefore map[string]string
	remember := func() {
		keysBefore = map[string]string{}
		for _, use := range tenant.SPKeyUses {
			keysBefore[use] = fp(use, storage.SPKeyCurrent)
			keysBefore[use+"_next"] = fp(use, storage.SPKeyNext)
		}
	}
	roll := func() error { remember(); _, err := f.svc.RollSPKeys(f.ctx, f.acme, op); return err }
	retire := func() error { remember(); _, err := f.svc.RetireSPKeys(f.ctx, f.acme, op); return err }
	var all []string // every key's PEM, to look for in the log

	f.run([]step{
		{name: "retire without keys", do: retire, wantErr: isRuleOf(orgadmin.ErrNothingToRetire)},
		{name: "roll an org without keys makes current and next keys", do: roll, want: want("sp_key.roll",
			func() map[string]any {
				return obj("signing", "", "signing_next", "", "encryption", "", "encryption_next", "")
			},
			func() map[string]any {
				return obj("signing", fp("signing", "current"), "signing_next", fp("signing", "next"),
					"encryption", fp("encryption", "current"), "encryption_next", fp("encryption", "next"))
			})},
		{name: "roll again before retiring", do: roll, wantErr: isRuleOf(orgadmin.ErrKeyPublished)},
		{name: "retire", do: retire, want: want("sp_key.retire",
			func() map[string]any {
				return obj("signing", keysBefore["signing"], "signing_next", keysBefore["signing_next"],
					"encryption", keysBefore["encryption"], "encryption_next", keysBefore["encryption_next"])
			},
			func() map[string]any {
				return obj("signing", keysBefore["signing_next"], "signing_next", "",
					"encryption", keysBefore["encryption_next"], "encryption_next", "")
			})},
		{name: "retire again", do: retire, wantErr: isRuleOf(orgadmin.ErrNothingToRetire)},
		{name: "roll keys that exist", do: func() error {
			keys, err := f.st.SPKeys(f.ctx, f.acme.ID)
			for _, k := range keys {
				all = append(all, k.KeyPEM)
			}
			if err != nil {
				return err
			}
			return roll()
		}, want: want("sp_key.roll",
			func() map[string]any { return obj("signing_next", "", "encryption_next", "") },
			func() map[string]any {
				return obj("signing_next", fp("signing", "next"), "encryption_next", fp("encryption", "next"))
			})},
	})

	keys, err := f.st.SPKeys(f.ctx, f.acme.ID)
	if err != nil || len(keys) != 4 {
		t.Fatalf("SPKeys(acme) = %d keys, %v; want 4", len(keys), err)
	}
	for _, k := range keys {
		all = append(all, k.KeyPEM, strings.Split(strings.TrimSpace(k.KeyPEM), "\n")[1])
	}
	f.noSecrets(f.acme, all...)
	infos, err := f.svc.SPKeys(f.ctx, f.acme)
	if err != nil {
		t.Fatal(err)
	}
	for _, info := range infos {
		if strings.Contains(info.CertificatePEM, "PRIVATE") || info.Fingerprint == "" {
			t.Errorf("SPKeys shows %+v", info)
		}
	}
	if g, err := f.st.SPKeys(f.ctx, f.globex.ID); err != nil || len(g) != 0 {
		t.Errorf("SPKeys(globex) = %d, %v; want none", len(g), err)
	}
}
