package ssptest

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml/xmlenc"
)

// spMetadata is the metadata of an SP at acs, with cert for encryption.
func spMetadata(entityID, acs string, certPEM []byte) []byte {
	block, _ := pem.Decode(certPEM)
	return []byte(fmt.Sprintf(`<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="%s">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="%s" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>`, entityID, base64.StdEncoding.EncodeToString(block.Bytes), acs))
}

func newClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// TestSignInAndEncrypt: an IdP-initiated sign-in through the login form
// gives a response for the SP with the user's attributes, and with an
// encrypting SP an EncryptedAssertion in the cipher asked for, which the
// SP's key opens.
func TestSignInAndEncrypt(t *testing.T) {
	if testing.Short() {
		t.Skip("runs SimpleSAMLphp")
	}
	keyPEM, certPEM, err := newKeyPair("test SP")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	spKey := k.(*rsa.PrivateKey)
	users := []User{{Email: "alice@example.com", Password: "alice-pw", GivenName: "Alice", Surname: "Archer", Groups: []string{"eng", "ops"}}}

	for _, tc := range []struct {
		name, cipher, want string
	}{
		{"plain", "", ""},
		{"SimpleSAMLphp's own cipher", "", AES128CBC},
		{"AES-256-GCM", AES256GCM, AES256GCM},
		{"AES-256-CBC", AES256CBC, AES256CBC},
	} {
		t.Run(tc.name, func(t *testing.T) {
			idp := Start(t, Options{Users: users, ContentEncryption: tc.cipher})
			sp := idp.AddSP(t, SP{MetadataXML: spMetadata("https://sp.example.com/md", "https://sp.example.com/acs", certPEM), EncryptAssertion: tc.want != ""})
			c := newClient()
			f, err := idp.SignIn(c, idp.IdPInitiatedURL(sp, "/here"), "alice@example.com", "wrong")
			if err == nil || !strings.Contains(err.Error(), "refused") {
				t.Fatalf("a wrong password: %v, %v", f, err)
			}
			f, err = idp.SignIn(c, idp.IdPInitiatedURL(sp, "/here"), "alice@example.com", "alice-pw")
			if err != nil {
				t.Fatal(err)
			}
			if f.Action != "https://sp.example.com/acs" || f.Values.Get("RelayState") != "/here" {
				t.Errorf("form = %s %v", f.Action, f.Values)
			}
			raw, err := base64.StdEncoding.DecodeString(f.Values.Get("SAMLResponse"))
			if err != nil {
				t.Fatal(err)
			}
			doc := etree.NewDocument()
			if err := doc.ReadFromBytes(raw); err != nil {
				t.Fatal(err)
			}
			assertion := doc.FindElement("/Response/Assertion")
			if tc.want != "" {
				method := doc.FindElement("/Response/EncryptedAssertion/EncryptedData/EncryptionMethod")
				if method == nil || method.SelectAttrValue("Algorithm", "") != tc.want {
					t.Fatalf("EncryptionMethod = %v, want %s:\n%s", method, tc.want, raw)
				}
				plain, err := xmlenc.Decrypt(spKey, doc.FindElement("/Response/EncryptedAssertion/EncryptedData"))
				if err != nil {
					t.Fatal(err)
				}
				d := etree.NewDocument()
				if err := d.ReadFromBytes(plain); err != nil {
					t.Fatal(err)
				}
				assertion = d.Root()
			}
			if assertion == nil {
				t.Fatalf("no assertion:\n%s", raw)
			}
			got := map[string][]string{}
			for _, a := range assertion.FindElements("AttributeStatement/Attribute") {
				for _, v := range a.SelectElements("AttributeValue") {
					got[a.SelectAttrValue("Name", "")] = append(got[a.SelectAttrValue("Name", "")], v.Text())
				}
			}
			if nameID := assertion.FindElement("Subject/NameID"); nameID == nil || nameID.Text() != "alice@example.com" ||
				nameID.SelectAttrValue("Format", "") != "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" {
				t.Errorf("NameID = %v", nameID)
			}
			if fmt.Sprint(got) != "map[email:[alice@example.com] firstName:[Alice] groups:[eng ops] lastName:[Archer]]" {
				t.Errorf("attributes = %v", got)
			}
		})
	}
}

// TestClockOffset: the IdP's assertions carry its shifted clock.
func TestClockOffset(t *testing.T) {
	if testing.Short() {
		t.Skip("runs SimpleSAMLphp")
	}
	_, certPEM, err := newKeyPair("test SP")
	if err != nil {
		t.Fatal(err)
	}
	idp := Start(t, Options{Users: []User{{Email: "a@example.com", Password: "pw"}}, ClockOffset: -2 * time.Minute})
	sp := idp.AddSP(t, SP{MetadataXML: spMetadata("https://sp.example.com/md", "https://sp.example.com/acs", certPEM)})
	f, err := idp.SignIn(newClient(), idp.IdPInitiatedURL(sp, ""), "a@example.com", "pw")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(f.Values.Get("SAMLResponse"))
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	issued, err := time.Parse(time.RFC3339, doc.Root().SelectAttrValue("IssueInstant", ""))
	if err != nil {
		t.Fatal(err)
	}
	if lag := time.Since(issued); lag < 110*time.Second || lag > 130*time.Second {
		t.Errorf("IssueInstant %s is %s behind, want 2m", issued, lag)
	}
}
