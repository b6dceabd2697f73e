#!/bin/bash
# The step protocol run by a deploy role that is not a superuser: it needs
# EXECUTE on the functions and nothing on schemamig's tables; the admitted
# statement runs with its own rights (it cannot index a table it does not
# own), and an open step does not let it run any other DDL.
set -euo pipefail
db=stepdeploy_$$
psql -qX -d postgres -c "CREATE DATABASE $db"
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1; psql -qX -d postgres -c "DROP ROLE IF EXISTS sm_step_deploy" >/dev/null 2>&1 || true' EXIT
psql -qX -d postgres -c "SET client_min_messages = warning" -c "DROP ROLE IF EXISTS sm_step_deploy" -c "CREATE ROLE sm_step_deploy LOGIN"
psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION schemamig;
SET schemamig.guard = off;
GRANT CREATE ON SCHEMA public TO sm_step_deploy;
CREATE TABLE owned_by_postgres (id int);
GRANT EXECUTE ON FUNCTION schemamig.register(text, text, text, text[], text),
      schemamig.upgrade(text), schemamig.steps(text), schemamig.downgrade_steps(text),
      schemamig.begin_step(text, integer, text), schemamig.finish_step(text),
      schemamig.run_step(text, integer, text)
   TO sm_step_deploy;
GRANT EXECUTE ON PROCEDURE schemamig.upgrade_each(text) TO sm_step_deploy;
RESET schemamig.guard;
SQL
as_deploy() { psql -X -d $db -U sm_step_deploy "$@"; }
as_deploy -q -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET client_min_messages = warning;
SELECT schemamig.register('d1', 'CREATE TABLE d (id int)', 'DROP TABLE d -- schemamig:allow drop-table');
SELECT schemamig.register('d2', 'CREATE INDEX CONCURRENTLY d_id_idx ON d (id)', 'DROP INDEX CONCURRENTLY d_id_idx');
SELECT schemamig.register('d3', 'CREATE INDEX CONCURRENTLY not_mine_idx ON owned_by_postgres (id)', 'DROP INDEX CONCURRENTLY not_mine_idx');
SQL
out=$(echo 'SELECT * FROM schemamig.steps() \gexec' | as_deploy 2>&1 || true)
echo "$out" | grep -q 'must be owner of table owned_by_postgres' || { echo "$out"; echo "the step ran with more than the caller's rights"; exit 1; }
[ "$(psql -qXAt -d $db -c "SELECT string_agg(revision, ',' ORDER BY seq) FROM schemamig.applied")" = "d1,d2" ]
[ "$(psql -qXAt -d $db -c "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'd_id_idx'")" = sm_step_deploy ]
# an open step admits its statement only
out=$(printf '%s\n' "SELECT schemamig.begin_step('d3', 1);" 'CREATE TABLE sneaky (id int);' | as_deploy 2>&1 || true)
echo "$out" | grep -q 'The open step admits only statement 1 of revision "d3"' || { echo "$out"; exit 1; }
[ "$(psql -qXAt -d $db -c "SELECT to_regclass('sneaky') IS NULL")" = t ]
echo "ok: a non-superuser deploy role runs steps with its own rights only"
