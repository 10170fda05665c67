// Package ssogate is the module's root, for xcaddy:
//
//	xcaddy build --with github.com/ssogate/ssogate
//
// Importing it registers the ssogate app, the saml_sso and scim_server
// handlers, their Caddyfile syntax and the ssogate subcommands, all of
// which live in package caddymodule.
package ssogate

import (
	// Registers the modules and subcommands.
	_ "github.com/ssogate/ssogate/caddymodule"
)
