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

/*
 * Adoption: baseline() marks an existing schema as the first revision
 * (kind 'baseline'); the journal records it, and a repair of an applied
 * revision whose statements did not change.  The journal's action list is
 * the whole 0.2 list of SPEC, so sections that add actions agree.
 */
ALTER TABLE schemamig.revision DROP CONSTRAINT revision_kind_check;
ALTER TABLE schemamig.revision ADD CONSTRAINT revision_kind_check
	CHECK (kind IN ('sql', 'external', 'baseline'));
ALTER TABLE schemamig.journal DROP CONSTRAINT journal_action_check;
ALTER TABLE schemamig.journal ADD CONSTRAINT journal_action_check
	CHECK (action IN ('upgrade', 'downgrade', 'stamp', 'accept_drift', 'repair',
					  'baseline', 'uninstall'));

CREATE FUNCTION schemamig.baseline(revision text)
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_baseline';

/*
 * Deploys a pipeline can trust: what is pending, and an assertion that
 * fails with SM009 when the database is not at its target.  Read-only,
 * for everyone (revision ids are public through history()).
 */
CREATE FUNCTION schemamig.pending(target text DEFAULT 'heads')
RETURNS SETOF text
LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'schemamig_pending';

CREATE FUNCTION schemamig.assert_at(target text DEFAULT 'heads')
RETURNS void
LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'schemamig_assert_at';

/*
 * The step protocol's row for a statement of a non-transactional revision
 * that can run in a transaction: schemamig runs it and records it done in
 * the same transaction.
 */
CREATE FUNCTION schemamig.run_step(revision text, statement_no integer,
								   direction text DEFAULT 'upgrade')
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_run_step';

REVOKE ALL ON FUNCTION schemamig.baseline(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.run_step(text, integer, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION schemamig.baseline(text),
	schemamig.run_step(text, integer, text)
	TO @extowner@ WITH GRANT OPTION;

/* ==== alembic on managed clusters (#18) ==== */

/* ==== managed clusters and owner restore (#20) ==== */

/* ==== citus (#16) ==== */

