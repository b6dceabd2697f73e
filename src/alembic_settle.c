/*-------------------------------------------------------------------------
 *
 * alembic_settle.c
 *		Settling a transaction's writes to Alembic's version table: which
 *		Alembic step each write was, which revision the held DDL belongs
 *		to, and how the applied set follows.
 *
 * Runs at commit, from the deferred constraint trigger of alembic.c, over
 * the writes and held DDL alembic.c recorded (oldest first).  Each step
 * registers its revision if unknown (kind 'external'), writes the DDL held
 * before it to schemamig.ddl_log with its revision, direction and position,
 * moves the applied set and writes one journal row; at the end the schema
 * fingerprint is stored, as after upgrade().
 *
 * How writes become steps.  Alembic writes per step: UPDATE old -> new
 * (upgrade, or downgrade when new is a known ancestor of old), INSERT
 * (new base or branch), DELETE (downgrade of a branch or to base), DELETE
 * of the other parents then UPDATE (merge), INSERT of the other parents
 * then UPDATE (unmerge).  Every DDL statement of a step runs before its
 * writes.  So writes are grouped until an UPDATE or a held DDL statement;
 * an upgrading UPDATE absorbs the DELETEs before it as merge parents, a
 * downgrading one the INSERTs before it.  DDL is attributed to the first
 * step after it: upgrade to the new version_num, downgrade of the
 * version_num removed, statement_no numbering the step's statements.  A
 * step that ran no DDL (stamp, an empty merge) is journaled as 'stamp'.
 *
 * What the database cannot know: Alembic's down_revision is not in the
 * database.  A revision first seen as an UPDATE gets the replaced
 * version_num (and, for a merge, the deleted ones) as parents; one first
 * seen as an INSERT becomes a root, so a branch started from an interior
 * revision shows no branch point in history().  A version_num schemamig
 * has never seen (history before schemamig was installed) is adopted as
 * an applied root.  The applied set stays right in every case: it is the
 * closure of what the version table holds.
 *
 * The applied set is computed from a simulation of the version table,
 * starting from current() (what the version table held when schemamig last
 * followed it): after each step, applied = the ancestors-closure of the
 * simulated rows; a downgrade also unapplies whatever stands on what it
 * removes, so the applied set stays closed under ancestors.
 *
 * IDENTIFICATION
 *		src/alembic_settle.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"

#include "schemamig.h"

#define EXTERNAL_MESSAGE "Alembic revision"

/* the version table as the settlement simulates it, version_num strings */
static List *simulated = NIL;
static SPIPlanPtr log_plan = NULL;

static void settle_update(List *group, SchemamigVersionWrite *w);
static void settle_single(SchemamigVersionWrite *w);
static void run_step(bool up, const char *revision, List *parents,
					 List *removed, List *added, int64 last_seq);
static int	log_held(const char *revision, bool up, int64 last_seq);
static bool held_between(int64 after, int64 upto);
static List *list_remove_string(List *list, const char *s);

/*
 * Settle the writes not settled yet, in order; the caller is connected to
 * SPI.
 */
void
schemamig_alembic_settle_writes(void)
{
	List	   *pending = NIL;
	List	   *group = NIL;
	int64		prev = 0;
	ListCell   *lc;
	SchemamigGraph *graph;

	foreach(lc, schemamig_alembic_writes)
		if (((SchemamigVersionWrite *) lfirst(lc))->settled_in == InvalidSubTransactionId)
			pending = lappend(pending, lfirst(lc));
	if (pending == NIL)
		return;

	schemamig_check_writable("a write to the Alembic version table");
	schemamig_lock_history();
	schemamig_bump_generation();
	graph = schemamig_graph_load();
	simulated = NIL;
	foreach(lc, schemamig_graph_current(graph))
		simulated = lappend(simulated, graph->nodes[lfirst_int(lc)].revision);

	foreach(lc, pending)
	{
		SchemamigVersionWrite *w = (SchemamigVersionWrite *) lfirst(lc);

		if (group != NIL && held_between(prev, w->seq))
		{
			ListCell   *g;

			foreach(g, group)
				settle_single(lfirst(g));
			group = NIL;
		}
		prev = w->seq;
		if (w->old_version && w->new_version)
		{
			settle_update(group, w);
			group = NIL;
		}
		else
			group = lappend(group, w);
	}
	foreach(lc, group)
		settle_single(lfirst(lc));

	foreach(lc, pending)
		((SchemamigVersionWrite *) lfirst(lc))->settled_in = GetCurrentSubTransactionId();
	schemamig_drift_after_migration();
}

/*
 * An UPDATE old -> new with the INSERTs and DELETEs written just before it
 * (no DDL in between).  A downgrade when new is a known ancestor of old.
 */
static void
settle_update(List *group, SchemamigVersionWrite *w)
{
	SchemamigGraph *graph = schemamig_graph_load();
	int			old_node = schemamig_graph_find(graph, w->old_version);
	int			new_node = schemamig_graph_find(graph, w->new_version);
	bool		down = old_node >= 0 && new_node >= 0 &&
		schemamig_graph_ancestors(graph, old_node)[new_node];
	List	   *parents = NIL;
	List	   *added = list_make1(w->new_version);
	ListCell   *lc;

	foreach(lc, group)
	{
		SchemamigVersionWrite *g = (SchemamigVersionWrite *) lfirst(lc);

		if (down && g->new_version)
			added = lappend(added, g->new_version);		/* unmerge */
		else if (!down && g->old_version)
			parents = lappend(parents, g->old_version);		/* merge */
		else
			settle_single(g);
	}
	if (down)
		run_step(false, w->old_version, NIL, list_make1(w->old_version), added, w->seq);
	else
	{
		parents = lappend(parents, w->old_version);
		run_step(true, w->new_version, parents, parents, added, w->seq);
	}
}

static void
settle_single(SchemamigVersionWrite *w)
{
	if (w->new_version)
		run_step(true, w->new_version, NIL, NIL, list_make1(w->new_version), w->seq);
	else
		run_step(false, w->old_version, NIL, list_make1(w->old_version), NIL, w->seq);
}

/*
 * One Alembic step.  up: revision enters the version table on top of
 * parents; down: revision leaves it and added enter it.  The applied set
 * follows the simulated version table.
 */
static void
run_step(bool up, const char *revision, List *parents, List *removed,
		 List *added, int64 last_seq)
{
	TimestampTz started = GetCurrentTimestamp();
	SchemamigGraph *graph;
	bool	   *want;
	List	   *parent_nodes = NIL;
	ListCell   *lc;
	int			node;
	int			statements;

	foreach(lc, parents)
		parent_nodes = list_append_unique_int(parent_nodes, schemamig_alembic_adopt(lfirst(lc)));
	foreach(lc, removed)
		(void) schemamig_alembic_adopt(lfirst(lc));
	foreach(lc, added)
		if (!up || strcmp(lfirst(lc), revision) != 0)
			(void) schemamig_alembic_adopt(lfirst(lc));

	graph = schemamig_graph_load();
	if (up && schemamig_graph_find(graph, revision) < 0)
	{
		schemamig_check_valid_id(revision);
		schemamig_register_external_parents(graph, revision, EXTERNAL_MESSAGE,
											parent_nodes);
		graph = schemamig_graph_load();
	}
	node = schemamig_graph_require(graph, revision);

	foreach(lc, removed)
		simulated = list_remove_string(simulated, lfirst(lc));
	foreach(lc, added)
	{
		simulated = list_remove_string(simulated, lfirst(lc));
		simulated = lappend(simulated, lfirst(lc));
	}

	/* want = closure of the simulated version table */
	want = palloc0(sizeof(bool) * Max(graph->nnodes, 1));
	foreach(lc, simulated)
	{
		int			i = schemamig_graph_find(graph, lfirst(lc));

		if (i >= 0)
		{
			bool	   *anc = schemamig_graph_ancestors(graph, i);

			want[i] = true;
			for (int j = 0; j < graph->nnodes; j++)
				want[j] |= anc[j];
		}
	}
	if (!up)
	{
		/* unapply what the removed revision brought, and what stands on it */
		bool	   *anc = schemamig_graph_ancestors(graph, node);
		bool	   *drop = palloc0(sizeof(bool) * graph->nnodes);

		anc[node] = true;
		for (int i = 0; i < graph->nnodes; i++)
			if (anc[i] && !want[i] && graph->nodes[i].applied)
			{
				bool	   *desc = schemamig_graph_descendants(graph, i);

				drop[i] = true;
				for (int j = 0; j < graph->nnodes; j++)
					drop[j] |= desc[j] && graph->nodes[j].applied;
			}
		for (int i = 0; i < graph->nnodes; i++)
			if (drop[i])
			{
				schemamig_mark_unapplied(graph->nodes[i].revision);
				graph->nodes[i].applied = false;
				want[i] = false;
			}
	}
	for (int k = 0; k < graph->nnodes; k++)
	{
		SchemamigNode *n = &graph->nodes[graph->topo[k]];

		if (want[graph->topo[k]] && !n->applied)
			schemamig_mark_applied(n->revision, n->checksum);
	}

	/* like stamp(), a step without DDL is journaled under its target */
	statements = log_held(revision, up, last_seq);
	if (statements > 0)
		schemamig_journal_insert(revision, up ? "upgrade" : "downgrade",
								 up ? revision : added != NIL ? linitial(added) : "base",
								 started);
	else if (up || added != NIL)
		schemamig_journal_insert(up ? revision : linitial(added), "stamp",
								 up ? revision : linitial(added), started);
	else
		schemamig_journal_insert(NULL, "stamp", "base", started);
}

/*
 * The node of a version_num; one schemamig has never seen was applied
 * before it was watching: adopt it as an applied root.
 */
int
schemamig_alembic_adopt(const char *revision)
{
	SchemamigGraph *graph = schemamig_graph_load();
	int			node = schemamig_graph_find(graph, revision);

	if (node >= 0)
		return node;
	schemamig_check_valid_id(revision);
	schemamig_register_external_parents(graph, revision, EXTERNAL_MESSAGE, NIL);
	schemamig_mark_applied(revision, schemamig_script_checksum("", NULL));
	schemamig_journal_insert(revision, "stamp", revision, GetCurrentTimestamp());
	return schemamig_graph_find(schemamig_graph_load(), revision);
}

/* Write the held DDL that ran before write last_seq under revision */
static int
log_held(const char *revision, bool up, int64 last_seq)
{
	SchemamigOwnerContext octx;
	ListCell   *lc;
	int			n = 0;

	foreach(lc, schemamig_alembic_held)
	{
		SchemamigHeldDdl    *h = (SchemamigHeldDdl *) lfirst(lc);
		Datum		values[10];
		char		nulls[10];
		int			ret;

		if (h->settled_in != InvalidSubTransactionId || h->before_write > last_seq)
			continue;
		memset(nulls, ' ', sizeof(nulls));
		values[0] = CStringGetTextDatum(revision);
		values[1] = CStringGetTextDatum(up ? "upgrade" : "downgrade");
		values[2] = Int32GetDatum(++n);
		values[3] = CStringGetTextDatum(h->tag);
		values[4] = h->statement ? CStringGetTextDatum(h->statement) : (Datum) 0;
		nulls[4] = h->statement ? ' ' : 'n';
		values[5] = CStringGetTextDatum(h->objects);
		values[6] = TimestampTzGetDatum(h->executed_at);
		values[7] = NameGetDatum(&h->role);
		values[8] = NameGetDatum(&h->session_role);
		values[9] = CStringGetTextDatum(h->application_name);

		schemamig_owner_enter(&octx);
		if (log_plan == NULL)
		{
			Oid			types[10] = {TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID,
			TEXTOID, TIMESTAMPTZOID, NAMEOID, NAMEOID, TEXTOID};
			SPIPlanPtr	plan;

			plan = SPI_prepare("INSERT INTO schemamig.ddl_log (revision, direction, "
							   "statement_no, command_tag, statement, objects, executed_at, "
							   "xid, role, session_role, application_name, client_addr, "
							   "backend_pid) VALUES ($1, $2, $3, $4, $5, $6::pg_catalog.jsonb, "
							   "$7, pg_catalog.pg_current_xact_id(), $8, $9, $10, "
							   "pg_catalog.inet_client_addr(), pg_catalog.pg_backend_pid())",
							   10, types);
			if (plan == NULL || SPI_keepplan(plan) != 0)
				elog(ERROR, "could not prepare the held DDL log insert: %s",
					 SPI_result_code_string(SPI_result));
			log_plan = plan;
		}
		ret = SPI_execute_plan(log_plan, values, nulls, false, 0);
		schemamig_owner_leave(&octx);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not insert into schemamig.ddl_log: %s", SPI_result_code_string(ret));
		h->settled_in = GetCurrentSubTransactionId();
	}
	return n;
}

/* Did held, unlogged DDL run after write "after" and before write "upto"? */
static bool
held_between(int64 after, int64 upto)
{
	ListCell   *lc;

	foreach(lc, schemamig_alembic_held)
	{
		SchemamigHeldDdl    *h = (SchemamigHeldDdl *) lfirst(lc);

		if (h->settled_in == InvalidSubTransactionId &&
			h->before_write > after && h->before_write <= upto)
			return true;
	}
	return false;
}

static List *
list_remove_string(List *list, const char *s)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, list)
		if (strcmp(lfirst(lc), s) != 0)
			result = lappend(result, lfirst(lc));
	return result;
}
