#!/bin/bash
# make bench: every benchmark, each on its own throwaway cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
for b in bench/ddl_overhead.sh bench/fingerprint.sh; do
	echo "== $b"
	bash "$b"
done
