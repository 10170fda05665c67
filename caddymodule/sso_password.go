package caddymodule

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/password"
	"github.com/ssogate/ssogate/internal/sso"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
	"github.com/ssogate/ssogate/internal/throttle"
)

// Password sign-in limits: an account gets 5 free failures, a client
// address 20 (offices share addresses); then each failure doubles the
// delay, from 1s up to 15 minutes.
var (
	accountRule = throttle.Rule{Free: 5, Base: time.Second, Max: 15 * time.Minute}
	addressRule = throttle.Rule{Free: 20, Base: time.Second, Max: 15 * time.Minute}
)

// maxPasswordForm bounds the password form's body.
const maxPasswordForm = 16 << 10

type passwordPageData struct {
	Org, Action, CSRF, RD, Error, StartURL, Email, OrgField string
	ShowSSO, ShowPassword, BreakGlass, Reauth               bool
}

// loginView is what a login page shows.
type loginView struct {
	// t is the org signing in; nil on a shared gate before it is known.
	t     *tenant.Tenant
	rd    string
	msg   string
	email string
	// sso shows "Continue with SSO" (a pinned gate's org with SSO on).
	sso bool
	// reauth says a page asked for a recent sign-in.
	reauth bool
}

// renderLogin shows the login page: "Continue with SSO" and, where
// allowed, the password form.
func (h *SSOHandler) renderLogin(w http.ResponseWriter, r *http.Request, status int, v loginView) error {
	tok, err := h.csrfToken(w, r)
	if err != nil {
		return err
	}
	d := passwordPageData{
		Action: h.PathPrefix + "/password", CSRF: tok, RD: v.rd, Error: v.msg, Email: v.email,
		StartURL:     h.PathPrefix + "/login?start=sso&rd=" + url.QueryEscape(v.rd),
		ShowSSO:      v.sso,
		ShowPassword: true,
		Reauth:       v.reauth,
	}
	if v.reauth {
		d.StartURL += "&reauth=1"
	}
	if v.t != nil {
		d.Org = v.t.Org.Name
		d.BreakGlass = h.policy(v.t).RequireSSO
		if h.shared {
			d.OrgField = v.t.Org.Name
		}
	}
	setPageHeaders(w)
	w.WriteHeader(status)
	return loginPage.Execute(w, d)
}

// setPageHeaders are the headers of every form page: no framing, no
// script, forms only to this site.
func setPageHeaders(w http.ResponseWriter) {
	setPageHeadersTo(w, "'self'")
}

// setPageHeadersTo is setPageHeaders for a form whose answer may redirect
// to formAction too: browsers hold a form's redirects to form-action.
func setPageHeadersTo(w http.ResponseWriter, formAction string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action "+formAction+"; frame-ancestors 'none'")
}

// servePassword serves the password form (GET) and signs in with it (POST).
func (h *SSOHandler) servePassword(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead, http.MethodPost) {
		return nil
	}
	var pinned *tenant.Tenant
	if !h.shared {
		pinned = h.pinned()
	}
	if r.Method != http.MethodPost {
		rd := returnPath(r)
		v := loginView{t: pinned, rd: rd}
		if pinned != nil {
			v.sso = h.ssoEnabled(pinned) && !h.policy(pinned).RequireSSO
		}
		return h.renderLogin(w, r, http.StatusOK, v)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxPasswordForm)
	if err := r.ParseForm(); err != nil {
		writePage(w, http.StatusBadRequest, "Sign-in failed", "The form could not be read.", h.PathPrefix+"/password")
		return nil
	}
	rd := r.PostForm.Get("rd")
	if !sso.SafeReturnPath(rd) {
		rd = "/"
	}
	ip := clientIP(r)
	if err := h.checkForm(r); err != nil {
		ref := err.(*formRefusal)
		h.audit(r, "", "", ip, false, ref.Code)
		writePage(w, http.StatusForbidden, "Sign-in failed", ref.Reason, h.PathPrefix+"/password?rd="+url.QueryEscape(rd))
		return nil
	}
	again := func(status int, msg string, email string) error {
		v := loginView{t: pinned, rd: rd, msg: msg, email: email}
		if pinned != nil {
			v.sso = h.ssoEnabled(pinned) && !h.policy(pinned).RequireSSO
		}
		return h.renderLogin(w, r, status, v)
	}
	email, ok := sso.NormalizeEmail(strings.TrimSpace(r.PostForm.Get("email")))
	var members []storage.Member
	if ticket := r.PostForm.Get("ticket"); ticket != "" && h.shared {
		// The second step at a shared gate: the person proved the
		// password a moment ago and now picks the org.
		var valid bool
		email, valid = h.openTicket(r, ticket)
		if !valid {
			return again(http.StatusForbidden, "That choice expired. Please sign in again.", "")
		}
		var err error
		if members, err = h.store.Memberships(r.Context(), email); err != nil {
			return err
		}
	} else {
		pw := r.PostForm.Get("password")
		acctKey := "acct:" + strings.ToLower(email)
		tooMany := func(wait time.Duration, why string) error {
			secs := int((wait + time.Second - 1) / time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			metrics.throttled.WithLabelValues("password").Inc()
			return again(http.StatusTooManyRequests, why+" Try again in "+cliPlural(secs, "second")+".", email)
		}
		// The attempt counts before the slow check runs, so that
		// simultaneous attempts cannot all pass the throttle.
		// This process's limiter first (no store round trip for a key it
		// has locked already, and its memory is bounded), then the store's,
		// shared by every process and replica: the limit that holds.
		res, wait := h.throttle.Reserve(
			throttle.Key{Name: acctKey, Rule: accountRule},
			throttle.Key{Name: "ip:" + ip, Rule: addressRule})
		if res == nil {
			h.audit(r, "", email, ip, false, "throttled")
			return tooMany(wait, "Too many failed attempts.")
		}
		// An attempt that ends without Fail (an error, no free slot)
		// gives its count back.
		defer res.Cancel()
		shared := []storage.ThrottleKey{
			{Name: acctKey, Rule: accountRule},
			{Name: "ip:" + ip, Rule: addressRule},
		}
		wait, err := h.store.ReserveAttempt(r.Context(), shared, time.Now())
		if err != nil {
			return err
		}
		if wait > 0 {
			h.audit(r, "", email, ip, false, "throttled")
			return tooMany(wait, "Too many failed attempts.")
		}
		failed := false
		defer func() {
			// Ended even when the request was cancelled: a leftover
			// in-flight count would hold the key for a minute.
			ctx := context.WithoutCancel(r.Context())
			if _, err := h.store.EndAttempt(ctx, shared, time.Now(), failed); err != nil {
				h.logger.Error("ending a sign-in attempt in the store", zap.Error(err))
			}
		}()
		var reason string
		members, reason, err = h.checkPassword(r.Context(), email, ok, pw)
		if errors.Is(err, password.ErrBusy) {
			// Not checked: it does not count.
			h.audit(r, "", email, ip, false, "busy")
			return tooMany(time.Second, "Too many sign-ins at once.")
		}
		if err != nil {
			return err
		}
		if reason != "" {
			res.Fail()
			failed = true
			h.audit(r, "", email, ip, false, reason)
			// One answer for an unknown email and a wrong password, after
			// the same amount of hashing work: no user enumeration.
			return again(http.StatusUnauthorized, "Incorrect email or password.", email)
		}
		// The password was right; the rules below may still refuse, and
		// may say why, since only the account's holder gets this far.
		res.Cancel()
		h.throttle.Reset(acctKey)
		if err := h.store.ResetThrottle(r.Context(), acctKey); err != nil {
			return err
		}
	}
	member, t, choose := h.pickMembership(members, email, r.PostForm.Get("org"))
	if choose {
		return h.renderOrgChoice(w, r, email, rd, members)
	}
	if t == nil {
		h.audit(r, "", email, ip, false, "unknown_account")
		return again(http.StatusUnauthorized, "Incorrect email or password.", email)
	}
	view := loginView{t: t, rd: rd}
	if !member.Active {
		h.audit(r, t.Org.Name, email, ip, false, sso.CodeDeactivated)
		view.msg = "Your account is deactivated in this organization."
		return h.renderLogin(w, r, http.StatusForbidden, view)
	}
	ident, err := h.store.Identity(r.Context(), member.ID)
	if err != nil {
		return err
	}
	// The effective role decides: an admin by team keeps break-glass too.
	if h.policy(t).RequireSSO && !ident.Role.Privileged() {
		h.audit(r, t.Org.Name, email, ip, false, "sso_required")
		view.msg = "Your organization requires single sign-on. Only owners and admins may use a password."
		return h.renderLogin(w, r, http.StatusForbidden, view)
	}
	if err := h.issueSession(w, r, ident, storage.MethodPassword, gate.IdPSession{}); err != nil {
		return err
	}
	h.audit(r, t.Org.Name, email, ip, true, "ok")
	http.Redirect(w, r, rd, http.StatusSeeOther)
	return nil
}

// checkPassword returns the account's memberships this gate serves when
// the password is right, or a refusal reason. The hashing work is the same
// whether or not the account exists or has a password, and so is the wait
// for a hashing slot: every path may fail with password.ErrBusy.
func (h *SSOHandler) checkPassword(ctx context.Context, email string, emailOK bool, pw string) ([]storage.Member, string, error) {
	if !emailOK || pw == "" || len(pw) > 1024 {
		return nil, "bad_input", password.DummyVerify(ctx, pw)
	}
	var members []storage.Member
	if h.shared {
		ms, err := h.store.Memberships(ctx, email)
		if err != nil {
			return nil, "", err
		}
		members = ms
	} else {
		m, err := h.store.MemberByEmail(ctx, h.org.ID, email)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			return nil, "", err
		}
		if err == nil {
			members = []storage.Member{m}
		}
	}
	if len(members) == 0 {
		return nil, "unknown_account", password.DummyVerify(ctx, pw)
	}
	hash, err := h.store.PasswordHash(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, "no_password", password.DummyVerify(ctx, pw)
	}
	if err != nil {
		return nil, "", err
	}
	ok, err := password.Verify(ctx, pw, hash)
	if errors.Is(err, password.ErrBusy) {
		return nil, "", err
	}
	if err != nil {
		h.logger.Error("stored password hash is unreadable", zap.String("member_id", members[0].ID), zap.Error(err))
		return nil, "bad_hash", nil
	}
	if !ok {
		return nil, "wrong_password", nil
	}
	return members, "", nil
}

// pickMembership chooses the membership a password sign-in is for. A
// pinned gate has one at most. At a shared gate: the org the form names
// (from discovery or the person's choice), else the org that verified
// the email's domain, else the only one; choose is set when the person
// must pick among several.
func (h *SSOHandler) pickMembership(members []storage.Member, email, orgName string) (storage.Member, *tenant.Tenant, bool) {
	if !h.shared {
		if len(members) == 0 {
			return storage.Member{}, nil, false
		}
		return members[0], h.pinned(), false
	}
	find := func(t *tenant.Tenant) (storage.Member, bool) {
		if t == nil {
			return storage.Member{}, false
		}
		for _, m := range members {
			if m.OrgID == t.Org.ID {
				return m, true
			}
		}
		return storage.Member{}, false
	}
	if orgName != "" {
		t := h.registry.ByName(orgName)
		if m, ok := find(t); ok {
			return m, t, false
		}
	}
	if t := h.registry.Discover(email); t != nil {
		if m, ok := find(t); ok {
			return m, t, false
		}
	}
	switch len(members) {
	case 0:
		return storage.Member{}, nil, false
	case 1:
		if t := h.registry.ByID(members[0].OrgID); t != nil {
			return members[0], t, false
		}
		return storage.Member{}, nil, false
	}
	return storage.Member{}, nil, true
}

// ticketLifetime bounds the org choice after a password sign-in.
const ticketLifetime = 2 * time.Minute

// newTicket vouches, for ticketLifetime and for this browser only (bound
// to its CSRF cookie), that it proved the account's password: the org
// choice that follows needs no second password and keeps none in a form.
func (h *SSOHandler) newTicket(r *http.Request, email string) string {
	exp := strconv.FormatInt(time.Now().Add(ticketLifetime).Unix(), 10)
	body := base64.RawURLEncoding.EncodeToString([]byte(email)) + "." + exp
	return body + "." + h.ticketMAC(r, body)
}

func (h *SSOHandler) ticketMAC(r *http.Request, body string) string {
	m := hmac.New(sha256.New, h.ticketKey)
	m.Write([]byte(cookieValue(r.Header, csrfCookie)))
	m.Write([]byte{0})
	m.Write([]byte(body))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// openTicket returns the email a ticket vouches for.
func (h *SSOHandler) openTicket(r *http.Request, ticket string) (string, bool) {
	i := strings.LastIndexByte(ticket, '.')
	if i < 0 || len(ticket) > 1024 {
		return "", false
	}
	body, mac := ticket[:i], ticket[i+1:]
	if !hmac.Equal([]byte(mac), []byte(h.ticketMAC(r, body))) {
		return "", false
	}
	enc, exp, ok := strings.Cut(body, ".")
	if !ok {
		return "", false
	}
	until, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || time.Now().Unix() > until {
		return "", false
	}
	email, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", false
	}
	return string(email), true
}

type orgChoice struct {
	Name string
}

type orgChoiceData struct {
	Action, CSRF, RD, Ticket string
	Orgs                     []orgChoice
}

// renderOrgChoice asks a person who belongs to several orgs which one to
// sign in to; only someone who just proved the password sees the list.
func (h *SSOHandler) renderOrgChoice(w http.ResponseWriter, r *http.Request, email, rd string, members []storage.Member) error {
	tok, err := h.csrfToken(w, r)
	if err != nil {
		return err
	}
	d := orgChoiceData{Action: h.PathPrefix + "/password", CSRF: tok, RD: rd, Ticket: h.newTicket(r, email)}
	for _, m := range members {
		if t := h.registry.ByID(m.OrgID); t != nil {
			d.Orgs = append(d.Orgs, orgChoice{Name: t.Org.Name})
		}
	}
	setPageHeaders(w)
	w.WriteHeader(http.StatusOK)
	return orgChoicePage.Execute(w, d)
}

// audit writes one line per password sign-in attempt.
func (h *SSOHandler) audit(r *http.Request, org, email, ip string, ok bool, reason string) {
	if org == "" {
		org = h.Org
	}
	fields := []zap.Field{
		zap.String("method", "password"), zap.String("org", org), zap.String("email", email),
		zap.String("remote_ip", ip), zap.String("reason", reason),
	}
	countSignIn("password", ok, reason)
	if ok {
		h.logger.Info("sign-in", fields...)
		return
	}
	h.logger.Warn("sign-in refused", fields...)
}

// clientIP is Caddy's idea of the client address (honouring
// trusted_proxies), else the connection's.
func clientIP(r *http.Request) string {
	if v, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && v != "" {
		return v
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in{{if .Org}} to {{.Org}}{{end}}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.6rem}
a.button,button{display:block;width:100%;box-sizing:border-box;text-align:center;background:#2557d6;color:#fff;padding:.7rem 1.2rem;border-radius:.4rem;text-decoration:none;border:0;font-size:1rem;cursor:pointer}
a.button:focus,button:focus,input:focus{outline:3px solid #f4b400;outline-offset:2px}
label{display:block;margin:.8rem 0 .2rem;font-weight:600}
input{width:100%;box-sizing:border-box;padding:.55rem;font-size:1rem;border:1px solid #767676;border-radius:.3rem}
.or{margin:1.5rem 0;text-align:center;color:#555}
.error{background:#fdecea;border-left:4px solid #b3261e;padding:.6rem .8rem}
.note{color:#555;font-size:.9rem}
</style></head>
<body><main>
<h1>Sign in{{if .Org}} to {{.Org}}{{end}}</h1>
{{if .Reauth}}<p class="note" id="reauth">For your security, sign in again to continue.</p>{{end}}
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if .ShowSSO}}<p><a class="button" id="sso" href="{{.StartURL}}">Continue with SSO</a></p>{{end}}
{{if .ShowPassword}}
{{if .ShowSSO}}<p class="or">or sign in with a password</p>{{end}}
{{if .BreakGlass}}<p class="note">Your organization requires single sign-on. Only owners and admins may sign in with a password here.</p>{{end}}
<form method="post" action="{{.Action}}" id="password-form">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<input type="hidden" name="rd" value="{{.RD}}">
{{if .OrgField}}<input type="hidden" name="org" value="{{.OrgField}}">{{end}}
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" value="{{.Email}}" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<p><button type="submit">Sign in</button></p>
</form>
{{end}}
</main></body></html>
`))

var orgChoicePage = template.Must(template.New("orgs").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Choose an organization</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;color:#1b1b1b}
h1{font-size:1.6rem}
button{display:block;width:100%;box-sizing:border-box;text-align:center;background:#2557d6;color:#fff;padding:.7rem 1.2rem;border-radius:.4rem;border:0;font-size:1rem;cursor:pointer;margin:.6rem 0}
button:focus{outline:3px solid #f4b400;outline-offset:2px}
</style></head>
<body><main>
<h1>Choose an organization</h1>
<p>You belong to several organizations. Which one do you want to sign in to?</p>
{{range .Orgs}}<form method="post" action="{{$.Action}}">
<input type="hidden" name="csrf" value="{{$.CSRF}}">
<input type="hidden" name="rd" value="{{$.RD}}">
<input type="hidden" name="ticket" value="{{$.Ticket}}">
<input type="hidden" name="org" value="{{.Name}}">
<button type="submit">{{.Name}}</button>
</form>
{{end}}
</main></body></html>
`))
