#!/usr/bin/env bash
# Runs BenchmarkEngineVsRiver (W=4 and W=64) on a throwaway PostgreSQL started as .ci/test starts one,
# or on the server VMMPM_TEST_POSTGRES names when it is set. Arguments go to go test (e.g. -count 3).
# RIVERPG_FSYNC=off starts the cluster without fsync (as .ci/test does); the default keeps
# PostgreSQL's own default, durable commits, as the bbolt engine's are.
set -euo pipefail
cd "$(dirname "$0")"

pgdir=""
cleanup() {
	if [ -n "$pgdir" ]; then
		[ -f "$pgdir/data/postmaster.pid" ] && as_pg "$pgbin/pg_ctl" stop -D "$pgdir/data" -m immediate >/dev/null 2>&1
		rm -rf "$pgdir"
	fi
}
trap cleanup EXIT

# as_pg runs a PostgreSQL tool as the postgres user when we are root (initdb and postgres refuse root).
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_postgres() {
	pgbin=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1)
	if [ -z "$pgbin" ] || [ ! -x "$pgbin/initdb" ]; then
		echo "riverpg: PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): apt-get install postgresql, or set VMMPM_TEST_POSTGRES to a server's postgres:// address" >&2
		exit 1
	fi
	pgdir=$(mktemp -d)
	[ "$(id -u)" -ne 0 ] || chown postgres: "$pgdir"
	as_pg "$pgbin/initdb" --no-sync -D "$pgdir/data" -U postgres --auth=trust >"$pgdir/initdb.log" ||
		{ cat "$pgdir/initdb.log" >&2; exit 1; }
	local port tries
	for tries in 1 2 3 4 5; do
		# A port taken meanwhile makes pg_ctl fail at once; another random one is tried.
		port=$((20000 + RANDOM % 30000))
		if as_pg "$pgbin/pg_ctl" start -w -t 60 -D "$pgdir/data" -l "$pgdir/server.log" \
			-o "-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c fsync=${RIVERPG_FSYNC:-on} -c max_connections=300" >/dev/null; then
			break
		fi
		[ "$tries" -lt 5 ] || { cat "$pgdir/server.log" >&2; exit 1; }
	done
	export VMMPM_TEST_POSTGRES="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
}

if [ -z "${VMMPM_TEST_POSTGRES:-}" ]; then
	start_postgres
fi
echo "riverpg: PostgreSQL at $VMMPM_TEST_POSTGRES (fsync=${RIVERPG_FSYNC:-on} when started here)"
go test -run '^$' -bench 'BenchmarkEngineVsRiver' -benchtime 1x "$@" .
