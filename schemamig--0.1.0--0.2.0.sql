/* schemamig--0.1.0--0.2.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION schemamig UPDATE TO '0.2.0'" to load this file. \quit

/*
 * Update from 0.1.0 to 0.2.0.  Every object that schemamig--0.2.0.sql adds
 * after the 0.1.0 part is added here too, section by section, so that an
 * updated database equals a fresh install.
 */

/* ==== architecture (#19) ==== */

-- a NULL revision id is SM007 everywhere, not a silent NULL result
ALTER FUNCTION schemamig.unregister(text) CALLED ON NULL INPUT;
ALTER FUNCTION schemamig.finish_step(text) CALLED ON NULL INPUT;

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

/*
 * The format of the stored fingerprint (SCHEMAMIG_FINGERPRINT_FORMAT in
 * src/schemamig.h); NULL is format 1, written by 0.1.0
 */
ALTER TABLE schemamig.state ADD COLUMN fingerprint_format integer;
-- the journal's actions of 0.2 (SPEC "Names"); 'baseline' is also written
-- when an update stores the fingerprint again in a new format
ALTER TABLE schemamig.journal DROP CONSTRAINT journal_action_check;
ALTER TABLE schemamig.journal ADD CONSTRAINT journal_action_check
	CHECK (action IN ('upgrade', 'downgrade', 'stamp', 'accept_drift', 'repair',
					  'baseline', 'uninstall'));

/* ==== seal the guard (#12) ==== */

/*
 * The deliberate uninstall: DROP EXTENSION schemamig is refused (42501)
 * unless the same transaction called prepare_uninstall() first, which
 * writes what the drop erases to the server log.  For the extension owner
 * only (no GRANT OPTION: uninstalling is not a deploy role's business).
 */
CREATE FUNCTION schemamig.prepare_uninstall(reason text)
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_prepare_uninstall';
REVOKE ALL ON FUNCTION schemamig.prepare_uninstall(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION schemamig.prepare_uninstall(text) TO @extowner@;

/*
 * status() gains coverage text (last column; the definition is with the
 * Alembic columns): 'full' when schemamig's hooks were active before the
 * session's first statement, else 'event triggers' (docs/security.md).
 */

/*
 * Full coverage with no configuration on PostgreSQL 17+: a login event
 * trigger loads the library before the session's first statement.  A
 * login trigger that fails refuses the connection, for superusers too, and
 * a C function fails before its body runs when its library file is missing
 * or cannot be loaded; so the trigger function is PL/pgSQL and catches any
 * error of the C probe, and the session goes on with event-trigger
 * coverage.  The way back in if it ever refuses logins anyway:
 * "event_triggers = off" (PostgreSQL 17+) for a superuser session.
 */
CREATE FUNCTION schemamig.coverage_probe()
RETURNS text
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_coverage_probe';

CREATE FUNCTION schemamig.load_at_login()
RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM schemamig.coverage_probe();
EXCEPTION WHEN OTHERS THEN
	RAISE LOG 'schemamig could not load its library at login (coverage: event triggers): %', SQLERRM;
END
$$;

/* PostgreSQL 17+ only: the login event exists from 17 on */
DO $$
BEGIN
	IF pg_catalog.current_setting('server_version_num')::integer >= 170000 THEN
		CREATE EVENT TRIGGER schemamig_login ON login
			EXECUTE FUNCTION schemamig.load_at_login();
		ALTER EVENT TRIGGER schemamig_login ENABLE ALWAYS;
	END IF;
END
$$;

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

/*
 * status() gains ledger_ok, its last column: defined once with every
 * column of 0.2.0, in the Alembic section below.
 */

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

/*
 * 'move': the version table moved between revisions whose ancestry
 * schemamig does not know (below the point where it adopted an existing
 * version table), so the journal does not call it an upgrade or a
 * downgrade.  The whole list again, so the sections agree.
 */
ALTER TABLE schemamig.journal DROP CONSTRAINT journal_action_check;
ALTER TABLE schemamig.journal ADD CONSTRAINT journal_action_check
	CHECK (action IN ('upgrade', 'downgrade', 'stamp', 'accept_drift', 'repair',
					  'baseline', 'uninstall', 'move'));

DROP FUNCTION schemamig.status();
CREATE FUNCTION schemamig.status()
RETURNS TABLE ("current" text[], heads text[], pending integer,
			   guard text, event_triggers_installed boolean,
			   event_triggers_enabled boolean, drift boolean,
			   last_action text, last_revision text, last_action_at timestamptz,
			   partial text[], partial_hint text,
			   alembic_version_table text, alembic_writer text,
			   alembic_setting text, alembic_provisional text[],
			   coverage text, ledger_ok boolean)
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'schemamig_status';

/*
 * Alembic mode without superuser (src/alembic_config.c): the version table
 * and the one role whose writes to it count, stored by alembic_enable(),
 * which the extension owner may run and grant.
 */
CREATE TABLE schemamig.alembic_config (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	version_table text NOT NULL,
	writer regrole NOT NULL,
	enabled_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	enabled_by name NOT NULL DEFAULT CURRENT_USER
);
COMMENT ON TABLE schemamig.alembic_config IS 'Alembic mode: the version table and its writer role (alembic_enable)';

/*
 * Revisions that came from the version table: upgrade(), downgrade(),
 * stamp() and steps() leave them to Alembic.  adopted: the version table
 * held it before schemamig followed it (its ancestry is unknown).  The
 * statements of each direction are kept for the review of a re-apply.
 */
CREATE TABLE schemamig.alembic_revision (
	revision text PRIMARY KEY,
	adopted boolean NOT NULL DEFAULT false,
	upgrade_statements text[],
	downgrade_statements text[],
	first_seen timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE schemamig.alembic_revision IS 'revisions Alembic applies: ancestry known or not, statements each direction ran';

/*
 * The writer role's DDL waiting for the version write that attributes it,
 * one row per statement.  Rows of a transaction that wrote the version
 * table move to ddl_log at its commit; rows that stay (Alembic's
 * autocommit_block commits before CREATE INDEX CONCURRENTLY) belong to the
 * session (backend_pid, backend_start) and are settled by its next version
 * write, or logged as unversioned once that session is gone.
 */
CREATE TABLE schemamig.alembic_provisional (
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	backend_pid integer NOT NULL,
	backend_start timestamptz NOT NULL,
	command_tag text NOT NULL,
	statement text,
	objects jsonb NOT NULL DEFAULT '[]',
	executed_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	xid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
	role name NOT NULL,
	session_role name NOT NULL,
	application_name text,
	client_addr inet
);
COMMENT ON TABLE schemamig.alembic_provisional IS 'DDL of the Alembic writer waiting for a version write';

SELECT pg_catalog.pg_extension_config_dump('schemamig.alembic_config', '');
SELECT pg_catalog.pg_extension_config_dump('schemamig.alembic_revision', '');
SELECT pg_catalog.pg_extension_config_dump('schemamig.alembic_provisional', '');
REVOKE ALL ON schemamig.alembic_config, schemamig.alembic_revision,
	schemamig.alembic_provisional FROM PUBLIC;
GRANT SELECT ON schemamig.alembic_config, schemamig.alembic_revision,
	schemamig.alembic_provisional TO @extowner@ WITH GRANT OPTION;

CREATE FUNCTION schemamig.alembic_enable(version_table text, writer regrole)
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_alembic_enable';

CREATE FUNCTION schemamig.alembic_disable()
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_alembic_disable';

/* a migration allows a lint finding for the rest of its transaction */
CREATE FUNCTION schemamig.allow(rule text)
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_allow';

REVOKE ALL ON FUNCTION schemamig.alembic_enable(text, regrole),
	schemamig.alembic_disable() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION schemamig.alembic_enable(text, regrole),
	schemamig.alembic_disable() TO @extowner@ WITH GRANT OPTION;

/* revisions 0.1.0 registered from the version table are Alembic's */
INSERT INTO schemamig.alembic_revision (revision, first_seen)
	SELECT revision, registered_at FROM schemamig.revision
	WHERE kind OPERATOR(pg_catalog.=) 'external'
	AND message OPERATOR(pg_catalog.=) 'Alembic revision';

/* ==== managed clusters and owner restore (#20) ==== */

/*
 * The owner can dump its own database: pg_dump reads the position of every
 * dumped sequence, and the owner had SELECT on the tables only.
 */
GRANT SELECT ON ALL SEQUENCES IN SCHEMA schemamig TO @extowner@ WITH GRANT OPTION;

/*
 * The extension owner's restore window (src/owner_restore.c): restoring its
 * own dump into a new database without superuser.  Opened only by the
 * install script below when CREATE EXTENSION runs with schemamig.restoring
 * on for a role that is not superuser; closed by end_restore().  Not
 * dumped, and readable by nobody but its owner: a restored database never
 * brings a window along.
 */
CREATE TABLE schemamig.restore_window (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	role oid NOT NULL,
	opened_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	granted boolean NOT NULL DEFAULT false
);
REVOKE ALL ON schemamig.restore_window FROM PUBLIC;

CREATE FUNCTION schemamig.end_restore()
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_end_restore';
REVOKE ALL ON FUNCTION schemamig.end_restore() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION schemamig.end_restore() TO @extowner@;

/* ==== citus (#16) ==== */

/*
 * Citus (docs/citus.md): the key that signs the coordinator's revision
 * tokens (src/citus.c), the same on every node and readable by superusers
 * and the extension owner only; housekeeping rows in ddl_log; the cluster
 * seen from the coordinator.
 */
ALTER TABLE schemamig.ddl_log DROP CONSTRAINT ddl_log_direction_check;
ALTER TABLE schemamig.ddl_log ADD CONSTRAINT ddl_log_direction_check
	CHECK (direction IN ('upgrade', 'downgrade', 'client', 'unversioned', 'maintenance'));

/*
 * The ledger under two-phase commit (src/ledger_link.c): a prepared
 * transaction that appended rows leaves its link's content here at PREPARE
 * (it commits or rolls back with the rows); it becomes a link after COMMIT
 * PREPARED and is deleted then.  Never waits on another prepared
 * transaction, which a Citus worker's multi-shard DDL needs.
 */
CREATE TABLE schemamig.ledger_pending (
	batch bigint PRIMARY KEY,
	xid xid8,
	at timestamptz NOT NULL,
	ddl_rows bigint NOT NULL,
	ddl_first bigint,
	ddl_last bytea,
	journal_rows bigint NOT NULL,
	journal_first bigint,
	journal_last bytea,
	unversioned bigint NOT NULL
);
COMMENT ON TABLE schemamig.ledger_pending IS 'ledger links of committed prepared transactions not yet in the chain';
SELECT pg_catalog.pg_extension_config_dump('schemamig.ledger_pending', '');
REVOKE ALL ON schemamig.ledger_pending FROM PUBLIC;
GRANT SELECT ON schemamig.ledger_pending TO @extowner@ WITH GRANT OPTION;

CREATE TABLE schemamig.citus_key (
	key bytea NOT NULL CHECK (pg_catalog.length(key) OPERATOR(pg_catalog.>=) 16),
	single boolean PRIMARY KEY DEFAULT true CHECK (single)
);
COMMENT ON TABLE schemamig.citus_key IS 'HMAC key of the Citus revision tokens; no grants';
REVOKE ALL ON schemamig.citus_key FROM PUBLIC;

CREATE FUNCTION schemamig.citus_set_key(key bytea)
RETURNS void
LANGUAGE sql
AS $$
	DELETE FROM schemamig.citus_key;
	INSERT INTO schemamig.citus_key (key) VALUES ($1);
$$;
REVOKE EXECUTE ON FUNCTION schemamig.citus_set_key(bytea) FROM PUBLIC;

CREATE FUNCTION schemamig.citus_sync_key()
RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
	k bytea;
	n integer := 0;
	r record;
BEGIN
	IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) current_user) THEN
		RAISE EXCEPTION 'permission denied: only a superuser may distribute the Citus key'
			USING ERRCODE = '42501';
	END IF;
	SELECT c.key INTO k FROM schemamig.citus_key c;
	IF k IS NULL THEN
		k := pg_catalog.decode(pg_catalog.replace(pg_catalog.gen_random_uuid()::text
			OPERATOR(pg_catalog.||) pg_catalog.gen_random_uuid()::text, '-', ''), 'hex');
		PERFORM schemamig.citus_set_key(k);
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'citus') THEN
		RETURN 0;
	END IF;
	FOR r IN EXECUTE pg_catalog.format(
		'SELECT nodename, nodeport, success, result FROM pg_catalog.run_command_on_workers(%L)',
		pg_catalog.format('SELECT schemamig.citus_set_key(%L::bytea)', k))
	LOOP
		IF NOT r.success THEN
			RAISE EXCEPTION 'could not copy the Citus key to %:%: %', r.nodename, r.nodeport, r.result;
		END IF;
		n := n OPERATOR(pg_catalog.+) 1;
	END LOOP;
	RETURN n;
END
$$;
REVOKE EXECUTE ON FUNCTION schemamig.citus_sync_key() FROM PUBLIC;

CREATE FUNCTION schemamig.cluster_status()
RETURNS TABLE (node text, guard text, coverage text, drift boolean, ledger_ok boolean)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
	r record;
	parts text[];
BEGIN
	SELECT 'coordinator', s.guard, pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.->>) 'coverage', s.drift,
		(pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.->>) 'ledger_ok')::boolean
		INTO node, guard, coverage, drift, ledger_ok
		FROM schemamig.status() s;
	RETURN NEXT;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension WHERE extname OPERATOR(pg_catalog.=) 'citus') THEN
		RETURN;
	END IF;
	FOR r IN EXECUTE $q$SELECT nodename || ':' || nodeport AS n, success, result
		FROM pg_catalog.run_command_on_workers($w$SELECT pg_catalog.concat_ws('|', s.guard,
			coalesce(pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.->>) 'coverage', ''), coalesce(s.drift::text, ''),
			coalesce(pg_catalog.to_jsonb(s) OPERATOR(pg_catalog.->>) 'ledger_ok', ''))
			FROM schemamig.status() s$w$) ORDER BY nodename, nodeport$q$
	LOOP
		node := r.n;
		IF r.success THEN
			parts := pg_catalog.string_to_array(r.result, '|');
			guard := parts[1];
			coverage := NULLIF(parts[2], '');
			drift := NULLIF(parts[3], '')::boolean;
			ledger_ok := NULLIF(parts[4], '')::boolean;
		ELSE
			guard := 'error: ' OPERATOR(pg_catalog.||) r.result;
			coverage := NULL;
			drift := NULL;
			ledger_ok := NULL;
		END IF;
		RETURN NEXT;
	END LOOP;
END
$$;

/* ==== last: the fingerprint in this release's format (#15) ==== */

/*
 * A stored fingerprint of an older format is stored again in this one, with
 * a journal row, so the format change never shows as drift
 * (src/drift.c).  Kept at the end: it describes the schema with every
 * object of this release in place.
 */
CREATE FUNCTION schemamig.fingerprint_rebaseline() RETURNS boolean
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'schemamig_fingerprint_rebaseline';
SELECT schemamig.fingerprint_rebaseline();
DROP FUNCTION schemamig.fingerprint_rebaseline();
