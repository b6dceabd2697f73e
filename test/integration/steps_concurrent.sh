#!/bin/bash
# Two clients run "steps() \gexec" (and then "downgrade_steps() \gexec") at
# the same time: every statement runs exactly once, the other client skips
# it with a NOTICE instead of waiting (no deploy lock held across a
# CONCURRENTLY build, so no deadlock), and the result is the full history.
set -euo pipefail
db=stepconc_$$
psql -qX -d postgres -c "CREATE DATABASE $db"
trap 'kill $(jobs -p) 2>/dev/null || true; psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true' EXIT
q() { psql -qXAt -d $db -c "$1"; }
out=/tmp/stepconc.$$

psql -qX -v ON_ERROR_STOP=1 -d $db >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION schemamig;
SELECT schemamig.register('c1_t', 'CREATE TABLE t (id int PRIMARY KEY, a text, b text, c text)', 'DROP TABLE t -- schemamig:allow drop-table');
SELECT schemamig.register('c2_data', 'INSERT INTO t SELECT g, md5(g::text), md5((g+1)::text), md5((g+2)::text) FROM generate_series(1, 100000) g', 'DELETE FROM t');
SELECT schemamig.register('c3_a_idx', 'CREATE INDEX CONCURRENTLY t_a_idx ON t (a)', 'DROP INDEX CONCURRENTLY t_a_idx');
SELECT schemamig.register('c4_d', 'ALTER TABLE t ADD COLUMN d int', 'ALTER TABLE t DROP COLUMN d -- schemamig:allow drop-column');
SELECT schemamig.register('c5_b_idx', 'CREATE INDEX CONCURRENTLY t_b_idx ON t (b)', 'DROP INDEX CONCURRENTLY t_b_idx');
SELECT schemamig.register('c6_c_idx', 'CREATE INDEX CONCURRENTLY t_c_idx ON t (c)', 'DROP INDEX CONCURRENTLY t_c_idx');
SELECT count(*) FROM schemamig.upgrade('c2_data');
SQL

run() { # run <name> <function>: one client
	printf '%s\n' "SET application_name = '$1';" "SELECT * FROM schemamig.$2 \\gexec" |
		psql -X -d $db >$out.$1 2>&1
}
check_once() { # every (revision, statement, direction) executed exactly once
	local dups
	dups=$(q "SELECT count(*) FROM (SELECT 1 FROM schemamig.ddl_log WHERE revision IS NOT NULL GROUP BY revision, statement_no, direction HAVING count(*) > 1) d")
	[ "$dups" = 0 ] || { echo "a statement ran twice"; q "SELECT revision, statement_no, direction, statement FROM schemamig.ddl_log ORDER BY id"; exit 1; }
	dups=$(q "SELECT count(*) FROM (SELECT 1 FROM schemamig.journal GROUP BY revision, action HAVING count(*) > 1) d")
	[ "$dups" = 0 ] || { echo "a revision was recorded twice"; exit 1; }
}

# Round 1: a writer's transaction holds the first build, so the second
# client certainly starts while the first is inside CREATE INDEX CONCURRENTLY.
psql -qX -d $db -c "BEGIN; INSERT INTO t VALUES (0); SELECT pg_sleep(3); COMMIT" >/dev/null 2>&1 &
blocker=$!
until [ "$(q "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 't' AND l.mode = 'RowExclusiveLock'")" = 1 ]; do sleep 0.1; done
run one 'steps()' &
a=$!
until [ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'one' AND query LIKE 'CREATE INDEX%'")" = 1 ]; do sleep 0.1; done
run two 'steps()' &
b=$!
wait $a; wait $b; wait $blocker
grep -h ERROR $out.one $out.two && { echo "a client failed"; exit 1; }
grep -q "step skipped" $out.two || { echo "the second client did not skip"; cat $out.two; exit 1; }
check_once
[ "$(q "SELECT string_agg(revision, ',' ORDER BY revision) FROM schemamig.applied")" = "c1_t,c2_data,c3_a_idx,c4_d,c5_b_idx,c6_c_idx" ] || {
	echo "first client may have stopped early; running steps() once more"; run three 'steps()'; }
[ "$(q "SELECT string_agg(revision, ',' ORDER BY revision) FROM schemamig.applied")" = "c1_t,c2_data,c3_a_idx,c4_d,c5_b_idx,c6_c_idx" ]
[ "$(q "SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass AND indisvalid")" = 4 ]
echo "round 1: $(grep -c 'statement not executed' $out.two) statements skipped by the second client"

# Round 2: both clients race from the start, downgrading to c2_data.
run one "downgrade_steps('c2_data')" &
a=$!
run two "downgrade_steps('c2_data')" &
b=$!
wait $a; wait $b
check_once
[ "$(q "SELECT string_agg(revision, ',' ORDER BY revision) FROM schemamig.applied")" = "c1_t,c2_data" ]
[ "$(q "SELECT count(*) FROM pg_index WHERE indrelid = 't'::regclass")" = 1 ]
[ "$(q "SELECT partial IS NULL FROM schemamig.status()")" = t ]
# A client that races ahead of the other may find a revision not ready yet
# (its child still applied): it gets an error for that step and runs
# nothing; the other client completes the work.
echo "round 2: $(cat $out.one $out.two | grep -c ERROR) steps refused as not ready, \
$(cat $out.one $out.two | grep -c 'statement not executed') statements skipped"
bad=$(psql -qXAt -d $db -f "$(dirname "$0")/../reliability/invariants.sql")
[ -z "$bad" ] || { echo "invariants violated: $bad"; exit 1; }
rm -f $out.*
echo "ok: two concurrent steps() runs executed each statement once"
