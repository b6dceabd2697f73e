--
-- Non-transactional revisions: the step protocol.  steps() lists the
-- top-level statements that take the database to the target; psql's \gexec
-- runs them.  begin_step() admits exactly one statement, progress is kept
-- per statement, an interrupted build is repaired and resumed.
--
CREATE EXTENSION schemamig;
\set SHOW_CONTEXT never

-- A history of 6 revisions, 3 of them with CONCURRENTLY statements.
SELECT schemamig.register('s1_users', $$
CREATE TABLE users (id int PRIMARY KEY, email text, team int)$$,
  'DROP TABLE users -- schemamig:allow drop-table');
SELECT schemamig.register('s2_data',
  'INSERT INTO users SELECT g, ''u'' || g, g % 10 FROM generate_series(1, 2000) g',
  'DELETE FROM users');
SELECT schemamig.register('s3_email_idx',
  'CREATE UNIQUE INDEX CONCURRENTLY users_email_idx ON users (email)',
  'DROP INDEX CONCURRENTLY users_email_idx');
SELECT schemamig.register('s4_bio', 'ALTER TABLE users ADD COLUMN bio text',
  'ALTER TABLE users DROP COLUMN bio -- schemamig:allow drop-column');
-- two top-level statements: the lint warns, each commits on its own
SELECT schemamig.register('s5_team_idx', $$
CREATE INDEX CONCURRENTLY users_team_idx ON users (team);
REINDEX INDEX CONCURRENTLY users_email_idx$$,
  'DROP INDEX CONCURRENTLY users_team_idx');
SELECT schemamig.register('s6_drop_team_idx',
  'DROP INDEX CONCURRENTLY users_team_idx',
  'CREATE INDEX CONCURRENTLY users_team_idx ON users (team)');
SELECT revision, upgrade_transactional, downgrade_transactional
  FROM schemamig.revision ORDER BY seq;

-- upgrade() applies transactional revisions and stops before the first
-- one that needs steps
SELECT revision FROM schemamig.upgrade();

-- steps(): upgrade() for runs of transactional revisions, begin_step /
-- statement / finish_step for the others.  (\o hides the rows upgrade()
-- returns: they carry durations.)
SELECT * FROM schemamig.steps();
\o /dev/null
SELECT * FROM schemamig.steps() \gexec
\o
SELECT revision, applied, transactional, progress FROM schemamig.history();
SELECT indexrelid::regclass, indisvalid FROM pg_index
 WHERE indrelid = 'users'::regclass ORDER BY indexrelid::regclass::text;
-- every statement logged once, under its revision and statement number
SELECT revision, direction, statement_no, command_tag, statement,
       jsonb_path_query_array(objects, '$[*].identity') AS objects
  FROM schemamig.ddl_log ORDER BY id;
SELECT action, revision FROM schemamig.journal ORDER BY id;
SELECT * FROM schemamig.steps();

-- and back: downgrade_steps()
SELECT * FROM schemamig.downgrade_steps('base');
\o /dev/null
SELECT * FROM schemamig.downgrade_steps('base') \gexec
\o
SELECT count(*) AS applied FROM schemamig.applied;
SELECT to_regclass('users') AS users_table;
SELECT revision, statement_no, command_tag, statement
  FROM schemamig.ddl_log WHERE direction = 'downgrade' ORDER BY id;

-- up again, then check the applied set
\o /dev/null
SELECT * FROM schemamig.steps() \gexec
\o
SELECT string_agg(revision, ' ' ORDER BY seq) AS applied FROM schemamig.applied;

-- An open step admits only the registered statement: its parse tree is
-- compared, so spacing and keyword case do not matter, another index name
-- or a missing CONCURRENTLY do.
SELECT schemamig.register('s7_email_lower',
  'CREATE INDEX CONCURRENTLY users_email_lower_idx ON users (lower(email))',
  'DROP INDEX CONCURRENTLY users_email_lower_idx');
SELECT schemamig.begin_step('s7_email_lower', 1);
CREATE INDEX CONCURRENTLY users_other_idx ON users (lower(email));
\echo :LAST_ERROR_SQLSTATE
-- the refusal closed the step: the right statement needs a new begin_step
create   index concurrently USERS_EMAIL_LOWER_IDX on users (LOWER(email));
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.begin_step('s7_email_lower', 1);
CREATE INDEX users_email_lower_idx ON users (lower(email));
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.begin_step('s7_email_lower', 1);
-- non-DDL utility statements pass through an open step
SET application_name = 'steps test';
create   index concurrently USERS_EMAIL_LOWER_IDX on users (LOWER(email));
SELECT schemamig.finish_step('s7_email_lower');
SELECT statement FROM schemamig.ddl_log ORDER BY id DESC LIMIT 1;

-- A statement that has already run is matched but not run again.
SELECT schemamig.begin_step('s7_email_lower', 1);
CREATE INDEX CONCURRENTLY users_email_lower_idx ON users (lower(email));
SELECT count(*) AS logged FROM schemamig.ddl_log
 WHERE revision = 's7_email_lower' AND direction = 'upgrade';

-- Errors of begin_step() and finish_step()
SELECT schemamig.begin_step('nope', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.begin_step('s4_bio', 1);
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.begin_step('s7_email_lower', 2);
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.begin_step('s7_email_lower', 1, 'sideways');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.begin_step('s7_email_lower', NULL);
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT schemamig.begin_step('s7_email_lower', 1, 'downgrade');
ROLLBACK;
SELECT schemamig.finish_step('s7_email_lower');

-- A failed build: the unique index cannot be built on duplicate data and
-- PostgreSQL leaves it INVALID.  The revision is partially applied, status()
-- names the index, and the revision's descendants are blocked.
SELECT schemamig.register('s8_data', 'INSERT INTO users VALUES (5001, ''dup''), (5002, ''DUP'')',
  'DELETE FROM users WHERE id IN (5001, 5002)');
SELECT schemamig.register('s9_email_unique', $$
CREATE INDEX CONCURRENTLY users_id_team_idx ON users (id, team);
CREATE UNIQUE INDEX CONCURRENTLY users_email_lower_key ON users (lower(email))$$,
  $$DROP INDEX CONCURRENTLY users_email_lower_key;
DROP INDEX CONCURRENTLY users_id_team_idx$$);
SELECT schemamig.register('s10_after', 'ALTER TABLE users ADD COLUMN nick text',
  'ALTER TABLE users DROP COLUMN nick -- schemamig:allow drop-column');
\o /dev/null
SELECT * FROM schemamig.steps() \gexec
\o
SELECT partial, partial_hint FROM schemamig.status();
SELECT revision, applied, progress FROM schemamig.history()
 WHERE revision LIKE 's%' AND NOT applied OR progress IS NOT NULL;
SELECT indexrelid::regclass, indisvalid FROM pg_index
 WHERE indrelid = 'users'::regclass AND NOT indisvalid;
-- upgrade() stops before it; downgrade() refuses to move under it
SELECT revision FROM schemamig.upgrade();
SELECT revision FROM schemamig.downgrade();
\echo :LAST_ERROR_SQLSTATE
-- ad-hoc repair is still DDL: blocked
DROP INDEX users_email_lower_key;
\echo :LAST_ERROR_SQLSTATE

-- Fix the data (DML is never guarded) and resume: steps() drops the INVALID
-- index first, then repeats the statement, then goes on.
DELETE FROM users WHERE id = 5002;
SELECT * FROM schemamig.steps();
\o /dev/null
SELECT * FROM schemamig.steps() \gexec
\o
SELECT partial FROM schemamig.status();
SELECT indexrelid::regclass, indisvalid FROM pg_index
 WHERE indrelid = 'users'::regclass ORDER BY indexrelid::regclass::text;
SELECT revision, statement_no, command_tag, statement
  FROM schemamig.ddl_log WHERE revision = 's9_email_unique' ORDER BY id;

-- plan() and verify() run the transactional equivalent (CONCURRENTLY off)
-- inside their rolled-back subtransaction: same schema, plain form's locks.
SELECT schemamig.register('s11_nick_idx',
  'CREATE INDEX CONCURRENTLY users_nick_idx ON users (nick)',
  'DROP INDEX CONCURRENTLY users_nick_idx');
SELECT revision, statement_no, locks, strongest_lock FROM schemamig.plan();
-- executed, the plain form runs instead: its locks
SELECT revision, statement_no, locks, strongest_lock FROM schemamig.plan(execute => true);
SELECT * FROM schemamig.verify();
SELECT to_regclass('users_nick_idx') AS left_behind;

-- Long histories: CALL upgrade_each() commits after every revision and
-- stops, like upgrade(), before a revision that needs steps.
SELECT schemamig.register('s12_t' || g, format('CREATE TABLE t%s (id int)', g),
  format('DROP TABLE t%s -- schemamig:allow drop-table', g),
  ARRAY[CASE WHEN g = 1 THEN 's11_nick_idx' ELSE 's12_t' || (g - 1) END])
  FROM generate_series(1, 3) g;
CALL schemamig.upgrade_each();
SELECT schemamig.begin_step('s11_nick_idx', 1);
CREATE INDEX CONCURRENTLY users_nick_idx ON users (nick);
SELECT schemamig.finish_step('s11_nick_idx');
CALL schemamig.upgrade_each();
SELECT action, revision, target FROM schemamig.journal ORDER BY id DESC LIMIT 4;
BEGIN;
CALL schemamig.upgrade_each();
ROLLBACK;
-- steps() hands a run of transactional revisions to upgrade_each(): one
-- row, one transaction per revision, so a lock-safety split keeps its
-- benefit and a long history never needs one transaction for all of it
SELECT schemamig.register('s13_c' || g, format('COMMENT ON TABLE t1 IS %L', g),
  'SELECT 1', ARRAY[CASE WHEN g = 1 THEN 's12_t3' ELSE 's13_c' || (g - 1) END])
  FROM generate_series(1, 120) g \g /dev/null
SELECT * FROM schemamig.steps();
SET client_min_messages = warning;
SELECT * FROM schemamig.steps() \gexec
RESET client_min_messages;
SELECT count(*) AS revisions, count(DISTINCT xid) AS transactions
  FROM schemamig.journal WHERE revision LIKE 's13_c%' AND action = 'upgrade';

-- stamp() is the way out of a half-applied revision finished by hand
SELECT schemamig.register('s14_two', $$
CREATE INDEX CONCURRENTLY t1_id_idx ON t1 (id);
CREATE INDEX CONCURRENTLY t2_id_idx ON t2 (id)$$, NULL, ARRAY['s12_t3']);
SELECT schemamig.begin_step('s14_two', 1);
CREATE INDEX CONCURRENTLY t1_id_idx ON t1 (id);
SELECT partial FROM schemamig.status();
SELECT schemamig.stamp('s14_two');
SELECT partial FROM schemamig.status();

-- clean up
SET schemamig.guard = off;
DROP TABLE users, t1, t2, t3 CASCADE;
DROP EXTENSION schemamig;
