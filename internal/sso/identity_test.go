package sso

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crewjam/saml"
)

const (
	entraEmail     = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	entraGivenName = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"
	entraSurname   = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"
)

func attr(name string, values ...string) saml.Attribute {
	a := saml.Attribute{Name: name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}
	for _, v := range values {
		a.Values = append(a.Values, saml.AttributeValue{Type: "xs:string", Value: v})
	}
	return a
}

// assertionWith builds a verified-looking assertion with a NameID of the
// given format and the attributes.
func assertionWith(format saml.NameIDFormat, nameID string, attrs ...saml.Attribute) *saml.Assertion {
	a := &saml.Assertion{
		ID:     "id-assertion",
		Issuer: saml.Issuer{Value: "https://idp.example"},
	}
	if format != "" || nameID != "" {
		a.Subject = &saml.Subject{NameID: &saml.NameID{Format: string(format), Value: nameID}}
	}
	if len(attrs) > 0 {
		a.AttributeStatements = []saml.AttributeStatement{{Attributes: attrs}}
	}
	return a
}

func TestIdentityFrom(t *testing.T) {
	const persistent = saml.PersistentNameIDFormat
	const email = saml.EmailAddressNameIDFormat
	const unspecified = saml.UnspecifiedNameIDFormat
	for _, tc := range []struct {
		name      string
		a         *saml.Assertion
		wantEmail string // "" = refused
		wantGiven string
		wantFam   string
	}{
		// Where the email comes from.
		{name: "email attribute (Okta)", a: assertionWith(persistent, "00u1", attr("email", "alice@acme.com")), wantEmail: "alice@acme.com"},
		{name: "mail attribute (LDAP)", a: assertionWith(persistent, "00u1", attr("mail", "alice@acme.com")), wantEmail: "alice@acme.com"},
		{name: "emailAddress attribute", a: assertionWith(persistent, "00u1", attr("emailAddress", "alice@acme.com")), wantEmail: "alice@acme.com"},
		{name: "Entra claim URI", a: assertionWith(persistent, "x", attr(entraEmail, "alice@contoso.example")), wantEmail: "alice@contoso.example"},
		{name: "eduPerson mail OID", a: assertionWith(persistent, "x", attr("urn:oid:0.9.2342.19200300.100.1.3", "alice@acme.com")), wantEmail: "alice@acme.com"},
		{name: "emailAddress NameID without attributes", a: assertionWith(email, "alice@acme.com"), wantEmail: "alice@acme.com"},
		{name: "email attribute wins over an emailAddress NameID", a: assertionWith(email, "nameid@acme.com", attr("email", "attr@acme.com")), wantEmail: "attr@acme.com"},
		{name: "email wins over mail", a: assertionWith(persistent, "x", attr("mail", "mail@acme.com"), attr("email", "email@acme.com")), wantEmail: "email@acme.com"},
		{name: "attributes spread over two statements", a: func() *saml.Assertion {
			a := assertionWith(persistent, "x", attr("firstName", "Alice"))
			a.AttributeStatements = append(a.AttributeStatements, saml.AttributeStatement{Attributes: []saml.Attribute{attr("email", "alice@acme.com")}})
			return a
		}(), wantEmail: "alice@acme.com", wantGiven: "Alice"},
		{name: "domain case-folded, local part kept", a: assertionWith(email, "Alice.B@ACME.Com"), wantEmail: "Alice.B@acme.com"},
		{name: "surrounding space in the attribute value trimmed", a: assertionWith(persistent, "x", attr("email", "  alice@acme.com\n")), wantEmail: "alice@acme.com"},
		{name: "empty values do not count", a: assertionWith(persistent, "x", attr("email", "", "alice@acme.com", " ")), wantEmail: "alice@acme.com"},

		// Refusals.
		{name: "email attribute with no value", a: assertionWith(email, "alice@acme.com", attr("email"))},
		{name: "email attribute with only blank values", a: assertionWith(email, "alice@acme.com", attr("email", "", " "))},
		{name: "email attribute with two values", a: assertionWith(persistent, "x", attr("email", "alice@acme.com", "ceo@acme.com"))},
		{name: "email attribute with two values, same address", a: assertionWith(persistent, "x", attr("email", "alice@acme.com", "alice@acme.com"))},
		{name: "two email attributes of one value each", a: assertionWith(persistent, "x", attr("email", "alice@acme.com"), attr("email", "ceo@acme.com"))},
		{name: "two email attributes in two statements", a: func() *saml.Assertion {
			a := assertionWith(persistent, "x", attr("email", "alice@acme.com"))
			a.AttributeStatements = append(a.AttributeStatements, saml.AttributeStatement{Attributes: []saml.Attribute{attr("email", "ceo@acme.com")}})
			return a
		}()},
		{name: "persistent NameID without email attribute", a: assertionWith(persistent, "alice@acme.com")},
		{name: "transient NameID without email attribute", a: assertionWith(saml.TransientNameIDFormat, "alice@acme.com")},
		{name: "unspecified NameID without email attribute", a: assertionWith(unspecified, "alice@acme.com")},
		{name: "no Subject, no attributes", a: assertionWith("", "")},
		{name: "attribute names are case-sensitive", a: assertionWith(persistent, "x", attr("Email", "alice@acme.com"))},
		{name: "display-name form", a: assertionWith(persistent, "x", attr("email", "Alice <alice@acme.com>"))},
		{name: "two addresses in one value", a: assertionWith(persistent, "x", attr("email", "alice@acme.com,ceo@acme.com"))},
		{name: "not an address", a: assertionWith(email, "alice")},
		{name: "comment in the address", a: assertionWith(email, "alice@acme.com(ceo@acme.com)")},
		{name: "NUL in the address", a: assertionWith(email, "alice@acme.com\x00.evil.test")},
		{name: "CRLF in the address", a: assertionWith(email, "alice@acme.com\r\nX-Forwarded-Role: owner")},

		// Names.
		{name: "firstName/lastName (Okta)", a: assertionWith(email, "a@acme.com", attr("firstName", "Alice"), attr("lastName", "Archer")),
			wantEmail: "a@acme.com", wantGiven: "Alice", wantFam: "Archer"},
		{name: "givenName/surname", a: assertionWith(email, "a@acme.com", attr("givenName", "Alice"), attr("surname", "Archer")),
			wantEmail: "a@acme.com", wantGiven: "Alice", wantFam: "Archer"},
		{name: "given_name/family_name", a: assertionWith(email, "a@acme.com", attr("given_name", "Alice"), attr("family_name", "Archer")),
			wantEmail: "a@acme.com", wantGiven: "Alice", wantFam: "Archer"},
		{name: "sn", a: assertionWith(email, "a@acme.com", attr("sn", "Archer")), wantEmail: "a@acme.com", wantFam: "Archer"},
		{name: "Entra claim URIs", a: assertionWith(email, "a@acme.com", attr(entraGivenName, "Alice"), attr(entraSurname, "Archer")),
			wantEmail: "a@acme.com", wantGiven: "Alice", wantFam: "Archer"},
		{name: "X.500 OIDs", a: assertionWith(email, "a@acme.com", attr("urn:oid:2.5.4.42", "Alice"), attr("urn:oid:2.5.4.4", "Archer")),
			wantEmail: "a@acme.com", wantGiven: "Alice", wantFam: "Archer"},
		{name: "firstName preferred over givenName", a: assertionWith(email, "a@acme.com", attr("givenName", "Al"), attr("firstName", "Alice")),
			wantEmail: "a@acme.com", wantGiven: "Alice"},
		{name: "first of several name values", a: assertionWith(email, "a@acme.com", attr("firstName", "", "Alice", "Bob")),
			wantEmail: "a@acme.com", wantGiven: "Alice"},
		{name: "long names cut to 256 bytes", a: assertionWith(email, "a@acme.com", attr("firstName", strings.Repeat("A", 1000))),
			wantEmail: "a@acme.com", wantGiven: strings.Repeat("A", 256)},
		{name: "no names", a: assertionWith(email, "a@acme.com"), wantEmail: "a@acme.com"},
		{name: "control characters in names become spaces", a: assertionWith(email, "a@acme.com",
			attr("firstName", "Bob\nX-Forwarded-Role: owner"), attr("lastName", "Ba\tker\x7f\r")),
			wantEmail: "a@acme.com", wantGiven: "Bob X-Forwarded-Role: owner", wantFam: "Ba ker"},
		{name: "names cut on a character boundary", a: assertionWith(email, "a@acme.com", attr("firstName", strings.Repeat("a", 255)+"é")),
			wantEmail: "a@acme.com", wantGiven: strings.Repeat("a", 255)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := identityFrom(tc.a, "")
			if tc.wantEmail == "" {
				var ref *Refusal
				if !errors.As(err, &ref) || ref.Code != CodeNoEmail {
					t.Fatalf("identityFrom = %+v, %v; want a %s refusal", id, err, CodeNoEmail)
				}
				if id != nil {
					t.Fatalf("refusal came with an identity %+v", id)
				}
				if ref.Status() != 400 || ref.Reason == "" {
					t.Errorf("refusal status %d reason %q", ref.Status(), ref.Reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("identityFrom: %v", err)
			}
			if id.Email != tc.wantEmail || id.GivenName != tc.wantGiven || id.FamilyName != tc.wantFam {
				t.Fatalf("identity = %q %q %q, want %q %q %q", id.Email, id.GivenName, id.FamilyName, tc.wantEmail, tc.wantGiven, tc.wantFam)
			}
		})
	}
}

func TestIdentityFromSessionFields(t *testing.T) {
	end := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	a := assertionWith(saml.EmailAddressNameIDFormat, "alice@acme.com")
	a.AuthnStatements = []saml.AuthnStatement{{SessionIndex: "ix-1", SessionNotOnOrAfter: &end}}
	id, err := identityFrom(a, "")
	if err != nil {
		t.Fatal(err)
	}
	want := Identity{Email: "alice@acme.com", NameID: "alice@acme.com", SessionIndex: "ix-1",
		AssertionID: "id-assertion", Issuer: "https://idp.example", SessionNotOnOrAfter: end,
		NameIDFormat: string(saml.EmailAddressNameIDFormat), assertion: a}
	if !reflect.DeepEqual(*id, want) {
		t.Fatalf("identity = %+v\nwant       %+v", *id, want)
	}
}

func TestIdentityGroups(t *testing.T) {
	const okta, entra = "groups", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"
	email := saml.EmailAddressNameIDFormat
	many := make([]string, MaxGroups+10)
	for i := range many {
		many[i] = fmt.Sprintf("team-%03d", i)
	}
	for _, tc := range []struct {
		name      string
		attribute string
		a         *saml.Assertion
		want      []string
		has       bool
	}{
		{"not configured: groups ignored", "", assertionWith(email, "a@acme.com", attr(okta, "Eng")), nil, false},
		{"Okta groups", okta, assertionWith(email, "a@acme.com", attr(okta, "Engineering", "Sales")), []string{"Engineering", "Sales"}, true},
		{"Entra claim URI", entra, assertionWith(email, "a@acme.com", attr(entra, "Finance")), []string{"Finance"}, true},
		{"absent attribute: no teams", okta, assertionWith(email, "a@acme.com"), []string{}, true},
		{"other attribute ignored", okta, assertionWith(email, "a@acme.com", attr("memberOf", "Eng")), []string{}, true},
		{"two elements count together", okta, assertionWith(email, "a@acme.com", attr(okta, "Eng"), attr(okta, "Ops")), []string{"Eng", "Ops"}, true},
		{"trimmed, empty dropped, duplicates folded", okta, assertionWith(email, "a@acme.com", attr(okta, " Eng ", "", "eng", "ENG", "Ops")), []string{"Eng", "Ops"}, true},
		{"control characters cleaned", okta, assertionWith(email, "a@acme.com", attr(okta, "Eng\nX-Forwarded-Role: owner")), []string{"Eng X-Forwarded-Role: owner"}, true},
		{"long names cut", okta, assertionWith(email, "a@acme.com", attr(okta, strings.Repeat("g", 1000))), []string{strings.Repeat("g", MaxGroupName)}, true},
		{"bounded count", okta, assertionWith(email, "a@acme.com", attr(okta, many...)), many[:MaxGroups], true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := identityFrom(tc.a, tc.attribute)
			if err != nil {
				t.Fatal(err)
			}
			if id.HasGroups != tc.has || !reflect.DeepEqual(id.Groups, tc.want) {
				t.Fatalf("groups = %q (has %v), want %q (has %v)", id.Groups, id.HasGroups, tc.want, tc.has)
			}
		})
	}
}

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		in, want string // want "" = refused
	}{
		{"alice@acme.com", "alice@acme.com"},
		{"Alice@ACME.COM", "Alice@acme.com"},
		{"alice.b+tag@sub.acme.com", "alice.b+tag@sub.acme.com"},
		{"o'brien@acme.com", "o'brien@acme.com"},
		{"alice@acme.com.evil.test", "alice@acme.com.evil.test"},

		{"", ""},
		{" alice@acme.com", ""},
		{"alice@acme.com ", ""},
		{"alice@acme.com\n", ""},
		{"\talice@acme.com", ""},
		{"alice", ""},
		{"@acme.com", ""},
		{"alice@", ""},
		{"alice@@acme.com", ""},
		{"alice@acme.com@evil.test", ""},
		{"Alice <alice@acme.com>", ""},
		{"<alice@acme.com>", ""},
		{"alice@acme.com, ceo@acme.com", ""},
		{"alice@acme.com;ceo@acme.com", ""},
		{`"alice"@acme.com`, ""},
		{`"ceo@acme.com"@evil.test`, ""},
		{"alice@acme.com (CEO)", ""},
		{"alice(x)@acme.com", ""},
		{`alice\@acme.com`, ""},
		{"alice@acme.com\x00", ""},
		{"alice\r\n@acme.com", ""},
		{"a@" + strings.Repeat("b", 250) + ".com", ""}, // over 254 bytes
		{"=?utf-8?q?ceo?= <alice@acme.com>", ""},
	} {
		got, ok := NormalizeEmail(tc.in)
		if tc.want == "" {
			if ok {
				t.Errorf("NormalizeEmail(%q) = %q, want a refusal", tc.in, got)
			}
			continue
		}
		if !ok || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, ok, tc.want)
		}
		if d := EmailDomain(got); d != strings.ToLower(tc.want[strings.LastIndexByte(tc.want, '@')+1:]) {
			t.Errorf("EmailDomain(%q) = %q", got, d)
		}
	}
}
