/* schemamig--0.1.0--0.2.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION schemamig UPDATE TO '0.2.0'" to load this file. \quit

/*
 * Update from 0.1.0 to 0.2.0.  Every object that schemamig--0.2.0.sql adds
 * after the 0.1.0 part is added here too, section by section, so that an
 * updated database equals a fresh install.
 */

/* ==== architecture (#19) ==== */

/*
 * The references of applied and progress to revision are constraint
 * triggers instead of foreign keys, so that a parallel pg_restore (-j) may
 * load the tables' data in any order: they check what the foreign keys
 * checked, at the same moment and with the same message, except while
 * schemamig.restoring is on (src/references.c).  The triggers keep the
 * foreign keys' names.
 */
ALTER TABLE schemamig.applied DROP CONSTRAINT applied_revision_fkey;
ALTER TABLE schemamig.progress DROP CONSTRAINT progress_revision_fkey;

CREATE FUNCTION schemamig.revision_reference_check() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'schemamig_revision_reference_check';
CREATE FUNCTION schemamig.revision_referenced_check() RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'schemamig_revision_referenced_check';
REVOKE ALL ON FUNCTION schemamig.revision_reference_check() FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.revision_referenced_check() FROM PUBLIC;

CREATE CONSTRAINT TRIGGER applied_revision_fkey
	AFTER INSERT OR UPDATE OF revision ON schemamig.applied
	FOR EACH ROW EXECUTE FUNCTION schemamig.revision_reference_check();
CREATE CONSTRAINT TRIGGER progress_revision_fkey
	AFTER INSERT OR UPDATE OF revision ON schemamig.progress
	FOR EACH ROW EXECUTE FUNCTION schemamig.revision_reference_check();
CREATE CONSTRAINT TRIGGER revision_referenced
	AFTER DELETE OR UPDATE OF revision ON schemamig.revision
	FOR EACH ROW EXECUTE FUNCTION schemamig.revision_referenced_check();

/* ==== versions and release (#15) ==== */

/* ==== seal the guard (#12) ==== */

/* ==== ledger and drift (#13) ==== */

/* ==== review and lint (#14) ==== */

/* ==== deploy and client program (#17) ==== */

/* ==== alembic on managed clusters (#18) ==== */

/* ==== managed clusters and owner restore (#20) ==== */

/* ==== citus (#16) ==== */

