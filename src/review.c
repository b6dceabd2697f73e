/*-------------------------------------------------------------------------
 *
 * review.c
 *		plan() and verify(): migrations reviewed by the database itself,
 *		by running them in subtransactions that are always rolled back.
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
 * Statements PostgreSQL runs only at top level (CREATE INDEX CONCURRENTLY,
 * ...) cannot run from a function.  plan() and verify() run their
 * transactional equivalent instead (migrate.c: the same parse tree with
 * CONCURRENTLY off): the same schema results, and plan() shows the locks
 * the plain form takes (SHARE for CREATE INDEX, where the concurrent build
 * takes SHARE UPDATE EXCLUSIVE and lets writes through).
 *
 * verify(revision) takes each pending revision in upgrade order, or the
 * named one after applying its pending ancestors, and in a subtransaction
 * that is rolled back: fingerprints the schema (fingerprint.c), upgrades,
 * downgrades, fingerprints again and compares, upgrades again.  Each step
 * runs in a nested subtransaction of its own so that its error is reported
 * in the row instead of ending the call.  Then the revision is applied
 * once more, in the outer subtransaction, so the next one sees its
 * ancestors; the outer subtransaction is rolled back at the end.
 *
 * Memory: everything that must outlive a subtransaction (result rows,
 * error messages) is allocated in the function's calling context, and the
 * rows go into the result tuplestore only after the last rollback, so a
 * tuplestore spilling to a temporary file never does so under a resource
 * owner that is about to be released.  The subtransaction handling follows
 * PL/Python's: save CurrentMemoryContext and CurrentResourceOwner, restore
 * both after commit or rollback, copy the error before rolling back.
 *
 * IDENTIFICATION
 *		src/review.c
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
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_plan);
PG_FUNCTION_INFO_V1(schemamig_verify);

#define PLAN_COLUMNS 7
#define VERIFY_COLUMNS 6
#define MAX_DIFFERENCES 20

/* Read by ddl_log.c's table_rewrite event trigger */
bool		schemamig_plan_active = false;
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

typedef struct NewLock
{
	char	   *relation;
	int			level;
} NewLock;

typedef struct PlanRun
{
	MemoryContext resultcxt;	/* outlives the subtransaction */
	List	   *rows;			/* Datum[PLAN_COLUMNS], in resultcxt */
	HTAB	   *held;			/* HeldLock: pairs held so far */
	HTAB	   *names;			/* RelName: user relations by OID */
	const char *revision;
	SchemamigGraph *graph;
	List	   *pending;
	const char *target;
} PlanRun;

typedef struct VerifyOne
{
	SchemamigNode *node;
	Datum	   *values;			/* the row, in resultcxt */
	bool	   *nulls;
	MemoryContext resultcxt;
} VerifyOne;

typedef struct VerifyStep
{
	const char *revision;
	SchemamigDirection direction;
} VerifyStep;

static bool run_in_subxact(void (*fn) (void *arg), void *arg, bool keep,
						   bool catch_error, char **message);
static void check_can_review(const char *fname);
static int	lock_level(const char *mode);
static void plan_body(void *arg);
static void plan_refresh_names(PlanRun *state);
static void plan_after_statement(SchemamigStatement *st, TimestampTz started,
								 void *arg);
static int	compare_new_locks(const ListCell *a, const ListCell *b);
static void verify_step(void *arg);
static int	compare_objects(const ListCell *a, const ListCell *b);
static char *schema_differences(List *before, List *after);
static void verify_one(void *arg);
static void verify_body(void *arg);

/*
 * Run fn(arg) in an internal subtransaction.  On success the subtransaction
 * is committed into its parent when keep, rolled back otherwise.  On error
 * it is rolled back; then the error is re-thrown, or, when catch_error, its
 * message is returned (allocated in the caller's memory context) with
 * false.
 */
static bool
run_in_subxact(void (*fn) (void *arg), void *arg, bool keep,
			   bool catch_error, char **message)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();

	if (edata == NULL && keep)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;

	if (edata == NULL)
		return true;
	if (!catch_error)
		ReThrowError(edata);
	if (message)
		*message = edata->message;
	return false;
}

static void
check_can_review(const char *fname)
{
	schemamig_check_can_migrate(fname);
	if (schemamig_plan_active)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot be called from inside plan()", fname)));
}

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
 * plan(target text DEFAULT 'heads')
 *		RETURNS TABLE(revision, statement_no, statement, locks, strongest_lock,
 *					  rewrites, duration)
 */
Datum
schemamig_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PlanRun	state;
	HASHCTL		hctl;
	ListCell   *lc;
	int			save_nestlevel;

	check_can_review("plan()");
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

	save_nestlevel = schemamig_set_lock_timeout();
	plan_rewrite_cxt = CurrentMemoryContext;
	schemamig_plan_rewrites = NIL;
	schemamig_plan_active = true;
	PG_TRY();
	{
		run_in_subxact(plan_body, &state, false, false, NULL);
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
	PlanRun  *state = (PlanRun *) arg;
	ListCell   *lc;

	/* what the caller's transaction holds already is not the plan's */
	plan_after_statement(NULL, 0, state);

	foreach(lc, state->pending)
	{
		SchemamigNode *node = &state->graph->nodes[lfirst_int(lc)];

		state->revision = node->revision;
		(void) schemamig_run_script(node->revision, DIRECTION_UPGRADE, true,
									plan_after_statement, state);
	}
}

/* Relation names of every user relation, for relations dropped later */
static void
plan_refresh_names(PlanRun *state)
{
	int			ret;

	ret = SPI_execute("SELECT c.oid, n.nspname, c.relname "
					  "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
					  "ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					  "WHERE n.nspname OPERATOR(pg_catalog.<>) ALL "
					  "('{pg_catalog,information_schema,schemamig}'::pg_catalog.name[]) "
					  "AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_toast%'",
					  true, 0);
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
 */
static void
plan_after_statement(SchemamigStatement *st, TimestampTz started, void *arg)
{
	PlanRun  *state = (PlanRun *) arg;
	List	   *new_locks = NIL;
	List	   *lock_strings = NIL;
	List	   *rewrites = NIL;
	NewLock    *strongest = NULL;
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
		bool		found;
		RelName    *name;

		key.relid = DatumGetObjectId(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		key.level = lock_level(SPI_getvalue(tup, SPI_tuptable->tupdesc, 2));
		if (isnull || key.level < 0)
			continue;
		(void) hash_search(state->held, &key, HASH_ENTER, &found);
		if (found || st == NULL)
			continue;
		/* not a user relation, or created by this statement: blocks no one */
		name = hash_search(state->names, &key.relid, HASH_FIND, NULL);
		if (name == NULL)
			continue;
		{
			NewLock    *nl = palloc(sizeof(NewLock));

			nl->relation = name->name;
			nl->level = key.level;
			new_locks = lappend(new_locks, nl);
		}
	}
	plan_refresh_names(state);
	if (st == NULL)
		return;

	list_sort(new_locks, compare_new_locks);
	oldcxt = MemoryContextSwitchTo(state->resultcxt);
	foreach(lc, new_locks)
	{
		NewLock    *nl = (NewLock *) lfirst(lc);
		char	   *lock = psprintf("%s: %s", nl->relation, lock_modes[nl->level]);

		/* a rebuilt index: the old and the new relation have one name */
		if (lock_strings != NIL && strcmp(llast(lock_strings), lock) == 0)
			continue;
		lock_strings = lappend(lock_strings, lock);
		if (strongest == NULL || nl->level > strongest->level)
			strongest = nl;
	}
	foreach(lc, schemamig_plan_rewrites)
	{
		RelName    *name = hash_search(state->names, &lfirst_oid(lc), HASH_FIND, NULL);

		if (name != NULL)
			rewrites = lappend(rewrites, name->name);
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
														 lock_modes[strongest->level])) : (Datum) 0;
	values[5] = schemamig_text_array(rewrites);
	values[6] = IntervalPGetDatum(duration);
	state->rows = lappend(state->rows, values);
	MemoryContextSwitchTo(oldcxt);
}

/* By relation, then strongest mode first */
static int
compare_new_locks(const ListCell *a, const ListCell *b)
{
	NewLock    *la = (NewLock *) lfirst(a);
	NewLock    *lb = (NewLock *) lfirst(b);
	int			cmp = strcmp(la->relation, lb->relation);

	if (cmp != 0)
		return cmp;
	return lb->level - la->level;
}

/* ---- verify() ---- */

typedef struct VerifyState
{
	MemoryContext resultcxt;
	List	   *rows;			/* rows and the list, in resultcxt */
	SchemamigGraph *graph;
	List	   *pending;
	bool		named;			/* verify one revision, after its ancestors */
} VerifyState;

static void
verify_step(void *arg)
{
	VerifyStep *step = (VerifyStep *) arg;

	(void) schemamig_run_script(step->revision, step->direction, true, NULL, NULL);
}

static int
compare_objects(const ListCell *a, const ListCell *b)
{
	return schemamig_fingerprint_order(lfirst(a), lfirst(b));
}

/* The differences of schema_differences(), in fingerprint order */
typedef struct Differences
{
	List	   *kinds;
	List	   *objects;
} Differences;

static void
note_difference(SchemamigDiffKind kind, SchemamigObjectHash *before,
				SchemamigObjectHash *after, void *arg)
{
	Differences *d = (Differences *) arg;

	d->kinds = lappend(d->kinds, kind == DIFF_REMOVED ? "does not restore" :
					   kind == DIFF_ADDED ? "leaves" : "changes");
	d->objects = lappend(d->objects, after ? after : before);
}

/*
 * The objects that differ between two fingerprints, in words; NULL when
 * none does.  An object left behind or missing hides the objects that
 * belong to it (identity "public.t" hides "public.t.a"), so a forgotten
 * table is one finding, not one per column.
 */
static char *
schema_differences(List *before, List *after)
{
	Differences diff = {NIL, NIL};
	List	   *kinds;
	List	   *objects;
	ListCell   *lk;
	ListCell   *lo;
	StringInfoData buf;
	int			shown = 0;
	int			total = 0;

	before = list_copy(before);
	after = list_copy(after);
	list_sort(before, compare_objects);
	list_sort(after, compare_objects);
	schemamig_fingerprint_diff(before, after, note_difference, &diff);
	kinds = diff.kinds;
	objects = diff.objects;

	initStringInfo(&buf);
	forboth(lk, kinds, lo, objects)
	{
		const char *kind = (const char *) lfirst(lk);
		SchemamigObjectHash *obj = (SchemamigObjectHash *) lfirst(lo);
		bool		hidden = false;
		ListCell   *lk2;
		ListCell   *lo2;

		forboth(lk2, kinds, lo2, objects)
		{
			SchemamigObjectHash *owner = (SchemamigObjectHash *) lfirst(lo2);
			size_t		len = strlen(owner->identity);

			if (strcmp((const char *) lfirst(lk2), "changes") != 0 &&
				strncmp(obj->identity, owner->identity, len) == 0 &&
				obj->identity[len] == '.')
			{
				hidden = true;
				break;
			}
		}
		if (hidden)
			continue;
		total++;
		if (shown++ < MAX_DIFFERENCES)
			appendStringInfo(&buf, "%sdowngrade %s %s %s", buf.len ? "; " : "",
							 kind, obj->type, obj->identity);
	}
	if (total > MAX_DIFFERENCES)
		appendStringInfo(&buf, "; and %d more", total - MAX_DIFFERENCES);
	return total > 0 ? buf.data : NULL;
}

/*
 * Upgrade, downgrade, compare, upgrade again: one row.  Runs inside a
 * subtransaction the caller rolls back; each step in one of its own.
 */
static void
verify_one(void *arg)
{
	VerifyOne  *one = (VerifyOne *) arg;
	SchemamigNode *node = one->node;
	Datum	   *values = one->values;
	bool	   *nulls = one->nulls;
	VerifyStep	step;
	List	   *before;
	List	   *after;
	char	   *message = NULL;
	char	   *detail = NULL;
	bool		ok;

	step.revision = node->revision;
	before = schemamig_fingerprint_objects();

	step.direction = DIRECTION_UPGRADE;
	ok = run_in_subxact(verify_step, &step, true, true, &message);
	values[1] = BoolGetDatum(ok);
	nulls[1] = false;
	if (!ok)
		detail = message;
	else if (node->irreversible)
		detail = "irreversible";
	else
	{
		step.direction = DIRECTION_DOWNGRADE;
		ok = run_in_subxact(verify_step, &step, true, true, &message);
		values[2] = BoolGetDatum(ok);
		nulls[2] = false;
		if (!ok)
			detail = psprintf("downgrade failed: %s", message);
		else
		{
			after = schemamig_fingerprint_objects();
			detail = schema_differences(before, after);
			values[3] = BoolGetDatum(detail == NULL);
			nulls[3] = false;

			step.direction = DIRECTION_UPGRADE;
			ok = run_in_subxact(verify_step, &step, true, true, &message);
			values[4] = BoolGetDatum(ok);
			nulls[4] = false;
			if (!ok)
				detail = psprintf("%s%supgrade after downgrade failed: %s",
								  detail ? detail : "", detail ? "; " : "", message);
		}
	}
	if (detail != NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(one->resultcxt);

		values[5] = CStringGetTextDatum(detail);
		nulls[5] = false;
		MemoryContextSwitchTo(oldcxt);
	}
}

/* Inside the outer subtransaction: every row, pending revisions applied */
static void
verify_body(void *arg)
{
	VerifyState *state = (VerifyState *) arg;
	SchemamigGraph *graph = state->graph;
	bool	   *blocked = palloc0(sizeof(bool) * Max(graph->nnodes, 1));
	ListCell   *lc;

	foreach(lc, state->pending)
	{
		int			i = lfirst_int(lc);
		SchemamigNode *node = &graph->nodes[i];
		Datum	   *values;
		bool	   *nulls;
		const char *skip = NULL;
		VerifyStep	step;
		VerifyOne	one;
		MemoryContext oldcxt;

		/* named revision: its pending ancestors are applied, not verified */
		if (state->named && lnext(state->pending, lc) != NULL)
		{
			(void) schemamig_run_script(node->revision, DIRECTION_UPGRADE, true, NULL, NULL);
			continue;
		}

		for (int p = 0; p < node->nparents && skip == NULL; p++)
			if (blocked[node->parents[p]])
				skip = psprintf("not verified: parent revision \"%s\" could not be applied",
								graph->nodes[node->parents[p]].revision);

		/* the row: Datum[VERIFY_COLUMNS] then bool[VERIFY_COLUMNS] */
		oldcxt = MemoryContextSwitchTo(state->resultcxt);
		values = palloc0(sizeof(Datum) * VERIFY_COLUMNS + sizeof(bool) * VERIFY_COLUMNS);
		nulls = (bool *) (values + VERIFY_COLUMNS);
		memset(nulls, true, sizeof(bool) * VERIFY_COLUMNS);
		values[0] = CStringGetTextDatum(node->revision);
		nulls[0] = false;
		if (skip != NULL)
		{
			values[5] = CStringGetTextDatum(skip);
			nulls[5] = false;
		}
		state->rows = lappend(state->rows, values);
		MemoryContextSwitchTo(oldcxt);
		if (skip != NULL)
		{
			blocked[i] = true;
			continue;
		}

		/* the checks, rolled back; then the revision applied for real */
		one.node = node;
		one.values = values;
		one.nulls = nulls;
		one.resultcxt = state->resultcxt;
		(void) run_in_subxact(verify_one, &one, false, false, NULL);

		step.revision = node->revision;
		step.direction = DIRECTION_UPGRADE;
		if (nulls[1] || !DatumGetBool(values[1]) ||
			!run_in_subxact(verify_step, &step, true, true, NULL))
			blocked[i] = true;
	}
}

/*
 * verify(revision text DEFAULT NULL)
 *		RETURNS TABLE(revision, upgrade_ok, downgrade_ok, restores_schema,
 *					  reapply_ok, detail)
 */
Datum
schemamig_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	VerifyState state;
	ListCell   *lc;
	int			save_nestlevel;

	check_can_review("verify()");
	InitMaterializedSRF(fcinfo, 0);
	memset(&state, 0, sizeof(state));
	state.resultcxt = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_lock_history();
	state.graph = schemamig_graph_load();
	if (PG_ARGISNULL(0))
		state.pending = schemamig_graph_pending(state.graph, "heads");
	else
	{
		char	   *revision = text_to_cstring(PG_GETARG_TEXT_PP(0));
		int			node = schemamig_graph_require(state.graph, revision);

		if (state.graph->nodes[node].applied)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
					 errmsg("revision \"%s\" is already applied", revision),
					 errhint("verify() checks pending revisions; downgrade it first to verify it again.")));
		state.pending = schemamig_graph_pending(state.graph, revision);
		state.named = true;
	}

	save_nestlevel = schemamig_set_lock_timeout();
	run_in_subxact(verify_body, &state, false, false, NULL);
	AtEOXact_GUC(true, save_nestlevel);
	SPI_finish();

	foreach(lc, state.rows)
	{
		Datum	   *values = (Datum *) lfirst(lc);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 (bool *) (values + VERIFY_COLUMNS));
	}
	return (Datum) 0;
}
