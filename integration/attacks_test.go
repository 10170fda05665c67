package integration

// The attack catalogue of /work/shared/research/saml-security.md section 1,
// each case run through the ACS of a real Caddy: the case is refused for
// its specific reason (status, reason code and private cause in the log),
// no session cookie is set, the browser still gets 401 from userinfo, and
// a legitimate login right after still works.

import (
	"bytes"
	"compress/flate"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/ssogate/ssogate/internal/testidp"
)

const (
	attacker = "bob@acme.com" // a real member with a valid response of his own
	victim   = "ceo@acme.com" // who he wants to be
)

// stillWorks checks that the gate still signs in a legitimate person.
func (ae *attackEnv) stillWorks(t *testing.T) {
	t.Helper()
	b := newBrowser(t)
	resp := ae.spLogin(b, "/after", "alice@acme.com")
	readBody(t, resp)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/after" {
		t.Fatalf("legitimate login after the attacks = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code, info := b.getJSON(ae.gate+"/sso/userinfo", nil); code != http.StatusOK || info["email"] != "alice@acme.com" {
		t.Fatalf("userinfo after a legitimate login = %d %v", code, info)
	}
}

// bodySays reports whether a refusal page shows reason (pages capitalise
// the reason and add a full stop).
func bodySays(body, reason string) bool {
	return strings.Contains(strings.ToLower(body), strings.ToLower(reason))
}

// signedInAs returns the email of b's session, or "".
func (ae *attackEnv) signedInAs(t *testing.T, b *browser) string {
	t.Helper()
	code, info := b.getJSON(ae.gate+"/sso/userinfo", nil)
	if code != http.StatusOK {
		return ""
	}
	email, _ := info["email"].(string)
	return email
}

// tamperCase is one row of a table of tampered responses.
type tamperCase struct {
	name   string
	mutate func(t *testing.T, doc *etree.Document)
	// For a refusal: the status, the reason code and substrings of the
	// logged cause.
	status int
	code   string
	detail []string
	// For a sign-in: who must be signed in (never the victim).
	wantAs string
}

// runTamper runs each case on a fresh SP-initiated login of email, with
// the real IdP's response tampered by the case before it is posted with
// the browser's own RelayState and tracking cookie.
func (ae *attackEnv) runTamper(t *testing.T, email string, prep func(t *testing.T, doc *etree.Document), cases []tamperCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ae := ae.with(t)
			b := newBrowser(t)
			p, form := ae.spForm(b, "/start", email)
			doc := parseXML(t, decodeForm(t, form))
			if prep != nil {
				prep(t, doc)
			}
			if tc.mutate != nil {
				tc.mutate(t, doc)
			}
			o := ae.postACS(b, acsForm(writeXML(t, doc), p.Relay))
			ae.checkOutcome(t, b, o, tc)
		})
	}
}

func (ae *attackEnv) checkOutcome(t *testing.T, b *browser, o outcome, tc tamperCase) {
	t.Helper()
	if tc.wantAs != "" {
		if o.status != http.StatusSeeOther || !o.session {
			t.Fatalf("ACS = %d (session cookie %v), want a sign-in as %s; refusal %+v", o.status, o.session, tc.wantAs, o.log)
		}
		if got := ae.signedInAs(t, b); got != tc.wantAs {
			t.Fatalf("signed in as %q, want %q", got, tc.wantAs)
		}
		return
	}
	ae.wantRefused(t, b, o, tc.status, tc.code, tc.detail...)
}

// assertionOnly strips the Response signature, leaving the IdP's
// signature on the Assertion alone, as Entra and ADFS send by default.
func assertionOnly(t *testing.T, doc *etree.Document) { removeSignature(t, doc.Root()) }

// TestAttacks runs the catalogue against one gate with the default
// settings (one Caddy for all, as Caddy runs one config per process);
// the classes that need other settings have their own Test functions.
func TestAttacks(t *testing.T) {
	ae := startAttackEnv(t, "")
	for _, c := range []struct {
		name string
		run  func(*testing.T, *attackEnv)
	}{
		{"XSW", attackXSW},
		{"CommentInjection", attackCommentInjection},
		{"SignatureExclusion", attackSignatureExclusion},
		{"ForeignCertificate", attackForeignCertificate},
		{"SignatureShape", attackSignatureShape},
		{"Replay", attackReplay},
		{"WrongAudienceRecipientDestination", attackWrongAudienceRecipientDestination},
		{"TimeWindow", attackTimeWindow},
		{"InResponseTo", attackInResponseTo},
		{"MultipleAssertions", attackMultipleAssertions},
		{"AssertionShape", attackAssertionShape},
		{"AttributeSmuggling", attackAttributeSmuggling},
		{"HeaderInjectionThroughNames", attackHeaderInjectionThroughNames},
		{"HostileXML", attackHostileXML},
		{"RelayState", attackRelayState},
	} {
		t.Run(c.name, func(t *testing.T) { c.run(t, ae.with(t)) })
	}
}

// ---- XSW1-XSW8 ----

// xswCases builds the SAML Raider permutations on a response whose
// Assertion is signed (and whose Response may be signed too). "Evil"
// copies carry the victim's identity and no signature. Every permutation
// that puts an assertion anywhere but directly under the Response is
// refused before any signature is read (multiple_assertions).
func xswCases(responseSigned bool) []tamperCase {
	evilCopy := func(t *testing.T, a *etree.Element, id string) *etree.Element {
		evil := a.Copy()
		removeSignature(t, evil)
		if id != "" {
			evil.CreateAttr("ID", id)
		}
		setIdentity(t, evil, victim)
		return evil
	}
	var cases []tamperCase
	if responseSigned {
		cases = append(cases,
			tamperCase{name: "XSW1 signed Response cloned into its Signature", mutate: func(t *testing.T, doc *etree.Document) {
				r := doc.Root()
				clone := r.Copy()
				removeSignature(t, clone)
				signatureOf(r).AddChild(clone)
				r.CreateAttr("ID", "_evil-response")
				a := responseAssertion(t, doc)
				removeSignature(t, a)
				setIdentity(t, a, victim)
			}, status: http.StatusForbidden, code: "multiple_assertions"},
			tamperCase{name: "XSW2 signed Response cloned before its Signature", mutate: func(t *testing.T, doc *etree.Document) {
				r := doc.Root()
				clone := r.Copy()
				removeSignature(t, clone)
				r.InsertChildAt(signatureOf(r).Index(), clone)
				r.CreateAttr("ID", "_evil-response")
				a := responseAssertion(t, doc)
				removeSignature(t, a)
				setIdentity(t, a, victim)
			}, status: http.StatusForbidden, code: "multiple_assertions"},
		)
	}
	// With the Response signature kept, every permutation below changes
	// what it covers; without it, the Assertion signature must hold.
	sigDetail := []string{"cannot validate signature on Response", "could not be verified"}
	pick := func(d ...string) []string {
		if responseSigned {
			return sigDetail
		}
		return d
	}
	cases = append(cases,
		tamperCase{name: "XSW3 evil Assertion first", mutate: func(t *testing.T, doc *etree.Document) {
			a := responseAssertion(t, doc)
			doc.Root().InsertChildAt(a.Index(), evilCopy(t, a, "_evil"))
		}, status: http.StatusForbidden, code: "multiple_assertions"},
		tamperCase{name: "XSW4 signed Assertion inside the evil one", mutate: func(t *testing.T, doc *etree.Document) {
			r := doc.Root()
			a := responseAssertion(t, doc)
			evil := evilCopy(t, a, "_evil")
			idx := a.Index()
			r.RemoveChild(a)
			evil.AddChild(a)
			r.InsertChildAt(idx, evil)
		}, status: http.StatusForbidden, code: "multiple_assertions"},
		tamperCase{name: "XSW5 edited in place with a new ID, clean copy appended", mutate: func(t *testing.T, doc *etree.Document) {
			a := responseAssertion(t, doc)
			clean := a.Copy()
			removeSignature(t, clean)
			setIdentity(t, a, victim)
			a.CreateAttr("ID", "_evil")
			doc.Root().AddChild(clean)
		}, status: http.StatusForbidden, code: "multiple_assertions"},
		tamperCase{name: "XSW6 edited in place with a new ID, clean copy inside its Signature", mutate: func(t *testing.T, doc *etree.Document) {
			a := responseAssertion(t, doc)
			clean := a.Copy()
			removeSignature(t, clean)
			setIdentity(t, a, victim)
			a.CreateAttr("ID", "_evil")
			signatureOf(a).AddChild(clean)
		}, status: http.StatusForbidden, code: "multiple_assertions"},
		tamperCase{name: "XSW7 evil copy with the same ID in Extensions", mutate: func(t *testing.T, doc *etree.Document) {
			r := doc.Root()
			a := responseAssertion(t, doc)
			ext := etree.NewElement("samlp:Extensions")
			ext.AddChild(evilCopy(t, a, ""))
			r.InsertChildAt(mustChild(t, r, nsProtocol, "Status").Index(), ext)
		}, status: http.StatusForbidden, code: "multiple_assertions"},
		tamperCase{name: "XSW8 edited in place, clean copy in a ds:Object of its Signature", mutate: func(t *testing.T, doc *etree.Document) {
			a := responseAssertion(t, doc)
			clean := a.Copy()
			removeSignature(t, clean)
			setIdentity(t, a, victim)
			obj := etree.NewElement("ds:Object")
			obj.AddChild(clean)
			signatureOf(a).AddChild(obj)
		}, status: http.StatusForbidden, code: "multiple_assertions"},
		tamperCase{name: "evil edit in place, no wrapping", mutate: func(t *testing.T, doc *etree.Document) {
			setIdentity(t, responseAssertion(t, doc), victim)
		}, status: http.StatusForbidden, code: "invalid_response", detail: pick("cannot validate signature on Assertion", "could not be verified")},
	)
	return cases
}

func attackXSW(t *testing.T, ae *attackEnv) {
	// resigned has the assertion's signature made here by goxmldsig with
	// the IdP's key (exclusive c14n, RSA-SHA256, after the Issuer), as an
	// IdP configured to sign only the assertion would.
	resigned := func(t *testing.T, doc *etree.Document) {
		removeSignature(t, doc.Root())
		ae.idpSigner().sign(t, responseAssertion(t, doc))
	}
	untouched := []tamperCase{{name: "untouched", wantAs: attacker}}
	for _, v := range []struct {
		name  string
		prep  func(t *testing.T, doc *etree.Document)
		cases []tamperCase
	}{
		{"control both signed", nil, untouched},
		{"control assertion only signed", assertionOnly, untouched},
		{"Response and Assertion signed", nil, xswCases(true)},
		{"Assertion signed only", assertionOnly, xswCases(false)},
		{"control assertion only signed, re-signed", resigned, untouched},
		{"Assertion signed only, re-signed", resigned, xswCases(false)},
	} {
		// runTamper gives each case its own ae.with(t).
		t.Run(v.name, func(t *testing.T) { ae.runTamper(t, attacker, v.prep, v.cases) })
	}
	ae.stillWorks(t)
}

// ---- comment injection (Duo 2018) ----

// injectComment splits el's text at cut with an empty comment, as in
// <NameID>alice@acme.com<!---->.evil.test</NameID>; keep false drops the
// text after the comment (which must break the digest).
func injectComment(t *testing.T, el *etree.Element, cut string, keep bool) {
	t.Helper()
	text := el.Text()
	if !strings.HasPrefix(text, cut) {
		t.Fatalf("%s text %q does not start with %q", el.Tag, text, cut)
	}
	el.SetText(cut)
	el.CreateComment("")
	if keep {
		el.CreateText(text[len(cut):])
	}
}

// emailValue returns the AttributeValue of the email attribute.
func emailValue(t *testing.T, assertion *etree.Element) *etree.Element {
	t.Helper()
	for _, st := range assertion.ChildElements() {
		for _, a := range st.ChildElements() {
			if st.Tag == "AttributeStatement" && a.SelectAttrValue("Name", "") == "email" {
				return mustChild(t, a, nsAssertion, "AttributeValue")
			}
		}
	}
	t.Fatal("no email attribute")
	return nil
}

func attackCommentInjection(t *testing.T, ae *attackEnv) {
	const registered = "alice@acme.com.evil.test" // whom the IdP vouches for
	ae.idp.AddUser(testidp.User{Email: registered, GivenName: "Eve", FamilyName: "E"})
	nameIDEl := func(t *testing.T, doc *etree.Document) *etree.Element {
		return mustChild(t, mustChild(t, responseAssertion(t, doc), nsAssertion, "Subject"), nsAssertion, "NameID")
	}
	both := func(keep bool) func(t *testing.T, doc *etree.Document) {
		return func(t *testing.T, doc *etree.Document) {
			injectComment(t, nameIDEl(t, doc), "alice@acme.com", keep)
			injectComment(t, emailValue(t, responseAssertion(t, doc)), "alice@acme.com", keep)
			if keep && !bytes.Contains(writeXML(t, doc), []byte(">alice@acme.com<!---->.evil.test</saml:NameID>")) {
				t.Fatalf("comment not injected: %s", writeXML(t, doc))
			}
		}
	}
	// The digest still matches (exclusive c14n drops comments) and the
	// email read is the whole signed text, whose domain is not the org's.
	domainRefusal := tamperCase{status: http.StatusForbidden, code: "domain_not_claimed"}
	for _, variant := range []struct {
		name string
		prep func(t *testing.T, doc *etree.Document)
	}{{"Response and Assertion signed", nil}, {"Assertion signed only", assertionOnly}} {
		t.Run(variant.name, func(t *testing.T) {
			ae := ae.with(t)
			rows := []tamperCase{
				withMutate(domainRefusal, "comment in NameID and email attribute", both(true)),
				withMutate(domainRefusal, "comment in the email attribute only", func(t *testing.T, doc *etree.Document) {
					injectComment(t, emailValue(t, responseAssertion(t, doc)), "alice@acme.com", true)
				}),
				{name: "comment with the tail removed breaks the digest", mutate: both(false),
					status: http.StatusForbidden, code: "invalid_response", detail: []string{"cannot validate signature", "could not be verified"}},
			}
			for _, tc := range rows {
				t.Run(tc.name, func(t *testing.T) {
					ae := ae.with(t)
					b := newBrowser(t)
					p, form := ae.spForm(b, "/", registered)
					doc := parseXML(t, decodeForm(t, form))
					if variant.prep != nil {
						variant.prep(t, doc)
					}
					tc.mutate(t, doc)
					o := ae.postACS(b, acsForm(writeXML(t, doc), p.Relay))
					ae.checkOutcome(t, b, o, tc)
					if tc.code == "domain_not_claimed" {
						if o.log.Email != registered {
							t.Errorf("refused email = %q, want the whole signed text %q", o.log.Email, registered)
						}
						if !strings.Contains(o.body, "acme.com.evil.test") {
							t.Errorf("refusal page does not name the real domain: %s", o.body)
						}
					}
				})
			}
		})
	}
	// Alice herself was never signed in by any of this.
	ae.stillWorks(t)
}

func withMutate(tc tamperCase, name string, m func(t *testing.T, doc *etree.Document)) tamperCase {
	tc.name, tc.mutate = name, m
	return tc
}

// ---- signature exclusion ----

func attackSignatureExclusion(t *testing.T, ae *attackEnv) {
	forEachSig := func(f func(t *testing.T, sig *etree.Element)) func(t *testing.T, doc *etree.Document) {
		return func(t *testing.T, doc *etree.Document) {
			setIdentity(t, responseAssertion(t, doc), victim)
			for _, el := range []*etree.Element{doc.Root(), responseAssertion(t, doc)} {
				if sig := signatureOf(el); sig != nil {
					f(t, sig)
				}
			}
		}
	}
	ae.runTamper(t, attacker, nil, []tamperCase{
		{name: "all signatures removed", mutate: forEachSig(func(t *testing.T, sig *etree.Element) {
			sig.Parent().RemoveChild(sig)
		}), status: http.StatusForbidden, code: "invalid_response", detail: []string{"signature element not present"}},
		{name: "all signatures removed, identity untouched", mutate: func(t *testing.T, doc *etree.Document) {
			removeSignature(t, responseAssertion(t, doc))
			removeSignature(t, doc.Root())
		}, status: http.StatusForbidden, code: "invalid_response", detail: []string{"signature element not present"}},
		{name: "empty Signature elements", mutate: forEachSig(func(t *testing.T, sig *etree.Element) {
			sig.Child = nil
		}), status: http.StatusForbidden, code: "invalid_response", detail: []string{"cannot validate signature on Response"}},
		{name: "SignedInfo without SignatureValue", mutate: forEachSig(func(t *testing.T, sig *etree.Element) {
			sig.RemoveChild(mustChild(t, sig, nsDSig, "SignatureValue"))
		}), status: http.StatusForbidden, code: "invalid_response", detail: []string{"cannot validate signature on Response"}},
		{name: "empty SignatureValue", mutate: forEachSig(func(t *testing.T, sig *etree.Element) {
			mustChild(t, sig, nsDSig, "SignatureValue").SetText("")
		}), status: http.StatusForbidden, code: "invalid_response", detail: []string{"cannot validate signature on Response"}},
		{name: "Signature without SignedInfo", mutate: forEachSig(func(t *testing.T, sig *etree.Element) {
			sig.RemoveChild(mustChild(t, sig, nsDSig, "SignedInfo"))
		}), status: http.StatusForbidden, code: "invalid_response", detail: []string{"cannot validate signature on Response"}},
		{name: "assertion signature removed from an unsigned Response", mutate: func(t *testing.T, doc *etree.Document) {
			removeSignature(t, doc.Root())
			a := responseAssertion(t, doc)
			removeSignature(t, a)
			setIdentity(t, a, victim)
		}, status: http.StatusForbidden, code: "invalid_response", detail: []string{"signature element not present"}},
		// A signed Response vouches for an unsigned Assertion (intended,
		// Okta's "sign the response" setting), but only for what it signed.
		{name: "control: only the Response signed by the IdP", mutate: func(t *testing.T, doc *etree.Document) {
			removeSignature(t, responseAssertion(t, doc))
			ae.idpSigner().sign(t, doc.Root())
		}, wantAs: attacker},
		{name: "only the Response signed, assertion edited after signing", mutate: func(t *testing.T, doc *etree.Document) {
			a := responseAssertion(t, doc)
			removeSignature(t, a)
			ae.idpSigner().sign(t, doc.Root())
			setIdentity(t, a, victim)
		}, status: http.StatusForbidden, code: "invalid_response", detail: []string{"cannot validate signature on Response", "could not be verified"}},
	})
	ae.stillWorks(t)
}

// ---- foreign certificates and KeyInfo games ----

func attackForeignCertificate(t *testing.T, ae *attackEnv) {
	evilKey, evilCert := newAttacker(t)
	evil := signer{key: evilKey, certs: [][]byte{evilCert.Raw}}
	idpCert := ae.idp.Cert.Raw
	// resign edits the identity (unless victimless) and signs the
	// Assertion, and the Response when it still had a signature, with s;
	// keyInfo then rewrites each new signature's KeyInfo.
	resign := func(s signer, editIdentity bool, keyInfo func(t *testing.T, sig *etree.Element)) func(t *testing.T, doc *etree.Document) {
		return func(t *testing.T, doc *etree.Document) {
			a := responseAssertion(t, doc)
			if editIdentity {
				setIdentity(t, a, victim)
			}
			responseSigned := signatureOf(doc.Root()) != nil
			if responseSigned {
				removeSignature(t, doc.Root())
			}
			s.sign(t, a)
			if keyInfo != nil {
				keyInfo(t, signatureOf(a))
			}
			if responseSigned {
				s.sign(t, doc.Root())
				if keyInfo != nil {
					keyInfo(t, signatureOf(doc.Root()))
				}
			}
		}
	}
	x509Data := func(certs ...[]byte) func(t *testing.T, sig *etree.Element) {
		return func(t *testing.T, sig *etree.Element) {
			ki := mustChild(t, sig, nsDSig, "KeyInfo")
			ki.Child = nil
			xd := ki.CreateElement("ds:X509Data")
			for _, c := range certs {
				xd.CreateElement("ds:X509Certificate").SetText(base64.StdEncoding.EncodeToString(c))
			}
		}
	}
	rsaKeyValue := func(pub *rsa.PublicKey) func(t *testing.T, sig *etree.Element) {
		return func(t *testing.T, sig *etree.Element) {
			ki := mustChild(t, sig, nsDSig, "KeyInfo")
			ki.Child = nil
			kv := ki.CreateElement("ds:KeyValue").CreateElement("ds:RSAKeyValue")
			kv.CreateElement("ds:Modulus").SetText(base64.StdEncoding.EncodeToString(pub.N.Bytes()))
			kv.CreateElement("ds:Exponent").SetText(base64.StdEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()))
		}
	}
	noKeyInfo := func(t *testing.T, sig *etree.Element) { sig.RemoveChild(mustChild(t, sig, nsDSig, "KeyInfo")) }
	untrusted := []string{"cannot validate signature", "Could not verify certificate against trusted certs"}
	for _, variant := range []struct {
		name string
		prep func(t *testing.T, doc *etree.Document)
	}{{"Response and Assertion signed", nil}, {"Assertion signed only", assertionOnly}} {
		t.Run(variant.name, func(t *testing.T) {
			ae := ae.with(t)
			ae.runTamper(t, attacker, variant.prep, []tamperCase{
				{name: "tampered and re-signed with the attacker's key and certificate", mutate: resign(evil, true, nil),
					status: http.StatusForbidden, code: "invalid_response", detail: untrusted},
				{name: "untampered but re-signed by the attacker", mutate: resign(evil, false, nil),
					status: http.StatusForbidden, code: "invalid_response", detail: untrusted},
				{name: "attacker signature, KeyInfo holds only the attacker's RSAKeyValue", mutate: resign(evil, true, rsaKeyValue(&evilKey.PublicKey)),
					status: http.StatusForbidden, code: "invalid_response", detail: []string{"cannot validate signature", "verification error"}},
				{name: "attacker signature, no KeyInfo", mutate: resign(evil, true, noKeyInfo),
					status: http.StatusForbidden, code: "invalid_response", detail: []string{"cannot validate signature", "verification error"}},
				{name: "attacker signature, KeyInfo lists the IdP certificate then the attacker's", mutate: resign(evil, true, x509Data(idpCert, evilCert.Raw)),
					status: http.StatusForbidden, code: "invalid_response", detail: []string{"cannot validate signature", "verification error"}},
				{name: "attacker signature, KeyInfo lists the attacker certificate then the IdP's", mutate: resign(evil, true, x509Data(evilCert.Raw, idpCert)),
					status: http.StatusForbidden, code: "invalid_response", detail: untrusted},
				{name: "IdP signature presented with the attacker's certificate", mutate: resign(ae.idpSigner(), false, x509Data(evilCert.Raw)),
					status: http.StatusForbidden, code: "invalid_response", detail: untrusted},
				// KeyInfo is not trusted either way: the pinned certificate
				// verifies, whatever key material KeyInfo claims.
				{name: "control: IdP signature, KeyInfo holds only the IdP's RSAKeyValue", mutate: resign(ae.idpSigner(), false, rsaKeyValue(&ae.idp.Key.PublicKey)),
					wantAs: attacker},
				{name: "control: IdP signature, no KeyInfo", mutate: resign(ae.idpSigner(), false, noKeyInfo), wantAs: attacker},
			})
		})
	}
	ae.stillWorks(t)
}

// ---- replay ----

func attackReplay(t *testing.T, ae *attackEnv) {
	logout := func(b *browser) {
		readBody(t, b.signOut(ae.gate, "/sso/logout"))
		assertNoSession(t, ae.env, b)
	}

	t.Run("IdP-initiated response posted twice", func(t *testing.T) {
		ae := ae.with(t)
		b := newBrowser(t)
		form := ae.idpForm(b, "alice@acme.com", "/")
		if o := ae.postACS(b, form.Values); o.status != http.StatusSeeOther || !o.session {
			t.Fatalf("first post = %d %+v", o.status, o.log)
		}
		logout(b)
		o := ae.postACS(b, form.Values)
		ae.wantRefused(t, b, o, http.StatusForbidden, "assertion_replayed", "already been used")
		// From another browser, too.
		b2 := newBrowser(t)
		o = ae.postACS(b2, form.Values)
		ae.wantRefused(t, b2, o, http.StatusForbidden, "assertion_replayed", "already been used")
	})

	t.Run("SP-initiated response posted twice", func(t *testing.T) {
		ae := ae.with(t)
		b := newBrowser(t)
		p, form := ae.spForm(b, "/", "alice@acme.com")
		// Whoever captured the POST may have captured the browser's
		// tracking cookie with it.
		gateURL, _ := url.Parse(ae.gate + "/sso/acs")
		trackCookies := trackingCookies(b, gateURL)
		if len(trackCookies) != 1 || trackCookies[0].Name != "ssogate_req_"+p.Relay {
			t.Fatalf("browser holds %v, want one tracking cookie", trackCookies)
		}
		if o := ae.postACS(b, form.Values); o.status != http.StatusSeeOther || !o.session {
			t.Fatalf("first post = %d %+v", o.status, o.log)
		}
		if left := trackingCookies(b, gateURL); len(left) != 0 {
			t.Errorf("tracking cookie not deleted after use: %v", left)
		}
		logout(b)
		// Same browser: its pending request is gone.
		o := ae.postACS(b, form.Values)
		ae.wantRefused(t, b, o, http.StatusForbidden, "invalid_response", "`InResponseTo` does not match")
		// Another browser without the cookie.
		b2 := newBrowser(t)
		o = ae.postACS(b2, form.Values)
		ae.wantRefused(t, b2, o, http.StatusForbidden, "invalid_response", "`InResponseTo` does not match")
		// Another browser with the captured cookie: the replay cache.
		b3 := newBrowser(t)
		b3.c.Jar.SetCookies(gateURL, trackCookies)
		o = ae.postACS(b3, form.Values)
		ae.wantRefused(t, b3, o, http.StatusForbidden, "assertion_replayed", "already been used")
	})
	ae.stillWorks(t)
}

// trackingCookies returns the gate's pending-login cookies in b's jar
// (which also holds the IdP's cookie: same host, another port).
func trackingCookies(b *browser, u *url.URL) []*http.Cookie {
	var out []*http.Cookie
	for _, c := range b.c.Jar.Cookies(u) {
		if strings.HasPrefix(c.Name, "ssogate_req_") {
			out = append(out, c)
		}
	}
	return out
}

// ---- audience, recipient, destination, issuer ----

func attackWrongAudienceRecipientDestination(t *testing.T, ae *attackEnv) {
	const other = "https://other-app.example"
	type mintCase struct {
		name   string
		opts   mintOpts
		detail []string
	}
	for _, tc := range []mintCase{
		{"control", mintOpts{}, nil},
		{"audience of another SP", mintOpts{audience: other + "/sso/metadata"},
			[]string{"AudienceRestriction does not contain"}},
		{"Recipient and Destination of another SP", mintOpts{acs: other + "/sso/acs"},
			[]string{"`Destination` does not match"}},
		{"Recipient of another SP", mintOpts{edit: func(a *saml.Assertion) {
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.Recipient = other + "/sso/acs"
		}}, []string{"Recipient is not " + ae.gate + "/sso/acs"}},
		{"Destination of another SP", mintOpts{dest: other + "/sso/acs"},
			[]string{"`Destination` does not match"}},
		{"our ACS on another origin", mintOpts{acs: strings.Replace(ae.gate, "127.0.0.1", "localhost", 1) + "/sso/acs"},
			[]string{"`Destination` does not match"}},
		{"no AudienceRestriction", mintOpts{edit: func(a *saml.Assertion) { a.Conditions.AudienceRestrictions = nil }},
			[]string{"no AudienceRestriction"}},
		{"another issuer signed with the trusted key", mintOpts{edit: func(a *saml.Assertion) { a.Issuer.Value = "https://other-idp.example" }},
			[]string{"issuer is not"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ae := ae.with(t)
			b := newBrowser(t)
			p := ae.startSPLogin(b, "/")
			tc.opts.requestID = p.RequestID
			o := ae.postACS(b, acsForm(ae.mint(tc.opts), p.Relay))
			if tc.detail == nil {
				ae.checkOutcome(t, b, o, tamperCase{wantAs: "alice@acme.com"})
				return
			}
			ae.wantRefused(t, b, o, http.StatusForbidden, "invalid_response", tc.detail...)
		})
	}

	// The real IdP's response for another SP it serves, posted to us.
	for _, tc := range []struct {
		name, entityID, acs string
		detail              []string
	}{
		{"IdP response for another SP", other + "/saml/metadata", other + "/saml/acs", []string{"`Destination` does not match"}},
		{"IdP response for another SP sharing our ACS URL", other + "/saml/metadata", ae.gate + "/sso/acs", []string{"AudienceRestriction does not contain"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ae := ae.with(t)
			ae.idp.AddSP(&saml.EntityDescriptor{EntityID: tc.entityID, SPSSODescriptors: []saml.SPSSODescriptor{{
				SSODescriptor:             saml.SSODescriptor{RoleDescriptor: saml.RoleDescriptor{ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol"}},
				AssertionConsumerServices: []saml.IndexedEndpoint{{Binding: saml.HTTPPostBinding, Location: tc.acs, Index: 0}},
			}}})
			b := newBrowser(t)
			q := url.Values{"sp": {tc.entityID}, "user": {"alice@acme.com"}, "relay": {"/"}}
			resp := b.navigate(ae.idpURL + "/start?" + q.Encode())
			form := parseSAMLForm(t, readBody(t, resp))
			if form.Action != tc.acs {
				t.Fatalf("IdP form posts to %s, want %s", form.Action, tc.acs)
			}
			o := ae.postACS(b, form.Values)
			ae.wantRefused(t, b, o, http.StatusForbidden, "invalid_response", tc.detail...)
		})
	}
	ae.stillWorks(t)
}

// ---- time window ----

func attackTimeWindow(t *testing.T, ae *attackEnv) {
	at := func(d time.Duration) *dsig.Clock { return dsig.NewFakeClockAt(time.Now().Add(d)) }
	for _, tc := range []struct {
		name   string
		opts   mintOpts
		code   string
		detail []string
	}{
		{"control: IdP clock 30s behind", mintOpts{clock: at(-30 * time.Second)}, "", nil},
		{"control: IdP clock 30s ahead", mintOpts{clock: at(30 * time.Second)}, "", nil},
		// clock_skew (90s) widens the 90s issue delay: an IdP 2 minutes
		// behind still signs people in.
		{"control: issued 2 minutes ago (IdP clock behind, within delay and skew)", mintOpts{clock: at(-2 * time.Minute)}, "", nil},
		// Past the gate's window, crewjam's own (270s back, 180s ahead)
		// or ours: one reason for every time check.
		{"issued 200s ago (beyond the 90s issue delay plus the 90s skew)", mintOpts{clock: at(-200 * time.Second)}, "outside_time_window", []string{"IssueInstant", "older than 3m0s"}},
		{"issued 10 minutes ago", mintOpts{clock: at(-10 * time.Minute)}, "outside_time_window", []string{"expired"}},
		{"issued 10 minutes in the future", mintOpts{clock: at(10 * time.Minute)}, "outside_time_window", []string{"in the future"}},
		{"issued 150s in the future", mintOpts{clock: at(150 * time.Second)}, "outside_time_window", []string{"IssueInstant", "in the future"}},
		{"Conditions expired 2 minutes ago", mintOpts{edit: func(a *saml.Assertion) {
			a.Conditions.NotOnOrAfter = time.Now().Add(-2 * time.Minute)
		}}, "outside_time_window", []string{"NotOnOrAfter"}},
		{"Conditions valid only in 150s", mintOpts{edit: func(a *saml.Assertion) {
			a.Conditions.NotBefore = time.Now().Add(150 * time.Second)
		}}, "outside_time_window", []string{"NotBefore"}},
		{"Conditions expired 10 minutes ago", mintOpts{edit: func(a *saml.Assertion) {
			a.Conditions.NotOnOrAfter = time.Now().Add(-10 * time.Minute)
		}}, "outside_time_window", []string{"Conditions is expired"}},
		{"SubjectConfirmationData expired 2 minutes ago", mintOpts{edit: func(a *saml.Assertion) {
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = time.Now().Add(-2 * time.Minute)
		}}, "outside_time_window", []string{"SubjectConfirmationData NotOnOrAfter"}},
		{"SubjectConfirmationData expired 10 minutes ago", mintOpts{edit: func(a *saml.Assertion) {
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = time.Now().Add(-10 * time.Minute)
		}}, "outside_time_window", []string{"SubjectConfirmationData is expired"}},
		{"SubjectConfirmationData without NotOnOrAfter", mintOpts{edit: func(a *saml.Assertion) {
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData.NotOnOrAfter = time.Time{}
		}}, "outside_time_window", []string{"SubjectConfirmationData is expired"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ae := ae.with(t)
			b := newBrowser(t)
			p := ae.startSPLogin(b, "/")
			tc.opts.requestID = p.RequestID
			o := ae.postACS(b, acsForm(ae.mint(tc.opts), p.Relay))
			if tc.code == "" {
				ae.checkOutcome(t, b, o, tamperCase{wantAs: "alice@acme.com"})
				return
			}
			ae.wantRefused(t, b, o, http.StatusForbidden, tc.code, tc.detail...)
		})
	}
	ae.stillWorks(t)
}

// ---- InResponseTo ----

func attackInResponseTo(t *testing.T, ae *attackEnv) {
	const mismatch = "`InResponseTo` does not match"

	t.Run("response for another pending request of the same IdP", func(t *testing.T) {
		ae := ae.with(t)
		a, b := newBrowser(t), newBrowser(t)
		pa := ae.startSPLogin(a, "/")
		pb := ae.startSPLogin(b, "/")
		o := ae.postACS(a, acsForm(ae.mint(mintOpts{requestID: pb.RequestID}), pa.Relay))
		ae.wantRefused(t, a, o, http.StatusForbidden, "invalid_response", mismatch)
	})

	t.Run("response for browser A posted by browser B", func(t *testing.T) {
		ae := ae.with(t)
		a, b := newBrowser(t), newBrowser(t)
		pa, formA := ae.spForm(a, "/a", "alice@acme.com")
		pb := ae.startSPLogin(b, "/b")
		// With A's RelayState: B holds no cookie for it, so the response
		// is taken as unsolicited, and it answers a request.
		o := ae.postACS(b, formA.Values)
		ae.wantRefused(t, b, o, http.StatusForbidden, "invalid_response", mismatch)
		// With B's own RelayState: B's pending request is another one.
		v := url.Values{"SAMLResponse": formA.Values["SAMLResponse"], "RelayState": {pb.Relay}}
		o = ae.postACS(b, v)
		ae.wantRefused(t, b, o, http.StatusForbidden, "invalid_response", mismatch)
		// A's own login still completes: nothing above consumed it.
		o = ae.postACS(a, acsForm(decodeForm(t, formA), pa.Relay))
		if o.status != http.StatusSeeOther || o.location != "/a" || ae.signedInAs(t, a) != "alice@acme.com" {
			t.Fatalf("A's own post after B's attempts = %d to %q; %+v", o.status, o.location, o.log)
		}
	})

	t.Run("assertion for request A rewrapped in a response to request B", func(t *testing.T) {
		ae := ae.with(t)
		a, b := newBrowser(t), newBrowser(t)
		_, formA := ae.spForm(a, "/", "alice@acme.com")
		pb := ae.startSPLogin(b, "/")
		doc := parseXML(t, decodeForm(t, formA))
		removeSignature(t, doc.Root())
		doc.Root().CreateAttr("InResponseTo", pb.RequestID)
		o := ae.postACS(b, acsForm(writeXML(t, doc), pb.Relay))
		ae.wantRefused(t, b, o, http.StatusForbidden, "invalid_response", "SubjectConfirmation")
	})

	t.Run("unsolicited response posted with a pending login's cookie", func(t *testing.T) {
		ae := ae.with(t)
		b := newBrowser(t)
		p := ae.startSPLogin(b, "/")
		o := ae.postACS(b, acsForm(ae.mint(mintOpts{}), p.Relay))
		ae.wantRefused(t, b, o, http.StatusForbidden, "invalid_response", mismatch)
	})

	t.Run("InResponseTo naming no request at all", func(t *testing.T) {
		ae := ae.with(t)
		b := newBrowser(t)
		o := ae.postACS(b, acsForm(ae.mint(mintOpts{requestID: "id-made-up"}), ""))
		ae.wantRefused(t, b, o, http.StatusForbidden, "invalid_response", mismatch)
	})
	ae.stillWorks(t)
}

func TestAttackUnsolicitedWhenOff(t *testing.T) {
	ae := startAttackEnv(t, "allow_idp_initiated false")
	t.Run("IdP-initiated response", func(t *testing.T) {
		ae := ae.with(t)
		b := newBrowser(t)
		form := ae.idpForm(b, "alice@acme.com", "/")
		o := ae.postACS(b, form.Values)
		ae.wantRefused(t, b, o, http.StatusForbidden, "unsolicited_response")
		if !bodySays(o.body, "IdP-initiated login is not allowed") {
			t.Errorf("refusal page: %s", o.body)
		}
	})
	t.Run("SP-initiated response posted without the tracking cookie", func(t *testing.T) {
		ae := ae.with(t)
		a, b := newBrowser(t), newBrowser(t)
		_, formA := ae.spForm(a, "/", "alice@acme.com")
		o := ae.postACS(b, formA.Values)
		ae.wantRefused(t, b, o, http.StatusForbidden, "unsolicited_response")
	})
	t.Run("unsolicited response posted with a pending login's cookie", func(t *testing.T) {
		ae := ae.with(t)
		b := newBrowser(t)
		p := ae.startSPLogin(b, "/")
		o := ae.postACS(b, acsForm(ae.mint(mintOpts{}), p.Relay))
		ae.wantRefused(t, b, o, http.StatusForbidden, "invalid_response", "`InResponseTo` does not match")
	})
	ae.stillWorks(t)
}

// ---- multiple assertions ----

func attackMultipleAssertions(t *testing.T, ae *attackEnv) {
	// secondAssertion returns another IdP-signed assertion, for the victim
	// (as if the IdP had signed one for them), answering the same request.
	secondAssertion := func(t *testing.T, requestID, email string) *etree.Element {
		doc := parseXML(t, ae.mint(mintOpts{requestID: requestID, email: email}))
		return responseAssertion(t, doc).Copy()
	}
	cases := []struct {
		name   string
		mutate func(t *testing.T, doc *etree.Document, requestID string)
	}{
		{"signed Response with two IdP-signed assertions, victim's first", func(t *testing.T, doc *etree.Document, id string) {
			r := doc.Root()
			r.InsertChildAt(responseAssertion(t, doc).Index(), secondAssertion(t, id, victim))
			ae.idpSigner().sign(t, r)
		}},
		{"signed Response with two IdP-signed assertions, victim's last", func(t *testing.T, doc *etree.Document, id string) {
			r := doc.Root()
			r.AddChild(secondAssertion(t, id, victim))
			ae.idpSigner().sign(t, r)
		}},
		{"signed Response with the same assertion twice", func(t *testing.T, doc *etree.Document, id string) {
			r := doc.Root()
			r.AddChild(responseAssertion(t, doc).Copy())
			ae.idpSigner().sign(t, r)
		}},
		{"unsigned Response, evil unsigned assertion before the signed one (CVE-2022-41912)", func(t *testing.T, doc *etree.Document, id string) {
			removeSignature(t, doc.Root())
			a := responseAssertion(t, doc)
			evil := a.Copy()
			removeSignature(t, evil)
			evil.CreateAttr("ID", "_evil")
			setIdentity(t, evil, victim)
			doc.Root().InsertChildAt(a.Index(), evil)
		}},
		{"unsigned Response, EncryptedAssertion next to the signed Assertion", func(t *testing.T, doc *etree.Document, id string) {
			removeSignature(t, doc.Root())
			ea := doc.Root().CreateElement("saml:EncryptedAssertion")
			ea.CreateElement("xenc:EncryptedData").CreateAttr("xmlns:xenc", "http://www.w3.org/2001/04/xmlenc#")
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ae := ae.with(t)
			b := newBrowser(t)
			p, form := ae.spForm(b, "/", "alice@acme.com")
			doc := parseXML(t, decodeForm(t, form))
			tc.mutate(t, doc, p.RequestID)
			o := ae.postACS(b, acsForm(writeXML(t, doc), p.Relay))
			ae.wantRefused(t, b, o, http.StatusForbidden, "multiple_assertions")
			if !bodySays(o.body, "more than one assertion") {
				t.Errorf("refusal page: %s", o.body)
			}
		})
	}
	ae.stillWorks(t)
}

// ---- DOCTYPE, XXE, entity expansion, size, compression, nesting ----

// fastEnough bounds how long the gate may take to refuse hostile input
// (generous for -race on two busy cores; a hang or a blow-up takes far
// longer).
const fastEnough = 3 * time.Second

const responseOpen = `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x" Version="2.0">`

// repeatedBody returns a form body "SAMLResponse=..." of about size bytes
// (at most size) whose value is the base64 of open + unit repeated +
// closing, built without encoding megabytes: the base64 of a repeated
// 3-byte-aligned chunk is the repeated base64 of the chunk.
func repeatedBody(open, unit string, size int, closing string) string {
	for len(open)%3 != 0 { // pad inside the start tag
		open = open[:len(open)-1] + " >"
	}
	chunk := unit + unit + unit
	esc := func(s string) string {
		return url.QueryEscape(base64.StdEncoding.EncodeToString([]byte(s)))
	}
	head, body, tail := "SAMLResponse="+esc(open), esc(chunk), esc(closing)
	n := (size - len(head) - len(tail)) / len(body)
	return head + strings.Repeat(body, n) + tail
}

func attackHostileXML(t *testing.T, ae *attackEnv) {
	withDoctype := func(doctype string, useEntity string) func(t *testing.T, raw []byte) []byte {
		return func(t *testing.T, raw []byte) []byte {
			if useEntity != "" {
				raw = bytes.Replace(raw, []byte(">alice@acme.com</saml:NameID>"), []byte(">"+useEntity+"</saml:NameID>"), 1)
			}
			return append([]byte(doctype), raw...)
		}
	}
	laughs := `<!DOCTYPE samlp:Response [<!ENTITY lol "lol">`
	for i := 1; i <= 9; i++ {
		prev := "&lol;"
		if i > 1 {
			prev = strings.Repeat("&lol"+string(rune('0'+i-1))+";", 10)
		}
		laughs += "<!ENTITY lol" + string(rune('0'+i)) + ` "` + prev + `">`
	}
	laughs += "]>"
	deep := func(n int) []byte {
		var buf bytes.Buffer
		buf.WriteString(responseOpen)
		buf.WriteString(strings.Repeat("<a>", n))
		buf.WriteString(strings.Repeat("</a>", n))
		buf.WriteString(`</samlp:Response>`)
		return buf.Bytes()
	}
	wide := func(n int) []byte {
		var buf bytes.Buffer
		buf.WriteString(responseOpen)
		buf.WriteString(strings.Repeat("<a/>", n))
		buf.WriteString(`</samlp:Response>`)
		return buf.Bytes()
	}
	manyNS := func(n int) []byte {
		var buf bytes.Buffer
		buf.WriteString(`<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="x" Version="2.0"`)
		for i := 0; i < n; i++ {
			buf.WriteString(" xmlns:n" + strconv.Itoa(i) + `="urn:x:` + strconv.Itoa(i) + `"`)
		}
		buf.WriteString(`/>`)
		return buf.Bytes()
	}
	deflated := func(t *testing.T, raw []byte) []byte {
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.BestCompression)
		_, _ = w.Write(raw)
		_ = w.Close()
		return buf.Bytes()
	}
	bomb := func(t *testing.T, _ []byte) []byte {
		// 256 MiB of zeros: once the window is all zeros, each flushed
		// mebibyte compresses to the same bytes, so they are repeated
		// rather than computed.
		var buf bytes.Buffer
		w, _ := flate.NewWriter(&buf, flate.BestCompression)
		zeros := make([]byte, 1<<20)
		_, _ = w.Write(zeros)
		_ = w.Flush()
		head := len(buf.Bytes())
		_, _ = w.Write(zeros)
		_ = w.Flush()
		chunk := append([]byte(nil), buf.Bytes()[head:]...)
		for i := 2; i < 256; i++ {
			buf.Write(chunk)
		}
		_ = w.Close() // the final block, written after the chunks
		return buf.Bytes()
	}
	b64 := func(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) }

	for _, tc := range []struct {
		name string
		// xml builds the decoded SAMLResponse from a valid one for alice;
		// form, when set, replaces the whole form.
		xml    func(t *testing.T, raw []byte) []byte
		form   func(valid []byte) url.Values
		body   func() string // a raw form body
		status int
		code   string
		reason string // shown to the browser
		detail string
	}{
		{name: "XXE: external entity in the NameID", xml: withDoctype(`<!DOCTYPE samlp:Response [<!ENTITY x SYSTEM "file:///etc/passwd">]>`, "&x;"),
			status: 400, code: "malformed_response", reason: "DOCTYPE"},
		{name: "XXE: parameter entity to a remote DTD", xml: withDoctype(`<!DOCTYPE samlp:Response [<!ENTITY % dtd SYSTEM "http://127.0.0.1:9/evil.dtd"> %dtd;]>`, ""),
			status: 400, code: "malformed_response", reason: "DOCTYPE"},
		{name: "billion laughs", xml: withDoctype(laughs, "&lol9;"),
			status: 400, code: "malformed_response", reason: "DOCTYPE"},
		{name: "DOCTYPE declaring an entity it does not use, on a valid signed response", xml: withDoctype(`<!DOCTYPE samlp:Response [<!ENTITY x "y">]>`, ""),
			status: 400, code: "malformed_response", reason: "DOCTYPE"},
		{name: "lower-case doctype with an entity", xml: withDoctype(`<!doctype samlp:Response [<!entity x "alice@acme.com">]>`, "&x;"),
			status: 400, code: "malformed_response", reason: "DOCTYPE"},
		{name: "body over 1 MiB", form: func([]byte) url.Values {
			return url.Values{"SAMLResponse": {strings.Repeat("A", 1<<20)}}
		}, status: 413, code: "response_too_large", reason: "larger than 1 MiB"},
		{name: "9 MB body of deep XML", body: func() string {
			return repeatedBody(responseOpen, "<a>", 9<<20, "")
		}, status: 413, code: "response_too_large", reason: "larger than 1 MiB"},
		{name: "wide XML filling the 1 MiB body", body: func() string {
			return repeatedBody(responseOpen, "<a/>", 1<<20, "</samlp:Response>")
		}, status: 413, code: "response_too_large", reason: "too many XML elements"},
		{name: "wide XML just under the element budget", form: func([]byte) url.Values {
			return url.Values{"SAMLResponse": {b64(wide(19_000))}}
		}, status: 403, code: "invalid_response", reason: "not valid"},
		{name: "deflated response (HTTP-Redirect encoding on the POST binding)", xml: deflated,
			status: 400, code: "malformed_response", reason: "not well-formed"},
		{name: "deflate bomb", xml: bomb, status: 400, code: "malformed_response", reason: "not well-formed"},
		{name: "XML nested 100000 deep", form: func([]byte) url.Values {
			return url.Values{"SAMLResponse": {b64(deep(100_000))}}
		}, status: 400, code: "malformed_response", reason: "nested too deeply"},
		{name: "XML nested 65 deep", form: func([]byte) url.Values {
			return url.Values{"SAMLResponse": {b64(deep(64))}}
		}, status: 400, code: "malformed_response", reason: "nested too deeply"},
		{name: "XML nested 64 deep", form: func([]byte) url.Values {
			return url.Values{"SAMLResponse": {b64(deep(63))}}
		}, status: 403, code: "invalid_response", reason: "not valid"},
		{name: "thousands of namespace declarations", form: func([]byte) url.Values {
			return url.Values{"SAMLResponse": {b64(manyNS(5_000))}}
		}, status: 403, code: "invalid_response", reason: "not valid", detail: "more than 64 namespace declarations"},
		{name: "lower-case doctype without entities, on a valid signed response", xml: withDoctype(`<!doctype samlp:Response>`, ""),
			status: 400, code: "malformed_response", reason: "DOCTYPE"},
		{name: "not base64", form: func([]byte) url.Values {
			return url.Values{"SAMLResponse": {"<samlp:Response/>"}}
		}, status: 400, code: "malformed_response", reason: "not base64"},
		{name: "no SAMLResponse", form: func([]byte) url.Values {
			return url.Values{"RelayState": {"/"}}
		}, status: 400, code: "malformed_response", reason: "no SAMLResponse"},
		{name: "artifact binding", form: func([]byte) url.Values {
			return url.Values{"SAMLart": {"AAQAA" + strings.Repeat("A", 40)}}
		}, status: 400, code: "unsupported_binding", reason: "artifact"},
		{name: "not a Response", form: func(valid []byte) url.Values {
			return url.Values{"SAMLResponse": {b64([]byte(`<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>`))}}
		}, status: 400, code: "malformed_response", reason: "not a SAML Response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ae := ae.with(t)
			b := newBrowser(t)
			form := ae.idpForm(b, "alice@acme.com", "/")
			var body string
			switch {
			case tc.form != nil:
				body = tc.form(decodeForm(t, form)).Encode()
			case tc.body != nil:
				body = tc.body()
			default:
				body = url.Values{"SAMLResponse": {b64(tc.xml(t, decodeForm(t, form)))}, "RelayState": {"/"}}.Encode()
			}
			o := ae.postACSBody(b, body)
			var detail []string
			if tc.detail != "" {
				detail = append(detail, tc.detail)
			}
			ae.wantRefused(t, b, o, tc.status, tc.code, detail...)
			if !bodySays(o.body, tc.reason) {
				t.Errorf("refusal page does not say %q: %s", tc.reason, o.body)
			}
			if o.elapsed > fastEnough {
				t.Errorf("refusal took %s", o.elapsed)
			}
			if strings.Contains(o.body, "root:") {
				t.Errorf("refusal page leaks a file: %s", o.body)
			}
		})
	}
	ae.stillWorks(t)
}

// ---- SHA-1 ----

func TestAttackSHA1(t *testing.T) {
	for _, tc := range []struct {
		name, extra string
		accept      bool
	}{{"refused by default", "", false}, {"accepted with allow_sha1", "allow_sha1", true}} {
		t.Run(tc.name, func(t *testing.T) {
			ae := startAttackEnv(t, tc.extra)
			b := newBrowser(t)
			p := ae.startSPLogin(b, "/")
			raw := ae.mint(mintOpts{requestID: p.RequestID, sigMethod: dsig.RSASHA1SignatureMethod})
			if !bytes.Contains(raw, []byte(`Algorithm="http://www.w3.org/2000/09/xmldsig#rsa-sha1"`)) ||
				!bytes.Contains(raw, []byte(`Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"`)) {
				t.Fatalf("minted response is not signed with RSA-SHA1 and a SHA-1 digest: %s", raw)
			}
			o := ae.postACS(b, acsForm(raw, p.Relay))
			if tc.accept {
				ae.checkOutcome(t, b, o, tamperCase{wantAs: "alice@acme.com"})
				return
			}
			ae.wantRefused(t, b, o, http.StatusForbidden, "invalid_response", "SHA-1 based signature algorithms are not accepted")
			ae.stillWorks(t)
		})
	}
}

// ---- RelayState: open redirects and tampering ----

func attackRelayState(t *testing.T, ae *attackEnv) {
	t.Run("IdP-initiated RelayState", func(t *testing.T) {
		ae := ae.with(t)
		for _, tc := range []struct{ relay, want string }{
			{"/dashboards/7?x=1", "/dashboards/7?x=1"}, // control: a local path is kept
			{"https://evil.example", "/"},
			{"http://evil.example/", "/"},
			{"//evil.example", "/"},
			{"///evil.example", "/"},
			{`/\evil.example`, "/"},
			{`\\evil.example`, "/"},
			{"/\t/evil.example", "/"},
			{"/\n/evil.example", "/"},
			{"javascript:alert(1)", "/"},
			{"JaVaScRiPt:alert(1)", "/"},
			{"data:text/html,<script>alert(1)</script>", "/"},
			{"evil.example", "/"},
			{"", "/"},
		} {
			t.Run(strconv.Quote(tc.relay), func(t *testing.T) {
				ae := ae.with(t)
				b := newBrowser(t)
				form := ae.idpForm(b, "alice@acme.com", tc.relay)
				if form.Values.Get("RelayState") != tc.relay {
					t.Fatalf("IdP form RelayState = %q", form.Values.Get("RelayState"))
				}
				o := ae.postACS(b, form.Values)
				if o.status != http.StatusSeeOther || !o.session {
					t.Fatalf("IdP-initiated sign-in = %d; %+v", o.status, o.log)
				}
				if o.location != tc.want {
					t.Fatalf("redirected to %q, want %q", o.location, tc.want)
				}
			})
		}
	})
	t.Run("return path at login start", func(t *testing.T) {
		ae := ae.with(t)
		for _, rd := range []string{"https://evil.example", "//evil.example", `/\evil.example`, "javascript:alert(1)"} {
			t.Run(strconv.Quote(rd), func(t *testing.T) {
				ae := ae.with(t)
				b := newBrowser(t)
				p, form := ae.spForm(b, rd, "alice@acme.com")
				o := ae.postACS(b, acsForm(decodeForm(t, form), p.Relay))
				if o.status != http.StatusSeeOther || o.location != "/" {
					t.Fatalf("SP-initiated sign-in from rd=%q = %d to %q", rd, o.status, o.location)
				}
			})
		}
	})
	t.Run("tampered RelayState in SP-initiated login", func(t *testing.T) {
		ae := ae.with(t)
		for _, relay := range []string{"https://evil.example", "//evil.example", "/evil", ""} {
			t.Run(strconv.Quote(relay), func(t *testing.T) {
				ae := ae.with(t)
				b := newBrowser(t)
				_, form := ae.spForm(b, "/reports", "alice@acme.com")
				o := ae.postACS(b, acsForm(decodeForm(t, form), relay))
				ae.wantRefused(t, b, o, http.StatusForbidden, "invalid_response", "`InResponseTo` does not match any of the possible request IDs (expected [])")
				if o.location != "" || strings.Contains(o.body, "evil.example") {
					t.Errorf("refusal redirects or reflects the RelayState: %q %s", o.location, o.body)
				}
			})
		}
	})
	t.Run("RelayState of another pending login of the same browser", func(t *testing.T) {
		ae := ae.with(t)
		b := newBrowser(t)
		p1, form1 := ae.spForm(b, "/one", "alice@acme.com")
		p2 := ae.startSPLogin(b, "/two")
		o := ae.postACS(b, acsForm(decodeForm(t, form1), p2.Relay))
		ae.wantRefused(t, b, o, http.StatusForbidden, "invalid_response", "`InResponseTo` does not match any of the possible request IDs (expected ["+p2.RequestID+"])")
		// The first login, with its own RelayState, still completes.
		o = ae.postACS(b, acsForm(decodeForm(t, form1), p1.Relay))
		if o.status != http.StatusSeeOther || o.location != "/one" {
			t.Fatalf("first login = %d to %q; %+v", o.status, o.location, o.log)
		}
	})
	ae.stillWorks(t)
}

// ---- signature shape and Reference tricks (1.3, 1.14, 1.15) ----

// resignSignedInfo signs sig's (edited) SignedInfo again with s, so that
// only the rule under test, not the signature value, can refuse it.
func (s signer) resignSignedInfo(t *testing.T, sig *etree.Element) {
	t.Helper()
	si := mustChild(t, sig, nsDSig, "SignedInfo").Copy()
	si.CreateAttr("xmlns:"+sig.Space, nsDSig)
	canon, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(si)
	if err != nil {
		t.Fatal(err)
	}
	value, err := s.context(t, "").SignString(string(canon))
	if err != nil {
		t.Fatal(err)
	}
	mustChild(t, sig, nsDSig, "SignatureValue").SetText(base64.StdEncoding.EncodeToString(value))
}

// digestOf is the SHA-256 exclusive-c14n digest of el, as a Reference
// to it carries.
func digestOf(t *testing.T, el *etree.Element) string {
	t.Helper()
	canon, err := dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("").Canonicalize(el.Copy())
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(canon)
	return base64.StdEncoding.EncodeToString(sum[:])
}

func attackSignatureShape(t *testing.T, ae *attackEnv) {
	idp := ae.idpSigner()
	reference := func(t *testing.T, sig *etree.Element) *etree.Element {
		return mustChild(t, mustChild(t, sig, nsDSig, "SignedInfo"), nsDSig, "Reference")
	}
	// onResponse edits the Response signature's SignedInfo and signs it
	// again with the IdP's key.
	onResponse := func(edit func(t *testing.T, doc *etree.Document, sig *etree.Element)) func(t *testing.T, doc *etree.Document) {
		return func(t *testing.T, doc *etree.Document) {
			sig := signatureOf(doc.Root())
			edit(t, doc, sig)
			idp.resignSignedInfo(t, sig)
		}
	}
	ae.runTamper(t, attacker, nil, []tamperCase{
		{name: "control: SignedInfo signed again unchanged", mutate: onResponse(func(*testing.T, *etree.Document, *etree.Element) {}), wantAs: attacker},
		{name: `Reference URI="" (the whole document)`, mutate: onResponse(func(t *testing.T, _ *etree.Document, sig *etree.Element) {
			reference(t, sig).CreateAttr("URI", "")
		}), status: http.StatusForbidden, code: "invalid_response", detail: []string{"cannot validate signature on Response", "Reference URI must be"}},
		{name: "Response signature referencing the Assertion", mutate: onResponse(func(t *testing.T, doc *etree.Document, sig *etree.Element) {
			a := responseAssertion(t, doc)
			ref := reference(t, sig)
			ref.CreateAttr("URI", "#"+a.SelectAttrValue("ID", ""))
			mustChild(t, ref, nsDSig, "DigestValue").SetText(digestOf(t, a))
		}), status: http.StatusForbidden, code: "invalid_response", detail: []string{"cannot validate signature on Response", "Missing signature referencing the top-level element"}},
		{name: "two References", mutate: onResponse(func(t *testing.T, _ *etree.Document, sig *etree.Element) {
			si := mustChild(t, sig, nsDSig, "SignedInfo")
			si.AddChild(reference(t, sig).Copy())
		}), status: http.StatusForbidden, code: "invalid_response", detail: []string{"exactly one Reference, not 2"}},
		{name: "XSLT transform", mutate: onResponse(func(t *testing.T, _ *etree.Document, sig *etree.Element) {
			tr := mustChild(t, reference(t, sig), nsDSig, "Transforms").CreateElement("ds:Transform")
			tr.CreateAttr("Algorithm", "http://www.w3.org/TR/1999/REC-xslt-19991116")
		}), status: http.StatusForbidden, code: "invalid_response", detail: []string{"Unknown Transform Algorithm"}},
		{name: "HMAC signature method", mutate: onResponse(func(t *testing.T, _ *etree.Document, sig *etree.Element) {
			mustChild(t, mustChild(t, sig, nsDSig, "SignedInfo"), nsDSig, "SignatureMethod").
				CreateAttr("Algorithm", "http://www.w3.org/2001/04/xmldsig-more#hmac-sha256")
		}), status: http.StatusForbidden, code: "invalid_response", detail: []string{"Unknown signature method"}},
		{name: "two SignatureValues", mutate: func(t *testing.T, doc *etree.Document) {
			sig := signatureOf(doc.Root())
			sig.InsertChildAt(mustChild(t, sig, nsDSig, "SignatureValue").Index(), mustChild(t, sig, nsDSig, "SignatureValue").Copy())
		}, status: http.StatusForbidden, code: "invalid_response", detail: []string{"cannot validate signature on Response", "Invalid Signature"}},
		{name: "two SignedInfos", mutate: func(t *testing.T, doc *etree.Document) {
			sig := signatureOf(doc.Root())
			sig.InsertChildAt(0, mustChild(t, sig, nsDSig, "SignedInfo").Copy())
		}, status: http.StatusForbidden, code: "invalid_response", detail: []string{"cannot validate signature on Response", "Invalid Signature"}},
		{name: "assertion signature moved below the assertion's root", mutate: func(t *testing.T, doc *etree.Document) {
			removeSignature(t, doc.Root())
			a := responseAssertion(t, doc)
			sig := signatureOf(a)
			a.RemoveChild(sig)
			mustChild(t, a, nsAssertion, "Subject").AddChild(sig)
		}, status: http.StatusForbidden, code: "invalid_response", detail: []string{"signature element not present"}},
	})
	ae.stillWorks(t)
}

// ---- assertion shape: confirmation, status, conditions (1.16) ----

func attackAssertionShape(t *testing.T, ae *attackEnv) {
	idp := ae.idpSigner()
	// xmlEdit edits a minted response and signs the Assertion, then the
	// Response, again with the IdP's key.
	xmlEdit := func(edit func(t *testing.T, doc *etree.Document)) func(t *testing.T, raw []byte) []byte {
		return func(t *testing.T, raw []byte) []byte {
			doc := parseXML(t, raw)
			edit(t, doc)
			idp.sign(t, responseAssertion(t, doc))
			idp.sign(t, doc.Root())
			return writeXML(t, doc)
		}
	}
	for _, tc := range []struct {
		name   string
		edit   func(*saml.Assertion)
		xml    func(t *testing.T, raw []byte) []byte
		detail string
	}{
		{name: "control: signed again unchanged", xml: xmlEdit(func(*testing.T, *etree.Document) {})},
		{name: "holder-of-key confirmation only", edit: func(a *saml.Assertion) {
			a.Subject.SubjectConfirmations[0].Method = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
		}, detail: "no bearer SubjectConfirmation"},
		{name: "bearer without SubjectConfirmationData", edit: func(a *saml.Assertion) {
			a.Subject.SubjectConfirmations[0].SubjectConfirmationData = nil
		}, detail: "no SubjectConfirmationData"},
		{name: "no AuthnStatement", edit: func(a *saml.Assertion) { a.AuthnStatements = nil }, detail: "no AuthnStatement"},
		{name: "no Conditions", edit: func(a *saml.Assertion) { a.Conditions = nil }, detail: "no Conditions"},
		{name: "assertion Version 1.1", xml: xmlEdit(func(t *testing.T, doc *etree.Document) {
			responseAssertion(t, doc).CreateAttr("Version", "1.1")
		}), detail: `assertion Version "1.1"`},
		{name: "failure status in a signed Response", xml: xmlEdit(func(t *testing.T, doc *etree.Document) {
			st := mustChild(t, mustChild(t, doc.Root(), nsProtocol, "Status"), nsProtocol, "StatusCode")
			st.CreateAttr("Value", "urn:oasis:names:tc:SAML:2.0:status:Requester")
		}), detail: "status:Requester"},
		{name: "unknown condition", xml: xmlEdit(func(t *testing.T, doc *etree.Document) {
			c := mustChild(t, responseAssertion(t, doc), nsAssertion, "Conditions").CreateElement("x:OnlyOnTuesdays")
			c.CreateAttr("xmlns:x", "urn:example:conditions")
		}), detail: "unrecognised conditions"},
		{name: "BaseID instead of NameID", xml: xmlEdit(func(t *testing.T, doc *etree.Document) {
			subject := mustChild(t, responseAssertion(t, doc), nsAssertion, "Subject")
			n := mustChild(t, subject, nsAssertion, "NameID")
			base := etree.NewElement("saml:BaseID")
			base.CreateAttr("NameQualifier", "acme")
			subject.InsertChildAt(n.Index(), base)
			subject.RemoveChild(n)
		}), detail: "BaseID"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ae := ae.with(t)
			b := newBrowser(t)
			p := ae.startSPLogin(b, "/")
			raw := ae.mint(mintOpts{requestID: p.RequestID, edit: tc.edit})
			if tc.xml != nil {
				raw = tc.xml(t, raw)
			}
			o := ae.postACS(b, acsForm(raw, p.Relay))
			if tc.detail == "" {
				ae.checkOutcome(t, b, o, tamperCase{wantAs: "alice@acme.com"})
				return
			}
			ae.wantRefused(t, b, o, http.StatusForbidden, "invalid_response", tc.detail)
		})
	}
	ae.stillWorks(t)
}

// ---- attribute smuggling through namespace declarations (1.11) ----

// An IdP profile field the attacker controls (a nickname set to the
// victim's address) is signed under its own name; exclusive c14n drops an
// unused xmlns:Name="email" declaration, so adding one keeps the signature
// valid. Read naively it would rename the attribute to email.
func attackAttributeSmuggling(t *testing.T, ae *attackEnv) {
	session := func(nameIDFormat saml.NameIDFormat, nameID string) *saml.Session {
		now := time.Now()
		return &saml.Session{ID: "s", CreateTime: now, ExpireTime: now.Add(time.Hour), Index: "ix",
			NameID: nameID, NameIDFormat: string(nameIDFormat),
			CustomAttributes: []saml.Attribute{stringAttr("nickname", victim), stringAttr("firstName", "Bob")}}
	}
	for _, tc := range []struct {
		name    string
		s       *saml.Session
		smuggle func(t *testing.T, a *etree.Element)
	}{
		{"control: no smuggling", session(saml.PersistentNameIDFormat, "00u1bob"), nil},
		{"xmlns:Name=email on the nickname attribute", session(saml.PersistentNameIDFormat, "00u1bob"), func(t *testing.T, a *etree.Element) {
			for _, st := range a.ChildElements() {
				for _, at := range st.ChildElements() {
					if at.SelectAttrValue("Name", "") == "nickname" {
						at.CreateAttr("xmlns:Name", "email")
					}
				}
			}
		}},
		{"xmlns:Format=emailAddress on a persistent NameID", session(saml.PersistentNameIDFormat, victim), func(t *testing.T, a *etree.Element) {
			n := mustChild(t, mustChild(t, a, nsAssertion, "Subject"), nsAssertion, "NameID")
			n.CreateAttr("xmlns:Format", string(saml.EmailAddressNameIDFormat))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ae := ae.with(t)
			b := newBrowser(t)
			p := ae.startSPLogin(b, "/")
			doc := parseXML(t, ae.mint(mintOpts{requestID: p.RequestID, session: tc.s}))
			if tc.smuggle != nil {
				tc.smuggle(t, responseAssertion(t, doc))
			}
			o := ae.postACS(b, acsForm(writeXML(t, doc), p.Relay))
			// The signature still verifies; the email is still missing.
			ae.wantRefused(t, b, o, http.StatusBadRequest, "no_email")
		})
	}
	ae.stillWorks(t)
}

// ---- header injection through names ----

// A person who may edit their own name at the IdP puts a newline and a
// header in it. The IdP signs it; the gate must neither forward the
// header nor fail every later request of that person.
func attackHeaderInjectionThroughNames(t *testing.T, ae *attackEnv) {
	const who = "nina@acme.com"
	b := newBrowser(t)
	p := ae.startSPLogin(b, "/")
	now := time.Now()
	s := &saml.Session{ID: "s", CreateTime: now, ExpireTime: now.Add(time.Hour), Index: "ix",
		NameID: who, NameIDFormat: string(saml.EmailAddressNameIDFormat),
		CustomAttributes: []saml.Attribute{stringAttr("email", who),
			stringAttr("firstName", "Nina\nX-Forwarded-Role: owner"), stringAttr("lastName", "N\t\x7f")}}
	o := ae.postACS(b, acsForm(ae.mint(mintOpts{requestID: p.RequestID, session: s}), p.Relay))
	if o.status != http.StatusSeeOther || !o.session {
		t.Fatalf("sign-in = %d %+v", o.status, o.log)
	}
	var got map[string]string
	decode(t, b.do(http.MethodGet, ae.gate+"/page", nil, nil), &got)
	if got["X-Forwarded-Role"] != "member" || got["X-Forwarded-Name"] != "Nina X-Forwarded-Role: owner N" {
		t.Fatalf("upstream saw %q", got)
	}
	resp := b.do(http.MethodGet, ae.gate+"/sso/auth", nil, nil)
	readBody(t, resp)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Forwarded-Role") != "member" || len(resp.Header.Values("X-Forwarded-Role")) != 1 {
		t.Fatalf("auth = %d %v", resp.StatusCode, resp.Header)
	}
}

// ---- an encryption-only certificate cannot sign (1.5) ----

func TestAttackEncryptionOnlyCertificate(t *testing.T) {
	_, otherCert := newAttacker(t)
	metadata := func(idpUse string) func(e *env) string {
		return func(e *env) string {
			key := func(use string, c *x509.Certificate) saml.KeyDescriptor {
				return saml.KeyDescriptor{Use: use, KeyInfo: saml.KeyInfo{X509Data: saml.X509Data{
					X509Certificates: []saml.X509Certificate{{Data: base64.StdEncoding.EncodeToString(c.Raw)}}}}}
			}
			md := saml.EntityDescriptor{EntityID: e.idp.EntityID(), IDPSSODescriptors: []saml.IDPSSODescriptor{{
				SSODescriptor: saml.SSODescriptor{RoleDescriptor: saml.RoleDescriptor{
					ProtocolSupportEnumeration: "urn:oasis:names:tc:SAML:2.0:protocol",
					KeyDescriptors:             []saml.KeyDescriptor{key("signing", otherCert), key(idpUse, e.idp.Cert)},
				}},
				SingleSignOnServices: []saml.Endpoint{{Binding: saml.HTTPRedirectBinding, Location: e.idp.SSOURL()}},
			}}}
			out, err := xml.Marshal(md)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(e.dir, "idp-metadata.xml")
			if err := os.WriteFile(path, out, 0o600); err != nil {
				t.Fatal(err)
			}
			return "idp_metadata_file " + path
		}
	}
	t.Run("control: the IdP's certificate marked for signing", func(t *testing.T) {
		ae := startAttackEnvIdP(t, "", metadata("signing"))
		b := newBrowser(t)
		p, form := ae.spForm(b, "/", "alice@acme.com")
		ae.checkOutcome(t, b, ae.postACS(b, acsForm(decodeForm(t, form), p.Relay)), tamperCase{wantAs: "alice@acme.com"})
	})
	t.Run("the IdP's certificate marked for encryption only", func(t *testing.T) {
		ae := startAttackEnvIdP(t, "", metadata("encryption"))
		b := newBrowser(t)
		p, form := ae.spForm(b, "/", "alice@acme.com")
		o := ae.postACS(b, acsForm(decodeForm(t, form), p.Relay))
		ae.wantRefused(t, b, o, http.StatusForbidden, "invalid_response", "Could not verify certificate against trusted certs")
	})
}
