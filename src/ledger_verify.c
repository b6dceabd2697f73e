/*-------------------------------------------------------------------------
 *
 * ledger_verify.c
 *		Checking the ledger (ledger.c): verify_ledger() walks the whole
 *		chain, status() checks its recent end.  Committed prepared
 *		transactions still waiting for their link (ledger_link.c,
 *		schemamig.ledger_pending) are checked like links, outside the
 *		chain, and named in verify_ledger()'s detail.
 *
 * verify_ledger() reads the links in seq order and each table once in id
 * order through its primary key, keeping one running hash per batch (a
 * hash table batch -> link), so its cost is one pass over every row and
 * one SHA-256 per row and link.  A row's recomputed hash is compared with
 * its stored one and the stored one is carried on: a changed row is
 * reported itself, a deleted one by the row after it (whose hash was made
 * over the deleted one), and the newest rows of a batch by the counts and
 * last hash of the link.  Problems are reported in chain order: the first
 * link (by seq) with something wrong names the row, then rows that belong
 * to no link at all.
 *
 * Everything is read with the statement's snapshot by direct scans, as
 * the catalogs are; no privilege on the tables is needed or checked (the
 * functions themselves are granted like the other administrative ones;
 * status() reveals one boolean).
 *
 * IDENTIFICATION
 *		src/ledger_verify.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/table.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_verify_ledger);

#define HASH_LEN SCHEMAMIG_LEDGER_HASH_LEN

static const char *const table_names[2] = {"ddl_log", "journal"};

/* One link and what the rows of its batch turned out to be */
typedef struct LinkCheck
{
	SchemamigLedgerRow link;
	int64		found[2];
	uint64		locator[2];		/* the last row's stored locator */
	struct pg_cryptohash_ctx *stream[2];	/* SHA-256 of the rows so far */
	bool		hashed[2];		/* "last" holds the stream's digest */
	void	   *prev_row[2];	/* the previous row, for "same as before" */
	uint8		last[2][HASH_LEN];
	int64		last_id[2];
	char	   *problem;		/* first problem of this link, or NULL */
	bool		pending;		/* an entry of ledger_pending, not a link */
	char		name[48];		/* "link 7", "the pending link of batch 9" */
}			LinkCheck;

typedef struct BatchEntry
{
	int64		batch;			/* hash key */
	int			link;			/* index into the links */
}			BatchEntry;

typedef struct Walk
{
	LinkCheck  *links;			/* the links, then the pending entries */
	int			nlinks;
	int			npending;
	int			maxlinks;
	HTAB	   *batches;
	char	   *orphan;			/* first row without a link */
	int64		checked;
	MemoryContext rowcxt;
	StringInfoData bytes;		/* one row's framed encoding */
}			Walk;

static struct pg_cryptohash_ctx *
stream_create(void)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not create a SHA-256 context");
	return ctx;
}

/* The digest of a batch's rows of table t, into lc->last */
static void
stream_finish(LinkCheck * lc, int t)
{
	if (lc->stream[t] == NULL)
		return;
	if (pg_cryptohash_final(lc->stream[t], lc->last[t], HASH_LEN) < 0)
		elog(ERROR, "could not compute the ledger hash");
	pg_cryptohash_free(lc->stream[t]);
	lc->stream[t] = NULL;
	lc->hashed[t] = true;
	if (lc->prev_row[t])
		schemamig_ledger_prev_free(lc->prev_row[t]);
	lc->prev_row[t] = NULL;
}

static void
			note(LinkCheck * lc, const char *fmt,...) pg_attribute_printf(2, 3);

static void
note(LinkCheck * lc, const char *fmt,...)
{
	StringInfoData buf;
	va_list		args;

	if (lc->problem)
		return;
	initStringInfo(&buf);
	for (;;)
	{
		int			needed;

		va_start(args, fmt);
		needed = appendStringInfoVA(&buf, fmt, args);
		va_end(args);
		if (needed == 0)
			break;
		enlargeStringInfo(&buf, needed);
	}
	lc->problem = buf.data;
}

static bool batch_linked(Snapshot snapshot, int64 batch);

/* Deform a tuple into the walk's row context */
static void
deform(Walk * w, Relation rel, HeapTuple tuple, Datum **values, bool **nulls)
{
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext oldcxt = MemoryContextSwitchTo(w->rowcxt);

	*values = palloc(sizeof(Datum) * desc->natts);
	*nulls = palloc(sizeof(bool) * desc->natts);
	heap_deform_tuple(tuple, desc, *values, *nulls);
	MemoryContextSwitchTo(oldcxt);
}

/* The links, in seq order, each checked against the one before */
static void
read_links(Relation rel, Walk * w, Snapshot snapshot)
{
	Relation	index = index_open(schemamig_primary_key_index(rel), AccessShareLock);
	SysScanDesc scan;
	HeapTuple	tuple;
	HASHCTL		ctl;
	uint8		prev[HASH_LEN];
	int64		expect = 1;

	memset(prev, 0, HASH_LEN);
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(BatchEntry);
	ctl.hcxt = CurrentMemoryContext;
	w->batches = hash_create("schemamig ledger batches", 1024, &ctl,
							 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	w->maxlinks = 64;
	w->links = palloc0(sizeof(LinkCheck) * w->maxlinks);
	w->nlinks = 0;

	scan = systable_beginscan_ordered(rel, index, snapshot, 0, NULL);
	while ((tuple = systable_getnext_ordered(scan, ForwardScanDirection)) != NULL)
	{
		LinkCheck  *lc;
		BatchEntry *entry;
		bool		found;
		MemoryContext oldcxt;
		Datum	   *values;
		bool	   *nulls;
		uint8		computed[HASH_LEN];

		if (w->nlinks == w->maxlinks)
		{
			w->maxlinks *= 2;
			w->links = repalloc(w->links, sizeof(LinkCheck) * w->maxlinks);
		}
		lc = &w->links[w->nlinks];
		memset(lc, 0, sizeof(LinkCheck));
		deform(w, rel, tuple, &values, &nulls);
		schemamig_ledger_read(rel, LEDGER_LINKS, values, nulls, &lc->link);
		snprintf(lc->name, sizeof(lc->name), "link %lld", (long long) lc->link.id);
		oldcxt = MemoryContextSwitchTo(w->rowcxt);
		schemamig_ledger_link_hash(rel, values, nulls, lc->link.prev, computed);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(w->rowcxt);

		if (lc->link.id != expect)
		{
			if (lc->link.id > expect)
				note(lc, "link %lld is missing: the links go from %lld to %lld, so a link was deleted",
					 (long long) expect, (long long) expect - 1, (long long) lc->link.id);
			else
				note(lc, "link %lld appears out of order after link %lld",
					 (long long) lc->link.id, (long long) expect - 1);
		}
		if (!lc->link.has_hash || memcmp(computed, lc->link.stored, HASH_LEN) != 0)
			note(lc, "link %lld was changed: its hash does not match its content",
				 (long long) lc->link.id);
		else if (memcmp(lc->link.prev, prev, HASH_LEN) != 0)
			note(lc, "link %lld does not follow link %lld: the chain was cut or rewritten before it",
				 (long long) lc->link.id, (long long) expect - 1);
		memcpy(prev, lc->link.stored, HASH_LEN);
		expect = lc->link.id + 1;

		entry = hash_search(w->batches, &lc->link.batch, HASH_ENTER, &found);
		if (found)
			note(lc, "link %lld repeats batch %lld of link %lld",
				 (long long) lc->link.id, (long long) lc->link.batch,
				 (long long) w->links[entry->link].link.id);
		else
			entry->link = w->nlinks;
		w->nlinks++;
	}
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
}

/*
 * The committed entries of schemamig.ledger_pending (ledger_link.c):
 * prepared transactions that committed and wait for their link.  Their
 * rows are checked against them like a link's; they are not part of the
 * chain.
 */
static void
read_pending(Walk * w, Snapshot snapshot)
{
	Oid			relid = schemamig_ledger_relid("ledger_pending");
	Relation	rel;
	SysScanDesc scan;
	HeapTuple	tuple;

	w->npending = 0;
	if (!OidIsValid(relid))
		return;
	rel = table_open(relid, AccessShareLock);
	schemamig_ledger_check_pending_table(rel);
	scan = systable_beginscan(rel, InvalidOid, false, snapshot, 0, NULL);
	while ((tuple = systable_getnext(scan)) != NULL)
	{
		Datum		values[LINK_NCOLUMNS];
		bool		nulls[LINK_NCOLUMNS];
		LinkCheck  *lc;
		BatchEntry *entry;
		bool		found;

		if (w->nlinks + w->npending == w->maxlinks)
		{
			w->maxlinks *= 2;
			w->links = repalloc(w->links, sizeof(LinkCheck) * w->maxlinks);
		}
		lc = &w->links[w->nlinks + w->npending];
		memset(lc, 0, sizeof(LinkCheck));
		memset(nulls, true, sizeof(nulls));
		heap_deform_tuple(tuple, RelationGetDescr(rel), &values[LINK_BATCH], &nulls[LINK_BATCH]);
		lc->pending = true;
		lc->link.has_batch = !nulls[LINK_BATCH];
		lc->link.batch = nulls[LINK_BATCH] ? 0 : DatumGetInt64(values[LINK_BATCH]);
		for (int t = 0; t < 2; t++)
		{
			int			rows = t == 0 ? LINK_DDL_ROWS : LINK_JOURNAL_ROWS;

			lc->link.rows[t] = nulls[rows] ? -1 : DatumGetInt64(values[rows]);
			lc->link.first[t] = nulls[rows + 1] ? 0 : DatumGetInt64(values[rows + 1]);
			lc->link.has_last[t] = schemamig_ledger_datum_hash(values[rows + 2], nulls[rows + 2],
															   lc->link.last[t]);
		}
		snprintf(lc->name, sizeof(lc->name), "the pending link of batch %lld",
				 (long long) lc->link.batch);
		entry = hash_search(w->batches, &lc->link.batch, HASH_ENTER, &found);
		if (found)
			note(lc, "%s repeats the batch of %s", lc->name, w->links[entry->link].name);
		else
			entry->link = w->nlinks + w->npending;
		w->npending++;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
}

/*
 * One table in id order, from id "from" on; with "only" (a link index) the
 * rows of other batches are only checked to have a link, and rows of
 * batches not in w are looked up in linkrel by the caller's rule: here
 * they are orphans.
 */
static void
walk_rows(Walk * w, SchemamigLedgerTable which, Snapshot snapshot, int64 from, bool tail)
{
	Oid			relid = schemamig_ledger_relid(table_names[which]);
	Relation	rel;
	Relation	index;
	SysScanDesc scan;
	HeapTuple	tuple;
	ScanKeyData key;

	if (!OidIsValid(relid))
		return;
	rel = table_open(relid, AccessShareLock);
	index = index_open(schemamig_primary_key_index(rel), AccessShareLock);
	ScanKeyInit(&key, 1, BTGreaterEqualStrategyNumber, F_INT8GE, Int64GetDatum(from));
	scan = systable_beginscan_ordered(rel, index, snapshot, 1, &key);
	while ((tuple = systable_getnext_ordered(scan, ForwardScanDirection)) != NULL)
	{
		SchemamigLedgerRow row;
		BatchEntry *entry = NULL;
		LinkCheck  *lc;
		MemoryContext oldcxt;
		Datum	   *values;
		bool	   *nulls;
		uint64		locator;

		CHECK_FOR_INTERRUPTS();
		w->checked++;
		deform(w, rel, tuple, &values, &nulls);
		schemamig_ledger_read(rel, which, values, nulls, &row);
		/* this transaction's own rows are linked only at its commit */
		if (row.has_batch && row.batch == schemamig_ledger_current_batch())
		{
			w->checked--;
			MemoryContextReset(w->rowcxt);
			continue;
		}
		if (row.has_batch)
			entry = hash_search(w->batches, &row.batch, HASH_FIND, NULL);
		if (entry == NULL && tail && row.has_batch && batch_linked(snapshot, row.batch))
		{
			MemoryContextReset(w->rowcxt);
			continue;
		}
		if (entry == NULL)
		{
			if (w->orphan == NULL)
				w->orphan = psprintf(row.has_batch ?
									 "%s row %lld belongs to no ledger link (batch %lld): its link was deleted, or the row was inserted by hand" :
									 "%s row %lld has no ledger hash: it was inserted with the ledger bypassed",
									 table_names[which], (long long) row.id, (long long) row.batch);
			MemoryContextReset(w->rowcxt);
			continue;
		}
		lc = &w->links[entry->link];
		/* the tail check starts inside this link's rows: it is not checked */
		if (tail && lc->link.first[which] < from)
		{
			MemoryContextReset(w->rowcxt);
			continue;
		}
		resetStringInfo(&w->bytes);
		oldcxt = MemoryContextSwitchTo(w->rowcxt);
		if (lc->prev_row[which] == NULL)
			lc->prev_row[which] = schemamig_ledger_prev_new();
		locator = schemamig_ledger_row_bytes(rel, which, values, nulls,
											 lc->found[which] > 0 ? lc->locator[which] : 0,
											 lc->prev_row[which], &w->bytes);
		MemoryContextSwitchTo(oldcxt);
		MemoryContextReset(w->rowcxt);
		if (!row.has_hash || locator != row.locator)
		{
			if (lc->found[which] > 0)
				note(lc, "%s row %lld (%s) does not match its ledger hash: it was changed, or the row before it in its transaction (%s row %lld) was deleted or moved",
					 table_names[which], (long long) row.id, lc->name,
					 table_names[which], (long long) lc->last_id[which]);
			else
				note(lc, "%s row %lld (%s) does not match its ledger hash: it was changed, or a row before it in its transaction was deleted or moved",
					 table_names[which], (long long) row.id, lc->name);
		}
		lc->locator[which] = row.has_hash ? row.locator : locator;
		/* the SHA-256 of the batch's rows, finished when all are there */
		if (lc->found[which] < lc->link.rows[which])
		{
			if (lc->stream[which] == NULL)
				lc->stream[which] = stream_create();
			if (pg_cryptohash_update(lc->stream[which], (uint8 *) w->bytes.data, w->bytes.len) < 0)
				elog(ERROR, "could not compute the ledger hash");
			if (lc->found[which] + 1 == lc->link.rows[which])
				stream_finish(lc, which);
		}
		lc->found[which]++;
		lc->last_id[which] = row.id;
	}
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);
}

static void
walk_table(Walk * w, SchemamigLedgerTable which, Snapshot snapshot, int64 from)
{
	walk_rows(w, which, snapshot, from, false);
}

static void
walk_table_tail(Walk * w, SchemamigLedgerTable which, Snapshot snapshot, int64 from)
{
	walk_rows(w, which, snapshot, from, true);
}

/* Counts and last hashes of the links against the rows found */
static void
check_counts(Walk * w, int from_link)
{
	for (int i = from_link; i < w->nlinks + w->npending; i++)
	{
		LinkCheck  *lc = &w->links[i];

		for (int t = 0; t < 2; t++)
		{
			if (lc->found[t] < lc->link.rows[t])
			{
				if (lc->found[t] == 0)
					note(lc, "%s records %lld %s rows, none is left: they were deleted or the table was truncated",
						 lc->name, (long long) lc->link.rows[t], table_names[t]);
				else
					note(lc, "%s records %lld %s rows, %lld are left: rows after %s row %lld were deleted",
						 lc->name, (long long) lc->link.rows[t], table_names[t],
						 (long long) lc->found[t], table_names[t], (long long) lc->last_id[t]);
			}
			else if (lc->found[t] > lc->link.rows[t])
				note(lc, "%s records %lld %s rows, %lld carry its batch: rows were added to it",
					 lc->name, (long long) lc->link.rows[t], table_names[t],
					 (long long) lc->found[t]);
			else if (lc->found[t] > 0 &&
					 (!lc->hashed[t] || !lc->link.has_last[t] ||
					  memcmp(lc->link.last[t], lc->last[t], HASH_LEN) != 0))
				note(lc, "the %s rows of %s do not hash to the SHA-256 it records: a row was changed and its ledger hash recomputed",
					 table_names[t], lc->name);
		}
	}
}

/* Contexts of batches whose rows never all turned up */
static void
free_streams(Walk * w)
{
	for (int i = 0; i < w->nlinks + w->npending; i++)
		for (int t = 0; t < 2; t++)
		{
			if (w->links[i].stream[t])
			{
				pg_cryptohash_free(w->links[i].stream[t]);
				w->links[i].stream[t] = NULL;
			}
			if (w->links[i].prev_row[t])
			{
				schemamig_ledger_prev_free(w->links[i].prev_row[t]);
				w->links[i].prev_row[t] = NULL;
			}
		}
}

/* The first problem in chain order, or NULL */
static char *
first_problem(Walk * w)
{
	for (int i = 0; i < w->nlinks + w->npending; i++)
		if (w->links[i].problem)
			return w->links[i].problem;
	return w->orphan;
}

/*
 * "seq:hex" or "hex": is it a link of the chain?  NULL when it is, else
 * what is wrong.
 */
static char *
check_expected_head(Walk * w, const char *expected)
{
	const char *colon = strchr(expected, ':');
	const char *hexpart = colon ? colon + 1 : expected;
	int64		seq = -1;

	if (colon)
	{
		char	   *end;

		seq = strtoi64(expected, &end, 10);
		if (end != colon || seq < 1)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid ledger head \"%.64s\"", expected),
					 errhint("A head is \"<seq>:<sha256 hex>\" as written to the server log, or the hex hash alone.")));
	}
	if (strlen(hexpart) != 2 * HASH_LEN || strspn(hexpart, "0123456789abcdefABCDEF") != 2 * HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid ledger head \"%.64s\"", expected),
				 errhint("A head is \"<seq>:<sha256 hex>\" as written to the server log, or the hex hash alone.")));

	for (int i = 0; i < w->nlinks; i++)
	{
		LinkCheck  *lc = &w->links[i];
		char	   *h = schemamig_ledger_hex(lc->link.stored, HASH_LEN);

		if (seq > 0 && lc->link.id != seq)
			continue;
		if (pg_strcasecmp(h, hexpart) == 0)
			return NULL;
		if (seq > 0)
			return psprintf("the expected head %s is not in the chain: link %lld has hash %s, so the chain was rewritten up to it",
							expected, (long long) seq, h);
	}
	if (seq > 0)
		return psprintf("the expected head %s is not in the chain: it ends at link %lld, so links were deleted or the chain was rewritten",
						expected, w->nlinks > 0 ? (long long) w->links[w->nlinks - 1].link.id : 0LL);
	return psprintf("the expected head %s is not in the chain: it was rewritten", expected);
}

/*
 * verify_ledger(expected_head text DEFAULT NULL)
 *   -> TABLE(ok boolean, checked bigint, detail text)
 */
Datum
schemamig_verify_ledger(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = schemamig_ledger_relid("ledger");
	Relation	rel;
	Snapshot	snapshot;
	Walk		w;
	char	   *problem;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	InitMaterializedSRF(fcinfo, 0);
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("table schemamig.ledger does not exist"),
				 errhint("Run ALTER EXTENSION schemamig UPDATE.")));

	memset(&w, 0, sizeof(w));
	w.rowcxt = AllocSetContextCreate(CurrentMemoryContext, "schemamig ledger row",
									 ALLOCSET_DEFAULT_SIZES);
	snapshot = RegisterSnapshot(GetTransactionSnapshot());
	rel = table_open(relid, AccessShareLock);
	schemamig_ledger_check_link_table(rel);
	read_links(rel, &w, snapshot);
	table_close(rel, AccessShareLock);
	read_pending(&w, snapshot);
	initStringInfo(&w.bytes);
	walk_table(&w, LEDGER_DDL_LOG, snapshot, PG_INT64_MIN);
	walk_table(&w, LEDGER_JOURNAL, snapshot, PG_INT64_MIN);
	UnregisterSnapshot(snapshot);
	free_streams(&w);
	check_counts(&w, 0);

	problem = first_problem(&w);
	if (problem == NULL && !PG_ARGISNULL(0))
		problem = check_expected_head(&w, text_to_cstring(PG_GETARG_TEXT_PP(0)));

	values[0] = BoolGetDatum(problem == NULL);
	values[1] = Int64GetDatum(w.checked);
	if (problem)
		values[2] = CStringGetTextDatum(problem);
	else if (w.nlinks == 0)
		values[2] = CStringGetTextDatum("the ledger is empty");
	else
		values[2] = CStringGetTextDatum(psprintf("%lld rows in %d links; head %lld:%s",
												 (long long) w.checked, w.nlinks,
												 (long long) w.links[w.nlinks - 1].link.id,
												 schemamig_ledger_hex(w.links[w.nlinks - 1].link.stored,
																	  HASH_LEN)));
	if (problem == NULL && w.npending > 0)
		values[2] = CStringGetTextDatum(psprintf("%s; %d committed prepared transaction(s) wait for their link (batch %lld%s)",
												 TextDatumGetCString(values[2]), w.npending,
												 (long long) w.links[w.nlinks].link.batch,
												 w.npending > 1 ? ", ..." : ""));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/* Is there a link for batch?  Through the unique index on ledger.batch. */
static bool
batch_linked(Snapshot snapshot, int64 batch)
{
	Oid			relid = schemamig_ledger_relid("ledger");
	Oid			indexid = schemamig_ledger_relid("ledger_batch_key");
	Relation	rel;
	Relation	index;
	SysScanDesc scan;
	ScanKeyData key;
	bool		found;

	if (!OidIsValid(relid) || !OidIsValid(indexid))
		return false;
	rel = table_open(relid, AccessShareLock);
	index = index_open(indexid, AccessShareLock);
	ScanKeyInit(&key, LINK_BATCH + 1, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(batch));
	scan = systable_beginscan_ordered(rel, index, snapshot, 1, &key);
	found = systable_getnext_ordered(scan, ForwardScanDirection) != NULL;
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);
	return found;
}

#define TAIL_LINKS 64

/*
 * status().ledger_ok: the recent end of the chain.  The newest links (up
 * to TAIL_LINKS) must follow each other; for each table, the rows from the
 * first row of the newest link that has rows in it on must all be linked,
 * and the links that began there must find exactly their rows.  So a
 * deleted, changed or added newest row, a deleted newest link and a
 * truncated table are seen; older rows are verify_ledger()'s job.
 * Returns -1 when there is no ledger (0.1.0 objects).
 */
int
schemamig_ledger_tail_ok(void)
{
	Oid			relid = schemamig_ledger_relid("ledger");
	Relation	rel;
	Relation	index;
	SysScanDesc scan;
	HeapTuple	tuple;
	Snapshot	snapshot;
	Walk		w;
	HASHCTL		ctl;
	MemoryContext cxt;
	MemoryContext oldcxt;
	bool		ok = true;

	if (!OidIsValid(relid))
		return -1;
	cxt = AllocSetContextCreate(CurrentMemoryContext, "schemamig ledger tail",
								ALLOCSET_DEFAULT_SIZES);
	oldcxt = MemoryContextSwitchTo(cxt);
	memset(&w, 0, sizeof(w));
	w.rowcxt = AllocSetContextCreate(cxt, "schemamig ledger row", ALLOCSET_DEFAULT_SIZES);
	initStringInfo(&w.bytes);
	w.maxlinks = TAIL_LINKS;
	w.links = palloc0(sizeof(LinkCheck) * w.maxlinks);
	ctl.keysize = sizeof(int64);
	ctl.entrysize = sizeof(BatchEntry);
	ctl.hcxt = cxt;
	w.batches = hash_create("schemamig ledger tail batches", TAIL_LINKS, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	snapshot = RegisterSnapshot(GetTransactionSnapshot());

	/* the newest links, newest first */
	rel = table_open(relid, AccessShareLock);
	schemamig_ledger_check_link_table(rel);
	index = index_open(schemamig_primary_key_index(rel), AccessShareLock);
	scan = systable_beginscan_ordered(rel, index, snapshot, 0, NULL);
	while (w.nlinks < TAIL_LINKS &&
		   (tuple = systable_getnext_ordered(scan, BackwardScanDirection)) != NULL)
	{
		LinkCheck  *lc = &w.links[w.nlinks];
		Datum	   *values;
		bool	   *nulls;
		uint8		computed[HASH_LEN];
		BatchEntry *entry;

		deform(&w, rel, tuple, &values, &nulls);
		schemamig_ledger_read(rel, LEDGER_LINKS, values, nulls, &lc->link);
		MemoryContextSwitchTo(w.rowcxt);
		schemamig_ledger_link_hash(rel, values, nulls, lc->link.prev, computed);
		MemoryContextSwitchTo(cxt);
		MemoryContextReset(w.rowcxt);
		if (!lc->link.has_hash || memcmp(computed, lc->link.stored, HASH_LEN) != 0)
			ok = false;
		/* the one read before is the next newer link */
		if (w.nlinks > 0 &&
			(w.links[w.nlinks - 1].link.id != lc->link.id + 1 ||
			 memcmp(w.links[w.nlinks - 1].link.prev, lc->link.stored, HASH_LEN) != 0))
			ok = false;
		entry = hash_search(w.batches, &lc->link.batch, HASH_ENTER, NULL);
		entry->link = w.nlinks;
		w.nlinks++;
	}
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(rel, AccessShareLock);
	read_pending(&w, snapshot);

	for (int t = 0; ok && t < 2; t++)
	{
		int			newest = -1;
		int64		from = PG_INT64_MIN;

		for (int i = 0; i < w.nlinks; i++)
			if (w.links[i].link.rows[t] > 0)
			{
				newest = i;
				break;
			}
		if (newest >= 0)
			from = w.links[newest].link.first[t];
		else if (w.nlinks == TAIL_LINKS)
			from = PG_INT64_MAX;	/* older than the window */
		/* and the rows of committed prepared transactions not linked yet */
		for (int i = w.nlinks; i < w.nlinks + w.npending; i++)
			if (w.links[i].link.rows[t] > 0 && w.links[i].link.first[t] < from)
				from = w.links[i].link.first[t];
		if (from == PG_INT64_MAX)
			continue;
		w.orphan = NULL;
		walk_table_tail(&w, t, snapshot, from);
		if (w.orphan)
			ok = false;
		/* links whose rows began at or after "from" must find them all */
		for (int i = 0; ok && i < w.nlinks + w.npending; i++)
		{
			LinkCheck  *lc = &w.links[i];

			if (lc->link.rows[t] == 0 || lc->link.first[t] < from)
				continue;
			if (lc->found[t] != lc->link.rows[t] || lc->problem ||
				!lc->link.has_last[t] || !lc->hashed[t] ||
				memcmp(lc->link.last[t], lc->last[t], HASH_LEN) != 0)
				ok = false;
		}
		for (int i = 0; i < w.nlinks + w.npending; i++)
			if (w.links[i].problem)
				ok = false;
	}

	UnregisterSnapshot(snapshot);
	free_streams(&w);
	MemoryContextSwitchTo(oldcxt);
	MemoryContextDelete(cxt);
	return ok ? 1 : 0;
}
