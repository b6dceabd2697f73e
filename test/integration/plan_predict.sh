#!/bin/bash
# plan(execute => false) predicts without running anything and never waits:
# it answers at once while another session holds ACCESS EXCLUSIVE on the
# table it plans for (the executed plan fails fast there, within
# schemamig.review_lock_timeout, naming the blocking pid); and over a wide
# set of statements (every kind the test suite's scripts use, and the ones
# the prediction adds: partitions, foreign keys, renames, type changes with
# and without rewrite, fast and volatile defaults, serial and identity,
# SET LOGGED / UNLOGGED, DML, statements on tables made by the plan itself)
# the predicted and the executed plan agree on the strongest lock and the
# rewrite set of every statement not reported as 'unknown'.
set -euo pipefail
db=predict_$$
psql -qX -d postgres -c "CREATE DATABASE $db"
holder=
trap '[ -n "$holder" ] && kill $holder 2>/dev/null; psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
Q() { psql -qXAt -v ON_ERROR_STOP=1 -d $db "$@"; }

Q >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION schemamig;
SELECT schemamig.register('b1', $$
CREATE TABLE users (id int PRIMARY KEY, email varchar(120), created timestamp, score int);
CREATE TABLE orders (id int PRIMARY KEY, user_id int REFERENCES users, note text, amount numeric(10,2));
CREATE INDEX orders_user_idx ON orders (user_id);
CREATE INDEX users_lower_email_idx ON users (lower(email));
CREATE TABLE ev (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE ev_2024 PARTITION OF ev FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TABLE ev_2025 PARTITION OF ev FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE audit (id bigserial PRIMARY KEY, what text);
CREATE VIEW v_users AS SELECT id FROM users;
CREATE TYPE mood AS ENUM ('ok');
CREATE SEQUENCE counter;
$$);
SELECT count(*) FROM schemamig.upgrade();
SET schemamig.lint = off;
SELECT schemamig.register('p1', $$
ALTER TABLE users ALTER COLUMN email TYPE varchar(300);
ALTER TABLE orders ALTER COLUMN user_id TYPE bigint;
ALTER TABLE orders ALTER COLUMN amount TYPE numeric(12,2);
ALTER TABLE users ALTER COLUMN score TYPE bigint USING score::bigint;
ALTER TABLE users ADD COLUMN bio text DEFAULT 'x' NOT NULL;
ALTER TABLE users ADD COLUMN seen timestamptz DEFAULT now();
ALTER TABLE users ADD COLUMN uid uuid DEFAULT gen_random_uuid();
ALTER TABLE users ADD COLUMN n bigserial;
ALTER TABLE audit ADD COLUMN k int GENERATED ALWAYS AS IDENTITY;
ALTER TABLE audit ADD COLUMN g int GENERATED ALWAYS AS (id * 2) STORED;
ALTER TABLE orders DROP CONSTRAINT orders_user_id_fkey;
ALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
ALTER TABLE orders VALIDATE CONSTRAINT fk;
ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount > 0) NOT VALID;
ALTER TABLE orders ALTER COLUMN note SET NOT NULL;
ALTER TABLE orders ALTER COLUMN note SET DEFAULT '';
CREATE INDEX ON orders (note);
CREATE UNIQUE INDEX audit_what_idx ON audit (what);
DROP INDEX audit_what_idx;
ALTER TABLE ev DETACH PARTITION ev_2024;
ALTER TABLE ev ATTACH PARTITION ev_2024 FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
ALTER TABLE ev ADD COLUMN x int;
CREATE TABLE ev_2026 PARTITION OF ev FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE t2 (a int, b varchar(10));
ALTER TABLE t2 ALTER COLUMN b TYPE text;
ALTER TABLE t2 ALTER COLUMN a TYPE text;
CREATE INDEX t2_a_idx ON t2 (a);
ALTER TABLE users RENAME TO people;
ALTER TABLE people ADD COLUMN z int;
ALTER TABLE people RENAME COLUMN z TO zz;
ALTER INDEX orders_user_idx RENAME TO orders_user_id_idx;
INSERT INTO t2 SELECT id, email FROM people;
UPDATE t2 SET b = 'y' WHERE a = '1';
DELETE FROM audit WHERE id < 0;
DO $d$ BEGIN END $d$;
SELECT 1;
ALTER TABLE t2 SET UNLOGGED;
ALTER TABLE t2 SET LOGGED;
ALTER TABLE audit SET UNLOGGED;
ALTER TABLE people ALTER COLUMN created TYPE timestamptz;
COMMENT ON TABLE audit IS 'audit trail';
COMMENT ON COLUMN audit.what IS 'what';
CREATE TABLE child (id int PRIMARY KEY, user_id int REFERENCES people (id));
CREATE VIEW v_orders AS SELECT o.id, p.email FROM orders o JOIN people p ON p.id = o.user_id;
CREATE OR REPLACE VIEW v_users AS SELECT id, email FROM people;
CREATE MATERIALIZED VIEW mv AS SELECT id FROM audit;
REFRESH MATERIALIZED VIEW mv;
DROP MATERIALIZED VIEW mv;
ALTER TYPE mood ADD VALUE 'sad';
CREATE TRIGGER t BEFORE UPDATE ON audit FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger();
DROP TRIGGER t ON audit;
ALTER SEQUENCE counter RESTART 10;
GRANT SELECT ON audit TO PUBLIC;
ALTER TABLE audit SET SCHEMA public;
CREATE SCHEMA s2;
ALTER TABLE t2 SET SCHEMA s2;
REINDEX TABLE orders;
REINDEX INDEX users_lower_email_idx;
VACUUM ANALYZE audit;
ALTER TABLE orders DROP COLUMN amount;
DROP VIEW v_orders;
DROP TABLE child;
DROP TABLE orders;
TRUNCATE s2.t2;
TRUNCATE ev;
$$);
SQL

# the ACCESS EXCLUSIVE holder: a session that keeps the lock for 60 s
psql -qX -d $db -c "BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
for _ in $(seq 1 100); do
	[ "$(Q -c "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'public.users'::regclass AND granted")" = 1 ] && break
	sleep 0.1
done
[ "$(Q -c "SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'public.users'::regclass AND granted")" = 1 ] || { echo "the lock holder did not start"; exit 1; }
start=$(date +%s%N)
rows=$(PGOPTIONS='-c statement_timeout=5s' Q -c "SELECT count(*) FROM schemamig.plan()")
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "predicted plan: $rows statements in $ms ms while users is locked ACCESS EXCLUSIVE"
[ "$rows" -gt 60 ] && [ $ms -lt 3000 ] || { echo "the predicted plan waited or failed"; exit 1; }
# the executed plan fails fast, naming the holder
blocker=$(Q -c "SELECT pid FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = 'public.users'::regclass AND granted")
out=$(PGOPTIONS='-c statement_timeout=5s' psql -qXAt -d $db -c "SELECT count(*) FROM schemamig.plan(execute => true)" 2>&1 || true)
grep -q "lock timeout" <<<"$out" || grep -q "canceling statement due to lock timeout" <<<"$out" || { echo "executed plan: $out"; exit 1; }
grep -q "$blocker" <<<"$out" || { echo "executed plan does not name the blocking pid $blocker: $out"; exit 1; }
Q -c "SELECT pg_terminate_backend($blocker)" >/dev/null
wait $holder 2>/dev/null || true; holder=
echo "ok: predicted plan answered at once under ACCESS EXCLUSIVE; executed plan failed fast naming pid $blocker"

# both modes over every statement
Q -c "SET schemamig.guard = off" -c "CREATE TABLE pr AS SELECT * FROM schemamig.plan()" -c "CREATE TABLE ex AS SELECT * FROM schemamig.plan(execute => true)" >/dev/null
summary=$(Q -c "SELECT count(*) || ' statements, ' || count(*) FILTER (WHERE pr.strongest_lock = 'unknown') || ' unknown, ' || count(*) FILTER (WHERE pr.strongest_lock IS DISTINCT FROM 'unknown' AND (pr.strongest_lock IS DISTINCT FROM ex.strongest_lock OR pr.rewrites IS DISTINCT FROM ex.rewrites)) || ' differ' FROM pr JOIN ex USING (revision, statement_no) WHERE NOT pr.statement ~* '^(vacuum|reindex .*concurrently|create index concurrently)'")
echo "compared: $summary"
Q -c "SELECT pr.statement_no, left(pr.statement, 60), pr.strongest_lock, ex.strongest_lock, pr.rewrites, ex.rewrites FROM pr JOIN ex USING (revision, statement_no) WHERE pr.strongest_lock IS DISTINCT FROM 'unknown' AND NOT pr.statement ~* '^vacuum' AND (pr.strongest_lock IS DISTINCT FROM ex.strongest_lock OR pr.rewrites IS DISTINCT FROM ex.rewrites)"
grep -q " 0 differ" <<<"$summary" || { echo "predicted and executed plans differ"; exit 1; }
rewrites=$(Q -c "SELECT string_agg(statement_no::text, ',' ORDER BY statement_no) FROM pr WHERE rewrites <> '{}'")
echo "rewriting statements: $rewrites"
echo "ok: predicted and executed plans agree"
