/*-------------------------------------------------------------------------
 *
 * review_verify.c
 *		verify(): does each pending revision's downgrade undo its upgrade?
 *		Run as the author, in subtransactions that are always rolled back.
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
 * Where PostgreSQL makes the check impossible in one transaction (an enum
 * value added and used: SQLSTATE 55P04), the row says restores_schema NULL
 * and its detail starts "inconclusive:"; descendants of a revision that
 * could not be applied say so too.
 *
 * Memory: everything that must outlive a subtransaction (result rows,
 * error messages) is allocated in the function's calling context, and the
 * rows go into the result tuplestore only after the last rollback, so a
 * tuplestore spilling to a temporary file never does so under a resource
 * owner that is about to be released.
 *
 * IDENTIFICATION
 *		src/review_verify.c
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

PG_FUNCTION_INFO_V1(schemamig_verify);

#define VERIFY_COLUMNS 6
#define MAX_DIFFERENCES 20

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

static void verify_step(void *arg);
static int	compare_objects(const ListCell *a, const ListCell *b);
static char *schema_differences(List *before, List *after);
static void verify_one(void *arg);
static void verify_body(void *arg);


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

	schemamig_review_run_as_author(step->revision, step->direction, NULL, NULL);
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
	ok = schemamig_review_subxact(verify_step, &step, true, true, &message);
	if (!ok && schemamig_review_last_sqlerrcode == ERRCODE_UNSAFE_NEW_ENUM_VALUE_USAGE)
		detail = psprintf("inconclusive: upgrade uses an enum value added in the same transaction (%s); "
						  "PostgreSQL allows that only after the value is committed, which verify() "
						  "cannot do (upgrade_each() applies one revision per transaction)", message);
	else if (!ok)
	{
		values[1] = BoolGetDatum(false);
		nulls[1] = false;
		detail = message;
	}
	else if (node->irreversible)
	{
		values[1] = BoolGetDatum(true);
		nulls[1] = false;
		detail = "irreversible";
	}
	else
	{
		values[1] = BoolGetDatum(true);
		nulls[1] = false;
		step.direction = DIRECTION_DOWNGRADE;
		ok = schemamig_review_subxact(verify_step, &step, true, true, &message);
		if (!ok && schemamig_review_last_sqlerrcode == ERRCODE_UNSAFE_NEW_ENUM_VALUE_USAGE)
			detail = psprintf("inconclusive: downgrade uses an enum value added in the same "
							  "transaction (%s); PostgreSQL allows that only after the value "
							  "is committed", message);
		else if (!ok)
		{
			values[2] = BoolGetDatum(false);
			nulls[2] = false;
			detail = psprintf("downgrade failed: %s", message);
		}
		else
		{
			values[2] = BoolGetDatum(true);
			nulls[2] = false;
			after = schemamig_fingerprint_objects();
			detail = schema_differences(before, after);
			values[3] = BoolGetDatum(detail == NULL);
			nulls[3] = false;

			step.direction = DIRECTION_UPGRADE;
			ok = schemamig_review_subxact(verify_step, &step, true, true, &message);
			if (!ok && schemamig_review_last_sqlerrcode == ERRCODE_UNSAFE_NEW_ENUM_VALUE_USAGE)
			{
				/* the check is sound, the reapply is what cannot be judged */
				detail = psprintf("%s%sinconclusive: upgrade after downgrade uses an enum value "
								  "added in the same transaction (%s)",
								  detail ? detail : "", detail ? "; " : "", message);
			}
			else
			{
				values[4] = BoolGetDatum(ok);
				nulls[4] = false;
				if (!ok)
					detail = psprintf("%s%supgrade after downgrade failed: %s",
									  detail ? detail : "", detail ? "; " : "", message);
			}
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
	bool	   *inconclusive = palloc0(sizeof(bool) * Max(graph->nnodes, 1));
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
			schemamig_review_run_as_author(node->revision, DIRECTION_UPGRADE, NULL, NULL);
			continue;
		}

		for (int p = 0; p < node->nparents && skip == NULL; p++)
			if (blocked[node->parents[p]])
				skip = psprintf("%s: parent revision \"%s\" could not be applied",
								inconclusive[node->parents[p]] ? "inconclusive" : "not verified",
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
			inconclusive[i] = strncmp(skip, "inconclusive", 12) == 0;
			continue;
		}

		/* the checks, rolled back; then the revision applied for real */
		one.node = node;
		one.values = values;
		one.nulls = nulls;
		one.resultcxt = state->resultcxt;
		(void) schemamig_review_subxact(verify_one, &one, false, false, NULL);

		step.revision = node->revision;
		step.direction = DIRECTION_UPGRADE;
		if (nulls[1] || !DatumGetBool(values[1]) ||
			!schemamig_review_subxact(verify_step, &step, true, true, NULL))
		{
			blocked[i] = true;
			inconclusive[i] = nulls[1] && !nulls[5];
		}
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

	schemamig_review_check_can("verify()");
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

	schemamig_review_check_authors(state.graph, state.pending);
	save_nestlevel = schemamig_review_set_lock_timeout();
	schemamig_review_subxact(verify_body, &state, false, false, NULL);
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
