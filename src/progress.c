/*-------------------------------------------------------------------------
 *
 * progress.c
 *		Progress of revisions applied by the step protocol (steps.c), one
 *		statement per top-level transaction: what is done, what was
 *		interrupted, and what an interrupted build left behind.
 *
 * schemamig.progress has one row per revision part-way through its steps.
 * A row's "running" statement is still running exactly when its session
 * holds the step lock; otherwise it was interrupted (an error, a lost
 * connection, a crash).  An interrupted CREATE INDEX CONCURRENTLY leaves an
 * INVALID index (REINDEX CONCURRENTLY an INVALID "_ccnew" one) that must be
 * dropped before the statement can run again: schemamig_progress_leftover()
 * names it, status() and history() show it, steps() emits its repair.
 *
 * IDENTIFICATION
 *		src/progress.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/relation.h"
#include "catalog/index.h"
#include "catalog/namespace.h"
#include "catalog/pg_index.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/relcache.h"

#include "schemamig.h"

/* Statement n of a revision's script, parsed; NULL when out of range */
SchemamigStatement *
schemamig_script_statement(const char *revision, SchemamigDirection direction, int n, int *total)
{
	char	   *script = schemamig_fetch_script(revision, direction);
	List	   *statements;

	statements = schemamig_script_parse(script, revision,
										direction == DIRECTION_UPGRADE ? "upgrade" : "downgrade");
	*total = list_length(statements);
	if (n < 1 || n > *total)
		return NULL;
	return (SchemamigStatement *) list_nth(statements, n - 1);
}

/*
 * Every row of schemamig.progress, with whether its running statement is
 * really running (the step lock is held) or was interrupted.  The caller
 * is connected to SPI.
 */
List *
schemamig_progress_load(void)
{
	List	   *result = NIL;
	int			ret;
	int			holder;

	ret = schemamig_owner_execute("SELECT revision, direction, statements, done, running, "
								  "running_pid, started_at FROM schemamig.progress "
								  "ORDER BY started_at",
								  0, NULL, NULL, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.progress: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		SchemamigProgress *p = palloc0(sizeof(SchemamigProgress));
		bool		isnull;
		Datum		d;

		p->revision = SPI_getvalue(tup, desc, 1);
		p->direction = strcmp(SPI_getvalue(tup, desc, 2), "upgrade") == 0 ?
			DIRECTION_UPGRADE : DIRECTION_DOWNGRADE;
		p->statements = DatumGetInt32(SPI_getbinval(tup, desc, 3, &isnull));
		p->done = DatumGetInt32(SPI_getbinval(tup, desc, 4, &isnull));
		d = SPI_getbinval(tup, desc, 5, &isnull);
		p->running = isnull ? 0 : DatumGetInt32(d);
		d = SPI_getbinval(tup, desc, 6, &isnull);
		p->running_pid = isnull ? 0 : DatumGetInt32(d);
		p->started_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, 7, &isnull));
		result = lappend(result, p);
	}
	if (result == NIL)
		return NIL;
	holder = schemamig_step_lock_holder();
	{
		ListCell   *lc;

		foreach(lc, result)
		{
			SchemamigProgress *p = lfirst(lc);

			p->in_progress = p->running > 0 && holder != 0 && holder == p->running_pid;
			/* this session's own step statement, between its commits */
			p->interrupted = p->running > 0 && !p->in_progress &&
				!(schemamig_context.spans_commits &&
				  strcmp(schemamig_context.revision, p->revision) == 0);
		}

		/*
		 * A revision with nothing done and nothing left behind (its first
		 * statement was refused or failed cleanly) is pending, not partial.
		 */
		foreach(lc, result)
		{
			SchemamigProgress *p = lfirst(lc);

			if (p->done == 0 && !p->in_progress && p->interrupted == (p->running > 0) &&
				schemamig_progress_leftover(p) == NULL)
				result = foreach_delete_current(result, lc);
		}
	}
	return result;
}

SchemamigProgress *
schemamig_progress_find(List *progress, const char *revision)
{
	ListCell   *lc;

	foreach(lc, progress)
	{
		SchemamigProgress *p = lfirst(lc);

		if (strcmp(p->revision, revision) == 0)
			return p;
	}
	return NULL;
}

/*
 * Refuse a call that would move past a revision half-way in the other
 * direction (stamp() is the way out when that is intended).
 */
void
schemamig_progress_refuse(List *progress, SchemamigDirection direction,
						  const char *function)
{
	ListCell   *lc;

	foreach(lc, progress)
	{
		SchemamigProgress *p = lfirst(lc);

		if (p->direction == direction)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s cannot run while revision \"%s\" is partially %s",
							function, p->revision,
							direction == DIRECTION_UPGRADE ? "applied" : "reverted"),
					 errdetail("%d of its %d statements have run.", p->done, p->statements),
					 errhint("Finish it with the rows of %s first, or stamp() the database if it was finished by hand.",
							 direction == DIRECTION_UPGRADE ? "steps()" : "downgrade_steps()")));
	}
}

/*
 * The index an interrupted CREATE INDEX CONCURRENTLY or REINDEX
 * CONCURRENTLY left behind INVALID, as "schema.name", or NULL.
 */
char *
schemamig_progress_leftover(SchemamigProgress *p)
{
	SchemamigStatement *st;
	Oid			relid = InvalidOid;
	int			total;

	if (!p->interrupted)
		return NULL;
	st = schemamig_script_statement(p->revision, p->direction, p->running, &total);
	if (st == NULL)
		return NULL;
	if (IsA(st->parsetree, IndexStmt))
	{
		IndexStmt  *stmt = (IndexStmt *) st->parsetree;
		Oid			indexid;

		if (!stmt->concurrent || stmt->idxname == NULL)
			return NULL;
		relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		if (!OidIsValid(relid))
			return NULL;
		indexid = get_relname_relid(stmt->idxname, get_rel_namespace(relid));
		if (OidIsValid(indexid) && !get_index_isvalid(indexid))
			return quote_qualified_identifier(get_namespace_name(get_rel_namespace(indexid)),
											  get_rel_name(indexid));
		return NULL;
	}
	if (IsA(st->parsetree, ReindexStmt))
	{
		ReindexStmt *stmt = (ReindexStmt *) st->parsetree;
		List	   *indexes;
		ListCell   *lc;

		if (stmt->relation == NULL)
			return NULL;
		relid = RangeVarGetRelid(stmt->relation, NoLock, true);
		if (!OidIsValid(relid))
			return NULL;
		if (stmt->kind == REINDEX_OBJECT_INDEX)
			relid = IndexGetRelation(relid, true);
		if (!OidIsValid(relid))
			return NULL;
		{
			Relation	rel = relation_open(relid, AccessShareLock);

			indexes = RelationGetIndexList(rel);
			relation_close(rel, AccessShareLock);
		}
		foreach(lc, indexes)
		{
			Oid			indexid = lfirst_oid(lc);
			char	   *name = get_rel_name(indexid);

			if (!get_index_isvalid(indexid) &&
				(strstr(name, "_ccnew") != NULL || strstr(name, "_ccold") != NULL))
				return quote_qualified_identifier(get_namespace_name(get_rel_namespace(indexid)),
												  name);
		}
	}
	return NULL;
}

/* One line for status() and history() */
char *
schemamig_progress_describe(SchemamigProgress *p, char **hint)
{
	StringInfoData buf;
	char	   *leftover = NULL;

	initStringInfo(&buf);
	appendStringInfo(&buf, "%s %d/%d statements done",
					 p->direction == DIRECTION_UPGRADE ? "upgrade" : "downgrade",
					 p->done, p->statements);
	if (p->in_progress)
		appendStringInfo(&buf, ", statement %d running in pid %d", p->running, p->running_pid);
	else if (p->interrupted)
	{
		leftover = schemamig_progress_leftover(p);
		appendStringInfo(&buf, ", statement %d interrupted", p->running);
		if (leftover)
			appendStringInfo(&buf, ", left INVALID index %s", leftover);
	}
	if (hint)
	{
		const char *fn = p->direction == DIRECTION_UPGRADE ? "steps" : "downgrade_steps";

		if (leftover)
			*hint = psprintf("revision %s: the INVALID index %s must be dropped before statement %d runs again; "
							 "SELECT * FROM schemamig.%s() \\gexec does both, or run SELECT schemamig.begin_step('%s', %d%s); DROP INDEX CONCURRENTLY %s;",
							 p->revision, leftover, p->running, fn, p->revision, p->running,
							 p->direction == DIRECTION_UPGRADE ? "" : ", 'downgrade'", leftover);
		else if (p->in_progress)
			*hint = psprintf("revision %s: statement %d is running in pid %d",
							 p->revision, p->running, p->running_pid);
		else
			*hint = psprintf("revision %s: resume with SELECT * FROM schemamig.%s() \\gexec",
							 p->revision, fn);
	}
	return buf.data;
}

/* pid of the session running a step, 0 when none (caller is in SPI) */
int
schemamig_step_lock_holder(void)
{
	int			ret;
	bool		isnull;
	int			pid;

	ret = SPI_execute("SELECT pid FROM pg_catalog.pg_locks "
					  "WHERE locktype OPERATOR(pg_catalog.=) 'advisory' "
					  "AND database OPERATOR(pg_catalog.=) "
					  "(SELECT oid FROM pg_catalog.pg_database "
					  " WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) "
					  "AND classid OPERATOR(pg_catalog.=) " CppAsString2(SCHEMAMIG_LOCK_CLASS) "::pg_catalog.oid "
					  "AND objid OPERATOR(pg_catalog.=) " CppAsString2(SCHEMAMIG_LOCK_STEP) "::pg_catalog.oid "
					  "AND objsubid OPERATOR(pg_catalog.=) 2 AND granted",
					  true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_locks: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return 0;
	pid = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	return pid == MyProcPid ? 0 : pid;
}
