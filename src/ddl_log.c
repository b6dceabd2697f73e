/*-------------------------------------------------------------------------
 *
 * ddl_log.c
 *		The DDL log: ddl_command_end, sql_drop and table_rewrite event
 *		triggers that write one schemamig.ddl_log row per DDL statement.
 *
 * One statement fires ddl_command_start, then possibly sql_drop and
 * table_rewrite, then ddl_command_end.  The guard pushes a frame at start
 * (verdict, statement text); sql_drop and table_rewrite add the dropped
 * and rewritten objects to the innermost frame; ddl_command_end pops it and
 * writes the row, objects from pg_event_trigger_ddl_commands() merged with
 * the collected ones.  Frames live in TopTransactionContext and are
 * discarded at transaction end and, for those a rolled-back subtransaction
 * pushed, at subtransaction abort, so a failed statement leaves nothing.
 *
 * This runs for every DDL statement, so the row is written the way the
 * catalogs write theirs: the objects are read by calling the
 * pg_event_trigger_ddl_commands() / pg_event_trigger_dropped_objects()
 * set-returning functions directly (no query), the jsonb is built from
 * their rows, and the tuple goes in with simple_heap_insert() and
 * CatalogIndexInsert() into the log's indexes, the id from nextval on its
 * sequence.  An INSERT through SPI cost about 200,000 instructions per
 * statement (executor start-up, re-reading the CHECK constraint's
 * expression, a subplan, switching to the owner's rights and search_path),
 * seven times the PL/pgSQL audit trigger's; the direct insert costs a
 * small fraction of it (README, "Performance").  No privilege check runs,
 * so the role running the DDL needs no privilege on the log and no user
 * switch is needed; the log has no insert triggers, and the values always
 * satisfy its constraints.
 *
 * The exact text of the statement: inside upgrade()/downgrade() and for
 * client DDL alike it is the statement's own slice of the query string
 * that carried it.  A ProcessUtility hook, installed when the library
 * loads, remembers each utility statement's query string and location
 * (PlannedStmt.stmt_location/stmt_len); the event trigger reads the
 * innermost entry.  The statement that loaded the library ran before the
 * hook existed: for it, the statement is found in ActivePortal's statement
 * list, which also carries locations.
 *
 * IDENTIFICATION
 *		src/ddl_log.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/sequence.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/xid8.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_log_ddl_end);
PG_FUNCTION_INFO_V1(schemamig_log_sql_drop);
PG_FUNCTION_INFO_V1(schemamig_log_table_rewrite);

typedef struct DdlFrame
{
	Node	   *parsetree;
	SubTransactionId subxid;
	SchemamigVerdict verdict;
	char	   *statement;
	StringInfo	objects;		/* elements of a jsonb array, comma-separated;
								 * NULL until sql_drop or table_rewrite add one */
} DdlFrame;

typedef struct CapturedStatement
{
	Node	   *utility;
	const char *query;
	int			location;
	int			length;
} CapturedStatement;

static DdlFrame *frames = NULL;
static int	nframes = 0;
static int	maxframes = 0;

static CapturedStatement *captured = NULL;
static int	ncaptured = 0;
static int	maxcaptured = 0;

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static void capture_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
								   bool readOnlyTree, ProcessUtilityContext context,
								   ParamListInfo params, QueryEnvironment *queryEnv,
								   DestReceiver *dest, QueryCompletion *qc);
static void add_objects(const char *sql);
static StringInfo frame_objects(DdlFrame *frame);
static Tuplestorestate *call_srf(Oid funcid, TupleDesc *desc);
static void append_object(StringInfo buf, const char *type, const char *identity,
						  const char *schema, const char *action);
static char *tuple_text(TupleTableSlot *slot, int attnum);
static Datum client_addr(bool *isnull);
static void write_row(DdlFrame *frame, const char *tag);

void
schemamig_ddl_log_reset(void)
{
	nframes = 0;
}

void
schemamig_ddl_log_abort_sub(SubTransactionId subid)
{
	while (nframes > 0 && frames[nframes - 1].subxid >= subid)
		nframes--;
}

void
schemamig_ddl_log_begin(Node *parsetree, SchemamigVerdict verdict)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	DdlFrame   *frame;

	if (frames == NULL)
	{
		maxframes = 8;
		frames = MemoryContextAlloc(TopMemoryContext, sizeof(DdlFrame) * maxframes);
	}
	else if (nframes == maxframes)
	{
		maxframes *= 2;
		frames = repalloc(frames, sizeof(DdlFrame) * maxframes);
	}
	frame = &frames[nframes++];
	frame->parsetree = parsetree;
	frame->subxid = GetCurrentSubTransactionId();
	frame->verdict = verdict;
	frame->statement = verdict == VERDICT_SKIP ? NULL :
		schemamig_client_statement_text(parsetree);
	frame->objects = NULL;
	MemoryContextSwitchTo(oldcxt);
}

Datum
schemamig_log_ddl_end(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	const char *tag;
	DdlFrame	frame;
	bool		found = false;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "schemamig_log_ddl_end: not fired by event trigger manager");
	trigdata = (EventTriggerData *) fcinfo->context;
	tag = GetCommandTagName(trigdata->tag);

	if (nframes > 0)
	{
		/* the innermost frame is this statement's, unless the guard did not run */
		if (frames[nframes - 1].parsetree == trigdata->parsetree)
		{
			frame = frames[--nframes];
			found = true;
		}
	}
	if (!found)
	{
		frame.parsetree = trigdata->parsetree;
		frame.verdict = schemamig_guard_classify(trigdata->parsetree, tag);
		frame.statement = schemamig_client_statement_text(trigdata->parsetree);
		frame.objects = NULL;
	}
	if (frame.verdict == VERDICT_PROVISIONAL)
	{
		StringInfoData extra;

		initStringInfo(&extra);
		appendStringInfo(&extra, "[%s]", frame.objects ? frame.objects->data : "");
		schemamig_alembic_hold(tag, frame.statement, extra.data);
	}
	else if (frame.verdict != VERDICT_SKIP)
		write_row(&frame, tag);
	if (frame.verdict == VERDICT_ALEMBIC_TABLE)
		schemamig_alembic_table_done();
	/* a long transaction of DDL must not pile up its frames' text */
	if (found)
	{
		if (frame.statement)
			pfree(frame.statement);
		if (frame.objects)
		{
			pfree(frame.objects->data);
			pfree(frame.objects);
		}
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
	StringInfo	objects;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "schemamig_log_sql_drop: not fired by event trigger manager");
	/* DROP INDEX CONCURRENTLY committed the frame away; start a new one */
	if (nframes == 0 && schemamig_step_running())
		schemamig_ddl_log_begin(((EventTriggerData *) fcinfo->context)->parsetree,
								VERDICT_VERSIONED);
	if (nframes == 0 || frames[nframes - 1].verdict == VERDICT_SKIP)
		PG_RETURN_NULL();

	objects = frame_objects(&frames[nframes - 1]);
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

		/* 4 original, 5 normal, 7 object_type, 8 schema_name, 10 object_identity */
		if (!original && !normal)
			continue;
		/* objects lives in TopTransactionContext; growing it keeps it there */
		append_object(objects, tuple_text(slot, 7), tuple_text(slot, 10),
					  tuple_text(slot, 8), "drop");
	}
	ExecDropSingleTupleTableSlot(slot);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(callcxt);
	PG_RETURN_NULL();
}

Datum
schemamig_log_table_rewrite(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "schemamig_log_table_rewrite: not fired by event trigger manager");
	if (schemamig_plan_active)
		schemamig_plan_note_rewrite(DatumGetObjectId(DirectFunctionCall1(pg_event_trigger_table_rewrite_oid,
																		 (Datum) 0)));
	if (nframes > 0 && frames[nframes - 1].verdict != VERDICT_SKIP)
		add_objects("SELECT pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object("
					"'type', i.type, 'identity', i.identity, "
					"'schema', i.schema, 'action', 'rewrite'))::text "
					"FROM pg_catalog.pg_identify_object('pg_catalog.pg_class'::pg_catalog.regclass, "
					"pg_catalog.pg_event_trigger_table_rewrite_oid(), 0) i");
	PG_RETURN_NULL();
}

/* The frame's list of collected objects, created on first use */
static StringInfo
frame_objects(DdlFrame *frame)
{
	if (frame->objects == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);

		frame->objects = makeStringInfo();
		MemoryContextSwitchTo(oldcxt);
	}
	return frame->objects;
}

/*
 * Run a query returning one jsonb array as text; keep its elements in the
 * frame.  Only table_rewrite uses it: rewrites are rare and slow anyway.
 */
static void
add_objects(const char *sql)
{
	StringInfo	buf = frame_objects(&frames[nframes - 1]);
	int			ret;
	char	   *objects;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = schemamig_owner_execute(sql,
								  0, NULL, NULL, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the event trigger's objects: %s", SPI_result_code_string(ret));
	objects = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

	/* keep the array's elements: "[a, b]" -> "a, b" */
	if (objects != NULL && strlen(objects) > 2)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);

		if (buf->len > 0)
			appendStringInfoChar(buf, ',');
		appendBinaryStringInfo(buf, objects + 1, strlen(objects) - 2);
		MemoryContextSwitchTo(oldcxt);
	}
	SPI_finish();
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

/* One {"type","identity","schema","action"} element; NULL becomes null */
static void
append_object(StringInfo buf, const char *type, const char *identity,
			  const char *schema, const char *action)
{
	const char *keys[4] = {"type", "identity", "schema", "action"};
	const char *vals[4] = {type, identity, schema, action};

	if (buf->len > 0)
		appendStringInfoChar(buf, ',');
	appendStringInfoChar(buf, '{');
	for (int i = 0; i < 4; i++)
	{
		if (i > 0)
			appendStringInfoString(buf, ", ");
		escape_json(buf, keys[i]);
		appendStringInfoString(buf, ": ");
		if (vals[i])
			escape_json(buf, vals[i]);
		else
			appendStringInfoString(buf, "null");
	}
	appendStringInfoChar(buf, '}');
}

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
 * The ddl_log row.  Columns are matched by name, so a later version that
 * adds a column (NULL here) keeps working with this code.
 */
static void
write_row(DdlFrame *frame, const char *tag)
{
	MemoryContext callcxt = AllocSetContextCreate(CurrentMemoryContext,
												  "schemamig ddl_log",
												  ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(callcxt);
	bool		versioned = frame->verdict == VERDICT_VERSIONED;
	const char *statement = frame->statement;
	Oid			nspid = schemamig_schema_oid();
	Oid			relid = get_relname_relid("ddl_log", nspid);
	Oid			seqid = get_relname_relid("ddl_log_id_seq", nspid);
	Relation	rel;
	TupleDesc	reldesc;
	Datum	   *values;
	bool	   *nulls;
	StringInfoData objects;
	Tuplestorestate *store;
	TupleDesc	desc;
	TupleTableSlot *slot;
	NameData	role;
	NameData	session_role;
	HeapTuple	tuple;

	if (!OidIsValid(relid) || !OidIsValid(seqid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table schemamig.ddl_log does not exist"),
				 errhint("Reinstall the extension with CREATE EXTENSION schemamig.")));

	/* the objects: this command's, then those sql_drop/table_rewrite added */
	initStringInfo(&objects);
	store = call_srf(F_PG_EVENT_TRIGGER_DDL_COMMANDS, &desc);
	slot = MakeSingleTupleTableSlot(desc, &TTSOpsMinimalTuple);
	while (tuplestore_gettupleslot(store, true, false, slot))
	{
		/* 4 command_tag, 5 object_type, 6 schema_name, 7 object_identity */
		char	   *command_tag = tuple_text(slot, 4);
		const char *action = "alter";

		if (command_tag && strncmp(command_tag, "CREATE", 6) == 0)
			action = "create";
		else if (command_tag && strncmp(command_tag, "DROP", 4) == 0)
			action = "drop";
		append_object(&objects, tuple_text(slot, 5), tuple_text(slot, 7),
					  tuple_text(slot, 6), action);
	}
	ExecDropSingleTupleTableSlot(slot);
	if (frame->objects && frame->objects->len > 0)
	{
		if (objects.len > 0)
			appendStringInfoChar(&objects, ',');
		appendBinaryStringInfo(&objects, frame->objects->data, frame->objects->len);
	}

	if (statement == NULL && versioned)
		statement = schemamig_context.statement;
	namestrcpy(&role, GetUserNameFromId(GetUserId(), false));
	namestrcpy(&session_role, GetUserNameFromId(GetSessionUserId(), false));

	rel = table_open(relid, RowExclusiveLock);
	reldesc = RelationGetDescr(rel);
	values = palloc0(sizeof(Datum) * reldesc->natts);
	nulls = palloc(sizeof(bool) * reldesc->natts);
	memset(nulls, true, sizeof(bool) * reldesc->natts);
	for (int i = 0; i < reldesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(reldesc, i);
		const char *name = NameStr(att->attname);
		Datum		value = (Datum) 0;
		bool		isnull = false;

		if (att->attisdropped)
			continue;
		if (strcmp(name, "id") == 0)
			value = Int64GetDatum(nextval_internal(seqid, false));
		else if (strcmp(name, "revision") == 0)
		{
			isnull = !versioned;
			if (versioned)
				value = CStringGetTextDatum(schemamig_context.revision);
		}
		else if (strcmp(name, "direction") == 0)
			value = CStringGetTextDatum(versioned ?
										schemamig_direction_name(schemamig_context.direction) :
										"unversioned");
		else if (strcmp(name, "statement_no") == 0)
		{
			isnull = !(versioned && schemamig_context.statement_no > 0);
			value = Int32GetDatum(schemamig_context.statement_no);
		}
		else if (strcmp(name, "command_tag") == 0)
			value = CStringGetTextDatum(tag);
		else if (strcmp(name, "statement") == 0)
		{
			isnull = statement == NULL;
			if (!isnull)
				value = CStringGetTextDatum(statement);
		}
		else if (strcmp(name, "objects") == 0)
		{
			char	   *json = psprintf("[%s]", objects.data);

			value = DirectFunctionCall1(jsonb_in, CStringGetDatum(json));
		}
		else if (strcmp(name, "executed_at") == 0)
			value = TimestampTzGetDatum(GetCurrentTimestamp());
		else if (strcmp(name, "xid") == 0)
			value = FullTransactionIdGetDatum(GetTopFullTransactionId());
		else if (strcmp(name, "role") == 0)
			value = NameGetDatum(&role);
		else if (strcmp(name, "session_role") == 0)
			value = NameGetDatum(&session_role);
		else if (strcmp(name, "application_name") == 0)
			value = CStringGetTextDatum(application_name ? application_name : "");
		else if (strcmp(name, "client_addr") == 0)
			value = client_addr(&isnull);
		else if (strcmp(name, "backend_pid") == 0)
			value = Int32GetDatum(MyProcPid);
		else
			isnull = true;
		values[i] = value;
		nulls[i] = isnull;
	}
	tuple = heap_form_tuple(reldesc, values, nulls);
	CatalogTupleInsert(rel, tuple);
	table_close(rel, RowExclusiveLock);

	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(callcxt);
}

/* ---- statement text ---- */

void
schemamig_statement_capture_install(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = capture_ProcessUtility;
}

static void
capture_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					   bool readOnlyTree, ProcessUtilityContext context,
					   ParamListInfo params, QueryEnvironment *queryEnv,
					   DestReceiver *dest, QueryCompletion *qc)
{
	int			depth = ncaptured;

	if (captured == NULL)
	{
		maxcaptured = 16;
		captured = MemoryContextAlloc(TopMemoryContext, sizeof(CapturedStatement) * maxcaptured);
	}
	else if (ncaptured == maxcaptured)
	{
		maxcaptured *= 2;
		captured = repalloc(captured, sizeof(CapturedStatement) * maxcaptured);
	}
	captured[ncaptured].utility = pstmt->utilityStmt;
	captured[ncaptured].query = queryString;
	captured[ncaptured].location = pstmt->stmt_location;
	captured[ncaptured].length = pstmt->stmt_len;
	ncaptured++;

	PG_TRY();
	{
		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
	}
	PG_FINALLY();
	{
		ncaptured = depth;
	}
	PG_END_TRY();
}

/*
 * The text of the utility statement now running.  The innermost captured
 * statement is it when its tree is this parse tree or a copy of it
 * (standard_ProcessUtility copies read-only trees from the plan cache).
 */
char *
schemamig_client_statement_text(Node *parsetree)
{
	if (ncaptured > 0)
	{
		CapturedStatement *top = &captured[ncaptured - 1];

		if (top->query &&
			(top->utility == parsetree || equal(top->utility, parsetree)))
			return schemamig_statement_slice(top->query, top->location, top->length);
	}
	if (ActivePortal && ActivePortal->sourceText)
	{
		ListCell   *lc;

		foreach(lc, ActivePortal->stmts)
		{
			PlannedStmt *pstmt = lfirst_node(PlannedStmt, lc);

			if (pstmt->utilityStmt &&
				(pstmt->utilityStmt == parsetree || equal(pstmt->utilityStmt, parsetree)))
				return schemamig_statement_slice(ActivePortal->sourceText,
												 pstmt->stmt_location, pstmt->stmt_len);
		}
	}
	return debug_query_string ? pstrdup(debug_query_string) : NULL;
}
