/*-------------------------------------------------------------------------
 *
 * ledger_link.c
 *		The ledger's commit-time step (ledger.c has the rows and the
 *		encoding): a transaction's link in schemamig.ledger, and the links
 *		of prepared transactions, which are made after they commit.
 *
 * A link is the one step that needs the global order.  An ordinary commit
 * of a transaction that appended rows (PRE_COMMIT):
 *
 *   1. waits for the prepared transactions that appended ledger rows and
 *      are still pending (their rows in schemamig.ledger_pending, seen with
 *      a dirty snapshot), holding nothing of the ledger while it waits;
 *   2. takes the chain lock, the transaction-level advisory lock
 *      (SCHEMAMIG_LOCK_CLASS, SCHEMAMIG_LOCK_LEDGER), so it is held until
 *      the transaction's commit is visible;
 *   3. reads the newest link with SnapshotSelf, which sees every committed
 *      link (the previous holder released the lock only after its commit
 *      became visible) and, not being an MVCC snapshot, neither depends on
 *      the transaction's own snapshot (REPEATABLE READ) nor takes SSI
 *      predicate locks (SERIALIZABLE);
 *   4. links the pending entries of prepared transactions that have
 *      committed since (deleting them), then its own batch (seq = newest
 *      seq + 1, prev = newest hash); links are insert-only;
 *   5. COMMIT: the lock goes, and the new head "seq:hash" is written to
 *      the server log (LOG_SERVER_ONLY), only now that it is durable.
 *
 * So sessions serialize only over steps 2-5, a few microseconds at the end
 * of transactions that changed the schema or the history; queries and DML
 * never touch the chain.  Link seq is gapless and in commit order.
 *
 * Two-phase commit.  A prepared transaction cannot take its place in the
 * chain at PREPARE: holding the chain lock until COMMIT PREPARED (the first
 * version) deadlocks as soon as two prepared transactions of one
 * distributed transaction append rows on the same node, which is what a
 * Citus worker does with multi-shard DDL (several connections per worker,
 * each PREPAREd, the second waiting for the first, the first for the
 * coordinator's COMMIT PREPARED, which waits for the second); and linking
 * at PREPARE without holding the lock lets a ROLLBACK PREPARED cut a link
 * out of the middle of the chain.  So PRE_PREPARE takes no lock: it
 * finishes the batch's digests and inserts them, with the batch, xid and
 * counts (the link's columns but seq, prev and hash), into
 * schemamig.ledger_pending, within the prepared transaction, so the entry
 * commits or rolls back with the rows.  Any number of prepared ledger
 * writers can then be pending at once.  The entry becomes a link:
 *
 *   - right after COMMIT PREPARED or ROLLBACK PREPARED, in the backend that
 *     ran it (if schemamig is loaded there: shared_preload_libraries), in
 *     the statement's own transaction, under the chain lock: every
 *     committed entry is linked and deleted.  The lock is tried for at most
 *     LINK_LOCK_TRIES ms, never waited on: its holder may be a coordinator
 *     whose commit waits for this very COMMIT PREPARED (a Citus node that
 *     reaches its own placements through a connection).  A failure there
 *     is a WARNING, never an error: the prepared transaction has committed;
 *   - otherwise by the next ordinary commit that appended rows (step 4),
 *     which after step 1 finds every prepared transaction it waited for
 *     resolved, so a committed prepared transaction is linked before any
 *     transaction that began to commit after it was resolved.
 *
 * Until then (a crash between COMMIT PREPARED and the statement's commit,
 * a backend without schemamig, a busy lock) the committed entry is a link
 * without a place: verify_ledger() and status() check the rows against it
 * and say so; a superuser could delete the entry with its rows unseen, as
 * they could delete the newest link with its rows (docs/ledger.md).
 *
 * An ordinary committer still waits (step 1) for prepared ledger writers,
 * as it waited for their chain lock before; a prepared transaction never
 * waits for another.  PREPARE logs the pending batch, the commit that links
 * it the head.
 *
 * Measured (Citus 13.2.2 on PostgreSQL 15, coordinator + 2 workers): the
 * revision that creates a 32-shard and a reference table commits on each
 * worker as 17 worker transactions, all PREPAREd at once (17 "pending on
 * prepared transaction" log lines per worker); with the lock held across
 * PREPARE the second of them waited until Citus cancelled the distributed
 * deadlock.  Now each is linked at its COMMIT PREPARED (17 links, 61 rows,
 * ledger_pending empty afterwards) and verify_ledger() holds on every node
 * (test/citus/run.sh).  Without Citus: sql/ledger_2pc.sql (three pending at
 * once under lock_timeout = 100ms, resolved in every order),
 * specs/ledger_prepared.spec (a busy lock, a backend without schemamig),
 * t/007_ledger_2pc.pl (both pending across a crash).
 *
 * IDENTIFICATION
 *		src/ledger_link.c
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
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

#include "schemamig.h"

#define HASH_LEN SCHEMAMIG_LEDGER_HASH_LEN

/* how long a COMMIT / ROLLBACK PREPARED tries for the chain lock, in ms */
#define LINK_LOCK_TRIES 50

static const char *const link_columns[LINK_NCOLUMNS] = {
	"seq", "batch", "xid", "at", "ddl_rows", "ddl_first", "ddl_last",
	"journal_rows", "journal_first", "journal_last", "unversioned", "prev", "hash"
};

/* The head this transaction made, logged at commit */
static bool head_pending = false;
static char head_text[32 + 2 * HASH_LEN];

/* The batch this transaction left pending at PREPARE, logged then */
static int64 prepared_batch = 0;

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
	Relation	index = index_open(schemamig_primary_key_index(rel), AccessShareLock);
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
		if (!schemamig_ledger_datum_hash(heap_getattr(tuple, LINK_HASH + 1, desc, &isnull),
										 isnull, hash))
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

/* ... and those of the pending links: the link's from batch to unversioned */
void
schemamig_ledger_check_pending_table(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);

	if (desc->natts != PENDING_NCOLUMNS)
		elog(ERROR, "schemamig.ledger_pending has %d columns, expected %d",
			 desc->natts, PENDING_NCOLUMNS);
	for (int i = 0; i < PENDING_NCOLUMNS; i++)
		if (strcmp(NameStr(TupleDescAttr(desc, i)->attname), link_columns[LINK_BATCH + i]) != 0)
			elog(ERROR, "column %d of schemamig.ledger_pending is \"%s\", expected \"%s\"",
				 i + 1, NameStr(TupleDescAttr(desc, i)->attname), link_columns[LINK_BATCH + i]);
}

/* The columns batch .. unversioned of a link from a batch's summary */
static void
summary_values(SchemamigLedgerSummary *s, Datum *values, bool *nulls)
{
	memset(nulls, true, sizeof(bool) * LINK_NCOLUMNS);
	values[LINK_BATCH] = Int64GetDatum(s->batch);
	values[LINK_XID] = FullTransactionIdGetDatum(GetTopFullTransactionId());
	values[LINK_AT] = TimestampTzGetDatum(GetCurrentTimestamp());
	for (int t = 0; t < 2; t++)
	{
		int			rows = t == 0 ? LINK_DDL_ROWS : LINK_JOURNAL_ROWS;

		values[rows] = Int64GetDatum(s->rows[t]);
		nulls[rows] = false;
		if (s->rows[t] == 0)
			continue;
		values[rows + 1] = Int64GetDatum(s->first[t]);
		nulls[rows + 1] = false;
		values[rows + 2] = schemamig_ledger_bytea(s->last[t]);
		nulls[rows + 2] = false;
	}
	values[LINK_UNVERSIONED] = Int64GetDatum(s->unversioned);
	nulls[LINK_BATCH] = nulls[LINK_XID] = nulls[LINK_AT] = nulls[LINK_UNVERSIONED] = false;
}

/*
 * Append a link whose columns batch .. unversioned are in values/nulls
 * after (*seq, prev), which then become the new link's
 */
static void
insert_link(Relation rel, Datum *values, bool *nulls, int64 *seq, uint8 *prev)
{
	uint8		hash[HASH_LEN];
	HeapTuple	tuple;

	values[LINK_SEQ] = Int64GetDatum(*seq + 1);
	nulls[LINK_SEQ] = false;
	values[LINK_AT] = TimestampTzGetDatum(GetCurrentTimestamp());
	nulls[LINK_AT] = false;
	values[LINK_PREV] = schemamig_ledger_bytea(prev);
	nulls[LINK_PREV] = false;
	nulls[LINK_HASH] = true;
	schemamig_ledger_link_hash(rel, values, nulls, prev, hash);
	values[LINK_HASH] = schemamig_ledger_bytea(hash);
	nulls[LINK_HASH] = false;

	tuple = heap_form_tuple(RelationGetDescr(rel), values, nulls);
	CatalogTupleInsert(rel, tuple);
	heap_freetuple(tuple);

	*seq += 1;
	memcpy(prev, hash, HASH_LEN);
	snprintf(head_text, sizeof(head_text), INT64_FORMAT ":%s", *seq,
			 schemamig_ledger_hex(hash, HASH_LEN));
	head_pending = true;
}

/* The chain lock; with tries > 0 only tried for about that many ms */
static bool
lock_chain(int tries)
{
	LOCKTAG		tag;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, SCHEMAMIG_LOCK_CLASS, SCHEMAMIG_LOCK_LEDGER, 2);
	if (tries == 0)
	{
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
		return true;
	}
	for (int i = 0;; i++)
	{
		if (LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL)
			return true;
		if (i >= tries)
			return false;
		CHECK_FOR_INTERRUPTS();
		pg_usleep(1000L);
	}
}

/*
 * Step 1 of the banner: wait for every prepared (or still committing)
 * transaction whose pending entry a dirty snapshot shows as in progress.
 */
static void
wait_for_prepared(Oid pendingid)
{
	Relation	rel = table_open(pendingid, AccessShareLock);
	SnapshotData dirty;
	SysScanDesc scan;
	HeapTuple	tuple;
	TransactionId *xids = NULL;
	int			nxids = 0;
	int			maxxids = 0;

	InitDirtySnapshot(dirty);
	scan = systable_beginscan(rel, InvalidOid, false, &dirty, 0, NULL);
	while ((tuple = systable_getnext(scan)) != NULL)
	{
		if (!TransactionIdIsValid(dirty.xmin))
			continue;
		if (nxids == maxxids)
		{
			maxxids = Max(8, 2 * maxxids);
			xids = xids ? repalloc(xids, sizeof(TransactionId) * maxxids) :
				palloc(sizeof(TransactionId) * maxxids);
		}
		xids[nxids++] = dirty.xmin;
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	for (int i = 0; i < nxids; i++)
		XactLockTableWait(xids[i], NULL, NULL, XLTW_None);
	if (xids)
		pfree(xids);
}

/*
 * Step 4, under the chain lock: link every committed pending entry, in
 * batch order, after (*seq, prev), and delete it.  Returns how many.
 */
static int
link_pending(Relation linkrel, Oid pendingid, int64 *seq, uint8 *prev)
{
	Relation	rel = table_open(pendingid, RowExclusiveLock);
	Relation	index;
	SysScanDesc scan;
	HeapTuple	tuple;
	int			linked = 0;

	schemamig_ledger_check_pending_table(rel);
	index = index_open(schemamig_primary_key_index(rel), AccessShareLock);
	scan = systable_beginscan_ordered(rel, index, SnapshotSelf, 0, NULL);
	while ((tuple = systable_getnext_ordered(scan, ForwardScanDirection)) != NULL)
	{
		Datum		values[LINK_NCOLUMNS];
		bool		nulls[LINK_NCOLUMNS];

		memset(nulls, true, sizeof(nulls));
		heap_deform_tuple(tuple, RelationGetDescr(rel), &values[LINK_BATCH], &nulls[LINK_BATCH]);
		insert_link(linkrel, values, nulls, seq, prev);
		CatalogTupleDelete(rel, &tuple->t_self);
		linked++;
	}
	systable_endscan_ordered(scan);
	index_close(index, AccessShareLock);
	table_close(rel, NoLock);
	return linked;
}

/* Is there a committed pending entry?  (SnapshotSelf, a heap scan) */
static bool
pending_committed(Oid pendingid)
{
	Relation	rel = table_open(pendingid, AccessShareLock);
	SysScanDesc scan;
	bool		found;

	scan = systable_beginscan(rel, InvalidOid, false, SnapshotSelf, 0, NULL);
	found = systable_getnext(scan) != NULL;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* Steps 2-4, with the lock waited for (tries == 0) or tried */
static void
link_under_lock(SchemamigLedgerSummary *own, Oid linkid, Oid pendingid, int tries)
{
	Relation	rel;
	int64		seq = 0;
	uint8		prev[HASH_LEN];

	if (!lock_chain(tries))
		return;
	rel = table_open(linkid, RowExclusiveLock);
	schemamig_ledger_check_link_table(rel);
	if (!read_head(rel, &seq, prev))
	{
		seq = 0;
		memset(prev, 0, HASH_LEN);
	}
	if (OidIsValid(pendingid))
		(void) link_pending(rel, pendingid, &seq, prev);
	if (own)
	{
		Datum		values[LINK_NCOLUMNS];
		bool		nulls[LINK_NCOLUMNS];

		summary_values(own, values, nulls);
		insert_link(rel, values, nulls, &seq, prev);
	}
	table_close(rel, NoLock);
}

/* PRE_PREPARE: the batch's entry in schemamig.ledger_pending */
static void
insert_pending(SchemamigLedgerSummary *s, Oid pendingid)
{
	Relation	rel = table_open(pendingid, RowExclusiveLock);
	Datum		values[LINK_NCOLUMNS];
	bool		nulls[LINK_NCOLUMNS];
	HeapTuple	tuple;

	schemamig_ledger_check_pending_table(rel);
	summary_values(s, values, nulls);
	tuple = heap_form_tuple(RelationGetDescr(rel), &values[LINK_BATCH], &nulls[LINK_BATCH]);
	CatalogTupleInsert(rel, tuple);
	heap_freetuple(tuple);
	table_close(rel, NoLock);
	prepared_batch = s->batch;
}

/*
 * PRE_COMMIT and PRE_PREPARE (hooks.c, after every other commit-time
 * step, which may still write rows): the link, or at PREPARE the pending
 * entry.
 */
void
schemamig_ledger_pre_commit(bool prepare)
{
	SchemamigLedgerSummary s;
	Oid			linkid;
	Oid			pendingid;

	if (!schemamig_ledger_batch_summary(&s))
	{
		schemamig_ledger_batch_free();
		return;
	}
	linkid = schemamig_ledger_relid("ledger");
	/* the extension was dropped in this transaction: nothing to chain to */
	if (!OidIsValid(linkid))
	{
		schemamig_ledger_batch_free();
		return;
	}
	pendingid = schemamig_ledger_relid("ledger_pending");
	if (prepare && OidIsValid(pendingid))
		insert_pending(&s, pendingid);
	else
	{
		/* (without ledger_pending, a prepared link keeps the lock: 0.2 betas) */
		if (OidIsValid(pendingid))
			wait_for_prepared(pendingid);
		link_under_lock(&s, linkid, pendingid, 0);
	}
	schemamig_ledger_batch_free();
}

/*
 * After COMMIT PREPARED or ROLLBACK PREPARED (hooks.c), in the statement's
 * transaction: link the committed pending entries, if the chain lock can
 * be had soon.  Never an error: the prepared transaction is over already.
 */
void
schemamig_ledger_resolved(void)
{
	Oid			linkid = schemamig_ledger_relid("ledger");
	Oid			pendingid = schemamig_ledger_relid("ledger_pending");
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	if (!OidIsValid(linkid) || !OidIsValid(pendingid) || !pending_committed(pendingid))
		return;
	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		link_under_lock(NULL, linkid, pendingid, LINK_LOCK_TRIES);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		head_pending = false;
		ereport(WARNING,
				(errcode(edata->sqlerrcode),
				 errmsg("could not link the ledger rows of a committed prepared transaction: %s",
						edata->message),
				 errdetail("The prepared transaction committed; its rows are linked by the next transaction that appends ledger rows.")));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
}

/*
 * COMMIT, PREPARE, ABORT (hooks.c; never ERROR): log the head the
 * transaction made, now that it is durable, or the batch left pending, and
 * forget the batch.
 */
void
schemamig_ledger_xact_end(XactEvent event)
{
	if (head_pending && event == XACT_EVENT_COMMIT)
		ereport(LOG_SERVER_ONLY,
				(errmsg("schemamig ledger head %s", head_text),
				 errhidestmt(true), errhidecontext(true)));
	else if (head_pending && event == XACT_EVENT_PREPARE)
		ereport(LOG_SERVER_ONLY,
				(errmsg("schemamig ledger head %s pending on prepared transaction %u",
						head_text, XidFromFullTransactionId(GetTopFullTransactionIdIfAny())),
				 errhidestmt(true), errhidecontext(true)));
	else if (prepared_batch != 0 && event == XACT_EVENT_PREPARE)
		ereport(LOG_SERVER_ONLY,
				(errmsg("schemamig ledger batch " INT64_FORMAT " pending on prepared transaction %u: linked after its COMMIT PREPARED",
						prepared_batch, XidFromFullTransactionId(GetTopFullTransactionIdIfAny())),
				 errhidestmt(true), errhidecontext(true)));
	head_pending = false;
	prepared_batch = 0;
	schemamig_ledger_batch_reset();
}

/*
 * The seq of the newest committed link (0: none, or no ledger), read with
 * SnapshotSelf: everything committed before now, whatever the
 * transaction's snapshot.
 */
int64
schemamig_ledger_head_seq(void)
{
	Oid			relid = schemamig_ledger_relid("ledger");
	Relation	rel;
	int64		seq = 0;
	uint8		hash[HASH_LEN];

	if (!OidIsValid(relid))
		return 0;
	rel = table_open(relid, AccessShareLock);
	if (!read_head(rel, &seq, hash))
		seq = 0;
	table_close(rel, AccessShareLock);
	return seq;
}
