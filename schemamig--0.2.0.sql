/* schemamig--0.2.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION schemamig" to load this file. \quit

/*
 * Tables.  Every table is an extension configuration table so pg_dump
 * carries its rows; none is writable by PUBLIC.  The C functions write them
 * with the rights of the table owner (see catalog.c), so a deploy role needs
 * EXECUTE on the functions and nothing on the tables.
 *
 * Keys come from explicit sequences rather than identity columns because an
 * identity sequence cannot be passed to pg_extension_config_dump, and a
 * restore must bring the sequences' positions along so new rows written
 * after the restore never collide with restored ones.
 */

CREATE SEQUENCE schemamig.revision_seq;
CREATE SEQUENCE schemamig.applied_seq;
CREATE SEQUENCE schemamig.journal_id_seq;
CREATE SEQUENCE schemamig.ddl_log_id_seq;

CREATE TABLE schemamig.revision (
	revision text PRIMARY KEY
		CHECK (revision OPERATOR(pg_catalog.~) '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$'
			   AND revision NOT IN ('head', 'heads', 'base', 'current')),
	parents text[] NOT NULL DEFAULT '{}',
	message text,
	upgrade_sql text NOT NULL,
	downgrade_sql text,
	checksum text NOT NULL,
	kind text NOT NULL DEFAULT 'sql' CHECK (kind IN ('sql', 'external')),
	upgrade_transactional boolean NOT NULL DEFAULT true,
	downgrade_transactional boolean NOT NULL DEFAULT true,
	upgrade_statements integer NOT NULL DEFAULT 0,
	downgrade_statements integer,
	seq bigint NOT NULL DEFAULT pg_catalog.nextval('schemamig.revision_seq') UNIQUE,
	registered_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	registered_by name NOT NULL DEFAULT CURRENT_USER
);
COMMENT ON TABLE schemamig.revision IS 'registered revisions: the migration graph';

CREATE TABLE schemamig.applied (
	revision text PRIMARY KEY REFERENCES schemamig.revision (revision),
	applied_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	applied_by name NOT NULL DEFAULT CURRENT_USER,
	checksum text NOT NULL,
	seq bigint NOT NULL DEFAULT pg_catalog.nextval('schemamig.applied_seq') UNIQUE
);
COMMENT ON TABLE schemamig.applied IS 'revisions currently applied (closed under ancestors)';

CREATE TABLE schemamig.journal (
	id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('schemamig.journal_id_seq'),
	revision text,
	action text NOT NULL CHECK (action IN ('upgrade', 'downgrade', 'stamp')),
	target text,
	at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	by name NOT NULL DEFAULT CURRENT_USER,
	duration interval,
	xid xid8
);
COMMENT ON TABLE schemamig.journal IS 'append-only record of upgrade, downgrade and stamp events';

CREATE TABLE schemamig.ddl_log (
	id bigint PRIMARY KEY DEFAULT pg_catalog.nextval('schemamig.ddl_log_id_seq'),
	revision text,
	direction text NOT NULL
		CHECK (direction IN ('upgrade', 'downgrade', 'client', 'unversioned')),
	statement_no integer,
	command_tag text NOT NULL,
	statement text,
	objects jsonb NOT NULL DEFAULT '[]',
	executed_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
	xid xid8,
	role name,
	session_role name,
	application_name text,
	client_addr inet,
	backend_pid integer
);
COMMENT ON TABLE schemamig.ddl_log IS 'append-only record of every executed DDL statement';
CREATE INDEX ddl_log_revision_idx ON schemamig.ddl_log (revision);

/*
 * One row of bookkeeping: the fingerprint stored after the last
 * upgrade/downgrade/stamp (drift = the schema no longer has it) and a
 * generation counter every mutating call bumps.  Bumping it is what turns a
 * concurrent migration under REPEATABLE READ or SERIALIZABLE into a clean
 * serialization failure instead of a stale view of the applied set.  The
 * row is created on first use, not here, so restoring a dump (which brings
 * the row along) never collides with a row the install script made.
 */
CREATE TABLE schemamig.state (
	singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	generation bigint NOT NULL DEFAULT 0,
	fingerprint text,
	objects jsonb,
	changed_at timestamptz
);

/*
 * Revisions applied by the step protocol (steps.c), one statement per
 * top-level transaction: one row per revision whose steps have begun and
 * not finished.  "running" is the statement begun and not known to have
 * finished; whether it still runs is told by the step lock, not by the row.
 */
CREATE TABLE schemamig.progress (
	revision text PRIMARY KEY REFERENCES schemamig.revision (revision),
	direction text NOT NULL CHECK (direction IN ('upgrade', 'downgrade')),
	statements integer NOT NULL,
	done integer NOT NULL DEFAULT 0 CHECK (done >= 0 AND done <= statements),
	running integer,
	running_pid integer,
	started_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE schemamig.progress IS 'revisions part-way through their steps';

SELECT pg_catalog.pg_extension_config_dump('schemamig.progress', '');
SELECT pg_catalog.pg_extension_config_dump('schemamig.revision', '');
SELECT pg_catalog.pg_extension_config_dump('schemamig.applied', '');
SELECT pg_catalog.pg_extension_config_dump('schemamig.journal', '');
SELECT pg_catalog.pg_extension_config_dump('schemamig.ddl_log', '');
SELECT pg_catalog.pg_extension_config_dump('schemamig.state', '');
SELECT pg_catalog.pg_extension_config_dump('schemamig.revision_seq', '');
SELECT pg_catalog.pg_extension_config_dump('schemamig.applied_seq', '');
SELECT pg_catalog.pg_extension_config_dump('schemamig.journal_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('schemamig.ddl_log_id_seq', '');

REVOKE ALL ON ALL TABLES IN SCHEMA schemamig FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA schemamig FROM PUBLIC;
GRANT USAGE ON SCHEMA schemamig TO PUBLIC;

/*
 * The journal and the DDL log are append-only for every role, superusers
 * included.  ENABLE ALWAYS keeps the refusal when session_replication_role
 * is "replica".  Dropping the trigger is DDL, which the guard blocks.
 */
CREATE FUNCTION schemamig.refuse_change()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_refuse_change';

CREATE TRIGGER ddl_log_append_only
	BEFORE UPDATE OR DELETE ON schemamig.ddl_log
	FOR EACH ROW EXECUTE FUNCTION schemamig.refuse_change();
CREATE TRIGGER ddl_log_no_truncate
	BEFORE TRUNCATE ON schemamig.ddl_log
	FOR EACH STATEMENT EXECUTE FUNCTION schemamig.refuse_change();
CREATE TRIGGER journal_append_only
	BEFORE UPDATE OR DELETE ON schemamig.journal
	FOR EACH ROW EXECUTE FUNCTION schemamig.refuse_change();
CREATE TRIGGER journal_no_truncate
	BEFORE TRUNCATE ON schemamig.journal
	FOR EACH STATEMENT EXECUTE FUNCTION schemamig.refuse_change();
ALTER TABLE schemamig.ddl_log ENABLE ALWAYS TRIGGER ddl_log_append_only;
ALTER TABLE schemamig.ddl_log ENABLE ALWAYS TRIGGER ddl_log_no_truncate;
ALTER TABLE schemamig.journal ENABLE ALWAYS TRIGGER journal_append_only;
ALTER TABLE schemamig.journal ENABLE ALWAYS TRIGGER journal_no_truncate;

/*
 * Revisions and the graph.
 */
CREATE FUNCTION schemamig.register(revision text, upgrade text,
								   downgrade text DEFAULT NULL,
								   parents text[] DEFAULT NULL,
								   message text DEFAULT NULL)
RETURNS text
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_register';

CREATE FUNCTION schemamig.unregister(revision text)
RETURNS void
LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'schemamig_unregister';

CREATE FUNCTION schemamig.upgrade(target text DEFAULT 'heads')
RETURNS TABLE (revision text, direction text, statements integer, duration interval)
LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'schemamig_upgrade';

CREATE FUNCTION schemamig.downgrade(target text DEFAULT '-1')
RETURNS TABLE (revision text, direction text, statements integer, duration interval)
LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'schemamig_downgrade';

CREATE FUNCTION schemamig.stamp(target text)
RETURNS void
LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'schemamig_stamp';

CREATE FUNCTION schemamig.current()
RETURNS SETOF text
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'schemamig_current';

CREATE FUNCTION schemamig.heads()
RETURNS SETOF text
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'schemamig_heads';

CREATE FUNCTION schemamig.history()
RETURNS TABLE (revision text, parents text[], message text, kind text,
			   transactional boolean, applied boolean, applied_at timestamptz,
			   is_head boolean, is_current boolean, registered_at timestamptz,
			   progress text)
LANGUAGE c STABLE
AS 'MODULE_PATHNAME', 'schemamig_history';

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
 * Client-driven migrations (begin_revision) and the event triggers.
 */
CREATE FUNCTION schemamig.begin_revision(revision text, message text DEFAULT NULL)
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_begin_revision';

CREATE FUNCTION schemamig.end_revision()
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_end_revision';

CREATE FUNCTION schemamig.guard_ddl_start()
RETURNS event_trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_guard_ddl_start';

CREATE FUNCTION schemamig.log_ddl_end()
RETURNS event_trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_log_ddl_end';

CREATE FUNCTION schemamig.log_sql_drop()
RETURNS event_trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_log_sql_drop';

CREATE FUNCTION schemamig.log_table_rewrite()
RETURNS event_trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_log_table_rewrite';

CREATE EVENT TRIGGER schemamig_guard ON ddl_command_start
	EXECUTE FUNCTION schemamig.guard_ddl_start();
CREATE EVENT TRIGGER schemamig_log_ddl ON ddl_command_end
	EXECUTE FUNCTION schemamig.log_ddl_end();
CREATE EVENT TRIGGER schemamig_log_drop ON sql_drop
	EXECUTE FUNCTION schemamig.log_sql_drop();
CREATE EVENT TRIGGER schemamig_log_rewrite ON table_rewrite
	EXECUTE FUNCTION schemamig.log_table_rewrite();
ALTER EVENT TRIGGER schemamig_guard ENABLE ALWAYS;
ALTER EVENT TRIGGER schemamig_log_ddl ENABLE ALWAYS;
ALTER EVENT TRIGGER schemamig_log_drop ENABLE ALWAYS;
ALTER EVENT TRIGGER schemamig_log_rewrite ENABLE ALWAYS;

/*
 * The migration safety review of any script; it reads only the catalogs
 * (what exists, function volatility), so it is for everyone.
 */
CREATE FUNCTION schemamig.lint(sql text)
RETURNS TABLE (rule text, severity text, statement_no integer,
			   statement text, message text, hint text)
LANGUAGE c STABLE STRICT
AS 'MODULE_PATHNAME', 'schemamig_lint';

/*
 * The schema fingerprint and drift: read-only, for everyone.  VOLATILE
 * because they read the catalogs with fresh snapshots.
 */
CREATE FUNCTION schemamig.fingerprint()
RETURNS text
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_fingerprint';

CREATE FUNCTION schemamig.fingerprint_objects()
RETURNS TABLE (object_type text, identity text, hash text)
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_fingerprint_objects_srf';

CREATE FUNCTION schemamig.drift()
RETURNS TABLE (object_type text, identity text, change text,
			   property text, before text, after text)
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_drift';

/*
 * The dry run and the downgrade check: they run migration SQL as the caller
 * in subtransactions that are always rolled back, so they need the same
 * grant as upgrade() (revoked from PUBLIC below).
 */
CREATE FUNCTION schemamig.plan(target text DEFAULT 'heads')
RETURNS TABLE (revision text, statement_no integer, statement text,
			   locks text[], strongest_lock text, rewrites text[],
			   duration interval)
LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'schemamig_plan';

CREATE FUNCTION schemamig.verify(revision text DEFAULT NULL)
RETURNS TABLE (revision text, upgrade_ok boolean, downgrade_ok boolean,
			   restores_schema boolean, reapply_ok boolean, detail text)
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_verify';

/*
 * Non-transactional revisions (the step protocol) and long histories.
 */
CREATE FUNCTION schemamig.steps(target text DEFAULT 'heads')
RETURNS SETOF text
LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'schemamig_steps';

CREATE FUNCTION schemamig.downgrade_steps(target text DEFAULT '-1')
RETURNS SETOF text
LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'schemamig_downgrade_steps';

CREATE FUNCTION schemamig.begin_step(revision text, statement_no integer,
									 direction text DEFAULT 'upgrade')
RETURNS void
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_begin_step';

CREATE FUNCTION schemamig.finish_step(revision text)
RETURNS void
LANGUAGE c STRICT
AS 'MODULE_PATHNAME', 'schemamig_finish_step';

CREATE PROCEDURE schemamig.upgrade_each(target text DEFAULT 'heads')
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_upgrade_each';

/*
 * Mutating functions are for deploy roles only: see README, "Granting a
 * deploy role".  Read functions are for everyone; they show revision ids and
 * messages, never the scripts or the DDL log.
 */
REVOKE ALL ON FUNCTION schemamig.register(text, text, text, text[], text) FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.unregister(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.upgrade(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.downgrade(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.stamp(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.begin_revision(text, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.end_revision() FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.refuse_change() FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.plan(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.verify(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.steps(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.downgrade_steps(text) FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.begin_step(text, integer, text) FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.finish_step(text) FROM PUBLIC;
REVOKE ALL ON PROCEDURE schemamig.upgrade_each(text) FROM PUBLIC;

/*
 * Flask-Migrate / Alembic compatibility (src/alembic.c), active when
 * schemamig.alembic_version_table is set.  schemamig attaches
 * alembic_version_written() to Alembic's version table (EXECUTE stays with
 * PUBLIC so the role that creates that table can attach it; the function
 * does nothing on any other table).  The first version write of a
 * transaction inserts a row into alembic_settlement, whose deferred
 * constraint trigger settles the transaction's writes at commit; the row is
 * deleted again, so the table is always empty.
 */
CREATE TABLE schemamig.alembic_settlement (
	xid xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id()
);
REVOKE ALL ON schemamig.alembic_settlement FROM PUBLIC;

CREATE FUNCTION schemamig.alembic_settle()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_alembic_settle';

CREATE CONSTRAINT TRIGGER alembic_settle
	AFTER INSERT ON schemamig.alembic_settlement
	DEFERRABLE INITIALLY DEFERRED
	FOR EACH ROW EXECUTE FUNCTION schemamig.alembic_settle();
ALTER TABLE schemamig.alembic_settlement ENABLE ALWAYS TRIGGER alembic_settle;

CREATE FUNCTION schemamig.alembic_version_written()
RETURNS trigger
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_alembic_version_written';

CREATE FUNCTION schemamig.alembic_attach()
RETURNS SETOF text
LANGUAGE c
AS 'MODULE_PATHNAME', 'schemamig_alembic_attach';

REVOKE ALL ON FUNCTION schemamig.alembic_settle() FROM PUBLIC;
REVOKE ALL ON FUNCTION schemamig.alembic_attach() FROM PUBLIC;

/*
 * The role that ran CREATE EXTENSION administers schemamig.  After a
 * trusted install by a database owner who is not superuser, every object
 * above belongs to the bootstrap superuser: without these grants that owner
 * would get the guard but no way left to change its own schema.  With GRANT
 * OPTION it can grant them on to a deploy role.  Nothing here lets it do
 * more than it could before: migration SQL runs with its own rights.
 */
GRANT EXECUTE ON FUNCTION schemamig.register(text, text, text, text[], text),
	schemamig.unregister(text), schemamig.upgrade(text), schemamig.downgrade(text),
	schemamig.stamp(text), schemamig.begin_revision(text, text),
	schemamig.end_revision(), schemamig.plan(text), schemamig.verify(text),
	schemamig.steps(text), schemamig.downgrade_steps(text),
	schemamig.begin_step(text, integer, text), schemamig.finish_step(text),
	schemamig.alembic_attach()
	TO @extowner@ WITH GRANT OPTION;
GRANT EXECUTE ON PROCEDURE schemamig.upgrade_each(text) TO @extowner@ WITH GRANT OPTION;
GRANT SELECT ON ALL TABLES IN SCHEMA schemamig TO @extowner@ WITH GRANT OPTION;

/*
 * CREATE EXTENSION made the schema before switching to the superuser that
 * runs this script, so after a trusted install the database owner owns it,
 * and a schema owner may create objects in it, rename it and put a schema
 * of its own making in its place.  The schema goes to the owner of
 * everything else in it.
 */
ALTER SCHEMA schemamig OWNER TO CURRENT_USER;

/*
 * Objects added in 0.2.0.  Each section below also appears, with the same
 * objects, in schemamig--0.1.0--0.2.0.sql: a fresh install and an updated
 * 0.1.0 database must end up identical (t/004_extension_upgrade.pl).
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

/*
 * A restore by the owner: pg_dump's CREATE EXTENSION comes first, in a
 * session with schemamig.restoring on.  (A superuser needs no window.)
 */
DO $$
BEGIN
	IF pg_catalog.current_setting('schemamig.restoring', true) OPERATOR(pg_catalog.=) ANY (ARRAY['on', 'true', '1', 'yes'])
	   AND NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE oid OPERATOR(pg_catalog.=) '@extowner@'::pg_catalog.regrole) THEN
		INSERT INTO schemamig.restore_window (role) VALUES ('@extowner@'::pg_catalog.regrole);
	END IF;
END
$$;

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

