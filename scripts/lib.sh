# shellcheck shell=bash
# lib.sh: shell helpers shared by scripts/vault-server.sh and scripts/postgres.sh.
# Sourced, not run; the sourcing script defines log().

die() {
	log "error: $*"
	exit 1
}

# port_in_use PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# shq VALUE: VALUE as a shell word: bare when safe, else single-quoted.
shq() {
	local q="'\\''"
	if [[ $1 =~ ^[A-Za-z0-9_./:@%+,=-]+$ ]]; then
		printf '%s' "$1"
		return
	fi
	printf "'%s'" "${1//\'/$q}"
}

# write_file PATH: write stdin to PATH atomically.
write_file() {
	local tmp="$1.tmp.$$"
	cat >"$tmp"
	mv -f "$tmp" "$1"
}
