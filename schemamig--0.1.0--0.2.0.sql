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

/*
 * The ledger (src/ledger.c, docs/ledger.md): every journal and DDL log row
 * carries ledger_batch (one per transaction that appends rows) and
 * ledger_hash, a SHA-256 over its content and the previous row of its
 * batch; at commit each batch appends one link to schemamig.ledger, hashed
 * over the previous link.  Links are insert-only, like the log.
 * journal.detail holds what an action needs beyond its columns (the
 * reason and the drift() list of accept_drift).
 */
CREATE SEQUENCE schemamig.ledger_batch_seq;
ALTER TABLE schemamig.ddl_log ADD COLUMN ledger_batch bigint, ADD COLUMN ledger_hash bytea;
ALTER TABLE schemamig.journal ADD COLUMN ledger_batch bigint, ADD COLUMN ledger_hash bytea,
	ADD COLUMN detail jsonb;
ALTER TABLE schemamig.journal DROP CONSTRAINT journal_action_check,
	ADD CONSTRAINT journal_action_check CHECK (action IN ('upgrade', 'downgrade', 'stamp',
		'accept_drift', 'repair', 'baseline', 'uninstall'));

CREATE TABLE schemamig.ledger (
	seq bigint PRIMARY KEY,
	batch bigint NOT NULL UNIQUE,
	xid xid8,
	at timestamptz NOT NULL,
	ddl_rows bigint NOT NULL,
	ddl_first bigint,
	ddl_last bytea,
	journal_rows bigint NOT NULL,
	journal_first bigint,
	journal_last bytea,
	unversioned bigint NOT NULL,
	prev bytea NOT NULL,
	hash bytea NOT NULL
);
COMMENT ON TABLE schemamig.ledger IS 'hash chain over the journal and the DDL log: one link per committed transaction that appended rows';
SELECT pg_catalog.pg_extension_config_dump('schemamig.ledger', '');
SELECT pg_catalog.pg_extension_config_dump('schemamig.ledger_batch_seq', '');
REVOKE ALL ON schemamig.ledger FROM PUBLIC;
REVOKE ALL ON SEQUENCE schemamig.ledger_batch_seq FROM PUBLIC;
GRANT SELECT ON schemamig.ledger TO @extowner@ WITH GRANT OPTION;

CREATE TRIGGER ledger_append_only
	BEFORE UPDATE OR DELETE ON schemamig.ledger
	FOR EACH ROW EXECUTE FUNCTION schemamig.refuse_change();
CREATE TRIGGER ledger_no_truncate
	BEFORE TRUNCATE ON schemamig.ledger
	FOR EACH STATEMENT EXECUTE FUNCTION schemamig.refuse_change();
ALTER TABLE schemamig.ledger ENABLE ALWAYS TRIGGER ledger_append_only;
ALTER TABLE schemamig.ledger ENABLE ALWAYS TRIGGER ledger_no_truncate;

/* rows written through SQL get their ledger columns here */
CREATE FUNCTION schemamig.ledger_row()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_ledger_row_trigger';
REVOKE ALL ON FUNCTION schemamig.ledger_row() FROM PUBLIC;
CREATE TRIGGER ddl_log_ledger
	BEFORE INSERT ON schemamig.ddl_log
	FOR EACH ROW EXECUTE FUNCTION schemamig.ledger_row();
CREATE TRIGGER journal_ledger
	BEFORE INSERT ON schemamig.journal
	FOR EACH ROW EXECUTE FUNCTION schemamig.ledger_row();
ALTER TABLE schemamig.ddl_log ENABLE ALWAYS TRIGGER ddl_log_ledger;
ALTER TABLE schemamig.journal ENABLE ALWAYS TRIGGER journal_ledger;

CREATE FUNCTION schemamig.verify_ledger(expected_head text DEFAULT NULL)
RETURNS TABLE (ok boolean, checked bigint, detail text)
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_verify_ledger';
REVOKE ALL ON FUNCTION schemamig.verify_ledger(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION schemamig.verify_ledger(text) TO @extowner@ WITH GRANT OPTION;

/*
 * Drift with memory (src/drift.c): the baseline keeps each object's
 * description and two positions in the ledger; only accept_drift()
 * re-baselines, with a journal row.
 */
ALTER TABLE schemamig.state ADD COLUMN descriptions jsonb,
	ADD COLUMN fingerprint_seq bigint, ADD COLUMN accepted_seq bigint,
	ADD COLUMN baseline_batch bigint, ADD COLUMN baseline_ddl_id bigint;

CREATE FUNCTION schemamig.accept_drift(reason text)
RETURNS integer
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_accept_drift';
REVOKE ALL ON FUNCTION schemamig.accept_drift(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION schemamig.accept_drift(text) TO @extowner@ WITH GRANT OPTION;

/* drift() says what changed */
DROP FUNCTION schemamig.drift();
CREATE FUNCTION schemamig.drift()
RETURNS TABLE (object_type text, identity text, change text,
			   property text, before text, after text)
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_drift';

/*
 * The history 0.1.0 wrote is taken as it stood: its unversioned DDL went
 * into 0.1.0's baselines.  It becomes link 1 of the chain when this
 * update commits (ledger_adopt below), so that link is accepted; the
 * stored fingerprint stays the reference, explained by all versioned DDL.
 */
UPDATE schemamig.state SET accepted_seq = 1, fingerprint_seq = 0
 WHERE fingerprint IS NOT NULL;

/* the rows 0.1.0 wrote join the chain, in id order, in this transaction's batch */
CREATE FUNCTION schemamig.ledger_adopt()
RETURNS bigint
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_ledger_adopt';
ALTER TABLE schemamig.ddl_log DISABLE TRIGGER ddl_log_append_only;
ALTER TABLE schemamig.journal DISABLE TRIGGER journal_append_only;
SELECT schemamig.ledger_adopt();
ALTER TABLE schemamig.ddl_log ENABLE ALWAYS TRIGGER ddl_log_append_only;
ALTER TABLE schemamig.journal ENABLE ALWAYS TRIGGER journal_append_only;
DROP FUNCTION schemamig.ledger_adopt();

/* status() gains ledger_ok */
DROP FUNCTION schemamig.status();
CREATE FUNCTION schemamig.status()
RETURNS TABLE ("current" text[], heads text[], pending integer,
			   guard text, event_triggers_installed boolean,
			   event_triggers_enabled boolean, drift boolean,
			   last_action text, last_revision text, last_action_at timestamptz,
			   partial text[], partial_hint text, ledger_ok boolean)
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'schemamig_status';

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

