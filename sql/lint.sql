--
-- lint: the migration safety review, through schemamig.lint(sql) and
-- register().  Rules fire on "existing" tables: tables the script did not
-- create itself.  lint() only reads the catalogs; the tables below exist so
-- the rules that look at the database (types, indexes) have something to see.
--
SET schemamig.guard = off;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS schemamig;
RESET client_min_messages;
CREATE SCHEMA lint_t;
CREATE TABLE lint_t.orgs (id bigint PRIMARY KEY);
CREATE TABLE lint_t.users (id bigint PRIMARY KEY, name text, email text,
						   org_id bigint, team_id bigint);
CREATE INDEX users_org_idx ON lint_t.users (org_id, email);
RESET schemamig.guard;
-- a row each: add-column-not-null-no-default is an error where the table
-- has rows (an empty or unknown table gets a warning: sql/lint_rows.sql)
INSERT INTO lint_t.orgs VALUES (1);
INSERT INTO lint_t.users (id, org_id) VALUES (1, 1);

-- A finding, all columns
SELECT * FROM schemamig.lint('ALTER TABLE lint_t.users ADD COLUMN role text NOT NULL;');

-- add-column-not-null-no-default
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users ADD COLUMN role text NOT NULL;
$$);
-- ... not with a default, an identity, a generated value or a serial
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users ADD COLUMN role text NOT NULL DEFAULT 'member';
ALTER TABLE lint_t.users ADD COLUMN n bigint NOT NULL GENERATED ALWAYS AS IDENTITY;
ALTER TABLE lint_t.users ADD COLUMN g int NOT NULL GENERATED ALWAYS AS (id * 2) STORED;
ALTER TABLE lint_t.users ADD COLUMN s bigserial NOT NULL;
ALTER TABLE lint_t.users ADD COLUMN nullable_ok text;
$$);
-- ... nor on a table the script creates ("t" and "public.t" are the same table)
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
CREATE TABLE t (id int);
ALTER TABLE public.t ADD COLUMN x int NOT NULL;
CREATE TABLE lint_t.fresh AS SELECT 1 AS id;
ALTER TABLE lint_t.fresh ADD COLUMN x int NOT NULL;
SELECT 1 AS id INTO lint_t.fresh2;
ALTER TABLE lint_t.fresh2 ADD COLUMN x int NOT NULL;
$$);
-- ... but a table of another schema with the same name is another table
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
CREATE TABLE users (id int);
ALTER TABLE lint_t.users ADD COLUMN x int NOT NULL;
$$);

-- drop-add-looks-like-rename: the table exists and the types match
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users DROP COLUMN name;
ALTER TABLE lint_t.users ADD COLUMN full_name text;
$$);
-- ... types differ: only the drop is reported
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users DROP COLUMN name;
ALTER TABLE lint_t.users ADD COLUMN age int;
$$);
-- ... a table that is not in the database (yet): any pair
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.ghost DROP COLUMN a, ADD COLUMN b int;
$$);
-- ... dropping and re-adding the same name is no rename
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users DROP COLUMN name, ADD COLUMN name varchar(100);
$$);

-- drop-column and drop-table
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users DROP COLUMN email;
DROP TABLE lint_t.orgs, lint_t.users;
$$);
-- ... not for a table created earlier in the same script
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
CREATE TABLE lint_t.scratch (a int, b int);
ALTER TABLE lint_t.scratch DROP COLUMN b;
DROP TABLE lint_t.scratch;
$$);

-- transaction-control
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
BEGIN;
CREATE TABLE lint_t.x (id int);
SAVEPOINT s;
COMMIT;
$$);
-- ... BEGIN inside a function body is not transaction control
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
CREATE FUNCTION lint_t.f() RETURNS int LANGUAGE plpgsql AS $f$ BEGIN RETURN 1; END $f$;
$$);

-- set-not-null
SELECT rule, severity, statement_no, message, hint FROM schemamig.lint($$
ALTER TABLE lint_t.users ALTER COLUMN email SET NOT NULL;
$$);
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
CREATE TABLE lint_t.n (email text);
ALTER TABLE lint_t.n ALTER COLUMN email SET NOT NULL;
$$);

-- create-index-locks-writes
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
CREATE INDEX users_email_idx ON lint_t.users (email);
$$);
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
CREATE INDEX CONCURRENTLY users_email_idx ON lint_t.users (email);
$$);
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
CREATE TABLE lint_t.events (id bigint, at timestamptz);
CREATE INDEX ON lint_t.events (at);
$$);

-- add-foreign-key-validates (org_id is covered by users_org_idx)
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users ADD CONSTRAINT users_org_fk
	FOREIGN KEY (org_id) REFERENCES lint_t.orgs (id);
ALTER TABLE lint_t.users ADD COLUMN boss_org bigint REFERENCES lint_t.orgs;
CREATE INDEX CONCURRENTLY ON lint_t.users (boss_org);
$$);
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users ADD CONSTRAINT users_org_fk
	FOREIGN KEY (org_id) REFERENCES lint_t.orgs (id) NOT VALID;
ALTER TABLE lint_t.users VALIDATE CONSTRAINT users_org_fk;
$$);

-- add-check-validates
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users ADD CONSTRAINT email_has_at CHECK (email LIKE '%@%');
$$);
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users ADD CONSTRAINT email_has_at CHECK (email LIKE '%@%') NOT VALID;
$$);

-- add-unique-constraint-locks
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users ADD CONSTRAINT users_email_key UNIQUE (email);
ALTER TABLE lint_t.orgs DROP CONSTRAINT orgs_pkey, ADD PRIMARY KEY (id);
$$);
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
CREATE UNIQUE INDEX CONCURRENTLY users_email_key ON lint_t.users (email);
ALTER TABLE lint_t.users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_key;
$$);

-- alter-column-type
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users ALTER COLUMN org_id TYPE int;
$$);
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
CREATE TABLE lint_t.n (v int);
ALTER TABLE lint_t.n ALTER COLUMN v TYPE bigint;
$$);

-- add-column-volatile-default
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users ADD COLUMN token uuid DEFAULT gen_random_uuid();
ALTER TABLE lint_t.users ADD COLUMN luck float8 NOT NULL DEFAULT (random() * 10)::int;
ALTER TABLE lint_t.users ADD COLUMN seen timestamptz DEFAULT pg_catalog.clock_timestamp();
$$);
-- ... now(), CURRENT_TIMESTAMP and constants are evaluated once: no rewrite
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users ADD COLUMN created timestamptz NOT NULL DEFAULT now();
ALTER TABLE lint_t.users ADD COLUMN updated timestamptz DEFAULT CURRENT_TIMESTAMP;
ALTER TABLE lint_t.users ADD COLUMN flag boolean DEFAULT lower('X') = 'x';
$$);

-- rename
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users RENAME TO accounts;
ALTER TABLE lint_t.orgs RENAME COLUMN id TO org_id;
$$);
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
CREATE TABLE lint_t.draft (a int);
ALTER TABLE lint_t.draft RENAME COLUMN a TO b;
ALTER TABLE lint_t.draft RENAME TO final;
ALTER INDEX lint_t.users_org_idx RENAME TO users_org_email_idx;
$$);

-- foreign-key-without-index: inline, table constraint, ALTER TABLE
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
CREATE TABLE lint_t.orders (
	id bigint PRIMARY KEY,
	user_id bigint REFERENCES lint_t.users,
	org_id bigint,
	FOREIGN KEY (org_id) REFERENCES lint_t.orgs
);
ALTER TABLE lint_t.users ADD FOREIGN KEY (team_id) REFERENCES lint_t.orgs NOT VALID;
$$);
-- ... covered by an index later in the script, the primary key, or an index
-- of the database whose leading columns are the key's
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
CREATE TABLE lint_t.orders (
	id bigint PRIMARY KEY REFERENCES lint_t.orgs,
	user_id bigint REFERENCES lint_t.users,
	org_id bigint,
	CONSTRAINT orders_org_fk FOREIGN KEY (org_id) REFERENCES lint_t.orgs
);
CREATE INDEX ON lint_t.orders (user_id);
CREATE INDEX ON lint_t.orders (org_id, user_id);
ALTER TABLE lint_t.users ADD FOREIGN KEY (org_id) REFERENCES lint_t.orgs NOT VALID;
$$);
-- ... an index whose leading column is another one does not count
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users ADD FOREIGN KEY (email) REFERENCES lint_t.users (name) NOT VALID;
$$);

-- data-in-schema-migration: once, on the first data change
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
ALTER TABLE lint_t.users ADD COLUMN active boolean;
UPDATE lint_t.users SET active = true;
DELETE FROM lint_t.users WHERE email IS NULL;
$$);
-- ... a data-only script is fine
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
INSERT INTO lint_t.orgs VALUES (1);
UPDATE lint_t.users SET org_id = 1;
$$);

-- Allow comments: one rule each, anywhere in the script, text after it free
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
-- schemamig:allow drop-column (email moved to lint_t.contacts in 0041)
ALTER TABLE lint_t.users DROP COLUMN email;
DROP TABLE lint_t.orgs;   --schemamig:allow drop-table
$$);
-- ... words inside a string, a quoted identifier or a dollar-quoted body
-- are not comments
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
COMMENT ON TABLE lint_t.users IS '-- schemamig:allow drop-column';
CREATE FUNCTION lint_t.g() RETURNS text LANGUAGE sql AS $f$ SELECT '
-- schemamig:allow drop-column' $f$;
CREATE TABLE "-- schemamig:allow drop-column" (a int);
ALTER TABLE lint_t.users DROP COLUMN email;
$$);
-- ... and an allow comment names exactly one rule
SELECT rule, severity, statement_no, message FROM schemamig.lint($$
-- schemamig:allow drop-column, drop-table
ALTER TABLE lint_t.users DROP COLUMN email;
DROP TABLE lint_t.orgs;
$$);

-- Edge cases: empty script, NULL, a script that does not parse
SELECT count(*) FROM schemamig.lint('-- nothing here');
SELECT count(*) FROM schemamig.lint(NULL);
\set VERBOSITY terse
SELECT * FROM schemamig.lint('ALTER TABLE lint_t.users ADD COLUMN;');
\set VERBOSITY default

--
-- register(): error findings refuse the revision (SM006), warnings are
-- WARNINGs, info findings NOTICEs; missing-downgrade checks the downgrade.
--
SELECT count(*) AS revisions_before FROM schemamig.revision \gset
SELECT schemamig.register('lint_drop', 'ALTER TABLE lint_t.users ADD COLUMN role text NOT NULL;',
						  'ALTER TABLE lint_t.users DROP COLUMN role;', '{}');
-- every error finding is listed; the hint is the first one's
SELECT schemamig.register('lint_two', $$
ALTER TABLE lint_t.users ADD COLUMN role text NOT NULL;
ALTER TABLE lint_t.orgs ADD COLUMN rank int NOT NULL;
$$, 'SELECT 1;', '{}');
\set VERBOSITY sqlstate
SELECT schemamig.register('lint_two', 'ALTER TABLE lint_t.orgs ADD COLUMN rank int NOT NULL;', NULL, '{}');
\set VERBOSITY default
SELECT count(*) - :revisions_before AS registered FROM schemamig.revision;

-- allowed explicitly: registers
SELECT schemamig.register('lint_drop', $$
-- schemamig:allow add-column-not-null-no-default
ALTER TABLE lint_t.users ADD COLUMN role text NOT NULL;
$$, 'ALTER TABLE lint_t.users DROP COLUMN role;', '{}');

-- warnings and info findings are reported and the revision registers
SELECT schemamig.register('lint_warn', $$
CREATE INDEX users_name_idx ON lint_t.users (name);
UPDATE lint_t.users SET name = lower(name);
$$, 'DROP INDEX lint_t.users_name_idx;', '{}');

-- missing-downgrade: NULL, empty or only comments; can be allowed too
SELECT schemamig.register('lint_nodown', 'CREATE TABLE lint_t.a (id int);', NULL, '{}');
SELECT schemamig.register('lint_commentdown', 'CREATE TABLE lint_t.b (id int);',
						  '-- irreversible', '{}');
SELECT schemamig.register('lint_nodown_ok', $$
-- schemamig:allow missing-downgrade
CREATE TABLE lint_t.c (id int);
$$, NULL, '{}');
-- a revision that only merges (empty upgrade) needs no downgrade
SELECT schemamig.register('lint_merge', '', NULL, '{lint_nodown,lint_commentdown}');
SELECT count(*) - :revisions_before AS registered FROM schemamig.revision;

-- schemamig.lint = warn: error findings become WARNINGs
SET schemamig.lint = warn;
SELECT schemamig.register('lint_warn_mode', 'ALTER TABLE lint_t.users ADD COLUMN role text NOT NULL;',
						  'ALTER TABLE lint_t.users DROP COLUMN role;', '{}');
-- schemamig.lint = off: no review at all
SET schemamig.lint = off;
SELECT schemamig.register('lint_off_mode', 'DROP TABLE lint_t.orgs;', NULL, '{}');
RESET schemamig.lint;
SELECT revision FROM schemamig.revision WHERE revision LIKE 'lint\_%' ORDER BY revision;

-- Clean up: nothing of this test stays behind
SELECT schemamig.unregister(r)
  FROM unnest(ARRAY['lint_merge', 'lint_drop', 'lint_warn', 'lint_nodown', 'lint_commentdown',
					'lint_nodown_ok', 'lint_warn_mode', 'lint_off_mode']) AS r;
SELECT count(*) - :revisions_before AS registered FROM schemamig.revision;
SET schemamig.guard = off;
SET client_min_messages = warning;
DROP SCHEMA lint_t CASCADE;
RESET client_min_messages;
DROP EXTENSION schemamig;
