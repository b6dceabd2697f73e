/*-------------------------------------------------------------------------
 *
 * lint_report.c
 *		What becomes of lint findings: "-- schemamig:allow <rule>" comments,
 *		register()'s verdict, and the SQL-callable lint().
 *
 * A finding is suppressed by a line comment "-- schemamig:allow <rule>"
 * anywhere in the script (one rule per comment; text after the rule name
 * is free, e.g. a reason).  The comments are found by a small scanner that
 * skips string literals, quoted identifiers, dollar quotes and block
 * comments, so the words inside a string or a function body never allow
 * anything.
 *
 * register() lints the upgrade script with every rule and the downgrade only
 * for missing-downgrade; lint(sql) has no downgrade and never reports it.
 *
 * IDENTIFICATION
 *		src/lint_report.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_lint);

static void report_findings(const char *revision, List *findings);
static List *context_statements(Datum parents);

/*
 * The rules a script allows: "-- schemamig:allow <rule>" line comments.
 * String literals, quoted identifiers, dollar-quoted bodies and block
 * comments are skipped, so only real comments count.
 */
List *
schemamig_lint_allowed_rules(const char *script)
{
	static const char marker[] = "schemamig:allow";
	List	   *allowed = NIL;
	const char *p = script;

	while (*p)
	{
		if (p[0] == '-' && p[1] == '-')
		{
			const char *q = p + 2;

			while (*q == ' ' || *q == '\t')
				q++;
			if (strncmp(q, marker, sizeof(marker) - 1) == 0)
			{
				const char *start;

				q += sizeof(marker) - 1;
				while (*q == ' ' || *q == '\t')
					q++;
				start = q;
				while ((*q >= 'a' && *q <= 'z') || (*q >= '0' && *q <= '9') || *q == '-')
					q++;
				if (q > start)
					allowed = lappend(allowed, pnstrdup(start, q - start));
			}
			while (*p && *p != '\n')
				p++;
		}
		else if (p[0] == '/' && p[1] == '*')
		{
			int			depth = 1;

			for (p += 2; *p && depth > 0;)
			{
				if (p[0] == '/' && p[1] == '*')
					depth++, p += 2;
				else if (p[0] == '*' && p[1] == '/')
					depth--, p += 2;
				else
					p++;
			}
		}
		else if (*p == '\'' || *p == '"')
		{
			char		quote = *p;

			/* E'...' strings are the only ones with backslash escapes */
			bool		escapes = quote == '\'' && p > script &&
			(p[-1] == 'E' || p[-1] == 'e') &&
			(p - 1 == script || !(isalnum((unsigned char) p[-2]) || p[-2] == '_'));

			for (p++; *p; p++)
			{
				if (escapes && *p == '\\' && p[1])
					p++;
				else if (*p == quote && p[1] == quote)
					p++;
				else if (*p == quote)
					break;
			}
			if (*p)
				p++;
		}
		else if (*p == '$' && (p == script ||
							   !(isalnum((unsigned char) p[-1]) || p[-1] == '_' ||
								 p[-1] == '$' || IS_HIGHBIT_SET(p[-1]))))
		{
			/* $tag$ ... $tag$; a tag never starts with a digit ($1) */
			const char *q = p + 1;

			if (!isdigit((unsigned char) *q))
				while (isalnum((unsigned char) *q) || *q == '_' || IS_HIGHBIT_SET(*q))
					q++;
			if (*q == '$' && !isdigit((unsigned char) p[1]))
			{
				int			taglen = q - p + 1;
				const char *close = strstr(q + 1, pnstrdup(p, taglen));

				p = close ? close + taglen : p + strlen(p);
			}
			else
				p++;
		}
		else
			p++;
	}
	return allowed;
}

List *
schemamig_lint_filter_allowed(List *findings, List *allowed)
{
	List	   *result = NIL;
	ListCell   *lc;
	ListCell   *la;

	foreach(lc, findings)
	{
		SchemamigLintFinding *f = lfirst(lc);
		bool		skip = false;

		foreach(la, allowed)
			if (strcmp((char *) lfirst(la), f->rule) == 0)
			skip = true;
		if (!skip)
			result = lappend(result, f);
	}
	return result;
}

/* ---- register() and lint() ---- */

/*
 * Called by register() with SPI connected.  Under schemamig.lint = error,
 * error findings refuse the registration with SM006, listing all of them;
 * otherwise errors and warnings are WARNINGs and info findings NOTICEs.
 */
void
schemamig_lint_register(const char *revision, const char *upgrade,
						List *up_statements, const char *downgrade,
						List *down_statements, Datum parents)
{
	List	   *findings;
	ListCell   *lc;

	if (schemamig_lint_mode == LINT_OFF)
		return;

	findings = schemamig_lint_filter_allowed(schemamig_lint_script_context(upgrade, up_statements,
																		   context_statements(parents)),
											 schemamig_allow_rules());

	/*
	 * The downgrade is only checked for being there; the allow comment may
	 * sit in either script.  A revision whose upgrade does nothing (a merge)
	 * has nothing to undo.
	 */
	if (up_statements != NIL &&
		(downgrade == NULL || schemamig_script_is_empty(downgrade)))
	{
		SchemamigLintFinding *f = palloc0(sizeof(SchemamigLintFinding));
		List	   *allowed = schemamig_lint_allowed_rules(upgrade);

		if (downgrade != NULL)
			allowed = list_concat(allowed, schemamig_lint_allowed_rules(downgrade));
		f->rule = "missing-downgrade";
		f->severity = "warning";
		f->message = psprintf("revision \"%s\" has no downgrade script", revision);
		f->hint = pstrdup("Pass a downgrade script that undoes the upgrade, so the revision can be rolled back and verify() can test it.");
		findings = list_concat(findings,
							   schemamig_lint_filter_allowed(list_make1(f), allowed));
	}

	if (schemamig_lint_mode == LINT_ERROR)
	{
		StringInfoData detail;
		SchemamigLintFinding *first = NULL;

		initStringInfo(&detail);
		foreach(lc, findings)
		{
			SchemamigLintFinding *f = lfirst(lc);

			if (strcmp(f->severity, "error") != 0)
				continue;
			if (first == NULL)
				first = f;
			appendStringInfo(&detail, "%sStatement %d: %s (rule %s).",
							 detail.len > 0 ? " " : "", f->statement_no,
							 f->message, f->rule);
		}
		if (first != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_SCHEMAMIG_LINT_REFUSED),
					 errmsg("upgrade script of revision \"%s\" is refused by the lint",
							revision),
					 errdetail_internal("%s", detail.data),
					 errhint("%s If the risk is accepted, add the comment \"-- schemamig:allow %s\" to the script.",
							 first->hint, first->rule)));
	}
	report_findings(revision, findings);
}

/*
 * The schema context of a script registered on top of parents (text[]):
 * the upgrade statements of the parents that are not applied and of their
 * pending ancestors, oldest registration first.  Applied revisions end the
 * walk, so its cost follows the pending revisions, not the history.
 * Needs SPI connected.
 */
static List *
context_statements(Datum parents)
{
	Oid			types[1] = {TEXTARRAYOID};
	Datum		values[1];
	List	   *result = NIL;
	List	   *scripts = NIL;
	List	   *names = NIL;
	MemoryContext cxt = CurrentMemoryContext;
	int			ret;
	ListCell   *ls;
	ListCell   *ln;

	if (parents == (Datum) 0)
		return NIL;
	values[0] = parents;
	ret = schemamig_owner_execute("WITH RECURSIVE pending(revision) AS ("
								  " SELECT p FROM pg_catalog.unnest($1::pg_catalog.text[]) p"
								  " WHERE NOT EXISTS (SELECT FROM schemamig.applied a"
								  "  WHERE a.revision OPERATOR(pg_catalog.=) p)"
								  " UNION"
								  " SELECT q FROM pending JOIN schemamig.revision r"
								  "  ON r.revision OPERATOR(pg_catalog.=) pending.revision,"
								  "  pg_catalog.unnest(r.parents) q"
								  " WHERE NOT EXISTS (SELECT FROM schemamig.applied a"
								  "  WHERE a.revision OPERATOR(pg_catalog.=) q))"
								  "SELECT r.revision, r.upgrade_sql FROM schemamig.revision r"
								  " JOIN pending USING (revision) ORDER BY r.seq",
								  1, types, values, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read the pending parents: %s", SPI_result_code_string(ret));
	MemoryContextSwitchTo(cxt);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		names = lappend(names, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1));
		scripts = lappend(scripts, SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 2));
	}
	forboth(ln, names, ls, scripts)
	{
		if (lfirst(ls) == NULL)
			continue;
		result = list_concat(result,
							 schemamig_script_parse_ext((char *) lfirst(ls), (char *) lfirst(ln),
														"upgrade", true));
	}
	return result;
}

static void
report_findings(const char *revision, List *findings)
{
	ListCell   *lc;

	foreach(lc, findings)
	{
		SchemamigLintFinding *f = lfirst(lc);

		ereport(strcmp(f->severity, "info") == 0 ? NOTICE : WARNING,
				(errmsg_internal("%s", f->message),
				 f->statement_no > 0 ?
				 errdetail("Statement %d of revision \"%s\" (rule %s).",
						   f->statement_no, revision, f->rule) :
				 errdetail("Revision \"%s\" (rule %s).", revision, f->rule),
				 errhint("%s", f->hint)));
	}
}

/*
 * lint(sql text) RETURNS TABLE(rule, severity, statement_no, statement,
 * message, hint): the review of any script.  There is no downgrade here, so
 * missing-downgrade is never reported.
 */
Datum
schemamig_lint(PG_FUNCTION_ARGS)
{
	char	   *script;
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *statements;
	List	   *findings;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	script = text_to_cstring(PG_GETARG_TEXT_PP(0));
	statements = schemamig_script_parse_ext(script, NULL, NULL, true);
	/* lint(sql, parents): the pending parents' scripts are the context */
	if (PG_NARGS() > 1 && !PG_ARGISNULL(1))
	{
		MemoryContext cxt = CurrentMemoryContext;
		List	   *context;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		/* everything in the caller's context, which SPI_finish() restores */
		MemoryContextSwitchTo(cxt);
		context = context_statements(PG_GETARG_DATUM(1));
		findings = schemamig_lint_script_context(script, statements, context);
		SPI_finish();
	}
	else
		findings = schemamig_lint_script(script, statements);

	foreach(lc, findings)
	{
		SchemamigLintFinding *f = lfirst(lc);
		Datum		values[6];
		bool		nulls[6] = {false, false, false, false, false, false};

		values[0] = CStringGetTextDatum(f->rule);
		values[1] = CStringGetTextDatum(f->severity);
		values[2] = Int32GetDatum(f->statement_no);
		nulls[2] = f->statement_no == 0;
		values[3] = f->statement ? CStringGetTextDatum(f->statement) : (Datum) 0;
		nulls[3] = f->statement == NULL;
		values[4] = CStringGetTextDatum(f->message);
		values[5] = CStringGetTextDatum(f->hint);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
