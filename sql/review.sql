CREATE EXTENSION schemamig;
\set VERBOSITY terse
SET client_min_messages = error;

-- a base schema, applied for real
SELECT schemamig.register('r1_users',
	'CREATE TABLE public.users (id int PRIMARY KEY, email text);
	 CREATE TABLE public.orders (id int PRIMARY KEY, user_id int, note text)',
	'DROP TABLE public.orders; DROP TABLE public.users');
SELECT revision, direction, statements FROM schemamig.upgrade();

-- pending: one statement per table, so each one's locks are its own
SELECT schemamig.register('r2_review',
	'ALTER TABLE public.users ADD COLUMN bio text;
	 CREATE INDEX orders_user_id_idx ON public.orders (user_id)',
	'DROP INDEX public.orders_user_id_idx; ALTER TABLE public.users DROP COLUMN bio');
SELECT schemamig.register('r3_type',
	'ALTER TABLE public.orders ALTER COLUMN note TYPE varchar(100)',
	'ALTER TABLE public.orders ALTER COLUMN note TYPE text');

CREATE TEMP TABLE counts AS
SELECT (SELECT count(*) FROM schemamig.ddl_log) AS ddl_log,
	   (SELECT count(*) FROM schemamig.journal) AS journal;

-- plan(): every pending statement with the locks it takes and rewrites
SELECT revision, statement_no, statement, locks, strongest_lock, rewrites,
	   duration >= '0'::interval AS timed
FROM schemamig.plan(execute => true);
-- the default predicts without running anything: the same locks and rewrites
SELECT revision, statement_no, locks, strongest_lock, rewrites, held, duration, note
FROM schemamig.plan();
SELECT revision, statement_no, strongest_lock FROM schemamig.plan('r2_review');
SELECT revision, statement_no, strongest_lock FROM schemamig.plan('+1');

-- plan() left nothing behind
SELECT column_name FROM information_schema.columns
WHERE table_schema = 'public' AND table_name = 'users' ORDER BY ordinal_position;
SELECT to_regclass('public.orders_user_id_idx') IS NULL AS no_index;
SELECT data_type FROM information_schema.columns
WHERE table_schema = 'public' AND table_name = 'orders' AND column_name = 'note';
SELECT * FROM schemamig.current();
SELECT (SELECT count(*) FROM schemamig.ddl_log) = ddl_log AS ddl_log_unchanged,
	   (SELECT count(*) FROM schemamig.journal) = journal AS journal_unchanged
FROM counts;

-- verify(): both pending revisions are reversible and restore the schema
SELECT * FROM schemamig.verify();
SELECT * FROM schemamig.verify('r3_type');

-- downgrades that forget something are caught and named
SELECT schemamig.register('r4_table',
	'CREATE TABLE public.audit (id int)', '', '{r3_type}');
SELECT schemamig.register('r5_index',
	'CREATE INDEX users_email_idx ON public.users (email)', 'SELECT 1', '{r4_table}');
SELECT schemamig.register('r6_column',
	'ALTER TABLE public.users ADD COLUMN nickname text', 'SELECT 1', '{r5_index}');
SELECT schemamig.register('r7_default',
	'ALTER TABLE public.orders ALTER COLUMN user_id SET DEFAULT 0',
	'SELECT 1', '{r6_column}');
SELECT schemamig.register('r8_constraint',
	'ALTER TABLE public.orders ADD CONSTRAINT orders_id_check CHECK (id > 0)',
	'SELECT 1', '{r7_default}');
SELECT schemamig.register('r9_grant',
	'GRANT SELECT ON public.users TO PUBLIC', 'SELECT 1', '{r8_constraint}');
SELECT schemamig.register('r10_drops',
	'-- schemamig:allow drop-column
	 ALTER TABLE public.orders DROP COLUMN note', 'SELECT 1', '{r9_grant}');
SELECT * FROM schemamig.verify();

-- a revision whose upgrade fails: reported, descendants skipped
SELECT schemamig.register('r11_broken',
	'CREATE TABLE public.t11 (id int); ALTER TABLE public.nosuch ADD COLUMN x int',
	'DROP TABLE public.t11', '{r10_drops}');
SELECT schemamig.register('r12_after',
	'CREATE TABLE public.t12 (id int)', 'DROP TABLE public.t12', '{r11_broken}');
SELECT revision, upgrade_ok, downgrade_ok, restores_schema, reapply_ok, detail
FROM schemamig.verify() WHERE revision IN ('r11_broken', 'r12_after');
-- a named revision whose pending ancestor fails: the call fails
SELECT * FROM schemamig.verify('r12_after');

-- on a branch of its own: an irreversible revision, and one with CREATE
-- INDEX CONCURRENTLY, which no function can run
SELECT schemamig.register('b1_irreversible',
	'CREATE TABLE public.b1 (id int)', NULL, '{r1_users}');
SELECT schemamig.register('b2_concurrent',
	'CREATE INDEX CONCURRENTLY b1_id_idx ON public.b1 (id)',
	'DROP INDEX public.b1_id_idx', '{b1_irreversible}');
SELECT * FROM schemamig.verify('b1_irreversible');
SELECT * FROM schemamig.verify('b2_concurrent');
SET client_min_messages = notice;
SELECT revision, statement_no, statement, locks, rewrites FROM schemamig.plan('b2_concurrent');
SET client_min_messages = error;

-- nothing of it persists
SELECT to_regclass('public.t11') IS NULL AS no_t11,
	   to_regclass('public.audit') IS NULL AS no_audit,
	   to_regclass('public.users_email_idx') IS NULL AS no_index;
SELECT * FROM schemamig.current();
SELECT (SELECT count(*) FROM schemamig.ddl_log) = ddl_log AS ddl_log_unchanged,
	   (SELECT count(*) FROM schemamig.journal) = journal AS journal_unchanged
FROM counts;
SELECT has_table_privilege('public', 'public.users', 'SELECT') AS public_can_select;

-- predicted and executed plans agree on every statement above (the
-- executed plan runs CREATE INDEX CONCURRENTLY's plain form: skipped)
SELECT count(*) AS compared,
	   count(*) FILTER (WHERE p.strongest_lock IS DISTINCT FROM e.strongest_lock
						OR p.rewrites IS DISTINCT FROM e.rewrites) AS differ
FROM schemamig.plan('r10_drops') p
JOIN schemamig.plan('r10_drops', execute => true) e USING (revision, statement_no);
SELECT p.revision, p.statement_no, p.strongest_lock AS predicted, e.strongest_lock AS executed
FROM schemamig.plan('b2_concurrent') p
JOIN schemamig.plan('b2_concurrent', execute => true) e USING (revision, statement_no);

-- an upgrade failing in plan() is an error, and also leaves nothing
SELECT revision, statement_no FROM schemamig.plan('r11_broken', execute => true);
SELECT to_regclass('public.audit') IS NULL AS no_audit;

-- verify() of an applied revision, plan() of an unknown target
SELECT * FROM schemamig.verify('r1_users');
SELECT * FROM schemamig.plan('nosuch');
SELECT * FROM schemamig.plan('nosuch', execute => true);

-- both are for deploy roles only
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
FROM pg_proc p WHERE p.pronamespace = 'schemamig'::regnamespace
AND p.proname IN ('plan', 'verify') ORDER BY 1;

-- clean up
SET schemamig.guard = off;
DROP TABLE IF EXISTS users, orders CASCADE;
DROP EXTENSION schemamig;
