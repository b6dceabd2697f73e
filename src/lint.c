/*-------------------------------------------------------------------------
 *
 * lint.c
 *		The migration safety review: rules over the parse trees of a script.
 *
 * Every rule looks at the raw parse trees the server's own grammar built
 * (schemamig_script_parse_ext), never at the SQL text, so quoting, comments
 * and formatting cannot hide or fake a finding.  Raw trees are not analyzed:
 * names are as written.  A table counts as "existing" unless an earlier
 * statement of the same script created it (CREATE TABLE, CREATE TABLE AS,
 * SELECT INTO); tables are compared by name, and an unqualified name and the
 * same name qualified with "public" are the same table.  search_path is not
 * consulted for that comparison, which keeps the rule predictable when the
 * script will run later under another search_path.
 *
 * A few rules do read the catalogs: drop-add-looks-like-rename compares
 * column types of a table that exists in the database, foreign-key-without-
 * index looks for an index of an existing table (pg_index, read with a
 * catalog scan so it works with or without SPI), and add-column-volatile-
 * default asks pg_proc for the volatility of every function of the name a
 * default calls (any volatile candidate counts, since raw trees do not
 * resolve overloads).  None of them takes a lock on a user table.
 *
 * A finding is suppressed by a line comment "-- schemamig:allow <rule>"
 * anywhere in the script (one rule per comment; text after the rule name
 * is free, e.g. a reason).  The comments are found by a small scanner that
 * skips string literals, quoted identifiers, dollar quotes and block
 * comments, so the words inside a string or a function body never allow
 * anything.
 *
 * lint_report.c has the allow comments, register()'s use of the findings and
 * the SQL-callable lint().
 *
 * IDENTIFICATION
 *		src/lint.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_proc.h"
#include "commands/defrem.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "parser/parse_type.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

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
	char	   *table;			/* lookup key, see table_key() */
	RangeVar   *relation;
	List	   *columns;		/* String names; NULL entry = expression */
	TypeName   *type;			/* type of an added column */
	SchemamigStatement *st;
} ColumnSet;

typedef struct LintState
{
	List	   *findings;		/* LintItem * */
	List	   *created;		/* table keys created so far */
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

static void add_finding(LintState *state, const char *rule, const char *severity,
						SchemamigStatement *st, char *message, char *hint);
static int	finding_cmp(const ListCell *a, const ListCell *b);
static char *table_key(RangeVar *rv);
static char *table_name(RangeVar *rv);
static bool is_existing(LintState *state, RangeVar *rv);
static void lint_statement(LintState *state, SchemamigStatement *st);
static void lint_create_table(LintState *state, SchemamigStatement *st,
							  CreateStmt *stmt);
static void lint_alter_table(LintState *state, SchemamigStatement *st,
							 AlterTableStmt *stmt);
static void lint_add_column(LintState *state, SchemamigStatement *st,
							RangeVar *rel, bool existing, ColumnDef *def);
static void lint_constraint(LintState *state, SchemamigStatement *st,
							RangeVar *rel, bool existing, Constraint *con,
							const char *column);
static ColumnSet *record_columns(List **list, RangeVar *rel, List *columns,
								 SchemamigStatement *st);
static bool has_volatile_call(Node *node, void *context);
static void lint_context_statement(LintState *state, SchemamigStatement *st);
static void record_index(LintState *state, SchemamigStatement *st, IndexStmt *stmt);
static void lint_column_type(LintState *state, SchemamigStatement *st,
							 RangeVar *rel, ColumnDef *def);
static bool type_change_rewrites_existing(RangeVar *rel, AlterTableCmd *cmd);
static void record_not_null_check(LintState *state, RangeVar *rel, Constraint *con);
static void validate_not_null_check(LintState *state, RangeVar *rel, const char *name);
static bool has_not_null_check(LintState *state, RangeVar *rel, const char *column);
static void lint_drop_add(LintState *state);
static bool column_read_before(LintState *state, ColumnSet *drop);
static void lint_foreign_keys(LintState *state);
static bool index_in_script(LintState *state, ColumnSet *fk);
static bool index_in_database(ColumnSet *fk);
static bool leading_columns_match(List *fkcols, List *idxcols);

/* ---- the rules ---- */

/*
 * Lints one script.  "statements" comes from schemamig_script_parse_ext()
 * with transaction control allowed, so it can be reported here.  Returns
 * SchemamigLintFinding pointers in statement order, without the findings
 * the script allows.
 */
List *
schemamig_lint_script(const char *script, List *statements)
{
	return schemamig_lint_script_context(script, statements, NIL);
}

/*
 * The same with a schema context: the statements of the pending revisions
 * the script will run after (its parents and their pending ancestors, in
 * upgrade order).  They are not linted; the indexes and validated NOT NULL
 * checks they make count as if they were in the database.
 */
List *
schemamig_lint_script_context(const char *script, List *statements, List *context)
{
	LintState	state;
	ListCell   *lc;

	memset(&state, 0, sizeof(state));
	foreach(lc, context)
		lint_context_statement(&state, (SchemamigStatement *) lfirst(lc));
	foreach(lc, statements)
		lint_statement(&state, (SchemamigStatement *) lfirst(lc));

	lint_drop_add(&state);
	lint_foreign_keys(&state);

	if (state.first_dml != NULL && state.has_ddl)
		add_finding(&state, "data-in-schema-migration", "info", state.first_dml,
					psprintf("data is changed (%s) in a script that also changes the schema",
							 CreateCommandName(state.first_dml->parsetree)),
					pstrdup("Keep data migrations in revisions of their own, so schema changes stay quick to apply and to roll back."));

	/* each statement of a non-transactional revision commits on its own */
	if (list_length(statements) > 1)
	{
		foreach(lc, statements)
		{
			SchemamigStatement *st = (SchemamigStatement *) lfirst(lc);

			if (!st->needs_top_level)
				continue;
			add_finding(&state, "non-transactional-revision", "warning", st,
						psprintf("%s cannot run inside a transaction block, and the script has %d statements",
								 CreateCommandName(st->parsetree), list_length(statements)),
						pstrdup("Each statement of such a revision runs and commits on its own through steps(), so a failure leaves it half-applied; give the statement a revision of its own."));
			break;
		}
	}

	list_sort(state.findings, finding_cmp);
	return schemamig_lint_filter_squawk(script, statements,
										schemamig_lint_filter_allowed(state.findings,
																	  schemamig_lint_allowed_rules(script)));
}

static void
lint_statement(LintState *state, SchemamigStatement *st)
{
	Node	   *tree = st->parsetree;

	switch (nodeTag(tree))
	{
		case T_TransactionStmt:
			add_finding(state, "transaction-control", "error", st,
						psprintf("transaction control statement %s in a migration script",
								 CreateCommandName(tree)),
						pstrdup("Remove BEGIN, COMMIT, ROLLBACK and SAVEPOINT: schemamig runs every revision inside the caller's transaction."));
			return;
		case T_InsertStmt:
		case T_UpdateStmt:
		case T_DeleteStmt:
		case T_MergeStmt:
			if (state->first_dml == NULL)
				state->first_dml = st;
			state->dml = lappend(state->dml, st);
			return;
			/* not DDL to event triggers, but locking maintenance */
		case T_ReindexStmt:
			{
				ReindexStmt *stmt = (ReindexStmt *) tree;
				bool		concurrent = false;
				ListCell   *lc;

				foreach(lc, stmt->params)
					if (strcmp(lfirst_node(DefElem, lc)->defname, "concurrently") == 0)
					concurrent = defGetBoolean(lfirst_node(DefElem, lc));
				if (!concurrent)
					add_finding(state, "reindex-locks", "warning", st,
								pstrdup("REINDEX without CONCURRENTLY blocks writes to the table and reads that use the index while it rebuilds"),
								pstrdup("Use REINDEX ... CONCURRENTLY in a revision of its own; it runs only outside a transaction block."));
				return;
			}
		case T_TruncateStmt:
			if (((TruncateStmt *) tree)->behavior == DROP_CASCADE)
				add_finding(state, "truncate-cascade", "warning", st,
							pstrdup("TRUNCATE ... CASCADE also empties every table that references these tables, recursively"),
							pstrdup("Name every table to be emptied in the TRUNCATE itself, so the script says what it deletes."));
			return;
		case T_SelectStmt:
			{
				IntoClause *into = ((SelectStmt *) tree)->intoClause;

				/* SELECT INTO creates a table; a plain SELECT is neither */
				if (into != NULL)
				{
					state->created = lappend(state->created, table_key(into->rel));
					state->has_ddl = true;
				}
				return;
			}
		default:
			/* a schema change is what event triggers (and the guard) see */
			if (!schemamig_tag_fires_event_triggers(CreateCommandTag(tree)))
				return;
			state->has_ddl = true;
			break;
	}

	switch (nodeTag(tree))
	{
		case T_CreateStmt:
			lint_create_table(state, st, (CreateStmt *) tree);
			break;
		case T_CreateTableAsStmt:
			{
				CreateTableAsStmt *stmt = (CreateTableAsStmt *) tree;

				if (stmt->objtype == OBJECT_TABLE)
					state->created = lappend(state->created,
											 table_key(stmt->into->rel));
				break;
			}
		case T_AlterTableStmt:
			if (((AlterTableStmt *) tree)->objtype == OBJECT_TABLE)
				lint_alter_table(state, st, (AlterTableStmt *) tree);
			break;
		case T_DropStmt:
			{
				DropStmt   *stmt = (DropStmt *) tree;
				ListCell   *lc;

				if (stmt->removeType == OBJECT_INDEX && !stmt->concurrent)
				{
					foreach(lc, stmt->objects)
					{
						RangeVar   *rv = makeRangeVarFromNameList(lfirst(lc));

						/*
						 * an index the script built itself is no one else's
						 * yet
						 */
						if (!list_member(state->created_indexes, makeString(table_key(rv))))
						{
							add_finding(state, "drop-index-locks", "warning", st,
										psprintf("index \"%s\" is dropped without CONCURRENTLY, which takes an ACCESS EXCLUSIVE lock on its table",
												 table_name(rv)),
										pstrdup("Use DROP INDEX CONCURRENTLY (one index per statement) in a revision of its own; it runs only outside a transaction block."));
							break;
						}
					}
				}
				if (stmt->removeType != OBJECT_TABLE)
					break;
				foreach(lc, stmt->objects)
				{
					RangeVar   *rv = makeRangeVarFromNameList(lfirst(lc));

					if (is_existing(state, rv))
						add_finding(state, "drop-table", "warning", st,
									psprintf("existing table \"%s\" is dropped", table_name(rv)),
									pstrdup("Dropping a table loses its data: stop using it in the application first, keep a backup, and drop it in a later revision of its own."));
				}
				break;
			}
		case T_IndexStmt:
			{
				IndexStmt  *stmt = (IndexStmt *) tree;

				record_index(state, st, stmt);
				if (stmt->idxname != NULL)
					state->created_indexes =
						lappend(state->created_indexes,
								makeString(table_key(makeRangeVar(stmt->relation->schemaname,
																  stmt->idxname, -1))));
				if (!stmt->concurrent && is_existing(state, stmt->relation))
					add_finding(state, "create-index-locks-writes", "warning", st,
								psprintf("index on existing table \"%s\" is created without CONCURRENTLY, which blocks writes while it builds",
										 table_name(stmt->relation)),
								pstrdup("Use CREATE INDEX CONCURRENTLY in a revision of its own; it runs only outside a transaction block (see the README, \"Migrations that cannot run in a transaction\")."));
				break;
			}
		case T_AlterEnumStmt:
			if (((AlterEnumStmt *) tree)->newVal != NULL &&
				((AlterEnumStmt *) tree)->oldVal == NULL)
				add_finding(state, "enum-value-added", "info", st,
							psprintf("enum value \"%s\" is added; PostgreSQL lets no statement use it until the transaction commits",
									 ((AlterEnumStmt *) tree)->newVal),
							pstrdup("Use the new value in a later revision, applied in a transaction of its own (upgrade_each() or a separate upgrade() call)."));
			break;
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) tree;

				if (stmt->renameType == OBJECT_TABLE &&
					is_existing(state, stmt->relation))
					add_finding(state, "rename", "warning", st,
								psprintf("existing table \"%s\" is renamed to \"%s\"",
										 table_name(stmt->relation), stmt->newname),
								pstrdup("Running application code still uses the old name: add the new name alongside the old one (for example an updatable view) and drop the old one once no code uses it."));
				else if (stmt->renameType == OBJECT_COLUMN &&
						 stmt->relationType == OBJECT_TABLE &&
						 is_existing(state, stmt->relation))
					add_finding(state, "rename", "warning", st,
								psprintf("column \"%s\" of existing table \"%s\" is renamed to \"%s\"",
										 stmt->subname, table_name(stmt->relation),
										 stmt->newname),
								pstrdup("Running application code still uses the old name: add a new column, write both and backfill, and drop the old column once no code uses it."));
				break;
			}
		default:
			break;
	}
}

/* CREATE TABLE: a new table, its foreign keys and the indexes it builds */
static void
lint_create_table(LintState *state, SchemamigStatement *st, CreateStmt *stmt)
{
	ListCell   *lc;
	ListCell   *lc2;

	state->created = lappend(state->created, table_key(stmt->relation));
	foreach(lc, stmt->tableElts)
	{
		if (IsA(lfirst(lc), ColumnDef))
		{
			ColumnDef  *def = (ColumnDef *) lfirst(lc);

			lint_column_type(state, st, stmt->relation, def);
			foreach(lc2, def->constraints)
				lint_constraint(state, st, stmt->relation, false,
								lfirst_node(Constraint, lc2), def->colname);
		}
		else if (IsA(lfirst(lc), Constraint))
			lint_constraint(state, st, stmt->relation, false,
							(Constraint *) lfirst(lc), NULL);
	}
	foreach(lc, stmt->constraints)
		lint_constraint(state, st, stmt->relation, false,
						lfirst_node(Constraint, lc), NULL);
}

static void
lint_alter_table(LintState *state, SchemamigStatement *st, AlterTableStmt *stmt)
{
	RangeVar   *rel = stmt->relation;
	bool		existing = is_existing(state, rel);
	ListCell   *lc;

	foreach(lc, stmt->cmds)
	{
		AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

		switch (cmd->subtype)
		{
			case AT_AddColumn:
				lint_add_column(state, st, rel, existing, (ColumnDef *) cmd->def);
				break;
			case AT_AddConstraint:
				lint_constraint(state, st, rel, existing, (Constraint *) cmd->def, NULL);
				break;
			case AT_DropColumn:
				if (existing)
				{
					record_columns(&state->dropped, rel,
								   list_make1(makeString(cmd->name)), st);
					add_finding(state, "drop-column", "warning", st,
								psprintf("column \"%s\" is dropped from existing table \"%s\"",
										 cmd->name, table_name(rel)),
								pstrdup("Dropping a column loses its data: stop reading and writing it in the application first, then drop it in a later revision."));
				}
				break;
			case AT_SetLogged:
			case AT_SetUnLogged:
				if (existing)
					add_finding(state, "set-logged-rewrites", "warning", st,
								psprintf("SET %s rewrites existing table \"%s\" under an ACCESS EXCLUSIVE lock",
										 cmd->subtype == AT_SetLogged ? "LOGGED" : "UNLOGGED",
										 table_name(rel)),
								pstrdup("Plan it for a maintenance window, or create a new table with the wanted persistence and move the data over in batches."));
				break;
			case AT_DetachPartition:
				if (existing && !((PartitionCmd *) cmd->def)->concurrent)
					add_finding(state, "detach-partition-locks", "warning", st,
								psprintf("DETACH PARTITION without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on partitioned table \"%s\"",
										 table_name(rel)),
								pstrdup("Use DETACH PARTITION ... CONCURRENTLY in a revision of its own; it runs only outside a transaction block."));
				break;
			case AT_ValidateConstraint:
				validate_not_null_check(state, rel, cmd->name);
				break;
			case AT_AlterColumnType:
				if (existing && !type_change_rewrites_existing(rel, cmd))
					break;
				if (existing)
					add_finding(state, "alter-column-type", "warning", st,
								psprintf("type of column \"%s\" of existing table \"%s\" is changed, which can rewrite the table under an ACCESS EXCLUSIVE lock",
										 cmd->name, table_name(rel)),
								pstrdup("Add a column of the new type, backfill it and move the application over in steps, unless the change is binary-compatible (such as varchar(n) to text)."));
				break;
			case AT_SetNotNull:
				if (existing && !has_not_null_check(state, rel, cmd->name))
					add_finding(state, "set-not-null", "warning", st,
								psprintf("SET NOT NULL on column \"%s\" of existing table \"%s\" scans the table under an ACCESS EXCLUSIVE lock",
										 cmd->name, table_name(rel)),
								psprintf("Add CONSTRAINT ... CHECK (%s IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it in the next revision, then SET NOT NULL (which uses the validated check) and drop the check.",
										 quote_identifier(cmd->name)));
				break;
			default:
				break;
		}
	}
}

/* ALTER TABLE ... ADD COLUMN */
static void
lint_add_column(LintState *state, SchemamigStatement *st, RangeVar *rel,
				bool existing, ColumnDef *def)
{
	bool		not_null = def->is_not_null;
	bool		has_value = def->identity != 0 || def->generated != 0;
	Node	   *default_expr = def->raw_default;
	ListCell   *lc;

	foreach(lc, def->constraints)
	{
		Constraint *con = lfirst_node(Constraint, lc);

		if (con->contype == CONSTR_NOTNULL || con->contype == CONSTR_PRIMARY)
			not_null = true;
		else if (con->contype == CONSTR_DEFAULT)
			default_expr = con->raw_expr;
		else if (con->contype == CONSTR_IDENTITY || con->contype == CONSTR_GENERATED)
			has_value = true;
		lint_constraint(state, st, rel, existing, con, def->colname);
	}

	/* serial types bring their own nextval() default */
	if (list_length(def->typeName->names) == 1)
	{
		const char *type = strVal(linitial(def->typeName->names));

		if (strcmp(type, "smallserial") == 0 || strcmp(type, "serial2") == 0 ||
			strcmp(type, "serial") == 0 || strcmp(type, "serial4") == 0 ||
			strcmp(type, "bigserial") == 0 || strcmp(type, "serial8") == 0)
			has_value = true;
	}

	if (existing)
		record_columns(&state->added, rel, list_make1(makeString(def->colname)),
					   st)->type = def->typeName;

	lint_column_type(state, st, rel, def);
	if (existing && (has_value || def->generated == ATTRIBUTE_GENERATED_STORED))
		add_finding(state, "add-column-rewrites", "warning", st,
					psprintf("column \"%s\" is added to existing table \"%s\" as serial, identity or stored generated column, which rewrites the table under an ACCESS EXCLUSIVE lock",
							 def->colname, table_name(rel)),
					pstrdup("Add a plain nullable column, fill it in batches (from a sequence or the expression), then add the default, identity or NOT NULL in later revisions; or accept the rewrite in a maintenance window."));

	if (existing && not_null && default_expr == NULL && !has_value)
		add_finding(state, "add-column-not-null-no-default", "error", st,
					psprintf("column \"%s\" is added as NOT NULL without a default to existing table \"%s\"",
							 def->colname, table_name(rel)),
					pstrdup("Add the column as nullable (or with a DEFAULT), backfill it, and SET NOT NULL in a later revision."));

	if (existing && default_expr != NULL && has_volatile_call(default_expr, NULL))
		add_finding(state, "add-column-volatile-default", "warning", st,
					psprintf("column \"%s\" is added to existing table \"%s\" with a volatile default, which rewrites the table under an ACCESS EXCLUSIVE lock",
							 def->colname, table_name(rel)),
					pstrdup("Add the column without a default (or with a constant one), backfill it in batches, then SET DEFAULT for new rows."));
}

/*
 * A constraint of CREATE TABLE (existing = false), ADD CONSTRAINT or ADD
 * COLUMN; "column" names the column of a column constraint.
 */
static void
lint_constraint(LintState *state, SchemamigStatement *st, RangeVar *rel,
				bool existing, Constraint *con, const char *column)
{
	List	   *columns;

	switch (con->contype)
	{
		case CONSTR_FOREIGN:
			columns = column ? list_make1(makeString(pstrdup(column))) : con->fk_attrs;
			record_columns(&state->foreign_keys, rel, columns, st);
			if (existing && !con->skip_validation)
				add_finding(state, "add-foreign-key-validates", "warning", st,
							psprintf("foreign key on existing table \"%s\" is validated while it is added, which blocks writes to both tables",
									 table_name(rel)),
							pstrdup("Add the foreign key with NOT VALID, then VALIDATE CONSTRAINT it in a later revision, which does not block writes."));
			break;
		case CONSTR_CHECK:
			record_not_null_check(state, rel, con);
			if (existing && !con->skip_validation)
				add_finding(state, "add-check-validates", "warning", st,
							psprintf("check constraint on existing table \"%s\" is validated while it is added, under an ACCESS EXCLUSIVE lock",
									 table_name(rel)),
							pstrdup("Add the check with NOT VALID, then VALIDATE CONSTRAINT it in a later revision, which does not block reads or writes."));
			break;
		case CONSTR_EXCLUSION:
			if (existing)
				add_finding(state, "exclusion-constraint-locks", "warning", st,
							psprintf("exclusion constraint on existing table \"%s\" builds its index and checks every row under an ACCESS EXCLUSIVE lock",
									 table_name(rel)),
							pstrdup("An exclusion constraint cannot be added NOT VALID or USING INDEX: add it while the table is small, or in a maintenance window."));
			break;
		case CONSTR_PRIMARY:
		case CONSTR_UNIQUE:
			columns = column ? list_make1(makeString(pstrdup(column))) : con->keys;
			if (columns != NIL)
				record_columns(&state->indexes, rel, columns, st);
			if (existing && con->indexname == NULL)
				add_finding(state, "add-unique-constraint-locks", "warning", st,
							psprintf("%s constraint on existing table \"%s\" builds its index under an ACCESS EXCLUSIVE lock",
									 con->contype == CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE",
									 table_name(rel)),
							pstrdup("Build the index first with CREATE UNIQUE INDEX CONCURRENTLY in a revision of its own, then add the constraint with USING INDEX in the next one."));
			break;
		default:
			break;
	}
}

static ColumnSet *
record_columns(List **list, RangeVar *rel, List *columns, SchemamigStatement *st)
{
	ColumnSet  *set = palloc0(sizeof(ColumnSet));

	set->table = table_key(rel);
	set->relation = rel;
	set->columns = columns;
	set->st = st;
	*list = lappend(*list, set);
	return set;
}

/*
 * Does a raw expression call a function that may be volatile?  Overloads
 * are not resolved in a raw tree, so every function of that name counts.
 * CURRENT_TIMESTAMP and friends are SQLValueFunctions, not calls: stable.
 */
static bool
has_volatile_call(Node *node, void *context)
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
	return raw_expression_tree_walker(node, has_volatile_call, context);
}

typedef struct ReadContext
{
	const char *table;			/* table_key() */
	const char *column;
	bool		table_seen;
	bool		column_seen;
}			ReadContext;

static bool
read_walker(Node *node, ReadContext * ctx)
{
	if (node == NULL)
		return false;
	if (IsA(node, RangeVar) && strcmp(table_key((RangeVar *) node), ctx->table) == 0)
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

/*
 * A column dropped and another added to the same existing table is how a
 * rename looks after an ORM autogenerates it.  When the table is in the
 * database, the dropped column's type must equal the added one's (type
 * OIDs; a different typmod still counts as the same type); otherwise any
 * pair fires.  One finding per dropped column, on the later statement.
 */
static void
lint_drop_add(LintState *state)
{
	ListCell   *ld;
	ListCell   *la;

	foreach(ld, state->dropped)
	{
		ColumnSet  *drop = lfirst(ld);
		char	   *dropped = strVal(linitial(drop->columns));
		Oid			relid = RangeVarGetRelid(drop->relation, NoLock, true);
		Oid			drop_type = InvalidOid;

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
			add_finding(state, "drop-add-looks-like-rename", "error", later,
						psprintf("column \"%s\" of table \"%s\" is dropped and column \"%s\" is added, which looks like a rename",
								 dropped, table_name(drop->relation), added),
						psprintf("If the column is renamed, use ALTER TABLE ... RENAME COLUMN %s TO %s so its data is kept.",
								 quote_identifier(dropped), quote_identifier(added)));
			break;
		}
	}
}

/*
 * Every foreign key of the script needs an index whose leading columns are
 * its columns (in any order), so that deleting or updating a referenced
 * row does not scan the referencing table.  Indexes built later in the
 * same script count.
 */
static void
lint_foreign_keys(LintState *state)
{
	ListCell   *lc;

	foreach(lc, state->foreign_keys)
	{
		ColumnSet  *fk = lfirst(lc);
		StringInfoData cols;
		ListCell   *lc2;

		if (index_in_script(state, fk))
			continue;
		if (is_existing(state, fk->relation) && index_in_database(fk))
			continue;

		initStringInfo(&cols);
		foreach(lc2, fk->columns)
			appendStringInfo(&cols, "%s%s", cols.len > 0 ? ", " : "",
							 quote_identifier(strVal(lfirst(lc2))));
		add_finding(state, "foreign-key-without-index", "warning", fk->st,
					psprintf("foreign key (%s) of table \"%s\" has no index on its columns",
							 cols.data, table_name(fk->relation)),
					psprintf("Create an index on \"%s\" (%s) (CONCURRENTLY on an existing table), so deleting or updating a referenced row does not scan the whole table.",
							 table_name(fk->relation), cols.data));
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
			leading_columns_match(fk->columns, idx->columns))
			return true;
	}
	return false;
}

/* Is every column of the foreign key among the first n index columns? */
static bool
leading_columns_match(List *fkcols, List *idxcols)
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

/*
 * The valid indexes of a table in the database, read from pg_index by
 * indrelid: a catalog scan rather than RelationGetIndexList(), which would
 * need a lock on the user's table.
 */
static bool
index_in_database(ColumnSet *fk)
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
		found = leading_columns_match(fk->columns, columns);
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* ---- helpers ---- */

static void
add_finding(LintState *state, const char *rule, const char *severity,
			SchemamigStatement *st, char *message, char *hint)
{
	LintItem   *item = palloc0(sizeof(LintItem));

	item->finding.rule = rule;
	item->finding.severity = severity;
	item->finding.statement_no = st ? st->statement_no : 0;
	item->finding.statement = st ? st->text : NULL;
	item->finding.message = message;
	item->finding.hint = hint;
	item->seq = list_length(state->findings);
	state->findings = lappend(state->findings, item);
}

static int
finding_cmp(const ListCell *a, const ListCell *b)
{
	LintItem   *x = lfirst(a);
	LintItem   *y = lfirst(b);

	if (x->finding.statement_no != y->finding.statement_no)
		return x->finding.statement_no < y->finding.statement_no ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq ? 1 : 0);
}

/* "users" and "public.users" are one table; other schemas stay qualified */
static char *
table_key(RangeVar *rv)
{
	if (rv->schemaname == NULL || strcmp(rv->schemaname, "public") == 0)
		return pstrdup(rv->relname);
	return psprintf("%s.%s", rv->schemaname, rv->relname);
}

/* The table as the script names it, for messages */
static char *
table_name(RangeVar *rv)
{
	if (rv->schemaname == NULL)
		return rv->relname;
	return psprintf("%s.%s", rv->schemaname, rv->relname);
}

static bool
is_existing(LintState *state, RangeVar *rv)
{
	char	   *key = table_key(rv);
	ListCell   *lc;

	foreach(lc, state->created)
		if (strcmp((char *) lfirst(lc), key) == 0)
		return false;
	return true;
}

/* ---- schema context, type preferences, NOT NULL checks ---- */

static void
record_index(LintState *state, SchemamigStatement *st, IndexStmt *stmt)
{
	List	   *columns = NIL;
	ListCell   *lc;

	foreach(lc, stmt->indexParams)
	{
		IndexElem  *elem = lfirst_node(IndexElem, lc);

		columns = lappend(columns, elem->name ? makeString(elem->name) : NULL);
	}
	record_columns(&state->indexes, stmt->relation, columns, st);
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
			record_columns(&state->indexes, rel, columns, st);
	}
	else if (con->contype == CONSTR_CHECK)
		record_not_null_check(state, rel, con);
}

/*
 * A statement of a pending parent revision: what it builds that the
 * script's rules may rely on (indexes, validated NOT NULL checks).
 */
static void
lint_context_statement(LintState *state, SchemamigStatement *st)
{
	Node	   *tree = st->parsetree;
	ListCell   *lc;
	ListCell   *lc2;

	if (IsA(tree, IndexStmt))
		record_index(state, st, (IndexStmt *) tree);
	else if (IsA(tree, CreateStmt))
	{
		CreateStmt *stmt = (CreateStmt *) tree;

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
				validate_not_null_check(state, stmt->relation, cmd->name);
		}
	}
}

static bool
type_is(TypeName *tn, const char *name)
{
	return tn != NULL && tn->names != NIL && strcmp(strVal(llast(tn->names)), name) == 0;
}

/* squawk's type preferences, for a column a script creates */
static void
lint_column_type(LintState *state, SchemamigStatement *st, RangeVar *rel, ColumnDef *def)
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
		add_finding(state, "prefer-identity", "info", st,
					psprintf("column \"%s\" of \"%s\" is %s; identity columns are the SQL-standard form",
							 def->colname, table_name(rel), strVal(llast(tn->names))),
					pstrdup("Use bigint GENERATED ALWAYS AS IDENTITY (or BY DEFAULT): the sequence belongs to the column and its permissions follow the table."));
	if (type_is(tn, "serial") || type_is(tn, "serial4") || type_is(tn, "smallserial") ||
		type_is(tn, "serial2") ||
		((type_is(tn, "int4") || type_is(tn, "int2")) && (key || identity)))
		add_finding(state, "prefer-bigint", "warning", st,
					psprintf("key column \"%s\" of \"%s\" is a 32- or 16-bit integer, which a busy table can run out of",
							 def->colname, table_name(rel)),
					pstrdup("Use bigint (or bigserial / bigint identity) for keys: widening one later rewrites the table and every table that references it."));
	if (type_is(tn, "varchar") && tn->typmods != NIL)
		add_finding(state, "prefer-text", "warning", st,
					psprintf("column \"%s\" of \"%s\" is varchar(n); raising the limit later needs an ALTER, lowering it a rewrite",
							 def->colname, table_name(rel)),
					pstrdup("Use text, with a CHECK (length(...) <= n) constraint if a limit is wanted: the check can be changed with NOT VALID, without rewriting the table."));
	if (type_is(tn, "timestamp"))
		add_finding(state, "prefer-timestamptz", "warning", st,
					psprintf("column \"%s\" of \"%s\" is timestamp without time zone",
							 def->colname, table_name(rel)),
					pstrdup("Use timestamptz: it stores an instant, while timestamp depends on the time zone of whoever wrote the value."));
}

/*
 * Does ALTER COLUMN TYPE on a table in the database rewrite it?  Decided
 * like the server does (plan_predict.c); true when the table or column is
 * not in the database (a pending parent makes it) or the type unknown.
 */
static bool
type_change_rewrites_existing(RangeVar *rel, AlterTableCmd *cmd)
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

/* A CHECK (column IS NOT NULL): validated, or NOT VALID until validated */
static void
record_not_null_check(LintState *state, RangeVar *rel, Constraint *con)
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
	set = record_columns(con->skip_validation ? &state->unvalidated : &state->not_null_checks,
						 rel, list_make1(linitial(ref->fields)), NULL);
	set->type = con->conname ? makeTypeName(con->conname) : NULL;
}

static void
validate_not_null_check(LintState *state, RangeVar *rel, const char *name)
{
	char	   *key = table_key(rel);
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
static bool
has_not_null_check(LintState *state, RangeVar *rel, const char *column)
{
	char	   *key = table_key(rel);
	ListCell   *lc;
	Oid			relid;
	AttrNumber	attnum;
	Relation	conrel;
	ScanKeyData skey;
	SysScanDesc scan;
	HeapTuple	tup;
	bool		found = false;

	foreach(lc, state->not_null_checks)
	{
		ColumnSet  *set = (ColumnSet *) lfirst(lc);

		if (strcmp(set->table, key) == 0 &&
			strcmp(strVal(linitial(set->columns)), column) == 0)
			return true;
	}
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
