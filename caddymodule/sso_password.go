package caddymodule

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
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
	"github.com/ssogate/ssogate/internal/throttle"
)

// Password sign-in limits: an account gets 5 free failures, a client
// address 20 (offices share addresses); then each failure doubles the
// delay, from 1s up to 15 minutes.
var (
	accountRule = throttle.Rule{Free: 5, Base: time.Second, Max: 15 * time.Minute}
	addressRule = throttle.Rule{Free: 20, Base: time.Second, Max: 15 * time.Minute}
)

// csrfCookie holds a random value; the form carries its HMAC under a key
// derived from the session key, so neither can be forged alone (cookie
// tossing from a sibling subdomain cannot produce a matching token).
const csrfCookie = "ssogate_csrf"

// maxPasswordForm bounds the password form's body.
const maxPasswordForm = 16 << 10

// csrfToken returns the form token for the browser, setting the cookie
// when the browser has none.
func (h *SSOHandler) csrfToken(w http.ResponseWriter, r *http.Request) (string, error) {
	seed := cookieValue(r.Header, csrfCookie)
	if len(seed) != 43 {
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		seed = base64.RawURLEncoding.EncodeToString(b[:])
		http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: seed, Path: h.PathPrefix, HttpOnly: true,
			Secure: h.origin(r).Scheme == "https", SameSite: http.SameSiteStrictMode})
	}
	return h.csrfFor(seed), nil
}

func (h *SSOHandler) csrfFor(seed string) string {
	m := hmac.New(sha256.New, h.csrfKey)
	m.Write([]byte(seed))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfValid checks the form token against the cookie in constant time.
func (h *SSOHandler) csrfValid(r *http.Request) bool {
	seed := cookieValue(r.Header, csrfCookie)
	tok := r.PostForm.Get("csrf")
	if seed == "" || tok == "" {
		return false
	}
	return hmac.Equal([]byte(h.csrfFor(seed)), []byte(tok))
}

type passwordPageData struct {
	Org, Action, CSRF, RD, Error, StartURL string
	ShowSSO, ShowPassword, BreakGlass      bool
}

// renderLogin shows the login page: "Continue with SSO" and, where
// allowed, the password form.
func (h *SSOHandler) renderLogin(w http.ResponseWriter, r *http.Request, status int, rd, msg string, sso bool) error {
	tok, err := h.csrfToken(w, r)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(status)
	return loginPage.Execute(w, passwordPageData{
		Org: h.Org, Action: h.PathPrefix + "/password", CSRF: tok, RD: rd, Error: msg,
		StartURL:     h.PathPrefix + "/login?start=sso&rd=" + url.QueryEscape(rd),
		ShowSSO:      sso,
		ShowPassword: true,
		BreakGlass:   h.RequireSSO,
	})
}

// servePassword serves the password form (GET) and signs in with it (POST).
func (h *SSOHandler) servePassword(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead, http.MethodPost) {
		return nil
	}
	if r.Method != http.MethodPost {
		rd := r.URL.Query().Get("rd")
		if !sso.SafeReturnPath(rd) {
			rd = "/"
		}
		return h.renderLogin(w, r, http.StatusOK, rd, "", !h.RequireSSO)
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
	if !h.csrfValid(r) || !sameOrigin(r, h.origin(r)) {
		h.audit(r, "", ip, false, "csrf")
		writePage(w, http.StatusForbidden, "Sign-in failed", "The form expired or came from another site. Please try again.", h.PathPrefix+"/password?rd="+url.QueryEscape(rd))
		return nil
	}
	email, ok := sso.NormalizeEmail(strings.TrimSpace(r.PostForm.Get("email")))
	pw := r.PostForm.Get("password")
	acctKey := "acct:" + strings.ToLower(email)
	ipKey := "ip:" + ip
	if wait := max(h.throttle.Wait(acctKey), h.throttle.Wait(ipKey)); wait > 0 {
		h.audit(r, email, ip, false, "throttled")
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		return h.renderLogin(w, r, http.StatusTooManyRequests, rd,
			"Too many failed attempts. Try again in "+strconv.Itoa(secs)+" seconds.", !h.RequireSSO)
	}
	member, reason, err := h.checkPassword(r.Context(), email, ok, pw)
	if err != nil {
		return err
	}
	if reason != "" {
		h.throttle.Fail(acctKey, accountRule)
		h.throttle.Fail(ipKey, addressRule)
		h.audit(r, email, ip, false, reason)
		// One answer for an unknown email and a wrong password, after the
		// same amount of hashing work: no user enumeration.
		return h.renderLogin(w, r, http.StatusUnauthorized, rd, "Incorrect email or password.", !h.RequireSSO)
	}
	// The password was right; the rules below may still refuse, and may
	// say why, since only the account's holder gets this far.
	h.throttle.Reset(acctKey)
	switch {
	case !member.Active:
		h.audit(r, email, ip, false, sso.CodeDeactivated)
		return h.renderLogin(w, r, http.StatusForbidden, rd, "Your account is deactivated in this organization.", !h.RequireSSO)
	case h.RequireSSO && !member.Role.Privileged():
		h.audit(r, email, ip, false, "sso_required")
		return h.renderLogin(w, r, http.StatusForbidden, rd,
			"Your organization requires single sign-on. Only owners and admins may use a password.", false)
	}
	ident, err := h.store.Identity(r.Context(), member.ID)
	if err != nil {
		return err
	}
	if err := h.issueSession(w, r, ident, storage.MethodPassword, gate.IdPSession{}); err != nil {
		return err
	}
	h.audit(r, email, ip, true, "ok")
	http.Redirect(w, r, rd, http.StatusSeeOther)
	return nil
}

// checkPassword returns the member when the password is right, or a
// refusal reason. The hashing work is the same whether or not the account
// exists or has a password.
func (h *SSOHandler) checkPassword(ctx context.Context, email string, emailOK bool, pw string) (storage.Member, string, error) {
	if !emailOK || pw == "" || len(pw) > 1024 {
		password.DummyVerify(pw)
		return storage.Member{}, "bad_input", nil
	}
	m, err := h.store.MemberByEmail(ctx, h.org.ID, email)
	if errors.Is(err, storage.ErrNotFound) {
		password.DummyVerify(pw)
		return storage.Member{}, "unknown_account", nil
	}
	if err != nil {
		return storage.Member{}, "", err
	}
	hash, err := h.store.PasswordHash(ctx, email)
	if errors.Is(err, storage.ErrNotFound) {
		password.DummyVerify(pw)
		return storage.Member{}, "no_password", nil
	}
	if err != nil {
		return storage.Member{}, "", err
	}
	ok, err := password.Verify(pw, hash)
	if err != nil {
		h.logger.Error("stored password hash is unreadable", zap.String("member_id", m.ID), zap.Error(err))
		return storage.Member{}, "bad_hash", nil
	}
	if !ok {
		return storage.Member{}, "wrong_password", nil
	}
	return m, "", nil
}

// audit writes one line per password sign-in attempt.
func (h *SSOHandler) audit(r *http.Request, email, ip string, ok bool, reason string) {
	fields := []zap.Field{
		zap.String("method", "password"), zap.String("org", h.Org), zap.String("email", email),
		zap.String("remote_ip", ip), zap.String("reason", reason),
	}
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

// sameOrigin refuses a POST whose Origin header names another site; a
// request without Origin (older browsers, privacy settings) relies on the
// CSRF token alone.
func sameOrigin(r *http.Request, origin *url.URL) bool {
	o := r.Header.Get("Origin")
	if o == "" || o == "null" {
		return o == ""
	}
	u, err := url.Parse(o)
	return err == nil && u.Scheme == origin.Scheme && strings.EqualFold(u.Host, origin.Host)
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to {{.Org}}</title>
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
<h1>Sign in to {{.Org}}</h1>
{{if .Error}}<p class="error" role="alert">{{.Error}}</p>{{end}}
{{if .ShowSSO}}<p><a class="button" id="sso" href="{{.StartURL}}">Continue with SSO</a></p>{{end}}
{{if .ShowPassword}}
{{if .ShowSSO}}<p class="or">or sign in with a password</p>{{end}}
{{if .BreakGlass}}<p class="note">Your organization requires single sign-on. Only owners and admins may sign in with a password here.</p>{{end}}
<form method="post" action="{{.Action}}" id="password-form">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<input type="hidden" name="rd" value="{{.RD}}">
<label for="email">Email</label>
<input id="email" name="email" type="email" autocomplete="username" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<p><button type="submit">Sign in</button></p>
</form>
{{end}}
</main></body></html>
`))
