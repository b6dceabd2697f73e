/*-------------------------------------------------------------------------
 *
 * plan_predict_rel.c
 *		plan(execute => false): relations as the plan sees them, catalog
 *		lookups, and the bookkeeping of predicted locks.
 *
 * Nothing here takes a lock a session could wait for.  Names are resolved
 * with RangeVarGetRelid(..., NoLock, ...) after the relations earlier
 * statements of the plan created, renamed or dropped (VirtualRel);
 * indexes, children, owned sequences and foreign keys are read from
 * pg_index, pg_inherits, pg_depend and pg_constraint with systable scans
 * under the catalog snapshot (catalogs are only ever share-locked, which
 * no user DDL blocks).  Catalogs, TOAST, temporary relations and
 * schemamig's own tables are never reported: nobody else can wait on
 * them because of the plan.
 *
 * Reads: parse analysis takes ACCESS SHARE on every relation a query
 * names; a query that is also planned (CREATE TABLE AS, a materialized
 * view with data, REFRESH, a foreign key's validation) takes ACCESS SHARE
 * on every index of each of those tables too (the planner opens them all).
 *
 * A lock requested while a lock held since an earlier statement (or a
 * stronger one of the same statement) already conflicts with everything
 * it conflicts with is granted without waiting: schemamig_plan_uncovered()
 * leaves it out, in both modes of plan() (review.c uses it too).
 *
 * IDENTIFICATION
 *		src/plan_predict_rel.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/dependency.h"
#include "catalog/index.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_type.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "plan_predict_int.h"

const char *const schemamig_pred_lock_names[] = {
	"AccessShareLock", "RowShareLock", "RowExclusiveLock",
	"ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock",
	"ExclusiveLock", "AccessExclusiveLock"
};

static bool
is_user_namespace(Oid nspid)
{
	char	   *name = get_namespace_name(nspid);

	if (name == NULL)
		return false;
	return !(nspid == PG_CATALOG_NAMESPACE ||
			 strcmp(name, "information_schema") == 0 ||
			 strcmp(name, "schemamig") == 0 ||
			 strncmp(name, "pg_toast", 8) == 0 ||
			 isAnyTempNamespace(nspid));
}

static char *
rel_display(Oid relid)
{
	char	   *rel = get_rel_name(relid);
	char	   *nsp = get_namespace_name(get_rel_namespace(relid));

	if (rel == NULL || nsp == NULL)
		return NULL;
	return psprintf("%s.%s", quote_identifier(nsp), quote_identifier(rel));
}

/* The key a RangeVar would be created under: creation schema + name */
char *
schemamig_pred_key(RangeVar *rv)
{
	const char *nsp = rv->schemaname;

	if (nsp == NULL)
	{
		List	   *path = fetch_search_path(false);

		nsp = path != NIL ? get_namespace_name(linitial_oid(path)) : "public";
		if (nsp == NULL)
			nsp = "public";
	}
	return psprintf("%s.%s", nsp, rv->relname);
}

VirtualRel *
schemamig_pred_find(PredictState *ps, const char *key)
{
	ListCell   *lc;

	foreach(lc, ps->virtuals)
	{
		VirtualRel *v = (VirtualRel *) lfirst(lc);

		if (strcmp(v->key, key) == 0)
			return v;
	}
	return NULL;
}

VirtualRel *
schemamig_pred_find_relid(PredictState *ps, Oid relid)
{
	ListCell   *lc;

	foreach(lc, ps->virtuals)
	{
		VirtualRel *v = (VirtualRel *) lfirst(lc);

		if (v->relid == relid)
			return v;
	}
	return NULL;
}

/*
 * A RangeVar as the statement would see it after the earlier statements of
 * the plan: false when it names no relation (IF EXISTS, or an error the
 * real run would raise).  Never locks.
 */
bool
schemamig_pred_resolve(PredictState *ps, RangeVar *rv, PredRel *out)
{
	VirtualRel *v = NULL;
	Oid			relid;

	memset(out, 0, sizeof(*out));
	if (rv == NULL || rv->relpersistence == RELPERSISTENCE_TEMP)
		return false;
	if (rv->schemaname != NULL)
		v = schemamig_pred_find(ps, psprintf("%s.%s", rv->schemaname, rv->relname));
	else
	{
		List	   *path = fetch_search_path(false);
		ListCell   *lc;

		foreach(lc, path)
		{
			char	   *nsp = get_namespace_name(lfirst_oid(lc));

			if (nsp == NULL)
				continue;
			v = schemamig_pred_find(ps, psprintf("%s.%s", nsp, rv->relname));
			if (v != NULL)
				break;
			/* a real relation earlier in the path hides later ones */
			if (OidIsValid(get_relname_relid(rv->relname, lfirst_oid(lc))))
				break;
		}
	}
	if (v != NULL)
	{
		if (v->dropped)
			return false;
		out->relid = v->relid;
		out->display = v->display;
		out->virtual = v;
		return true;
	}
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid))
		return false;
	v = schemamig_pred_find_relid(ps, relid);
	if (v != NULL && v->dropped)
		return false;
	out->relid = relid;
	out->display = v ? v->display : rel_display(relid);
	out->virtual = v;
	return out->display != NULL;
}

/* Does the relation exist (for IF NOT EXISTS)? */
bool
schemamig_pred_exists(PredictState *ps, RangeVar *rv)
{
	PredRel		unused;

	return schemamig_pred_resolve(ps, rv, &unused);
}

void
schemamig_pred_lock(Prediction *p, const char *relation, int level)
{
	PredLock   *l;

	if (relation == NULL)
		return;
	l = palloc(sizeof(PredLock));
	l->relation = pstrdup(relation);
	l->level = level;
	l->relid = InvalidOid;
	p->locks = lappend(p->locks, l);
}

void
schemamig_pred_lock_oid(PredictState *ps, Prediction *p, Oid relid, int level)
{
	VirtualRel *v;

	if (!OidIsValid(relid) || !is_user_namespace(get_rel_namespace(relid)))
		return;
	v = schemamig_pred_find_relid(ps, relid);
	if (v != NULL && v->dropped)
		return;
	schemamig_pred_lock(p, v ? v->display : rel_display(relid), level);
	if (p->locks != NIL)
		((PredLock *) llast(p->locks))->relid = relid;
}

void
schemamig_pred_lock_rel(PredictState *ps, Prediction *p, PredRel *rel, int level)
{
	if (OidIsValid(rel->relid))
		schemamig_pred_lock_oid(ps, p, rel->relid, level);
	else
		schemamig_pred_lock(p, rel->display, level);
}

void
schemamig_pred_rewrite(Prediction *p, const char *relation)
{
	ListCell   *lc;

	foreach(lc, p->rewrites)
		if (strcmp((char *) lfirst(lc), relation) == 0)
		return;
	p->rewrites = lappend(p->rewrites, pstrdup(relation));
}

void
schemamig_pred_created(PredictState *ps, RangeVar *rv, List *columns)
{
	VirtualRel *v;
	char	   *key;

	if (rv == NULL || rv->relpersistence == RELPERSISTENCE_TEMP)
		return;
	key = schemamig_pred_key(rv);
	v = schemamig_pred_find(ps, key);
	if (v == NULL)
	{
		v = palloc0(sizeof(VirtualRel));
		v->key = key;
		ps->virtuals = lappend(ps->virtuals, v);
	}
	v->dropped = false;
	v->relid = InvalidOid;
	v->columns = columns;
	{
		char	   *dot = strchr(key, '.');

		v->display = psprintf("%s.%s",
							  quote_identifier(pnstrdup(key, dot - key)),
							  quote_identifier(dot + 1));
	}
	ps->created = lappend(ps->created, v->display);
}

/* Indexes of relid; those that use attnum when attnum > 0 */
List *
schemamig_pred_indexes(Oid relid, AttrNumber attnum)
{
	List	   *result = NIL;
	Relation	rel = table_open(IndexRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&key, Anum_pg_index_indrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, IndexIndrelidIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_index idx = (Form_pg_index) GETSTRUCT(tup);
		bool		uses = (attnum <= 0);

		for (int i = 0; i < idx->indnatts && !uses; i++)
			if (idx->indkey.values[i] == attnum)
				uses = true;
		if (!uses && (!heap_attisnull(tup, Anum_pg_index_indexprs, NULL) ||
					  !heap_attisnull(tup, Anum_pg_index_indpred, NULL)))
		{
			Bitmapset  *attrs = NULL;
			bool		isnull;
			Datum		d;

			d = heap_getattr(tup, Anum_pg_index_indexprs, RelationGetDescr(rel), &isnull);
			if (!isnull)
				pull_varattnos(stringToNode(TextDatumGetCString(d)), 1, &attrs);
			d = heap_getattr(tup, Anum_pg_index_indpred, RelationGetDescr(rel), &isnull);
			if (!isnull)
				pull_varattnos(stringToNode(TextDatumGetCString(d)), 1, &attrs);
			uses = bms_is_member(attnum - FirstLowInvalidHeapAttributeNumber, attrs);
		}
		if (uses)
			result = lappend_oid(result, idx->indexrelid);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return result;
}

/* Every index of relid */
void
schemamig_pred_lock_indexes(PredictState *ps, Prediction *p, Oid relid, int level)
{
	ListCell   *lc;

	if (!OidIsValid(relid))
		return;
	foreach(lc, schemamig_pred_indexes(relid, 0))
		schemamig_pred_lock_oid(ps, p, lfirst_oid(lc), level);
}

/* Partitions and inheritance children (all levels), never locked here */
void
schemamig_pred_lock_inheritors(PredictState *ps, Prediction *p, Oid relid, int level)
{
	List	   *all;
	ListCell   *lc;

	if (!OidIsValid(relid) || !has_subclass(relid))
		return;
	all = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, all)
		if (lfirst_oid(lc) != relid)
		schemamig_pred_lock_oid(ps, p, lfirst_oid(lc), level);
}

/* Sequences owned by columns of relid (serial, identity) */
void
schemamig_pred_lock_sequences(PredictState *ps, Prediction *p, Oid relid, int level)
{
	Relation	rel;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;

	if (!OidIsValid(relid))
		return;
	rel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, DependReferenceIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);

		if (dep->classid == RelationRelationId &&
			(dep->deptype == DEPENDENCY_AUTO || dep->deptype == DEPENDENCY_INTERNAL) &&
			get_rel_relkind(dep->objid) == RELKIND_SEQUENCE)
			schemamig_pred_lock_oid(ps, p, dep->objid, level);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * Foreign keys of relid (on columns including attnum, or all when attnum is
 * 0) are dropped: their referenced tables are locked at level.
 */
void
schemamig_pred_lock_fk_referenced(PredictState *ps, Prediction *p, Oid relid, AttrNumber attnum,
								  int level)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	if (!OidIsValid(relid))
		return;
	rel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, ConstraintRelidTypidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

		if (con->contype == CONSTRAINT_FOREIGN && con->confrelid != relid &&
			schemamig_pred_constraint_uses(tup, RelationGetDescr(rel),
										   Anum_pg_constraint_conkey, attnum))
			schemamig_pred_lock_oid(ps, p, con->confrelid, level);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

static bool
collect_rangevars(Node *node, List **rvs)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeVar))
	{
		*rvs = lappend(*rvs, node);
		return false;
	}
	return raw_expression_tree_walker(node, collect_rangevars, (void *) rvs);
}

/* ACCESS SHARE on every relation a query reads (parse analysis takes it) */
void
schemamig_pred_reads(PredictState *ps, Prediction *p, Node *query, RangeVar *skip)
{
	List	   *rvs = NIL;
	ListCell   *lc;

	(void) collect_rangevars(query, &rvs);
	foreach(lc, rvs)
	{
		RangeVar   *rv = (RangeVar *) lfirst(lc);
		PredRel		rel;

		if (rv == skip)
			continue;

		/*
		 * a CTE name is no relation: schemamig_pred_resolve() may still find
		 * one, harmlessly
		 */
		if (schemamig_pred_resolve(ps, rv, &rel))
		{
			schemamig_pred_lock_rel(ps, p, &rel, AccessShareLock);
			if (rv->inh)
				schemamig_pred_lock_inheritors(ps, p, rel.relid, AccessShareLock);
		}
	}
}

/*
 * A query that is planned too: the planner opens every index of each
 * relation it reads, children of an inheritance tree included.
 */
void
schemamig_pred_planned_reads(PredictState *ps, Prediction *p, Node *query, RangeVar *skip)
{
	List	   *rvs = NIL;
	ListCell   *lc;

	schemamig_pred_reads(ps, p, query, skip);
	(void) collect_rangevars(query, &rvs);
	foreach(lc, rvs)
	{
		RangeVar   *rv = (RangeVar *) lfirst(lc);
		PredRel		rel;

		if (rv == skip || !schemamig_pred_resolve(ps, rv, &rel) || !OidIsValid(rel.relid))
			continue;
		if (rv->inh && has_subclass(rel.relid))
		{
			ListCell   *lc2;

			foreach(lc2, find_all_inheritors(rel.relid, NoLock, NULL))
				schemamig_pred_lock_indexes(ps, p, lfirst_oid(lc2), AccessShareLock);
		}
		else
			schemamig_pred_lock_indexes(ps, p, rel.relid, AccessShareLock);
	}
}

static int
compare_pred_locks(const ListCell *a, const ListCell *b)
{
	PredLock   *la = (PredLock *) lfirst(a);
	PredLock   *lb = (PredLock *) lfirst(b);
	int			cmp = strcmp(la->relation, lb->relation);

	return cmp != 0 ? cmp : lb->level - la->level;
}

/* Strongest mode per relation, as "relation: Mode" text, sorted */
List *
schemamig_pred_held_strings(List *held)
{
	List	   *sorted = list_copy(held);
	List	   *result = NIL;
	const char *last = NULL;
	ListCell   *lc;

	list_sort(sorted, compare_pred_locks);
	foreach(lc, sorted)
	{
		PredLock   *l = (PredLock *) lfirst(lc);

		if (last != NULL && strcmp(last, l->relation) == 0)
			continue;
		last = l->relation;
		result = lappend(result, psprintf("%s: %s", l->relation,
										  schemamig_pred_lock_names[l->level - 1]));
	}
	return result;
}

/* Bit i set: the mode conflicts with LOCKMODE i (lock.c's conflict table) */
static const int lock_conflicts[] = {
	0,
	(1 << AccessExclusiveLock),
	(1 << ExclusiveLock) | (1 << AccessExclusiveLock),
	(1 << ShareLock) | (1 << ShareRowExclusiveLock) |
	(1 << ExclusiveLock) | (1 << AccessExclusiveLock),
	(1 << ShareUpdateExclusiveLock) | (1 << ShareLock) | (1 << ShareRowExclusiveLock) |
	(1 << ExclusiveLock) | (1 << AccessExclusiveLock),
	(1 << RowExclusiveLock) | (1 << ShareUpdateExclusiveLock) |
	(1 << ShareRowExclusiveLock) | (1 << ExclusiveLock) | (1 << AccessExclusiveLock),
	(1 << RowExclusiveLock) | (1 << ShareUpdateExclusiveLock) | (1 << ShareLock) |
	(1 << ShareRowExclusiveLock) | (1 << ExclusiveLock) | (1 << AccessExclusiveLock),
	(1 << RowShareLock) | (1 << RowExclusiveLock) | (1 << ShareUpdateExclusiveLock) |
	(1 << ShareLock) | (1 << ShareRowExclusiveLock) | (1 << ExclusiveLock) |
	(1 << AccessExclusiveLock),
	(1 << AccessShareLock) | (1 << RowShareLock) | (1 << RowExclusiveLock) |
	(1 << ShareUpdateExclusiveLock) | (1 << ShareLock) | (1 << ShareRowExclusiveLock) |
	(1 << ExclusiveLock) | (1 << AccessExclusiveLock)
};

/* A held mode that conflicts with all the requested mode does: no wait */
static bool
covered_by(int requested, int held)
{
	return (lock_conflicts[requested] & ~lock_conflicts[held]) == 0;
}

/*
 * The locks of one statement that could make it wait: sorted by relation,
 * strongest first, without those covered by a lock held from an earlier
 * statement or by a stronger one of the same statement.
 */
List *
schemamig_plan_uncovered(List *locks, List *held)
{
	List	   *result = NIL;
	ListCell   *lc;

	locks = list_copy(locks);
	list_sort(locks, compare_pred_locks);
	foreach(lc, locks)
	{
		PredLock   *l = (PredLock *) lfirst(lc);
		bool		covered = false;
		ListCell   *lh;

		foreach(lh, held)
		{
			PredLock   *h = (PredLock *) lfirst(lh);

			if (strcmp(h->relation, l->relation) == 0 && covered_by(l->level, h->level))
				covered = true;
		}
		foreach(lh, result)
		{
			PredLock   *h = (PredLock *) lfirst(lh);

			if (strcmp(h->relation, l->relation) == 0 && covered_by(l->level, h->level))
				covered = true;
		}
		if (!covered)
			result = lappend(result, l);
	}
	return result;
}

List *
schemamig_held_lock_strings(List *held)
{
	return schemamig_pred_held_strings(held);
}
