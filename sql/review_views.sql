-- View and materialized-view definitions are read with a fresh catalog
-- snapshot by fingerprint(), drift() and verify(): inside one call of
-- upgrade() or verify() the calling statement's snapshot predates the DDL
-- just run, and pg_get_viewdef() would describe the view as it was.
CREATE EXTENSION schemamig;
\set VERBOSITY terse
SET client_min_messages = error;

SELECT schemamig.register('rv1',
	'CREATE TABLE public.vt (a int, b int);
	 CREATE VIEW public.v AS SELECT a FROM public.vt;
	 CREATE MATERIALIZED VIEW public.mv AS SELECT a FROM public.vt',
	'DROP MATERIALIZED VIEW public.mv; DROP VIEW public.v; DROP TABLE public.vt');
-- a correct down that re-creates the views identically
SELECT schemamig.register('rv2',
	'CREATE OR REPLACE VIEW public.v AS SELECT a, b FROM public.vt;
	 DROP MATERIALIZED VIEW public.mv;
	 CREATE MATERIALIZED VIEW public.mv AS SELECT a, b FROM public.vt',
	'DROP VIEW public.v; CREATE VIEW public.v AS SELECT a FROM public.vt;
	 DROP MATERIALIZED VIEW public.mv;
	 CREATE MATERIALIZED VIEW public.mv AS SELECT a FROM public.vt');
-- a wrong down: same columns, another definition
SELECT schemamig.register('rv3',
	'CREATE OR REPLACE VIEW public.v AS SELECT a, b, 1 AS c FROM public.vt',
	'CREATE OR REPLACE VIEW public.v AS SELECT a, b, 2 AS c FROM public.vt');
-- a wrong matview down: same columns, another definition
SELECT schemamig.register('rv4',
	'DROP MATERIALIZED VIEW public.mv;
	 CREATE MATERIALIZED VIEW public.mv AS SELECT a, b FROM public.vt WHERE a > 0',
	'DROP MATERIALIZED VIEW public.mv;
	 CREATE MATERIALIZED VIEW public.mv AS SELECT a, b FROM public.vt WHERE a > 1');

SELECT revision, upgrade_ok, downgrade_ok, restores_schema, reapply_ok, detail
FROM schemamig.verify();

-- upgrade() stores the fingerprint of the schema it leaves: no drift after it
SELECT revision, direction, statements FROM schemamig.upgrade('rv3');
SELECT drift FROM schemamig.status();
SELECT count(*) AS drifted FROM schemamig.drift();
SELECT pg_get_viewdef('public.v'::regclass) LIKE '%1 AS c%' AS current_definition;
-- and a downgrade in the same transaction as the upgrade
BEGIN;
SELECT revision, direction, statements FROM schemamig.upgrade('rv4');
SELECT revision, direction, statements FROM schemamig.downgrade('rv3');
SELECT drift FROM schemamig.status();
ROLLBACK;

-- the mirror case: a view changed by hand is drift, named
SET schemamig.guard = off;
CREATE OR REPLACE VIEW public.v AS SELECT a, b, 3 AS c FROM public.vt;
SELECT object_type, identity, change FROM schemamig.drift();
CREATE OR REPLACE VIEW public.v AS SELECT a, b, 1 AS c FROM public.vt;
SELECT count(*) AS drifted FROM schemamig.drift();

-- clean up
DROP MATERIALIZED VIEW public.mv;
DROP VIEW public.v;
DROP TABLE public.vt;
DROP EXTENSION schemamig;
