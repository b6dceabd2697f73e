/*-------------------------------------------------------------------------
 *
 * plan_capture.c
 *		Test tooling, never installed with schemamig: records every
 *		statement that changes something (utility statements, INSERT,
 *		UPDATE, DELETE, MERGE) a server runs, at every nesting level, so
 *		that test/plan_compare/capture.sh can list what the test suite runs.
 *
 * log_statement sees only what a client sends; the statements of a
 * migration script run inside upgrade(), plan() and verify() through SPI.
 * A ProcessUtility hook and an ExecutorEnd hook (loaded with
 * shared_preload_libraries in the capture cluster only) append one line
 * per statement that completed without error to the file
 * plan_capture.file: database OID, database name, backend pid,
 * search_path and the statement's own text (its location in the query
 * string, converted to UTF-8), with backslash, tab and newline escaped.
 * Statements of extension scripts (CREATE EXTENSION, ALTER EXTENSION
 * UPDATE) are left out: they are the extension's, not the suite's.  One
 * write(2) per line with O_APPEND keeps lines of concurrent backends
 * whole.
 *
 * IDENTIFICATION
 *		test/plan_compare/plan_capture.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <fcntl.h>
#include <limits.h>
#include <unistd.h>

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static ProcessUtility_hook_type prev_ProcessUtility = NULL;
static ExecutorEnd_hook_type prev_ExecutorEnd = NULL;
static char *capture_file = NULL;

static void
append_escaped(StringInfo buf, const char *s, int len)
{
	for (int i = 0; i < len && s[i] != '\0'; i++)
	{
		if (s[i] == '\\')
			appendStringInfoString(buf, "\\\\");
		else if (s[i] == '\n')
			appendStringInfoString(buf, "\\n");
		else if (s[i] == '\t')
			appendStringInfoString(buf, "\\t");
		else if (s[i] == '\r')
			appendStringInfoString(buf, "\\r");
		else
			appendStringInfoChar(buf, s[i]);
	}
}

static void
capture(PlannedStmt *pstmt, const char *queryString, const char *db)
{
	StringInfoData buf;
	int			loc = pstmt->stmt_location;
	int			len = pstmt->stmt_len;
	int			fd;
	const char *path = GetConfigOption("search_path", true, false);
	const char *text;

	if (capture_file == NULL || capture_file[0] == '\0' || queryString == NULL)
		return;
	if (loc < 0 || loc > (int) strlen(queryString))
		loc = 0;
	if (len <= 0)
		len = strlen(queryString) - loc;
	initStringInfo(&buf);
	appendStringInfo(&buf, "%u\t%s\t%d\t", MyDatabaseId, db ? db : "", MyProcPid);
	append_escaped(&buf, path ? path : "", INT_MAX);
	appendStringInfoChar(&buf, '\t');
	/* in UTF-8 whatever the database's encoding: one file for all */
	text = pg_server_to_any(queryString + loc, len, PG_UTF8);

	append_escaped(&buf, text, text == queryString + loc ? len : INT_MAX);
	appendStringInfoChar(&buf, '\n');
	fd = open(capture_file, O_WRONLY | O_APPEND | O_CREAT, 0644);
	if (fd >= 0)
	{
		if (write(fd, buf.data, buf.len) != buf.len)
			elog(WARNING, "plan_capture: short write to \"%s\"", capture_file);
		close(fd);
	}
	pfree(buf.data);
}

static void
capture_ProcessUtility(PlannedStmt *pstmt, const char *queryString,
					   bool readOnlyTree, ProcessUtilityContext context,
					   ParamListInfo params, QueryEnvironment *queryEnv,
					   DestReceiver *dest, QueryCompletion *qc)
{
	bool		in_extension = creating_extension;
	char	   *db = NULL;

	/* before the statement: after COMMIT or VACUUM no catalog access */
	if (!IsA(pstmt->utilityStmt, TransactionStmt) && IsTransactionState())
		db = get_database_name(MyDatabaseId);

	if (prev_ProcessUtility)
		prev_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
							queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc);
	if (db != NULL && !in_extension && !creating_extension)
		capture(pstmt, queryString, db);
}

/* INSERT, UPDATE, DELETE and MERGE, at every level, after they ran */
static void
capture_ExecutorEnd(QueryDesc *queryDesc)
{
	PlannedStmt *pstmt = queryDesc->plannedstmt;
	char	   *db = NULL;

	if (pstmt->commandType != CMD_SELECT && pstmt->commandType != CMD_UTILITY &&
		!creating_extension && IsTransactionState())
		db = get_database_name(MyDatabaseId);
	if (prev_ExecutorEnd)
		prev_ExecutorEnd(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
	if (db != NULL)
		capture(pstmt, queryDesc->sourceText, db);
}

void
_PG_init(void)
{
	DefineCustomStringVariable("plan_capture.file",
							   "File every utility statement is appended to.",
							   NULL, &capture_file, "", PGC_SIGHUP, 0,
							   NULL, NULL, NULL);
	MarkGUCPrefixReserved("plan_capture");
	prev_ExecutorEnd = ExecutorEnd_hook;
	ExecutorEnd_hook = capture_ExecutorEnd;
	prev_ProcessUtility = ProcessUtility_hook;
	ProcessUtility_hook = capture_ProcessUtility;
}
