/*-------------------------------------------------------------------------
 *
 * statement_text.c
 *		The exact text of the utility statement now running, for the DDL
 *		log and the guard's server-log line.
 *
 * Inside upgrade()/downgrade() and for client DDL alike, a statement's
 * text is its own slice of the query string that carried it, never the
 * whole multi-statement string.  A ProcessUtility hook, installed when the
 * library loads, remembers each utility statement's query string and
 * location (PlannedStmt.stmt_location/stmt_len); the event triggers read
 * the innermost entry.  The statement that loaded the library ran before
 * the hook existed: for it, the statement is found in ActivePortal's
 * statement list, which also carries locations.
 *
 * IDENTIFICATION
 *		src/statement_text.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "nodes/plannodes.h"
#include "tcop/pquery.h"
#include "tcop/utility.h"
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

static ProcessUtility_hook_type prev_ProcessUtility = NULL;

static void capture_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
								   bool readOnlyTree, ProcessUtilityContext context,
								   ParamListInfo params, QueryEnvironment *queryEnv,
								   DestReceiver *dest, QueryCompletion *qc);

void
schemamig_statement_capture_install(void)
{
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = capture_ProcessUtility;
}

static void
capture_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					   bool readOnlyTree, ProcessUtilityContext context,
					   ParamListInfo params, QueryEnvironment *queryEnv,
					   DestReceiver *dest, QueryCompletion *qc)
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
		ncaptured = depth;
	}
	PG_END_TRY();
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

		if (top->query &&
			(top->utility == parsetree || equal(top->utility, parsetree)))
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
