/*-------------------------------------------------------------------------
 *
 * ddl_log.c
 *		The DDL log: ddl_command_end, sql_drop and table_rewrite event
 *		triggers that write one schemamig.ddl_log row per DDL statement,
 *		and the one writer of ddl_log rows.
 *
 * Every row of the log goes through schemamig_ddl_log_write(): the event
 * triggers' rows, the step protocol's rows for statements that fire no
 * event trigger (REINDEX, VACUUM, CLUSTER), and the Alembic settlement's
 * rows for DDL held until a version write attributed it.  Anything that
 * must hold for every row (a hash-chain link to the previous row) belongs
 * there.  Every objects array is built by schemamig_ddl_log_objects().
 *
 * One statement fires ddl_command_start, then possibly sql_drop and
 * table_rewrite, then ddl_command_end.  The guard pushes the statement's
 * frame at start (statement_text.c keeps the stack: verdict, statement
 * text); sql_drop and table_rewrite add the dropped and rewritten objects
 * to the innermost frame; ddl_command_end pops it and writes the row,
 * objects from pg_event_trigger_ddl_commands() merged with the collected
 * ones.  When the guard did not run (the statement that loaded the
 * library, or after a commit inside CREATE INDEX CONCURRENTLY), the log
 * asks the guard for the verdict itself.
 *
 * This runs for every DDL statement, so the row is written the way the
 * catalogs write theirs: the objects are read by calling the
 * pg_event_trigger_ddl_commands() / pg_event_trigger_dropped_objects()
 * set-returning functions directly (no query), a rewritten table is
 * described with getObjectIdentity() (no pg_identify_object() query), the
 * jsonb is built with pushJsonbValue() (no text round trip through jsonb_in),
 * and the tuple goes in with simple_heap_insert() and CatalogIndexInsert()
 * into the log's indexes, the id from nextval on its sequence.  The OIDs
 * of the log and its sequence, the position of each column and the names
 * of the current and session roles are looked up once per backend and
 * forgotten by relcache (the log, its sequence) and syscache (pg_namespace,
 * pg_authid) invalidation callbacks, so a renamed schema, an added column
 * or a reinstalled extension is seen at the next statement.  The table lock
 * is kept to the end of the transaction, as an INSERT keeps it.  An INSERT
 * through SPI cost about 200,000 instructions per statement (executor
 * start-up, re-reading the CHECK constraint's expression, a subplan,
 * switching to the owner's rights and search_path), seven times the PL/pgSQL
 * audit trigger's; the direct insert costs a small fraction of it
 * (bench/README.md).  No privilege check runs, so the role running the DDL
 * needs no privilege on the log and no user switch is needed; the log has no
 * insert triggers, and the values always satisfy its constraints.
 *
 * The exact text of the statement comes from statement_text.c.
 *
 * IDENTIFICATION
 *		src/ddl_log.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/tuptable.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/xid8.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_log_ddl_end);
PG_FUNCTION_INFO_V1(schemamig_log_sql_drop);
PG_FUNCTION_INFO_V1(schemamig_log_table_rewrite);

/* The columns write_row() fills, by name; any other column gets NULL */
typedef enum LogColumn
{
	LOG_ID,
	LOG_REVISION,
	LOG_DIRECTION,
	LOG_STATEMENT_NO,
	LOG_COMMAND_TAG,
	LOG_STATEMENT,
	LOG_OBJECTS,
	LOG_EXECUTED_AT,
	LOG_XID,
	LOG_ROLE,
	LOG_SESSION_ROLE,
	LOG_APPLICATION_NAME,
	LOG_CLIENT_ADDR,
	LOG_BACKEND_PID,
	LOG_NCOLUMNS
} LogColumn;

static const char *const log_column_names[LOG_NCOLUMNS] = {
	"id", "revision", "direction", "statement_no", "command_tag", "statement",
	"objects", "executed_at", "xid", "role", "session_role",
	"application_name", "client_addr", "backend_pid"
};

/*
 * Where the row goes, looked up once per backend (see the file banner):
 * valid while the OIDs are current, mapped while column[] matches the
 * table's descriptor.
 */
typedef struct LogTarget
{
	bool		valid;
	bool		mapped;
	Oid			relid;
	Oid			seqid;
	int			column[LOG_NCOLUMNS];	/* attribute index, -1 if absent */
	bool		plain_indexes;	/* CatalogTupleInsert can maintain them */
} LogTarget;

/* A role's name, cached for the current and the session user */
typedef struct RoleName
{
	Oid			roleid;
	NameData	name;
} RoleName;

/* What the modules above the log do with its events; filled by hooks.c */
SchemamigDdlLogCallbacks schemamig_ddl_log_callbacks;

static LogTarget log_target;
static RoleName role_names[2];



static Tuplestorestate *call_srf(Oid funcid, TupleDesc *desc);
static char *tuple_text(TupleTableSlot *slot, int attnum);
static void collect_object(SchemamigDdlStatement *frame, const char *type,
						   const char *identity, const char *schema,
						   const char *action);
static Datum client_addr(bool *isnull);
static bool indexes_are_plain(Relation rel);
static void insert_with_executor(Relation rel, HeapTuple tuple);
static Relation open_log(void);
static void push_object(JsonbParseState **state, const char *type,
						const char *identity, const char *schema,
						const char *action);
static void push_string(JsonbParseState **state, JsonbIteratorToken token,
						const char *str);
static Name role_name(int slot, Oid roleid);

/*
 * Log one DDL statement under the guard's verdict: a row under the open
 * migration context (VERDICT_VERSIONED), an unversioned row, or, for
 * VERDICT_PROVISIONAL, a row handed to Alembic mode to hold.  With
 * ddl_commands (only inside ddl_command_end) the objects start with
 * pg_event_trigger_ddl_commands(); collected (SchemamigLogObjects) follow.
 * seal.c calls this for the statements that fire no event trigger.
 */
void
schemamig_ddl_log_statement(SchemamigVerdict verdict, const char *tag,
							const char *statement, List *collected,
							bool ddl_commands)
{
	SchemamigLogRow row;

	if (verdict == VERDICT_SKIP)
		return;
	memset(&row, 0, sizeof(row));
	row.command_tag = tag;
	row.statement = statement;
	row.objects = schemamig_ddl_log_objects(ddl_commands, collected);
	row.executed_at = GetCurrentTimestamp();
	if (verdict == VERDICT_VERSIONED)
	{
		row.revision = schemamig_context.revision;
		row.direction = schemamig_direction_name(schemamig_context.direction);
		row.statement_no = schemamig_context.statement_no;
		if (row.statement == NULL)
			row.statement = schemamig_context.statement;
	}
	else if (verdict == VERDICT_MAINTENANCE)
		row.direction = "maintenance";
	else
		row.direction = "unversioned";
	if (verdict == VERDICT_PROVISIONAL)
		schemamig_ddl_log_callbacks.hold(&row);
	else
		schemamig_ddl_log_write(&row);
}

/*
 * An object as the log describes it, for a statement that fires no event
 * trigger (seal.c): its type and identity, its schema for a relation.  In
 * the current memory context.
 */
SchemamigLogObject *
schemamig_ddl_log_object(const ObjectAddress *address, const char *action)
{
	SchemamigLogObject *obj = palloc(sizeof(SchemamigLogObject));
	char	   *type = getObjectTypeDescription(address, true);
	char	   *identity = getObjectIdentity(address, true);
	Oid			nsp = InvalidOid;

	if (address->classId == RelationRelationId)
		nsp = get_rel_namespace(address->objectId);
	obj->type = type ? type : "";
	obj->identity = identity ? identity : "";
	obj->schema = OidIsValid(nsp) ? get_namespace_name(nsp) : NULL;
	obj->action = action;
	return obj;
}

/* ---- the event triggers ---- */

Datum
schemamig_log_ddl_end(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	SchemamigDdlStatement frame;
	bool		found;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "schemamig_log_ddl_end: not fired by event trigger manager");
	trigdata = (EventTriggerData *) fcinfo->context;

	/* the innermost frame is this statement's, unless the guard did not run */
	found = schemamig_ddl_statement_pop(trigdata->parsetree, &frame);
	if (!found)
	{
		frame.parsetree = trigdata->parsetree;
		frame.verdict = schemamig_guard_classify(trigdata->parsetree,
												 GetCommandTagName(trigdata->tag));
		frame.statement = schemamig_client_statement_text(trigdata->parsetree);
		frame.objects = NIL;
	}
	schemamig_ddl_log_statement(frame.verdict, GetCommandTagName(trigdata->tag),
								frame.statement, frame.objects, true);
	if (frame.verdict == VERDICT_ALEMBIC_TABLE &&
		schemamig_ddl_log_callbacks.version_table_created)
		schemamig_ddl_log_callbacks.version_table_created();
	/* a long transaction of DDL must not pile up its frames' text */
	if (found)
	{
		ListCell   *lc;

		if (frame.statement)
			pfree(frame.statement);
		foreach(lc, frame.objects)
		{
			SchemamigLogObject *obj = lfirst(lc);

			if (obj->type)
				pfree((char *) obj->type);
			if (obj->identity)
				pfree((char *) obj->identity);
			if (obj->schema)
				pfree((char *) obj->schema);
		}
		list_free_deep(frame.objects);
	}
	PG_RETURN_NULL();
}

Datum
schemamig_log_sql_drop(PG_FUNCTION_ARGS)
{
	MemoryContext callcxt;
	MemoryContext oldcxt;
	Tuplestorestate *store;
	TupleDesc	desc;
	TupleTableSlot *slot;
	SchemamigDdlStatement *frame;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "schemamig_log_sql_drop: not fired by event trigger manager");
	frame = schemamig_ddl_statement_current();
	/* DROP INDEX CONCURRENTLY committed the frame away; start a new one */
	if (frame == NULL && schemamig_context.spans_commits)
		frame = schemamig_ddl_statement_push(((EventTriggerData *) fcinfo->context)->parsetree,
											 VERDICT_VERSIONED);
	else if (frame == NULL)
	{
		/* the same for the Alembic writer's, held for a version write */
		EventTriggerData *trigdata = (EventTriggerData *) fcinfo->context;

		if (schemamig_guard_classify(trigdata->parsetree,
									 GetCommandTagName(trigdata->tag)) == VERDICT_PROVISIONAL)
			frame = schemamig_ddl_statement_push(trigdata->parsetree, VERDICT_PROVISIONAL);
	}
	if (frame == NULL || frame->verdict == VERDICT_SKIP)
		PG_RETURN_NULL();

	callcxt = AllocSetContextCreate(CurrentMemoryContext, "schemamig sql_drop",
									ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(callcxt);
	store = call_srf(F_PG_EVENT_TRIGGER_DROPPED_OBJECTS, &desc);
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	while (tuplestore_gettupleslot(store, true, false, slot))
	{
		bool		isnull;
		bool		original = DatumGetBool(slot_getattr(slot, 4, &isnull));
		bool		normal = DatumGetBool(slot_getattr(slot, 5, &isnull));

		/* 4 original, 5 normal, 7 type, 8 schema, 10 identity */
		if (!original && !normal)
			continue;
		collect_object(frame, tuple_text(slot, 7), tuple_text(slot, 10),
					   tuple_text(slot, 8), "drop");
	}
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(callcxt);
	PG_RETURN_NULL();
}

/*
 * The rewritten table, described as pg_identify_object() describes it
 * (schema quoted, as there).
 */
Datum
schemamig_log_table_rewrite(PG_FUNCTION_ARGS)
{
	SchemamigDdlStatement *frame;
	Oid			relid;
	ObjectAddress address;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "schemamig_log_table_rewrite: not fired by event trigger manager");
	relid = DatumGetObjectId(DirectFunctionCall1(pg_event_trigger_table_rewrite_oid,
												 (Datum) 0));
	if (schemamig_ddl_log_callbacks.table_rewritten)
		schemamig_ddl_log_callbacks.table_rewritten(relid);
	frame = schemamig_ddl_statement_current();
	if (frame == NULL || frame->verdict == VERDICT_SKIP)
		PG_RETURN_NULL();
	ObjectAddressSet(address, RelationRelationId, relid);
	collect_object(frame, getObjectTypeDescription(&address, false),
				   getObjectIdentity(&address, false),
				   quote_identifier(get_namespace_name_or_temp(get_rel_namespace(relid))),
				   "rewrite");
	PG_RETURN_NULL();
}

/* ---- the objects array ---- */

/*
 * Keep an object for the statement's row; frames and their objects live
 * in TopTransactionContext.
 */
static void
collect_object(SchemamigDdlStatement *frame, const char *type,
			   const char *identity, const char *schema, const char *action)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	SchemamigLogObject *obj = palloc(sizeof(SchemamigLogObject));

	obj->type = type ? pstrdup(type) : NULL;
	obj->identity = identity ? pstrdup(identity) : NULL;
	obj->schema = schema ? pstrdup(schema) : NULL;
	obj->action = action;
	frame->objects = lappend(frame->objects, obj);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * The objects jsonb of a ddl_log row, the one place it is built: an array
 * of {"type","identity","schema","action"}.  With ddl_commands (only inside
 * a ddl_command_end trigger), first the objects of
 * pg_event_trigger_ddl_commands(), action from their command tag; then
 * the collected SchemamigLogObjects (dropped and rewritten objects).
 */
Jsonb *
schemamig_ddl_log_objects(bool ddl_commands, List *collected)
{
	JsonbParseState *state = NULL;
	JsonbValue *array;
	ListCell   *lc;

	pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
	if (ddl_commands)
	{
		Tuplestorestate *store;
		TupleDesc	desc;
		TupleTableSlot *slot;

		store = call_srf(F_PG_EVENT_TRIGGER_DDL_COMMANDS, &desc);
		slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
		while (tuplestore_gettupleslot(store, true, false, slot))
		{
			/*
			 * 4 command_tag, 5 object_type, 6 schema_name, 7 object_identity,
			 * 8 in_extension
			 */
			char	   *command_tag = tuple_text(slot, 4);
			char	   *schema = tuple_text(slot, 6);
			char	   *identity = tuple_text(slot, 7);
			const char *action = "alter";
			bool		isnull;

			if (command_tag && strncmp(command_tag, "CREATE", 6) == 0)
				action = "create";
			else if (command_tag && strncmp(command_tag, "DROP", 4) == 0)
				action = "drop";
			if (schemamig_ddl_log_callbacks.command_object &&
				!DatumGetBool(slot_getattr(slot, 8, &isnull)))
				schemamig_ddl_log_callbacks.command_object(schema, identity);
			push_object(&state, tuple_text(slot, 5), identity, schema, action);
		}
		ExecDropSingleTupleTableSlot(slot);
	}
	foreach(lc, collected)
	{
		SchemamigLogObject *obj = lfirst(lc);

		push_object(&state, obj->type, obj->identity, obj->schema, obj->action);
	}
	array = pushJsonbValue(&state, WJB_END_ARRAY, NULL);
	return JsonbValueToJsonb(array);
}

/*
 * Call one of the event trigger SRFs (they materialize their result) as
 * the executor would, without a query.  The result lives in the current
 * memory context.
 */
static Tuplestorestate *
call_srf(Oid funcid, TupleDesc *desc)
{
	FmgrInfo	flinfo;
	ReturnSetInfo rsinfo;

	LOCAL_FCINFO(fcinfo, 0);

	fmgr_info(funcid, &flinfo);
	memset(&rsinfo, 0, sizeof(rsinfo));
	rsinfo.type = T_ReturnSetInfo;
	rsinfo.econtext = CreateStandaloneExprContext();
	rsinfo.allowedModes = SFRM_Materialize;
	rsinfo.returnMode = SFRM_ValuePerCall;
	InitFunctionCallInfoData(*fcinfo, &flinfo, 0, InvalidOid, NULL,
							 (Node *) &rsinfo);
	(void) FunctionCallInvoke(fcinfo);
	if (rsinfo.returnMode != SFRM_Materialize || rsinfo.setDesc == NULL)
		elog(ERROR, "event trigger function %u did not materialize its result", funcid);
	FreeExprContext(rsinfo.econtext, true);
	*desc = rsinfo.setDesc;
	if (rsinfo.setResult == NULL)
		rsinfo.setResult = tuplestore_begin_heap(false, false, work_mem);
	return rsinfo.setResult;
}

static char *
tuple_text(TupleTableSlot *slot, int attnum)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, attnum, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* ---- the writer ---- */

/* inet_client_addr(): NULL over a Unix socket */
static Datum
client_addr(bool *isnull)
{
	LOCAL_FCINFO(fcinfo, 0);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	result = inet_client_addr(fcinfo);
	*isnull = fcinfo->isnull;
	return result;
}

/*
 * Write one schemamig.ddl_log row: every row of the log goes through here
 * (the event triggers, the step protocol, the Alembic settlement).  The
 * row's xid, client_addr and backend_pid are this session's and
 * transaction's unless it carries its origin; role, session_role and
 * application_name the current ones unless it carries them (DDL held for
 * Alembic).  Columns are matched
 * by name, so a later version that adds a column (NULL here) keeps working
 * with this code.
 */
void
schemamig_ddl_log_write(const SchemamigLogRow *row)
{
	MemoryContext callcxt = AllocSetContextCreate(CurrentMemoryContext,
												  "schemamig ddl_log",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(callcxt);
	const int  *column;
	Relation	rel;
	TupleDesc	reldesc;
	Datum	   *values;
	bool	   *nulls;
	HeapTuple	tuple;
	NameData	role;
	NameData	session_role;

	rel = open_log();
	reldesc = RelationGetDescr(rel);
	column = log_target.column;
	values = palloc0(sizeof(Datum) * reldesc->natts);
	nulls = palloc(sizeof(bool) * reldesc->natts);
	memset(nulls, true, sizeof(bool) * reldesc->natts);

#define SET_COLUMN(col, value) \
	do { \
		if (column[col] >= 0) \
		{ \
			values[column[col]] = (value); \
			nulls[column[col]] = false; \
		} \
	} while (0)

	if (column[LOG_ID] >= 0)
		SET_COLUMN(LOG_ID, Int64GetDatum(nextval_internal(log_target.seqid, false)));
	if (row->revision != NULL)
		SET_COLUMN(LOG_REVISION, CStringGetTextDatum(row->revision));
	SET_COLUMN(LOG_DIRECTION, CStringGetTextDatum(row->direction));
	if (row->statement_no > 0)
		SET_COLUMN(LOG_STATEMENT_NO, Int32GetDatum(row->statement_no));
	SET_COLUMN(LOG_COMMAND_TAG, CStringGetTextDatum(row->command_tag));
	if (row->statement != NULL)
		SET_COLUMN(LOG_STATEMENT, CStringGetTextDatum(row->statement));
	if (column[LOG_OBJECTS] >= 0)
		SET_COLUMN(LOG_OBJECTS,
				   JsonbPGetDatum(row->objects ? row->objects :
								  schemamig_ddl_log_objects(false, NIL)));
	SET_COLUMN(LOG_EXECUTED_AT, TimestampTzGetDatum(row->executed_at));
	SET_COLUMN(LOG_XID, FullTransactionIdGetDatum(FullTransactionIdIsValid(row->origin_xid) ?
												  row->origin_xid :
												  GetTopFullTransactionId()));
	if (row->role != NULL)
	{
		namestrcpy(&role, row->role);
		SET_COLUMN(LOG_ROLE, NameGetDatum(&role));
	}
	else
		SET_COLUMN(LOG_ROLE, NameGetDatum(role_name(0, GetUserId())));
	if (row->session_role != NULL)
	{
		namestrcpy(&session_role, row->session_role);
		SET_COLUMN(LOG_SESSION_ROLE, NameGetDatum(&session_role));
	}
	else
		SET_COLUMN(LOG_SESSION_ROLE, NameGetDatum(role_name(1, GetSessionUserId())));
	SET_COLUMN(LOG_APPLICATION_NAME,
			   CStringGetTextDatum(row->application_name ? row->application_name :
								   application_name ? application_name : ""));
	if (FullTransactionIdIsValid(row->origin_xid))
	{
		if (row->origin_client_addr != (Datum) 0)
			SET_COLUMN(LOG_CLIENT_ADDR, row->origin_client_addr);
		SET_COLUMN(LOG_BACKEND_PID, Int32GetDatum(row->origin_backend_pid));
	}
	else
	{
		if (column[LOG_CLIENT_ADDR] >= 0)
		{
			bool		isnull;
			Datum		addr = client_addr(&isnull);

			if (!isnull)
				SET_COLUMN(LOG_CLIENT_ADDR, addr);
		}
		SET_COLUMN(LOG_BACKEND_PID, Int32GetDatum(MyProcPid));
	}
#undef SET_COLUMN

	schemamig_ledger_row(rel, values, nulls);
	tuple = heap_form_tuple(reldesc, values, nulls);
	if (log_target.plain_indexes)
		CatalogTupleInsert(rel, tuple);
	else
		insert_with_executor(rel, tuple);
	/* like any INSERT, keep the lock until the end of the transaction */
	table_close(rel, NoLock);

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(callcxt);
}

/*
 * Open schemamig.ddl_log for the insert, looking it up and mapping its
 * columns only when an invalidation said they may have changed.  Opening
 * it processes pending invalidations, so the target is checked again
 * after the lock is taken.
 */
static Relation
open_log(void)
{
	Relation	rel;
	TupleDesc	desc;

	for (;;)
	{
		if (!log_target.valid)
		{
			Oid			nspid = schemamig_schema_oid();

			log_target.relid = get_relname_relid("ddl_log", nspid);
			log_target.seqid = get_relname_relid("ddl_log_id_seq", nspid);
			if (!OidIsValid(log_target.relid) || !OidIsValid(log_target.seqid))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_TABLE),
						 errmsg("table schemamig.ddl_log does not exist"),
						 errhint("Reinstall the extension with CREATE EXTENSION schemamig.")));
			log_target.mapped = false;
			log_target.valid = true;
		}
		rel = table_open(log_target.relid, RowExclusiveLock);
		if (log_target.valid)
			break;
		table_close(rel, RowExclusiveLock);
	}
	if (log_target.mapped)
		return rel;

	desc = RelationGetDescr(rel);
	for (int c = 0; c < LOG_NCOLUMNS; c++)
		log_target.column[c] = -1;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (att->attisdropped)
			continue;
		for (int c = 0; c < LOG_NCOLUMNS; c++)
			if (strcmp(NameStr(att->attname), log_column_names[c]) == 0)
				log_target.column[c] = i;
	}
	log_target.plain_indexes = indexes_are_plain(rel);
	log_target.mapped = true;
	return rel;
}

/*
 * CatalogTupleInsert() maintains plain indexes only: no expressions, no
 * predicate, no exclusion constraint, no deferred uniqueness.  Those are
 * all schemamig creates, but an operator may add an index to query the
 * log; then the executor's index maintenance is used instead.
 */
static bool
indexes_are_plain(Relation rel)
{
	List	   *indexes = RelationGetIndexList(rel);
	ListCell   *lc;
	bool		plain = true;

	foreach(lc, indexes)
	{
		Relation	index = index_open(lfirst_oid(lc), AccessShareLock);
		Form_pg_index form = index->rd_index;

		if (!heap_attisnull(index->rd_indextuple, Anum_pg_index_indexprs, NULL) ||
			!heap_attisnull(index->rd_indextuple, Anum_pg_index_indpred, NULL) ||
			form->indisexclusion || !form->indimmediate)
			plain = false;
		index_close(index, AccessShareLock);
	}
	list_free(indexes);
	return plain;
}

/* The row and every kind of index, as logical replication's apply does */
static void
insert_with_executor(Relation rel, HeapTuple tuple)
{
	EState	   *estate = CreateExecutorState();
	ResultRelInfo *resultRelInfo = makeNode(ResultRelInfo);
	TupleTableSlot *slot;

	InitResultRelInfo(resultRelInfo, rel, 1, NULL, 0);
	ExecOpenIndices(resultRelInfo, false);
	slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(rel), &TTSOpsHeapTuple);
	ExecStoreHeapTuple(tuple, slot, false);
	simple_table_tuple_insert(rel, slot);
	(void) schemamig_insert_index_tuples(resultRelInfo, slot, estate);
	ExecCloseIndices(resultRelInfo);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
}

/* One {"type","identity","schema","action"} element; NULL becomes null */
static void
push_object(JsonbParseState **state, const char *type, const char *identity,
			const char *schema, const char *action)
{
	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	push_string(state, WJB_KEY, "type");
	push_string(state, WJB_VALUE, type);
	push_string(state, WJB_KEY, "identity");
	push_string(state, WJB_VALUE, identity);
	push_string(state, WJB_KEY, "schema");
	push_string(state, WJB_VALUE, schema);
	push_string(state, WJB_KEY, "action");
	push_string(state, WJB_VALUE, action);
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

static void
push_string(JsonbParseState **state, JsonbIteratorToken token, const char *str)
{
	JsonbValue	v;

	if (str == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) str;
		v.val.string.len = strlen(str);
	}
	pushJsonbValue(state, token, &v);
}

/* GetUserNameFromId() without a syscache lookup per statement */
static Name
role_name(int slot, Oid roleid)
{
	RoleName   *entry = &role_names[slot];

	if (entry->roleid != roleid || !OidIsValid(roleid))
	{
		entry->roleid = InvalidOid;
		namestrcpy(&entry->name, GetUserNameFromId(roleid, false));
		entry->roleid = roleid;
	}
	return &entry->name;
}

/*
 * Relcache invalidation (registered by hooks.c): ddl_log or its sequence
 * changed, or everything did; look them up again.
 */
void
schemamig_ddl_log_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == log_target.relid || relid == log_target.seqid)
		log_target.valid = log_target.mapped = false;
}

/*
 * Syscache invalidation of pg_namespace or pg_authid (registered by
 * hooks.c): names may now mean something else.
 */
void
schemamig_ddl_log_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	if (cacheid == NAMESPACEOID)
		log_target.valid = log_target.mapped = false;
	else
		role_names[0].roleid = role_names[1].roleid = InvalidOid;
}
