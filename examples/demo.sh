#!/bin/bash
# make demo: install what is missing, build, install, start a throwaway
# cluster and walk through the example history end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

ensure_packages
echo "== building and installing schemamig"
build_and_install
cluster_start
echo "== throwaway cluster in $CLUSTER_DIR (port $PGPORT); removed at exit"

run() {
	echo
	echo "\$ $*"
	psql -X -q -d demo -v ON_ERROR_STOP=1 --pset=footer=off -c "$*" 2>&1
}
try() {
	echo
	echo "\$ $*"
	psql -X -q -d demo --pset=footer=off -c "$*" 2>&1 || true
}

psql -qX -d postgres -c "CREATE DATABASE demo"
run "CREATE EXTENSION schemamig"

echo
echo "== 1. register the first two migrations (files in examples/migrations)"
for f in examples/migrations/0001_*.sql examples/migrations/0002_*.sql; do
	echo "\$ psql -f $f"
	psql -X -q -d demo -v ON_ERROR_STOP=1 -At -f "$f" 2>&1
done
run "SELECT * FROM schemamig.status()"
run "SELECT * FROM schemamig.upgrade()"
run "INSERT INTO users (username, email) VALUES ('ada', 'ada@example.com'), ('grace', 'grace@example.com')"

echo
echo "== 2. the production rule: nobody changes the schema by hand"
try "ALTER TABLE users ADD COLUMN nickname text"

echo
echo "== 3. a required column in two steps, then two branches and a merge"
for f in examples/migrations/000[3-6]*.sql; do
	echo "\$ psql -f $f"
	psql -X -q -d demo -v ON_ERROR_STOP=1 -At -f "$f" 2>&1
done
run "SELECT revision, parents, message, applied FROM schemamig.history()"
run "SELECT * FROM schemamig.heads()"
run "SELECT revision, direction, statements FROM schemamig.upgrade()"
run "SELECT username, role FROM users"
run "SELECT revision, parents, applied, is_head, is_current FROM schemamig.history()"

echo
echo "== 4. every DDL statement is on record"
run "SELECT revision, direction, statement_no AS no, statement FROM schemamig.ddl_log ORDER BY id"

echo
echo "== 5. downgrade -1, then upgrade again"
run "SELECT revision, direction, statements FROM schemamig.downgrade('-1')"
run "SELECT * FROM schemamig.current()"
run "SELECT revision, direction, statements FROM schemamig.downgrade('0004_role_not_null')"
run "SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = 'users' ORDER BY ordinal_position"
run "SELECT revision, direction, statements FROM schemamig.upgrade()"
run "SELECT revision, action, target, by FROM schemamig.journal ORDER BY id"
run "SELECT * FROM schemamig.status()"
echo
echo "== 6. an index built CONCURRENTLY on a table with data: the step protocol"
gexec() {
	echo
	echo "\$ $* \\gexec"
	echo "$* \\gexec" | psql -X -q -e -d demo --pset=footer=off 2>&1
}
run "INSERT INTO users (username, email, last_seen) SELECT 'user' || g, 'user' || g || '@example.com', now() - g * interval '1 minute' FROM generate_series(1, 100000) g"
echo "\$ psql -f examples/migrations/0007_last_seen_idx.sql"
psql -X -q -d demo -v ON_ERROR_STOP=1 -At -f examples/migrations/0007_last_seen_idx.sql 2>&1
run "SELECT revision, direction, statements FROM schemamig.upgrade()"
run "SELECT * FROM schemamig.steps()"
gexec "SELECT * FROM schemamig.steps()"
run "SELECT revision, applied, transactional FROM schemamig.history() WHERE revision = '0007_last_seen_idx'"
run "SELECT indexrelid::regclass AS index, indisvalid FROM pg_index WHERE indexrelid = 'users_last_seen_idx'::regclass"
run "SELECT revision, direction, statement_no AS no, command_tag, statement FROM schemamig.ddl_log WHERE revision = '0007_last_seen_idx'"
try "CREATE INDEX CONCURRENTLY users_email_idx ON users (email)"
gexec "SELECT * FROM schemamig.downgrade_steps('-1')"
run "SELECT * FROM schemamig.current()"
gexec "SELECT * FROM schemamig.steps()"
run "SELECT current, pending, partial, drift FROM schemamig.status()"

echo
echo "== demo finished; the cluster is stopped and removed"
