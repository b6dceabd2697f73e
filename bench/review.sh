#!/bin/bash
# bench/review.sh: the migration review functions at scale
#
# Starts its own throwaway cluster (fsync on), creates a schema of $TABLES
# tables (4 columns, a primary key and one secondary index each), then:
#   fingerprint  `SELECT schemamig.fingerprint()` vs `pg_dump --schema-only`
#                of the same database, interleaved (wall clock of the client
#                command, connection included, median [min-max] of $RUNS)
#   lint         schemamig.lint() of a $LINT_N-statement script (CREATE
#                TABLE, ADD COLUMN, CREATE INDEX, COMMENT, and ADD COLUMN on
#                the existing tables), server time (psql \timing)
#   verify       schemamig.verify() of one pending revision (ADD COLUMN on an
#                existing table) on that schema: upgrade, downgrade, compare
#                fingerprints, upgrade again, all rolled back
#
# Usage: bash bench/review.sh     env: TABLES=5000 RUNS=5 LINT_N=10000 PORT=<random>
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
. bench/lib.sh

TABLES=${TABLES:-5000}
RUNS=${RUNS:-5}
LINT_N=${LINT_N:-10000}

bench_cluster_start
WORK=$(mktemp -d /tmp/schemamig-reviewbench.XXXXXX)
trap 'cluster_stop; rm -rf "$WORK"' EXIT

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

echo "== fingerprint vs pg_dump, $RUNS runs each, interleaved"
for i in $(seq 1 "$RUNS"); do
	f=$(time_ms psql -X -q -At -d bench -c 'SELECT schemamig.fingerprint()')
	d=$(time_ms "$PG_BIN/pg_dump" --schema-only -d bench -f /dev/null)
	echo "$f" >>"$WORK/fp"
	echo "$d" >>"$WORK/dump"
	awk -v f="$f" -v d="$d" 'BEGIN { print f / d }' >>"$WORK/fp_ratio"
	printf '  run %d: fingerprint=%.0fms pg_dump=%.0fms\n' "$i" "$f" "$d"
done
objects=$(psql -X -At -d bench -c "SELECT count(*) FROM schemamig.fingerprint_objects()")

echo "== lint of $LINT_N statements"
for i in $(seq 1 $((LINT_N / 5))); do
	echo "CREATE TABLE l$i (id bigint PRIMARY KEY, name text);"
	echo "ALTER TABLE l$i ADD COLUMN score integer NOT NULL DEFAULT 0;"
	echo "CREATE INDEX l${i}_name_idx ON l$i (name);"
	echo "COMMENT ON TABLE l$i IS 'lint bench';"
	echo "CREATE INDEX t_score${i}_idx ON t$(((i - 1) % TABLES + 1)) (score);"
done >"$WORK/lint.sql"
{
	echo "\\set script \`cat $WORK/lint.sql\`"
	echo "SELECT count(*) FROM schemamig.lint('SELECT 1');"
	echo "\\timing on"
	for i in $(seq 1 "$RUNS"); do echo "SELECT count(*) AS findings FROM schemamig.lint(:'script');"; done
} >"$WORK/lint_run.sql"
psql -X -v ON_ERROR_STOP=1 -d bench -f "$WORK/lint_run.sql" >"$WORK/lint.out"
findings=$(awk '/^ *[0-9]+$/ { v = $1 } END { print v }' "$WORK/lint.out")
awk '/^Time: / { print $2 }' "$WORK/lint.out" >"$WORK/lint"

echo "== verify of one revision on $TABLES tables"
psql -X -q -v ON_ERROR_STOP=1 -d bench -c "SET client_min_messages = error" \
	-c "SELECT schemamig.register('v1', 'ALTER TABLE t1 ADD COLUMN v integer', 'ALTER TABLE t1 DROP COLUMN v')" >/dev/null
{
	echo "\\timing on"
	for i in $(seq 1 "$RUNS"); do echo "SELECT restores_schema FROM schemamig.verify('v1');"; done
} >"$WORK/verify_run.sql"
psql -X -v ON_ERROR_STOP=1 -d bench -f "$WORK/verify_run.sql" >"$WORK/verify.out"
grep -q ' t$' "$WORK/verify.out" || { echo "verify did not report restores_schema = true" >&2; cat "$WORK/verify.out" >&2; exit 1; }
awk '/^Time: / { print $2 }' "$WORK/verify.out" >"$WORK/verify"

fp=$(stats <"$WORK/fp")
dump=$(stats <"$WORK/dump")
ratio=$(stats <"$WORK/fp_ratio")
lint=$(stats <"$WORK/lint")
verify=$(stats <"$WORK/verify")
echo
echo "fingerprint() of $TABLES tables ($objects objects): $(fmt_stats "$fp" 0) ms; pg_dump --schema-only: $(fmt_stats "$dump" 0) ms; ratio $(fmt_stats "$ratio" 2)"
echo "lint() of $LINT_N statements ($findings findings): $(fmt_stats "$lint" 0) ms"
echo "verify() of one revision on $TABLES tables: $(fmt_stats "$verify" 0) ms"
echo "SUMMARY review: fingerprint/pg_dump $(printf '%.2f' "${ratio%% *}")x (target <= 0.10x); lint $LINT_N stmts $(printf '%.0f' "${lint%% *}") ms (target < 1000); verify $(printf '%.0f' "${verify%% *}") ms"
