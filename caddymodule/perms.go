package caddymodule

import (
	"fmt"
	"os"

	"go.uber.org/zap"
)

// warnOpenFiles warns, loudly, about each file that other users may read
// or write, saying what a reader can do (risk) and the command that fixes
// it. It does not refuse to start: the operator may have reasons, and now
// knows the risk.
func warnOpenFiles(logger *zap.Logger, what, risk string, paths ...string) {
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		fix := "chmod 600 " + cliShellQuote(p)
		logger.Warn(fmt.Sprintf("%s %s is open to other users (mode %04o): whoever reads it %s; run: %s",
			what, p, fi.Mode().Perm(), risk, fix), zap.String("file", p), zap.String("fix", fix))
	}
}
