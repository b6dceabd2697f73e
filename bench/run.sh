#!/bin/bash
# make bench: every benchmark, each on its own throwaway cluster; the
# one-line summaries are repeated at the end.  Takes about 15 minutes.
#   env: BENCHES="ddl_overhead dml apply graph review deploy writer_stall" BENCH_LOG=<file>
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHES=${BENCHES:-"ddl_overhead dml apply graph review deploy writer_stall"}
LOG=${BENCH_LOG:-$(mktemp /tmp/schemamig-bench.XXXXXX.log)}
start=$(date +%s)
for b in $BENCHES; do
	echo "== bench/$b.sh" | tee -a "$LOG"
	bash "bench/$b.sh" 2>&1 | tee -a "$LOG"
done
echo
echo "== summaries ($(($(date +%s) - start)) s; full output in $LOG)"
grep '^SUMMARY' "$LOG"
