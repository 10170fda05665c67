package sso

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml/samlsp"
	"github.com/crewjam/saml/xmlenc"

	"github.com/ssogate/ssogate/internal/testidp"
)

var appOrigin = &url.URL{Scheme: "https", Host: "app.example.com"}

// idpProvider is a Provider for the test IdP, with cfg's SP settings, and
// the IdP taught the Provider's metadata.
func idpProvider(t testing.TB, idp *testidp.IdP, cfg Config) *Provider {
	t.Helper()
	md, err := samlsp.ParseMetadata(idpMetadata(t, idp))
	if err != nil {
		t.Fatal(err)
	}
	cfg.MetadataPath, cfg.ACSPath, cfg.LogoutPath = "/sso/metadata", "/sso/acs", "/sso/logout"
	cfg.IDP, cfg.ReplayCache = md, newMemReplayCache()
	if cfg.ClockSkew == 0 {
		cfg.ClockSkew = 90 * time.Second
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := p.Metadata(appOrigin)
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.AddSPMetadata(doc); err != nil {
		t.Fatal(err)
	}
	return p
}

// idpMetadata is the test IdP's metadata document, as an admin downloads it.
func idpMetadata(t testing.TB, idp *testidp.IdP) []byte {
	t.Helper()
	doc, err := xml.Marshal(idp.IDP.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func newTestIdP(t testing.TB) *testidp.IdP {
	t.Helper()
	idp, err := testidp.New("https://idp.example.com", testidp.User{Email: "alice@acme.com", GivenName: "Alice", FamilyName: "Archer"})
	if err != nil {
		t.Fatal(err)
	}
	return idp
}

// TestMetadataPublishesKeys: every signing key and every encryption key is
// in the SP metadata, current first, each with its use; the encryption keys
// list AES-GCM first; AuthnRequestsSigned says whether requests are signed.
func TestMetadataPublishesKeys(t *testing.T) {
	sign, signNext, enc, encNext := freshKey(t), freshKey(t), freshKey(t), freshKey(t)
	for _, tc := range []struct {
		name       string
		cfg        Config
		want       []KeyPair
		uses       []string
		signedReqs bool
	}{
		{"no keys", Config{}, nil, nil, false},
		{"one of each", Config{SigningKeys: []KeyPair{sign}, EncryptionKeys: []KeyPair{enc}},
			[]KeyPair{sign, enc}, []string{"signing", "encryption"}, false},
		{"during a roll", Config{SigningKeys: []KeyPair{sign, signNext}, EncryptionKeys: []KeyPair{enc, encNext}, SignRequests: true},
			[]KeyPair{sign, signNext, enc, encNext}, []string{"signing", "signing", "encryption", "encryption"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.MetadataPath, cfg.ACSPath = "/sso/metadata", "/sso/acs"
			doc, err := SPMetadata(cfg, appOrigin)
			if err != nil {
				t.Fatal(err)
			}
			md, err := samlsp.ParseMetadata(doc)
			if err != nil {
				t.Fatalf("metadata does not parse: %v\n%s", err, doc)
			}
			d := md.SPSSODescriptors[0]
			if len(d.KeyDescriptors) != len(tc.want) {
				t.Fatalf("%d key descriptors, want %d:\n%s", len(d.KeyDescriptors), len(tc.want), doc)
			}
			for i, k := range d.KeyDescriptors {
				got := k.KeyInfo.X509Data.X509Certificates[0].Data
				if got != base64.StdEncoding.EncodeToString(tc.want[i].Cert.Raw) || k.Use != tc.uses[i] {
					t.Errorf("key %d: use %q, not the certificate expected (want use %q)", i, k.Use, tc.uses[i])
				}
				if k.Use == "encryption" && (len(k.EncryptionMethods) == 0 || k.EncryptionMethods[0].Algorithm != xmlenc.AES256GCM.Algorithm()) {
					t.Errorf("encryption key %d methods %+v, want AES-256-GCM first", i, k.EncryptionMethods)
				}
			}
			if got := d.AuthnRequestsSigned != nil && *d.AuthnRequestsSigned; got != tc.signedReqs {
				t.Errorf("AuthnRequestsSigned = %v, want %v", got, tc.signedReqs)
			}
			if !md.ValidUntil.IsZero() || strings.Contains(string(doc), "validUntil") {
				t.Errorf("metadata carries a validUntil:\n%s", doc)
			}
		})
	}
}

// TestSignedAuthnRequests: requests are signed in the HTTP-Redirect
// binding's query string when asked, or when the IdP's metadata wants it;
// an IdP that wants them signed (crewjam's, checking as Okta does) takes
// the signed ones and refuses one altered or unsigned.
func TestSignedAuthnRequests(t *testing.T) {
	key := freshKey(t)
	t.Run("the IdP wants them signed", func(t *testing.T) {
		idp := newTestIdP(t)
		idp.IDP.WantAuthnRequestsSigned = true
		p := idpProvider(t, idp, Config{SigningKeys: []KeyPair{key}})
		if !p.SignsRequests() {
			t.Fatal("SignsRequests = false for an IdP that wants signed requests")
		}
		u, _, err := p.StartLogin(appOrigin, "relay", false)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		if q.Get("SigAlg") != "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256" || q.Get("Signature") == "" {
			t.Fatalf("redirect %s: want an RSA-SHA256 query-string signature", u)
		}
		if _, _, err := idp.Answer(u, "alice@acme.com"); err != nil {
			t.Fatalf("the IdP refused the signed request: %v", err)
		}
		altered := *u
		q.Set("RelayState", "other")
		altered.RawQuery = q.Encode()
		if _, _, err := idp.Answer(&altered, "alice@acme.com"); err == nil {
			t.Error("the IdP took a request whose RelayState was changed after signing")
		}
		q = u.Query()
		q.Del("Signature")
		q.Del("SigAlg")
		altered.RawQuery = q.Encode()
		if _, _, err := idp.Answer(&altered, "alice@acme.com"); err == nil {
			t.Error("the IdP took the request without its signature")
		}
	})
	t.Run("sign_requests", func(t *testing.T) {
		idp := newTestIdP(t)
		p := idpProvider(t, idp, Config{SigningKeys: []KeyPair{key}, SignRequests: true})
		u, _, err := p.StartLogin(appOrigin, "relay", false)
		if err != nil {
			t.Fatal(err)
		}
		if u.Query().Get("Signature") == "" {
			t.Fatalf("redirect %s carries no signature", u)
		}
		if _, _, err := idp.Answer(u, "alice@acme.com"); err != nil {
			t.Fatalf("the IdP refused the signed request: %v", err)
		}
	})
	t.Run("off by default", func(t *testing.T) {
		p := idpProvider(t, newTestIdP(t), Config{SigningKeys: []KeyPair{key}})
		u, _, err := p.StartLogin(appOrigin, "relay", false)
		if err != nil {
			t.Fatal(err)
		}
		if u.Query().Has("Signature") || p.SignsRequests() {
			t.Fatalf("redirect %s is signed without sign_requests", u)
		}
	})
	t.Run("no key to sign with", func(t *testing.T) {
		idp := newTestIdP(t)
		idp.IDP.WantAuthnRequestsSigned = true
		md, err := samlsp.ParseMetadata(idpMetadata(t, idp))
		if err != nil {
			t.Fatal(err)
		}
		for _, cfg := range []Config{
			{IDP: md, ReplayCache: newMemReplayCache()},
			{IDP: IDPMetadata(idp.SSOURL(), idp.EntityID(), []*x509.Certificate{idp.Cert}), ReplayCache: newMemReplayCache(), SignRequests: true},
		} {
			if _, err := New(cfg); err == nil {
				t.Error("New accepted signed requests without a signing key")
			}
		}
	})
}

// TestParseACSMintedEncrypted: assertions encrypted as IdPs are set to do
// it (RSA-OAEP with AES-GCM or AES-CBC, in a signed Response) decrypt
// with the SP's key and sign the person in; RSA 1.5 key transport is
// refused with what to change, unless allowed.
func TestParseACSMintedEncrypted(t *testing.T) {
	enc, next := freshKey(t), freshKey(t)
	oaep := func(cipher xmlenc.BlockCipher) xmlenc.Encrypter {
		e := xmlenc.OAEP()
		e.BlockCipher = cipher
		return e
	}
	pkcs15 := xmlenc.PKCS1v15()
	pkcs15.BlockCipher = xmlenc.AES256GCM
	for _, tc := range []struct {
		name      string
		encrypter xmlenc.Encrypter
		keys      []KeyPair
		rsa15     bool
		code      string
	}{
		{"RSA-OAEP, AES-256-GCM", oaep(xmlenc.AES256GCM), []KeyPair{enc}, false, ""},
		{"RSA-OAEP, AES-128-GCM", oaep(xmlenc.AES128GCM), []KeyPair{enc}, false, ""},
		{"RSA-OAEP, AES-256-CBC", oaep(xmlenc.AES256CBC), []KeyPair{enc}, false, ""},
		{"RSA-OAEP, AES-128-CBC", oaep(xmlenc.AES128CBC), []KeyPair{enc}, false, ""},
		{"RSA-OAEP to the current key, the next one published", oaep(xmlenc.AES256GCM), []KeyPair{enc, next}, false, ""},
		{"RSA 1.5, refused", pkcs15, []KeyPair{enc}, false, CodeEncryption},
		{"RSA 1.5, allowed", pkcs15, []KeyPair{enc}, true, ""},
		{"RSA 1.5 to the next key, allowed", pkcs15, []KeyPair{next, enc}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.rsa15 {
				AllowRSA15KeyTransport()
				t.Cleanup(func() { xmlenc.UnregisterDecrypter(rsa15Algorithm) })
			}
			idp := newTestIdP(t)
			idp.EncryptAssertions.Store(true)
			idp.IDP.AssertionEncrypter = tc.encrypter
			// The IdP encrypts to the first encryption key published.
			p := idpProvider(t, idp, Config{EncryptionKeys: tc.keys})
			u, reqID, err := p.StartLogin(appOrigin, "relay", false)
			if err != nil {
				t.Fatal(err)
			}
			_, form, err := idp.Answer(u, "alice@acme.com")
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := base64.StdEncoding.DecodeString(form.Get("SAMLResponse"))
			if !strings.Contains(string(raw), "EncryptedAssertion") || strings.Contains(string(raw), "alice@acme.com") {
				t.Fatal("the IdP did not encrypt the assertion")
			}
			id, err := p.ParseACS(acsRequest(form), appOrigin, []string{reqID})
			if tc.code != "" {
				var ref *Refusal
				if !errors.As(err, &ref) || ref.Code != tc.code || !strings.Contains(ref.Reason, "RSA-OAEP") {
					t.Fatalf("ParseACS = %+v, %v; want %s saying to use RSA-OAEP", id, err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseACS: %v", err)
			}
			if id.Email != "alice@acme.com" || id.GivenName != "Alice" {
				t.Fatalf("identity %+v", id)
			}
		})
	}
}

// TestRSA15BadPaddingLooksLikeAWrongKey: with RSA 1.5 allowed, a wrapped
// key whose padding is bad fails exactly as one for another key does:
// "cannot decrypt", with no word about the padding.
func TestRSA15BadPaddingLooksLikeAWrongKey(t *testing.T) {
	AllowRSA15KeyTransport()
	t.Cleanup(func() { xmlenc.UnregisterDecrypter(rsa15Algorithm) })
	enc := freshKey(t)
	pkcs15 := xmlenc.PKCS1v15()
	pkcs15.BlockCipher = xmlenc.AES256CBC
	idp := newTestIdP(t)
	idp.EncryptAssertions.Store(true)
	idp.IDP.AssertionEncrypter = pkcs15
	p := idpProvider(t, idp, Config{EncryptionKeys: []KeyPair{enc}})
	var reasons []string
	for _, tamper := range []func(string) string{
		func(s string) string { return s },
		func(s string) string { // the wrapped key replaced by random bytes of its size
			return replaceCipherValue(t, s, 0)
		},
	} {
		u, reqID, err := p.StartLogin(appOrigin, "relay", false)
		if err != nil {
			t.Fatal(err)
		}
		_, form, err := idp.Answer(u, "alice@acme.com")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := base64.StdEncoding.DecodeString(form.Get("SAMLResponse"))
		form.Set("SAMLResponse", base64.StdEncoding.EncodeToString([]byte(tamper(string(raw)))))
		_, err = p.ParseACS(acsRequest(form), appOrigin, []string{reqID})
		var ref *Refusal
		if !errors.As(err, &ref) {
			reasons = append(reasons, "accepted")
			continue
		}
		reasons = append(reasons, ref.Code+": "+ref.Reason)
		if strings.Contains(strings.ToLower(err.Error()), "padding") {
			t.Errorf("the refusal names the padding: %v", err)
		}
	}
	if reasons[0] != "accepted" {
		t.Fatalf("the untouched response was refused: %s", reasons[0])
	}
	if !strings.HasPrefix(reasons[1], CodeInvalid) && !strings.HasPrefix(reasons[1], CodeEncryption) {
		t.Fatalf("a bad wrapped key gave %q", reasons[1])
	}
}

// replaceCipherValue replaces the n-th CipherValue (0: the wrapped key) of
// a response with random bytes of the same length.
func replaceCipherValue(t testing.TB, doc string, n int) string {
	t.Helper()
	const open, closing = "CipherValue>", "</"
	at := 0
	for i := 0; ; i++ {
		k := strings.Index(doc[at:], open)
		if k < 0 {
			t.Fatalf("no CipherValue %d", n)
		}
		start := at + k + len(open)
		end := start + strings.Index(doc[start:], closing)
		if i == n {
			raw, err := base64.StdEncoding.DecodeString(doc[start:end])
			if err != nil {
				t.Fatal(err)
			}
			junk := make([]byte, len(raw))
			_, _ = rand.Read(junk)
			return doc[:start] + base64.StdEncoding.EncodeToString(junk) + doc[end:]
		}
		at = end
	}
}

// TestEntityHost: an SP served on two names is one SP: its entity ID, the
// audience it requires, is on EntityHost whichever name the login ran on,
// while the ACS URL follows the name. An assertion for the entity ID the
// other name would give (another app's) is refused.
func TestEntityHost(t *testing.T) {
	idp := newTestIdP(t)
	alt := &url.URL{Scheme: "https", Host: "alt.example.com"}
	altACS, _ := url.Parse("https://alt.example.com/sso/acs")
	p := idpProvider(t, idp, Config{EntityHost: "app.example.com", RequestableACSURLs: []*url.URL{altACS}})
	if got, want := p.EntityID(alt), "https://app.example.com/sso/metadata"; got != want {
		t.Fatalf("EntityID at %s = %s, want %s", alt.Host, got, want)
	}
	if got := p.ACSURL(alt).String(); got != altACS.String() {
		t.Fatalf("ACSURL at %s = %s, want %s", alt.Host, got, altACS)
	}
	u, reqID, err := p.StartLogin(alt, "relay", false)
	if err != nil {
		t.Fatal(err)
	}
	_, form, err := idp.Answer(u, "alice@acme.com")
	if err != nil {
		t.Fatal(err)
	}
	if id, err := p.ParseACS(acsRequest(form), alt, []string{reqID}); err != nil || id.Email != "alice@acme.com" {
		t.Fatalf("login at the second name = %+v, %v", id, err)
	}

	// The same SP without EntityHost at alt: what another app there is.
	other := idpProvider(t, idp, Config{})
	doc, err := other.Metadata(alt)
	if err != nil {
		t.Fatal(err)
	}
	if err := idp.AddSPMetadata(doc); err != nil {
		t.Fatal(err)
	}
	u, reqID, err = other.StartLogin(alt, "relay", false)
	if err != nil {
		t.Fatal(err)
	}
	_, form, err = idp.Answer(u, "alice@acme.com")
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.ParseACS(acsRequest(form), alt, []string{reqID})
	var ref *Refusal
	if !errors.As(err, &ref) || ref.Code != CodeInvalid || ref.Err == nil || !strings.Contains(ref.Err.Error(), "Audience") {
		t.Fatalf("an assertion for https://alt.example.com/sso/metadata: %v; want refused for its audience", err)
	}
}
