#!/bin/bash
# Crashes in the middle of a long upgrade (a revision that sleeps): kill -9
# of the backend, then an immediate shutdown of the server.  After restart
# the database is exactly where it was before the call (applied set,
# journal, DDL log, revisions, schema fingerprint, tables), the catalog
# invariants hold, records committed earlier are all there, and a new
# upgrade() completes.  Runs on a cluster of its own (fsync on), since it
# crashes the server.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/lib.sh"
CLUSTER_FSYNC=on cluster_start
log="$CLUSTER_DIR/server.log"

psql -qX -v ON_ERROR_STOP=1 -d postgres >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION schemamig;
SELECT schemamig.register('c1', 'CREATE TABLE c1 (id int PRIMARY KEY)', 'DROP TABLE c1');
SELECT schemamig.register('c2', 'CREATE TABLE c2 (id int PRIMARY KEY, c1_id int REFERENCES c1); CREATE INDEX ON c2 (c1_id)', 'DROP TABLE c2');
-- the long one: creates a table, sleeps while the test crashes the server, adds a column
SELECT schemamig.register('c3', $$CREATE TABLE c3 (id int);
SELECT pg_sleep(coalesce(current_setting('crashtest.sleep', true), '0')::float8);
ALTER TABLE c2 ADD COLUMN note text$$, 'DROP TABLE c3; ALTER TABLE c2 DROP COLUMN note -- schemamig:allow drop-column');
SELECT schemamig.register('c4', 'CREATE TABLE c4 (id int)', 'DROP TABLE c4');
SELECT * FROM schemamig.upgrade('c2');
SQL

state() {
	psql -qXAt -d postgres <<'SQL'
SELECT (SELECT string_agg(revision, ',' ORDER BY seq) FROM schemamig.applied),
       (SELECT string_agg(id || ':' || coalesce(revision, '-') || ':' || action, ',' ORDER BY id) FROM schemamig.journal),
       (SELECT string_agg(id || ':' || coalesce(revision, '-') || ':' || statement, ',' ORDER BY id) FROM schemamig.ddl_log),
       (SELECT string_agg(revision || ':' || checksum, ',' ORDER BY seq) FROM schemamig.revision),
       (SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'),
       schemamig.fingerprint(),
       (SELECT "current"::text || ' drift=' || coalesce(drift::text, '?') FROM schemamig.status());
SQL
}

check_invariants() {
	local bad
	bad=$(psql -qXAt -d postgres -f "$here/reliability/invariants.sql")
	[ -z "$bad" ] || { echo "invariants violated: $bad"; exit 1; }
}

wait_ready() {
	for _ in $(seq 1 120); do
		psql -qXAt -d postgres -c "SELECT 1" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	echo "server did not come back"; exit 1
}

# start_long_upgrade: upgrade() in the background, returns once it sleeps in c3
start_long_upgrade() {
	PGAPPNAME=crashme psql -qX -d postgres -c "SET client_min_messages = warning" \
		-c "SET crashtest.sleep = 300" -c "SELECT * FROM schemamig.upgrade()" >"$CLUSTER_DIR/upgrade.out" 2>&1 &
	upgrader=$!
	for _ in $(seq 1 100); do
		victim=$(psql -qXAt -d postgres -c "SELECT pid FROM pg_stat_activity WHERE application_name = 'crashme' AND wait_event = 'PgSleep'")
		[ -n "$victim" ] && return 0
		sleep 0.1
	done
	echo "the upgrade never reached its sleep"; cat "$CLUSTER_DIR/upgrade.out"; exit 1
}

finish_upgrade() {
	local got
	got=$(psql -qXAt -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" \
		-c "SELECT string_agg(revision, ',') FROM schemamig.upgrade()")
	[ "$got" = "c3,c4" ] || { echo "upgrade after the crash applied '$got', expected c3,c4"; exit 1; }
	check_invariants
	[ "$(psql -qXAt -d postgres -c "SELECT count(*) FILTER (WHERE action = 'upgrade') - count(*) FILTER (WHERE action = 'downgrade') FROM schemamig.journal WHERE revision = 'c3'")" = 1 ] \
		|| { echo "c3 was applied more often than reverted plus once"; exit 1; }
}

# ---- 1. kill -9 of the backend running upgrade() ----
before=$(state)
start_long_upgrade
kill -9 "$victim"
wait $upgrader || true
wait_ready
grep -q "terminated by signal 9" "$log" || { echo "the backend was not killed"; exit 1; }
after=$(state)
[ "$before" = "$after" ] || { echo "state changed by the crashed upgrade:"; diff <(echo "$before" | tr '|' '\n') <(echo "$after" | tr '|' '\n'); exit 1; }
check_invariants
echo "ok: kill -9 during upgrade(): database exactly as before the call"
finish_upgrade
echo "ok: upgrade() after the crash applies c3 and c4 once"

# ---- 2. immediate shutdown of the server during upgrade() ----
psql -qX -v ON_ERROR_STOP=1 -d postgres -c "SET client_min_messages = warning" -c "SELECT * FROM schemamig.downgrade('c2')" >/dev/null
before=$(state)
start_long_upgrade
as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -m immediate stop >/dev/null
wait $upgrader || true
as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -l "$log" -w start >/dev/null
wait_ready
after=$(state)
[ "$before" = "$after" ] || { echo "state changed by the interrupted upgrade:"; diff <(echo "$before" | tr '|' '\n') <(echo "$after" | tr '|' '\n'); exit 1; }
check_invariants
echo "ok: immediate shutdown during upgrade(): database exactly as before the call"
finish_upgrade
echo "ok: upgrade() after the restart applies c3 and c4 once; guard still on:"
out=$(psql -X -d postgres -c "CREATE TABLE adhoc (id int)" 2>&1 || true)
echo "$out" | grep "unversioned schema change blocked" || { echo "guard is off after restart: $out"; exit 1; }
