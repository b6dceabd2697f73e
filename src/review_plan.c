/*-------------------------------------------------------------------------
 *
 * review_plan.c
 *		plan(): predicted (plan_predict.c) or, with execute => true, run
 *		in a subtransaction that is always rolled back, as the author.
 *
 * plan(target) runs the revisions upgrade(target) would apply, statement
 * by statement exactly as upgrade() does (migrate.c's
 * schemamig_run_script, in a migration context, with schemamig.lock_timeout),
 * inside one internal subtransaction that is rolled back at the end, on
 * success and on error alike.  Schema changes, DDL log rows written by the
 * event triggers, everything goes with it; plan() never marks a revision
 * applied nor writes the journal.  Later revisions see the schema of the
 * earlier ones because they run in the same subtransaction.
 *
 * Locks are found by difference: after each statement, the relation locks
 * this backend holds (pg_locks, granted, pid = our own) are compared with a
 * running set of the (relation, mode) pairs held before it.  Relation locks
 * are kept until the end of the (sub)transaction, so what is new is what
 * the statement took.  Limits of the approach: a pair already held by an
 * earlier statement of the plan (or by the caller's transaction) is not
 * reported again, which is also what a real upgrade() in one transaction
 * would acquire; locks taken and released inside the statement (PostgreSQL
 * does that for some catalog accesses only) are not seen; catalogs, TOAST
 * tables and schemamig's own tables are left out, and so are relations
 * the statement created (nobody else can see them yet, so their locks
 * block no one).  Relations are named from a cache of user relation names
 * refreshed after every statement, which also names a relation the
 * statement dropped (it has no pg_class row any more) and tells which
 * relations are new.  Rewrites come
 * from the table_rewrite event trigger (ddl_log.c), which reports the
 * rewritten table's OID here while plan() is active.
 *
 * Statements PostgreSQL runs only at top level run as their transactional
 * equivalent (review.c): plan() shows the locks the plain form takes
 * (SHARE for CREATE INDEX, where the concurrent build takes SHARE UPDATE
 * EXCLUSIVE and lets writes through).  Temporary relations are left out
 * like catalogs: only this session sees them.
 *
 * Memory: the rows are allocated in the function's calling context and go
 * into the result tuplestore only after the rollback, so a tuplestore
 * spilling to a temporary file never does so under a resource owner that
 * is about to be released.
 *
 * IDENTIFICATION
 *		src/review_plan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "review_int.h"

PG_FUNCTION_INFO_V1(schemamig_plan);

#define PLAN_COLUMNS SCHEMAMIG_PLAN_COLUMNS

/* Read by ddl_log.c's table_rewrite event trigger */
List	   *schemamig_plan_rewrites = NIL;
static MemoryContext plan_rewrite_cxt = NULL;

/* PostgreSQL's table lock modes, weakest first */
static const char *const lock_modes[] = {
	"AccessShareLock", "RowShareLock", "RowExclusiveLock",
	"ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock",
	"ExclusiveLock", "AccessExclusiveLock"
};

typedef struct HeldLock
{
	Oid			relid;
	int			level;			/* index into lock_modes */
} HeldLock;

typedef struct RelName
{
	Oid			relid;
	char	   *name;			/* schema-qualified, quoted as needed */
} RelName;

typedef struct PlanRun
{
	MemoryContext resultcxt;	/* outlives the subtransaction */
	List	   *rows;			/* Datum[PLAN_COLUMNS], in resultcxt */
	HTAB	   *held;			/* HeldLock: pairs held so far */
	List	   *taken;			/* SchemamigLock taken by earlier statements */
	HTAB	   *names;			/* RelName: user relations by OID */
	const char *revision;
	SchemamigGraph *graph;
	List	   *pending;
	const char *target;
} PlanRun;

static int	lock_level(const char *mode);
static Datum plan_predicted(FunctionCallInfo fcinfo);
static void plan_body(void *arg);
static void plan_refresh_names(PlanRun *state);
static void plan_after_statement(SchemamigStatement *st, TimestampTz started,
								 void *arg);


static int
lock_level(const char *mode)
{
	for (int i = 0; i < lengthof(lock_modes); i++)
		if (strcmp(lock_modes[i], mode) == 0)
			return i;
	return -1;
}

/* ---- plan() ---- */

/* Called by the table_rewrite event trigger while plan() runs */
void
schemamig_plan_note_rewrite(Oid relid)
{
	MemoryContext oldcxt;

	if (!schemamig_plan_active || plan_rewrite_cxt == NULL)
		return;
	oldcxt = MemoryContextSwitchTo(plan_rewrite_cxt);
	schemamig_plan_rewrites = list_append_unique_oid(schemamig_plan_rewrites, relid);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * plan(target, execute => false): predicted from the parse trees and the
 * catalogs (plan_predict.c).  Takes no lock a session could wait for, not
 * even schemamig's history lock: it reads the graph as committed now.
 */
static Datum
plan_predicted(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext resultcxt;
	SchemamigGraph *graph;
	List	   *pending;
	List	   *rows;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	resultcxt = CurrentMemoryContext;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	graph = schemamig_graph_load();
	pending = schemamig_graph_pending(graph, text_to_cstring(PG_GETARG_TEXT_PP(0)));
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(resultcxt);

		rows = schemamig_plan_predict(graph, pending);
		MemoryContextSwitchTo(oldcxt);
	}
	SPI_finish();
	foreach(lc, rows)
	{
		bool		nulls[PLAN_COLUMNS];
		Datum	   *values = (Datum *) lfirst(lc);

		for (int i = 0; i < PLAN_COLUMNS; i++)
			nulls[i] = (values[i] == (Datum) 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * plan(target text DEFAULT 'heads', execute boolean DEFAULT false)
 *		RETURNS TABLE(revision, statement_no, statement, locks, strongest_lock,
 *					  rewrites, duration)
 */
Datum
schemamig_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PlanRun		state;
	HASHCTL		hctl;
	ListCell   *lc;
	int			save_nestlevel;

	/* 0.1.0's plan(target) has no execute argument and executed */
	if (PG_NARGS() < 2 || PG_GETARG_BOOL(1))
		schemamig_review_check_can("plan()");
	else
	{
		if (schemamig_plan_active)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("plan() cannot be called from inside plan()")));
		return plan_predicted(fcinfo);
	}
	InitMaterializedSRF(fcinfo, 0);
	memset(&state, 0, sizeof(state));
	state.resultcxt = CurrentMemoryContext;
	state.target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	schemamig_check_target(state.target);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_lock_history();
	state.graph = schemamig_graph_load();
	state.pending = schemamig_graph_pending(state.graph, state.target);
	schemamig_review_check_authors(state.graph, state.pending);

	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(HeldLock);
	hctl.entrysize = sizeof(HeldLock);
	hctl.hcxt = CurrentMemoryContext;
	state.held = hash_create("schemamig plan locks", 64, &hctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	hctl.keysize = sizeof(Oid);
	hctl.entrysize = sizeof(RelName);
	state.names = hash_create("schemamig plan names", 256, &hctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	save_nestlevel = schemamig_review_set_lock_timeout();
	plan_rewrite_cxt = CurrentMemoryContext;
	schemamig_plan_rewrites = NIL;
	schemamig_plan_active = true;
	PG_TRY();
	{
		schemamig_review_subxact(plan_body, &state, false, false, NULL);
	}
	PG_FINALLY();
	{
		schemamig_plan_active = false;
		schemamig_plan_rewrites = NIL;
		plan_rewrite_cxt = NULL;
	}
	PG_END_TRY();
	AtEOXact_GUC(true, save_nestlevel);
	SPI_finish();

	foreach(lc, state.rows)
	{
		bool		nulls[PLAN_COLUMNS];
		Datum	   *values = (Datum *) lfirst(lc);

		for (int i = 0; i < PLAN_COLUMNS; i++)
			nulls[i] = (values[i] == (Datum) 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Inside the subtransaction: run every pending revision's upgrade */
static void
plan_body(void *arg)
{
	PlanRun    *state = (PlanRun *) arg;
	ListCell   *lc;

	/* what the caller's transaction holds already is not the plan's */
	plan_after_statement(NULL, 0, state);

	foreach(lc, state->pending)
	{
		SchemamigNode *node = &state->graph->nodes[lfirst_int(lc)];

		state->revision = node->revision;
		schemamig_review_run_as_author(node->revision, DIRECTION_UPGRADE, plan_after_statement, state);
	}
}

/*
 * Relation names of every user relation, for relations dropped later.  Not
 * read-only: a read-only query would use the snapshot of plan()'s caller
 * and miss the relations the plan's statements created.
 */
static void
plan_refresh_names(PlanRun *state)
{
	int			ret;

	ret = SPI_execute("SELECT c.oid, n.nspname, c.relname "
					  "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
					  "ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					  "WHERE n.nspname OPERATOR(pg_catalog.<>) ALL "
					  "('{pg_catalog,information_schema,schemamig}'::pg_catalog.name[]) "
					  "AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_toast%' "
					  "AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_temp\\_%'",
					  false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_class: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		RelName    *entry;
		bool		found;
		MemoryContext oldcxt;

		entry = hash_search(state->names, &relid, HASH_ENTER, &found);
		if (found)
			continue;
		oldcxt = MemoryContextSwitchTo(state->resultcxt);
		entry->name = psprintf("%s.%s",
							   quote_identifier(SPI_getvalue(tup, desc, 2)),
							   quote_identifier(SPI_getvalue(tup, desc, 3)));
		MemoryContextSwitchTo(oldcxt);
	}
}

/*
 * After each statement (st == NULL: before the first one): the relation
 * locks held now that were not held before, and the tables rewritten.
 * A lock is reported when no lock held since an earlier statement (or
 * taken by this one) on the same relation already conflicts with
 * everything it conflicts with: such a lock is granted without waiting.
 * Locks on relations this statement created are not reported but count
 * as held for the statements after it.
 */
static void
plan_after_statement(SchemamigStatement *st, TimestampTz started, void *arg)
{
	PlanRun    *state = (PlanRun *) arg;
	List	   *new_pairs = NIL;
	List	   *new_locks = NIL;
	List	   *created_locks = NIL;
	List	   *lock_strings = NIL;
	List	   *rewrites = NIL;
	SchemamigLock *strongest = NULL;
	ListCell   *lc;
	int			ret;
	MemoryContext oldcxt;
	Datum	   *values;
	Interval   *duration;

	ret = SPI_execute("SELECT relation, mode FROM pg_catalog.pg_locks "
					  "WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() "
					  "AND locktype OPERATOR(pg_catalog.=) 'relation' AND granted "
					  "AND database OPERATOR(pg_catalog.=) "
					  "(SELECT oid FROM pg_catalog.pg_database "
					  "WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())",
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_locks: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		HeldLock	key;
		HeldLock   *pair;
		bool		found;

		key.relid = DatumGetObjectId(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		key.level = lock_level(SPI_getvalue(tup, SPI_tuptable->tupdesc, 2));
		if (isnull || key.level < 0)
			continue;
		(void) hash_search(state->held, &key, HASH_ENTER, &found);
		if (found || st == NULL)
			continue;
		pair = palloc(sizeof(HeldLock));
		*pair = key;
		/* known before the statement: not created by it */
		if (hash_search(state->names, &key.relid, HASH_FIND, NULL) == NULL)
			pair->level = -1 - pair->level;
		new_pairs = lappend(new_pairs, pair);
	}
	plan_refresh_names(state);
	if (st == NULL)
		return;

	oldcxt = MemoryContextSwitchTo(state->resultcxt);
	foreach(lc, new_pairs)
	{
		HeldLock   *pair = (HeldLock *) lfirst(lc);
		bool		created = pair->level < 0;
		RelName    *name = hash_search(state->names, &pair->relid, HASH_FIND, NULL);
		SchemamigLock *l;

		/* not a user relation: blocks no one */
		if (name == NULL)
			continue;
		l = palloc(sizeof(SchemamigLock));
		l->relation = name->name;
		l->level = (created ? -1 - pair->level : pair->level) + 1;
		if (created)
			created_locks = lappend(created_locks, l);
		else
			new_locks = lappend(new_locks, l);
	}
	new_locks = schemamig_plan_uncovered(new_locks, state->taken);
	foreach(lc, new_locks)
	{
		SchemamigLock *l = (SchemamigLock *) lfirst(lc);

		lock_strings = lappend(lock_strings,
							   psprintf("%s: %s", l->relation, lock_modes[l->level - 1]));
		if (strongest == NULL || l->level > strongest->level)
			strongest = l;
	}
	foreach(lc, schemamig_plan_rewrites)
	{
		RelName    *name = hash_search(state->names, &lfirst_oid(lc), HASH_FIND, NULL);

		if (name != NULL)
			rewrites = list_append_unique_ptr(rewrites, name->name);
	}
	schemamig_plan_rewrites = NIL;

	duration = palloc0(sizeof(Interval));
	duration->time = GetCurrentTimestamp() - started;
	values = palloc0(sizeof(Datum) * PLAN_COLUMNS);
	values[0] = CStringGetTextDatum(state->revision);
	values[1] = Int32GetDatum(st->statement_no);
	values[2] = CStringGetTextDatum(st->text);
	values[3] = schemamig_text_array(lock_strings);
	values[4] = strongest ? CStringGetTextDatum(psprintf("%s: %s", strongest->relation,
														 lock_modes[strongest->level - 1])) : (Datum) 0;
	values[5] = schemamig_text_array(rewrites);
	values[6] = IntervalPGetDatum(duration);
	values[7] = schemamig_text_array(schemamig_held_lock_strings(state->taken));
	state->taken = list_concat(state->taken, new_locks);
	state->taken = list_concat(state->taken, created_locks);
	state->rows = lappend(state->rows, values);
	MemoryContextSwitchTo(oldcxt);
}
