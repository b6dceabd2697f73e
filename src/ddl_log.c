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
 * The row is written as the owner of schemamig's tables (see catalog.c)
 * with one prepared, kept plan: the role running the DDL needs no privilege
 * on the log.  Values describing the session (current_user, session_user,
 * application_name) are taken before switching user.
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

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/plannodes.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"

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
	StringInfo	objects;		/* elements of a jsonb array, comma-separated */
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
static SPIPlanPtr insert_plan = NULL;

static void capture_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
								   bool readOnlyTree, ProcessUtilityContext context,
								   ParamListInfo params, QueryEnvironment *queryEnv,
								   DestReceiver *dest, QueryCompletion *qc);
static void add_objects(const char *sql);
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
	frame->objects = makeStringInfo();
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
	PG_RETURN_NULL();
}

Datum
schemamig_log_sql_drop(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "schemamig_log_sql_drop: not fired by event trigger manager");
	/* DROP INDEX CONCURRENTLY committed the frame away; start a new one */
	if (nframes == 0 && schemamig_step_running())
		schemamig_ddl_log_begin(((EventTriggerData *) fcinfo->context)->parsetree,
								VERDICT_VERSIONED);
	if (nframes > 0 && frames[nframes - 1].verdict != VERDICT_SKIP)
		add_objects("SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
					"'type', object_type, 'identity', object_identity, "
					"'schema', schema_name, 'action', 'drop'))::text "
					"FROM pg_catalog.pg_event_trigger_dropped_objects() "
					"WHERE original OR normal");
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

/* Run a query returning one jsonb array as text; keep it in the frame */
static void
add_objects(const char *sql)
{
	DdlFrame   *frame = &frames[nframes - 1];
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

		if (frame->objects->len > 0)
			appendStringInfoChar(frame->objects, ',');
		appendBinaryStringInfo(frame->objects, objects + 1, strlen(objects) - 2);
		MemoryContextSwitchTo(oldcxt);
	}
	SPI_finish();
}

static void
write_row(DdlFrame *frame, const char *tag)
{
	MemoryContext callcxt = AllocSetContextCreate(CurrentMemoryContext,
												  "schemamig ddl_log",
												  ALLOCSET_SMALL_SIZES);
	MemoryContext oldcxt = MemoryContextSwitchTo(callcxt);
	SchemamigOwnerContext octx;
	Datum		values[10];
	char		nulls[10];
	NameData	role;
	NameData	session_role;
	StringInfoData extra;
	bool		versioned = frame->verdict == VERDICT_VERSIONED;
	int			ret;

	memset(nulls, ' ', sizeof(nulls));
	namestrcpy(&role, GetUserNameFromId(GetUserId(), false));
	namestrcpy(&session_role, GetUserNameFromId(GetSessionUserId(), false));

	initStringInfo(&extra);
	appendStringInfo(&extra, "[%s]",
					 frame->objects ? frame->objects->data : "");

	values[0] = versioned ? CStringGetTextDatum(schemamig_context.revision) : (Datum) 0;
	nulls[0] = versioned ? ' ' : 'n';
	values[1] = CStringGetTextDatum(versioned ?
									schemamig_direction_name(schemamig_context.direction) :
									"unversioned");
	values[2] = Int32GetDatum(schemamig_context.statement_no);
	nulls[2] = (versioned && schemamig_context.statement_no > 0) ? ' ' : 'n';
	values[3] = CStringGetTextDatum(tag);
	if (frame->statement == NULL && versioned && schemamig_context.statement)
		frame->statement = pstrdup(schemamig_context.statement);
	values[4] = frame->statement ? CStringGetTextDatum(frame->statement) : (Datum) 0;
	nulls[4] = frame->statement ? ' ' : 'n';
	values[5] = CStringGetTextDatum(extra.data);
	values[6] = NameGetDatum(&role);
	values[7] = NameGetDatum(&session_role);
	values[8] = CStringGetTextDatum(application_name ? application_name : "");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_owner_enter(&octx);
	if (insert_plan == NULL)
	{
		Oid			types[9] = {TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID,
		TEXTOID, NAMEOID, NAMEOID, TEXTOID};
		SPIPlanPtr	plan;

		plan = SPI_prepare("INSERT INTO schemamig.ddl_log (revision, direction, "
						   "statement_no, command_tag, statement, objects, xid, role, "
						   "session_role, application_name, client_addr, backend_pid) "
						   "SELECT $1, $2, $3, $4, $5, "
						   SCHEMAMIG_DDL_COMMANDS_JSON
						   " OPERATOR(pg_catalog.||) $6::pg_catalog.jsonb, "
						   "pg_catalog.pg_current_xact_id(), $7, $8, $9, "
						   "pg_catalog.inet_client_addr(), pg_catalog.pg_backend_pid()",
						   9, types);
		if (plan == NULL)
			elog(ERROR, "could not prepare the DDL log insert: %s",
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "could not keep the DDL log insert plan");
		insert_plan = plan;
	}
	ret = SPI_execute_plan(insert_plan, values, nulls, false, 0);
	schemamig_owner_leave(&octx);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not insert into schemamig.ddl_log: %s", SPI_result_code_string(ret));
	SPI_finish();

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
