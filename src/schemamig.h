/*-------------------------------------------------------------------------
 *
 * schemamig.h
 *		Declarations shared between the files of schemamig, one section per
 *		source file, each naming it.  SQLSTATEs are in errcodes.h; what only
 *		the fingerprint's files share is in fingerprint_int.h.  src/README.md
 *		draws the layers.
 *
 * IDENTIFICATION
 *		src/schemamig.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SCHEMAMIG_H
#define SCHEMAMIG_H

#include "postgres.h"

#include "access/htup.h"
#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "lib/stringinfo.h"
#include "nodes/pg_list.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "tcop/utility.h"
#include "fmgr.h"
#include "utils/hsearch.h"
#include "utils/relcache.h"
#include "utils/jsonb.h"
#include "utils/snapshot.h"
#include "access/transam.h"
#include "utils/timestamp.h"

#include "compat.h"
#include "errcodes.h"

/*
 * The version of this library (schemamig.control's default_version, set by
 * the Makefile); the objects in a database must be the same version
 */
#ifndef SCHEMAMIG_VERSION
#error "SCHEMAMIG_VERSION must be defined (see the Makefile)"
#endif

/*
 * The format of the stored fingerprint (schemamig.state): the text and the
 * hashes fingerprint.c produces.  Bumped whenever a description changes;
 * ALTER EXTENSION UPDATE then stores the fingerprint again in the new
 * format (a journal row of action 'baseline'), and until then a stored
 * fingerprint of another format is never compared.
 *   1: 0.1.0
 *   2: 0.2.0: the same text on every PostgreSQL major (compat.h); on 15
 *      the same hashes as format 1
 */
#define SCHEMAMIG_FINGERPRINT_FORMAT 2


/*
 * Advisory lock keys: pg_advisory_xact_lock(SCHEMAMIG_LOCK_CLASS,
 * SCHEMAMIG_LOCK_HISTORY) serializes every change of the history
 * (catalog.c); the session-level (SCHEMAMIG_LOCK_CLASS, SCHEMAMIG_LOCK_STEP)
 * is held while a step's statement runs (steps.c, progress.c); the
 * transaction-level (SCHEMAMIG_LOCK_CLASS, SCHEMAMIG_LOCK_LEDGER) from a
 * transaction's ledger link to its commit (ledger_link.c); the
 * transaction-level SCHEMAMIG_LOCK_CITUS_BASELINE by the Citus worker
 * transaction that looks for a drift baseline (citus.c).
 */
#define SCHEMAMIG_LOCK_CLASS	1935895911	/* 'scmg' */
#define SCHEMAMIG_LOCK_HISTORY	1
#define SCHEMAMIG_LOCK_STEP		2
#define SCHEMAMIG_LOCK_LEDGER	3
#define SCHEMAMIG_LOCK_CITUS_BASELINE	4	/* tried, never waited for
											 * (citus.c) */

/*
 * A revision id is 1 to SCHEMAMIG_ID_MAXLEN ASCII characters (the CHECK
 * constraint on schemamig.revision says the same); SCHEMAMIG_ID_BUFSIZE
 * holds one with its terminator.
 */
#define SCHEMAMIG_ID_MAXLEN		128
#define SCHEMAMIG_ID_BUFSIZE	(SCHEMAMIG_ID_MAXLEN + 1)

/* Input limits (SPEC 0.2), checked before any lock is taken (graph.c) */
/* Longest message (and prepare_uninstall reason) accepted, in bytes */
#define SCHEMAMIG_MAX_MESSAGE	65536
/* Most parents a revision may have */
#define SCHEMAMIG_MAX_PARENTS	1000
/* Longest target accepted: as long as the longest id */
#define SCHEMAMIG_MAX_TARGET	SCHEMAMIG_ID_MAXLEN
/* Characters of user input an error message quotes */
#define SCHEMAMIG_QUOTE_CHARS	64

/* ---- schemamig.c: GUCs ---- */

typedef enum SchemamigGuardMode
{
	GUARD_OFF,
	GUARD_WARN,
	GUARD_ENFORCE
} SchemamigGuardMode;

typedef enum SchemamigLintMode
{
	LINT_OFF,
	LINT_WARN,
	LINT_ERROR
} SchemamigLintMode;

extern int	schemamig_guard_mode;
extern char *schemamig_guard_exempt;
extern int	schemamig_lock_timeout;
extern int	schemamig_review_lock_timeout;
extern int	schemamig_lint_mode;
extern bool schemamig_restoring;
extern char *schemamig_alembic_version_table;

/* Which way a script runs, or who opened the migration context */
typedef enum SchemamigDirection
{
	DIRECTION_NONE,
	DIRECTION_UPGRADE,
	DIRECTION_DOWNGRADE,
	DIRECTION_CLIENT
} SchemamigDirection;

/* ---- script.c: scripts split into statements by the server's parser ---- */

typedef struct SchemamigStatement
{
	int			statement_no;	/* 1-based position in the script */
	int			location;		/* byte offset of the statement's text */
	int			length;			/* byte length of the statement's text */
	char	   *text;			/* the statement, without leading comments */
	Node	   *parsetree;		/* RawStmt->stmt */
	bool		needs_top_level;	/* cannot run inside a transaction block */
} SchemamigStatement;

extern List *schemamig_script_parse(const char *script, const char *revision,
									const char *which);
extern List *schemamig_script_parse_ext(const char *script, const char *revision,
										const char *which,
										bool allow_transaction_control);
extern bool schemamig_statement_needs_top_level(Node *parsetree);
extern char *schemamig_script_checksum(const char *upgrade, const char *downgrade);
struct pg_cryptohash_ctx;		/* common/cryptohash.h */
extern char *schemamig_sha256_final_hex(struct pg_cryptohash_ctx *ctx);
extern char *schemamig_normalize_newlines(const char *text);
extern bool schemamig_script_is_empty(const char *script);
extern char *schemamig_statement_slice(const char *query, int location, int length);
extern const char *schemamig_dump_blank_meta(const char *script);
extern bool schemamig_dump_skip_statement(Node *parsetree);

/* ---- catalog.c: bookkeeping as the extension's table owner ---- */

typedef struct SchemamigOwnerContext
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
} SchemamigOwnerContext;

extern void schemamig_owner_enter(SchemamigOwnerContext *ctx);
extern void schemamig_owner_enter_ext(SchemamigOwnerContext *ctx, bool restricted);
extern void schemamig_owner_leave(SchemamigOwnerContext *ctx);
extern int	schemamig_owner_execute(const char *sql, int nargs, Oid *types,
									Datum *values, const char *nulls,
									bool read_only, long count);
struct _SPI_plan;				/* executor/spi.h: SPIPlanPtr */
extern int	schemamig_owner_execute_kept(struct _SPI_plan **plan, const char *sql,
										 int nargs, Oid *types, Datum *values,
										 const char *nulls, bool read_only,
										 long count);
extern Oid	schemamig_schema_oid(void);
extern bool schemamig_objects_outdated(void);
extern void schemamig_require_current_objects(void);
extern void schemamig_check_writable(const char *what);

/* catalog.c: the extension owner's restore window (design: owner_restore.c) */
extern Oid	schemamig_restore_window(bool *granted);
extern void schemamig_restore_window_grants(Oid role, bool grant);
extern bool schemamig_restore_active(void);
extern void schemamig_restore_check_closed(void);
extern void schemamig_lock_history(void);
extern void schemamig_bump_generation(void);
extern void schemamig_journal_insert(const char *revision, const char *action,
									 const char *target, TimestampTz started);
extern void schemamig_mark_applied(const char *revision, const char *checksum);
extern void schemamig_mark_unapplied(const char *revision);
extern bool schemamig_event_triggers_state(bool *enabled);
extern Datum schemamig_text_array(List *strings);
extern char *schemamig_fetch_script(const char *revision,
									SchemamigDirection direction);

/* ---- graph.c: the revision graph in memory ---- */

typedef struct SchemamigNode
{
	char	   *revision;
	int			nparents;
	int		   *parents;		/* indexes into graph->nodes */
	int			nchildren;
	int		   *children;
	int64		applied_seq;	/* 0 when not applied */
	bool		applied;
	bool		upgrade_transactional;
	bool		downgrade_transactional;
	bool		irreversible;
	char	   *checksum;
	char	   *kind;
} SchemamigNode;

typedef struct SchemamigGraph
{
	int			nnodes;
	SchemamigNode *nodes;		/* in registration order */
	int		   *topo;			/* node indexes, parents first */
	struct HTAB *index;			/* revision id -> node index */
} SchemamigGraph;

extern SchemamigGraph *schemamig_graph_load(void);
extern int	schemamig_graph_find(SchemamigGraph *graph, const char *revision);
extern int	schemamig_graph_require(SchemamigGraph *graph, const char *revision);
extern bool *schemamig_graph_ancestors(SchemamigGraph *graph, int node);
extern bool *schemamig_graph_descendants(SchemamigGraph *graph, int node);
extern List *schemamig_graph_heads(SchemamigGraph *graph);
extern List *schemamig_graph_current(SchemamigGraph *graph);
extern List *schemamig_graph_pending(SchemamigGraph *graph, const char *target);
extern List *schemamig_graph_to_unapply(SchemamigGraph *graph, const char *target);
extern bool schemamig_is_valid_id(const char *revision);
extern void schemamig_check_valid_id(const char *revision);
extern char *schemamig_revision_arg(FunctionCallInfo fcinfo, int argno);
extern char *schemamig_clip(const char *input);
extern void schemamig_check_message(const char *message);
extern void schemamig_check_target(const char *target);
extern List *schemamig_graph_versioned_heads(SchemamigGraph *graph);
extern char *schemamig_deploy_names(SchemamigGraph *graph, List *nodes, int from);
extern Datum schemamig_graph_revision_array(SchemamigGraph *graph, List *nodes);
extern void schemamig_graph_summary(List **heads, List **current);
extern void schemamig_graph_summary_store(List *heads, List *current);
extern List *schemamig_names_replace(List *names, List *remove, const char *add);

/* ---- register.c: adding revisions ---- */

extern bool schemamig_new_revision_begin(const char *revision, List **heads,
										 List **current);
extern void schemamig_new_revision_end(const char *revision, List *heads,
									   List *current, List *parents, bool applied);
extern void schemamig_register_external(const char *revision,
										const char *message, List *parents);
extern bool schemamig_revision_lookup(const char *revision, bool *applied,
									  char **checksum);
extern void schemamig_register_external_parents(SchemamigGraph *graph,
												const char *revision,
												const char *message,
												List *parents);

/* ---- context.c: the migration context (backend-local C state) ---- */

typedef struct SchemamigContext
{
	SchemamigDirection direction;
	char		revision[SCHEMAMIG_ID_BUFSIZE];
	int			statement_no;	/* 0 when not running a script statement */
	const char *statement;		/* text of the running statement */
	SubTransactionId opened_in;
	bool		spans_commits;	/* a step's statement: survives the commits
								 * inside it (CREATE INDEX CONCURRENTLY) */
} SchemamigContext;

extern SchemamigContext schemamig_context;
extern void schemamig_context_open(SchemamigDirection direction,
								   const char *revision);
extern void schemamig_context_close(void);
extern bool schemamig_context_active(void);
extern const char *schemamig_direction_name(SchemamigDirection direction);
extern void schemamig_context_xact_end(bool committed);
extern void schemamig_context_subxact_end(bool committed, SubTransactionId mySubid,
										  SubTransactionId parentSubid);
extern void schemamig_check_not_nested(const char *function);
extern void schemamig_check_can_migrate(const char *function);

/* ---- migrate.c: running scripts ---- */

extern int	schemamig_set_lock_timeout(void);
extern int	schemamig_run_script(const char *revision,
								 SchemamigDirection direction,
								 bool equivalents,
								 void (*after_statement) (SchemamigStatement *st,
														  TimestampTz started,
														  void *arg),
								 void *arg);

/* ---- hooks.c: every hook and callback ---- */

extern void schemamig_hooks_install(void);

/* ---- steps.c: the step protocol's admission (steps_list.c: steps()) ---- */

/* What the ProcessUtility hook does with a utility statement */
typedef enum SchemamigStepAdmission
{
	STEP_ADMIT_PASS,			/* not the step's business: run it */
	STEP_ADMIT_SKIP,			/* the step's statement, run by another
								 * session: do not run it */
	STEP_ADMIT_RUN				/* the step's statement: run it, then call
								 * schemamig_step_statement_done() */
} SchemamigStepAdmission;

extern SchemamigStepAdmission schemamig_step_admit(Node *parsetree,
												   ProcessUtilityContext context);
extern void schemamig_step_statement_done(PlannedStmt *pstmt, const char *queryString);
extern void schemamig_step_statement_failed(void);
extern void schemamig_steps_xact_end(bool committed);

/* ---- progress.c: schemamig.progress and the step lock ---- */

/* A row of schemamig.progress: a revision part-way through its steps */
typedef struct SchemamigProgress
{
	char	   *revision;
	SchemamigDirection direction;
	int			statements;		/* in the script */
	int			done;			/* statements 1..done have run */
	int			running;		/* begun, not known to have finished; 0 = none */
	int			running_pid;
	bool		in_progress;	/* running now: its session holds the step
								 * lock */
	bool		interrupted;	/* running but nobody holds the step lock */
	TimestampTz started_at;
} SchemamigProgress;

extern SchemamigStatement *schemamig_script_statement(const char *revision,
													  SchemamigDirection direction,
													  int n, int *total);
extern List *schemamig_progress_load(void);
extern SchemamigProgress *schemamig_progress_find(List *progress, const char *revision);

/* steps.c, shared with run_step() (deploy_sql.c) */
extern void schemamig_step_check_steppable(const char *revision, SchemamigNode *node,
										   SchemamigProgress *p, SchemamigDirection direction);
extern void schemamig_progress_refuse(List *progress, SchemamigDirection direction,
									  const char *function);
extern char *schemamig_progress_leftover(SchemamigProgress *p);
extern char *schemamig_progress_describe(SchemamigProgress *p, char **hint);
extern int	schemamig_step_lock_holder(void);

/* ---- guard.c: the verdict on a DDL statement ---- */

typedef enum SchemamigVerdict
{
	VERDICT_SKIP,				/* allowed and not logged: temp, exempt, ... */
	VERDICT_VERSIONED,			/* inside a migration context */
	VERDICT_UNVERSIONED,		/* no revision: blocked, warned or logged */
	VERDICT_PROVISIONAL,		/* Alembic mode: held until a version write */
	VERDICT_ALEMBIC_TABLE,		/* Alembic creating or dropping its table */
	VERDICT_MAINTENANCE			/* Citus housekeeping (citus.c) */
} SchemamigVerdict;

extern SchemamigVerdict schemamig_guard_classify(Node *parsetree, const char *tag);
extern SchemamigVerdict (*schemamig_guard_classify_rest) (Node *parsetree);
extern char *(*schemamig_guard_hint_rest) (Node *parsetree);
extern bool (*schemamig_guard_check_own_objects) (Node *parsetree);
extern bool schemamig_guard_plumbing;
extern void schemamig_guard_refuse(Node *parsetree, const char *tag);

/* ---- citus.c ---- */

extern char *schemamig_citus_token;
extern int	schemamig_citus_token_ttl;
extern void schemamig_citus_define_gucs(void);
extern void schemamig_citus_statement(void);
extern bool schemamig_citus_admit(void);
extern bool schemamig_citus_maintenance(void);
extern void schemamig_citus_xact_end(void);
extern void schemamig_citus_pre_commit(void);

/* ---- citus_keypush.c ---- */

extern bool schemamig_citus_loaded(void);
extern void schemamig_citus_relcache_callback(Datum arg, Oid relid);
extern void schemamig_citus_keypush_pre_commit(void);
extern void schemamig_citus_keypush_xact_end(bool committed);

/* ---- review.c, plan_predict.c: plan() ---- */
#define SCHEMAMIG_PLAN_COLUMNS 9
/* A relation lock of a plan: level is the LOCKMODE */
typedef struct SchemamigLock
{
	char	   *relation;
	int			level;
	Oid			relid;			/* InvalidOid: made by an earlier statement */
}			SchemamigLock;
extern List *schemamig_plan_predict(SchemamigGraph *graph, List *pending);
extern List *schemamig_held_lock_strings(List *held);
extern List *schemamig_plan_uncovered(List *locks, List *held);
extern List *schemamig_plan_predict_locks(Node *parsetree);
extern bool schemamig_type_change_rewrites(Oid oldtype, int32 oldtypmod,
										   TypeName *newtn, Node *using,
										   const char *colname);

/* ---- seal.c: routes no event trigger sees, the extension owner's limits ---- */

/* A utility statement seal.c judged before it ran, logged after */
typedef struct SchemamigSealNote
{
	SchemamigVerdict verdict;
	const char *tag;
	RangeVar   *created;		/* the relation an EXPLAIN ANALYZE creates */
	List	   *objects;		/* SchemamigLogObjects known before it ran */
}			SchemamigSealNote;

extern void schemamig_seal_loaded(void);
extern const char *schemamig_seal_coverage(void);
extern void schemamig_seal_xact_end(void);
extern void schemamig_seal_subxact_end(bool committed, SubTransactionId mySubid,
									   SubTransactionId parentSubid);
extern bool schemamig_seal_check_ddl(Node *parsetree);
extern bool schemamig_seal_utility_start(PlannedStmt *pstmt, SchemamigSealNote * note);
extern void schemamig_seal_utility_end(PlannedStmt *pstmt, SchemamigSealNote * note);
extern void schemamig_seal_object_access(ObjectAccessType access, Oid classId,
										 Oid objectId, int subId);
extern void schemamig_seal_check_logged(const char *schema, const char *identity);
extern const char *schemamig_seal_ledger_head(void);

/* ---- ddl_log.c: the one writer of schemamig.ddl_log ---- */

extern void schemamig_ddl_log_relcache_callback(Datum arg, Oid relid);
extern void schemamig_ddl_log_syscache_callback(Datum arg, int cacheid,
												uint32 hashvalue);

/* An element of a ddl_log row's objects array */
typedef struct SchemamigLogObject
{
	const char *type;
	const char *identity;
	const char *schema;
	const char *action;			/* create, alter, drop or rewrite */
} SchemamigLogObject;

/*
 * A row of schemamig.ddl_log, as schemamig_ddl_log_write() takes it.  The
 * writer adds the id; xid, client_addr and backend_pid are this
 * transaction's and session's unless origin_xid is valid (a row logged on
 * behalf of DDL another transaction ran: Alembic's provisional rows); NULL
 * role, session_role and application_name mean the current ones.
 */
typedef struct SchemamigLogRow
{
	const char *revision;		/* NULL: unversioned */
	const char *direction;		/* upgrade, downgrade, client, unversioned */
	int			statement_no;	/* 0: NULL */
	const char *command_tag;
	const char *statement;
	Jsonb	   *objects;		/* NULL: [] */
	TimestampTz executed_at;
	const char *role;
	const char *session_role;
	const char *application_name;
	FullTransactionId origin_xid;	/* invalid: this transaction */
	Datum		origin_client_addr; /* inet; 0: NULL */
	int			origin_backend_pid;
} SchemamigLogRow;

extern void schemamig_ddl_log_write(const SchemamigLogRow *row);
extern Jsonb *schemamig_ddl_log_objects(bool ddl_commands, List *collected);
extern void schemamig_ddl_log_statement(SchemamigVerdict verdict, const char *tag,
										const char *statement, List *collected,
										bool ddl_commands);
extern SchemamigLogObject *schemamig_ddl_log_object(const ObjectAddress *address,
													const char *action);

/* What the log hands to the modules above it; filled by hooks.c */
typedef struct SchemamigDdlLogCallbacks
{
	/* a VERDICT_PROVISIONAL statement ended: keep its row until attributed */
	void		(*hold) (const SchemamigLogRow *row);
	/* a VERDICT_ALEMBIC_TABLE statement ended (optional) */
	void		(*version_table_created) (void);
	/* table_rewrite fired (optional) */
	void		(*table_rewritten) (Oid relid);
	/* an object of ddl_command_end outside an extension script (optional) */
	void		(*command_object) (const char *schema, const char *identity);
} SchemamigDdlLogCallbacks;

extern SchemamigDdlLogCallbacks schemamig_ddl_log_callbacks;

/* ---- statement_text.c: the per-statement state ---- */

extern int	schemamig_statement_capture_push(PlannedStmt *pstmt,
											 const char *queryString);
extern void schemamig_statement_capture_pop(int depth);

/* A DDL statement between its ddl_command_start and ddl_command_end */
typedef struct SchemamigDdlStatement
{
	Node	   *parsetree;
	SubTransactionId subxid;	/* where it started */
	SchemamigVerdict verdict;	/* the guard's */
	char	   *statement;		/* its text; NULL when VERDICT_SKIP */
	List	   *objects;		/* SchemamigLogObjects that sql_drop and
								 * table_rewrite collected */
} SchemamigDdlStatement;

extern SchemamigDdlStatement *schemamig_ddl_statement_push(Node *parsetree,
														   SchemamigVerdict verdict);
extern SchemamigDdlStatement *schemamig_ddl_statement_current(void);
extern bool schemamig_ddl_statement_pop(Node *parsetree, SchemamigDdlStatement *frame);
extern void schemamig_ddl_statement_reset(void);
extern void schemamig_ddl_statement_abort_sub(SubTransactionId subid);
extern char *schemamig_client_statement_text(Node *parsetree);
extern Node *schemamig_current_utility(void);

/* ---- alembic.c: Flask-Migrate / Alembic compatibility ---- */

/* A DDL statement admitted provisionally, waiting for a version write */
typedef struct SchemamigHeldDdl
{
	int64		id;				/* its schemamig.alembic_provisional row */
	SubTransactionId subxid;	/* where it ran */
	int64		before_write;	/* seq the next version write gets */
	char	   *tag;
	char	   *statement;
	NameData	role;
	char	   *application_name;
	bool		carry;			/* may stay provisional past commit */
	SubTransactionId settled_in;	/* where it was logged, or invalid */
} SchemamigHeldDdl;

/* One row written to the version table */
typedef struct SchemamigVersionWrite
{
	int64		seq;
	SubTransactionId subxid;
	char	   *old_version;	/* NULL for INSERT */
	char	   *new_version;	/* NULL for DELETE */
	SubTransactionId settled_in;
} SchemamigVersionWrite;

extern List *schemamig_alembic_held;	/* of SchemamigHeldDdl */
extern List *schemamig_alembic_writes;	/* of SchemamigVersionWrite */
extern void schemamig_alembic_pre_commit(bool prepare);
extern void schemamig_alembic_xact_end(void);
extern void schemamig_alembic_subxact_abort(SubTransactionId mySubid);
extern SchemamigVerdict schemamig_alembic_classify(Node *parsetree);
extern char *schemamig_alembic_hint(Node *parsetree);
extern void schemamig_alembic_hold(const SchemamigLogRow *row);
extern void schemamig_alembic_table_done(void);

/* ---- alembic_config.c: the setting in effect ---- */

typedef struct SchemamigAlembicSetting
{
	bool		on;
	const char *source;			/* "stored" or "guc" */
	char	   *name;			/* as configured */
	char	   *schema;
	char	   *table;
	struct RangeVar *rangevar;
	Oid			writer;			/* InvalidOid: GUC only, no named writer */
	bool		writer_missing; /* the named writer was dropped */
} SchemamigAlembicSetting;

extern const SchemamigAlembicSetting *schemamig_alembic_setting(void);
extern void schemamig_alembic_setting_reset(void);
extern bool schemamig_alembic_is_writer(Oid roleid);
extern void schemamig_alembic_status(Datum *values, bool *nulls);

/* ---- alembic_settle.c: version-table writes become Alembic steps ---- */

extern void schemamig_alembic_settle_writes(void);
extern void schemamig_alembic_settle_reset(void);
extern int	schemamig_alembic_adopt(const char *revision);

/* ---- alembic_review.c: review of Alembic revisions, provisional state ---- */

extern void schemamig_alembic_allowed_reset(void);
extern List *schemamig_allow_rules(void);
extern void schemamig_alembic_prelint(Node *parsetree);
extern void schemamig_alembic_review(const char *revision, bool up, List *statements);
extern List *schemamig_alembic_provisional_describe(void);
extern void schemamig_alembic_refuse_revisions(SchemamigGraph *graph, List *nodes,
											   const char *function);

/* ---- ledger.c, ledger_verify.c: the hash-chained ledger ---- */

#define SCHEMAMIG_LEDGER_HASH_LEN 32

typedef enum SchemamigLedgerTable
{
	LEDGER_DDL_LOG,
	LEDGER_JOURNAL,
	LEDGER_LINKS
}			SchemamigLedgerTable;

/* The columns of schemamig.ledger, in their order */
enum
{
	LINK_SEQ,
	LINK_BATCH,
	LINK_XID,
	LINK_AT,
	LINK_DDL_ROWS,
	LINK_DDL_FIRST,
	LINK_DDL_LAST,
	LINK_JOURNAL_ROWS,
	LINK_JOURNAL_FIRST,
	LINK_JOURNAL_LAST,
	LINK_UNVERSIONED,
	LINK_PREV,
	LINK_HASH,
	LINK_NCOLUMNS
};

/* A stored row of the journal, the DDL log or the links, recomputed */
typedef struct SchemamigLedgerRow
{
	int64		id;				/* id, or seq of a link */
	bool		has_batch;
	int64		batch;
	bool		has_hash;
	uint64		locator;		/* journal and DDL log rows */
	uint8		stored[SCHEMAMIG_LEDGER_HASH_LEN];	/* links */
	/* links only */
	uint8		prev[SCHEMAMIG_LEDGER_HASH_LEN];
	int64		rows[2];		/* by LEDGER_DDL_LOG, LEDGER_JOURNAL */
	int64		first[2];
	bool		has_last[2];
	uint8		last[2][SCHEMAMIG_LEDGER_HASH_LEN];
	int64		unversioned;
}			SchemamigLedgerRow;

/*
 * What a transaction appended, for its link (ledger.c); the columns
 * LINK_BATCH .. LINK_UNVERSIONED, which are also the columns of
 * schemamig.ledger_pending, in that order
 */
typedef struct SchemamigLedgerSummary
{
	int64		batch;
	int64		rows[2];		/* by LEDGER_DDL_LOG, LEDGER_JOURNAL */
	int64		first[2];
	uint8		last[2][SCHEMAMIG_LEDGER_HASH_LEN];
	int64		unversioned;
} SchemamigLedgerSummary;

#define PENDING_NCOLUMNS (LINK_UNVERSIONED - LINK_BATCH + 1)

extern void schemamig_ledger_pre_commit(bool prepare);
extern void schemamig_ledger_xact_end(XactEvent event);
extern void schemamig_ledger_resolved(void);
extern bool schemamig_ledger_batch_summary(SchemamigLedgerSummary *s);
extern void schemamig_ledger_batch_free(void);
extern void schemamig_ledger_batch_reset(void);
extern Datum schemamig_ledger_bytea(const uint8 *bytes);
extern bool schemamig_ledger_datum_hash(Datum d, bool isnull, uint8 *out);
extern void schemamig_ledger_check_pending_table(Relation rel);
extern void schemamig_ledger_subxact_end(bool committed, SubTransactionId mySubid,
										 SubTransactionId parentSubid);
extern void schemamig_ledger_relcache_callback(Datum arg, Oid relid);
extern void schemamig_ledger_row(Relation rel, Datum *values, bool *nulls);
extern void schemamig_ledger_read(Relation rel, SchemamigLedgerTable which,
								  Datum *values, bool *nulls, SchemamigLedgerRow * row);
extern uint64 schemamig_ledger_row_bytes(Relation rel, SchemamigLedgerTable which,
										 Datum *values, bool *nulls, uint64 prev,
										 void *prev_row, StringInfo stream_bytes);
extern void *schemamig_ledger_prev_new(void);
extern void schemamig_ledger_prev_free(void *prev);
extern void schemamig_ledger_link_hash(Relation rel, Datum *values, bool *nulls,
									   const uint8 *prev, uint8 *out);
extern void schemamig_ledger_check_link_table(Relation rel);
extern struct pg_cryptohash_ctx *schemamig_ledger_hash_ctx(void);
extern char *schemamig_ledger_hex(const uint8 *bytes, int len);
extern Oid	schemamig_ledger_relid(const char *name);
extern int	schemamig_ledger_tail_ok(void);
extern int64 schemamig_ledger_current_batch(void);
extern int64 schemamig_ledger_current_first_ddl(void);
extern int64 schemamig_ledger_current_last_ddl(void);
extern int64 schemamig_ledger_current_unversioned(void);
extern int64 schemamig_ledger_head_seq(void);

/* ---- drift.c ---- */
/* ---- drift.c: the stored fingerprint ---- */

#define ERRCODE_SCHEMAMIG_DRIFT				MAKE_SQLSTATE('S','M','0','0','8')

extern void schemamig_drift_record(void);
extern void schemamig_drift_after_migration(void);
extern void schemamig_drift_check(const char *function);
extern bool schemamig_drift_detected(bool *known);

/* ---- lint.c: the rules ---- */

typedef struct SchemamigLintFinding
{
	const char *rule;
	const char *severity;		/* "error", "warning" or "info" */
	int			statement_no;
	char	   *statement;
	char	   *message;
	char	   *hint;
} SchemamigLintFinding;

extern List *schemamig_lint_script(const char *script, List *statements);
extern List *schemamig_lint_script_context(const char *script, List *statements,
										   List *context);

/* ---- lint_squawk.c ---- */
extern List *schemamig_lint_filter_squawk(const char *script, List *statements,
										  List *findings);

/* ---- lint_report.c ---- */

extern List *schemamig_lint_allowed_rules(const char *script);
extern List *schemamig_lint_filter_allowed(List *findings, List *allowed);
extern void schemamig_lint_register(const char *revision, const char *upgrade,
									List *up_statements, const char *downgrade,
									List *down_statements, Datum parents);

/* ---- review.c: plan() and verify() ---- */

extern bool schemamig_plan_active;
extern List *schemamig_plan_rewrites;
extern void schemamig_plan_note_rewrite(Oid relid);

/* ---- fingerprint.c: the schema fingerprint (internals: fingerprint_int.h) ---- */

typedef struct SchemamigObjectHash
{
	char	   *type;			/* "table", "column", "index", ... */
	char	   *identity;		/* e.g. "public.users.bio" */
	char	   *hash;			/* hex sha256 of the object's description */
	char	   *description;	/* "label value" lines, or NULL if unknown */
} SchemamigObjectHash;

/* Every user-visible object with its hash, sorted by (type, identity) */
extern List *schemamig_fingerprint_objects(void);

/* sha256 over the sorted (type, identity, hash) list */
extern char *schemamig_fingerprint_of(List *objects);

/* Two sorted object lists compared */
typedef enum SchemamigDiffKind
{
	DIFF_REMOVED,				/* only before */
	DIFF_ADDED,					/* only after */
	DIFF_CHANGED				/* in both, another hash */
} SchemamigDiffKind;

typedef void (*SchemamigDiffCallback) (SchemamigDiffKind kind,
									   SchemamigObjectHash *before,
									   SchemamigObjectHash *after, void *arg);

extern int	schemamig_fingerprint_order(const SchemamigObjectHash *x,
										const SchemamigObjectHash *y);
extern void schemamig_fingerprint_diff(List *before, List *after,
									   SchemamigDiffCallback report, void *arg);

/* ---- deploy_sql.c, baseline.c: deploys a pipeline can trust, adoption ---- */
extern char *schemamig_deploy_list_text(List *items);
extern List *schemamig_script_missing_objects(const char *script, const char *revision);
extern void schemamig_stamp_check_objects(const char *revision);
extern bool schemamig_repair(const char *revision, const char *upgrade, List *up_statements,
							 const char *downgrade, List *down_statements,
							 const char *checksum, char **difference);

#endif							/* SCHEMAMIG_H */
