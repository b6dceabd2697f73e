/*-------------------------------------------------------------------------
 *
 * begin_revision.c
 *		begin_revision() and end_revision(): a migration context opened by
 *		the client for DDL it sends itself, until the end of its
 *		transaction block.
 *
 * begin_revision() of an unknown id (what a client tool does in every
 * transaction) registers it without loading the graph: a primary-key
 * lookup, the applied leaves from graph.c's summary cache, so its cost
 * does not grow with the number of registered revisions.
 *
 * begin_revision() marks its revision applied at once rather than at
 * commit: the row is only visible once the transaction commits and
 * disappears with an abort (or a ROLLBACK PREPARED), which is exactly
 * "applied at commit", also under two-phase commit.
 *
 * The context itself is context.c's; hooks.c closes it at the end of the
 * transaction.
 *
 * IDENTIFICATION
 *		src/begin_revision.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_begin_revision);
PG_FUNCTION_INFO_V1(schemamig_end_revision);

/* A registered revision whose upgrade script has statements */
static bool
has_upgrade_statements(const char *revision)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	int			ret;

	values[0] = CStringGetTextDatum(revision);
	ret = schemamig_owner_execute("SELECT upgrade_statements FROM schemamig.revision "
								  "WHERE revision OPERATOR(pg_catalog.=) $1",
								  1, types, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read schemamig.revision: %s", SPI_result_code_string(ret));
	return DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) > 0;
}

/*
 * begin_revision(revision text, message text DEFAULT NULL)
 *
 * Opens a client-driven migration context until the end of the current
 * transaction block.  An unknown revision is registered as kind 'external'
 * on top of the applied leaves (current()); a known one must be pending
 * with all its parents applied.
 */
Datum
schemamig_begin_revision(PG_FUNCTION_ARGS)
{
	char	   *revision;
	char	   *message = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	SchemamigGraph *graph;
	int			node;
	SchemamigNode *n;
	List	   *heads;
	List	   *current;
	TimestampTz started = GetCurrentTimestamp();

	schemamig_check_writable("begin_revision()");
	revision = schemamig_revision_arg(fcinfo, 0);
	schemamig_check_message(message);
	if (!IsTransactionBlock())
		ereport(ERROR,
				(errcode(ERRCODE_NO_ACTIVE_SQL_TRANSACTION),
				 errmsg("begin_revision() can only be used in a transaction block"),
				 errdetail("The revision stays open until the end of the transaction; outside a transaction block that would be the end of this very statement."),
				 errhint("Run BEGIN first, then begin_revision(), your DDL and COMMIT.")));
	if (schemamig_context_active())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("revision \"%s\" is already open in this transaction",
						schemamig_context.revision),
				 errhint("Call end_revision() first, or commit.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_lock_history();
	if (schemamig_new_revision_begin(revision, &heads, &current))
	{
		schemamig_register_external(revision, message, current);
		schemamig_mark_applied(revision, schemamig_script_checksum("", NULL));
		schemamig_journal_insert(revision, "upgrade", revision, started);
		schemamig_new_revision_end(revision, heads, current, current, true);
		SPI_finish();
		schemamig_context_open(DIRECTION_CLIENT, revision);
		PG_RETURN_VOID();
	}

	schemamig_bump_generation();
	graph = schemamig_graph_load();
	node = schemamig_graph_require(graph, revision);
	n = &graph->nodes[node];
	if (has_upgrade_statements(revision))
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
				 errmsg("revision \"%s\" has an upgrade script", revision),
				 errdetail("begin_revision() would mark it applied without running its script."),
				 errhint("Apply it with schemamig.upgrade('%s'), or open a new revision id.", revision)));
	if (n->applied)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
				 errmsg("revision \"%s\" is already applied", revision),
				 errhint("Open a new revision id for new changes.")));
	for (int j = 0; j < n->nparents; j++)
		if (!graph->nodes[n->parents[j]].applied)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
					 errmsg("parent \"%s\" of revision \"%s\" is not applied",
							graph->nodes[n->parents[j]].revision, revision),
					 errhint("Upgrade to the parent first.")));
	schemamig_mark_applied(revision, n->checksum);
	schemamig_journal_insert(revision, "upgrade", revision, started);
	SPI_finish();

	schemamig_context_open(DIRECTION_CLIENT, revision);
	PG_RETURN_VOID();
}

Datum
schemamig_end_revision(PG_FUNCTION_ARGS)
{
	if (schemamig_context.direction != DIRECTION_CLIENT)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no revision is open"),
				 errhint("begin_revision() opens one.")));
	schemamig_context_close();
	PG_RETURN_VOID();
}
