/*-------------------------------------------------------------------------
 *
 * ledger_encode.c
 *		The ledger's canonical encoding (format 1, docs/ledger.md): how a
 *		journal row, a DDL log row or a link becomes bytes to hash, a row's
 *		64-bit locator, a link's hash, and reading stored rows back for
 *		ledger_verify.c.  Split from ledger.c, which appends the rows.
 *
 * Canonical encoding: the non-NULL columns of the row other than the
 * hash, in byte order of their names, each as a one-byte tag (its place in
 * known_columns, or 0, the name and a zero byte), a "same as the previous
 * row of the batch" byte and the value with a LEB128 length: text in
 * UTF-8, integers in decimal, timestamps as microseconds since 1970-01-01
 * UTC, intervals as "months days microseconds", jsonb as its text output,
 * bytea raw, other types by their output function.  Independent of the
 * server encoding, TimeZone, DateStyle and IntervalStyle, and of column
 * order, so a dump restored into another database verifies, and a
 * nullable column added in a later version leaves old rows' hashes alone.
 *
 * The encoding plan of each table (columns sorted by name, their kinds) is
 * built on first use and again after a relcache invalidation of the table.
 *
 * IDENTIFICATION
 *		src/ledger_encode.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "common/sha2.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "schemamig.h"
#include "ledger_int.h"

#define HASH_LEN SCHEMAMIG_LEDGER_HASH_LEN

/* one link's encoding, reused */
static StringInfoData encoding;

static void ledger_prevrow_init(PrevRow *prev, int ncolumns);

/*
 * The columns of format 1, by table: a column is encoded by its position
 * here (one byte), a column this list does not know by its name.
 */
static const char *const known_columns[3][16] = {
	{"id", "revision", "direction", "statement_no", "command_tag", "statement",
		"objects", "executed_at", "xid", "role", "session_role", "application_name",
	"client_addr", "backend_pid", "ledger_batch", NULL},
	{"id", "revision", "action", "target", "at", "by", "duration", "xid",
	"ledger_batch", "detail", NULL},
	{"seq", "batch", "xid", "at", "ddl_rows", "ddl_first", "ddl_last",
	"journal_rows", "journal_first", "journal_last", "unversioned", "prev", NULL}
};

#define PLAN_DDL_LOG LEDGER_DDL_LOG
#define PLAN_JOURNAL LEDGER_JOURNAL
#define PLAN_LEDGER LEDGER_LINKS
#define NPLANS 3
static const char *const plan_tables[NPLANS] = {"ddl_log", "journal", "ledger"};
static TablePlan plans[NPLANS];

static int
column_cmp(const void *a, const void *b)
{
	return strcmp(((const EncColumn *) a)->name, ((const EncColumn *) b)->name);
}

/*
 * The encoding plan of rel, one of the three tables; built on first use
 * and again after the relcache says the table changed.
 */
TablePlan *
ledger_table_plan(Relation rel, int which)
{
	TablePlan  *plan = &plans[which];
	TupleDesc	desc = RelationGetDescr(rel);
	const char *hash_name = which == PLAN_LEDGER ? "hash" : "ledger_hash";
	const char *batch_name = which == PLAN_LEDGER ? "batch" : "ledger_batch";
	const char *id_name = which == PLAN_LEDGER ? "seq" : "id";
	MemoryContext oldcxt;

	if (plan->relid == RelationGetRelid(rel))
		return plan;

	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	if (plan->columns)
		pfree(plan->columns);
	plan->table = plan_tables[which];
	plan->columns = palloc(sizeof(EncColumn) * Max(desc->natts, 1));
	plan->ncolumns = 0;
	plan->hash_att = plan->batch_att = plan->id_att = plan->direction_att = -1;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		EncColumn  *col;
		bool		varlena;

		if (att->attisdropped)
			continue;
		if (strcmp(NameStr(att->attname), hash_name) == 0)
		{
			plan->hash_att = i;
			continue;
		}
		if (strcmp(NameStr(att->attname), batch_name) == 0)
			plan->batch_att = i;
		if (strcmp(NameStr(att->attname), id_name) == 0)
			plan->id_att = i;
		if (which == PLAN_DDL_LOG && strcmp(NameStr(att->attname), "direction") == 0)
			plan->direction_att = i;
		col = &plan->columns[plan->ncolumns++];
		col->attno = i;
		col->name = pstrdup(NameStr(att->attname));
		col->namelen = strlen(col->name);
		col->tag = 0;
		for (int k = 0; known_columns[which][k] != NULL; k++)
			if (strcmp(known_columns[which][k], col->name) == 0)
				col->tag = k + 1;
		col->typoutput = InvalidOid;
		col->typlen = att->attlen;
		col->typbyval = att->attbyval;
		switch (att->atttypid)
		{
			case TEXTOID:
			case VARCHAROID:
			case BPCHAROID:
				col->kind = ENC_TEXT;
				break;
			case NAMEOID:
				col->kind = ENC_NAME;
				break;
			case INT2OID:
				col->kind = ENC_INT2;
				break;
			case INT4OID:
				col->kind = ENC_INT4;
				break;
			case INT8OID:
				col->kind = ENC_INT8;
				break;
			case XID8OID:
				col->kind = ENC_XID8;
				break;
			case BOOLOID:
				col->kind = ENC_BOOL;
				break;
			case TIMESTAMPTZOID:
			case TIMESTAMPOID:
				col->kind = ENC_TIMESTAMP;
				break;
			case INTERVALOID:
				col->kind = ENC_INTERVAL;
				break;
			case JSONBOID:
				col->kind = ENC_JSONB;
				break;
			case BYTEAOID:
				col->kind = ENC_BYTEA;
				break;
			default:
				col->kind = ENC_OUTPUT;
				getTypeOutputInfo(att->atttypid, &col->typoutput, &varlena);
				break;
		}
	}
	qsort(plan->columns, plan->ncolumns, sizeof(EncColumn), column_cmp);
	plan->relid = RelationGetRelid(rel);
	MemoryContextSwitchTo(oldcxt);
	return plan;
}

void
ledger_sha_update(pg_cryptohash_ctx *ctx, const void *data, size_t len)
{
	if (pg_cryptohash_update(ctx, data, len) < 0)
		elog(ERROR, "could not compute the ledger hash: %s", pg_cryptohash_error(ctx));
}

/* A length as LEB128: 7 bits a byte, low bits first */
static void
put_length(StringInfo buf, size_t len)
{
	do
	{
		uint8		b = len & 0x7f;

		len >>= 7;
		if (len)
			b |= 0x80;
		appendStringInfoCharMacro(buf, (char) b);
	} while (len);
}

static void
put_value(StringInfo buf, const char *data, size_t len)
{
	put_length(buf, len);
	appendBinaryStringInfo(buf, data, len);
}

/* Text in the server encoding, encoded in UTF-8 */
static void
put_text(StringInfo buf, const char *str, int len)
{
	char	   *utf8 = pg_server_to_any(str, len, PG_UTF8);

	put_value(buf, utf8, utf8 == str ? len : strlen(utf8));
	if (utf8 != str)
		pfree(utf8);
}

static void
put_int64(StringInfo buf, int64 v)
{
	char		digits[MAXINT8LEN + 1];
	int			len = pg_lltoa(v, digits);

	put_value(buf, digits, len);
}

/* 8 bytes, big-endian */
static void
put_be64(StringInfo buf, uint64 v)
{
	char		b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (v >> (56 - 8 * i)) & 0xff;
	put_value(buf, b, 8);
}

/* A previous-row slot with room for ncolumns, in TopMemoryContext */
static void
ledger_prevrow_init(PrevRow *prev, int ncolumns)
{
	MemoryContext oldcxt;

	if (prev->bytes.data != NULL && prev->ncolumns >= ncolumns)
		return;
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	if (prev->bytes.data == NULL)
		initStringInfo(&prev->bytes);
	if (prev->off)
	{
		pfree(prev->off);
		pfree(prev->len);
	}
	prev->off = palloc(sizeof(int) * ncolumns);
	prev->len = palloc(sizeof(int) * ncolumns);
	prev->ncolumns = ncolumns;
	prev->valid = false;
	MemoryContextSwitchTo(oldcxt);
}

void
ledger_prevrow_copy(PrevRow *dst, PrevRow *src)
{
	ledger_prevrow_init(dst, src->ncolumns);
	dst->valid = src->valid;
	if (!src->valid)
		return;
	resetStringInfo(&dst->bytes);
	appendBinaryStringInfo(&dst->bytes, src->bytes.data, src->bytes.len);
	memcpy(dst->off, src->off, sizeof(int) * src->ncolumns);
	memcpy(dst->len, src->len, sizeof(int) * src->ncolumns);
}

void
ledger_prevrow_free(PrevRow *prev)
{
	if (prev->bytes.data)
		pfree(prev->bytes.data);
	if (prev->off)
	{
		pfree(prev->off);
		pfree(prev->len);
	}
	memset(prev, 0, sizeof(PrevRow));
}

/*
 * The canonical encoding of a row (values/nulls of desc) into buf: for
 * each non-NULL column but the hash, in byte order of the names, its tag
 * (or 0, the name and a zero byte) and its value with a LEB128 length.
 */
void
ledger_encode_row(TablePlan *plan, Datum *values, bool *nulls, StringInfo buf, PrevRow *prev)
{
	static StringInfoData next;
	int		   *next_off = NULL;
	int		   *next_len = NULL;

	resetStringInfo(buf);
	if (prev)
	{
		if (next.data == NULL)
		{
			MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

			initStringInfo(&next);
			MemoryContextSwitchTo(oldcxt);
		}
		resetStringInfo(&next);
		ledger_prevrow_init(prev, plan->ncolumns);
		next_off = palloc(sizeof(int) * plan->ncolumns);
		next_len = palloc(sizeof(int) * plan->ncolumns);
	}
	for (int i = 0; i < plan->ncolumns; i++)
	{
		EncColumn  *col = &plan->columns[i];
		Datum		d = values[col->attno];

		if (nulls[col->attno])
		{
			if (prev)
				next_off[i] = -1;
			continue;
		}
		if (col->tag > 0)
			appendStringInfoCharMacro(buf, (char) col->tag);
		else
		{
			appendStringInfoCharMacro(buf, '\0');
			appendBinaryStringInfo(buf, col->name, col->namelen + 1);
		}
		if (prev)
		{
			const char *raw;
			int			rawlen;
			Datum		byval = d;

			if (col->typbyval)
			{
				raw = (const char *) &byval;
				rawlen = sizeof(Datum);
			}
			else if (col->typlen == -1)
			{
				struct varlena *v = (struct varlena *) DatumGetPointer(d);

				if (VARATT_IS_EXTENDED(v))
					v = pg_detoast_datum_packed(v);
				raw = VARDATA_ANY(v);
				rawlen = VARSIZE_ANY_EXHDR(v);
			}
			else if (col->typlen == -2)
			{
				raw = DatumGetCString(d);
				rawlen = strlen(raw);
			}
			else
			{
				raw = DatumGetPointer(d);
				rawlen = col->typlen;
			}
			next_off[i] = next.len;
			next_len[i] = rawlen;
			appendBinaryStringInfo(&next, raw, rawlen);
			/* 1: the same value as the previous row of the batch */
			if (prev->valid && prev->off[i] >= 0 && prev->len[i] == rawlen &&
				memcmp(prev->bytes.data + prev->off[i], raw, rawlen) == 0)
			{
				appendStringInfoCharMacro(buf, 1);
				continue;
			}
			appendStringInfoCharMacro(buf, 0);
		}
		else
			appendStringInfoCharMacro(buf, 0);
		switch (col->kind)
		{
			case ENC_TEXT:
				{
					text	   *t = DatumGetTextPP(d);

					put_text(buf, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
					if ((Pointer) t != DatumGetPointer(d))
						pfree(t);
					break;
				}
			case ENC_NAME:
				put_text(buf, NameStr(*DatumGetName(d)), strlen(NameStr(*DatumGetName(d))));
				break;
			case ENC_INT2:
				put_int64(buf, DatumGetInt16(d));
				break;
			case ENC_INT4:
				put_int64(buf, DatumGetInt32(d));
				break;
			case ENC_INT8:
				put_int64(buf, DatumGetInt64(d));
				break;
			case ENC_XID8:
				put_be64(buf, U64FromFullTransactionId(DatumGetFullTransactionId(d)));
				break;
			case ENC_BOOL:
				put_value(buf, DatumGetBool(d) ? "t" : "f", 1);
				break;
			case ENC_TIMESTAMP:
				/* microseconds since 1970-01-01 00:00 UTC */
				put_be64(buf, (uint64) (DatumGetTimestampTz(d) +
										(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY));
				break;
			case ENC_INTERVAL:
				{
					Interval   *iv = DatumGetIntervalP(d);
					char		b[3 * (MAXINT8LEN + 1)];
					int			len;

					len = snprintf(b, sizeof(b), "%d %d " INT64_FORMAT,
								   iv->month, iv->day, iv->time);
					put_value(buf, b, len);
					break;
				}
			case ENC_JSONB:
				{
					Jsonb	   *jb = DatumGetJsonbP(d);
					char	   *str = JsonbToCString(NULL, &jb->root, VARSIZE(jb));

					put_text(buf, str, strlen(str));
					pfree(str);
					if ((Pointer) jb != DatumGetPointer(d))
						pfree(jb);
					break;
				}
			case ENC_BYTEA:
				{
					bytea	   *b = DatumGetByteaPP(d);

					put_value(buf, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
					break;
				}
			case ENC_OUTPUT:
				{
					char	   *str = OidOutputFunctionCall(col->typoutput, d);

					put_text(buf, str, strlen(str));
					pfree(str);
					break;
				}
		}
	}
	if (prev)
	{
		resetStringInfo(&prev->bytes);
		appendBinaryStringInfo(&prev->bytes, next.data, next.len);
		memcpy(prev->off, next_off, sizeof(int) * plan->ncolumns);
		memcpy(prev->len, next_len, sizeof(int) * plan->ncolumns);
		prev->valid = true;
		pfree(next_off);
		pfree(next_len);
	}
}

/* A row's locator: a 64-bit hash of its encoding, chained to the previous */
uint64
ledger_row_locator(StringInfo enc, uint64 prev)
{
	return hash_bytes_extended((const unsigned char *) enc->data, enc->len, prev);
}

/* The 4-byte big-endian frame of a row in its batch's stream */
void
ledger_frame(uint8 *b, int len)
{
	b[0] = (len >> 24) & 0xff;
	b[1] = (len >> 16) & 0xff;
	b[2] = (len >> 8) & 0xff;
	b[3] = len & 0xff;
}

Datum
schemamig_ledger_bytea(const uint8 *bytes)
{
	bytea	   *b = palloc(VARHDRSZ + HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + HASH_LEN);
	memcpy(VARDATA(b), bytes, HASH_LEN);
	return PointerGetDatum(b);
}

/* A stored SHA-256; false when NULL or not 32 bytes */
bool
schemamig_ledger_datum_hash(Datum d, bool isnull, uint8 *out)
{
	bytea	   *b;

	if (isnull)
		return false;
	b = DatumGetByteaPP(d);
	if (VARSIZE_ANY_EXHDR(b) != HASH_LEN)
		return false;
	memcpy(out, VARDATA_ANY(b), HASH_LEN);
	return true;
}

char *
schemamig_ledger_hex(const uint8 *bytes, int len)
{
	static const char digits[] = "0123456789abcdef";
	char	   *s = palloc(2 * len + 1);

	for (int i = 0; i < len; i++)
	{
		s[2 * i] = digits[bytes[i] >> 4];
		s[2 * i + 1] = digits[bytes[i] & 0xf];
	}
	s[2 * len] = '\0';
	return s;
}

/* sha256(prev || the encoding of the link without its hash) */
static void
link_hash(TablePlan *plan, Datum *values, bool *nulls, const uint8 *prev, uint8 *out)
{
	pg_cryptohash_ctx *ctx = schemamig_ledger_hash_ctx();
	bool		hash_null = nulls[LINK_HASH];

	nulls[LINK_HASH] = true;
	if (encoding.data == NULL)
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(TopMemoryContext);

		initStringInfo(&encoding);
		MemoryContextSwitchTo(oldcxt);
	}
	ledger_encode_row(plan, values, nulls, &encoding, NULL);
	nulls[LINK_HASH] = hash_null;
	if (pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not compute the ledger hash: %s", pg_cryptohash_error(ctx));
	ledger_sha_update(ctx, prev, HASH_LEN);
	ledger_sha_update(ctx, encoding.data, encoding.len);
	if (pg_cryptohash_final(ctx, out, HASH_LEN) < 0)
		elog(ERROR, "could not compute the ledger hash: %s", pg_cryptohash_error(ctx));
}

/*
 * The ledger columns of a stored row of table "which" (rel), deformed into
 * values/nulls; no hashing.
 */
void
schemamig_ledger_read(Relation rel, SchemamigLedgerTable which, Datum *values,
					  bool *nulls, SchemamigLedgerRow * row)
{
	TablePlan  *plan = ledger_table_plan(rel, which);

	row->id = plan->id_att >= 0 && !nulls[plan->id_att] ?
		DatumGetInt64(values[plan->id_att]) : 0;
	row->has_batch = plan->batch_att >= 0 && !nulls[plan->batch_att];
	row->batch = row->has_batch ? DatumGetInt64(values[plan->batch_att]) : 0;
	row->has_hash = false;
	if (which != LEDGER_LINKS)
	{
		if (plan->hash_att >= 0 && !nulls[plan->hash_att])
		{
			bytea	   *b = DatumGetByteaPP(values[plan->hash_att]);

			if (VARSIZE_ANY_EXHDR(b) == 8)
			{
				row->locator = 0;
				for (int i = 0; i < 8; i++)
					row->locator = (row->locator << 8) | ((uint8 *) VARDATA_ANY(b))[i];
				row->has_hash = true;
			}
		}
		return;
	}
	row->has_hash = schemamig_ledger_datum_hash(values[LINK_HASH], nulls[LINK_HASH], row->stored);
	if (!schemamig_ledger_datum_hash(values[LINK_PREV], nulls[LINK_PREV], row->prev))
		memset(row->prev, 0xff, HASH_LEN);
	for (int t = 0; t < 2; t++)
	{
		int			rows = t == 0 ? LINK_DDL_ROWS : LINK_JOURNAL_ROWS;

		row->rows[t] = nulls[rows] ? -1 : DatumGetInt64(values[rows]);
		row->first[t] = nulls[rows + 1] ? 0 : DatumGetInt64(values[rows + 1]);
		row->has_last[t] = schemamig_ledger_datum_hash(values[rows + 2], nulls[rows + 2], row->last[t]);
	}
	row->unversioned = nulls[LINK_UNVERSIONED] ? 0 : DatumGetInt64(values[LINK_UNVERSIONED]);
}

/*
 * A stored journal or DDL log row (values/nulls of rel): its locator after
 * "prev" and its framed encoding, appended to "stream_bytes" for the
 * caller's SHA-256 of the batch.
 */
uint64
schemamig_ledger_row_bytes(Relation rel, SchemamigLedgerTable which, Datum *values,
						   bool *nulls, uint64 prev, void *prev_row,
						   StringInfo stream_bytes)
{
	TablePlan  *plan = ledger_table_plan(rel, which);
	StringInfoData enc;
	uint8		len[4];
	uint64		locator;

	initStringInfo(&enc);
	ledger_encode_row(plan, values, nulls, &enc, (PrevRow *) prev_row);
	locator = ledger_row_locator(&enc, prev);
	ledger_frame(len, enc.len);
	appendBinaryStringInfo(stream_bytes, (char *) len, 4);
	appendBinaryStringInfo(stream_bytes, enc.data, enc.len);
	pfree(enc.data);
	return locator;
}

/* A previous-row slot for a reader of one batch and table */
void *
schemamig_ledger_prev_new(void)
{
	return MemoryContextAllocZero(TopMemoryContext, sizeof(PrevRow));
}

void
schemamig_ledger_prev_free(void *prev)
{
	ledger_prevrow_free((PrevRow *) prev);
	pfree(prev);
}

/* The hash of a stored link (values/nulls of the links) */
void
schemamig_ledger_link_hash(Relation rel, Datum *values, bool *nulls, const uint8 *prev,
						   uint8 *out)
{
	link_hash(ledger_table_plan(rel, LEDGER_LINKS), values, nulls, prev, out);
}

/* Relcache invalidation (hooks.c): the encoding plans are built again */
void
schemamig_ledger_relcache_callback(Datum arg, Oid relid)
{
	for (int i = 0; i < NPLANS; i++)
		if (!OidIsValid(relid) || plans[i].relid == relid)
			plans[i].relid = InvalidOid;
}
