#!/bin/bash
# A streaming standby made with pg_basebackup -R (replication over the
# primary's Unix socket): status(), history(), current(), heads(), the
# fingerprint, lint() and the log are readable there; every mutating call
# fails with a clear error that says to run it on the primary; after
# promotion upgrade() works and the guard blocks ad-hoc DDL.  Runs on
# clusters of its own.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
. "$here/lib.sh"
cluster_start
primary_port=$PGPORT
standby_port=$((PGPORT + 1))
sdata="$CLUSTER_DIR/standby"
trap 'as_postgres "$PG_BIN/pg_ctl" -D "$sdata" -m immediate stop >/dev/null 2>&1 || true; cluster_stop' EXIT

psql -qX -v ON_ERROR_STOP=1 -d postgres >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION schemamig;
SELECT schemamig.register('p1', 'CREATE TABLE p1 (id int PRIMARY KEY)', 'DROP TABLE p1');
SELECT schemamig.register('p2', 'ALTER TABLE p1 ADD COLUMN name text', 'ALTER TABLE p1 DROP COLUMN name');
SELECT schemamig.register('p3', 'CREATE TABLE p3 (id int)', 'DROP TABLE p3');
SELECT * FROM schemamig.upgrade('p2');
SQL

as_postgres "$PG_BIN/pg_basebackup" -h "$CLUSTER_DIR" -p $primary_port -U postgres -D "$sdata" -R -X stream -c fast
cat >>"$sdata/postgresql.conf" <<CONF
port = $standby_port
hot_standby = on
CONF
as_postgres "$PG_BIN/pg_ctl" -D "$sdata" -l "$CLUSTER_DIR/standby.log" -w start >/dev/null
S() { psql -qXAt -p $standby_port -d postgres "$@"; }
P() { psql -qXAt -p $primary_port -d postgres "$@"; }
[ "$(S -c 'SELECT pg_is_in_recovery()')" = t ] || { echo "standby is not in recovery"; exit 1; }

# one more migration on the primary, replayed on the standby
P -c "SET client_min_messages = warning" -c "SELECT schemamig.register('p4', 'CREATE INDEX p1_name_idx ON p1 (name)', 'DROP INDEX p1_name_idx', '{p2}')" >/dev/null
P -c "SET client_min_messages = warning" -c "SELECT count(*) FROM schemamig.upgrade('p4')" >/dev/null
lsn=$(P -c "SELECT pg_current_wal_lsn()")
for _ in $(seq 1 100); do
	[ "$(S -c "SELECT pg_last_wal_replay_lsn() >= '$lsn'")" = t ] && break
	sleep 0.1
done

# reads on the standby equal the primary's
for sql in "SELECT row_to_json(s)::text FROM schemamig.status() s" \
	"SELECT string_agg(revision || applied::text || is_head::text, ',') FROM schemamig.history()" \
	"SELECT string_agg(c, ',') FROM schemamig.current() c" \
	"SELECT string_agg(h, ',' ORDER BY h) FROM schemamig.heads() h" \
	"SELECT schemamig.fingerprint()" \
	"SELECT count(*) FROM schemamig.drift()" \
	"SELECT string_agg(id || revision || statement, ',' ORDER BY id) FROM schemamig.ddl_log" \
	"SELECT string_agg(id || revision || action, ',' ORDER BY id) FROM schemamig.journal" \
	"SELECT string_agg(rule, ',') FROM schemamig.lint('ALTER TABLE p1 ADD COLUMN x int NOT NULL')"; do
	a=$(P -c "$sql"); b=$(S -c "$sql" 2>&1) || { echo "on the standby: $sql: $b"; exit 1; }
	[ "$a" = "$b" ] || { echo "standby differs: $sql"; echo " primary: $a"; echo " standby: $b"; exit 1; }
done
echo "ok: status(), history(), current(), heads(), fingerprint(), drift(), lint() and the log read the same on the standby"

# every mutating call is refused with schemamig's message
for call in "SELECT schemamig.register('p5', 'CREATE TABLE p5 (id int)', 'DROP TABLE p5')" \
	"SELECT schemamig.unregister('p3')" \
	"SELECT * FROM schemamig.upgrade()" \
	"SELECT * FROM schemamig.downgrade()" \
	"SELECT schemamig.stamp('base')" \
	"BEGIN; SELECT schemamig.begin_revision('p5'); COMMIT" \
	"SELECT * FROM schemamig.plan(execute => true)" \
	"SELECT * FROM schemamig.verify()"; do
	out=$(psql -X -p $standby_port -d postgres -v VERBOSITY=verbose -c "$call" 2>&1 || true)
	if ! grep -q "ERROR:  25006: cannot execute .* during recovery" <<<"$out" || ! grep -q "HINT:  Run .* on the primary server" <<<"$out"; then
		echo "standby: $call"; echo "$out"; exit 1
	fi
done
S -v VERBOSITY=terse -c "SELECT * FROM schemamig.upgrade()" 2>&1 | head -1 || true
echo "ok: register, unregister, upgrade, downgrade, stamp, begin_revision, plan(execute => true) and verify refused on the standby with a hint"
# the predicted plan runs nothing: it works on the standby
[ "$(S -c "SELECT statement_no || ':' || coalesce(strongest_lock, '-') FROM schemamig.plan('p3')")" = "1:-" ] || { echo "predicted plan on the standby"; exit 1; }
echo "ok: the predicted plan() answers on the standby"

# failover
as_postgres "$PG_BIN/pg_ctl" -D "$sdata" -w promote >/dev/null
for _ in $(seq 1 100); do
	[ "$(S -c 'SELECT pg_is_in_recovery()')" = f ] && break
	sleep 0.1
done
got=$(S -v ON_ERROR_STOP=1 -c "SET client_min_messages = warning" -c "SELECT string_agg(revision, ',') FROM schemamig.upgrade()")
[ "$got" = p3 ] || { echo "upgrade() after promotion applied '$got', expected p3"; exit 1; }
out=$(psql -X -p $standby_port -d postgres -c "CREATE TABLE adhoc (id int)" 2>&1 || true)
grep -q "unversioned schema change blocked: CREATE TABLE" <<<"$out" || { echo "guard not active after promotion: $out"; exit 1; }
bad=$(S -f "$here/reliability/invariants.sql")
[ -z "$bad" ] || { echo "invariants violated after promotion: $bad"; exit 1; }
[ "$(S -c "SELECT count(*) FROM schemamig.ddl_log WHERE revision = 'p3'")" = 1 ] || { echo "p3 not logged after promotion"; exit 1; }
echo "ok: after promotion upgrade() works, the DDL is logged and the guard blocks ad-hoc DDL"
