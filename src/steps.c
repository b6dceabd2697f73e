/*-------------------------------------------------------------------------
 *
 * steps.c
 *		The step protocol: non-transactional revisions (CREATE INDEX
 *		CONCURRENTLY and its kin) applied by the client, one top-level
 *		statement at a time, under schemamig's control.
 *
 * PostgreSQL runs CREATE/DROP INDEX CONCURRENTLY, REINDEX CONCURRENTLY,
 * DETACH PARTITION CONCURRENTLY, VACUUM, ... only as top-level statements
 * (PreventInTransactionBlock), never from a function, so upgrade() cannot
 * run them.  steps() hands the client the statements instead:
 *
 *		SELECT schemamig.begin_step('<rev>', n)	-- own transaction
 *		<statement n of rev, verbatim>			-- top level
 *		...
 *		SELECT schemamig.finish_step('<rev>')	-- marks it applied
 *
 * begin_step() opens a session-scoped step (C state, like the migration
 * context: nothing a role can SET) that admits exactly one statement: the
 * one whose raw parse tree equals statement n of the revision (equal()
 * ignores token locations, so spacing, case of keywords and comments do not
 * matter; another index name, a missing CONCURRENTLY or another table do).
 * The admission is done in the ProcessUtility hook (hooks.c asks
 * schemamig_step_admit() first) rather than the guard's event trigger
 * because PostgreSQL 15 fires no event trigger for REINDEX or VACUUM; for
 * the statements that do fire them, the admission opens the migration
 * context around the statement so the guard admits it and the log records
 * it under the revision and statement number.  Utility statements that
 * are not DDL (SET, SHOW, BEGIN, ...) pass; any other DDL is refused with
 * SM001 and closes the step.
 *
 * Progress.  schemamig.progress has one row per revision whose steps have
 * begun and not finished: statements done, and the statement "running"
 * (begun, not known to have finished).  begin_step() records "running" and
 * commits before the statement starts; the hook records "done" inside the
 * statement's own last transaction.  CREATE INDEX CONCURRENTLY marks the
 * index valid in that same last transaction, so "done" and the valid index
 * commit together: after a crash, a kill or an error, either both are
 * there or the statement is "running" with an INVALID index (or none)
 * left behind.  begin_step() of such an interrupted statement first admits
 * the repair (DROP INDEX CONCURRENTLY of the invalid index, which steps()
 * emits itself), then the statement again.
 *
 * Locking, and why it cannot deadlock.  CREATE INDEX CONCURRENTLY waits
 * for every transaction that holds a conflicting lock or an old snapshot.
 * A deploy lock that a second client waited for inside a transaction
 * would make the build wait for that client while the client waits for
 * the build (Flyway's deadlock).  So:
 *	- schemamig's own bookkeeping (begin_step, finish_step) takes the usual
 *	  transaction-level history lock for a few milliseconds, never across a
 *	  client statement;
 *	- the step itself is guarded by a session-level advisory lock
 *	  (SCHEMAMIG_LOCK_CLASS, SCHEMAMIG_LOCK_STEP), taken by begin_step() and released as soon as the
 *	  admitted statement ends, fails, or the step is closed.  Nobody ever
 *	  waits for it: begin_step() only tries it, and when another session
 *	  holds it, the step is opened in "skip" mode: the statement that
 *	  follows is matched but not executed, with a NOTICE.  Two clients
 *	  running the same steps() list at once therefore run each statement
 *	  exactly once.  A session that dies loses the lock with it, so nothing
 *	  ever stays locked (Liquibase's stuck lock); the lock's absence is how
 *	  an interrupted statement is told from a running one.
 *
 * Connection poolers in transaction mode break the protocol (the step is
 * session state); run steps() on a direct connection.
 *
 * progress.c reads and describes schemamig.progress; steps_list.c builds
 * the rows of steps() and downgrade_steps().
 *
 * IDENTIFICATION
 *		src/steps.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "parser/parser.h"
#include "storage/lock.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_begin_step);
PG_FUNCTION_INFO_V1(schemamig_finish_step);

typedef enum StepMode
{
	STEP_NONE,
	STEP_RUN,					/* run statement n and record it done */
	STEP_REPAIR,				/* drop what an interrupted statement n left */
	STEP_SKIP					/* match the statement, do not run it */
} StepMode;

typedef struct StepState
{
	StepMode	mode;
	bool		committed;		/* begin_step()'s transaction has committed */
	bool		running;		/* the admitted statement is executing */
	bool		holds_lock;
	bool		release_at_xact_end;	/* statement done, its xact not ended */
	SchemamigDirection direction;
	char		revision[SCHEMAMIG_ID_BUFSIZE];
	int			statement_no;
	char	   *text;			/* the statement expected */
	Node	   *parsetree;
	char	   *skip_reason;
	MemoryContext cxt;
} StepState;

static StepState step;

static void step_close(void);
static bool step_lock_try(void);
static void step_lock_release(void);
static void step_record_done(PlannedStmt *pstmt, const char *queryString);
static bool statement_is_ddl(Node *parsetree);

/* ---- the step lock ---- */

static bool
step_lock_try(void)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, SCHEMAMIG_LOCK_CLASS, SCHEMAMIG_LOCK_STEP, 2);
	if (LockAcquire(&tag, ExclusiveLock, true, true) == LOCKACQUIRE_NOT_AVAIL)
		return false;
	step.holds_lock = true;
	return true;
}

static void
step_lock_release(void)
{
	LOCKTAG		tag;

	if (!step.holds_lock)
		return;
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, SCHEMAMIG_LOCK_CLASS, SCHEMAMIG_LOCK_STEP, 2);
	LockRelease(&tag, ExclusiveLock, true);
	step.holds_lock = false;
}

static void
step_close(void)
{
	if (!step.release_at_xact_end)
		step_lock_release();
	step.mode = STEP_NONE;
	step.committed = false;
	step.running = false;
	if (step.cxt)
		MemoryContextReset(step.cxt);
	step.text = NULL;
	step.parsetree = NULL;
	step.skip_reason = NULL;
}

/*
 * The transaction ended (committed, aborted or prepared); called by
 * hooks.c's transaction callback.
 */
void
schemamig_steps_xact_end(bool committed)
{
	/*
	 * The statement's "done" commits with its last transaction, after the
	 * hook returned: keep the lock until then, or another client could see
	 * the lock free and the statement not done, and run it again.
	 */
	if (step.release_at_xact_end && !step.running)
	{
		step.release_at_xact_end = false;
		step_lock_release();
		return;
	}
	if (step.running || (step.mode == STEP_NONE && !step.holds_lock))
		return;
	if (committed)
		step.committed = true;
	else if (!step.committed)
		step_close();			/* begin_step() rolled back: no step */
}

/* ---- begin_step / finish_step ---- */

/*
 * begin_step() and finish_step() start alike: connected to SPI, under the
 * history lock, with the graph, the revision's node and its progress row.
 */
static void
step_bookkeeping_begin(const char *revision, bool try_step_lock, bool *got_lock,
					   SchemamigGraph **graph, SchemamigNode **node,
					   SchemamigProgress **progress)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_lock_history();
	schemamig_bump_generation();
	if (try_step_lock)
		*got_lock = step_lock_try();
	*graph = schemamig_graph_load();
	*node = &(*graph)->nodes[schemamig_graph_require(*graph, revision)];
	*progress = schemamig_progress_find(schemamig_progress_load(), revision);
}

static void
step_open(StepMode mode, SchemamigDirection direction, const char *revision,
		  int n, const char *text, const char *reason)
{
	MemoryContext oldcxt;
	List	   *raw;

	if (step.cxt == NULL)
		step.cxt = AllocSetContextCreate(TopMemoryContext, "schemamig step",
										 ALLOCSET_SMALL_SIZES);
	oldcxt = MemoryContextSwitchTo(step.cxt);
	step.mode = mode;
	step.committed = false;
	step.running = false;
	step.direction = direction;
	strlcpy(step.revision, revision, sizeof(step.revision));
	step.statement_no = n;
	step.text = pstrdup(text);
	raw = raw_parser(step.text, RAW_PARSE_DEFAULT);
	step.parsetree = linitial_node(RawStmt, raw)->stmt;
	step.skip_reason = reason ? pstrdup(reason) : NULL;
	MemoryContextSwitchTo(oldcxt);
}

static void
step_notice_skip(const char *reason)
{
	ereport(NOTICE,
			(errmsg("step skipped: %s", reason),
			 errdetail("The statement that follows is not executed.")));
}

/* begin_step()'s direction argument */
static SchemamigDirection
step_direction_arg(const char *dirname)
{
	if (strcmp(dirname, "upgrade") == 0)
		return DIRECTION_UPGRADE;
	if (strcmp(dirname, "downgrade") == 0)
		return DIRECTION_DOWNGRADE;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid step direction \"%s\"", dirname),
			 errhint("The direction is \"upgrade\" or \"downgrade\".")));
	return DIRECTION_NONE;		/* keep the compiler quiet */
}

/*
 * The revision has steps in this direction, and none in the other begun;
 * also run_step()'s check (deploy_sql.c)
 */
void
schemamig_step_check_steppable(const char *revision, SchemamigNode *node,
							   SchemamigProgress *p, SchemamigDirection direction)
{
	bool		up = direction == DIRECTION_UPGRADE;

	if (up ? node->upgrade_transactional : node->downgrade_transactional)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("revision \"%s\" runs inside a transaction: it has no steps", revision),
				 errhint("Use schemamig.%s('%s').", up ? "upgrade" : "downgrade",
						 up ? revision : "<target>")));
	if (!up && node->irreversible)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_IRREVERSIBLE),
				 errmsg("revision \"%s\" is irreversible", revision)));
	if (p != NULL && p->direction != direction)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("revision \"%s\" is partially %s", revision,
						up ? "reverted" : "applied"),
				 errhint("Finish that first, or stamp() the database.")));
}

/*
 * Statement n is next: the revision is next in line in the graph (for its
 * first statement) and the statements before n have run.
 */
static void
step_check_next(SchemamigGraph *graph, SchemamigNode *node,
				SchemamigProgress *p, bool up, int n)
{
	if (p == NULL && up)
	{
		for (int j = 0; j < node->nparents; j++)
			if (!graph->nodes[node->parents[j]].applied)
				ereport(ERROR,
						(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
						 errmsg("parent \"%s\" of revision \"%s\" is not applied",
								graph->nodes[node->parents[j]].revision, node->revision),
						 errhint("Run the rows of steps() in order.")));
	}
	else if (p == NULL)
	{
		for (int j = 0; j < node->nchildren; j++)
			if (graph->nodes[node->children[j]].applied)
				ereport(ERROR,
						(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
						 errmsg("child \"%s\" of revision \"%s\" is still applied",
								graph->nodes[node->children[j]].revision, node->revision),
						 errhint("Run the rows of downgrade_steps() in order.")));
	}
	if (n != (p ? p->done : 0) + 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("statement %d of revision \"%s\" must run first",
						(p ? p->done : 0) + 1, node->revision),
				 errhint("Run the rows of %s in order.", up ? "steps()" : "downgrade_steps()")));
}

/* schemamig.progress: statement n of the revision is running in this session */
static void
step_record_running(const char *revision, const char *dirname, int total, int n)
{
	Oid			types[5] = {TEXTOID, TEXTOID, INT4OID, INT4OID, INT4OID};
	Datum		values[5];
	int			ret;

	values[0] = CStringGetTextDatum(revision);
	values[1] = CStringGetTextDatum(dirname);
	values[2] = Int32GetDatum(total);
	values[3] = Int32GetDatum(n);
	values[4] = Int32GetDatum(MyProcPid);
	ret = schemamig_owner_execute("INSERT INTO schemamig.progress AS p "
								  "(revision, direction, statements, done, running, running_pid) "
								  "VALUES ($1, $2, $3, $4 OPERATOR(pg_catalog.-) 1, $4, $5) "
								  "ON CONFLICT (revision) DO UPDATE SET running = $4, "
								  "running_pid = $5, direction = $2, statements = $3, "
								  "updated_at = pg_catalog.now()",
								  5, types, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not write schemamig.progress: %s", SPI_result_code_string(ret));
}

/*
 * begin_step(revision text, statement_no integer, direction text DEFAULT
 * 'upgrade')
 *
 * Opens the step that admits statement n: in "skip" mode when another
 * session holds the step lock or the statement has run already, in
 * "repair" mode when an interrupted run of it left an INVALID index,
 * otherwise to run it.
 */
Datum
schemamig_begin_step(PG_FUNCTION_ARGS)
{
	char	   *revision = schemamig_revision_arg(fcinfo, 0);
	int			n;
	char	   *dirname;
	SchemamigDirection direction;
	bool		up;
	SchemamigGraph *graph;
	SchemamigNode *node;
	SchemamigProgress *p;
	SchemamigStatement *st;
	int			total;
	char	   *leftover;
	bool		got_lock;

	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("begin_step() arguments must not be null")));
	n = PG_GETARG_INT32(1);
	dirname = text_to_cstring(PG_GETARG_TEXT_PP(2));
	direction = step_direction_arg(dirname);
	up = direction == DIRECTION_UPGRADE;

	schemamig_check_can_migrate("begin_step()");
	if (IsTransactionBlock())
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("begin_step() cannot run inside a transaction block"),
				 errdetail("The statement it admits runs at top level, after begin_step() has committed."),
				 errhint("Run the rows of steps() one by one in autocommit mode, e.g. with psql's \\gexec.")));
	/* a step left open by the previous row is replaced */
	step_close();

	/* first the step lock, then progress as of now: never a stale "done" */
	step_bookkeeping_begin(revision, true, &got_lock, &graph, &node, &p);
	schemamig_step_check_steppable(revision, node, p, direction);
	st = schemamig_script_statement(revision, direction, n, &total);
	if (st == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_UNKNOWN_REVISION),
				 errmsg("revision \"%s\" has no %s statement %d", revision,
						dirname, n),
				 errdetail_plural("Its %s script has %d statement.",
								  "Its %s script has %d statements.",
								  total, dirname, total)));

	/* another session is running a step: this client lets it */
	if (!got_lock)
	{
		char	   *reason = psprintf("another session (pid %d) is running a step; it applies statement %d of revision \"%s\"",
									  schemamig_step_lock_holder(), n, revision);

		step_notice_skip(reason);
		step_open(STEP_SKIP, direction, revision, n, st->text, reason);
		SPI_finish();
		PG_RETURN_VOID();
	}

	/* done already, by this or another client */
	if ((p != NULL && n <= p->done) ||
		(p == NULL && (up ? node->applied : !node->applied)))
	{
		char	   *reason = psprintf("statement %d of revision \"%s\" has already run", n, revision);

		step_notice_skip(reason);
		step_lock_release();
		step_open(STEP_SKIP, direction, revision, n, st->text, reason);
		SPI_finish();
		PG_RETURN_VOID();
	}

	step_check_next(graph, node, p, up, n);

	/* an interrupted statement may have left an INVALID index: drop it first */
	leftover = p ? schemamig_progress_leftover(p) : NULL;
	if (leftover)
	{
		char	   *repair = psprintf("DROP INDEX CONCURRENTLY %s", leftover);

		ereport(NOTICE,
				(errmsg("statement %d of revision \"%s\" was interrupted and left the INVALID index %s",
						n, revision, leftover),
				 errdetail("This step admits \"%s\"; begin_step('%s', %d) again admits the statement itself.",
						   repair, revision, n)));
		step_open(STEP_REPAIR, direction, revision, n, repair, NULL);
		SPI_finish();
		PG_RETURN_VOID();
	}

	step_record_running(revision, dirname, total, n);
	step_open(STEP_RUN, direction, revision, n, st->text, NULL);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * finish_step(revision): after its last statement, the revision becomes
 * applied (or unapplied) and the journal records it.
 */
Datum
schemamig_finish_step(PG_FUNCTION_ARGS)
{
	char	   *revision = schemamig_revision_arg(fcinfo, 0);
	SchemamigGraph *graph;
	SchemamigNode *node;
	SchemamigProgress *p;
	bool		up;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int			ret;

	schemamig_check_can_migrate("finish_step()");
	step_close();
	step_bookkeeping_begin(revision, false, NULL, &graph, &node, &p);

	if (p == NULL)
	{
		ereport(NOTICE,
				(errmsg("revision \"%s\" has no steps in progress; it is %s", revision,
						node->applied ? "applied" : "not applied")));
		SPI_finish();
		PG_RETURN_VOID();
	}
	up = p->direction == DIRECTION_UPGRADE;
	if (p->done < p->statements)
	{
		if (p->in_progress)
		{
			ereport(NOTICE,
					(errmsg("revision \"%s\" is being %s by pid %d", revision,
							up ? "applied" : "reverted", p->running_pid)));
			SPI_finish();
			PG_RETURN_VOID();
		}
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("revision \"%s\" is not complete: %d of its %d %s statements have run",
						revision, p->done, p->statements, up ? "upgrade" : "downgrade"),
				 errhint("Run the remaining rows of %s.", up ? "steps()" : "downgrade_steps()")));
	}

	if (up)
		schemamig_mark_applied(revision, node->checksum);
	else
		schemamig_mark_unapplied(revision);
	values[0] = CStringGetTextDatum(revision);
	ret = schemamig_owner_execute("DELETE FROM schemamig.progress "
								  "WHERE revision OPERATOR(pg_catalog.=) $1",
								  1, types, values, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "could not write schemamig.progress: %s", SPI_result_code_string(ret));
	schemamig_journal_insert(revision, up ? "upgrade" : "downgrade", revision, p->started_at);
	schemamig_drift_after_migration();
	SPI_finish();
	PG_RETURN_VOID();
}

/* ---- the admission of the step's statement ---- */

/* DDL as far as the guard is concerned, and what must run at top level */
static bool
statement_is_ddl(Node *parsetree)
{
	return GetCommandLogLevel(parsetree) == LOGSTMT_DDL ||
		schemamig_tag_fires_event_triggers(CreateCommandTag(parsetree)) ||
		schemamig_statement_needs_top_level(parsetree);
}

/*
 * hooks.c's ProcessUtility hook asks first, for every utility statement:
 * pass it on, skip it (a NOTICE says why), or run it as the step's
 * statement, between schemamig_step_statement_done() or _failed().  DDL
 * that is not the step's statement is refused here and closes the step.
 */
SchemamigStepAdmission
schemamig_step_admit(Node *parsetree, ProcessUtilityContext context)
{
	if (step.mode == STEP_NONE || !step.committed || step.running ||
		context != PROCESS_UTILITY_TOPLEVEL)
		return STEP_ADMIT_PASS;
	if (!equal(parsetree, step.parsetree))
	{
		if (statement_is_ddl(parsetree))
		{
			char	   *expected = pstrdup(step.text);
			int			n = step.statement_no;
			char	   *revision = pstrdup(step.revision);

			step_close();
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_UNVERSIONED_DDL),
					 errmsg("unversioned schema change blocked: %s",
							GetCommandTagName(CreateCommandTag(parsetree))),
					 errdetail("The open step admits only statement %d of revision \"%s\": %s",
							   n, revision, expected),
					 errhint("Run the rows of steps() in order; the step is now closed, begin_step() opens it again.")));
		}
		return STEP_ADMIT_PASS;
	}
	if (step.mode == STEP_SKIP)
	{
		ereport(NOTICE,
				(errmsg("statement not executed: %s", step.skip_reason)));
		step_close();
		return STEP_ADMIT_SKIP;
	}

	/* the guard admits it and the log records it under the revision */
	step.running = true;
	schemamig_context_open(step.direction, step.revision);
	schemamig_context.statement_no = step.statement_no;
	schemamig_context.statement = step.text;
	schemamig_context.spans_commits = true;
	return STEP_ADMIT_RUN;
}

/* The admitted statement failed: no step any more */
void
schemamig_step_statement_failed(void)
{
	schemamig_context_close();
	step_close();
}

/*
 * The admitted statement ran, in its last transaction: record it done and
 * close the step.  The step lock goes when this transaction ends
 * (schemamig_steps_xact_end).
 */
void
schemamig_step_statement_done(PlannedStmt *pstmt, const char *queryString)
{
	step_record_done(pstmt, queryString);
	schemamig_context_close();
	step.release_at_xact_end = step.holds_lock;
	step_close();
}

/*
 * In the statement's last transaction: statement n is done.  Statements
 * that fire no event trigger in PostgreSQL 15 (REINDEX, VACUUM, CLUSTER)
 * are logged here; the others were logged by ddl_command_end.
 */
static void
step_record_done(PlannedStmt *pstmt, const char *queryString)
{
	CommandTag	tag = CreateCommandTag(pstmt->utilityStmt);
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (step.mode == STEP_RUN)
	{
		Oid			types[2] = {TEXTOID, INT4OID};
		Datum		values[2];

		values[0] = CStringGetTextDatum(step.revision);
		values[1] = Int32GetDatum(step.statement_no);
		ret = schemamig_owner_execute("UPDATE schemamig.progress SET done = $2, "
									  "running = NULL, running_pid = NULL, "
									  "updated_at = pg_catalog.now() "
									  "WHERE revision OPERATOR(pg_catalog.=) $1",
									  2, types, values, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "could not write schemamig.progress: %s", SPI_result_code_string(ret));
	}
	SPI_finish();
	if (!schemamig_tag_fires_event_triggers(tag))
	{
		SchemamigLogRow row;

		memset(&row, 0, sizeof(row));
		row.revision = step.revision;
		row.direction = schemamig_direction_name(step.direction);
		row.statement_no = step.statement_no;
		row.command_tag = GetCommandTagName(tag);
		row.statement = queryString ?
			schemamig_statement_slice(queryString, pstmt->stmt_location, pstmt->stmt_len) :
			step.text;
		row.executed_at = GetCurrentTimestamp();
		schemamig_ddl_log_write(&row);
	}
}
