/*-------------------------------------------------------------------------
 *
 * citus.c
 *		One revision across a Citus cluster: the coordinator hands every
 *		worker transaction of a revision a signed token; a worker admits
 *		DDL only under a token it can verify, and logs it under the
 *		coordinator's revision, direction and statement number.
 *
 * Nothing here runs unless the citus extension exists in the database;
 * schemamig does not link against Citus.  Two Citus 13 functions are
 * looked up by name in citus.so (load_external_function), both exported
 * and stable across 13.x: UseCoordinatedTransaction() (so the coordinator
 * has its distributed transaction id before the token is made) and
 * PostprocessVariableSetStmt() (Citus' own SET LOCAL propagation: it sends
 * the statement to the worker transactions already open and keeps it in
 * the list Citus sends after BEGIN on every worker transaction it opens
 * later in this transaction).
 *
 * The token.  Whenever the migration context (context.c) starts a
 * statement on the coordinator, this file sends
 *		SET LOCAL schemamig.citus_token = 'v1:<direction>:<statement_no>:
 *			<initiator>:<transaction_number>:<stamp>:<expiry>:<hmac>:<revision>'
 * where initiator/transaction_number/stamp is the coordinator's Citus
 * distributed transaction id (get_current_transaction_id()), expiry is now
 * + schemamig.citus_token_ttl (microseconds since the Unix epoch), and hmac is HMAC-SHA256 over everything
 * before it followed by the revision, with the key in schemamig.citus_key.  When the context closes,
 * an empty token is sent the same way.  A worker's guard, seeing DDL with
 * no context of its own, verifies the token: the HMAC with its own copy of
 * the key, the expiry against its clock, and the distributed transaction
 * id against its own get_current_transaction_id() (which Citus' remote
 * BEGIN set with assign_distributed_transaction_id()).  A valid token opens
 * a "remote" migration context for the rest of the worker transaction, so
 * the DDL is admitted and ddl_log records it under the coordinator's
 * revision, direction and statement number with the text the worker ran
 * (statement_text.c captures the query string ProcessUtility receives:
 * worker_apply_shard_ddl_command's shard command).  It closes with the
 * transaction, PREPARE TRANSACTION included.
 *
 * Drift on a worker: the first worker transaction that ran a revision's DDL
 * takes the node's drift baseline at its commit (schemamig_citus_pre_commit),
 * as upgrade() does on the coordinator; the node's DDL log explains later
 * revisions and Citus housekeeping.
 *
 * The key reaches nodes added later by itself: citus_keypush.c sees the
 * node change (measured on Citus 13.2.2: citus_add_node(), master_add_node(),
 * citus_add_inactive_node(), citus_activate_node() and citus_update_node()
 * all invalidate pg_dist_node's relcache entry in the adding backend while
 * its transaction runs; the flag is confirmed at PRE_COMMIT by a row of
 * pg_dist_node this transaction wrote, since other backends receive the
 * same invalidations) and pushes the key from a background worker after
 * the commit.
 *
 * Trust model (docs/citus.md has the long form).
 *	- The key: schemamig.citus_key, no grants (superusers and the
 *	  extension owner), the same on every node: citus_sync_key() generates
 *	  it on the coordinator and copies it to every worker; a node added
 *	  later gets it from a background worker started after the adding
 *	  transaction commits (citus_keypush.c), over a connection of the
 *	  bootstrap superuser.  Read here as the bootstrap superuser.
 *	- Citus forwards as the calling role, so that role can read the token
 *	  on a worker (pg_stat_activity).  A captured token only opens a
 *	  context in a worker transaction that carries the same distributed
 *	  transaction id, before its expiry: an ordinary role can fake that id
 *	  with assign_distributed_transaction_id() while the coordinator's
 *	  transaction runs, and run DDL that is then logged under that revision
 *	  and statement.  That window (the revision's transaction, at most
 *	  the TTL) is what remains.  Without the key no token can be made.
 *	- Housekeeping: DDL in a superuser's session (the session user: Citus
 *	  replays grants under SET ROLE to the grantor) in a Citus background
 *	  worker or in a session whose application_name starts with "citus"
 *	  (Citus' internal connections) is admitted and logged as
 *	  'maintenance'.  Only superusers' sessions: an ordinary role faking
 *	  every Citus marker stays blocked.
 *	  A superuser can switch the guard off anyway.
 *	- run_command_on_*() opens connections outside the coordinated
 *	  transaction: its DDL carries no token and is blocked on the workers
 *	  for ordinary roles, inside a revision too; for a superuser it counts
 *	  as maintenance.
 *
 * IDENTIFICATION
 *		src/citus.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "commands/extension.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "postmaster/bgworker.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "schemamig.h"

/* the token Citus' SET LOCAL propagation brought to this worker */
char	   *schemamig_citus_token = NULL;

/* how long a token stays valid, in seconds */
int			schemamig_citus_token_ttl = 3600;

/* the context now open came from a verified token (a worker) */
static bool context_is_remote = false;

/* this transaction ran DDL of a coordinator's revision (a worker) */
static bool remote_revision_seen = false;

/* the last token sent (coordinator) or verified (worker), this transaction */
static char last_token[1024];

/*
 * Read once per transaction (a revision sends or checks a token per
 * statement): the key and Citus' distributed transaction id, in
 * TopTransactionContext; NULL until read
 */
static bytea *xact_key = NULL;
static char *xact_dtxid = NULL;

typedef void (*use_coordinated_transaction_fn) (void);
typedef void (*postprocess_set_fn) (VariableSetStmt *stmt, const char *text);

static use_coordinated_transaction_fn use_coordinated_transaction = NULL;
static postprocess_set_fn postprocess_set = NULL;

void
schemamig_citus_define_gucs(void)
{
	DefineCustomStringVariable("schemamig.citus_token",
							   "Signed token of the coordinator's open revision (set by schemamig on Citus workers).",
							   NULL,
							   &schemamig_citus_token,
							   "",
							   PGC_USERSET,
							   GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL | GUC_DISALLOW_IN_FILE,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("schemamig.citus_token_ttl",
							"Seconds a Citus revision token stays valid.",
							NULL,
							&schemamig_citus_token_ttl,
							3600, 10, 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
}

/* the citus extension exists in this database */
static bool
citus_present(void)
{
	if (!IsTransactionState())
		return false;
	return OidIsValid(get_extension_oid("citus", true));
}

/*
 * The key, read as the bootstrap superuser; NULL when there is none.  Kept
 * for the rest of the transaction once found (citus_set_key() in the same
 * transaction is not seen: the key changes only by citus_sync_key(), never
 * inside a revision).
 */
static bytea *
read_key(void)
{
	Oid			save_userid;
	int			save_sec;
	bytea	   *volatile key = NULL;
	MemoryContext callcxt = TopTransactionContext;

	if (xact_key)
		return xact_key;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
						   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		SPI_connect();
		if (SPI_execute("SELECT key FROM schemamig.citus_key LIMIT 1", true, 1) == SPI_OK_SELECT &&
			SPI_processed == 1)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

			if (!isnull)
			{
				MemoryContext old = MemoryContextSwitchTo(callcxt);

				key = DatumGetByteaPCopy(d);
				MemoryContextSwitchTo(old);
			}
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	xact_key = key;
	return key;
}

/*
 * Citus' distributed transaction id of this backend, as text a:b:c; kept
 * for the rest of the transaction once assigned (it does not change within
 * one)
 */
static char *
distributed_transaction_id(void)
{
	char	   *result = NULL;
	MemoryContext callcxt = TopTransactionContext;

	if (xact_dtxid)
		return xact_dtxid;

	SPI_connect();
	if (SPI_execute("SELECT initiator_node_identifier || ':' || transaction_number || ':' || "
					"(extract(epoch FROM transaction_stamp) * 1000000)::bigint "
					"FROM pg_catalog.get_current_transaction_id() "
					"WHERE transaction_number <> 0", true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (v)
			result = MemoryContextStrdup(callcxt, v);
	}
	SPI_finish();
	xact_dtxid = result;
	return result;
}

/* now, in microseconds since the Unix epoch (the token's clock) */
static int64
unix_now(void)
{
	return (int64) GetCurrentTimestamp() +
		(int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY;
}

static char *
hmac_hex(bytea *key, const char *data)
{
	pg_hmac_ctx *ctx = pg_hmac_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);

	if (ctx == NULL ||
		pg_hmac_init(ctx, (uint8 *) VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) data, strlen(data)) < 0 ||
		pg_hmac_final(ctx, digest, sizeof(digest)) < 0)
		elog(ERROR, "schemamig: could not compute HMAC-SHA256");
	pg_hmac_free(ctx);
	hex_encode((char *) digest, sizeof(digest), hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

static void
lookup_citus_functions(void)
{
	if (use_coordinated_transaction && postprocess_set)
		return;
	use_coordinated_transaction = (use_coordinated_transaction_fn)
		load_external_function("citus", "UseCoordinatedTransaction", true, NULL);
	postprocess_set = (postprocess_set_fn)
		load_external_function("citus", "PostprocessVariableSetStmt", true, NULL);
}

/* hand the token to every worker transaction of this transaction */
static void
send_token(const char *token)
{
	VariableSetStmt *stmt = makeNode(VariableSetStmt);
	A_Const    *value = makeNode(A_Const);
	StringInfoData text;

	stmt->kind = VAR_SET_VALUE;
	stmt->name = "schemamig.citus_token";
	value->val.sval.type = T_String;
	value->val.sval.sval = pstrdup(token);
	value->location = -1;
	stmt->args = list_make1(value);
	stmt->is_local = true;
	initStringInfo(&text);
	appendStringInfo(&text, "SET LOCAL schemamig.citus_token = %s", quote_literal_cstr(token));
	postprocess_set(stmt, text.data);
	strlcpy(last_token, token, sizeof(last_token));
}

/*
 * Coordinator: the migration context started a statement (or opened, or
 * closed); send the token for it.  A no-op without Citus.
 */
void
schemamig_citus_statement(void)
{
	StringInfoData data;
	char	   *dtxid;
	bytea	   *key;
	TimestampTz expiry;

	if (context_is_remote || !citus_present())
		return;
	lookup_citus_functions();
	if (!use_coordinated_transaction || !postprocess_set)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("schemamig cannot hand revisions to Citus workers: this Citus version lacks UseCoordinatedTransaction or PostprocessVariableSetStmt"),
				 errhint("schemamig supports Citus 13.")));
	if (!schemamig_context_active())
	{
		/* the context closed: later worker transactions get no token */
		if (last_token[0] != '\0')
			send_token("");
		return;
	}
	key = read_key();
	if (key == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("schemamig has no Citus key in this database"),
				 errhint("A superuser runs SELECT schemamig.citus_sync_key(); once: nodes added later get the key automatically.")));
	use_coordinated_transaction();
	dtxid = distributed_transaction_id();
	if (dtxid == NULL)
		elog(ERROR, "schemamig: Citus assigned no distributed transaction id");
	expiry = unix_now() + (int64) schemamig_citus_token_ttl * USECS_PER_SEC;
	initStringInfo(&data);
	appendStringInfo(&data, "v1:%s:%d:%s:" INT64_FORMAT ":",
					 schemamig_direction_name(schemamig_context.direction),
					 schemamig_context.statement_no, dtxid, expiry);
	/* the MAC covers every field, the revision included */
	appendStringInfo(&data, "%s:%s",
					 hmac_hex(key, psprintf("%s%s", data.data, schemamig_context.revision)),
					 schemamig_context.revision);
	send_token(data.data);
}

static bool
token_invalid(const char *why)
{
	ereport(LOG_SERVER_ONLY,
			(errmsg("schemamig refused a Citus revision token of role \"%s\": %s",
					GetUserNameFromId(GetUserId(), false), why)));
	return false;
}

/*
 * Worker: DDL arrived with no context of its own.  true when a valid
 * token opened (or updated) a remote context for it.
 */
bool
schemamig_citus_admit(void)
{
	const char *token = schemamig_citus_token;
	char	   *copy;
	char	   *field[9];
	char	   *p;
	int			i;
	char	   *signed_part;
	char	   *dtxid;
	char	   *expected;
	bytea	   *key;
	SchemamigDirection direction;
	int64		expiry;

	if (schemamig_context_active() && !context_is_remote)
		return true;
	if (token == NULL || token[0] == '\0')
	{
		if (context_is_remote)
		{
			schemamig_context_close();
			context_is_remote = false;
		}
		return false;
	}
	if (context_is_remote && schemamig_context_active() &&
		strcmp(token, last_token) == 0)
		return true;
	if (!citus_present())
		return false;

	copy = pstrdup(token);
	p = copy;
	for (i = 0; i < 8; i++)
	{
		char	   *colon = strchr(p, ':');

		if (colon == NULL)
			return token_invalid("malformed");
		*colon = '\0';
		field[i] = p;
		p = colon + 1;
	}
	field[8] = p;				/* the revision, which may contain ':' */
	if (strcmp(field[0], "v1") != 0)
		return token_invalid("unknown version");
	if (strcmp(field[1], "upgrade") == 0)
		direction = DIRECTION_UPGRADE;
	else if (strcmp(field[1], "downgrade") == 0)
		direction = DIRECTION_DOWNGRADE;
	else if (strcmp(field[1], "client") == 0)
		direction = DIRECTION_CLIENT;
	else
		return token_invalid("unknown direction");
	if (strlen(field[8]) == 0 || strlen(field[8]) >= sizeof(schemamig_context.revision))
		return token_invalid("bad revision");

	key = read_key();
	if (key == NULL)
	{
		/*
		 * A node the key did not reach: say so on the coordinator (the error
		 * travels back with Citus' "while executing command on" context)
		 * instead of a plain "unversioned schema change blocked"
		 */
		(void) token_invalid("no key in schemamig.citus_key (run schemamig.citus_sync_key() on the coordinator)");
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_UNVERSIONED_DDL),
				 errmsg("this Citus node has no schemamig key to verify the coordinator's revision token"),
				 errdetail("The key was not pushed to this node after it was added (the coordinator's log says why), so it admits no revision DDL."),
				 errhint("A superuser runs SELECT schemamig.citus_sync_key(); on the coordinator.")));
	}
	/* the signed part: everything before the hmac field, then the revision */
	signed_part = psprintf("%s%s", pnstrdup(token, field[7] - copy), field[8]);
	expected = hmac_hex(key, signed_part);
	if (strlen(field[7]) != strlen(expected) ||
		timingsafe_bcmp(field[7], expected, strlen(expected)) != 0)
		return token_invalid("bad signature");
	expiry = strtoi64(field[6], NULL, 10);
	if (expiry < unix_now())
		return token_invalid("expired");
	dtxid = distributed_transaction_id();
	if (dtxid == NULL)
		return token_invalid("no Citus distributed transaction in this session");
	{
		char	   *want = psprintf("%s:%s:%s", field[3], field[4], field[5]);

		if (strcmp(want, dtxid) != 0)
			return token_invalid("another distributed transaction");
	}

	if (!schemamig_context_active())
		schemamig_context_open(direction, field[8]);
	else
	{
		schemamig_context.direction = direction;
		strlcpy(schemamig_context.revision, field[8], sizeof(schemamig_context.revision));
	}
	schemamig_context.statement_no = (int) strtol(field[2], NULL, 10);
	schemamig_context.statement = NULL;
	context_is_remote = true;
	remote_revision_seen = true;
	strlcpy(last_token, token, sizeof(last_token));
	return true;
}

/*
 * Citus housekeeping: a superuser in a background worker (the maintenance
 * daemon) or in one of Citus' internal connections.  The session user
 * counts, not the current one: node activation replays a schema's grants
 * under SET ROLE to their grantor (measured: GRANT USAGE ON SCHEMA public
 * TO pg_database_owner as pg_database_owner, when re-adding a node that
 * has schemamig already), and only a superuser's session can SET ROLE
 * that way.
 */
bool
schemamig_citus_maintenance(void)
{
	if (!superuser_arg(GetSessionUserId()))
		return false;
	if (!citus_present())
		return false;
	if (MyBackendType != B_BG_WORKER &&
		(application_name == NULL || strncmp(application_name, "citus", 5) != 0))
		return false;
	return true;
}

/*
 * PRE_COMMIT / PRE_PREPARE (hooks.c), before the ledger link: a worker
 * transaction that ran a coordinator revision's DDL is a migration of this
 * node, so the node's first one takes its drift baseline, as upgrade()
 * does on the coordinator (drift_baseline.c); later ones leave it alone
 * and the DDL log, whose shard commands carry the revision, explains
 * them.  Several worker transactions of one revision commit at once (2PC):
 * only one that gets the lock (tried, never waited for: the holder may be
 * a prepared transaction of the same revision) looks; the others' shards
 * are explained by their log rows.
 */
void
schemamig_citus_pre_commit(void)
{
	LOCKTAG		tag;

	if (!remote_revision_seen)
		return;
	remote_revision_seen = false;
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, SCHEMAMIG_LOCK_CLASS,
						 SCHEMAMIG_LOCK_CITUS_BASELINE, 2);
	if (LockAcquire(&tag, ExclusiveLock, false, true) == LOCKACQUIRE_NOT_AVAIL)
		return;
	/* at commit no statement is running: SPI needs a snapshot of its own */
	PushActiveSnapshot(GetTransactionSnapshot());
	schemamig_drift_after_migration();
	PopActiveSnapshot();
}

/* The transaction ended: forget the token state */
void
schemamig_citus_xact_end(void)
{
	context_is_remote = false;
	remote_revision_seen = false;
	last_token[0] = '\0';
	xact_key = NULL;
	xact_dtxid = NULL;
}
