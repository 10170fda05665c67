package sso

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// errTokens marks referenceShape's refusals that come from encoding/xml
// failing to tokenize, where scanShape may differ: it leaves full
// well-formedness to crewjam.
var errTokens = errors.New("encoding/xml cannot tokenize it")

// referenceShape is checkShape's structural checks as first written, on
// encoding/xml's RawToken: what scanShape must agree with.
func referenceShape(raw []byte) error {
	if bytes.Contains(raw, []byte("<!DOCTYPE")) || bytes.Contains(raw, []byte("<!ENTITY")) {
		return refuse(CodeMalformed, "the response carries a DOCTYPE", nil)
	}
	dec := xml.NewDecoder(bytes.NewReader(raw))
	var open []xml.Name
	roots, nodes, assertions := 0, 0, 0
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return refuse(CodeMalformed, "the response is not well-formed XML", fmt.Errorf("%w: %w", errTokens, err))
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if nodes += 1 + len(tok.Attr); nodes > maxResponseNodes {
				return refuse(CodeTooLarge, "the response has too many XML elements", fmt.Errorf("over %d elements and attributes", maxResponseNodes))
			}
			if len(open) >= maxResponseDepth {
				return refuse(CodeMalformed, "the response is nested too deeply", fmt.Errorf("over %d levels", maxResponseDepth))
			}
			switch len(open) {
			case 0:
				if roots++; roots > 1 {
					return refuse(CodeMalformed, "the response is not well-formed XML", errors.New("more than one root element"))
				}
				if tok.Name.Local != "Response" {
					return refuse(CodeMalformed, "the document is not a SAML Response", nil)
				}
			default:
				if tok.Name.Local == "Assertion" || tok.Name.Local == "EncryptedAssertion" {
					if len(open) > 1 {
						return refuse(CodeMultipleAssertions, "the response carries an assertion outside its place", fmt.Errorf("%s at depth %d", tok.Name.Local, len(open)))
					}
					if assertions++; assertions > 1 {
						return refuse(CodeMultipleAssertions, "the response carries more than one assertion", nil)
					}
				}
			}
			open = append(open, tok.Name)
		case xml.EndElement:
			if len(open) == 0 || open[len(open)-1] != tok.Name {
				return refuse(CodeMalformed, "the response is not well-formed XML", errors.New("mismatched end element"))
			}
			open = open[:len(open)-1]
		case xml.Directive:
			return refuse(CodeMalformed, "the response carries a DOCTYPE", errors.New("XML directive"))
		}
	}
	if roots == 0 || len(open) != 0 {
		return refuse(CodeMalformed, "the response is not well-formed XML", errors.New("no root element, or one left open"))
	}
	return nil
}

// mintedXML is a test IdP response, decoded.
func mintedXML(tb testing.TB) []byte {
	tb.Helper()
	raw, err := base64.StdEncoding.DecodeString(mintResponse(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

type shapeCase struct {
	name string
	xml  string
	code string // "" to accept
	// lenient: encoding/xml cannot tokenize it, scanShape leaves it to
	// crewjam.
	lenient bool
}

func shapeCases() []shapeCase {
	assertion, encrypted, nest, wide := shapeAssertion, shapeEncrypted, nestedResponse, wideResponse
	return []shapeCase{
		{name: "one Assertion", xml: `<?xml version="1.0" encoding="UTF-8"?>` + openResp + assertion + closeResp},
		{name: "one EncryptedAssertion", xml: openResp + encrypted + closeResp},
		{name: "no assertion (left to crewjam)", xml: openResp + closeResp},
		{name: "self-closing Response", xml: `<samlp:Response ` + protoNS + `/>`},
		{name: "unprefixed, default namespace", xml: `<Response xmlns="urn:oasis:names:tc:SAML:2.0:protocol"><Assertion xmlns="urn:oasis:names:tc:SAML:2.0:assertion"/></Response>`},
		{name: "comments, PIs, CDATA holding an Assertion", xml: `<!-- x --><?pi y?>` + openResp + `<!--c--><![CDATA[<saml:Assertion>]]>` + assertion + `<?pi <saml:Assertion/> ?>` + closeResp + `<!-- z -->`},
		{name: "a comment holding tags", xml: openResp + `<!-- <saml:Assertion/> </samlp:Response> -->` + assertion + closeResp},
		{name: "empty comment and CDATA", xml: openResp + `<!----><![CDATA[]]>` + closeResp},
		{name: "attribute values with > / ' and \"", xml: `<samlp:Response ` + protoNS + ` a="x>y/>" b='"/>' c="'">` + assertion + `</samlp:Response >`},
		{name: "attributes without spaces between", xml: `<samlp:Response a="1"b='2'` + "\n\t" + `c = "3" />`},
		{name: "white space in end tags", xml: openResp + "<saml:Assertion ></saml:Assertion\r\n\t>" + closeResp},
		{name: "text with > and ]] outside CDATA", xml: openResp + `a > b ]] c` + closeResp},
		{name: "text around the root", xml: "\ufeff \n" + openResp + closeResp + "\n"},
		{name: "non-ASCII names", xml: `<Response><é:Assertion/><Ünïcode x="1"/></Response>`},
		{name: "a colon alone is no prefix", xml: `<Response><:Assertion/><Assertion:/><Assertion/></Response>`},
		{name: "64 levels", xml: nest(64)},
		{name: "20000 elements and attributes", xml: wide(20_000)},
		{name: "undefined entity (left to crewjam)", xml: openResp + `&x;` + closeResp, lenient: true},
		{name: "XML 1.1 declaration (left to crewjam)", xml: `<?xml version="1.1"?>` + openResp + closeResp, lenient: true},

		{name: "empty", code: CodeMalformed},
		{name: "white space only", xml: "  \n", code: CodeMalformed},
		{name: "text only", xml: "Response", code: CodeMalformed},
		{name: "comment only", xml: "<!-- -->", code: CodeMalformed},
		{name: "DOCTYPE", xml: `<!DOCTYPE r>` + openResp + closeResp, code: CodeMalformed},
		{name: "DOCTYPE in a comment", xml: openResp + `<!-- <!DOCTYPE r> -->` + closeResp, code: CodeMalformed},
		{name: "ENTITY without DOCTYPE keyword", xml: openResp + `<!ENTITY x "y">` + closeResp, code: CodeMalformed},
		{name: "lower-case doctype", xml: `<!doctype samlp:Response>` + openResp + assertion + closeResp, code: CodeMalformed},
		{name: "directive inside the Response", xml: openResp + `<!x>` + assertion + closeResp, code: CodeMalformed},
		{name: "directive after the Response", xml: openResp + assertion + closeResp + `<!doctype x>`, code: CodeMalformed},
		{name: "two Assertions", xml: openResp + assertion + assertion + closeResp, code: CodeMultipleAssertions},
		{name: "Assertion and EncryptedAssertion", xml: openResp + encrypted + assertion + closeResp, code: CodeMultipleAssertions},
		{name: "two self-closing Assertions under other prefixes", xml: openResp + `<a:Assertion xmlns:a="urn:oasis:names:tc:SAML:2.0:assertion"/><b:Assertion xmlns:b="urn:oasis:names:tc:SAML:2.0:assertion"/>` + closeResp, code: CodeMultipleAssertions},
		{name: "an Assertion in Extensions beside the real one", xml: openResp + `<samlp:Extensions>` + assertion + `</samlp:Extensions>` + assertion + closeResp, code: CodeMultipleAssertions},
		{name: "an Assertion in Extensions alone", xml: openResp + `<samlp:Extensions>` + assertion + `</samlp:Extensions>` + closeResp, code: CodeMultipleAssertions},
		{name: "an EncryptedAssertion in Status", xml: openResp + `<samlp:Status>` + encrypted + `</samlp:Status>` + assertion + closeResp, code: CodeMultipleAssertions},
		{name: "an Assertion in another's Advice", xml: openResp + `<saml:Assertion ID="outer"><saml:Advice>` + assertion + `</saml:Advice></saml:Assertion>` + closeResp, code: CodeMultipleAssertions},
		{name: "root is an Assertion", xml: `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"/>`, code: CodeMalformed},
		{name: "root is a LogoutResponse", xml: `<samlp:LogoutResponse ` + protoNS + `/>`, code: CodeMalformed},
		{name: "root is :Response", xml: `<:Response/>`, code: CodeMalformed},
		{name: "two roots", xml: openResp + closeResp + openResp + assertion + closeResp, code: CodeMalformed},
		{name: "mismatched end tag", xml: openResp + `<saml:Assertion></saml:Issuer>` + closeResp, code: CodeMalformed},
		{name: "end tag of another prefix", xml: openResp + `<saml:Assertion></samlp:Assertion>` + closeResp, code: CodeMalformed},
		{name: "end tag a prefix of the start tag", xml: openResp + `<saml:Assertion></saml:Assert>` + closeResp, code: CodeMalformed},
		{name: "unclosed", xml: openResp + assertion, code: CodeMalformed},
		{name: "stray end tag", xml: openResp + closeResp + closeResp, code: CodeMalformed},
		{name: "65 levels", xml: nest(65), code: CodeMalformed},
		{name: "100000 levels", xml: nest(100_000), code: CodeMalformed},
		{name: "20001 elements and attributes", xml: wide(20_001), code: CodeTooLarge},
		{name: "attributes count too", xml: `<samlp:Response ` + protoNS + ` a="">` + strings.Repeat(`<a b="" c="" d=""/>`, 5000) + closeResp, code: CodeTooLarge},
		{name: "unterminated start tag", xml: `<samlp:Response ` + protoNS, code: CodeMalformed},
		{name: "unterminated attribute value", xml: `<samlp:Response a="x>` + closeResp, code: CodeMalformed},
		{name: "unquoted attribute value", xml: `<samlp:Response a=x>` + closeResp, code: CodeMalformed},
		{name: "attribute without value", xml: `<samlp:Response a>` + closeResp, code: CodeMalformed},
		{name: "unterminated end tag", xml: openResp + `</samlp:Response`, code: CodeMalformed},
		{name: "end tag with an attribute", xml: openResp + `</samlp:Response a="1">`, code: CodeMalformed},
		{name: "unterminated comment", xml: openResp + `<!-- x ->` + closeResp, code: CodeMalformed},
		{name: "-- inside a comment", xml: openResp + `<!-- a -- b -->` + closeResp, code: CodeMalformed},
		{name: "unterminated CDATA", xml: openResp + `<![CDATA[ x ]]` + closeResp, code: CodeMalformed},
		{name: "unterminated PI", xml: `<?xml version="1.0"` + openResp + closeResp, code: CodeMalformed},
		{name: "lone <", xml: openResp + `<`, code: CodeMalformed},
		{name: "< and space", xml: openResp + `< a/>` + closeResp, code: CodeMalformed},
		{name: "<!- not a comment", xml: openResp + `<!-x->` + closeResp, code: CodeMalformed},
		{name: "<![ not CDATA", xml: openResp + `<![cdata[x]]>` + closeResp, code: CodeMalformed},
	}
}

func TestScanShape(t *testing.T) {
	cases := shapeCases()
	cases = append(cases, shapeCase{name: "a minted response", xml: string(mintedXML(t))})
	for _, name := range []string{"assertion_signed", "response_signed", "response_and_assertion_signed", "idp_initiated", "encrypted_assertion_signed"} {
		cases = append(cases, shapeCase{name: "Entra " + name, xml: string(readFixture(t, "TestSPCanHandleEntraIDResponse_"+name))})
	}
	okta, err := base64.StdEncoding.DecodeString(string(readFixture(t, "TestSPCanHandleOktaSignedResponseEncryptedAssertion_response")))
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, shapeCase{name: "Okta", xml: string(okta)})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := scanShape([]byte(tc.xml))
			if got := refusalCode(err); got != tc.code {
				t.Fatalf("scanShape = %v, want code %q", err, tc.code)
			}
			// The reference agrees, but where encoding/xml alone cannot
			// tokenize the document.
			ref := referenceShape([]byte(tc.xml))
			if tc.lenient {
				if !errors.Is(ref, errTokens) {
					t.Fatalf("referenceShape = %v, want a tokenizer error", ref)
				}
				return
			}
			if got := refusalCode(ref); got != tc.code {
				t.Fatalf("referenceShape = %v, want code %q", ref, tc.code)
			}
			if !errors.Is(ref, errTokens) {
				sameRefusal(t, []byte(tc.xml), err, ref)
			}
		})
	}
}

// sameRefusal fails unless got and want are both nil or Refusals alike in
// code, reason and private error.
func sameRefusal(t *testing.T, raw []byte, got, want error) {
	t.Helper()
	var g, w *Refusal
	errors.As(got, &g)
	errors.As(want, &w)
	switch {
	case got == nil && want == nil:
	case g == nil || w == nil, g.Reason != w.Reason, g.Error() != w.Error():
		t.Fatalf("scanShape(%.300q) = %v, encoding/xml says %v", raw, got, want)
	}
}

// FuzzScanShape compares scanShape with referenceShape. Where encoding/xml
// tokenizes the whole document (or up to a refusal), they must refuse
// alike or both accept. Where it cannot (bad entities, characters or
// Unicode names, attributes without quotes, an XML declaration other than
// 1.0 UTF-8, and so on), scanShape may accept what crewjam refuses later,
// or refuse, but only with a Refusal.
func FuzzScanShape(f *testing.F) {
	for _, tc := range shapeCases() {
		if len(tc.xml) < 4096 {
			f.Add([]byte(tc.xml))
		}
	}
	f.Add(mintedXML(f))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, want := scanShape(raw), referenceShape(raw)
		if errors.Is(want, errTokens) {
			var ref *Refusal
			if got != nil && !errors.As(got, &ref) {
				t.Fatalf("scanShape = %v, want a *Refusal", got)
			}
			return
		}
		sameRefusal(t, raw, got, want)
	})
}
