package integration

// Helpers for the attack tests: an environment whose Caddy logs go to a
// file (so each refusal's reason code and private cause can be checked),
// browser flows that stop before the ACS, an in-process minter that signs
// responses with the test IdP's key exactly as the IdP does, and etree
// mutators to tamper with them.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// attackEnv is an env whose Caddy writes JSON logs to a file, so a test
// can check why a sign-in was refused, not only that it was.
type attackEnv struct {
	*env
	logPath string
	logOff  *int64 // shared by the copies made by with
}

// with returns a copy of ae whose helpers report to t (a subtest), so a
// helper failing in a subtest does not call FailNow on its parent.
func (ae *attackEnv) with(t *testing.T) *attackEnv {
	e := *ae.env
	e.t = t
	c := *ae
	c.env = &e
	return &c
}

// startAttackEnv is startEnv with Caddy's default logger sent to a JSON
// file, so that each refusal's reason code and private cause can be read.
func startAttackEnv(t *testing.T, extra string) *attackEnv {
	t.Helper()
	return startAttackEnvIdP(t, extra, nil)
}

// startAttackEnvIdP is startAttackEnv with the IdP settings of the
// saml_sso block written by idpLines (default: idp_sso_url, idp_issuer and
// idp_certificate with the test IdP's certificate file).
func startAttackEnvIdP(t *testing.T, extra string, idpLines func(e *env) string) *attackEnv {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "caddy.log")
	o := envOptions{extra: extra, global: "log {\n\toutput file " + logPath + "\n\tformat json\n\tlevel INFO\n}"}
	if idpLines != nil {
		o.idp = func(e *env, _ string) string { return idpLines(e) }
	}
	ae := &attackEnv{env: startEnvWith(t, o), logPath: logPath, logOff: new(int64)}
	t.Cleanup(func() {
		// SSOGATE_ATTACK_LOGS=1 shows every refusal; a failure shows the
		// last ones.
		n := 30
		if os.Getenv("SSOGATE_ATTACK_LOGS") != "" {
			n = 1 << 20
		} else if !t.Failed() {
			return
		}
		if b, err := os.ReadFile(ae.logPath); err == nil {
			t.Logf("caddy log:\n%s", lastLines(string(b), n))
		}
	})
	return ae
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logEntry is one JSON log line of the gate.
type logEntry struct {
	Logger string `json:"logger"`
	Msg    string `json:"msg"`
	Reason string `json:"reason"`
	Detail string `json:"detail"`
	Email  string `json:"email"`
}

// newLogs returns the log lines written since the last call.
func (ae *attackEnv) newLogs() []logEntry {
	ae.t.Helper()
	f, err := os.Open(ae.logPath)
	if err != nil {
		ae.t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Seek(*ae.logOff, io.SeekStart); err != nil {
		ae.t.Fatal(err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		ae.t.Fatal(err)
	}
	// Only whole lines; a partial one is read next time.
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1]
	} else {
		data = nil
	}
	*ae.logOff += int64(len(data))
	var out []logEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		var le logEntry
		if json.Unmarshal(sc.Bytes(), &le) == nil {
			out = append(out, le)
		}
	}
	return out
}

// skipLogs forgets the log lines written so far.
func (ae *attackEnv) skipLogs() { ae.newLogs() }

// refusal returns the one "sign-in refused" line logged since the last
// call, failing the test if there is not exactly one.
func (ae *attackEnv) refusal() logEntry {
	ae.t.Helper()
	var found []logEntry
	for _, le := range ae.newLogs() {
		if le.Msg == "sign-in refused" {
			found = append(found, le)
		}
	}
	if len(found) != 1 {
		ae.t.Fatalf("want exactly one sign-in refused log line, got %d: %+v", len(found), found)
	}
	return found[0]
}

// outcome is what the gate answered to an ACS post.
type outcome struct {
	status   int
	body     string
	location string
	session  bool // an ssogate_session cookie with a value was set
	log      logEntry
	elapsed  time.Duration
}

// postACS posts form values to the gate's ACS and reads the answer and the
// refusal logged for it (when the answer is not a redirect).
func (ae *attackEnv) postACS(b *browser, v url.Values) outcome {
	ae.t.Helper()
	return ae.postACSBody(b, v.Encode())
}

// postACSBody posts a raw form body to the ACS.
func (ae *attackEnv) postACSBody(b *browser, body string) outcome {
	ae.t.Helper()
	ae.skipLogs()
	start := time.Now()
	resp := b.do(http.MethodPost, ae.gate+"/sso/acs", strings.NewReader(body),
		map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	o := outcome{status: resp.StatusCode, body: readBody(ae.t, resp), location: resp.Header.Get("Location")}
	o.elapsed = time.Since(start)
	for _, c := range resp.Cookies() {
		if c.Name == "ssogate_session" && c.Value != "" && c.MaxAge >= 0 {
			o.session = true
		}
	}
	if o.status != http.StatusSeeOther {
		o.log = ae.refusal()
	}
	return o
}

// wantRefused checks a refused sign-in: the status, the reason code in the
// log, substrings of the private cause (the library's error, logged
// only), the short reason shown to the browser, no session cookie, and a
// gate that still answers this browser with 401.
func (ae *attackEnv) wantRefused(t *testing.T, b *browser, o outcome, status int, code string, detail ...string) {
	t.Helper()
	if o.status != status {
		t.Errorf("ACS answered %d (Location %q), want %d; body: %s", o.status, o.location, status, o.body)
	}
	if o.session {
		t.Errorf("ACS set an ssogate_session cookie on a refused sign-in")
	}
	if o.log.Reason != code {
		t.Errorf("refusal reason = %q (detail %q), want %q", o.log.Reason, o.log.Detail, code)
	}
	for _, d := range detail {
		if !strings.Contains(o.log.Detail, d) {
			t.Errorf("refusal detail %q does not mention %q", o.log.Detail, d)
		}
	}
	if !strings.Contains(o.body, "Sign-in failed") {
		t.Errorf("refusal page lacks its title: %s", o.body)
	}
	assertNoSession(t, ae.env, b)
}

// ---- browser flows that stop before the ACS ----

// pendingLogin is an SP-initiated login started by a browser: the
// AuthnRequest ID tracked in its cookie and the opaque RelayState.
type pendingLogin struct {
	RequestID string
	Relay     string
	IdPURL    string // where the gate sent the browser
}

// startSPLogin starts an SP-initiated login in b for return path rd and
// stops at the redirect to the IdP.
func (ae *attackEnv) startSPLogin(b *browser, rd string) pendingLogin {
	ae.t.Helper()
	resp := b.navigate(ae.gate + "/sso/login?start=sso&rd=" + url.QueryEscape(rd))
	readBody(ae.t, resp)
	if resp.StatusCode != http.StatusFound {
		ae.t.Fatalf("starting SP-initiated login = %d, want 302", resp.StatusCode)
	}
	loc := follow(ae.t, resp)
	u, err := url.Parse(loc)
	if err != nil || !strings.HasPrefix(loc, ae.idpURL+"/sso?") {
		ae.t.Fatalf("login went to %s, want the IdP", loc)
	}
	return pendingLogin{RequestID: authnRequestID(ae.t, u.Query().Get("SAMLRequest")), Relay: u.Query().Get("RelayState"), IdPURL: loc}
}

// authnRequestID decodes an HTTP-Redirect SAMLRequest and returns its ID.
func authnRequestID(t *testing.T, samlRequest string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(samlRequest)
	if err != nil {
		t.Fatal(err)
	}
	inflated, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(raw)), 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	var req struct {
		ID string `xml:"ID,attr"`
	}
	if err := xml.Unmarshal(inflated, &req); err != nil || req.ID == "" {
		t.Fatalf("AuthnRequest without ID (%v): %s", err, inflated)
	}
	return req.ID
}

// spForm runs an SP-initiated login up to the IdP's auto-submitting form
// for email: the real IdP's response, not yet posted.
func (ae *attackEnv) spForm(b *browser, rd, email string) (pendingLogin, samlForm) {
	ae.t.Helper()
	p := ae.startSPLogin(b, rd)
	b.signInAtIdP(ae.idpURL, email)
	resp := b.navigate(p.IdPURL)
	form := parseSAMLForm(ae.t, readBody(ae.t, resp))
	if form.Action != ae.gate+"/sso/acs" || form.Values.Get("RelayState") != p.Relay {
		ae.t.Fatalf("IdP form posts to %s with RelayState %q; want our ACS and %q", form.Action, form.Values.Get("RelayState"), p.Relay)
	}
	return p, form
}

// ---- minting ----

// mintOpts shape a response minted with the test IdP's key.
type mintOpts struct {
	email     string        // the person (a demo user, or made up); default alice@acme.com
	session   *saml.Session // replaces the person's session when set
	requestID string        // InResponseTo; empty for an unsolicited response
	audience  string        // SP entity ID; default our metadata URL
	acs       string        // Recipient and Destination; default our ACS URL
	dest      string        // Destination alone, when set
	clock     *dsig.Clock   // the IdP's clock
	sigMethod string        // signature method; default RSA-SHA256
	key       *rsa.PrivateKey
	cert      *x509.Certificate
	edit      func(*saml.Assertion) // changes the assertion before it is signed
}

// mint returns a response made and signed (Response and Assertion) by a
// crewjam IdentityProvider with the test IdP's key and entity ID, through
// the same MakeAssertion/MakeAssertionEl/MakeResponse calls as the IdP's
// HTTP handlers.
func (ae *attackEnv) mint(o mintOpts) []byte {
	ae.t.Helper()
	if o.email == "" {
		o.email = "alice@acme.com"
	}
	if o.audience == "" {
		o.audience = ae.gate + "/sso/metadata"
	}
	if o.acs == "" {
		o.acs = ae.gate + "/sso/acs"
	}
	if o.key == nil {
		o.key, o.cert = ae.idp.Key, ae.idp.Cert
	}
	idp := &saml.IdentityProvider{
		Key: o.key, Certificate: o.cert,
		MetadataURL: ae.idp.IDP.MetadataURL, SSOURL: ae.idp.IDP.SSOURL,
		Clock: o.clock, SignatureMethod: o.sigMethod,
	}
	now := time.Now()
	if o.clock != nil {
		now = o.clock.Now()
	}
	s := o.session
	if s == nil {
		s = ae.idp.SessionFor(o.email)
		if s == nil {
			s = &saml.Session{ID: "s", CreateTime: now, ExpireTime: now.Add(time.Hour), Index: "ix",
				NameID: o.email, NameIDFormat: string(saml.EmailAddressNameIDFormat),
				CustomAttributes: []saml.Attribute{stringAttr("email", o.email)}}
		}
		s.UserName, s.UserGivenName, s.UserSurname = "", "", "" // Okta-shaped, as testidp does
	}
	req := &saml.IdpAuthnRequest{
		IDP:                     idp,
		HTTPRequest:             httptest.NewRequest(http.MethodGet, ae.idpURL+"/sso", nil),
		Now:                     now,
		ServiceProviderMetadata: &saml.EntityDescriptor{EntityID: o.audience},
		SPSSODescriptor:         &saml.SPSSODescriptor{},
		ACSEndpoint:             &saml.IndexedEndpoint{Binding: saml.HTTPPostBinding, Location: o.acs},
		// The AuthnRequest was issued by the gate, on the real clock.
		Request: saml.AuthnRequest{ID: o.requestID, IssueInstant: time.Now()},
	}
	if err := (saml.DefaultAssertionMaker{}).MakeAssertion(req, s); err != nil {
		ae.t.Fatal(err)
	}
	if o.edit != nil {
		o.edit(req.Assertion)
	}
	if err := req.MakeAssertionEl(); err != nil {
		ae.t.Fatal(err)
	}
	if o.dest != "" {
		req.ACSEndpoint = &saml.IndexedEndpoint{Binding: saml.HTTPPostBinding, Location: o.dest}
	}
	if err := req.MakeResponse(); err != nil {
		ae.t.Fatal(err)
	}
	doc := etree.NewDocument()
	doc.SetRoot(req.ResponseEl)
	out, err := doc.WriteToBytes()
	if err != nil {
		ae.t.Fatal(err)
	}
	return out
}

func stringAttr(name string, values ...string) saml.Attribute {
	a := saml.Attribute{Name: name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic"}
	for _, v := range values {
		a.Values = append(a.Values, saml.AttributeValue{Type: "xs:string", Value: v})
	}
	return a
}

// acsForm is the form an IdP would post.
func acsForm(xmlDoc []byte, relay string) url.Values {
	v := url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(xmlDoc)}}
	if relay != "" {
		v.Set("RelayState", relay)
	}
	return v
}

// ---- etree mutators ----

const (
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
)

func decodeForm(t *testing.T, form samlForm) []byte {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(form.Values.Get("SAMLResponse"))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func parseXML(t *testing.T, b []byte) *etree.Document {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		t.Fatal(err)
	}
	return doc
}

func writeXML(t *testing.T, doc *etree.Document) []byte {
	t.Helper()
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// child returns el's first direct child with that namespace URI and
// local name.
func child(el *etree.Element, ns, tag string) *etree.Element {
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			return c
		}
	}
	return nil
}

func mustChild(t *testing.T, el *etree.Element, ns, tag string) *etree.Element {
	t.Helper()
	c := child(el, ns, tag)
	if c == nil {
		t.Fatalf("no %s child in %s", tag, el.Tag)
	}
	return c
}

// responseAssertion returns the Response's Assertion.
func responseAssertion(t *testing.T, doc *etree.Document) *etree.Element {
	t.Helper()
	return mustChild(t, doc.Root(), nsAssertion, "Assertion")
}

// signatureOf returns el's enveloped (direct child) Signature, or nil.
func signatureOf(el *etree.Element) *etree.Element { return child(el, nsDSig, "Signature") }

// removeSignature deletes el's enveloped Signature.
func removeSignature(t *testing.T, el *etree.Element) {
	t.Helper()
	sig := signatureOf(el)
	if sig == nil {
		t.Fatalf("%s has no Signature to remove", el.Tag)
	}
	el.RemoveChild(sig)
}

// setIdentity rewrites the NameID and the email attribute of an
// assertion element.
func setIdentity(t *testing.T, assertion *etree.Element, email string) {
	t.Helper()
	subject := mustChild(t, assertion, nsAssertion, "Subject")
	mustChild(t, subject, nsAssertion, "NameID").SetText(email)
	n := 0
	for _, st := range assertion.ChildElements() {
		if st.Tag != "AttributeStatement" {
			continue
		}
		for _, a := range st.ChildElements() {
			if a.SelectAttrValue("Name", "") == "email" {
				for _, v := range a.ChildElements() {
					v.SetText(email)
					n++
				}
			}
		}
	}
	if n != 1 {
		t.Fatalf("assertion has %d email values", n)
	}
}

// insertAfterIssuer puts c right after el's Issuer (where SAML wants a
// Signature), or first.
func insertAfterIssuer(el, c *etree.Element) {
	idx := 0
	if iss := child(el, nsAssertion, "Issuer"); iss != nil {
		idx = iss.Index() + 1
	}
	el.InsertChildAt(idx, c)
}

// signer signs with a key and presents certs in KeyInfo.
type signer struct {
	key   *rsa.PrivateKey
	certs [][]byte
}

func (s signer) context(t *testing.T, method string) *dsig.SigningContext {
	t.Helper()
	ctx := dsig.NewDefaultSigningContext(dsig.TLSCertKeyStore(tls.Certificate{Certificate: s.certs, PrivateKey: s.key}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if method == "" {
		method = dsig.RSASHA256SignatureMethod
	}
	if err := ctx.SetSignatureMethod(method); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// sign replaces el's enveloped signature (if any) with a new one by s,
// placed after the Issuer. el must declare the namespaces it uses (crewjam
// output does, on both Response and Assertion).
func (s signer) sign(t *testing.T, el *etree.Element) {
	t.Helper()
	if old := signatureOf(el); old != nil {
		el.RemoveChild(old)
	}
	sig, err := s.context(t, "").ConstructSignature(el, true)
	if err != nil {
		t.Fatal(err)
	}
	insertAfterIssuer(el, sig)
}

// idpSigner is the test IdP's own key and certificate.
func (ae *attackEnv) idpSigner() signer {
	return signer{key: ae.idp.Key, certs: [][]byte{ae.idp.Cert.Raw}}
}

// newAttacker returns a self-signed key pair named like the IdP, made
// once per run (RSA key generation is slow under -race).
func newAttacker(t *testing.T) (*rsa.PrivateKey, *x509.Certificate) {
	t.Helper()
	attackerOnce.Do(func() {
		key, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			attackerErr = err
			return
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(42),
			Subject:      pkix.Name{CommonName: "ssogate test IdP"},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			attackerErr = err
			return
		}
		attackerKey = key
		attackerCert, attackerErr = x509.ParseCertificate(der)
	})
	if attackerErr != nil {
		t.Fatal(attackerErr)
	}
	return attackerKey, attackerCert
}

var (
	attackerOnce sync.Once
	attackerKey  *rsa.PrivateKey
	attackerCert *x509.Certificate
	attackerErr  error
)
