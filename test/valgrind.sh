#!/bin/bash
# make valgrind: the pg_regress suite against a server running under
# valgrind memcheck.  PostgreSQL forks its backends without exec, so every
# backend runs under valgrind too.  The server from the Debian packages is
# not built with USE_VALGRIND, so memcheck cannot see palloc chunk
# boundaries; what it does see are reads of uninitialized memory, invalid
# accesses to malloc'd memory and bad frees.  Errors whose stack passes
# through schemamig.so are findings; the rest are counted as server noise
# (padding bytes written to WAL and so on).  Slow: several minutes.
# Usage: bash test/valgrind.sh [regress files...]   (default: all of REGRESS)
set -uo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

ensure_packages valgrind || exit 1
build_and_install || exit 1

tests=${*:-$(sed -n 's/^REGRESS = //p' Makefile)}
port=${VALGRIND_PORT:-$((55000 + RANDOM % 900))}
cluster_init "$port" schemamig-valgrind
cat >>"$PGDATA/postgresql.conf" <<CONF
fsync = off
autovacuum = off
jit = off
max_connections = 20
shared_buffers = 16MB
log_min_messages = warning
CONF
mkdir -p "$CLUSTER_DIR/vg" && chown postgres: "$CLUSTER_DIR/vg" 2>/dev/null
as_postgres valgrind --quiet --tool=memcheck --trace-children=yes \
	--track-origins=yes --read-var-info=no --num-callers=30 \
	--error-limit=no --suppressions=test/valgrind.supp \
	--log-file="$CLUSTER_DIR/vg/%p.log" \
	"$PG_BIN/postgres" -D "$PGDATA" >"$CLUSTER_DIR/server.log" 2>&1 &
vgpid=$!
stop() {
	as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -t 300 stop >/dev/null 2>&1
	wait $vgpid 2>/dev/null
}
trap 'stop; rm -rf "$CLUSTER_DIR"' EXIT
for i in $(seq 1 300); do
	"$PG_BIN/pg_isready" -q && break
	sleep 1
done
started=$(date +%s)
echo "== pg_regress under valgrind: $tests"
mkdir -p "$CLUSTER_DIR/regress"
make -s installcheck REGRESS="$tests" REGRESS_OPTS="--inputdir=. --outputdir=$CLUSTER_DIR/regress"
rc=$?
[ $rc != 0 ] && [ -f "$CLUSTER_DIR/regress/regression.diffs" ] && head -100 "$CLUSTER_DIR/regress/regression.diffs"
stop
echo "== regress took $(( $(date +%s) - started )) s, exit $rc"

# Split the logs into error blocks; a block mentioning schemamig is ours.
ours=0; noise=0
for f in "$CLUSTER_DIR"/vg/*.log; do
	[ -s "$f" ] || continue
	while IFS= read -r -d $'\x1e' block; do
		[ -n "${block//[[:space:]]/}" ] || continue
		if grep -q 'schemamig' <<<"$block"; then
			ours=$((ours + 1)); echo "---- $f"; echo "$block"
		elif grep -qE '^==[0-9]+== +(at|by) ' <<<"$block"; then
			noise=$((noise + 1))
		fi
	done < <(awk '/^==[0-9]+== $/ { printf "\x1e"; next } { print }' "$f"; printf '\x1e')
done
logs=${VALGRIND_LOGS:-/tmp/schemamig-valgrind-logs}
rm -rf "$logs" && cp -r "$CLUSTER_DIR/vg" "$logs"
echo "== valgrind: $ours error(s) in schemamig, $noise elsewhere in the server (logs in $logs)"
[ $rc = 0 ] && [ $ours = 0 ]
