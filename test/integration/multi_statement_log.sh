#!/bin/bash
# One query string with several statements: the log holds each statement's
# own text, not the whole string.
set -euo pipefail
db=multi_$$
psql -qX -d postgres -c "CREATE DATABASE $db"
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
psql -qX -d $db -c "CREATE EXTENSION schemamig"
psql -qX -d $db -c 'BEGIN; SELECT schemamig.begin_revision($$m1$$); CREATE TABLE a(x int); CREATE TABLE b(y int); COMMIT;' >/dev/null
got=$(psql -qXAt -d $db -c "SELECT string_agg(statement, '|' ORDER BY id) FROM schemamig.ddl_log WHERE revision = 'm1'")
echo "logged: $got"
[ "$got" = "CREATE TABLE a(x int)|CREATE TABLE b(y int)" ] || { echo "wrong statement texts"; exit 1; }
# the first DDL of a fresh session (the one that loads the library) as well
psql -qXAt -d $db -c "SET client_min_messages = error; SET schemamig.guard = off; CREATE TABLE c(z int); COMMENT ON TABLE c IS 'x; y'" >/dev/null
got=$(psql -qXAt -d $db -c "SELECT string_agg(statement, '|' ORDER BY id) FROM schemamig.ddl_log WHERE direction = 'unversioned'")
echo "logged: $got"
[ "$got" = "CREATE TABLE c(z int)|COMMENT ON TABLE c IS 'x; y'" ] || { echo "wrong unversioned statement texts"; exit 1; }
echo "ok: one row per statement with its own text"
