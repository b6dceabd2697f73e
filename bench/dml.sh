#!/bin/bash
# bench/dml.sh: schemamig must not touch DML at all
#
# Two databases in one throwaway cluster (fsync on), both initialized with
# pgbench -i -s $SCALE:
#   bare       nothing installed
#   schemamig  CREATE EXTENSION schemamig, and the library loaded in every
#              benchmark session (session_preload_libraries), so its
#              ProcessUtility hook and transaction callbacks are installed
# Each round runs pgbench (select-only, then TPC-B-like; $CLIENTS clients,
# $SECONDS_PER_RUN s each) on both databases, the order alternating between
# rounds, and computes the paired ratio tps(schemamig) / tps(bare) of the
# round.  Reports median and min-max of the tps and of the paired ratios.
#
# Usage: bash bench/dml.sh
#   env: SCALE=10 ROUNDS=5 SECONDS_PER_RUN=10 CLIENTS=2 PORT=<random>
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
. bench/lib.sh

SCALE=${SCALE:-10}
ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
CLIENTS=${CLIENTS:-2}

bench_cluster_start
WORK=$(mktemp -d /tmp/schemamig-dmlbench.XXXXXX)
trap 'cluster_stop; rm -rf "$WORK"' EXIT

for db in bare schemamig; do
	psql -X -q -d postgres -c "CREATE DATABASE $db"
	"$PG_BIN/pgbench" -q -i -s "$SCALE" "$db" >"$WORK/init.log" 2>&1
done
psql -X -q -d schemamig -c "CREATE EXTENSION schemamig"
psql -X -q -d postgres -c "ALTER DATABASE schemamig SET session_preload_libraries = 'schemamig'"
loaded=$(psql -X -At -d schemamig -c "SELECT count(*) FROM pg_catalog.pg_settings WHERE name = 'schemamig.guard'")
[ "$loaded" = 1 ] || { echo "schemamig library not loaded in the benchmark sessions" >&2; exit 1; }
psql -X -q -d postgres -c "VACUUM ANALYZE" -d bare -c "VACUUM ANALYZE" >/dev/null
psql -X -q -d schemamig -c "VACUUM ANALYZE" >/dev/null

# tps DB MODE: one pgbench run, prints tps
tps() {
	local db=$1 mode=$2 opt=""
	[ "$mode" = select-only ] && opt="-S"
	"$PG_BIN/pgbench" -n $opt -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_PER_RUN" "$db" 2>&1 |
		awk '/^tps = / { print $3; exit }'
}

echo "== pgbench scale $SCALE, $CLIENTS clients, ${SECONDS_PER_RUN}s per run, $ROUNDS rounds"
for round in $(seq 1 "$ROUNDS"); do
	for mode in select-only tpcb-like; do
		if [ $((round % 2)) = 1 ]; then order="bare schemamig"; else order="schemamig bare"; fi
		line="  round $round $mode:"
		for db in $order; do
			t=$(tps "$db" "$mode")
			echo "$mode $db $round $t" >>"$WORK/results"
			line="$line $db=$t"
		done
		echo "$line"
	done
done

echo
printf '%-12s %-24s %-24s %s\n' workload "bare tps" "schemamig tps" "paired ratio"
summary="SUMMARY dml (tps schemamig/bare, paired per round, median [min-max]):"
for mode in select-only tpcb-like; do
	b=$(awk -v m="$mode" '$1 == m && $2 == "bare" { print $4 }' "$WORK/results" | stats)
	s=$(awk -v m="$mode" '$1 == m && $2 == "schemamig" { print $4 }' "$WORK/results" | stats)
	r=$(awk -v m="$mode" '$1 == m { t[$3, $2] = $4; n[$3] = 1 } END { for (k in n) print t[k, "schemamig"] / t[k, "bare"] }' "$WORK/results" | stats)
	printf '%-12s %-24s %-24s %s\n' "$mode" "$(fmt_stats "$b" 0)" "$(fmt_stats "$s" 0)" "$(fmt_stats "$r" 3)"
	summary="$summary $mode $(fmt_stats "$r" 3);"
done
echo "$summary target >= 0.99"
