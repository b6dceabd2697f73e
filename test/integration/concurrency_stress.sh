#!/bin/bash
# 8 sessions calling upgrade() at once over a 50-revision history (repeated),
# upgrade racing downgrade/stamp/register, and REPEATABLE READ/SERIALIZABLE
# callers: see test/reliability/concurrency.py.  ROUNDS and RACE_OPS scale it
# (make soak raises them).
set -euo pipefail
cd "$(dirname "$0")/../reliability"
db=stress_$$; race=race_$$
psql -qX -d postgres -c "CREATE DATABASE $db" -c "CREATE DATABASE $race"
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP DATABASE IF EXISTS $race WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
/usr/bin/python3 concurrency.py $db $race "${ROUNDS:-5}" "${RACE_OPS:-30}"
