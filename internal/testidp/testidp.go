// Package testidp is a small SAML identity provider built from
// crewjam/saml's IdentityProvider, for ssogate's end-to-end tests, its
// benchmarks and `ssogate demo`. It knows a fixed list of people, signs
// Okta-shaped responses (Response and Assertion signed with RSA-SHA256,
// email/firstName/lastName attributes, emailAddress NameID), and learns
// service providers by fetching their metadata. It is not an IdP to run in
// production: anyone who can reach it can sign in as anyone it knows.
package testidp

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"html/template"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crewjam/saml"
	"github.com/crewjam/saml/samlsp"
)

// User is a person the IdP can sign in.
type User struct {
	Email      string
	GivenName  string
	FamilyName string
}

// IdP is the identity provider.
type IdP struct {
	// IDP is the crewjam identity provider; tests may adjust it (Clock,
	// SignatureMethod) before use.
	IDP  *saml.IdentityProvider
	Key  *rsa.PrivateKey
	Cert *x509.Certificate

	// EncryptAssertions encrypts assertions to an SP that publishes an
	// encryption key, as an IdP does once its admin turns encryption on
	// (Okta's "Assertion Encryption"); off, they go in the clear whatever
	// the SP publishes. The algorithms are IDP.AssertionEncrypter's.
	EncryptAssertions atomic.Bool

	mu    sync.Mutex
	users map[string]User
	sps   map[string]*saml.EntityDescriptor // by entity ID
	spURL []string                          // metadata URLs to learn SPs from
	// loggedOut are the NameIDs of the SP-initiated logouts answered.
	loggedOut []string
}

// userCookie remembers who signed in at the IdP (its "IdP session").
const userCookie = "testidp_user"

// New makes an IdP served at baseURL (such as http://127.0.0.1:9000) with
// a fresh RSA-2048 key and self-signed certificate.
func New(baseURL string, users ...User) (*IdP, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "ssogate test IdP"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(10 * 365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(baseURL)
	if err != nil {
		return nil, err
	}
	p := &IdP{Key: key, Cert: cert, users: map[string]User{}, sps: map[string]*saml.EntityDescriptor{}}
	for _, u := range users {
		p.users[u.Email] = u
	}
	p.IDP = &saml.IdentityProvider{
		Key:                     key,
		Certificate:             cert,
		MetadataURL:             *base.JoinPath("metadata"),
		SSOURL:                  *base.JoinPath("sso"),
		ServiceProviderProvider: p,
		SessionProvider:         p,
		AssertionMaker:          assertionMaker{},
	}
	return p, nil
}

// CertificatePEM returns the signing certificate as PEM.
func (p *IdP) CertificatePEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Cert.Raw})
}

// EntityID is the IdP's issuer.
func (p *IdP) EntityID() string { return p.IDP.MetadataURL.String() }

// SSOURL is the IdP's SSO URL.
func (p *IdP) SSOURL() string { return p.IDP.SSOURL.String() }

// AddUser adds or replaces a person.
func (p *IdP) AddUser(u User) {
	p.mu.Lock()
	p.users[u.Email] = u
	p.mu.Unlock()
}

// Users returns the people, by email.
func (p *IdP) Users() []User {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]User, 0, len(p.users))
	for _, u := range p.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Email < out[j].Email })
	return out
}

// TrustSPMetadataURL makes the IdP fetch SP metadata from this URL when it
// meets an SP it does not know yet.
func (p *IdP) TrustSPMetadataURL(u string) {
	p.mu.Lock()
	p.spURL = append(p.spURL, u)
	p.mu.Unlock()
}

// AddSP registers SP metadata directly.
func (p *IdP) AddSP(md *saml.EntityDescriptor) {
	p.mu.Lock()
	p.sps[md.EntityID] = md
	p.mu.Unlock()
}

// AddSPMetadata registers an SP from its metadata document.
func (p *IdP) AddSPMetadata(doc []byte) error {
	md, err := samlsp.ParseMetadata(doc)
	if err != nil {
		return fmt.Errorf("SP metadata: %w", err)
	}
	p.AddSP(md)
	return nil
}

// GetServiceProvider implements saml.ServiceProviderProvider.
func (p *IdP) GetServiceProvider(_ *http.Request, id string) (*saml.EntityDescriptor, error) {
	md, err := p.serviceProvider(id)
	if err != nil || p.EncryptAssertions.Load() {
		return md, err
	}
	return withoutEncryptionKeys(md), nil
}

// serviceProvider returns the SP's metadata as it published it.
func (p *IdP) serviceProvider(id string) (*saml.EntityDescriptor, error) {
	p.mu.Lock()
	md, ok := p.sps[id]
	urls := append([]string(nil), p.spURL...)
	p.mu.Unlock()
	if ok {
		return md, nil
	}
	for _, u := range urls {
		md, err := fetchMetadata(u)
		if err != nil {
			continue
		}
		p.AddSP(md)
		if md.EntityID == id {
			return md, nil
		}
	}
	return nil, fmt.Errorf("unknown service provider %q: %w", id, errNotExist)
}

// withoutEncryptionKeys is the SP's metadata without its encryption keys,
// which crewjam's IdP would otherwise always encrypt to.
func withoutEncryptionKeys(md *saml.EntityDescriptor) *saml.EntityDescriptor {
	out := *md
	out.SPSSODescriptors = append([]saml.SPSSODescriptor(nil), md.SPSSODescriptors...)
	for i := range out.SPSSODescriptors {
		d := &out.SPSSODescriptors[i]
		var keys []saml.KeyDescriptor
		for _, k := range d.KeyDescriptors {
			if k.Use != "encryption" {
				keys = append(keys, k)
			}
		}
		d.KeyDescriptors = keys
	}
	return &out
}

func fetchMetadata(u string) (*saml.EntityDescriptor, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetching %s: %s", u, resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	return samlsp.ParseMetadata(data)
}

// GetSession implements saml.SessionProvider: the person named by the IdP
// cookie, or a page to choose one.
func (p *IdP) GetSession(w http.ResponseWriter, r *http.Request, req *saml.IdpAuthnRequest) *saml.Session {
	if c, err := r.Cookie(userCookie); err == nil {
		if s := p.SessionFor(c.Value); s != nil {
			return s
		}
	}
	p.showLogin(w, r)
	return nil
}

// SessionFor returns an IdP session for a known person, or nil.
func (p *IdP) SessionFor(email string) *saml.Session {
	p.mu.Lock()
	u, ok := p.users[email]
	p.mu.Unlock()
	if !ok {
		return nil
	}
	now := time.Now()
	return &saml.Session{
		ID: randomID(), CreateTime: now, ExpireTime: now.Add(time.Hour), Index: randomID(),
		NameID: u.Email, NameIDFormat: string(saml.EmailAddressNameIDFormat),
		UserName: u.Email, UserGivenName: u.GivenName, UserSurname: u.FamilyName,
		CustomAttributes: []saml.Attribute{
			attr("email", u.Email), attr("firstName", u.GivenName), attr("lastName", u.FamilyName),
		},
	}
}

func attr(name, value string) saml.Attribute {
	return saml.Attribute{Name: name, NameFormat: "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
		Values: []saml.AttributeValue{{Type: "xs:string", Value: value}}}
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("id-%x", b)
}

// assertionMaker makes Okta-shaped assertions: only the custom attributes
// (email, firstName, lastName), not crewjam's eduPerson OIDs.
type assertionMaker struct{}

func (assertionMaker) MakeAssertion(req *saml.IdpAuthnRequest, s *saml.Session) error {
	okta := *s
	okta.UserName, okta.UserGivenName, okta.UserSurname = "", "", ""
	return saml.DefaultAssertionMaker{}.MakeAssertion(req, &okta)
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test IdP: sign in</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}
button{font-size:1rem;margin:.25rem 0;padding:.5rem 1rem}</style></head>
<body><main><h1>ssogate test IdP</h1><p>Choose who to be:</p>
<form method="post" action="login">
<input type="hidden" name="return" value="{{.Return}}">
{{range .Users}}<p><button type="submit" name="email" value="{{.Email}}">{{.GivenName}} {{.FamilyName}} &lt;{{.Email}}&gt;</button></p>{{end}}
</form></main></body></html>
`))

func (p *IdP) showLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginPage.Execute(w, map[string]any{"Return": r.URL.RequestURI(), "Users": p.Users()})
}

// Handler serves /metadata, /sso (SP-initiated), /login (the chooser's
// POST) and /start?sp=ENTITY&user=EMAIL&relay=PATH (IdP-initiated, as an
// Okta dashboard tile).
func (p *IdP) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/metadata", p.IDP.ServeMetadata)
	mux.HandleFunc("/sso", p.IDP.ServeSSO)
	mux.HandleFunc("/slo", p.serveSLO)
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		email := r.PostFormValue("email")
		if p.SessionFor(email) == nil {
			http.Error(w, "unknown user", http.StatusBadRequest)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: userCookie, Value: email, Path: "/", HttpOnly: true})
		ret := r.PostFormValue("return")
		if ret == "" || ret[0] != '/' || (len(ret) > 1 && (ret[1] == '/' || ret[1] == '\\')) {
			ret = "/"
		}
		http.Redirect(w, r, ret, http.StatusSeeOther)
	})
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		s := p.SessionFor(q.Get("user"))
		if s == nil {
			http.Error(w, "unknown user", http.StatusBadRequest)
			return
		}
		req, err := p.IDP.NewIdpInitiatedRequest(r, q.Get("sp"), q.Get("relay"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if err := (assertionMaker{}).MakeAssertion(req, s); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		if err := req.WriteResponse(w); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	return mux
}
