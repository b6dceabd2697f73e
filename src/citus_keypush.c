/*-------------------------------------------------------------------------
 *
 * citus_keypush.c
 *		The Citus key reaches a node added to the cluster without anyone
 *		calling citus_sync_key(): after the transaction that changed Citus'
 *		node list has committed on the coordinator, a background worker
 *		runs citus_sync_key() as the bootstrap superuser.
 *
 * Why after the commit, in another process: a push inside the adding
 * transaction (citus_set_key() sent through Citus' node-activation
 * connection at PRE_COMMIT) fails, that connection is still busy ("another
 * command is already in progress"), and the new node's schemamig only
 * exists once Citus' two-phase commit of the activation has finished,
 * which Citus does in its own COMMIT callback, after ours (callbacks run in
 * reverse registration order, and Citus is loaded first).  The caller's
 * own session cannot send it either: the caller may not be a superuser and
 * the key must never travel in a connection of a non-superuser role.
 *
 * Detecting a node change (measured on Citus 13.2.2, docs/citus.md): every
 * change of pg_dist_node fires Citus' trigger on it, which invalidates
 * pg_dist_node's relcache entry (CitusInvalidateRelcacheByRelid).  The
 * invalidation reaches this backend's relcache callback while the
 * transaction runs (at the next CommandCounterIncrement), but it also
 * reaches every other backend of the database, inside whatever transaction
 * they run.  So the callback only sets a flag, and at PRE_COMMIT the flag
 * is confirmed against the table itself: a tuple of pg_dist_node whose
 * xmin is this transaction (or one of its committed subtransactions) was
 * written here, i.e. a node was added, activated or updated (a removal
 * writes no tuple, and needs no key).  Then, only on the coordinator (Citus
 * group 0) with schemamig 0.2's key table holding a key, the push is armed;
 * at COMMIT a dynamic background worker is registered for it.
 *
 * Cost: the callback is registered only when Citus is loaded in the
 * process (its GUC citus.version exists when schemamig's _PG_init runs,
 * Citus being first in shared_preload_libraries); then it compares one OID
 * per relcache invalidation.  pg_dist_node's OID is looked up at PRE_COMMIT
 * of a flagged transaction; until it is known (a backend's first
 * transaction, or a database without Citus) any relcache invalidation
 * flags the transaction, and the lookup is one syscache probe.  Only client
 * backends arm a push: Citus' maintenance daemon marking a node's metadata
 * synced is not a node change.
 *
 * The worker (schemamig_citus_keypush_main) connects to the database by
 * OID as the bootstrap superuser and runs
 *		SELECT schemamig.citus_sync_key() FROM schemamig.citus_key
 * (no key, no push; the function's body is the one citus_sync_key() every
 * superuser calls) in its own transaction, retrying for about 10 s while
 * the new node's schemamig is not committed yet.  It logs one LOG line
 *		schemamig: citus key pushed to N nodes after a node change
 * or one WARNING naming the last failure and the manual procedure; it is
 * never restarted (BGW_NEVER_RESTART) and never loops on an ERROR.  No
 * free background worker slot: a WARNING in the committing session with
 * the same hint.  A key rotation (citus_set_key() on the coordinator)
 * changes no node and pushes nothing: citus_sync_key() distributes it.
 *
 * IDENTIFICATION
 *		src/citus_keypush.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_namespace.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/wait_event.h"

#include "schemamig.h"

PGDLLEXPORT void schemamig_citus_keypush_main(Datum main_arg);

/* pg_dist_node's OID in this database, InvalidOid until looked up */
static Oid	dist_node_oid = InvalidOid;

/* this transaction may have changed pg_dist_node (relcache callback) */
static bool node_change_suspect = false;

/* confirmed at PRE_COMMIT: register the worker at COMMIT */
static bool push_armed = false;

/* the worker: tries, and the pause after each failed one (ms; 10 s in all) */
#define KEYPUSH_TRIES 12
static const int keypush_pause_ms[KEYPUSH_TRIES - 1] =
{250, 500, 750, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1500};

/*
 * Citus is loaded in this process: decided once, when hooks.c installs
 * the callbacks from _PG_init (Citus, first in shared_preload_libraries,
 * has defined its GUCs by then)
 */
bool
schemamig_citus_loaded(void)
{
	return GetConfigOption("citus.version", true, false) != NULL;
}

/* relcache callback (registered by hooks.c only when Citus is loaded) */
void
schemamig_citus_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid))
		return;					/* a reset of everything: another backend's */
	if (relid == dist_node_oid || !OidIsValid(dist_node_oid))
		node_change_suspect = true;
}

/* a tuple of pg_dist_node was written by this transaction */
static bool
dist_node_written_here(void)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;
	bool		found = false;

	rel = table_open(dist_node_oid, AccessShareLock);
	/* every version, dead ones too: only their xmin matters */
	scan = table_beginscan(rel, SnapshotAny, 0, NULL);
	while (!found && (tuple = heap_getnext(scan, ForwardScanDirection)) != NULL)
		found = TransactionIdIsCurrentTransactionId(HeapTupleHeaderGetXmin(tuple->t_data));
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	return found;
}

/* this node is the coordinator and the key exists (read as the bootstrap superuser) */
static bool
coordinator_with_key(void)
{
	Oid			nsp = get_namespace_oid("schemamig", true);
	Oid			save_userid;
	int			save_sec;
	volatile bool result = false;

	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("citus_key", nsp)) ||
		!OidIsValid(get_relname_relid("pg_dist_local_group", PG_CATALOG_NAMESPACE)))
		return false;
	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	/* at commit no statement is running: SPI needs a snapshot of its own */
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		SPI_connect();
		if (SPI_execute("SELECT EXISTS (SELECT FROM schemamig.citus_key) AND "
						"EXISTS (SELECT FROM pg_catalog.pg_dist_local_group WHERE groupid OPERATOR(pg_catalog.=) 0)",
						true, 1) == SPI_OK_SELECT && SPI_processed == 1)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			result = !isnull && DatumGetBool(d);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		PopActiveSnapshot();
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	return result;
}

/*
 * PRE_COMMIT (hooks.c; not PRE_PREPARE: the coordinator commits its own
 * part of a node change locally): arm the push when this transaction
 * changed the node list on the coordinator and there is a key to push
 */
void
schemamig_citus_keypush_pre_commit(void)
{
	if (!node_change_suspect)
		return;
	node_change_suspect = false;
	if (MyBackendType != B_BACKEND)
		return;
	dist_node_oid = get_relname_relid("pg_dist_node", PG_CATALOG_NAMESPACE);
	if (!OidIsValid(dist_node_oid))
		return;
	if (!dist_node_written_here())
		return;
	push_armed = coordinator_with_key();
}

/* COMMIT, ABORT, PREPARE (hooks.c; never ERROR): after a commit, start the push */
void
schemamig_citus_keypush_xact_end(bool committed)
{
	BackgroundWorker worker;
	bool		armed = push_armed;

	node_change_suspect = false;
	push_armed = false;
	if (!committed || !armed)
		return;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(worker.bgw_library_name, "schemamig", sizeof(worker.bgw_library_name));
	strlcpy(worker.bgw_function_name, "schemamig_citus_keypush_main", sizeof(worker.bgw_function_name));
	strlcpy(worker.bgw_name, "schemamig citus key push", sizeof(worker.bgw_name));
	strlcpy(worker.bgw_type, "schemamig citus key push", sizeof(worker.bgw_type));
	worker.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	worker.bgw_notify_pid = 0;
	if (!RegisterDynamicBackgroundWorker(&worker, NULL))
		ereport(WARNING,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("schemamig could not start the background worker that pushes the citus key to the new node"),
				 errdetail("No background worker slot is free (max_worker_processes)."),
				 errhint("A superuser runs SELECT schemamig.citus_sync_key(); on the coordinator.")));
}

/*
 * The worker's one try, in its own transaction: the number of nodes the
 * key went to (-1: no key, nothing to do); on an ERROR, its message in
 * *failure and -2
 */
static int
keypush_try(char **failure)
{
	MemoryContext workcxt = CurrentMemoryContext;
	volatile int result = -1;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "SELECT schemamig.citus_sync_key()");
	PG_TRY();
	{
		SPI_connect();
		if (!OidIsValid(get_extension_oid("schemamig", true)))
			result = -1;
		else if (SPI_execute("SELECT schemamig.citus_sync_key() FROM schemamig.citus_key",
							 false, 0) == SPI_OK_SELECT && SPI_processed == 1)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			result = isnull ? 0 : DatumGetInt32(d);
		}
		SPI_finish();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(workcxt);
		edata = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		*failure = edata->message ? edata->message : pstrdup("unknown error");
		result = -2;
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	return result;
}

/* Background worker: push the key after a node change (see the banner) */
void
schemamig_citus_keypush_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	MemoryContext workcxt;
	char	   *failure = NULL;
	int			i;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	workcxt = AllocSetContextCreate(TopMemoryContext, "schemamig key push",
									ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(workcxt);

	for (i = 0; i < KEYPUSH_TRIES; i++)
	{
		int			nodes = keypush_try(&failure);

		if (nodes >= 0)
		{
			ereport(LOG,
					(errmsg_plural("schemamig: citus key pushed to %d node after a node change",
								   "schemamig: citus key pushed to %d nodes after a node change",
								   nodes, nodes)));
			proc_exit(0);
		}
		if (nodes == -1)
			proc_exit(0);		/* no key (any more): nothing to push */
		elog(DEBUG1, "schemamig: citus key push try %d failed: %s", i + 1, failure);
		if (i == KEYPUSH_TRIES - 1)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 keypush_pause_ms[i], PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	ereport(WARNING,
			(errcode(ERRCODE_WARNING),
			 errmsg("schemamig could not push the citus key after a node change: %s", failure),
			 errdetail("Tried %d times in about 10 seconds; a node without the key refuses every revision's DDL.",
					   KEYPUSH_TRIES),
			 errhint("A superuser runs SELECT schemamig.citus_sync_key(); on the coordinator.")));
	proc_exit(0);
}
