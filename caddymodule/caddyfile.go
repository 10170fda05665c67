package caddymodule

import (
	"encoding/json"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/ssogate/ssogate/internal/tenant"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("ssogate", parseGlobalOption)
	httpcaddyfile.RegisterHandlerDirective("saml_sso", parseSAMLSSO)
	// saml_sso goes where authentication handlers go: after basic_auth,
	// before request rewriting by the proxy and before reverse_proxy.
	httpcaddyfile.RegisterDirectiveOrder("saml_sso", httpcaddyfile.After, "basic_auth")
}

// parseGlobalOption sets up the ssogate app:
//
//	ssogate {
//		database sqlite <path>
//		database postgres <dsn>
//		dns_resolver <host:port>
//		allow_private_metadata_urls
//		allow_rsa15_key_transport
//		change_poll_interval <duration>
//	}
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(App)
	if existing != nil {
		if prev, ok := existing.(httpcaddyfile.App); ok {
			if err := jsonUnmarshal(prev.Value, app); err != nil {
				return nil, err
			}
		}
	}
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "ssogate", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile reads the ssogate global option.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		switch d.Val() {
		case "database":
			if a.Database != nil {
				return d.Err("database already specified")
			}
			var driver, where string
			if !d.Args(&driver, &where) {
				return d.ArgErr()
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			switch driver {
			case "sqlite":
				a.Database = &DatabaseConfig{Driver: driver, Path: where}
			case "postgres":
				a.Database = &DatabaseConfig{Driver: driver, DSN: where}
			default:
				return d.Errf("unsupported database driver %q (want sqlite or postgres)", driver)
			}
		case "dns_resolver":
			if a.DNSResolver != "" {
				return d.Err("dns_resolver already specified")
			}
			if !d.Args(&a.DNSResolver) || d.NextArg() {
				return d.ArgErr()
			}
		case "allow_private_metadata_urls":
			if d.NextArg() {
				return d.ArgErr()
			}
			a.AllowPrivateMetadataURLs = true
		case "allow_rsa15_key_transport":
			if d.NextArg() {
				return d.ArgErr()
			}
			a.AllowRSA15KeyTransport = true
		case "change_poll_interval":
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return d.Errf("bad change_poll_interval %q: %v", d.Val(), err)
			}
			a.ChangePollInterval = caddy.Duration(dur)
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("unknown ssogate option %q", d.Val())
		}
	}
	return nil
}

func parseSAMLSSO(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(SSOHandler)
	if err := s.UnmarshalCaddyfile(h.Dispenser); err != nil {
		return nil, err
	}
	// Without base_url, the hosts the gate may build its URLs on are the
	// site's own, unless the operator lists them.
	if s.BaseURL == "" && len(s.TrustedHosts) == 0 {
		hosts, err := siteHosts(h)
		if err != nil {
			h.Reset()
			h.Next()
			return nil, h.Errf("saml_sso: %v", err)
		}
		s.TrustedHosts = hosts
	}
	return s, nil
}

// UnmarshalCaddyfile reads the saml_sso directive. Without org and IdP
// settings the gate is shared by every org in the store:
//
//	saml_sso {
//		org <name>
//		idp_sso_url <url>
//		idp_issuer <entity-id>
//		idp_certificate <path|pem>      # repeatable
//		idp_metadata_url <url>
//		idp_metadata_file <path>
//		idp_metadata_refresh <duration>
//		idp_slo_url <url>
//		sp_certificate <path|pem>
//		sp_key <path|pem>
//		sign_requests
//		forward_auth_cookies
//		groups_attribute <name>
//		base_url <origin>
//		trusted_hosts <host...>         # repeatable
//		requestable_acs_url <url>       # repeatable
//		entity_id <entity-id>
//		domain <domain>                 # repeatable
//		require_sso
//		idp_managed_access
//		allow_idp_initiated [true|false]
//		allow_sha1
//		session_lifetime <duration>
//		session_idle <duration>
//		session_key <secret>
//		clock_skew <duration>
//		path_prefix <path>
//		reauth_after <duration>
//	}
func (s *SSOHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	seen := map[string]bool{}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		key := d.Val()
		switch key {
		case "idp_certificate", "requestable_acs_url", "domain", "trusted_hosts":
		default:
			if seen[key] {
				return d.Errf("%s already specified", key)
			}
		}
		seen[key] = true
		switch key {
		case "org":
			if err := oneArg(d, &s.Org); err != nil {
				return err
			}
			if err := tenant.ValidateOrgName(s.Org); err != nil {
				return d.Errf("%v", err)
			}
		case "idp_sso_url":
			if err := oneArg(d, &s.IDPSSOURL); err != nil {
				return err
			}
		case "idp_issuer":
			if err := oneArg(d, &s.IDPIssuer); err != nil {
				return err
			}
		case "idp_certificate":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			// A path is read at provision, not here: a config adapts
			// without the files it names (Caddy's convention).
			s.IDPCertificates = append(s.IDPCertificates, v)
		case "idp_metadata_url":
			if err := oneArg(d, &s.IDPMetadataURL); err != nil {
				return err
			}
		case "idp_metadata_file":
			if err := oneArg(d, &s.IDPMetadataFile); err != nil {
				return err
			}
		case "idp_slo_url":
			if err := oneArg(d, &s.IDPSLOURL); err != nil {
				return err
			}
		case "sp_certificate":
			if err := oneArg(d, &s.SPCertificate); err != nil {
				return err
			}
		case "sp_key":
			if err := oneArg(d, &s.SPKey); err != nil {
				return err
			}
		case "sign_requests":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.SignRequests = true
		case "forward_auth_cookies":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.ForwardAuthCookies = true
		case "groups_attribute":
			if err := oneArg(d, &s.GroupsAttribute); err != nil {
				return err
			}
			if s.GroupsAttribute == "" {
				return d.Err("groups_attribute: needs the attribute's name")
			}
			if err := tenant.CheckGroupsAttribute(s.GroupsAttribute); err != nil {
				return d.Errf("groups_attribute: %v", err)
			}
		case "idp_metadata_refresh":
			if err := durationArg(d, &s.IDPMetadataRefresh); err != nil {
				return err
			}
		case "base_url":
			if err := oneArg(d, &s.BaseURL); err != nil {
				return err
			}
			if err := checkBaseURL(s.BaseURL); err != nil {
				return d.Errf("%v", err)
			}
		case "trusted_hosts":
			if !d.NextArg() {
				return d.ArgErr()
			}
			for {
				if _, err := parseTrustedHost(d.Val()); err != nil {
					return d.Errf("trusted_hosts: %v", err)
				}
				s.TrustedHosts = append(s.TrustedHosts, d.Val())
				if !d.NextArg() {
					break
				}
			}
		case "requestable_acs_url":
			var v string
			if err := oneArg(d, &v); err != nil {
				return err
			}
			s.RequestableACSURLs = append(s.RequestableACSURLs, v)
		case "entity_id":
			if err := oneArg(d, &s.EntityID); err != nil {
				return err
			}
		case "domain":
			if !d.NextArg() {
				return d.ArgErr()
			}
			// Several domains may follow one keyword too.
			for {
				s.Domains = append(s.Domains, d.Val())
				if !d.NextArg() {
					break
				}
			}
		case "require_sso":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.RequireSSO = true
		case "idp_managed_access":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.IDPManagedAccess = true
		case "allow_sha1":
			if d.NextArg() {
				return d.ArgErr()
			}
			s.AllowSHA1 = true
		case "allow_idp_initiated":
			v := true
			if d.NextArg() {
				b, err := strconv.ParseBool(d.Val())
				if err != nil {
					return d.Errf("allow_idp_initiated: want true or false, got %q", d.Val())
				}
				v = b
				if d.NextArg() {
					return d.ArgErr()
				}
			}
			s.AllowIDPInitiated = &v
		case "session_lifetime":
			if err := durationArg(d, &s.SessionLifetime); err != nil {
				return err
			}
		case "session_idle":
			if err := durationArg(d, &s.SessionIdle); err != nil {
				return err
			}
		case "session_key":
			if err := oneArg(d, &s.SessionKey); err != nil {
				return err
			}
		case "reauth_after":
			if err := durationArg(d, &s.ReauthAfter); err != nil {
				return err
			}
		case "clock_skew":
			if err := durationArg(d, &s.ClockSkew); err != nil {
				return err
			}
		case "path_prefix":
			if err := oneArg(d, &s.PathPrefix); err != nil {
				return err
			}
			if !strings.HasPrefix(s.PathPrefix, "/") || strings.ContainsAny(s.PathPrefix, "?#* ") {
				return d.Errf("path_prefix %q must be a path starting with /", s.PathPrefix)
			}
		default:
			return d.Errf("unknown saml_sso subdirective %q", key)
		}
	}
	if err := s.checkShared(); err != nil {
		return d.Errf("%v", err)
	}
	if err := s.checkIDPPieces(); err != nil {
		// At the directive's line: the piece is missing from its block.
		d.Reset()
		d.Next()
		return d.Errf("%v", err)
	}
	if s.BaseURL != "" && len(s.TrustedHosts) > 0 {
		return d.Err(errBaseURLAndHosts.Error())
	}
	return nil
}

func oneArg(d *caddyfile.Dispenser, dst *string) error {
	key := d.Val()
	if !d.NextArg() {
		return d.Errf("%s needs a value", key)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s takes one value", key)
	}
	return nil
}

func durationArg(d *caddyfile.Dispenser, dst *caddy.Duration) error {
	var v string
	if err := oneArg(d, &v); err != nil {
		return err
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil {
		return d.Errf("bad duration %q: %v", v, err)
	}
	if dur < 0 {
		return d.Errf("duration %q must not be negative", v)
	}
	*dst = caddy.Duration(dur)
	return nil
}

func jsonUnmarshal(raw json.RawMessage, v any) error {
	if len(raw) == 0 {
		return nil
	}
	return json.Unmarshal(raw, v)
}

// Interface guards
var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*SSOHandler)(nil)
)
