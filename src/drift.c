/*-------------------------------------------------------------------------
 *
 * drift.c
 *		Drift: does the schema differ from what the applied revisions
 *		explain?
 *
 * Drift has a memory.  The baseline is a fingerprint of the schema
 * (fingerprint.c) with every object's hash and description, stored in the
 * single row of schemamig.state together with two positions in the
 * ledger (ledger.c): fingerprint_seq, the newest link when it was taken,
 * and accepted_seq, up to which unversioned DDL has been accepted.  The
 * baseline is taken once (by the first migration) and again only by
 * accept_drift(), never silently: migrations do not re-baseline.
 *
 * The schema differs from the baseline in two ways, and the DDL log tells
 * them apart:
 *
 * - explained: objects that versioned DDL touched since fingerprint_seq,
 *   whatever ran it: upgrade(), downgrade(), begin_revision(), the steps
 *   of a non-transactional revision, an upgrade_each() that stopped half
 *   way, an Alembic migration.  Their log rows name the objects; an object
 *   is explained when it or its table is named (columns, constraints,
 *   triggers of a table), and a rename or a GRANT, which the log cannot
 *   name precisely, explains its whole schema.
 *
 * - drift: every other difference, and every unversioned DDL statement
 *   (logged under schemamig.guard = warn or off) in a link after
 *   accepted_seq, even if it was undone since.
 *
 * Cost: nothing is fingerprinted per migration, per revision or per
 * commit.  upgrade(), downgrade() and stamp() check only for unaccepted
 * unversioned DDL, one index probe on the links; drift() and status()
 * fingerprint the schema when asked.  Under enforce that check refuses
 * with SM008 until accept_drift(reason) records a journal row
 * ('accept_drift', the reason and the drift() list in detail) and
 * re-baselines; under warn and off the migration records that row itself
 * and goes on (with a WARNING under warn).
 *
 * A change that bypassed the log (schemamig.restoring, event triggers
 * switched off, single-user mode) is found by drift() and status() unless
 * versioned DDL touched the same object (or, for renames and grants, the
 * same schema) since the baseline.
 *
 * - Everything is compared in C after a byte-wise sort (the order
 *   fingerprint.c produces), never with a collation-dependent join.
 * - schemamig.state and the log are read as the extension's table owner;
 *   drift() shows object names and catalog properties, which every role can
 *   read in the catalogs, and for unversioned DDL only its command tag.
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
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/tuplestore.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_drift);
PG_FUNCTION_INFO_V1(schemamig_accept_drift);
PG_FUNCTION_INFO_V1(schemamig_fingerprint_rebaseline);

/* One row of drift() */
typedef struct DriftRow
{
	const char *type;
	const char *identity;
	const char *change;			/* added, removed, changed, unversioned */
	const char *property;
	const char *before;
	const char *after;
}			DriftRow;

/* The stored baseline */
typedef struct Baseline
{
	bool		known;			/* a fingerprint was stored */
	bool		memory;			/* the 0.2 columns exist */
	List	   *objects;		/* SchemamigObjectHash, sorted */
	int64		fingerprint_seq;
	int64		accepted_seq;
	int64		baseline_batch; /* the batch of the transaction that took it */
	int64		baseline_ddl_id;	/* and its last DDL log row then */
}			Baseline;

/* What versioned DDL since the baseline touched */
typedef struct Explained
{
	bool		everything;
	List	   *identities;		/* char *: objects and tables named */
	List	   *schemas;		/* char *: schemas renamed or granted in */
	List	   *unexplained;	/* char *: named by unaccepted unversioned DDL */
}			Explained;

static const char *const labels[] = {
	"access method ", "acl ", "cache ", "collation ", "cycle ", "default ",
	"definition ", "enabled ", "expressions ", "generated ", "identity ",
	"include ", "increment ", "inherits ", "keys ", "kind ", "max ", "min ",
	"nulls not distinct ", "of type ", "on ", "options ", "owned by ", "owner ",
	"partition bound ", "partition key ", "persistence ", "replica identity ",
	"server ", "start ", "tablespace ", "type ", "using ", "where "
};
static const char *const flags[] = {
	"force row level security", "not null", "row level security", "unique"
};

static void load_baseline(Baseline * b, MemoryContext cxt);
static void load_explained(Explained * e, Baseline * b, MemoryContext cxt);
static List *load_marks(Baseline * b, int64 upto, MemoryContext cxt);
static List *compute_drift(bool *known, int64 upto, bool stop_at_first, List **marks);
static bool is_explained(Explained * e, SchemamigObjectHash *object);
static int	object_cmp(const ListCell *a, const ListCell *b);
static int	object_order(SchemamigObjectHash *x, SchemamigObjectHash *y);
static List *describe_changes(List *rows, SchemamigObjectHash *s, SchemamigObjectHash *c);
static char *rows_json(List *rows);
static void record_baseline(int64 head);
static List *stored_objects(bool *known, bool any_format);
static void accept(const char *reason, const char *function, List *rows, List *marks,
				   int64 head);

/* The order of schemamig_fingerprint_objects(): byte-wise (type, identity) */
static int
object_order(SchemamigObjectHash *x, SchemamigObjectHash *y)
{
	int			r = strcmp(x->type, y->type);

	return r != 0 ? r : strcmp(x->identity, y->identity);
}

static int
object_cmp(const ListCell *a, const ListCell *b)
{
	return schemamig_fingerprint_order(lfirst(a), lfirst(b));
}

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
 * The stored fingerprint is compared only when it is of this library's
 * format; NULL is format 1 (0.1.0 had no column for it, and a dump of a
 * 0.1.0 database restored into 0.2 brings none)
 */
#define STORED_FINGERPRINT_COMPARABLE \
	"fingerprint IS NOT NULL AND COALESCE(fingerprint_format, 1) " \
	"OPERATOR(pg_catalog.=) " CppAsString2(SCHEMAMIG_FINGERPRINT_FORMAT)

/* Are the 0.2 columns of schemamig.state there (an older install may run) */
static bool
state_has_memory(void)
{
	int			ret = schemamig_owner_execute("SELECT FROM pg_catalog.pg_attribute "
											  "WHERE attrelid OPERATOR(pg_catalog.=) 'schemamig.state'::pg_catalog.regclass "
											  "AND attname OPERATOR(pg_catalog.=) 'accepted_seq' AND NOT attisdropped",
											  0, NULL, NULL, NULL, true, 1);

	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_attribute: %s", SPI_result_code_string(ret));
	return SPI_processed == 1;
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
	bool		memory = state_has_memory();
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
	if (!stored || !OidIsValid(schemamig_ledger_relid("ledger")) || !state_has_memory())
		record_baseline(schemamig_ledger_head_seq());
	SPI_finish();
}

/* The baseline; the caller is connected to SPI */
static void
load_baseline(Baseline * b, MemoryContext caller_cxt)
{
	int			ret;

	memset(b, 0, sizeof(Baseline));
	b->memory = state_has_memory();
	ret = schemamig_owner_execute(b->memory ?
								  "SELECT t.key, o.key, o.value, "
								  "s.descriptions OPERATOR(pg_catalog.->) t.key "
								  "OPERATOR(pg_catalog.->>) o.key, "
								  "COALESCE(s.fingerprint_seq, 0), "
								  "COALESCE(s.accepted_seq, 0), "
								  "COALESCE(s.baseline_batch, 0), "
								  "COALESCE(s.baseline_ddl_id, 0) "
								  "FROM schemamig.state s "
								  "LEFT JOIN LATERAL pg_catalog.jsonb_each(s.objects) t ON true "
								  "LEFT JOIN LATERAL pg_catalog.jsonb_each_text(t.value) o ON true "
								  "WHERE s." STORED_FINGERPRINT_COMPARABLE :
								  "SELECT t.key, o.key, o.value, NULL::text, 0::int8, 0::int8, 0::int8, 0::int8 "
								  "FROM schemamig.state s "
								  "LEFT JOIN LATERAL pg_catalog.jsonb_each(s.objects) t ON true "
								  "LEFT JOIN LATERAL pg_catalog.jsonb_each_text(t.value) o ON true "
								  "WHERE s." STORED_FINGERPRINT_COMPARABLE,
								  0, NULL, NULL, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.state: %s", SPI_result_code_string(ret));

	b->known = SPI_processed > 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext spi_cxt;
		SchemamigObjectHash *object;
		bool		isnull;

		b->fingerprint_seq = DatumGetInt64(SPI_getbinval(tuple, desc, 5, &isnull));
		b->accepted_seq = DatumGetInt64(SPI_getbinval(tuple, desc, 6, &isnull));
		b->baseline_batch = DatumGetInt64(SPI_getbinval(tuple, desc, 7, &isnull));
		b->baseline_ddl_id = DatumGetInt64(SPI_getbinval(tuple, desc, 8, &isnull));
		/* an empty schema leaves one row of NULLs */
		(void) SPI_getbinval(tuple, desc, 2, &isnull);
		if (isnull)
			continue;
		spi_cxt = MemoryContextSwitchTo(caller_cxt);
		object = palloc(sizeof(SchemamigObjectHash));
		object->type = SPI_getvalue(tuple, desc, 1);
		object->identity = SPI_getvalue(tuple, desc, 2);
		object->hash = SPI_getvalue(tuple, desc, 3);
		object->description = SPI_getvalue(tuple, desc, 4);
		b->objects = lappend(b->objects, object);
		MemoryContextSwitchTo(spi_cxt);
	}
	list_sort(b->objects, object_cmp);
}

/*
 * The DDL log rows of the links after "after" (and, for the explanation,
 * of this transaction), through each link's first row and row count.
 */
#define LINK_ROWS(filter) \
	"FROM schemamig.ledger l CROSS JOIN LATERAL (SELECT d.objects, d.command_tag, " \
	"d.statement, d.direction, d.id FROM schemamig.ddl_log d " \
	"WHERE d.id OPERATOR(pg_catalog.>=) l.ddl_first " \
	"AND d.ledger_batch OPERATOR(pg_catalog.=) l.batch " \
	"ORDER BY d.id LIMIT l.ddl_rows) d " \
	"LEFT JOIN LATERAL pg_catalog.jsonb_array_elements(d.objects) o ON true " \
	"WHERE l.seq OPERATOR(pg_catalog.>) $1 AND " filter

#define OWN_ROWS \
	"FROM schemamig.ddl_log d " \
	"LEFT JOIN LATERAL pg_catalog.jsonb_array_elements(d.objects) o ON true " \
	"WHERE $2 OPERATOR(pg_catalog.>) 0 AND d.id OPERATOR(pg_catalog.>=) $2 " \
	"AND d.ledger_batch OPERATOR(pg_catalog.=) $3 "

static void
load_explained(Explained * e, Baseline * b, MemoryContext caller_cxt)
{
	Oid			types[5] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		values[5];
	int			ret;

	memset(e, 0, sizeof(Explained));
	values[0] = Int64GetDatum(b->fingerprint_seq);
	values[1] = Int64GetDatum(schemamig_ledger_current_first_ddl());
	values[2] = Int64GetDatum(schemamig_ledger_current_batch());
	values[3] = Int64GetDatum(b->baseline_batch);
	values[4] = Int64GetDatum(b->baseline_ddl_id);
	ret = schemamig_owner_execute("SELECT o.value OPERATOR(pg_catalog.->>) 'identity', "
								  "o.value OPERATOR(pg_catalog.->>) 'schema', "
								  "d.statement OPERATOR(pg_catalog.~*) '\\mrename\\M' "
								  "OR d.command_tag OPERATOR(pg_catalog.=) ANY ('{GRANT,REVOKE,ALTER DEFAULT PRIVILEGES}') "
								  LINK_ROWS("l.ddl_rows OPERATOR(pg_catalog.>) 0 "
											"AND NOT (l.batch OPERATOR(pg_catalog.=) $4 "
											"AND d.id OPERATOR(pg_catalog.<=) $5) "
											"AND d.direction OPERATOR(pg_catalog.<>) 'unversioned' ")
								  "UNION ALL SELECT o.value OPERATOR(pg_catalog.->>) 'identity', "
								  "o.value OPERATOR(pg_catalog.->>) 'schema', "
								  "d.statement OPERATOR(pg_catalog.~*) '\\mrename\\M' "
								  "OR d.command_tag OPERATOR(pg_catalog.=) ANY ('{GRANT,REVOKE,ALTER DEFAULT PRIVILEGES}') "
								  OWN_ROWS "AND d.direction OPERATOR(pg_catalog.<>) 'unversioned' "
								  "AND NOT ($3 OPERATOR(pg_catalog.=) $4 AND d.id OPERATOR(pg_catalog.<=) $5)",
								  5, types, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.ddl_log: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *identity = SPI_getvalue(tuple, desc, 1);
		char	   *schema = SPI_getvalue(tuple, desc, 2);
		bool		isnull;
		bool		wide = DatumGetBool(SPI_getbinval(tuple, desc, 3, &isnull));
		MemoryContext spi_cxt = MemoryContextSwitchTo(caller_cxt);

		if (identity == NULL || wide)
		{
			if (schema == NULL)
				e->everything = true;
			else
				e->schemas = lappend(e->schemas, pstrdup(schema));
		}
		if (identity != NULL)
		{
			/* "trg on s.t", "c on s.t": the table's */
			char	   *on = strstr(identity, " on ");

			e->identities = lappend(e->identities, pstrdup(on ? on + 4 : identity));
		}
		MemoryContextSwitchTo(spi_cxt);
	}
}

/* The table of an index, from its description's "on " line, or NULL */
static char *
index_table(SchemamigObjectHash *object)
{
	const char *d = object->description;
	const char *line;
	const char *end;

	if (d == NULL || strcmp(object->type, "index") != 0)
		return NULL;
	line = strncmp(d, "on ", 3) == 0 ? d : strstr(d, "\non ");
	if (line == NULL)
		return NULL;
	line += line == d ? 3 : 4;
	end = strchr(line, '\n');
	return end ? pnstrdup(line, end - line) : pstrdup(line);
}

static bool is_explained_identity(Explained * e, const char *identity);

/* An object, or for an index its table, explained by versioned DDL */
static bool
is_explained(Explained * e, SchemamigObjectHash *object)
{
	char	   *table = index_table(object);

	if (table == NULL)
		return is_explained_identity(e, object->identity);
	if (!is_explained_identity(e, object->identity) && !is_explained_identity(e, table))
		return false;
	/* what unversioned DDL named, index or table, stays unexplained */
	{
		Explained	only_marks = *e;

		only_marks.everything = true;
		return is_explained_identity(&only_marks, object->identity) &&
			is_explained_identity(&only_marks, table);
	}
}

/* Named itself, or the table (any prefix before a '.') it belongs to */
static bool
is_explained_identity(Explained * e, const char *identity)
{
	ListCell   *lc;
	const char *dot = strchr(identity, '.');
	int			schemalen = dot ? dot - identity : strlen(identity);

	/* what unversioned DDL named is never explained */
	foreach(lc, e->unexplained)
	{
		const char *named = lfirst(lc);
		int			len = strlen(named);

		if (strncmp(named, identity, len) == 0 &&
			(identity[len] == '\0' || identity[len] == '.'))
			return false;
	}
	if (e->everything)
		return true;
	foreach(lc, e->schemas)
	{
		const char *schema = lfirst(lc);

		if ((int) strlen(schema) == schemalen && strncmp(schema, identity, schemalen) == 0)
			return true;
	}
	foreach(lc, e->identities)
	{
		const char *named = lfirst(lc);
		int			len = strlen(named);

		if (strncmp(named, identity, len) == 0 &&
			(identity[len] == '\0' || identity[len] == '.'))
			return true;
	}
	return false;
}

/* Unversioned DDL after accepted_seq (up to "upto" if > 0), and this transaction's */
static List *
load_marks(Baseline * b, int64 upto, MemoryContext caller_cxt)
{
	Oid			types[6] = {INT8OID, INT8OID, INT8OID, INT8OID, INT8OID, INT8OID};
	Datum		values[6];
	List	   *rows = NIL;
	int			ret;

	values[5] = Int64GetDatum(b->baseline_ddl_id);
	values[0] = Int64GetDatum(b->accepted_seq);
	values[1] = Int64GetDatum(schemamig_ledger_current_first_ddl());
	values[2] = Int64GetDatum(schemamig_ledger_current_batch());
	values[3] = Int64GetDatum(upto);
	values[4] = Int64GetDatum(b->baseline_batch);
	ret = schemamig_owner_execute("SELECT o.value OPERATOR(pg_catalog.->>) 'type', "
								  "o.value OPERATOR(pg_catalog.->>) 'identity', d.command_tag "
								  LINK_ROWS("l.unversioned OPERATOR(pg_catalog.>) 0 "
											"AND ($4 OPERATOR(pg_catalog.=) 0 OR l.seq OPERATOR(pg_catalog.<=) $4) "
											"AND NOT (l.batch OPERATOR(pg_catalog.=) $5 "
											"AND d.id OPERATOR(pg_catalog.<=) $6) "
											"AND d.direction OPERATOR(pg_catalog.=) 'unversioned' ")
								  "UNION ALL SELECT o.value OPERATOR(pg_catalog.->>) 'type', "
								  "o.value OPERATOR(pg_catalog.->>) 'identity', d.command_tag "
								  OWN_ROWS "AND d.direction OPERATOR(pg_catalog.=) 'unversioned' "
								  "AND NOT ($3 OPERATOR(pg_catalog.=) $5 AND d.id OPERATOR(pg_catalog.<=) $6)",
								  6, types, values, NULL, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.ddl_log: %s", SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		char	   *type = SPI_getvalue(tuple, desc, 1);
		char	   *identity = SPI_getvalue(tuple, desc, 2);
		char	   *tag = SPI_getvalue(tuple, desc, 3);
		MemoryContext spi_cxt;
		DriftRow   *row;
		bool		seen = false;
		ListCell   *lc;

		/* one statement can name an object twice; several can alike */
		foreach(lc, rows)
		{
			DriftRow   *r = lfirst(lc);

			if (strcmp(r->after, tag) == 0 &&
				((r->type == NULL && type == NULL) || (r->type && type && strcmp(r->type, type) == 0)) &&
				((r->identity == NULL && identity == NULL) ||
				 (r->identity && identity && strcmp(r->identity, identity) == 0)))
				seen = true;
		}
		if (seen)
			continue;
		spi_cxt = MemoryContextSwitchTo(caller_cxt);
		row = palloc0(sizeof(DriftRow));
		row->type = type ? pstrdup(type) : NULL;
		row->identity = identity ? pstrdup(identity) : NULL;
		row->change = "unversioned";
		row->property = "ddl";
		row->after = pstrdup(tag);
		rows = lappend(rows, row);
		MemoryContextSwitchTo(spi_cxt);
	}
	return rows;
}

/* A description's properties: label -> value, in order */
typedef struct Property
{
	const char *label;
	StringInfoData value;
}			Property;

static List *
properties(const char *description)
{
	List	   *props = NIL;
	Property   *cur = NULL;
	char	   *copy = pstrdup(description ? description : "");
	char	   *line = copy;

	while (line && *line)
	{
		char	   *next = strchr(line, '\n');
		const char *label = NULL;
		int			len = 0;

		if (next)
			*next++ = '\0';
		for (int i = 0; i < lengthof(labels) && !label; i++)
			if (strncmp(line, labels[i], strlen(labels[i])) == 0)
				label = labels[i], len = strlen(labels[i]);
		for (int i = 0; i < lengthof(flags) && !label; i++)
			if (strcmp(line, flags[i]) == 0)
				label = flags[i], len = strlen(flags[i]);
		if (label || cur == NULL)
		{
			cur = palloc(sizeof(Property));
			cur->label = label ? pnstrdup(label, strlen(label) - (label[strlen(label) - 1] == ' ')) : "definition";
			initStringInfo(&cur->value);
			appendStringInfoString(&cur->value, label ? line + len : line);
			if (label && line[len] == '\0')
				appendStringInfoString(&cur->value, "yes");
			props = lappend(props, cur);
		}
		else
		{
			appendStringInfoChar(&cur->value, '\n');
			appendStringInfoString(&cur->value, line);
		}
		line = next;
	}
	return props;
}

static Property *
find_property(List *props, const char *label)
{
	ListCell   *lc;

	foreach(lc, props)
		if (strcmp(((Property *) lfirst(lc))->label, label) == 0)
		return lfirst(lc);
	return NULL;
}

static DriftRow *
drift_row(const char *type, const char *identity, const char *change)
{
	DriftRow   *row = palloc0(sizeof(DriftRow));

	row->type = type;
	row->identity = identity;
	row->change = change;
	return row;
}

/* One row per property that differs; one without property if unknown */
static List *
describe_changes(List *rows, SchemamigObjectHash *s, SchemamigObjectHash *c)
{
	List	   *before;
	List	   *after;
	ListCell   *lc;
	int			n = list_length(rows);

	if (s->description == NULL || c->description == NULL)
		return lappend(rows, drift_row(c->type, c->identity, "changed"));
	before = properties(s->description);
	after = properties(c->description);
	foreach(lc, before)
	{
		Property   *b = lfirst(lc);
		Property   *a = find_property(after, b->label);

		if (a == NULL || strcmp(a->value.data, b->value.data) != 0)
		{
			DriftRow   *row = drift_row(c->type, c->identity, "changed");

			row->property = b->label;
			row->before = b->value.data;
			row->after = a ? a->value.data : NULL;
			rows = lappend(rows, row);
		}
	}
	foreach(lc, after)
	{
		Property   *a = lfirst(lc);

		if (find_property(before, a->label) == NULL)
		{
			DriftRow   *row = drift_row(c->type, c->identity, "changed");

			row->property = a->label;
			row->after = a->value.data;
			rows = lappend(rows, row);
		}
	}
	if (list_length(rows) == n)
		rows = lappend(rows, drift_row(c->type, c->identity, "changed"));
	return rows;
}

/*
 * The drift rows: differences from the baseline that no versioned DDL
 * explains (an object unversioned DDL named is never explained), in
 * (type, identity) order.  *marks gets the unaccepted unversioned DDL (up
 * to link "upto" if > 0).  *known is false when no baseline was taken.
 */
static List *
compute_drift(bool *known, int64 upto, bool stop_at_first, List **marks)
{
	MemoryContext cxt = CurrentMemoryContext;
	Baseline	b;
	Explained	e;
	List	   *current;
	List	   *rows = NIL;
	ListCell   *lc;
	int			i = 0;
	int			j = 0;

	if (marks)
		*marks = NIL;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	load_baseline(&b, cxt);
	*known = b.known;
	if (!b.known)
	{
		SPI_finish();
		return NIL;
	}
	memset(&e, 0, sizeof(e));
	if (b.memory)
	{
		List	   *m = load_marks(&b, upto, cxt);
		MemoryContext spi_cxt;

		load_explained(&e, &b, cxt);
		spi_cxt = MemoryContextSwitchTo(cxt);
		foreach(lc, m)
		{
			DriftRow   *r = lfirst(lc);

			if (r->identity)
			{
				/* "trg on s.t": the table's */
				const char *on = strstr(r->identity, " on ");

				e.unexplained = lappend(e.unexplained, (char *) (on ? on + 4 : r->identity));
			}
			/* a statement the log names no object for unexplains nothing */
		}
		MemoryContextSwitchTo(spi_cxt);
		if (marks)
			*marks = m;
	}
	SPI_finish();

	current = schemamig_fingerprint_objects();
	while (i < list_length(b.objects) || j < list_length(current))
	{
		SchemamigObjectHash *s = i < list_length(b.objects) ? list_nth(b.objects, i) : NULL;
		SchemamigObjectHash *c = j < list_length(current) ? list_nth(current, j) : NULL;
		int			order = (s == NULL) ? 1 : (c == NULL) ? -1 : object_order(s, c);

		if (order < 0)
		{
			if (!is_explained(&e, s))
				rows = lappend(rows, drift_row(s->type, s->identity, "removed"));
			i++;
		}
		else if (order > 0)
		{
			if (!is_explained(&e, c))
				rows = lappend(rows, drift_row(c->type, c->identity, "added"));
			j++;
		}
		else
		{
			if (strcmp(s->hash, c->hash) != 0 && !is_explained(&e, c) && !is_explained(&e, s))
				rows = describe_changes(rows, s, c);
			i++;
			j++;
		}
		if (stop_at_first && rows != NIL)
			break;
	}
	return rows;
}

/*
 * Is the schema different from what the applied revisions explain?
 * *known is false when no baseline was taken yet; the answer is then false.
 */
bool
schemamig_drift_detected(bool *known)
{
	return compute_drift(known, 0, true, NULL) != NIL;
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
	if (!state_has_memory())
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
	rows = compute_drift(&known, head, false, &marks);
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
	rows = compute_drift(&known, 0, false, NULL);
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
	rows = compute_drift(&known, head, false, &marks);
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
