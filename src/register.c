/*-------------------------------------------------------------------------
 *
 * register.c
 *		register() and unregister(): adding revisions to the graph.
 *
 * register() checks everything before it writes anything: the id, that
 * both scripts parse with the server's parser and hold no transaction
 * control, the parents (known, acyclic), the checksum rules, and the lint.
 * Re-registering an unchanged revision is a no-op so a migration file can
 * be run again; an applied revision can never be changed (SM002), the rule
 * "never edit applied migrations" turned into mechanism.
 *
 * A new id (the common case: a migration file run for the first time) is
 * registered without loading the graph: its parents are checked with
 * primary-key lookups, it cannot close a cycle (nothing descends from a
 * revision that did not exist), and the heads come from graph.c's summary
 * cache, so registering n revisions costs O(n), not O(n^2).  Only
 * re-registering an existing id loads the graph (cycle check, checksum
 * rules).
 *
 * IDENTIFICATION
 *		src/register.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_register);
PG_FUNCTION_INFO_V1(schemamig_unregister);

static List *resolve_parents(SchemamigGraph *graph, const char *revision,
							 ArrayType *parents_arg, int existing);
static List *check_new_parents(const char *revision, ArrayType *parents_arg);
static char *parent_element(const char *revision, Datum elem, bool isnull);
static bool same_parents(SchemamigNode *node, List *parents);
static void count_statements(List *statements, int *count, bool *transactional);
static void refuse_unrunnable(List *statements, const char *revision, const char *which);
static void write_revision(bool replace, const char *revision, Datum parents,
						   const char *message, const char *upgrade,
						   const char *downgrade, const char *checksum,
						   const char *kind, bool up_tx, bool down_tx,
						   int up_count, int down_count);

/*
 * The fast path for an id not registered yet, shared by register() and
 * begin_revision(): a primary-key lookup and graph.c's summary of the heads
 * and applied leaves, no graph load, so the cost does not grow with the
 * history.  False when the revision exists.  The caller holds the history
 * lock and calls schemamig_new_revision_end() once the revision is written.
 */
bool
schemamig_new_revision_begin(const char *revision, List **heads, List **current)
{
	if (schemamig_revision_lookup(revision, NULL, NULL))
		return false;
	schemamig_graph_summary(heads, current);
	schemamig_bump_generation();
	return true;
}

/* The new revision stands on parents (and is applied): the summary follows */
void
schemamig_new_revision_end(const char *revision, List *heads, List *current,
						   List *parents, bool applied)
{
	schemamig_graph_summary_store(schemamig_names_replace(heads, parents, revision),
								  applied ?
								  schemamig_names_replace(current, parents, revision) :
								  current);
}

/*
 * register(revision, upgrade, downgrade, parents, message) returns text
 */
Datum
schemamig_register(PG_FUNCTION_ARGS)
{
	char	   *revision;
	char	   *upgrade;
	char	   *downgrade = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	ArrayType  *parents_arg = PG_ARGISNULL(3) ? NULL : PG_GETARG_ARRAYTYPE_P(3);
	char	   *message = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	List	   *up_statements;
	List	   *down_statements = NIL;
	int			up_count;
	int			down_count = 0;
	bool		up_tx;
	bool		down_tx = true;
	char	   *checksum;
	SchemamigGraph *graph;
	int			existing;
	List	   *parents;
	List	   *heads;
	List	   *current;

	schemamig_check_writable("register()");
	schemamig_check_not_nested("register()");
	/* limits first: nothing oversized reaches the history lock */
	if (parents_arg != NULL &&
		ArrayGetNItems(ARR_NDIM(parents_arg), ARR_DIMS(parents_arg)) > SCHEMAMIG_MAX_PARENTS)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("too many parents"),
				 errdetail("A revision has at most %d parents; %d were given.", SCHEMAMIG_MAX_PARENTS,
						   ArrayGetNItems(ARR_NDIM(parents_arg), ARR_DIMS(parents_arg)))));
	schemamig_check_message(message);
	revision = schemamig_revision_arg(fcinfo, 0);
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_INVALID_SCRIPT),
				 errmsg("upgrade script of revision \"%s\" must not be null", revision),
				 errhint("Pass an empty string for a revision that only merges branches.")));
	upgrade = text_to_cstring(PG_GETARG_TEXT_PP(1));

	up_statements = schemamig_script_parse(upgrade, revision, "upgrade");
	refuse_unrunnable(up_statements, revision, "upgrade");
	count_statements(up_statements, &up_count, &up_tx);
	if (downgrade != NULL)
	{
		down_statements = schemamig_script_parse(downgrade, revision, "downgrade");
		refuse_unrunnable(down_statements, revision, "downgrade");
		count_statements(down_statements, &down_count, &down_tx);
	}
	checksum = schemamig_script_checksum(upgrade, downgrade);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_lock_history();
	if (schemamig_new_revision_begin(revision, &heads, &current))
	{
		List	   *parent_names;

		if (parents_arg == NULL)
		{
			/*
			 * client-driven revisions never count for the parent
			 * (deploy_sql.c)
			 */
			SchemamigGraph *g = schemamig_graph_load();
			List	   *versioned = schemamig_graph_versioned_heads(g);
			ListCell   *lc;

			parent_names = NIL;
			foreach(lc, versioned)
				parent_names = lappend(parent_names, g->nodes[lfirst_int(lc)].revision);
			if (list_length(parent_names) > 1)
				ereport(ERROR,
						(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
						 errmsg("cannot choose a parent for revision \"%s\": the graph has %d heads",
								revision, list_length(parent_names)),
						 errhint("Pass parents explicitly; a revision whose parents are all the heads merges them.")));
		}
		else
			parent_names = check_new_parents(revision, parents_arg);

		schemamig_lint_register(revision, upgrade, up_statements, downgrade,
								down_statements, schemamig_text_array(parent_names));
		write_revision(false, revision, schemamig_text_array(parent_names), message,
					   upgrade, downgrade, checksum, "sql", up_tx, down_tx,
					   up_count, downgrade ? down_count : -1);
		schemamig_new_revision_end(revision, heads, current, parent_names, false);
		SPI_finish();
		PG_RETURN_TEXT_P(cstring_to_text(revision));
	}

	schemamig_bump_generation();
	graph = schemamig_graph_load();
	existing = schemamig_graph_find(graph, revision);
	parents = resolve_parents(graph, revision, parents_arg, existing);

	if (existing >= 0)
	{
		SchemamigNode *node = &graph->nodes[existing];

		if (strcmp(node->checksum, checksum) == 0 && same_parents(node, parents))
		{
			SPI_finish();
			PG_RETURN_TEXT_P(cstring_to_text(revision));
		}
		if (node->applied)
		{
			char	   *difference = NULL;

			/*
			 * the same statements in other whitespace: a repair
			 * (deploy_sql.c)
			 */
			if (strcmp(node->checksum, checksum) != 0 && same_parents(node, parents) &&
				strcmp(node->kind, "sql") == 0 &&
				schemamig_repair(revision, upgrade, up_statements, downgrade,
								 down_statements, checksum, &difference))
			{
				SPI_finish();
				PG_RETURN_TEXT_P(cstring_to_text(revision));
			}
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_CHECKSUM_MISMATCH),
					 errmsg("revision \"%s\" is applied and cannot be changed", revision),
					 strcmp(node->checksum, checksum) != 0 ?
					 errdetail("The registered scripts have checksum %s, the new ones %s.%s%s",
							   node->checksum, checksum, difference ? " " : "",
							   difference ? difference : "") :
					 errdetail("The new parents differ from the registered ones."),
					 errhint("Applied migrations are never edited: register a new revision on top of it.")));
		}
	}

	/* lint last: it is the only check that may only warn */
	schemamig_lint_register(revision, upgrade, up_statements, downgrade,
							down_statements, schemamig_graph_revision_array(graph, parents));

	write_revision(existing >= 0, revision, schemamig_graph_revision_array(graph, parents), message,
				   upgrade, downgrade, checksum, "sql", up_tx, down_tx,
				   up_count, downgrade ? down_count : -1);
	SPI_finish();
	PG_RETURN_TEXT_P(cstring_to_text(revision));
}

/*
 * Registers a revision with no scripts of its own, for DDL the client runs
 * (begin_revision, Alembic): parents are the applied leaves, a list of ids.
 */
void
schemamig_register_external(const char *revision, const char *message,
							List *parents)
{
	write_revision(false, revision, schemamig_text_array(parents), message,
				   "", NULL, schemamig_script_checksum("", NULL), "external",
				   true, true, 0, -1);
}

/* The same with parents given as indexes into graph->nodes (Alembic) */
void
schemamig_register_external_parents(SchemamigGraph *graph, const char *revision,
									const char *message, List *parents)
{
	write_revision(false, revision, schemamig_graph_revision_array(graph, parents), message,
				   "", NULL, schemamig_script_checksum("", NULL), "external",
				   true, true, 0, -1);
}

/*
 * Is the revision registered?  Optionally whether it is applied and its
 * checksum (allocated in the caller's SPI procedure context).
 */
bool
schemamig_revision_lookup(const char *revision, bool *applied, char **checksum)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;
	static SPIPlanPtr plan = NULL;
	int			ret;

	values[0] = CStringGetTextDatum(revision);
	ret = schemamig_owner_execute_kept(&plan,
									   "SELECT r.checksum, a.revision IS NOT NULL "
									   "FROM schemamig.revision r LEFT JOIN schemamig.applied a "
									   "ON a.revision OPERATOR(pg_catalog.=) r.revision "
									   "WHERE r.revision OPERATOR(pg_catalog.=) $1",
									   1, types, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.revision: %s", SPI_result_code_string(ret));
	if (SPI_processed != 1)
		return false;
	if (checksum)
		*checksum = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (applied)
		*applied = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0],
											  SPI_tuptable->tupdesc, 2, &isnull));
	return true;
}

/* One element of a parents array: not NULL, not the revision itself */
static char *
parent_element(const char *revision, Datum elem, bool isnull)
{
	char	   *parent;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
				 errmsg("parents of revision \"%s\" must not contain NULL", revision)));
	parent = TextDatumGetCString(elem);
	if (strcmp(parent, revision) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
				 errmsg("revision \"%s\" cannot be its own parent", revision)));
	return parent;
}

/*
 * The explicit parents of a revision that is not registered yet, checked
 * like resolve_parents() does; no cycle is possible.
 */
static List *
check_new_parents(const char *revision, ArrayType *parents_arg)
{
	List	   *parents = NIL;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;

	if (ARR_NDIM(parents_arg) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
				 errmsg("parents must be a one-dimensional array")));
	deconstruct_array(parents_arg, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	for (int i = 0; i < nelems; i++)
	{
		char	   *parent;
		bool		seen = false;
		ListCell   *lc;

		parent = parent_element(revision, elems[i], nulls[i]);
		if (!schemamig_revision_lookup(parent, NULL, NULL))
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
					 errmsg("parent \"%s\" of revision \"%s\" is not registered", parent, revision),
					 errhint("Register the parent first; revisions are registered in order.")));
		foreach(lc, parents)
			if (strcmp((char *) lfirst(lc), parent) == 0)
			seen = true;
		if (!seen)
			parents = lappend(parents, parent);
	}
	return parents;
}

/*
 * NULL parents: the registered ones for a known id, else the single head.
 * Duplicates are dropped; every parent must be registered, and a parent
 * that descends from the revision would close a cycle.
 */
static List *
resolve_parents(SchemamigGraph *graph, const char *revision,
				ArrayType *parents_arg, int existing)
{
	List	   *parents = NIL;
	Datum	   *elems;
	bool	   *nulls;
	int			nelems;
	bool	   *below = NULL;

	if (parents_arg == NULL)
	{
		List	   *heads;

		if (existing >= 0)
		{
			SchemamigNode *node = &graph->nodes[existing];

			for (int j = 0; j < node->nparents; j++)
				parents = lappend_int(parents, node->parents[j]);
			return parents;
		}
		heads = schemamig_graph_versioned_heads(graph);
		if (list_length(heads) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
					 errmsg("cannot choose a parent for revision \"%s\": the graph has %d heads",
							revision, list_length(heads)),
					 errhint("Pass parents explicitly; a revision whose parents are all the heads merges them.")));
		return heads;
	}

	if (ARR_NDIM(parents_arg) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
				 errmsg("parents must be a one-dimensional array")));
	deconstruct_array(parents_arg, TEXTOID, -1, false, TYPALIGN_INT,
					  &elems, &nulls, &nelems);
	if (existing >= 0)
		below = schemamig_graph_descendants(graph, existing);
	for (int i = 0; i < nelems; i++)
	{
		char	   *parent;
		int			p;

		parent = parent_element(revision, elems[i], nulls[i]);
		p = schemamig_graph_find(graph, parent);
		if (p < 0)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
					 errmsg("parent \"%s\" of revision \"%s\" is not registered", parent, revision),
					 errhint("Register the parent first; revisions are registered in order.")));
		if (below && below[p])
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
					 errmsg("making \"%s\" a parent of revision \"%s\" would create a cycle", parent, revision),
					 errdetail("\"%s\" descends from \"%s\".", parent, revision)));
		if (!list_member_int(parents, p))
			parents = lappend_int(parents, p);
	}
	return parents;
}

static bool
same_parents(SchemamigNode *node, List *parents)
{
	int			j = 0;
	ListCell   *lc;

	if (node->nparents != list_length(parents))
		return false;
	foreach(lc, parents)
		if (node->parents[j++] != lfirst_int(lc))
		return false;
	return true;
}

static void
count_statements(List *statements, int *count, bool *transactional)
{
	ListCell   *lc;

	*count = list_length(statements);
	*transactional = true;
	foreach(lc, statements)
		if (((SchemamigStatement *) lfirst(lc))->needs_top_level)
		*transactional = false;
}

/*
 * Statements neither SPI (upgrade()) nor the step protocol can run: COPY
 * from or to the client needs the client's side of the COPY protocol.
 */
static void
refuse_unrunnable(List *statements, const char *revision, const char *which)
{
	ListCell   *lc;

	foreach(lc, statements)
	{
		SchemamigStatement *st = lfirst(lc);

		if (IsA(st->parsetree, CopyStmt) && ((CopyStmt *) st->parsetree)->filename == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_INVALID_SCRIPT),
					 errmsg("%s script of revision \"%s\" contains a statement that cannot run in a migration",
							which, revision),
					 errdetail("Statement %d is \"%s\": COPY %s needs a client on the other end.",
							   st->statement_no, schemamig_clip(st->text),
							   ((CopyStmt *) st->parsetree)->is_from ? "FROM STDIN" : "TO STDOUT"),
					 errhint("Load data with INSERT ... SELECT or COPY from a file the server can read.")));
	}
}

static void
write_revision(bool replace, const char *revision, Datum parents,
			   const char *message, const char *upgrade, const char *downgrade,
			   const char *checksum, const char *kind, bool up_tx, bool down_tx,
			   int up_count, int down_count)
{
	Oid			types[13] = {TEXTOID, TEXTARRAYOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, BOOLOID, BOOLOID, INT4OID, INT4OID, NAMEOID, OIDOID};
	Datum		values[13];
	char		nulls[13];
	NameData	by;
	static SPIPlanPtr insert_plan = NULL;
	int			ret;

	memset(nulls, ' ', sizeof(nulls));
	namestrcpy(&by, GetUserNameFromId(GetUserId(), false));
	values[0] = CStringGetTextDatum(revision);
	values[1] = parents;
	values[2] = message ? CStringGetTextDatum(message) : (Datum) 0;
	nulls[2] = message ? ' ' : 'n';
	values[3] = CStringGetTextDatum(upgrade);
	values[4] = downgrade ? CStringGetTextDatum(downgrade) : (Datum) 0;
	nulls[4] = downgrade ? ' ' : 'n';
	values[5] = CStringGetTextDatum(checksum);
	values[6] = CStringGetTextDatum(kind);
	values[7] = BoolGetDatum(up_tx);
	values[8] = BoolGetDatum(down_tx);
	values[9] = Int32GetDatum(up_count);
	values[10] = Int32GetDatum(down_count);
	nulls[10] = down_count >= 0 ? ' ' : 'n';
	values[11] = NameGetDatum(&by);
	/* the author by OID: executed review runs the scripts as this role */
	values[12] = ObjectIdGetDatum(GetUserId());

	/* 0.1.0's objects (library updated, extension not yet): no author OID */
	if (get_attnum(get_relname_relid("revision", schemamig_schema_oid()),
				   "registered_role") == InvalidAttrNumber)
		ret = schemamig_owner_execute(replace ?
									  "UPDATE schemamig.revision SET parents = $2, "
									  "message = $3, upgrade_sql = $4, downgrade_sql = $5, "
									  "checksum = $6, kind = $7, upgrade_transactional = $8, "
									  "downgrade_transactional = $9, upgrade_statements = $10, "
									  "downgrade_statements = $11, registered_by = $12, "
									  "registered_at = pg_catalog.now() "
									  "WHERE revision OPERATOR(pg_catalog.=) $1" :
									  "INSERT INTO schemamig.revision (revision, parents, "
									  "message, upgrade_sql, downgrade_sql, checksum, kind, "
									  "upgrade_transactional, downgrade_transactional, "
									  "upgrade_statements, downgrade_statements, registered_by) "
									  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
									  12, types, values, nulls, false, 0);
	else if (replace)
		ret = schemamig_owner_execute("UPDATE schemamig.revision SET parents = $2, "
									  "message = $3, upgrade_sql = $4, downgrade_sql = $5, "
									  "checksum = $6, kind = $7, upgrade_transactional = $8, "
									  "downgrade_transactional = $9, upgrade_statements = $10, "
									  "downgrade_statements = $11, registered_by = $12, "
									  "registered_role = $13, registered_at = pg_catalog.now() "
									  "WHERE revision OPERATOR(pg_catalog.=) $1",
									  13, types, values, nulls, false, 0);
	else
		ret = schemamig_owner_execute_kept(&insert_plan,
										   "INSERT INTO schemamig.revision (revision, parents, "
										   "message, upgrade_sql, downgrade_sql, checksum, kind, "
										   "upgrade_transactional, downgrade_transactional, "
										   "upgrade_statements, downgrade_statements, registered_by, "
										   "registered_role) "
										   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
										   13, types, values, nulls, false, 0);
	if (ret != (replace ? SPI_OK_UPDATE : SPI_OK_INSERT))
		elog(ERROR, "could not write schemamig.revision: %s", SPI_result_code_string(ret));
}

/*
 * unregister(revision): only a revision that is neither applied nor
 * anybody's parent can go.
 */
Datum
schemamig_unregister(PG_FUNCTION_ARGS)
{
	char	   *revision = schemamig_revision_arg(fcinfo, 0);
	SchemamigGraph *graph;
	SchemamigNode *node;
	SchemamigOwnerContext octx;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int			ret;

	schemamig_check_writable("unregister()");
	schemamig_check_not_nested("unregister()");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_lock_history();
	schemamig_bump_generation();
	graph = schemamig_graph_load();
	node = &graph->nodes[schemamig_graph_require(graph, revision)];
	if (node->applied)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
				 errmsg("revision \"%s\" is applied and cannot be unregistered", revision),
				 errhint("Downgrade it first.")));
	if (node->nchildren > 0)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
				 errmsg("revision \"%s\" has child revisions and cannot be unregistered",
						revision),
				 errdetail("\"%s\" is a parent of \"%s\".", revision,
						   graph->nodes[node->children[0]].revision),
				 errhint("Unregister its children first.")));

	values[0] = CStringGetTextDatum(revision);
	schemamig_owner_enter(&octx);
	ret = SPI_execute_with_args("DELETE FROM schemamig.revision "
								"WHERE revision OPERATOR(pg_catalog.=) $1",
								1, types, values, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "could not delete from schemamig.revision: %s", SPI_result_code_string(ret));
	schemamig_owner_leave(&octx);
	SPI_finish();
	PG_RETURN_VOID();
}
