/*-------------------------------------------------------------------------
 *
 * lint_int.h
 *		What lint.c, lint_script.c and lint_catalog.c share and nothing
 *		else needs: the state of one lint run and the helpers over it.
 *
 * IDENTIFICATION
 *		src/lint_int.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SCHEMAMIG_LINT_INT_H
#define SCHEMAMIG_LINT_INT_H

#include "nodes/parsenodes.h"

#include "schemamig.h"

/* A finding and its creation order, so sorting by statement is stable */
typedef struct LintItem
{
	SchemamigLintFinding finding;	/* first: a LintItem * is a finding */
	int			seq;
} LintItem;

/*
 * Columns of a table that a statement touches: a column added (with its
 * type) or dropped, or the columns of a foreign key or of an index.
 */
typedef struct ColumnSet
{
	char	   *table;			/* lookup key, see schemamig_lint_table_key() */
	RangeVar   *relation;
	List	   *columns;		/* String names; NULL entry = expression */
	TypeName   *type;			/* type of an added column */
	SchemamigStatement *st;
} ColumnSet;

typedef struct LintState
{
	List	   *findings;		/* LintItem * */
	List	   *created;		/* table keys created so far */
	List	   *context_created;	/* table keys a pending parent creates */
	List	   *added;			/* ColumnSet * of one column */
	List	   *dropped;		/* ColumnSet * of one column */
	List	   *foreign_keys;	/* ColumnSet * */
	List	   *indexes;		/* ColumnSet * */
	List	   *not_null_checks;	/* ColumnSet *: validated CHECK (c IS NOT
									 * NULL) */
	List	   *unvalidated;	/* ColumnSet *: the same, NOT VALID; name in
								 * type */
	SchemamigStatement *first_dml;
	List	   *dml;			/* SchemamigStatement * of data statements */
	List	   *created_indexes;	/* String table_key() of indexes built */
	bool		has_ddl;
} LintState;

/* ---- lint.c: findings and names ---- */
extern void schemamig_lint_add_finding(LintState *state, const char *rule,
									   const char *severity, SchemamigStatement *st,
									   char *message, char *hint);
extern char *schemamig_lint_table_key(RangeVar *rv);
extern char *schemamig_lint_table_name(RangeVar *rv);
extern bool schemamig_lint_is_existing(LintState *state, RangeVar *rv);
extern ColumnSet *schemamig_lint_record_columns(List **list, RangeVar *rel,
												List *columns,
												SchemamigStatement *st);

/* ---- lint_script.c: rules over the whole script, schema context ---- */
extern void schemamig_lint_drop_add(LintState *state);
extern void schemamig_lint_foreign_keys(LintState *state);
extern bool schemamig_lint_leading_columns(List *fkcols, List *idxcols);
extern void schemamig_lint_context_statement(LintState *state,
											 SchemamigStatement *st);
extern void schemamig_lint_record_index(LintState *state, SchemamigStatement *st,
										IndexStmt *stmt);
extern void schemamig_lint_column_type(LintState *state, SchemamigStatement *st,
									   RangeVar *rel, ColumnDef *def);
extern void schemamig_lint_record_not_null_check(LintState *state, RangeVar *rel,
												 Constraint *con);
extern void schemamig_lint_validate_not_null_check(LintState *state, RangeVar *rel,
												   const char *name);
extern bool schemamig_lint_has_not_null_check(LintState *state, RangeVar *rel,
											  const char *column);

/* ---- lint_catalog.c: what the database knows ---- */

/* Does the table have rows here?  See schemamig_lint_table_rows() */
typedef enum LintRows
{
	LINT_ROWS_ABSENT,			/* no such table in the database */
	LINT_ROWS_EMPTY,			/* it and its inheritors have no visible row */
	LINT_ROWS_PRESENT,			/* a visible row in it or an inheritor */
	LINT_ROWS_LOCKED,			/* not checked: another session holds a lock */
	LINT_ROWS_UNREADABLE		/* not checked: the role may not read every
								 * row */
} LintRows;

extern LintRows schemamig_lint_table_rows(RangeVar *rv);
extern bool schemamig_lint_volatile_call(Node *node, void *context);
extern bool schemamig_lint_index_in_database(ColumnSet *fk);
extern bool schemamig_lint_not_null_check_in_database(RangeVar *rel,
													  const char *column);
extern bool schemamig_lint_type_change_rewrites(RangeVar *rel, AlterTableCmd *cmd);

#endif							/* SCHEMAMIG_LINT_INT_H */
