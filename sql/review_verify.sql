-- verify() on what PostgreSQL makes impossible to check in one
-- transaction (an enum value added and used): restores_schema NULL and a
-- detail starting "inconclusive:"; statements that must run at top level
-- are checked as written (their transactional equivalent accepts forms
-- PostgreSQL refuses).
CREATE EXTENSION schemamig;
\set VERBOSITY terse
SET client_min_messages = error;

SELECT schemamig.register('e1',
	$$CREATE TYPE public.mood AS ENUM ('ok'); CREATE TABLE public.m (id int, x public.mood)$$,
	'DROP TABLE public.m; DROP TYPE public.mood', '{}');
SELECT schemamig.register('e2', $$ALTER TYPE public.mood ADD VALUE 'sad'$$, NULL, '{e1}');
SELECT schemamig.register('e3', $$INSERT INTO public.m VALUES (1, 'sad')$$,
	$$DELETE FROM public.m WHERE x = 'sad'$$, '{e2}');
-- one revision that adds a value and uses it
SELECT schemamig.register('e4', $$ALTER TYPE public.mood ADD VALUE 'glad';
	UPDATE public.m SET x = 'glad' WHERE id = 1$$, NULL, '{e2}');
-- and one on top of an inconclusive one
SELECT schemamig.register('e5', 'CREATE TABLE public.m5 (id int)', 'DROP TABLE public.m5', '{e3}');
SELECT revision, upgrade_ok, downgrade_ok, restores_schema, reapply_ok,
	   left(detail, 80) AS detail
FROM schemamig.verify();
SELECT revision, restores_schema, detail LIKE 'inconclusive: %' AS inconclusive
FROM schemamig.verify('e3');

-- checked as written: one DROP INDEX CONCURRENTLY of several indexes is
-- invalid, and so is CREATE INDEX CONCURRENTLY on a partitioned table
SELECT schemamig.register('i1',
	'CREATE TABLE public.ix (a int, b int); CREATE INDEX ix_a ON public.ix (a); CREATE INDEX ix_b ON public.ix (b)',
	'DROP TABLE public.ix', '{}');
SELECT schemamig.register('i2', 'DROP INDEX CONCURRENTLY public.ix_a, public.ix_b',
	'CREATE INDEX CONCURRENTLY ix_a ON public.ix (a)', '{i1}');
SELECT schemamig.register('i3', 'DROP INDEX CONCURRENTLY public.ix_a',
	'CREATE INDEX CONCURRENTLY ix_a ON public.ix (a)', '{i1}');
SELECT schemamig.register('i4',
	'CREATE TABLE public.px (a int) PARTITION BY RANGE (a)',
	'DROP TABLE public.px', '{i1}');
SELECT schemamig.register('i5', 'CREATE INDEX CONCURRENTLY px_a ON public.px (a)',
	'DROP INDEX CONCURRENTLY public.px_a', '{i4}');
SELECT revision, upgrade_ok, downgrade_ok, restores_schema, reapply_ok, detail
FROM schemamig.verify() WHERE revision LIKE 'i%';

-- clean up
SET schemamig.guard = off;
DROP EXTENSION schemamig;
