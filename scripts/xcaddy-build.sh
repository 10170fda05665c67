#!/usr/bin/env bash
# Builds Caddy with the ssogate plugin through xcaddy, as a user's own
# build would, from the manifest in xcaddy.json, then checks that the
# binary has our modules and subcommands.
#
#   scripts/xcaddy-build.sh            # writes ./ssogate-xcaddy
set -euo pipefail
cd "$(dirname "$0")/.."

field() { go run ./scripts/manifest "$1"; }

caddy_version=$(field caddy_version)
xcaddy_version=$(field xcaddy_version)
output=$(field output)
mapfile -t withs < <(field with)

gobin=$(go env GOPATH)/bin
if ! "$gobin/xcaddy" version 2>/dev/null | grep -q "${xcaddy_version#v}"; then
	go install "github.com/caddyserver/xcaddy/cmd/xcaddy@${xcaddy_version}"
fi

args=()
for w in "${withs[@]}"; do args+=(--with "$w"); done
CGO_ENABLED=0 "$gobin/xcaddy" build "$caddy_version" --output "$output" "${args[@]}"

modules=$("./$output" list-modules)
for m in ssogate http.handlers.saml_sso http.handlers.scim_server; do
	grep -qx "$m" <<<"$modules" || { echo "xcaddy build lacks module $m" >&2; exit 1; }
done
for c in token org domain user team demo; do
	"./$output" help "$c" >/dev/null || { echo "xcaddy build lacks subcommand $c" >&2; exit 1; }
done
echo "built ./$output with $(grep -c . <<<"$modules") modules, ssogate's included"
