#!/bin/bash
# Hostile input (test/reliability/hostile.py): thousands of malformed, huge
# and random scripts and ids for register/lint/upgrade/downgrade/stamp.
# Afterwards the postmaster is the same process and no backend died of a
# signal.  HOSTILE_CALLS scales it (make soak raises it).
set -euo pipefail
cd "$(dirname "$0")/../reliability"
db=hostile_$$
pm_before=$(head -1 "$PGDATA/postmaster.pid")
log_lines=$(wc -l <"$PGHOST/server.log")
psql -qX -d postgres -c "CREATE DATABASE $db"
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
seed=${HOSTILE_SEED:-$RANDOM}
echo "seed $seed (HOSTILE_SEED=$seed reproduces this run)"
/usr/bin/python3 hostile.py $db "${HOSTILE_CALLS:-2000}" "$seed"
pm_after=$(head -1 "$PGDATA/postmaster.pid")
[ "$pm_before" = "$pm_after" ] || { echo "the postmaster restarted"; exit 1; }
if tail -n +"$((log_lines + 1))" "$PGHOST/server.log" | grep -E "terminated by signal|was terminated|server process .* exited"; then
	echo "a backend crashed"; exit 1
fi
echo "ok: postmaster $pm_after never restarted, no backend crashed"
