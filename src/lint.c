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
 * This file walks the statements one by one (the per-statement rules);
 * lint_script.c has the rules that need the whole script (a drop and an add
 * that look like a rename, foreign keys without an index, which may come
 * later in the script) and the schema context of the pending parents;
 * lint_catalog.c has what the rules read from the database (indexes,
 * checks, column types, function volatility, whether a table has rows),
 * never waiting for a lock on a user table.
 *
 * A finding is suppressed by a line comment "-- schemamig:allow <rule>"
 * anywhere in the script (lint_report.c) or by squawk's "-- squawk-ignore"
 * before the statement (lint_squawk.c).
 *
 * IDENTIFICATION
 *		src/lint.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "commands/defrem.h"
#include "nodes/makefuncs.h"
#include "tcop/utility.h"
#include "utils/builtins.h"

#include "lint_int.h"

static int	finding_cmp(const ListCell *a, const ListCell *b);
static void lint_statement(LintState *state, SchemamigStatement *st);
static void lint_create_table(LintState *state, SchemamigStatement *st,
							  CreateStmt *stmt);
static void lint_alter_table(LintState *state, SchemamigStatement *st,
							 AlterTableStmt *stmt);
static void lint_add_column(LintState *state, SchemamigStatement *st,
							RangeVar *rel, bool existing, ColumnDef *def);
static void lint_not_null_no_default(LintState *state, SchemamigStatement *st,
									 RangeVar *rel, ColumnDef *def);
static void lint_constraint(LintState *state, SchemamigStatement *st,
							RangeVar *rel, bool existing, Constraint *con,
							const char *column);

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
		schemamig_lint_context_statement(&state, (SchemamigStatement *) lfirst(lc));
	foreach(lc, statements)
		lint_statement(&state, (SchemamigStatement *) lfirst(lc));

	schemamig_lint_drop_add(&state);
	schemamig_lint_foreign_keys(&state);

	if (state.first_dml != NULL && state.has_ddl)
		schemamig_lint_add_finding(&state, "data-in-schema-migration", "info", state.first_dml,
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
			schemamig_lint_add_finding(&state, "non-transactional-revision", "warning", st,
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
			schemamig_lint_add_finding(state, "transaction-control", "error", st,
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
					schemamig_lint_add_finding(state, "reindex-locks", "warning", st,
											   pstrdup("REINDEX without CONCURRENTLY blocks writes to the table and reads that use the index while it rebuilds"),
											   pstrdup("Use REINDEX ... CONCURRENTLY in a revision of its own; it runs only outside a transaction block."));
				return;
			}
		case T_TruncateStmt:
			if (((TruncateStmt *) tree)->behavior == DROP_CASCADE)
				schemamig_lint_add_finding(state, "truncate-cascade", "warning", st,
										   pstrdup("TRUNCATE ... CASCADE also empties every table that references these tables, recursively"),
										   pstrdup("Name every table to be emptied in the TRUNCATE itself, so the script says what it deletes."));
			return;
		case T_SelectStmt:
			{
				IntoClause *into = ((SelectStmt *) tree)->intoClause;

				/* SELECT INTO creates a table; a plain SELECT is neither */
				if (into != NULL)
				{
					state->created = lappend(state->created, schemamig_lint_table_key(into->rel));
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
											 schemamig_lint_table_key(stmt->into->rel));
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
						if (!list_member(state->created_indexes, makeString(schemamig_lint_table_key(rv))))
						{
							schemamig_lint_add_finding(state, "drop-index-locks", "warning", st,
													   psprintf("index \"%s\" is dropped without CONCURRENTLY, which takes an ACCESS EXCLUSIVE lock on its table",
																schemamig_lint_table_name(rv)),
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

					if (schemamig_lint_is_existing(state, rv))
						schemamig_lint_add_finding(state, "drop-table", "warning", st,
												   psprintf("existing table \"%s\" is dropped", schemamig_lint_table_name(rv)),
												   pstrdup("Dropping a table loses its data: stop using it in the application first, keep a backup, and drop it in a later revision of its own."));
				}
				break;
			}
		case T_IndexStmt:
			{
				IndexStmt  *stmt = (IndexStmt *) tree;

				schemamig_lint_record_index(state, st, stmt);
				if (stmt->idxname != NULL)
					state->created_indexes =
						lappend(state->created_indexes,
								makeString(schemamig_lint_table_key(makeRangeVar(stmt->relation->schemaname,
																				 stmt->idxname, -1))));
				if (!stmt->concurrent && schemamig_lint_is_existing(state, stmt->relation))
					schemamig_lint_add_finding(state, "create-index-locks-writes", "warning", st,
											   psprintf("index on existing table \"%s\" is created without CONCURRENTLY, which blocks writes while it builds",
														schemamig_lint_table_name(stmt->relation)),
											   pstrdup("Use CREATE INDEX CONCURRENTLY in a revision of its own; it runs only outside a transaction block (see the README, \"Migrations that cannot run in a transaction\")."));
				break;
			}
		case T_AlterEnumStmt:
			if (((AlterEnumStmt *) tree)->newVal != NULL &&
				((AlterEnumStmt *) tree)->oldVal == NULL)
				schemamig_lint_add_finding(state, "enum-value-added", "info", st,
										   psprintf("enum value \"%s\" is added; PostgreSQL lets no statement use it until the transaction commits",
													((AlterEnumStmt *) tree)->newVal),
										   pstrdup("Use the new value in a later revision, applied in a transaction of its own (upgrade_each() or a separate upgrade() call)."));
			break;
		case T_RenameStmt:
			{
				RenameStmt *stmt = (RenameStmt *) tree;

				if (stmt->renameType == OBJECT_TABLE &&
					schemamig_lint_is_existing(state, stmt->relation))
					schemamig_lint_add_finding(state, "rename", "warning", st,
											   psprintf("existing table \"%s\" is renamed to \"%s\"",
														schemamig_lint_table_name(stmt->relation), stmt->newname),
											   pstrdup("Running application code still uses the old name: add the new name alongside the old one (for example an updatable view) and drop the old one once no code uses it."));
				else if (stmt->renameType == OBJECT_COLUMN &&
						 stmt->relationType == OBJECT_TABLE &&
						 schemamig_lint_is_existing(state, stmt->relation))
					schemamig_lint_add_finding(state, "rename", "warning", st,
											   psprintf("column \"%s\" of existing table \"%s\" is renamed to \"%s\"",
														stmt->subname, schemamig_lint_table_name(stmt->relation),
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

	state->created = lappend(state->created, schemamig_lint_table_key(stmt->relation));
	foreach(lc, stmt->tableElts)
	{
		if (IsA(lfirst(lc), ColumnDef))
		{
			ColumnDef  *def = (ColumnDef *) lfirst(lc);

			schemamig_lint_column_type(state, st, stmt->relation, def);
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
	bool		existing = schemamig_lint_is_existing(state, rel);
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
					schemamig_lint_record_columns(&state->dropped, rel,
												  list_make1(makeString(cmd->name)), st);
					schemamig_lint_add_finding(state, "drop-column", "warning", st,
											   psprintf("column \"%s\" is dropped from existing table \"%s\"",
														cmd->name, schemamig_lint_table_name(rel)),
											   pstrdup("Dropping a column loses its data: stop reading and writing it in the application first, then drop it in a later revision."));
				}
				break;
			case AT_SetLogged:
			case AT_SetUnLogged:
				if (existing)
					schemamig_lint_add_finding(state, "set-logged-rewrites", "warning", st,
											   psprintf("SET %s rewrites existing table \"%s\" under an ACCESS EXCLUSIVE lock",
														cmd->subtype == AT_SetLogged ? "LOGGED" : "UNLOGGED",
														schemamig_lint_table_name(rel)),
											   pstrdup("Plan it for a maintenance window, or create a new table with the wanted persistence and move the data over in batches."));
				break;
			case AT_DetachPartition:
				if (existing && !((PartitionCmd *) cmd->def)->concurrent)
					schemamig_lint_add_finding(state, "detach-partition-locks", "warning", st,
											   psprintf("DETACH PARTITION without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on partitioned table \"%s\"",
														schemamig_lint_table_name(rel)),
											   pstrdup("Use DETACH PARTITION ... CONCURRENTLY in a revision of its own; it runs only outside a transaction block."));
				break;
			case AT_ValidateConstraint:
				schemamig_lint_validate_not_null_check(state, rel, cmd->name);
				break;
			case AT_AlterColumnType:
				if (existing && !schemamig_lint_type_change_rewrites(rel, cmd))
					break;
				if (existing)
					schemamig_lint_add_finding(state, "alter-column-type", "warning", st,
											   psprintf("type of column \"%s\" of existing table \"%s\" is changed, which can rewrite the table under an ACCESS EXCLUSIVE lock",
														cmd->name, schemamig_lint_table_name(rel)),
											   pstrdup("Add a column of the new type, backfill it and move the application over in steps, unless the change is binary-compatible (such as varchar(n) to text)."));
				break;
			case AT_SetNotNull:
				if (existing && !schemamig_lint_has_not_null_check(state, rel, cmd->name))
					schemamig_lint_add_finding(state, "set-not-null", "warning", st,
											   psprintf("SET NOT NULL on column \"%s\" of existing table \"%s\" scans the table under an ACCESS EXCLUSIVE lock",
														cmd->name, schemamig_lint_table_name(rel)),
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
		schemamig_lint_record_columns(&state->added, rel, list_make1(makeString(def->colname)),
									  st)->type = def->typeName;

	schemamig_lint_column_type(state, st, rel, def);
	if (existing && (has_value || def->generated == ATTRIBUTE_GENERATED_STORED))
		schemamig_lint_add_finding(state, "add-column-rewrites", "warning", st,
								   psprintf("column \"%s\" is added to existing table \"%s\" as serial, identity or stored generated column, which rewrites the table under an ACCESS EXCLUSIVE lock",
											def->colname, schemamig_lint_table_name(rel)),
								   pstrdup("Add a plain nullable column, fill it in batches (from a sequence or the expression), then add the default, identity or NOT NULL in later revisions; or accept the rewrite in a maintenance window."));

	if (existing && not_null && default_expr == NULL && !has_value)
		lint_not_null_no_default(state, st, rel, def);

	if (existing && default_expr != NULL && schemamig_lint_volatile_call(default_expr, NULL))
		schemamig_lint_add_finding(state, "add-column-volatile-default", "warning", st,
								   psprintf("column \"%s\" is added to existing table \"%s\" with a volatile default, which rewrites the table under an ACCESS EXCLUSIVE lock",
											def->colname, schemamig_lint_table_name(rel)),
								   pstrdup("Add the column without a default (or with a constant one), backfill it in batches, then SET DEFAULT for new rows."));
}

/*
 * ADD COLUMN ... NOT NULL without a value for the rows already there, on a
 * table the script did not create.  PostgreSQL fails the statement
 * (23502, "contains null values") exactly when the table or one of the
 * inheritors it recurses to has a row; on an empty table it succeeds.  So
 * the finding is an error where the statement will fail in this database
 * (the table has a row), or where that could not be checked (another
 * session holds a lock on the table, or the role may not read it), and a
 * warning where it fails only once rows arrive:
 * the table is empty here, a pending parent creates it, or the database
 * does not have it at all (a first revision registered into an empty
 * database).
 */
static void
lint_not_null_no_default(LintState *state, SchemamigStatement *st, RangeVar *rel,
						 ColumnDef *def)
{
	const char *hint = "Add the column as nullable (or with a DEFAULT), backfill it, and SET NOT NULL in a later revision.";
	const char *table = schemamig_lint_table_name(rel);
	const char *severity = "warning";
	char	   *why;

	if (list_member(state->context_created, makeString(schemamig_lint_table_key(rel))))
		why = "which a pending parent revision creates: the statement fails if the table has rows when it runs";
	else
	{
		switch (schemamig_lint_table_rows(rel))
		{
			case LINT_ROWS_PRESENT:
				severity = "error";
				why = "which has rows in this database: the statement fails";
				break;
			case LINT_ROWS_LOCKED:
				severity = "error";
				why = "whose rows could not be checked because another session holds a lock on it: the statement fails if the table has rows";
				break;
			case LINT_ROWS_UNREADABLE:
				severity = "error";
				why = "whose rows this role may not read: the statement fails if the table has rows";
				break;
			case LINT_ROWS_EMPTY:
				why = "which is empty in this database: the statement fails once the table has rows";
				break;
			default:
				why = "which is not in this database: the statement fails if the table has rows when it runs";
				break;
		}
	}
	schemamig_lint_add_finding(state, "add-column-not-null-no-default", severity, st,
							   psprintf("column \"%s\" is added as NOT NULL without a default to table \"%s\", %s",
										def->colname, table, why),
							   pstrdup(hint));
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
			schemamig_lint_record_columns(&state->foreign_keys, rel, columns, st);
			if (existing && !con->skip_validation)
				schemamig_lint_add_finding(state, "add-foreign-key-validates", "warning", st,
										   psprintf("foreign key on existing table \"%s\" is validated while it is added, which blocks writes to both tables",
													schemamig_lint_table_name(rel)),
										   pstrdup("Add the foreign key with NOT VALID, then VALIDATE CONSTRAINT it in a later revision, which does not block writes."));
			break;
		case CONSTR_CHECK:
			schemamig_lint_record_not_null_check(state, rel, con);
			if (existing && !con->skip_validation)
				schemamig_lint_add_finding(state, "add-check-validates", "warning", st,
										   psprintf("check constraint on existing table \"%s\" is validated while it is added, under an ACCESS EXCLUSIVE lock",
													schemamig_lint_table_name(rel)),
										   pstrdup("Add the check with NOT VALID, then VALIDATE CONSTRAINT it in a later revision, which does not block reads or writes."));
			break;
		case CONSTR_EXCLUSION:
			if (existing)
				schemamig_lint_add_finding(state, "exclusion-constraint-locks", "warning", st,
										   psprintf("exclusion constraint on existing table \"%s\" builds its index and checks every row under an ACCESS EXCLUSIVE lock",
													schemamig_lint_table_name(rel)),
										   pstrdup("An exclusion constraint cannot be added NOT VALID or USING INDEX: add it while the table is small, or in a maintenance window."));
			break;
		case CONSTR_PRIMARY:
		case CONSTR_UNIQUE:
			columns = column ? list_make1(makeString(pstrdup(column))) : con->keys;
			if (columns != NIL)
				schemamig_lint_record_columns(&state->indexes, rel, columns, st);
			if (existing && con->indexname == NULL)
				schemamig_lint_add_finding(state, "add-unique-constraint-locks", "warning", st,
										   psprintf("%s constraint on existing table \"%s\" builds its index under an ACCESS EXCLUSIVE lock",
													con->contype == CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE",
													schemamig_lint_table_name(rel)),
										   pstrdup("Build the index first with CREATE UNIQUE INDEX CONCURRENTLY in a revision of its own, then add the constraint with USING INDEX in the next one."));
			break;
		default:
			break;
	}
}

ColumnSet *
schemamig_lint_record_columns(List **list, RangeVar *rel, List *columns, SchemamigStatement *st)
{
	ColumnSet  *set = palloc0(sizeof(ColumnSet));

	set->table = schemamig_lint_table_key(rel);
	set->relation = rel;
	set->columns = columns;
	set->st = st;
	*list = lappend(*list, set);
	return set;
}

/* ---- helpers ---- */

void
schemamig_lint_add_finding(LintState *state, const char *rule, const char *severity,
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
char *
schemamig_lint_table_key(RangeVar *rv)
{
	if (rv->schemaname == NULL || strcmp(rv->schemaname, "public") == 0)
		return pstrdup(rv->relname);
	return psprintf("%s.%s", rv->schemaname, rv->relname);
}

/* The table as the script names it, for messages */
char *
schemamig_lint_table_name(RangeVar *rv)
{
	if (rv->schemaname == NULL)
		return rv->relname;
	return psprintf("%s.%s", rv->schemaname, rv->relname);
}

bool
schemamig_lint_is_existing(LintState *state, RangeVar *rv)
{
	char	   *key = schemamig_lint_table_key(rv);
	ListCell   *lc;

	foreach(lc, state->created)
		if (strcmp((char *) lfirst(lc), key) == 0)
		return false;
	return true;
}
