-- The lint rules of 0.2, the false positives fixed, the schema context of
-- pending parents, and squawk-ignore comments.
CREATE EXTENSION schemamig;
\set VERBOSITY terse
SET client_min_messages = warning;
SET schemamig.guard = off;
CREATE TABLE public.lu (id int PRIMARY KEY, name varchar(120), note text, at timestamp);
INSERT INTO public.lu (id, note) VALUES (1, 'x');
CREATE TABLE public.lo (id bigint PRIMARY KEY, lu_id int, body text);
CREATE INDEX lo_body_idx ON public.lo (body);
CREATE TABLE public.lp (id int, at date) PARTITION BY RANGE (at);
CREATE TABLE public.lp1 PARTITION OF public.lp FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE TYPE public.lmood AS ENUM ('ok');
ALTER TABLE public.lu ADD CONSTRAINT lu_note_nn CHECK (note IS NOT NULL);
RESET schemamig.guard;

-- new rules on existing tables
SELECT rule, severity, statement_no FROM schemamig.lint($$
ALTER TABLE public.lu ADD COLUMN n1 serial;
ALTER TABLE public.lu ADD COLUMN n2 bigint GENERATED ALWAYS AS IDENTITY;
ALTER TABLE public.lu ADD COLUMN n3 int GENERATED ALWAYS AS (id * 2) STORED;
DROP INDEX public.lo_body_idx;
REINDEX TABLE public.lo;
ALTER TABLE public.lo SET UNLOGGED;
ALTER TABLE public.lp DETACH PARTITION public.lp1;
TRUNCATE public.lo CASCADE;
ALTER TABLE public.lo ADD CONSTRAINT lo_excl EXCLUDE USING btree (id WITH =);
ALTER TYPE public.lmood ADD VALUE 'sad';
$$) ORDER BY statement_no, rule;
-- the forms that do not lock: no finding but the one for a script with
-- several statements that must each run at top level
SELECT rule, statement_no FROM schemamig.lint($$
DROP INDEX CONCURRENTLY public.lo_body_idx;
REINDEX TABLE CONCURRENTLY public.lo;
ALTER TABLE public.lp DETACH PARTITION public.lp1 CONCURRENTLY;
TRUNCATE public.lo;
$$);

-- type preferences (any table)
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
CREATE TABLE public.lnew (id serial PRIMARY KEY, code varchar(10), seen timestamp,
	big bigserial, k int GENERATED ALWAYS AS IDENTITY, ok text, ts timestamptz, n int);
$$) ORDER BY statement_no, rule, message;

-- false positives fixed: widening varchar and numeric is binary-compatible
SELECT rule, statement_no FROM schemamig.lint($$
ALTER TABLE public.lu ALTER COLUMN name TYPE varchar(300);
ALTER TABLE public.lu ALTER COLUMN name TYPE text;
ALTER TABLE public.lu ALTER COLUMN id TYPE bigint;
ALTER TABLE public.lu ALTER COLUMN name TYPE varchar(50);
$$) ORDER BY statement_no;
-- SET NOT NULL after a validated CHECK (c IS NOT NULL): in the database,
-- or added and validated by the script; not after a NOT VALID one
SELECT rule, statement_no FROM schemamig.lint($$
ALTER TABLE public.lu ALTER COLUMN note SET NOT NULL;
ALTER TABLE public.lu ADD CONSTRAINT lu_name_nn CHECK (name IS NOT NULL) NOT VALID;
ALTER TABLE public.lu ALTER COLUMN name SET NOT NULL;
ALTER TABLE public.lu VALIDATE CONSTRAINT lu_name_nn;
ALTER TABLE public.lu ALTER COLUMN name SET NOT NULL;
ALTER TABLE public.lu ALTER COLUMN at SET NOT NULL;
$$) ORDER BY statement_no;

-- schema context: the index comes from a pending parent revision
SELECT schemamig.register('lr1', 'CREATE INDEX lo_lu_id_idx ON public.lo (lu_id)',
	'DROP INDEX public.lo_lu_id_idx', '{}');
SELECT rule FROM schemamig.lint(
	'ALTER TABLE public.lo ADD CONSTRAINT lo_lu_fk FOREIGN KEY (lu_id) REFERENCES public.lu NOT VALID');
SELECT rule FROM schemamig.lint(
	'ALTER TABLE public.lo ADD CONSTRAINT lo_lu_fk FOREIGN KEY (lu_id) REFERENCES public.lu NOT VALID',
	'{lr1}');
-- register() uses the revision's parents
SELECT schemamig.register('lr2',
	'ALTER TABLE public.lo ADD CONSTRAINT lo_lu_fk FOREIGN KEY (lu_id) REFERENCES public.lu NOT VALID',
	'ALTER TABLE public.lo DROP CONSTRAINT lo_lu_fk', '{lr1}');
SELECT rule FROM schemamig.lint('SELECT 1', '{nosuch}');
SELECT count(*) FROM schemamig.lint(NULL);

-- squawk-ignore before a statement allows the mapped rules for it only
SELECT rule, statement_no FROM schemamig.lint($$
-- squawk-ignore ban-drop-column
ALTER TABLE public.lu DROP COLUMN note;
ALTER TABLE public.lu DROP COLUMN at;
-- squawk-ignore require-concurrent-index-creation, prefer-text-field
CREATE INDEX lu_name_idx ON public.lu (name);
-- squawk-ignore ban-drop-table
DROP TABLE public.lo;
$$) ORDER BY statement_no, rule;
SELECT count(*) AS findings FROM schemamig.lint($$
-- squawk-ignore-file
ALTER TABLE public.lu DROP COLUMN note;
DROP TABLE public.lo;
$$);
-- register() honours them
SELECT schemamig.register('lr3', '-- squawk-ignore ban-drop-column
ALTER TABLE public.lu DROP COLUMN at', 'ALTER TABLE public.lu ADD COLUMN at timestamp', '{}');
-- an error rule allowed by its squawk name, and not by another one
SELECT schemamig.register('lr4', '-- squawk-ignore adding-required-field
ALTER TABLE public.lu ADD COLUMN k int NOT NULL', 'ALTER TABLE public.lu DROP COLUMN k', '{}');
SELECT schemamig.register('lr5', '-- squawk-ignore ban-drop-table
ALTER TABLE public.lu ADD COLUMN k2 int NOT NULL', 'ALTER TABLE public.lu DROP COLUMN k2', '{}');
-- drop-column and drop-table are warnings since 0.2 (docs/review.md)
SELECT schemamig.register('lr6', 'ALTER TABLE public.lu DROP COLUMN name', 'SELECT 1', '{}');
-- a drop next to a different number of new columns is a redesign, not a
-- rename (an ORM's rename is one drop and one add): drop-column warns only
SELECT rule, statement_no FROM schemamig.lint($$
ALTER TABLE public.lu DROP COLUMN note, ADD COLUMN pool_a bigint, ADD COLUMN pool_b bigint;
$$) ORDER BY statement_no, rule;
-- ... while one drop and one add still look like a rename
SELECT rule, statement_no FROM schemamig.lint($$
ALTER TABLE public.lu DROP COLUMN note, ADD COLUMN pool_a text;
$$) ORDER BY statement_no, rule;
-- a column read into its replacement first is no rename
SELECT rule, statement_no FROM schemamig.lint($$
ALTER TABLE public.lu ADD COLUMN status text;
UPDATE public.lu SET status = CASE WHEN note IS NULL THEN 'a' ELSE 'b' END;
ALTER TABLE public.lu DROP COLUMN note;
$$) ORDER BY statement_no, rule;

-- clean up
SET schemamig.guard = off;
DROP EXTENSION schemamig;
DROP TABLE public.lo, public.lu, public.lp;
DROP TYPE public.lmood;
