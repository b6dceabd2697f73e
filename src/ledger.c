/*-------------------------------------------------------------------------
 *
 * ledger.c
 *		The tamper-evident ledger: a SHA-256 hash chain over every row of
 *		schemamig.journal and schemamig.ddl_log.
 *
 * Two levels.  Every journal and ddl_log row carries ledger_batch (one
 * number per transaction that appends rows, from schemamig.ledger_batch_seq)
 * and ledger_hash = sha256(previous row hash of the same batch and table, or
 * 32 zero bytes for the first || the row's canonical encoding).  At commit
 * the transaction appends one link to schemamig.ledger: its batch, how many
 * rows it appended to each table and the hash of the last one, and
 * hash = sha256(previous link's hash || the link's canonical encoding).
 * verify_ledger() recomputes both levels; a changed, deleted, reordered or
 * forged row, a deleted or edited link, a truncated table all break it.
 *
 * Why two levels: a row's hash is computed when the row is written, while
 * the transaction runs, when nobody knows which transaction will commit
 * before it.  Chaining rows directly to the previous committed row would
 * need a shared head that every DDL statement reads and updates, which
 * serializes unrelated sessions for their whole duration and makes
 * REPEATABLE READ and SERIALIZABLE transactions fail.  Instead the rows
 * chain only within their own transaction, and the one step that must see
 * the global order, appending the link, happens at commit (ledger_link.c,
 * which also says how prepared transactions are linked: after their
 * COMMIT PREPARED, from an entry in schemamig.ledger_pending).
 *
 * Subtransactions: the per-batch running state is saved on the first row
 * a subtransaction appends and restored when it rolls back, so rows that
 * vanish with a subtransaction vanish from the chain too.
 *
 * Canonical encoding (docs/ledger.md): the non-NULL columns of the row
 * other than the hash, in byte order of their names, each as name, a zero
 * byte, a 4-byte big-endian length and the value: text in UTF-8, integers
 * in decimal, timestamps as microseconds since 1970-01-01 UTC, intervals as
 * "months days microseconds", jsonb as its text output, bytea raw, other
 * types by their output function.  Independent of the server encoding,
 * TimeZone, DateStyle and IntervalStyle, and of column order, so a dump
 * restored into another database verifies, and a nullable column added in
 * a later version leaves old rows' hashes alone.
 *
 * One cryptohash context per transaction (created under the top
 * transaction's resource owner, re-initialized per row): creating one per
 * row would cost more than hashing the row.
 *
 * IDENTIFICATION
 *		src/ledger.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "common/sha2.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_ledger_row_trigger);

#define HASH_LEN SCHEMAMIG_LEDGER_HASH_LEN

/* How a column's value is encoded */
typedef enum EncKind
{
	ENC_TEXT,
	ENC_NAME,
	ENC_INT2,
	ENC_INT4,
	ENC_INT8,
	ENC_XID8,
	ENC_BOOL,
	ENC_TIMESTAMP,
	ENC_INTERVAL,
	ENC_JSONB,
	ENC_BYTEA,
	ENC_OUTPUT
}			EncKind;

typedef struct EncColumn
{
	int			attno;			/* 0-based */
	const char *name;
	int			namelen;
	int			tag;			/* 1-based in known_columns, 0: unknown */
	EncKind		kind;
	Oid			typoutput;
	int16		typlen;
	bool		typbyval;
}			EncColumn;

/*
 * The previous row of a batch and table, column by column (by position in
 * the plan): the raw bytes of each value, for "same as before".
 */
typedef struct PrevRow
{
	bool		valid;
	int			ncolumns;
	int		   *off;			/* into bytes; -1: NULL */
	int		   *len;
	StringInfoData bytes;
}			PrevRow;

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

/* The encoding plan of one of the three tables, by relation */
typedef struct TablePlan
{
	Oid			relid;			/* InvalidOid: to be built */
	const char *table;			/* "ddl_log", "journal", "ledger" */
	int			ncolumns;
	EncColumn  *columns;		/* sorted by name, hash column left out */
	int			hash_att;		/* ledger_hash (hash for links), -1 if absent */
	int			batch_att;		/* ledger_batch (batch for links), -1 if
								 * absent */
	int			id_att;			/* id (seq for links) */
	int			direction_att;	/* ddl_log.direction, -1 elsewhere */
}			TablePlan;

#define PLAN_DDL_LOG LEDGER_DDL_LOG
#define PLAN_JOURNAL LEDGER_JOURNAL
#define PLAN_LEDGER LEDGER_LINKS
#define NPLANS 3
static const char *const plan_tables[NPLANS] = {"ddl_log", "journal", "ledger"};
static TablePlan plans[NPLANS];

/*
 * What this transaction appended to one table: the rows' encodings not yet
 * fed to the stream (a subtransaction may still take them back), the
 * stream, and the last row's locator.
 */
typedef struct BatchTable
{
	int64		rows;
	int64		first_id;
	int64		last_id;
	uint64		locator;
	int			pending;		/* bytes of "buffer" not yet hashed */
}			BatchTable;

typedef struct Batch
{
	BatchTable	t[2];			/* LEDGER_DDL_LOG, LEDGER_JOURNAL */
	int64		unversioned;
}			Batch;

typedef struct SavedBatch
{
	SubTransactionId subid;
	Batch		batch;
	PrevRow		prev[2];
}			SavedBatch;

static int64 batch_id = 0;		/* 0: no row appended in this transaction */
static Batch batch;
static SavedBatch * saved = NULL;
static int	nsaved = 0;
static int	maxsaved = 0;
static StringInfoData buffer[2];	/* in TopMemoryContext, reset per
									 * transaction */
static pg_cryptohash_ctx *stream[2];	/* the batch's SHA-256 per table */
static pg_cryptohash_ctx *xact_hash = NULL;
static StringInfoData encoding; /* one row's encoding, reused */
static PrevRow prev_rows[2];	/* the batch's previous row per table */

/* unhashed bytes kept for rollback to a savepoint before they are hashed */
#define FLUSH_BYTES 8192

static TablePlan * table_plan(Relation rel, int which);
static void encode_row(TablePlan * plan, Datum *values, bool *nulls, StringInfo buf,
					   PrevRow * prev);
static void sha_update(pg_cryptohash_ctx *ctx, const void *data, size_t len);

/* ---- the canonical encoding ---- */

static int
column_cmp(const void *a, const void *b)
{
	return strcmp(((const EncColumn *) a)->name, ((const EncColumn *) b)->name);
}

/*
 * The encoding plan of rel, one of the three tables; built on first use
 * and again after the relcache says the table changed.
 */
static TablePlan *
table_plan(Relation rel, int which)
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

static void
sha_update(pg_cryptohash_ctx *ctx, const void *data, size_t len)
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
prevrow_init(PrevRow * prev, int ncolumns)
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

static void
prevrow_copy(PrevRow * dst, PrevRow * src)
{
	prevrow_init(dst, src->ncolumns);
	dst->valid = src->valid;
	if (!src->valid)
		return;
	resetStringInfo(&dst->bytes);
	appendBinaryStringInfo(&dst->bytes, src->bytes.data, src->bytes.len);
	memcpy(dst->off, src->off, sizeof(int) * src->ncolumns);
	memcpy(dst->len, src->len, sizeof(int) * src->ncolumns);
}

static void
prevrow_free(PrevRow * prev)
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
static void
encode_row(TablePlan * plan, Datum *values, bool *nulls, StringInfo buf, PrevRow * prev)
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
		prevrow_init(prev, plan->ncolumns);
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
static uint64
row_locator(StringInfo enc, uint64 prev)
{
	return hash_bytes_extended((const unsigned char *) enc->data, enc->len, prev);
}

/* The 4-byte big-endian frame of a row in its batch's stream */
static void
frame(uint8 *b, int len)
{
	b[0] = (len >> 24) & 0xff;
	b[1] = (len >> 16) & 0xff;
	b[2] = (len >> 8) & 0xff;
	b[3] = len & 0xff;
}

/* A SHA-256 context owned by the top transaction (freed at its end) */
static pg_cryptohash_ctx *
transaction_context(void)
{
	ResourceOwner save = CurrentResourceOwner;
	pg_cryptohash_ctx *ctx;

	CurrentResourceOwner = TopTransactionResourceOwner;
	ctx = pg_cryptohash_create(PG_SHA256);
	CurrentResourceOwner = save;
	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not create a SHA-256 context");
	return ctx;
}

/* The context for one-off hashes of this transaction (links) */
pg_cryptohash_ctx *
schemamig_ledger_hash_ctx(void)
{
	if (xact_hash == NULL)
		xact_hash = transaction_context();
	return xact_hash;
}

/* Feed the buffered rows of table t to its stream: nobody can take them back */
static void
flush(int t)
{
	if (batch.t[t].pending == 0)
		return;
	if (stream[t] == NULL)
		stream[t] = transaction_context();
	sha_update(stream[t], buffer[t].data, buffer[t].len);
	resetStringInfo(&buffer[t]);
	batch.t[t].pending = 0;
}

/* ---- appending rows ---- */

/* The backend's encoding and batch buffers, made on first use */
static void
buffers_init(void)
{
	MemoryContext oldcxt;

	if (encoding.data != NULL)
		return;
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	initStringInfo(&buffer[0]);
	initStringInfo(&buffer[1]);
	initStringInfo(&encoding);
	MemoryContextSwitchTo(oldcxt);
}

/*
 * Fill ledger_batch and ledger_hash of a row about to be inserted into
 * schemamig.ddl_log or schemamig.journal (rel), given as values/nulls of
 * the table's descriptor.  A table without the columns (0.1.0 objects
 * under a newer library) is left alone.
 */
void
schemamig_ledger_row(Relation rel, Datum *values, bool *nulls)
{
	const char *relname = RelationGetRelationName(rel);
	int			which = strcmp(relname, "ddl_log") == 0 ? LEDGER_DDL_LOG : LEDGER_JOURNAL;
	TablePlan  *plan = table_plan(rel, which);
	BatchTable *bt = &batch.t[which];
	SubTransactionId subid = GetCurrentSubTransactionId();
	uint8		len[4];

	if (plan->hash_att < 0 || plan->batch_att < 0)
		return;
	if (batch_id == 0)
	{
		Oid			seqid = schemamig_ledger_relid("ledger_batch_seq");

		if (!OidIsValid(seqid))
			return;
		batch_id = nextval_internal(seqid, false);
	}
	buffers_init();

	/*
	 * the state before this subtransaction's first row, to restore at its
	 * abort
	 */
	if (subid != TopSubTransactionId &&
		(nsaved == 0 || saved[nsaved - 1].subid != subid))
	{
		if (saved == NULL)
		{
			maxsaved = 8;
			saved = MemoryContextAlloc(TopMemoryContext, sizeof(SavedBatch) * maxsaved);
		}
		else if (nsaved == maxsaved)
		{
			maxsaved *= 2;
			saved = repalloc(saved, sizeof(SavedBatch) * maxsaved);
		}
		saved[nsaved].subid = subid;
		saved[nsaved].batch = batch;
		memset(saved[nsaved].prev, 0, sizeof(saved[nsaved].prev));
		prevrow_copy(&saved[nsaved].prev[0], &prev_rows[0]);
		prevrow_copy(&saved[nsaved].prev[1], &prev_rows[1]);
		nsaved++;
	}

	values[plan->batch_att] = Int64GetDatum(batch_id);
	nulls[plan->batch_att] = false;
	encode_row(plan, values, nulls, &encoding, &prev_rows[which]);
	bt->locator = row_locator(&encoding, bt->locator);
	{
		bytea	   *b = palloc(VARHDRSZ + 8);

		for (int i = 0; i < 8; i++)
			((uint8 *) VARDATA(b))[i] = (bt->locator >> (56 - 8 * i)) & 0xff;
		SET_VARSIZE(b, VARHDRSZ + 8);
		values[plan->hash_att] = PointerGetDatum(b);
		nulls[plan->hash_att] = false;
	}
	frame(len, encoding.len);
	appendBinaryStringInfo(&buffer[which], (char *) len, 4);
	appendBinaryStringInfo(&buffer[which], encoding.data, encoding.len);
	bt->pending += 4 + encoding.len;
	/* outside any subtransaction that could still take rows back */
	if (nsaved == 0 && bt->pending >= FLUSH_BYTES)
		flush(which);

	if (plan->id_att >= 0 && !nulls[plan->id_att])
	{
		if (bt->rows == 0)
			bt->first_id = DatumGetInt64(values[plan->id_att]);
		bt->last_id = DatumGetInt64(values[plan->id_att]);
	}
	bt->rows++;
	if (plan->direction_att >= 0 && !nulls[plan->direction_att])
	{
		text	   *dir = DatumGetTextPP(values[plan->direction_att]);

		if (VARSIZE_ANY_EXHDR(dir) == 11 && memcmp(VARDATA_ANY(dir), "unversioned", 11) == 0)
			batch.unversioned++;
	}
}

/*
 * BEFORE INSERT trigger on schemamig.journal and schemamig.ddl_log: the
 * rows written through SQL (the journal, steps, Alembic settlement) get
 * their ledger columns here; the DDL log's direct insert calls
 * schemamig_ledger_row() itself.  A restore brings rows with their
 * hashes, which stay as they are.
 */
Datum
schemamig_ledger_row_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	HeapTuple	tuple;
	Datum	   *values;
	bool	   *nulls;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "schemamig_ledger_row_trigger: not called by trigger manager");
	if (!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "schemamig_ledger_row_trigger: must be fired before insert for each row");
	tuple = trigdata->tg_trigtuple;
	if (schemamig_restoring)
		return PointerGetDatum(tuple);

	rel = trigdata->tg_relation;
	desc = RelationGetDescr(rel);
	values = palloc(sizeof(Datum) * desc->natts);
	nulls = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(tuple, desc, values, nulls);
	schemamig_ledger_row(rel, values, nulls);
	return PointerGetDatum(heap_form_tuple(desc, values, nulls));
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

/* ---- the link's content (ledger_link.c appends it) ---- */

/* sha256(prev || the encoding of the link without its hash) */
static void
link_hash(TablePlan * plan, Datum *values, bool *nulls, const uint8 *prev, uint8 *out)
{
	pg_cryptohash_ctx *ctx = schemamig_ledger_hash_ctx();
	bool		hash_null = nulls[LINK_HASH];

	nulls[LINK_HASH] = true;
	buffers_init();
	encode_row(plan, values, nulls, &encoding, NULL);
	nulls[LINK_HASH] = hash_null;
	if (pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not compute the ledger hash: %s", pg_cryptohash_error(ctx));
	sha_update(ctx, prev, HASH_LEN);
	sha_update(ctx, encoding.data, encoding.len);
	if (pg_cryptohash_final(ctx, out, HASH_LEN) < 0)
		elog(ERROR, "could not compute the ledger hash: %s", pg_cryptohash_error(ctx));
}

/*
 * What this transaction's batch appended, for its link: the rows' counts,
 * first ids and the SHA-256 over each table's rows (the streams are
 * finished here).  False when it appended no rows.
 */
bool
schemamig_ledger_batch_summary(SchemamigLedgerSummary *s)
{
	if (batch.t[0].rows + batch.t[1].rows == 0)
		return false;
	memset(s, 0, sizeof(*s));
	s->batch = batch_id;
	s->unversioned = batch.unversioned;
	for (int t = 0; t < 2; t++)
	{
		s->rows[t] = batch.t[t].rows;
		s->first[t] = batch.t[t].first_id;
		if (batch.t[t].rows == 0)
			continue;
		flush(t);
		if (pg_cryptohash_final(stream[t], s->last[t], HASH_LEN) < 0)
			elog(ERROR, "could not compute the ledger hash: %s", pg_cryptohash_error(stream[t]));
		pg_cryptohash_free(stream[t]);
		stream[t] = NULL;
	}
	return true;
}

/* ---- reading, for ledger_verify.c ---- */

/*
 * The ledger columns of a stored row of table "which" (rel), deformed into
 * values/nulls; no hashing.
 */
void
schemamig_ledger_read(Relation rel, SchemamigLedgerTable which, Datum *values,
					  bool *nulls, SchemamigLedgerRow * row)
{
	TablePlan  *plan = table_plan(rel, which);

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
	TablePlan  *plan = table_plan(rel, which);
	StringInfoData enc;
	uint8		len[4];
	uint64		locator;

	initStringInfo(&enc);
	encode_row(plan, values, nulls, &enc, (PrevRow *) prev_row);
	locator = row_locator(&enc, prev);
	frame(len, enc.len);
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
	prevrow_free((PrevRow *) prev);
	pfree(prev);
}

/* The hash of a stored link (values/nulls of the links) */
void
schemamig_ledger_link_hash(Relation rel, Datum *values, bool *nulls, const uint8 *prev,
						   uint8 *out)
{
	link_hash(table_plan(rel, LEDGER_LINKS), values, nulls, prev, out);
}

/* The batch of this transaction's rows, 0 if it appended none */
int64
schemamig_ledger_current_batch(void)
{
	return batch_id;
}

/* The id of this transaction's first DDL log row, 0 if none */
int64
schemamig_ledger_current_first_ddl(void)
{
	return batch.t[LEDGER_DDL_LOG].rows > 0 ? batch.t[LEDGER_DDL_LOG].first_id : 0;
}

/* The id of this transaction's last DDL log row, 0 if none */
int64
schemamig_ledger_current_last_ddl(void)
{
	return batch.t[LEDGER_DDL_LOG].rows > 0 ? batch.t[LEDGER_DDL_LOG].last_id : 0;
}

/* Unversioned DDL log rows this transaction appended */
int64
schemamig_ledger_current_unversioned(void)
{
	return batch.unversioned;
}


/* At the end of the transaction; the contexts go with its resource owner */
void
schemamig_ledger_batch_reset(void)
{
	batch_id = 0;
	memset(&batch, 0, sizeof(batch));
	while (nsaved > 0)
	{
		nsaved--;
		prevrow_free(&saved[nsaved].prev[0]);
		prevrow_free(&saved[nsaved].prev[1]);
	}
	prev_rows[0].valid = prev_rows[1].valid = false;
	stream[0] = stream[1] = NULL;
	xact_hash = NULL;
	if (buffer[0].data)
	{
		/* a long transaction's buffers are not kept */
		for (int t = 0; t < 2; t++)
		{
			if (buffer[t].maxlen > 4 * FLUSH_BYTES)
			{
				pfree(buffer[t].data);
				buffer[t].data = MemoryContextAlloc(TopMemoryContext, 1024);
				buffer[t].maxlen = 1024;
			}
			resetStringInfo(&buffer[t]);
		}
	}
}

/*
 * At PRE_COMMIT / PRE_PREPARE, after the link: free the contexts ourselves
 * (a commit warns of those a resource owner still holds)
 */
void
schemamig_ledger_batch_free(void)
{
	for (int t = 0; t < 2; t++)
	{
		if (stream[t])
			pg_cryptohash_free(stream[t]);
		stream[t] = NULL;
	}
	if (xact_hash)
		pg_cryptohash_free(xact_hash);
	xact_hash = NULL;
}



/*
 * ABORT_SUB and COMMIT_SUB (hooks.c): the rows of a rolled-back
 * subtransaction leave the batch; a committed one's pass to its parent.
 */
void
schemamig_ledger_subxact_end(bool committed, SubTransactionId mySubid,
							 SubTransactionId parentSubid)
{
	if (nsaved == 0 || saved[nsaved - 1].subid < mySubid)
		return;
	if (!committed)
	{
		/* the rows since then were never hashed: drop their bytes */
		while (nsaved > 0 && saved[nsaved - 1].subid >= mySubid)
		{
			nsaved--;
			batch = saved[nsaved].batch;
			for (int t = 0; t < 2; t++)
			{
				prevrow_copy(&prev_rows[t], &saved[nsaved].prev[t]);
				prevrow_free(&saved[nsaved].prev[t]);
			}
		}
		for (int t = 0; t < 2; t++)
		{
			buffer[t].len = batch.t[t].pending;
			if (buffer[t].data)
				buffer[t].data[buffer[t].len] = '\0';
		}
	}
	else if (saved[nsaved - 1].subid == mySubid)
	{
		/* the parent's saved state, if any, is older and wins */
		if ((nsaved > 1 && saved[nsaved - 2].subid == parentSubid) ||
			parentSubid == TopSubTransactionId)
		{
			nsaved--;
			prevrow_free(&saved[nsaved].prev[0]);
			prevrow_free(&saved[nsaved].prev[1]);
		}
		else
			saved[nsaved - 1].subid = parentSubid;
	}
}

/* Relcache invalidation (hooks.c): the encoding plans are built again */
void
schemamig_ledger_relcache_callback(Datum arg, Oid relid)
{
	for (int i = 0; i < NPLANS; i++)
		if (!OidIsValid(relid) || plans[i].relid == relid)
			plans[i].relid = InvalidOid;
}
