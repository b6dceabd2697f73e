/*-------------------------------------------------------------------------
 *
 * hooks.c
 *		The one place that installs schemamig's hooks and registers its
 *		callbacks, and the order in which each calls the modules.
 *
 * Modelled on sepgsql's hooks.c: every module exposes plain functions and
 * this file decides when they run.  The runtime below it (context.c,
 * statement_text.c, guard.c, ddl_log.c) never calls a module above it by
 * name; where it needs one (the guard asking seal.c about schemamig's own
 * objects or Alembic mode for a verdict, the log handing a provisional row
 * to Alembic, a rewrite to plan() or a command's object to seal.c), it
 * calls a function pointer it owns and this file fills at load time.
 * src/README.md draws the layers.
 *
 * Installed once per backend, from _PG_init, i.e. when the library loads:
 * at the first call of one of its functions (the guard's event trigger on
 * the first DDL statement, at the latest) or at backend start with
 * session_preload_libraries / shared_preload_libraries.
 *
 * ProcessUtility hook, for every utility statement, outermost first:
 *	1. steps.c admission: an open step refuses other DDL (SM001), skips its
 *	   statement when another session runs it, or runs it under the
 *	   migration context and records it done;
 *	2. statement_text.c capture: the statement's text and location, for the
 *	   guard's and the log's event triggers, which fire inside 4;
 *	3. seal.c: the statements no event trigger sees (EXPLAIN ANALYZE of
 *	   CREATE TABLE AS, CLUSTER ... USING, REASSIGN OWNED) are judged like
 *	   DDL before 4 runs them and logged after it;
 *	4. the previous hook (Citus, when it is loaded: it must be first in
 *	   shared_preload_libraries, so schemamig's hook wraps Citus' and sees
 *	   the statement before Citus propagates it), else
 *	   standard_ProcessUtility.
 *
 * object_access_hook: installed, chained, and filtered to what a user did
 * (is_internal events, which PostgreSQL raises for objects it creates or
 * alters on its own behalf, are ignored); seal.c refuses what would change
 * schemamig's own objects.
 *
 * Transaction callback.  PostgreSQL calls transaction callbacks in reverse
 * registration order; schemamig registers exactly one, so the order is the
 * one written here:
 *	PRE_COMMIT, PRE_PREPARE (an ERROR here aborts the transaction):
 *		1. Alembic: refuse DDL no version write attributed (SM001).
 *		   The Alembic settlement itself ran before, in a deferred trigger,
 *		   because it writes rows.  Commit-time work of this release goes
 *		   here, after this check, in this order: Alembic lint, then
 *		2. Citus: a worker's first revision takes its drift baseline
 *		   (citus.c); at PRE_COMMIT only, a coordinator transaction that
 *		   changed Citus' node list arms the key push (citus_keypush.c,
 *		   reads only);
 *		3. the ledger link (ledger_link.c: the last row of the
 *		   transaction's chain, after everything that may still write
 *		   rows).  PREPARE TRANSACTION passes PRE_PREPARE instead of
 *		   PRE_COMMIT and nothing at all at COMMIT PREPARED (which may run
 *		   in another session), so each step is done for both events and
 *		   must leave nothing for COMMIT to finish: its rows commit or roll
 *		   back with the prepared transaction.  The ledger records a
 *		   pending link at PRE_PREPARE; the backend that runs COMMIT or
 *		   ROLLBACK PREPARED links it right after the statement (end of
 *		   the ProcessUtility hook), or the next committer does.
 *	COMMIT, ABORT, PREPARE (the transaction is over; never ERROR):
 *		1. steps: release the step lock after the statement's last
 *		   transaction, or close a step whose begin_step() rolled back;
 *		2. Alembic: forget the held DDL and version writes;
 *		3. the migration context closes (unless a step's statement spans
 *		   this commit), and the log drops its frames; Citus forgets its
 *		   token state and, after a COMMIT that armed it, registers the
 *		   background worker that pushes the key (citus_keypush.c: a
 *		   WARNING, never an ERROR, when no slot is free);
 *		4. seal: a prepared uninstall ends with its transaction;
 *		5. the ledger writes the head a commit made to the server log
 *		   (LOG_SERVER_ONLY; the pending batch at PREPARE) and forgets its
 *		   batch.
 *
 * Subtransaction callback, at ABORT_SUB: Alembic takes back what the
 * subtransaction held and settled, the log drops its frames, the context
 * closes if the subtransaction opened it, and so does a prepared uninstall,
 * the ledger takes its rows out of the batch; at COMMIT_SUB the context,
 * the prepared uninstall and the ledger's saved state pass to the parent.
 *
 * Cache invalidation callbacks: the log forgets its cached OIDs, column
 * map and role names; the ledger its encoding plans; with Citus loaded
 * (only then is it registered), an invalidation of pg_dist_node flags the
 * transaction as a possible node change (citus_keypush.c).
 *
 * IDENTIFICATION
 *		src/hooks.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/objectaccess.h"
#include "tcop/utility.h"
#include "utils/inval.h"
#include "utils/syscache.h"

#include "schemamig.h"

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static object_access_hook_type prev_object_access = NULL;

static void schemamig_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
									 bool readOnlyTree, ProcessUtilityContext context,
									 ParamListInfo params, QueryEnvironment *queryEnv,
									 DestReceiver *dest, QueryCompletion *qc);
static void schemamig_object_access(ObjectAccessType access, Oid classId,
									Oid objectId, int subId, void *arg);
static void schemamig_xact_callback(XactEvent event, void *arg);
static void schemamig_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									   SubTransactionId parentSubid, void *arg);

void
schemamig_hooks_install(void)
{
	/* whether the hooks were in place before the session's first statement */
	schemamig_seal_loaded();

	/* what the runtime asks of the modules above it */
	schemamig_guard_classify_rest = schemamig_alembic_classify;
	schemamig_guard_hint_rest = schemamig_alembic_hint;
	schemamig_guard_check_own_objects = schemamig_seal_check_ddl;
	schemamig_ddl_log_callbacks.hold = schemamig_alembic_hold;
	schemamig_ddl_log_callbacks.version_table_created = schemamig_alembic_table_done;
	schemamig_ddl_log_callbacks.table_rewritten = schemamig_plan_note_rewrite;
	schemamig_ddl_log_callbacks.command_object = schemamig_seal_check_logged;

	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = schemamig_ProcessUtility;
	prev_object_access = object_access_hook;
	object_access_hook = schemamig_object_access;

	RegisterXactCallback(schemamig_xact_callback, NULL);
	RegisterSubXactCallback(schemamig_subxact_callback, NULL);

	CacheRegisterRelcacheCallback(schemamig_ddl_log_relcache_callback, (Datum) 0);
	CacheRegisterRelcacheCallback(schemamig_ledger_relcache_callback, (Datum) 0);
	/* with Citus only: zero cost without it */
	if (schemamig_citus_loaded())
		CacheRegisterRelcacheCallback(schemamig_citus_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(NAMESPACEOID, schemamig_ddl_log_syscache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, schemamig_ddl_log_syscache_callback, (Datum) 0);
}

/* ---- ProcessUtility ---- */

/* 2 to 4 of the banner: capture the statement's text, judge it, run it */
static void
run_utility(PlannedStmt *pstmt, const char *queryString,
			bool readOnlyTree, ProcessUtilityContext context,
			ParamListInfo params, QueryEnvironment *queryEnv,
			DestReceiver *dest, QueryCompletion *qc)
{
	int			depth = schemamig_statement_capture_push(pstmt, queryString);

	PG_TRY();
	{
		SchemamigSealNote note;
		bool		log = schemamig_seal_utility_start(pstmt, &note);

		if (prev_ProcessUtility)
			prev_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
		else
			standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
									params, queryEnv, dest, qc);
		if (log)
			schemamig_seal_utility_end(pstmt, &note);
	}
	PG_FINALLY();
	{
		schemamig_statement_capture_pop(depth);
	}
	PG_END_TRY();
}

static void
schemamig_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
						 bool readOnlyTree, ProcessUtilityContext context,
						 ParamListInfo params, QueryEnvironment *queryEnv,
						 DestReceiver *dest, QueryCompletion *qc)
{
	switch (schemamig_step_admit(pstmt->utilityStmt, context))
	{
		case STEP_ADMIT_PASS:
			run_utility(pstmt, queryString, readOnlyTree, context,
						params, queryEnv, dest, qc);
			break;
		case STEP_ADMIT_SKIP:
			break;
		case STEP_ADMIT_RUN:
			PG_TRY();
			{
				run_utility(pstmt, queryString, readOnlyTree, context,
							params, queryEnv, dest, qc);
				schemamig_step_statement_done(pstmt, queryString);
			}
			PG_CATCH();
			{
				schemamig_step_statement_failed();
				PG_RE_THROW();
			}
			PG_END_TRY();
			break;
	}
	/* a prepared transaction is over: link what it committed (ledger_link.c) */
	if (IsA(pstmt->utilityStmt, TransactionStmt) &&
		(((TransactionStmt *) pstmt->utilityStmt)->kind == TRANS_STMT_COMMIT_PREPARED ||
		 ((TransactionStmt *) pstmt->utilityStmt)->kind == TRANS_STMT_ROLLBACK_PREPARED))
		schemamig_ledger_resolved();
}

/* ---- object access ---- */

/* PostgreSQL acting on its own behalf (a table's row type, a toast table) */
static bool
object_access_is_internal(ObjectAccessType access, void *arg)
{
	switch (access)
	{
		case OAT_POST_CREATE:
			return arg && ((ObjectAccessPostCreate *) arg)->is_internal;
		case OAT_POST_ALTER:
			return arg && ((ObjectAccessPostAlter *) arg)->is_internal;
		case OAT_DROP:
			return arg &&
				(((ObjectAccessDrop *) arg)->dropflags & PERFORM_DELETION_INTERNAL) != 0;
		default:
			return false;
	}
}

static void
schemamig_object_access(ObjectAccessType access, Oid classId, Oid objectId,
						int subId, void *arg)
{
	if (prev_object_access)
		prev_object_access(access, classId, objectId, subId, arg);
	if (object_access_is_internal(access, arg))
		return;
	schemamig_seal_object_access(access, classId, objectId, subId);
}

/* ---- transaction and subtransaction ends ---- */

static void
schemamig_xact_callback(XactEvent event, void *arg)
{
	bool		committed;

	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			schemamig_alembic_pre_commit(event == XACT_EVENT_PRE_PREPARE);
			schemamig_citus_pre_commit();
			if (event == XACT_EVENT_PRE_COMMIT)
				schemamig_citus_keypush_pre_commit();
			/* last: the link covers every row the transaction wrote */
			schemamig_ledger_pre_commit(event == XACT_EVENT_PRE_PREPARE);
			return;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			committed = true;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			committed = false;
			break;
		default:
			return;
	}
	schemamig_steps_xact_end(committed);
	schemamig_alembic_xact_end();
	schemamig_guard_plumbing = false;
	schemamig_context_xact_end(committed);
	schemamig_citus_xact_end();
	schemamig_citus_keypush_xact_end(event == XACT_EVENT_COMMIT);
	schemamig_ddl_statement_reset();
	schemamig_seal_xact_end();
	schemamig_ledger_xact_end(event);
}

static void
schemamig_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	switch (event)
	{
		case SUBXACT_EVENT_ABORT_SUB:
			schemamig_alembic_subxact_abort(mySubid);
			schemamig_ddl_statement_abort_sub(mySubid);
			schemamig_context_subxact_end(false, mySubid, parentSubid);
			schemamig_seal_subxact_end(false, mySubid, parentSubid);
			schemamig_ledger_subxact_end(false, mySubid, parentSubid);
			break;
		case SUBXACT_EVENT_COMMIT_SUB:
			schemamig_context_subxact_end(true, mySubid, parentSubid);
			schemamig_seal_subxact_end(true, mySubid, parentSubid);
			schemamig_ledger_subxact_end(true, mySubid, parentSubid);
			break;
		default:
			break;
	}
}
