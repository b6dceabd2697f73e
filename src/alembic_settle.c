/*-------------------------------------------------------------------------
 *
 * alembic_settle.c
 *		Settling a transaction's writes to Alembic's version table: which
 *		Alembic step each write was, which revision the held DDL belongs
 *		to, and how the applied set follows.
 *
 * Runs at commit, from the deferred constraint trigger of alembic.c, over
 * the writes and held DDL alembic.c recorded (oldest first).  First, the
 * provisional DDL of sessions that are gone is logged as unversioned with a
 * WARNING, and this session's provisional DDL of earlier transactions is
 * taken up: it belongs to the first step.  Each step registers its
 * revision if unknown (kind 'external'), has its statements reviewed
 * (alembic_review.c), moves its DDL from schemamig.alembic_provisional to
 * schemamig.ddl_log with its revision, direction and position, moves the
 * applied set and writes one journal row; at the end the schema
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
 * step that ran no DDL is journaled as 'upgrade' or 'downgrade' when it
 * moves along one edge of the graph (a pass migration, an empty merge), as
 * 'stamp' otherwise (flask db stamp).
 *
 * What the database cannot know: Alembic's down_revision is not in the
 * database.  A revision first seen as an UPDATE gets the replaced
 * version_num (and, for a merge, the deleted ones) as parents; one first
 * seen as an INSERT becomes a root, so a branch started from an interior
 * revision shows no branch point in history().  A version_num schemamig
 * has never seen (history before schemamig was installed) is adopted as
 * an applied root, marked adopted in schemamig.alembic_revision.  From an
 * adopted revision to an id never seen, the step may be an upgrade or a
 * downgrade below the adoption point: it is a "move", journaled so, its DDL
 * logged with direction 'client', the new id registered without parents.
 * The applied set stays right in every case: it is the closure of what
 * the version table holds.
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
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/xid8.h"

#include "schemamig.h"

#define EXTERNAL_MESSAGE "Alembic revision"

/* the version table as the settlement simulates it, version_num strings */
static List *simulated = NIL;

/* provisional DDL of earlier transactions of this session: the first step's */
static List *carried_ids = NIL;
static List *carried_statements = NIL;

/* revisions whose ancestry schemamig does not know (adopted), while settling */
static List *unknown_ancestry = NIL;
static bool settling = false;

typedef enum StepKind
{
	STEP_UP,
	STEP_DOWN,
	STEP_MOVE					/* between revisions of unknown ancestry */
} StepKind;

static void settle_update(List *group, SchemamigVersionWrite *w);
static void settle_single(SchemamigVersionWrite *w);
static void run_step(StepKind kind, const char *revision, List *parents,
					 List *removed, List *added, int64 last_seq);
static int	log_held(const char *revision, StepKind kind, int64 last_seq);
static void log_rows(List *ids, const char *revision, const char *direction);
static List *session_rows(bool abandoned, List **statements);
static void mark_alembic(const char *revision, bool adopted);
static bool same_strings(List *a, List *b);
static bool string_member(List *list, const char *s);
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

	/*
	 * Provisional DDL of sessions that ended without a version write is never
	 * accepted silently: it goes to the log as unversioned, with a WARNING.
	 */
	{
		List	   *statements = NIL;
		List	   *abandoned = session_rows(true, &statements);

		if (abandoned != NIL)
		{
			ereport(WARNING,
					(errcode(ERRCODE_SCHEMAMIG_UNVERSIONED_DDL),
					 errmsg_plural("%d provisional schema change of a session that ended without an Alembic version write is logged as unversioned",
								   "%d provisional schema changes of sessions that ended without an Alembic version write are logged as unversioned",
								   list_length(abandoned), list_length(abandoned)),
					 errdetail("The first was: %s", (char *) linitial(statements)),
					 errhint("See schemamig.ddl_log rows with direction 'unversioned'; undo or register the change.")));
			log_rows(abandoned, NULL, "unversioned");
		}
	}
	carried_ids = session_rows(false, &carried_statements);
	unknown_ancestry = NIL;
	settling = true;
	{
		int			ret = schemamig_owner_execute("SELECT revision FROM schemamig.alembic_revision WHERE adopted",
												  0, NULL, NULL, NULL, true, 0);

		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read schemamig.alembic_revision: %s", SPI_result_code_string(ret));
		for (uint64 i = 0; i < SPI_processed; i++)
			unknown_ancestry = lappend(unknown_ancestry,
									   SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
	}
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
	schemamig_alembic_settle_reset();
}

/* Forget the settlement's lists (they live in its memory context) */
void
schemamig_alembic_settle_reset(void)
{
	settling = false;
	unknown_ancestry = NIL;
	simulated = NIL;
	carried_ids = carried_statements = NIL;
}

/*
 * An UPDATE old -> new with the INSERTs and DELETEs written just before it
 * (no DDL in between).  A downgrade when new is a known ancestor of old; an
 * upgrade when old is a known ancestor of new, or new is unknown and old's
 * ancestry is known; otherwise the database cannot tell (a revision below
 * the point where an existing version table was adopted looks exactly like
 * a new one): a move.
 */
static void
settle_update(List *group, SchemamigVersionWrite *w)
{
	SchemamigGraph *graph = schemamig_graph_load();
	int			old_node = schemamig_graph_find(graph, w->old_version);
	int			new_node = schemamig_graph_find(graph, w->new_version);
	bool		old_known = old_node >= 0 &&
	!string_member(unknown_ancestry, w->old_version);
	StepKind	kind;
	List	   *parents = NIL;
	List	   *added = list_make1(w->new_version);
	ListCell   *lc;

	if (old_node >= 0 && new_node >= 0 &&
		schemamig_graph_ancestors(graph, old_node)[new_node])
		kind = STEP_DOWN;
	else if (old_node >= 0 && new_node >= 0 &&
			 schemamig_graph_ancestors(graph, new_node)[old_node])
		kind = STEP_UP;
	else if (new_node < 0 && old_known)
		kind = STEP_UP;
	else
		kind = STEP_MOVE;

	foreach(lc, group)
	{
		SchemamigVersionWrite *g = (SchemamigVersionWrite *) lfirst(lc);

		if (kind == STEP_DOWN && g->new_version)
			added = lappend(added, g->new_version); /* unmerge */
		else if (kind == STEP_UP && g->old_version)
			parents = lappend(parents, g->old_version); /* merge */
		else
			settle_single(g);
	}
	if (kind == STEP_DOWN)
		run_step(STEP_DOWN, w->old_version, NIL, list_make1(w->old_version), added, w->seq);
	else
	{
		parents = lappend(parents, w->old_version);
		run_step(kind, w->new_version, kind == STEP_UP ? parents : NIL, parents,
				 added, w->seq);
	}
}

static void
settle_single(SchemamigVersionWrite *w)
{
	if (w->new_version)
		run_step(STEP_UP, w->new_version, NIL, NIL, list_make1(w->new_version), w->seq);
	else
		run_step(STEP_DOWN, w->old_version, NIL, list_make1(w->old_version), NIL, w->seq);
}

/*
 * One Alembic step.  Up: revision enters the version table on top of
 * parents; down: revision leaves it and added enter it; move: revision
 * replaces removed, ancestry unknown.  The applied set follows the
 * simulated version table.
 */
static void
run_step(StepKind kind, const char *revision, List *parents, List *removed,
		 List *added, int64 last_seq)
{
	TimestampTz started = GetCurrentTimestamp();
	SchemamigGraph *graph;
	bool	   *want;
	List	   *parent_nodes = NIL;
	List	   *registered_parents = NIL;
	ListCell   *lc;
	int			node;
	int			statements;
	bool		edge;
	bool		up = kind != STEP_DOWN;

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
		/* after a move: parents unknown, a new point to go on from */
		mark_alembic(revision, false);
		graph = schemamig_graph_load();
	}
	else
		mark_alembic(revision, false);
	node = schemamig_graph_require(graph, revision);
	for (int j = 0; j < graph->nodes[node].nparents; j++)
		registered_parents = lappend(registered_parents,
									 graph->nodes[graph->nodes[node].parents[j]].revision);
	/* one step along one edge of the graph, as Alembic takes them */
	edge = kind == STEP_UP ? same_strings(registered_parents, removed) :
		kind == STEP_DOWN ? same_strings(registered_parents, added) : false;

	foreach(lc, removed)
		simulated = list_remove_string(simulated, lfirst(lc));
	foreach(lc, added)
	{
		simulated = list_remove_string(simulated, lfirst(lc));
		simulated = lappend(simulated, lfirst(lc));
	}

	/* want = closure of the simulated version table; the rest is unapplied */
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
	for (int i = 0; i < graph->nnodes; i++)
		if (graph->nodes[i].applied && !want[i])
		{
			schemamig_mark_unapplied(graph->nodes[i].revision);
			graph->nodes[i].applied = false;
		}
	for (int k = 0; k < graph->nnodes; k++)
	{
		SchemamigNode *n = &graph->nodes[graph->topo[k]];

		if (want[graph->topo[k]] && !n->applied)
			schemamig_mark_applied(n->revision, n->checksum);
	}

	statements = log_held(revision, kind, last_seq);
	if (kind == STEP_MOVE && statements > 0)
	{
		ereport(WARNING,
				(errmsg("cannot tell whether the move of %s to revision \"%s\" is an upgrade or a downgrade",
						removed != NIL ? (char *) linitial(removed) : "base", revision),
				 errdetail("The version table held a revision whose ancestry schemamig never saw (history before Alembic mode was turned on); the journal records a move."),
				 errhint("The applied set follows the version table either way.")));
		schemamig_journal_insert(revision, "move", revision, started);
	}
	else if (statements > 0 || edge)
		/* a step along an edge runs its migration, even an empty (pass) one */
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
	mark_alembic(revision, true);
	if (settling)
		unknown_ancestry = lappend(unknown_ancestry, pstrdup(revision));
	schemamig_mark_applied(revision, schemamig_script_checksum("", NULL));
	schemamig_journal_insert(revision, "stamp", revision, GetCurrentTimestamp());
	return schemamig_graph_find(schemamig_graph_load(), revision);
}

/*
 * Review and log the DDL of one step: provisional DDL carried over from
 * earlier transactions of the session (first step only), then the held DDL
 * that ran before write last_seq.
 */
static int
log_held(const char *revision, StepKind kind, int64 last_seq)
{
	List	   *ids = carried_ids;
	List	   *statements = carried_statements;
	ListCell   *lc;

	carried_ids = carried_statements = NIL;
	foreach(lc, schemamig_alembic_held)
	{
		SchemamigHeldDdl *h = (SchemamigHeldDdl *) lfirst(lc);

		if (h->settled_in != InvalidSubTransactionId || h->before_write > last_seq)
			continue;
		ids = lappend(ids, &h->id);
		statements = lappend(statements, h->statement ? h->statement : "");
		h->settled_in = GetCurrentSubTransactionId();
	}
	if (ids == NIL)
		return 0;
	if (kind != STEP_MOVE)
		schemamig_alembic_review(revision, kind == STEP_UP, statements);
	log_rows(ids, revision,
			 kind == STEP_UP ? "upgrade" : kind == STEP_DOWN ? "downgrade" : "client");
	return list_length(ids);
}

/*
 * Move provisional rows (ids: pointers to int64) to the DDL log, numbered
 * in order, under revision (NULL: unversioned), and delete them.  Each row
 * keeps its origin (transaction, session, time): a row carried over from
 * an earlier transaction, or left by a session that is gone, is logged as
 * what it was.
 */
static void
log_rows(List *ids, const char *revision, const char *direction)
{
	Oid			type = INT8ARRAYOID;
	Datum		array;
	Datum	   *elems = palloc(sizeof(Datum) * list_length(ids));
	int			n = 0;
	ListCell   *lc;
	int			ret;

	foreach(lc, ids)
		elems[n++] = Int64GetDatum(*(int64 *) lfirst(lc));
	array = PointerGetDatum(construct_array(elems, n, INT8OID, 8, FLOAT8PASSBYVAL,
											TYPALIGN_DOUBLE));
	ret = schemamig_owner_execute("SELECT p.command_tag, p.statement, p.objects, p.executed_at, "
								  "p.xid, p.role, p.session_role, p.application_name, "
								  "p.client_addr, p.backend_pid "
								  "FROM pg_catalog.unnest($1) WITH ORDINALITY o(id, n) "
								  "JOIN schemamig.alembic_provisional p ON p.id OPERATOR(pg_catalog.=) o.id "
								  "ORDER BY o.n",
								  1, &type, &array, NULL, false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != (uint64) n)
		elog(ERROR, "could not read schemamig.alembic_provisional: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		SchemamigLogRow row;
		bool		isnull;
		Datum		addr;

		memset(&row, 0, sizeof(row));
		row.revision = revision;
		row.direction = direction;
		row.statement_no = revision ? (int) i + 1 : 0;
		row.command_tag = SPI_getvalue(tuple, desc, 1);
		row.statement = SPI_getvalue(tuple, desc, 2);
		row.objects = DatumGetJsonbP(SPI_getbinval(tuple, desc, 3, &isnull));
		row.executed_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 4, &isnull));
		row.origin_xid = DatumGetFullTransactionId(SPI_getbinval(tuple, desc, 5, &isnull));
		row.role = SPI_getvalue(tuple, desc, 6);
		row.session_role = SPI_getvalue(tuple, desc, 7);
		row.application_name = SPI_getvalue(tuple, desc, 8);
		addr = SPI_getbinval(tuple, desc, 9, &isnull);
		row.origin_client_addr = isnull ? (Datum) 0 : addr;
		row.origin_backend_pid = DatumGetInt32(SPI_getbinval(tuple, desc, 10, &isnull));
		schemamig_ddl_log_write(&row);
	}
	ret = schemamig_owner_execute("DELETE FROM schemamig.alembic_provisional "
								  "WHERE id OPERATOR(pg_catalog.=) ANY ($1)",
								  1, &type, &array, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "could not delete from schemamig.alembic_provisional: %s",
			 SPI_result_code_string(ret));
}

/*
 * Provisional rows of earlier transactions of this session (abandoned =
 * false), or of sessions that are gone (abandoned = true), oldest first;
 * ids as pointers to int64, statements alongside.
 */
static List *
session_rows(bool abandoned, List **statements)
{
	Oid			types[2] = {INT4OID, TIMESTAMPTZOID};
	Datum		values[2];
	List	   *ids = NIL;
	int			ret;

	values[0] = Int32GetDatum(MyProcPid);
	values[1] = TimestampTzGetDatum(MyStartTimestamp);
	ret = abandoned ?
		schemamig_owner_execute("SELECT p.id, p.statement FROM schemamig.alembic_provisional p "
								"WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_stat_get_activity(p.backend_pid) a "
								"WHERE a.backend_start OPERATOR(pg_catalog.=) p.backend_start) "
								"ORDER BY p.id", 0, NULL, NULL, NULL, true, 0) :
		schemamig_owner_execute("SELECT id, statement FROM schemamig.alembic_provisional "
								"WHERE backend_pid OPERATOR(pg_catalog.=) $1 "
								"AND backend_start OPERATOR(pg_catalog.=) $2 "
								"AND xid OPERATOR(pg_catalog.<>) pg_catalog.pg_current_xact_id() "
								"ORDER BY id", 2, types, values, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.alembic_provisional: %s", SPI_result_code_string(ret));
	*statements = NIL;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		int64	   *id = palloc(sizeof(int64));
		char	   *st = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

		*id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
		ids = lappend(ids, id);
		*statements = lappend(*statements, st ? st : "");
	}
	return ids;
}

/* The revision came from the version table: upgrade() must leave it alone */
static void
mark_alembic(const char *revision, bool adopted)
{
	Oid			types[2] = {TEXTOID, BOOLOID};
	Datum		values[2];
	int			ret;

	values[0] = CStringGetTextDatum(revision);
	values[1] = BoolGetDatum(adopted);
	ret = schemamig_owner_execute("INSERT INTO schemamig.alembic_revision (revision, adopted) "
								  "VALUES ($1, $2) ON CONFLICT (revision) DO NOTHING",
								  2, types, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not insert into schemamig.alembic_revision: %s",
			 SPI_result_code_string(ret));
}

static bool
same_strings(List *a, List *b)
{
	ListCell   *lc;

	if (list_length(a) != list_length(b))
		return false;
	foreach(lc, a)
		if (!string_member(b, lfirst(lc)))
		return false;
	return true;
}

static bool
string_member(List *list, const char *s)
{
	ListCell   *lc;

	foreach(lc, list)
		if (strcmp(lfirst(lc), s) == 0)
		return true;
	return false;
}

/* Did held, unlogged DDL run after write "after" and before write "upto"? */
static bool
held_between(int64 after, int64 upto)
{
	ListCell   *lc;

	foreach(lc, schemamig_alembic_held)
	{
		SchemamigHeldDdl *h = (SchemamigHeldDdl *) lfirst(lc);

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
