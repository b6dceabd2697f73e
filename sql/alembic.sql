--
-- Flask-Migrate / Alembic compatibility: schemamig.alembic_version_table.
-- The statements below are the SQL Alembic 1.8 sends, written by hand.
-- A database of its own, so the one-line setup can be shown as is.
--
CREATE DATABASE regress_alembic;
\c regress_alembic
CREATE ROLE regress_alembic_reader;
CREATE ROLE regress_alembic_dev;
GRANT CREATE ON SCHEMA public TO regress_alembic_dev;
CREATE EXTENSION schemamig;
\set VERBOSITY terse
\set SHOW_CONTEXT never

-- Off by default: Alembic's own table is DDL like any other
SHOW schemamig.alembic_version_table;
CREATE TABLE alembic_version (version_num varchar(32) NOT NULL,
  CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
\echo :LAST_ERROR_SQLSTATE

-- Only superusers may turn it on
SET ROLE regress_alembic_reader;
SET schemamig.alembic_version_table = 'public.alembic_version';
RESET ROLE;
-- and only schema-qualified: a TEMP table would come first in search_path
SET schemamig.alembic_version_table = 'alembic_version';
\echo :LAST_ERROR_SQLSTATE
SET schemamig.alembic_version_table = 'pg_temp.alembic_version';
\echo :LAST_ERROR_SQLSTATE
ALTER DATABASE regress_alembic SET schemamig.alembic_version_table = 'public.alembic_version';
\c regress_alembic
SHOW schemamig.alembic_version_table;
CREATE TEMP VIEW log AS
  SELECT revision, direction, statement_no, command_tag, statement
    FROM schemamig.ddl_log ORDER BY id;
CREATE TEMP VIEW journal AS
  SELECT revision, action, target FROM schemamig.journal ORDER BY id;

-- Before the version table exists, nothing can attribute DDL: refused at once
CREATE TABLE "user" (id int);
\echo :LAST_ERROR_SQLSTATE

-- flask db upgrade, default: one transaction, three revisions
BEGIN;
CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE "user" (id SERIAL NOT NULL, name VARCHAR(64) NOT NULL, PRIMARY KEY (id));
CREATE INDEX ix_user_name ON "user" (name);
INSERT INTO alembic_version (version_num) VALUES ('a1') RETURNING alembic_version.version_num;
ALTER TABLE "user" ADD COLUMN bio TEXT;
UPDATE alembic_version SET version_num='b2' WHERE alembic_version.version_num = 'a1';
ALTER TABLE "user" ADD COLUMN role VARCHAR(16);
UPDATE alembic_version SET version_num='c3' WHERE alembic_version.version_num = 'b2';
-- nothing is settled before commit
SELECT count(*) AS revisions FROM schemamig.revision;
COMMIT;
SELECT revision, parents, kind, message, applied FROM schemamig.history();
SELECT * FROM schemamig.current();
SELECT * FROM log;
SELECT * FROM journal;
SELECT tgname, tgenabled FROM pg_trigger
 WHERE tgrelid = 'alembic_version'::regclass ORDER BY 1;
SELECT drift FROM schemamig.status();

-- Ad-hoc DDL, even by a superuser who could write the version table:
-- admitted provisionally, refused at commit, nothing persists
SELECT count(*) AS log_rows FROM schemamig.ddl_log \gset
ALTER TABLE "user" ADD COLUMN x int;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
ALTER TABLE "user" ADD COLUMN x int;
CREATE TABLE sneaky (id int);
SELECT 'still in the transaction' AS state;
COMMIT;
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) = :log_rows AS no_new_rows FROM schemamig.ddl_log;
SELECT to_regclass('sneaky') IS NULL AS sneaky_absent,
       NOT EXISTS (SELECT FROM pg_attribute WHERE attrelid = '"user"'::regclass
                   AND attname = 'x') AS column_absent;
-- PREPARE TRANSACTION is checked the same way
BEGIN;
CREATE TABLE prepared_sneak (id int);
PREPARE TRANSACTION 'sneak';
\echo :LAST_ERROR_SQLSTATE
-- DDL after the last version write is not covered by it
BEGIN;
ALTER TABLE "user" ADD COLUMN y int;
UPDATE alembic_version SET version_num='d4' WHERE version_num = 'c3';
ALTER TABLE "user" ADD COLUMN z int;
COMMIT;
\echo :LAST_ERROR_SQLSTATE
-- nor is DDL run after firing the deferred settlement early
BEGIN;
ALTER TABLE "user" ADD COLUMN y int;
UPDATE alembic_version SET version_num='d4' WHERE version_num = 'c3';
SET CONSTRAINTS ALL IMMEDIATE;
ALTER TABLE "user" ADD COLUMN z int;
COMMIT;
\echo :LAST_ERROR_SQLSTATE
-- a version write rolled back to a savepoint attributes nothing
BEGIN;
ALTER TABLE "user" ADD COLUMN y int;
SAVEPOINT s;
UPDATE alembic_version SET version_num='d4' WHERE version_num = 'c3';
ROLLBACK TO SAVEPOINT s;
COMMIT;
\echo :LAST_ERROR_SQLSTATE
-- DDL rolled back to a savepoint needs no version write
BEGIN;
SAVEPOINT s;
ALTER TABLE "user" ADD COLUMN y int;
ROLLBACK TO SAVEPOINT s;
COMMIT;
\echo :ERROR
-- statements that cannot share a transaction with a version write
CREATE INDEX CONCURRENTLY ix_user_bio ON "user" (bio);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM schemamig.current();
SELECT count(*) = :log_rows AS no_new_rows FROM schemamig.ddl_log;

-- A role that may not write the version table is refused at once
SET ROLE regress_alembic_dev;
CREATE TABLE dev_table (id int);
\echo :LAST_ERROR_SQLSTATE
UPDATE alembic_version SET version_num = 'zz';
RESET ROLE;

-- transaction_per_migration: downgrade c3 -> b2 -> a1, one transaction each
BEGIN;
ALTER TABLE "user" DROP COLUMN role;
UPDATE alembic_version SET version_num='b2' WHERE alembic_version.version_num = 'c3';
COMMIT;
BEGIN;
ALTER TABLE "user" DROP COLUMN bio;
UPDATE alembic_version SET version_num='a1' WHERE alembic_version.version_num = 'b2';
COMMIT;
SELECT revision, applied FROM schemamig.history();
-- and up again: known revisions are applied again
BEGIN;
ALTER TABLE "user" ADD COLUMN bio TEXT;
UPDATE alembic_version SET version_num='b2' WHERE alembic_version.version_num = 'a1';
COMMIT;
BEGIN;
ALTER TABLE "user" ADD COLUMN role VARCHAR(16);
UPDATE alembic_version SET version_num='c3' WHERE alembic_version.version_num = 'b2';
COMMIT;
SELECT revision, applied FROM schemamig.history();
SELECT revision, direction, statement_no, statement FROM log
 WHERE revision IS NOT NULL AND direction = 'downgrade' OR statement LIKE '%ADD COLUMN role%';

-- flask db stamp: a version write without DDL is harmless and moves the
-- applied set along
SELECT count(*) AS log_rows FROM schemamig.ddl_log \gset
UPDATE alembic_version SET version_num='a1' WHERE alembic_version.version_num = 'c3';
SELECT revision, applied FROM schemamig.history();
UPDATE alembic_version SET version_num='c3' WHERE alembic_version.version_num = 'a1';
SELECT revision, applied FROM schemamig.history();
SELECT count(*) = :log_rows AS no_new_rows FROM schemamig.ddl_log;
SELECT * FROM journal OFFSET 7;

-- Branches and a merge: d4 on c3; e5 a second branch (INSERT); m6 merges
BEGIN;
CREATE TABLE post (id SERIAL NOT NULL, PRIMARY KEY (id));
UPDATE alembic_version SET version_num='d4' WHERE alembic_version.version_num = 'c3';
CREATE TABLE tag (id SERIAL NOT NULL, PRIMARY KEY (id));
INSERT INTO alembic_version (version_num) VALUES ('e5');
COMMIT;
SELECT * FROM alembic_version ORDER BY 1;
SELECT * FROM schemamig.current() ORDER BY 1;
BEGIN;
DELETE FROM alembic_version WHERE alembic_version.version_num = 'd4';
UPDATE alembic_version SET version_num='m6' WHERE alembic_version.version_num = 'e5';
COMMIT;
SELECT revision, parents, applied FROM schemamig.history() WHERE revision IN ('d4', 'e5', 'm6');
SELECT * FROM schemamig.current();
-- downgrade the merge (unmerge: INSERT d4, UPDATE m6 -> e5), then branch e5
-- (DELETE), in one transaction
BEGIN;
INSERT INTO alembic_version (version_num) VALUES ('d4');
UPDATE alembic_version SET version_num='e5' WHERE alembic_version.version_num = 'm6';
DROP TABLE tag;
DELETE FROM alembic_version WHERE alembic_version.version_num = 'e5';
COMMIT;
SELECT revision, applied FROM schemamig.history() WHERE revision IN ('d4', 'e5', 'm6');
SELECT * FROM schemamig.current();
SELECT revision, direction, statement_no, statement FROM log
 WHERE revision IN ('d4', 'e5', 'm6');
SELECT * FROM journal OFFSET 11;

-- flask db upgrade --sql | psql, downgrade to base: Alembic ends by
-- dropping its table, which is allowed
BEGIN;
DROP TABLE post;
UPDATE alembic_version SET version_num='c3' WHERE alembic_version.version_num = 'd4';
ALTER TABLE "user" DROP COLUMN role;
UPDATE alembic_version SET version_num='b2' WHERE alembic_version.version_num = 'c3';
ALTER TABLE "user" DROP COLUMN bio;
UPDATE alembic_version SET version_num='a1' WHERE alembic_version.version_num = 'b2';
DROP INDEX ix_user_name;
DROP TABLE "user";
DELETE FROM alembic_version WHERE alembic_version.version_num = 'a1';
DROP TABLE alembic_version;
COMMIT;
SELECT * FROM schemamig.current();
SELECT revision, direction, statement_no, command_tag FROM log
 WHERE direction IN ('downgrade', 'unversioned') ORDER BY 1, 3;

-- A version table that existed before: alembic_attach() attaches the
-- trigger and adopts its rows
BEGIN;
SELECT schemamig.begin_revision('legacy');
CREATE TABLE alembic_version (version_num varchar(32) NOT NULL PRIMARY KEY);
INSERT INTO alembic_version VALUES ('0ld');
COMMIT;
SELECT count(*) AS triggers FROM pg_trigger WHERE tgrelid = 'alembic_version'::regclass;
SELECT * FROM schemamig.alembic_attach();
SELECT revision, parents, kind, applied FROM schemamig.history() WHERE revision = '0ld';
BEGIN;
CREATE TABLE widget (id int);
UPDATE alembic_version SET version_num='n3w' WHERE version_num = '0ld';
COMMIT;
SELECT revision, parents, applied FROM schemamig.history() WHERE revision IN ('0ld', 'n3w');
SELECT revision, direction, statement FROM log WHERE revision = 'n3w';
SET ROLE regress_alembic_reader;
SELECT * FROM schemamig.alembic_attach();
RESET ROLE;

-- Turned off again, everything is as before: refused at once, and version
-- writes move nothing
SET schemamig.alembic_version_table = '';
CREATE TABLE after_reset (id int);
\echo :LAST_ERROR_SQLSTATE
UPDATE alembic_version SET version_num='x9' WHERE version_num = 'n3w';
SELECT * FROM schemamig.current();
SELECT count(*) AS settlement_rows FROM schemamig.alembic_settlement;

--
-- alembic_enable(): Alembic mode without superuser, on a trusted install.
-- The operator creates the database, its owner and the deploy role; the
-- owner installs schemamig and names the deploy role as the writer.
--
\c contrib_regression
SELECT current_user AS superuser \gset
CREATE ROLE regress_alembic_owner LOGIN;
CREATE ROLE regress_alembic_deploy LOGIN;
CREATE ROLE regress_alembic_other LOGIN;
CREATE DATABASE regress_alembic2 OWNER regress_alembic_owner;
\c regress_alembic2 regress_alembic_owner
\set VERBOSITY terse
\set SHOW_CONTEXT never
GRANT CREATE ON SCHEMA public TO regress_alembic_deploy, regress_alembic_other;
CREATE EXTENSION schemamig;
-- (so that this file can show them from the deploy role's session)
BEGIN;
SELECT schemamig.begin_revision('grants');
GRANT SELECT ON schemamig.ddl_log, schemamig.journal, schemamig.alembic_provisional,
  schemamig.alembic_revision TO regress_alembic_deploy;
COMMIT;
SELECT alembic_version_table, alembic_writer, alembic_setting, alembic_provisional
  FROM schemamig.status();
-- Before it is on, the error of an Alembic deploy says how to turn it on
\c regress_alembic2 regress_alembic_deploy
\set VERBOSITY default
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL,
  CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
\set VERBOSITY terse
-- The deploy role cannot turn it on; the owner can
SELECT schemamig.alembic_enable('public.alembic_version', 'regress_alembic_deploy');
\echo :LAST_ERROR_SQLSTATE
\c regress_alembic2 regress_alembic_owner
\set VERBOSITY terse
\set SHOW_CONTEXT never
SELECT schemamig.alembic_enable(NULL, 'regress_alembic_deploy');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.alembic_enable('alembic_version', 'regress_alembic_deploy');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.alembic_enable('pg_temp.alembic_version', 'regress_alembic_deploy');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.alembic_enable('nosuch.alembic_version', 'regress_alembic_deploy');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.alembic_enable('public.alembic_version', 'no_such_role');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.alembic_enable('public.alembic_version', 'regress_alembic_deploy');
SELECT version_table, writer FROM schemamig.alembic_config;
SELECT alembic_version_table, alembic_writer, alembic_setting FROM schemamig.status();

-- Trust is decided: another role may not create the version table first
\c regress_alembic2 regress_alembic_other
\set VERBOSITY terse
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL);
\echo :LAST_ERROR_SQLSTATE

-- The writer deploys: the first revision in one transaction
\c regress_alembic2 regress_alembic_deploy
\set VERBOSITY terse
\set SHOW_CONTEXT never
CREATE TEMP VIEW log AS
  SELECT revision, direction, statement_no, command_tag, statement
    FROM schemamig.ddl_log ORDER BY id;
BEGIN;
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL,
  CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
CREATE TABLE account (id int PRIMARY KEY, bio text, y int);
INSERT INTO alembic_version (version_num) VALUES ('a1');
COMMIT;
SELECT revision, kind, applied FROM schemamig.history();

-- autocommit_block(): the migration's transaction so far commits, CREATE
-- INDEX CONCURRENTLY runs in autocommit, a new transaction writes the
-- version.  In between, the writer's DDL is provisional, bound to the next
-- version write of this session, and status() shows it.
BEGIN;
CREATE TABLE note (id int);
COMMIT;
CREATE INDEX CONCURRENTLY note_id_idx ON note (id);
SELECT regexp_replace(p, 'pid \d+', 'pid N') AS provisional
  FROM schemamig.status(), unnest(alembic_provisional) p;
SELECT command_tag, statement FROM schemamig.alembic_provisional ORDER BY id;
BEGIN;
ALTER TABLE note ADD COLUMN body text;
UPDATE alembic_version SET version_num='b2' WHERE alembic_version.version_num = 'a1';
COMMIT;
SELECT * FROM log WHERE revision = 'b2';
SELECT count(*) AS provisional_rows FROM schemamig.alembic_provisional;
SELECT alembic_provisional FROM schemamig.status();

-- A prepared transaction leaves the session: its DDL cannot stay provisional
BEGIN;
CREATE TABLE prepared_sneak (id int);
PREPARE TRANSACTION 'sneak';
\echo :LAST_ERROR_SQLSTATE

-- Review: an autogenerated rename (add about, drop bio) is refused at commit
\set VERBOSITY default
BEGIN;
ALTER TABLE account ADD COLUMN about TEXT;
ALTER TABLE account DROP COLUMN bio;
UPDATE alembic_version SET version_num='c3' WHERE alembic_version.version_num = 'b2';
COMMIT;
\set VERBOSITY terse
SELECT attname FROM pg_attribute WHERE attrelid = 'account'::regclass AND attnum > 0
   AND NOT attisdropped ORDER BY attnum;
SELECT * FROM alembic_version;
-- the migration allows what it means
SELECT schemamig.allow(NULL);
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.allow('Drop Column');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT schemamig.allow('drop-column');
SELECT schemamig.allow('drop-add-looks-like-rename');
ALTER TABLE account ADD COLUMN about TEXT;
ALTER TABLE account DROP COLUMN bio;
UPDATE alembic_version SET version_num='c3' WHERE alembic_version.version_num = 'b2';
COMMIT;
SELECT * FROM log WHERE revision = 'c3';
-- warnings are WARNINGs
BEGIN;
CREATE INDEX account_y_idx ON account (y);
UPDATE alembic_version SET version_num='d4' WHERE alembic_version.version_num = 'c3';
COMMIT;

-- The statements are stored; downgrade d4, and apply it again with the
-- same statements written differently: accepted
BEGIN;
DROP INDEX account_y_idx;
UPDATE alembic_version SET version_num='c3' WHERE alembic_version.version_num = 'd4';
COMMIT;
SELECT revision, upgrade_statements, downgrade_statements FROM schemamig.alembic_revision
 WHERE revision = 'd4';
BEGIN;
create   index account_y_idx
  on account (y);  -- same tree
UPDATE alembic_version SET version_num='d4' WHERE alembic_version.version_num = 'c3';
COMMIT;
SELECT * FROM alembic_version;
-- an applied migration edited (a literal differs) is refused under enforce
BEGIN;
DROP INDEX account_y_idx;
UPDATE alembic_version SET version_num='c3' WHERE alembic_version.version_num = 'd4';
COMMIT;
\set VERBOSITY default
BEGIN;
CREATE INDEX account_y_idx ON account (y) WHERE y > 1;
UPDATE alembic_version SET version_num='d4' WHERE alembic_version.version_num = 'c3';
COMMIT;
\set VERBOSITY terse
SELECT * FROM alembic_version;
SELECT to_regclass('account_y_idx') IS NULL AS index_absent;
-- a pass downgrade (one edge, no DDL) is a downgrade, not a stamp; a jump
-- over two edges without DDL is flask db stamp
UPDATE alembic_version SET version_num='b2' WHERE alembic_version.version_num = 'c3';
UPDATE alembic_version SET version_num='c3' WHERE alembic_version.version_num = 'b2';
UPDATE alembic_version SET version_num='a1' WHERE alembic_version.version_num = 'c3';
UPDATE alembic_version SET version_num='c3' WHERE alembic_version.version_num = 'a1';
-- the downgrade of a concurrent build, in autocommit_block() too; the log
-- names the index it dropped
CREATE INDEX CONCURRENTLY note_body_idx ON note (body);
UPDATE alembic_version SET version_num='e5' WHERE alembic_version.version_num = 'c3';
DROP INDEX CONCURRENTLY note_body_idx;
UPDATE alembic_version SET version_num='c3' WHERE alembic_version.version_num = 'e5';
SELECT revision, direction, statement_no, command_tag, objects FROM schemamig.ddl_log
 WHERE revision = 'e5' ORDER BY id;

-- The applied set follows the version table: upgrade() and friends refuse
\c regress_alembic2 regress_alembic_owner
\set VERBOSITY terse
\set SHOW_CONTEXT never
SELECT * FROM schemamig.upgrade();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM schemamig.steps();
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM schemamig.downgrade('a1');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.stamp('d4');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, applied FROM schemamig.history();
SELECT revision, action, target FROM schemamig.journal ORDER BY id;
-- allow() lasts for the transaction, for register() too
SELECT schemamig.register('x1', 'ALTER TABLE note ADD COLUMN k int NOT NULL', NULL, '{}');
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SELECT schemamig.allow('add-column-not-null-no-default');
SELECT schemamig.register('x1', 'ALTER TABLE note ADD COLUMN k int NOT NULL', NULL, '{}');
ROLLBACK;

-- Only the writer's version writes count: a superuser's is refused too
\c regress_alembic2 :superuser
\set VERBOSITY terse
UPDATE alembic_version SET version_num = 'a1';
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM alembic_version;

-- The GUC overrides the stored table, as superuser; status() says which
SET schemamig.alembic_version_table = 'public.other_version';
SELECT alembic_version_table, alembic_writer, alembic_setting FROM schemamig.status();
RESET schemamig.alembic_version_table;

-- alembic_disable(): off again; the next deploy's error names alembic_enable
\c regress_alembic2 regress_alembic_owner
\set VERBOSITY terse
SELECT schemamig.alembic_disable();
SELECT alembic_version_table, alembic_writer, alembic_setting FROM schemamig.status();
\c regress_alembic2 regress_alembic_deploy
\set VERBOSITY default
\set SHOW_CONTEXT never
CREATE TABLE late (id int);
\set VERBOSITY terse

-- clean up
\c contrib_regression :superuser
DROP DATABASE regress_alembic2;
DROP DATABASE regress_alembic;
DROP ROLE regress_alembic_dev;
DROP ROLE regress_alembic_reader;
DROP ROLE regress_alembic_owner;
DROP ROLE regress_alembic_deploy;
DROP ROLE regress_alembic_other;
