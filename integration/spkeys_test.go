package integration

import (
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml/samlsp"

	"github.com/ssogate/ssogate/internal/spkey"
)

// spMetadata fetches the gate's SP metadata and returns it with its
// certificates by use, as the base64 DER the metadata carries.
func (e *env) spMetadata() ([]byte, map[string][]string) {
	e.t.Helper()
	resp, err := http.Get(e.gate + "/sso/metadata")
	if err != nil {
		e.t.Fatal(err)
	}
	doc := []byte(readBody(e.t, resp))
	md, err := samlsp.ParseMetadata(doc)
	if err != nil {
		e.t.Fatalf("SP metadata: %v\n%s", err, doc)
	}
	certs := map[string][]string{}
	for _, k := range md.SPSSODescriptors[0].KeyDescriptors {
		for _, c := range k.KeyInfo.X509Data.X509Certificates {
			certs[k.Use] = append(certs[k.Use], strings.Join(strings.Fields(c.Data), ""))
		}
	}
	return doc, certs
}

// encryptedSignIn signs alice in at the gate with the IdP encrypting the
// assertion to what the SP metadata it holds publishes, and returns the
// ACS answer.
func (e *env) encryptedSignIn() *http.Response {
	e.t.Helper()
	e.idp.EncryptAssertions.Store(true)
	b := newBrowser(e.t)
	return e.spLogin(b, "/", "alice@acme.com")
}

// TestSPKeys: an org's SP keys, through the built binary's CLI and a gate:
// generated on first use and published for signing and encryption; an IdP
// that encrypts assertions to them signs people in; `ssogate sso keys
// roll` publishes next keys beside them while the old ones still decrypt;
// `retire` leaves the new ones alone, and an IdP still encrypting to the
// old key gets told what to do.
func TestSPKeys(t *testing.T) {
	e := startEnv(t, "")
	bin, home := ssogateBinary(t), t.TempDir()
	cli := func(args ...string) string {
		t.Helper()
		r := runSSOGate(t, bin, home, "", append(args, "--db", e.dbPath)...)
		if r.code != 0 {
			t.Fatalf("ssogate %s: exit %d: %s", strings.Join(args, " "), r.code, r.stderr)
		}
		return r.stdout
	}

	before, certs := e.spMetadata()
	if len(certs["signing"]) != 1 || len(certs["encryption"]) != 1 || certs["signing"][0] == certs["encryption"][0] {
		t.Fatalf("SP metadata keys %v: want one signing and one other encryption certificate", certs)
	}
	oldEnc := certs["encryption"][0]
	if err := e.idp.AddSPMetadata(before); err != nil {
		t.Fatal(err)
	}
	if resp := e.encryptedSignIn(); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("encrypted sign-in = %d: %s", resp.StatusCode, readBody(t, resp))
	}
	listed := cli("sso", "keys", "--org", "acme")
	if !strings.Contains(listed, "signing") || !strings.Contains(listed, "encryption") || strings.Contains(listed, "PRIVATE") {
		t.Fatalf("sso keys listed:\n%s", listed)
	}

	cli("sso", "keys", "roll", "--org", "acme")
	waitUntil(t, "the rolled keys published", func() bool {
		_, certs = e.spMetadata()
		return len(certs["signing"]) == 2 && len(certs["encryption"]) == 2
	})
	if certs["encryption"][0] != oldEnc {
		t.Fatalf("after roll the current encryption key changed: %v", certs)
	}
	newEnc := certs["encryption"][1]
	// The IdP still holds the metadata from before the roll.
	if resp := e.encryptedSignIn(); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("encrypted to the old key during the roll = %d: %s", resp.StatusCode, readBody(t, resp))
	}

	cli("sso", "keys", "retire", "--org", "acme")
	var after []byte
	waitUntil(t, "the old keys retired", func() bool {
		after, certs = e.spMetadata()
		return len(certs["encryption"]) == 1 && certs["encryption"][0] == newEnc
	})
	// An IdP that never took the new metadata up is told what to do.
	resp := e.encryptedSignIn()
	if body := readBody(t, resp); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "download the SP metadata again") {
		t.Fatalf("encrypted to a retired key = %d: %s", resp.StatusCode, body)
	}
	if err := e.idp.AddSPMetadata(after); err != nil {
		t.Fatal(err)
	}
	if resp := e.encryptedSignIn(); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("encrypted to the new key = %d: %s", resp.StatusCode, readBody(t, resp))
	}
}

// TestSPKeysFromCaddyfile: sp_certificate and sp_key give the pinned org
// its SP key: published for both uses, decrypting what the IdP encrypts,
// and signing logout requests.
func TestSPKeysFromCaddyfile(t *testing.T) {
	pair, err := spkey.Generate("ssogate test SP", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "sp.pem"), filepath.Join(dir, "sp.key")
	if err := os.WriteFile(certPath, []byte(pair.CertificatePEM()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, []byte(pair.KeyPEM()), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startEnv(t, "sp_certificate "+certPath+"\nsp_key "+keyPath+"\nsign_requests")
	doc, certs := e.spMetadata()
	want := base64.StdEncoding.EncodeToString(pair.Cert.Raw)
	if len(certs["signing"]) != 1 || certs["signing"][0] != want || len(certs["encryption"]) != 1 || certs["encryption"][0] != want {
		t.Fatalf("SP metadata keys %v: want the Caddyfile's certificate for both uses", certs)
	}
	md, err := samlsp.ParseMetadata(doc)
	if err != nil {
		t.Fatal(err)
	}
	if d := md.SPSSODescriptors[0]; d.AuthnRequestsSigned == nil || !*d.AuthnRequestsSigned {
		t.Error("sign_requests: the metadata does not say AuthnRequestsSigned")
	}
	e.idp.IDP.WantAuthnRequestsSigned = true // refuses unsigned requests
	if resp := e.encryptedSignIn(); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("signed request, encrypted assertion = %d: %s", resp.StatusCode, readBody(t, resp))
	}
}
