/*-------------------------------------------------------------------------
 *
 * baseline.c
 *		Adopting a database that already has a schema: baseline(), the
 *		pg_dump rule for scripts, and the check that the objects a
 *		revision creates exist.
 *
 * baseline(id) marks the schema that existed before schemamig as revision
 * id, without running anything: refused once any revision is applied (it
 * is the first thing that ever happens to the history), irreversible, and
 * recorded in the journal with action 'baseline'.  Two ways, one graph:
 *	- id is not registered: it is registered script-less, kind 'baseline',
 *	  a root;
 *	- id is registered (the folder was loaded first, and its first file is
 *	  a pg_dump --schema-only of production): the objects its script
 *	  creates must exist, so a baseline can never claim a schema the
 *	  database does not have.  A fresh database gets the same schema by
 *	  deploying the same folder.
 *
 * The pg_dump rule (one rule, for register(), load and every parse of a
 * script): pg_dump's \restrict / \unrestrict lines are psql meta-commands
 * and are blanked (same length, so positions in the script stay right);
 * CREATE EXTENSION schemamig and COMMENT ON EXTENSION schemamig are
 * skipped (the database has it already), and so are the CREATE SCHEMA
 * schemamig and ALTER SCHEMA schemamig OWNER TO that pg_dump writes before
 * it; everything else (OWNER TO, set_config, SET) is kept and runs.  A
 * script's settings (pg_dump sets search_path to '') last until the end of
 * its revision only (migrate.c).
 *
 * Which objects a script creates is read from its parse trees: tables,
 * views, materialized views, sequences, indexes, schemas, types and
 * extensions that have a name.  Functions (overloading needs a signature
 * lookup) and objects made by DO blocks are not checked.
 *
 * IDENTIFICATION
 *		src/baseline.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "parser/parse_type.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_baseline);

/* ---- the objects a script creates ---- */

static void
check_relation(List **missing, const char *what, RangeVar *rv)
{
	if (rv && !OidIsValid(RangeVarGetRelid(rv, NoLock, true)))
		*missing = lappend(*missing,
						   psprintf("%s %s", what,
									rv->schemaname ?
									quote_qualified_identifier(rv->schemaname, rv->relname) :
									quote_identifier(rv->relname)));
}

static void
check_type(List **missing, const char *what, List *names)
{
	TypeName   *tn = makeTypeNameFromNameList(names);
	Type		type = LookupTypeName(NULL, tn, NULL, true);

	if (type == NULL)
		*missing = lappend(*missing, psprintf("%s %s", what, NameListToString(names)));
	else
		ReleaseSysCache(type);
}

/*
 * "table public.users", "index public.users_email_idx", ... for each
 * object the script creates that does not exist now.
 */
List *
schemamig_script_missing_objects(const char *script, const char *revision)
{
	List	   *missing = NIL;
	ListCell   *lc;

	foreach(lc, schemamig_script_parse(script, revision, "upgrade"))
	{
		Node	   *tree = ((SchemamigStatement *) lfirst(lc))->parsetree;

		switch (nodeTag(tree))
		{
			case T_CreateStmt:
				check_relation(&missing, "table", ((CreateStmt *) tree)->relation);
				break;
			case T_CreateForeignTableStmt:
				check_relation(&missing, "foreign table", ((CreateStmt *) tree)->relation);
				break;
			case T_ViewStmt:
				check_relation(&missing, "view", ((ViewStmt *) tree)->view);
				break;
			case T_CreateTableAsStmt:
				check_relation(&missing,
							   ((CreateTableAsStmt *) tree)->objtype == OBJECT_MATVIEW ?
							   "materialized view" : "table",
							   ((CreateTableAsStmt *) tree)->into->rel);
				break;
			case T_CreateSeqStmt:
				check_relation(&missing, "sequence", ((CreateSeqStmt *) tree)->sequence);
				break;
			case T_IndexStmt:
				{
					IndexStmt  *stmt = (IndexStmt *) tree;

					if (stmt->idxname)
						check_relation(&missing, "index",
									   makeRangeVar(stmt->relation->schemaname,
													stmt->idxname, -1));
					break;
				}
			case T_CreateSchemaStmt:
				{
					CreateSchemaStmt *stmt = (CreateSchemaStmt *) tree;

					if (stmt->schemaname && !OidIsValid(get_namespace_oid(stmt->schemaname, true)))
						missing = lappend(missing, psprintf("schema %s",
															quote_identifier(stmt->schemaname)));
					break;
				}
			case T_CreateEnumStmt:
				check_type(&missing, "type", ((CreateEnumStmt *) tree)->typeName);
				break;
			case T_CompositeTypeStmt:
				{
					RangeVar   *rv = ((CompositeTypeStmt *) tree)->typevar;

					check_type(&missing, "type",
							   rv->schemaname ?
							   list_make2(makeString(rv->schemaname), makeString(rv->relname)) :
							   list_make1(makeString(rv->relname)));
					break;
				}
			case T_CreateDomainStmt:
				check_type(&missing, "domain", ((CreateDomainStmt *) tree)->domainname);
				break;
			case T_CreateExtensionStmt:
				{
					char	   *name = ((CreateExtensionStmt *) tree)->extname;

					if (!OidIsValid(get_extension_oid(name, true)))
						missing = lappend(missing, psprintf("extension %s", quote_identifier(name)));
					break;
				}
			default:
				break;
		}
	}
	return missing;
}

/* "a, b, c and 7 more" */
char *
schemamig_deploy_list_text(List *items)
{
	StringInfoData buf;
	ListCell   *lc;
	int			k = 0;

	initStringInfo(&buf);
	foreach(lc, items)
	{
		if (k == 10)
		{
			appendStringInfo(&buf, " and %d more", list_length(items) - k);
			break;
		}
		appendStringInfo(&buf, "%s%s", k ? ", " : "", (char *) lfirst(lc));
		k++;
	}
	return buf.data;
}

/*
 * stamp(): warn when objects the newly stamped revisions create are
 * missing (stamp records a version without running it; it should not
 * silently record one whose changes are not there).
 */
void
schemamig_stamp_check_objects(const char *revision)
{
	List	   *missing;

	missing = schemamig_script_missing_objects(schemamig_fetch_script(revision, DIRECTION_UPGRADE),
											   revision);
	if (missing != NIL)
		ereport(WARNING,
				(errmsg("revision \"%s\" was stamped but objects it creates are missing", revision),
				 errdetail("Missing: %s.", schemamig_deploy_list_text(missing)),
				 errhint("stamp() records a version without running it; apply the revision's changes, or stamp() an older target.")));
}

/* baseline(revision text) -> void */
Datum
schemamig_baseline(PG_FUNCTION_ARGS)
{
	char	   *revision;
	SchemamigGraph *graph;
	int			idx;
	char	   *checksum;
	int			applied = 0;
	TimestampTz started = GetCurrentTimestamp();

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_INVALID_SCRIPT),
				 errmsg("revision id must not be null")));
	revision = text_to_cstring(PG_GETARG_TEXT_PP(0));
	schemamig_check_valid_id(revision);
	schemamig_check_can_migrate("baseline()");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_lock_history();
	schemamig_bump_generation();
	graph = schemamig_graph_load();
	for (int i = 0; i < graph->nnodes; i++)
		if (graph->nodes[i].applied)
			applied++;
	if (applied > 0 || schemamig_progress_load() != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
				 errmsg("baseline() is refused once a revision is applied"),
				 errdetail_plural("%d revision is applied.", "%d revisions are applied.",
								  applied, applied),
				 errhint("A baseline marks the schema that existed before schemamig; it comes first. Use stamp() to record a version later in the history.")));

	idx = schemamig_graph_find(graph, revision);
	if (idx < 0)
	{
		Oid			types[2] = {TEXTOID, TEXTOID};
		Datum		values[2];
		int			ret;

		checksum = schemamig_script_checksum("", NULL);
		values[0] = CStringGetTextDatum(revision);
		values[1] = CStringGetTextDatum(checksum);
		ret = schemamig_owner_execute("INSERT INTO schemamig.revision (revision, parents, message, "
									  "upgrade_sql, downgrade_sql, checksum, kind, upgrade_statements) "
									  "VALUES ($1, '{}', 'baseline: the schema before schemamig', '', NULL, "
									  "$2, 'baseline', 0)",
									  2, types, values, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not insert into schemamig.revision: %s", SPI_result_code_string(ret));
	}
	else
	{
		SchemamigNode *node = &graph->nodes[idx];
		List	   *missing;

		if (node->nparents > 0)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
					 errmsg("revision \"%s\" has parents: a baseline is a root", revision),
					 errhint("Baseline the first revision of the history.")));
		missing = schemamig_script_missing_objects(schemamig_fetch_script(revision, DIRECTION_UPGRADE),
												   revision);
		if (missing != NIL)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("the schema is not at revision \"%s\"", revision),
					 errdetail("Objects its script creates are missing: %s.",
							   schemamig_deploy_list_text(missing)),
					 errhint("Baseline with the revision whose script matches this database, e.g. a pg_dump --schema-only of it.")));
		checksum = node->checksum;
	}
	schemamig_mark_applied(revision, checksum);
	schemamig_journal_insert(revision, "baseline", revision, started);
	schemamig_drift_record();
	SPI_finish();
	PG_RETURN_VOID();
}
