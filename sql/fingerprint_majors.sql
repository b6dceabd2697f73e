--
-- The same schema has the same fingerprint on every supported PostgreSQL
-- major.  This file has ONE expected output, and CI runs it on 15, 17 and
-- 18 (test/majors/run.sh): the fingerprint and every object's hash below
-- are those of 15, so a database moved to a newer major shows no drift.
-- test/majors/schema.sql says what differs between the majors' catalogs.
--
CREATE DATABASE regress_fp_majors;
\c regress_fp_majors
SET client_min_messages = warning;
CREATE ROLE regress_fpm_reader;
CREATE ROLE regress_fpm_writer;
\i test/majors/schema.sql
CREATE EXTENSION schemamig;
RESET client_min_messages;

SELECT schemamig.fingerprint();
SELECT object_type, identity, hash FROM schemamig.fingerprint_objects()
ORDER BY object_type COLLATE "C", identity COLLATE "C";

-- The stored fingerprint carries its format (SCHEMAMIG_FINGERPRINT_FORMAT);
-- one of another format is never compared, so a format change is never
-- drift: ALTER EXTENSION UPDATE stores it again (t/004_extension_upgrade.pl)
SELECT schemamig.register('fm1', 'CREATE TABLE app.fm1 (id int)', 'DROP TABLE app.fm1');
SELECT revision FROM schemamig.upgrade();
SELECT fingerprint_format, fingerprint = schemamig.fingerprint() AS current
FROM schemamig.state;
SET schemamig.guard = off;
ALTER TABLE app.fm1 ADD COLUMN note text;
SELECT drift FROM schemamig.status();
UPDATE schemamig.state SET fingerprint_format = 1;
SELECT drift FROM schemamig.status();
SELECT object_type, identity, change FROM schemamig.drift();
UPDATE schemamig.state SET fingerprint_format = NULL;
SELECT drift FROM schemamig.status();
UPDATE schemamig.state SET fingerprint_format = 2;
SELECT object_type, identity, change FROM schemamig.drift();

\c contrib_regression
DROP DATABASE regress_fp_majors;
DROP ROLE regress_fpm_reader;
DROP ROLE regress_fpm_writer;
