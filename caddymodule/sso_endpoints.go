package caddymodule

import (
	"crypto/x509"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// serveEndpoint serves the handler's own endpoints; sub is the path after
// PathPrefix.
func (h *SSOHandler) serveEndpoint(w http.ResponseWriter, r *http.Request, sub string) error {
	w.Header().Set("Cache-Control", "no-store")
	// Every endpoint but the two that only read the session, and the
	// health probe, builds URLs or checks origins. /sso/auth is also
	// asked by proxies (nginx auth_request) with a Host of their own,
	// /sso/health by load balancers by IP.
	if sub != "/userinfo" && sub != "/auth" && sub != "/health" && !h.hostTrusted(w, r) {
		return nil
	}
	switch sub {
	case "/metadata", "/acs":
		if h.shared {
			writePage(w, http.StatusNotFound, "Not found",
				"This gate serves several organizations; each has its own endpoints under "+h.PathPrefix+"/o/<organization>/.", "")
			return nil
		}
		if sub == "/metadata" {
			return h.serveMetadata(w, r, h.pinned(), siteLegacy)
		}
		return h.serveACS(w, r, h.pinned(), siteLegacy)
	case "/login", "/login/":
		return h.serveLogin(w, r)
	case "/logout":
		var t *tenant.Tenant
		if !h.shared {
			t = h.pinned()
		}
		return h.serveLogout(w, r, t, siteLegacy)
	case "/userinfo":
		return h.serveUserinfo(w, r)
	case "/auth":
		return h.serveAuth(w, r)
	case "/health":
		return h.serveHealth(w, r)
	case "/password":
		return h.servePassword(w, r)
	}
	if sub == "/admin" || strings.HasPrefix(sub, "/admin/") {
		return h.serveAdmin(w, r, sub[len("/admin"):])
	}
	if org, rest, ok := orgEndpoint(sub); ok {
		t, err := h.tenantNamed(r.Context(), org)
		if err != nil {
			return err
		}
		if t == nil {
			notServed(w)
			return nil
		}
		switch rest {
		case "/metadata":
			return h.serveMetadata(w, r, t, siteOrg)
		case "/acs":
			return h.serveACS(w, r, t, siteOrg)
		case "/logout":
			return h.serveLogout(w, r, t, siteOrg)
		}
		if id, ok := strings.CutPrefix(rest, "/test/"); ok {
			return h.serveTest(w, r, t, id)
		}
	}
	writePage(w, http.StatusNotFound, "Not found", "There is nothing here.", "")
	return nil
}

func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	writePage(w, http.StatusMethodNotAllowed, "Method not allowed", r.Method+" is not allowed here.", "")
	return false
}

// serveMetadata serves the SP metadata of an org's site. It needs no IdP:
// an admin downloads it before setting the IdP up.
func (h *SSOHandler) serveMetadata(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, s site) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return nil
	}
	md, err := h.spMetadata(r.Context(), t, s, h.siteOrigin(r))
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	_, err = w.Write(md)
	return err
}

// serveLogin starts SP-initiated login, or shows the login page: on a
// pinned gate "Continue with SSO" and the password form, on a shared gate
// the work-email field of home-realm discovery.
func (h *SSOHandler) serveLogin(w http.ResponseWriter, r *http.Request) error {
	if h.shared {
		return h.serveDiscovery(w, r)
	}
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return nil
	}
	rd := returnPath(r)
	t := h.pinned()
	enabled := h.ssoEnabled(t)
	// reauth: a page needs a recent sign-in; a session does not do.
	reauth := r.URL.Query().Get("reauth") == "1"
	// With reauth the page is shown even under Require SSO: an owner may
	// prove themselves with the password (break-glass) as well.
	if enabled && (r.URL.Query().Get("start") == "sso" || h.policy(t).RequireSSO && !reauth) {
		return h.startLogin(w, r, t, rd, loginOption{force: reauth})
	}
	if e := h.session(r); e != nil && !reauth {
		http.Redirect(w, r, rd, http.StatusSeeOther)
		return nil
	}
	msg := ""
	if !enabled && r.URL.Query().Get("start") == "sso" {
		msg = "Single sign-on is not set up for this organization yet."
	} else if r.URL.Query().Get("ended") == "1" {
		msg = sessionEndedMessage
	}
	return h.renderLogin(w, r, http.StatusOK, loginView{t: t, rd: rd, msg: msg, sso: enabled, reauth: reauth})
}

// loginOption is how a login starts.
type loginOption struct {
	// test, when set, is the test sign-in this login runs.
	test string
	// force asks the IdP to authenticate again (a recent sign-in is
	// needed).
	force bool
}

// startLogin redirects the browser to the org's IdP with a fresh
// AuthnRequest whose ID is tied to this browser and to the org.
func (h *SSOHandler) startLogin(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, rd string, opt loginOption) error {
	s := h.loginSite(t)
	test := opt.test
	if test != "" {
		s = siteOrg
		if h.staticFor(t) != nil {
			s = siteLegacy
		}
	}
	p, err := h.provider(r.Context(), t, s)
	if err != nil {
		return fmt.Errorf("org %s: %w", t.Org.Name, err)
	}
	relay, err := sso.NewRelayState()
	if err != nil {
		return err
	}
	origin := h.origin(r)
	u, reqID, err := p.StartLogin(origin, relay, opt.force)
	if err != nil {
		return err
	}
	h.tracker.Prune(w, r, h.PathPrefix, origin.Scheme == "https")
	pending := sso.Pending{RequestID: reqID, ReturnPath: rd, Org: t.Org.Name, Test: test}
	if err := h.tracker.Track(w, relay, pending, origin.Scheme == "https", h.PathPrefix); err != nil {
		return err
	}
	http.Redirect(w, r, u.String(), http.StatusFound)
	return nil
}

// serveACS validates the IdP's response for an org's site and starts a
// session in that org, or reports a test sign-in.
func (h *SSOHandler) serveACS(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, s site) error {
	if r.Method == http.MethodGet && hasHeld(r) {
		// After a held sign-in (sso_switch.go).
		return h.serveHeld(w, r, t, s)
	}
	defer observeACS(time.Now())
	if !allowMethods(w, r, http.MethodPost) {
		return nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, sso.MaxACSBody)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return h.refuse(w, r, t, sso.Refuse(sso.CodeTooLarge, "the response is larger than 1 MiB"), "")
		}
		return h.refuse(w, r, t, sso.Refuse(sso.CodeMalformed, "the form could not be read"), "")
	}
	if r.PostForm.Get("switch") != "" && r.PostForm.Get("SAMLResponse") == "" {
		// The person's answer about a held sign-in.
		return h.finishHeld(w, r, t)
	}
	origin := h.origin(r)
	relay := r.PostForm.Get("RelayState")
	var requestIDs []string
	returnPath := "/"
	pending, err := h.tracker.Resolve(r, relay)
	if err == nil {
		// One answer per request: the cookie goes whatever the outcome.
		h.tracker.Forget(w, relay, h.PathPrefix, origin.Scheme == "https")
		if pending.Org != t.Org.Name {
			// A login started for one org answered at another's ACS: no
			// IdP of one org completes another's login.
			return h.refuse(w, r, t, sso.Refuse(sso.CodeWrongOrg, "this sign-in was started for another organization; start again from the app"), "")
		}
		if pending.Test != "" {
			return h.finishTest(w, r, t, s, pending)
		}
		requestIDs = []string{pending.RequestID}
		returnPath = pending.ReturnPath
	} else if sso.SafeReturnPath(relay) {
		// IdP-initiated: RelayState is at most a local path.
		returnPath = relay
	}
	if !h.ssoEnabled(t) {
		return h.refuse(w, r, t, sso.Refuse(sso.CodeNotEnabled, "single sign-on is not enabled for this organization"), "")
	}
	pol := h.policy(t)
	if len(requestIDs) == 0 && !pol.AllowIDPInitiated {
		return h.refuse(w, r, t, sso.Refuse(sso.CodeUnsolicited, "IdP-initiated login is not allowed; start from the app"), "")
	}
	p, err := h.provider(r.Context(), t, s)
	if err != nil {
		return err
	}
	ident, err := p.ParseACS(r, origin, requestIDs)
	if err != nil {
		return h.refuse(w, r, t, err, "")
	}
	member, err := tenant.Admit(r.Context(), auditedAdmission{h.store, h, t.Org, ident.Email}, t.Org, pol, ident)
	if err != nil {
		if cerr := p.Consume(ident); cerr != nil {
			h.logger.Error("recording a refused assertion as used", zap.Error(cerr))
		}
		return h.refuse(w, r, t, err, ident.Email)
	}
	if len(requestIDs) == 0 {
		// Unasked: it must not silently replace another member's session.
		if held, err := h.holdSwitch(w, r, t, s, member, ident, returnPath); held || err != nil {
			return err
		}
	}
	// The session and the assertion's one-time-use record are one write.
	err = h.issueSession(w, r, member, storage.MethodSAML, gate.IdPSession{
		NotAfter: ident.SessionNotOnOrAfter, NameID: ident.NameID, SessionIndex: ident.SessionIndex,
		Assertion: &storage.ConsumedAssertion{ID: ident.AssertionID, ExpiresAt: replayExpiry(ident.ReplayUntil)},
	})
	if errors.Is(err, storage.ErrReplayed) {
		return h.refuse(w, r, t, sso.Replayed(ident.AssertionID), ident.Email)
	}
	if err != nil {
		return err
	}
	h.logger.Info("sign-in",
		zap.String("method", "saml"),
		zap.String("org", t.Org.Name),
		zap.String("email", ident.Email),
		zap.String("member_id", member.MemberID),
		zap.Bool("idp_initiated", len(requestIDs) == 0),
		zap.String("assertion_id", ident.AssertionID),
	)
	countSignIn("saml", true, "")
	http.Redirect(w, r, returnPath, http.StatusSeeOther)
	return nil
}

// issueSession starts a session and sets its cookie.
func (h *SSOHandler) issueSession(w http.ResponseWriter, r *http.Request, ident storage.Identity, method string, idp gate.IdPSession) error {
	// A fresh session ID at every sign-in: no fixation. An old cookie in
	// this browser is ended too, once the new session exists.
	val, exp, err := h.sessions.Issue(r.Context(), ident, method, idp)
	if err != nil {
		return err
	}
	if old := cookieValue(r.Header, gate.CookieName); old != "" {
		_ = h.sessions.End(r.Context(), old)
	}
	http.SetCookie(w, &http.Cookie{
		Name: gate.CookieName, Value: val, Path: "/",
		Expires: exp, MaxAge: int(time.Until(exp) / time.Second),
		HttpOnly: true, Secure: h.origin(r).Scheme == "https", SameSite: http.SameSiteLaxMode,
	})
	// A new CSRF cookie too: one planted before the sign-in is worthless
	// after it.
	return h.rotateCSRF(w, r)
}

// refuse logs a refused sign-in once, with its reason code and private
// cause, and shows the browser a short reason.
func (h *SSOHandler) refuse(w http.ResponseWriter, r *http.Request, t *tenant.Tenant, err error, email string) error {
	var ref *sso.Refusal
	if !errors.As(err, &ref) {
		return err
	}
	fields := []zap.Field{zap.String("org", t.Org.Name), zap.String("reason", ref.Code)}
	if email != "" {
		fields = append(fields, zap.String("email", email))
	}
	if ref.Err != nil {
		fields = append(fields, zap.String("detail", ref.Err.Error()))
	}
	fields = append(fields, zap.String("remote_ip", clientIP(r)))
	h.logger.Warn("sign-in refused", fields...)
	countSignIn("saml", false, ref.Code)
	writeRefusal(w, ref, h.PathPrefix+"/login")
	return nil
}

// userinfo is the JSON of /sso/userinfo.
type userinfo struct {
	Email     string   `json:"email"`
	FirstName string   `json:"first_name"`
	LastName  string   `json:"last_name"`
	Name      string   `json:"name"`
	Role      string   `json:"role"`
	Teams     []string `json:"teams"`
	Org       string   `json:"org"`
}

func (h *SSOHandler) serveUserinfo(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return nil
	}
	e := h.session(r)
	if e == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "authentication required", "login_url": h.PathPrefix + "/login",
		})
		return nil
	}
	teams := e.Identity.Teams
	if teams == nil {
		teams = []string{}
	}
	writeJSON(w, http.StatusOK, userinfo{
		Email: e.Identity.Email, FirstName: e.Identity.GivenName, LastName: e.Identity.FamilyName,
		Name: e.Name, Role: string(e.Identity.Role), Teams: teams, Org: e.Identity.OrgName,
	})
	return nil
}

// loadCertificates reads an idp_certificate value: inline PEM or a path.
func loadCertificates(v string) ([]*x509.Certificate, error) {
	data := []byte(v)
	if !strings.Contains(v, "-----BEGIN") {
		b, err := os.ReadFile(v)
		if err != nil {
			return nil, fmt.Errorf("reading idp_certificate: %w", err)
		}
		data = b
	}
	certs, err := sso.ParseCertificates(data)
	if err != nil {
		return nil, fmt.Errorf("idp_certificate %s: %w", shortName(v), err)
	}
	return certs, nil
}

func shortName(v string) string {
	if strings.Contains(v, "-----BEGIN") {
		return "(inline PEM)"
	}
	return v
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1b1b1b}
a.button,button{display:inline-block;background:#2557d6;color:#fff;padding:.6rem 1.2rem;border-radius:.4rem;text-decoration:none;border:0;font-size:1rem}
a.button:focus,button:focus{outline:3px solid #f4b400;outline-offset:2px}</style></head>
<body><main><h1>{{.Title}}</h1><p>{{.Message}}</p>{{if .Next}}<p>{{.Next}}</p>{{end}}{{if .Link}}<p><a href="{{.Link}}">{{or .LinkText "Sign in"}}</a></p>{{end}}</main></body></html>
`))

// sentence capitalises a reason and ends it with a full stop, for pages.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

func writePage(w http.ResponseWriter, status int, title, msg, link string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = pageTemplate.Execute(w, map[string]string{"Title": title, "Message": msg, "Link": link})
}
