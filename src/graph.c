/*-------------------------------------------------------------------------
 *
 * graph.c
 *		The revision graph, loaded into memory once per call.
 *
 * Every operation on the graph (heads, topological order, closure under
 * ancestors, what upgrade/downgrade must run) is linear in the size of the
 * graph: one SPI query reads all revisions with their applied state in
 * registration order, a hash table maps ids to positions, and Kahn's
 * algorithm with a binary heap keyed by registration order gives the one
 * deterministic topological order of the spec (parents first, ties by
 * registration order).  Nothing here is quadratic, so status() stays fast
 * at 100,000 revisions.
 *
 * Calls that only add a revision on top (register() of a new id,
 * begin_revision() of an unknown one) need just two lists, the heads and
 * the applied leaves, and loading the whole graph for them made a history
 * of n revisions cost O(n^2) to register (about 2 us per registered
 * revision per call).  The summary cache keeps both lists in backend memory
 * keyed by schemamig.state's generation and the xmin of its row: every
 * mutating call bumps the generation under the history lock, so the key
 * changes whenever anybody changes the graph or the applied set, and the
 * xmin tells a generation this backend wrote in a transaction that later
 * rolled back from the same number written by somebody else.  The adding
 * calls update the lists and store them under the key their own bump
 * produced; on a miss the graph is loaded once.
 *
 * The applied set is kept in application order (applied.seq).  Because a
 * revision is only ever applied after its parents, that order is itself a
 * topological order of the applied set, and its reverse is the order in
 * which downgrade() unapplies: newest first, children before parents.
 *
 * IDENTIFICATION
 *		src/graph.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/binaryheap.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"

#include "schemamig.h"

typedef struct GraphIndexEntry
{
	char		key[SCHEMAMIG_ID_BUFSIZE];
	int			node;
} GraphIndexEntry;

static int	heap_min_compare(Datum a, Datum b, void *arg);
static bool *graph_walk(SchemamigGraph *graph, int start, bool up);
static void graph_sort(SchemamigGraph *graph);
static int	parse_relative(const char *target, char sign);
static int	compare_applied_desc(const void *a, const void *b, void *arg);
static bool summary_key(int64 *generation, char *xmin, Size xminlen);
static List *copy_names(List *names);

/* The summary cache (see the file banner); lists of revision ids */
static bool summary_valid = false;
static int64 summary_generation;
static char summary_xmin[32];
static List *summary_heads = NIL;
static List *summary_current = NIL;

bool
schemamig_is_valid_id(const char *revision)
{
	int			len = strlen(revision);

	if (len < 1 || len > SCHEMAMIG_ID_MAXLEN)
		return false;
	if (!isalnum((unsigned char) revision[0]) || IS_HIGHBIT_SET(revision[0]))
		return false;
	for (int i = 1; i < len; i++)
	{
		unsigned char c = revision[i];

		if (IS_HIGHBIT_SET(c) ||
			!(isalnum(c) || c == '_' || c == '.' || c == ':' || c == '-'))
			return false;
	}
	return strcmp(revision, "head") != 0 && strcmp(revision, "heads") != 0 &&
		strcmp(revision, "base") != 0 && strcmp(revision, "current") != 0;
}

/* An invalid revision id is SM007 */
void
schemamig_check_valid_id(const char *revision)
{
	if (!schemamig_is_valid_id(revision))
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_INVALID_SCRIPT),
				 errmsg("invalid revision id \"%s\"", schemamig_clip(revision)),
				 errdetail("A revision id is 1 to %d characters of A-Z, a-z, 0-9, \"_\", \".\", \":\" and \"-\", starts with a letter or digit, and is none of head, heads, base, current.",
						   SCHEMAMIG_ID_MAXLEN)));
}

/*
 * Argument argno of a SQL-callable function, a revision id: NULL or invalid
 * is SM007, everywhere.
 */
char *
schemamig_revision_arg(FunctionCallInfo fcinfo, int argno)
{
	char	   *revision;

	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_INVALID_SCRIPT),
				 errmsg("revision id must not be null")));
	revision = text_to_cstring(PG_GETARG_TEXT_PP(argno));
	schemamig_check_valid_id(revision);
	return revision;
}

/*
 * Load the whole graph.  The caller must be connected to SPI; the result
 * lives in the caller's memory context.
 */
SchemamigGraph *
schemamig_graph_load(void)
{
	MemoryContext callercxt = CurrentMemoryContext;
	SchemamigGraph *graph = palloc0(sizeof(SchemamigGraph));
	HASHCTL		hctl;
	int			ret;
	uint64		n;
	ArrayType **parent_arrays;

	ret = schemamig_owner_execute("SELECT r.revision, r.parents, r.upgrade_transactional, "
								  "r.downgrade_transactional, r.downgrade_sql IS NULL, "
								  "r.checksum, r.kind, a.seq "
								  "FROM schemamig.revision r "
								  "LEFT JOIN schemamig.applied a "
								  "ON a.revision OPERATOR(pg_catalog.=) r.revision "
								  "ORDER BY r.seq",
								  0, NULL, NULL, NULL,
								  false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.revision: %s", SPI_result_code_string(ret));

	n = SPI_processed;
	MemoryContextSwitchTo(callercxt);
	graph->nnodes = (int) n;
	graph->nodes = palloc0(sizeof(SchemamigNode) * Max(n, 1));
	parent_arrays = palloc0(sizeof(ArrayType *) * Max(n, 1));

	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = SCHEMAMIG_ID_BUFSIZE;
	hctl.entrysize = sizeof(GraphIndexEntry);
	hctl.hcxt = callercxt;
	graph->index = hash_create("schemamig revision graph", Max(n, 16), &hctl,
							   HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);

	for (uint64 i = 0; i < n; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		SchemamigNode *node = &graph->nodes[i];
		GraphIndexEntry *entry;
		bool		isnull;
		Datum		d;

		node->revision = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
		parent_arrays[i] = DatumGetArrayTypePCopy(SPI_getbinval(tup, desc, 2, &isnull));
		node->upgrade_transactional = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
		node->downgrade_transactional = DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull));
		node->irreversible = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));
		node->checksum = TextDatumGetCString(SPI_getbinval(tup, desc, 6, &isnull));
		node->kind = TextDatumGetCString(SPI_getbinval(tup, desc, 7, &isnull));
		d = SPI_getbinval(tup, desc, 8, &isnull);
		node->applied = !isnull;
		node->applied_seq = isnull ? 0 : DatumGetInt64(d);

		entry = hash_search(graph->index, node->revision, HASH_ENTER, NULL);
		entry->node = (int) i;
	}

	/* resolve parents, then count and fill children */
	for (int i = 0; i < graph->nnodes; i++)
	{
		SchemamigNode *node = &graph->nodes[i];
		Datum	   *elems;
		bool	   *nulls;
		int			nelems;

		deconstruct_array(parent_arrays[i], TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &nulls, &nelems);
		node->nparents = nelems;
		node->parents = palloc(sizeof(int) * Max(nelems, 1));
		for (int j = 0; j < nelems; j++)
		{
			char	   *parent = TextDatumGetCString(elems[j]);
			int			p = schemamig_graph_find(graph, parent);

			if (p < 0)
				ereport(ERROR,
						(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
						 errmsg("revision \"%s\" has unknown parent \"%s\"", node->revision, parent),
						 errdetail("schemamig.revision was changed outside of register().")));
			node->parents[j] = p;
			graph->nodes[p].nchildren++;
		}
	}
	for (int i = 0; i < graph->nnodes; i++)
	{
		graph->nodes[i].children = palloc(sizeof(int) * Max(graph->nodes[i].nchildren, 1));
		graph->nodes[i].nchildren = 0;
	}
	for (int i = 0; i < graph->nnodes; i++)
	{
		SchemamigNode *node = &graph->nodes[i];

		for (int j = 0; j < node->nparents; j++)
		{
			SchemamigNode *parent = &graph->nodes[node->parents[j]];

			parent->children[parent->nchildren++] = i;
		}
	}
	graph_sort(graph);
	return graph;
}

/* Kahn's algorithm; the heap hands out the earliest registered ready node */
static void
graph_sort(SchemamigGraph *graph)
{
	int		   *waiting = palloc(sizeof(int) * Max(graph->nnodes, 1));
	binaryheap *ready = binaryheap_allocate(Max(graph->nnodes, 1), heap_min_compare, NULL);
	int			sorted = 0;

	graph->topo = palloc(sizeof(int) * Max(graph->nnodes, 1));
	for (int i = 0; i < graph->nnodes; i++)
	{
		waiting[i] = graph->nodes[i].nparents;
		if (waiting[i] == 0)
			binaryheap_add_unordered(ready, Int32GetDatum(i));
	}
	binaryheap_build(ready);
	while (!binaryheap_empty(ready))
	{
		int			i = DatumGetInt32(binaryheap_remove_first(ready));
		SchemamigNode *node = &graph->nodes[i];

		graph->topo[sorted++] = i;
		for (int j = 0; j < node->nchildren; j++)
		{
			if (--waiting[node->children[j]] == 0)
				binaryheap_add(ready, Int32GetDatum(node->children[j]));
		}
	}
	if (sorted != graph->nnodes)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
				 errmsg("the revision graph contains a cycle"),
				 errdetail("schemamig.revision was changed outside of register().")));
}

static int
heap_min_compare(Datum a, Datum b, void *arg)
{
	int			ia = DatumGetInt32(a);
	int			ib = DatumGetInt32(b);

	return (ia < ib) ? 1 : (ia > ib) ? -1 : 0;
}

int
schemamig_graph_find(SchemamigGraph *graph, const char *revision)
{
	GraphIndexEntry *entry;

	if (strlen(revision) >= SCHEMAMIG_ID_BUFSIZE)
		return -1;
	entry = hash_search(graph->index, revision, HASH_FIND, NULL);
	return entry ? entry->node : -1;
}

int
schemamig_graph_require(SchemamigGraph *graph, const char *revision)
{
	int			node = schemamig_graph_find(graph, revision);

	if (node < 0)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_UNKNOWN_REVISION),
				 errmsg("revision \"%s\" is not registered", revision),
				 errhint("SELECT revision FROM schemamig.history() lists the registered revisions.")));
	return node;
}

/*
 * The nodes reachable from start through parents (up) or children (down),
 * start itself not included unless a cycle leads back to it, as a bool map
 */
static bool *
graph_walk(SchemamigGraph *graph, int start, bool up)
{
	bool	   *seen = palloc0(sizeof(bool) * Max(graph->nnodes, 1));
	int		   *stack = palloc(sizeof(int) * Max(graph->nnodes, 1));
	int			top = 0;

	stack[top++] = start;
	while (top > 0)
	{
		SchemamigNode *node = &graph->nodes[stack[--top]];
		int			n = up ? node->nparents : node->nchildren;
		int		   *next = up ? node->parents : node->children;

		for (int j = 0; j < n; j++)
		{
			if (!seen[next[j]])
			{
				seen[next[j]] = true;
				stack[top++] = next[j];
			}
		}
	}
	pfree(stack);
	return seen;
}

/* Ancestors of a node (the node itself not included) as a bool map */
bool *
schemamig_graph_ancestors(SchemamigGraph *graph, int start)
{
	return graph_walk(graph, start, true);
}

/* Descendants of a node (the node itself not included) as a bool map */
bool *
schemamig_graph_descendants(SchemamigGraph *graph, int start)
{
	return graph_walk(graph, start, false);
}

/* Registered revisions without children, in registration order */
List *
schemamig_graph_heads(SchemamigGraph *graph)
{
	List	   *heads = NIL;

	for (int i = 0; i < graph->nnodes; i++)
		if (graph->nodes[i].nchildren == 0)
			heads = lappend_int(heads, i);
	return heads;
}

/* Applied revisions without an applied child, in registration order */
List *
schemamig_graph_current(SchemamigGraph *graph)
{
	List	   *current = NIL;

	for (int i = 0; i < graph->nnodes; i++)
	{
		SchemamigNode *node = &graph->nodes[i];
		bool		leaf = node->applied;

		for (int j = 0; leaf && j < node->nchildren; j++)
			if (graph->nodes[node->children[j]].applied)
				leaf = false;
		if (leaf)
			current = lappend_int(current, i);
	}
	return current;
}

/* "+3" -> 3; anything else (including "+0") -> -1 */
static int
parse_relative(const char *target, char sign)
{
	char	   *end;
	long		n;

	if (target[0] != sign || !isdigit((unsigned char) target[1]))
		return -1;
	errno = 0;
	n = strtol(target + 1, &end, 10);
	if (*end != '\0' || errno != 0 || n <= 0 || n > PG_INT32_MAX)
		return -1;
	return (int) n;
}

/*
 * The revisions upgrade(target) must apply, in the order to apply them.
 */
List *
schemamig_graph_pending(SchemamigGraph *graph, const char *target)
{
	List	   *pending = NIL;
	int			relative = parse_relative(target, '+');
	bool	   *wanted = NULL;

	if (strcmp(target, "head") == 0)
	{
		/* client-driven revisions never make "head" ambiguous (deploy_sql.c) */
		List	   *heads = schemamig_graph_versioned_heads(graph);

		if (list_length(heads) > 1)
		{
			StringInfoData names;
			ListCell   *lc;

			initStringInfo(&names);
			foreach(lc, heads)
				appendStringInfo(&names, "%s%s", names.len ? ", " : "",
								 graph->nodes[lfirst_int(lc)].revision);
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
					 errmsg("the revision graph has %d heads", list_length(heads)),
					 errdetail("The heads are %s.", names.data),
					 errhint("Use upgrade('heads') to apply all branches, or register a merge revision whose parents are the heads.")));
		}
		if (heads != NIL)
		{
			wanted = schemamig_graph_ancestors(graph, linitial_int(heads));
			wanted[linitial_int(heads)] = true;
		}
	}
	else if (relative > 0)
	{
		for (int k = 0; k < graph->nnodes && list_length(pending) < relative; k++)
			if (!graph->nodes[graph->topo[k]].applied)
				pending = lappend_int(pending, graph->topo[k]);
		if (list_length(pending) < relative)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_UNKNOWN_REVISION),
					 errmsg_plural("cannot upgrade by %d: only %d revision is pending",
								   "cannot upgrade by %d: only %d revisions are pending",
								   list_length(pending), relative, list_length(pending))));
		return pending;
	}
	else if (strcmp(target, "heads") != 0)
	{
		int			node;

		if (target[0] == '-' || target[0] == '+' || strcmp(target, "base") == 0 ||
			strcmp(target, "current") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_UNKNOWN_REVISION),
					 errmsg("invalid upgrade target \"%s\"", target),
					 errhint("An upgrade target is \"heads\", \"head\", a revision id or \"+N\"; downgrade() takes \"-N\" and \"base\".")));
		node = schemamig_graph_require(graph, target);
		wanted = schemamig_graph_ancestors(graph, node);
		wanted[node] = true;
	}

	for (int k = 0; k < graph->nnodes; k++)
	{
		int			i = graph->topo[k];

		if (!graph->nodes[i].applied && (wanted == NULL || wanted[i]))
			pending = lappend_int(pending, i);
	}
	return pending;
}

static int
compare_applied_desc(const void *a, const void *b, void *arg)
{
	SchemamigGraph *graph = (SchemamigGraph *) arg;
	int64		sa = graph->nodes[*(const int *) a].applied_seq;
	int64		sb = graph->nodes[*(const int *) b].applied_seq;

	return (sa < sb) ? 1 : (sa > sb) ? -1 : 0;
}

/*
 * The revisions downgrade(target) must unapply, newest applied first.
 */
List *
schemamig_graph_to_unapply(SchemamigGraph *graph, const char *target)
{
	int		   *applied = palloc(sizeof(int) * Max(graph->nnodes, 1));
	int			napplied = 0;
	int			relative = parse_relative(target, '-');
	bool	   *wanted = NULL;
	List	   *result = NIL;
	int			limit;

	for (int i = 0; i < graph->nnodes; i++)
		if (graph->nodes[i].applied)
			applied[napplied++] = i;
	qsort_arg(applied, napplied, sizeof(int), compare_applied_desc, graph);

	limit = napplied;
	if (relative > 0)
	{
		if (relative > napplied)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_UNKNOWN_REVISION),
					 errmsg_plural("cannot downgrade by %d: only %d revision is applied",
								   "cannot downgrade by %d: only %d revisions are applied",
								   napplied, relative, napplied),
					 errhint("Use downgrade('base') to unapply everything.")));
		limit = relative;
	}
	else if (strcmp(target, "base") != 0)
	{
		int			node;

		if (target[0] == '-' || target[0] == '+' || strcmp(target, "head") == 0 ||
			strcmp(target, "heads") == 0 || strcmp(target, "current") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_UNKNOWN_REVISION),
					 errmsg("invalid downgrade target \"%s\"", target),
					 errhint("A downgrade target is \"-N\", \"base\" or a revision id.")));
		node = schemamig_graph_require(graph, target);
		if (!graph->nodes[node].applied)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
					 errmsg("revision \"%s\" is not applied", target),
					 errdetail("downgrade('%s') unapplies what descends from it, and nothing applied descends from an unapplied revision.", target)));
		wanted = schemamig_graph_descendants(graph, node);
	}

	for (int k = 0; k < limit; k++)
		if (wanted == NULL || wanted[applied[k]])
			result = lappend_int(result, applied[k]);
	return result;
}

/* ---- summary cache ---- */

/* schemamig.state's (generation, xmin); false when the row does not exist */
static bool
summary_key(int64 *generation, char *xmin, Size xminlen)
{
	static SPIPlanPtr plan = NULL;
	int			ret;
	bool		isnull;

	/* not read-only: it must see this call's own bump */
	ret = schemamig_owner_execute_kept(&plan,
									   "SELECT generation, xmin::pg_catalog.text FROM schemamig.state",
									   0, NULL, NULL, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.state: %s", SPI_result_code_string(ret));
	if (SPI_processed != 1)
		return false;
	*generation = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 1, &isnull));
	strlcpy(xmin, SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2), xminlen);
	return true;
}

static List *
copy_names(List *names)
{
	List	   *copy = NIL;
	ListCell   *lc;

	foreach(lc, names)
		copy = lappend(copy, pstrdup((char *) lfirst(lc)));
	return copy;
}

/*
 * The heads and the applied leaves (current()) as lists of revision ids in
 * registration order, in the caller's memory context.  The caller holds
 * the history lock, is connected to SPI and has not bumped the generation
 * yet.
 */
void
schemamig_graph_summary(List **heads, List **current)
{
	int64		generation;
	char		xmin[32];
	SchemamigGraph *graph;
	ListCell   *lc;

	if (summary_valid && summary_key(&generation, xmin, sizeof(xmin)) &&
		generation == summary_generation && strcmp(xmin, summary_xmin) == 0)
	{
		*heads = copy_names(summary_heads);
		*current = copy_names(summary_current);
		return;
	}
	graph = schemamig_graph_load();
	*heads = NIL;
	*current = NIL;
	foreach(lc, schemamig_graph_heads(graph))
	{
		*heads = lappend(*heads, graph->nodes[lfirst_int(lc)].revision);
	}
	foreach(lc, schemamig_graph_current(graph))
	{
		*current = lappend(*current, graph->nodes[lfirst_int(lc)].revision);
	}
}

/*
 * Remember the heads and applied leaves after this call's own change,
 * under the key its bump of the generation produced.
 */
void
schemamig_graph_summary_store(List *heads, List *current)
{
	int64		generation;
	char		xmin[32];
	MemoryContext oldcxt;

	summary_valid = false;
	list_free_deep(summary_heads);
	list_free_deep(summary_current);
	summary_heads = summary_current = NIL;
	if (!summary_key(&generation, xmin, sizeof(xmin)))
		return;
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	summary_heads = copy_names(heads);
	summary_current = copy_names(current);
	MemoryContextSwitchTo(oldcxt);
	summary_generation = generation;
	strlcpy(summary_xmin, xmin, sizeof(summary_xmin));
	summary_valid = true;
}

/* names without those in remove, then add appended */
List *
schemamig_names_replace(List *names, List *remove, const char *add)
{
	List	   *result = NIL;
	ListCell   *lc;

	foreach(lc, names)
	{
		char	   *name = (char *) lfirst(lc);
		bool		removed = false;
		ListCell   *lc2;

		foreach(lc2, remove)
		{
			if (strcmp(name, (char *) lfirst(lc2)) == 0)
				removed = true;
		}
		if (!removed)
			result = lappend(result, name);
	}
	return lappend(result, pstrdup(add));
}

/* text[] of the revision ids of a list of node indexes */
Datum
schemamig_graph_revision_array(SchemamigGraph *graph, List *nodes)
{
	List	   *names = NIL;
	ListCell   *lc;

	foreach(lc, nodes)
		names = lappend(names, graph->nodes[lfirst_int(lc)].revision);
	return schemamig_text_array(names);
}

/*
 * The heads that parent inference and upgrade('head') consider: revisions
 * that are not client-driven ('external', from begin_revision() or Alembic)
 * and have no such descendant.  An environment-only hotfix therefore never
 * forks the graph that migration files build: the next file without a
 * parents line goes on top of the last file, in every database.
 */
List *
schemamig_graph_versioned_heads(SchemamigGraph *graph)
{
	bool	   *below = palloc0(sizeof(bool) * Max(graph->nnodes, 1));
	List	   *heads = NIL;

	/* children before parents: below[i] = a non-external descendant exists */
	for (int k = graph->nnodes - 1; k >= 0; k--)
	{
		int			i = graph->topo[k];
		SchemamigNode *node = &graph->nodes[i];

		for (int c = 0; c < node->nchildren; c++)
		{
			int			child = node->children[c];

			if (below[child] || strcmp(graph->nodes[child].kind, "external") != 0)
				below[i] = true;
		}
	}
	for (int i = 0; i < graph->nnodes; i++)
		if (!below[i] && strcmp(graph->nodes[i].kind, "external") != 0)
			heads = lappend_int(heads, i);
	pfree(below);
	return heads;
}

/* at most this many ids in a message; the rest are counted */
#define NAMES_IN_MESSAGE	10

/*
 * "a, b, c and 7 more" for the nodes of a list: used by the warnings and
 * errors that say what is left.
 */
char *
schemamig_deploy_names(SchemamigGraph *graph, List *nodes, int from)
{
	StringInfoData buf;
	int			shown = 0;

	initStringInfo(&buf);
	for (int k = from; k < list_length(nodes); k++)
	{
		if (shown == NAMES_IN_MESSAGE)
		{
			appendStringInfo(&buf, " and %d more", list_length(nodes) - k);
			break;
		}
		appendStringInfo(&buf, "%s%s", shown ? ", " : "",
						 graph->nodes[list_nth_int(nodes, k)].revision);
		shown++;
	}
	return buf.data;
}

/*
 * User input quoted in an error message: at most SCHEMAMIG_QUOTE_CHARS
 * characters, then "...".
 */
char *
schemamig_clip(const char *input)
{
	int			len = strlen(input);
	int			cut;

	if (pg_mbstrlen_with_len(input, len) <= SCHEMAMIG_QUOTE_CHARS)
		return pstrdup(input);
	cut = pg_mbcharcliplen(input, len, SCHEMAMIG_QUOTE_CHARS);
	return psprintf("%.*s...", cut, input);
}

/* SPEC limits, checked before any lock is taken */
void
schemamig_check_message(const char *message)
{
	if (message != NULL && strlen(message) > SCHEMAMIG_MAX_MESSAGE)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("message is too long"),
				 errdetail("A message has at most %d bytes; this one has %zu.",
						   SCHEMAMIG_MAX_MESSAGE, strlen(message))));
}

void
schemamig_check_target(const char *target)
{
	if (strlen(target) > SCHEMAMIG_MAX_TARGET)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("target \"%s\" is too long", schemamig_clip(target)),
				 errdetail("A target is a revision id (at most %d characters), heads, head, base, +N or -N.",
						   SCHEMAMIG_MAX_TARGET)));
}
