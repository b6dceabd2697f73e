/*-------------------------------------------------------------------------
 *
 * plan_predict_data.c
 *		plan(execute => false): statements that read, write or rebuild
 *		data: DML, SELECT, CREATE TABLE AS, REFRESH, TRUNCATE, CLUSTER,
 *		VACUUM, LOCK, and SQL-standard function bodies.
 *
 * Parse analysis takes ACCESS SHARE on every relation a query reads and
 * ROW EXCLUSIVE on the target of INSERT, UPDATE, DELETE; a query that is
 * planned also share-locks every index of the tables it reads.  Whatever a
 * function, a trigger or a rule could do is not predictable: DML calling a
 * function outside pg_catalog, or on a table with user triggers or rules,
 * and a SELECT of any function are 'unknown'.
 *
 * Rebuilding: CLUSTER, TRUNCATE and REFRESH MATERIALIZED VIEW give the
 * table a new file and rebuild every index (ACCESS EXCLUSIVE on each);
 * TRUNCATE ... RESTART IDENTITY resets the owned sequences (ACCESS
 * EXCLUSIVE).  REFRESH runs the view's query: ACCESS SHARE on the
 * relations its rule depends on and on all their indexes.
 *
 * IDENTIFICATION
 *		src/plan_predict_data.c
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
#include "catalog/pg_rewrite.h"
#include "catalog/pg_trigger.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/tablecmds.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/optimizer.h"
#include "parser/parse_coerce.h"
#include "parser/parse_type.h"
#include "rewrite/rewriteDefine.h"
#include "rewrite/rewriteSupport.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"

#include "plan_predict_int.h"

typedef struct FuncContext
{
	bool		found;
} FuncContext;

static bool
user_function_walker(Node *node, FuncContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncCall))
	{
		FuncCandidateList cands;

		cands = FuncnameGetCandidates(((FuncCall *) node)->funcname, -1, NIL,
									  false, false, false, true);
		if (cands == NULL)
			ctx->found = true;
		for (; cands != NULL; cands = cands->next)
			if (get_func_namespace(cands->oid) != PG_CATALOG_NAMESPACE)
				ctx->found = true;
	}
	return raw_expression_tree_walker(node, user_function_walker, (void *) ctx);
}

static bool
any_function_walker(Node *node, FuncContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncCall))
		ctx->found = true;
	return raw_expression_tree_walker(node, any_function_walker, (void *) ctx);
}

static bool
writes_walker(Node *node, FuncContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, InsertStmt) || IsA(node, UpdateStmt) || IsA(node, DeleteStmt) ||
		IsA(node, MergeStmt))
		ctx->found = true;
	return raw_expression_tree_walker(node, writes_walker, (void *) ctx);
}

/* Does a raw statement (a function body) write to a table? */
static bool
has_writes(Node *node)
{
	FuncContext ctx = {false};

	(void) writes_walker(node, &ctx);
	return ctx.found;
}

static bool
has_function_calls(Node *node)
{
	FuncContext ctx = {false};

	(void) any_function_walker(node, &ctx);
	return ctx.found;
}

static bool
has_user_functions(Node *node)
{
	FuncContext ctx = {false};

	(void) user_function_walker(node, &ctx);
	return ctx.found;
}

static bool
has_user_triggers_or_rules(Oid relid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;
	HeapTuple	ctup;

	ctup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (HeapTupleIsValid(ctup))
	{
		found = ((Form_pg_class) GETSTRUCT(ctup))->relhasrules;
		ReleaseSysCache(ctup);
	}
	if (found)
		return true;
	rel = table_open(TriggerRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_trigger_tgrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, TriggerRelidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
		if (!((Form_pg_trigger) GETSTRUCT(tup))->tgisinternal)
			found = true;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Columns an INSERT gives a value for: named, or the first n by position;
 * a column given DEFAULT in a VALUES row is not given.
 */
static Bitmapset *
insert_given(Oid relid, InsertStmt *stmt)
{
	Bitmapset  *given = NULL;
	SelectStmt *select = (SelectStmt *) stmt->selectStmt;
	List	   *first = NIL;
	ListCell   *lc;
	int			n = 0;

	if (select == NULL)
		return NULL;			/* DEFAULT VALUES */
	if (IsA(select, SelectStmt) && select->valuesLists != NIL)
		first = linitial(select->valuesLists);
	else if (IsA(select, SelectStmt))
		first = select->targetList;
	if (stmt->cols != NIL)
	{
		foreach(lc, stmt->cols)
			given = bms_add_member(given, get_attnum(relid, ((ResTarget *) lfirst(lc))->name));
	}
	else
	{
		int			natts = list_length(first);

		for (AttrNumber att = 1; n < natts; att++)
		{
			HeapTuple	tup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(att));
			bool		dropped;

			if (!HeapTupleIsValid(tup))
				break;
			dropped = ((Form_pg_attribute) GETSTRUCT(tup))->attisdropped;
			ReleaseSysCache(tup);
			if (!dropped)
			{
				given = bms_add_member(given, att);
				n++;
			}
		}
	}
	/* DEFAULT in a VALUES row: that column takes its default after all */
	if (IsA(select, SelectStmt) && select->valuesLists != NIL)
	{
		int			members = 0;
		int			m = -1;
		AttrNumber *order = palloc0(sizeof(AttrNumber) * (bms_num_members(given) + 1));

		if (stmt->cols != NIL)
			foreach(lc, stmt->cols)
				order[members++] = get_attnum(relid, ((ResTarget *) lfirst(lc))->name);
		else
			while ((m = bms_next_member(given, m)) >= 0)
				order[members++] = m;
		foreach(lc, select->valuesLists)
		{
			int			i = 0;
			ListCell   *lv;

			foreach(lv, (List *) lfirst(lc))
			{
				if (i < members && IsA(lfirst(lv), SetToDefault))
					given = bms_del_member(given, order[i]);
				i++;
			}
		}
	}
	return given;
}

/*
 * The sequences an INSERT draws from: those owned by a serial or identity
 * column it gives no value for (nextval() takes ROW EXCLUSIVE on them).
 */
static void
insert_sequences(PredictState *ps, Prediction *p, Oid relid, InsertStmt *stmt)
{
	Bitmapset  *given = insert_given(relid, stmt);
	Relation	rel = table_open(DependRelationId, AccessShareLock);
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&key[0], Anum_pg_depend_refclassid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RelationRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_refobjid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, DependReferenceIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);

		if (dep->classid == RelationRelationId && dep->refobjsubid > 0 &&
			(dep->deptype == DEPENDENCY_AUTO || dep->deptype == DEPENDENCY_INTERNAL) &&
			get_rel_relkind(dep->objid) == RELKIND_SEQUENCE &&
			!bms_is_member(dep->refobjsubid, given))
		{
			/* nextval() runs per row: VALUES has rows, a query may not */
			if (stmt->selectStmt != NULL &&
				((SelectStmt *) stmt->selectStmt)->valuesLists == NIL)
				p->unknown = "draws from a sequence only if its query returns rows";
			schemamig_pred_lock_oid(ps, p, dep->objid, RowExclusiveLock);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * INSERT: ROW EXCLUSIVE on the target (its indexes are not kept locked)
 * and on the sequences it draws from.  UPDATE, DELETE: ROW EXCLUSIVE on the
 * target and every index of it (the planner opens them), and on the
 * children and their indexes unless ONLY.  What the statement reads is a
 * planned query.  Which partitions an INSERT routes its rows to, or which
 * a WHERE clause prunes, is not known before it runs.
 */
static void
predict_dml(PredictState *ps, Prediction *p, Node *stmt)
{
	RangeVar   *target;
	PredRel		rel;
	Node	   *where = NULL;

	switch (nodeTag(stmt))
	{
		case T_InsertStmt:
			target = ((InsertStmt *) stmt)->relation;
			break;
		case T_UpdateStmt:
			target = ((UpdateStmt *) stmt)->relation;
			where = ((UpdateStmt *) stmt)->whereClause;
			break;
		default:
			target = ((DeleteStmt *) stmt)->relation;
			where = ((DeleteStmt *) stmt)->whereClause;
			break;
	}
	if (has_user_functions(stmt))
	{
		p->unknown = "calls functions outside pg_catalog";
		return;
	}
	if (!schemamig_pred_resolve(ps, target, &rel))
		return;
	if (OidIsValid(rel.relid) && has_user_triggers_or_rules(rel.relid))
	{
		p->unknown = "fires triggers or rules";
		return;
	}
	schemamig_pred_lock_rel(ps, p, &rel, RowExclusiveLock);
	if (OidIsValid(rel.relid) && get_rel_relkind(rel.relid) == RELKIND_PARTITIONED_TABLE &&
		(IsA(stmt, InsertStmt) || where != NULL))
	{
		p->unknown = "the partitions it touches are known only when it runs";
		return;
	}
	if (IsA(stmt, InsertStmt))
	{
		if (OidIsValid(rel.relid))
			insert_sequences(ps, p, rel.relid, (InsertStmt *) stmt);
	}
	else if (OidIsValid(rel.relid) && target->inh && has_subclass(rel.relid))
	{
		ListCell   *lc;

		foreach(lc, find_all_inheritors(rel.relid, NoLock, NULL))
		{
			schemamig_pred_lock_oid(ps, p, lfirst_oid(lc), RowExclusiveLock);
			if (get_rel_relkind(lfirst_oid(lc)) != RELKIND_PARTITIONED_TABLE)
				schemamig_pred_lock_indexes(ps, p, lfirst_oid(lc), RowExclusiveLock);
		}
	}
	else
		schemamig_pred_lock_indexes(ps, p, rel.relid, RowExclusiveLock);
	schemamig_pred_planned_reads(ps, p, stmt, target);
}

/*
 * One table truncated: it gets a new, empty file, and so does every index
 * (ACCESS EXCLUSIVE); RESTART IDENTITY resets its owned sequences.
 */
static void
truncate_one(PredictState *ps, Prediction *p, Oid relid, bool restart_seqs)
{
	schemamig_pred_lock_oid(ps, p, relid, AccessExclusiveLock);
	schemamig_pred_lock_indexes(ps, p, relid, AccessExclusiveLock);
	if (restart_seqs)
		schemamig_pred_lock_sequences(ps, p, relid, AccessExclusiveLock);
}

/*
 * REFRESH MATERIALIZED VIEW: the view's query is planned and run (ACCESS
 * SHARE on the relations its rule depends on and on all their indexes),
 * and the new heap replaces the old with its indexes rebuilt (ACCESS
 * EXCLUSIVE).  A query over a view would lock that view's tables too: not
 * predicted.
 */
static void
predict_refresh(PredictState *ps, Prediction *p, PredRel *mv, bool skip_data)
{
	Relation	rel;
	ScanKeyData key[2];
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			ruleoid = get_rewrite_oid(mv->relid, ViewSelectRuleName, true);

	schemamig_pred_lock_rel(ps, p, mv, AccessExclusiveLock);
	schemamig_pred_lock_indexes(ps, p, mv->relid, AccessExclusiveLock);
	if (skip_data || !OidIsValid(ruleoid))
		return;
	rel = table_open(DependRelationId, AccessShareLock);
	ScanKeyInit(&key[0], Anum_pg_depend_classid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(RewriteRelationId));
	ScanKeyInit(&key[1], Anum_pg_depend_objid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(ruleoid));
	scan = systable_beginscan(rel, DependDependerIndexId, true, NULL, 2, key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tup);
		char		relkind;

		if (dep->refclassid != RelationRelationId || dep->refobjid == mv->relid)
			continue;
		relkind = get_rel_relkind(dep->refobjid);
		if (relkind == RELKIND_VIEW || relkind == RELKIND_FOREIGN_TABLE ||
			has_subclass(dep->refobjid))
			p->unknown = "REFRESH of a materialized view over a view, foreign table or inheritance tree";
		schemamig_pred_lock_oid(ps, p, dep->refobjid, AccessShareLock);
		schemamig_pred_lock_indexes(ps, p, dep->refobjid, AccessShareLock);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * CREATE FUNCTION ... BEGIN ATOMIC / RETURN: the SQL-standard body is parse
 * analysed at creation, taking ACCESS SHARE on what it reads; a body that
 * writes takes more (ROW EXCLUSIVE on its targets): not predicted.
 */
static void
predict_function_body(PredictState *ps, Prediction *p, Node *body)
{
	ListCell   *lc;

	if (body == NULL)
		return;
	/* RETURN expr, or BEGIN ATOMIC's list; the raw walkers know no RETURN */
	if (IsA(body, ReturnStmt))
		body = ((ReturnStmt *) body)->returnval;
	else if (IsA(body, List))
	{
		foreach(lc, (List *) body)
			predict_function_body(ps, p, (Node *) lfirst(lc));
		return;
	}
	if (has_writes(body))
	{
		p->unknown = "a SQL-standard function body that writes";
		return;
	}
	schemamig_pred_reads(ps, p, body, NULL);
}

/* LOCK TABLE: the mode asked for, on the tables and their children */
static void
predict_lock(PredictState *ps, Prediction *p, LockStmt *stmt)
{
	ListCell   *lc;

	foreach(lc, stmt->relations)
	{
		RangeVar   *rv = (RangeVar *) lfirst(lc);
		PredRel		rel;

		if (!schemamig_pred_resolve(ps, rv, &rel))
			continue;
		if (OidIsValid(rel.relid) && get_rel_relkind(rel.relid) == RELKIND_VIEW)
		{
			p->unknown = "LOCK of a view locks the relations of its query";
			return;
		}
		schemamig_pred_lock_rel(ps, p, &rel, stmt->mode);
		if (rv->inh)
			schemamig_pred_lock_inheritors(ps, p, rel.relid, stmt->mode);
	}
}

/*
 * The statements of this file: true when tree is one of them (the
 * prediction is then in p), false for another statement type.
 */
bool
schemamig_pred_data(PredictState *ps, Prediction *p, Node *tree)
{
	switch (nodeTag(tree))
	{
		case T_CreateTableAsStmt:
			{
				CreateTableAsStmt *stmt = (CreateTableAsStmt *) tree;

				if (has_user_functions(stmt->query))
				{
					p->unknown = "calls functions outside pg_catalog";
					break;
				}
				/* WITH NO DATA: analysed, not planned */
				if (stmt->into->skipData)
					schemamig_pred_reads(ps, p, stmt->query, NULL);
				else
					schemamig_pred_planned_reads(ps, p, stmt->query, NULL);
				schemamig_pred_created(ps, stmt->into->rel, NIL);
				break;
			}
		case T_TruncateStmt:
			{
				TruncateStmt *stmt = (TruncateStmt *) tree;
				ListCell   *lc;

				if (stmt->behavior == DROP_CASCADE)
				{
					p->unknown = "TRUNCATE ... CASCADE truncates the tables that reference it";
					break;
				}
				foreach(lc, stmt->relations)
				{
					PredRel		rel;
					RangeVar   *rv = (RangeVar *) lfirst(lc);

					if (!schemamig_pred_resolve(ps, rv, &rel))
						continue;
					schemamig_pred_lock_rel(ps, p, &rel, AccessExclusiveLock);
					if (!OidIsValid(rel.relid))
						continue;
					if (rv->inh && has_subclass(rel.relid))
					{
						ListCell   *lc2;

						foreach(lc2, find_all_inheritors(rel.relid, NoLock, NULL))
							truncate_one(ps, p, lfirst_oid(lc2), stmt->restart_seqs);
					}
					else
						truncate_one(ps, p, rel.relid, stmt->restart_seqs);
				}
				break;
			}
		case T_ClusterStmt:
			{
				PredRel		rel;
				ClusterStmt *stmt = (ClusterStmt *) tree;

				if (stmt->relation == NULL)
				{
					p->unknown = "CLUSTER of every clustered table";
					break;
				}
				if (schemamig_pred_resolve(ps, stmt->relation, &rel))
				{
					/* the table is rewritten: every index is rebuilt */
					schemamig_pred_lock_rel(ps, p, &rel, AccessExclusiveLock);
					schemamig_pred_lock_indexes(ps, p, rel.relid, AccessExclusiveLock);
				}
				break;
			}
		case T_VacuumStmt:
			{
				VacuumStmt *stmt = (VacuumStmt *) tree;
				bool		full = false;
				ListCell   *lc;

				foreach(lc, stmt->options)
					if (strcmp(((DefElem *) lfirst(lc))->defname, "full") == 0)
					full = defGetBoolean((DefElem *) lfirst(lc));
				if (stmt->rels == NIL)
				{
					p->unknown = "VACUUM or ANALYZE of the whole database";
					break;
				}
				foreach(lc, stmt->rels)
				{
					PredRel		rel;

					if (schemamig_pred_resolve(ps, ((VacuumRelation *) lfirst(lc))->relation, &rel))
						schemamig_pred_lock_rel(ps, p, &rel, full ? AccessExclusiveLock :
												ShareUpdateExclusiveLock);
				}
				break;
			}
		case T_RefreshMatViewStmt:
			{
				RefreshMatViewStmt *stmt = (RefreshMatViewStmt *) tree;
				PredRel		rel;

				if (stmt->concurrent)
				{
					p->unknown = "REFRESH MATERIALIZED VIEW CONCURRENTLY runs queries of its own";
					break;
				}
				if (schemamig_pred_resolve(ps, stmt->relation, &rel) && OidIsValid(rel.relid))
					predict_refresh(ps, p, &rel, stmt->skipData);
				break;
			}
		case T_InsertStmt:
		case T_UpdateStmt:
		case T_DeleteStmt:
			predict_dml(ps, p, tree);
			break;
		case T_SelectStmt:
			/* a function may lock whatever it touches (setval, nextval, ...) */
			if (has_function_calls(tree) || ((SelectStmt *) tree)->intoClause != NULL)
			{
				p->unknown = "calls functions";
				break;
			}
			schemamig_pred_reads(ps, p, tree, NULL);
			break;
		case T_CreateFunctionStmt:
			predict_function_body(ps, p, ((CreateFunctionStmt *) tree)->sql_body);
			break;
		case T_LockStmt:
			predict_lock(ps, p, (LockStmt *) tree);
			break;
		default:
			return false;
	}
	return true;
}
