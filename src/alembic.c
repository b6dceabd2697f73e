/*-------------------------------------------------------------------------
 *
 * alembic.c
 *		Flask-Migrate / Alembic compatibility: Alembic's version table
 *		stands in for a migration context.
 *
 * With Alembic mode on (alembic_enable(), or the superuser GUC
 * schemamig.alembic_version_table; alembic_config.c decides which table and
 * which writer role), a deploy that runs "flask db upgrade" keeps working
 * unchanged while ad-hoc DDL stays blocked:
 *
 * - Alembic's creation of its version table (one varchar column
 *   version_num, at most a primary key on it) and the drop of that table
 *   that its offline downgrade to base ends with are allowed for the writer
 *   and logged with direction 'unversioned': they are bookkeeping, not a
 *   revision.
 * - Under schemamig.guard = enforce, DDL of the writer with no migration
 *   context is admitted provisionally.  Its log row is not written yet
 *   (schemamig.ddl_log is append-only and a row cannot be re-attributed):
 *   it goes to schemamig.alembic_provisional, and the transaction keeps a
 *   note of its place among the version writes.  Anybody else's DDL is
 *   refused at once, exactly as without Alembic mode.
 * - A row trigger on the version table records every write (INSERT,
 *   UPDATE, DELETE of a version_num) in order; writes by a role that is not
 *   the writer are refused.  At commit the writes are "settled"
 *   (alembic_settle.c): grouped into Alembic steps, the DDL held before a
 *   step is reviewed (alembic_review.c) and moved to the log under that
 *   step's revision, the revision is registered as kind 'external' if
 *   unknown, and the applied set follows the version table.
 * - Held DDL no version write came after: with a named writer it stays
 *   provisional past commit, bound to the session, for the next version
 *   write of that session to settle (Alembic's autocommit_block() commits
 *   before CREATE INDEX CONCURRENTLY, which is admitted the same way); a
 *   session that ends without one leaves it "abandoned", and the next
 *   settlement logs it as unversioned.  Without a named writer (GUC only),
 *   and always at PREPARE TRANSACTION, the transaction fails at commit with
 *   SM001 and nothing of it persists.
 *
 * Commit time does two jobs, in two mechanisms:
 *
 * - Settling writes rows, so it runs in a deferred constraint trigger,
 *   the place PostgreSQL gives user code at commit: the first version
 *   write of a transaction inserts a row into schemamig.alembic_settlement,
 *   whose DEFERRABLE INITIALLY DEFERRED trigger fires when the transaction
 *   commits or prepares.  The trigger is not on the version table itself:
 *   pending deferred events on a table make PostgreSQL refuse ALTER and
 *   DROP of that table in the same transaction ("it has pending trigger
 *   events"), and Alembic's offline downgrade to base drops the version
 *   table right after deleting its last row.
 * - The refusal runs at XACT_EVENT_PRE_COMMIT / PRE_PREPARE (hooks.c's
 *   transaction callback calls schemamig_alembic_pre_commit()): it only
 *   checks backend memory and raises an ERROR (or, for DDL that may stay
 *   provisional, a NOTICE), the way postgres_fdw
 *   refuses commits.  A deferred trigger could not do this
 *   job: a transaction that never writes the version table queues none,
 *   and a client can fire deferred triggers early with SET CONSTRAINTS ALL
 *   IMMEDIATE and run more DDL afterwards.  The callback runs after every
 *   deferred trigger, so it sees the final attribution, and no client
 *   statement can run between it and the commit.  It costs one pointer
 *   test per commit; the DML path has no hook at all.
 *
 * Memory: held DDL and recorded writes live in TopTransactionContext, each
 * stamped with the subtransaction it happened in and, once settled, the
 * one that settled it.  A rolled-back subtransaction drops what it held
 * and recorded and un-settles what it settled, so ROLLBACK TO SAVEPOINT of
 * a version write makes the DDL before it unattributed again.
 *
 * Interpreting the writes (which Alembic step, which parents) is
 * alembic_settle.c's job.
 *
 * Trust: only the writer role may write the version table and have DDL
 * held.  The trigger is attached by the writer when it creates the table
 * (Alembic, in the same statement's ddl_command_end), lazily by the first
 * DDL of the writer while it is missing, or by alembic_attach().
 *
 * IDENTIFICATION
 *		src/alembic.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/table.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/tuplestore.h"
#include "utils/varlena.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_alembic_version_written);
PG_FUNCTION_INFO_V1(schemamig_alembic_settle);
PG_FUNCTION_INFO_V1(schemamig_alembic_attach);

#define VERSION_TRIGGER "schemamig_alembic_version"

/* this transaction's held DDL and version writes, in order */
List	   *schemamig_alembic_held = NIL;
List	   *schemamig_alembic_writes = NIL;

static int64 next_write_seq = 1;

/* the provisional row's INSERT, prepared once per backend */
static SPIPlanPtr hold_plan = NULL;
static SubTransactionId settlement_queued_in = InvalidSubTransactionId;

static RangeVar *version_table_rangevar(void);
static Oid	version_table_oid(void);
static bool is_version_table_bookkeeping(Node *parsetree);
static bool triggers_attached(Oid relid);
static void attach_triggers(Oid relid);
static void queue_settlement(void);

/* ---- the version table ---- */

static RangeVar *
version_table_rangevar(void)
{
	const SchemamigAlembicSetting *setting = schemamig_alembic_setting();

	return setting->on ? setting->rangevar : NULL;
}

static Oid
version_table_oid(void)
{
	RangeVar   *rv = version_table_rangevar();

	return rv ? RangeVarGetRelid(rv, NoLock, true) : InvalidOid;
}

/*
 * Alembic's CREATE TABLE of its version table, in its fixed shape, or the
 * DROP TABLE (without CASCADE) that ends an offline downgrade to base.
 */
static bool
is_version_table_bookkeeping(Node *parsetree)
{
	RangeVar   *table = version_table_rangevar();

	if (IsA(parsetree, DropStmt))
	{
		DropStmt   *stmt = (DropStmt *) parsetree;
		Oid			relid = version_table_oid();

		return stmt->removeType == OBJECT_TABLE && OidIsValid(relid) &&
			list_length(stmt->objects) == 1 && stmt->behavior != DROP_CASCADE &&
			RangeVarGetRelid(makeRangeVarFromNameList(linitial(stmt->objects)),
							 NoLock, true) == relid;
	}
	if (IsA(parsetree, CreateStmt))
	{
		CreateStmt *stmt = (CreateStmt *) parsetree;
		ListCell   *lc;
		int			columns = 0;

		if (strcmp(stmt->relation->relname, table->relname) != 0 ||
			stmt->relation->relpersistence != RELPERSISTENCE_PERMANENT ||
			stmt->inhRelations != NIL || stmt->partbound != NULL ||
			stmt->partspec != NULL || stmt->ofTypename != NULL ||
			RangeVarGetCreationNamespace(stmt->relation) !=
			RangeVarGetCreationNamespace(table))
			return false;
		foreach(lc, stmt->tableElts)
		{
			Node	   *elt = lfirst(lc);

			if (IsA(elt, ColumnDef))
			{
				ColumnDef  *col = (ColumnDef *) elt;
				ListCell   *c;

				if (strcmp(col->colname, "version_num") != 0 ||
					strcmp(strVal(llast(col->typeName->names)), "varchar") != 0 ||
					col->raw_default != NULL)
					return false;
				foreach(c, col->constraints)
				{
					ConstrType	type = lfirst_node(Constraint, c)->contype;

					if (type != CONSTR_NOTNULL && type != CONSTR_PRIMARY)
						return false;
				}
				columns++;
			}
			else if (IsA(elt, Constraint))
			{
				Constraint *con = (Constraint *) elt;

				if (con->contype != CONSTR_PRIMARY ||
					list_length(con->keys) != 1 ||
					strcmp(strVal(linitial(con->keys)), "version_num") != 0)
					return false;
			}
			else
				return false;
		}
		return columns == 1;
	}
	return false;
}

static bool
triggers_attached(Oid relid)
{
	Relation	rel = table_open(relid, AccessShareLock);
	bool		found = false;

	for (int i = 0; rel->trigdesc && i < rel->trigdesc->numtriggers; i++)
		if (strcmp(rel->trigdesc->triggers[i].tgname, VERSION_TRIGGER) == 0)
			found = true;
	table_close(rel, AccessShareLock);
	return found;
}

/*
 * CREATE TRIGGER on the version table as the current role, which must be
 * allowed to.  The guard and the log skip these two statements: they are
 * schemamig's own plumbing, not a schema change of the application.
 */
static void
attach_triggers(Oid relid)
{
	char	   *table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												   get_rel_name(relid));
	StringInfoData sql;

	initStringInfo(&sql);
	appendStringInfo(&sql,
					 "CREATE TRIGGER " VERSION_TRIGGER " AFTER INSERT OR UPDATE OR DELETE "
					 "ON %s FOR EACH ROW EXECUTE FUNCTION schemamig.alembic_version_written(); "
					 "ALTER TABLE %s ENABLE ALWAYS TRIGGER " VERSION_TRIGGER,
					 table, table);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_guard_plumbing = true;
	PG_TRY();
	{
		if (SPI_execute(sql.data, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "could not attach the trigger to %s", table);
	}
	PG_FINALLY();
	{
		schemamig_guard_plumbing = false;
	}
	PG_END_TRY();
	SPI_finish();
}

/* ---- the guard's and the log's side ---- */

/*
 * The verdict for DDL with no migration context that is neither exempt nor
 * temporary: see the file banner.
 */
SchemamigVerdict
schemamig_alembic_classify(Node *parsetree)
{
	const SchemamigAlembicSetting *setting;
	Oid			relid;

	if (version_table_rangevar() == NULL)
		return VERDICT_UNVERSIONED;
	setting = schemamig_alembic_setting();
	if (!schemamig_alembic_is_writer(GetUserId()))
		return VERDICT_UNVERSIONED;
	if (is_version_table_bookkeeping(parsetree))
		return VERDICT_ALEMBIC_TABLE;
	if (schemamig_guard_mode != GUARD_ENFORCE)
		return VERDICT_UNVERSIONED;

	/*
	 * A statement that runs outside a transaction block (CREATE INDEX
	 * CONCURRENTLY in Alembic's autocommit_block) can only be attributed
	 * across transactions, which needs a named writer.
	 */
	if (schemamig_statement_needs_top_level(parsetree) && !OidIsValid(setting->writer))
		return VERDICT_UNVERSIONED;
	relid = version_table_oid();
	if (!OidIsValid(relid) ||
		pg_class_aclmask(relid, GetUserId(), ACL_INSERT | ACL_UPDATE | ACL_DELETE,
						 ACLMASK_ANY) == 0)
		return VERDICT_UNVERSIONED;
	if (!triggers_attached(relid))
	{
		if (pg_class_aclcheck(relid, GetUserId(), ACL_TRIGGER) != ACLCHECK_OK)
			return VERDICT_UNVERSIONED;
		attach_triggers(relid);
	}
	schemamig_alembic_prelint(parsetree);
	return VERDICT_PROVISIONAL;
}

/*
 * The hint of the guard's SM001 for DDL Alembic mode did not admit, or NULL
 * when Alembic has nothing to do with it.  A deploy that gets this error is
 * usually an Alembic deploy on a database where nobody turned the mode on.
 */
char *
schemamig_alembic_hint(Node *parsetree)
{
	const SchemamigAlembicSetting *setting = schemamig_alembic_setting();
	char	   *role = GetUserNameFromId(GetUserId(), false);

	if (!setting->on)
	{
		bool		alembic_table = false;

		if (IsA(parsetree, CreateStmt))
			alembic_table = strcmp(((CreateStmt *) parsetree)->relation->relname,
								   "alembic_version") == 0;
		if (!alembic_table &&
			!OidIsValid(RelnameGetRelid("alembic_version")))
			return NULL;
		return psprintf("For Flask-Migrate or Alembic, the extension's owner turns Alembic mode on once: SELECT schemamig.alembic_enable('public.alembic_version', '%s');",
						role);
	}
	if (!schemamig_alembic_is_writer(GetUserId()))
		return OidIsValid(setting->writer) && !setting->writer_missing ?
			psprintf("Only role \"%s\", the writer named by schemamig.alembic_enable(), may change the schema through Alembic; deploy as that role.",
					 GetUserNameFromId(setting->writer, false)) :
			pstrdup("The writer role named by schemamig.alembic_enable() no longer exists; call schemamig.alembic_enable() again.");
	if (schemamig_guard_mode == GUARD_ENFORCE &&
		schemamig_statement_needs_top_level(parsetree) && !OidIsValid(setting->writer))
		return pstrdup("Statements that run outside a transaction block (Alembic's autocommit_block) need a named writer: SELECT schemamig.alembic_enable('<schema.table>', '<deploy role>');");
	if (!OidIsValid(version_table_oid()))
		return psprintf("Schema changes are admitted once Alembic has created its version table %s; run flask db upgrade or alembic upgrade.",
						quote_qualified_identifier(setting->schema, setting->table));
	return psprintf("Role \"%s\" may not write the version table %s, so its schema changes cannot be attributed to an Alembic revision.",
					role, quote_qualified_identifier(setting->schema, setting->table));
}

/*
 * ddl_command_end of provisional DDL: keep its log row, complete but for
 * its revision (the log built it, objects included), in
 * schemamig.alembic_provisional, and remember it in memory with its place
 * among the transaction's version writes.  The row commits with the
 * transaction: when a named writer's transaction commits without a version
 * write after its DDL, the row is the provisional state the next version
 * write of the same session settles.
 */
void
schemamig_alembic_hold(const SchemamigLogRow *row)
{
	Oid			types[8] = {INT4OID, TIMESTAMPTZOID, TEXTOID, TEXTOID, JSONBOID,
	NAMEOID, NAMEOID, TEXTOID};
	Datum		values[8];
	char		nulls[8] = "        ";
	NameData	role;
	NameData	session_role;
	MemoryContext oldcxt;
	SchemamigHeldDdl *h;
	bool		isnull;
	int			ret;

	namestrcpy(&role, GetUserNameFromId(GetUserId(), false));
	namestrcpy(&session_role, GetUserNameFromId(GetSessionUserId(), false));
	values[0] = Int32GetDatum(MyProcPid);
	values[1] = TimestampTzGetDatum(MyStartTimestamp);
	values[2] = CStringGetTextDatum(row->command_tag);
	values[3] = row->statement ? CStringGetTextDatum(row->statement) : (Datum) 0;
	nulls[3] = row->statement ? ' ' : 'n';
	values[4] = JsonbPGetDatum(row->objects);
	values[5] = NameGetDatum(&role);
	values[6] = NameGetDatum(&session_role);
	values[7] = CStringGetTextDatum(application_name ? application_name : "");

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = schemamig_owner_execute_kept(&hold_plan,
									   "INSERT INTO schemamig.alembic_provisional "
									   "(backend_pid, backend_start, command_tag, statement, objects, "
									   "role, session_role, application_name, client_addr) "
									   "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, "
									   "pg_catalog.inet_client_addr()) RETURNING id",
									   8, types, values, nulls, false, 1);
	if (ret != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "could not insert into schemamig.alembic_provisional: %s",
			 SPI_result_code_string(ret));

	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	h = palloc0(sizeof(SchemamigHeldDdl));
	h->id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	h->subxid = GetCurrentSubTransactionId();
	h->before_write = next_write_seq;
	h->tag = pstrdup(row->command_tag);
	h->statement = row->statement ? pstrdup(row->statement) : NULL;
	h->role = role;
	h->application_name = pstrdup(application_name ? application_name : "");
	h->carry = OidIsValid(schemamig_alembic_setting()->writer);
	h->settled_in = InvalidSubTransactionId;
	schemamig_alembic_held = lappend(schemamig_alembic_held, h);
	MemoryContextSwitchTo(oldcxt);
	SPI_finish();
}

/* ddl_command_end of the version table's creation: attach the trigger */
void
schemamig_alembic_table_done(void)
{
	Oid			relid = version_table_oid();

	if (OidIsValid(relid) && !triggers_attached(relid))
		attach_triggers(relid);
}

/* ---- recording the version table's writes ---- */

/*
 * AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW on the version table:
 * remember the write; the settlement at commit interprets it.
 */
Datum
schemamig_alembic_version_written(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	int			attno;
	char	   *old_version = NULL;
	char	   *new_version = NULL;
	MemoryContext oldcxt;
	SchemamigVersionWrite *w;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "schemamig_alembic_version_written: must be fired AFTER ... FOR EACH ROW");
	if (schemamig_restore_active() ||
		RelationGetRelid(trigdata->tg_relation) != version_table_oid())
		return PointerGetDatum(NULL);
	if (!schemamig_alembic_is_writer(GetUserId()))
	{
		/* trust is decided: only the writer's version writes count */
		const SchemamigAlembicSetting *setting = schemamig_alembic_setting();
		char	   *writer = setting->writer_missing ? NULL :
		GetUserNameFromId(setting->writer, true);

		ereport(schemamig_guard_mode == GUARD_ENFORCE ? ERROR : WARNING,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only the Alembic writer role may write the version table %s",
						quote_qualified_identifier(setting->schema, setting->table)),
				 errdetail("schemamig.alembic_enable() named role \"%s\" as the writer; role \"%s\" is not a member of it.",
						   writer ? writer : "(dropped)",
						   GetUserNameFromId(GetUserId(), false)),
				 schemamig_guard_mode == GUARD_ENFORCE ? 0 :
				 errhint("The write is not attributed to any revision.")));
		return PointerGetDatum(NULL);
	}

	desc = RelationGetDescr(trigdata->tg_relation);
	attno = SPI_fnumber(desc, "version_num");
	if (attno <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("version table \"%s\" has no column \"version_num\"",
						RelationGetRelationName(trigdata->tg_relation)),
				 errhint("Name Alembic's version table with schemamig.alembic_enable().")));
	if (!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		old_version = SPI_getvalue(trigdata->tg_trigtuple, desc, attno);
	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		new_version = SPI_getvalue(trigdata->tg_trigtuple, desc, attno);
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		new_version = SPI_getvalue(trigdata->tg_newtuple, desc, attno);
	if ((old_version == NULL && new_version == NULL) ||
		(old_version && new_version && strcmp(old_version, new_version) == 0))
		return PointerGetDatum(NULL);

	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	w = palloc0(sizeof(SchemamigVersionWrite));
	w->seq = next_write_seq++;
	w->subxid = GetCurrentSubTransactionId();
	w->old_version = old_version ? pstrdup(old_version) : NULL;
	w->new_version = new_version ? pstrdup(new_version) : NULL;
	w->settled_in = InvalidSubTransactionId;
	schemamig_alembic_writes = lappend(schemamig_alembic_writes, w);
	MemoryContextSwitchTo(oldcxt);

	if (settlement_queued_in == InvalidSubTransactionId)
		queue_settlement();
	return PointerGetDatum(NULL);
}

/*
 * A row in schemamig.alembic_settlement: its deferred trigger settles.
 * Inserted as the tables' owner outside a security-restricted operation,
 * in which PostgreSQL refuses to queue a deferred trigger.
 */
static void
queue_settlement(void)
{
	SchemamigOwnerContext octx;
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	settlement_queued_in = GetCurrentSubTransactionId();
	schemamig_owner_enter_ext(&octx, false);
	ret = SPI_execute("INSERT INTO schemamig.alembic_settlement DEFAULT VALUES", false, 0);
	schemamig_owner_leave(&octx);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not insert into schemamig.alembic_settlement: %s",
			 SPI_result_code_string(ret));
	SPI_finish();
}

/* ---- settling at commit (alembic_settle.c) ---- */

/*
 * The deferred constraint trigger on schemamig.alembic_settlement.
 */
Datum
schemamig_alembic_settle(PG_FUNCTION_ARGS)
{
	int			ret;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "schemamig_alembic_settle: not called by trigger manager");
	settlement_queued_in = InvalidSubTransactionId;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_alembic_settle_writes();
	ret = schemamig_owner_execute("DELETE FROM schemamig.alembic_settlement "
								  "WHERE xid OPERATOR(pg_catalog.=) pg_catalog.pg_current_xact_id()",
								  0, NULL, NULL, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "could not delete from schemamig.alembic_settlement: %s",
			 SPI_result_code_string(ret));
	SPI_finish();
	return PointerGetDatum(NULL);
}

/* ---- the commit-time check and the transaction's memory ---- */

/*
 * XACT_EVENT_PRE_COMMIT and PRE_PREPARE (hooks.c): refuse to commit DDL
 * that no version write attributed, unless it may stay provisional (a named
 * writer's, at a commit: a prepared transaction leaves the session).
 */
void
schemamig_alembic_pre_commit(bool prepare)
{
	ListCell   *lc;
	int			unlogged = 0;
	int			carried = 0;
	SchemamigHeldDdl *first = NULL;
	const SchemamigAlembicSetting *setting;

	foreach(lc, schemamig_alembic_held)
	{
		SchemamigHeldDdl *h = (SchemamigHeldDdl *) lfirst(lc);

		if (h->settled_in != InvalidSubTransactionId)
			continue;
		if (h->carry && !prepare)
		{
			carried++;
			continue;
		}
		if (first == NULL)
			first = h;
		unlogged++;
	}
	if (first == NULL && carried == 0)
		return;
	/* read when the DDL was held, so no query runs here */
	setting = schemamig_alembic_setting();
	if (first == NULL)
	{
		ereport(NOTICE,
				(errmsg_plural("%d schema change stays provisional until the next write to %s in this session",
							   "%d schema changes stay provisional until the next write to %s in this session",
							   carried, carried,
							   quote_qualified_identifier(setting->schema, setting->table)),
				 errdetail("schemamig.status() shows it; if the session ends without a version write, it is logged as unversioned.")));
		return;
	}
	ereport(LOG_SERVER_ONLY,
			(errmsg("schemamig blocked unversioned %s by role \"%s\" at commit, application \"%s\": %s",
					first->tag, NameStr(first->role), first->application_name,
					first->statement ? first->statement : "")));
	ereport(ERROR,
			(errcode(ERRCODE_SCHEMAMIG_UNVERSIONED_DDL),
			 errmsg("unversioned schema change blocked: %s", first->tag),
			 prepare ?
			 errdetail_plural("The transaction ran %d schema change without recording an Alembic revision in %s afterwards; a prepared transaction cannot leave it provisional, so it is rolled back.",
							  "The transaction ran %d schema changes without recording an Alembic revision in %s afterwards; a prepared transaction cannot leave them provisional, so it is rolled back.",
							  unlogged, unlogged,
							  quote_qualified_identifier(setting->schema, setting->table)) :
			 errdetail_plural("The transaction ran %d schema change without recording an Alembic revision in %s afterwards, so it is rolled back.",
							  "The transaction ran %d schema changes without recording an Alembic revision in %s afterwards, so it is rolled back.",
							  unlogged, unlogged,
							  quote_qualified_identifier(setting->schema, setting->table)),
			 errhint("Change the schema through a migration (flask db upgrade, alembic upgrade), which writes the version table in the same transaction.")));
}

/* The transaction ended: its lists lived in TopTransactionContext */
void
schemamig_alembic_xact_end(void)
{
	schemamig_alembic_held = NIL;
	schemamig_alembic_writes = NIL;
	settlement_queued_in = InvalidSubTransactionId;
	schemamig_alembic_setting_reset();
	schemamig_alembic_allowed_reset();
	schemamig_alembic_settle_reset();
}

/*
 * A rolled-back subtransaction takes back what happened inside it: its DDL
 * and writes vanish, and what it settled is unsettled again (its log rows,
 * registrations and applied rows were rolled back with it).
 */
void
schemamig_alembic_subxact_abort(SubTransactionId mySubid)
{
	List	   *kept = NIL;
	ListCell   *lc;

	foreach(lc, schemamig_alembic_held)
	{
		SchemamigHeldDdl *h = (SchemamigHeldDdl *) lfirst(lc);

		if (h->subxid >= mySubid)
			continue;
		if (h->settled_in >= mySubid)
			h->settled_in = InvalidSubTransactionId;
		kept = lappend(kept, h);
	}
	schemamig_alembic_held = kept;
	kept = NIL;
	foreach(lc, schemamig_alembic_writes)
	{
		SchemamigVersionWrite *w = (SchemamigVersionWrite *) lfirst(lc);

		if (w->subxid >= mySubid)
			continue;
		if (w->settled_in >= mySubid)
			w->settled_in = InvalidSubTransactionId;
		kept = lappend(kept, w);
	}
	schemamig_alembic_writes = kept;
	if (settlement_queued_in >= mySubid)
		settlement_queued_in = InvalidSubTransactionId;
}

/* ---- alembic_attach() ---- */

/*
 * alembic_attach() returns SETOF text
 *
 * For a version table that existed before schemamig watched it: attaches
 * the trigger (as the caller, who must be allowed to) and adopts the
 * version_nums it holds, registering unknown ones as applied roots and
 * applying known ones with their ancestors.  Returns the version table's
 * rows.
 */
Datum
schemamig_alembic_attach(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			relid = version_table_oid();
	char	   *table;
	List	   *versions = NIL;
	ListCell   *lc;
	StringInfoData sql;
	int			ret;

	schemamig_check_writable("alembic_attach()");
	if (version_table_rangevar() == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("Alembic mode is off"),
				 errhint("The extension's owner turns it on with SELECT schemamig.alembic_enable('public.alembic_version', '<deploy role>').")));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("version table %s does not exist",
						quote_qualified_identifier(version_table_rangevar()->schemaname,
												   version_table_rangevar()->relname)),
				 errhint("Alembic creates it on its first run; schemamig attaches itself then.")));
	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (!triggers_attached(relid))
		attach_triggers(relid);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	table = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									   get_rel_name(relid));
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT version_num::pg_catalog.text FROM %s ORDER BY 1", table);
	ret = SPI_execute(sql.data, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read %s: %s", table, SPI_result_code_string(ret));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1);

		if (v != NULL)
			versions = lappend(versions, v);
	}

	schemamig_lock_history();
	schemamig_bump_generation();
	foreach(lc, versions)
	{
		SchemamigGraph *graph;
		bool	   *anc;
		int			node = schemamig_alembic_adopt(lfirst(lc));
		Datum		value = CStringGetTextDatum(lfirst(lc));
		bool		isnull = false;

		graph = schemamig_graph_load();
		anc = schemamig_graph_ancestors(graph, node);
		anc[node] = true;
		for (int k = 0; k < graph->nnodes; k++)
		{
			SchemamigNode *n = &graph->nodes[graph->topo[k]];

			if (anc[graph->topo[k]] && !n->applied)
				schemamig_mark_applied(n->revision, n->checksum);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, &value, &isnull);
	}
	schemamig_drift_after_migration();
	SPI_finish();
	return (Datum) 0;
}
