/*-------------------------------------------------------------------------
 *
 * inspect.c
 *		current(), heads(), history() and status(): where the database
 *		stands.
 *
 * schemamig's tables are not readable by PUBLIC (the scripts and the DDL
 * log may hold things like role passwords), but where the database stands
 * is everybody's business: these functions read the tables as their owner
 * and show revision ids, messages and state, never scripts.  They work on a
 * hot standby.
 *
 * IDENTIFICATION
 *		src/inspect.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_current);
PG_FUNCTION_INFO_V1(schemamig_heads);
PG_FUNCTION_INFO_V1(schemamig_history);
PG_FUNCTION_INFO_V1(schemamig_status);

static Datum revisions_srf(FunctionCallInfo fcinfo, bool current);

static Datum
revisions_srf(FunctionCallInfo fcinfo, bool current)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SchemamigGraph *graph;
	List	   *nodes;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	graph = schemamig_graph_load();
	nodes = current ? schemamig_graph_current(graph) : schemamig_graph_heads(graph);
	foreach(lc, nodes)
	{
		Datum		value = CStringGetTextDatum(graph->nodes[lfirst_int(lc)].revision);
		bool		isnull = false;

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	SPI_finish();
	return (Datum) 0;
}

Datum
schemamig_current(PG_FUNCTION_ARGS)
{
	return revisions_srf(fcinfo, true);
}

Datum
schemamig_heads(PG_FUNCTION_ARGS)
{
	return revisions_srf(fcinfo, false);
}

/*
 * history(): every registered revision in the deterministic topological
 * order upgrade() uses.
 */
Datum
schemamig_history(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SchemamigGraph *graph;
	bool	   *is_current;
	List	   *current;
	List	   *progress;
	List	   *descriptions = NIL;
	ListCell   *lc;
	int			ret;

	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	graph = schemamig_graph_load();
	/* described before the loop: describing may run queries */
	progress = schemamig_progress_load();
	foreach(lc, progress)
	{
		SchemamigProgress *p = lfirst(lc);

		descriptions = lappend(descriptions, schemamig_progress_describe(p, NULL));
	}
	is_current = palloc0(sizeof(bool) * Max(graph->nnodes, 1));
	current = schemamig_graph_current(graph);
	foreach(lc, current)
		is_current[lfirst_int(lc)] = true;

	/* the columns the graph does not carry, in registration order */
	ret = schemamig_owner_execute("SELECT r.message, r.registered_at, a.applied_at "
								  "FROM schemamig.revision r LEFT JOIN schemamig.applied a "
								  "ON a.revision OPERATOR(pg_catalog.=) r.revision "
								  "ORDER BY r.seq",
								  0, NULL, NULL, NULL, true, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != (uint64) graph->nnodes)
		elog(ERROR, "could not read schemamig.revision: %s", SPI_result_code_string(ret));

	for (int k = 0; k < graph->nnodes; k++)
	{
		int			i = graph->topo[k];
		SchemamigNode *node = &graph->nodes[i];
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		List	   *parents = NIL;
		Datum		values[11];
		bool		nulls[11];
		ListCell   *plc;

		memset(nulls, 0, sizeof(nulls));
		nulls[10] = true;
		forboth(plc, progress, lc, descriptions)
		{
			if (strcmp(((SchemamigProgress *) lfirst(plc))->revision, node->revision) == 0)
			{
				values[10] = CStringGetTextDatum((char *) lfirst(lc));
				nulls[10] = false;
			}
		}
		for (int j = 0; j < node->nparents; j++)
			parents = lappend_int(parents, node->parents[j]);
		values[0] = CStringGetTextDatum(node->revision);
		values[1] = schemamig_graph_revision_array(graph, parents);
		values[2] = SPI_getbinval(tup, desc, 1, &nulls[2]);
		values[3] = CStringGetTextDatum(node->kind);
		values[4] = BoolGetDatum(node->upgrade_transactional && node->downgrade_transactional);
		values[5] = BoolGetDatum(node->applied);
		values[6] = SPI_getbinval(tup, desc, 3, &nulls[6]);
		values[7] = BoolGetDatum(node->nchildren == 0);
		values[8] = BoolGetDatum(is_current[i]);
		values[9] = SPI_getbinval(tup, desc, 2, &nulls[9]);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

#define STATUS_MAX_COLUMNS 32

/* The position of status()'s column "name", or -1 (an older install) */
static int
status_column(TupleDesc desc, const char *name)
{
	for (int i = 0; i < desc->natts; i++)
		if (strcmp(NameStr(TupleDescAttr(desc, i)->attname), name) == 0)
			return i;
	return -1;
}

/*
 * status(): one row that answers "where does this database stand, and is
 * it protected?"
 */
Datum
schemamig_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SchemamigGraph *graph;
	Datum		values[STATUS_MAX_COLUMNS];
	bool		nulls[STATUS_MAX_COLUMNS];
	int			col;
	List	   *progress;
	ListCell   *lc;
	int			pending = 0;
	bool		enabled;
	bool		drift_known;
	bool		drift;
	int			ret;
	static const char *const guard_names[] = {"off", "warn", "enforce"};

	InitMaterializedSRF(fcinfo, 0);
	if (rsinfo->setDesc->natts > STATUS_MAX_COLUMNS)
		elog(ERROR, "status() has %d columns, at most %d are known",
			 rsinfo->setDesc->natts, STATUS_MAX_COLUMNS);
	memset(nulls, 0, sizeof(nulls));
	/* the columns added after 0.1.0 are found by name, NULL unless set */
	for (int i = 12; i < STATUS_MAX_COLUMNS; i++)
		nulls[i] = true;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	graph = schemamig_graph_load();
	for (int i = 0; i < graph->nnodes; i++)
		if (!graph->nodes[i].applied)
			pending++;

	/* ledger_ok: the recent end of the ledger is intact (ledger_verify.c) */
	if ((col = status_column(rsinfo->setDesc, "ledger_ok")) >= 0)
	{
		int			ledger_ok = schemamig_ledger_tail_ok();

		values[col] = BoolGetDatum(ledger_ok == 1);
		nulls[col] = ledger_ok < 0;
	}

	values[0] = schemamig_graph_revision_array(graph, schemamig_graph_current(graph));
	values[1] = schemamig_graph_revision_array(graph, schemamig_graph_heads(graph));
	values[2] = Int32GetDatum(pending);
	values[3] = CStringGetTextDatum(guard_names[schemamig_guard_mode]);
	values[4] = BoolGetDatum(schemamig_event_triggers_state(&enabled));
	values[5] = BoolGetDatum(enabled);
	drift = schemamig_drift_detected(&drift_known);
	values[6] = BoolGetDatum(drift);
	nulls[6] = !drift_known;

	ret = schemamig_owner_execute("SELECT action, revision, at FROM schemamig.journal "
								  "ORDER BY id DESC LIMIT 1",
								  0, NULL, NULL, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.journal: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		values[7] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &nulls[7]);
		values[8] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &nulls[8]);
		values[9] = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &nulls[9]);
	}
	else
		nulls[7] = nulls[8] = nulls[9] = true;

	/* revisions part-way through their steps, and how to go on */
	progress = schemamig_progress_load();
	if (progress == NIL)
		nulls[10] = nulls[11] = true;
	else
	{
		List	   *ids = NIL;
		StringInfoData hints;

		initStringInfo(&hints);
		foreach(lc, progress)
		{
			SchemamigProgress *p = lfirst(lc);
			char	   *hint;
			char	   *description = schemamig_progress_describe(p, &hint);

			ids = lappend(ids, psprintf("%s (%s)", p->revision, description));
			appendStringInfo(&hints, "%s%s", hints.len ? "\n" : "", hint);
		}
		values[10] = schemamig_text_array(ids);
		values[11] = CStringGetTextDatum(hints.data);
	}
	schemamig_alembic_status(&values[12], &nulls[12]);
	values[16] = CStringGetTextDatum(schemamig_seal_coverage());
	nulls[16] = false;

	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	SPI_finish();
	return (Datum) 0;
}
