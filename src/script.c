/*-------------------------------------------------------------------------
 *
 * script.c
 *		Migration scripts split into statements by the server's own parser.
 *
 * A script is parsed once with raw_parser(), the grammar the server itself
 * uses, so schemamig never disagrees with PostgreSQL about where a
 * statement ends (dollar quoting, nested comments, E'' strings).  Each
 * RawStmt carries its byte range in the script; the text of a statement is
 * that slice with leading whitespace and comments removed.  The same slices
 * are what upgrade() runs one by one through SPI and what the DDL log
 * records.
 *
 * Parse errors are caught in a subtransaction and re-raised as SM007 with a
 * line and column inside the script: the position PostgreSQL reports would
 * otherwise point into the SELECT that called register().
 *
 * IDENTIFICATION
 *		src/script.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "commands/defrem.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/resowner.h"

#include "schemamig.h"

static const char *skip_comments_and_space(const char *p, const char *end);
static bool line_is_meta_command(const char *script, int line);
static void position_to_line_column(const char *script, int charpos,
									int *line, int *column);

/*
 * Parse a script into a List of SchemamigStatement.  "revision" and "which"
 * ("upgrade", "downgrade" or NULL for a bare script) only shape the error
 * message.  Transaction control is refused here because a script always
 * runs inside the caller's transaction.
 */
List *
schemamig_script_parse(const char *script, const char *revision,
					   const char *which)
{
	return schemamig_script_parse_ext(script, revision, which, false);
}

/*
 * As above; with allow_transaction_control the lint can report BEGIN and
 * friends as findings instead of the parse refusing them.
 */
List *
schemamig_script_parse_ext(const char *script_text, const char *revision,
						   const char *which, bool allow_transaction_control)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	List	   *raw = NIL;
	List	   *volatile result = NIL;
	ListCell   *lc;
	int			script_len = strlen(script_text);
	volatile int statement_no = 0;
	const char *volatile what = which ? which : "the";

	/* pg_dump's \restrict lines are not SQL (baseline.c) */
	const char *volatile script = schemamig_dump_blank_meta(script_text);

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		raw = raw_parser(script, RAW_PARSE_DEFAULT);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		int			line = 0;
		int			column = 0;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;

		if (edata->cursorpos > 0)
			position_to_line_column(script, edata->cursorpos, &line, &column);
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_INVALID_SCRIPT),
				 revision ?
				 errmsg("%s script of revision \"%s\" does not parse", what, revision) :
				 errmsg("script does not parse"),
				 line > 0 ?
				 errdetail("Line %d, column %d: %s.", line, column, edata->message) :
				 errdetail("%s.", edata->message),
				 line > 0 && line_is_meta_command(script, line) ?
				 errhint("Line %d is a psql meta-command, which is not SQL; scripts are run by the server, not by psql.", line) : 0));
	}
	PG_END_TRY();

	foreach(lc, raw)
	{
		RawStmt    *rs = lfirst_node(RawStmt, lc);
		SchemamigStatement *st = palloc0(sizeof(SchemamigStatement));
		const char *start = script + rs->stmt_location;
		const char *end = rs->stmt_len > 0 ? start + rs->stmt_len : script + script_len;

		if (schemamig_dump_skip_statement(rs->stmt))
			continue;
		start = skip_comments_and_space(start, end);
		while (end > start && isspace((unsigned char) end[-1]))
			end--;

		st->statement_no = ++statement_no;
		st->location = start - script;
		st->length = end - start;
		st->text = pnstrdup(start, end - start);
		st->parsetree = rs->stmt;
		st->needs_top_level = schemamig_statement_needs_top_level(rs->stmt);

		if (IsA(rs->stmt, TransactionStmt) && !allow_transaction_control)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_INVALID_SCRIPT),
					 revision ?
					 errmsg("%s script of revision \"%s\" contains transaction control", what, revision) :
					 errmsg("script contains transaction control"),
					 errdetail("Statement %d is \"%s\".", st->statement_no, st->text),
					 errhint("Remove BEGIN, COMMIT, ROLLBACK and SAVEPOINT: schemamig runs every revision inside the caller's transaction.")));
		result = lappend(result, st);
	}
	return result;
}

/*
 * Statements PostgreSQL refuses inside a transaction block (they call
 * PreventInTransactionBlock), so they can never run from a function.
 */
bool
schemamig_statement_needs_top_level(Node *parsetree)
{
	ListCell   *lc;

	switch (nodeTag(parsetree))
	{
		case T_IndexStmt:
			return ((IndexStmt *) parsetree)->concurrent;
		case T_DropStmt:
			return ((DropStmt *) parsetree)->concurrent;
		case T_ReindexStmt:
			{
				ReindexStmt *stmt = (ReindexStmt *) parsetree;

				if (stmt->kind == REINDEX_OBJECT_SYSTEM ||
					stmt->kind == REINDEX_OBJECT_DATABASE)
					return true;
				foreach(lc, stmt->params)
				{
					DefElem    *opt = lfirst_node(DefElem, lc);

					if (strcmp(opt->defname, "concurrently") == 0)
						return opt->arg == NULL || defGetBoolean(opt);
				}
				return false;
			}
		case T_AlterTableStmt:
			foreach(lc, ((AlterTableStmt *) parsetree)->cmds)
			{
				AlterTableCmd *cmd = lfirst_node(AlterTableCmd, lc);

				if (cmd->subtype == AT_DetachPartition &&
					((PartitionCmd *) cmd->def)->concurrent)
					return true;
			}
			return false;
		case T_VacuumStmt:
			return ((VacuumStmt *) parsetree)->is_vacuumcmd;
		case T_ClusterStmt:
			return ((ClusterStmt *) parsetree)->relation == NULL;
		case T_CreatedbStmt:
		case T_DropdbStmt:
		case T_CreateTableSpaceStmt:
		case T_DropTableSpaceStmt:
		case T_AlterSystemStmt:
			return true;
		default:
			return false;
	}
}

/* CRLF -> LF, so a checkout on Windows has the same checksum */
char *
schemamig_normalize_newlines(const char *text)
{
	char	   *result = palloc(strlen(text) + 1);
	char	   *out = result;

	for (const char *p = text; *p; p++)
	{
		if (p[0] == '\r' && p[1] == '\n')
			continue;
		*out++ = *p;
	}
	*out = '\0';
	return result;
}

/*
 * sha256(upgrade || '\0' || downgrade) in hex, both after CRLF -> LF; a NULL
 * downgrade contributes nothing, not even the separator, so "irreversible"
 * and "empty downgrade" differ.  In SQL:
 *	 encode(sha256(convert_to(u, 'UTF8') || '\x00' || convert_to(d, 'UTF8')), 'hex')
 */
char *
schemamig_script_checksum(const char *upgrade, const char *downgrade)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	char	   *hex;
	char	   *up = schemamig_normalize_newlines(upgrade);
	static const uint8 separator = 0;

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) up, strlen(up)) < 0)
		elog(ERROR, "could not compute sha256 checksum");
	if (downgrade != NULL)
	{
		char	   *down = schemamig_normalize_newlines(downgrade);

		if (pg_cryptohash_update(ctx, &separator, 1) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) down, strlen(down)) < 0)
			elog(ERROR, "could not compute sha256 checksum");
	}
	hex = schemamig_sha256_final_hex(ctx);
	pg_cryptohash_free(ctx);
	return hex;
}

/*
 * Finish a sha256 computation: the digest as 64 lowercase hex digits.  The
 * context can be initialized again and reused.
 */
char *
schemamig_sha256_final_hex(pg_cryptohash_ctx *ctx)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);

	if (pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "could not compute sha256 hash: %s", pg_cryptohash_error(ctx));
	hex_encode((const char *) digest, PG_SHA256_DIGEST_LENGTH, hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

/*
 * The text of one statement of a query string, from a RawStmt's or
 * PlannedStmt's location and length (0 = rest of string): without the
 * comments and whitespace the grammar counts into its range, and without
 * the terminating semicolon.
 */
char *
schemamig_statement_slice(const char *query, int location, int length)
{
	int			query_len = strlen(query);
	const char *start;
	const char *end;

	if (location < 0 || location > query_len)
		location = 0, length = 0;
	start = query + location;
	end = (length > 0 && location + length <= query_len) ? start + length : query + query_len;
	start = skip_comments_and_space(start, end);
	while (end > start && (isspace((unsigned char) end[-1]) || end[-1] == ';'))
		end--;
	return pnstrdup(start, end - start);
}

/* True when the script holds nothing but whitespace and comments */
bool
schemamig_script_is_empty(const char *script)
{
	const char *end = script + strlen(script);

	return skip_comments_and_space(script, end) >= end;
}

/*
 * Skip whitespace, "--" comments and (nested) C-style comments: what the
 * grammar puts into a statement's range before its first token.
 */
static const char *
skip_comments_and_space(const char *p, const char *end)
{
	while (p < end)
	{
		if (isspace((unsigned char) *p))
			p++;
		else if (p + 1 < end && p[0] == '-' && p[1] == '-')
		{
			while (p < end && *p != '\n')
				p++;
		}
		else if (p + 1 < end && p[0] == '/' && p[1] == '*')
		{
			int			depth = 1;

			p += 2;
			while (p < end && depth > 0)
			{
				if (p + 1 < end && p[0] == '/' && p[1] == '*')
				{
					depth++;
					p += 2;
				}
				else if (p + 1 < end && p[0] == '*' && p[1] == '/')
				{
					depth--;
					p += 2;
				}
				else
					p++;
			}
		}
		else
			break;
	}
	return p;
}

/* The parser reports a 1-based character position; users want lines */
static void
position_to_line_column(const char *script, int charpos, int *line, int *column)
{
	const char *p = script;
	int			chars = 1;

	*line = 1;
	*column = 1;
	while (*p && chars < charpos)
	{
		if (*p == '\n')
		{
			(*line)++;
			*column = 1;
		}
		else
			(*column)++;
		p += pg_mblen(p);
		chars++;
	}
}

/*
 * Whether a 1-based line of the script starts (after blanks) with a
 * backslash: a psql meta-command such as \set or \connect.  Only then is the
 * psql hint given; an ordinary syntax error gets PostgreSQL's own message
 * alone (a hint about psql there misled readers of real migrations).
 */
static bool
line_is_meta_command(const char *script, int line)
{
	const char *p = script;

	for (int l = 1; l < line && *p; p++)
		if (*p == '\n')
			l++;
	while (*p == ' ' || *p == '\t')
		p++;
	return *p == '\\';
}

/* ---- the pg_dump rule (baseline.c uses it; so does the parse above) ---- */

static bool
line_starts_with(const char *line, const char *word)
{
	size_t		len = strlen(word);

	return strncmp(line, word, len) == 0 &&
		(line[len] == ' ' || line[len] == '\t' || line[len] == '\n' ||
		 line[len] == '\r' || line[len] == '\0');
}

/*
 * The script with pg_dump's \restrict and \unrestrict lines blanked, or
 * the script itself when it has none.
 */
const char *
schemamig_dump_blank_meta(const char *script)
{
	char	   *copy = NULL;
	const char *p = script;

	while (p && *p)
	{
		if (*p == '\\' && (line_starts_with(p, "\\restrict") ||
						   line_starts_with(p, "\\unrestrict")))
		{
			char	   *q;

			if (copy == NULL)
				copy = pstrdup(script);
			for (q = copy + (p - script); *q && *q != '\n'; q++)
				*q = ' ';
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return copy ? copy : script;
}

/*
 * CREATE EXTENSION schemamig, COMMENT ON EXTENSION schemamig, and the
 * extension's schema as pg_dump writes it before the extension (CREATE
 * SCHEMA schemamig, ALTER SCHEMA schemamig OWNER TO).
 */
bool
schemamig_dump_skip_statement(Node *parsetree)
{
	if (IsA(parsetree, CreateSchemaStmt))
	{
		CreateSchemaStmt *stmt = (CreateSchemaStmt *) parsetree;

		return stmt->schemaname && strcmp(stmt->schemaname, "schemamig") == 0 &&
			stmt->schemaElts == NIL;
	}
	if (IsA(parsetree, AlterOwnerStmt))
	{
		AlterOwnerStmt *stmt = (AlterOwnerStmt *) parsetree;

		return stmt->objectType == OBJECT_SCHEMA && IsA(stmt->object, String) &&
			strcmp(strVal(stmt->object), "schemamig") == 0;
	}
	if (IsA(parsetree, CreateExtensionStmt))
		return strcmp(((CreateExtensionStmt *) parsetree)->extname, "schemamig") == 0;
	if (IsA(parsetree, CommentStmt))
	{
		CommentStmt *stmt = (CommentStmt *) parsetree;

		return stmt->objtype == OBJECT_EXTENSION && IsA(stmt->object, String) &&
			strcmp(strVal(stmt->object), "schemamig") == 0;
	}
	return false;
}
