/*-------------------------------------------------------------------------
 *
 * catalog.c
 *		Reading and writing schemamig's own tables.
 *
 * Migration SQL runs with the caller's rights; schemamig's bookkeeping
 * (applied set, journal, DDL log) must not depend on them, since a deploy
 * role is granted EXECUTE on the functions and nothing on the tables.
 * Bookkeeping therefore runs as the owner of schemamig's tables, the way a
 * SECURITY DEFINER function would: SetUserIdAndSecContext() with
 * SECURITY_RESTRICTED_OPERATION, and search_path pinned to
 * "pg_catalog, pg_temp" in a GUC nest level so an operator or function
 * planted in another schema can never be resolved by our queries.  An
 * error inside restores both: transaction and subtransaction abort reset
 * the user id, and the GUC nest level is unwound with them.
 *
 * The statements every begin_revision() and register() runs (a client
 * tool opens a revision in every transaction) use plans prepared once per
 * backend and kept (schemamig_owner_execute_kept): parsing and planning
 * them each time was half of begin_revision()'s cost.  The plans are
 * always run under the same pinned search_path, and the plan cache
 * re-plans them when schemamig's tables change.
 *
 * Concurrent migrations are serialized by a transaction-level advisory lock
 * (SCHEMAMIG_LOCK_CLASS, SCHEMAMIG_LOCK_HISTORY) taken before the graph is
 * read; every mutating call then bumps schemamig.state.generation, so under
 * REPEATABLE READ or SERIALIZABLE a caller that lost the race gets
 * PostgreSQL's own serialization failure instead of acting on a stale
 * applied set.
 *
 * The library and the objects can be of different versions: a package
 * update replaces schemamig.so at once, the objects of each database only
 * change at its ALTER EXTENSION schemamig UPDATE.  Every access to the
 * tables (owner_enter) and the DDL log's direct insert first check that
 * the objects are the library's version, and refuse with a hint to run
 * the update otherwise: the 0.2 library never reads or writes a 0.1.0
 * table as if it had 0.2's shape.  The guard keeps refusing DDL meanwhile
 * (it reads no table), and lets exactly that ALTER EXTENSION through.
 *
 * IDENTIFICATION
 *		src/catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_event_trigger.h"
#include "catalog/pg_extension.h"
#include "commands/extension.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "schemamig.h"

static Oid	tables_owner(void);

Oid
schemamig_schema_oid(void)
{
	return get_namespace_oid("schemamig", false);
}

/* The owner of schemamig.revision owns all of schemamig's tables */
static Oid
tables_owner(void)
{
	Oid			relid = get_relname_relid("revision", schemamig_schema_oid());
	HeapTuple	tuple;
	Oid			owner;

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table schemamig.revision does not exist"),
				 errhint("Reinstall the extension with CREATE EXTENSION schemamig.")));
	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tuple))
		elog(ERROR, "cache lookup failed for relation %u", relid);
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

void
schemamig_owner_enter(SchemamigOwnerContext *ctx)
{
	schemamig_owner_enter_ext(ctx, true);
}

/*
 * The version of schemamig's objects in this database (pg_extension's
 * extversion), or NULL when the extension is not installed
 */
static char *
objects_version(void)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	char	   *version = NULL;

	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("schemamig"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		datum = heap_getattr(tuple, Anum_pg_extension_extversion,
										 RelationGetDescr(rel), &isnull);

		if (!isnull)
			version = TextDatumGetCString(datum);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return version;
}

/*
 * Are the objects of another version than this library (and the update
 * not running right now)?
 */
bool
schemamig_objects_outdated(void)
{
	char	   *version;

	if (creating_extension)
		return false;
	version = objects_version();
	return version != NULL && strcmp(version, SCHEMAMIG_VERSION) != 0;
}

/* Refuse to touch the tables of objects of another version */
void
schemamig_require_current_objects(void)
{
	char	   *version;

	if (creating_extension)
		return;
	version = objects_version();
	if (version != NULL && strcmp(version, SCHEMAMIG_VERSION) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("schemamig's objects in this database are version %s, its library is version %s",
						version, SCHEMAMIG_VERSION),
				 errdetail("The library was updated; this database's schemamig tables and functions were not."),
				 errhint("Run ALTER EXTENSION schemamig UPDATE in this database.")));
}

/*
 * restricted = false leaves out SECURITY_RESTRICTED_OPERATION, which
 * PostgreSQL requires for queuing a deferred trigger.  Only for fixed
 * statements on schemamig's own tables, whose defaults and triggers are
 * schemamig's: no code of anybody else can run under the owner's rights.
 */
void
schemamig_owner_enter_ext(SchemamigOwnerContext *ctx, bool restricted)
{
	Oid			owner;

	schemamig_require_current_objects();
	owner = tables_owner();
	GetUserIdAndSecContext(&ctx->save_userid, &ctx->save_sec_context);
	SetUserIdAndSecContext(owner,
						   ctx->save_sec_context |
						   SECURITY_LOCAL_USERID_CHANGE |
						   (restricted ? SECURITY_RESTRICTED_OPERATION : 0));
	ctx->save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

void
schemamig_owner_leave(SchemamigOwnerContext *ctx)
{
	AtEOXact_GUC(true, ctx->save_nestlevel);
	SetUserIdAndSecContext(ctx->save_userid, ctx->save_sec_context);
}

/*
 * Run one of schemamig's own queries as the tables' owner; the caller is
 * connected to SPI and checks the result code.
 */
int
schemamig_owner_execute(const char *sql, int nargs, Oid *types, Datum *values,
						const char *nulls, bool read_only, long count)
{
	SchemamigOwnerContext octx;
	int			ret;

	schemamig_owner_enter(&octx);
	ret = nargs > 0 ?
		SPI_execute_with_args(sql, nargs, types, values, nulls, read_only, count) :
		SPI_execute(sql, read_only, count);
	schemamig_owner_leave(&octx);
	return ret;
}

/*
 * The same with a plan prepared on first use and kept in *plan; sql must
 * be the same every time for the same plan pointer.
 */
int
schemamig_owner_execute_kept(SPIPlanPtr *plan, const char *sql, int nargs,
							 Oid *types, Datum *values, const char *nulls,
							 bool read_only, long count)
{
	SchemamigOwnerContext octx;
	int			ret;

	schemamig_owner_enter(&octx);
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL)
			elog(ERROR, "could not prepare \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(p) != 0)
			elog(ERROR, "could not keep the plan of \"%s\"", sql);
		*plan = p;
	}
	ret = SPI_execute_plan(*plan, values, nulls, read_only, count);
	schemamig_owner_leave(&octx);
	return ret;
}

/*
 * Mutating functions refuse to run on a standby or in a read-only
 * transaction, before they read or lock anything.  On a standby the error
 * says where to go instead.
 */
void
schemamig_check_writable(const char *what)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot execute %s during recovery", what),
				 errdetail("This server is a standby (or still recovering); the schema history changes only on the primary."),
				 errhint("Run %s on the primary server. status(), history(), current(), heads() and the DDL log can be read here.", what)));
	PreventCommandIfReadOnly(what);
	schemamig_restore_check_closed();
}

void
schemamig_lock_history(void)
{
	DirectFunctionCall2(pg_advisory_xact_lock_int4,
						Int32GetDatum(SCHEMAMIG_LOCK_CLASS),
						Int32GetDatum(SCHEMAMIG_LOCK_HISTORY));
}

void
schemamig_bump_generation(void)
{
	static SPIPlanPtr plan = NULL;
	int			ret;

	ret = schemamig_owner_execute_kept(&plan,
									   "INSERT INTO schemamig.state AS s (generation) VALUES (1) "
									   "ON CONFLICT (singleton) DO UPDATE "
									   "SET generation = s.generation OPERATOR(pg_catalog.+) 1",
									   0, NULL, NULL, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not update schemamig.state: %s", SPI_result_code_string(ret));
}

void
schemamig_journal_insert(const char *revision, const char *action,
						 const char *target, TimestampTz started)
{
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, NAMEOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	NameData	by;
	static SPIPlanPtr plan = NULL;
	int			ret;

	namestrcpy(&by, GetUserNameFromId(GetUserId(), false));
	values[0] = revision ? CStringGetTextDatum(revision) : (Datum) 0;
	if (!revision)
		nulls[0] = 'n';
	values[1] = CStringGetTextDatum(action);
	values[2] = target ? CStringGetTextDatum(target) : (Datum) 0;
	if (!target)
		nulls[2] = 'n';
	values[3] = TimestampTzGetDatum(started);
	values[4] = NameGetDatum(&by);

	ret = schemamig_owner_execute_kept(&plan,
									   "INSERT INTO schemamig.journal "
									   "(revision, action, target, at, by, duration, xid) "
									   "VALUES ($1, $2, $3, $4, $5, "
									   "pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) $4, "
									   "pg_catalog.pg_current_xact_id())",
									   5, types, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not insert into schemamig.journal: %s", SPI_result_code_string(ret));
}

void
schemamig_mark_applied(const char *revision, const char *checksum)
{
	Oid			types[3] = {TEXTOID, NAMEOID, TEXTOID};
	Datum		values[3];
	NameData	by;
	static SPIPlanPtr plan = NULL;
	int			ret;

	namestrcpy(&by, GetUserNameFromId(GetUserId(), false));
	values[0] = CStringGetTextDatum(revision);
	values[1] = NameGetDatum(&by);
	values[2] = CStringGetTextDatum(checksum);

	ret = schemamig_owner_execute_kept(&plan,
									   "INSERT INTO schemamig.applied "
									   "(revision, applied_at, applied_by, checksum) "
									   "VALUES ($1, pg_catalog.now(), $2, $3)",
									   3, types, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not insert into schemamig.applied: %s", SPI_result_code_string(ret));
}

void
schemamig_mark_unapplied(const char *revision)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int			ret;

	values[0] = CStringGetTextDatum(revision);
	ret = schemamig_owner_execute("DELETE FROM schemamig.applied "
								  "WHERE revision OPERATOR(pg_catalog.=) $1",
								  1, types, values, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "could not delete from schemamig.applied: %s", SPI_result_code_string(ret));
}

/*
 * Are the four DDL event triggers there (the login trigger of 17+ is
 * status().coverage's business), and do they fire always (also under
 * session_replication_role = replica)?  Reads pg_event_trigger, which
 * everybody may read.
 */
bool
schemamig_event_triggers_state(bool *enabled)
{
	int			ret;
	bool		isnull;
	int64		installed;
	int64		always;

	ret = SPI_execute("SELECT pg_catalog.count(*), "
					  "pg_catalog.count(*) FILTER (WHERE e.evtenabled OPERATOR(pg_catalog.=) 'A') "
					  "FROM pg_catalog.pg_event_trigger e "
					  "JOIN pg_catalog.pg_proc p ON p.oid OPERATOR(pg_catalog.=) e.evtfoid "
					  "WHERE p.pronamespace OPERATOR(pg_catalog.=) "
					  "(SELECT oid FROM pg_catalog.pg_namespace WHERE nspname OPERATOR(pg_catalog.=) 'schemamig') "
					  "AND e.evtname OPERATOR(pg_catalog.~) '^schemamig_' "
					  "AND e.evtevent OPERATOR(pg_catalog.<>) 'login'",
					  true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read pg_event_trigger: %s", SPI_result_code_string(ret));
	installed = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	always = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	*enabled = (installed == 4 && always == 4);
	return installed == 4;
}

/* text[] of a list of C strings, in CurrentMemoryContext */
Datum
schemamig_text_array(List *strings)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(list_length(strings), 1));
	int			n = 0;
	ListCell   *lc;

	foreach(lc, strings)
		elems[n++] = CStringGetTextDatum((char *) lfirst(lc));
	return PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
}

/* A revision's upgrade or downgrade script; "" when it has none */
char *
schemamig_fetch_script(const char *revision, SchemamigDirection direction)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int			ret;
	char	   *script;

	/*
	 * Not read-only: a read-only SPI query would see the snapshot of the
	 * caller's statement, taken before schemamig_lock_history() waited for a
	 * concurrent migration, and miss a revision the graph (read with a fresh
	 * snapshot) already has, or return the old text of a replaced one.
	 */
	values[0] = CStringGetTextDatum(revision);
	ret = schemamig_owner_execute(direction == DIRECTION_UPGRADE ?
								  "SELECT upgrade_sql FROM schemamig.revision "
								  "WHERE revision OPERATOR(pg_catalog.=) $1" :
								  "SELECT downgrade_sql FROM schemamig.revision "
								  "WHERE revision OPERATOR(pg_catalog.=) $1",
								  1, types, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the scripts of revision \"%s\"", revision);
	script = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	return script ? script : pstrdup("");
}

/* ---- the extension owner's restore window (design: owner_restore.c) ---- */

/*
 * The restore window's role, and whether its grants were made; InvalidOid
 * when there is no window.  Read as the tables' owner.
 */
Oid
schemamig_restore_window(bool *granted)
{
	/*
	 * Only CREATE EXTENSION opens a window, and a new install makes a new
	 * schemamig.restore_window: once a backend has seen that table empty it
	 * stays so until end of time for that install, except in the session
	 * whose install just opened it (which finds it non-empty before it ever
	 * caches).
	 */
	static Oid	empty_window_relid = InvalidOid;
	Oid			relid;
	Oid			role = InvalidOid;
	int			ret;

	*granted = false;
	relid = get_relname_relid("restore_window", schemamig_schema_oid());
	if (!OidIsValid(relid))
		return InvalidOid;		/* objects older than 0.2.0 */
	if (relid == empty_window_relid)
		return InvalidOid;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = schemamig_owner_execute("SELECT role, granted FROM schemamig.restore_window",
								  0, NULL, NULL, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.restore_window: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		bool		isnull;

		role = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		*granted = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_finish();
	if (!OidIsValid(role))
		empty_window_relid = relid;
	return role;
}

/*
 * Run the window's bookkeeping SQL as the tables' owner.  Its GRANT and
 * REVOKE are DDL on schemamig's own objects: the grants are made while the
 * session restores (the guard and seal stand aside for a superuser then),
 * the revoke by end_restore() with the guard's plumbing flag set.
 */
static void
run_as_owner(const char *sql)
{
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = schemamig_owner_execute(sql, 0, NULL, NULL, NULL, false, 0);
	if (ret < 0)
		elog(ERROR, "could not run \"%s\": %s", sql, SPI_result_code_string(ret));
	SPI_finish();
}

void
schemamig_restore_window_grants(Oid role, bool grant)
{
	const char *name = quote_identifier(GetUserNameFromId(role, false));

	run_as_owner(psprintf(grant ?
						  "GRANT INSERT ON ALL TABLES IN SCHEMA schemamig TO %s; "
						  "GRANT UPDATE ON ALL SEQUENCES IN SCHEMA schemamig TO %s; "
						  "UPDATE schemamig.restore_window SET granted = true" :
						  "REVOKE INSERT ON ALL TABLES IN SCHEMA schemamig FROM %s; "
						  "REVOKE UPDATE ON ALL SEQUENCES IN SCHEMA schemamig FROM %s; "
						  "DELETE FROM schemamig.restore_window",
						  name, name));
}

/*
 * Is this session restoring a dump, as far as schemamig is concerned?
 * Only while schemamig.restoring is on, and only for a superuser or the
 * role of this database's restore window.  The window's grants are made
 * here on first use.
 */
bool
schemamig_restore_active(void)
{
	bool		granted;
	Oid			role;

	if (!schemamig_restoring)
		return false;
	if (superuser())
		return true;
	role = schemamig_restore_window(&granted);
	if (!OidIsValid(role) || !has_privs_of_role(GetUserId(), role))
		return false;
	if (!granted)
		schemamig_restore_window_grants(role, true);
	return true;
}

/*
 * Mutating functions refuse while a restore window is open: new history
 * written into a half-restored one would interleave with the dump's rows.
 */
void
schemamig_restore_check_closed(void)
{
	bool		granted;

	if (OidIsValid(schemamig_restore_window(&granted)))
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
				 errmsg("a restore of this database is not finished"),
				 errdetail("The extension was installed by a restore (schemamig.restoring on), which opened a restore window for its owner."),
				 errhint("When the restore is complete, run SELECT schemamig.end_restore(); as that role.")));
}
