#!/usr/bin/env bash
# vault-server.sh: build and run a real HashiCorp Vault (v1.16.0) dev server
# for ward's integration tests.
#
# Usage:
#   scripts/vault-server.sh build        # build (or reuse) the cached binary, print its path
#   scripts/vault-server.sh start DIR    # start a dev server; writes DIR/vault.env, vault.pid, vault.log
#   scripts/vault-server.sh stop DIR     # stop the server started in DIR, wait for it to exit
#   scripts/vault-server.sh bin          # print the cached binary's path (no build)
#
# DIR/vault.env (source it) exports:
#   VAULT_TEST_ADDR   http://127.0.0.1:PORT
#   VAULT_TEST_TOKEN  the dev root token (ward-root-token unless VAULT_TEST_ROOT_TOKEN is set)
#   VAULT_TEST_BIN    path to the vault binary
# The names are VAULT_TEST_* and not VAULT_ADDR/VAULT_TOKEN on purpose, so ward's
# own environment scoping is not confused by them.
#
# Settings (environment): WARD_CACHE_DIR (default $HOME/.cache/ward),
# VAULT_TEST_ROOT_TOKEN, VAULT_START_TIMEOUT (seconds, default 60),
# VAULT_BUILD_VERBOSE=1 (pass -v to go build).
#
# The binary is built from the nested module testdata/vaultserver into
# $WARD_CACHE_DIR/vault-1.16.0/vault (about 400 MB); later calls reuse it. The
# first build downloads about 4 GB of modules: measured on a 2-core machine with
# another compile running, 1406 s (23.5 min) wall, ~6 min of it downloading,
# 1466 s user CPU, 4.5 GB peak RSS. See that module's go.mod for why it pins
# github.com/hashicorp/vault/sdk v0.12.0.
#
# End-to-end check that was run by hand with this script and scripts/postgres.sh
# (Debian's PostgreSQL 15), verbatim:
#
#   scripts/vault-server.sh build
#   D=$(mktemp -d)
#   scripts/postgres.sh start "$D"
#   scripts/vault-server.sh start "$D"
#   . "$D/vault.env"; . "$D/postgres.env"
#   export VAULT_ADDR=$VAULT_TEST_ADDR VAULT_TOKEN=$VAULT_TEST_TOKEN
#   V=$VAULT_TEST_BIN
#   $V kv put secret/x a=b
#   $V kv get -field=a secret/x                                  # -> b
#   $V secrets enable database
#   $V write database/config/pg plugin_name=postgresql-database-plugin \
#     connection_url="postgresql://{{username}}:{{password}}@127.0.0.1:$PG_TEST_PORT/postgres?sslmode=disable" \
#     username=postgres password=unused allowed_roles=app verify_connection=true
#   $V write database/roles/app db_name=pg default_ttl=10s max_ttl=30s \
#     creation_statements="CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO \"{{name}}\";"
#   $V read -format=json database/creds/app > "$D/creds.json"   # lease_duration 10, renewable
#   U=$(sed -n 's/.*"username": "\(.*\)".*/\1/p' "$D/creds.json")
#   P=$(sed -n 's/.*"password": "\(.*\)".*/\1/p' "$D/creds.json")
#   PGPASSWORD=$P psql "postgresql://$U@127.0.0.1:$PG_TEST_PORT/postgres?sslmode=disable" -tAc 'select current_user'   # -> $U
#   scripts/vault-server.sh stop "$D"
#   scripts/postgres.sh stop "$D"
set -euo pipefail

readonly VAULT_VERSION=1.16.0
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly SCRIPT_DIR
readonly MODULE_DIR="$SCRIPT_DIR/../testdata/vaultserver"
readonly CACHE_ROOT="${WARD_CACHE_DIR:-$HOME/.cache/ward}"
readonly VAULT_BIN="$CACHE_ROOT/vault-$VAULT_VERSION/vault"
readonly ROOT_TOKEN="${VAULT_TEST_ROOT_TOKEN:-ward-root-token}"
readonly START_TIMEOUT="${VAULT_START_TIMEOUT:-60}"

log() { printf 'vault-server: %s\n' "$*" >&2; }
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	sed -n '/^# Usage:/,/^#$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# The caller's VAULT_* settings (address, token, TLS, namespace) must not leak
# into the commands this script runs against its own server.
clear_vault_env() {
	local v
	for v in $(compgen -e); do
		case $v in
		VAULT_TEST_*) ;;
		VAULT_*) unset "$v" ;;
		esac
	done
}

binary_works() {
	[[ -x $1 ]] && "$1" version >/dev/null 2>&1
}

cmd_build() {
	if binary_works "$VAULT_BIN"; then
		log "using cached $("$VAULT_BIN" version) at $VAULT_BIN"
		printf '%s\n' "$VAULT_BIN"
		return 0
	fi
	command -v go >/dev/null || die "go is not on PATH"
	[[ -f $MODULE_DIR/go.mod ]] || die "missing $MODULE_DIR/go.mod"
	local out_dir tmp start verbose=()
	out_dir=$(dirname "$VAULT_BIN")
	mkdir -p "$out_dir"
	# Build to a temporary name in the same directory and rename it into place,
	# so an interrupted build never leaves a broken cached binary.
	tmp="$out_dir/.vault.tmp.$$"
	# shellcheck disable=SC2064 # expand $tmp now
	trap "rm -f '$tmp'" EXIT
	[[ ${VAULT_BUILD_VERBOSE:-} == 1 ]] && verbose=(-v)
	log "building Vault v$VAULT_VERSION from $MODULE_DIR"
	log "a cold build downloads ~4 GB of modules and compiles for 20-30 minutes on 2 cores"
	start=$SECONDS
	(
		cd "$MODULE_DIR"
		# The committed go.mod/go.sum pin every module, so build read-only
		# (they were resolved once with GOFLAGS=-mod=mod from Vault's own
		# go.mod; never run `go mod tidy` here). vault-hcp-lib is not in the
		# checksum database, hence GONOSUMDB.
		GOFLAGS="-mod=readonly -buildvcs=false" \
			GONOSUMDB="${GONOSUMDB:+$GONOSUMDB,}github.com/hashicorp/vault-hcp-lib" \
			nice -n 19 go build "${verbose[@]}" -trimpath -o "$tmp" .
	) || die "go build failed after $((SECONDS - start))s"
	binary_works "$tmp" || die "built binary does not run: $tmp"
	mv -f "$tmp" "$VAULT_BIN"
	trap - EXIT
	log "built $("$VAULT_BIN" version) in $((SECONDS - start))s: $VAULT_BIN"
	printf '%s\n' "$VAULT_BIN"
}

# pick_port: print a random loopback port that is free, and whose successor is
# free too (the dev server's cluster listener takes API port + 1).
pick_port() {
	local port i
	for ((i = 0; i < 200; i++)); do
		port=$((20000 + RANDOM % 40000))
		if ! port_in_use "$port" && ! port_in_use "$((port + 1))"; then
			printf '%s\n' "$port"
			return 0
		fi
	done
	die "no free loopback port found"
}

pid_alive() {
	kill -0 "$1" 2>/dev/null
}

cmd_start() {
	local dir=${1:-}
	[[ -n $dir ]] || usage
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [[ -f $dir/vault.pid ]] && pid_alive "$(cat "$dir/vault.pid")"; then
		die "a server is already running from $dir (pid $(cat "$dir/vault.pid")); stop it first"
	fi
	cmd_build >/dev/null
	clear_vault_env

	local attempt port addr pid deadline
	for attempt in 1 2 3 4 5; do
		port=$(pick_port)
		addr="http://127.0.0.1:$port"
		log "starting dev server on $addr (attempt $attempt), log $dir/vault.log"
		# -dev-no-store-token: keep the root token out of ~/.vault-token.
		nohup "$VAULT_BIN" server -dev -dev-no-store-token \
			-dev-root-token-id="$ROOT_TOKEN" \
			-dev-listen-address="127.0.0.1:$port" \
			</dev/null >"$dir/vault.log" 2>&1 &
		pid=$!
		printf '%s\n' "$pid" | write_file "$dir/vault.pid"
		deadline=$((SECONDS + START_TIMEOUT))
		while ((SECONDS < deadline)); do
			if ! pid_alive "$pid"; then
				break
			fi
			if VAULT_ADDR="$addr" "$VAULT_BIN" status >/dev/null 2>&1; then
				{
					printf 'export VAULT_TEST_ADDR=%s\n' "$(shq "$addr")"
					printf 'export VAULT_TEST_TOKEN=%s\n' "$(shq "$ROOT_TOKEN")"
					printf 'export VAULT_TEST_BIN=%s\n' "$(shq "$VAULT_BIN")"
				} | write_file "$dir/vault.env"
				log "ready after $((SECONDS + START_TIMEOUT - deadline))s: pid $pid, env in $dir/vault.env"
				return 0
			fi
			sleep 0.1
		done
		if pid_alive "$pid"; then
			stop_pid "$pid"
			rm -f "$dir/vault.pid"
			tail -n 20 "$dir/vault.log" >&2 || true
			die "server did not answer within ${START_TIMEOUT}s"
		fi
		wait "$pid" 2>/dev/null || true
		rm -f "$dir/vault.pid"
		if grep -qi 'address already in use' "$dir/vault.log"; then
			log "port $port was taken meanwhile; retrying"
			continue
		fi
		tail -n 20 "$dir/vault.log" >&2 || true
		die "server exited during start-up"
	done
	die "could not find a free port after $attempt attempts"
}

# stop_pid PID: SIGTERM, wait up to 30 s, then SIGKILL and wait.
stop_pid() {
	local pid=$1 deadline
	kill -TERM "$pid" 2>/dev/null || return 0
	deadline=$((SECONDS + 30))
	while pid_alive "$pid" && ((SECONDS < deadline)); do
		sleep 0.1
	done
	if pid_alive "$pid"; then
		log "pid $pid ignored SIGTERM for 30s; sending SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
		deadline=$((SECONDS + 10))
		while pid_alive "$pid" && ((SECONDS < deadline)); do
			sleep 0.1
		done
		pid_alive "$pid" && die "pid $pid did not exit"
	fi
	return 0
}

cmd_stop() {
	local dir=${1:-} pid
	[[ -n $dir ]] || usage
	if [[ ! -f $dir/vault.pid ]]; then
		log "no $dir/vault.pid: nothing to stop"
		return 0
	fi
	pid=$(cat "$dir/vault.pid")
	[[ $pid =~ ^[0-9]+$ ]] || die "bad pid file $dir/vault.pid"
	# Guard against a recycled pid: only signal our vault binary.
	if pid_alive "$pid" && grep -qa -- "-dev-root-token-id" "/proc/$pid/cmdline" 2>/dev/null; then
		log "stopping pid $pid"
		stop_pid "$pid"
	else
		log "pid $pid is not running"
	fi
	rm -f "$dir/vault.pid" "$dir/vault.env"
}

main() {
	local cmd=${1:-}
	[[ $# -gt 0 ]] && shift
	case $cmd in
	build) cmd_build ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	bin) printf '%s\n' "$VAULT_BIN" ;;
	*) usage ;;
	esac
}

main "$@"
