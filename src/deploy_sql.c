/*-------------------------------------------------------------------------
 *
 * deploy_sql.c
 *		The SQL side of deploys a pipeline can trust: pending(), assert_at()
 *		and run_step().
 *
 * pending(target) lists what upgrade(target) would apply, in that order;
 * assert_at(target) fails with SM009 when that list is not empty, so one
 * extra line makes a "psql -v ON_ERROR_STOP=1" pipeline exit non-zero
 * whenever a deploy stopped short (upgrade() stops before a
 * non-transactional revision, by design).
 *
 * run_step(revision, n) is the step protocol's row for a statement of a
 * non-transactional revision that can itself run inside a transaction
 * (DML, CREATE TABLE AS, CREATE MATERIALIZED VIEW ... AS, ordinary DDL):
 * schemamig runs it, in the same transaction that records it done, so it
 * runs exactly once however often the rows of steps() are replayed, and
 * it needs no admission by the step hook.  Statements that need the top
 * level keep the begin_step() protocol (steps.c).  run_step() takes the
 * history lock like begin_step()'s bookkeeping; it never waits for the
 * step lock (a CREATE INDEX CONCURRENTLY in another session waits for old
 * snapshots, so waiting for it here could deadlock).
 *
 * IDENTIFICATION
 *		src/deploy_sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/tuplestore.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_pending);
PG_FUNCTION_INFO_V1(schemamig_assert_at);
PG_FUNCTION_INFO_V1(schemamig_run_step);


static List *
pending_of(const char *target, SchemamigGraph **graph)
{
	if (target[0] == '+' || target[0] == '-')
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_UNKNOWN_REVISION),
				 errmsg("invalid target \"%s\"", target),
				 errhint("Give \"heads\", \"head\" or a revision id: a relative target moves with the database.")));
	*graph = schemamig_graph_load();
	return schemamig_graph_pending(*graph, target);
}

/* pending(target text DEFAULT 'heads') -> SETOF text */
Datum
schemamig_pending(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SchemamigGraph *graph;
	List	   *todo;
	ListCell   *lc;

	schemamig_check_target(target);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	todo = pending_of(target, &graph);
	foreach(lc, todo)
	{
		Datum		value = CStringGetTextDatum(graph->nodes[lfirst_int(lc)].revision);
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	SPI_finish();
	return (Datum) 0;
}

/* assert_at(target text DEFAULT 'heads') -> void, or SM009 */
Datum
schemamig_assert_at(PG_FUNCTION_ARGS)
{
	char	   *target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SchemamigGraph *graph;
	List	   *todo;
	List	   *progress;
	SchemamigProgress *p = NULL;
	ListCell   *lc;

	schemamig_check_target(target);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	todo = pending_of(target, &graph);
	progress = schemamig_progress_load();
	foreach(lc, todo)
	{
		p = schemamig_progress_find(progress, graph->nodes[lfirst_int(lc)].revision);
		if (p)
			break;
	}
	if (todo != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_TARGET_NOT_REACHED),
				 errmsg("database is not at target \"%s\"", target),
				 errdetail_plural("%d revision is pending: %s.%s",
								  "%d revisions are pending: %s.%s",
								  list_length(todo), list_length(todo),
								  schemamig_deploy_names(graph, todo, 0),
								  p ? psprintf(" Revision \"%s\" is partially applied (%d of %d statements).",
											   p->revision, p->done, p->statements) : ""),
				 errhint("Run \"schemamig deploy\", or SELECT * FROM schemamig.steps('%s') \\gexec in psql.",
						 target)));
	SPI_finish();
	PG_RETURN_VOID();
}

static void
run_step_error_callback(void *arg)
{
	SchemamigStatement *st = (SchemamigStatement *) arg;

	errcontext("%s of revision \"%s\", statement %d: %.200s%s",
			   schemamig_direction_name(schemamig_context.direction),
			   schemamig_context.revision, st->statement_no, st->text,
			   strlen(st->text) > 200 ? "..." : "");
}

/*
 * run_step(revision text, statement_no integer, direction text DEFAULT
 * 'upgrade') -> void
 */
Datum
schemamig_run_step(PG_FUNCTION_ARGS)
{
	char	   *revision;
	int			n;
	char	   *dirname;
	SchemamigDirection direction;
	bool		up;
	SchemamigGraph *graph;
	SchemamigNode *node;
	SchemamigProgress *p;
	SchemamigStatement *st;
	int			total;
	int			save_nestlevel;
	int			ret;
	Oid			types[4] = {TEXTOID, TEXTOID, INT4OID, INT4OID};
	Datum		values[4];
	ErrorContextCallback errcallback;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_INVALID_SCRIPT),
				 errmsg("run_step() arguments must not be null")));
	revision = text_to_cstring(PG_GETARG_TEXT_PP(0));
	n = PG_GETARG_INT32(1);
	dirname = text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (strcmp(dirname, "upgrade") == 0)
		direction = DIRECTION_UPGRADE;
	else if (strcmp(dirname, "downgrade") == 0)
		direction = DIRECTION_DOWNGRADE;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid step direction \"%s\"", dirname),
				 errhint("The direction is \"upgrade\" or \"downgrade\".")));
	up = direction == DIRECTION_UPGRADE;
	schemamig_check_can_migrate("run_step()");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_lock_history();
	schemamig_bump_generation();
	graph = schemamig_graph_load();
	node = &graph->nodes[schemamig_graph_require(graph, revision)];
	p = schemamig_progress_find(schemamig_progress_load(), revision);

	schemamig_step_check_steppable(revision, node, p, direction);
	st = schemamig_script_statement(revision, direction, n, &total);
	if (st == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_UNKNOWN_REVISION),
				 errmsg("revision \"%s\" has no %s statement %d", revision, dirname, n),
				 errdetail_plural("Its %s script has %d statement.",
								  "Its %s script has %d statements.",
								  total, dirname, total)));
	if (st->needs_top_level)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("statement %d of revision \"%s\" must run at top level", n, revision),
				 errhint("Run SELECT schemamig.begin_step('%s', %d%s) and then the statement itself.",
						 revision, n, up ? "" : ", 'downgrade'")));

	/* done already, by this or another client: it runs once */
	if ((p != NULL && n <= p->done) ||
		(p == NULL && (up ? node->applied : !node->applied)))
	{
		ereport(NOTICE,
				(errmsg("step skipped: statement %d of revision \"%s\" has already run", n, revision)));
		SPI_finish();
		PG_RETURN_VOID();
	}
	if (p == NULL)
	{
		for (int j = 0; up && j < node->nparents; j++)
			if (!graph->nodes[node->parents[j]].applied)
				ereport(ERROR,
						(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
						 errmsg("parent \"%s\" of revision \"%s\" is not applied",
								graph->nodes[node->parents[j]].revision, revision),
						 errhint("Run the rows of steps() in order.")));
		for (int j = 0; !up && j < node->nchildren; j++)
			if (graph->nodes[node->children[j]].applied)
				ereport(ERROR,
						(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
						 errmsg("child \"%s\" of revision \"%s\" is still applied",
								graph->nodes[node->children[j]].revision, revision),
						 errhint("Run the rows of downgrade_steps() in order.")));
	}
	if (n != (p ? p->done : 0) + 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("statement %d of revision \"%s\" must run first",
						(p ? p->done : 0) + 1, revision),
				 errhint("Run the rows of %s in order.", up ? "steps()" : "downgrade_steps()")));

	/* run it as the caller, logged under the revision and statement number */
	save_nestlevel = schemamig_set_lock_timeout();
	errcallback.callback = run_step_error_callback;
	errcallback.arg = st;
	errcallback.previous = error_context_stack;
	error_context_stack = &errcallback;
	schemamig_context_open(direction, revision);
	schemamig_context.statement_no = n;
	schemamig_context.statement = st->text;
	schemamig_citus_statement();
	ret = SPI_execute(st->text, false, 0);
	if (ret < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("statement could not be executed: %s", SPI_result_code_string(ret))));
	schemamig_context_close();
	schemamig_citus_statement();
	error_context_stack = errcallback.previous;
	/* the statement's settings end with it, as in upgrade() */
	AtEOXact_GUC(false, save_nestlevel);

	values[0] = CStringGetTextDatum(revision);
	values[1] = CStringGetTextDatum(dirname);
	values[2] = Int32GetDatum(total);
	values[3] = Int32GetDatum(n);
	ret = schemamig_owner_execute("INSERT INTO schemamig.progress AS p "
								  "(revision, direction, statements, done) "
								  "VALUES ($1, $2, $3, $4) "
								  "ON CONFLICT (revision) DO UPDATE SET done = $4, "
								  "direction = $2, statements = $3, running = NULL, "
								  "running_pid = NULL, updated_at = pg_catalog.now()",
								  4, types, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not write schemamig.progress: %s", SPI_result_code_string(ret));
	SPI_finish();
	PG_RETURN_VOID();
}

/* ---- repair of an applied revision whose statements did not change ---- */

/* the first statement of two parsed scripts that differs, 0 when none */
static int
first_difference(List *old, List *new)
{
	int			n = Max(list_length(old), list_length(new));

	for (int k = 0; k < n; k++)
	{
		if (k >= list_length(old) || k >= list_length(new))
			return k + 1;
		if (!equal(((SchemamigStatement *) list_nth(old, k))->parsetree,
				   ((SchemamigStatement *) list_nth(new, k))->parsetree))
			return k + 1;
	}
	return 0;
}

static const char *
statement_or_end(List *statements, int n)
{
	if (n > list_length(statements))
		return "(no such statement)";
	return psprintf("\"%.64s%s\"", ((SchemamigStatement *) list_nth(statements, n - 1))->text,
					strlen(((SchemamigStatement *) list_nth(statements, n - 1))->text) > 64 ? "..." : "");
}

/*
 * register() of an applied revision with other text: when both scripts
 * parse to the same statements (raw parse trees compared with equal(),
 * which ignores locations: whitespace, comments, keyword case), the new
 * text replaces the old, the applied checksum follows, and the journal
 * records a 'repair'; returns true.  Otherwise *difference says which
 * statement differs first, for the SM002 error.
 */
bool
schemamig_repair(const char *revision, const char *upgrade, List *up_statements,
				 const char *downgrade, List *down_statements,
				 const char *checksum, char **difference)
{
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	Oid			applied_types[2] = {TEXTOID, TEXTOID};
	Datum		applied_values[2];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	char	   *old_up;
	char	   *old_down;
	bool		isnull;
	List	   *old_statements;
	int			k;
	int			ret;

	values[0] = CStringGetTextDatum(revision);
	ret = schemamig_owner_execute("SELECT upgrade_sql, downgrade_sql FROM schemamig.revision "
								  "WHERE revision OPERATOR(pg_catalog.=) $1",
								  1, types, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the scripts of revision \"%s\"", revision);
	old_up = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	old_down = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	(void) SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	if (isnull)
		old_down = NULL;

	old_statements = schemamig_script_parse(old_up ? old_up : "", revision, "upgrade");
	k = first_difference(old_statements, up_statements);
	if (k > 0)
	{
		*difference = psprintf("Upgrade statement %d differs: registered %s, new %s.", k,
							   statement_or_end(old_statements, k),
							   statement_or_end(up_statements, k));
		return false;
	}
	if ((old_down == NULL) != (downgrade == NULL))
	{
		*difference = pstrdup(old_down == NULL ?
							  "The registered revision has no downgrade script; the new one has." :
							  "The registered revision has a downgrade script; the new one has none.");
		return false;
	}
	if (downgrade != NULL)
	{
		old_statements = schemamig_script_parse(old_down, revision, "downgrade");
		k = first_difference(old_statements, down_statements);
		if (k > 0)
		{
			*difference = psprintf("Downgrade statement %d differs: registered %s, new %s.", k,
								   statement_or_end(old_statements, k),
								   statement_or_end(down_statements, k));
			return false;
		}
	}

	values[1] = CStringGetTextDatum(upgrade);
	values[2] = downgrade ? CStringGetTextDatum(downgrade) : (Datum) 0;
	nulls[2] = downgrade ? ' ' : 'n';
	values[3] = CStringGetTextDatum(checksum);
	ret = schemamig_owner_execute("UPDATE schemamig.revision SET upgrade_sql = $2, "
								  "downgrade_sql = $3, checksum = $4 "
								  "WHERE revision OPERATOR(pg_catalog.=) $1",
								  4, types, values, nulls, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not update schemamig.revision: %s", SPI_result_code_string(ret));
	applied_values[0] = values[0];
	applied_values[1] = values[3];
	ret = schemamig_owner_execute("UPDATE schemamig.applied SET checksum = $2 "
								  "WHERE revision OPERATOR(pg_catalog.=) $1",
								  2, applied_types, applied_values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "could not update schemamig.applied: %s", SPI_result_code_string(ret));
	schemamig_journal_insert(revision, "repair", revision, GetCurrentTimestamp());
	ereport(NOTICE,
			(errmsg("applied revision \"%s\" repaired: its new text has the same statements", revision),
			 errdetail("Only whitespace, comments or the spelling of keywords changed; the journal records a repair.")));
	return true;
}
