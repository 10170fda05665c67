// Command ssogate is Caddy with the ssogate modules and subcommands built
// in: the same binary xcaddy makes with --with github.com/ssogate/ssogate.
package main

import (
	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/ssogate/ssogate/caddymodule"
)

func main() {
	caddy.CustomBinaryName = "ssogate"
	caddycmd.Main()
}
