#!/bin/bash
# Two sessions call upgrade() at once: every revision is applied exactly
# once, the second caller applies only what is still missing.
set -euo pipefail
db=conc_$$
psql -qX -d postgres -c "CREATE DATABASE $db"
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION schemamig;
SELECT schemamig.register('c01', 'CREATE TABLE c01 (id int); SELECT pg_sleep(1)', 'DROP TABLE c01');
SELECT schemamig.register('c02', 'CREATE TABLE c02 (id int)', 'DROP TABLE c02');
SELECT schemamig.register('c03', 'CREATE TABLE c03 (id int)', 'DROP TABLE c03');
SQL
psql -qXAt -d $db -c "SET client_min_messages = warning; SELECT count(*) FROM schemamig.upgrade()" >/tmp/conc1.$$ 2>&1 &
p1=$!
sleep 0.3
psql -qXAt -d $db -c "SET client_min_messages = warning; SELECT count(*) FROM schemamig.upgrade()" >/tmp/conc2.$$ 2>&1 &
p2=$!
wait $p1 && wait $p2
r1=$(cat /tmp/conc1.$$); r2=$(cat /tmp/conc2.$$); rm -f /tmp/conc1.$$ /tmp/conc2.$$
echo "first caller applied $r1, second caller applied $r2"
[ "$r1" = 3 ] && [ "$r2" = 0 ] || { echo "expected 3 and 0"; exit 1; }
dups=$(psql -qXAt -d $db -c "SELECT count(*) FROM (SELECT revision FROM schemamig.journal WHERE action = 'upgrade' GROUP BY revision HAVING count(*) > 1) d")
[ "$dups" = 0 ] || { echo "a revision was applied twice"; exit 1; }
applied=$(psql -qXAt -d $db -c "SELECT string_agg(revision, ',' ORDER BY seq) FROM schemamig.applied")
[ "$applied" = "c01,c02,c03" ] || { echo "applied set is $applied"; exit 1; }
echo "ok: each revision applied exactly once"
