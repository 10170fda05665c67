package caddymodule

import (
	"errors"
	"fmt"
	"time"

	"github.com/ssogate/ssogate/internal/orgadmin"
	"github.com/ssogate/ssogate/internal/storage"
	"github.com/ssogate/ssogate/internal/tenant"
)

// cliSSOKeysDoc explains SP keys and their rotation, in the Long text of
// sso keys and its subcommands.
const cliSSOKeysDoc = `
Each org has two SP key pairs: a signing key, which signs the requests and
logout messages the gate sends the IdP, and an encryption key, which IdPs
encrypt assertions to. The SP metadata publishes both certificates. The
private keys stay in the database; nothing here shows them.

A rotation takes two commands, with the IdP updated between them, so that
no sign-in fails:

  1. sso keys roll      makes a new signing key and a new encryption key
                        and publishes them beside the current ones (the
                        gate decrypts with either).
  2. Give the IdP the SP metadata again (or the new certificates).
  3. sso keys retire    drops the old keys; the new ones become current.`

func cliSSOKeysLeaf() cliLeaf {
	return cliLeaf{
		use:   "keys [roll | retire] [--org <name>] [--db <path>]",
		short: "Lists, rolls and retires the org's SP keys",
		long: `
Lists the org's SP keys: for each, its use (signing or encryption), its
state (current, or next: published beside the current one during a
rotation), its certificate's SHA-256 fingerprint and expiry.

  sso keys                 lists the keys
  sso keys roll            publishes new keys beside the current ones
  sso keys retire          drops the old keys; the new ones are current
` + cliSSOKeysDoc + "\n" + cliCommonFlagsDoc,
		anyArgs: true,
		run:     cliSSOKeys,
		subs: []cliLeaf{
			{
				use:   "roll [--org <name>] [--db <path>]",
				short: "Publishes new SP keys beside the current ones",
				long: `
Makes a new signing key and a new encryption key (RSA 2048, self-signed
certificates valid for 10 years) and publishes them beside the current
ones. An org without keys gets its current keys first. Then give the IdP
the SP metadata again and run sso keys retire. Refused (exit 1) while new
keys are published already.
` + cliSSOKeysDoc + "\n" + cliCommonFlagsDoc,
				run: cliSSOKeysRoll,
			},
			{
				use:   "retire [--org <name>] [--db <path>]",
				short: "Drops the old SP keys; the new ones become current",
				long: `
Drops the current keys of each use that has a new key published, and makes
the new ones current. An IdP that still has only the old certificates can
then no longer encrypt to the gate or check its signatures: give it the SP
metadata first. Refused (exit 1) when no new key is published.
` + cliSSOKeysDoc + "\n" + cliCommonFlagsDoc,
				run: cliSSOKeysRetire,
			},
		},
	}
}

func cliSSOKeys(c *cliCall) (int, error) {
	if len(c.args) > 0 {
		return cliExitUsage, fmt.Errorf("unknown subcommand %q of sso keys; want roll or retire (see `%s --help`)",
			c.args[0], cliCommandPath(c.cmd))
	}
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	keys, err := c.admin(st).SPKeys(c.ctx, org)
	if err != nil {
		return cliExitFailure, err
	}
	if len(keys) == 0 {
		c.printf("Org %s has no SP keys yet.\n", cliClean(org.Name))
		c.notef("The gate makes them when it first needs them; `%s` makes them now.\n", c.hint("sso keys roll", true))
		return cliExitOK, nil
	}
	if err := cliSSOKeysTable(c, keys); err != nil {
		return cliExitFailure, err
	}
	now := time.Now()
	for _, k := range keys {
		switch {
		case k.Expired:
			c.notef("warning: the %s key (%s) EXPIRED on %s: roll the keys with `%s`.\n", k.Use, k.State, cliTime(k.NotAfter), c.hint("sso keys roll", true))
		case k.ExpiresSoon:
			c.notef("warning: the %s key (%s) expires in %d days: roll the keys with `%s`.\n",
				k.Use, k.State, int(k.NotAfter.Sub(now).Hours()/24), c.hint("sso keys roll", true))
		}
	}
	for _, k := range keys {
		if k.State == storage.SPKeyNext {
			c.notef("New keys are published beside the current ones. Once the IdP has the SP metadata again, run `%s`.\n",
				c.hint("sso keys retire", true))
			break
		}
	}
	return cliExitOK, nil
}

// cliSSOKeysTable prints keys: use, state, fingerprint and expiry.
func cliSSOKeysTable(c *cliCall, keys []tenant.SPKeyInfo) error {
	rows := make([][]string, len(keys))
	for i, k := range keys {
		rows[i] = []string{k.Use, k.State, k.Fingerprint, cliTime(k.NotAfter)}
	}
	return c.table([]string{"USE", "STATE", "SHA-256 FINGERPRINT", "NOT AFTER"}, rows)
}

// cliSSOKeysError words the rules roll and retire refuse by, with the
// command that comes first.
func cliSSOKeysError(c *cliCall, err error) (int, error) {
	switch {
	case errors.Is(err, orgadmin.ErrKeyPublished):
		return cliExitFailure, fmt.Errorf("%v: `%s`", err, c.hint("sso keys retire", true))
	case errors.Is(err, orgadmin.ErrNothingToRetire):
		return cliExitFailure, fmt.Errorf("%v: `%s`", err, c.hint("sso keys roll", true))
	}
	return cliExitFailure, err
}

func cliSSOKeysRoll(c *cliCall) (int, error) {
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	admin := c.admin(st)
	before, err := admin.SPKeys(c.ctx, org)
	if err != nil {
		return cliExitFailure, err
	}
	keys, err := admin.RollSPKeys(c.ctx, org, orgadmin.Operator)
	if err != nil {
		return cliSSOKeysError(c, err)
	}
	if len(before) == 0 {
		c.printf("Org %s had no SP keys: made its current keys first.\n", cliClean(org.Name))
	}
	c.printf("Published new SP keys of org %s beside the current ones:\n", cliClean(org.Name))
	if err := cliSSOKeysTable(c, keys); err != nil {
		return cliExitFailure, err
	}
	gate, _, err := cliSSOGate(c, st, org)
	if err != nil {
		return cliExitFailure, err
	}
	c.notef("Next: publish: give the IdP the SP metadata again (%s); then run `%s`.\n",
		tenant.EndpointsAt(gate, org.Name).MetadataURL, c.hint("sso keys retire", true))
	return cliExitOK, nil
}

func cliSSOKeysRetire(c *cliCall) (int, error) {
	st, org, err := c.org()
	if err != nil {
		return cliExitFailure, err
	}
	keys, err := c.admin(st).RetireSPKeys(c.ctx, org, orgadmin.Operator)
	if err != nil {
		return cliSSOKeysError(c, err)
	}
	c.printf("Retired the old SP keys of org %s; the new ones are current:\n", cliClean(org.Name))
	if err := cliSSOKeysTable(c, keys); err != nil {
		return cliExitFailure, err
	}
	c.notef("An IdP that still has only the old certificates can no longer encrypt to the gate or check its signatures: give it the SP metadata again if you have not.\n")
	return cliExitOK, nil
}
