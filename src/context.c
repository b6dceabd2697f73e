/*-------------------------------------------------------------------------
 *
 * context.c
 *		The migration context: which revision, if any, the DDL now running
 *		belongs to.
 *
 * The context is plain backend-local C state, never a GUC: a placeholder
 * variable an ordinary role SETs before the library is loaded must not be
 * able to pretend a migration is running.  It is opened only by C code
 * reached through upgrade(), downgrade(), begin_revision() or an admitted
 * step, whose EXECUTE privilege is revoked from PUBLIC, and it can never
 * outlive its transaction: hooks.c's transaction callback calls
 * schemamig_context_xact_end() at commit, abort and PREPARE, and its
 * subtransaction callback calls schemamig_context_subxact_end() so that
 * the context closes when the subtransaction that opened it rolls back (a
 * function called inside a PL/pgSQL exception block that caught its error,
 * a ROLLBACK TO SAVEPOINT after begin_revision()).
 *
 * The one exception is a step's statement (steps.c): CREATE INDEX
 * CONCURRENTLY commits inside itself, and the context must survive those
 * commits until the statement ends.  The step marks the context
 * spans_commits; this file knows nothing of steps.
 *
 * This file is the bottom of the runtime: the guard and the log read the
 * context, the modules above open and close it, and it calls nobody.
 *
 * IDENTIFICATION
 *		src/context.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"

#include "schemamig.h"

SchemamigContext schemamig_context;

void
schemamig_context_open(SchemamigDirection direction, const char *revision)
{
	schemamig_context.direction = direction;
	strlcpy(schemamig_context.revision, revision, sizeof(schemamig_context.revision));
	schemamig_context.statement_no = 0;
	schemamig_context.statement = NULL;
	schemamig_context.opened_in = GetCurrentSubTransactionId();
	schemamig_context.spans_commits = false;
}

void
schemamig_context_close(void)
{
	schemamig_context.direction = DIRECTION_NONE;
	schemamig_context.revision[0] = '\0';
	schemamig_context.statement_no = 0;
	schemamig_context.statement = NULL;
	schemamig_context.opened_in = InvalidSubTransactionId;
	schemamig_context.spans_commits = false;
}

bool
schemamig_context_active(void)
{
	return schemamig_context.direction != DIRECTION_NONE;
}

const char *
schemamig_direction_name(SchemamigDirection direction)
{
	switch (direction)
	{
		case DIRECTION_UPGRADE:
			return "upgrade";
		case DIRECTION_DOWNGRADE:
			return "downgrade";
		case DIRECTION_CLIENT:
			return "client";
		case DIRECTION_NONE:
			break;
	}
	return "unversioned";
}

/* The transaction ended (committed, aborted or prepared) */
void
schemamig_context_xact_end(bool committed)
{
	if (committed && schemamig_context.spans_commits)
		return;
	schemamig_context_close();
}

/* A subtransaction ended: the context goes with the one that opened it */
void
schemamig_context_subxact_end(bool committed, SubTransactionId mySubid,
							  SubTransactionId parentSubid)
{
	if (!schemamig_context_active() || schemamig_context.opened_in != mySubid)
		return;
	if (committed)
		schemamig_context.opened_in = parentSubid;
	else
		schemamig_context_close();
}

void
schemamig_check_not_nested(const char *function)
{
	if (schemamig_context.direction == DIRECTION_UPGRADE ||
		schemamig_context.direction == DIRECTION_DOWNGRADE)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot be called from inside a migration", function),
				 errdetail("Revision \"%s\" is being applied.", schemamig_context.revision)));
}

/*
 * The checks every function that runs migration SQL makes first.
 */
void
schemamig_check_can_migrate(const char *function)
{
	schemamig_check_writable(function);
	schemamig_check_not_nested(function);
	if (schemamig_context_active())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s cannot run while revision \"%s\" is open", function,
						schemamig_context.revision),
				 errhint("Call end_revision() or commit first.")));
}
