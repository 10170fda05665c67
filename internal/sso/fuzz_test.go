package sso

import (
	"encoding/base64"
	"encoding/xml"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// FuzzParseACS posts arbitrary SAMLResponse values to a Provider set up as
// the Entra fixtures' SP (their IdP certificate, a pinned clock, an
// in-memory replay cache, IdP-initiated allowed). ParseACS must never
// panic, must fail only with a Refusal, and can only ever sign in the one
// person the fixtures' IdP key signed for.
//
// The input is the decoded XML, base64-encoded here (mutating base64 text
// rarely yields XML), or with asIs the form value itself. Run it with a
// short -fuzzminimizetime: the seeds are kilobytes long and each run costs
// milliseconds.
func FuzzParseACS(f *testing.F) {
	md := &saml.EntityDescriptor{}
	if err := xml.Unmarshal(readFixture(f, "TestSPCanHandleEntraIDResponse_IDPMetadata"), md); err != nil {
		f.Fatal(err)
	}
	clock := dsig.NewFakeClockAt(time.Date(2025, 6, 2, 15, 4, 25, 0, time.UTC))
	for _, name := range []string{"assertion_signed", "response_signed", "response_and_assertion_signed", "idp_initiated", "encrypted_assertion_signed"} {
		raw := readFixture(f, "TestSPCanHandleEntraIDResponse_"+name)
		f.Add(raw, false, name != "idp_initiated")
		f.Add([]byte(strings.Replace(string(raw), "alice@contoso.example", "ceo@contoso.example", 1)), false, true)
		f.Add([]byte(base64.StdEncoding.EncodeToString(raw)), true, name != "idp_initiated")
	}
	for _, s := range []string{
		"",
		`<!DOCTYPE r [<!ENTITY x "y">]><samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">&x;</samlp:Response>`,
		openResp + `<saml:Assertion/><saml:Assertion/>` + closeResp,
		openResp + strings.Repeat("<a>", 70) + closeResp,
		`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="r" Version="2.0" Destination="https://sp.example.com/saml/acs"><saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="a" Version="2.0"><saml:Subject><saml:NameID Format="urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress">ceo@contoso.example</saml:NameID></saml:Subject></saml:Assertion></samlp:Response>`,
	} {
		f.Add([]byte(s), false, false)
	}
	f.Add([]byte("not base64!"), true, false)
	f.Fuzz(func(t *testing.T, data []byte, asIs, solicited bool) {
		value := base64.StdEncoding.EncodeToString(data)
		if asIs {
			value = string(data)
		}
		// A fresh Provider and cache for each input keeps runs
		// independent and reproducible.
		p, err := New(Config{
			MetadataPath: "/saml/metadata", ACSPath: "/saml/acs", IDP: md,
			AllowIDPInitiated: true, ClockSkew: 90 * time.Second,
			ReplayCache: newMemReplayCache(), Clock: clock,
		})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		if solicited {
			ids = []string{entraRequestID}
		}
		r := httptest.NewRequest(http.MethodPost, "https://sp.example.com/saml/acs", nil)
		r.PostForm = url.Values{"SAMLResponse": {value}}
		r.Form = r.PostForm
		id, err := p.ParseACS(r, entraOrigin, ids)
		if err != nil {
			var ref *Refusal
			if !errors.As(err, &ref) || id != nil {
				t.Fatalf("ParseACS = %+v, %v; want a *Refusal and no identity", id, err)
			}
			return
		}
		if id.Email != "alice@contoso.example" || id.AssertionID != entraAssertionID {
			t.Fatalf("ParseACS signed in %+v: only the fixtures' signed assertion may pass", id)
		}
	})
}

// FuzzCheckShape feeds arbitrary XML (or, with asIs, arbitrary form
// values) to checkShape. It must never panic, must fail only with a
// Refusal, and what it accepts must be a Response whose direct children
// hold at most one assertion, as a tree parser reads it.
func FuzzCheckShape(f *testing.F) {
	for _, s := range []string{
		openResp + `<saml:Assertion ID="a"/>` + closeResp,
		openResp + `<saml:Assertion/><saml:EncryptedAssertion/>` + closeResp,
		openResp + `<samlp:Extensions><saml:Assertion/></samlp:Extensions><saml:Assertion/>` + closeResp,
		`<?xml version="1.0"?><!-- c -->` + openResp + `<![CDATA[<saml:Assertion/>]]>` + closeResp,
		`<!DOCTYPE r [<!ENTITY x "y">]>` + openResp + `&x;` + closeResp,
		`<!doctype r>` + openResp + closeResp,
		openResp + strings.Repeat("<a>", 65) + strings.Repeat("</a>", 65) + closeResp,
		openResp + `<a></b>` + closeResp,
		openResp + closeResp + openResp + closeResp,
		`<Response xmlns="urn:oasis:names:tc:SAML:2.0:protocol"><Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion"/></Response>`,
	} {
		f.Add([]byte(s), false)
	}
	f.Add([]byte("PHNhbWxwOlJlc3BvbnNlLz4=\r\n"), true)
	f.Add([]byte("%%%"), true)
	f.Fuzz(func(t *testing.T, data []byte, asIs bool) {
		in := base64.StdEncoding.EncodeToString(data)
		if asIs {
			in = string(data)
		}
		_, _, err := checkShape(in)
		if err != nil {
			var ref *Refusal
			if !errors.As(err, &ref) {
				t.Fatalf("checkShape = %v, want a *Refusal", err)
			}
			switch ref.Code {
			case CodeMalformed, CodeTooLarge, CodeMultipleAssertions:
			default:
				t.Fatalf("checkShape refused with code %q", ref.Code)
			}
			return
		}
		raw, derr := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(in), ""))
		if derr != nil {
			t.Fatalf("checkShape accepted undecodable base64: %v", derr)
		}
		doc := etree.NewDocument()
		doc.ReadSettings.Permissive = false
		if doc.ReadFromBytes(raw) != nil || doc.Root() == nil {
			return // crewjam refuses what does not parse
		}
		for _, tok := range doc.Child {
			if _, ok := tok.(*etree.Directive); ok {
				t.Fatalf("checkShape accepted a directive: %q", raw)
			}
		}
		if doc.Root().Tag != "Response" {
			t.Fatalf("checkShape accepted a %s root", doc.Root().Tag)
		}
		n := 0
		for _, c := range doc.Root().ChildElements() {
			if c.Tag == "Assertion" || c.Tag == "EncryptedAssertion" {
				n++
			}
			for _, tag := range []string{".//Assertion", ".//EncryptedAssertion"} {
				if c.FindElement(tag) != nil {
					t.Fatalf("checkShape accepted an assertion below the Response's children: %q", raw)
				}
			}
		}
		if n > 1 {
			t.Fatalf("checkShape accepted %d assertions: %q", n, raw)
		}
	})
}

// FuzzSafeReturnPath: whatever SafeReturnPath accepts parses as a URL
// with no scheme or host, and redirecting to it (as the gate does, with
// http.Redirect) keeps a browser on the gate's origin.
func FuzzSafeReturnPath(f *testing.F) {
	for _, s := range []string{
		"/", "/reports?x=1#y", "//evil.example", `/\evil.example`, "/\t/evil.example", "https://evil.example",
		"javascript:alert(1)", "/%2F%2Fevil", "/..//evil", "/./\\", "/a/../../evil", "/?//evil", "/#//evil",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !SafeReturnPath(s) {
			return
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("SafeReturnPath(%q) is true but it does not parse: %v", s, err)
		}
		if u.Scheme != "" || u.Host != "" || u.Opaque != "" || u.User != nil {
			t.Fatalf("SafeReturnPath(%q) is true but it has scheme %q host %q opaque %q", s, u.Scheme, u.Host, u.Opaque)
		}
		checkLocalRedirect(t, s)
	})
}

// FuzzReturnPathParam: rd read from any query string, escaped or the raw
// remainder a proxy sends, is only redirected to when it keeps a browser
// on the gate's origin; and a properly escaped rd comes back as it was.
func FuzzReturnPathParam(f *testing.F) {
	for _, s := range []string{
		"rd=/a?x=1&y=2", "rd=%2Fa%3Fx%3D1", "x=1&rd=//evil?x", "rd=/\\evil?x&y", "rd=https://evil/?x", "rd=/a&rd=//b?c",
	} {
		f.Add(s, "/reports/q1?x=1&y=2")
	}
	f.Fuzz(func(t *testing.T, query, rd string) {
		if got := ReturnPathParam(query); SafeReturnPath(got) {
			checkLocalRedirect(t, got)
		}
		q := url.Values{"rd": {rd}}.Encode()
		if got := ReturnPathParam(q); got != rd {
			t.Fatalf("ReturnPathParam(%q) = %q, want %q", q, got, rd)
		}
		if got := ReturnPathParam("start=sso&" + q + "&reauth=1"); got != rd {
			t.Fatalf("ReturnPathParam(start=sso&%s&reauth=1) = %q, want %q", q, got, rd)
		}
	})
}
