package sso

import (
	"net/mail"
	"strings"
	"time"

	"github.com/crewjam/saml"
)

// Identity is who the verified assertion says signed in.
type Identity struct {
	Email        string
	GivenName    string
	FamilyName   string
	NameID       string
	SessionIndex string
	AssertionID  string
	Issuer       string
	// ReplayUntil is how long AssertionID must stay recorded as used.
	// ParseACS checks that it is not recorded yet but leaves the record to
	// the caller: in the write that grants the session
	// (storage.SessionStore.CreateSession), or Provider.Consume when the
	// sign-in is refused.
	ReplayUntil time.Time
	// SessionNotOnOrAfter is the IdP's bound on the session, or zero.
	SessionNotOnOrAfter time.Time
	// NameIDFormat is the NameID's Format, when it has one.
	NameIDFormat string
	// Groups are the values of the groups attribute (Config.GroupsAttribute),
	// trimmed, without duplicates, at most MaxGroups; HasGroups is true
	// when the provider reads one, even if the assertion names no group
	// (the member then belongs to no team).
	Groups    []string
	HasGroups bool

	assertion *saml.Assertion
}

// Limits on what Attributes reports.
const (
	maxReportedAttributes = 64
	maxReportedValues     = 32
	maxReportedValueLen   = 512
)

// Attributes returns the verified assertion's attributes by name, for a
// test sign-in's report (bounded: a group attribute may be long).
func (id *Identity) Attributes() map[string][]string {
	if id.assertion == nil {
		return nil
	}
	out := map[string][]string{}
	for _, st := range id.assertion.AttributeStatements {
		for _, attr := range st.Attributes {
			if _, ok := out[attr.Name]; !ok && len(out) >= maxReportedAttributes {
				continue
			}
			vals := out[attr.Name]
			for _, v := range attr.Values {
				if len(vals) >= maxReportedValues {
					break
				}
				val := v.Value
				if len(val) > maxReportedValueLen {
					val = strings.ToValidUTF8(val[:maxReportedValueLen], "") + "…"
				}
				vals = append(vals, val)
			}
			out[attr.Name] = vals
		}
	}
	return out
}

// The attribute names each value is taken from, in order of preference:
// Okta's and the seed's short names, LDAP names, Entra's claim URIs and the
// OIDs of eduPerson/X.500.
var (
	emailAttributes = []string{
		"email", "mail", "emailAddress",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
		"urn:oid:0.9.2342.19200300.100.1.3",
	}
	givenNameAttributes = []string{
		"firstName", "givenName", "given_name",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname",
		"urn:oid:2.5.4.42",
	}
	familyNameAttributes = []string{
		"lastName", "surname", "sn", "family_name",
		"http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname",
		"urn:oid:2.5.4.4",
	}
)

// identityFrom reads the identity from the verified assertion. The email
// comes from exactly one place: the first email attribute present (which
// must hold exactly one value), else an emailAddress-format NameID.
func identityFrom(a *saml.Assertion, groupsAttribute string) (*Identity, error) {
	id := &Identity{AssertionID: a.ID, Issuer: a.Issuer.Value, assertion: a}
	if a.Subject != nil && a.Subject.NameID != nil {
		id.NameID = a.Subject.NameID.Value
		id.NameIDFormat = a.Subject.NameID.Format
	}
	for _, st := range a.AuthnStatements {
		id.SessionIndex = st.SessionIndex
		if st.SessionNotOnOrAfter != nil {
			id.SessionNotOnOrAfter = *st.SessionNotOnOrAfter
		}
	}
	values, found := attributeValues(a, emailAttributes)
	var email string
	switch {
	case found && len(values) != 1:
		return nil, refuse(CodeNoEmail, "the email attribute must hold exactly one value", nil)
	case found:
		email = values[0]
	case a.Subject != nil && a.Subject.NameID != nil && a.Subject.NameID.Format == string(saml.EmailAddressNameIDFormat):
		email = a.Subject.NameID.Value
	default:
		return nil, refuse(CodeNoEmail, "the assertion carries no email attribute", nil)
	}
	norm, ok := NormalizeEmail(email)
	if !ok {
		return nil, refuse(CodeNoEmail, "the email in the assertion is not a valid address", nil)
	}
	id.Email = norm
	id.GivenName = firstValue(a, givenNameAttributes)
	id.FamilyName = firstValue(a, familyNameAttributes)
	if groupsAttribute != "" {
		id.HasGroups = true
		id.Groups = groupNames(a, groupsAttribute)
	}
	return id, nil
}

// MaxGroups bounds the groups taken from one assertion; MaxGroupName
// bounds a group's name (as a team name).
const (
	MaxGroups    = 256
	MaxGroupName = 256
)

// groupNames returns the values of the named attribute as team names:
// trimmed, cleaned like names, without empty values or duplicates (case
// folded), at most MaxGroups.
func groupNames(a *saml.Assertion, attribute string) []string {
	vals, _ := attributeValues(a, []string{attribute})
	out := make([]string, 0, min(len(vals), MaxGroups))
	seen := make(map[string]bool, len(vals))
	for _, v := range vals {
		name := cleanName(v)
		if len(name) > MaxGroupName {
			name = strings.ToValidUTF8(name[:MaxGroupName], "")
		}
		key := strings.ToLower(name)
		if name == "" || seen[key] {
			continue
		}
		if len(out) == MaxGroups {
			break
		}
		seen[key] = true
		out = append(out, name)
	}
	return out
}

// attributeValues returns the non-empty values of the first attribute
// (by Name) that is present.
func attributeValues(a *saml.Assertion, names []string) ([]string, bool) {
	for _, name := range names {
		// Every Attribute element with this Name counts: an email split
		// over two elements is two values, refused like two values in one.
		var vals []string
		found := false
		for _, st := range a.AttributeStatements {
			for _, attr := range st.Attributes {
				if attr.Name != name {
					continue
				}
				found = true
				for _, v := range attr.Values {
					if s := strings.TrimSpace(v.Value); s != "" {
						vals = append(vals, s)
					}
				}
			}
		}
		if found {
			return vals, true
		}
	}
	return nil, false
}

func firstValue(a *saml.Assertion, names []string) string {
	vals, _ := attributeValues(a, names)
	if len(vals) == 0 {
		return ""
	}
	return cleanName(vals[0])
}

// cleanName makes a name from the IdP fit for the X-Forwarded-Name header:
// control characters become spaces (Go refuses to send a header value
// with a newline, so every proxied request of that person would fail with
// 502), and it is cut to 256 bytes on a character boundary.
func cleanName(s string) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s))
	if len(s) > 256 {
		s = strings.ToValidUTF8(s[:256], "")
	}
	return s
}

// NormalizeEmail returns the address with its domain lower-cased, or false
// when s is not a bare addr-spec (no display name, no comments, no
// surrounding space, nothing a header could smuggle).
func NormalizeEmail(s string) (string, bool) {
	if s == "" || len(s) > 254 || s != strings.TrimSpace(s) || strings.ContainsAny(s, "<>,;\"()\\ \t\r\n") {
		return "", false
	}
	addr, err := mail.ParseAddress(s)
	if err != nil || addr.Name != "" || addr.Address != s {
		return "", false
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return "", false
	}
	return s[:at] + "@" + strings.ToLower(s[at+1:]), true
}

// EmailDomain returns the lower-case domain of a normalized address.
func EmailDomain(email string) string {
	return strings.ToLower(email[strings.LastIndexByte(email, '@')+1:])
}
