#!/bin/bash
# make test: build, install, start a throwaway cluster, run pg_regress,
# pgTAP and the integration tests, stop the cluster; non-zero on failure.
set -uo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

ensure_packages || exit 1
build_and_install || exit 1
cluster_start
failed=0

echo "== pg_regress"
if ! make -s installcheck; then
	failed=1
	[ -f regression.diffs ] && head -200 regression.diffs
fi

echo "== pgTAP"
psql -qX -d postgres -c "CREATE DATABASE tap" >/dev/null
psql -qX -d tap -c "CREATE EXTENSION pgtap; CREATE EXTENSION schemamig" >/dev/null
pg_prove -d tap test/pgtap/*.sql || failed=1

echo "== integration"
for t in test/integration/*.sh; do
	[ -e "$t" ] || continue
	echo "-- $t"
	bash "$t" || { echo "FAILED: $t"; failed=1; }
done

if [ $failed != 0 ]; then
	echo "== FAILED"
	exit 1
fi
echo "== all tests passed"
