/*-------------------------------------------------------------------------
 *
 * plan_predict_int.h
 *		What only the plan_predict files share: the simulated relations of
 *		the plan, the prediction of one statement, and the helpers that
 *		resolve names and add locks without taking any.
 *
 * Calls go one way, top down: plan_predict.c (the entry points, the
 * statements that name their relations directly) -> plan_predict_data.c
 * (DML, queries, rebuilds, LOCK), plan_predict_alter.c (ALTER TABLE,
 * DROP, RENAME) -> plan_predict_keys.c (foreign keys, defaults) ->
 * plan_predict_rel.c (names, catalog lookups, lock bookkeeping).
 *
 * IDENTIFICATION
 *		src/plan_predict_int.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SCHEMAMIG_PLAN_PREDICT_INT_H
#define SCHEMAMIG_PLAN_PREDICT_INT_H

#include "nodes/parsenodes.h"

#include "schemamig.h"

/* PostgreSQL's table lock modes; index = LOCKMODE - 1 */
extern const char *const schemamig_pred_lock_names[];

/* A relation created, renamed or dropped by an earlier statement */
typedef struct VirtualRel
{
	char	   *key;			/* nspname.relname as now named, unquoted */
	char	   *display;		/* name the plan shows (executed: first name) */
	Oid			relid;			/* InvalidOid when created by the plan */
	bool		dropped;
	List	   *columns;		/* ColumnDef of created tables */
} VirtualRel;

typedef SchemamigLock PredLock;

typedef struct Prediction
{
	List	   *locks;			/* PredLock */
	List	   *rewrites;		/* char * */
	const char *unknown;		/* why, when not predictable */
} Prediction;

typedef struct PredictState
{
	List	   *virtuals;		/* VirtualRel */
	List	   *held;			/* PredLock taken by earlier statements */
	List	   *created;		/* keys created by the current statement */
} PredictState;

/* A relation resolved from a RangeVar, real or simulated */
typedef struct PredRel
{
	Oid			relid;			/* InvalidOid for a relation the plan made */
	char	   *display;
	VirtualRel *virtual;
} PredRel;

/* plan_predict_rel.c: names, catalog lookups, locks */
extern char *schemamig_pred_key(RangeVar *rv);
extern VirtualRel *schemamig_pred_find(PredictState *ps, const char *key);
extern VirtualRel *schemamig_pred_find_relid(PredictState *ps, Oid relid);
extern bool schemamig_pred_resolve(PredictState *ps, RangeVar *rv, PredRel *out);
extern bool schemamig_pred_exists(PredictState *ps, RangeVar *rv);
extern void schemamig_pred_lock(Prediction *p, const char *relation, int level);
extern void schemamig_pred_lock_oid(PredictState *ps, Prediction *p, Oid relid, int level);
extern void schemamig_pred_lock_rel(PredictState *ps, Prediction *p, PredRel *rel, int level);
extern void schemamig_pred_rewrite(Prediction *p, const char *relation);
extern void schemamig_pred_created(PredictState *ps, RangeVar *rv, List *columns);
extern List *schemamig_pred_indexes(Oid relid, AttrNumber attnum);
extern void schemamig_pred_lock_indexes(PredictState *ps, Prediction *p, Oid relid, int level);
extern void schemamig_pred_lock_inheritors(PredictState *ps, Prediction *p, Oid relid, int level);
extern void schemamig_pred_lock_sequences(PredictState *ps, Prediction *p, Oid relid, int level);
extern void schemamig_pred_lock_fk_referenced(PredictState *ps, Prediction *p, Oid relid,
											  AttrNumber attnum, int level);
extern void schemamig_pred_reads(PredictState *ps, Prediction *p, Node *query, RangeVar *skip);
extern void schemamig_pred_planned_reads(PredictState *ps, Prediction *p, Node *query,
										 RangeVar *skip);
extern List *schemamig_pred_held_strings(List *held);

/* plan_predict_data.c: DML, queries, rebuilds, LOCK */
extern bool schemamig_pred_data(PredictState *ps, Prediction *p, Node *tree);

/* plan_predict_keys.c: foreign keys and defaults */
extern void schemamig_pred_fk(PredictState *ps, Prediction *p, Constraint *con, Oid fkrelid,
							  bool validated);
extern void schemamig_pred_fk_validation(PredictState *ps, Prediction *p, Oid fkrelid,
										 Oid pkrelid);
extern bool schemamig_pred_constraint_uses(HeapTuple tup, TupleDesc desc,
										   AttrNumber keyattr, AttrNumber attnum);
extern void schemamig_pred_lock_fk_retyped(PredictState *ps, Prediction *p, Oid relid,
										   AttrNumber attnum, bool rewritten);
extern void schemamig_pred_lock_fk_referencing(PredictState *ps, Prediction *p, Oid relid,
											   AttrNumber attnum, bool rewritten);
extern void schemamig_pred_default(PredictState *ps, Prediction *p, Node *raw);
extern void schemamig_pred_coldef_defaults(PredictState *ps, Prediction *p, ColumnDef *def);

/* plan_predict_alter.c: ALTER TABLE, DROP, RENAME */
extern void schemamig_pred_alter_table(PredictState *ps, Prediction *p, AlterTableStmt *stmt);
extern void schemamig_pred_drop(PredictState *ps, Prediction *p, DropStmt *stmt);
extern void schemamig_pred_rename(PredictState *ps, Prediction *p, RenameStmt *stmt);

#endif							/* SCHEMAMIG_PLAN_PREDICT_INT_H */
