/*-------------------------------------------------------------------------
 *
 * drift.c
 *		Drift: has the schema changed since schemamig last moved it?
 *
 * After every upgrade, downgrade and stamp the fingerprint of the schema
 * (fingerprint.c) and the hash of every object behind it are stored in the
 * single row of schemamig.state.  status() reports drift when today's
 * fingerprint differs from the stored one; drift() names the objects that
 * were added, removed or changed since.  Design decisions:
 *
 * - The objects are stored as jsonb grouped by type,
 *   {"column": {"public.users.bio": "<sha256>", ...}, "table": {...}},
 *   which a person can read and query with jsonb operators; the
 *   fingerprint is stored beside them so status() compares one string.
 *
 * - Both sides are compared in C after a byte-wise sort (the order
 *   fingerprint.c produces), never with a collation-dependent join.
 *
 * - schemamig.state is not readable by PUBLIC; it is written and read as
 *   the extension's table owner (schemamig_owner_enter), while the schema
 *   itself is read by fingerprint.c, so drift() and status() work for
 *   every role.
 *
 * IDENTIFICATION
 *		src/drift.c
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
#include "utils/json.h"
#include "utils/tuplestore.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_drift);
PG_FUNCTION_INFO_V1(schemamig_fingerprint_rebaseline);

static char *objects_json(List *objects);
static List *stored_objects(bool *known, bool any_format);
static int	object_cmp(const ListCell *a, const ListCell *b);
static void put_change(SchemamigDiffKind kind, SchemamigObjectHash *before,
					   SchemamigObjectHash *after, void *arg);

static int
object_cmp(const ListCell *a, const ListCell *b)
{
	return schemamig_fingerprint_order(lfirst(a), lfirst(b));
}

/* {"type": {"identity": "hash", ...}, ...} from a list sorted by type */
static char *
objects_json(List *objects)
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
		escape_json(&buf, object->hash);
	}
	if (type != NULL)
		appendStringInfoChar(&buf, '}');
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * Store the fingerprint of the schema as it is now.  Called by upgrade(),
 * downgrade() and stamp() at the end of their work, in their transaction.
 */
void
schemamig_drift_record(void)
{
	SchemamigOwnerContext octx;
	Oid			types[3] = {TEXTOID, TEXTOID, INT4OID};
	Datum		values[3];
	List	   *objects;
	int			ret;

	objects = schemamig_fingerprint_objects();
	values[0] = CStringGetTextDatum(schemamig_fingerprint_of(objects));
	values[1] = CStringGetTextDatum(objects_json(objects));
	values[2] = Int32GetDatum(SCHEMAMIG_FINGERPRINT_FORMAT);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_owner_enter(&octx);
	ret = SPI_execute_with_args("INSERT INTO schemamig.state AS s "
								"(fingerprint, objects, fingerprint_format, changed_at) "
								"VALUES ($1, $2::pg_catalog.jsonb, $3, pg_catalog.now()) "
								"ON CONFLICT (singleton) DO UPDATE "
								"SET fingerprint = EXCLUDED.fingerprint, "
								"objects = EXCLUDED.objects, "
								"fingerprint_format = EXCLUDED.fingerprint_format, "
								"changed_at = EXCLUDED.changed_at",
								3, types, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not update schemamig.state: %s", SPI_result_code_string(ret));
	schemamig_owner_leave(&octx);
	SPI_finish();
}

/*
 * The stored fingerprint is compared only when it is of this library's
 * format; NULL is format 1 (0.1.0 had no column for it, and a dump of a
 * 0.1.0 database restored into 0.2 brings none)
 */
#define STORED_FINGERPRINT_COMPARABLE \
	"fingerprint IS NOT NULL AND COALESCE(fingerprint_format, 1) " \
	"OPERATOR(pg_catalog.=) " CppAsString2(SCHEMAMIG_FINGERPRINT_FORMAT)

/*
 * Is the schema different from the one stored after the last migration?
 * *known is false when nothing comparable was stored yet (no upgrade,
 * downgrade or stamp ever ran, or one of another fingerprint format); the
 * answer is then false.
 */
bool
schemamig_drift_detected(bool *known)
{
	char	   *stored = NULL;
	bool		drift = false;
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = schemamig_owner_execute("SELECT fingerprint FROM schemamig.state "
								  "WHERE " STORED_FINGERPRINT_COMPARABLE,
								  0, NULL, NULL, NULL, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.state: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
		stored = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

	*known = (stored != NULL);
	if (stored != NULL)
		drift = strcmp(stored,
					   schemamig_fingerprint_of(schemamig_fingerprint_objects())) != 0;
	SPI_finish();
	return drift;
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
		MemoryContext spi_cxt;
		SchemamigObjectHash *object;
		bool		isnull;

		/* an empty schema leaves one row of NULLs */
		(void) SPI_getbinval(tuple, desc, 2, &isnull);
		if (isnull)
			continue;
		spi_cxt = MemoryContextSwitchTo(caller_cxt);
		object = palloc(sizeof(SchemamigObjectHash));
		object->type = SPI_getvalue(tuple, desc, 1);
		object->identity = SPI_getvalue(tuple, desc, 2);
		object->hash = SPI_getvalue(tuple, desc, 3);
		objects = lappend(objects, object);
		MemoryContextSwitchTo(spi_cxt);
	}
	SPI_finish();

	list_sort(objects, object_cmp);
	return objects;
}

static void
put_change(SchemamigDiffKind kind, SchemamigObjectHash *before,
		   SchemamigObjectHash *after, void *arg)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	SchemamigObjectHash *object = after ? after : before;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	values[0] = CStringGetTextDatum(object->type);
	values[1] = CStringGetTextDatum(object->identity);
	values[2] = CStringGetTextDatum(kind == DIFF_REMOVED ? "removed" :
									kind == DIFF_ADDED ? "added" : "changed");
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * drift(): the objects added, removed or changed since the last upgrade,
 * downgrade or stamp, in (type, identity) order.
 */
Datum
schemamig_drift(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *stored;
	List	   *current;
	bool		known;

	InitMaterializedSRF(fcinfo, 0);
	stored = stored_objects(&known, false);
	if (!known)
	{
		(void) stored_objects(&known, true);
		if (known)
			ereport(NOTICE,
					(errmsg("the stored schema fingerprint is of another format than this library computes (%d)",
							SCHEMAMIG_FINGERPRINT_FORMAT),
					 errdetail("Fingerprints of different formats are never compared."),
					 errhint("Run ALTER EXTENSION schemamig UPDATE, or stamp the current revision, to store it again.")));
		else
			ereport(NOTICE,
					(errmsg("no schema fingerprint has been recorded yet"),
					 errdetail("The fingerprint is stored by upgrade(), downgrade() and stamp()."),
					 errhint("Stamp the current revision to make the schema as it is now the reference.")));
		return (Datum) 0;
	}
	current = schemamig_fingerprint_objects();

	schemamig_fingerprint_diff(stored, current, put_change, rsinfo);
	return (Datum) 0;
}

/* The objects a rebaseline describes differently: the first ten named */
typedef struct DifferenceNames
{
	StringInfoData text;
	int			count;
} DifferenceNames;

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
