/*-------------------------------------------------------------------------
 *
 * lint_script.c
 *		Lint rules that need the whole script, and the schema context.
 *
 * Some findings can only be decided once every statement has been seen:
 * a column dropped and another added to the same table (an ORM's rename),
 * unless a data statement before the drop read the old column; a foreign
 * key without an index, when the index may be built later in the script.
 * lint.c records what it sees (LintState) and calls these at the end.
 *
 * The schema context is the upgrade scripts of the pending parent
 * revisions: they are not linted, but the indexes, validated NOT NULL
 * checks and tables they create count for the script's rules (a table a
 * parent creates is not in the database yet, and empty when it arrives).  The type
 * preferences (squawk's prefer-* rules) are here too: they look at a
 * column definition wherever a script creates one.
 *
 * IDENTIFICATION
 *		src/lint_script.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "lint_int.h"

static bool index_in_script(LintState *state, ColumnSet *fk);
static int	count_columns(List *sets, const char *table);
static void context_created(LintState *state, RangeVar *rel);

/* ---- a drop and an add that look like a rename ---- */

typedef struct ReadContext
{
	const char *table;			/* schemamig_lint_table_key() */
	const char *column;
	bool		table_seen;
	bool		column_seen;
} ReadContext;

static bool
read_walker(Node *node, ReadContext *ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeVar) && strcmp(schemamig_lint_table_key((RangeVar *) node), ctx->table) == 0)
		ctx->table_seen = true;
	else if (IsA(node, ColumnRef))
	{
		Node	   *last = llast(((ColumnRef *) node)->fields);

		if (IsA(last, String) && strcmp(strVal(last), ctx->column) == 0)
			ctx->column_seen = true;
	}
	return raw_expression_tree_walker(node, read_walker, (void *) ctx);
}

/*
 * Does a data statement before the drop read the dropped column of that
 * table (UPDATE t SET status = CASE WHEN is_active ..., INSERT ... SELECT)?
 * Then its values were carried over, and the drop is no accidental rename.
 */
static bool
column_read_before(LintState *state, ColumnSet *drop)
{
	ListCell   *lc;

	foreach(lc, state->dml)
	{
		SchemamigStatement *st = (SchemamigStatement *) lfirst(lc);
		ReadContext ctx = {drop->table, strVal(linitial(drop->columns)), false, false};

		if (st->statement_no >= drop->st->statement_no)
			continue;
		(void) read_walker(st->parsetree, &ctx);
		if (ctx.table_seen && ctx.column_seen)
			return true;
	}
	return false;
}

/* How many of the one-column sets name the table */
static int
count_columns(List *sets, const char *table)
{
	ListCell   *lc;
	int			n = 0;

	foreach(lc, sets)
		if (strcmp(((ColumnSet *) lfirst(lc))->table, table) == 0)
		n++;
	return n;
}

/*
 * A column dropped and another added to the same existing table is how a
 * rename looks after an ORM autogenerates it.  When the table is in the
 * database, the dropped column's type must equal the added one's (type
 * OIDs; a different typmod still counts as the same type); otherwise any
 * pair fires.  One finding per dropped column, on the later statement.
 *
 * An ORM's rename is one drop and one add per column, so the rule fires
 * only when the script adds exactly as many columns to the table as it
 * drops from it: a drop next to a different number of new columns is a
 * redesign (in the corpus, a trade table losing its offer id and gaining
 * three liquidity-pool columns), and drop-column still warns about it.
 */
void
schemamig_lint_drop_add(LintState *state)
{
	ListCell   *ld;
	ListCell   *la;

	foreach(ld, state->dropped)
	{
		ColumnSet  *drop = lfirst(ld);
		char	   *dropped = strVal(linitial(drop->columns));
		Oid			relid = RangeVarGetRelid(drop->relation, NoLock, true);
		Oid			drop_type = InvalidOid;

		if (count_columns(state->added, drop->table) !=
			count_columns(state->dropped, drop->table))
			continue;
		if (OidIsValid(relid))
		{
			AttrNumber	attnum = get_attnum(relid, dropped);

			if (attnum == InvalidAttrNumber)
				continue;
			drop_type = get_atttype(relid, attnum);
		}

		/*
		 * its values were copied first (UPDATE ... SET new = f(old)): no
		 * rename
		 */
		if (column_read_before(state, drop))
			continue;

		foreach(la, state->added)
		{
			ColumnSet  *add = lfirst(la);
			char	   *added = strVal(linitial(add->columns));
			SchemamigStatement *later;

			if (strcmp(add->table, drop->table) != 0 || strcmp(added, dropped) == 0)
				continue;
			if (OidIsValid(relid))
			{
				int32		typmod;
				Type		type = LookupTypeName(NULL, add->type, &typmod, true);
				Oid			add_type;

				if (type == NULL)
					continue;
				add_type = typeTypeId(type);
				ReleaseSysCache(type);
				if (add_type != drop_type)
					continue;
			}
			later = add->st->statement_no > drop->st->statement_no ? add->st : drop->st;
			schemamig_lint_add_finding(state, "drop-add-looks-like-rename", "error", later,
									   psprintf("column \"%s\" of table \"%s\" is dropped and column \"%s\" is added, which looks like a rename",
												dropped, schemamig_lint_table_name(drop->relation), added),
									   psprintf("If the column is renamed, use ALTER TABLE ... RENAME COLUMN %s TO %s so its data is kept.",
												quote_identifier(dropped), quote_identifier(added)));
			break;
		}
	}
}

/* ---- foreign keys without an index ---- */

/*
 * Every foreign key of the script needs an index whose leading columns are
 * its columns (in any order), so that deleting or updating a referenced
 * row does not scan the referencing table.  Indexes built later in the
 * same script count.
 */
void
schemamig_lint_foreign_keys(LintState *state)
{
	ListCell   *lc;

	foreach(lc, state->foreign_keys)
	{
		ColumnSet  *fk = lfirst(lc);
		StringInfoData cols;
		ListCell   *lc2;

		if (index_in_script(state, fk))
			continue;
		if (schemamig_lint_is_existing(state, fk->relation) && schemamig_lint_index_in_database(fk))
			continue;

		initStringInfo(&cols);
		foreach(lc2, fk->columns)
			appendStringInfo(&cols, "%s%s", cols.len > 0 ? ", " : "",
							 quote_identifier(strVal(lfirst(lc2))));
		schemamig_lint_add_finding(state, "foreign-key-without-index", "warning", fk->st,
								   psprintf("foreign key (%s) of table \"%s\" has no index on its columns",
											cols.data, schemamig_lint_table_name(fk->relation)),
								   psprintf("Create an index on \"%s\" (%s) (CONCURRENTLY on an existing table), so deleting or updating a referenced row does not scan the whole table.",
											schemamig_lint_table_name(fk->relation), cols.data));
	}
}

static bool
index_in_script(LintState *state, ColumnSet *fk)
{
	ListCell   *lc;

	foreach(lc, state->indexes)
	{
		ColumnSet  *idx = lfirst(lc);

		if (strcmp(idx->table, fk->table) == 0 &&
			schemamig_lint_leading_columns(fk->columns, idx->columns))
			return true;
	}
	return false;
}

/* Is every column of the foreign key among the first n index columns? */
bool
schemamig_lint_leading_columns(List *fkcols, List *idxcols)
{
	ListCell   *lc;

	if (list_length(idxcols) < list_length(fkcols))
		return false;
	foreach(lc, fkcols)
	{
		bool		found = false;

		for (int i = 0; i < list_length(fkcols); i++)
		{
			String	   *col = list_nth(idxcols, i);

			if (col != NULL && strcmp(strVal(col), strVal(lfirst(lc))) == 0)
				found = true;
		}
		if (!found)
			return false;
	}
	return true;
}

/* ---- schema context, type preferences, NOT NULL checks ---- */

void
schemamig_lint_record_index(LintState *state, SchemamigStatement *st, IndexStmt *stmt)
{
	List	   *columns = NIL;
	ListCell   *lc;

	foreach(lc, stmt->indexParams)
	{
		IndexElem  *elem = lfirst_node(IndexElem, lc);

		columns = lappend(columns, elem->name ? makeString(elem->name) : NULL);
	}
	schemamig_lint_record_columns(&state->indexes, stmt->relation, columns, st);
}

/* A key constraint's index, or a NOT NULL check, of a pending parent */
static void
context_constraint(LintState *state, SchemamigStatement *st, RangeVar *rel,
				   Constraint *con, const char *column)
{
	List	   *columns;

	if (con->contype == CONSTR_PRIMARY || con->contype == CONSTR_UNIQUE)
	{
		columns = column ? list_make1(makeString(pstrdup(column))) : con->keys;
		if (columns != NIL)
			schemamig_lint_record_columns(&state->indexes, rel, columns, st);
	}
	else if (con->contype == CONSTR_CHECK)
		schemamig_lint_record_not_null_check(state, rel, con);
}

/* A table a pending parent creates: empty until its rows arrive */
static void
context_created(LintState *state, RangeVar *rel)
{
	state->context_created = lappend(state->context_created,
									 makeString(schemamig_lint_table_key(rel)));
}

/*
 * A statement of a pending parent revision: what it builds that the
 * script's rules may rely on (indexes, validated NOT NULL checks).
 */
void
schemamig_lint_context_statement(LintState *state, SchemamigStatement *st)
{
	Node	   *tree = st->parsetree;
	ListCell   *lc;
	ListCell   *lc2;

	if (IsA(tree, IndexStmt))
		schemamig_lint_record_index(state, st, (IndexStmt *) tree);
	else if (IsA(tree, CreateTableAsStmt) &&
			 ((CreateTableAsStmt *) tree)->objtype == OBJECT_TABLE)
		context_created(state, ((CreateTableAsStmt *) tree)->into->rel);
	else if (IsA(tree, SelectStmt) && ((SelectStmt *) tree)->intoClause != NULL)
		context_created(state, ((SelectStmt *) tree)->intoClause->rel);
	else if (IsA(tree, CreateStmt))
	{
		CreateStmt *stmt = (CreateStmt *) tree;

		context_created(state, stmt->relation);
		foreach(lc, stmt->tableElts)
		{
			if (IsA(lfirst(lc), ColumnDef))
			{
				ColumnDef  *def = (ColumnDef *) lfirst(lc);

				foreach(lc2, def->constraints)
					context_constraint(state, st, stmt->relation,
									   lfirst_node(Constraint, lc2), def->colname);
			}
			else if (IsA(lfirst(lc), Constraint))
				context_constraint(state, st, stmt->relation, (Constraint *) lfirst(lc), NULL);
		}
	}
	else if (IsA(tree, AlterTableStmt))
	{
		AlterTableStmt *stmt = (AlterTableStmt *) tree;

		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

			if (cmd->subtype == AT_AddConstraint)
				context_constraint(state, st, stmt->relation, (Constraint *) cmd->def, NULL);
			else if (cmd->subtype == AT_ValidateConstraint)
				schemamig_lint_validate_not_null_check(state, stmt->relation, cmd->name);
		}
	}
}

static bool
type_is(TypeName *tn, const char *name)
{
	return tn != NULL && tn->names != NIL && strcmp(strVal(llast(tn->names)), name) == 0;
}

/* squawk's type preferences, for a column a script creates */
void
schemamig_lint_column_type(LintState *state, SchemamigStatement *st, RangeVar *rel, ColumnDef *def)
{
	TypeName   *tn = def->typeName;
	bool		key = false;
	bool		identity = def->identity != 0;
	ListCell   *lc;

	if (tn == NULL || tn->arrayBounds != NIL)
		return;
	foreach(lc, def->constraints)
	{
		Constraint *con = lfirst_node(Constraint, lc);

		if (con->contype == CONSTR_PRIMARY)
			key = true;
		else if (con->contype == CONSTR_IDENTITY)
			identity = true;
	}
	if (type_is(tn, "serial") || type_is(tn, "serial4") || type_is(tn, "bigserial") ||
		type_is(tn, "serial8") || type_is(tn, "smallserial") || type_is(tn, "serial2"))
		schemamig_lint_add_finding(state, "prefer-identity", "info", st,
								   psprintf("column \"%s\" of \"%s\" is %s; identity columns are the SQL-standard form",
											def->colname, schemamig_lint_table_name(rel), strVal(llast(tn->names))),
								   pstrdup("Use bigint GENERATED ALWAYS AS IDENTITY (or BY DEFAULT): the sequence belongs to the column and its permissions follow the table."));
	if (type_is(tn, "serial") || type_is(tn, "serial4") || type_is(tn, "smallserial") ||
		type_is(tn, "serial2") ||
		((type_is(tn, "int4") || type_is(tn, "int2")) && (key || identity)))
		schemamig_lint_add_finding(state, "prefer-bigint", "warning", st,
								   psprintf("key column \"%s\" of \"%s\" is a 32- or 16-bit integer, which a busy table can run out of",
											def->colname, schemamig_lint_table_name(rel)),
								   pstrdup("Use bigint (or bigserial / bigint identity) for keys: widening one later rewrites the table and every table that references it."));
	if (type_is(tn, "varchar") && tn->typmods != NIL)
		schemamig_lint_add_finding(state, "prefer-text", "warning", st,
								   psprintf("column \"%s\" of \"%s\" is varchar(n); raising the limit later needs an ALTER, lowering it a rewrite",
											def->colname, schemamig_lint_table_name(rel)),
								   pstrdup("Use text, with a CHECK (length(...) <= n) constraint if a limit is wanted: the check can be changed with NOT VALID, without rewriting the table."));
	if (type_is(tn, "timestamp"))
		schemamig_lint_add_finding(state, "prefer-timestamptz", "warning", st,
								   psprintf("column \"%s\" of \"%s\" is timestamp without time zone",
											def->colname, schemamig_lint_table_name(rel)),
								   pstrdup("Use timestamptz: it stores an instant, while timestamp depends on the time zone of whoever wrote the value."));
}

/* A CHECK (column IS NOT NULL): validated, or NOT VALID until validated */
void
schemamig_lint_record_not_null_check(LintState *state, RangeVar *rel, Constraint *con)
{
	NullTest   *nt = (NullTest *) con->raw_expr;
	ColumnRef  *ref;
	ColumnSet  *set;

	if (nt == NULL || !IsA(nt, NullTest) || nt->nulltesttype != IS_NOT_NULL ||
		!IsA(nt->arg, ColumnRef))
		return;
	ref = (ColumnRef *) nt->arg;
	if (list_length(ref->fields) != 1 || !IsA(linitial(ref->fields), String))
		return;
	set = schemamig_lint_record_columns(con->skip_validation ? &state->unvalidated : &state->not_null_checks,
										rel, list_make1(linitial(ref->fields)), NULL);
	set->type = con->conname ? makeTypeName(con->conname) : NULL;
}

void
schemamig_lint_validate_not_null_check(LintState *state, RangeVar *rel, const char *name)
{
	char	   *key = schemamig_lint_table_key(rel);
	ListCell   *lc;

	foreach(lc, state->unvalidated)
	{
		ColumnSet  *set = (ColumnSet *) lfirst(lc);

		if (set->type != NULL && strcmp(set->table, key) == 0 &&
			strcmp(strVal(linitial(set->type->names)), name) == 0)
			state->not_null_checks = lappend(state->not_null_checks, set);
	}
}

/*
 * Is there a validated CHECK (column IS NOT NULL) on the table, in the
 * script (or a pending parent) or in the database?  Then SET NOT NULL uses
 * it and does not scan the table.
 */
bool
schemamig_lint_has_not_null_check(LintState *state, RangeVar *rel, const char *column)
{
	char	   *key = schemamig_lint_table_key(rel);
	ListCell   *lc;

	foreach(lc, state->not_null_checks)
	{
		ColumnSet  *set = (ColumnSet *) lfirst(lc);

		if (strcmp(set->table, key) == 0 &&
			strcmp(strVal(linitial(set->columns)), column) == 0)
			return true;
	}
	return schemamig_lint_not_null_check_in_database(rel, column);
}
