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
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_upgrade);
PG_FUNCTION_INFO_V1(schemamig_downgrade);
PG_FUNCTION_INFO_V1(schemamig_stamp);

static Datum migrate(FunctionCallInfo fcinfo, SchemamigDirection direction);
static void statement_error_callback(void *arg);

/*
 * The checks every function that runs migration SQL makes first.
 */
void
schemamig_check_can_migrate(const char *function)
{
	schemamig_check_writable(function);
	schemamig_check_not_nested(function);
	if (schemamig_context_active())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot run while revision \"%s\" is open", function,
						schemamig_context.revision),
				 errhint("Call end_revision() or commit first.")));
}

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

void
schemamig_check_not_nested(const char *function)
{
	if (schemamig_context.direction == DIRECTION_UPGRADE ||
		schemamig_context.direction == DIRECTION_DOWNGRADE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot be called from inside a migration", function),
				 errdetail("Revision \"%s\" is being applied.", schemamig_context.revision)));
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

	schemamig_check_can_migrate(fname);
	InitMaterializedSRF(fcinfo, 0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_lock_history();
	schemamig_bump_generation();
	graph = schemamig_graph_load();
	todo = up ? schemamig_graph_pending(graph, target) :
		schemamig_graph_to_unapply(graph, target);

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
			ereport(NOTICE,
					(errmsg("stopped before revision \"%s\": it cannot run inside a transaction block",
							node->revision),
					 errdetail("Its %s script has statements such as CREATE INDEX CONCURRENTLY that PostgreSQL runs only as top-level commands; %d of %d revisions were %s.",
							   up ? "upgrade" : "downgrade", done, total,
							   up ? "applied" : "reverted"),
					 errhint("Commit, then run its statements at top level: see \"Migrations that cannot run in a transaction\" in the README.")));
			break;
		}

		ereport(NOTICE,
				(errmsg("%s %s (%d/%d)", up ? "applying" : "reverting",
						node->revision, done + 1, total)));
		started = GetCurrentTimestamp();
		statements = schemamig_run_script(node->revision, direction, NULL, NULL);
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
		schemamig_drift_record();
	SPI_finish();
	return (Datum) 0;
}

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

/*
 * Run one script statement by statement as the caller; returns the number
 * of statements.  after_statement, when given, is called after each one
 * (plan() reads the locks the statement took).
 */
int
schemamig_run_script(const char *revision, SchemamigDirection direction,
					 void (*after_statement) (SchemamigStatement *st,
											  TimestampTz started, void *arg),
					 void *arg)
{
	char	   *script = schemamig_fetch_script(revision, direction);
	List	   *statements;
	ListCell   *lc;
	ErrorContextCallback errcallback;

	statements = schemamig_script_parse(script, revision,
										direction == DIRECTION_UPGRADE ? "upgrade" : "downgrade");
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

	unapply = schemamig_graph_to_unapply(graph, "base");
	foreach(lc, unapply)
		if (!wanted[lfirst_int(lc)])
			schemamig_mark_unapplied(graph->nodes[lfirst_int(lc)].revision);
	for (int k = 0; k < graph->nnodes; k++)
	{
		SchemamigNode *node = &graph->nodes[graph->topo[k]];

		if (wanted[graph->topo[k]] && !node->applied)
			schemamig_mark_applied(node->revision, node->checksum);
	}
	schemamig_journal_insert(resolved, "stamp", target, started);
	schemamig_drift_record();
	SPI_finish();
	PG_RETURN_VOID();
}
