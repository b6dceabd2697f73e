#!/bin/bash
# Regenerates test/plan_compare/statements.jsonl, the statements the plan
# comparison (test/integration/plan_compare.sh) replays: every utility
# statement and every INSERT, UPDATE, DELETE and MERGE the test suite runs,
# at every nesting level (the scripts run by upgrade(), plan() and
# verify() included), captured by plan_capture.c in a cluster of its own
# while test/run.sh runs the pg_regress, isolation, pgTAP and integration
# suites (TAP tests make clusters of their own and are not captured).
# Long-running scripts run small: LONG_HISTORY_REVISIONS, ROUNDS and
# RACE_OPS only repeat statements of the same shape.
#   env: PG_CONFIG / PG_BIN as for test/run.sh.  Takes the suite's time.
set -uo pipefail
cd "$(dirname "$0")/../.."
. test/lib.sh
make -s -C test/plan_compare PG_CONFIG="$PG_CONFIG" install >/dev/null || exit 1
raw=$(mktemp -d /tmp/plan-capture.XXXXXX)
chmod 777 "$raw"
trap 'rm -rf "$raw"' EXIT
scripts=$(ls test/integration/*.sh | xargs -n1 basename | sed 's/\.sh$//' |
	grep -v '^plan_compare$' | paste -sd'|')
CLUSTER_CONF="shared_preload_libraries = 'plan_capture'
plan_capture.file = '$raw/raw.tsv'" SUITES="regress isolation pgtap integration" \
	INTEGRATION="^($scripts)\$" LONG_HISTORY_REVISIONS=40 ROUNDS=1 RACE_OPS=5 \
	bash test/run.sh >"$raw/run.log" 2>&1
echo "suite: $(tail -1 "$raw/run.log") (under capture)"
grep -E "^== [0-9]+ s; failed" "$raw/run.log"
python3 test/plan_compare/statements.py <"$raw/raw.tsv" >test/plan_compare/statements.jsonl || exit 1
wc -l test/plan_compare/statements.jsonl
