/*-------------------------------------------------------------------------
 *
 * drift.c
 *		Drift: does the schema differ from what the applied revisions
 *		explain?  The comparison of the baseline with the schema now.
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
 * This file compares; drift_baseline.c takes the baseline, checks before
 * each migration, accepts, and has the SQL functions drift() and
 * accept_drift().
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

#include "drift_int.h"


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
static bool is_explained(Explained * e, SchemamigObjectHash *object);
static int	object_order(SchemamigObjectHash *x, SchemamigObjectHash *y);
static List *describe_changes(List *rows, SchemamigObjectHash *s, SchemamigObjectHash *c);

/* The order of schemamig_fingerprint_objects(): byte-wise (type, identity) */
static int
object_order(SchemamigObjectHash *x, SchemamigObjectHash *y)
{
	int			r = strcmp(x->type, y->type);

	return r != 0 ? r : strcmp(x->identity, y->identity);
}

/*
 * An object of a stored or baseline list from an SPI row (type, identity,
 * hash[, description]) in the current memory context; NULL for the row of
 * NULLs an empty schema leaves
 */
SchemamigObjectHash *
schemamig_drift_object_from_row(HeapTuple tuple, TupleDesc desc, bool with_description)
{
	SchemamigObjectHash *object;
	bool		isnull;

	(void) SPI_getbinval(tuple, desc, 2, &isnull);
	if (isnull)
		return NULL;
	object = palloc0(sizeof(SchemamigObjectHash));
	object->type = SPI_getvalue(tuple, desc, 1);
	object->identity = SPI_getvalue(tuple, desc, 2);
	object->hash = SPI_getvalue(tuple, desc, 3);
	if (with_description)
		object->description = SPI_getvalue(tuple, desc, 4);
	return object;
}

int
schemamig_drift_object_cmp(const ListCell *a, const ListCell *b)
{
	return schemamig_fingerprint_order(lfirst(a), lfirst(b));
}

/* Are the 0.2 columns of schemamig.state there (an older install may run) */
bool
schemamig_drift_has_memory(void)
{
	int			ret = schemamig_owner_execute("SELECT FROM pg_catalog.pg_attribute "
											  "WHERE attrelid OPERATOR(pg_catalog.=) 'schemamig.state'::pg_catalog.regclass "
											  "AND attname OPERATOR(pg_catalog.=) 'accepted_seq' AND NOT attisdropped",
											  0, NULL, NULL, NULL, true, 1);

	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_attribute: %s", SPI_result_code_string(ret));
	return SPI_processed == 1;
}

/* The baseline; the caller is connected to SPI */
static void
load_baseline(Baseline * b, MemoryContext caller_cxt)
{
	int			ret;

	memset(b, 0, sizeof(Baseline));
	b->memory = schemamig_drift_has_memory();
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
		spi_cxt = MemoryContextSwitchTo(caller_cxt);
		object = schemamig_drift_object_from_row(tuple, desc, true);
		if (object)
			b->objects = lappend(b->objects, object);
		MemoryContextSwitchTo(spi_cxt);
	}
	list_sort(b->objects, schemamig_drift_object_cmp);
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
List *
schemamig_drift_compute(bool *known, int64 upto, bool stop_at_first, List **marks)
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
	return schemamig_drift_compute(known, 0, true, NULL) != NIL;
}
