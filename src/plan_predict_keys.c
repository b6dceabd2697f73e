/*-------------------------------------------------------------------------
 *
 * plan_predict_keys.c
 *		plan(execute => false): what a foreign key or a column default
 *		reaches beyond the table it is defined on.
 *
 * As PostgreSQL 15 was seen to do it in plan(execute => true)
 * (test/integration/plan_compare.sh runs both modes over every statement
 * of the test suite):
 *
 * - a foreign key added: SHARE ROW EXCLUSIVE on the referenced table and
 *   ACCESS SHARE on the unique index it uses (the primary key, or the
 *   first plain unique index on exactly the referenced columns); when it
 *   is validated (ADD CONSTRAINT without NOT VALID on an existing table,
 *   VALIDATE CONSTRAINT) ROW SHARE on the referenced table and ACCESS
 *   SHARE on every index of both tables: the check is a planned query.
 *   A key added with a new column or a new table is not validated.
 * - a column's type changed: its foreign keys are dropped (ACCESS
 *   EXCLUSIVE on the referenced tables) and re-added (the index used;
 *   validated, so every index of the referenced table, when the table is
 *   rewritten), and so are other tables' keys that reference the column
 *   (ACCESS EXCLUSIVE on those tables).
 * - a default that names a relation by a string literal (nextval('s'),
 *   's'::regclass): ACCESS SHARE on it when the default is stored.
 *
 * IDENTIFICATION
 *		src/plan_predict_keys.c
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
#include "catalog/pg_statistic_ext.h"
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
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/typcache.h"
#include "utils/varlena.h"

#include "plan_predict_int.h"

/*
 * The unique index a foreign key to pkrelid uses: the primary key when no
 * columns are named, else the first plain unique index (by OID, as
 * transformFkeyCheckAttrs() scans them) on exactly those columns.
 */
static Oid
fk_index(Oid pkrelid, List *pk_attrs)
{
	Oid			result = InvalidOid;
	ListCell   *lc;

	foreach(lc, schemamig_pred_indexes(pkrelid, 0))
	{
		Oid			indexoid = lfirst_oid(lc);
		HeapTuple	tup = SearchSysCache1(INDEXRELID, ObjectIdGetDatum(indexoid));
		Form_pg_index idx;
		bool		match;

		if (!HeapTupleIsValid(tup))
			continue;
		idx = (Form_pg_index) GETSTRUCT(tup);
		if (pk_attrs == NIL)
			match = idx->indisprimary;
		else
		{
			match = idx->indisunique && idx->indimmediate &&
				idx->indnkeyatts == list_length(pk_attrs) &&
				heap_attisnull(tup, Anum_pg_index_indexprs, NULL) &&
				heap_attisnull(tup, Anum_pg_index_indpred, NULL);
			for (int i = 0; match && i < idx->indnkeyatts; i++)
			{
				bool		found = false;
				ListCell   *la;

				foreach(la, pk_attrs)
					if (get_attnum(pkrelid, strVal(lfirst(la))) == idx->indkey.values[i])
					found = true;
				match = found;
			}
		}
		ReleaseSysCache(tup);
		if (match && (!OidIsValid(result) || indexoid < result))
			result = indexoid;
	}
	return result;
}

/*
 * The check of a foreign key's rows is a planned query over both tables:
 * ROW SHARE on the referenced one, ACCESS SHARE on every index of both.
 */
void
schemamig_pred_fk_validation(PredictState *ps, Prediction *p, Oid fkrelid, Oid pkrelid)
{
	schemamig_pred_lock_oid(ps, p, pkrelid, RowShareLock);
	schemamig_pred_lock_indexes(ps, p, pkrelid, AccessShareLock);
	schemamig_pred_lock_indexes(ps, p, fkrelid, AccessShareLock);
}

/*
 * A foreign key added to fkrelid (InvalidOid: a table the statement
 * creates): SHARE ROW EXCLUSIVE on the referenced table, ACCESS SHARE on
 * the unique index it uses, and the validation's locks when validated.
 */
void
schemamig_pred_fk(PredictState *ps, Prediction *p, Constraint *con, Oid fkrelid,
				  bool validated)
{
	PredRel		ref;

	if (con->contype != CONSTR_FOREIGN || !schemamig_pred_resolve(ps, con->pktable, &ref))
		return;
	schemamig_pred_lock_rel(ps, p, &ref, ShareRowExclusiveLock);
	if (!OidIsValid(ref.relid))
		return;
	schemamig_pred_lock_oid(ps, p, fk_index(ref.relid, con->pk_attrs), AccessShareLock);
	if (validated && !con->skip_validation && OidIsValid(fkrelid))
		schemamig_pred_fk_validation(ps, p, fkrelid, ref.relid);
}

/*
 * Whether the key column array keyattr (conkey or confkey) of a
 * pg_constraint tuple holds attnum; attnum 0 means any column
 */
bool
schemamig_pred_constraint_uses(HeapTuple tup, TupleDesc desc, AttrNumber keyattr,
							   AttrNumber attnum)
{
	bool		isnull;
	Datum		d;
	ArrayType  *arr;
	int16	   *keys;

	if (attnum == 0)
		return true;
	d = heap_getattr(tup, keyattr, desc, &isnull);
	if (isnull)
		return false;
	arr = DatumGetArrayTypeP(d);
	keys = (int16 *) ARR_DATA_PTR(arr);
	for (int i = 0; i < ARR_DIMS(arr)[0]; i++)
		if (keys[i] == attnum)
			return true;
	return false;
}

/*
 * Foreign keys of other tables that reference column attnum of relid are
 * dropped and re-added by a type change: ACCESS EXCLUSIVE on those tables,
 * and the validation's index locks when relid is rewritten.  pg_constraint
 * has no index on confrelid: a catalog scan.
 */
void
schemamig_pred_lock_fk_referencing(PredictState *ps, Prediction *p, Oid relid, AttrNumber attnum,
								   bool rewritten)
{
	Relation	rel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&key, Anum_pg_constraint_confrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InvalidOid, false, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

		if (con->contype != CONSTRAINT_FOREIGN || con->conrelid == relid ||
			!schemamig_pred_constraint_uses(tup, RelationGetDescr(rel),
											Anum_pg_constraint_confkey, attnum))
			continue;
		schemamig_pred_lock_oid(ps, p, con->conrelid, AccessExclusiveLock);
		if (rewritten)
			schemamig_pred_lock_indexes(ps, p, con->conrelid, AccessShareLock);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * Foreign keys of relid on column attnum are dropped and re-added by a
 * type change: ACCESS EXCLUSIVE on the referenced tables (the drop), ACCESS
 * SHARE on the index each uses, and every index of the referenced table
 * when relid is rewritten (the re-added key is validated then).
 */
void
schemamig_pred_lock_fk_retyped(PredictState *ps, Prediction *p, Oid relid, AttrNumber attnum,
							   bool rewritten)
{
	Relation	rel = table_open(ConstraintRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;

	ScanKeyInit(&key, Anum_pg_constraint_conrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, ConstraintRelidTypidNameIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

		if (con->contype != CONSTRAINT_FOREIGN || con->confrelid == relid ||
			!schemamig_pred_constraint_uses(tup, RelationGetDescr(rel),
											Anum_pg_constraint_conkey, attnum))
			continue;
		schemamig_pred_lock_oid(ps, p, con->confrelid, AccessExclusiveLock);
		schemamig_pred_lock_oid(ps, p, con->conindid, AccessShareLock);
		if (rewritten)
			schemamig_pred_lock_indexes(ps, p, con->confrelid, AccessShareLock);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

typedef struct DefaultContext
{
	PredictState *ps;
	Prediction *p;
} DefaultContext;

/* A string literal naming a relation: nextval('s'), 's'::regclass */
static void
default_names(DefaultContext *ctx, Node *arg)
{
	PredRel		rel;
	List	   *parts;
	List	   *names = NIL;
	ListCell   *lc;

	if (IsA(arg, TypeCast))
		arg = ((TypeCast *) arg)->arg;
	if (!IsA(arg, A_Const) || ((A_Const *) arg)->isnull ||
		!IsA(&((A_Const *) arg)->val, String))
		return;
	/* a name the cast would refuse is the statement's error, not plan()'s */
	if (!SplitIdentifierString(pstrdup(strVal(&((A_Const *) arg)->val)), '.', &parts) ||
		parts == NIL || list_length(parts) > 3)
		return;
	foreach(lc, parts)
		names = lappend(names, makeString((char *) lfirst(lc)));
	if (schemamig_pred_resolve(ctx->ps, makeRangeVarFromNameList(names), &rel))
		schemamig_pred_lock_rel(ctx->ps, ctx->p, &rel, AccessShareLock);
}

static bool
default_walker(Node *node, DefaultContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncCall))
	{
		FuncCall   *fc = (FuncCall *) node;
		char	   *name = strVal(llast(fc->funcname));

		if (fc->args != NIL && (strcmp(name, "nextval") == 0 || strcmp(name, "currval") == 0 ||
								strcmp(name, "setval") == 0))
			default_names(ctx, linitial(fc->args));
	}
	else if (IsA(node, TypeCast))
	{
		TypeName   *tn = ((TypeCast *) node)->typeName;

		if (strcmp(strVal(llast(tn->names)), "regclass") == 0)
			default_names(ctx, node);
	}
	return raw_expression_tree_walker(node, default_walker, (void *) ctx);
}

/*
 * A column default: a sequence (or any relation) it names by a string
 * literal is share-locked when the default is stored.
 */
void
schemamig_pred_default(PredictState *ps, Prediction *p, Node *raw)
{
	DefaultContext ctx = {ps, p};

	(void) default_walker(raw, &ctx);
}

/* The defaults among a column's constraints */
void
schemamig_pred_coldef_defaults(PredictState *ps, Prediction *p, ColumnDef *def)
{
	ListCell   *lc;

	if (def->raw_default != NULL)
		schemamig_pred_default(ps, p, def->raw_default);
	foreach(lc, def->constraints)
	{
		Constraint *con = (Constraint *) lfirst(lc);

		if (con->contype == CONSTR_DEFAULT)
			schemamig_pred_default(ps, p, con->raw_expr);
	}
}
