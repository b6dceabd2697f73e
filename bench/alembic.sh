#!/bin/bash
# bench/alembic.sh: what Alembic mode costs per DDL statement.
#
# One transaction of N "CREATE TABLE t<i> (id int)", run by the writer role
# of alembic_enable(), two ways, interleaved each round in one database:
#   begin_revision  BEGIN; SELECT schemamig.begin_revision(...); N DDL; COMMIT
#                   (the DDL is logged as it runs)
#   alembic         BEGIN; N DDL; UPDATE alembic_version ...; COMMIT
#                   (each statement is held in schemamig.alembic_provisional,
#                   then settled, linted and moved to the log at commit)
# Reports the backend's CPU time (utime + stime from /proc, so a loaded
# machine disturbs it less than the wall clock) and the wall clock, median
# [min-max] over $ROUNDS rounds, and the ratio of medians.
#
# Usage: bash bench/alembic.sh        env: N=1000 ROUNDS=5 PORT=<random>
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
. bench/lib.sh

N=${N:-1000}
ROUNDS=${ROUNDS:-5}
bench_cluster_start
WORK=$(mktemp -d /tmp/schemamig-alembicbench.XXXXXX)
chmod 755 "$WORK"
trap 'cluster_stop; rm -rf "$WORK"' EXIT

psql -X -q -d postgres -c "CREATE ROLE bench_deploy LOGIN" -c "CREATE DATABASE bench OWNER bench_deploy"
psql -X -q -U bench_deploy -d bench -c "SET client_min_messages = warning" -c "CREATE EXTENSION schemamig" \
	-c "SELECT schemamig.alembic_enable('public.alembic_version', 'bench_deploy')" >/dev/null
psql -X -q -U bench_deploy -d bench -c "BEGIN" \
	-c "CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY)" \
	-c "INSERT INTO alembic_version VALUES ('r0')" -c "COMMIT"

# run KIND ROUND: prints "cpu_ms wall_ms" of one transaction
run() {
	local kind=$1 r=$2 f=$WORK/$1_$2.sql
	{
		echo "BEGIN;"
		[ $kind = begin_revision ] && echo "SELECT schemamig.begin_revision('b$r');"
		for i in $(seq 1 $N); do echo "CREATE TABLE ${kind:0:1}${r}_$i (id int);"; done
		[ $kind = alembic ] && echo "UPDATE alembic_version SET version_num = 'a$r';"
		echo "COMMIT;"
	} >"$f"
	psql -X -q -U bench_deploy -d bench -v ON_ERROR_STOP=1 -v f="$f" >"$WORK/out" 2>"$WORK/err" <<'PSQL'
SELECT pg_backend_pid() AS pid \gset
\setenv PID :pid
\! echo "cpu $(awk '{print $14 + $15}' /proc/$PID/stat) $(date +%s%N)"
\i :f
\! echo "cpu $(awk '{print $14 + $15}' /proc/$PID/stat) $(date +%s%N)"
PSQL
	awk -v hz="$(getconf CLK_TCK)" '/^cpu/ { t[++n] = $2; w[n] = $3 }
		END { printf "%.0f %.0f\n", (t[2] - t[1]) * 1000 / hz, (w[2] - w[1]) / 1e6 }' "$WORK/out"
}

for r in $(seq 1 $ROUNDS); do
	for kind in begin_revision alembic; do
		read -r cpu wall < <(run $kind $r)
		echo "$cpu" >>"$WORK/$kind.cpu"
		echo "$wall" >>"$WORK/$kind.wall"
		echo "round $r $kind: cpu $cpu ms, wall $wall ms"
	done
done
check=$(psql -X -At -U bench_deploy -d bench -c "SELECT count(*) FROM schemamig.ddl_log WHERE revision LIKE 'a%'")
[ "$check" = $((N * ROUNDS)) ] || { echo "FAILED: $check statements logged under Alembic revisions"; exit 1; }
for m in cpu wall; do
	b=$(stats <"$WORK/begin_revision.$m")
	a=$(stats <"$WORK/alembic.$m")
	ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.2f", x[1] / y[1] }')
	echo "$m: begin_revision $(fmt_stats "$b" 0) ms, alembic $(fmt_stats "$a" 0) ms, ratio $ratio"
	[ $m = cpu ] && cpu_ratio=$ratio
done
echo "SUMMARY alembic: $N DDL statements in one transaction, Alembic mode / begin_revision backend CPU = ${cpu_ratio}x"
