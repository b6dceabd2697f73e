#!/bin/bash
# bench/apply.sh: applying M revisions with schemamig vs psql vs Alembic
#
# M linear revisions, each "CREATE TABLE t<i> (id bigint PRIMARY KEY, name
# text); ALTER TABLE t<i> ADD COLUMN score integer NOT NULL DEFAULT 0",
# downgrade "DROP TABLE t<i>".  For each M in $SIZES (default 250 1000),
# every round, interleaved, each configuration in a fresh database of one
# throwaway cluster (fsync on):
#   psql       the lower bound: psql -1 -f of the concatenated upgrade
#              scripts, then of the downgrade scripts in reverse order
#   schemamig  register() of the M revisions (one psql -1 -f), then
#              SELECT schemamig.upgrade(), then downgrade('base')
#   alembic    Alembic 1.8 (Debian python3-alembic, /usr/bin/python3 -m
#              alembic) on the same SQL (op.execute), one migration file per
#              revision: upgrade head, downgrade base (one transaction each,
#              Alembic's default for PostgreSQL)
# and for M = $BIG (default 4000), which one transaction cannot lock with
# default settings: psql -f in autocommit vs CALL schemamig.upgrade_each()
# (skipped with a note when this build has no upgrade_each).
# Reports wall clock (client command, connection included) median [min-max]
# of $ROUNDS rounds, ratios to psql, ms per revision, and the time to
# register M revisions.
#
# Usage: bash bench/apply.sh
#   env: SIZES="250 1000" BIG=4000 ROUNDS=3 BIG_ROUNDS=1 ALEMBIC=1 PORT=<random>
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
. bench/lib.sh

SIZES=${SIZES-"250 1000"}
BIG=${BIG:-4000}
ROUNDS=${ROUNDS:-3}
BIG_ROUNDS=${BIG_ROUNDS:-1}
ALEMBIC=${ALEMBIC:-1}
PYTHON=/usr/bin/python3

bench_cluster_start python3-alembic python3-psycopg2
WORK=$(mktemp -d /tmp/schemamig-applybench.XXXXXX)
chmod 755 "$WORK"
BENCH_ERR=$WORK/err
trap 'cluster_stop; rm -rf "$WORK"' EXIT
RESULTS=$WORK/results
: >"$RESULTS"

up_sql() { echo "CREATE TABLE t$1 (id bigint PRIMARY KEY, name text); ALTER TABLE t$1 ADD COLUMN score integer NOT NULL DEFAULT 0;"; }
down_sql() { echo "DROP TABLE t$1;"; }

# files for one M
make_files() {
	local m=$1 dir=$WORK/m$1 i
	mkdir -p "$dir/alembic/versions"
	for i in $(seq 1 "$m"); do up_sql "$i"; done >"$dir/up.sql"
	for i in $(seq "$m" -1 1); do down_sql "$i"; done >"$dir/down.sql"
	{
		echo "SET client_min_messages = warning;"
		for i in $(seq 1 "$m"); do
			echo "SELECT schemamig.register('r$i', \$up\$$(up_sql "$i")\$up\$, \$down\$$(down_sql "$i")\$down\$);"
		done
	} >"$dir/register.sql"
	[ "$ALEMBIC" = 1 ] || return 0
	cat >"$dir/alembic/alembic.ini" <<INI
[alembic]
script_location = $dir/alembic
INI
	cat >"$dir/alembic/env.py" <<'PY'
import os
from alembic import context
from sqlalchemy import create_engine

engine = create_engine("postgresql+psycopg2:///" + os.environ["ALEMBIC_DB"] + "?host=" + os.environ["PGHOST"] + "&port=" + os.environ["PGPORT"] + "&user=postgres")
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
PY
	for i in $(seq 1 "$m"); do
		{
			echo "from alembic import op"
			echo "revision = 'r$i'"
			if [ "$i" = 1 ]; then echo "down_revision = None"; else echo "down_revision = 'r$((i - 1))'"; fi
			echo "branch_labels = None"
			echo "depends_on = None"
			echo "def upgrade():"
			echo "    op.execute(\"CREATE TABLE t$i (id bigint PRIMARY KEY, name text)\")"
			echo "    op.execute(\"ALTER TABLE t$i ADD COLUMN score integer NOT NULL DEFAULT 0\")"
			echo "def downgrade():"
			echo "    op.execute(\"DROP TABLE t$i\")"
		} >"$dir/alembic/versions/r$i.py"
	done
}

DBN=0
fresh_db() {
	DBN=$((DBN + 1))
	DB=b$DBN
	psql -X -q -d postgres -c "CREATE DATABASE $DB"
	[ "${1:-}" = schemamig ] && psql -X -q -d "$DB" -c "CREATE EXTENSION schemamig"
	return 0
}
drop_db() {
	psql -X -q -d postgres -c "DROP DATABASE $DB"
	psql -X -q -d postgres -c "CHECKPOINT"
}
record() { echo "$1 $2 $3 $4" >>"$RESULTS"; printf ' %s=%.0fms' "$2" "$4"; }

# one configuration, one M, one round
run_psql() {
	local m=$1 dir=$WORK/m$1
	fresh_db
	record "$m" psql_up "$round" "$(time_ms psql -X -q -v ON_ERROR_STOP=1 -1 -d "$DB" -f "$dir/up.sql")"
	record "$m" psql_down "$round" "$(time_ms psql -X -q -v ON_ERROR_STOP=1 -1 -d "$DB" -f "$dir/down.sql")"
	drop_db
}
run_schemamig() {
	local m=$1 dir=$WORK/m$1
	fresh_db schemamig
	record "$m" register "$round" "$(time_ms psql -X -q -v ON_ERROR_STOP=1 -1 -d "$DB" -f "$dir/register.sql")"
	record "$m" schemamig_up "$round" "$(time_ms psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "SET client_min_messages = warning" -c "SELECT count(*) FROM schemamig.upgrade()")"
	record "$m" schemamig_down "$round" "$(time_ms psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "SET client_min_messages = warning" -c "SELECT count(*) FROM schemamig.downgrade('base')")"
	drop_db
}
run_alembic() {
	local m=$1 dir=$WORK/m$1
	fresh_db
	export ALEMBIC_DB=$DB
	record "$m" alembic_up "$round" "$(cd "$dir/alembic" && time_ms "$PYTHON" -m alembic -c alembic.ini upgrade head)"
	record "$m" alembic_down "$round" "$(cd "$dir/alembic" && time_ms "$PYTHON" -m alembic -c alembic.ini downgrade base)"
	drop_db
}

configs="psql schemamig"
[ "$ALEMBIC" = 1 ] && configs="$configs alembic"
for m in $SIZES; do
	make_files "$m"
	echo "== M=$m: $ROUNDS rounds of $configs"
	for round in $(seq 1 "$ROUNDS"); do
		printf '  round %d:' "$round"
		for cfg in $configs; do "run_$cfg" "$m"; done
		echo
	done
done

# M = $BIG, one transaction per revision
fresh_db schemamig
has_each=$(psql -X -At -d "$DB" -c "SELECT count(*) FROM pg_catalog.pg_proc WHERE proname = 'upgrade_each' AND pronamespace = 'schemamig'::pg_catalog.regnamespace")
drop_db
if [ "$BIG" -gt 0 ]; then
	make_files "$BIG"
	for i in $(seq 1 "$BIG"); do up_sql "$i"; done >"$WORK/m$BIG/up_auto.sql"
	echo "== M=$BIG: $BIG_ROUNDS rounds, one transaction per revision"
	for round in $(seq 1 "$BIG_ROUNDS"); do
		printf '  round %d:' "$round"
		fresh_db
		record "$BIG" psql_up "$round" "$(time_ms psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$WORK/m$BIG/up_auto.sql")"
		drop_db
		if [ "$has_each" = 1 ]; then
			fresh_db schemamig
			record "$BIG" register "$round" "$(time_ms psql -X -q -v ON_ERROR_STOP=1 -1 -d "$DB" -f "$WORK/m$BIG/register.sql")"
			record "$BIG" schemamig_up "$round" "$(time_ms psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -c "SET client_min_messages = warning" -c "CALL schemamig.upgrade_each()")"
			drop_db
		fi
		echo
	done
	[ "$has_each" = 1 ] || echo "  upgrade_each not available in this build: schemamig row for M=$BIG skipped"
fi

# ---------------------------------------------------------------- report
echo
echo "== wall clock ms, median [min-max]; ratio = median / psql median (same M); ms/rev = median / M"
printf '%-6s %-16s %-28s %8s %9s\n' M what ms ratio ms/rev
summary="SUMMARY apply (ratio to psql, median):"
for m in $SIZES $BIG; do
	for dir in up down; do
		base=$(awk -v m="$m" -v k="psql_$dir" '$1 == m && $2 == k { print $4 }' "$RESULTS" | stats)
		bmed=${base%% *}
		[ "$bmed" = nan ] && continue
		for k in psql_$dir schemamig_$dir alembic_$dir; do
			st=$(awk -v m="$m" -v k="$k" '$1 == m && $2 == k { print $4 }' "$RESULTS" | stats)
			[ "${st%% *}" = nan ] && continue
			ratio=$(awk -v a="${st%% *}" -v b="$bmed" 'BEGIN { printf "%.2f", a / b }')
			printf '%-6s %-16s %-28s %7sx %9.2f\n' "$m" "$k" "$(fmt_stats "$st" 0)" "$ratio" "$(awk -v a="${st%% *}" -v m="$m" 'BEGIN { print a / m }')"
			[ "$k" != "psql_$dir" ] && summary="$summary M=$m ${k} ${ratio}x;"
		done
	done
	st=$(awk -v m="$m" '$1 == m && $2 == "register" { print $4 }' "$RESULTS" | stats)
	if [ "${st%% *}" != nan ]; then
		printf '%-6s %-16s %-28s %8s %9.2f\n' "$m" register "$(fmt_stats "$st" 0)" - "$(awk -v a="${st%% *}" -v m="$m" 'BEGIN { print a / m }')"
		summary="$summary M=$m register $(printf '%.0f' "${st%% *}")ms;"
	fi
done
[ "$has_each" = 1 ] || summary="$summary M=$BIG schemamig: upgrade_each not available;"
echo "$summary targets: up <= 1.15x, down <= 1.5x, register(1000) < 1000ms"
