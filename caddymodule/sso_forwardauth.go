package caddymodule

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/ssogate/ssogate/internal/gate"
	"github.com/ssogate/ssogate/internal/sso"
)

// Forward-auth mode: a proxy (nginx auth_request, Traefik forwardAuth,
// Caddy forward_auth) asks GET /sso/auth about each request and passes it
// on to the app itself, with the headers it copies from the answer.

// Response headers of /sso/auth for the proxy to use; the names are
// oauth2-proxy's, so existing proxy snippets fit.
const (
	// authRedirectHeader is the login URL of a 401, escaped: nginx cannot
	// escape a variable itself nor read the JSON body.
	authRedirectHeader = "X-Auth-Request-Redirect"
	// authCookieHeader is the request's Cookie header without the gate's
	// session cookie, for the proxy to send to the app instead of the
	// browser's. It goes as Cookie too, for Traefik, which copies a
	// header only under its own name.
	authCookieHeader = "X-Auth-Request-Cookie"
)

// serveAuth is for nginx auth_request, Traefik forwardAuth and Caddy
// forward_auth: 200 with the identity headers, or 401 with the login URL;
// a browser navigation reported by a proxy that passes a redirect on
// (it sends X-Forwarded-Method) gets the redirect itself.
func (h *SSOHandler) serveAuth(w http.ResponseWriter, r *http.Request) error {
	if !allowMethods(w, r, http.MethodGet, http.MethodHead) {
		return nil
	}
	e := h.session(r)
	if e == nil {
		rd := forwardedURI(r.Header)
		if !sso.SafeReturnPath(rd) {
			rd = "/"
		}
		loginURL := h.PathPrefix + "/login?rd=" + url.QueryEscape(rd)
		w.Header().Set(authRedirectHeader, loginURL)
		// nginx's auth_request takes only 2xx, 401 and 403: it never
		// sends X-Forwarded-Method (unless told to), and gets the 401.
		if m := r.Header.Get("X-Forwarded-Method"); (m == http.MethodGet || m == http.MethodHead) &&
			strings.Contains(r.Header.Get("Accept"), "text/html") {
			http.Redirect(w, r, loginURL, http.StatusFound)
			return nil
		}
		writeJSON(w, http.StatusUnauthorized, map[string]string{
			"error": "authentication required", "login_url": loginURL,
		})
		return nil
	}
	hdr := w.Header()
	hdr["X-Forwarded-User"] = e.HUser
	hdr["X-Forwarded-Email"] = e.HUser
	hdr["X-Forwarded-Name"] = e.HName
	hdr["X-Forwarded-Groups"] = e.HGroups
	hdr["X-Forwarded-Role"] = e.HRole
	hdr["X-Forwarded-Org"] = e.HOrg
	if !h.ForwardAuthCookies {
		w.WriteHeader(http.StatusOK)
		return nil
	}
	if c := appCookies(r.Header); c != "" {
		v := []string{c}
		hdr[authCookieHeader] = v
		hdr["Cookie"] = v
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// forwardedURI is the request URI the proxy asks about: Traefik and Caddy
// send X-Forwarded-Uri, nginx snippets X-Original-URI ($request_uri) or
// X-Original-URL (a full URL; only its path and query are used).
func forwardedURI(hdr http.Header) string {
	if v := hdr.Get("X-Forwarded-Uri"); v != "" {
		return v
	}
	if v := hdr.Get("X-Original-Uri"); v != "" {
		return v
	}
	v := hdr.Get("X-Original-Url")
	if v == "" || strings.HasPrefix(v, "/") {
		return v
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.RequestURI()
}

// appCookies is the request's Cookie header without the gate's session
// cookie, "" when nothing else is left. It allocates only when the
// session cookie sits between two of the app's cookies, or when the
// request has several Cookie lines.
func appCookies(hdr http.Header) string {
	lines := hdr["Cookie"]
	if len(lines) == 1 {
		return withoutCookie(lines[0], gate.CookieName)
	}
	var kept []string
	for _, line := range lines {
		if line = withoutCookie(line, gate.CookieName); line != "" {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "; ")
}

// returnPath is the rd parameter of a login request, "/" when it is
// missing or not a local path.
func returnPath(r *http.Request) string {
	rd := sso.ReturnPathParam(r.URL.RawQuery)
	if !sso.SafeReturnPath(rd) {
		return "/"
	}
	return rd
}
