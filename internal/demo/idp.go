package demo

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"unicode"

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
		q := url.Values{"sp": {f.run.GateURL + "/sso/metadata"}, "user": {u.Email}, "relay": {"/"}}
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
		http.Error(w, "GET only", http.StatusMethodNotAllowed)
		return
	}
	f.page(w, http.StatusOK, idpPageData{Home: true, People: f.people(), GateURL: f.run.GateURL})
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
</style></head>
<body>
<header>Demo IdP<span>stands in for Okta or Entra in ssogate demo</span></header>
<main>
{{if .Home}}
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
