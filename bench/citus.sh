#!/bin/bash
# A revision on a distributed table against the same DDL through plain Citus
# (issue #16, target <= 1.2x).  Two throwaway 3-node clusters (test/citus/
# cluster.sh), running at once and taking turns (BLOCK rounds each): plain
# Citus (shared_preload_libraries = 'citus') and Citus + schemamig with every
# node under enforce.  Each round
# adds a column and an index to a 32-shard distributed table and drops them
# again: plain = `BEGIN; DDL; COMMIT`, schemamig = `upgrade()` of a revision
# registered beforehand (register() is timed apart).  Median of N rounds.
# Needs citus.so in PG_BIN's PostgreSQL (test/citus/run.sh builds it).
# Timed by the server round trips only: each phase is one psql session with
# \timing, a round's time the sum of its statements' (BEGIN, the four DDL
# statements one by one and COMMIT for plain Citus; the one upgrade() call
# for schemamig), so psql's start-up (60-80 ms on the shared VM, more than
# the DDL itself) stays out.  Every statement must succeed (ON_ERROR_STOP).
# The first version of this script sent `BEGIN; DDL; COMMIT` as one query
# string, which Citus refuses for CREATE INDEX ("cannot insert multiple
# commands into a prepared statement"), and timed the failure.
set -euo pipefail
cd "$(dirname "$0")/.."
export PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
N=${N:-15}
. test/lib.sh
. test/citus/cluster.sh

# timed DIR PORT: runs stdin in one psql session with \timing; prints, per
# "\echo ROUND" line, the milliseconds of the statements before it
timed() {
	{ echo '\timing on'; cat; } |
		"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U postgres -d postgres |
		awk '/^Time: / {sum += $2} /^ROUND$/ {printf "%.3f\n", sum; sum = 0}'
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ddl() { echo "ALTER TABLE t ADD COLUMN c$1 int; CREATE INDEX t_c$1 ON t (c$1); DROP INDEX t_c$1; ALTER TABLE t DROP COLUMN c$1;"; }

# both clusters run at once and take turns, BLOCK rounds each, so that the
# load of a shared machine falls on both alike
BLOCK=${BLOCK:-3}
CITUS_PRELOAD=citus citus_cluster_start
citus_add_worker w1; citus_add_worker w2
cq coord "CREATE TABLE t (id bigint PRIMARY KEY, v text); SELECT create_distributed_table('t', 'id')" >/dev/null
PLAIN_DIR=$CITUS_DIR PLAIN_PORT=${CITUS_PORT[coord]}
PLAIN_PORTS="${CITUS_PORT[coord]} ${CITUS_PORT[w1]} ${CITUS_PORT[w2]}"
stop_both() {
	local n
	citus_cluster_stop
	for n in coord w1 w2; do as_postgres "$PG_BIN/pg_ctl" -D "$PLAIN_DIR/$n" -m immediate stop >/dev/null 2>&1 || true; done
	rm -rf "$PLAIN_DIR"
}

citus_cluster_start
trap stop_both EXIT
citus_add_worker w1; citus_add_worker w2
cq coord "CREATE EXTENSION schemamig" >/dev/null
cq coord "SELECT schemamig.citus_sync_key()" >/dev/null
cq coord "SELECT schemamig.register('t', \$\$CREATE TABLE t (id bigint PRIMARY KEY, v text); SELECT create_distributed_table('t', 'id')\$\$)" >/dev/null
cq coord "SELECT * FROM schemamig.upgrade()" >/dev/null 2>&1
parent=t
reg=$(for i in $(seq $N); do
	echo "SET schemamig.lint = off; SELECT schemamig.register('r$i', '$(ddl $i)', NULL, ARRAY['$parent']);"
	echo '\echo ROUND'
	parent=r$i
done | timed "$CITUS_DIR" "${CITUS_PORT[coord]}" | median)

: >"$CITUS_DIR/plain.ms"; : >"$CITUS_DIR/up.ms"
for ((i = 1; i <= N; i += BLOCK)); do
	last=$((i + BLOCK - 1 < N ? i + BLOCK - 1 : N))
	for j in $(seq $i $last); do printf 'BEGIN;\n%s\nCOMMIT;\n\\echo ROUND\n' "$(ddl $j | sed 's/; /;\n/g')"; done |
		timed "$PLAIN_DIR" "$PLAIN_PORT" >>"$CITUS_DIR/plain.ms"
	for j in $(seq $i $last); do echo "SELECT count(*) FROM schemamig.upgrade('r$j');"; echo '\echo ROUND'; done |
		timed "$CITUS_DIR" "${CITUS_PORT[coord]}" 2>/dev/null >>"$CITUS_DIR/up.ms"
done
plain=$(median <"$CITUS_DIR/plain.ms")
up=$(median <"$CITUS_DIR/up.ms")
[ "$(wc -l <"$CITUS_DIR/plain.ms")" = "$N" ] && [ "$(wc -l <"$CITUS_DIR/up.ms")" = "$N" ] ||
	{ echo "some rounds failed" >&2; exit 1; }
[ "$("$PG_BIN/psql" -XAtq -h "$PLAIN_DIR" -p "$PLAIN_PORT" -U postgres -d postgres -c "SELECT count(*) FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0 AND NOT attisdropped")" = 2 ] ||
	{ echo "plain rounds left columns behind" >&2; exit 1; }
[ "$(cq coord "SELECT count(*) FROM schemamig.applied")" = $((N + 1)) ] || { echo "upgrade() rounds failed" >&2; exit 1; }
echo "plain Citus, BEGIN; DDL; COMMIT:   $plain ms (median of $N)"
echo "schemamig upgrade() of a revision: $up ms (median of $N)"
echo "register() of the revision:        $reg ms (median of $N)"
echo "SUMMARY citus: upgrade() / plain = $(echo "scale=2; $up / $plain" | bc)x (target <= 1.2x)"
