/*-------------------------------------------------------------------------
 *
 * review.c
 *		Executed review (plan(execute => true), verify()): a revision's
 *		scripts run as its author, in subtransactions that are always
 *		rolled back, never queueing behind production.
 *
 * As the author: each script runs as the role that registered the
 * revision (schemamig.revision.registered_role, an OID).  The caller must
 * be that role, a member of it, or a superuser; a dropped author is a
 * refusal.  The user id change is SECURITY_LOCAL_USERID_CHANGE, so a
 * script cannot SET ROLE back to the reviewer; an error inside restores
 * the caller's id with the subtransaction that catches it.
 *
 * Never queueing: the scripts run with lock_timeout =
 * schemamig.review_lock_timeout.  Before each statement the locks it is
 * predicted to take (plan_predict.c) are tried without waiting; for one
 * that is not free, the sessions holding a conflicting lock are noted
 * while they still hold it, so the lock timeout's error names them.
 *
 * Statements PostgreSQL runs only at top level (CREATE INDEX CONCURRENTLY,
 * ...) cannot run from a function.  Executed review runs their
 * transactional equivalent instead (migrate.c: the same parse tree with
 * CONCURRENTLY off), after checking the statement as written for what
 * only its top-level form refuses (DROP INDEX CONCURRENTLY of several
 * indexes, ...), so a script that cannot run is not reported as working.
 *
 * Subtransactions follow PL/Python's handling: save CurrentMemoryContext
 * and CurrentResourceOwner, restore both after commit or rollback, copy
 * the error before rolling back.
 *
 * plan() is review_plan.c, verify() review_verify.c.
 *
 * IDENTIFICATION
 *		src/review.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "storage/lmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/lsyscache.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "review_int.h"

/* Read by ddl_log.c's table_rewrite event trigger (review_plan.c) */
bool		schemamig_plan_active = false;

int			schemamig_review_last_sqlerrcode = 0;

/* Who holds the locks the statement about to run would wait for */
static char *review_blockers = NULL;

static void check_as_written(SchemamigStatement *st);


/*
 * Run fn(arg) in an internal subtransaction.  On success the subtransaction
 * is committed into its parent when keep, rolled back otherwise.  On error
 * it is rolled back; then the error is re-thrown, or, when catch_error, its
 * message is returned (allocated in the caller's memory context) with
 * false.
 */
bool
schemamig_review_subxact(void (*fn) (void *arg), void *arg, bool keep,
						 bool catch_error, char **message)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	ErrorData  *volatile edata = NULL;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();

	if (edata == NULL && keep)
		ReleaseCurrentSubTransaction();
	else
		RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;

	if (edata == NULL)
		return true;
	if (edata->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE && review_blockers != NULL &&
		strstr(edata->message, "blocked by") == NULL)
	{
		edata->message = psprintf("%s: blocked by %s", edata->message, review_blockers);
		edata->hint = pstrdup("Executed review waits at most schemamig.review_lock_timeout; "
							  "run it when those sessions are done, or use plan() without execute.");
	}
	schemamig_review_last_sqlerrcode = edata->sqlerrcode;
	if (!catch_error)
		ReThrowError(edata);
	if (message)
		*message = edata->message;
	return false;
}

void
schemamig_review_check_can(const char *fname)
{
	schemamig_check_can_migrate(fname);
	if (schemamig_plan_active)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot be called from inside plan()", fname)));
}

/* ---- executed review: as the author, never queueing ---- */


/*
 * lock_timeout = schemamig.review_lock_timeout for executed review, in a
 * new GUC nest level ended by AtEOXact_GUC(true, level).
 */
int
schemamig_review_set_lock_timeout(void)
{
	int			nestlevel = NewGUCNestLevel();
	char		timeout[32];

	snprintf(timeout, sizeof(timeout), "%d", schemamig_review_lock_timeout);
	(void) set_config_option("lock_timeout", timeout, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/*
 * Statements that must run at top level are reviewed through their
 * transactional equivalent (migrate.c), which accepts some forms PostgreSQL
 * refuses as written.  Refuse those here with PostgreSQL's own message, so
 * a script that cannot run is not reported as working.
 */
static void
check_as_written(SchemamigStatement *st)
{
	Node	   *tree = st->parsetree;

	if (!st->needs_top_level)
		return;
	if (IsA(tree, DropStmt) && ((DropStmt *) tree)->concurrent)
	{
		DropStmt   *drop = (DropStmt *) tree;

		if (list_length(drop->objects) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("DROP INDEX CONCURRENTLY does not support dropping multiple objects")));
		if (drop->behavior == DROP_CASCADE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("DROP INDEX CONCURRENTLY does not support CASCADE")));
	}
	else if (IsA(tree, IndexStmt) && ((IndexStmt *) tree)->concurrent)
	{
		Oid			relid = RangeVarGetRelid(((IndexStmt *) tree)->relation, NoLock, true);

		if (OidIsValid(relid) && get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot create index on partitioned table \"%s\" concurrently",
							get_rel_name(relid))));
	}
	else if (IsA(tree, AlterTableStmt))
	{
		AlterTableStmt *stmt = (AlterTableStmt *) tree;
		ListCell   *lc;

		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);
			Oid			relid;

			if (cmd->subtype != AT_DetachPartition ||
				!((PartitionCmd *) cmd->def)->concurrent)
				continue;
			if (list_length(stmt->cmds) > 1)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("ALTER TABLE ... DETACH CONCURRENTLY cannot be combined with other subcommands")));
			relid = RangeVarGetRelid(stmt->relation, NoLock, true);
			if (OidIsValid(relid) && get_rel_relkind(relid) == RELKIND_PARTITIONED_TABLE &&
				OidIsValid(get_default_partition_oid(relid)))
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("cannot detach partitions concurrently when a default partition exists")));
		}
	}
}

/*
 * Before a statement of executed review runs: try each lock it is
 * predicted to take without waiting; for one that is not free, note the
 * other sessions holding a conflicting lock on it.  The note is taken while
 * they still hold it, before lock_timeout cancels the statement, so the
 * error can name them.  A lock that is free is released again at once.
 */
static void
review_precheck(SchemamigStatement *st)
{
	ListCell   *lc;
	StringInfoData buf;

	review_blockers = NULL;
	if (st == NULL)
		return;
	check_as_written(st);
	initStringInfo(&buf);
	foreach(lc, schemamig_plan_predict_locks(st->parsetree))
	{
		SchemamigLock *l = (SchemamigLock *) lfirst(lc);
		Oid			types[1] = {OIDOID};
		Datum		values[1];
		int			ret;

		if (!OidIsValid(l->relid))
			continue;
		/* a probe only: the statement takes its locks itself */
		if (ConditionalLockRelationOid(l->relid, l->level))
		{
			UnlockRelationOid(l->relid, l->level);
			continue;
		}
		values[0] = ObjectIdGetDatum(l->relid);
		ret = SPI_execute_with_args("SELECT pid, mode FROM pg_catalog.pg_locks "
									"WHERE relation OPERATOR(pg_catalog.=) $1 AND granted "
									"AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid() "
									"ORDER BY pid",
									1, types, values, NULL, true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read pg_locks: %s", SPI_result_code_string(ret));
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			bool		isnull;
			int			pid = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 1, &isnull));
			char	   *mode = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2);

			appendStringInfo(&buf, "%spid %d holds %s on %s", buf.len ? "; " : "",
							 pid, mode, l->relation);
		}
	}
	if (buf.len > 0)
		review_blockers = MemoryContextStrdup(TopTransactionContext, buf.data);
}

typedef struct AuthorRun
{
	List	   *statements;
	void		(*after) (SchemamigStatement *st, TimestampTz started, void *arg);
	void	   *arg;
}			AuthorRun;

/* After statement n: report it, then check statement n + 1 */
static void
author_after_statement(SchemamigStatement *st, TimestampTz started, void *arg)
{
	AuthorRun  *run = (AuthorRun *) arg;

	if (run->after)
		run->after(st, started, run->arg);
	review_precheck(st->statement_no < list_length(run->statements) ?
					list_nth(run->statements, st->statement_no) : NULL);
}

/*
 * Run one script of a revision as the role that registered it: the caller
 * must be that role, a member of it, or a superuser; a dropped author is a
 * refusal.  The user id change is SECURITY_LOCAL_USERID_CHANGE, so the
 * script cannot SET ROLE back to the caller; an error inside restores the
 * caller's id with the subtransaction that catches it.
 */
static Oid
review_author(const char *revision)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int			ret;
	bool		isnull;
	Oid			author;
	char	   *author_name;
	MemoryContext cxt = CurrentMemoryContext;

	values[0] = CStringGetTextDatum(revision);
	if (get_attnum(get_relname_relid("revision", schemamig_schema_oid()),
				   "registered_role") == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("executed review needs schemamig 0.2.0's objects"),
				 errhint("Run ALTER EXTENSION schemamig UPDATE.")));
	ret = schemamig_owner_execute("SELECT registered_role, registered_by::text "
								  "FROM schemamig.revision WHERE revision OPERATOR(pg_catalog.=) $1",
								  1, types, values, NULL, false, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the author of revision \"%s\"", revision);
	author = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
		author = InvalidOid;
	author_name = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	MemoryContextSwitchTo(cxt);
	if (!OidIsValid(author) || !SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(author)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the role that registered revision \"%s\" no longer exists", revision),
				 errdetail("Revision \"%s\" was registered by role \"%s\" (OID %u).",
						   revision, author_name ? author_name : "?", author),
				 errhint("Executed review runs a revision's scripts with its author's rights; register the revision again as the role that should own it.")));
	if (!has_privs_of_role(GetUserId(), author))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to review revision \"%s\"", revision),
				 errdetail("Executed review runs the scripts as their author, role \"%s\"; the caller must be that role, a member of it, or a superuser.",
						   GetUserNameFromId(author, false)),
				 errhint("Use plan() without execute: it runs nothing.")));
	return author;
}

/* Every revision of the list may be reviewed by the caller, or an error */
void
schemamig_review_check_authors(SchemamigGraph *graph, List *pending)
{
	ListCell   *lc;

	foreach(lc, pending)
		(void) review_author(graph->nodes[lfirst_int(lc)].revision);
}

void
schemamig_review_run_as_author(const char *revision, SchemamigDirection direction,
							   void (*after) (SchemamigStatement *st, TimestampTz started, void *arg),
							   void *arg)
{
	Oid			author = review_author(revision);
	Oid			save_userid;
	int			save_sec_context;
	AuthorRun	run;
	MemoryContext cxt = CurrentMemoryContext;

	run.statements = schemamig_script_parse(schemamig_fetch_script(revision, direction),
											revision, direction == DIRECTION_UPGRADE ?
											"upgrade" : "downgrade");
	MemoryContextSwitchTo(cxt);
	run.after = after;
	run.arg = arg;
	review_precheck(run.statements != NIL ? linitial(run.statements) : NULL);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(author, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	(void) schemamig_run_script(revision, direction, true, author_after_statement, &run);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	review_blockers = NULL;
}
