package caddymodule

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/tenant"
)

// The logout endpoint (<PathPrefix>/logout and <PathPrefix>/o/<org>/logout)
// serves three callers:
//
//   - the browser, ending its own session: GET shows a page with one
//     button, which posts the form (CSRF token, this site's Origin) that
//     ends the session, so that no other site can sign the person out.
//     When the session came from the org's IdP and the IdP has a single
//     logout endpoint, the browser goes on to the IdP with a signed
//     LogoutRequest, tracked like a login so that only the IdP's answer
//     to it is taken;
//   - the IdP, sending a LogoutRequest (logout started at the IdP or at
//     another of its apps): it is validated, the sessions it names end in
//     every process, and the IdP gets a signed LogoutResponse on the
//     binding the request came with;
//   - the IdP, answering our LogoutRequest with a LogoutResponse: it is
//     checked, and the browser gets the signed-out page (or its return
//     path).
//
// t is the org of the endpoint: nil for <PathPrefix>/logout on a shared
// gate, which serves only browsers.
func (h *SSOHandler) serveLogout(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, s site) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return nil
	}
	if r.Method == http.MethodPost {
		r.Body = http.MaxBytesReader(w, r.Body, sso.MaxLogoutBody)
	}
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writePage(w, http.StatusRequestEntityTooLarge, "Sign-out failed", "The logout message is too large.", "")
			return nil
		}
		writePage(w, http.StatusBadRequest, "Sign-out failed", "The form could not be read.", "")
		return nil
	}
	switch {
	case r.Form.Get("SAMLRequest") != "":
		return h.idpLogoutRequest(w, r, t, s)
	case r.Form.Get("SAMLResponse") != "":
		return h.idpLogoutResponse(w, r, t, s)
	}
	return h.browserLogout(w, r)
}

// browserLogout ends the browser's session, and its IdP session too when
// the IdP has a single logout endpoint: on a POST of the sign-out form.
// A GET, or a form that fails its check, changes nothing and shows the
// form.
func (h *SSOHandler) browserLogout(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodPost {
		return h.renderLogout(w, r, http.StatusOK, "")
	}
	if err := h.checkForm(r); err != nil {
		ref := err.(*formRefusal)
		h.logger.Warn("sign-out refused", zap.String("reason", ref.Code), zap.String("remote_ip", clientIP(r)))
		return h.renderLogout(w, r, http.StatusForbidden, ref.Reason)
	}
	origin := h.origin(r)
	secure := origin.Scheme == "https"
	rd := r.Form.Get("rd")
	if !sso.SafeReturnPath(rd) {
		rd = ""
	}
	var out *sso.OutgoingLogout
	nonce := ""
	if c := cookieValue(r.Header, gate.CookieName); c != "" {
		if e, err := h.sessions.Lookup(r.Context(), c, h.sessionOrg()); err == nil {
			h.logger.Info("sign-out", zap.String("org", e.Identity.OrgName), zap.String("email", e.Identity.Email))
			out, nonce = h.startIdPLogout(w, r, e, rd)
		}
		if err := h.sessions.End(r.Context(), c); err != nil {
			return err
		}
	}
	clearSessionCookie(w, secure)
	switch {
	case out != nil && out.Redirect != nil:
		http.Redirect(w, r, out.Redirect.String(), http.StatusFound)
	case out != nil:
		writeAutoPost(w, out.Form, nonce)
	case rd != "":
		http.Redirect(w, r, rd, http.StatusSeeOther)
	default:
		writePage(w, http.StatusOK, "Signed out", "You are signed out.", h.PathPrefix+"/login")
	}
	return nil
}

type logoutPageData struct {
	Action, CSRF, RD, Email, Org, Error string
}

// renderLogout shows the sign-out form, or says that the browser is
// signed out when it has no session.
func (h *SSOHandler) renderLogout(w http.ResponseWriter, r *http.Request, status int, msg string) error {
	e := h.session(r)
	if e == nil {
		writePage(w, http.StatusOK, "Signed out", "You are signed out.", h.PathPrefix+"/login")
		return nil
	}
	tok, err := h.csrfToken(w, r)
	if err != nil {
		return err
	}
	rd := r.Form.Get("rd")
	if !sso.SafeReturnPath(rd) {
		rd = ""
	}
	// The gate's logout ends the browser's session whichever logout
	// endpoint (the gate's or an org's) showed the form.
	d := logoutPageData{Action: h.PathPrefix + "/logout", CSRF: tok, RD: rd, Email: e.Identity.Email, Org: e.Identity.OrgName, Error: msg}
	// Signing out may go on to the org's IdP (single logout), an origin
	// browsers hold the form's redirect to.
	setPageHeadersTo(w, "'self' https: http:")
	w.WriteHeader(status)
	return logoutPage.Execute(w, d)
}

var logoutPage = template.Must(template.New("logout").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign out</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.6rem}
button{display:block;width:100%;box-sizing:border-box;text-align:center;background:#2557d6;color:#fff;padding:.7rem 1.2rem;border-radius:.4rem;border:0;font-size:1rem;cursor:pointer}
button:focus{outline:3px solid #f4b400;outline-offset:2px}
.error{background:#fdecea;border-left:4px solid #b3261e;padding:.6rem .8rem}
</style></head>
<body><main>
<h1>Sign out</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
<p>You are signed in as <strong id="email">{{.Email}}</strong> in <strong>{{.Org}}</strong>.</p>
<form method="post" action="{{.Action}}" id="logout-form">
<input type="hidden" name="csrf" value="{{.CSRF}}">
{{if .RD}}<input type="hidden" name="rd" value="{{.RD}}">{{end}}
<p><button type="submit" id="signout">Sign out</button></p>
</form>
</main></body></html>
`))

// startIdPLogout makes the LogoutRequest that ends the IdP session of a
// SAML session, tracked in this browser; nil when there is none to make.
func (h *SSOHandler) startIdPLogout(w http.ResponseWriter, r *http.Request, e *gate.Entry, rd string) (*sso.OutgoingLogout, string) {
	t := h.registry.ByID(e.Identity.OrgID)
	if t == nil || e.NameID == "" || !h.ssoEnabled(t) {
		return nil, ""
	}
	p, err := h.provider(r.Context(), t, h.loginSite(t))
	if err != nil || !p.HasSingleLogout() {
		return nil, ""
	}
	relay, err := sso.NewRelayState()
	if err != nil {
		return nil, ""
	}
	nonce := newNonce()
	origin := h.origin(r)
	out, err := p.StartLogout(origin, e.NameID, "", e.SessionIndex, relay, nonce)
	if err != nil || out == nil {
		if err != nil {
			h.logger.Warn("single logout: making the LogoutRequest", zap.String("org", t.Org.Name), zap.Error(err))
		}
		return nil, ""
	}
	secure := origin.Scheme == "https"
	h.tracker.Prune(w, r, h.PathPrefix, secure)
	pending := sso.Pending{RequestID: out.RequestID, ReturnPath: rd, Org: t.Org.Name, Logout: true}
	if err := h.tracker.Track(w, relay, pending, secure, h.PathPrefix); err != nil {
		h.logger.Warn("single logout: tracking the LogoutRequest", zap.Error(err))
		return nil, ""
	}
	return out, nonce
}

// idpLogoutRequest validates the IdP's LogoutRequest, ends the sessions it
// names and answers it.
func (h *SSOHandler) idpLogoutRequest(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, s site) error {
	if t == nil {
		writePage(w, http.StatusBadRequest, "Sign-out failed",
			"This gate serves several organizations: the identity provider sends logout requests to "+h.PathPrefix+"/o/<organization>/logout.", "")
		return nil
	}
	if !h.ssoEnabled(t) {
		return h.refuseLogout(w, r, t, sso.Refuse(sso.CodeNotEnabled, "single sign-on is not enabled for this organization"))
	}
	p, err := h.provider(r.Context(), t, s)
	if err != nil {
		return err
	}
	origin := h.origin(r)
	req, err := p.ParseLogoutRequest(r, origin)
	if err != nil {
		return h.refuseLogout(w, r, t, err)
	}
	ended, err := h.store.EndSessionsByNameID(r.Context(), t.Org.ID, req.NameID, req.SessionIndexes)
	partial := err != nil
	if err != nil {
		h.logger.Error("single logout: ending sessions", zap.String("org", t.Org.Name), zap.Error(err))
	}
	h.logger.Info("single logout from the IdP", zap.String("org", t.Org.Name), zap.String("name_id", req.NameID),
		zap.Int("sessions_ended", ended), zap.String("binding", req.Binding))
	// This browser's session is among them when it is the person's; a
	// cookie whose session is gone is cleared.
	if c := cookieValue(r.Header, gate.CookieName); c != "" {
		if _, err := h.sessions.Lookup(r.Context(), c, h.sessionOrg()); errors.Is(err, gate.ErrNoSession) {
			clearSessionCookie(w, origin.Scheme == "https")
		}
	}
	nonce := newNonce()
	u, form, err := p.AnswerLogout(origin, req, partial, nonce)
	if err != nil {
		return err
	}
	switch {
	case u != nil:
		http.Redirect(w, r, u.String(), http.StatusFound)
	case form != nil:
		writeAutoPost(w, form, nonce)
	default:
		writePage(w, http.StatusOK, "Signed out", "You are signed out.", h.PathPrefix+"/login")
	}
	return nil
}

// idpLogoutResponse checks the IdP's answer to the LogoutRequest this
// browser's logout sent. The local session ended before; this only says
// whether the IdP's did too.
func (h *SSOHandler) idpLogoutResponse(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, s site) error {
	origin := h.origin(r)
	relay := r.Form.Get("RelayState")
	pending, err := h.tracker.Resolve(r, relay)
	if err != nil || !pending.Logout || t == nil || pending.Org != t.Org.Name {
		h.logger.Warn("single logout answer refused", zap.String("reason", "untracked"), zap.String("remote_ip", clientIP(r)))
		writePage(w, http.StatusBadRequest, "Signed out",
			"You are signed out here. This answer from the identity provider matches no sign-out started in this browser.", h.PathPrefix+"/login")
		return nil
	}
	h.tracker.Forget(w, relay, h.PathPrefix, origin.Scheme == "https")
	p, err := h.provider(r.Context(), t, s)
	if err == nil {
		err = p.ParseLogoutResponse(r, origin, pending.RequestID)
	}
	if err != nil {
		var ref *sso.Refusal
		if !errors.As(err, &ref) {
			return err
		}
		fields := []zap.Field{zap.String("org", t.Org.Name), zap.String("reason", ref.Code), zap.String("remote_ip", clientIP(r))}
		if ref.Err != nil {
			fields = append(fields, zap.String("detail", ref.Err.Error()))
		}
		h.logger.Warn("single logout answer refused", fields...)
		writePage(w, http.StatusOK, "Signed out",
			"You are signed out here, but the identity provider did not confirm that it ended its own session ("+ref.Reason+"). Close the browser to be sure.",
			h.PathPrefix+"/login")
		return nil
	}
	h.logger.Info("single logout completed at the IdP", zap.String("org", t.Org.Name))
	if pending.ReturnPath != "" {
		http.Redirect(w, r, pending.ReturnPath, http.StatusSeeOther)
		return nil
	}
	writePage(w, http.StatusOK, "Signed out", "You are signed out, here and at your identity provider.", h.PathPrefix+"/login")
	return nil
}

// refuseLogout logs a refused logout message once, with its reason code
// and private cause, and shows a short reason.
func (h *SSOHandler) refuseLogout(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, err error) error {
	var ref *sso.Refusal
	if !errors.As(err, &ref) {
		return err
	}
	fields := []zap.Field{zap.String("org", t.Org.Name), zap.String("reason", ref.Code), zap.String("remote_ip", clientIP(r))}
	if ref.Err != nil {
		fields = append(fields, zap.String("detail", ref.Err.Error()))
	}
	h.logger.Warn("single logout refused", fields...)
	writePage(w, ref.Status(), "Sign-out failed", sentence(ref.Reason), "")
	return nil
}

func clearSessionCookie(w http.ResponseWriter, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: gate.CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

// newNonce is a fresh CSP nonce.
func newNonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawStdEncoding.EncodeToString(b[:])
}

// writeAutoPost serves a page that posts a SAML message to the IdP (the
// HTTP-POST binding): its one script runs by nonce, and the form may go
// only to an http(s) URL.
func writeAutoPost(w http.ResponseWriter, page []byte, nonce string) {
	hdr := w.Header()
	hdr.Set("Content-Type", "text/html; charset=utf-8")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; form-action https: http:; base-uri 'none'; frame-ancestors 'none'")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Signing out…</title></head><body>"))
	_, _ = w.Write(page)
	_, _ = w.Write([]byte("</body></html>\n"))
}
