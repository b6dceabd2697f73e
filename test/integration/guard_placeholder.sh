#!/bin/bash
# A placeholder "SET schemamig.guard = off" made by an ordinary role before
# the library is loaded must not weaken the guard.
set -euo pipefail
db=ph_$$
psql -qX -d postgres -c "CREATE DATABASE $db"
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1; psql -qX -d postgres -c "DROP ROLE IF EXISTS ph_user" >/dev/null 2>&1 || true' EXIT
psql -qX -d $db -c "CREATE EXTENSION schemamig" -c "CREATE ROLE ph_user LOGIN" -c "SET schemamig.guard = off" -c "GRANT CREATE ON SCHEMA public TO ph_user" >/dev/null
out=$(psql -X -U ph_user -d $db -c "SET schemamig.guard = off" -c "CREATE TABLE sneaky (id int)" 2>&1 || true)
echo "$out"
echo "$out" | grep -q "unversioned schema change blocked: CREATE TABLE" || { echo "placeholder weakened the guard"; exit 1; }
exists=$(psql -qXAt -d $db -c "SELECT to_regclass('sneaky') IS NOT NULL")
[ "$exists" = f ] || { echo "table was created"; exit 1; }
# PGOPTIONS at connection start: same result
out=$(PGOPTIONS='-c schemamig.guard=off -c schemamig.restoring=on' psql -X -U ph_user -d $db -c "CREATE TABLE sneaky (id int)" 2>&1 || true)
echo "$out"
echo "$out" | grep -q "unversioned schema change blocked" || { echo "PGOPTIONS weakened the guard"; exit 1; }
echo "ok: placeholders cannot weaken the guard"
