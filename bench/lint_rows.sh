#!/bin/bash
# bench/lint_rows.sh: lint() of a 10,000-statement script that makes
# add-column-not-null-no-default read the database on every fifth statement
#
# Starts its own throwaway cluster (fsync on) with $TABLES tables, half of
# them with $ROWS rows (the rule finds a row and stops) and half emptied by
# DELETE without VACUUM (the rule reads every page and finds no visible row,
# its worst case).  The script has $LINT_N statements of five kinds: CREATE
# TABLE, ADD COLUMN with a default, CREATE INDEX, COMMENT, and ADD COLUMN ...
# NOT NULL without a default on an existing table, which takes ACCESS SHARE
# with ConditionalLockRelationOid, looks for a visible row and releases the
# lock.  Server time of `SELECT count(*) FROM schemamig.lint(...)` (psql
# \timing), median [min-max] of $RUNS; bench/review.sh measures the same
# script shape without the row reads.
#
# Usage: bash bench/lint_rows.sh   env: TABLES=2000 ROWS=1000 RUNS=5 LINT_N=10000 PORT=<random>
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
. bench/lib.sh

TABLES=${TABLES:-2000}
ROWS=${ROWS:-1000}
RUNS=${RUNS:-5}
LINT_N=${LINT_N:-10000}

bench_cluster_start
WORK=$(mktemp -d /tmp/schemamig-lintrows.XXXXXX)
trap 'cluster_stop; rm -rf "$WORK"' EXIT
psql -X -q -c "CREATE DATABASE bench" postgres

echo "== creating $TABLES tables of $ROWS rows, half of them then emptied by DELETE"
psql -X -q -d bench <<SQL
SELECT format('CREATE TABLE public.t%s (id bigint PRIMARY KEY, name text)', i)
FROM generate_series(1, $TABLES) i
\gexec
SELECT format('INSERT INTO public.t%s SELECT g, ''row '' || g FROM generate_series(1, $ROWS) g', i)
FROM generate_series(1, $TABLES) i
\gexec
SELECT format('DELETE FROM public.t%s', i)
FROM generate_series(2, $TABLES, 2) i
\gexec
CREATE EXTENSION schemamig;
SQL

for i in $(seq 1 $((LINT_N / 5))); do
	echo "CREATE TABLE l$i (id bigint PRIMARY KEY, name text);"
	echo "ALTER TABLE l$i ADD COLUMN score integer NOT NULL DEFAULT 0;"
	echo "CREATE INDEX l${i}_name_idx ON l$i (name);"
	echo "COMMENT ON TABLE l$i IS 'lint bench';"
	echo "ALTER TABLE t$(((i - 1) % TABLES + 1)) ADD COLUMN c$i integer NOT NULL;"
done >"$WORK/lint.sql"
{
	echo "\\set script \`cat $WORK/lint.sql\`"
	echo "SELECT count(*) FROM schemamig.lint('SELECT 1');"
	echo "\\timing on"
	for i in $(seq 1 "$RUNS"); do
		echo "SELECT count(*) FILTER (WHERE severity = 'error') AS errors, count(*) FILTER (WHERE rule = 'add-column-not-null-no-default' AND severity = 'warning') AS warnings FROM schemamig.lint(:'script');"
	done
} >"$WORK/lint_run.sql"
psql -X -A -F ' ' -t -v ON_ERROR_STOP=1 -d bench -f "$WORK/lint_run.sql" >"$WORK/lint.out"
counts=$(grep -E '^[0-9]+ [0-9]+$' "$WORK/lint.out" | tail -1)
awk '/^Time: / { print $2 }' "$WORK/lint.out" >"$WORK/lint"
lint=$(stats <"$WORK/lint")
echo "lint() of $LINT_N statements, $((LINT_N / 5)) of them reading a table (errors, warnings: $counts): $(fmt_stats "$lint" 0) ms"
echo "SUMMARY lint_rows: $LINT_N stmts $(printf '%.0f' "${lint%% *}") ms (target < 1000)"
