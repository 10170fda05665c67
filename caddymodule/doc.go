// Package caddymodule is ssogate's Caddy glue: the "ssogate" app that owns
// the store, the saml_sso handler (the SAML service provider and session
// gate in front of an app), the scim_server handler (the provisioning
// sidecar, an adapter over package scimserver), their Caddyfile syntax, and
// the ssogate subcommands. Importing it registers all of them, so
//
//	xcaddy build --with github.com/ssogate/ssogate
//
// builds the same binary as cmd/ssogate.
package caddymodule
