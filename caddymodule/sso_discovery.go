package caddymodule

import (
	"html/template"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/sso"
)

// Home-realm discovery at a shared gate: GET /sso/login asks for the work
// email; POST /sso/login finds the org that verified the email's domain
// and, when that org has SSO enabled, sends the browser to its IdP.
// Otherwise the password form follows, with the same answer whether or
// not the email has an account: discovery tells only what an email's
// domain tells (which org SSO it uses), never who is signed up.

// maxDiscoveryForm bounds the discovery form's body.
const maxDiscoveryForm = 4 << 10

type discoveryPageData struct {
	Action, CSRF, RD, Email, Error string
	// Reauth says a page asked for a recent sign-in: the IdP is asked to
	// authenticate again.
	Reauth bool
}

func (h *SSOHandler) serveDiscovery(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead, http.MethodPost) {
		return nil
	}
	if r.Method != http.MethodPost {
		rd := returnPath(r)
		reauth := r.URL.Query().Get("reauth") == "1"
		if e := h.session(r); e != nil && !reauth {
			http.Redirect(w, r, rd, http.StatusSeeOther)
			return nil
		}
		return h.renderDiscovery(w, r, http.StatusOK, discoveryPageData{RD: rd, Reauth: reauth})
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxDiscoveryForm)
	if err := r.ParseForm(); err != nil {
		writePage(w, http.StatusBadRequest, "Sign-in failed", "The form could not be read.", h.PathPrefix+"/login")
		return nil
	}
	rd := r.PostForm.Get("rd")
	if !sso.SafeReturnPath(rd) {
		rd = "/"
	}
	if err := h.checkForm(r); err != nil {
		return h.renderDiscovery(w, r, http.StatusForbidden, discoveryPageData{RD: rd, Error: err.(*formRefusal).Reason})
	}
	raw := strings.TrimSpace(r.PostForm.Get("email"))
	email, ok := sso.NormalizeEmail(raw)
	if !ok {
		return h.renderDiscovery(w, r, http.StatusBadRequest, discoveryPageData{RD: rd, Email: raw,
			Error: "Enter your work email address, such as jo@example.com."})
	}
	t := h.registry.Discover(email)
	if t != nil && h.ssoEnabled(t) {
		if c := h.logger.Check(zap.DebugLevel, "discovered organization"); c != nil {
			c.Write(zap.String("org", t.Org.Name), zap.String("domain", sso.EmailDomain(email)))
		}
		return h.startLogin(w, r, t, rd, loginOption{force: r.PostForm.Get("reauth") == "1"})
	}
	// No SSO for this domain: the password form, the same for every such
	// email. When an org verified the domain, the form carries it so that
	// the sign-in lands there.
	return h.renderLogin(w, r, http.StatusOK, loginView{t: t, rd: rd, email: email, reauth: r.PostForm.Get("reauth") == "1"})
}

func (h *SSOHandler) renderDiscovery(w http.ResponseWriter, r *http.Request, status int, d discoveryPageData) error {
	tok, err := h.csrfToken(w, r)
	if err != nil {
		return err
	}
	d.Action, d.CSRF = h.PathPrefix+"/login", tok
	// The form's answer redirects to the IdP of whichever org verified
	// the email's domain, an origin not known until then: form-action
	// must let it through (it has no other use here; the page has no
	// injected markup for it to stop).
	setPageHeadersTo(w, "'self' https: http:")
	w.WriteHeader(status)
	return discoveryPage.Execute(w, d)
}

var discoveryPage = template.Must(template.New("discovery").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.6rem}
button{display:block;width:100%;box-sizing:border-box;text-align:center;background:#2557d6;color:#fff;padding:.7rem 1.2rem;border-radius:.4rem;border:0;font-size:1rem;cursor:pointer}
button:focus,input:focus{outline:3px solid #f4b400;outline-offset:2px}
label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.55rem;font-size:1rem;border:1px solid #767676;border-radius:.3rem}
.error{background:#fdecea;border-left:4px solid #b3261e;padding:.6rem .8rem}
.note{color:#555;font-size:.9rem}
</style></head>
<body><main>
<h1>Sign in</h1>
{{if .Reauth}}<p class="note" id="reauth">For your security, sign in again to continue.</p>{{end}}
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}" id="discovery-form">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<input type="hidden" name="rd" value="{{.RD}}">
{{if .Reauth}}<input type="hidden" name="reauth" value="1">{{end}}
<label for="email">Work email</label>
<input id="email" name="email" type="email" autocomplete="username" value="{{.Email}}" required autofocus>
<p class="note">If your organization uses single sign-on, you continue at its identity provider.</p>
<p><button type="submit">Continue</button></p>
</form>
</main></body></html>
`))
