package caddymodule

import (
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/ssogate/ssogate/internal/adminui"
	"github.com/ssogate/ssogate/internal/tenant"
	"github.com/ssogate/ssogate/scimserver"
)

func init() {
	caddy.RegisterModule(SCIMHandler{})
	httpcaddyfile.RegisterHandlerDirective("scim_server", parseSCIMServer)
	// scim_server answers requests itself, like respond.
	httpcaddyfile.RegisterDirectiveOrder("scim_server", httpcaddyfile.Before, "respond")
}

// SCIMHandler (scim_server) is the provisioning sidecar: SCIM 2.0 under
// /scim/v2 and the admin API under /api/v1 (domain claims, the org's SSO
// connection, tokens, team and member roles), on the store of the ssogate
// app. It answers every request it gets; other paths are 404.
// It can run in the same process as saml_sso or in its own process on the
// same database file.
type SCIMHandler struct {
	// RateLimit is the sustained requests per second allowed per token;
	// bursts above it get 429 with Retry-After. Default: the server's.
	RateLimit float64 `json:"rate_limit,omitempty"`
	// Burst is how many requests a token may send at once. Default: the
	// server's.
	Burst int `json:"burst,omitempty"`
	// BaseURL is the sidecar's external origin, such as
	// https://provisioning.example.com: the Access Security page shows
	// <base_url>/scim/v2 as the SCIM connector base URL to paste into the
	// IdP. Default: none (the page asks the admin to ask the operator).
	BaseURL string `json:"base_url,omitempty"`

	server *scimserver.Server
}

// CaddyModule returns the Caddy module information.
func (SCIMHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.scim_server",
		New: func() caddy.Module { return new(SCIMHandler) },
	}
}

// Provision joins the ssogate app's store.
func (s *SCIMHandler) Provision(ctx caddy.Context) error {
	appIface, err := ctx.App("ssogate")
	if err != nil {
		return fmt.Errorf("getting ssogate app: %w", err)
	}
	app := appIface.(*App)
	if err := registerMetrics(ctx); err != nil {
		return err
	}
	s.server, err = scimserver.New(scimserver.Config{
		Store:             app.Store(),
		Logger:            ctx.Logger(),
		Resolver:          app.Resolver(),
		RequestsPerSecond: s.RateLimit,
		Burst:             s.Burst,
		MetadataClient:    tenant.MetadataClient(app.AllowPrivateMetadataURLs),
	})
	if err != nil {
		return fmt.Errorf("setting up the SCIM server: %w", err)
	}
	if s.BaseURL != "" {
		u, err := url.Parse(s.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("scim_server: base_url %q must be an absolute http(s) URL", s.BaseURL)
		}
		app.declareSetting(adminui.SCIMURLSetting, strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/")+"/scim/v2")
	}
	return nil
}

// Cleanup lets the writes of token uses in flight land.
func (s *SCIMHandler) Cleanup() error {
	if s.server == nil {
		return nil
	}
	return s.server.Close()
}

// ServeHTTP answers the request; it never calls next.
func (s *SCIMHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	rec := &statusRecorder{ResponseWriter: w}
	s.server.ServeHTTP(rec, r)
	countSCIM(r, rec.status)
	return nil
}

func parseSCIMServer(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(SCIMHandler)
	err := s.UnmarshalCaddyfile(h.Dispenser)
	return s, err
}

// UnmarshalCaddyfile reads the scim_server directive:
//
//	scim_server {
//		base_url <origin>
//		rate_limit <requests-per-second> [burst]
//	}
func (s *SCIMHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next()
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "base_url":
			if !d.NextArg() {
				return d.ArgErr()
			}
			s.BaseURL = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
		case "rate_limit":
			if !d.NextArg() {
				return d.ArgErr()
			}
			rps, err := strconv.ParseFloat(d.Val(), 64)
			if err != nil || rps <= 0 {
				return d.Errf("rate_limit: want a positive number of requests per second, got %q", d.Val())
			}
			s.RateLimit = rps
			if d.NextArg() {
				burst, err := strconv.Atoi(d.Val())
				if err != nil || burst <= 0 {
					return d.Errf("rate_limit: want a positive burst, got %q", d.Val())
				}
				s.Burst = burst
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unknown scim_server subdirective %q", d.Val())
		}
	}
	return nil
}

// Interface guards
var (
	_ caddyfile.Unmarshaler       = (*SCIMHandler)(nil)
	_ caddy.Provisioner           = (*SCIMHandler)(nil)
	_ caddy.CleanerUpper          = (*SCIMHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*SCIMHandler)(nil)
)
