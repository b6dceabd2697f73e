/*-------------------------------------------------------------------------
 *
 * guard.c
 *		The guard: a ddl_command_start event trigger that refuses schema
 *		changes made outside a revision.
 *
 * Why an event trigger and not a ProcessUtility hook: an event trigger
 * works with a plain CREATE EXTENSION (no shared_preload_libraries), fires
 * in every session of the database from its first DDL statement, and is
 * owned by the extension, so it survives reconnects and pooling.  It is
 * created ENABLE ALWAYS so session_replication_role = replica does not
 * switch it off.  What event triggers never see (PostgreSQL fires them only
 * for database-local objects): CREATE/ALTER/DROP ROLE, DATABASE and
 * TABLESPACE, ALTER SYSTEM, and event triggers themselves.
 *
 * DDL is allowed without a revision when a migration context is open, when
 * it runs inside an extension script (CREATE EXTENSION's own statements),
 * while schemamig.restoring is on, when its command tag is listed in
 * schemamig.guard_exempt, or when it only touches temporary objects.
 * REINDEX is always allowed and never logged here: it changes no schema,
 * and only PostgreSQL 17+ fire event triggers for it.  ALTER EXTENSION
 * schemamig UPDATE is allowed without a revision while the objects are
 * older than the library (catalog.c).  The
 * last is decided from the parse tree: CREATE TEMP ..., and for commands
 * naming existing relations (ALTER, DROP, CREATE INDEX, RENAME) a lookup of
 * each relation's persistence.  A DROP ... IF EXISTS of a relation that does
 * not exist changes nothing and is allowed, so the common "DROP TABLE IF
 * EXISTS tmp; CREATE TEMP TABLE tmp" keeps working.  With
 * schemamig.alembic_version_table set, the rest is alembic.c's to decide
 * (through schemamig_guard_classify_rest, which hooks.c points at it):
 * Alembic's version table, and DDL held until a version write attributes it.
 * The guard sits below every module that decides more; it calls only the
 * context, the statement text and the log.
 *
 * IDENTIFICATION
 *		src/guard.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "commands/dbcommands.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_guard_ddl_start);

/*
 * The modules above the guard decide through these, filled by hooks.c;
 * the guard never calls them by name.
 */

/* DDL outside a context, neither exempt nor temporary: NULL = unversioned */
SchemamigVerdict (*schemamig_guard_classify_rest) (Node *parsetree) = NULL;

/* and the hint for what it did not admit (alembic.c's, through hooks.c) */
char	   *(*schemamig_guard_hint_rest) (Node *parsetree) = NULL;

/* seal.c: a statement on schemamig's own objects (true: judged) */
bool		(*schemamig_guard_check_own_objects) (Node *parsetree) = NULL;

/* schemamig's own plumbing statements are running: stand aside */
bool		schemamig_guard_plumbing = false;

static bool tag_is_exempt(const char *tag);
static bool only_temporary(Node *parsetree);
static bool rangevar_is_temp(RangeVar *rv, bool absent_is_temp);

/*
 * What the guard thinks of a DDL statement; shared with the log, which
 * asks again when the guard's own trigger did not run.
 */
SchemamigVerdict
schemamig_guard_classify(Node *parsetree, const char *tag)
{
	if (creating_extension || schemamig_guard_plumbing || schemamig_restore_active())
		return VERDICT_SKIP;

	/*
	 * The library was updated and this database's objects not yet: the one
	 * thing to let through is their update (catalog.c), which would fail to
	 * log itself into the old tables
	 */
	if (IsA(parsetree, AlterExtensionStmt) &&
		strcmp(((AlterExtensionStmt *) parsetree)->extname, "schemamig") == 0 &&
		schemamig_objects_outdated())
		return VERDICT_SKIP;
	/* PostgreSQL 17+ fire event triggers for REINDEX: see compat.h */
	if (IsA(parsetree, ReindexStmt))
		return VERDICT_SKIP;
	/* a Citus worker: a valid token of the coordinator's revision (citus.c) */
	if (schemamig_citus_admit())
		return VERDICT_VERSIONED;
	if (schemamig_context_active())
		return VERDICT_VERSIONED;
	if (tag_is_exempt(tag) || only_temporary(parsetree))
		return VERDICT_SKIP;
	if (schemamig_citus_maintenance())
		return VERDICT_MAINTENANCE;
	if (schemamig_guard_classify_rest)
		return schemamig_guard_classify_rest(parsetree);
	return VERDICT_UNVERSIONED;
}

Datum
schemamig_guard_ddl_start(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	const char *tag;
	SchemamigVerdict verdict;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		elog(ERROR, "schemamig_guard_ddl_start: not fired by event trigger manager");
	trigdata = (EventTriggerData *) fcinfo->context;
	tag = GetCommandTagName(trigdata->tag);
	/* schemamig's own objects first: refused inside a revision too */
	if (schemamig_guard_check_own_objects &&
		schemamig_guard_check_own_objects(trigdata->parsetree))
		verdict = VERDICT_SKIP;
	else
		verdict = schemamig_guard_classify(trigdata->parsetree, tag);
	if (verdict == VERDICT_UNVERSIONED)
		schemamig_guard_refuse(trigdata->parsetree, tag);

	(void) schemamig_ddl_statement_push(trigdata->parsetree, verdict);
	PG_RETURN_NULL();
}

/*
 * An unversioned schema change: refused with SM001 under enforce (and
 * written to the server log), allowed with a WARNING under warn, silently
 * under off.  Also used for the statements seal.c judges in the
 * ProcessUtility hook.
 */
void
schemamig_guard_refuse(Node *parsetree, const char *tag)
{
	if (schemamig_guard_mode == GUARD_ENFORCE)
	{
		char	   *statement = schemamig_client_statement_text(parsetree);
		char	   *alembic_hint = schemamig_guard_hint_rest ?
		schemamig_guard_hint_rest(parsetree) : NULL;

		ereport(LOG_SERVER_ONLY,
				(errmsg("schemamig blocked unversioned %s by role \"%s\" in database \"%s\", application \"%s\": %s",
						tag, GetUserNameFromId(GetUserId(), false),
						get_database_name(MyDatabaseId),
						application_name ? application_name : "",
						statement ? statement : "")));
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_UNVERSIONED_DDL),
				 errmsg("unversioned schema change blocked: %s", tag),
				 errdetail("schemamig.guard is \"enforce\": every schema change in this database must be part of a revision."),
				 alembic_hint ? errhint("%s", alembic_hint) :
				 schemamig_statement_needs_top_level(parsetree) ?
				 errhint("Register it with schemamig.register() and run it with SELECT * FROM schemamig.steps() \\gexec in psql: it cannot run inside a transaction block.") :
				 errhint("Register it with schemamig.register() and apply it with schemamig.upgrade(), or run it inside BEGIN; SELECT schemamig.begin_revision('<id>'); ... COMMIT;.")));
	}
	if (schemamig_guard_mode == GUARD_WARN)
		ereport(WARNING,
				(errcode(ERRCODE_SCHEMAMIG_UNVERSIONED_DDL),
				 errmsg("unversioned schema change allowed: %s", tag),
				 errdetail("schemamig.guard is \"warn\"; the change is recorded in schemamig.ddl_log without a revision.")));
}

/*
 * schemamig.guard_exempt is a comma-separated list of command tags.  Tags
 * contain spaces ("REFRESH MATERIALIZED VIEW"), so this is a plain split
 * on commas, not an identifier list.
 */
static bool
tag_is_exempt(const char *tag)
{
	const char *p = schemamig_guard_exempt;
	int			taglen = strlen(tag);

	if (p == NULL)
		return false;
	while (*p)
	{
		const char *end;
		const char *last;

		while (*p == ',' || isspace((unsigned char) *p))
			p++;
		end = p;
		while (*end && *end != ',')
			end++;
		last = end;
		while (last > p && isspace((unsigned char) last[-1]))
			last--;
		if (last - p == taglen && pg_strncasecmp(p, tag, taglen) == 0)
			return true;
		p = end;
	}
	return false;
}

static bool
rangevar_is_temp(RangeVar *rv, bool absent_is_temp)
{
	Oid			relid;

	if (rv == NULL)
		return false;
	if (rv->relpersistence == RELPERSISTENCE_TEMP)
		return true;
	if (rv->schemaname && strncmp(rv->schemaname, "pg_temp", 7) == 0)
		return true;
	relid = RangeVarGetRelid(rv, NoLock, true);
	if (!OidIsValid(relid))
		return absent_is_temp;
	return get_rel_persistence(relid) == RELPERSISTENCE_TEMP;
}

static bool
only_temporary(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_CreateStmt:
			{
				/* a temporary child of a permanent parent changes the parent */
				CreateStmt *stmt = (CreateStmt *) parsetree;
				ListCell   *lc;

				foreach(lc, stmt->inhRelations)
					if (!rangevar_is_temp(lfirst_node(RangeVar, lc), false))
					return false;
				return rangevar_is_temp(stmt->relation, false);
			}
		case T_CreateTableAsStmt:
			return rangevar_is_temp(((CreateTableAsStmt *) parsetree)->into->rel, false);
		case T_ViewStmt:
			return ((ViewStmt *) parsetree)->view->relpersistence == RELPERSISTENCE_TEMP;
		case T_CreateSeqStmt:
			return rangevar_is_temp(((CreateSeqStmt *) parsetree)->sequence, false);
		case T_AlterSeqStmt:
			return rangevar_is_temp(((AlterSeqStmt *) parsetree)->sequence, false);
		case T_IndexStmt:
			return rangevar_is_temp(((IndexStmt *) parsetree)->relation, false);
		case T_AlterTableStmt:
			{
				AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
				ListCell   *lc;

				foreach(lc, stmt->cmds)
				{
					AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

					if (cmd->subtype == AT_AddInherit &&
						!rangevar_is_temp(castNode(RangeVar, cmd->def), false))
						return false;
				}
				return rangevar_is_temp(stmt->relation, false);
			}
		case T_RenameStmt:
			return rangevar_is_temp(((RenameStmt *) parsetree)->relation, false);
		case T_CreateTrigStmt:
			return rangevar_is_temp(((CreateTrigStmt *) parsetree)->relation, false);
		case T_GrantStmt:
			{
				/* pgTAP and friends GRANT on their temporary tables */
				GrantStmt  *stmt = (GrantStmt *) parsetree;
				ListCell   *lc;

				if (stmt->targtype != ACL_TARGET_OBJECT ||
					(stmt->objtype != OBJECT_TABLE && stmt->objtype != OBJECT_SEQUENCE))
					return false;
				foreach(lc, stmt->objects)
					if (!rangevar_is_temp(lfirst_node(RangeVar, lc), false))
					return false;
				return stmt->objects != NIL;
			}
		case T_CreateFunctionStmt:
			{
				/* functions live in pg_temp only when named so explicitly */
				List	   *name = ((CreateFunctionStmt *) parsetree)->funcname;

				return list_length(name) == 2 &&
					strncmp(strVal(linitial(name)), "pg_temp", 7) == 0;
			}
		case T_DropStmt:
			{
				DropStmt   *stmt = (DropStmt *) parsetree;
				ListCell   *lc;

				switch (stmt->removeType)
				{
					case OBJECT_TABLE:
					case OBJECT_INDEX:
					case OBJECT_SEQUENCE:
					case OBJECT_VIEW:
					case OBJECT_MATVIEW:
						break;
					default:
						return false;
				}
				foreach(lc, stmt->objects)
				{
					RangeVar   *rv = makeRangeVarFromNameList((List *) lfirst(lc));

					if (!rangevar_is_temp(rv, stmt->missing_ok))
						return false;
				}
				return stmt->objects != NIL;
			}
		default:
			return false;
	}
}
