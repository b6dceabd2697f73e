--
-- Running revisions: statement by statement, all or nothing, with
-- lock_timeout, progress and error context; checksums; non-transactional
-- revisions.
--
CREATE EXTENSION schemamig;

-- A script is split by the server's parser: dollar quotes, comments and
-- strings with semicolons do not confuse it.
SELECT schemamig.register('0001_users', $up$
-- the users table
CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);
COMMENT ON TABLE users IS 'semi; colon';
CREATE FUNCTION users_count() RETURNS bigint LANGUAGE plpgsql AS $f$
BEGIN
  RETURN (SELECT count(*) FROM users);  -- ; inside a body
END $f$;
$up$, $down$
DROP FUNCTION users_count();
DROP TABLE users;
$down$, message => 'create users');
SELECT revision, upgrade_statements, downgrade_statements, kind,
       upgrade_transactional, length(checksum) AS checksum_len
  FROM schemamig.revision;
SELECT revision, direction, statements FROM schemamig.upgrade();
SELECT users_count();

-- Re-registering the same text is a no-op (migration files can be re-run),
-- also with CRLF line endings: the checksum normalizes them.
SELECT checksum AS before FROM schemamig.revision WHERE revision = '0001_users' \gset
SELECT schemamig.register('0001_users', replace(upgrade_sql, E'\n', E'\r\n'), downgrade_sql)
  FROM schemamig.revision WHERE revision = '0001_users';
SELECT checksum = :'before' AS unchanged, registered_at = applied_at AS same_row
  FROM schemamig.revision JOIN schemamig.applied USING (revision, checksum);
-- The checksum is sha256(upgrade || '\x00' || downgrade)
SELECT checksum = encode(sha256(convert_to(upgrade_sql, 'UTF8') || '\x00'::bytea ||
                                convert_to(downgrade_sql, 'UTF8')), 'hex') AS documented
  FROM schemamig.revision WHERE revision = '0001_users';

-- An unapplied revision may still be edited; the new text replaces the old
SELECT schemamig.register('0002_bio', 'ALTER TABLE users ADD COLUMN bio text', NULL);
SELECT schemamig.register('0002_bio', 'ALTER TABLE users ADD COLUMN bio text',
                          'ALTER TABLE users DROP COLUMN bio');
SELECT revision, downgrade_sql IS NOT NULL AS reversible FROM schemamig.revision ORDER BY seq;

-- Migration SQL runs with lock_timeout = schemamig.lock_timeout
SELECT schemamig.register('0003_probe',
  'CREATE TABLE probe AS SELECT current_setting(''lock_timeout'') AS lock_timeout',
  'DROP TABLE probe');
SET schemamig.lock_timeout = '2s';
SELECT revision FROM schemamig.upgrade();
SELECT lock_timeout FROM probe;
SHOW lock_timeout;
RESET schemamig.lock_timeout;

-- A revision whose third statement fails leaves nothing of the first two,
-- and the error names the revision and the statement.
SELECT schemamig.register('0004_broken', $$
CREATE TABLE t4a (id int);
CREATE TABLE t4b (id int);
ALTER TABLE no_such_table ADD COLUMN x int;
$$, 'DROP TABLE t4b; DROP TABLE t4a');
\set VERBOSITY default
SELECT revision FROM schemamig.upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT to_regclass('t4a') IS NULL AS t4a_absent, to_regclass('t4b') IS NULL AS t4b_absent;
SELECT * FROM schemamig.current();
SELECT count(*) AS journal_rows FROM schemamig.journal WHERE revision = '0004_broken';
-- ... also when earlier revisions of the same call succeeded
SELECT revision FROM schemamig.downgrade('0002_bio');
SELECT revision FROM schemamig.upgrade();
SELECT column_name FROM information_schema.columns WHERE table_name = 'users' ORDER BY ordinal_position;
SELECT * FROM schemamig.current();
-- fix the revision (it is not applied, so it may be edited) and go on
SELECT schemamig.register('0004_broken', 'CREATE TABLE t4a (id int); CREATE TABLE t4b (id int)',
                          'DROP TABLE t4b; DROP TABLE t4a');
SELECT revision FROM schemamig.upgrade();

-- Irreversible revisions: downgrade through them is refused up front
SELECT schemamig.register('0005_oneway', 'CREATE TABLE t5 (id int)', NULL);
SELECT revision FROM schemamig.upgrade();
SELECT revision FROM schemamig.downgrade('-2');
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM schemamig.current();

-- Statements that need the top level make a revision non-transactional:
-- upgrade() applies everything before it and stops there.
SELECT schemamig.register('0006_index', 'CREATE INDEX CONCURRENTLY users_email_idx ON users (email)',
                          'DROP INDEX CONCURRENTLY users_email_idx');
SELECT schemamig.register('0007_after', 'CREATE TABLE t7 (id int)', 'DROP TABLE t7');
SELECT revision, upgrade_transactional, downgrade_transactional FROM schemamig.revision
 WHERE revision IN ('0006_index', '0007_after') ORDER BY seq;
SELECT revision FROM schemamig.upgrade();
SELECT * FROM schemamig.current();

-- A migration cannot start another one
SELECT schemamig.register('0008_nested', 'SELECT schemamig.upgrade()', '', parents => '{0005_oneway}');
SELECT revision FROM schemamig.upgrade('0008_nested');
\echo :LAST_ERROR_SQLSTATE

-- clean up
SET schemamig.guard = off;
DROP TABLE users, probe, t4a, t4b, t5 CASCADE;
DROP FUNCTION users_count();
DROP EXTENSION schemamig;
