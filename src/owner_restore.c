/*-------------------------------------------------------------------------
 *
 * owner_restore.c
 *		Restoring a dump without superuser: the extension owner's restore
 *		window.
 *
 * On a managed cluster the application's owner is no superuser, yet it
 * must be able to restore its own pg_dump into a new database with the
 * history.  schemamig.restoring (the guard allows and the log records
 * nothing while a dump replays history) is settable by anyone, but it is
 * honoured only for
 *
 *	 - superusers, as before, and
 *	 - the role that created the extension *in that same session with
 *	   schemamig.restoring on*: the install script then opens a restore
 *	   window for that role (a row of schemamig.restore_window, which is not
 *	   dumped).  pg_dump writes CREATE EXTENSION before anything else, so
 *	   `PGOPTIONS='-c schemamig.restoring=on' pg_restore` into a new database
 *	   opens it and every later session of the same restore (pg_restore -j)
 *	   finds it.
 *
 * A database that already has the extension never gets a window (nothing
 * opens one after the install), so switching the setting on there changes
 * nothing for a non-superuser: the guard is not weakened for anyone but the
 * owner restoring into its own new database.  For another role the setting
 * is ignored everywhere.
 *
 * The dump's COPY into schemamig's tables and its setval() of their
 * sequences need INSERT and UPDATE, which the owner lacks: the window
 * grants them at its first admitted statement (pg_dump always writes a
 * COMMENT ON EXTENSION, which the guard sees, before any data), not in the
 * install script, because a grant made by an extension script is recorded
 * as the object's initial privilege and would change every later dump.
 * schemamig.end_restore() closes the window: it revokes the grants, deletes
 * the row and writes the restored history's size to the server log.  Until
 * then status() keeps the restore visible (the window row), and every
 * mutating function of schemamig refuses to run (SM004) so that no new
 * history is written into a half-restored one.
 *
 * What the owner can do in its window is what a restore is: load any
 * history into the new database.  The ledger (a hash chain whose head a
 * monitoring job keeps outside the database) is what tells a restored
 * history from a rewritten one; docs/operations.md says how.
 *
 * IDENTIFICATION
 *		src/owner_restore.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xlog.h"
#include "catalog/pg_type.h"
#include "tcop/utility.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "commands/dbcommands.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_end_restore);

/*
 * end_restore(): close the window.  The window's role or a superuser.
 */
Datum
schemamig_end_restore(PG_FUNCTION_ARGS)
{
	bool		granted;
	Oid			role;
	volatile int64 revisions = 0;
	volatile int64 logged = 0;

	if (RecoveryInProgress())
		schemamig_check_writable("schemamig.end_restore()");
	PreventCommandIfReadOnly("schemamig.end_restore()");
	role = schemamig_restore_window(&granted);
	if (!OidIsValid(role))
		ereport(ERROR,
				(errcode(ERRCODE_SCHEMAMIG_GRAPH_ERROR),
				 errmsg("no restore of this database is open"),
				 errdetail("A restore window is opened only by CREATE EXTENSION schemamig in a session with schemamig.restoring on.")));
	if (!superuser() && !has_privs_of_role(GetUserId(), role))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to end the restore of this database"),
				 errdetail("Only role \"%s\", which opened the restore window, or a superuser may end it.",
						   GetUserNameFromId(role, false))));
	/* the revoke is DDL on schemamig's objects: out of the guard's way */
	schemamig_guard_plumbing = true;
	PG_TRY();
	{
		schemamig_restore_window_grants(role, false);
	}
	PG_FINALLY();
	{
		schemamig_guard_plumbing = false;
	}
	PG_END_TRY();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (schemamig_owner_execute("SELECT (SELECT count(*) FROM schemamig.revision), "
								"(SELECT count(*) FROM schemamig.ddl_log)",
								0, NULL, NULL, NULL, true, 1) == SPI_OK_SELECT &&
		SPI_processed == 1)
	{
		bool		isnull;

		revisions = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
		logged = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	}
	SPI_finish();
	ereport(LOG,
			(errmsg("schemamig: restore of database \"%s\" by role \"%s\" ended: " INT64_FORMAT " revisions, " INT64_FORMAT " DDL log rows",
					get_database_name(MyDatabaseId), GetUserNameFromId(role, false),
					revisions, logged)));
	PG_RETURN_VOID();
}
