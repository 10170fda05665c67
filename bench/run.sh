#!/bin/sh
# bench/run.sh: the ssogate benchmark harness (README, "Performance").
#
#   bench/run.sh                    # everything, with the defaults (about 10 minutes)
#   bench/run.sh -rounds 1 -duration 2s -members 10000 -creates 2000   # a quick look
#   bench/run.sh -phases gate       # one phase: gate, deact, scim, signin or acs
#   bench/run.sh -store postgres    # PostgreSQL beside SQLite (-postgres DSN; default $SSOGATE_TEST_POSTGRES)
#   bench/run.sh -h                 # every flag
#
# It installs wrk (a Debian package) when missing, builds the ssogate
# binary and the harness, and runs bench/gatebench from the repository
# root. Only loopback traffic; every load loop is bounded.
set -eu
cd "$(dirname "$0")/.."

if ! command -v wrk >/dev/null 2>&1; then
	echo "installing wrk (apt-get install -y wrk)" >&2
	if [ "$(id -u)" -eq 0 ]; then
		apt-get update -qq && apt-get install -y -qq wrk >/dev/null
	else
		sudo apt-get update -qq && sudo apt-get install -y -qq wrk >/dev/null
	fi
fi

out=$(mktemp -d "${TMPDIR:-/tmp}/ssogate-bench.XXXXXX")
trap 'rm -rf "$out"' EXIT INT TERM
go build -o "$out/ssogate" ./cmd/ssogate
go build -o "$out/gatebench" ./bench/gatebench
"$out/gatebench" -bin "$out/ssogate" "$@"
