#!/bin/bash
# Regression: upgrade() waiting for a concurrent register() must apply what
# that register() committed: the new revision (it used to fail with "could
# not read the scripts of revision") and, for a replaced revision, the new
# script text matching the recorded checksum (the script used to be read
# with the statement's old snapshot).
set -euo pipefail
db=creg_$$
psql -qX -d postgres -c "CREATE DATABASE $db"
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION schemamig;
SELECT schemamig.register('base1', 'CREATE TABLE base1 (id int)', 'DROP TABLE base1');
SELECT schemamig.register('swap', 'CREATE TABLE swap_old (id int)', 'DROP TABLE swap_old');
SQL
# the new revision and the replaced text commit while upgrade() waits
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null -c "SET client_min_messages = warning" -c "BEGIN" \
	-c "SELECT schemamig.register('late', 'CREATE TABLE late (id int)', 'DROP TABLE late', '{base1}')" \
	-c "SELECT schemamig.register('swap', 'CREATE TABLE swap_new (id int)', 'DROP TABLE swap_new')" \
	-c "SELECT pg_sleep(1)" -c "COMMIT" &
writer=$!
sleep 0.4
got=$(psql -qXAt -v ON_ERROR_STOP=1 -d $db -c "SET client_min_messages = warning" \
	-c "SELECT string_agg(revision, ',' ORDER BY revision) FROM schemamig.upgrade()" 2>&1) || { echo "$got"; exit 1; }
wait $writer
echo "upgrade() applied: $got"
[ "$got" = "base1,late,swap" ] || { echo "expected base1,late,swap"; exit 1; }
state=$(psql -qXAt -d $db -c "SELECT to_regclass('swap_new') IS NOT NULL, to_regclass('swap_old') IS NULL,
	(SELECT a.checksum = r.checksum FROM schemamig.applied a JOIN schemamig.revision r USING (revision) WHERE revision = 'swap')")
[ "$state" = "t|t|t" ] || { echo "replaced revision: new table, no old table, checksum match: $state"; exit 1; }
echo "ok: upgrade() after a concurrent register() applies the committed revisions and texts"
