package caddymodule

import (
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/caddyserver/caddy/v2"
	"github.com/spf13/cobra"
)

// The root command is Caddy's; a plugin only registers subcommands. To
// make the binary answer people (help listing ssogate's commands first,
// an unknown command exiting 2 with one line, a version naming ssogate),
// cliRootHook sets the root up from the last subcommand this package
// registers: caddycmd builds the root by adding the registered commands
// in order, so by then the first one has the root as its parent.

// cliOwnAnnotation marks the top-level commands this plugin registers.
const cliOwnAnnotation = "ssogate"

// cliModulePath is this module's path, to find its version in the build.
const cliModulePath = "github.com/ssogate/ssogate"

var cliRootMu sync.Mutex

// cliRootHook wraps the CobraFuncs of cmds (registered in this order) so
// that the last one sets up the root.
func cliRootHook(cobraFuncs []func(*cobra.Command)) []func(*cobra.Command) {
	var first *cobra.Command
	out := make([]func(*cobra.Command), len(cobraFuncs))
	for i, f := range cobraFuncs {
		last := i == len(cobraFuncs)-1
		out[i] = func(cmd *cobra.Command) {
			f(cmd)
			cliMarkOwn(cmd)
			cliRootMu.Lock()
			defer cliRootMu.Unlock()
			if i == 0 {
				first = cmd
			}
			if last && first != nil && first.Parent() != nil {
				cliSetUpRoot(first.Parent())
			}
		}
	}
	return out
}

func cliMarkOwn(cmd *cobra.Command) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[cliOwnAnnotation] = "true"
}

// cliSetUpRoot gives the root command ssogate's help, its answer to an
// unknown command and flag, and (in the ssogate binary) its version.
func cliSetUpRoot(root *cobra.Command) {
	// With Args set, cobra runs the root on an unknown command instead of
	// printing "Error: unknown command" and exiting 1.
	root.Args = cobra.ArbitraryArgs
	root.SuggestionsMinimumDistance = 2 // cobra's default, which SuggestionsFor does not apply
	root.RunE = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return cmd.Help()
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cliBinName())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %q?", s[0])
		}
		return cliFail(cmd, cliExitUsage, fmt.Errorf("%s (see `%s help`)", msg, cliBinName()))
	}
	root.SetFlagErrorFunc(cliFlagError)
	for _, sub := range root.Commands() {
		if name := sub.Name(); (name == "validate" || name == "adapt") && sub.RunE != nil {
			// These provision the config only to check it (dryrun.go).
			run := sub.RunE
			sub.RunE = func(cmd *cobra.Command, args []string) error {
				dryRun.Store(true)
				return run(cmd, args)
			}
		}
	}
	caddyHelp := root.HelpFunc()
	root.SetHelpFunc(func(cmd *cobra.Command, args []string) {
		if cmd != root {
			caddyHelp(cmd, args)
			return
		}
		cliRootHelp(cmd.OutOrStdout(), root)
	})
	if caddy.CustomBinaryName == "" {
		return // an xcaddy build: its version is Caddy's
	}
	v := cliVersionText()
	root.Version = v
	for _, sub := range root.Commands() {
		if sub.Name() == "version" {
			sub.Run = nil
			sub.RunE = func(cmd *cobra.Command, _ []string) error {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), v)
				return err
			}
		}
	}
}

// cliRootHelp lists ssogate's commands, then Caddy's, one line each.
func cliRootHelp(w io.Writer, root *cobra.Command) {
	bin := cliBinName()
	var own, others []*cobra.Command
	for _, c := range root.Commands() {
		if !c.IsAvailableCommand() && c.Name() != "help" {
			continue
		}
		if c.Annotations[cliOwnAnnotation] != "" {
			own = append(own, c)
		} else {
			others = append(others, c)
		}
	}
	byName := func(cs []*cobra.Command) {
		sort.Slice(cs, func(i, j int) bool { return cs[i].Name() < cs[j].Name() })
	}
	byName(own)
	byName(others)
	fmt.Fprintf(w, "%s is Caddy with the ssogate SAML SSO gate and SCIM server built in.\n\n", bin)
	fmt.Fprintf(w, "Usage:\n  %s <command> [flags]\n\n", bin)
	list := func(title string, cs []*cobra.Command) {
		fmt.Fprintf(w, "%s:\n", title)
		tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
		for _, c := range cs {
			fmt.Fprintf(tw, "  %s\t%s\n", c.Name(), strings.TrimSuffix(c.Short, "."))
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	list("ssogate commands", own)
	list("Caddy commands", others)
	fmt.Fprintf(w, "Run '%s help <command>' for a command's flags and details.\n", bin)
	fmt.Fprintln(w, "Caddy's commands: https://caddyserver.com/docs/command-line")
}

// cliVersionText is ssogate's version, then Caddy's.
func cliVersionText() string {
	_, caddyVersion := caddy.Version()
	return fmt.Sprintf("ssogate %s\nCaddy %s", cliModuleVersion(), caddyVersion)
}

// cliModuleVersion is this module's version in the running build: the
// main module's for the ssogate binary, the dependency's for an xcaddy
// build, "(devel)" for a build from a working tree.
func cliModuleVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "(devel)"
	}
	mod := &bi.Main
	if mod.Path != cliModulePath {
		mod = nil
		for _, d := range bi.Deps {
			if d.Path == cliModulePath {
				mod = d
				break
			}
		}
	}
	if mod == nil {
		return "(devel)"
	}
	if mod.Replace != nil {
		mod = mod.Replace
	}
	if mod.Version == "" {
		return "(devel)"
	}
	return mod.Version
}
