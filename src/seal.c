/*-------------------------------------------------------------------------
 *
 * seal.c
 *		The routes around the guard that no event trigger sees, and what
 *		the extension owner may do to schemamig itself.
 *
 * Event triggers fire for most DDL, not for all of it.  Three utility
 * statements change the schema without firing one: EXPLAIN ANALYZE of a
 * CREATE TABLE AS / SELECT INTO / CREATE MATERIALIZED VIEW (it creates the
 * relation), REASSIGN OWNED (the ALTER ... OWNER TO the guard blocks) and
 * CLUSTER ... USING an index that is not yet the clustered one (the ALTER
 * TABLE ... CLUSTER ON the guard blocks).  All of them pass through
 * ProcessUtility, so schemamig_seal_utility_start() judges them there as
 * the guard judges DDL (SM001 outside a revision under enforce), and
 * schemamig_seal_utility_end() writes their log row; hooks.c calls both.  A hook only helps
 * once the library is loaded: "full coverage" is a session whose library
 * was loaded before its first statement (shared_preload_libraries,
 * session_preload_libraries, or the PostgreSQL 17+ login event trigger).
 * Without it, these three stay open as a session's first statement; every
 * later statement passes through the hook, because the first DDL statement
 * of a session (or any call of a schemamig function) loads the library.
 *
 * The extension owner (SPEC, "The extension owner") may grant and revoke,
 * update the extension, and uninstall it deliberately: DROP EXTENSION
 * schemamig only in a transaction that called prepare_uninstall() first.
 * Every other change to schemamig's own objects is refused with 42501, for
 * everyone but a superuser with the guard off (or restoring), inside a
 * revision too.  The statements that name schemamig (DROP EXTENSION, ALTER
 * EXTENSION ADD/DROP, DROP OWNED, REASSIGN OWNED, COMMENT ON EXTENSION) are
 * judged from their parse tree by schemamig_seal_check_ddl(), which the
 * guard's event trigger calls, so they are refused with event-trigger
 * coverage too.  The object_access_hook (hooks.c) is the backstop for
 * what no statement names (a DROP SCHEMA ... CASCADE, an ALTER on a
 * member): schemamig_seal_object_access() refuses creating, altering or
 * dropping an object of schemamig's schema, the schema, the extension or
 * its event triggers.  hooks.c drops is_internal events first, which
 * PostgreSQL posts for its own bookkeeping (CLUSTER posts an internal alter
 * on every index of the table).  The hook is installed when the library
 * loads, and the guard's event trigger loads it before any DDL runs, so
 * the backstop holds with event-trigger coverage as well.  COMMENT and
 * SECURITY LABEL reach no object access hook; the DDL log checks the
 * objects it records for them (schemamig_seal_check_logged()).
 *
 * A new object's catalog row is not yet visible to the syscache when the
 * post-create hook runs (it was inserted by the current command), so the
 * object's schema is read with SnapshotSelf, as sepgsql does.
 *
 * IDENTIFICATION
 *		src/seal.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/objectaccess.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_event_trigger.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_policy.h"
#include "catalog/pg_rewrite.h"
#include "catalog/pg_shdepend.h"
#include "catalog/pg_trigger.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_prepare_uninstall);
PG_FUNCTION_INFO_V1(schemamig_coverage_probe);

/* The library was loaded before the session's first statement */
static bool full_coverage = false;

/* prepare_uninstall() was called in this (sub)transaction */
static SubTransactionId uninstall_prepared_in = InvalidSubTransactionId;

/* DROP EXTENSION schemamig after prepare_uninstall() is running */
static bool uninstalling = false;

static bool owner_rules_waived(void);
static bool is_schemamig_object(Oid classId, Oid objectId);
static Oid	fresh_attribute_oid(Oid catalogId, Oid indexId, AttrNumber oidAttnum,
								Oid objectId, AttrNumber attnum);
static bool names_schemamig(List *names);
static List *owned_objects(List *roles);
static void refuse_owned(List *roles, const char *command);
static void refuse(const char *message, const char *detail);

void
schemamig_seal_loaded(void)
{
	/*
	 * Nothing ran in this backend yet: the postmaster preloading
	 * (shared_preload_libraries), session_preload_libraries, or a login event
	 * trigger before the first query.  A library loaded by a statement has
	 * that statement's text in debug_query_string.
	 */
	full_coverage = process_shared_preload_libraries_in_progress ||
		debug_query_string == NULL;
}

/* status().coverage */
const char *
schemamig_seal_coverage(void)
{
	return full_coverage ? "full" : "event triggers";
}

/* Transaction end: nothing of the uninstall outlives its transaction */
void
schemamig_seal_xact_end(void)
{
	uninstall_prepared_in = InvalidSubTransactionId;
	uninstalling = false;
}

void
schemamig_seal_subxact_end(bool committed, SubTransactionId mySubid,
						   SubTransactionId parentSubid)
{
	if (!committed)
	{
		uninstalling = false;
		if (uninstall_prepared_in == mySubid)
			uninstall_prepared_in = InvalidSubTransactionId;
	}
	else if (uninstall_prepared_in == mySubid)
		uninstall_prepared_in = parentSubid;
}

/*
 * Superusers with the guard off, or restoring a dump, may change anything:
 * the guard is theirs to switch off.  So may the owner restoring its own
 * dump into a new database, inside its restore window (owner_restore.c):
 * the dump brings grants and comments on schemamig's objects.
 */
static bool
owner_rules_waived(void)
{
	return (schemamig_guard_mode == GUARD_OFF && superuser()) ||
		schemamig_restore_active();
}

/*
 * The statement-level rules for schemamig's own objects, for the DDL the
 * guard's event trigger sees; called by the guard before it judges the
 * statement.  Returns true for DROP EXTENSION schemamig after
 * prepare_uninstall(): the deliberate uninstall needs no revision.
 */
bool
schemamig_seal_check_ddl(Node *parsetree)
{
	if (owner_rules_waived() || creating_extension)
		return false;
	switch (nodeTag(parsetree))
	{
		case T_DropStmt:
			{
				DropStmt   *stmt = (DropStmt *) parsetree;

				if (stmt->removeType != OBJECT_EXTENSION || !names_schemamig(stmt->objects))
					return false;
				if (uninstall_prepared_in == InvalidSubTransactionId)
					ereport(ERROR,
							(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
							 errmsg("DROP EXTENSION schemamig needs schemamig.prepare_uninstall() first"),
							 errdetail("Dropping the extension erases the revisions, the journal and the DDL log."),
							 errhint("Run BEGIN; SELECT schemamig.prepare_uninstall('<reason>'); DROP EXTENSION schemamig; COMMIT;.")));
				uninstalling = true;
				return true;
			}
		case T_AlterExtensionContentsStmt:
			{
				AlterExtensionContentsStmt *stmt = (AlterExtensionContentsStmt *) parsetree;

				if (strcmp(stmt->extname, "schemamig") == 0)
					refuse(psprintf("ALTER EXTENSION schemamig %s is not allowed: it would change schemamig's own objects",
									stmt->action > 0 ? "ADD" : "DROP"),
						   "An object added to schemamig is left out of the fingerprint, drift and pg_dump; its own objects stay its own.");
				if (stmt->action > 0)
					refuse(psprintf("ALTER EXTENSION %s ADD is not allowed: it would hide an object from the schema history",
									stmt->extname),
						   "An extension member is left out of the fingerprint, drift and pg_dump: a restore would lose it and its data.");
				return false;
			}
		case T_DropOwnedStmt:
			refuse_owned(((DropOwnedStmt *) parsetree)->roles, "DROP OWNED");
			return false;
		case T_CommentStmt:
			{
				CommentStmt *stmt = (CommentStmt *) parsetree;

				if (stmt->objtype == OBJECT_EXTENSION &&
					strcmp(strVal(stmt->object), "schemamig") == 0)
					refuse("COMMENT ON EXTENSION schemamig is not allowed: it would change schemamig's own objects", NULL);
				return false;
			}
		default:
			return false;
	}
}

static bool
names_schemamig(List *names)
{
	ListCell   *lc;

	foreach(lc, names)
		if (strcmp(strVal(lfirst(lc)), "schemamig") == 0)
		return true;
	return false;
}

static void
refuse(const char *message, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s", message),
			 detail ? errdetail("%s", detail) : 0,
			 errhint("Only a superuser with schemamig.guard = off may do this.")));
}

/* DROP OWNED and REASSIGN OWNED must leave schemamig where it is */
static void
refuse_owned(List *roles, const char *command)
{
	ListCell   *lc;

	foreach(lc, owned_objects(roles))
	{
		ObjectAddress *address = lfirst(lc);

		if (is_schemamig_object(address->classId, address->objectId))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("%s is not allowed: it would %s %s", command,
							strcmp(command, "DROP OWNED") == 0 ? "drop" : "move",
							getObjectDescription(address, false)),
					 errdetail("The roles own schemamig's objects; dropping or moving them erases or hands over the record."),
					 errhint("Only a superuser with schemamig.guard = off may do this; to uninstall, use schemamig.prepare_uninstall() and DROP EXTENSION.")));
	}
}

/* Objects of this database (and shared ones) owned by the roles */
static List *
owned_objects(List *roles)
{
	List	   *result = NIL;
	ListCell   *lc;
	Relation	shdep = table_open(SharedDependRelationId, AccessShareLock);

	foreach(lc, roles)
	{
		Oid			roleid = get_rolespec_oid(lfirst(lc), true);
		ScanKeyData key[2];
		SysScanDesc scan;
		HeapTuple	tuple;

		if (!OidIsValid(roleid))
			continue;
		ScanKeyInit(&key[0], Anum_pg_shdepend_refclassid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(AuthIdRelationId));
		ScanKeyInit(&key[1], Anum_pg_shdepend_refobjid, BTEqualStrategyNumber,
					F_OIDEQ, ObjectIdGetDatum(roleid));
		scan = systable_beginscan(shdep, SharedDependReferenceIndexId, true, NULL, 2, key);
		while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		{
			Form_pg_shdepend dep = (Form_pg_shdepend) GETSTRUCT(tuple);
			ObjectAddress *address;

			if (dep->deptype != SHARED_DEPENDENCY_OWNER ||
				(dep->dbid != MyDatabaseId && dep->dbid != InvalidOid))
				continue;
			address = palloc(sizeof(ObjectAddress));
			address->classId = dep->classid;
			address->objectId = dep->objid;
			address->objectSubId = 0;
			result = lappend(result, address);
		}
		systable_endscan(scan);
	}
	table_close(shdep, AccessShareLock);
	return result;
}

/* A relation as a DDL-log object with the given action */
static SchemamigLogObject *
relation_object(Oid relid, const char *action)
{
	ObjectAddress rel;

	ObjectAddressSet(rel, RelationRelationId, relid);
	return schemamig_ddl_log_object(&rel, action);
}

/*
 * Utility statements no event trigger sees, judged in the ProcessUtility
 * hook before they run.  Returns true when schemamig_seal_utility_end()
 * must log the statement after it ran.
 */
bool
schemamig_seal_utility_start(PlannedStmt *pstmt, SchemamigSealNote * note)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Node	   *judged = parsetree;

	memset(note, 0, sizeof(*note));
	switch (nodeTag(parsetree))
	{
		case T_ExplainStmt:
			{
				ExplainStmt *stmt = (ExplainStmt *) parsetree;
				Query	   *query = (Query *) stmt->query;
				bool		analyze = false;
				ListCell   *lc;

				if (!IsA(query, Query) || query->commandType != CMD_UTILITY ||
					!IsA(query->utilityStmt, CreateTableAsStmt))
					return false;
				foreach(lc, stmt->options)
				{
					DefElem    *opt = lfirst_node(DefElem, lc);

					if (strcmp(opt->defname, "analyze") == 0)
						analyze = defGetBoolean(opt);
				}
				if (!analyze)
					return false;
				judged = query->utilityStmt;
				note->created = ((CreateTableAsStmt *) judged)->into->rel;
				note->tag = CreateCommandName(judged);
				break;
			}
		case T_ClusterStmt:
			{
				ClusterStmt *stmt = (ClusterStmt *) parsetree;
				Oid			relid;
				Oid			indexid;

				if (stmt->relation == NULL || stmt->indexname == NULL)
					return false;
				relid = RangeVarGetRelid(stmt->relation, NoLock, true);
				if (!OidIsValid(relid) || get_rel_relkind(relid) != RELKIND_RELATION)
					return false;
				indexid = get_relname_relid(stmt->indexname, get_rel_namespace(relid));
				/* CLUSTER on the index already marked is maintenance */
				if (OidIsValid(indexid) && get_index_isclustered(indexid))
					return false;
				note->objects = list_make1(relation_object(relid, "alter"));
				note->tag = "CLUSTER";
				break;
			}
		case T_ReassignOwnedStmt:
			{
				ReassignOwnedStmt *stmt = (ReassignOwnedStmt *) parsetree;
				ListCell   *lc;

				if (!owner_rules_waived())
					refuse_owned(stmt->roles, "REASSIGN OWNED");
				note->objects = NIL;
				foreach(lc, owned_objects(stmt->roles))
					note->objects = lappend(note->objects,
											schemamig_ddl_log_object(lfirst(lc), "alter"));
				note->tag = "REASSIGN OWNED";
				break;
			}
		default:
			return false;
	}
	note->verdict = schemamig_guard_classify(judged, note->tag);
	if (note->verdict == VERDICT_UNVERSIONED)
		schemamig_guard_refuse(parsetree, note->tag);
	return note->verdict != VERDICT_SKIP;
}

void
schemamig_seal_utility_end(PlannedStmt *pstmt, SchemamigSealNote * note)
{
	char	   *statement = schemamig_client_statement_text(pstmt->utilityStmt);

	if (note->created)
	{
		Oid			relid = RangeVarGetRelid(note->created, NoLock, true);

		note->objects = NIL;
		if (OidIsValid(relid))
			note->objects = list_make1(relation_object(relid, "create"));
	}
	schemamig_ddl_log_statement(note->verdict, note->tag, statement, note->objects, false);
}

/*
 * The backstop, called by hooks.c for what a user did (internal events are
 * filtered there): creating, altering or dropping one of schemamig's
 * objects by any statement, unless the extension's own script does it
 * (CREATE or ALTER EXTENSION ... UPDATE), it is the deliberate uninstall,
 * or the statement is a GRANT/REVOKE or ALTER EXTENSION UPDATE.
 */
void
schemamig_seal_object_access(ObjectAccessType access, Oid classId, Oid objectId,
							 int subId)
{
	Node	   *statement;
	SchemamigDdlStatement *ddl;
	ObjectAddress object;
	char	   *description;

	switch (access)
	{
		case OAT_POST_CREATE:
			/* creating the extension (and its schema) is no change to it */
			if (classId == ExtensionRelationId)
				return;
			break;
		case OAT_POST_ALTER:
		case OAT_DROP:
			break;
		default:
			return;
	}
	if (!IsTransactionState())
		return;
	if (creating_extension && CurrentExtensionObject == get_extension_oid("schemamig", true))
		return;
	if (!is_schemamig_object(classId, objectId) || owner_rules_waived())
		return;

	if (access == OAT_DROP && uninstalling)
	{
		/* the extension itself goes last: the uninstall is over */
		if (classId == ExtensionRelationId)
			schemamig_seal_xact_end();
		return;
	}
	/* the statement: the hook's, or for the one that loaded us, the guard's */
	statement = schemamig_current_utility();
	ddl = schemamig_ddl_statement_current();
	if (statement == NULL && ddl != NULL)
		statement = ddl->parsetree;
	if (access == OAT_POST_ALTER && statement != NULL &&
		(IsA(statement, GrantStmt) ||
		 (IsA(statement, AlterExtensionStmt) && classId == ExtensionRelationId)))
		return;

	object.classId = classId;
	object.objectId = objectId;
	object.objectSubId = subId;
	description = getObjectDescription(&object, true);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("%s %s is not allowed", access == OAT_DROP ? "dropping" :
					access == OAT_POST_CREATE ? "creating" : "changing",
					description ? description : "an object of schemamig"),
			 errdetail("schemamig's own objects are changed only by ALTER EXTENSION schemamig UPDATE; GRANT and REVOKE are allowed in a revision, and DROP EXTENSION after schemamig.prepare_uninstall()."),
			 errhint("Only a superuser with schemamig.guard = off may do this.")));
}

/*
 * ddl_command_end's objects: what no object access hook reports (COMMENT,
 * SECURITY LABEL) is refused here when it is in schemamig's schema.  The
 * log writer calls this for every object it logs; the test is a string
 * comparison.
 */
void
schemamig_seal_check_logged(const char *schema, const char *identity)
{
	if (schema == NULL || strcmp(schema, "schemamig") != 0 ||
		owner_rules_waived() ||
		(creating_extension && CurrentExtensionObject == get_extension_oid("schemamig", true)))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("changing %s is not allowed", identity ? identity : "an object of schemamig"),
			 errdetail("schemamig's own objects are changed only by ALTER EXTENSION schemamig UPDATE; GRANT and REVOKE are allowed in a revision, and DROP EXTENSION after schemamig.prepare_uninstall()."),
			 errhint("Only a superuser with schemamig.guard = off may do this.")));
}

/*
 * The schema schemamig, anything in it (or, for triggers, policies, rules
 * and defaults, on a relation in it), the extension itself and its event
 * triggers.
 */
static bool
is_schemamig_object(Oid classId, Oid objectId)
{
	Oid			nsp = get_namespace_oid("schemamig", true);
	Oid			relid = InvalidOid;

	if (!OidIsValid(nsp))
		return false;
	switch (classId)
	{
		case NamespaceRelationId:
			return objectId == nsp;
		case ExtensionRelationId:
			return objectId == get_extension_oid("schemamig", true);
		case EventTriggerRelationId:
			return getExtensionOfObject(classId, objectId) ==
				get_extension_oid("schemamig", true);
		case TriggerRelationId:
			relid = fresh_attribute_oid(classId, TriggerOidIndexId, Anum_pg_trigger_oid,
										objectId, Anum_pg_trigger_tgrelid);
			break;
		case PolicyRelationId:
			relid = fresh_attribute_oid(classId, PolicyOidIndexId, Anum_pg_policy_oid,
										objectId, Anum_pg_policy_polrelid);
			break;
		case RewriteRelationId:
			relid = fresh_attribute_oid(classId, RewriteOidIndexId, Anum_pg_rewrite_oid,
										objectId, Anum_pg_rewrite_ev_class);
			break;
		case AttrDefaultRelationId:
			relid = fresh_attribute_oid(classId, AttrDefaultOidIndexId, Anum_pg_attrdef_oid,
										objectId, Anum_pg_attrdef_adrelid);
			break;
		default:
			if (!is_objectclass_supported(classId) ||
				get_object_attnum_namespace(classId) == InvalidAttrNumber)
				return false;
			return fresh_attribute_oid(classId, get_object_oid_index(classId),
									   get_object_attnum_oid(classId), objectId,
									   get_object_attnum_namespace(classId)) == nsp;
	}
	if (!OidIsValid(relid))
		return false;
	return fresh_attribute_oid(RelationRelationId, ClassOidIndexId, Anum_pg_class_oid,
							   relid, Anum_pg_class_relnamespace) == nsp;
}

/* An oid column of a catalog row, as the current command sees it */
static Oid
fresh_attribute_oid(Oid catalogId, Oid indexId, AttrNumber oidAttnum,
					Oid objectId, AttrNumber attnum)
{
	Relation	catalog = table_open(catalogId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			result = InvalidOid;

	ScanKeyInit(&key, oidAttnum, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(objectId));
	scan = systable_beginscan(catalog, indexId, true, SnapshotSelf, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		value = heap_getattr(tuple, attnum, RelationGetDescr(catalog), &isnull);

		if (!isnull)
			result = DatumGetObjectId(value);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
	return result;
}

/*
 * prepare_uninstall(reason text) returns void
 *
 * The deliberate uninstall: lets DROP EXTENSION schemamig run later in
 * this transaction, and writes what is about to be erased to the server
 * log first, so the record survives the drop at least there.  A journal
 * row (action 'uninstall', the reason as its target) records the intent;
 * it goes with the extension when the drop follows.
 */
Datum
schemamig_prepare_uninstall(PG_FUNCTION_ARGS)
{
	char	   *reason;
	int			ret;
	char	   *summary;
	char	   *current;

	if (PG_ARGISNULL(0) || VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("prepare_uninstall() needs a reason"),
				 errdetail("The reason is written to the server log with what the uninstall erases.")));
	if (VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)) > SCHEMAMIG_MAX_MESSAGE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("reason is too long"),
				 errdetail("It has %d bytes; at most %d are allowed.",
						   (int) VARSIZE_ANY_EXHDR(PG_GETARG_TEXT_PP(0)), SCHEMAMIG_MAX_MESSAGE)));
	reason = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!IsTransactionBlock())
		ereport(ERROR,
				(errcode(ERRCODE_NO_ACTIVE_SQL_TRANSACTION),
				 errmsg("prepare_uninstall() can only be used in a transaction block"),
				 errhint("Run BEGIN; SELECT schemamig.prepare_uninstall('<reason>'); DROP EXTENSION schemamig; COMMIT;.")));
	schemamig_check_not_nested("prepare_uninstall()");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_check_writable("prepare_uninstall()");
	/* the journal says who meant to uninstall, should the drop not follow */
	schemamig_journal_insert(NULL, "uninstall", reason, GetCurrentTimestamp());
	ret = schemamig_owner_execute("SELECT pg_catalog.format('%s revisions, %s applied, %s journal rows (last id %s), %s DDL log rows (last id %s)', "
								  "(SELECT pg_catalog.count(*) FROM schemamig.revision), "
								  "(SELECT pg_catalog.count(*) FROM schemamig.applied), "
								  "(SELECT pg_catalog.count(*) FROM schemamig.journal), "
								  "(SELECT pg_catalog.max(id) FROM schemamig.journal), "
								  "(SELECT pg_catalog.count(*) FROM schemamig.ddl_log), "
								  "(SELECT pg_catalog.max(id) FROM schemamig.ddl_log)), "
								  "(SELECT pg_catalog.string_agg(c, ', ') FROM schemamig.current() c)",
								  0, NULL, NULL, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not summarize schemamig's tables: %s", SPI_result_code_string(ret));
	summary = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	current = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	ereport(LOG,
			(errmsg("schemamig uninstall prepared by role \"%s\" (session role \"%s\") in database \"%s\": %s",
					GetUserNameFromId(GetUserId(), false),
					GetUserNameFromId(GetSessionUserId(), false),
					get_database_name(MyDatabaseId), reason),
			 errdetail("%s; current: %s; %s.", summary, current ? current : "none",
					   schemamig_seal_ledger_head())));
	SPI_finish();

	uninstall_prepared_in = GetCurrentSubTransactionId();
	ereport(NOTICE,
			(errmsg("DROP EXTENSION schemamig is allowed for the rest of this transaction"),
			 errdetail("What it erases was written to the server log.")));
	PG_RETURN_VOID();
}

/*
 * The ledger's head for the uninstall record (ledger, #13, fills this in:
 * the hash chain head of the DDL log); until then the last log row's id
 * stands for it.
 */
const char *
schemamig_seal_ledger_head(void)
{
	return "ledger: not kept by this version";
}




/*
 * coverage_probe(): the C function the PostgreSQL 17+ login event trigger
 * calls through its PL/pgSQL wrapper.  Calling it loads the library before
 * the session's first statement; it has nothing else to do.
 */
Datum
schemamig_coverage_probe(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(schemamig_seal_coverage()));
}
