package tenant

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ssogate/ssogate/internal/spkey"
	"github.com/ssogate/ssogate/internal/storage"
)

func TestEnsureSPKeys(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	acme, err := st.CreateOrg(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	globex, err := st.CreateOrg(ctx, "globex")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)

	keys, err := EnsureSPKeys(ctx, st, acme, now)
	if err != nil {
		t.Fatalf("EnsureSPKeys(acme) = %v", err)
	}
	type slot struct{ Use, State string }
	var slots []slot
	for _, k := range keys {
		slots = append(slots, slot{k.Use, k.State})
		p, err := spkey.Parse([]byte(k.CertificatePEM), []byte(k.KeyPEM))
		if err != nil {
			t.Fatalf("the %s key does not parse: %v", k.Use, err)
		}
		if cn := p.Cert.Subject.CommonName; cn != "ssogate SP acme" || !k.NotAfter.Equal(p.Cert.NotAfter) {
			t.Errorf("the %s key: CN %q, not after %v (stored %v); want ssogate SP acme and the certificate's expiry", k.Use, cn, p.Cert.NotAfter, k.NotAfter)
		}
	}
	want := []slot{{storage.SPKeySigning, storage.SPKeyCurrent}, {storage.SPKeyEncryption, storage.SPKeyCurrent}}
	if diff := cmp.Diff(want, slots); diff != "" {
		t.Fatalf("EnsureSPKeys(acme) keys (-want +got):\n%s", diff)
	}
	if keys[0].CertificatePEM == keys[1].CertificatePEM {
		t.Error("the signing and encryption keys are one key")
	}

	again, err := EnsureSPKeys(ctx, st, acme, now)
	if err != nil || len(again) != 2 || again[0].CertificatePEM != keys[0].CertificatePEM || again[1].CertificatePEM != keys[1].CertificatePEM {
		t.Errorf("EnsureSPKeys(acme) again = %d keys, %v; want the same two", len(again), err)
	}

	// An org with one use's key gets the other's only.
	signing, err := NewSPKey("globex", storage.SPKeySigning, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureSPKeys(ctx, globex.ID, []storage.SPKey{signing}); err != nil {
		t.Fatal(err)
	}
	gk, err := EnsureSPKeys(ctx, st, globex, now)
	if err != nil || len(gk) != 2 || gk[0].CertificatePEM != signing.CertificatePEM || gk[1].Use != storage.SPKeyEncryption {
		t.Fatalf("EnsureSPKeys(globex) = %d keys, %v; want its signing key and a new encryption key", len(gk), err)
	}

	infos := DescribeSPKeys(keys, now.AddDate(10, 0, -10))
	for i, info := range infos {
		p, _ := spkey.Parse([]byte(keys[i].CertificatePEM), []byte(keys[i].KeyPEM))
		if info.Use != keys[i].Use || info.State != keys[i].State || info.Fingerprint != spkey.Fingerprint(p.Cert) ||
			info.Subject != "CN=ssogate SP acme" || !info.ExpiresSoon || info.Expired || info.CertificatePEM != keys[i].CertificatePEM {
			t.Errorf("DescribeSPKeys[%d] = %+v", i, info)
		}
	}
	if got := DescribeSPKeys([]storage.SPKey{{Use: storage.SPKeySigning, State: storage.SPKeyNext, CertificatePEM: "garbage"}}, now); len(got) != 1 ||
		got[0].Use != storage.SPKeySigning || got[0].Fingerprint != "" {
		t.Errorf("DescribeSPKeys of an unreadable certificate = %+v", got)
	}
}
