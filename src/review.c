/*-------------------------------------------------------------------------
 *
 * review.c
 *		plan() and verify(): migrations reviewed by the database itself,
 *		by running them in subtransactions that are always rolled back.
 *
 * plan(target) runs the revisions upgrade(target) would apply, statement
 * by statement exactly as upgrade() does (migrate.c's
 * schemamig_run_script, in a migration context, with schemamig.lock_timeout),
 * inside one internal subtransaction that is rolled back at the end, on
 * success and on error alike.  Schema changes, DDL log rows written by the
 * event triggers, everything goes with it; plan() never marks a revision
 * applied nor writes the journal.  Later revisions see the schema of the
 * earlier ones because they run in the same subtransaction.
 *
 * Locks are found by difference: after each statement, the relation locks
 * this backend holds (pg_locks, granted, pid = our own) are compared with a
 * running set of the (relation, mode) pairs held before it.  Relation locks
 * are kept until the end of the (sub)transaction, so what is new is what
 * the statement took.  Limits of the approach: a pair already held by an
 * earlier statement of the plan (or by the caller's transaction) is not
 * reported again, which is also what a real upgrade() in one transaction
 * would acquire; locks taken and released inside the statement (PostgreSQL
 * does that for some catalog accesses only) are not seen; catalogs, TOAST
 * tables and schemamig's own tables are left out, and so are relations
 * the statement created (nobody else can see them yet, so their locks
 * block no one).  Relations are named from a cache of user relation names
 * refreshed after every statement, which also names a relation the
 * statement dropped (it has no pg_class row any more) and tells which
 * relations are new.  Rewrites come
 * from the table_rewrite event trigger (ddl_log.c), which reports the
 * rewritten table's OID here while plan() is active.
 *
 * Statements PostgreSQL runs only at top level (CREATE INDEX CONCURRENTLY,
 * ...) cannot run from a function.  plan() and verify() run their
 * transactional equivalent instead (migrate.c: the same parse tree with
 * CONCURRENTLY off): the same schema results, and plan() shows the locks
 * the plain form takes (SHARE for CREATE INDEX, where the concurrent build
 * takes SHARE UPDATE EXCLUSIVE and lets writes through).
 *
 * verify(revision) takes each pending revision in upgrade order, or the
 * named one after applying its pending ancestors, and in a subtransaction
 * that is rolled back: fingerprints the schema (fingerprint.c), upgrades,
 * downgrades, fingerprints again and compares, upgrades again.  Each step
 * runs in a nested subtransaction of its own so that its error is reported
 * in the row instead of ending the call.  Then the revision is applied
 * once more, in the outer subtransaction, so the next one sees its
 * ancestors; the outer subtransaction is rolled back at the end.
 *
 * Memory: everything that must outlive a subtransaction (result rows,
 * error messages) is allocated in the function's calling context, and the
 * rows go into the result tuplestore only after the last rollback, so a
 * tuplestore spilling to a temporary file never does so under a resource
 * owner that is about to be released.  The subtransaction handling follows
 * PL/Python's: save CurrentMemoryContext and CurrentResourceOwner, restore
 * both after commit or rollback, copy the error before rolling back.
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

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_plan);
PG_FUNCTION_INFO_V1(schemamig_verify);

#define PLAN_COLUMNS SCHEMAMIG_PLAN_COLUMNS
#define VERIFY_COLUMNS 6
#define MAX_DIFFERENCES 20

/* Read by ddl_log.c's table_rewrite event trigger */
bool		schemamig_plan_active = false;
List	   *schemamig_plan_rewrites = NIL;
static MemoryContext plan_rewrite_cxt = NULL;

/* SQLSTATE of the last error run_in_subxact() caught */
static int	last_caught_sqlerrcode = 0;

/* Who holds the locks the statement about to run would wait for */
static char *review_blockers = NULL;

/* PostgreSQL's table lock modes, weakest first */
static const char *const lock_modes[] = {
	"AccessShareLock", "RowShareLock", "RowExclusiveLock",
	"ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock",
	"ExclusiveLock", "AccessExclusiveLock"
};

typedef struct HeldLock
{
	Oid			relid;
	int			level;			/* index into lock_modes */
} HeldLock;

typedef struct RelName
{
	Oid			relid;
	char	   *name;			/* schema-qualified, quoted as needed */
} RelName;

typedef struct PlanRun
{
	MemoryContext resultcxt;	/* outlives the subtransaction */
	List	   *rows;			/* Datum[PLAN_COLUMNS], in resultcxt */
	HTAB	   *held;			/* HeldLock: pairs held so far */
	List	   *taken;			/* SchemamigLock taken by earlier statements */
	HTAB	   *names;			/* RelName: user relations by OID */
	const char *revision;
	SchemamigGraph *graph;
	List	   *pending;
	const char *target;
} PlanRun;

typedef struct VerifyOne
{
	SchemamigNode *node;
	Datum	   *values;			/* the row, in resultcxt */
	bool	   *nulls;
	MemoryContext resultcxt;
} VerifyOne;

typedef struct VerifyStep
{
	const char *revision;
	SchemamigDirection direction;
} VerifyStep;

static bool run_in_subxact(void (*fn) (void *arg), void *arg, bool keep,
						   bool catch_error, char **message);
static void check_can_review(const char *fname);
static int	lock_level(const char *mode);
static void check_as_written(SchemamigStatement *st);
static Datum plan_predicted(FunctionCallInfo fcinfo);
static void plan_body(void *arg);
static void plan_refresh_names(PlanRun *state);
static void plan_after_statement(SchemamigStatement *st, TimestampTz started,
								 void *arg);
static void verify_step(void *arg);
static int	compare_objects(const ListCell *a, const ListCell *b);
static char *schema_differences(List *before, List *after);
static void verify_one(void *arg);
static void verify_body(void *arg);

/*
 * Run fn(arg) in an internal subtransaction.  On success the subtransaction
 * is committed into its parent when keep, rolled back otherwise.  On error
 * it is rolled back; then the error is re-thrown, or, when catch_error, its
 * message is returned (allocated in the caller's memory context) with
 * false.
 */
static bool
run_in_subxact(void (*fn) (void *arg), void *arg, bool keep,
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
	last_caught_sqlerrcode = edata->sqlerrcode;
	if (!catch_error)
		ReThrowError(edata);
	if (message)
		*message = edata->message;
	return false;
}

static void
check_can_review(const char *fname)
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
static int
set_review_lock_timeout(void)
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
static void
check_authors(SchemamigGraph *graph, List *pending)
{
	ListCell   *lc;

	foreach(lc, pending)
		(void) review_author(graph->nodes[lfirst_int(lc)].revision);
}

static void
run_as_author(const char *revision, SchemamigDirection direction,
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

static int
lock_level(const char *mode)
{
	for (int i = 0; i < lengthof(lock_modes); i++)
		if (strcmp(lock_modes[i], mode) == 0)
			return i;
	return -1;
}

/* ---- plan() ---- */

/* Called by the table_rewrite event trigger while plan() runs */
void
schemamig_plan_note_rewrite(Oid relid)
{
	MemoryContext oldcxt;

	if (!schemamig_plan_active || plan_rewrite_cxt == NULL)
		return;
	oldcxt = MemoryContextSwitchTo(plan_rewrite_cxt);
	schemamig_plan_rewrites = list_append_unique_oid(schemamig_plan_rewrites, relid);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * plan(target, execute => false): predicted from the parse trees and the
 * catalogs (plan_predict.c).  Takes no lock a session could wait for, not
 * even schemamig's history lock: it reads the graph as committed now.
 */
static Datum
plan_predicted(FunctionCallInfo fcinfo)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext resultcxt;
	SchemamigGraph *graph;
	List	   *pending;
	List	   *rows;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	resultcxt = CurrentMemoryContext;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	graph = schemamig_graph_load();
	pending = schemamig_graph_pending(graph, text_to_cstring(PG_GETARG_TEXT_PP(0)));
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(resultcxt);

		rows = schemamig_plan_predict(graph, pending);
		MemoryContextSwitchTo(oldcxt);
	}
	SPI_finish();
	foreach(lc, rows)
	{
		bool		nulls[PLAN_COLUMNS];
		Datum	   *values = (Datum *) lfirst(lc);

		for (int i = 0; i < PLAN_COLUMNS; i++)
			nulls[i] = (values[i] == (Datum) 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * plan(target text DEFAULT 'heads', execute boolean DEFAULT false)
 *		RETURNS TABLE(revision, statement_no, statement, locks, strongest_lock,
 *					  rewrites, duration)
 */
Datum
schemamig_plan(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	PlanRun		state;
	HASHCTL		hctl;
	ListCell   *lc;
	int			save_nestlevel;

	/* 0.1.0's plan(target) has no execute argument and executed */
	if (PG_NARGS() < 2 || PG_GETARG_BOOL(1))
		check_can_review("plan()");
	else
	{
		if (schemamig_plan_active)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("plan() cannot be called from inside plan()")));
		return plan_predicted(fcinfo);
	}
	InitMaterializedSRF(fcinfo, 0);
	memset(&state, 0, sizeof(state));
	state.resultcxt = CurrentMemoryContext;
	state.target = text_to_cstring(PG_GETARG_TEXT_PP(0));
	schemamig_check_target(state.target);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_lock_history();
	state.graph = schemamig_graph_load();
	state.pending = schemamig_graph_pending(state.graph, state.target);
	check_authors(state.graph, state.pending);

	memset(&hctl, 0, sizeof(hctl));
	hctl.keysize = sizeof(HeldLock);
	hctl.entrysize = sizeof(HeldLock);
	hctl.hcxt = CurrentMemoryContext;
	state.held = hash_create("schemamig plan locks", 64, &hctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	hctl.keysize = sizeof(Oid);
	hctl.entrysize = sizeof(RelName);
	state.names = hash_create("schemamig plan names", 256, &hctl,
							  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);

	save_nestlevel = set_review_lock_timeout();
	plan_rewrite_cxt = CurrentMemoryContext;
	schemamig_plan_rewrites = NIL;
	schemamig_plan_active = true;
	PG_TRY();
	{
		run_in_subxact(plan_body, &state, false, false, NULL);
	}
	PG_FINALLY();
	{
		schemamig_plan_active = false;
		schemamig_plan_rewrites = NIL;
		plan_rewrite_cxt = NULL;
	}
	PG_END_TRY();
	AtEOXact_GUC(true, save_nestlevel);
	SPI_finish();

	foreach(lc, state.rows)
	{
		bool		nulls[PLAN_COLUMNS];
		Datum	   *values = (Datum *) lfirst(lc);

		for (int i = 0; i < PLAN_COLUMNS; i++)
			nulls[i] = (values[i] == (Datum) 0);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* Inside the subtransaction: run every pending revision's upgrade */
static void
plan_body(void *arg)
{
	PlanRun    *state = (PlanRun *) arg;
	ListCell   *lc;

	/* what the caller's transaction holds already is not the plan's */
	plan_after_statement(NULL, 0, state);

	foreach(lc, state->pending)
	{
		SchemamigNode *node = &state->graph->nodes[lfirst_int(lc)];

		state->revision = node->revision;
		run_as_author(node->revision, DIRECTION_UPGRADE, plan_after_statement, state);
	}
}

/*
 * Relation names of every user relation, for relations dropped later.  Not
 * read-only: a read-only query would use the snapshot of plan()'s caller
 * and miss the relations the plan's statements created.
 */
static void
plan_refresh_names(PlanRun *state)
{
	int			ret;

	ret = SPI_execute("SELECT c.oid, n.nspname, c.relname "
					  "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
					  "ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
					  "WHERE n.nspname OPERATOR(pg_catalog.<>) ALL "
					  "('{pg_catalog,information_schema,schemamig}'::pg_catalog.name[]) "
					  "AND n.nspname OPERATOR(pg_catalog.!~~) 'pg\\_toast%'",
					  false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_class: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			relid = DatumGetObjectId(SPI_getbinval(tup, desc, 1, &isnull));
		RelName    *entry;
		bool		found;
		MemoryContext oldcxt;

		entry = hash_search(state->names, &relid, HASH_ENTER, &found);
		if (found)
			continue;
		oldcxt = MemoryContextSwitchTo(state->resultcxt);
		entry->name = psprintf("%s.%s",
							   quote_identifier(SPI_getvalue(tup, desc, 2)),
							   quote_identifier(SPI_getvalue(tup, desc, 3)));
		MemoryContextSwitchTo(oldcxt);
	}
}

/*
 * After each statement (st == NULL: before the first one): the relation
 * locks held now that were not held before, and the tables rewritten.
 * A lock is reported when no lock held since an earlier statement (or
 * taken by this one) on the same relation already conflicts with
 * everything it conflicts with: such a lock is granted without waiting.
 * Locks on relations this statement created are not reported but count
 * as held for the statements after it.
 */
static void
plan_after_statement(SchemamigStatement *st, TimestampTz started, void *arg)
{
	PlanRun    *state = (PlanRun *) arg;
	List	   *new_pairs = NIL;
	List	   *new_locks = NIL;
	List	   *created_locks = NIL;
	List	   *lock_strings = NIL;
	List	   *rewrites = NIL;
	SchemamigLock *strongest = NULL;
	ListCell   *lc;
	int			ret;
	MemoryContext oldcxt;
	Datum	   *values;
	Interval   *duration;

	ret = SPI_execute("SELECT relation, mode FROM pg_catalog.pg_locks "
					  "WHERE pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid() "
					  "AND locktype OPERATOR(pg_catalog.=) 'relation' AND granted "
					  "AND database OPERATOR(pg_catalog.=) "
					  "(SELECT oid FROM pg_catalog.pg_database "
					  "WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())",
					  true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_locks: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		HeldLock	key;
		HeldLock   *pair;
		bool		found;

		key.relid = DatumGetObjectId(SPI_getbinval(tup, SPI_tuptable->tupdesc, 1, &isnull));
		key.level = lock_level(SPI_getvalue(tup, SPI_tuptable->tupdesc, 2));
		if (isnull || key.level < 0)
			continue;
		(void) hash_search(state->held, &key, HASH_ENTER, &found);
		if (found || st == NULL)
			continue;
		pair = palloc(sizeof(HeldLock));
		*pair = key;
		/* known before the statement: not created by it */
		if (hash_search(state->names, &key.relid, HASH_FIND, NULL) == NULL)
			pair->level = -1 - pair->level;
		new_pairs = lappend(new_pairs, pair);
	}
	plan_refresh_names(state);
	if (st == NULL)
		return;

	oldcxt = MemoryContextSwitchTo(state->resultcxt);
	foreach(lc, new_pairs)
	{
		HeldLock   *pair = (HeldLock *) lfirst(lc);
		bool		created = pair->level < 0;
		RelName    *name = hash_search(state->names, &pair->relid, HASH_FIND, NULL);
		SchemamigLock *l;

		/* not a user relation: blocks no one */
		if (name == NULL)
			continue;
		l = palloc(sizeof(SchemamigLock));
		l->relation = name->name;
		l->level = (created ? -1 - pair->level : pair->level) + 1;
		if (created)
			created_locks = lappend(created_locks, l);
		else
			new_locks = lappend(new_locks, l);
	}
	new_locks = schemamig_plan_uncovered(new_locks, state->taken);
	foreach(lc, new_locks)
	{
		SchemamigLock *l = (SchemamigLock *) lfirst(lc);

		lock_strings = lappend(lock_strings,
							   psprintf("%s: %s", l->relation, lock_modes[l->level - 1]));
		if (strongest == NULL || l->level > strongest->level)
			strongest = l;
	}
	foreach(lc, schemamig_plan_rewrites)
	{
		RelName    *name = hash_search(state->names, &lfirst_oid(lc), HASH_FIND, NULL);

		if (name != NULL)
			rewrites = list_append_unique_ptr(rewrites, name->name);
	}
	schemamig_plan_rewrites = NIL;

	duration = palloc0(sizeof(Interval));
	duration->time = GetCurrentTimestamp() - started;
	values = palloc0(sizeof(Datum) * PLAN_COLUMNS);
	values[0] = CStringGetTextDatum(state->revision);
	values[1] = Int32GetDatum(st->statement_no);
	values[2] = CStringGetTextDatum(st->text);
	values[3] = schemamig_text_array(lock_strings);
	values[4] = strongest ? CStringGetTextDatum(psprintf("%s: %s", strongest->relation,
														 lock_modes[strongest->level - 1])) : (Datum) 0;
	values[5] = schemamig_text_array(rewrites);
	values[6] = IntervalPGetDatum(duration);
	values[7] = schemamig_text_array(schemamig_held_lock_strings(state->taken));
	state->taken = list_concat(state->taken, new_locks);
	state->taken = list_concat(state->taken, created_locks);
	state->rows = lappend(state->rows, values);
	MemoryContextSwitchTo(oldcxt);
}

/* ---- verify() ---- */

typedef struct VerifyState
{
	MemoryContext resultcxt;
	List	   *rows;			/* rows and the list, in resultcxt */
	SchemamigGraph *graph;
	List	   *pending;
	bool		named;			/* verify one revision, after its ancestors */
} VerifyState;

static void
verify_step(void *arg)
{
	VerifyStep *step = (VerifyStep *) arg;

	run_as_author(step->revision, step->direction, NULL, NULL);
}

static int
compare_objects(const ListCell *a, const ListCell *b)
{
	return schemamig_fingerprint_order(lfirst(a), lfirst(b));
}

/* The differences of schema_differences(), in fingerprint order */
typedef struct Differences
{
	List	   *kinds;
	List	   *objects;
} Differences;

static void
note_difference(SchemamigDiffKind kind, SchemamigObjectHash *before,
				SchemamigObjectHash *after, void *arg)
{
	Differences *d = (Differences *) arg;

	d->kinds = lappend(d->kinds, kind == DIFF_REMOVED ? "does not restore" :
					   kind == DIFF_ADDED ? "leaves" : "changes");
	d->objects = lappend(d->objects, after ? after : before);
}

/*
 * The objects that differ between two fingerprints, in words; NULL when
 * none does.  An object left behind or missing hides the objects that
 * belong to it (identity "public.t" hides "public.t.a"), so a forgotten
 * table is one finding, not one per column.
 */
static char *
schema_differences(List *before, List *after)
{
	Differences diff = {NIL, NIL};
	List	   *kinds;
	List	   *objects;
	ListCell   *lk;
	ListCell   *lo;
	StringInfoData buf;
	int			shown = 0;
	int			total = 0;

	before = list_copy(before);
	after = list_copy(after);
	list_sort(before, compare_objects);
	list_sort(after, compare_objects);
	schemamig_fingerprint_diff(before, after, note_difference, &diff);
	kinds = diff.kinds;
	objects = diff.objects;

	initStringInfo(&buf);
	forboth(lk, kinds, lo, objects)
	{
		const char *kind = (const char *) lfirst(lk);
		SchemamigObjectHash *obj = (SchemamigObjectHash *) lfirst(lo);
		bool		hidden = false;
		ListCell   *lk2;
		ListCell   *lo2;

		forboth(lk2, kinds, lo2, objects)
		{
			SchemamigObjectHash *owner = (SchemamigObjectHash *) lfirst(lo2);
			size_t		len = strlen(owner->identity);

			if (strcmp((const char *) lfirst(lk2), "changes") != 0 &&
				strncmp(obj->identity, owner->identity, len) == 0 &&
				obj->identity[len] == '.')
			{
				hidden = true;
				break;
			}
		}
		if (hidden)
			continue;
		total++;
		if (shown++ < MAX_DIFFERENCES)
			appendStringInfo(&buf, "%sdowngrade %s %s %s", buf.len ? "; " : "",
							 kind, obj->type, obj->identity);
	}
	if (total > MAX_DIFFERENCES)
		appendStringInfo(&buf, "; and %d more", total - MAX_DIFFERENCES);
	return total > 0 ? buf.data : NULL;
}

/*
 * Upgrade, downgrade, compare, upgrade again: one row.  Runs inside a
 * subtransaction the caller rolls back; each step in one of its own.
 */
static void
verify_one(void *arg)
{
	VerifyOne  *one = (VerifyOne *) arg;
	SchemamigNode *node = one->node;
	Datum	   *values = one->values;
	bool	   *nulls = one->nulls;
	VerifyStep	step;
	List	   *before;
	List	   *after;
	char	   *message = NULL;
	char	   *detail = NULL;
	bool		ok;

	step.revision = node->revision;
	before = schemamig_fingerprint_objects();

	step.direction = DIRECTION_UPGRADE;
	ok = run_in_subxact(verify_step, &step, true, true, &message);
	if (!ok && last_caught_sqlerrcode == ERRCODE_UNSAFE_NEW_ENUM_VALUE_USAGE)
		detail = psprintf("inconclusive: upgrade uses an enum value added in the same transaction (%s); "
						  "PostgreSQL allows that only after the value is committed, which verify() "
						  "cannot do (upgrade_each() applies one revision per transaction)", message);
	else if (!ok)
	{
		values[1] = BoolGetDatum(false);
		nulls[1] = false;
		detail = message;
	}
	else if (node->irreversible)
	{
		values[1] = BoolGetDatum(true);
		nulls[1] = false;
		detail = "irreversible";
	}
	else
	{
		values[1] = BoolGetDatum(true);
		nulls[1] = false;
		step.direction = DIRECTION_DOWNGRADE;
		ok = run_in_subxact(verify_step, &step, true, true, &message);
		if (!ok && last_caught_sqlerrcode == ERRCODE_UNSAFE_NEW_ENUM_VALUE_USAGE)
			detail = psprintf("inconclusive: downgrade uses an enum value added in the same "
							  "transaction (%s); PostgreSQL allows that only after the value "
							  "is committed", message);
		else if (!ok)
		{
			values[2] = BoolGetDatum(false);
			nulls[2] = false;
			detail = psprintf("downgrade failed: %s", message);
		}
		else
		{
			values[2] = BoolGetDatum(true);
			nulls[2] = false;
			after = schemamig_fingerprint_objects();
			detail = schema_differences(before, after);
			values[3] = BoolGetDatum(detail == NULL);
			nulls[3] = false;

			step.direction = DIRECTION_UPGRADE;
			ok = run_in_subxact(verify_step, &step, true, true, &message);
			if (!ok && last_caught_sqlerrcode == ERRCODE_UNSAFE_NEW_ENUM_VALUE_USAGE)
			{
				/* the check is sound, the reapply is what cannot be judged */
				detail = psprintf("%s%sinconclusive: upgrade after downgrade uses an enum value "
								  "added in the same transaction (%s)",
								  detail ? detail : "", detail ? "; " : "", message);
			}
			else
			{
				values[4] = BoolGetDatum(ok);
				nulls[4] = false;
				if (!ok)
					detail = psprintf("%s%supgrade after downgrade failed: %s",
									  detail ? detail : "", detail ? "; " : "", message);
			}
		}
	}
	if (detail != NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(one->resultcxt);

		values[5] = CStringGetTextDatum(detail);
		nulls[5] = false;
		MemoryContextSwitchTo(oldcxt);
	}
}

/* Inside the outer subtransaction: every row, pending revisions applied */
static void
verify_body(void *arg)
{
	VerifyState *state = (VerifyState *) arg;
	SchemamigGraph *graph = state->graph;
	bool	   *blocked = palloc0(sizeof(bool) * Max(graph->nnodes, 1));
	bool	   *inconclusive = palloc0(sizeof(bool) * Max(graph->nnodes, 1));
	ListCell   *lc;

	foreach(lc, state->pending)
	{
		int			i = lfirst_int(lc);
		SchemamigNode *node = &graph->nodes[i];
		Datum	   *values;
		bool	   *nulls;
		const char *skip = NULL;
		VerifyStep	step;
		VerifyOne	one;
		MemoryContext oldcxt;

		/* named revision: its pending ancestors are applied, not verified */
		if (state->named && lnext(state->pending, lc) != NULL)
		{
			run_as_author(node->revision, DIRECTION_UPGRADE, NULL, NULL);
			continue;
		}

		for (int p = 0; p < node->nparents && skip == NULL; p++)
			if (blocked[node->parents[p]])
				skip = psprintf("%s: parent revision \"%s\" could not be applied",
								inconclusive[node->parents[p]] ? "inconclusive" : "not verified",
								graph->nodes[node->parents[p]].revision);

		/* the row: Datum[VERIFY_COLUMNS] then bool[VERIFY_COLUMNS] */
		oldcxt = MemoryContextSwitchTo(state->resultcxt);
		values = palloc0(sizeof(Datum) * VERIFY_COLUMNS + sizeof(bool) * VERIFY_COLUMNS);
		nulls = (bool *) (values + VERIFY_COLUMNS);
		memset(nulls, true, sizeof(bool) * VERIFY_COLUMNS);
		values[0] = CStringGetTextDatum(node->revision);
		nulls[0] = false;
		if (skip != NULL)
		{
			values[5] = CStringGetTextDatum(skip);
			nulls[5] = false;
		}
		state->rows = lappend(state->rows, values);
		MemoryContextSwitchTo(oldcxt);
		if (skip != NULL)
		{
			blocked[i] = true;
			inconclusive[i] = strncmp(skip, "inconclusive", 12) == 0;
			continue;
		}

		/* the checks, rolled back; then the revision applied for real */
		one.node = node;
		one.values = values;
		one.nulls = nulls;
		one.resultcxt = state->resultcxt;
		(void) run_in_subxact(verify_one, &one, false, false, NULL);

		step.revision = node->revision;
		step.direction = DIRECTION_UPGRADE;
		if (nulls[1] || !DatumGetBool(values[1]) ||
			!run_in_subxact(verify_step, &step, true, true, NULL))
		{
			blocked[i] = true;
			inconclusive[i] = nulls[1] && !nulls[5];
		}
	}
}

/*
 * verify(revision text DEFAULT NULL)
 *		RETURNS TABLE(revision, upgrade_ok, downgrade_ok, restores_schema,
 *					  reapply_ok, detail)
 */
Datum
schemamig_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	VerifyState state;
	ListCell   *lc;
	int			save_nestlevel;

	check_can_review("verify()");
	InitMaterializedSRF(fcinfo, 0);
	memset(&state, 0, sizeof(state));
	state.resultcxt = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_lock_history();
	state.graph = schemamig_graph_load();
	if (PG_ARGISNULL(0))
		state.pending = schemamig_graph_pending(state.graph, "heads");
	else
	{
		char	   *revision = text_to_cstring(PG_GETARG_TEXT_PP(0));
		int			node = schemamig_graph_require(state.graph, revision);

		if (state.graph->nodes[node].applied)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
					 errmsg("revision \"%s\" is already applied", revision),
					 errhint("verify() checks pending revisions; downgrade it first to verify it again.")));
		state.pending = schemamig_graph_pending(state.graph, revision);
		state.named = true;
	}

	check_authors(state.graph, state.pending);
	save_nestlevel = set_review_lock_timeout();
	run_in_subxact(verify_body, &state, false, false, NULL);
	AtEOXact_GUC(true, save_nestlevel);
	SPI_finish();

	foreach(lc, state.rows)
	{
		Datum	   *values = (Datum *) lfirst(lc);

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values,
							 (bool *) (values + VERIFY_COLUMNS));
	}
	return (Datum) 0;
}
