/*-------------------------------------------------------------------------
 *
 * statement_text.c
 *		The per-statement state of the runtime: the utility statements now
 *		running (where their text is) and the DDL statements between their
 *		ddl_command_start and ddl_command_end (what the guard decided and
 *		what the log collected).
 *
 * Both are stacks, because utility statements nest (a function called by
 * a DDL statement runs DDL of its own).
 *
 * Inside upgrade()/downgrade() and for client DDL alike, a statement's
 * text is its own slice of the query string that carried it, never the
 * whole multi-statement string.  hooks.c's ProcessUtility hook, installed
 * when the library loads, pushes each utility statement's query string and
 * location (PlannedStmt.stmt_location/stmt_len) here; the event triggers
 * read the innermost entry.  The statement that loaded the library ran before
 * the hook existed: for it, the statement is found in ActivePortal's
 * statement list, which also carries locations.
 *
 * The DDL statement stack (SchemamigDdlStatement): the guard pushes a frame
 * at ddl_command_start, sql_drop and table_rewrite add objects to the
 * innermost one, ddl_command_end pops it (ddl_log.c).  Frames live in
 * TopTransactionContext and are discarded at transaction end and, for
 * those a rolled-back subtransaction pushed, at subtransaction abort
 * (hooks.c calls both), so a failed statement leaves nothing.
 *
 * IDENTIFICATION
 *		src/statement_text.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "nodes/plannodes.h"
#include "tcop/pquery.h"
#include "utils/memutils.h"

#include "schemamig.h"

typedef struct CapturedStatement
{
	Node	   *utility;
	const char *query;
	int			location;
	int			length;
} CapturedStatement;

static CapturedStatement *captured = NULL;
static int	ncaptured = 0;
static int	maxcaptured = 0;

static SchemamigDdlStatement *frames = NULL;
static int	nframes = 0;
static int	maxframes = 0;

/*
 * Called by hooks.c's ProcessUtility hook before the statement runs;
 * returns the depth to restore with schemamig_statement_capture_pop(),
 * which hooks.c calls however the statement ends.
 */
int
schemamig_statement_capture_push(PlannedStmt *pstmt, const char *queryString)
{
	int			depth = ncaptured;

	if (captured == NULL)
	{
		maxcaptured = 16;
		captured = MemoryContextAlloc(TopMemoryContext, sizeof(CapturedStatement) * maxcaptured);
	}
	else if (ncaptured == maxcaptured)
	{
		maxcaptured *= 2;
		captured = repalloc(captured, sizeof(CapturedStatement) * maxcaptured);
	}
	captured[ncaptured].utility = pstmt->utilityStmt;
	captured[ncaptured].query = queryString;
	captured[ncaptured].location = pstmt->stmt_location;
	captured[ncaptured].length = pstmt->stmt_len;
	ncaptured++;
	return depth;
}

void
schemamig_statement_capture_pop(int depth)
{
	ncaptured = depth;
}

/* The utility statement now running, innermost first; NULL if none */
Node *
schemamig_current_utility(void)
{
	return ncaptured > 0 ? captured[ncaptured - 1].utility : NULL;
}

/*
 * The text of the utility statement now running.  The innermost captured
 * statement is it when its tree is this parse tree or a copy of it
 * (standard_ProcessUtility copies read-only trees from the plan cache).
 */
char *
schemamig_client_statement_text(Node *parsetree)
{
	if (ncaptured > 0)
	{
		CapturedStatement *top = &captured[ncaptured - 1];

		/*
		 * A hook below ours (Citus) may run a rewritten copy of the tree (an
		 * unqualified CREATE INDEX gets its schema and name filled in): same
		 * statement, same node type, not equal().
		 */
		if (top->query && top->utility &&
			(top->utility == parsetree || equal(top->utility, parsetree) ||
			 nodeTag(top->utility) == nodeTag(parsetree)))
			return schemamig_statement_slice(top->query, top->location, top->length);
	}
	if (ActivePortal && ActivePortal->sourceText)
	{
		ListCell   *lc;

		foreach(lc, ActivePortal->stmts)
		{
			PlannedStmt *pstmt = lfirst_node(PlannedStmt, lc);

			if (pstmt->utilityStmt &&
				(pstmt->utilityStmt == parsetree || equal(pstmt->utilityStmt, parsetree)))
				return schemamig_statement_slice(ActivePortal->sourceText,
												 pstmt->stmt_location, pstmt->stmt_len);
		}
	}
	return debug_query_string ? pstrdup(debug_query_string) : NULL;
}

/* ---- the DDL statements between ddl_command_start and ddl_command_end ---- */

/* ddl_command_start: a new innermost frame */
SchemamigDdlStatement *
schemamig_ddl_statement_push(Node *parsetree, SchemamigVerdict verdict)
{
	MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	SchemamigDdlStatement *frame;

	if (frames == NULL)
	{
		maxframes = 8;
		frames = MemoryContextAlloc(TopMemoryContext, sizeof(SchemamigDdlStatement) * maxframes);
	}
	else if (nframes == maxframes)
	{
		maxframes *= 2;
		frames = repalloc(frames, sizeof(SchemamigDdlStatement) * maxframes);
	}
	frame = &frames[nframes++];
	frame->parsetree = parsetree;
	frame->subxid = GetCurrentSubTransactionId();
	frame->verdict = verdict;
	frame->statement = verdict == VERDICT_SKIP ? NULL :
		schemamig_client_statement_text(parsetree);
	frame->objects = NIL;
	MemoryContextSwitchTo(oldcxt);
	return frame;
}

/* The innermost frame, NULL when there is none */
SchemamigDdlStatement *
schemamig_ddl_statement_current(void)
{
	return nframes > 0 ? &frames[nframes - 1] : NULL;
}

/*
 * ddl_command_end: pop the innermost frame into *frame if it is this
 * statement's; false when the guard pushed none for it.
 */
bool
schemamig_ddl_statement_pop(Node *parsetree, SchemamigDdlStatement *frame)
{
	if (nframes == 0 || frames[nframes - 1].parsetree != parsetree)
		return false;
	*frame = frames[--nframes];
	return true;
}

/* The transaction ended: its frames went with TopTransactionContext */
void
schemamig_ddl_statement_reset(void)
{
	nframes = 0;
}

/* A subtransaction rolled back: the frames it pushed go */
void
schemamig_ddl_statement_abort_sub(SubTransactionId subid)
{
	while (nframes > 0 && frames[nframes - 1].subxid >= subid)
		nframes--;
}
