/* schemamig--0.1.0--0.2.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION schemamig UPDATE TO '0.2.0'" to load this file. \quit

/*
 * Update from 0.1.0 to 0.2.0.  Every object that schemamig--0.2.0.sql adds
 * after the 0.1.0 part is added here too, section by section, so that an
 * updated database equals a fresh install.
 */

/* ==== architecture (#19) ==== */

/* ==== versions and release (#15) ==== */

/* ==== seal the guard (#12) ==== */

/* ==== ledger and drift (#13) ==== */

/* ==== review and lint (#14) ==== */

/*
 * plan() predicts by default: execute => false reads the parse trees and
 * the catalogs and takes no lock anyone could wait for, so it is safe on
 * production; execute => true is 0.1's dry run, for staging.  The columns
 * gain held (the locks earlier statements of the plan still hold) and note
 * (why a statement's locks are 'unknown').
 */
DROP FUNCTION schemamig.plan(text);
CREATE FUNCTION schemamig.plan(target text DEFAULT 'heads', execute boolean DEFAULT false)
RETURNS TABLE (revision text, statement_no integer, statement text,
			   locks text[], strongest_lock text, rewrites text[],
			   duration interval, held text[], note text)
LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'schemamig_plan';
REVOKE ALL ON FUNCTION schemamig.plan(text, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION schemamig.plan(text, boolean) TO @extowner@ WITH GRANT OPTION;

/*
 * The role that registered a revision, by OID: executed review (plan with
 * execute => true, verify()) runs the scripts as this role.  Revisions
 * registered before 0.2.0 get the role of their registered_by name.
 */
ALTER TABLE schemamig.revision ADD COLUMN registered_role oid;
UPDATE schemamig.revision r SET registered_role = a.oid
FROM pg_catalog.pg_authid a WHERE a.rolname OPERATOR(pg_catalog.=) r.registered_by;

/*
 * lint(sql, parents): the pending parents' scripts are the schema context
 * (an index a parent creates counts for foreign-key-without-index); the
 * scripts are only read, never shown.
 */
DROP FUNCTION schemamig.lint(text);
CREATE FUNCTION schemamig.lint(sql text, parents text[] DEFAULT NULL)
RETURNS TABLE (rule text, severity text, statement_no integer,
			   statement text, message text, hint text)
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'schemamig_lint';

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

