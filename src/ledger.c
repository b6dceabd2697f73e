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
 * The canonical encoding of a row, its locator and a link's hash are in
 * ledger_encode.c; the links in ledger_link.c; verify_ledger() and
 * status().ledger_ok in ledger_verify.c.  This file also chains the rows
 * 0.1.0 wrote (ledger_adopt(), called by the update from 0.1.0).
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
#include "commands/extension.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "common/cryptohash.h"
#include "common/hashfn.h"
#include "common/sha2.h"
#include "executor/spi.h"
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
#include "ledger_int.h"

PG_FUNCTION_INFO_V1(schemamig_ledger_row_trigger);
PG_FUNCTION_INFO_V1(schemamig_ledger_adopt);

#define HASH_LEN SCHEMAMIG_LEDGER_HASH_LEN

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
	ledger_sha_update(stream[t], buffer[t].data, buffer[t].len);
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
	TablePlan  *plan = ledger_table_plan(rel, which);
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
		ledger_prevrow_copy(&saved[nsaved].prev[0], &prev_rows[0]);
		ledger_prevrow_copy(&saved[nsaved].prev[1], &prev_rows[1]);
		nsaved++;
	}

	values[plan->batch_att] = Int64GetDatum(batch_id);
	nulls[plan->batch_att] = false;
	ledger_encode_row(plan, values, nulls, &encoding, &prev_rows[which]);
	bt->locator = ledger_row_locator(&encoding, bt->locator);
	{
		bytea	   *b = palloc(VARHDRSZ + 8);

		for (int i = 0; i < 8; i++)
			((uint8 *) VARDATA(b))[i] = (bt->locator >> (56 - 8 * i)) & 0xff;
		SET_VARSIZE(b, VARHDRSZ + 8);
		values[plan->hash_att] = PointerGetDatum(b);
		nulls[plan->hash_att] = false;
	}
	ledger_frame(len, encoding.len);
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
		ledger_prevrow_free(&saved[nsaved].prev[0]);
		ledger_prevrow_free(&saved[nsaved].prev[1]);
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
				ledger_prevrow_copy(&prev_rows[t], &saved[nsaved].prev[t]);
				ledger_prevrow_free(&saved[nsaved].prev[t]);
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
			ledger_prevrow_free(&saved[nsaved].prev[0]);
			ledger_prevrow_free(&saved[nsaved].prev[1]);
		}
		else
			saved[nsaved - 1].subid = parentSubid;
	}
}

/* ---- the rows 0.1.0 wrote ---- */

static const char *const adopt_tables[2] = {"ddl_log", "journal"};

/*
 * ledger_adopt(): called once by the update from 0.1.0 (its append-only
 * triggers disabled around the call): every row written before the ledger
 * existed joins the updating transaction's batch, in id order, the DDL
 * log first, so the chain covers the whole history.  Returns the rows.
 */
Datum
schemamig_ledger_adopt(PG_FUNCTION_ARGS)
{
	int64		adopted = 0;
	Snapshot	snapshot;

	if (!creating_extension)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("ledger_adopt() runs only in ALTER EXTENSION schemamig UPDATE")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	snapshot = RegisterSnapshot(GetLatestSnapshot());
	for (int t = 0; t < 2; t++)
	{
		Oid			relid = schemamig_ledger_relid(adopt_tables[t]);
		Relation	rel = table_open(relid, RowExclusiveLock);
		TupleDesc	desc = RelationGetDescr(rel);
		Relation	index = index_open(schemamig_primary_key_index(rel), AccessShareLock);
		SysScanDesc scan;
		HeapTuple	tuple;
		SPIPlanPtr	plan;
		Oid			types[3] = {INT8OID, BYTEAOID, INT8OID};
		char	   *sql = psprintf("UPDATE schemamig.%s SET ledger_batch = $1, ledger_hash = $2 "
								   "WHERE id OPERATOR(pg_catalog.=) $3", adopt_tables[t]);
		int			batch_att = -1;
		int			hash_att = -1;
		int			id_att = -1;

		for (int i = 0; i < desc->natts; i++)
		{
			const char *name = NameStr(TupleDescAttr(desc, i)->attname);

			if (strcmp(name, "ledger_batch") == 0)
				batch_att = i;
			else if (strcmp(name, "ledger_hash") == 0)
				hash_att = i;
			else if (strcmp(name, "id") == 0)
				id_att = i;
		}
		if (batch_att < 0 || hash_att < 0 || id_att < 0)
			elog(ERROR, "schemamig.%s has no ledger columns", adopt_tables[t]);
		plan = SPI_prepare(sql, 3, types);
		if (plan == NULL)
			elog(ERROR, "could not prepare \"%s\"", sql);

		scan = systable_beginscan_ordered(rel, index, snapshot, 0, NULL);
		while ((tuple = systable_getnext_ordered(scan, ForwardScanDirection)) != NULL)
		{
			Datum	   *values = palloc(sizeof(Datum) * desc->natts);
			bool	   *nulls = palloc(sizeof(bool) * desc->natts);
			Datum		args[3];
			int			ret;

			heap_deform_tuple(tuple, desc, values, nulls);
			if (!nulls[hash_att])
				continue;
			schemamig_ledger_row(rel, values, nulls);
			args[0] = values[batch_att];
			args[1] = values[hash_att];
			args[2] = values[id_att];
			ret = SPI_execute_plan(plan, args, NULL, false, 0);
			if (ret != SPI_OK_UPDATE || SPI_processed != 1)
				elog(ERROR, "could not chain schemamig.%s row: %s", adopt_tables[t],
					 SPI_result_code_string(ret));
			adopted++;
			pfree(values);
			pfree(nulls);
		}
		systable_endscan_ordered(scan);
		index_close(index, AccessShareLock);
		table_close(rel, NoLock);
	}
	UnregisterSnapshot(snapshot);
	SPI_finish();
	PG_RETURN_INT64(adopted);
}
