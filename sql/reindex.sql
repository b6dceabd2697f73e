--
-- REINDEX on every PostgreSQL major.  It rebuilds indexes and changes no
-- schema, and PostgreSQL 15 and 16 fire no event trigger for it while 17+
-- do; schemamig decides once for all majors (src/compat.h): REINDEX is
-- allowed under enforce and not logged by the event triggers, also inside
-- a revision.  (A REINDEX CONCURRENTLY step is logged by the step protocol
-- itself, with no objects, on every major: sql/steps.sql.)  One expected
-- output for every major.
--
CREATE DATABASE regress_reindex;
\c regress_reindex
CREATE EXTENSION schemamig;
\set VERBOSITY terse
SELECT schemamig.register('r1', $$
CREATE TABLE items (id int PRIMARY KEY, name text);
CREATE INDEX items_name_idx ON items (name)
$$, $$
DROP TABLE items
$$);
SELECT revision FROM schemamig.upgrade();
SELECT count(*) AS logged_before FROM schemamig.ddl_log \gset
SHOW schemamig.guard;

-- ad hoc: allowed, and nothing is logged
REINDEX INDEX items_name_idx;
REINDEX TABLE items;
REINDEX INDEX CONCURRENTLY items_name_idx;
REINDEX TABLE CONCURRENTLY items;
SELECT count(*) - :logged_before AS logged_ad_hoc FROM schemamig.ddl_log;

-- as a non-superuser owner of the table, too
CREATE ROLE regress_reindex_owner;
BEGIN;
SELECT schemamig.begin_revision('r2');
ALTER TABLE items OWNER TO regress_reindex_owner;
COMMIT;
SELECT count(*) AS logged_before FROM schemamig.ddl_log \gset
SET ROLE regress_reindex_owner;
REINDEX TABLE items;
RESET ROLE;
SELECT count(*) - :logged_before AS logged_as_owner FROM schemamig.ddl_log;

-- inside a revision: applied, not logged; the revision's other DDL is
SELECT schemamig.register('r3', $$
REINDEX TABLE items;
ALTER TABLE items ADD COLUMN note text
$$, $$
ALTER TABLE items DROP COLUMN note
$$, '{r2}');
SELECT revision, statements FROM schemamig.upgrade();
SELECT statement_no, command_tag FROM schemamig.ddl_log WHERE revision = 'r3' ORDER BY id;

-- the rest of the guard is unchanged: a real schema change is refused
CREATE INDEX items_id_name_idx ON items (id, name);
\echo :LAST_ERROR_SQLSTATE
-- and a REINDEX does not make drift
SELECT drift FROM schemamig.status();

\c contrib_regression
DROP DATABASE regress_reindex;
DROP ROLE regress_reindex_owner;
