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
 * the global order, appending the link, happens at commit:
 *
 *   1. PRE_COMMIT (or PRE_PREPARE) of a transaction that appended rows:
 *      take the chain lock, a transaction-level advisory lock (1935895911,
 *      2) so it is held until the transaction's commit is visible;
 *   2. read the newest link with SnapshotSelf, which sees every committed
 *      link (the previous holder released the lock only after its commit
 *      became visible) and, not being an MVCC snapshot, neither depends on
 *      the transaction's own snapshot (REPEATABLE READ) nor takes SSI
 *      predicate locks (SERIALIZABLE);
 *   3. insert the link (seq = newest seq + 1, prev = newest hash): links
 *      are insert-only, no row is ever updated;
 *   4. COMMIT: the lock goes, and the new head "seq:hash" is written to the
 *      server log (LOG_SERVER_ONLY), only now that it is durable.
 *
 * So sessions serialize only over steps 1-4, a few microseconds at the end
 * of transactions that changed the schema or the history; queries and DML
 * never touch the chain.  Link seq is gapless and in commit order.
 *
 * Two-phase commit: PREPARE TRANSACTION does steps 1-3 and keeps the lock
 * (PostgreSQL hands a prepared transaction's locks to it), so the link's
 * place in the chain is decided at PREPARE and stays valid whichever
 * backend runs COMMIT PREPARED; ROLLBACK PREPARED removes the link and the
 * rows together and the next committer links to the head before it.  The
 * head is logged at PREPARE, marked as pending on the commit; the backend
 * that runs COMMIT PREPARED need not have schemamig loaded.  While a
 * prepared transaction that appended ledger rows is pending, other
 * committers that appended ledger rows wait for it at step 1.
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
#define CHAIN_LOCK_KEY1 1935895911	/* 'scmg', as the history lock */
#define CHAIN_LOCK_KEY2 2

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
} EncKind;

typedef struct EncColumn
{
	int			attno;			/* 0-based */
	const char *name;
	int			namelen;
	EncKind		kind;
	Oid			typoutput;
} EncColumn;

/* The encoding plan of one of the three tables, by relation */
typedef struct TablePlan
{
	Oid			relid;			/* InvalidOid: to be built */
	const char *table;			/* "ddl_log", "journal", "ledger" */
	int			ncolumns;
	EncColumn  *columns;		/* sorted by name, hash column left out */
	int			hash_att;		/* ledger_hash (hash for links), -1 if absent */
	int			batch_att;		/* ledger_batch (batch for links), -1 if absent */
	int			id_att;			/* id (seq for links) */
	int			direction_att;	/* ddl_log.direction, -1 elsewhere */
} TablePlan;

#define PLAN_DDL_LOG LEDGER_DDL_LOG
#define PLAN_JOURNAL LEDGER_JOURNAL
#define PLAN_LEDGER LEDGER_LINKS
#define NPLANS 3
static const char *const plan_tables[NPLANS] = {"ddl_log", "journal", "ledger"};
static TablePlan plans[NPLANS];

static const char *const link_columns[LINK_NCOLUMNS] = {
	"seq", "batch", "xid", "at", "ddl_rows", "ddl_first", "ddl_last",
	"journal_rows", "journal_first", "journal_last", "unversioned", "prev", "hash"
};

/* What this transaction appended to one table */
typedef struct BatchTable
{
	int64		rows;
	int64		first_id;
	uint8		last[HASH_LEN];
} BatchTable;

typedef struct Batch
{
	BatchTable	t[2];			/* PLAN_DDL_LOG, PLAN_JOURNAL */
	int64		unversioned;
} Batch;

typedef struct SavedBatch
{
	SubTransactionId subid;
	Batch		batch;
} SavedBatch;

static int64 batch_id = 0;		/* 0: no row appended in this transaction */
static Batch batch;
static SavedBatch *saved = NULL;
static int	nsaved = 0;
static int	maxsaved = 0;
static pg_cryptohash_ctx *xact_hash = NULL;

/* The head this transaction made, logged at commit */
static bool head_pending = false;
static char head_text[32 + 2 * HASH_LEN];

static const uint8 zero_hash[HASH_LEN];

static TablePlan *table_plan(Relation rel, int which);
static void encode_row(TablePlan *plan, TupleDesc desc, Datum *values, bool *nulls,
					   const uint8 *prev, uint8 *out, pg_cryptohash_ctx *ctx);
static void hash_bytes(pg_cryptohash_ctx *ctx, const void *data, size_t len);
static void append_link(void);
static bool read_head(Relation rel, int64 *seq, uint8 *hash);
static Datum bytea_datum(const uint8 *bytes);
static bool datum_hash(Datum d, bool isnull, uint8 *out);
static void ledger_xact_callback(XactEvent event, void *arg);
static void ledger_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
									SubTransactionId parentSubid, void *arg);
static void ledger_relcache_callback(Datum arg, Oid relid);

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
		col->typoutput = InvalidOid;
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
hash_bytes(pg_cryptohash_ctx *ctx, const void *data, size_t len)
{
	if (pg_cryptohash_update(ctx, data, len) < 0)
		elog(ERROR, "could not compute the ledger hash: %s", pg_cryptohash_error(ctx));
}

/* One value: 4-byte big-endian length, then the bytes */
static void
hash_value(pg_cryptohash_ctx *ctx, const char *data, size_t len)
{
	uint8		lenbytes[4];

	lenbytes[0] = (len >> 24) & 0xff;
	lenbytes[1] = (len >> 16) & 0xff;
	lenbytes[2] = (len >> 8) & 0xff;
	lenbytes[3] = len & 0xff;
	hash_bytes(ctx, lenbytes, 4);
	if (len > 0)
		hash_bytes(ctx, data, len);
}

/* Text in the server encoding, hashed in UTF-8 */
static void
hash_text(pg_cryptohash_ctx *ctx, const char *str, int len)
{
	char	   *utf8 = pg_server_to_any(str, len, PG_UTF8);

	hash_value(ctx, utf8, utf8 == str ? len : strlen(utf8));
	if (utf8 != str)
		pfree(utf8);
}

static void
hash_int64(pg_cryptohash_ctx *ctx, int64 v)
{
	char		buf[MAXINT8LEN + 1];
	int			len = pg_lltoa(v, buf);

	hash_value(ctx, buf, len);
}

/*
 * out = sha256(prev || table || 0 || columns).  values/nulls describe a
 * tuple of desc; the hash column is never part of it.
 */
static void
encode_row(TablePlan *plan, TupleDesc desc, Datum *values, bool *nulls,
		   const uint8 *prev, uint8 *out, pg_cryptohash_ctx *ctx)
{
	if (pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not compute the ledger hash: %s", pg_cryptohash_error(ctx));
	hash_bytes(ctx, prev, HASH_LEN);
	hash_bytes(ctx, plan->table, strlen(plan->table) + 1);
	for (int i = 0; i < plan->ncolumns; i++)
	{
		EncColumn  *col = &plan->columns[i];
		Datum		d = values[col->attno];

		if (nulls[col->attno])
			continue;
		hash_bytes(ctx, col->name, col->namelen + 1);
		switch (col->kind)
		{
			case ENC_TEXT:
				{
					text	   *t = DatumGetTextPP(d);

					hash_text(ctx, VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
					if ((Pointer) t != DatumGetPointer(d))
						pfree(t);
					break;
				}
			case ENC_NAME:
				hash_text(ctx, NameStr(*DatumGetName(d)), strlen(NameStr(*DatumGetName(d))));
				break;
			case ENC_INT2:
				hash_int64(ctx, DatumGetInt16(d));
				break;
			case ENC_INT4:
				hash_int64(ctx, DatumGetInt32(d));
				break;
			case ENC_INT8:
				hash_int64(ctx, DatumGetInt64(d));
				break;
			case ENC_XID8:
				{
					char		buf[32];
					int			len = snprintf(buf, sizeof(buf), UINT64_FORMAT,
											   U64FromFullTransactionId(DatumGetFullTransactionId(d)));

					hash_value(ctx, buf, len);
					break;
				}
			case ENC_BOOL:
				hash_value(ctx, DatumGetBool(d) ? "t" : "f", 1);
				break;
			case ENC_TIMESTAMP:
				/* microseconds since 1970-01-01 00:00 UTC */
				hash_int64(ctx, DatumGetTimestampTz(d) +
						   (int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
				break;
			case ENC_INTERVAL:
				{
					Interval   *iv = DatumGetIntervalP(d);
					char		buf[3 * (MAXINT8LEN + 1)];
					int			len;

					len = snprintf(buf, sizeof(buf), "%d %d " INT64_FORMAT,
								   iv->month, iv->day, iv->time);
					hash_value(ctx, buf, len);
					break;
				}
			case ENC_JSONB:
				{
					Jsonb	   *jb = DatumGetJsonbP(d);
					char	   *str = JsonbToCString(NULL, &jb->root, VARSIZE(jb));

					hash_text(ctx, str, strlen(str));
					pfree(str);
					if ((Pointer) jb != DatumGetPointer(d))
						pfree(jb);
					break;
				}
			case ENC_BYTEA:
				{
					bytea	   *b = DatumGetByteaPP(d);

					hash_value(ctx, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
					break;
				}
			case ENC_OUTPUT:
				{
					char	   *str = OidOutputFunctionCall(col->typoutput, d);

					hash_text(ctx, str, strlen(str));
					pfree(str);
					break;
				}
		}
	}
	if (pg_cryptohash_final(ctx, out, HASH_LEN) < 0)
		elog(ERROR, "could not compute the ledger hash: %s", pg_cryptohash_error(ctx));
}

/* The transaction's hash context, owned by the top transaction */
pg_cryptohash_ctx *
schemamig_ledger_hash_ctx(void)
{
	if (xact_hash == NULL)
	{
		ResourceOwner save = CurrentResourceOwner;

		CurrentResourceOwner = TopTransactionResourceOwner;
		xact_hash = pg_cryptohash_create(PG_SHA256);
		CurrentResourceOwner = save;
		if (xact_hash == NULL)
			elog(ERROR, "out of memory");
	}
	return xact_hash;
}

/* ---- appending rows ---- */

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
	int			which = strcmp(relname, "ddl_log") == 0 ? PLAN_DDL_LOG : PLAN_JOURNAL;
	TablePlan  *plan = table_plan(rel, which);
	BatchTable *bt = &batch.t[which];
	SubTransactionId subid = GetCurrentSubTransactionId();
	uint8		hash[HASH_LEN];

	if (plan->hash_att < 0 || plan->batch_att < 0)
		return;
	if (batch_id == 0)
	{
		Oid			seqid = schemamig_ledger_relid("ledger_batch_seq");

		if (!OidIsValid(seqid))
			return;
		batch_id = nextval_internal(seqid, false);
	}
	/* the state before this subtransaction's first row, to restore at its abort */
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
		nsaved++;
	}

	values[plan->batch_att] = Int64GetDatum(batch_id);
	nulls[plan->batch_att] = false;
	encode_row(plan, RelationGetDescr(rel), values, nulls,
			   bt->rows > 0 ? bt->last : zero_hash, hash, schemamig_ledger_hash_ctx());
	values[plan->hash_att] = bytea_datum(hash);
	nulls[plan->hash_att] = false;

	if (bt->rows == 0 && plan->id_att >= 0 && !nulls[plan->id_att])
		bt->first_id = DatumGetInt64(values[plan->id_att]);
	bt->rows++;
	memcpy(bt->last, hash, HASH_LEN);
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

static Datum
bytea_datum(const uint8 *bytes)
{
	bytea	   *b = palloc(VARHDRSZ + HASH_LEN);

	SET_VARSIZE(b, VARHDRSZ + HASH_LEN);
	memcpy(VARDATA(b), bytes, HASH_LEN);
	return PointerGetDatum(b);
}

/* A stored hash; false when NULL or not 32 bytes */
static bool
datum_hash(Datum d, bool isnull, uint8 *out)
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

/* ---- the link at commit ---- */

/* A relation of schema schemamig, or InvalidOid (dropped, or 0.1.0) */
Oid
schemamig_ledger_relid(const char *name)
{
	Oid			nspid = get_namespace_oid("schemamig", true);

	if (!OidIsValid(nspid))
		return InvalidOid;
	return get_relname_relid(name, nspid);
}

/*
 * The newest link, read with SnapshotSelf through the primary key
 * backwards; false when the chain is empty.
 */
static bool
read_head(Relation rel, int64 *seq, uint8 *hash)
{
	Relation	index = index_open(RelationGetPrimaryKeyIndex(rel), AccessShareLock);
	SysScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	scan = systable_beginscan_ordered(rel, index, SnapshotSelf, 0, NULL);
	tuple = systable_getnext_ordered(scan, BackwardScanDirection);
	if (HeapTupleIsValid(tuple))
	{
		TupleDesc	desc = RelationGetDescr(rel);
		bool		isnull;

		*seq = DatumGetInt64(heap_getattr(tuple, LINK_SEQ + 1, desc, &isnull));
		if (!datum_hash(heap_getattr(tuple, LINK_HASH + 1, desc, &isnull), isnull, hash))
			memset(hash, 0, HASH_LEN);
		found = true;
	}
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	return found;
}

/* The link columns must be the ones this code knows, in its order */
void
schemamig_ledger_check_link_table(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (desc->natts != LINK_NCOLUMNS)
		elog(ERROR, "schemamig.ledger has %d columns, expected %d", desc->natts, LINK_NCOLUMNS);
	for (int i = 0; i < LINK_NCOLUMNS; i++)
		if (strcmp(NameStr(TupleDescAttr(desc, i)->attname), link_columns[i]) != 0)
			elog(ERROR, "column %d of schemamig.ledger is \"%s\", expected \"%s\"",
				 i + 1, NameStr(TupleDescAttr(desc, i)->attname), link_columns[i]);
}

/* Steps 1-3 of the file banner */
static void
append_link(void)
{
	Oid			relid = schemamig_ledger_relid("ledger");
	LOCKTAG		tag;
	Relation	rel;
	TupleDesc	desc;
	TablePlan  *plan;
	Datum		values[LINK_NCOLUMNS];
	bool		nulls[LINK_NCOLUMNS];
	int64		seq = 0;
	uint8		prev[HASH_LEN];
	uint8		hash[HASH_LEN];
	HeapTuple	tuple;

	/* the extension was dropped in this transaction: nothing to chain to */
	if (!OidIsValid(relid))
		return;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, CHAIN_LOCK_KEY1, CHAIN_LOCK_KEY2, 2);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);

	rel = table_open(relid, RowExclusiveLock);
	schemamig_ledger_check_link_table(rel);
	desc = RelationGetDescr(rel);
	plan = table_plan(rel, PLAN_LEDGER);
	if (!read_head(rel, &seq, prev))
	{
		seq = 0;
		memset(prev, 0, HASH_LEN);
	}

	memset(nulls, false, sizeof(nulls));
	values[LINK_SEQ] = Int64GetDatum(seq + 1);
	values[LINK_BATCH] = Int64GetDatum(batch_id);
	values[LINK_XID] = FullTransactionIdGetDatum(GetTopFullTransactionId());
	values[LINK_AT] = TimestampTzGetDatum(GetCurrentTimestamp());
	for (int t = 0; t < 2; t++)
	{
		BatchTable *bt = &batch.t[t];
		int			rows = t == 0 ? LINK_DDL_ROWS : LINK_JOURNAL_ROWS;

		values[rows] = Int64GetDatum(bt->rows);
		values[rows + 1] = Int64GetDatum(bt->first_id);
		nulls[rows + 1] = bt->rows == 0;
		values[rows + 2] = bt->rows > 0 ? bytea_datum(bt->last) : (Datum) 0;
		nulls[rows + 2] = bt->rows == 0;
	}
	values[LINK_UNVERSIONED] = Int64GetDatum(batch.unversioned);
	values[LINK_PREV] = bytea_datum(prev);
	nulls[LINK_HASH] = true;
	encode_row(plan, desc, values, nulls, prev, hash, schemamig_ledger_hash_ctx());
	values[LINK_HASH] = bytea_datum(hash);
	nulls[LINK_HASH] = false;

	tuple = heap_form_tuple(desc, values, nulls);
	CatalogTupleInsert(rel, tuple);
	table_close(rel, NoLock);

	snprintf(head_text, sizeof(head_text), INT64_FORMAT ":%s", seq + 1, schemamig_ledger_hex(hash, HASH_LEN));
	head_pending = true;
}

/*
 * The ledger columns of a stored row of table "which" (rel), deformed into
 * values/nulls; no hashing.
 */
void
schemamig_ledger_read(Relation rel, SchemamigLedgerTable which, Datum *values,
					  bool *nulls, SchemamigLedgerRow *row)
{
	TablePlan  *plan = table_plan(rel, which);

	row->id = plan->id_att >= 0 && !nulls[plan->id_att] ?
		DatumGetInt64(values[plan->id_att]) : 0;
	row->has_batch = plan->batch_att >= 0 && !nulls[plan->batch_att];
	row->batch = row->has_batch ? DatumGetInt64(values[plan->batch_att]) : 0;
	row->has_hash = plan->hash_att >= 0 &&
		datum_hash(values[plan->hash_att], nulls[plan->hash_att], row->stored);
	if (which != LEDGER_LINKS)
		return;
	if (!datum_hash(values[LINK_PREV], nulls[LINK_PREV], row->prev))
		memset(row->prev, 0xff, HASH_LEN);
	for (int t = 0; t < 2; t++)
	{
		int			rows = t == 0 ? LINK_DDL_ROWS : LINK_JOURNAL_ROWS;

		row->rows[t] = nulls[rows] ? -1 : DatumGetInt64(values[rows]);
		row->first[t] = nulls[rows + 1] ? 0 : DatumGetInt64(values[rows + 1]);
		row->has_last[t] = datum_hash(values[rows + 2], nulls[rows + 2], row->last[t]);
	}
	row->unversioned = nulls[LINK_UNVERSIONED] ? 0 : DatumGetInt64(values[LINK_UNVERSIONED]);
}

/* The hash of a stored row (values/nulls of rel) after prev (NULL: zeros) */
void
schemamig_ledger_hash_values(Relation rel, SchemamigLedgerTable which, Datum *values,
							 bool *nulls, const uint8 *prev, uint8 *out)
{
	TablePlan  *plan = table_plan(rel, which);

	encode_row(plan, RelationGetDescr(rel), values, nulls, prev ? prev : zero_hash,
			   out, schemamig_ledger_hash_ctx());
}

/* The batch of this transaction's rows, 0 if it appended none */
int64
schemamig_ledger_current_batch(void)
{
	return batch_id;
}

static void
batch_reset(void)
{
	batch_id = 0;
	memset(&batch, 0, sizeof(batch));
	nsaved = 0;
	/* freed with the top transaction's resource owner */
	xact_hash = NULL;
}

static void
ledger_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			if (batch.t[0].rows + batch.t[1].rows > 0)
				append_link();
			/* a commit would warn of a context its resource owner still holds */
			if (xact_hash)
				pg_cryptohash_free(xact_hash);
			xact_hash = NULL;
			break;
		case XACT_EVENT_COMMIT:
			if (head_pending)
				ereport(LOG_SERVER_ONLY,
						(errmsg("schemamig ledger head %s", head_text),
						 errhidestmt(true), errhidecontext(true)));
			head_pending = false;
			batch_reset();
			break;
		case XACT_EVENT_PREPARE:
			if (head_pending)
				ereport(LOG_SERVER_ONLY,
						(errmsg("schemamig ledger head %s pending on prepared transaction %u",
								head_text, XidFromFullTransactionId(GetTopFullTransactionIdIfAny())),
						 errhidestmt(true), errhidecontext(true)));
			head_pending = false;
			batch_reset();
			break;
		case XACT_EVENT_ABORT:
			head_pending = false;
			batch_reset();
			break;
		default:
			break;
	}
}

static void
ledger_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	if (nsaved == 0 || saved[nsaved - 1].subid < mySubid)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		while (nsaved > 0 && saved[nsaved - 1].subid >= mySubid)
			batch = saved[--nsaved].batch;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB && saved[nsaved - 1].subid == mySubid)
	{
		/* the parent's saved state, if any, is older and wins */
		if (nsaved > 1 && saved[nsaved - 2].subid == parentSubid)
			nsaved--;
		else if (parentSubid == TopSubTransactionId)
			nsaved--;
		else
			saved[nsaved - 1].subid = parentSubid;
	}
}

static void
ledger_relcache_callback(Datum arg, Oid relid)
{
	for (int i = 0; i < NPLANS; i++)
		if (!OidIsValid(relid) || plans[i].relid == relid)
			plans[i].relid = InvalidOid;
}

void
schemamig_ledger_install(void)
{
	RegisterXactCallback(ledger_xact_callback, NULL);
	RegisterSubXactCallback(ledger_subxact_callback, NULL);
	CacheRegisterRelcacheCallback(ledger_relcache_callback, (Datum) 0);
}
