#!/bin/bash
# A CREATE INDEX CONCURRENTLY run by steps() is killed (kill -9 of its
# backend) while it builds: the revision shows as partially applied with the
# INVALID index named, descendants are blocked, and a second
# "steps() \gexec" drops the INVALID index, builds it again and completes.
set -euo pipefail
db=stepkill_$$
psql -qX -d postgres -c "CREATE DATABASE $db"
trap 'kill $(jobs -p) 2>/dev/null || true; psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
q() { psql -qXAt -d $db -c "$1"; }

psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION schemamig;
SELECT schemamig.register('k1_big', 'CREATE TABLE big (id int PRIMARY KEY, v text)', 'DROP TABLE big -- schemamig:allow drop-table');
SELECT schemamig.register('k2_data', 'INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 300000) g', 'DELETE FROM big');
SELECT schemamig.register('k3_v_idx', 'CREATE INDEX CONCURRENTLY big_v_idx ON big (v)', 'DROP INDEX CONCURRENTLY big_v_idx');
SELECT schemamig.register('k4_w', 'ALTER TABLE big ADD COLUMN w int', 'ALTER TABLE big DROP COLUMN w -- schemamig:allow drop-column');
SELECT count(*) FROM schemamig.upgrade();
SQL

# A writer's open transaction makes the build wait, after PostgreSQL has
# committed the new index as INVALID: the kill lands mid-build every time.
psql -qX -d $db -c "BEGIN; INSERT INTO big VALUES (0, 'w'); SELECT pg_sleep(60); COMMIT" >/dev/null 2>&1 &
until [ "$(q "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'big' AND l.mode = 'RowExclusiveLock'")" = 1 ]; do sleep 0.1; done
printf '%s\n' "SET application_name = 'stepper';" 'SELECT * FROM schemamig.steps() \gexec' |
	psql -X -d $db >/tmp/stepkill1.$$ 2>&1 &
for i in $(seq 1 300); do
	pid=$(q "SELECT pid FROM pg_stat_activity WHERE application_name = 'stepper' AND query LIKE 'CREATE INDEX CONCURRENTLY%' AND wait_event_type = 'Lock'")
	[ -n "$pid" ] && break
	sleep 0.1
done
[ -n "$pid" ] || { echo "the build never started"; cat /tmp/stepkill1.$$; exit 1; }
as_kill() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- kill -9 "$1"; else kill -9 "$1"; fi; }
as_kill "$pid"
wait || true
# the postmaster restarts every backend after a kill -9; wait for it
until psql -qXAt -d $db -c "SELECT 1" >/dev/null 2>&1; do sleep 0.2; done

partial=$(q "SELECT array_to_string(partial, ';') FROM schemamig.status()")
echo "status: $partial"
case "$partial" in
*"k3_v_idx (upgrade 0/1 statements done, statement 1 interrupted, left INVALID index public.big_v_idx)"*) ;;
*) echo "expected k3_v_idx partially applied with its INVALID index named"; exit 1 ;;
esac
hint=$(q "SELECT partial_hint FROM schemamig.status()")
case "$hint" in *"DROP INDEX CONCURRENTLY public.big_v_idx"*) ;; *) echo "no repair hint: $hint"; exit 1 ;; esac
[ "$(q "SELECT indisvalid FROM pg_index WHERE indexrelid = 'big_v_idx'::regclass")" = f ]
# descendants are blocked
q "SELECT count(*) FROM schemamig.upgrade()" 2>/dev/null | grep -qx 0 || { echo "upgrade() went past the partial revision"; exit 1; }

echo 'SELECT * FROM schemamig.steps() \gexec' | psql -X -d $db >/tmp/stepkill2.$$ 2>&1
if grep -q ERROR /tmp/stepkill2.$$; then cat /tmp/stepkill2.$$; exit 1; fi
[ "$(q "SELECT indisvalid FROM pg_index WHERE indexrelid = 'big_v_idx'::regclass")" = t ]
[ "$(q "SELECT string_agg(revision, ',' ORDER BY seq) FROM schemamig.applied")" = "k1_big,k2_data,k3_v_idx,k4_w" ]
[ "$(q "SELECT partial IS NULL FROM schemamig.status()")" = t ]
log=$(q "SELECT string_agg(statement_no || ':' || command_tag, ',' ORDER BY id) FROM schemamig.ddl_log WHERE revision = 'k3_v_idx'")
echo "log of k3_v_idx: $log"
[ "$log" = "1:DROP INDEX,1:CREATE INDEX" ] || { echo "unexpected log"; exit 1; }
bad=$(psql -qXAt -d $db -f "$(dirname "$0")/../reliability/invariants.sql")
[ -z "$bad" ] || { echo "invariants violated: $bad"; exit 1; }
rm -f /tmp/stepkill1.$$ /tmp/stepkill2.$$
echo "ok: interrupted build reported, repaired and resumed"
