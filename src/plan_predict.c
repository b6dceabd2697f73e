/*-------------------------------------------------------------------------
 *
 * plan_predict.c
 *		plan(target, execute => false): the locks and rewrites of the
 *		pending revisions, predicted without running them.
 *
 * The point of the predicted plan is that it can be run against the
 * production database at any time: it executes nothing and never waits.
 * It therefore works from the raw parse tree and the system caches only.
 * Parse analysis is never called: it opens every relation a statement
 * names with ACCESS SHARE, which queues behind an ACCESS EXCLUSIVE lock
 * held (or merely requested) by someone else.  Relation names are resolved
 * with RangeVarGetRelid(..., NoLock, ...), children and constraints are
 * read from pg_inherits, pg_index and pg_constraint through the catalog
 * snapshot; catalogs are only ever share-locked, which no user DDL blocks.
 *
 * The lock a command takes on its target comes from the server itself
 * where it has a function for it (AlterTableGetLockLevel() for ALTER
 * TABLE); what follows from the command is added here: the referenced
 * table of a foreign key, the referenced table when a foreign key goes
 * away, partitions touched by ATTACH/DETACH and the default partition,
 * inheritance children an ALTER TABLE recurses to, indexes rebuilt by a
 * column type change, the table of an index dropped or rebuilt, sequences
 * owned by a table that is dropped or moved.
 *
 * Rewrites: ALTER COLUMN TYPE when the conversion is not binary-coercible
 * (decided like tablecmds.c's ATColumnChangeRequiresRewrite, on the
 * coercion expression after expression_planner(), so varchar(120) ->
 * varchar(300) is no rewrite), ADD COLUMN with a volatile default, serial,
 * identity or stored generated column, or a domain with constraints, SET
 * LOGGED / UNLOGGED and SET ACCESS METHOD.
 *
 * Earlier statements of the plan are simulated as far as later ones need:
 * relations created, renamed and dropped (by name), and the columns of
 * created tables.  A (relation, mode) pair taken by an earlier statement is
 * still held (relation locks last until the end of the transaction), so,
 * as in the executed plan, it is reported in "held" and not again in
 * "locks".  Relations created by the statement itself are left out (no
 * one else can see them), and so are catalogs and schemamig's own tables.
 *
 * What cannot be predicted is reported as strongest_lock 'unknown' with
 * locks NULL, never guessed: DO blocks, CALL, SELECT of functions, DML on a
 * table with user triggers or rules or calling functions outside
 * pg_catalog, DROP ... CASCADE, CREATE EXTENSION, CREATE SCHEMA with
 * elements, and statement types not described here.
 *
 * IDENTIFICATION
 *		src/plan_predict.c
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

#include "schemamig.h"

/* PostgreSQL's table lock modes; index = LOCKMODE - 1 */
static const char *const pred_lock_names[] = {
	"AccessShareLock", "RowShareLock", "RowExclusiveLock",
	"ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock",
	"ExclusiveLock", "AccessExclusiveLock"
};

/* A relation created, renamed or dropped by an earlier statement */
typedef struct VirtualRel
{
	char	   *key;			/* nspname.relname as now named, unquoted */
	char	   *display;		/* name the plan shows (executed: first name) */
	Oid			relid;			/* InvalidOid when created by the plan */
	bool		dropped;
	List	   *columns;		/* ColumnDef of created tables */
}			VirtualRel;

typedef SchemamigLock PredLock;

typedef struct Prediction
{
	List	   *locks;			/* PredLock */
	List	   *rewrites;		/* char * */
	const char *unknown;		/* why, when not predictable */
}			Prediction;

typedef struct PredictState
{
	List	   *virtuals;		/* VirtualRel */
	List	   *held;			/* PredLock taken by earlier statements */
	List	   *created;		/* keys created by the current statement */
}			PredictState;

/* A relation resolved from a RangeVar, real or simulated */
typedef struct PredRel
{
	Oid			relid;			/* InvalidOid for a relation the plan made */
	char	   *display;
	VirtualRel *virtual;
}			PredRel;

static bool is_user_namespace(Oid nspid);
static char *rel_display(Oid relid);
static char *rv_key(RangeVar *rv);
static VirtualRel * find_virtual(PredictState * ps, const char *key);
static VirtualRel * find_virtual_relid(PredictState * ps, Oid relid);
static bool resolve(PredictState * ps, RangeVar *rv, PredRel * out);
static void add_lock(Prediction * p, const char *relation, int level);
static void add_lock_oid(PredictState * ps, Prediction * p, Oid relid, int level);
static void add_rewrite(Prediction * p, const char *relation);
static void add_virtual(PredictState * ps, RangeVar *rv, List *columns);
static List *table_indexes(Oid relid, AttrNumber attnum);
static void lock_inheritors(PredictState * ps, Prediction * p, Oid relid, int level);
static void lock_owned_sequences(PredictState * ps, Prediction * p, Oid relid, int level);
static void lock_fk_referenced(PredictState * ps, Prediction * p, Oid relid, AttrNumber attnum,
							   int level);
static bool expr_is_volatile(Node *raw, const char **unknown);
static bool coldef_rewrites(ColumnDef *def, const char **unknown);
static void predict_fk(PredictState * ps, Prediction * p, Constraint *con);
static void predict_alter_table(PredictState * ps, Prediction * p, AlterTableStmt *stmt);
static void predict_drop(PredictState * ps, Prediction * p, DropStmt *stmt);
static void predict_rename(PredictState * ps, Prediction * p, RenameStmt *stmt);
static bool collect_rangevars(Node *node, List **rvs);
static bool has_user_functions(Node *node);
static bool has_function_calls(Node *node);
static void predict_reads(PredictState * ps, Prediction * p, Node *query, RangeVar *skip);
static void predict_dml(PredictState * ps, Prediction * p, Node *stmt);
static void predict_statement(PredictState * ps, Prediction * p, Node *tree);

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
static char *
rv_key(RangeVar *rv)
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

static VirtualRel *
find_virtual(PredictState * ps, const char *key)
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

static VirtualRel *
find_virtual_relid(PredictState * ps, Oid relid)
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
static bool
resolve(PredictState * ps, RangeVar *rv, PredRel * out)
{
	VirtualRel *v = NULL;
	Oid			relid;

	memset(out, 0, sizeof(*out));
	if (rv == NULL || rv->relpersistence == RELPERSISTENCE_TEMP)
		return false;
	if (rv->schemaname != NULL)
		v = find_virtual(ps, psprintf("%s.%s", rv->schemaname, rv->relname));
	else
	{
		List	   *path = fetch_search_path(false);
		ListCell   *lc;

		foreach(lc, path)
		{
			char	   *nsp = get_namespace_name(lfirst_oid(lc));

			if (nsp == NULL)
				continue;
			v = find_virtual(ps, psprintf("%s.%s", nsp, rv->relname));
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
	v = find_virtual_relid(ps, relid);
	if (v != NULL && v->dropped)
		return false;
	out->relid = relid;
	out->display = v ? v->display : rel_display(relid);
	out->virtual = v;
	return out->display != NULL;
}

/* Does the relation exist (for IF NOT EXISTS)? */
static bool
relation_exists(PredictState * ps, RangeVar *rv)
{
	PredRel		unused;

	return resolve(ps, rv, &unused);
}

static void
add_lock(Prediction * p, const char *relation, int level)
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

static void
add_lock_oid(PredictState * ps, Prediction * p, Oid relid, int level)
{
	VirtualRel *v;

	if (!OidIsValid(relid) || !is_user_namespace(get_rel_namespace(relid)))
		return;
	v = find_virtual_relid(ps, relid);
	if (v != NULL && v->dropped)
		return;
	add_lock(p, v ? v->display : rel_display(relid), level);
	if (p->locks != NIL)
		((PredLock *) llast(p->locks))->relid = relid;
}

static void
add_rel_lock(PredictState * ps, Prediction * p, PredRel * rel, int level)
{
	if (OidIsValid(rel->relid))
		add_lock_oid(ps, p, rel->relid, level);
	else
		add_lock(p, rel->display, level);
}

static void
add_rewrite(Prediction * p, const char *relation)
{
	ListCell   *lc;

	foreach(lc, p->rewrites)
		if (strcmp((char *) lfirst(lc), relation) == 0)
		return;
	p->rewrites = lappend(p->rewrites, pstrdup(relation));
}

static void
add_virtual(PredictState * ps, RangeVar *rv, List *columns)
{
	VirtualRel *v;
	char	   *key;

	if (rv == NULL || rv->relpersistence == RELPERSISTENCE_TEMP)
		return;
	key = rv_key(rv);
	v = find_virtual(ps, key);
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
static List *
table_indexes(Oid relid, AttrNumber attnum)
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

/* Partitions and inheritance children (all levels), never locked here */
static void
lock_inheritors(PredictState * ps, Prediction * p, Oid relid, int level)
{
	List	   *all;
	ListCell   *lc;

	if (!OidIsValid(relid) || !has_subclass(relid))
		return;
	all = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, all)
		if (lfirst_oid(lc) != relid)
		add_lock_oid(ps, p, lfirst_oid(lc), level);
}

/* Sequences owned by columns of relid (serial, identity) */
static void
lock_owned_sequences(PredictState * ps, Prediction * p, Oid relid, int level)
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
			add_lock_oid(ps, p, dep->objid, level);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * Foreign keys of relid (on columns including attnum, or all when attnum is
 * 0) are dropped: their referenced tables are locked at level.
 */
static void
lock_fk_referenced(PredictState * ps, Prediction * p, Oid relid, AttrNumber attnum,
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
		bool		uses = (attnum == 0);

		if (con->contype != CONSTRAINT_FOREIGN || con->confrelid == relid)
			continue;
		if (!uses)
		{
			bool		isnull;
			Datum		d = heap_getattr(tup, Anum_pg_constraint_conkey,
										 RelationGetDescr(rel), &isnull);

			if (!isnull)
			{
				ArrayType  *arr = DatumGetArrayTypeP(d);
				int16	   *keys = (int16 *) ARR_DATA_PTR(arr);

				for (int i = 0; i < ARR_DIMS(arr)[0]; i++)
					if (keys[i] == attnum)
						uses = true;
			}
		}
		if (uses)
			add_lock_oid(ps, p, con->confrelid, level);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * Does converting a column of oldtype to newtn rewrite the table?  As
 * ATColumnChangeRequiresRewrite decides it, on the planned coercion of a
 * Var.  A USING expression other than the column itself (or its cast to the
 * new type) is taken to rewrite, as it does unless it reduces to the column.
 */
bool
schemamig_type_change_rewrites(Oid oldtype, int32 oldtypmod, TypeName *newtn,
							   Node *using, const char *colname)
{
	Oid			newtype;
	int32		newtypmod;
	Node	   *expr;

	typenameTypeIdAndMod(NULL, newtn, &newtype, &newtypmod);
	if (using != NULL)
	{
		Node	   *u = using;

		if (IsA(u, TypeCast))
			u = ((TypeCast *) u)->arg;
		if (!IsA(u, ColumnRef) || list_length(((ColumnRef *) u)->fields) != 1 ||
			!IsA(linitial(((ColumnRef *) u)->fields), String) ||
			strcmp(strVal(linitial(((ColumnRef *) u)->fields)), colname) != 0)
			return true;
		if (IsA(using, TypeCast))
		{
			Oid			casttype;
			int32		casttypmod;

			typenameTypeIdAndMod(NULL, ((TypeCast *) using)->typeName, &casttype, &casttypmod);
			if (casttype != newtype)
				return true;
		}
	}
	expr = (Node *) makeVar(1, 1, oldtype, oldtypmod, get_typcollation(oldtype), 0);
	expr = coerce_to_target_type(NULL, expr, oldtype, newtype, newtypmod,
								 COERCION_ASSIGNMENT, COERCE_IMPLICIT_CAST, -1);
	if (expr == NULL)
		return true;			/* the real run fails; no prediction to make */
	expr = (Node *) expression_planner((Expr *) expr);
	for (;;)
	{
		if (IsA(expr, Var))
			return false;
		else if (IsA(expr, RelabelType))
			expr = (Node *) ((RelabelType *) expr)->arg;
		else if (IsA(expr, CoerceToDomain))
		{
			CoerceToDomain *d = (CoerceToDomain *) expr;

			if (DomainHasConstraints(d->resulttype))
				return true;
			expr = (Node *) d->arg;
		}
		else if (IsA(expr, FuncExpr) &&
				 (((FuncExpr *) expr)->funcid == F_TIMESTAMPTZ_TIMESTAMP ||
				  ((FuncExpr *) expr)->funcid == F_TIMESTAMP_TIMESTAMPTZ) &&
				 !TimestampTimestampTzRequiresRewrite())
			expr = linitial(((FuncExpr *) expr)->args);
		else
			return true;
	}
}

typedef struct VolatileContext
{
	bool		volatile_found;
	const char *unknown;
}			VolatileContext;

static bool
volatile_walker(Node *node, VolatileContext * ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncCall))
	{
		FuncCall   *fc = (FuncCall *) node;
		FuncCandidateList cands;

		cands = FuncnameGetCandidates(fc->funcname, -1, NIL, false, false, false, true);
		if (cands == NULL)
			ctx->unknown = "a function the catalog does not know yet";
		for (; cands != NULL; cands = cands->next)
			if (func_volatile(cands->oid) == PROVOLATILE_VOLATILE)
				ctx->volatile_found = true;
	}
	else if (IsA(node, SQLValueFunction))
	{
		/* CURRENT_TIMESTAMP and friends are stable: a fast default */
	}
	else if (IsA(node, SubLink))
		ctx->unknown = "a subquery in a default";
	return raw_expression_tree_walker(node, volatile_walker, (void *) ctx);
}

/* A raw default expression: volatile (by every function it may call)? */
static bool
expr_is_volatile(Node *raw, const char **unknown)
{
	VolatileContext ctx = {false, NULL};

	(void) volatile_walker(raw, &ctx);
	if (ctx.unknown != NULL && !ctx.volatile_found)
		*unknown = ctx.unknown;
	return ctx.volatile_found;
}

static bool
is_serial(TypeName *tn)
{
	char	   *name;

	if (tn == NULL || list_length(tn->names) != 1 || tn->arrayBounds != NIL)
		return false;
	name = strVal(linitial(tn->names));
	return strcmp(name, "serial") == 0 || strcmp(name, "bigserial") == 0 ||
		strcmp(name, "smallserial") == 0 || strcmp(name, "serial4") == 0 ||
		strcmp(name, "serial8") == 0 || strcmp(name, "serial2") == 0;
}

/* Does ADD COLUMN def rewrite an existing table? */
static bool
coldef_rewrites(ColumnDef *def, const char **unknown)
{
	ListCell   *lc;
	bool		has_default = false;

	if (is_serial(def->typeName))
		return true;
	foreach(lc, def->constraints)
	{
		Constraint *con = (Constraint *) lfirst(lc);

		if (con->contype == CONSTR_IDENTITY || con->contype == CONSTR_GENERATED)
			return true;
		if (con->contype == CONSTR_DEFAULT)
		{
			has_default = true;
			if (expr_is_volatile(con->raw_expr, unknown))
				return true;
		}
	}
	if (!has_default && def->typeName != NULL)
	{
		Oid			typid;
		int32		typmod;

		typenameTypeIdAndMod(NULL, def->typeName, &typid, &typmod);
		if (get_typtype(typid) == TYPTYPE_DOMAIN && DomainHasConstraints(typid))
			return true;
	}
	return false;
}

/* A foreign key: SHARE ROW EXCLUSIVE on the referenced table */
static void
predict_fk(PredictState * ps, Prediction * p, Constraint *con)
{
	PredRel		ref;

	if (con->contype != CONSTR_FOREIGN)
		return;
	if (resolve(ps, con->pktable, &ref))
		add_rel_lock(ps, p, &ref, ShareRowExclusiveLock);
}

static ColumnDef *
virtual_column(VirtualRel * v, const char *name)
{
	ListCell   *lc;

	if (v == NULL)
		return NULL;
	foreach(lc, v->columns)
	{
		ColumnDef  *c = (ColumnDef *) lfirst(lc);

		if (c->colname != NULL && strcmp(c->colname, name) == 0)
			return c;
	}
	return NULL;
}

static void
predict_alter_table(PredictState * ps, Prediction * p, AlterTableStmt *stmt)
{
	PredRel		rel;
	int			level;
	ListCell   *lc;
	bool		created_by_plan;

	if (!resolve(ps, stmt->relation, &rel))
		return;
	created_by_plan = !OidIsValid(rel.relid);
	level = AlterTableGetLockLevel(stmt->cmds);
	add_rel_lock(ps, p, &rel, level);

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
		bool		recurse = stmt->relation->inh;

		switch (cmd->subtype)
		{
			case AT_AddColumn:
				{
					ColumnDef  *def = (ColumnDef *) cmd->def;
					ListCell   *lc2;
					const char *unknown = NULL;

					foreach(lc2, def->constraints)
						predict_fk(ps, p, (Constraint *) lfirst(lc2));
					if (coldef_rewrites(def, &unknown))
						add_rewrite(p, rel.display);
					else if (unknown != NULL)
						p->unknown = unknown;
					if (rel.virtual != NULL)
						rel.virtual->columns = lappend(rel.virtual->columns, def);
					break;
				}
			case AT_AlterColumnType:
				{
					ColumnDef  *def = (ColumnDef *) cmd->def;
					Oid			oldtype = InvalidOid;
					int32		oldtypmod = -1;
					AttrNumber	attnum = InvalidAttrNumber;

					if (!created_by_plan)
					{
						HeapTuple	tup = SearchSysCacheAttName(rel.relid, cmd->name);

						if (HeapTupleIsValid(tup))
						{
							Form_pg_attribute att = (Form_pg_attribute) GETSTRUCT(tup);

							oldtype = att->atttypid;
							oldtypmod = att->atttypmod;
							attnum = att->attnum;
							ReleaseSysCache(tup);
						}
					}
					else
					{
						ColumnDef  *c = virtual_column(rel.virtual, cmd->name);

						if (c != NULL && !is_serial(c->typeName))
							typenameTypeIdAndMod(NULL, c->typeName, &oldtype, &oldtypmod);
						if (c != NULL)
							c->typeName = def->typeName;
					}
					if (!OidIsValid(oldtype))
					{
						p->unknown = "the column's current type is not known";
						break;
					}
					if (schemamig_type_change_rewrites(oldtype, oldtypmod, def->typeName,
													   def->raw_default, cmd->name))
						add_rewrite(p, rel.display);
					if (attnum > 0)
					{
						ListCell   *lc2;

						foreach(lc2, table_indexes(rel.relid, attnum))
							add_lock_oid(ps, p, lfirst_oid(lc2), AccessExclusiveLock);
						/* foreign keys on the column are re-added */
						lock_fk_referenced(ps, p, rel.relid, attnum, ShareRowExclusiveLock);
					}
					break;
				}
			case AT_DropColumn:
				if (!created_by_plan)
				{
					AttrNumber	attnum = get_attnum(rel.relid, cmd->name);

					if (attnum > 0)
					{
						ListCell   *lc2;

						foreach(lc2, table_indexes(rel.relid, attnum))
							add_lock_oid(ps, p, lfirst_oid(lc2), AccessExclusiveLock);
						lock_fk_referenced(ps, p, rel.relid, attnum, AccessExclusiveLock);
					}
				}
				if (cmd->behavior == DROP_CASCADE)
					p->unknown = "DROP COLUMN ... CASCADE";
				break;
			case AT_AddConstraint:
				predict_fk(ps, p, (Constraint *) cmd->def);
				break;
			case AT_DropConstraint:
				if (!created_by_plan)
				{
					Oid			conoid = get_relation_constraint_oid(rel.relid, cmd->name, true);

					if (OidIsValid(conoid))
					{
						HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));

						if (HeapTupleIsValid(tup))
						{
							Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

							if (con->contype == CONSTRAINT_FOREIGN)
								add_lock_oid(ps, p, con->confrelid, AccessExclusiveLock);
							if (OidIsValid(con->conindid) &&
								con->contype != CONSTRAINT_FOREIGN)
								add_lock_oid(ps, p, con->conindid, AccessExclusiveLock);
							ReleaseSysCache(tup);
						}
					}
				}
				if (cmd->behavior == DROP_CASCADE)
					p->unknown = "DROP CONSTRAINT ... CASCADE";
				break;
			case AT_SetLogged:
			case AT_SetUnLogged:
				/* the sequences of its serial and identity columns follow it */
				lock_owned_sequences(ps, p, rel.relid, AccessExclusiveLock);
				add_rewrite(p, rel.display);
				recurse = false;
				break;
			case AT_SetAccessMethod:
				add_rewrite(p, rel.display);
				recurse = false;
				break;
			case AT_AttachPartition:
			case AT_DetachPartition:
				{
					PartitionCmd *pc = (PartitionCmd *) cmd->def;
					PredRel		part;
					int			partlevel = pc->concurrent ? ShareUpdateExclusiveLock :
					AccessExclusiveLock;

					if (resolve(ps, pc->name, &part))
					{
						add_rel_lock(ps, p, &part, partlevel);
						if (cmd->subtype == AT_AttachPartition)
							lock_inheritors(ps, p, part.relid, AccessExclusiveLock);
					}
					if (!created_by_plan && get_rel_relkind(rel.relid) == RELKIND_PARTITIONED_TABLE)
					{
						Oid			def = get_default_partition_oid(rel.relid);

						if (OidIsValid(def) && def != part.relid)
							add_lock_oid(ps, p, def, partlevel);
					}
					recurse = false;
					break;
				}
			default:
				break;
		}
		if (recurse && !created_by_plan && stmt->objtype == OBJECT_TABLE)
			lock_inheritors(ps, p, rel.relid, level);
	}

	/* a rewritten table gets new indexes: the old ones are dropped */
	if (!created_by_plan && p->rewrites != NIL)
	{
		foreach(lc, table_indexes(rel.relid, 0))
			add_lock_oid(ps, p, lfirst_oid(lc), AccessExclusiveLock);
	}
}

static void
predict_drop(PredictState * ps, Prediction * p, DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->behavior == DROP_CASCADE)
	{
		p->unknown = "DROP ... CASCADE drops whatever depends on it";
		return;
	}
	foreach(lc, stmt->objects)
	{
		switch (stmt->removeType)
		{
			case OBJECT_TABLE:
			case OBJECT_VIEW:
			case OBJECT_MATVIEW:
			case OBJECT_SEQUENCE:
			case OBJECT_FOREIGN_TABLE:
			case OBJECT_INDEX:
				{
					RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));
					PredRel		rel;
					int			level = stmt->concurrent ? ShareUpdateExclusiveLock :
					AccessExclusiveLock;

					if (!resolve(ps, rv, &rel))
						break;
					add_rel_lock(ps, p, &rel, level);
					if (OidIsValid(rel.relid))
					{
						ListCell   *lc2;

						if (stmt->removeType == OBJECT_INDEX)
							add_lock_oid(ps, p, IndexGetRelation(rel.relid, false), level);
						else
						{
							foreach(lc2, table_indexes(rel.relid, 0))
								add_lock_oid(ps, p, lfirst_oid(lc2), AccessExclusiveLock);
							lock_owned_sequences(ps, p, rel.relid, AccessExclusiveLock);
							lock_fk_referenced(ps, p, rel.relid, 0, AccessExclusiveLock);
							lock_inheritors(ps, p, rel.relid, AccessExclusiveLock);
							if (get_rel_relispartition(rel.relid))
								add_lock_oid(ps, p, get_partition_parent(rel.relid, true),
											 AccessExclusiveLock);
						}
					}
					if (rel.virtual != NULL)
						rel.virtual->dropped = true;
					else
					{
						VirtualRel *v = palloc0(sizeof(VirtualRel));

						v->key = rv_key(rv);
						v->relid = rel.relid;
						v->display = rel.display;
						v->dropped = true;
						ps->virtuals = lappend(ps->virtuals, v);
					}
					break;
				}
			case OBJECT_TRIGGER:
			case OBJECT_POLICY:
			case OBJECT_RULE:
				{
					List	   *names = list_copy((List *) lfirst(lc));
					PredRel		rel;

					names = list_truncate(names, list_length(names) - 1);
					if (resolve(ps, makeRangeVarFromNameList(names), &rel))
						add_rel_lock(ps, p, &rel, AccessExclusiveLock);
					break;
				}
			case OBJECT_EXTENSION:
				p->unknown = "DROP EXTENSION runs the extension's own dependencies";
				break;
			default:
				/* types, functions, schemas ... without CASCADE: no relation */
				break;
		}
	}
}

static void
predict_rename(PredictState * ps, Prediction * p, RenameStmt *stmt)
{
	PredRel		rel;

	switch (stmt->renameType)
	{
		case OBJECT_TABLE:
		case OBJECT_VIEW:
		case OBJECT_MATVIEW:
		case OBJECT_SEQUENCE:
		case OBJECT_FOREIGN_TABLE:
		case OBJECT_INDEX:
			if (!resolve(ps, stmt->relation, &rel))
				return;
			add_rel_lock(ps, p, &rel, stmt->renameType == OBJECT_INDEX ?
						 ShareUpdateExclusiveLock : AccessExclusiveLock);
			/* later statements find it under the new name, shown by the old */
			{
				VirtualRel *v = rel.virtual;
				char	   *oldkey = rv_key(stmt->relation);
				char	   *nsp;

				if (v == NULL)
				{
					v = palloc0(sizeof(VirtualRel));
					v->relid = rel.relid;
					v->display = rel.display;
					ps->virtuals = lappend(ps->virtuals, v);
				}
				nsp = OidIsValid(rel.relid) ?
					get_namespace_name(get_rel_namespace(rel.relid)) :
					pnstrdup(oldkey, strchr(oldkey, '.') - oldkey);
				v->key = psprintf("%s.%s", nsp, stmt->newname);
				if (!OidIsValid(rel.relid))
					v->display = psprintf("%s.%s", quote_identifier(nsp),
										  quote_identifier(stmt->newname));
			}
			break;
		case OBJECT_COLUMN:
		case OBJECT_TABCONSTRAINT:
			if (!resolve(ps, stmt->relation, &rel))
				return;
			add_rel_lock(ps, p, &rel, AccessExclusiveLock);
			if (stmt->renameType == OBJECT_COLUMN && stmt->relation->inh)
				lock_inheritors(ps, p, rel.relid, AccessExclusiveLock);
			if (stmt->renameType == OBJECT_COLUMN && rel.virtual != NULL)
			{
				ColumnDef  *c = virtual_column(rel.virtual, stmt->subname);

				if (c != NULL)
					c->colname = stmt->newname;
			}
			break;
		case OBJECT_TRIGGER:
		case OBJECT_POLICY:
		case OBJECT_RULE:
			if (resolve(ps, stmt->relation, &rel))
				add_rel_lock(ps, p, &rel, AccessExclusiveLock);
			break;
		default:
			break;
	}
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

typedef struct FuncContext
{
	bool		found;
}			FuncContext;

static bool
user_function_walker(Node *node, FuncContext * ctx)
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
any_function_walker(Node *node, FuncContext * ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncCall))
		ctx->found = true;
	return raw_expression_tree_walker(node, any_function_walker, (void *) ctx);
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

/* ACCESS SHARE on every relation a query reads (parse analysis takes it) */
static void
predict_reads(PredictState * ps, Prediction * p, Node *query, RangeVar *skip)
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
		/* a CTE name is no relation: resolve() may still find one, harmlessly */
		if (resolve(ps, rv, &rel))
		{
			add_rel_lock(ps, p, &rel, AccessShareLock);
			if (rv->inh)
				lock_inheritors(ps, p, rel.relid, AccessShareLock);
		}
	}
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

static void
predict_dml(PredictState * ps, Prediction * p, Node *stmt)
{
	RangeVar   *target;
	PredRel		rel;

	switch (nodeTag(stmt))
	{
		case T_InsertStmt:
			target = ((InsertStmt *) stmt)->relation;
			break;
		case T_UpdateStmt:
			target = ((UpdateStmt *) stmt)->relation;
			break;
		default:
			target = ((DeleteStmt *) stmt)->relation;
			break;
	}
	if (has_user_functions(stmt))
	{
		p->unknown = "calls functions outside pg_catalog";
		return;
	}
	if (!resolve(ps, target, &rel))
		return;
	if (OidIsValid(rel.relid) && has_user_triggers_or_rules(rel.relid))
	{
		p->unknown = "fires triggers or rules";
		return;
	}
	add_rel_lock(ps, p, &rel, RowExclusiveLock);
	if (target->inh)
		lock_inheritors(ps, p, rel.relid, RowExclusiveLock);
	predict_reads(ps, p, stmt, target);
}

static void
predict_statement(PredictState * ps, Prediction * p, Node *tree)
{
	switch (nodeTag(tree))
	{
		case T_AlterTableStmt:
			predict_alter_table(ps, p, (AlterTableStmt *) tree);
			break;
		case T_DropStmt:
			predict_drop(ps, p, (DropStmt *) tree);
			break;
		case T_RenameStmt:
			predict_rename(ps, p, (RenameStmt *) tree);
			break;
		case T_IndexStmt:
			{
				IndexStmt  *stmt = (IndexStmt *) tree;
				PredRel		rel;
				int			level = stmt->concurrent ? ShareUpdateExclusiveLock : ShareLock;

				if (resolve(ps, stmt->relation, &rel))
				{
					add_rel_lock(ps, p, &rel, level);
					if (stmt->relation->inh)
						lock_inheritors(ps, p, rel.relid, ShareLock);
				}
				if (stmt->idxname != NULL)
				{
					RangeVar   *rv = makeRangeVar(stmt->relation->schemaname,
												  stmt->idxname, -1);

					add_virtual(ps, rv, NIL);
				}
				break;
			}
		case T_ReindexStmt:
			{
				ReindexStmt *stmt = (ReindexStmt *) tree;
				PredRel		rel;
				bool		concurrent = false;
				ListCell   *lc;

				foreach(lc, stmt->params)
					if (strcmp(((DefElem *) lfirst(lc))->defname, "concurrently") == 0)
					concurrent = defGetBoolean((DefElem *) lfirst(lc));
				if (stmt->kind != REINDEX_OBJECT_INDEX && stmt->kind != REINDEX_OBJECT_TABLE)
				{
					p->unknown = "REINDEX of a schema or database";
					break;
				}
				if (!resolve(ps, stmt->relation, &rel) || !OidIsValid(rel.relid))
					break;
				if (stmt->kind == REINDEX_OBJECT_INDEX)
				{
					add_lock_oid(ps, p, IndexGetRelation(rel.relid, false),
								 concurrent ? ShareUpdateExclusiveLock : ShareLock);
					add_rel_lock(ps, p, &rel, concurrent ? ShareUpdateExclusiveLock :
								 AccessExclusiveLock);
				}
				else
				{
					add_rel_lock(ps, p, &rel, concurrent ? ShareUpdateExclusiveLock : ShareLock);
					foreach(lc, table_indexes(rel.relid, 0))
						add_lock_oid(ps, p, lfirst_oid(lc), concurrent ?
									 ShareUpdateExclusiveLock : AccessExclusiveLock);
				}
				break;
			}
		case T_CreateStmt:
			{
				CreateStmt *stmt = (CreateStmt *) tree;
				ListCell   *lc;
				List	   *columns = NIL;

				foreach(lc, stmt->inhRelations)
				{
					PredRel		parent;

					if (!resolve(ps, (RangeVar *) lfirst(lc), &parent))
						continue;
					if (stmt->partbound != NULL)
					{
						add_rel_lock(ps, p, &parent, AccessExclusiveLock);
						if (OidIsValid(parent.relid))
						{
							Oid			def = get_default_partition_oid(parent.relid);

							if (OidIsValid(def))
								add_lock_oid(ps, p, def, AccessExclusiveLock);
						}
					}
					else
						add_rel_lock(ps, p, &parent, ShareUpdateExclusiveLock);
				}
				foreach(lc, stmt->tableElts)
				{
					Node	   *elt = (Node *) lfirst(lc);

					if (IsA(elt, ColumnDef))
					{
						ListCell   *lc2;

						columns = lappend(columns, copyObject(elt));
						foreach(lc2, ((ColumnDef *) elt)->constraints)
							predict_fk(ps, p, (Constraint *) lfirst(lc2));
					}
					else if (IsA(elt, Constraint))
						predict_fk(ps, p, (Constraint *) elt);
					else if (IsA(elt, TableLikeClause))
					{
						PredRel		src;

						if (resolve(ps, ((TableLikeClause *) elt)->relation, &src))
							add_rel_lock(ps, p, &src, AccessShareLock);
					}
				}
				if (!(stmt->if_not_exists && relation_exists(ps, stmt->relation)))
					add_virtual(ps, stmt->relation, columns);
				break;
			}
		case T_CreateTableAsStmt:
			{
				CreateTableAsStmt *stmt = (CreateTableAsStmt *) tree;

				if (has_user_functions(stmt->query))
				{
					p->unknown = "calls functions outside pg_catalog";
					break;
				}
				predict_reads(ps, p, stmt->query, NULL);
				add_virtual(ps, stmt->into->rel, NIL);
				break;
			}
		case T_ViewStmt:
			{
				ViewStmt   *stmt = (ViewStmt *) tree;
				PredRel		view;

				if (stmt->replace && resolve(ps, stmt->view, &view))
					add_rel_lock(ps, p, &view, AccessExclusiveLock);
				else
					add_virtual(ps, stmt->view, NIL);
				predict_reads(ps, p, stmt->query, NULL);
				break;
			}
		case T_CreateSeqStmt:
			add_virtual(ps, ((CreateSeqStmt *) tree)->sequence, NIL);
			break;
		case T_AlterSeqStmt:
			{
				PredRel		seq;

				if (resolve(ps, ((AlterSeqStmt *) tree)->sequence, &seq))
					add_rel_lock(ps, p, &seq, ShareRowExclusiveLock);
				break;
			}
		case T_CreateTrigStmt:
			{
				PredRel		rel;

				if (resolve(ps, ((CreateTrigStmt *) tree)->relation, &rel))
					add_rel_lock(ps, p, &rel, ShareRowExclusiveLock);
				break;
			}
		case T_CreatePolicyStmt:
		case T_AlterPolicyStmt:
			{
				PredRel		rel;
				RangeVar   *rv = IsA(tree, CreatePolicyStmt) ?
				((CreatePolicyStmt *) tree)->table : ((AlterPolicyStmt *) tree)->table;

				if (resolve(ps, rv, &rel))
					add_rel_lock(ps, p, &rel, AccessExclusiveLock);
				break;
			}
		case T_RuleStmt:
			{
				PredRel		rel;

				if (resolve(ps, ((RuleStmt *) tree)->relation, &rel))
					add_rel_lock(ps, p, &rel, AccessExclusiveLock);
				break;
			}
		case T_CommentStmt:
			{
				CommentStmt *stmt = (CommentStmt *) tree;
				PredRel		rel;
				List	   *names = NIL;

				if (stmt->objtype == OBJECT_TABLE || stmt->objtype == OBJECT_VIEW ||
					stmt->objtype == OBJECT_MATVIEW || stmt->objtype == OBJECT_INDEX ||
					stmt->objtype == OBJECT_SEQUENCE || stmt->objtype == OBJECT_FOREIGN_TABLE)
					names = castNode(List, stmt->object);
				else if (stmt->objtype == OBJECT_COLUMN)
				{
					names = list_copy(castNode(List, stmt->object));
					names = list_truncate(names, list_length(names) - 1);
				}
				if (names != NIL && resolve(ps, makeRangeVarFromNameList(names), &rel))
					add_rel_lock(ps, p, &rel, ShareUpdateExclusiveLock);
				break;
			}
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *stmt = (AlterObjectSchemaStmt *) tree;
				PredRel		rel;

				if (stmt->relation == NULL || !resolve(ps, stmt->relation, &rel))
					break;
				add_rel_lock(ps, p, &rel, AccessExclusiveLock);

				/*
				 * its owned sequences move with it, unless it stays where it
				 * is
				 */
				if (!OidIsValid(rel.relid) ||
					get_namespace_oid(stmt->newschema, true) != get_rel_namespace(rel.relid))
					lock_owned_sequences(ps, p, rel.relid, AccessExclusiveLock);
				{
					VirtualRel *v = rel.virtual;

					if (v == NULL)
					{
						v = palloc0(sizeof(VirtualRel));
						v->relid = rel.relid;
						v->display = rel.display;
						ps->virtuals = lappend(ps->virtuals, v);
					}
					v->key = psprintf("%s.%s", stmt->newschema, stmt->relation->relname);
				}
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

					if (!resolve(ps, rv, &rel))
						continue;
					add_rel_lock(ps, p, &rel, AccessExclusiveLock);
					if (rv->inh)
						lock_inheritors(ps, p, rel.relid, AccessExclusiveLock);
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
				if (resolve(ps, stmt->relation, &rel))
					add_rel_lock(ps, p, &rel, AccessExclusiveLock);
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

					if (resolve(ps, ((VacuumRelation *) lfirst(lc))->relation, &rel))
						add_rel_lock(ps, p, &rel, full ? AccessExclusiveLock :
									 ShareUpdateExclusiveLock);
				}
				break;
			}
		case T_RefreshMatViewStmt:
			{
				RefreshMatViewStmt *stmt = (RefreshMatViewStmt *) tree;
				PredRel		rel;

				if (resolve(ps, stmt->relation, &rel))
					add_rel_lock(ps, p, &rel, stmt->concurrent ? ExclusiveLock :
								 AccessExclusiveLock);
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
			predict_reads(ps, p, tree, NULL);
			break;
		case T_CreateSchemaStmt:
			if (((CreateSchemaStmt *) tree)->schemaElts != NIL)
				p->unknown = "CREATE SCHEMA with elements";
			break;
		case T_CreateFunctionStmt:
		case T_CreateEnumStmt:
		case T_AlterEnumStmt:
		case T_CreateDomainStmt:
		case T_CompositeTypeStmt:
		case T_DefineStmt:
		case T_GrantStmt:
		case T_GrantRoleStmt:
		case T_CreateRoleStmt:
		case T_AlterDefaultPrivilegesStmt:
		case T_CreateRangeStmt:
		case T_AlterFunctionStmt:
		case T_AlterDomainStmt:
		case T_VariableSetStmt:
			/* no lock on a user relation */
			break;
		case T_DoStmt:
			p->unknown = "DO block";
			break;
		case T_CallStmt:
			p->unknown = "CALL of a procedure";
			break;
		case T_CreateExtensionStmt:
		case T_AlterExtensionStmt:
			p->unknown = "runs an extension script";
			break;
		default:
			p->unknown = "statement type not predicted";
			break;
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

static int
compare_strings(const ListCell *a, const ListCell *b)
{
	return strcmp((char *) lfirst(a), (char *) lfirst(b));
}

/* Strongest mode per relation, as "relation: Mode" text, sorted */
static List *
held_strings(List *held)
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
										  pred_lock_names[l->level - 1]));
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
	return held_strings(held);
}

/*
 * One row (Datum[SCHEMAMIG_PLAN_COLUMNS], in the current memory context) per
 * statement of the pending revisions' upgrade scripts.
 */
List *
schemamig_plan_predict(SchemamigGraph *graph, List *pending)
{
	PredictState ps;
	List	   *rows = NIL;
	ListCell   *lc;
	MemoryContext cxt = CurrentMemoryContext;

	memset(&ps, 0, sizeof(ps));
	foreach(lc, pending)
	{
		SchemamigNode *node = &graph->nodes[lfirst_int(lc)];
		char	   *script = schemamig_fetch_script(node->revision, DIRECTION_UPGRADE);
		List	   *statements;
		ListCell   *ls;

		/* SPI leaves its own procedure context current: back to ours */
		MemoryContextSwitchTo(cxt);
		statements = schemamig_script_parse(script, node->revision, "upgrade");

		foreach(ls, statements)
		{
			SchemamigStatement *st = (SchemamigStatement *) lfirst(ls);
			Prediction	pred;
			List	   *lock_strings = NIL;
			List	   *held_before = held_strings(ps.held);
			PredLock   *strongest = NULL;
			List	   *taken = NIL;
			Datum	   *values;
			ListCell   *ll;

			memset(&pred, 0, sizeof(pred));
			ps.created = NIL;
			predict_statement(&ps, &pred, st->parsetree);

			values = palloc0(sizeof(Datum) * SCHEMAMIG_PLAN_COLUMNS);
			values[0] = CStringGetTextDatum(node->revision);
			values[1] = Int32GetDatum(st->statement_no);
			values[2] = CStringGetTextDatum(st->text);
			values[7] = schemamig_text_array(held_before);
			if (pred.unknown != NULL)
			{
				values[4] = CStringGetTextDatum("unknown");
				values[8] = CStringGetTextDatum(pred.unknown);
				rows = lappend(rows, values);
				continue;
			}

			foreach(ll, schemamig_plan_uncovered(pred.locks, ps.held))
			{
				PredLock   *l = (PredLock *) lfirst(ll);
				bool		created = false;
				ListCell   *lh;

				foreach(lh, ps.created)
					if (strcmp((char *) lfirst(lh), l->relation) == 0)
					created = true;
				if (created)
					continue;
				taken = lappend(taken, l);
				lock_strings = lappend(lock_strings,
									   psprintf("%s: %s", l->relation,
												pred_lock_names[l->level - 1]));
				if (strongest == NULL || l->level > strongest->level)
					strongest = l;
			}
			/* what the statement created it holds in ACCESS EXCLUSIVE mode */
			foreach(ll, ps.created)
			{
				PredLock   *l = palloc(sizeof(PredLock));

				l->relation = (char *) lfirst(ll);
				l->level = AccessExclusiveLock;
				l->relid = InvalidOid;
				taken = lappend(taken, l);
			}
			ps.held = list_concat(ps.held, taken);
			values[3] = schemamig_text_array(lock_strings);
			if (strongest != NULL)
				values[4] = CStringGetTextDatum(psprintf("%s: %s", strongest->relation,
														 pred_lock_names[strongest->level - 1]));
			list_sort(pred.rewrites, compare_strings);
			values[5] = schemamig_text_array(pred.rewrites);
			rows = lappend(rows, values);
		}
	}
	return rows;
}

/*
 * The locks one statement will request, for a statement about to run with
 * the catalogs as the earlier statements left them (executed review checks
 * them before running it); NIL when not predictable.
 */
List *
schemamig_plan_predict_locks(Node *parsetree)
{
	PredictState ps;
	Prediction	pred;

	memset(&ps, 0, sizeof(ps));
	memset(&pred, 0, sizeof(pred));
	predict_statement(&ps, &pred, parsetree);
	return pred.unknown ? NIL : pred.locks;
}
