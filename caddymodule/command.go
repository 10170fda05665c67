package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/pgstore"
	"github.com/ssogate/ssogate/internal/sqlitestore"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// The admin subcommands (org, token, domain, user, team, sso, audit) are
// registered here, by the plugin, so that any binary built with it has
// them: the ssogate binary and an xcaddy build alike. Their changes go
// through internal/orgadmin, as the operator, so that each is an event of
// the org's activity log.
//
// Output contract: what a person reads goes to stdout, except when the
// command exists to print one value meant to be copied (a token, a TXT
// value): then stdout holds that value alone and every note goes to stderr,
// so that `TOKEN=$(ssogate token create …)` works. An error is one line on
// stderr, "ssogate: <message>", written by cliRunE rather than Caddy's
// logger (whose JSON lines are for servers, not people). Exit codes:
// 0 success, 1 failure, 2 usage (a missing or extra argument, an unknown
// command, flag or flag value).
func init() {
	cmds := cliCommands()
	funcs := make([]func(*cobra.Command), len(cmds))
	for i, c := range cmds {
		funcs[i] = c.CobraFunc
	}
	funcs = cliRootHook(funcs)
	for i, c := range cmds {
		c.CobraFunc = funcs[i]
		caddycmd.RegisterCommand(c)
	}
}

// Exit codes of the subcommands.
const (
	cliExitOK      = caddy.ExitCodeSuccess
	cliExitFailure = caddy.ExitCodeFailedStartup // 1
	cliExitUsage   = 2
)

// cliCommands returns the subcommands the plugin registers.
func cliCommands() []caddycmd.Command {
	return []caddycmd.Command{
		cliOrgCommand(),
		cliBackupCommand(),
		cliTokenCommand(),
		cliDomainCommand(),
		cliUserCommand(),
		cliTeamCommand(),
		cliSSOCommand(),
		cliAuditCommand(),
		cliStoreCommand(),
	}
}

// cliDefaultOrg is the org a subcommand works on without --org, the same
// default as the saml_sso directive's org.
const cliDefaultOrg = "default"

// cliCommonFlagsDoc documents the flags every subcommand takes; each Long
// text includes it.
const cliCommonFlagsDoc = `
--org <name>
    The organization to work on. It must exist (a Caddyfile naming it
    creates it when loaded, or 'org create' does). Default: default.

--json (list commands)
    Print a JSON array of objects, one a row, keyed by the column names
    in snake case (LAST USED is last_used), for scripts.

--db <path>
    The SQLite database of the ssogate app. Default: the app's own default,
    <Caddy data dir>/ssogate/ssogate.db; pass the path of your Caddyfile's
    "database sqlite <path>" option when you set one, or the postgres://
    URL of its "database postgres <dsn>".`

// cliLeaf describes one subcommand such as "token create".
type cliLeaf struct {
	use   string // name and argument syntax, as cobra's Use
	short string
	long  string
	args  []string // names of the positional arguments, all required
	// anyArgs leaves checking the number of arguments to run.
	anyArgs bool
	noOrg   bool // takes no --org (org list)
	flags   func(*pflag.FlagSet)
	run     func(*cliCall) (int, error)
	// createsDB lets the subcommand create the database file (org create);
	// the others refuse to run on a path where none exists, which is most
	// likely a mistyped or missing --db.
	createsDB bool
	// list gives the subcommand --json, which makes table print JSON.
	list bool
	// subs are subcommands of this one, which runs itself too (sso keys
	// lists, sso keys roll rolls).
	subs []cliLeaf
}

// cliGroup sets up a command such as "token" whose subcommands are leaves.
// Run without a subcommand, or with an unknown one, it fails with the
// usage exit code rather than printing help and succeeding.
func cliGroup(cmd *cobra.Command, leaves ...cliLeaf) {
	names := make([]string, len(leaves))
	for i, l := range leaves {
		names[i] = strings.Fields(l.use)[0]
	}
	want := strings.Join(names, ", ")
	cmd.RunE = cliRunE(func(fl caddycmd.Flags) (int, error) {
		if args := fl.Args(); len(args) > 0 {
			return cliExitUsage, fmt.Errorf("unknown command %q for %q; want one of %s (see `%s --help`)",
				args[0], cliCommandPath(cmd), want, cliCommandPath(cmd))
		}
		return cliExitUsage, fmt.Errorf("%s needs a subcommand: one of %s (see `%s %s --help`)",
			cmd.Name(), want, cliBinName(), cmd.Name())
	})
	// The subcommands' flags given after an unknown subcommand (user
	// frobnicate --db x) must not hide it behind "unknown flag: --db".
	cmd.FParseErrWhitelist.UnknownFlags = true
	cmd.SetFlagErrorFunc(cliFlagError)
	cliMarkOwn(cmd)
	for _, l := range leaves {
		cmd.AddCommand(l.command())
	}
}

// cliFlagError makes a flag parsing error exit with the usage code,
// reported as every other error is.
func cliFlagError(cmd *cobra.Command, err error) error {
	return cliFail(cmd, cliExitUsage, fmt.Errorf("%v (see `%s --help`)", err, cliCommandPath(cmd)))
}

// cliRunE adapts a command function to cobra: a failure is reported by
// cliFail.
func cliRunE(f caddycmd.CommandFunc) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, _ []string) error {
		code, err := f(caddycmd.Flags{FlagSet: cmd.Flags()})
		if err == nil && code == cliExitOK {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("exiting with status %d", code)
		}
		return cliFail(cmd, code, err)
	}
}

// cliFail writes err to stderr as one line for people, "ssogate: …", and
// returns the error that makes caddycmd.Main exit with code.
func cliFail(cmd *cobra.Command, code int, err error) error {
	msg := strings.Join(strings.Fields(strings.ReplaceAll(err.Error(), "\n", "; ")), " ")
	fmt.Fprintf(cmd.ErrOrStderr(), "%s: %s\n", cliBinName(), msg)
	cmd.SilenceErrors = true
	cmd.Root().SilenceErrors = true
	if code == cliExitOK {
		code = cliExitFailure
	}
	// Caddy's wrapper returns its own (unexported) exit error, the one
	// Main exits with, when given a code above 1 and no error to log.
	exit := caddycmd.WrapCommandFuncForCobra(func(caddycmd.Flags) (int, error) { return code, nil })(cmd, nil)
	return &cliError{ExitCode: code, err: err, exit: exit}
}

// cliError is a subcommand's failure, already reported on stderr.
type cliError struct {
	ExitCode int
	err      error
	exit     error // Caddy's exit error, for a code above 1
}

func (e *cliError) Error() string { return e.err.Error() }

func (e *cliError) Unwrap() []error {
	if e.exit == nil {
		return []error{e.err}
	}
	return []error{e.err, e.exit}
}

func (l cliLeaf) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   l.use,
		Short: l.short,
		Long:  strings.TrimSpace(l.long),
	}
	l.setUp(cmd)
	for _, sub := range l.subs {
		cmd.AddCommand(sub.command())
	}
	return cmd
}

// cliSingle sets up a command such as "audit" that has no subcommands:
// it is the leaf itself (its use, short and long are the Command's).
func cliSingle(cmd *cobra.Command, l cliLeaf) {
	cliMarkOwn(cmd)
	cmd.SetFlagErrorFunc(cliFlagError)
	l.setUp(cmd)
}

// setUp gives cmd the leaf's flags and runs the leaf when it is run.
func (l cliLeaf) setUp(cmd *cobra.Command) {
	fl := cmd.Flags()
	if !l.noOrg {
		fl.String("org", cliDefaultOrg, "the organization to work on")
	}
	fl.String("db", "", "the database file, or a postgres:// URL (default <Caddy data dir>/ssogate/ssogate.db)")
	if l.flags != nil {
		l.flags(fl)
	}
	if l.list {
		fl.Bool("json", false, "print a JSON array of objects, for scripts")
	}
	cmd.RunE = cliRunE(func(fl caddycmd.Flags) (int, error) {
		return l.execute(cmd, fl)
	})
}

func (l cliLeaf) execute(cmd *cobra.Command, fl caddycmd.Flags) (int, error) {
	args := fl.Args()
	if !l.anyArgs && len(args) != len(l.args) {
		want := "no arguments"
		if len(l.args) > 0 {
			want = strings.Join(l.args, " ")
		}
		got := "none"
		if len(args) > 0 {
			got = strings.Join(args, " ")
		}
		return cliExitUsage, fmt.Errorf("`%s` takes %s, got %s (see `%s --help`)",
			cliCommandPath(cmd), want, got, cliCommandPath(cmd))
	}
	c := &cliCall{
		ctx:    cmd.Context(),
		cmd:    cmd,
		flags:  fl,
		args:   args,
		stdin:  cmd.InOrStdin(),
		stdout: cmd.OutOrStdout(),
		stderr: cmd.ErrOrStderr(),
	}
	if c.ctx == nil {
		c.ctx = context.Background()
	}
	if !l.noOrg {
		c.orgName = fl.String("org")
	}
	if l.list {
		c.json = fl.Bool("json")
	}
	c.dbPath = fl.String("db")
	c.dbGiven = c.dbPath != ""
	if !c.dbGiven {
		c.dbPath = DefaultDatabasePath()
	}
	if !l.createsDB && !isPostgresDSN(c.dbPath) {
		if _, err := os.Stat(c.dbPath); errors.Is(err, fs.ErrNotExist) {
			return cliExitFailure, fmt.Errorf("no ssogate database at %s; pass --db with the path of your Caddyfile's database option, or create an org first with `%s`",
				c.dbPath, c.hint("org create NAME", false))
		}
	}
	defer c.close()
	return l.run(c)
}

// cliCall is one run of a subcommand: its arguments, streams and store.
type cliCall struct {
	ctx    context.Context
	cmd    *cobra.Command
	flags  caddycmd.Flags
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer

	orgName string
	dbPath  string
	dbGiven bool
	json    bool // --json: table prints JSON
	store   storage.Store
}

// open opens the store.
func (c *cliCall) open() (storage.Store, error) {
	if c.store != nil {
		return c.store, nil
	}
	var st storage.Store
	var err error
	if isPostgresDSN(c.dbPath) {
		st, err = pgstore.Open(c.ctx, c.dbPath)
	} else {
		st, err = sqlitestore.Open(c.ctx, c.dbPath)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the database: %w", err)
	}
	c.store = st
	return st, nil
}

func (c *cliCall) close() {
	if c.store != nil {
		_ = c.store.Close()
	}
}

// org opens the store and returns the --org organization, with an error a
// person can act on when it does not exist.
func (c *cliCall) org() (storage.Store, storage.Org, error) {
	st, err := c.open()
	if err != nil {
		return nil, storage.Org{}, err
	}
	org, err := st.OrgByName(c.ctx, c.orgName)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, storage.Org{}, fmt.Errorf("org %s does not exist; create it with `%s` or name it in a Caddyfile",
			c.orgName, c.hint("org create "+cliShellQuote(c.orgName), false))
	}
	if err != nil {
		return nil, storage.Org{}, fmt.Errorf("looking up org %s: %w", c.orgName, err)
	}
	return st, org, nil
}

// admin returns the org operations on the store, run as the operator:
// each change is recorded in the org's activity log. A failure to record
// one is reported on stderr (the change itself is made).
func (c *cliCall) admin(st storage.Store) *orgadmin.Service {
	enc := zapcore.NewConsoleEncoder(zapcore.EncoderConfig{MessageKey: "msg", LevelKey: "level", EncodeLevel: zapcore.LowercaseLevelEncoder})
	return &orgadmin.Service{
		Store: st,
		// The operator may point an org at an IdP on their own network.
		Fetch: tenant.FetchMetadata(tenant.MetadataClient(true)),
		Log:   zap.New(zapcore.NewCore(enc, zapcore.AddSync(c.stderr), zapcore.ErrorLevel)),
	}
}

// hint returns a command line to suggest, carrying over --db when it was
// given and, with withOrg, --org when it is not the default.
func (c *cliCall) hint(sub string, withOrg bool) string {
	s := cliBinName() + " " + sub
	if withOrg && c.orgName != cliDefaultOrg {
		s += " --org " + cliShellQuote(c.orgName)
	}
	if c.dbGiven {
		s += " --db " + cliShellQuote(redactDSN(c.dbPath))
	}
	return s
}

// printf writes to stdout, for people.
func (c *cliCall) printf(format string, a ...any) {
	fmt.Fprintf(c.stdout, format, a...)
}

// notef writes a note to stderr.
func (c *cliCall) notef(format string, a ...any) {
	fmt.Fprintf(c.stderr, format, a...)
}

// table writes rows as aligned columns to stdout. Cells are cleaned of
// control characters first: names and emails come from IdPs over SCIM and
// must not be able to move the operator's cursor or recolor the terminal.
//
// With --json it writes a JSON array instead, one object a row, keyed by
// the header in snake case ("LAST USED" → "last_used").
func (c *cliCall) table(header []string, rows [][]string) error {
	if c.json {
		return cliJSONTable(c.stdout, header, rows)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	write := func(cells []string) {
		for i, cell := range cells {
			if i > 0 {
				fmt.Fprint(tw, "\t")
			}
			fmt.Fprint(tw, cliClean(cell))
		}
		fmt.Fprint(tw, "\n")
	}
	write(header)
	for _, r := range rows {
		write(r)
	}
	return tw.Flush()
}

// cliClean shows control characters (and tabs, which would break the
// table) as escapes, and an empty value as "-".
func cliClean(s string) string {
	if s == "" {
		return "-"
	}
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			fmt.Fprintf(&b, "\\x%02x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cliTime formats a time for people, in UTC; the zero time is "never".
func cliTime(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

// cliResult is the exit code and error of a subcommand whose last step
// returned err.
func cliResult(err error) (int, error) {
	if err != nil {
		return cliExitFailure, err
	}
	return cliExitOK, nil
}

func cliYesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// cliBinName is the name to use in suggested command lines: the custom
// binary name when the build set one, else the name the program was run
// as (ssogate, or caddy for an xcaddy build).
func cliBinName() string {
	if caddy.CustomBinaryName != "" {
		return caddy.CustomBinaryName
	}
	name := strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe")
	if name == "" || name == "." || strings.HasSuffix(name, ".test") {
		return "ssogate"
	}
	return name
}

// cliCommandPath is cmd's path with the binary name users typed.
func cliCommandPath(cmd *cobra.Command) string {
	path := cmd.CommandPath()
	if _, rest, ok := strings.Cut(path, " "); ok {
		return cliBinName() + " " + rest
	}
	return cliBinName()
}

// cliShellQuote quotes s for a POSIX shell when it needs quoting.
func cliShellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r < unicode.MaxASCII && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("@%+=:,./_-", r)))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// cliJSONTable writes rows as a JSON array of objects keyed by header.
func cliJSONTable(w io.Writer, header []string, rows [][]string) error {
	keys := make([]string, len(header))
	for i, h := range header {
		keys[i] = strings.ToLower(strings.Join(strings.FieldsFunc(h, func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r)
		}), "_"))
	}
	out := make([]map[string]string, 0, len(rows))
	for _, r := range rows {
		obj := make(map[string]string, len(keys))
		for i, k := range keys {
			if i < len(r) {
				obj[k] = r[i]
			}
		}
		out = append(out, obj)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// isPostgresDSN reports whether --db names a PostgreSQL database rather
// than a SQLite file.
func isPostgresDSN(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// redactDSN hides a PostgreSQL URL's password, for the hints a command
// prints.
func redactDSN(db string) string {
	if !isPostgresDSN(db) {
		return db
	}
	u, err := url.Parse(db)
	if err != nil {
		return "postgres://..."
	}
	return u.Redacted()
}
