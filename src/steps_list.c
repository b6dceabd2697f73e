/*-------------------------------------------------------------------------
 *
 * steps_list.c
 *		steps() and downgrade_steps(): the top-level statements that take
 *		the database to a target, for psql's \gexec or any driver.
 *
 * Runs of transactional revisions become CALL upgrade_each() rows (one
 * transaction per revision) and downgrade() calls of at most STEPS_CHUNK
 * revisions each, so replaying a long history never needs one transaction
 * that locks thousands of new tables; each row names a revision id, never
 * a relative target, so running a row twice (two clients) never moves
 * further than intended.  A non-transactional
 * revision becomes begin_step / statement / finish_step rows from its first
 * statement not yet done, preceded by the repair of what an interrupted
 * build left behind (progress.c).
 *
 * IDENTIFICATION
 *		src/steps_list.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_steps);
PG_FUNCTION_INFO_V1(schemamig_downgrade_steps);

/*
 * Transactional revisions per downgrade() row of downgrade_steps(): a long
 * replay never needs one transaction that locks thousands of tables.
 */
#define STEPS_CHUNK			50

static Datum steps_srf(FunctionCallInfo fcinfo, bool up);
static void emit(ReturnSetInfo *rsinfo, const char *row);

Datum
schemamig_steps(PG_FUNCTION_ARGS)
{
	return steps_srf(fcinfo, true);
}

Datum
schemamig_downgrade_steps(PG_FUNCTION_ARGS)
{
	return steps_srf(fcinfo, false);
}

static void
emit(ReturnSetInfo *rsinfo, const char *row)
{
	Datum		value = CStringGetTextDatum(row);
	bool		isnull = false;

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
}

static void
emit_revision_steps(ReturnSetInfo *rsinfo, SchemamigNode *node,
					SchemamigProgress *p, bool up)
{
	SchemamigDirection direction = up ? DIRECTION_UPGRADE : DIRECTION_DOWNGRADE;
	const char *dirarg = up ? "" : ", 'downgrade'";
	char	   *id = quote_literal_cstr(node->revision);
	List	   *statements;
	int			first = p ? p->done + 1 : 1;
	char	   *leftover = p ? schemamig_progress_leftover(p) : NULL;

	statements = schemamig_script_parse(schemamig_fetch_script(node->revision, direction),
										node->revision, up ? "upgrade" : "downgrade");
	if (leftover)
	{
		emit(rsinfo, psprintf("SELECT schemamig.begin_step(%s, %d%s)", id, first, dirarg));
		emit(rsinfo, psprintf("DROP INDEX CONCURRENTLY %s", leftover));
	}
	for (int n = first; n <= list_length(statements); n++)
	{
		SchemamigStatement *st = list_nth(statements, n - 1);

		/* schemamig runs what can run in a transaction, recorded with it */
		if (!st->needs_top_level)
		{
			emit(rsinfo, psprintf("SELECT schemamig.run_step(%s, %d%s)", id, n, dirarg));
			continue;
		}
		emit(rsinfo, psprintf("SELECT schemamig.begin_step(%s, %d%s)", id, n, dirarg));
		emit(rsinfo, st->text);
	}
	emit(rsinfo, psprintf("SELECT schemamig.finish_step(%s)", id));
}

/*
 * A run of transactional revisions: CALL upgrade_each() of each revision
 * of the run that has no child in the run, which applies exactly the run,
 * whatever the branches, committing after every revision.  One transaction
 * per revision is what makes a lock-safety split work (ADD CONSTRAINT ...
 * NOT VALID in one revision, VALIDATE in the next: the first one's ACCESS
 * EXCLUSIVE lock is released before VALIDATE runs; in one transaction it
 * stalled writers for the whole VALIDATE), and it never needs one
 * transaction for a long history.  One row per run rather than an
 * upgrade() row per revision: each upgrade() call stores the schema
 * fingerprint, which made a 3,000-revision replay quadratic.
 */
static void
emit_upgrade_run(ReturnSetInfo *rsinfo, SchemamigGraph *graph, List *run)
{
	bool	   *in_run = palloc0(sizeof(bool) * Max(graph->nnodes, 1));

	for (int k = 0; k < list_length(run); k++)
		in_run[list_nth_int(run, k)] = true;
	for (int k = 0; k < list_length(run); k++)
	{
		SchemamigNode *node = &graph->nodes[list_nth_int(run, k)];
		bool		leaf = true;

		for (int c = 0; c < node->nchildren && leaf; c++)
			if (in_run[node->children[c]])
				leaf = false;
		if (leaf)
			emit(rsinfo, psprintf("CALL schemamig.upgrade_each(%s)",
								  quote_literal_cstr(node->revision)));
	}
	pfree(in_run);
}

/*
 * A run of transactional revisions to revert, newest first.  downgrade(p)
 * reverts exactly a chunk when p is the only parent of the chunk's oldest
 * revision and nothing else applied descends from p ("base" when nothing
 * else stays applied); otherwise the whole run is one downgrade() to the
 * resolved target, which stops by itself before the next revision that
 * needs steps.
 */
static void
emit_downgrade_run(ReturnSetInfo *rsinfo, SchemamigGraph *graph, List *run,
				   bool *applied, const char *target)
{
	int			start = 0;

	while (start < list_length(run))
	{
		int			end = Min(start + STEPS_CHUNK, list_length(run));
		SchemamigNode *oldest = &graph->nodes[list_nth_int(run, end - 1)];
		char	   *chunk_target = NULL;
		int			remaining = 0;

		for (int k = start; k < end; k++)
			applied[list_nth_int(run, k)] = false;
		for (int i = 0; i < graph->nnodes; i++)
			if (applied[i])
				remaining++;
		if (remaining == 0)
			chunk_target = "base";
		else if (oldest->nparents == 1)
		{
			int			parent = oldest->parents[0];
			bool	   *desc = schemamig_graph_descendants(graph, parent);
			bool		exact = applied[parent];

			for (int i = 0; i < graph->nnodes && exact; i++)
				if (desc[i] && applied[i])
					exact = false;
			if (exact)
				chunk_target = graph->nodes[parent].revision;
		}
		if (chunk_target == NULL)
		{
			if (target == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("downgrade_steps() cannot express this relative target across branches"),
						 errhint("Give a revision id or \"base\" as the target.")));
			emit(rsinfo, psprintf("SELECT schemamig.downgrade(%s)", quote_literal_cstr(target)));
			for (int k = end; k < list_length(run); k++)
				applied[list_nth_int(run, k)] = false;
			return;
		}
		emit(rsinfo, psprintf("SELECT schemamig.downgrade(%s)", quote_literal_cstr(chunk_target)));
		start = end;
	}
}

static Datum
steps_srf(FunctionCallInfo fcinfo, bool up)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SchemamigGraph *graph;
	List	   *progress;
	List	   *todo;
	List	   *run = NIL;
	ListCell   *lc;
	bool	   *applied;
	const char *absolute_target;

	schemamig_check_target(target);
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	graph = schemamig_graph_load();
	progress = schemamig_progress_load();
	schemamig_progress_refuse(progress, up ? DIRECTION_DOWNGRADE : DIRECTION_UPGRADE,
							  up ? "steps()" : "downgrade_steps()");
	todo = up ? schemamig_graph_pending(graph, target) :
		schemamig_graph_to_unapply(graph, target);
	schemamig_alembic_refuse_revisions(graph, todo, up ? "steps()" : "downgrade_steps()");
	applied = palloc(sizeof(bool) * Max(graph->nnodes, 1));
	for (int i = 0; i < graph->nnodes; i++)
		applied[i] = graph->nodes[i].applied;
	absolute_target = (target[0] == '-' || target[0] == '+') ? NULL : target;

	foreach(lc, todo)
	{
		SchemamigNode *node = &graph->nodes[lfirst_int(lc)];

		if (!up && node->irreversible)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_IRREVERSIBLE),
					 errmsg("revision \"%s\" is irreversible", node->revision),
					 errdetail("It has no downgrade script, and downgrade_steps('%s') would have to unapply it.", target)));
		if (up ? node->upgrade_transactional : node->downgrade_transactional)
		{
			run = lappend_int(run, lfirst_int(lc));
			continue;
		}
		if (up)
			emit_upgrade_run(rsinfo, graph, run);
		else
			emit_downgrade_run(rsinfo, graph, run, applied, absolute_target);
		run = NIL;
		emit_revision_steps(rsinfo, node,
							schemamig_progress_find(progress, node->revision), up);
		applied[lfirst_int(lc)] = false;
	}
	if (up)
		emit_upgrade_run(rsinfo, graph, run);
	else
		emit_downgrade_run(rsinfo, graph, run, applied, absolute_target);
	SPI_finish();
	return (Datum) 0;
}
