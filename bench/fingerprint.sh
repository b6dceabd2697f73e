#!/bin/bash
# bench/fingerprint.sh: schemamig.fingerprint() against pg_dump --schema-only
#
# Starts its own throwaway cluster, creates a schema of $TABLES tables (4
# columns, a primary key and one secondary index each), then times, in the
# same run, `SELECT schemamig.fingerprint()` and `pg_dump --schema-only`
# (wall clock of the client command, median of $RUNS each) and prints the
# ratio.  Both are measured the same way, connection included.
#
# Usage: bash bench/fingerprint.sh            (TABLES=5000 RUNS=5 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

TABLES=${TABLES:-5000}
RUNS=${RUNS:-5}

ensure_packages
build_and_install
cluster_start

# pg_dump locks every table in one transaction
psql -X -q -c "ALTER SYSTEM SET max_locks_per_transaction = 512" postgres
as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -w restart >/dev/null
psql -X -q -c "CREATE DATABASE bench" postgres

echo "== creating $TABLES tables"
# One transaction per statement (\gexec), before CREATE EXTENSION so the
# guard does not apply.
psql -X -q -d bench <<SQL
SELECT format('CREATE TABLE public.t%s (id bigint PRIMARY KEY, name text NOT NULL, '
			  'created_at timestamptz NOT NULL DEFAULT now(), score integer)', i)
FROM generate_series(1, $TABLES) i
\gexec
SELECT format('CREATE INDEX t%s_name_idx ON public.t%s (name)', i, i)
FROM generate_series(1, $TABLES) i
\gexec
CREATE EXTENSION schemamig;
SQL

# now_ms: wall clock in milliseconds
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# median of the numbers on stdin
median() {
	sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# time_ms CMD...: run CMD once, print its wall clock in ms
time_ms() {
	local start end
	start=$(now_ms)
	"$@" >/dev/null
	end=$(now_ms)
	echo $((end - start))
}

fp_times=""
dump_times=""
for i in $(seq 1 "$RUNS"); do
	fp_times="$fp_times $(time_ms psql -X -q -At -d bench -c 'SELECT schemamig.fingerprint()')"
	dump_times="$dump_times $(time_ms "$PG_BIN/pg_dump" --schema-only -d bench -f /dev/null)"
done

objects=$(psql -X -At -d bench -c "SELECT count(*) FROM schemamig.fingerprint_objects()")
fp=$(printf '%s\n' $fp_times | median)
dump=$(printf '%s\n' $dump_times | median)
echo "fingerprint runs (ms):$fp_times"
echo "pg_dump runs (ms):   $dump_times"
awk -v t="$TABLES" -v o="$objects" -v f="$fp" -v d="$dump" 'BEGIN {
	printf "fingerprint: %d tables (%d objects): fingerprint() %d ms, pg_dump --schema-only %d ms, %.1fx faster\n",
		t, o, f, d, (f > 0 ? d / f : 0)
}'
