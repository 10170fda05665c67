package caddymodule

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/ssogate/ssogate/internal/demo"
)

// The demo subcommand: the whole setup on 127.0.0.1 in one process.
func init() {
	caddycmd.RegisterCommand(cliDemoCommand())
}

func cliDemoCommand() caddycmd.Command {
	return caddycmd.Command{
		Name:  "demo",
		Usage: "[--ready] [--dir <path>] [--gate-port <port>] [--scim-port <port>] [--idp-port <port>]",
		Short: "Runs a complete ssogate setup on localhost, with a test IdP and demo people",
		Long: `
Starts on 127.0.0.1, in this one process and with no IdP account:

  - a test SAML IdP (standing in for Okta) that knows three demo people
    of demo.example: an owner, a member and a deactivated member;
  - the saml_sso gate, pinned to org "demo", in front of a small demo
    "analytics" app that shows who is signed in;
  - the scim_server provisioning sidecar on its own port, with a fresh
    SCIM token;
  - a tiny DNS server, the ssogate app's dns_resolver, that publishes the
    TXT record the org's claim on demo.example asks for.

The org's single sign-on is not set up: the demo prints the owner's
password and the steps an org's IT admin takes, with every value to
paste. Sign in as the owner, paste the test IdP's three values
(Authentication URL, Issuer URL, Public Certificate: printed, on the
IdP's page, and its certificate downloadable there), claim and verify
the domain, test, enable, generate a SCIM token; then members sign in
through the IdP. It also prints the SCIM token and a curl command that
uses it. Ctrl-C stops it. The test IdP lets anyone sign in as anyone:
never expose the demo beyond your machine.

--ready
    Start with all of that done, as a ready-made setup: the IdP and the
    claimed domain are in the generated Caddyfile, so members sign in
    through the IdP at once. It prints who to sign in as instead.

--dir <path>
    Where the data lives: the SQLite database, Caddy's storage, the
    generated Caddyfile and caddy.log. Default: a new temporary folder,
    named in the output. A folder used before keeps its data (people,
    teams, the org's SSO settings and domain, sessions) and the test IdP's
    signing key; the owner's password and the SCIM token are new at every
    run.

--gate-port <port>, --scim-port <port>, --idp-port <port>
    The ports of the app behind the gate, the SCIM sidecar and the test
    IdP. Default: 8080, 8081 and 8082, or a free port when one of those is
    taken (the output says which). A port given here must be free.`,
		CobraFunc: func(cmd *cobra.Command) {
			fl := cmd.Flags()
			fl.Bool("ready", false, "start with SSO set up (the IdP and the domain in the Caddyfile)")
			fl.String("dir", "", "the data folder (default: a new temporary folder)")
			fl.Int("gate-port", 0, "the port of the app behind the gate (default 8080, or a free one)")
			fl.Int("scim-port", 0, "the port of the SCIM sidecar (default 8081, or a free one)")
			fl.Int("idp-port", 0, "the port of the test IdP (default 8082, or a free one)")
			cmd.SetFlagErrorFunc(cliFlagError)
			cliMarkOwn(cmd)
			cmd.RunE = cliRunE(func(fl caddycmd.Flags) (int, error) {
				return cliDemo(cmd, fl)
			})
		},
	}
}

func cliDemo(cmd *cobra.Command, fl caddycmd.Flags) (int, error) {
	if args := fl.Args(); len(args) > 0 {
		return cliExitUsage, fmt.Errorf("`%s` takes no arguments, got %q (see `%s --help`)",
			cliCommandPath(cmd), args, cliCommandPath(cmd))
	}
	opts := demo.Options{Dir: fl.String("dir"), EventLog: true, Ready: fl.Bool("ready")}
	for _, p := range []struct {
		flag string
		dst  *int
	}{{"gate-port", &opts.GatePort}, {"scim-port", &opts.SCIMPort}, {"idp-port", &opts.IdPPort}} {
		v := fl.Int(p.flag)
		if v < 0 || v > 65535 {
			return cliExitUsage, fmt.Errorf("--%s %d is not a port", p.flag, v)
		}
		*p.dst = v
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	run, err := demo.Run(ctx, opts)
	if err != nil {
		if ctx.Err() != nil { // Ctrl-C while starting
			return cliExitOK, nil
		}
		return cliExitFailure, fmt.Errorf("starting the demo: %w", err)
	}
	out := cmd.OutOrStdout()
	if err := run.WriteSummary(out); err != nil {
		stop()
		<-run.Done()
		return cliExitFailure, err
	}
	<-ctx.Done()
	// A second Ctrl-C ends the process at once.
	stop()
	fmt.Fprintln(cmd.ErrOrStderr(), "Stopping the demo…")
	if err := run.Err(); err != nil {
		return cliExitFailure, fmt.Errorf("stopping the demo: %w", err)
	}
	fmt.Fprintf(out, "Stopped. The data is kept in %s.\n", run.Dir)
	return cliExitOK, nil
}
