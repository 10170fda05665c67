package main

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ssogate/ssogate/internal/spkey"
)

// The shape of what the tool writes: members as an IdP's SCIM create
// leaves them (userName, name, displayName, externalId, active and the
// emails list, which scimserver keeps in attrs and the member_emails
// trigger indexes), and orgs set up as a customer's would be: one
// verified domain, an enabled SSO connection from IdP metadata, two SP
// key pairs. Lengths are those of real directories, not of "u1@a.b".

// memberRow is one SCIM-created member.
type memberRow struct {
	ID, Email, Given, Family, Display, External, Attrs string
}

func member(i int) memberRow {
	given := givenNames[i%len(givenNames)]
	family := familyNames[(i/len(givenNames))%len(familyNames)]
	email := fmt.Sprintf("%s.%s%d@example-corp.com", strings.ToLower(given), strings.ToLower(family), i)
	return memberRow{
		// CreateMember's IDs are random UUIDs, which fill the primary
		// key's pages as random keys do (a counter would pack them);
		// derived from i, so that the tool finds a member's again.
		ID:      uuid.NewSHA1(uuid.NameSpaceOID, strconv.AppendInt(nil, int64(i), 10)).String(),
		Email:   email,
		Given:   given,
		Family:  family,
		Display: given + " " + family,
		// An Okta user ID's length.
		External: fmt.Sprintf("00u%017d", i),
		// json.Marshal's order: scimserver stores attrs sorted.
		Attrs: `{"emails":[{"primary":true,"type":"work","value":"` + email + `"}]}`,
	}
}

var (
	givenNames  = []string{"Alexandra", "Ben", "Chiara", "Dmitri", "Emma", "Farid", "Grace", "Hiroshi", "Ines", "Jonas", "Kemal", "Lucia"}
	familyNames = []string{"Anderson", "Brown", "Castellanos", "Dubois", "Eriksson", "Fitzgerald", "Garcia", "Horvath", "Ivanova", "Jansen", "Kowalski", "Li"}
)

// auditActor is a SCIM token's label in the activity log (orgadmin.SCIM).
const auditActor = "token Okta provisioning (5f0c6a52-3a8e-4d59-9f0e-6f1b2c3d4e5f)"

// auditAfter is what scimserver records for a create.
const auditAfter = `{"active":true,"role":"member"}`

// orgKeys are the PEM blocks every org's SP keys and IdP certificate are
// made from: generating 3 RSA keys per org would take minutes, and the
// bytes are the same.
type orgKeys struct {
	signingCert, signingKey, encCert, encKey string
	idpCert                                  string // base64 DER, as metadata holds it
	notAfter                                 int64
}

func newOrgKeys(now time.Time) (orgKeys, error) {
	var k orgKeys
	var pairs [3]spkey.Pair
	for i := range pairs {
		p, err := spkey.Generate("ssogate sizing", now)
		if err != nil {
			return k, fmt.Errorf("generating a key pair: %w", err)
		}
		pairs[i] = p
	}
	k.signingCert, k.signingKey = pairs[0].CertificatePEM(), pairs[0].KeyPEM()
	k.encCert, k.encKey = pairs[1].CertificatePEM(), pairs[1].KeyPEM()
	k.idpCert = base64.StdEncoding.EncodeToString(pairs[2].Cert.Raw)
	k.notAfter = pairs[0].Cert.NotAfter.Unix()
	return k, nil
}

// orgRow is one customer org.
type orgRow struct {
	Name, Domain, MetadataURL, MetadataXML string
}

func org(i int, k orgKeys) orgRow {
	name := fmt.Sprintf("customer-%05d", i)
	app := fmt.Sprintf("exk%017d", i)
	base := fmt.Sprintf("https://customer-%05d.okta.com/app/customer-%05d_ssogate_1/%s", i, i, app)
	// Okta's metadata document, as the connection keeps it.
	xml := `<?xml version="1.0" encoding="UTF-8"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="http://www.okta.com/` + app + `">` +
		`<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` +
		`<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>` + k.idpCert +
		`</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>` +
		`<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>` +
		`<md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>` +
		`<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="` + base + `/sso/saml"/>` +
		`<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="` + base + `/sso/saml"/>` +
		`</md:IDPSSODescriptor></md:EntityDescriptor>`
	return orgRow{Name: name, Domain: name + ".example.com", MetadataURL: base + "/sso/saml/metadata", MetadataXML: xml}
}

// txtValue is a domain claim's challenge (domainclaim.NewChallenge: the
// prefix and 24 bytes in base64).
func txtValue(i int) string {
	return fmt.Sprintf("ssogate-verification=%032d", i)
}
