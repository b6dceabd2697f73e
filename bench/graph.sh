#!/bin/bash
# bench/graph.sh: the revision graph at 10,000 and 100,000 revisions
#
# For each N in $SIZES and each shape (linear; 1% branches: every 100
# revisions one forks off its grandparent and the next merges the two
# branches), a fresh database gets N registered and applied revisions,
# inserted directly into schemamig.revision / schemamig.applied (register()
# itself is measured by bench/apply.sh).  Then, in one session, $ROUNDS
# times each: SELECT status(), heads(), and upgrade() with nothing pending.
# Reports median [min-max] of the server-side time (psql \timing).
#
# Usage: bash bench/graph.sh       env: SIZES="10000 100000" ROUNDS=5 PORT=<random>
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
. bench/lib.sh

SIZES=${SIZES:-"10000 100000"}
ROUNDS=${ROUNDS:-5}

bench_cluster_start
WORK=$(mktemp -d /tmp/schemamig-graphbench.XXXXXX)
trap 'cluster_stop; rm -rf "$WORK"' EXIT
: >"$WORK/results"

for n in $SIZES; do
	for shape in linear branched; do
		db=g_${shape}_$n
		psql -X -q -d postgres -c "CREATE DATABASE $db"
		psql -X -q -v ON_ERROR_STOP=1 -d "$db" <<SQL
CREATE EXTENSION schemamig;
INSERT INTO schemamig.revision (revision, parents, upgrade_sql, downgrade_sql, checksum)
SELECT 'r' || i,
	   CASE WHEN i = 1 THEN '{}'::text[]
			WHEN '$shape' = 'branched' AND i % 100 = 50 THEN ARRAY['r' || (i - 2)]
			WHEN '$shape' = 'branched' AND i % 100 = 51 THEN ARRAY['r' || (i - 2), 'r' || (i - 1)]
			ELSE ARRAY['r' || (i - 1)] END,
	   'SELECT 1', 'SELECT 1', pg_catalog.encode(pg_catalog.sha256(('r' || i)::bytea), 'hex')
FROM generate_series(1, $n) i ORDER BY i;
INSERT INTO schemamig.applied (revision, checksum)
SELECT revision, checksum FROM schemamig.revision ORDER BY seq;
VACUUM ANALYZE schemamig.revision;
VACUUM ANALYZE schemamig.applied;
SQL
		{
			echo "SET client_min_messages = warning;"
			echo "SELECT count(*) FROM schemamig.heads();"   # warm-up: library, caches
			echo "\\timing on"
			for r in $(seq 1 "$ROUNDS"); do
				echo "\\echo @status"
				echo "SELECT pending FROM schemamig.status();"
				echo "\\echo @heads"
				echo "SELECT count(*) FROM schemamig.heads();"
				echo "\\echo @upgrade_nothing_pending"
				echo "SELECT count(*) FROM schemamig.upgrade();"
			done
		} >"$WORK/q.sql"
		psql -X -v ON_ERROR_STOP=1 -d "$db" -f "$WORK/q.sql" 2>&1 |
			awk -v n="$n" -v s="$shape" '/^@/ { op = substr($1, 2) } /^Time: / { print n, s, op, $2 }' >>"$WORK/results"
		heads=$(psql -X -At -d "$db" -c "SELECT string_agg(h, ',') FROM schemamig.heads() h")
		echo "== N=$n $shape: heads=$heads"
		psql -X -q -d postgres -c "DROP DATABASE $db"
	done
done

echo
printf '%-7s %-9s %-24s %s\n' N shape operation "ms median [min-max]"
summary="SUMMARY graph (ms, median):"
for n in $SIZES; do
	for shape in linear branched; do
		for op in status heads upgrade_nothing_pending; do
			st=$(awk -v n="$n" -v s="$shape" -v o="$op" '$1 == n && $2 == s && $3 == o { print $4 }' "$WORK/results" | stats)
			printf '%-7s %-9s %-24s %s\n' "$n" "$shape" "$op" "$(fmt_stats "$st" 1)"
			summary="$summary $n/$shape/$op $(printf '%.1f' "${st%% *}");"
		done
	done
done
echo "$summary targets: < 100 ms at 10000, < 1000 ms at 100000"
