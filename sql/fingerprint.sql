--
-- fingerprint(), fingerprint_objects() and drift(): a hash of the
-- user-visible schema that depends on neither OIDs nor creation order, and
-- the drift it reveals after an unversioned change.  Hashes are never
-- printed, only compared.
--
CREATE EXTENSION schemamig;
\set VERBOSITY terse
-- setup DDL outside a revision
SET schemamig.guard = off;

SELECT length(schemamig.fingerprint()) AS hex_digits,
       schemamig.fingerprint() = schemamig.fingerprint() AS repeatable;

-- helpers in pg_temp, which the fingerprint leaves out
SELECT schemamig.fingerprint() AS empty \gset
CREATE TEMP TABLE snap AS SELECT * FROM schemamig.fingerprint_objects();
CREATE FUNCTION pg_temp.snap() RETURNS void LANGUAGE sql AS $$
	DELETE FROM snap;
	INSERT INTO snap SELECT * FROM schemamig.fingerprint_objects();
$$;
-- objects whose hash differs from the snapshot
CREATE FUNCTION pg_temp.diff() RETURNS text LANGUAGE sql AS $$
	SELECT coalesce(string_agg(coalesce(a.object_type, b.object_type) || ' ' ||
							   coalesce(a.identity, b.identity) || ' ' ||
							   CASE WHEN b.hash IS NULL THEN 'added'
									WHEN a.hash IS NULL THEN 'removed'
									ELSE 'changed' END, ', '
							   ORDER BY coalesce(a.object_type, b.object_type) COLLATE "C",
										coalesce(a.identity, b.identity) COLLATE "C"), 'none')
	FROM schemamig.fingerprint_objects() a
	FULL JOIN snap b ON b.object_type = a.object_type AND b.identity = a.identity
	WHERE a.hash IS DISTINCT FROM b.hash;
$$;
SELECT schemamig.fingerprint() = :'empty' AS temp_objects_ignored;

--
-- The same schema reached by two routes gives the same fingerprint.
--
-- route A
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE parent (id int PRIMARY KEY, name varchar(10) NOT NULL DEFAULT 'x');
CREATE TABLE child (id int PRIMARY KEY, parent_id int REFERENCES parent, m mood, note text);
CREATE INDEX child_parent_idx ON child (parent_id);
CREATE VIEW child_names AS
	SELECT c.id, p.name FROM child c JOIN parent p ON p.id = c.parent_id;
CREATE FUNCTION add_one(a int) RETURNS int LANGUAGE sql AS 'SELECT a + 1';
CREATE SEQUENCE counter START 10;
SELECT schemamig.fingerprint() AS fp1 \gset
SELECT object_type, identity FROM schemamig.fingerprint_objects();

DROP VIEW child_names;
DROP FUNCTION add_one(int);
DROP TABLE child, parent;
DROP TYPE mood;
DROP SEQUENCE counter;
SELECT schemamig.fingerprint() <> :'fp1' AS differs_when_dropped;

-- route B: another order, new OIDs, a column that came and went (the live
-- columns keep their positions), constraints added afterwards, an enum label
-- inserted later, a GRANT taken back, a sequence that was used
CREATE SEQUENCE counter START 10;
SELECT nextval('counter');
CREATE FUNCTION add_one(a int) RETURNS int LANGUAGE sql AS 'SELECT a + 1';
CREATE TABLE parent (id int PRIMARY KEY, scratch int, name varchar(10) NOT NULL DEFAULT 'x');
ALTER TABLE parent DROP COLUMN scratch;
GRANT SELECT ON parent TO PUBLIC;
REVOKE SELECT ON parent FROM PUBLIC;
CREATE TYPE mood AS ENUM ('sad', 'happy');
ALTER TYPE mood ADD VALUE 'ok' BEFORE 'happy';
CREATE TABLE child (id int, parent_id int, m mood);
ALTER TABLE child ADD PRIMARY KEY (id);
ALTER TABLE child ADD FOREIGN KEY (parent_id) REFERENCES parent;
ALTER TABLE child ADD COLUMN note text;
CREATE INDEX child_parent_idx ON child (parent_id);
CREATE VIEW child_names AS
	SELECT c.id, p.name FROM child c JOIN parent p ON p.id = c.parent_id;
SELECT schemamig.fingerprint() AS fp2 \gset
SELECT :'fp1' = :'fp2' AS "fp1 = fp2";

-- a search_path of the caller does not change anything
SET search_path = pg_temp, public;
SELECT schemamig.fingerprint() = :'fp2' AS same_with_other_search_path;
RESET search_path;

--
-- Each single property change changes the fingerprint and exactly the
-- objects it should.
--
CREATE TABLE props (a int, b varchar(10), c text);
CREATE TABLE ordered (a int, b int);
CREATE INDEX props_a_idx ON props (a);
CREATE VIEW props_view AS SELECT a FROM props;
CREATE FUNCTION props_trigger() RETURNS trigger LANGUAGE plpgsql AS
	'BEGIN RETURN NEW; END';

-- column type
SELECT schemamig.fingerprint() AS before, pg_temp.snap() \gset
ALTER TABLE props ALTER c TYPE varchar;
SELECT schemamig.fingerprint() <> :'before' AS changed, pg_temp.diff() AS objects;
-- typmod
SELECT schemamig.fingerprint() AS before, pg_temp.snap() \gset
ALTER TABLE props ALTER b TYPE varchar(20);
SELECT schemamig.fingerprint() <> :'before' AS changed, pg_temp.diff() AS objects;
-- nullability
SELECT schemamig.fingerprint() AS before, pg_temp.snap() \gset
ALTER TABLE props ALTER c SET NOT NULL;
SELECT schemamig.fingerprint() <> :'before' AS changed, pg_temp.diff() AS objects;
-- default
SELECT schemamig.fingerprint() AS before, pg_temp.snap() \gset
ALTER TABLE props ALTER c SET DEFAULT 'none';
SELECT schemamig.fingerprint() <> :'before' AS changed, pg_temp.diff() AS objects;
-- column order
SELECT schemamig.fingerprint() AS before, pg_temp.snap() \gset
DROP TABLE ordered;
CREATE TABLE ordered (b int, a int);
SELECT schemamig.fingerprint() <> :'before' AS changed, pg_temp.diff() AS objects;
-- constraint
SELECT schemamig.fingerprint() AS before, pg_temp.snap() \gset
ALTER TABLE props ADD CONSTRAINT props_a_check CHECK (a > 0);
SELECT schemamig.fingerprint() <> :'before' AS changed, pg_temp.diff() AS objects;
-- index definition
SELECT schemamig.fingerprint() AS before, pg_temp.snap() \gset
DROP INDEX props_a_idx;
CREATE INDEX props_a_idx ON props (a DESC);
SELECT schemamig.fingerprint() <> :'before' AS changed, pg_temp.diff() AS objects;
-- view definition
SELECT schemamig.fingerprint() AS before, pg_temp.snap() \gset
CREATE OR REPLACE VIEW props_view AS SELECT a FROM props WHERE a > 1;
SELECT schemamig.fingerprint() <> :'before' AS changed, pg_temp.diff() AS objects;
-- function body
SELECT schemamig.fingerprint() AS before, pg_temp.snap() \gset
CREATE OR REPLACE FUNCTION add_one(a int) RETURNS int LANGUAGE sql AS 'SELECT a + 2';
SELECT schemamig.fingerprint() <> :'before' AS changed, pg_temp.diff() AS objects;
-- a GRANT, on a table and on a column
SELECT schemamig.fingerprint() AS before, pg_temp.snap() \gset
GRANT SELECT ON props TO PUBLIC;
GRANT UPDATE (c) ON props TO PUBLIC;
SELECT schemamig.fingerprint() <> :'before' AS changed, pg_temp.diff() AS objects;
-- an enum label
SELECT schemamig.fingerprint() AS before, pg_temp.snap() \gset
ALTER TYPE mood ADD VALUE 'great';
SELECT schemamig.fingerprint() <> :'before' AS changed, pg_temp.diff() AS objects;
-- a trigger
SELECT schemamig.fingerprint() AS before, pg_temp.snap() \gset
CREATE TRIGGER props_touch BEFORE UPDATE ON props
	FOR EACH ROW EXECUTE FUNCTION props_trigger();
SELECT schemamig.fingerprint() <> :'before' AS changed, pg_temp.diff() AS objects;
-- a policy
SELECT schemamig.fingerprint() AS before, pg_temp.snap() \gset
CREATE POLICY props_positive ON props USING (a > 0);
SELECT schemamig.fingerprint() <> :'before' AS changed, pg_temp.diff() AS objects;
-- data and sequence values are not schema
SELECT schemamig.fingerprint() AS before, pg_temp.snap() \gset
INSERT INTO props VALUES (1, 'x', 'y');
SELECT nextval('counter');
SELECT schemamig.fingerprint() = :'before' AS unchanged, pg_temp.diff() AS objects;

--
-- Drift: the fingerprint is stored by upgrade(), downgrade() and stamp();
-- status() and drift() compare the schema with it.
--
RESET schemamig.guard;
SELECT drift FROM schemamig.status();
SELECT * FROM schemamig.drift();
SELECT schemamig.register('d1', 'CREATE TABLE drifting (a int, b int)', 'DROP TABLE drifting');
SELECT revision, direction, statements FROM schemamig.upgrade();
SELECT drift FROM schemamig.status();
SELECT * FROM schemamig.drift();

-- unversioned changes, allowed here only because the guard is off
SET schemamig.guard = off;
ALTER TABLE drifting ALTER b TYPE bigint;
CREATE INDEX drifting_a_idx ON drifting (a);
DROP TABLE ordered;
SELECT drift FROM schemamig.status();
SELECT * FROM schemamig.drift();

-- nothing absorbs drift silently (0.2): under enforce stamp(), upgrade()
-- and downgrade() refuse (SM008) until accept_drift() records it
RESET schemamig.guard;
\set VERBOSITY terse
SELECT schemamig.stamp('d1');
\echo :LAST_ERROR_SQLSTATE
SELECT revision, direction FROM schemamig.downgrade('base');
\set VERBOSITY default
SELECT schemamig.accept_drift('hand-made changes kept, see ticket 42');
SELECT drift FROM schemamig.status();
SELECT * FROM schemamig.drift();
SELECT schemamig.stamp('d1');

-- a downgrade's changes are explained by its revision: no drift after it
SELECT revision, direction FROM schemamig.downgrade('base');
SELECT drift FROM schemamig.status();
SELECT count(*) AS drifted_objects FROM schemamig.drift();

-- read-only functions are for everyone
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
FROM pg_proc p WHERE p.pronamespace = 'schemamig'::regnamespace
AND p.proname IN ('fingerprint', 'fingerprint_objects', 'drift') ORDER BY 1;

-- clean up
SET schemamig.guard = off;
SET client_min_messages = warning;
DROP TABLE props, child, parent CASCADE;
DROP FUNCTION add_one(int), props_trigger();
DROP TYPE mood;
DROP SEQUENCE counter;
DROP EXTENSION schemamig;
