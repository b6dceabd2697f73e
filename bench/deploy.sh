#!/bin/bash
# bench/deploy.sh: the schemamig client deploying a folder, against psql
# running each file in its own transaction.
#
# N migration files in our format, each "CREATE TABLE t<i> (id bigint
# PRIMARY KEY, name text); CREATE INDEX t<i>_name_idx ON t<i> (name);
# COMMENT ON TABLE t<i> IS '...'" with a downgrade.  Every round,
# interleaved, each configuration in a fresh database of one throwaway
# cluster (fsync on, default durability):
#   psql       the lower bound: one psql session that runs every file as
#              BEGIN; \i file; COMMIT (no schemamig in that database)
#   schemamig  schemamig deploy DIR: load (register N revisions, one
#              transaction) + one transaction per revision (guard, DDL log,
#              applied set, journal, fingerprint at the end)
# Reports wall clock (connection included), median [min-max] over $ROUNDS
# rounds, and the ratio of medians.  Target (issue #17): <= 1.15x.
#
# Usage: bash bench/deploy.sh        env: N=1000 ROUNDS=5 FSYNC=on PORT=<random>
# (FSYNC=off takes the disk out: what is left is the CPU schemamig adds)
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
. bench/lib.sh

N=${N:-1000}
ROUNDS=${ROUNDS:-5}
BIN=$(${PG_CONFIG:-pg_config} --bindir)/schemamig
[ "$(id -u)" = 0 ] && build_and_install
CLUSTER_FSYNC=${FSYNC:-on}
cluster_start ${PORT:-}
WORK=$(mktemp -d /tmp/schemamig-deploybench.XXXXXX)
chmod 755 "$WORK"
trap 'cluster_stop; rm -rf "$WORK"' EXIT

mkdir -p "$WORK/migrations"
: >"$WORK/psql.sql"
for i in $(seq 1 $N); do
	f=$(printf '%s/migrations/%05d_t%d.sql' "$WORK" $i $i)
	cat >"$f" <<SQL
CREATE TABLE t$i (id bigint PRIMARY KEY, name text);
CREATE INDEX t${i}_name_idx ON t$i (name);
COMMENT ON TABLE t$i IS 'table number $i';
-- schemamig:downgrade
DROP TABLE t$i; -- schemamig:allow drop-table
SQL
	printf 'BEGIN;\n\\i %s\nCOMMIT;\n' "$f" >>"$WORK/psql.sql"
done

run_psql() {
	psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f "$WORK/psql.sql"
}
run_schemamig() {
	"$BIN" -q -d "$1" deploy "$WORK/migrations"
}

: >"$WORK/psql.ms"
: >"$WORK/schemamig.ms"
for r in $(seq 1 $ROUNDS); do
	for config in psql schemamig; do
		db=${config}_$r
		psql -X -q -d postgres -c "CREATE DATABASE $db"
		[ $config = schemamig ] && psql -X -q -d $db -c "SET client_min_messages = warning" -c "CREATE EXTENSION schemamig"
		psql -X -q -d $db -c "CHECKPOINT"
		ms=$(BENCH_ERR=$WORK/err time_ms run_$config $db)
		echo "$ms" >>"$WORK/$config.ms"
		echo "round $r $config: $ms ms"
		psql -X -q -d postgres -c "DROP DATABASE $db"
	done
done
p=$(stats <"$WORK/psql.ms")
s=$(stats <"$WORK/schemamig.ms")
ratio=$(awk -v a="$s" -v b="$p" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.2f", x[1] / y[1] }')
echo "psql, each file in its own transaction: $(fmt_stats "$p" 0) ms"
echo "schemamig deploy (load + per-revision commits): $(fmt_stats "$s" 0) ms"
echo "SUMMARY deploy: $N revisions, schemamig deploy / psql per-file transactions = ${ratio}x (target <= 1.15x)"
