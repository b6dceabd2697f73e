--
-- lint_rows: add-column-not-null-no-default decides with what the database
-- knows.  ADD COLUMN ... NOT NULL without a default fails (23502) exactly
-- when the table, or an inheritor it recurses to, has a row: each case
-- below runs the statement for real (rolled back) next to what the lint
-- says.  An error where it will fail here, or where that could not be
-- checked; a warning where it fails only once rows arrive (empty table,
-- table a pending parent creates, table not in the database).  The case of
-- a lock held by another session is in specs/lint_rows_locked.spec.
--
CREATE EXTENSION schemamig;
SET client_min_messages = warning;
SET schemamig.guard = off;
CREATE TABLE public.rw_empty (id int);
CREATE TABLE public.rw_full (id int);
INSERT INTO public.rw_full VALUES (1);
CREATE TABLE public.rw_dead (id int);
INSERT INTO public.rw_dead VALUES (1);
DELETE FROM public.rw_dead;
CREATE TABLE public.rw_part (id int, at int) PARTITION BY RANGE (at);
CREATE TABLE public.rw_part1 PARTITION OF public.rw_part FOR VALUES FROM (0) TO (10);
CREATE TABLE public.rw_part2 PARTITION OF public.rw_part FOR VALUES FROM (10) TO (20);
CREATE TABLE public.rw_parent (id int);
CREATE TABLE public.rw_child () INHERITS (public.rw_parent);
INSERT INTO public.rw_child VALUES (1);
RESET schemamig.guard;
RESET client_min_messages;

-- What the server does, and what the lint says
\set VERBOSITY sqlstate
SET schemamig.guard = off;
BEGIN;
ALTER TABLE public.rw_empty ADD COLUMN c int NOT NULL;
ROLLBACK;
BEGIN;
ALTER TABLE public.rw_full ADD COLUMN c int NOT NULL;
ROLLBACK;
-- a volatile default gives every row a value: no failure (a rewrite)
BEGIN;
ALTER TABLE public.rw_full ADD COLUMN c float8 NOT NULL DEFAULT random();
ROLLBACK;
-- deleted rows are not rows
BEGIN;
ALTER TABLE public.rw_dead ADD COLUMN c int NOT NULL;
ROLLBACK;
-- a partitioned table with empty partitions, then with a row in one
BEGIN;
ALTER TABLE public.rw_part ADD COLUMN c int NOT NULL;
ROLLBACK;
BEGIN;
INSERT INTO public.rw_part VALUES (1, 15);
ALTER TABLE public.rw_part ADD COLUMN c int NOT NULL;
ROLLBACK;
-- an inheritance child with a row
BEGIN;
ALTER TABLE public.rw_parent ADD COLUMN c int NOT NULL;
ROLLBACK;
RESET schemamig.guard;
\set VERBOSITY default

SELECT statement_no, severity, message FROM schemamig.lint($$
ALTER TABLE public.rw_empty ADD COLUMN c int NOT NULL;
ALTER TABLE public.rw_full ADD COLUMN c int NOT NULL;
ALTER TABLE public.rw_full ADD COLUMN d float8 NOT NULL DEFAULT random();
ALTER TABLE public.rw_dead ADD COLUMN c int NOT NULL;
ALTER TABLE public.rw_part ADD COLUMN c int NOT NULL;
ALTER TABLE public.rw_parent ADD COLUMN c int NOT NULL;
ALTER TABLE ONLY public.rw_parent ADD COLUMN c int NOT NULL;
ALTER TABLE public.rw_nosuch ADD COLUMN c int NOT NULL;
CREATE TABLE public.rw_new (id int);
ALTER TABLE public.rw_new ADD COLUMN c int NOT NULL;
$$) WHERE rule = 'add-column-not-null-no-default' ORDER BY statement_no;

-- a partition with a row makes the partitioned table's finding an error
BEGIN;
INSERT INTO public.rw_part VALUES (1, 15);
SELECT severity, message FROM schemamig.lint('ALTER TABLE public.rw_part ADD COLUMN c int NOT NULL');
ROLLBACK;
-- the rows are those the transaction sees: one inserted just now counts
BEGIN;
INSERT INTO public.rw_empty VALUES (1);
SELECT severity FROM schemamig.lint('ALTER TABLE public.rw_empty ADD COLUMN c int NOT NULL');
ROLLBACK;

-- a table a pending parent creates is empty when this script runs
SET client_min_messages = warning;
SELECT schemamig.register('rw1', 'CREATE TABLE public.rw_later (id int)', NULL, '{}');
RESET client_min_messages;
SELECT severity, message FROM schemamig.lint('ALTER TABLE public.rw_later ADD COLUMN c int NOT NULL', '{rw1}');
SELECT schemamig.unregister('rw1');

-- register(): an error refuses the revision, a warning lets it register
SELECT schemamig.register('rw2', 'ALTER TABLE public.rw_full ADD COLUMN c int NOT NULL',
						  'ALTER TABLE public.rw_full DROP COLUMN c', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT schemamig.register('rw2', 'ALTER TABLE public.rw_empty ADD COLUMN c int NOT NULL',
						  'ALTER TABLE public.rw_empty DROP COLUMN c', '{}');
SELECT revision FROM schemamig.revision WHERE revision LIKE 'rw%';

-- A role that may not read the table: not read, and the finding stays an
-- error (whether the table has rows is not told); the same under row-level
-- security, which would hide rows from the role
CREATE ROLE regress_lint_rows;
SET ROLE regress_lint_rows;
SELECT severity, message FROM schemamig.lint($$
ALTER TABLE public.rw_empty ADD COLUMN c int NOT NULL;
ALTER TABLE public.rw_full ADD COLUMN c int NOT NULL;
$$) ORDER BY statement_no;
RESET ROLE;
SET schemamig.guard = off;
GRANT SELECT ON public.rw_empty, public.rw_full TO regress_lint_rows;
RESET schemamig.guard;
SET ROLE regress_lint_rows;
SELECT severity, message FROM schemamig.lint($$
ALTER TABLE public.rw_empty ADD COLUMN c int NOT NULL;
ALTER TABLE public.rw_full ADD COLUMN c int NOT NULL;
$$) ORDER BY statement_no;
RESET ROLE;
SET schemamig.guard = off;
ALTER TABLE public.rw_empty ENABLE ROW LEVEL SECURITY;
RESET schemamig.guard;
SET ROLE regress_lint_rows;
SELECT severity, message FROM schemamig.lint('ALTER TABLE public.rw_empty ADD COLUMN c int NOT NULL');
RESET ROLE;

-- lint holds no lock on the table afterwards
BEGIN;
SELECT count(*) FROM schemamig.lint('ALTER TABLE public.rw_full ADD COLUMN c int NOT NULL');
SELECT count(*) AS locks FROM pg_locks
 WHERE locktype = 'relation' AND relation = 'public.rw_full'::regclass AND pid = pg_backend_pid();
ROLLBACK;

-- clean up
SELECT schemamig.unregister('rw2');
SET client_min_messages = warning;
SET schemamig.guard = off;
DROP EXTENSION schemamig;
DROP TABLE public.rw_empty, public.rw_full, public.rw_dead, public.rw_part, public.rw_parent CASCADE;
DROP ROLE regress_lint_rows;
