/*-------------------------------------------------------------------------
 *
 * alembic.c
 *		Flask-Migrate / Alembic compatibility: Alembic's version table
 *		stands in for a migration context.
 *
 * With schemamig.alembic_version_table set (superuser-only), a deploy that
 * runs "flask db upgrade" keeps working unchanged while ad-hoc DDL stays
 * blocked:
 *
 * - Alembic's creation of its version table (one varchar column
 *   version_num, at most a primary key on it) and the drop of that table
 *   that its offline downgrade to base ends with are allowed and logged
 *   with direction 'unversioned': they are bookkeeping, not a revision.
 * - Under schemamig.guard = enforce, DDL with no migration context is
 *   admitted provisionally when the role running it may write the version
 *   table.  Its log row is not written: it is held in memory, because
 *   schemamig.ddl_log is append-only and a row cannot be re-attributed
 *   later.  A role that may not write the version table, or DDL that can
 *   only run outside a transaction block (CREATE INDEX CONCURRENTLY: it
 *   can never share a transaction with a version write), is refused at
 *   once, exactly as without the GUC.
 * - A row trigger on the version table records every write (INSERT,
 *   UPDATE, DELETE of a version_num) in order.  At commit the writes are
 *   "settled": grouped into Alembic steps, the held DDL that ran before a
 *   step is written to the log under that step's revision, the revision is
 *   registered as kind 'external' if unknown and the applied set follows
 *   the version table.
 * - A transaction that still holds DDL no version write came after fails
 *   at commit with SM001; it is rolled back, so nothing of it persists.
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
 *   checks backend memory and raises an ERROR, the way postgres_fdw
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
 * Trust: whoever can write the version table can change the schema.  The
 * trigger is attached by the role that creates the table (Alembic, in the
 * same statement's ddl_command_end), lazily by the first role that runs
 * DDL while it is missing and may attach it, or by alembic_attach().
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
	char	   *copy;
	List	   *names;

	if (schemamig_alembic_version_table == NULL ||
		schemamig_alembic_version_table[0] == '\0')
		return NULL;
	copy = pstrdup(schemamig_alembic_version_table);
	if (!SplitIdentifierString(copy, '.', &names))
		return NULL;			/* the check hook makes this unreachable */
	if (list_length(names) == 2)
		return makeRangeVar(linitial(names), lsecond(names), -1);
	return makeRangeVar(NULL, linitial(names), -1);
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
	Oid			relid;

	if (version_table_rangevar() == NULL)
		return VERDICT_UNVERSIONED;
	if (is_version_table_bookkeeping(parsetree))
		return VERDICT_ALEMBIC_TABLE;
	if (schemamig_guard_mode != GUARD_ENFORCE ||
		schemamig_statement_needs_top_level(parsetree))
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
	return VERDICT_PROVISIONAL;
}

/*
 * ddl_command_end of provisional DDL: keep what its log row needs.  The
 * objects come from pg_event_trigger_ddl_commands(), only readable now.
 */
void
schemamig_alembic_hold(const char *tag, const char *statement, const char *objects)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	MemoryContext oldcxt;
	SchemamigHeldDdl    *h;
	char	   *all_objects;
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = CStringGetTextDatum(objects);
	ret = schemamig_owner_execute("SELECT (" SCHEMAMIG_DDL_COMMANDS_JSON
								  " OPERATOR(pg_catalog.||) $1::pg_catalog.jsonb)::text",
								  1, types, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read the event trigger's objects: %s", SPI_result_code_string(ret));
	all_objects = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	h = palloc0(sizeof(SchemamigHeldDdl));
	h->subxid = GetCurrentSubTransactionId();
	h->before_write = next_write_seq;
	h->tag = pstrdup(tag);
	h->statement = statement ? pstrdup(statement) : NULL;
	h->objects = pstrdup(all_objects);
	h->executed_at = GetCurrentTimestamp();
	namestrcpy(&h->role, GetUserNameFromId(GetUserId(), false));
	namestrcpy(&h->session_role, GetUserNameFromId(GetSessionUserId(), false));
	h->application_name = pstrdup(application_name ? application_name : "");
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
	if (schemamig_restoring ||
		RelationGetRelid(trigdata->tg_relation) != version_table_oid())
		return PointerGetDatum(NULL);

	desc = RelationGetDescr(trigdata->tg_relation);
	attno = SPI_fnumber(desc, "version_num");
	if (attno <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("version table \"%s\" has no column \"version_num\"",
						RelationGetRelationName(trigdata->tg_relation)),
				 errhint("Set schemamig.alembic_version_table to Alembic's version table.")));
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
 * that no version write attributed.
 */
void
schemamig_alembic_pre_commit(void)
{
	ListCell   *lc;
	int			unlogged = 0;
	SchemamigHeldDdl *first = NULL;

	foreach(lc, schemamig_alembic_held)
	{
		SchemamigHeldDdl *h = (SchemamigHeldDdl *) lfirst(lc);

		if (h->settled_in == InvalidSubTransactionId)
		{
			if (first == NULL)
				first = h;
			unlogged++;
		}
	}
	if (first == NULL)
		return;
	ereport(LOG_SERVER_ONLY,
			(errmsg("schemamig blocked unversioned %s by role \"%s\" at commit, application \"%s\": %s",
					first->tag, NameStr(first->role), first->application_name,
					first->statement ? first->statement : "")));
	ereport(ERROR,
			(errcode(ERRCODE_SCHEMAMIG_UNVERSIONED_DDL),
			 errmsg("unversioned schema change blocked: %s", first->tag),
			 errdetail_plural("The transaction ran %d schema change without recording an Alembic revision in %s afterwards, so it is rolled back.",
							  "The transaction ran %d schema changes without recording an Alembic revision in %s afterwards, so it is rolled back.",
							  unlogged, unlogged, schemamig_alembic_version_table),
			 errhint("Change the schema through a migration (flask db upgrade, alembic upgrade), which writes the version table in the same transaction.")));
}

/* The transaction ended: its lists lived in TopTransactionContext */
void
schemamig_alembic_xact_end(void)
{
	schemamig_alembic_held = NIL;
	schemamig_alembic_writes = NIL;
	settlement_queued_in = InvalidSubTransactionId;
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
				 errmsg("schemamig.alembic_version_table is not set"),
				 errhint("ALTER DATABASE ... SET schemamig.alembic_version_table = 'public.alembic_version', then reconnect.")));
	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("version table \"%s\" does not exist", schemamig_alembic_version_table),
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
