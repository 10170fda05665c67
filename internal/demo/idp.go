package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
	"github.com/ssogate/ssogate/internal/testidp"
)

// idpCookie is the test IdP's session cookie (see internal/testidp).
const idpCookie = "testidp_user"

// idpFront puts a demo face on the test IdP: a home page with "dashboard
// tiles" (IdP-initiated sign-in), a chooser that says who each person is,
// and a way to add someone. Its IdP session lasts one sign-in, so that
// every sign-in asks who to be: a demo is for trying several people.
type idpFront struct {
	idp   *testidp.IdP
	inner http.Handler
	run   *Running
}

func newIdPFront(idp *testidp.IdP, run *Running) http.Handler {
	return &idpFront{idp: idp, inner: idp.Handler(), run: run}
}

func (f *idpFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	switch r.URL.Path {
	case "/":
		f.home(w, r)
	case "/certificate.pem":
		f.certificate(w, r)
	case "/sso":
		if _, err := r.Cookie(idpCookie); err != nil {
			f.chooser(w, r)
			return
		}
		// One sign-in per choice: the next login asks again.
		http.SetCookie(w, &http.Cookie{Name: idpCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
		f.inner.ServeHTTP(w, r)
	case "/login":
		if r.Method == http.MethodPost {
			f.maybeAdd(r)
		}
		f.inner.ServeHTTP(w, r)
	default:
		f.inner.ServeHTTP(w, r)
	}
}

// idpPerson is a person as the IdP pages show them.
type idpPerson struct {
	Email, Name, Note, Start string
}

func (f *idpFront) people() []idpPerson {
	notes := map[string]string{}
	var out []idpPerson
	for _, p := range People {
		notes[p.Email] = p.Note
	}
	add := func(u testidp.User) {
		note, ok := notes[u.Email]
		if !ok {
			note = "added here: not a member yet, so a first sign-in makes them one (when the email is @" + Domain + ")"
		}
		q := url.Values{"sp": {f.run.spEntityID()}, "user": {u.Email}, "relay": {"/"}}
		out = append(out, idpPerson{Email: u.Email, Name: strings.TrimSpace(u.GivenName + " " + u.FamilyName),
			Note: note, Start: "/start?" + q.Encode()})
	}
	known := map[string]bool{}
	byEmail := map[string]testidp.User{}
	for _, u := range f.idp.Users() {
		byEmail[u.Email] = u
	}
	for _, p := range People { // the demo people first, in their order
		if u, ok := byEmail[p.Email]; ok {
			add(u)
			known[u.Email] = true
		}
	}
	for _, u := range f.idp.Users() {
		if !known[u.Email] {
			add(u)
		}
	}
	return out
}

func (f *idpFront) home(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	d := idpPageData{Home: true, People: f.people(), GateURL: f.run.GateURL, Ready: f.run.Ready,
		SSOURL: f.run.IdPSSOURL, Issuer: f.run.IdPIssuer, CertPEM: f.run.IdPCertificatePEM,
		MetadataURL: f.run.IdPMetadataURL, Fingerprint: fingerprint(f.run.idp.Cert.Raw),
		CertNotAfter: f.run.idp.Cert.NotAfter.UTC().Format("2 January 2006"),
		OwnerEmail:   f.run.OwnerEmail, OwnerLoginURL: f.run.OwnerLoginURL}
	if conn, domain, err := f.run.setup(r.Context()); err == nil {
		d.SSOEnabled = conn != nil && conn.State == storage.ConnectionEnabled
		d.DomainVerified = domain == storage.DomainVerified
	}
	f.page(w, http.StatusOK, d)
}

// certificate serves the IdP's signing certificate as a download, as
// Okta's "Download certificate" does.
func (f *idpFront) certificate(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Header().Set("Content-Disposition", `attachment; filename="demo-idp-certificate.pem"`)
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, f.run.IdPCertificatePEM)
}

// fingerprint is a certificate's SHA-256 fingerprint as the SSO settings
// show it: upper-case hex pairs joined by colons.
func fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

func (f *idpFront) chooser(w http.ResponseWriter, r *http.Request) {
	f.page(w, http.StatusOK, idpPageData{Return: r.URL.RequestURI(), People: f.people(), GateURL: f.run.GateURL})
}

func (f *idpFront) page(w http.ResponseWriter, status int, d idpPageData) {
	d.Domain = Domain
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_ = idpTemplate.Execute(w, d)
}

// maybeAdd adds the person of the chooser's "someone else" form.
func (f *idpFront) maybeAdd(r *http.Request) {
	r.Body = http.MaxBytesReader(nil, r.Body, 16<<10)
	email := strings.ToLower(strings.TrimSpace(r.PostFormValue("email")))
	if r.PostFormValue("add") == "" || !plausibleEmail(email) {
		return
	}
	r.PostForm.Set("email", email)
	r.Form.Set("email", email)
	if f.idp.SessionFor(email) != nil {
		return
	}
	local, _, _ := strings.Cut(email, "@")
	given := clean(r.PostFormValue("given"), 60)
	family := clean(r.PostFormValue("family"), 60)
	if given == "" {
		given = strings.ToUpper(local[:1]) + local[1:]
	}
	if family == "" {
		family = "Example"
	}
	f.idp.AddUser(testidp.User{Email: email, GivenName: given, FamilyName: family})
}

func plausibleEmail(s string) bool {
	local, domain, ok := strings.Cut(s, "@")
	return ok && local != "" && strings.Contains(domain, ".") && len(s) <= 254 &&
		!strings.ContainsFunc(s, func(r rune) bool {
			return unicode.IsSpace(r) || unicode.IsControl(r) || r == '<' || r == '>' || r == '"'
		})
}

func clean(s string, max int) string {
	s = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s))
	if len(s) > max {
		s = s[:max]
	}
	return s
}

type idpPageData struct {
	Home    bool
	Return  string
	People  []idpPerson
	GateURL string
	Domain  string
	// The home page's setup card.
	Ready                                bool
	SSOURL, Issuer, CertPEM, MetadataURL string
	Fingerprint, CertNotAfter            string
	OwnerEmail, OwnerLoginURL            string
	SSOEnabled, DomainVerified           bool
}

var idpTemplate = template.Must(template.New("idp").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .Home}}Demo IdP{{else}}Demo IdP: choose who to be{{end}}</title>
<style>
*{box-sizing:border-box}
body{margin:0;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",sans-serif;color:#1b1b1b;background:#f3f1ec}
header{background:#3b2f63;color:#fff;padding:.75rem 1.5rem;font-weight:700}
header span{font-weight:400;color:#e4def7;margin-left:.5rem}
main{max-width:36rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.5rem;margin:.5rem 0 1rem}
.person{display:block;width:100%;text-align:left;background:#fff;border:1px solid #cfc8e0;border-radius:.5rem;padding:.75rem 1rem;margin:.6rem 0;font:inherit;color:inherit;cursor:pointer;text-decoration:none}
.person:hover{border-color:#3b2f63;background:#faf9fd}
.person:focus,input:focus,button:focus{outline:3px solid #f4b400;outline-offset:2px}
.person strong{display:block;font-size:1.05rem}
.person .email{color:#333}
.person .note{display:block;color:#555;font-size:.9rem}
fieldset{border:1px solid #cfc8e0;border-radius:.5rem;padding:.75rem 1rem;margin-top:1.5rem;background:#fff}
legend{font-weight:600;padding:0 .3rem}
label{display:block;margin:.5rem 0 .15rem;font-size:.95rem}
input{width:100%;padding:.45rem;font-size:1rem;border:1px solid #767676;border-radius:.3rem}
.add{margin-top:.8rem;background:#3b2f63;color:#fff;border:0;border-radius:.35rem;padding:.5rem 1rem;font-size:1rem;cursor:pointer}
.note2{color:#555;font-size:.9rem}
.card{background:#fff;border:1px solid #cfc8e0;border-radius:.5rem;padding:.75rem 1rem;margin:1rem 0}
.card h2{font-size:1.15rem;margin:.2rem 0 .5rem}
dl{margin:.5rem 0}
dt{font-weight:600;margin-top:.6rem}
dd{margin:.1rem 0 0}
code{font:.9em ui-monospace,"DejaVu Sans Mono",monospace;word-break:break-all}
textarea{width:100%;font:.78rem/1.35 ui-monospace,"DejaVu Sans Mono",monospace;border:1px solid #767676;border-radius:.3rem;padding:.4rem;white-space:pre;overflow-x:auto}
.fp{display:block;font-size:.8rem;color:#444;word-break:break-all}
.status{border-left:4px solid #f4b400;background:#fff6d6;padding:.5rem .75rem}
.status.done{border-color:#0b6b2e;background:#e7f5ec}
a{color:#3b2f63}
a:focus{outline:3px solid #f4b400;outline-offset:2px}
</style></head>
<body>
<header>Demo IdP<span>stands in for Okta or Entra in ssogate demo</span></header>
<main>
{{if .Home}}
<section class="card" id="setup" aria-labelledby="setup-title">
<h2 id="setup-title">Set up SSO in ssogate</h2>
{{if .Ready}}<p class="status done">The demo org's SSO is set up already (<code>ssogate demo --ready</code>): its Caddyfile names this IdP.</p>
{{else if and .SSOEnabled .DomainVerified}}<p class="status done">The demo org's SSO is enabled and {{.Domain}} is verified: the people below sign in through this IdP.</p>
{{else}}<p class="status">The demo org's SSO is not enabled yet{{if not .DomainVerified}}, nor is {{.Domain}} verified{{end}}: until its owner sets it up, nobody signs in through this IdP.
Sign in as the owner{{if .OwnerEmail}}, {{.OwnerEmail}}, with the password the terminal shows,{{end}} at <a href="{{.OwnerLoginURL}}">{{.OwnerLoginURL}}</a> and paste these values on the 2FA &amp; SSO page.</p>
{{end}}
<p>What an app's SSO settings ask of an IdP, as Okta's "View SAML setup instructions" shows it:</p>
<dl>
<dt>Authentication URL <span class="note2">(Identity Provider Single Sign-On URL)</span></dt>
<dd><code id="idp-sso-url">{{.SSOURL}}</code></dd>
<dt>Issuer URL <span class="note2">(Identity Provider Issuer, its entity ID)</span></dt>
<dd><code id="idp-issuer">{{.Issuer}}</code></dd>
<dt><label for="idp-certificate">Public Certificate</label> <span class="note2">(X.509, signs the responses)</span></dt>
<dd><textarea id="idp-certificate" rows="8" readonly spellcheck="false">{{.CertPEM}}</textarea>
<a id="certificate-download" href="/certificate.pem" download>Download the certificate</a> <span class="note2">(valid until {{.CertNotAfter}})</span>
<span class="fp">SHA-256 fingerprint: {{.Fingerprint}}</span></dd>
<dt>Or the IdP metadata</dt>
<dd><a id="idp-metadata" href="{{.MetadataURL}}">{{.MetadataURL}}</a></dd>
</dl>
<p class="note2">This IdP reads the gate's SP metadata itself, so there is no postback URL or entity ID to copy back here; a real IdP needs them, and the SSO settings page shows them.</p>
</section>
<h1>Your apps</h1>
<p>Like a tile on an Okta dashboard, each link below signs in to the demo app from the IdP's side (IdP-initiated), as that person.</p>
{{range .People}}<a class="person" href="{{.Start}}"><strong>Demo Analytics as {{.Name}}</strong><span class="email">{{.Email}}</span><span class="note">{{.Note}}</span></a>
{{end}}
<p class="note2">Or open the app itself, <a href="{{.GateURL}}/">{{.GateURL}}/</a>, and sign in from there (SP-initiated).</p>
{{else}}
<h1>Choose who to be</h1>
<p>The app sent you here to sign in. A real IdP would ask for a password; this one lets you pick.</p>
<form method="post" action="login" id="choose">
<input type="hidden" name="return" value="{{.Return}}">
{{range .People}}<button class="person" type="submit" name="email" value="{{.Email}}"><strong>{{.Name}}</strong><span class="email">{{.Email}}</span><span class="note">{{.Note}}</span></button>
{{end}}</form>
<form method="post" action="login" id="someone-else">
<input type="hidden" name="return" value="{{.Return}}">
<input type="hidden" name="add" value="1">
<fieldset><legend>Someone else</legend>
<p class="note2">Emails @{{.Domain}} are the demo org's; any other domain is refused by the gate, as it is not claimed.</p>
<label for="new-email">Email</label><input id="new-email" name="email" type="email" required placeholder="you@{{.Domain}}">
<label for="new-given">First name</label><input id="new-given" name="given" autocomplete="off">
<label for="new-family">Last name</label><input id="new-family" name="family" autocomplete="off">
<button class="add" type="submit">Sign in as this person</button>
</fieldset></form>
{{end}}
</main></body></html>
`))

// spEntityID is the SP entity ID the demo org's IdP answers: the gate's
// own with the Caddyfile's IdP (Options.Ready), else the org's.
func (r *Running) spEntityID() string {
	if r.Ready {
		return r.GateURL + "/sso/metadata"
	}
	return r.GateURL + tenant.OrgPath("/sso", Org) + "/metadata"
}
