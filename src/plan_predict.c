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
 * held (or merely requested) by someone else (specs/plan_no_wait.spec).
 *
 * This file has the entry points and predicts the statements that name
 * their relations directly (CREATE TABLE / INDEX / VIEW / SEQUENCE,
 * REINDEX, COMMENT, SET SCHEMA, ...); DML, queries, rebuilds and LOCK are
 * in plan_predict_data.c, ALTER TABLE, DROP and RENAME in
 * plan_predict_alter.c, foreign keys and defaults in plan_predict_keys.c,
 * name resolution and lock bookkeeping in plan_predict_rel.c.
 *
 * Every rule was checked against PostgreSQL 15 itself: plan(execute =>
 * true) reads the locks the statement really took from pg_locks, and
 * test/integration/plan_compare.sh runs both modes over every utility
 * statement and DML statement of the test suite
 * (test/plan_compare/statements.jsonl).  The surprises it found, now
 * predicted (each file's banner has its own): CLUSTER, TRUNCATE and
 * REFRESH rebuild every index in ACCESS EXCLUSIVE mode, and TRUNCATE ...
 * RESTART IDENTITY the owned sequences; a planned query (CREATE TABLE AS,
 * REFRESH, UPDATE ... FROM, a foreign key's check) share-locks every index
 * of the tables it reads; UPDATE and DELETE lock every index of the target
 * ROW EXCLUSIVE, INSERT keeps no lock on them but locks the sequences it
 * draws from (only for rows it inserts: INSERT ... SELECT is 'unknown'
 * there); the referenced table of a re-typed foreign key is ACCESS
 * EXCLUSIVE (the key is dropped), not SHARE ROW EXCLUSIVE; SET SCHEMA locks
 * the owned sequences even when the schema does not change; CREATE TABLE
 * ... PARTITION OF takes SHARE UPDATE EXCLUSIVE on the parent's partitioned
 * indexes; SEQUENCE ... OWNED BY share-locks the table; CREATE / DROP
 * STATISTICS take SHARE UPDATE EXCLUSIVE on the table; ALTER TYPE ... OWNER
 * of a composite type locks its relation; a SQL-standard function body is
 * parse analysed at creation and share-locks what it reads; from
 * PostgreSQL 18 on, GRANT and REVOKE share-lock the relation (the same
 * list replayed on 17 and 18 by test/majors/run.sh).  And the executed
 * plan reported temporary relations, which block no one.
 *
 * Earlier statements of the plan are simulated as far as later ones need:
 * relations created, renamed and dropped (by name), and the columns of
 * created tables.  A (relation, mode) pair taken by an earlier statement is
 * still held (relation locks last until the end of the transaction), so,
 * as in the executed plan, it is reported in "held" and not again in
 * "locks".  Relations created by the statement itself are left out (no
 * one else can see them), and so are catalogs, temporary relations and
 * schemamig's own tables.
 *
 * What cannot be predicted is reported as strongest_lock 'unknown' with
 * locks NULL, never guessed: DO blocks, CALL, SELECT of functions, DML on a
 * table with user triggers or rules or calling functions outside
 * pg_catalog, DML whose partitions are known only when it runs, DROP ...
 * CASCADE, CREATE EXTENSION, CREATE SCHEMA with elements, LOCK of a view,
 * REFRESH ... CONCURRENTLY, and statement types not described here.
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

#include "compat.h"
#include "plan_predict_int.h"


/* SEQUENCE ... OWNED BY t.c: ACCESS SHARE on the table */
static void
sequence_owned_by(PredictState *ps, Prediction *p, List *options)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *opt = (DefElem *) lfirst(lc);
		List	   *names;
		PredRel		rel;

		if (strcmp(opt->defname, "owned_by") != 0)
			continue;
		names = list_copy(castNode(List, opt->arg));
		if (list_length(names) < 2)
			continue;			/* OWNED BY NONE */
		names = list_truncate(names, list_length(names) - 1);
		if (schemamig_pred_resolve(ps, makeRangeVarFromNameList(names), &rel))
			schemamig_pred_lock_rel(ps, p, &rel, AccessShareLock);
	}
}

/*
 * ALTER TYPE ... OWNER TO of a composite type changes the owner of its
 * relation (ACCESS EXCLUSIVE); other owner changes lock no relation.
 */
static void
predict_alter_owner(PredictState *ps, Prediction *p, AlterOwnerStmt *stmt)
{
	TypeName   *tn;
	Oid			typid;
	HeapTuple	tup;

	if (stmt->objectType != OBJECT_TYPE && stmt->objectType != OBJECT_DOMAIN)
		return;
	tn = makeTypeNameFromNameList(castNode(List, stmt->object));
	typid = LookupTypeNameOid(NULL, tn, true);
	tup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(typid));
	if (!HeapTupleIsValid(tup))
		return;
	if (((Form_pg_type) GETSTRUCT(tup))->typtype == TYPTYPE_COMPOSITE &&
		((Form_pg_type) GETSTRUCT(tup))->typowner != get_rolespec_oid(stmt->newowner, true))
		schemamig_pred_lock_oid(ps, p, ((Form_pg_type) GETSTRUCT(tup))->typrelid,
								AccessExclusiveLock);
	ReleaseSysCache(tup);
}

/*
 * GRANT / REVOKE: from PostgreSQL 18 on, ACCESS SHARE on each table, view
 * or sequence named (compat.h); ALL ... IN SCHEMA would lock every one of
 * the schema: not predicted there.
 */
static void
predict_grant(PredictState *ps, Prediction *p, GrantStmt *stmt)
{
	ListCell   *lc;

	if (!SCHEMAMIG_GRANT_LOCKS_RELATION ||
		(stmt->objtype != OBJECT_TABLE && stmt->objtype != OBJECT_SEQUENCE &&
		 stmt->objtype != OBJECT_FOREIGN_TABLE))
		return;
	if (stmt->targtype != ACL_TARGET_OBJECT)
	{
		p->unknown = "GRANT ... ALL IN SCHEMA locks every relation of the schema";
		return;
	}
	foreach(lc, stmt->objects)
	{
		PredRel		rel;

		if (schemamig_pred_resolve(ps, (RangeVar *) lfirst(lc), &rel))
			schemamig_pred_lock_rel(ps, p, &rel, AccessShareLock);
	}
}

static void
predict_statement(PredictState *ps, Prediction *p, Node *tree)
{
	switch (nodeTag(tree))
	{
		case T_AlterTableStmt:
			schemamig_pred_alter_table(ps, p, (AlterTableStmt *) tree);
			break;
		case T_DropStmt:
			schemamig_pred_drop(ps, p, (DropStmt *) tree);
			break;
		case T_RenameStmt:
			schemamig_pred_rename(ps, p, (RenameStmt *) tree);
			break;
		case T_IndexStmt:
			{
				IndexStmt  *stmt = (IndexStmt *) tree;
				PredRel		rel;
				int			level = stmt->concurrent ? ShareUpdateExclusiveLock : ShareLock;

				if (schemamig_pred_resolve(ps, stmt->relation, &rel))
				{
					schemamig_pred_lock_rel(ps, p, &rel, level);
					if (stmt->relation->inh)
						schemamig_pred_lock_inheritors(ps, p, rel.relid, ShareLock);
				}
				if (stmt->idxname != NULL)
				{
					RangeVar   *rv = makeRangeVar(stmt->relation->schemaname,
												  stmt->idxname, -1);

					schemamig_pred_created(ps, rv, NIL);
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
				if (!schemamig_pred_resolve(ps, stmt->relation, &rel) || !OidIsValid(rel.relid))
					break;
				if (stmt->kind == REINDEX_OBJECT_INDEX)
				{
					schemamig_pred_lock_oid(ps, p, IndexGetRelation(rel.relid, false),
											concurrent ? ShareUpdateExclusiveLock : ShareLock);
					schemamig_pred_lock_rel(ps, p, &rel, concurrent ? ShareUpdateExclusiveLock :
											AccessExclusiveLock);
				}
				else
				{
					schemamig_pred_lock_rel(ps, p, &rel, concurrent ? ShareUpdateExclusiveLock : ShareLock);
					foreach(lc, schemamig_pred_indexes(rel.relid, 0))
						schemamig_pred_lock_oid(ps, p, lfirst_oid(lc), concurrent ?
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

					if (!schemamig_pred_resolve(ps, (RangeVar *) lfirst(lc), &parent))
						continue;
					if (stmt->partbound != NULL)
					{
						schemamig_pred_lock_rel(ps, p, &parent, AccessExclusiveLock);
						if (OidIsValid(parent.relid))
						{
							Oid			def = get_default_partition_oid(parent.relid);

							if (OidIsValid(def))
								schemamig_pred_lock_oid(ps, p, def, AccessExclusiveLock);
							/* the partition's indexes are attached to these */
							schemamig_pred_lock_indexes(ps, p, parent.relid,
														ShareUpdateExclusiveLock);
						}
					}
					else
						schemamig_pred_lock_rel(ps, p, &parent, ShareUpdateExclusiveLock);
				}
				foreach(lc, stmt->tableElts)
				{
					Node	   *elt = (Node *) lfirst(lc);

					if (IsA(elt, ColumnDef))
					{
						ListCell   *lc2;

						columns = lappend(columns, copyObject(elt));
						foreach(lc2, ((ColumnDef *) elt)->constraints)
						{
							Constraint *con = (Constraint *) lfirst(lc2);

							schemamig_pred_fk(ps, p, con, InvalidOid, false);
							if (con->contype == CONSTR_DEFAULT)
								schemamig_pred_default(ps, p, con->raw_expr);
						}
					}
					else if (IsA(elt, Constraint))
						schemamig_pred_fk(ps, p, (Constraint *) elt, InvalidOid, false);
					else if (IsA(elt, TableLikeClause))
					{
						PredRel		src;

						if (schemamig_pred_resolve(ps, ((TableLikeClause *) elt)->relation, &src))
							schemamig_pred_lock_rel(ps, p, &src, AccessShareLock);
					}
				}
				if (!(stmt->if_not_exists && schemamig_pred_exists(ps, stmt->relation)))
					schemamig_pred_created(ps, stmt->relation, columns);
				break;
			}
		case T_ViewStmt:
			{
				ViewStmt   *stmt = (ViewStmt *) tree;
				PredRel		view;

				if (stmt->replace && schemamig_pred_resolve(ps, stmt->view, &view))
					schemamig_pred_lock_rel(ps, p, &view, AccessExclusiveLock);
				else
					schemamig_pred_created(ps, stmt->view, NIL);
				schemamig_pred_reads(ps, p, stmt->query, NULL);
				break;
			}
		case T_CreateSeqStmt:
			sequence_owned_by(ps, p, ((CreateSeqStmt *) tree)->options);
			schemamig_pred_created(ps, ((CreateSeqStmt *) tree)->sequence, NIL);
			break;
		case T_AlterSeqStmt:
			{
				PredRel		seq;

				if (schemamig_pred_resolve(ps, ((AlterSeqStmt *) tree)->sequence, &seq))
					schemamig_pred_lock_rel(ps, p, &seq, ShareRowExclusiveLock);
				sequence_owned_by(ps, p, ((AlterSeqStmt *) tree)->options);
				break;
			}
		case T_CreateTrigStmt:
			{
				PredRel		rel;

				if (schemamig_pred_resolve(ps, ((CreateTrigStmt *) tree)->relation, &rel))
					schemamig_pred_lock_rel(ps, p, &rel, ShareRowExclusiveLock);
				break;
			}
		case T_CreatePolicyStmt:
		case T_AlterPolicyStmt:
			{
				PredRel		rel;
				RangeVar   *rv = IsA(tree, CreatePolicyStmt) ?
				((CreatePolicyStmt *) tree)->table : ((AlterPolicyStmt *) tree)->table;

				if (schemamig_pred_resolve(ps, rv, &rel))
					schemamig_pred_lock_rel(ps, p, &rel, AccessExclusiveLock);
				break;
			}
		case T_RuleStmt:
			{
				PredRel		rel;

				if (schemamig_pred_resolve(ps, ((RuleStmt *) tree)->relation, &rel))
					schemamig_pred_lock_rel(ps, p, &rel, AccessExclusiveLock);
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
				if (names != NIL && schemamig_pred_resolve(ps, makeRangeVarFromNameList(names), &rel))
					schemamig_pred_lock_rel(ps, p, &rel, ShareUpdateExclusiveLock);
				break;
			}
		case T_AlterObjectSchemaStmt:
			{
				AlterObjectSchemaStmt *stmt = (AlterObjectSchemaStmt *) tree;
				PredRel		rel;

				if (stmt->relation == NULL || !schemamig_pred_resolve(ps, stmt->relation, &rel))
					break;
				schemamig_pred_lock_rel(ps, p, &rel, AccessExclusiveLock);

				/*
				 * its owned sequences move with it, and are locked even when
				 * it stays where it is (AlterSeqNamespaces opens them all)
				 */
				schemamig_pred_lock_sequences(ps, p, rel.relid, AccessExclusiveLock);
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
		case T_CreateSchemaStmt:
			if (((CreateSchemaStmt *) tree)->schemaElts != NIL)
				p->unknown = "CREATE SCHEMA with elements";
			break;
		case T_AlterOwnerStmt:
			predict_alter_owner(ps, p, (AlterOwnerStmt *) tree);
			break;
		case T_CreateStatsStmt:
			{
				CreateStatsStmt *stmt = (CreateStatsStmt *) tree;
				PredRel		rel;

				if (list_length(stmt->relations) == 1 && IsA(linitial(stmt->relations), RangeVar) &&
					schemamig_pred_resolve(ps, linitial(stmt->relations), &rel))
					schemamig_pred_lock_rel(ps, p, &rel, ShareUpdateExclusiveLock);
				break;
			}
		case T_AlterEventTrigStmt:
		case T_CreateEnumStmt:
		case T_AlterEnumStmt:
		case T_CreateDomainStmt:
		case T_CompositeTypeStmt:
		case T_DefineStmt:
		case T_GrantStmt:
			predict_grant(ps, p, (GrantStmt *) tree);
			break;
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
			if (!schemamig_pred_data(ps, p, tree))
				p->unknown = "statement type not predicted";
			break;
	}
}

static int
compare_strings(const ListCell *a, const ListCell *b)
{
	return strcmp((char *) lfirst(a), (char *) lfirst(b));
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
			List	   *held_before = schemamig_pred_held_strings(ps.held);
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
												schemamig_pred_lock_names[l->level - 1]));
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
														 schemamig_pred_lock_names[strongest->level - 1]));
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
