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

\c contrib_regression
DROP DATABASE regress_fp_majors;
DROP ROLE regress_fpm_reader;
DROP ROLE regress_fpm_writer;
