/*-------------------------------------------------------------------------
 *
 * references.c
 *		The references of schemamig.applied and schemamig.progress to
 *		schemamig.revision, checked by constraint triggers.
 *
 * These were foreign keys.  schemamig's tables are extension configuration
 * tables: CREATE EXTENSION creates them, with their constraints, before a
 * restore loads their data, and pg_dump does not order the data of
 * schemamig.applied after schemamig.revision, so a parallel restore
 * (pg_restore -j) could load applied first and fail on the foreign key.
 * The constraint triggers check what the foreign keys checked (a
 * referencing row's revision exists, locked FOR KEY SHARE as the foreign
 * key's check does; a referenced revision is neither deleted nor renamed)
 * at the same moment, the end of the statement, and with the same
 * message, except while schemamig.restoring is on: a restore loads rows that
 * were consistent when pg_dump read them, in whatever order it likes.
 * schemamig.restoring is superuser-only, and the trigger functions are C
 * so that the library is loaded and the real variable, never a
 * placeholder, is read.
 *
 * The lookups run as the owner of schemamig's tables (catalog.c), as a
 * foreign key's do: the role that wrote the row may not be allowed to
 * lock revision rows.
 *
 * IDENTIFICATION
 *		src/references.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/rel.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_revision_reference_check);
PG_FUNCTION_INFO_V1(schemamig_revision_referenced_check);

static TriggerData *check_trigger_call(FunctionCallInfo fcinfo, const char *name);
static Datum revision_of(TriggerData *trigdata, HeapTuple tuple, bool *isnull);
static bool referenced_from(SPIPlanPtr *plan, const char *sql, Datum revision);

/* the calling convention both functions need: an AFTER ROW trigger */
static TriggerData *
check_trigger_call(FunctionCallInfo fcinfo, const char *name)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "%s must be called as an AFTER ROW trigger", name);
	return trigdata;
}

/* the "revision" column of a row of the trigger's table */
static Datum
revision_of(TriggerData *trigdata, HeapTuple tuple, bool *isnull)
{
	TupleDesc	tupdesc = RelationGetDescr(trigdata->tg_relation);
	int			attnum = SPI_fnumber(tupdesc, "revision");

	if (attnum <= 0)
		elog(ERROR, "table \"%s\" has no column \"revision\"",
			 RelationGetRelationName(trigdata->tg_relation));
	return SPI_getbinval(tuple, tupdesc, attnum, isnull);
}

/*
 * revision_reference_check(): AFTER INSERT OR UPDATE OF revision on
 * schemamig.applied and schemamig.progress.
 */
Datum
schemamig_revision_reference_check(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	TriggerData *trigdata = check_trigger_call(fcinfo, "revision_reference_check()");
	HeapTuple	tuple;
	Datum		revision;
	bool		isnull;
	Oid			types[1] = {TEXTOID};
	int			ret;

	if (schemamig_restore_active())
		return PointerGetDatum(NULL);
	tuple = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ?
		trigdata->tg_newtuple : trigdata->tg_trigtuple;
	revision = revision_of(trigdata, tuple, &isnull);
	if (isnull)
		return PointerGetDatum(NULL);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = schemamig_owner_execute_kept(&plan,
									   "SELECT 1 FROM schemamig.revision x "
									   "WHERE x.revision OPERATOR(pg_catalog.=) $1 "
									   "FOR KEY SHARE OF x",
									   1, types, &revision, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.revision: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("insert or update on table \"%s\" violates foreign key constraint \"%s\"",
						RelationGetRelationName(trigdata->tg_relation),
						trigdata->tg_trigger->tgname),
				 errdetail("Key (revision)=(%s) is not present in table \"revision\".",
						   TextDatumGetCString(revision))));
	SPI_finish();
	return PointerGetDatum(NULL);
}

/* whether a row of the table sql reads refers to revision */
static bool
referenced_from(SPIPlanPtr *plan, const char *sql, Datum revision)
{
	Oid			types[1] = {TEXTOID};
	int			ret;

	ret = schemamig_owner_execute_kept(plan, sql, 1, types, &revision, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig's tables: %s", SPI_result_code_string(ret));
	return SPI_processed > 0;
}

/*
 * revision_referenced_check(): AFTER DELETE OR UPDATE OF revision on
 * schemamig.revision.
 */
Datum
schemamig_revision_referenced_check(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr applied_plan = NULL;
	static SPIPlanPtr progress_plan = NULL;
	TriggerData *trigdata = check_trigger_call(fcinfo, "revision_referenced_check()");
	Datum		revision;
	bool		isnull;
	const char *referencing = NULL;

	if (schemamig_restore_active())
		return PointerGetDatum(NULL);
	revision = revision_of(trigdata, trigdata->tg_trigtuple, &isnull);
	if (isnull)
		return PointerGetDatum(NULL);
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		bool		newnull;
		Datum		newrev = revision_of(trigdata, trigdata->tg_newtuple, &newnull);

		if (!newnull && strcmp(TextDatumGetCString(revision), TextDatumGetCString(newrev)) == 0)
			return PointerGetDatum(NULL);
	}

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (referenced_from(&applied_plan,
						"SELECT 1 FROM schemamig.applied WHERE revision OPERATOR(pg_catalog.=) $1",
						revision))
		referencing = "applied";
	else if (referenced_from(&progress_plan,
							 "SELECT 1 FROM schemamig.progress WHERE revision OPERATOR(pg_catalog.=) $1",
							 revision))
		referencing = "progress";
	if (referencing)
		ereport(ERROR,
				(errcode(ERRCODE_FOREIGN_KEY_VIOLATION),
				 errmsg("update or delete on table \"revision\" violates foreign key constraint \"%s_revision_fkey\" on table \"%s\"",
						referencing, referencing),
				 errdetail("Key (revision)=(%s) is still referenced from table \"%s\".",
						   TextDatumGetCString(revision), referencing)));
	SPI_finish();
	return PointerGetDatum(NULL);
}
