/*-------------------------------------------------------------------------
 *
 * lint_squawk.c
 *		"-- squawk-ignore RULE[, RULE]" comments: teams coming from squawk
 *		keep their annotations.
 *
 * squawk (the PostgreSQL migration linter) lets a migration silence a rule
 * for the next statement with a line comment "-- squawk-ignore rule-a,
 * rule-b", and for the whole file with "-- squawk-ignore-file [rules]".
 * schemamig reads the same comments and allows, for that statement (or the
 * whole script), the schemamig rules that check what the squawk rules check
 * (the map below, printed in docs/review.md).  Squawk rules without a
 * schemamig counterpart allow nothing.  A comment "before a statement" is
 * one between the end of the previous statement and the start of this one;
 * the statement texts of script.c start after their leading comments.
 *
 * IDENTIFICATION
 *		src/lint_squawk.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "schemamig.h"

typedef struct SquawkRule
{
	const char *squawk;
	const char *rules[3];		/* schemamig rules it allows, NULL-ended */
}			SquawkRule;

static const SquawkRule squawk_map[] = {
	{"adding-field-with-default", {"add-column-volatile-default", "add-column-rewrites", NULL}},
	{"adding-foreign-key-constraint", {"add-foreign-key-validates", NULL}},
	{"adding-not-nullable-field", {"add-column-not-null-no-default", "set-not-null", NULL}},
	{"adding-required-field", {"add-column-not-null-no-default", NULL}},
	{"adding-serial-primary-key-field", {"add-unique-constraint-locks", "add-column-rewrites", NULL}},
	{"ban-alter-domain-with-add-constraint", {NULL}},
	{"ban-concurrent-index-creation-in-transaction", {"non-transactional-revision", NULL}},
	{"ban-drop-column", {"drop-column", "drop-add-looks-like-rename", NULL}},
	{"ban-drop-table", {"drop-table", NULL}},
	{"ban-truncate-cascade", {"truncate-cascade", NULL}},
	{"changing-column-type", {"alter-column-type", NULL}},
	{"constraint-missing-not-valid", {"add-check-validates", "add-foreign-key-validates", NULL}},
	{"disallowed-unique-constraint", {"add-unique-constraint-locks", NULL}},
	{"prefer-big-int", {"prefer-bigint", NULL}},
	{"prefer-bigint-over-int", {"prefer-bigint", NULL}},
	{"prefer-bigint-over-smallint", {"prefer-bigint", NULL}},
	{"prefer-identity", {"prefer-identity", NULL}},
	{"prefer-text-field", {"prefer-text", NULL}},
	{"prefer-timestamptz", {"prefer-timestamptz", NULL}},
	{"prefer-timestamp-tz", {"prefer-timestamptz", NULL}},
	{"renaming-column", {"rename", NULL}},
	{"renaming-table", {"rename", NULL}},
	{"require-concurrent-index-creation", {"create-index-locks-writes", NULL}},
	{"require-concurrent-index-deletion", {"drop-index-locks", NULL}},
	{"transaction-nesting", {"transaction-control", NULL}},
};

/* The schemamig rules a squawk rule name allows, appended to list */
static List *
map_rule(List *list, const char *name, int len)
{
	for (int i = 0; i < lengthof(squawk_map); i++)
	{
		if ((int) strlen(squawk_map[i].squawk) != len ||
			strncmp(squawk_map[i].squawk, name, len) != 0)
			continue;
		for (int j = 0; squawk_map[i].rules[j] != NULL; j++)
			list = lappend(list, (char *) squawk_map[i].rules[j]);
	}
	return list;
}

/*
 * The rules allowed by squawk-ignore comments in script[from, to).
 * "-- squawk-ignore-file" without rules allows every mapped rule.
 */
static List *
ignored_in(const char *script, int from, int to, bool file_wide)
{
	static const char marker[] = "squawk-ignore";
	List	   *rules = NIL;
	const char *p = script + from;
	const char *end = script + to;

	while (p < end)
	{
		const char *q;
		bool		is_file;

		if (!(p[0] == '-' && p + 1 < end && p[1] == '-'))
		{
			p++;
			continue;
		}
		q = p + 2;
		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		p = q;
		while (p < end && *p != '\n')
			p++;
		if (end - q < (int) sizeof(marker) - 1 || strncmp(q, marker, sizeof(marker) - 1) != 0)
			continue;
		q += sizeof(marker) - 1;
		is_file = (p - q >= 5 && strncmp(q, "-file", 5) == 0);
		if (is_file)
			q += 5;
		if (is_file != file_wide || (q < p && !isspace((unsigned char) *q)))
			continue;
		if (is_file)
		{
			bool		any = false;

			for (const char *r = q; r < p; r++)
				if (isalpha((unsigned char) *r))
					any = true;
			if (!any)
			{
				for (int i = 0; i < lengthof(squawk_map); i++)
					rules = map_rule(rules, squawk_map[i].squawk,
									 strlen(squawk_map[i].squawk));
				continue;
			}
		}
		while (q < p)
		{
			const char *start;

			while (q < p && (*q == ',' || isspace((unsigned char) *q)))
				q++;
			start = q;
			while (q < p && (isalnum((unsigned char) *q) || *q == '-' || *q == '_'))
				q++;
			if (q > start)
				rules = map_rule(rules, start, q - start);
			else if (q < p)
				q++;
		}
	}
	return rules;
}

static bool
rule_in(List *rules, const char *rule)
{
	ListCell   *lc;

	foreach(lc, rules)
		if (strcmp((char *) lfirst(lc), rule) == 0)
		return true;
	return false;
}

/* findings without those the script's squawk-ignore comments allow */
List *
schemamig_lint_filter_squawk(const char *script, List *statements, List *findings)
{
	List	   *file_rules;
	List	   *per_statement = NIL;	/* List * per statement */
	List	   *result = NIL;
	int			prev_end = 0;
	ListCell   *lc;

	if (strstr(script, "squawk-ignore") == NULL)
		return findings;
	file_rules = ignored_in(script, 0, strlen(script), true);
	foreach(lc, statements)
	{
		SchemamigStatement *st = (SchemamigStatement *) lfirst(lc);

		per_statement = lappend(per_statement,
								ignored_in(script, prev_end, st->location, false));
		prev_end = st->location + st->length;
	}
	foreach(lc, findings)
	{
		SchemamigLintFinding *f = (SchemamigLintFinding *) lfirst(lc);

		if (rule_in(file_rules, f->rule))
			continue;
		if (f->statement_no > 0 && f->statement_no <= list_length(per_statement) &&
			rule_in((List *) list_nth(per_statement, f->statement_no - 1), f->rule))
			continue;
		result = lappend(result, f);
	}
	return result;
}
