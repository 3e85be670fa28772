#!/usr/bin/env bash
# postgres.sh: run a throw-away PostgreSQL cluster for ward's integration tests
# (the target of Vault's database secrets engine).
#
# Usage:
#   scripts/postgres.sh install      # apt-get install postgresql if initdb/pg_ctl are missing
#   scripts/postgres.sh start DIR    # initdb (if needed) + start; writes DIR/postgres.env
#   scripts/postgres.sh stop DIR     # stop the cluster in DIR and wait for it
#
# DIR/postgres.env (source it) exports:
#   PG_TEST_PORT    the TCP port on 127.0.0.1
#   PG_TEST_URL     postgresql://postgres@127.0.0.1:PORT/postgres?sslmode=disable
#   PG_TEST_BINDIR  directory holding initdb, pg_ctl, psql of that cluster
#
# The cluster lives in DIR/pgdata (trust authentication, superuser "postgres"),
# listens on 127.0.0.1 only, keeps its unix socket in DIR/pgsock and logs to
# DIR/postgres.log. initdb refuses to run as root, so as root initdb and pg_ctl
# run as the "postgres" user (runuser), which must be able to reach DIR.
# Settings (environment): PG_START_TIMEOUT (seconds, default 60).
set -euo pipefail

readonly START_TIMEOUT="${PG_START_TIMEOUT:-60}"

log() { printf 'postgres: %s\n' "$*" >&2; }
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	sed -n '/^# Usage:/,/^#$/p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

# find_bindir: print the directory holding initdb and pg_ctl. Debian keeps
# them only in /usr/lib/postgresql/<version>/bin (not on PATH); prefer the
# newest version there, then whatever is on PATH.
find_bindir() {
	local d p
	for d in $(printf '%s\n' /usr/lib/postgresql/*/bin | sort -rV); do
		if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
			printf '%s\n' "$d"
			return 0
		fi
	done
	if p=$(command -v initdb) && command -v pg_ctl >/dev/null; then
		p=$(readlink -f "$p")
		printf '%s\n' "$(dirname "$p")"
		return 0
	fi
	return 1
}

cmd_install() {
	if find_bindir >/dev/null; then
		log "PostgreSQL server tools present in $(find_bindir)"
		return 0
	fi
	[[ $(id -u) -eq 0 ]] || die "run as root to apt-get install postgresql"
	log "installing Debian's postgresql package"
	apt-get update
	DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
	find_bindir >/dev/null || die "postgresql installed but initdb/pg_ctl not found"
}

# as_pg CMD...: run CMD as the postgres user when we are root.
as_pg() {
	if [[ $(id -u) -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

pick_port() {
	local port i
	for ((i = 0; i < 200; i++)); do
		port=$((20000 + RANDOM % 40000))
		if ! port_in_use "$port"; then
			printf '%s\n' "$port"
			return 0
		fi
	done
	die "no free loopback port found"
}

# prepare_dir DIR: make DIR's cluster paths, owned by the postgres user when root.
prepare_dir() {
	local dir=$1
	mkdir -p "$dir/pgsock"
	touch "$dir/postgres.log"
	if [[ $(id -u) -eq 0 ]]; then
		id postgres >/dev/null 2>&1 || die "no postgres user (run: $0 install)"
		# The postgres user must be able to traverse DIR (mktemp -d makes it 0700).
		if ! runuser -u postgres -- test -x "$dir"; then
			chmod a+x "$dir"
		fi
		runuser -u postgres -- test -x "$dir" ||
			die "user postgres cannot reach $dir (a parent directory is not searchable); use a directory under /tmp"
		[[ -d $dir/pgdata ]] || install -d -m 0700 -o postgres -g postgres "$dir/pgdata"
		chown postgres:postgres "$dir/pgsock" "$dir/postgres.log"
		chown -R postgres:postgres "$dir/pgdata"
	else
		[[ -d $dir/pgdata ]] || install -d -m 0700 "$dir/pgdata"
	fi
}

cmd_start() {
	local dir=${1:-} bindir
	[[ -n $dir ]] || usage
	bindir=$(find_bindir) || die "initdb/pg_ctl not found (run: $0 install)"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	local data=$dir/pgdata
	if [[ -f $data/postmaster.pid ]] && as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		die "a cluster is already running in $data; stop it first"
	fi
	prepare_dir "$dir"
	if [[ ! -f $data/PG_VERSION ]]; then
		log "initdb $data"
		as_pg "$bindir/initdb" -D "$data" -A trust -U postgres -E UTF8 --no-locale \
			--no-sync >"$dir/initdb.log" 2>&1 || {
			cat "$dir/initdb.log" >&2
			die "initdb failed"
		}
	fi

	local attempt port deadline logged
	for attempt in 1 2 3 4 5; do
		port=$(pick_port)
		logged=$(wc -l <"$dir/postgres.log")
		log "starting on 127.0.0.1:$port (attempt $attempt), log $dir/postgres.log"
		# -w waits for start-up itself; the pg_isready poll below confirms TCP.
		if as_pg "$bindir/pg_ctl" -D "$data" -l "$dir/postgres.log" -w -t "$START_TIMEOUT" \
			-o "-p $port -k $dir/pgsock -c listen_addresses=127.0.0.1 -F" start >/dev/null; then
			deadline=$((SECONDS + START_TIMEOUT))
			until "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres -U postgres; do
				if ((SECONDS >= deadline)); then
					as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w stop >/dev/null 2>&1 || true
					die "pg_isready did not succeed within ${START_TIMEOUT}s"
				fi
				sleep 0.1
			done
			{
				printf 'export PG_TEST_PORT=%s\n' "$(shq "$port")"
				printf 'export PG_TEST_URL=%s\n' "$(shq "postgresql://postgres@127.0.0.1:$port/postgres?sslmode=disable")"
				printf 'export PG_TEST_BINDIR=%s\n' "$(shq "$bindir")"
			} | write_file "$dir/postgres.env"
			log "ready: env in $dir/postgres.env"
			return 0
		fi
		if tail -n "+$((logged + 1))" "$dir/postgres.log" | grep -qi 'could not bind\|address already in use'; then
			log "port $port was taken meanwhile; retrying"
			continue
		fi
		tail -n 20 "$dir/postgres.log" >&2 || true
		die "pg_ctl start failed"
	done
	die "could not find a free port after $attempt attempts"
}

cmd_stop() {
	local dir=${1:-} bindir
	[[ -n $dir ]] || usage
	local data=$dir/pgdata
	rm -f "$dir/postgres.env"
	if [[ ! -f $data/postmaster.pid ]]; then
		log "no cluster running in $data"
		return 0
	fi
	bindir=$(find_bindir) || die "pg_ctl not found"
	log "stopping cluster in $data"
	as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
}

main() {
	local cmd=${1:-}
	[[ $# -gt 0 ]] && shift
	case $cmd in
	install) cmd_install ;;
	start) cmd_start "$@" ;;
	stop) cmd_stop "$@" ;;
	*) usage ;;
	esac
}

main "$@"
