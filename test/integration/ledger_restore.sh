#!/bin/bash
# The ledger survives what operators do to a database (docs/ledger.md):
#  - pg_dump / pg_restore -j into a database with another encoding, restored
#    under another TimeZone and DateStyle: the chain verifies, with the same
#    head, and new rows continue it;
#  - ALTER EXTENSION UPDATE from 0.1.0 chains the rows 0.1.0 wrote;
#  - the head is written to the server log at commit.
set -euo pipefail
db=ledger_src_$$
dst=ledger_dst_$$
old=ledger_old_$$
dump=$(mktemp /tmp/ledger_dump.XXXXXX)
cleanup() {
	for d in $db $dst $old; do psql -qX -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true; done
	rm -f "$dump"
}
trap cleanup EXIT
fail() { echo "FAILED: $*"; exit 1; }

psql -qX -d postgres -c "CREATE DATABASE $db TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
CREATE EXTENSION schemamig;
SELECT schemamig.register('r1', 'CREATE TABLE "tëst" (id int, note text); COMMENT ON TABLE "tëst" IS ''café''', 'DROP TABLE "tëst"');
SELECT * FROM schemamig.upgrade();
BEGIN; SELECT schemamig.begin_revision('c1'); CREATE INDEX tëst_id ON "tëst" (id); COMMIT;
SET schemamig.guard = warn;
SET client_min_messages = error;
CREATE TABLE adhoc (id int);
SQL
head=$(psql -qXAt -d $db -c "SELECT split_part(detail, ' head ', 2) FROM schemamig.verify_ledger() WHERE ok")
[ -n "$head" ] || fail "source chain does not verify"
echo "source head $head"
grep -q "schemamig ledger head $head" "${CLUSTER_DIR:-/nonexistent}/server.log" 2>/dev/null || \
	{ [ -n "${CLUSTER_DIR:-}" ] && fail "head $head not in the server log"; }

pg_dump -Fd -j 2 -d $db -f "$dump.d"
psql -qX -d postgres -c "CREATE DATABASE $dst TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C'"
PGOPTIONS='-c schemamig.restoring=on' pg_restore -j 2 -d $dst "$dump.d"
rm -rf "$dump.d"
got=$(PGOPTIONS='-c TimeZone=Pacific/Chatham -c DateStyle=SQL,DMY -c IntervalStyle=sql_standard' \
	psql -qXAt -d $dst -c "SELECT ok FROM schemamig.verify_ledger('$head')")
[ "$got" = t ] || fail "restored chain does not pass through $head: $(psql -qXAt -d $dst -c "SELECT detail FROM schemamig.verify_ledger('$head')")"
[ "$(psql -qXAt -d $dst -c "SELECT ledger_ok FROM schemamig.status()")" = t ] || fail "status().ledger_ok false after restore"
psql -qX -v ON_ERROR_STOP=1 -d $dst >/dev/null <<'SQL'
SET client_min_messages = error;
SELECT schemamig.accept_drift('adhoc table from before the dump');
SELECT schemamig.register('r2', 'CREATE TABLE after_restore (id int)', 'DROP TABLE after_restore');
SELECT * FROM schemamig.upgrade();
SQL
got=$(psql -qXAt -d $dst -c "SELECT ok FROM schemamig.verify_ledger('$head')")
[ "$got" = t ] || fail "chain after new rows: $(psql -qXAt -d $dst -c "SELECT detail FROM schemamig.verify_ledger('$head')")"
echo "ok: restored into LATIN1 under another TimeZone/DateStyle, same head, chain continues"

# 0.1.0 -> 0.2.0: the old rows join the chain
psql -qX -d postgres -c "CREATE DATABASE $old"
# (the 0.2 library refuses to run migrations against 0.1.0 objects, so the
# rows 0.1.0 would have written are written directly)
psql -qX -v ON_ERROR_STOP=1 -d $old >/dev/null <<'SQL'
CREATE EXTENSION schemamig VERSION '0.1.0';
INSERT INTO schemamig.journal (revision, action, target, duration, xid)
VALUES ('o1', 'upgrade', 'heads', '1 ms', pg_current_xact_id()),
       ('o2', 'upgrade', 'o2', '2 ms', pg_current_xact_id());
INSERT INTO schemamig.ddl_log (revision, direction, statement_no, command_tag, statement, objects, xid, role, session_role)
VALUES ('o1', 'upgrade', 1, 'CREATE TABLE', 'CREATE TABLE o1 (id int)',
        '[{"type": "table", "identity": "public.o1", "schema": "public", "action": "create"}]',
        pg_current_xact_id(), current_user, session_user),
       ('o2', 'client', NULL, 'CREATE TABLE', 'CREATE TABLE o2 (id int)', '[]',
        pg_current_xact_id(), current_user, session_user);
SQL
before=$(psql -qXAt -d $old -c "SELECT (SELECT count(*) FROM schemamig.ddl_log) + (SELECT count(*) FROM schemamig.journal)")
psql -qX -v ON_ERROR_STOP=1 -d $old -c "SET schemamig.guard = off" -c "ALTER EXTENSION schemamig UPDATE TO '0.2.0'" >/dev/null
got=$(psql -qXAt -d $old -c "SELECT ok || ' ' || checked FROM schemamig.verify_ledger()")
after=$(psql -qXAt -d $old -c "SELECT (SELECT count(*) FROM schemamig.ddl_log) + (SELECT count(*) FROM schemamig.journal)")
[ "$got" = "true $after" ] || fail "updated chain: $got (rows $after)"
[ "$after" -ge "$before" ] || fail "rows lost in the update"
[ "$(psql -qXAt -d $old -c "SELECT count(*) FROM schemamig.ddl_log WHERE ledger_hash IS NULL")" = 0 ] || fail "unchained rows after update"
[ "$(psql -qXAt -d $old -c "SELECT ledger_ok FROM schemamig.status()")" = t ] || fail "status after update"
echo "ok: 0.1.0 -> 0.2.0 chains the $before rows 0.1.0 wrote"
