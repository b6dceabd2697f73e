/*-------------------------------------------------------------------------
 *
 * migrate.c
 *		upgrade(), downgrade() and stamp(): moving the database along the
 *		revision graph.
 *
 * Everything runs in the caller's transaction, so one call is
 * all-or-nothing: if statement 3 of revision 5 fails, the error (with a
 * context line naming the revision and the statement) aborts the caller's
 * transaction and with it revisions 1 to 4, the applied rows and the
 * journal.  Each script is split by the server's parser (script.c) and its
 * statements run one by one through SPI with the caller's rights, inside a
 * migration context (context.c) that lets the guard admit the DDL and tells
 * the log the revision, direction, statement number and text.
 *
 * While migration SQL runs, lock_timeout is schemamig.lock_timeout, set in
 * a GUC nest level like a function's SET clause: a migration queued behind
 * a long transaction fails fast instead of making every later query wait
 * behind its ACCESS EXCLUSIVE lock request.
 *
 * Statements PostgreSQL only runs at top level (CREATE INDEX
 * CONCURRENTLY, ...) cannot run from a function; upgrade() and downgrade()
 * stop before the first revision that has one and say how to continue.
 *
 * IDENTIFICATION
 *		src/migrate.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_upgrade);
PG_FUNCTION_INFO_V1(schemamig_downgrade);
PG_FUNCTION_INFO_V1(schemamig_stamp);
PG_FUNCTION_INFO_V1(schemamig_upgrade_each);

static Datum migrate(FunctionCallInfo fcinfo, SchemamigDirection direction);
static void statement_error_callback(void *arg);
static bool upgrade_each_ready(SchemamigGraph *graph, SchemamigNode *node,
							   int done, int total);
static ErrorData *upgrade_each_apply(SchemamigNode *node, const char *target,
									 MemoryContext proccxt);


/*
 * lock_timeout = schemamig.lock_timeout in a new GUC nest level, like a
 * function's SET clause; the caller ends it with AtEOXact_GUC(true, level).
 */
int
schemamig_set_lock_timeout(void)
{
	int			nestlevel = NewGUCNestLevel();
	char		timeout[32];

	snprintf(timeout, sizeof(timeout), "%d", schemamig_lock_timeout);
	(void) set_config_option("lock_timeout", timeout, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}


Datum
schemamig_upgrade(PG_FUNCTION_ARGS)
{
	return migrate(fcinfo, DIRECTION_UPGRADE);
}

Datum
schemamig_downgrade(PG_FUNCTION_ARGS)
{
	return migrate(fcinfo, DIRECTION_DOWNGRADE);
}

static Datum
migrate(FunctionCallInfo fcinfo, SchemamigDirection direction)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		up = (direction == DIRECTION_UPGRADE);
	const char *fname = up ? "upgrade()" : "downgrade()";
	SchemamigGraph *graph;
	List	   *todo;
	ListCell   *lc;
	int			total;
	int			done = 0;
	int			save_nestlevel;

	schemamig_check_target(target);
	schemamig_check_can_migrate(fname);
	InitMaterializedSRF(fcinfo, 0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_lock_history();
	schemamig_bump_generation();
	graph = schemamig_graph_load();
	schemamig_progress_refuse(schemamig_progress_load(),
							  up ? DIRECTION_DOWNGRADE : DIRECTION_UPGRADE, fname);
	todo = up ? schemamig_graph_pending(graph, target) :
		schemamig_graph_to_unapply(graph, target);
	schemamig_alembic_refuse_revisions(graph, todo, fname);

	/* refuse the whole call before running anything */
	if (!up)
	{
		foreach(lc, todo)
		{
			SchemamigNode *node = &graph->nodes[lfirst_int(lc)];

			if (node->irreversible)
				ereport(ERROR,
						(errcode(ERRCODE_SCHEMAMIG_IRREVERSIBLE),
						 errmsg("revision \"%s\" is irreversible", node->revision),
						 errdetail("It has no downgrade script, and downgrade('%s') would have to unapply it.", target),
						 errhint("Downgrade to a target above it, or stamp() the database if its changes were undone by hand.")));
		}
	}

	total = list_length(todo);
	if (total == 0)
		ereport(NOTICE,
				(errmsg("nothing to %s", up ? "upgrade" : "downgrade")));
	else
		schemamig_drift_check(fname);	/* last: after the call's own refusals */

	save_nestlevel = schemamig_set_lock_timeout();

	foreach(lc, todo)
	{
		SchemamigNode *node = &graph->nodes[lfirst_int(lc)];
		TimestampTz started;
		int			statements;
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};
		Interval   *duration;

		if (up ? !node->upgrade_transactional : !node->downgrade_transactional)
		{
			ereport(WARNING,
					(errmsg("stopped before revision \"%s\": it cannot run inside a transaction block",
							node->revision),
					 errdetail("Its %s script has statements such as CREATE INDEX CONCURRENTLY that PostgreSQL runs only as top-level commands; %d of %d revisions were %s; left: %s.",
							   up ? "upgrade" : "downgrade", done, total,
							   up ? "applied" : "reverted",
							   schemamig_deploy_names(graph, todo, done)),
					 errhint("Run its statements with SELECT * FROM schemamig.%s() \\gexec in psql, or any client that runs each row of it at top level.",
							 up ? "steps" : "downgrade_steps")));
			break;
		}

		ereport(NOTICE,
				(errmsg("%s %s (%d/%d)", up ? "applying" : "reverting",
						node->revision, done + 1, total)));
		started = GetCurrentTimestamp();
		statements = schemamig_run_script(node->revision, direction, false, NULL, NULL);
		if (up)
			schemamig_mark_applied(node->revision, node->checksum);
		else
			schemamig_mark_unapplied(node->revision);
		schemamig_journal_insert(node->revision, up ? "upgrade" : "downgrade",
								 target, started);
		done++;

		duration = palloc0(sizeof(Interval));
		duration->time = GetCurrentTimestamp() - started;
		values[0] = CStringGetTextDatum(node->revision);
		values[1] = CStringGetTextDatum(up ? "upgrade" : "downgrade");
		values[2] = Int32GetDatum(statements);
		values[3] = IntervalPGetDatum(duration);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	AtEOXact_GUC(true, save_nestlevel);

	if (done > 0)
		schemamig_drift_after_migration();
	SPI_finish();
	return (Datum) 0;
}

/*
 * The transactional equivalent of a statement that must run at top level:
 * the same parse tree with CONCURRENTLY off, run directly (text cannot say
 * "this tree without one keyword").  It builds the same schema and takes
 * the locks of the plain form, which is what plan() and verify() report.
 * VACUUM and a database-wide CLUSTER change no schema and are skipped.
 */
static void
run_transactional_equivalent(SchemamigStatement *st)
{
	Node	   *tree = copyObject(st->parsetree);
	PlannedStmt *pstmt;
	ListCell   *lc;

	switch (nodeTag(tree))
	{
		case T_IndexStmt:
			((IndexStmt *) tree)->concurrent = false;
			break;
		case T_DropStmt:
			((DropStmt *) tree)->concurrent = false;
			break;
		case T_ReindexStmt:
			{
				ReindexStmt *stmt = (ReindexStmt *) tree;
				List	   *params = NIL;

				if (stmt->kind == REINDEX_OBJECT_SYSTEM || stmt->kind == REINDEX_OBJECT_DATABASE)
					return;
				foreach(lc, stmt->params)
					if (strcmp(lfirst_node(DefElem, lc)->defname, "concurrently") != 0)
					params = lappend(params, lfirst(lc));
				stmt->params = params;
				break;
			}
		case T_AlterTableStmt:
			foreach(lc, ((AlterTableStmt *) tree)->cmds)
			{
				AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

				if (cmd->subtype == AT_DetachPartition)
					((PartitionCmd *) cmd->def)->concurrent = false;
			}
			break;
		case T_VacuumStmt:
		case T_ClusterStmt:
			return;
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s has no transactional equivalent to try",
							CreateCommandName(st->parsetree)),
					 errdetail("plan() and verify() run every statement inside a transaction that is rolled back.")));
	}

	pstmt = makeNode(PlannedStmt);
	pstmt->commandType = CMD_UTILITY;
	pstmt->canSetTag = true;
	pstmt->utilityStmt = tree;
	pstmt->stmt_location = 0;
	pstmt->stmt_len = strlen(st->text);
	ProcessUtility(pstmt, st->text, false, PROCESS_UTILITY_QUERY, NULL, NULL,
				   None_Receiver, NULL);
	CommandCounterIncrement();
}

/*
 * Run one script statement by statement as the caller; returns the number
 * of statements.  With "equivalents" (plan, verify), statements that must
 * run at top level run in their transactional form.  after_statement, when
 * given, is called after each one (plan() reads the locks the statement
 * took).
 */
int
schemamig_run_script(const char *revision, SchemamigDirection direction,
					 bool equivalents,
					 void (*after_statement) (SchemamigStatement *st,
											  TimestampTz started, void *arg),
					 void *arg)
{
	char	   *script = schemamig_fetch_script(revision, direction);
	List	   *statements;
	ListCell   *lc;
	ErrorContextCallback errcallback;
	int			guc_nestlevel;

	statements = schemamig_script_parse(script, revision,
										direction == DIRECTION_UPGRADE ? "upgrade" : "downgrade");
	/* a script's SET and set_config() last until its end (pg_dump output) */
	guc_nestlevel = NewGUCNestLevel();
	schemamig_context_open(direction, revision);
	errcallback.callback = statement_error_callback;
	errcallback.arg = &schemamig_context;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;

	foreach(lc, statements)
	{
		SchemamigStatement *st = (SchemamigStatement *) lfirst(lc);
		TimestampTz started = GetCurrentTimestamp();
		int			ret;

		schemamig_context.statement_no = st->statement_no;
		schemamig_context.statement = st->text;
		schemamig_citus_statement();
		if (st->needs_top_level && equivalents)
		{
			run_transactional_equivalent(st);
			ret = 0;
		}
		else
			ret = SPI_execute(st->text, false, 0);
		if (ret < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("statement could not be executed: %s", SPI_result_code_string(ret))));
		if (after_statement)
			after_statement(st, started, arg);
	}

	error_context_stack = errcallback.previous;
	schemamig_context_close();
	schemamig_citus_statement();
	AtEOXact_GUC(false, guc_nestlevel);
	return list_length(statements);
}

static void
statement_error_callback(void *arg)
{
	SchemamigContext *ctx = (SchemamigContext *) arg;
	const char *text = ctx->statement ? ctx->statement : "";
	int			len = strlen(text);

	if (ctx->statement_no == 0)
		return;
	if (len > 200)
		errcontext("%s of revision \"%s\", statement %d: %.200s...",
				   schemamig_direction_name(ctx->direction), ctx->revision,
				   ctx->statement_no, text);
	else
		errcontext("%s of revision \"%s\", statement %d: %s",
				   schemamig_direction_name(ctx->direction), ctx->revision,
				   ctx->statement_no, text);
}

/*
 * stamp(target): make the applied set the target's closure without running
 * any SQL.  Unapplies newest first and applies parents first, so applied.seq
 * stays a topological order.
 */
Datum
schemamig_stamp(PG_FUNCTION_ARGS)
{
	char	   *target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SchemamigGraph *graph;
	bool	   *wanted;
	List	   *unapply;
	ListCell   *lc;
	const char *resolved = NULL;
	TimestampTz started = GetCurrentTimestamp();

	schemamig_check_target(target);
	schemamig_check_writable("stamp()");
	schemamig_check_not_nested("stamp()");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_lock_history();
	schemamig_bump_generation();
	graph = schemamig_graph_load();
	wanted = palloc0(sizeof(bool) * Max(graph->nnodes, 1));

	if (strcmp(target, "heads") == 0 || strcmp(target, "head") == 0)
	{
		List	   *heads = schemamig_graph_heads(graph);

		if (strcmp(target, "head") == 0)
			(void) schemamig_graph_pending(graph, "head");	/* refuses several heads */
		if (list_length(heads) == 1)
			resolved = graph->nodes[linitial_int(heads)].revision;
		for (int i = 0; i < graph->nnodes; i++)
			wanted[i] = true;
	}
	else if (strcmp(target, "base") != 0)
	{
		int			node;

		if (target[0] == '+' || target[0] == '-' || strcmp(target, "current") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_UNKNOWN_REVISION),
					 errmsg("invalid stamp target \"%s\"", target),
					 errhint("A stamp target is a revision id, \"heads\", \"head\" or \"base\".")));
		node = schemamig_graph_require(graph, target);
		wanted = schemamig_graph_ancestors(graph, node);
		wanted[node] = true;
		resolved = graph->nodes[node].revision;
	}

	{
		List	   *changed = NIL;

		for (int i = 0; i < graph->nnodes; i++)
			if (wanted[i] != graph->nodes[i].applied)
				changed = lappend_int(changed, i);
		schemamig_alembic_refuse_revisions(graph, changed, "stamp()");
	}
	schemamig_drift_check("stamp()");
	unapply = schemamig_graph_to_unapply(graph, "base");
	foreach(lc, unapply)
		if (!wanted[lfirst_int(lc)])
		schemamig_mark_unapplied(graph->nodes[lfirst_int(lc)].revision);
	for (int k = 0; k < graph->nnodes; k++)
	{
		SchemamigNode *node = &graph->nodes[graph->topo[k]];

		if (wanted[graph->topo[k]] && !node->applied)
		{
			schemamig_mark_applied(node->revision, node->checksum);
			schemamig_stamp_check_objects(node->revision);
		}
	}
	/* stamp says what is applied: half-done steps are over either way */
	if (schemamig_owner_execute("DELETE FROM schemamig.progress", 0, NULL, NULL, NULL,
								false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not write schemamig.progress");
	schemamig_journal_insert(resolved, "stamp", target, started);
	schemamig_drift_after_migration();
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * upgrade_each(), under the history lock in a new transaction: is the
 * revision still pending with all its parents applied?  Another session
 * may have applied it (a NOTICE, false) or reverted a parent (SM004).
 */
static bool
upgrade_each_ready(SchemamigGraph *graph, SchemamigNode *node, int done, int total)
{
	Oid			types[2] = {TEXTOID, TEXTARRAYOID};
	Datum		values[2];
	List	   *parents = NIL;
	bool		isnull;
	bool		pending;
	int64		parents_applied;
	int			ret;

	for (int j = 0; j < node->nparents; j++)
		parents = lappend_int(parents, node->parents[j]);
	values[0] = CStringGetTextDatum(node->revision);
	values[1] = schemamig_graph_revision_array(graph, parents);
	ret = schemamig_owner_execute("SELECT NOT EXISTS (SELECT FROM schemamig.applied "
								  "WHERE revision OPERATOR(pg_catalog.=) $1), "
								  "(SELECT pg_catalog.count(*) FROM schemamig.applied "
								  "WHERE revision OPERATOR(pg_catalog.=) ANY ($2))",
								  2, types, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read schemamig.applied: %s", SPI_result_code_string(ret));
	pending = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	parents_applied = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	if (!pending)
	{
		ereport(NOTICE,
				(errmsg("revision \"%s\" was applied by another session", node->revision)));
		return false;
	}
	if (parents_applied != node->nparents)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
				 errmsg("a parent of revision \"%s\" was reverted by another session",
						node->revision),
				 errdetail("%d of %d revisions were applied.", done, total)));
	return true;
}

/*
 * upgrade_each(): apply one revision in a subtransaction; its error, copied
 * into proccxt (SPI's procedure context, which outlives the commits), or
 * NULL
 */
static ErrorData *
upgrade_each_apply(SchemamigNode *node, const char *target, MemoryContext proccxt)
{
	ErrorData  *volatile failure = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(proccxt);
	PG_TRY();
	{
		TimestampTz started = GetCurrentTimestamp();
		int			save_nestlevel;

		schemamig_bump_generation();
		save_nestlevel = schemamig_set_lock_timeout();
		(void) schemamig_run_script(node->revision, DIRECTION_UPGRADE, false, NULL, NULL);
		AtEOXact_GUC(true, save_nestlevel);
		schemamig_mark_applied(node->revision, node->checksum);
		schemamig_journal_insert(node->revision, "upgrade", target, started);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(proccxt);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(proccxt);
		failure = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(proccxt);
	}
	PG_END_TRY();
	return failure;
}

/*
 * CALL upgrade_each(target): the pending transactional revisions, one
 * transaction each.  One transaction can only lock about
 * max_locks_per_transaction * max_connections objects, so replaying a long
 * history with one upgrade() fails with "out of shared memory"; committing
 * after every revision never holds more than one revision's locks.
 *
 * The order is computed once.  Before each revision the procedure takes
 * the history lock again and checks with one indexed query that the
 * revision is still pending and its parents applied: a concurrent
 * upgrade() that got there first makes it skip the revision, never apply
 * it twice, and the cost per revision does not grow with the history.
 * Each revision runs in a subtransaction so that, when one fails, the
 * revisions before it stay committed with a matching fingerprint (else
 * status() would report drift) before the error is raised again.
 */
Datum
schemamig_upgrade_each(PG_FUNCTION_ARGS)
{
	char	   *target = PG_ARGISNULL(0) ? "heads" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		atomic = !(fcinfo->context && IsA(fcinfo->context, CallContext) &&
						   !((CallContext *) fcinfo->context)->atomic);
	SchemamigGraph *graph;
	List	   *todo;
	ListCell   *lc;
	MemoryContext proccxt;
	ErrorData  *failure = NULL;
	int			total;
	int			done = 0;
	int			position = 0;

	if (atomic)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_TERMINATION),
				 errmsg("upgrade_each() must be called with CALL outside a transaction block"),
				 errdetail("It commits after every revision."),
				 errhint("Run CALL schemamig.upgrade_each(); in autocommit mode, or upgrade() to apply everything in one transaction.")));
	schemamig_check_target(target);
	schemamig_check_can_migrate("upgrade_each()");

	if (SPI_connect_ext(SPI_OPT_NONATOMIC) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* SPI's procedure context outlives the commits */
	proccxt = CurrentMemoryContext;
	schemamig_lock_history();
	graph = schemamig_graph_load();
	schemamig_progress_refuse(schemamig_progress_load(), DIRECTION_DOWNGRADE,
							  "upgrade_each()");
	todo = schemamig_graph_pending(graph, target);
	schemamig_alembic_refuse_revisions(graph, todo, "upgrade_each()");
	total = list_length(todo);
	if (total == 0)
		ereport(NOTICE, (errmsg("nothing to upgrade")));
	else
		schemamig_drift_check("upgrade_each()");
	SPI_commit();

	foreach(lc, todo)
	{
		SchemamigNode *node = &graph->nodes[lfirst_int(lc)];

		position++;
		if (!node->upgrade_transactional)
		{
			ereport(WARNING,
					(errmsg("stopped before revision \"%s\": it cannot run inside a transaction block",
							node->revision),
					 errdetail("%d of %d revisions were applied; left: %s.", done, total,
							   schemamig_deploy_names(graph, todo, position - 1)),
					 errhint("Run its statements with SELECT * FROM schemamig.steps() \\gexec in psql, or any client that runs each row of it at top level.")));
			break;
		}

		EnsurePortalSnapshotExists();
		schemamig_lock_history();
		if (!upgrade_each_ready(graph, node, done, total))
		{
			SPI_commit();
			continue;
		}
		ereport(NOTICE,
				(errmsg("applying %s (%d/%d)", node->revision, position, total)));
		failure = upgrade_each_apply(node, target, proccxt);
		if (failure)
			break;
		done++;
		SPI_commit();
	}

	if (failure)
	{
		/* what was applied stays applied, with its fingerprint */
		if (done > 0)
			schemamig_drift_after_migration();
		SPI_commit();
		SPI_finish();
		ReThrowError(failure);
	}
	if (done > 0)
	{
		EnsurePortalSnapshotExists();
		schemamig_drift_after_migration();
		SPI_commit();
	}
	SPI_finish();
	PG_RETURN_VOID();
}
