#!/bin/bash
# make test: build, install, start a throwaway cluster, run pg_regress,
# pgTAP and the integration tests, stop the cluster; non-zero on failure.
# The PostgreSQL major is the one of $PG_CONFIG (test/lib.sh).
# INTEGRATION='regex' runs only the integration tests whose file name
# matches (test/majors/run.sh runs a subset on other majors); every phase
# and integration test prints its time.
set -uo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
INTEGRATION=${INTEGRATION:-.}
SECONDS=0

ensure_packages || exit 1
build_and_install || exit 1
cluster_start
failed=0

echo "== pg_regress on PostgreSQL $PG_MAJOR ($SECONDS s)"
if ! make -s installcheck; then
	failed=1
	[ -f regression.diffs ] && head -200 regression.diffs
fi

echo "== pgTAP ($SECONDS s)"
psql -qX -d postgres -c "CREATE DATABASE tap" >/dev/null
psql -qX -d tap -c "CREATE EXTENSION pgtap; CREATE EXTENSION schemamig" >/dev/null
pg_prove -d tap test/pgtap/*.sql || failed=1

echo "== integration ($SECONDS s)"
for t in test/integration/*.sh; do
	[ -e "$t" ] || continue
	[[ $(basename "$t" .sh) =~ $INTEGRATION ]] || continue
	echo "-- $t"
	t0=$SECONDS
	bash "$t" || { echo "FAILED: $t"; failed=1; }
	echo "-- $t: $((SECONDS - t0)) s"
done

if [ $failed != 0 ]; then
	echo "== FAILED on PostgreSQL $PG_MAJOR ($SECONDS s)"
	exit 1
fi
echo "== all tests passed on PostgreSQL $PG_MAJOR ($SECONDS s)"
