/*-------------------------------------------------------------------------
 *
 * drift_baseline.c
 *		Drift's memory: the baseline taken, checked before migrations and
 *		accepted; drift(), accept_drift(), and the re-baseline of a new
 *		fingerprint format at ALTER EXTENSION UPDATE.
 *
 * The baseline (drift.c's banner explains what it is and how drift is
 * told apart from explained change) is the fingerprint of every object,
 * with its hash and its description, stored in schemamig.state with the
 * ledger positions it describes.  It is written in three places only: by
 * the first migration, by accept_drift() (with a journal row that keeps
 * the reason and the accepted drift), and when the fingerprint format of
 * the library changes.
 *
 * Before upgrade(), downgrade() and stamp() (schemamig_drift_check) the
 * cheap test comes first: one index probe on the ledger's links for
 * unversioned DDL after accepted_seq.  Only when there is some is the
 * schema fingerprinted and compared (drift.c).
 *
 * IDENTIFICATION
 *		src/drift_baseline.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "drift_int.h"

PG_FUNCTION_INFO_V1(schemamig_drift);
PG_FUNCTION_INFO_V1(schemamig_accept_drift);
PG_FUNCTION_INFO_V1(schemamig_fingerprint_rebaseline);

static char *rows_json(List *rows);
static void record_baseline(int64 head);
static List *stored_objects(bool *known, bool any_format);
static void accept(const char *reason, const char *function, List *rows, List *marks,
				   int64 head);

/* {"type": {"identity": value, ...}, ...}, value the hash or the description */
static char *
objects_json(List *objects, bool descriptions)
{
	StringInfoData buf;
	const char *type = NULL;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '{');
	foreach(lc, objects)
	{
		SchemamigObjectHash *object = lfirst(lc);

		if (type == NULL || strcmp(type, object->type) != 0)
		{
			if (type != NULL)
				appendStringInfoString(&buf, "}, ");
			escape_json(&buf, object->type);
			appendStringInfoString(&buf, ": {");
			type = object->type;
		}
		else
			appendStringInfoString(&buf, ", ");
		escape_json(&buf, object->identity);
		appendStringInfoString(&buf, ": ");
		escape_json(&buf, descriptions ? object->description : object->hash);
	}
	if (type != NULL)
		appendStringInfoChar(&buf, '}');
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * Store the fingerprint of the schema as it is now, with the ledger's
 * head as the position it describes.  The caller is connected to SPI.
 */
static void
record_baseline(int64 head)
{
	SchemamigOwnerContext octx;
	Oid			types[7] = {TEXTOID, TEXTOID, TEXTOID, INT8OID, INT8OID, INT8OID, INT4OID};
	Datum		values[7];
	List	   *objects;
	bool		memory = schemamig_drift_has_memory();
	int			ret;

	objects = schemamig_fingerprint_objects();
	values[0] = CStringGetTextDatum(schemamig_fingerprint_of(objects));
	values[1] = CStringGetTextDatum(objects_json(objects, false));
	values[2] = CStringGetTextDatum(objects_json(objects, true));
	values[3] = Int64GetDatum(head);
	values[4] = Int64GetDatum(schemamig_ledger_current_batch());
	values[5] = Int64GetDatum(schemamig_ledger_current_last_ddl());
	values[6] = Int32GetDatum(SCHEMAMIG_FINGERPRINT_FORMAT);

	schemamig_owner_enter(&octx);
	ret = memory ?
		SPI_execute_with_args("INSERT INTO schemamig.state AS s "
							  "(fingerprint, objects, descriptions, changed_at, "
							  "fingerprint_seq, accepted_seq, baseline_batch, baseline_ddl_id, "
							  "fingerprint_format) "
							  "VALUES ($1, $2::pg_catalog.jsonb, $3::pg_catalog.jsonb, "
							  "pg_catalog.now(), $4, $4, $5, $6, $7) "
							  "ON CONFLICT (singleton) DO UPDATE "
							  "SET fingerprint = EXCLUDED.fingerprint, "
							  "fingerprint_format = EXCLUDED.fingerprint_format, "
							  "objects = EXCLUDED.objects, "
							  "descriptions = EXCLUDED.descriptions, "
							  "changed_at = EXCLUDED.changed_at, "
							  "fingerprint_seq = EXCLUDED.fingerprint_seq, "
							  "accepted_seq = EXCLUDED.accepted_seq, "
							  "baseline_batch = EXCLUDED.baseline_batch, "
							  "baseline_ddl_id = EXCLUDED.baseline_ddl_id",
							  7, types, values, NULL, false, 0) :
		SPI_execute_with_args("INSERT INTO schemamig.state AS s "
							  "(fingerprint, objects, changed_at, fingerprint_format) "
							  "VALUES ($1, $2::pg_catalog.jsonb, pg_catalog.now(), $7) "
							  "ON CONFLICT (singleton) DO UPDATE "
							  "SET fingerprint = EXCLUDED.fingerprint, "
							  "objects = EXCLUDED.objects, "
							  "changed_at = EXCLUDED.changed_at, "
							  "fingerprint_format = EXCLUDED.fingerprint_format",
							  7, types, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not update schemamig.state: %s", SPI_result_code_string(ret));
	schemamig_owner_leave(&octx);
}

/* Take the baseline now (accept_drift, and the update from 0.1.0 via it) */
void
schemamig_drift_record(void)
{
	int64		head = schemamig_ledger_head_seq();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	record_baseline(head);
	SPI_finish();
}

/*
 * After upgrade(), downgrade(), stamp() and the other migrations: the
 * first one takes the baseline; later ones leave it alone, since the DDL
 * log explains what they did.  Without the ledger (0.1.0 objects under
 * this library) every migration re-baselines, as 0.1.0 did.
 */
void
schemamig_drift_after_migration(void)
{
	int			ret;
	bool		stored;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = schemamig_owner_execute("SELECT FROM schemamig.state WHERE " STORED_FINGERPRINT_COMPARABLE,
								  0, NULL, NULL, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.state: %s", SPI_result_code_string(ret));
	stored = SPI_processed == 1;
	if (!stored || !OidIsValid(schemamig_ledger_relid("ledger")) || !schemamig_drift_has_memory())
		record_baseline(schemamig_ledger_head_seq());
	SPI_finish();
}

/* The rows as a jsonb array for the journal */
static char *
rows_json(List *rows)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	appendStringInfoChar(&buf, '[');
	foreach(lc, rows)
	{
		DriftRow   *r = lfirst(lc);
		const char *keys[6] = {"object_type", "identity", "change", "property", "before", "after"};
		const char *vals[6] = {r->type, r->identity, r->change, r->property, r->before, r->after};

		if (buf.len > 1)
			appendStringInfoString(&buf, ", ");
		appendStringInfoChar(&buf, '{');
		for (int k = 0; k < 6; k++)
		{
			if (k > 0)
				appendStringInfoString(&buf, ", ");
			escape_json(&buf, keys[k]);
			appendStringInfoString(&buf, ": ");
			if (vals[k])
				escape_json(&buf, vals[k]);
			else
				appendStringInfoString(&buf, "null");
		}
		appendStringInfoChar(&buf, '}');
	}
	appendStringInfoChar(&buf, ']');
	return buf.data;
}

/*
 * The journal row ('accept_drift': the reason, the drift rows and the
 * unversioned DDL accepted) and the new baseline at "head", read before
 * the rows were computed: what commits after it stays unaccepted.
 */
static void
accept(const char *reason, const char *function, List *rows, List *marks, int64 head)
{
	StringInfoData detail;
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	SchemamigOwnerContext octx;
	int			ret;

	initStringInfo(&detail);
	appendStringInfoString(&detail, "{\"reason\": ");
	escape_json(&detail, reason);
	if (function)
	{
		appendStringInfoString(&detail, ", \"by\": ");
		escape_json(&detail, function);
	}
	appendStringInfo(&detail, ", \"drift\": %s, \"unversioned\": %s}",
					 rows_json(rows), rows_json(marks));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = CStringGetTextDatum("accept_drift");
	values[1] = CStringGetTextDatum(detail.data);
	schemamig_owner_enter(&octx);
	ret = SPI_execute_with_args("INSERT INTO schemamig.journal (action, detail, duration, xid) "
								"VALUES ($1, $2::pg_catalog.jsonb, '0'::pg_catalog.interval, "
								"pg_catalog.pg_current_xact_id())",
								2, types, values, NULL, false, 0);
	schemamig_owner_leave(&octx);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not insert into schemamig.journal: %s", SPI_result_code_string(ret));
	record_baseline(head);
	SPI_finish();
}

/* "table public.t (added)", "column public.t.c (changed: type)" */
static char *
rows_list(List *rows)
{
	StringInfoData list;
	ListCell   *lc;
	int			n = 0;

	initStringInfo(&list);
	foreach(lc, rows)
	{
		DriftRow   *r = lfirst(lc);

		if (++n > 20)
		{
			appendStringInfo(&list, ", and %d more", list_length(rows) - 20);
			break;
		}
		appendStringInfo(&list, "%s%s %s (%s%s%s)", n > 1 ? ", " : "",
						 r->type ? r->type : "object", r->identity ? r->identity : "?",
						 r->change, r->property ? ": " : "", r->property ? r->property : "");
	}
	return list.data;
}

/*
 * Before upgrade(), downgrade() and stamp() (after the history lock).
 * Cheap unless there is something to report: one index probe on the
 * links for unversioned DDL not yet accepted.  When there is, the drift is
 * computed: under enforce it refuses the call (SM008); under warn and off
 * the call accepts it with a journal row and goes on.  Unversioned DDL
 * that left no difference (undone since) is accepted with a journal row
 * under every mode.
 */
void
schemamig_drift_check(const char *function)
{
	List	   *rows;
	List	   *marks;
	int64		accepted = 0;
	int64		baseline_batch = 0;
	int64		head;
	int			ret;
	bool		any;
	bool		known;
	bool		isnull;

	if (!OidIsValid(schemamig_ledger_relid("ledger")))
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!schemamig_drift_has_memory())
	{
		SPI_finish();
		return;
	}
	ret = schemamig_owner_execute("SELECT COALESCE(accepted_seq, 0), COALESCE(baseline_batch, 0) "
								  "FROM schemamig.state WHERE " STORED_FINGERPRINT_COMPARABLE,
								  0, NULL, NULL, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.state: %s", SPI_result_code_string(ret));
	/* no baseline yet: the migration takes the first one */
	if (SPI_processed == 0)
	{
		SPI_finish();
		return;
	}
	accepted = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	baseline_batch = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	{
		Oid			types[2] = {INT8OID, INT8OID};
		Datum		values[2];

		values[0] = Int64GetDatum(accepted);
		values[1] = Int64GetDatum(baseline_batch);
		ret = schemamig_owner_execute("SELECT FROM schemamig.ledger WHERE seq OPERATOR(pg_catalog.>) $1 "
									  "AND unversioned OPERATOR(pg_catalog.>) 0 "
									  "AND $2 OPERATOR(pg_catalog.>=) 0 LIMIT 1",
									  2, types, values, NULL, false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read schemamig.ledger: %s", SPI_result_code_string(ret));
		any = SPI_processed > 0 ||
			(schemamig_ledger_current_unversioned() > 0 &&
			 schemamig_ledger_current_batch() != baseline_batch);
	}
	SPI_finish();
	if (!any)
		return;

	head = schemamig_ledger_head_seq();
	rows = schemamig_drift_compute(&known, head, false, &marks);
	if (rows == NIL && marks == NIL)
	{
		/* only what the baseline itself took in: move the mark on */
		Oid			types[1] = {INT8OID};
		Datum		values[1];

		values[0] = Int64GetDatum(head);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		ret = schemamig_owner_execute("UPDATE schemamig.state SET accepted_seq = $1",
									  1, types, values, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "could not update schemamig.state: %s", SPI_result_code_string(ret));
		SPI_finish();
		return;
	}
	if (rows == NIL)
	{
		accept("unversioned changes left no difference", function, rows, marks, head);
		return;
	}
	if (schemamig_guard_mode == GUARD_ENFORCE)
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_DRIFT),
				 errmsg("%s refused: the schema has drifted from its revisions", function),
				 errdetail("Unversioned changes since the last accepted state: %s.", rows_list(rows)),
				 errhint("Review them with SELECT * FROM schemamig.drift(); then turn them into a revision, undo them, or accept them with SELECT schemamig.accept_drift('reason').")));
	if (schemamig_guard_mode == GUARD_WARN)
		ereport(WARNING,
				(errmsg("%s accepts the schema's drift from its revisions", function),
				 errdetail("Unversioned changes: %s.", rows_list(rows)),
				 errhint("schemamig.guard is \"warn\"; the drift is recorded in schemamig.journal as accept_drift.")));
	accept(psprintf("%s under schemamig.guard = %s", function,
					schemamig_guard_mode == GUARD_WARN ? "warn" : "off"),
		   function, rows, marks, head);
}

static void
put_row(ReturnSetInfo *rsinfo, DriftRow * r)
{
	Datum		values[6];
	bool		nulls[6];
	const char *vals[6] = {r->type, r->identity, r->change, r->property, r->before, r->after};

	for (int k = 0; k < 6; k++)
	{
		nulls[k] = vals[k] == NULL;
		values[k] = nulls[k] ? (Datum) 0 : CStringGetTextDatum(vals[k]);
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * drift(): differences from the baseline that no versioned DDL explains,
 * in (type, identity) order, one row per changed property.
 */
Datum
schemamig_drift(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *rows;
	ListCell   *lc;
	bool		known;

	InitMaterializedSRF(fcinfo, 0);
	rows = schemamig_drift_compute(&known, 0, false, NULL);
	if (!known)
	{
		(void) stored_objects(&known, true);
		if (known)
			ereport(NOTICE,
					(errmsg("the stored schema fingerprint is of another format than this library computes (%d)",
							SCHEMAMIG_FINGERPRINT_FORMAT),
					 errdetail("Fingerprints of different formats are never compared."),
					 errhint("Run ALTER EXTENSION schemamig UPDATE, or accept_drift(), to store it again.")));
		else
			ereport(NOTICE,
					(errmsg("no schema fingerprint has been recorded yet"),
					 errdetail("The first upgrade(), downgrade() or stamp() records it."),
					 errhint("accept_drift() makes the schema as it is now the reference.")));
		return (Datum) 0;
	}
	foreach(lc, rows)
		put_row(rsinfo, lfirst(lc));
	return (Datum) 0;
}

/*
 * accept_drift(reason text) -> integer: record the drift as accepted (a
 * journal row with the reason and the drift() list) and make the schema as
 * it is now the baseline.  Returns the number of drift rows accepted.
 */
Datum
schemamig_accept_drift(PG_FUNCTION_ARGS)
{
	char	   *reason;
	List	   *rows;
	List	   *marks;
	bool		known;
	int64		head;

	schemamig_check_writable("accept_drift()");
	schemamig_check_not_nested("accept_drift()");
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a reason is required to accept drift"),
				 errhint("Say why the schema may differ from its revisions, e.g. accept_drift('hotfix index, ticket 123').")));
	reason = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (strspn(reason, " \t\r\n") == strlen(reason))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a reason is required to accept drift"),
				 errhint("Say why the schema may differ from its revisions, e.g. accept_drift('hotfix index, ticket 123').")));
	if (strlen(reason) > 65536)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("reason is longer than 64 KB")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_lock_history();
	schemamig_bump_generation();
	SPI_finish();
	head = schemamig_ledger_head_seq();
	rows = schemamig_drift_compute(&known, head, false, &marks);
	accept(reason, NULL, rows, marks, head);
	PG_RETURN_INT32(list_length(rows));
}

/*
 * The objects stored by the last schemamig_drift_record(), sorted like
 * schemamig_fingerprint_objects().  Allocated in the caller's context; the
 * caller is connected to SPI.
 */
static List *
stored_objects(bool *known, bool any_format)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	List	   *objects = NIL;
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = schemamig_owner_execute(any_format ?
								  "SELECT t.key, o.key, o.value, s.fingerprint "
								  "FROM schemamig.state s "
								  "LEFT JOIN LATERAL pg_catalog.jsonb_each(s.objects) t ON true "
								  "LEFT JOIN LATERAL pg_catalog.jsonb_each_text(t.value) o ON true "
								  "WHERE s.fingerprint IS NOT NULL" :
								  "SELECT t.key, o.key, o.value, s.fingerprint "
								  "FROM schemamig.state s "
								  "LEFT JOIN LATERAL pg_catalog.jsonb_each(s.objects) t ON true "
								  "LEFT JOIN LATERAL pg_catalog.jsonb_each_text(t.value) o ON true "
								  "WHERE s." STORED_FINGERPRINT_COMPARABLE,
								  0, NULL, NULL, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.state: %s", SPI_result_code_string(ret));

	*known = SPI_processed > 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext spi_cxt = MemoryContextSwitchTo(caller_cxt);
		SchemamigObjectHash *object = schemamig_drift_object_from_row(tuple, desc, false);

		if (object)
			objects = lappend(objects, object);
		MemoryContextSwitchTo(spi_cxt);
	}
	SPI_finish();

	list_sort(objects, schemamig_drift_object_cmp);
	return objects;
}

/* The objects a rebaseline describes differently: the first ten named */
typedef struct DifferenceNames
{
	StringInfoData text;
	int			count;
}			DifferenceNames;

static void
name_difference(SchemamigDiffKind kind, SchemamigObjectHash *before,
				SchemamigObjectHash *after, void *arg)
{
	DifferenceNames *names = (DifferenceNames *) arg;
	SchemamigObjectHash *named = after ? after : before;

	if (names->count++ < 10)
		appendStringInfo(&names->text, "%s%s %s", names->count > 1 ? ", " : "",
						 named->type, named->identity);
}

/*
 * At ALTER EXTENSION schemamig UPDATE (called by the update script): when
 * the stored fingerprint is of another format than this library computes,
 * store it again in this format, with a journal row of action 'baseline'
 * (target "fingerprint format N"), so that a format change never shows as
 * drift.  Objects whose stored hash differs are named in a NOTICE: a
 * description that changed with the format, or drift that was already
 * there before the update.  Does nothing when no fingerprint was stored,
 * or it already is of this format.
 */
Datum
schemamig_fingerprint_rebaseline(PG_FUNCTION_ARGS)
{
	List	   *stored;
	List	   *current;
	bool		known;
	int			ret;
	int			differ;
	DifferenceNames names;
	char		target[64];

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = schemamig_owner_execute("SELECT 1 FROM schemamig.state WHERE "
								  STORED_FINGERPRINT_COMPARABLE,
								  0, NULL, NULL, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.state: %s", SPI_result_code_string(ret));
	known = SPI_processed > 0;
	SPI_finish();
	if (known)
		PG_RETURN_BOOL(false);
	stored = stored_objects(&known, true);
	if (!known)
		PG_RETURN_BOOL(false);

	current = schemamig_fingerprint_objects();
	memset(&names, 0, sizeof(names));
	initStringInfo(&names.text);
	schemamig_fingerprint_diff(stored, current, name_difference, &names);
	differ = names.count;
	if (differ > 0)
		ereport(NOTICE,
				(errmsg("the schema fingerprint was stored again in format %d; %d object(s) are described differently",
						SCHEMAMIG_FINGERPRINT_FORMAT, differ),
				 errdetail("%s%s", names.text.data, differ > 10 ? ", ..." : ""),
				 errhint("These are description changes of the new format, or drift that existed before the update.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	snprintf(target, sizeof(target), "fingerprint format %d", SCHEMAMIG_FINGERPRINT_FORMAT);
	schemamig_journal_insert(NULL, "baseline", target, GetCurrentTimestamp());
	SPI_finish();
	schemamig_drift_record();
	PG_RETURN_BOOL(true);
}
