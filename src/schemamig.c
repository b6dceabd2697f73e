/*-------------------------------------------------------------------------
 *
 * schemamig.c
 *		Module entry point: PG_MODULE_MAGIC, _PG_init and the GUCs.
 *
 * schemamig works with a plain CREATE EXTENSION: the library is loaded the
 * first time one of its functions runs, which includes the first DDL
 * statement of a session (the guard is a C event trigger).  _PG_init then
 * defines the GUCs, reserves the "schemamig." prefix and lets hooks.c
 * install every hook and callback (the order they call the modules in is
 * written there).  They must be in place before the first DDL statement:
 * the migration context is transaction-scoped and Alembic mode checks at
 * commit what the first held statement left.
 *
 * Every GUC that weakens protection is PGC_SUSET.  A placeholder an
 * ordinary role SET before the library loaded is re-validated by
 * PostgreSQL when the real variable is defined, and rejected because that
 * role may not set it; after MarkGUCPrefixReserved no new placeholder
 * under the prefix can be created at all.
 *
 * IDENTIFICATION
 *		src/schemamig.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "commands/trigger.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/varlena.h"

#include "schemamig.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(schemamig_refuse_change);

static const struct config_enum_entry guard_mode_options[] = {
	{"enforce", GUARD_ENFORCE, false},
	{"warn", GUARD_WARN, false},
	{"off", GUARD_OFF, false},
	{NULL, 0, false}
};

static const struct config_enum_entry lint_mode_options[] = {
	{"error", LINT_ERROR, false},
	{"warn", LINT_WARN, false},
	{"off", LINT_OFF, false},
	{NULL, 0, false}
};

/* What the guard does with DDL outside a migration context */
int			schemamig_guard_mode = GUARD_ENFORCE;

/* Command tags the guard lets through without a revision */
char	   *schemamig_guard_exempt = NULL;

/* lock_timeout (ms) while migration SQL runs; 0 waits forever */
int			schemamig_lock_timeout = 5000;

/* lock_timeout of executed review: it must never queue behind production */
int			schemamig_review_lock_timeout = 100;

/* Whether lint errors refuse register(), only warn, or are skipped */
int			schemamig_lint_mode = LINT_ERROR;

/* On while pg_restore replays a dump: guard and log stand aside */
bool		schemamig_restoring = false;

/* Alembic's version table; empty = Alembic compatibility off (alembic.c) */
char	   *schemamig_alembic_version_table = NULL;

static bool check_version_table(char **newval, void **extra, GucSource source);

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomEnumVariable("schemamig.guard",
							 "What happens to a schema change made outside a revision.",
							 "enforce refuses it, warn allows it with a WARNING, off allows it; all three log it.",
							 &schemamig_guard_mode,
							 GUARD_ENFORCE,
							 guard_mode_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("schemamig.guard_exempt",
							   "Comma-separated command tags allowed outside a revision.",
							   NULL,
							   &schemamig_guard_exempt,
							   "REFRESH MATERIALIZED VIEW",
							   PGC_SUSET,
							   GUC_LIST_INPUT,
							   NULL, NULL, NULL);

	DefineCustomIntVariable("schemamig.lock_timeout",
							"Lock timeout for the statements of a migration.",
							"Zero waits forever.",
							&schemamig_lock_timeout,
							5000, 0, INT_MAX,
							PGC_USERSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);

	DefineCustomIntVariable("schemamig.review_lock_timeout",
							"Lock timeout of executed review (plan with execute => true, verify()).",
							NULL,
							&schemamig_review_lock_timeout,
							100, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomEnumVariable("schemamig.lint",
							 "Whether lint errors refuse register().",
							 "error refuses, warn reports them as WARNINGs, off skips the lint.",
							 &schemamig_lint_mode,
							 LINT_ERROR,
							 lint_mode_options,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomBoolVariable("schemamig.restoring",
							 "Lets pg_restore replay a dump: the guard allows and the log records nothing.",
							 "Honoured for superusers, and for the role whose CREATE EXTENSION schemamig ran with it on (its restore window, until schemamig.end_restore()); ignored for everyone else.",
							 &schemamig_restoring,
							 false,
							 PGC_USERSET,
							 0,
							 NULL, NULL, NULL);

	DefineCustomStringVariable("schemamig.alembic_version_table",
							   "Alembic's version table, overriding the one schemamig.alembic_enable() stored.",
							   "Empty leaves the stored setting in effect.",
							   &schemamig_alembic_version_table,
							   "",
							   PGC_SUSET,
							   0,
							   check_version_table, NULL, NULL);

	MarkGUCPrefixReserved("schemamig");

	schemamig_hooks_install();
}

/* A schema-qualified table name in SQL identifier syntax, never pg_temp */
static bool
check_version_table(char **newval, void **extra, GucSource source)
{
	char	   *copy;
	List	   *names;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	copy = pstrdup(*newval);
	if (!SplitIdentifierString(copy, '.', &names) || list_length(names) != 2 ||
		strncmp(linitial(names), "pg_temp", 7) == 0)
	{
		GUC_check_errdetail("A schema-qualified table name, such as public.alembic_version, is required: an unqualified name would find a temporary table first.");
		return false;
	}
	return true;
}

/*
 * Trigger function that makes the journal and the DDL log append-only for
 * every role, superusers included.
 */
Datum
schemamig_refuse_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	const char *operation;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "schemamig_refuse_change: not called by trigger manager");

	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		operation = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		operation = "DELETE";
	else
		operation = "TRUNCATE";

	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("schemamig.%s is append-only",
					RelationGetRelationName(trigdata->tg_relation)),
			 errdetail("%s is refused for every role, superusers included.", operation)));
	PG_RETURN_NULL();
}
