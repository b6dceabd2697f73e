/*-------------------------------------------------------------------------
 *
 * lint_catalog.c
 *		What the lint rules read from the database being registered into.
 *
 * The rules work on raw parse trees; where the database knows more, they
 * ask it: the valid indexes of a table (foreign-key-without-index), its
 * validated NOT NULL checks (set-not-null), a column's type (alter-column-
 * type decides like the server whether a type change rewrites), the
 * volatility of the functions a default calls (any candidate of the name
 * counts, since raw trees do not resolve overloads), and whether a table has
 * rows (add-column-not-null-no-default is an error only where the statement
 * will fail).
 *
 * Nothing here waits for a lock on a user table: catalogs are read by
 * catalog scans and syscaches (no lock on the table), and the one read of a
 * table's own data, looking for its first visible row, takes ACCESS SHARE
 * with ConditionalLockRelationOid and releases it at once; when the lock is
 * not available the answer is "locked", and the rule says so.  Lint runs
 * with the caller's rights: a table the caller may not SELECT from, or
 * reads through row-level security, is not read at all ("unreadable").
 *
 * IDENTIFICATION
 *		src/lint_catalog.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_proc.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_type.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "lint_int.h"

static LintRows relation_rows(Oid relid);

/*
 * Does a raw expression call a function that may be volatile?  Overloads
 * are not resolved in a raw tree, so every function of that name counts.
 * CURRENT_TIMESTAMP and friends are SQLValueFunctions, not calls: stable.
 */
bool
schemamig_lint_volatile_call(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncCall))
	{
		FuncCandidateList cand;

		cand = FuncnameGetCandidates(((FuncCall *) node)->funcname, -1, NIL,
									 false, false, false, true);
		for (; cand != NULL; cand = cand->next)
			if (func_volatile(cand->oid) == PROVOLATILE_VOLATILE)
				return true;
	}
	return raw_expression_tree_walker(node, schemamig_lint_volatile_call, context);
}

/*
 * The valid indexes of a table in the database, read from pg_index by
 * indrelid: a catalog scan rather than RelationGetIndexList(), which would
 * need a lock on the user's table.
 */
bool
schemamig_lint_index_in_database(ColumnSet *fk)
{
	Oid			relid = RangeVarGetRelid(fk->relation, NoLock, true);
	Relation	rel;
	SysScanDesc scan;
	ScanKeyData key;
	HeapTuple	tuple;
	bool		found = false;

	if (!OidIsValid(relid))
		return false;

	rel = table_open(IndexRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_index_indrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, IndexIndrelidIndexId, true, NULL, 1, &key);
	while (!found && HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_index index = (Form_pg_index) GETSTRUCT(tuple);
		List	   *columns = NIL;

		if (!index->indisvalid)
			continue;
		for (int i = 0; i < index->indnkeyatts; i++)
		{
			AttrNumber	attnum = index->indkey.values[i];
			char	   *name = attnum > 0 ? get_attname(relid, attnum, true) : NULL;

			columns = lappend(columns, name ? makeString(name) : NULL);
		}
		found = schemamig_lint_leading_columns(fk->columns, columns);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * Does ALTER COLUMN TYPE on a table in the database rewrite it?  Decided
 * like the server does (plan_predict.c); true when the table or column is
 * not in the database (a pending parent makes it) or the type unknown.
 */
bool
schemamig_lint_type_change_rewrites(RangeVar *rel, AlterTableCmd *cmd)
{
	Oid			relid = RangeVarGetRelid(rel, NoLock, true);
	ColumnDef  *def = (ColumnDef *) cmd->def;
	HeapTuple	tup;
	Oid			oldtype;
	int32		oldtypmod;

	if (!OidIsValid(relid) || def == NULL || def->typeName == NULL)
		return true;
	tup = SearchSysCacheAttName(relid, cmd->name);
	if (!HeapTupleIsValid(tup))
		return true;
	oldtype = ((Form_pg_attribute) GETSTRUCT(tup))->atttypid;
	oldtypmod = ((Form_pg_attribute) GETSTRUCT(tup))->atttypmod;
	ReleaseSysCache(tup);
	/* an unknown type name: let the real run report it, keep the finding */
	if (LookupTypeNameOid(NULL, def->typeName, true) == InvalidOid)
		return true;
	return schemamig_type_change_rewrites(oldtype, oldtypmod, def->typeName,
										  def->raw_default, cmd->name);
}

/*
 * A validated CHECK (column IS NOT NULL) of a table in the database, read
 * from pg_constraint by conrelid (no lock on the user's table).
 */
bool
schemamig_lint_not_null_check_in_database(RangeVar *rel, const char *column)
{
	Oid			relid;
	AttrNumber	attnum;
	Relation	conrel;
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	relid = RangeVarGetRelid(rel, NoLock, true);
	if (!OidIsValid(relid) || (attnum = get_attnum(relid, column)) == InvalidAttrNumber)
		return false;
	conrel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyInit(&skey, Anum_pg_constraint_conrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(conrel, ConstraintRelidTypidNameIndexId, true, NULL, 1, &skey);
	while (!found && HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);
		bool		isnull;
		Datum		bin;
		Node	   *expr;

		if (con->contype != CONSTRAINT_CHECK || !con->convalidated)
			continue;
		bin = heap_getattr(tup, Anum_pg_constraint_conbin, RelationGetDescr(conrel), &isnull);
		if (isnull)
			continue;
		expr = stringToNode(TextDatumGetCString(bin));
		if (IsA(expr, NullTest) && ((NullTest *) expr)->nulltesttype == IS_NOT_NULL &&
			IsA(((NullTest *) expr)->arg, Var) &&
			((Var *) ((NullTest *) expr)->arg)->varattno == attnum)
			found = true;
	}
	systable_endscan(scan);
	table_close(conrel, AccessShareLock);
	return found;
}

/*
 * Does the table have a visible row in this database, now?  The table as
 * named (an unqualified name through search_path) and, unless the script
 * says ONLY, every inheritor ADD COLUMN recurses to (partitions, children):
 * the statement fails if any of them has a row.  A partitioned table has no
 * rows of its own, nor does a foreign table for this purpose (ADD COLUMN
 * does not check remote rows).
 */
LintRows
schemamig_lint_table_rows(RangeVar *rv)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);
	List	   *rels;
	ListCell   *lc;
	LintRows	result = LINT_ROWS_EMPTY;

	if (!OidIsValid(relid))
		return LINT_ROWS_ABSENT;
	rels = rv->inh ? find_all_inheritors(relid, NoLock, NULL) : list_make1_oid(relid);
	foreach(lc, rels)
	{
		LintRows	rows = relation_rows(lfirst_oid(lc));

		if (rows == LINT_ROWS_PRESENT)
			return rows;
		if (rows != LINT_ROWS_EMPTY)
			result = rows;
	}
	return result;
}

/*
 * One relation with storage: ACCESS SHARE if it is free at once (never
 * waiting), no pages = empty, else the first visible row of a scan under
 * the active snapshot (a table whose pages hold only dead rows is read to
 * its end, which VACUUM's truncation keeps rare).  The lock is released
 * right after, so lint holds nothing on the table afterwards.
 */
static LintRows
relation_rows(Oid relid)
{
	char		relkind = get_rel_relkind(relid);
	Relation	rel;
	bool		found = false;
	bool		dropped = false;

	if (relkind != RELKIND_RELATION && relkind != RELKIND_MATVIEW)
		return LINT_ROWS_EMPTY;
	/* what a role may not SELECT (or sees through row security) is not read */
	if (pg_class_aclcheck_ext(relid, GetUserId(), ACL_SELECT, &dropped) != ACLCHECK_OK)
		return dropped ? LINT_ROWS_EMPTY : LINT_ROWS_UNREADABLE;
	if (check_enable_rls(relid, InvalidOid, true) == RLS_ENABLED)
		return LINT_ROWS_UNREADABLE;
	if (!ConditionalLockRelationOid(relid, AccessShareLock))
		return LINT_ROWS_LOCKED;
	rel = try_relation_open(relid, NoLock);
	if (rel != NULL && !RELATION_IS_OTHER_TEMP(rel) &&
		RelationGetNumberOfBlocks(rel) > 0)
	{
		bool		pushed = !ActiveSnapshotSet();
		TupleTableSlot *slot = table_slot_create(rel, NULL);
		TableScanDesc scan;

		if (pushed)
			PushActiveSnapshot(GetTransactionSnapshot());
		scan = table_beginscan(rel, GetActiveSnapshot(), 0, NULL);
		found = table_scan_getnextslot(scan, ForwardScanDirection, slot);
		table_endscan(scan);
		ExecDropSingleTupleTableSlot(slot);
		if (pushed)
			PopActiveSnapshot();
	}
	if (rel != NULL)
		relation_close(rel, NoLock);
	UnlockRelationOid(relid, AccessShareLock);
	return found ? LINT_ROWS_PRESENT : LINT_ROWS_EMPTY;
}
