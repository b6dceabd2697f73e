/*-------------------------------------------------------------------------
 *
 * plan_predict_alter.c
 *		plan(execute => false): ALTER TABLE, DROP and RENAME, the
 *		statements whose locks reach beyond the relation they name.
 *
 * The lock on the target comes from the server (AlterTableGetLockLevel()).
 * What follows from the command is added here, each as PostgreSQL 15 was
 * seen to do it in plan(execute => true) (test/integration/plan_compare.sh
 * checks every statement of the test suite both ways); foreign keys and
 * defaults are plan_predict_keys.c's:
 *
 * - ALTER COLUMN TYPE: ACCESS EXCLUSIVE on the column's indexes, and the
 *   foreign keys on the column or referencing it, dropped and re-added;
 * - DROP COLUMN, DROP CONSTRAINT, DROP TABLE: the indexes and the tables
 *   referenced by the foreign keys that go (ACCESS EXCLUSIVE);
 * - OWNER TO another role: ACCESS EXCLUSIVE on the indexes and owned
 *   sequences, which change owner with it;
 * - ATTACH / DETACH PARTITION: the partition, the default partition, the
 *   parent's partitioned indexes on attach (SHARE UPDATE EXCLUSIVE) and
 *   the partition's attached indexes on detach (ACCESS EXCLUSIVE); ALTER
 *   INDEX ... ATTACH PARTITION share-locks both tables;
 * - inheritance children an ALTER TABLE recurses to, the indexes of a
 *   rewritten table, owned sequences of a table made (UN)LOGGED;
 * - DROP STATISTICS: SHARE UPDATE EXCLUSIVE on its table.
 *
 * Rewrites: ALTER COLUMN TYPE when the conversion is not binary-coercible
 * (decided like tablecmds.c's ATColumnChangeRequiresRewrite, on the
 * coercion expression after expression_planner(), so varchar(120) ->
 * varchar(300) is no rewrite), ADD COLUMN with a volatile default, serial,
 * identity or stored generated column, or a domain with constraints, SET
 * LOGGED / UNLOGGED and SET ACCESS METHOD.
 *
 * IDENTIFICATION
 *		src/plan_predict_alter.c
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
} VolatileContext;

static bool
volatile_walker(Node *node, VolatileContext *ctx)
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

/* Does role spec name a role other than relid's owner? */
static bool
owner_changes(Oid relid, RoleSpec *newowner)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		return false;
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return get_rolespec_oid(newowner, true) != owner;
}

/* Indexes of relid attached to a partitioned index */
static void
lock_attached_indexes(PredictState *ps, Prediction *p, Oid relid, int level)
{
	ListCell   *lc;

	foreach(lc, schemamig_pred_indexes(relid, 0))
		if (has_superclass(lfirst_oid(lc)))
		schemamig_pred_lock_oid(ps, p, lfirst_oid(lc), level);
}

static ColumnDef *
virtual_column(VirtualRel *v, const char *name)
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

void
schemamig_pred_alter_table(PredictState *ps, Prediction *p, AlterTableStmt *stmt)
{
	PredRel		rel;
	int			level;
	ListCell   *lc;
	bool		created_by_plan;

	if (!schemamig_pred_resolve(ps, stmt->relation, &rel))
		return;
	created_by_plan = !OidIsValid(rel.relid);
	level = AlterTableGetLockLevel(stmt->cmds);
	schemamig_pred_lock_rel(ps, p, &rel, level);

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

					/* a new column's key is not validated: all rows are NULL */
					foreach(lc2, def->constraints)
						schemamig_pred_fk(ps, p, (Constraint *) lfirst(lc2), rel.relid, false);
					schemamig_pred_coldef_defaults(ps, p, def);
					if (coldef_rewrites(def, &unknown))
						schemamig_pred_rewrite(p, rel.display);
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
					bool		rewrites;

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
					rewrites = schemamig_type_change_rewrites(oldtype, oldtypmod, def->typeName,
															  def->raw_default, cmd->name);
					if (rewrites)
						schemamig_pred_rewrite(p, rel.display);
					if (attnum > 0)
					{
						ListCell   *lc2;

						foreach(lc2, schemamig_pred_indexes(rel.relid, attnum))
							schemamig_pred_lock_oid(ps, p, lfirst_oid(lc2), AccessExclusiveLock);
						/* foreign keys on the column are dropped and re-added */
						schemamig_pred_lock_fk_retyped(ps, p, rel.relid, attnum, rewrites);
						schemamig_pred_lock_fk_referencing(ps, p, rel.relid, attnum, rewrites);
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

						foreach(lc2, schemamig_pred_indexes(rel.relid, attnum))
							schemamig_pred_lock_oid(ps, p, lfirst_oid(lc2), AccessExclusiveLock);
						schemamig_pred_lock_fk_referenced(ps, p, rel.relid, attnum, AccessExclusiveLock);
					}
				}
				if (cmd->behavior == DROP_CASCADE)
					p->unknown = "DROP COLUMN ... CASCADE";
				break;
			case AT_AddConstraint:
				schemamig_pred_fk(ps, p, (Constraint *) cmd->def, rel.relid, !created_by_plan);
				break;
			case AT_ValidateConstraint:
				if (!created_by_plan)
				{
					Oid			conoid = get_relation_constraint_oid(rel.relid, cmd->name, true);
					HeapTuple	tup = SearchSysCache1(CONSTROID, ObjectIdGetDatum(conoid));

					if (HeapTupleIsValid(tup))
					{
						Form_pg_constraint con = (Form_pg_constraint) GETSTRUCT(tup);

						if (con->contype == CONSTRAINT_FOREIGN && !con->convalidated)
							schemamig_pred_fk_validation(ps, p, rel.relid, con->confrelid);
						ReleaseSysCache(tup);
					}
				}
				break;
			case AT_ColumnDefault:
				if (cmd->def != NULL)
					schemamig_pred_default(ps, p, cmd->def);
				break;
			case AT_ChangeOwner:
				/* indexes and owned sequences change owner with it */
				if (!created_by_plan && owner_changes(rel.relid, cmd->newowner))
				{
					schemamig_pred_lock_indexes(ps, p, rel.relid, AccessExclusiveLock);
					schemamig_pred_lock_sequences(ps, p, rel.relid, AccessExclusiveLock);
				}
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
								schemamig_pred_lock_oid(ps, p, con->confrelid, AccessExclusiveLock);
							if (OidIsValid(con->conindid) &&
								con->contype != CONSTRAINT_FOREIGN)
								schemamig_pred_lock_oid(ps, p, con->conindid, AccessExclusiveLock);
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
				schemamig_pred_lock_sequences(ps, p, rel.relid, AccessExclusiveLock);
				schemamig_pred_rewrite(p, rel.display);
				recurse = false;
				break;
			case AT_SetAccessMethod:
				schemamig_pred_rewrite(p, rel.display);
				recurse = false;
				break;
			case AT_AttachPartition:
			case AT_DetachPartition:
				{
					PartitionCmd *pc = (PartitionCmd *) cmd->def;
					PredRel		part;
					int			partlevel = pc->concurrent ? ShareUpdateExclusiveLock :
					AccessExclusiveLock;

					if (!schemamig_pred_resolve(ps, pc->name, &part))
						break;
					schemamig_pred_lock_rel(ps, p, &part, partlevel);
					if (stmt->objtype == OBJECT_INDEX)
					{
						/* ALTER INDEX ... ATTACH PARTITION: both tables */
						if (!created_by_plan)
							schemamig_pred_lock_oid(ps, p, IndexGetRelation(rel.relid, false),
													AccessShareLock);
						if (OidIsValid(part.relid))
							schemamig_pred_lock_oid(ps, p, IndexGetRelation(part.relid, false),
													AccessShareLock);
						recurse = false;
						break;
					}
					if (cmd->subtype == AT_AttachPartition)
					{
						schemamig_pred_lock_inheritors(ps, p, part.relid, AccessExclusiveLock);
						/* its indexes are attached to the parent's */
						if (!created_by_plan)
							schemamig_pred_lock_indexes(ps, p, rel.relid, ShareUpdateExclusiveLock);
					}
					else if (OidIsValid(part.relid))
						lock_attached_indexes(ps, p, part.relid, AccessExclusiveLock);
					if (!created_by_plan && get_rel_relkind(rel.relid) == RELKIND_PARTITIONED_TABLE)
					{
						Oid			def = get_default_partition_oid(rel.relid);

						if (OidIsValid(def) && def != part.relid)
							schemamig_pred_lock_oid(ps, p, def, partlevel);
					}
					recurse = false;
					break;
				}
			default:
				break;
		}
		if (recurse && !created_by_plan && stmt->objtype == OBJECT_TABLE)
			schemamig_pred_lock_inheritors(ps, p, rel.relid, level);
	}

	/* a rewritten table gets new indexes: the old ones are dropped */
	if (!created_by_plan && p->rewrites != NIL)
	{
		foreach(lc, schemamig_pred_indexes(rel.relid, 0))
			schemamig_pred_lock_oid(ps, p, lfirst_oid(lc), AccessExclusiveLock);
	}
}

void
schemamig_pred_drop(PredictState *ps, Prediction *p, DropStmt *stmt)
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

					if (!schemamig_pred_resolve(ps, rv, &rel))
						break;
					schemamig_pred_lock_rel(ps, p, &rel, level);
					if (OidIsValid(rel.relid))
					{
						ListCell   *lc2;

						if (stmt->removeType == OBJECT_INDEX)
							schemamig_pred_lock_oid(ps, p, IndexGetRelation(rel.relid, false), level);
						else
						{
							foreach(lc2, schemamig_pred_indexes(rel.relid, 0))
								schemamig_pred_lock_oid(ps, p, lfirst_oid(lc2), AccessExclusiveLock);
							schemamig_pred_lock_sequences(ps, p, rel.relid, AccessExclusiveLock);
							schemamig_pred_lock_fk_referenced(ps, p, rel.relid, 0, AccessExclusiveLock);
							schemamig_pred_lock_inheritors(ps, p, rel.relid, AccessExclusiveLock);
							if (get_rel_relispartition(rel.relid))
								schemamig_pred_lock_oid(ps, p, get_partition_parent(rel.relid, true),
														AccessExclusiveLock);
						}
					}
					if (rel.virtual != NULL)
						rel.virtual->dropped = true;
					else
					{
						VirtualRel *v = palloc0(sizeof(VirtualRel));

						v->key = schemamig_pred_key(rv);
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
					if (schemamig_pred_resolve(ps, makeRangeVarFromNameList(names), &rel))
						schemamig_pred_lock_rel(ps, p, &rel, AccessExclusiveLock);
					break;
				}
			case OBJECT_STATISTIC_EXT:
				{
					Oid			statoid = get_statistics_object_oid((List *) lfirst(lc), true);
					HeapTuple	tup = SearchSysCache1(STATEXTOID, ObjectIdGetDatum(statoid));

					if (HeapTupleIsValid(tup))
					{
						schemamig_pred_lock_oid(ps, p, ((Form_pg_statistic_ext) GETSTRUCT(tup))->stxrelid,
												ShareUpdateExclusiveLock);
						ReleaseSysCache(tup);
					}
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

void
schemamig_pred_rename(PredictState *ps, Prediction *p, RenameStmt *stmt)
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
			if (!schemamig_pred_resolve(ps, stmt->relation, &rel))
				return;
			schemamig_pred_lock_rel(ps, p, &rel, stmt->renameType == OBJECT_INDEX ?
									ShareUpdateExclusiveLock : AccessExclusiveLock);
			/*
			 * later statements find it under the new name, shown by the old
			 * (the executed plan names a relation as it first saw it, also
			 * one an earlier statement of the plan created)
			 */
			{
				VirtualRel *v = rel.virtual;
				char	   *oldkey = schemamig_pred_key(stmt->relation);
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
			}
			break;
		case OBJECT_COLUMN:
		case OBJECT_TABCONSTRAINT:
			if (!schemamig_pred_resolve(ps, stmt->relation, &rel))
				return;
			schemamig_pred_lock_rel(ps, p, &rel, AccessExclusiveLock);
			if (stmt->renameType == OBJECT_COLUMN && stmt->relation->inh)
				schemamig_pred_lock_inheritors(ps, p, rel.relid, AccessExclusiveLock);
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
			if (schemamig_pred_resolve(ps, stmt->relation, &rel))
				schemamig_pred_lock_rel(ps, p, &rel, AccessExclusiveLock);
			break;
		default:
			break;
	}
}
