/*-------------------------------------------------------------------------
 *
 * alembic_config.c
 *		Which version table Alembic mode watches and whose writes count:
 *		alembic_enable(), alembic_disable() and the setting in effect.
 *
 * The stored setting (schemamig.alembic_config, one row) is written by
 * alembic_enable(version_table, writer), which the extension owner may run
 * (and grant): after a trusted install nobody has to be superuser to turn
 * Alembic mode on.  The GUC schemamig.alembic_version_table stays as a
 * superuser override of the table; when it is set, it is in effect, with
 * the stored writer if there is one.
 *
 * Trust is decided here, not by who comes first:
 * - the name is schema-qualified (an unqualified name would be looked up
 *   through search_path, where a TEMP table of the same name comes first),
 *   never in a temporary schema;
 * - only the writer role (and roles that have its privileges) may create
 *   the version table, have DDL held for a version write, and write the
 *   version table; anybody else's DDL is refused at once and their version
 *   writes are refused (alembic.c).
 * With only the GUC set (0.1 behaviour), any role that may write the table
 * is a writer, and DDL must be followed by a version write in the same
 * transaction: the cross-transaction provisional state needs a named
 * writer.
 *
 * The setting is read once per transaction (a query on a one-row table) and
 * forgotten at its end, so an alembic_enable() committed elsewhere takes
 * effect at the next transaction.
 *
 * IDENTIFICATION
 *		src/alembic_config.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/varlena.h"

#include "schemamig.h"

PG_FUNCTION_INFO_V1(schemamig_alembic_enable);
PG_FUNCTION_INFO_V1(schemamig_alembic_disable);

static SchemamigAlembicSetting *cached = NULL;

static bool split_table_name(const char *name, char **schema, char **table);
static void read_stored(char **table, Oid *writer);

/*
 * "schema.table" in SQL identifier syntax; false unless there are exactly
 * two parts.
 */
static bool
split_table_name(const char *name, char **schema, char **table)
{
	char	   *copy = pstrdup(name);
	List	   *names;

	if (!SplitIdentifierString(copy, '.', &names) || list_length(names) != 2)
		return false;
	*schema = linitial(names);
	*table = lsecond(names);
	return true;
}

/* The stored row, if the table exists (a 0.1.0 install has none) */
static void
read_stored(char **table, Oid *writer)
{
	Oid			nsp = get_namespace_oid("schemamig", true);
	int			ret;

	*table = NULL;
	*writer = InvalidOid;
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("alembic_config", nsp)))
		return;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = schemamig_owner_execute("SELECT version_table, writer::pg_catalog.oid "
								  "FROM schemamig.alembic_config",
								  0, NULL, NULL, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read schemamig.alembic_config: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		bool		isnull;
		MemoryContext oldcxt = MemoryContextSwitchTo(TopTransactionContext);

		*table = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		*writer = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
												 SPI_tuptable->tupdesc, 2, &isnull));
		MemoryContextSwitchTo(oldcxt);
	}
	SPI_finish();
}

/*
 * The setting in effect for this transaction; never NULL (on = false when
 * Alembic mode is off).
 */
const SchemamigAlembicSetting *
schemamig_alembic_setting(void)
{
	char	   *stored_table;
	Oid			stored_writer;
	SchemamigAlembicSetting *s;
	MemoryContext oldcxt;

	if (cached != NULL)
		return cached;
	read_stored(&stored_table, &stored_writer);
	oldcxt = MemoryContextSwitchTo(TopTransactionContext);
	s = palloc0(sizeof(SchemamigAlembicSetting));
	if (schemamig_alembic_version_table != NULL &&
		schemamig_alembic_version_table[0] != '\0')
	{
		s->source = "guc";
		s->name = pstrdup(schemamig_alembic_version_table);
	}
	else if (stored_table != NULL)
	{
		s->source = "stored";
		s->name = pstrdup(stored_table);
	}
	s->writer = stored_writer;
	/* a writer role dropped since: nobody's writes count */
	s->writer_missing = OidIsValid(stored_writer) &&
		GetUserNameFromId(stored_writer, true) == NULL;
	if (s->name != NULL && split_table_name(s->name, &s->schema, &s->table))
	{
		s->on = true;
		s->rangevar = makeRangeVar(s->schema, s->table, -1);
	}
	MemoryContextSwitchTo(oldcxt);
	cached = s;
	return s;
}

void
schemamig_alembic_setting_reset(void)
{
	cached = NULL;
}

/*
 * May this role act as the writer: create the version table, have its DDL
 * held, write the version table?  The writer and its members may; a
 * superuser is not a member by being superuser (its ad-hoc DDL stays
 * ad-hoc).  Without a named writer (GUC only), every role may, subject to
 * its privileges on the table.
 */
bool
schemamig_alembic_is_writer(Oid roleid)
{
	const SchemamigAlembicSetting *s = schemamig_alembic_setting();

	if (!OidIsValid(s->writer))
		return true;
	return !s->writer_missing && is_member_of_role_nosuper(roleid, s->writer);
}

/*
 * alembic_enable(version_table text, writer regrole) returns void
 */
Datum
schemamig_alembic_enable(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *schema;
	char	   *table;
	Oid			writer;
	Oid			nsp;
	Oid			relid;
	Oid			types[2] = {TEXTOID, OIDOID};
	Datum		values[2];
	int			ret;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("version_table and writer must not be NULL"),
				 errhint("To turn Alembic mode off, call schemamig.alembic_disable().")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	writer = PG_GETARG_OID(1);
	schemamig_check_writable("alembic_enable()");

	if (!split_table_name(name, &schema, &table))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("version table name \"%.64s\" is not schema-qualified", name),
				 errdetail("An unqualified name is looked up through search_path, where a temporary table of the same name comes first."),
				 errhint("Name the table with its schema, such as public.alembic_version.")));
	if (strncmp(schema, "pg_temp", 7) == 0 || strcmp(schema, "pg_toast") == 0 ||
		strcmp(schema, "pg_catalog") == 0 || strcmp(schema, "schemamig") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the version table cannot be in schema \"%.64s\"", schema),
				 errhint("Use the schema Alembic writes its version table to, such as public.")));
	nsp = get_namespace_oid(schema, true);
	if (!OidIsValid(nsp))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_SCHEMA),
				 errmsg("schema \"%.64s\" does not exist", schema)));
	relid = get_relname_relid(table, nsp);
	if (OidIsValid(relid) &&
		(get_rel_relkind(relid) != RELKIND_RELATION ||
		 get_rel_persistence(relid) != RELPERSISTENCE_PERMANENT))
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("\"%.64s\" is not a permanent table", name)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = CStringGetTextDatum(quote_qualified_identifier(schema, table));
	values[1] = ObjectIdGetDatum(writer);
	ret = schemamig_owner_execute("INSERT INTO schemamig.alembic_config AS c "
								  "(version_table, writer) VALUES ($1, $2::pg_catalog.regrole) "
								  "ON CONFLICT (singleton) DO UPDATE SET "
								  "version_table = excluded.version_table, writer = excluded.writer, "
								  "enabled_at = pg_catalog.now(), enabled_by = CURRENT_USER",
								  2, types, values, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "could not write schemamig.alembic_config: %s", SPI_result_code_string(ret));
	SPI_finish();
	ereport(LOG,
			(errmsg("schemamig: Alembic mode enabled by role \"%s\": version table %s, writer \"%s\"",
					GetUserNameFromId(GetUserId(), false),
					quote_qualified_identifier(schema, table),
					GetUserNameFromId(writer, false))));
	schemamig_alembic_setting_reset();
	PG_RETURN_VOID();
}

/*
 * alembic_disable() returns void
 */
Datum
schemamig_alembic_disable(PG_FUNCTION_ARGS)
{
	int			ret;

	schemamig_check_writable("alembic_disable()");
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = schemamig_owner_execute("DELETE FROM schemamig.alembic_config",
								  0, NULL, NULL, NULL, false, 0);
	if (ret != SPI_OK_DELETE)
		elog(ERROR, "could not write schemamig.alembic_config: %s", SPI_result_code_string(ret));
	SPI_finish();
	ereport(LOG,
			(errmsg("schemamig: Alembic mode disabled by role \"%s\"",
					GetUserNameFromId(GetUserId(), false))));
	schemamig_alembic_setting_reset();
	PG_RETURN_VOID();
}

/*
 * status()'s Alembic columns: version table, writer, which setting is in
 * effect ('stored' or 'guc'), and the provisional DDL of sessions waiting
 * for a version write.  The caller is connected to SPI.
 */
void
schemamig_alembic_status(Datum *values, bool *nulls)
{
	const SchemamigAlembicSetting *s = schemamig_alembic_setting();
	List	   *provisional = schemamig_alembic_provisional_describe();

	nulls[0] = nulls[1] = nulls[2] = !s->on;
	if (s->on)
	{
		values[0] = CStringGetTextDatum(quote_qualified_identifier(s->schema, s->table));
		values[2] = CStringGetTextDatum(s->source);
		if (OidIsValid(s->writer))
		{
			char	   *writer = GetUserNameFromId(s->writer, true);

			values[1] = CStringGetTextDatum(writer ? writer : psprintf("%u (dropped)", s->writer));
		}
		else
			nulls[1] = true;
	}
	nulls[3] = provisional == NIL;
	if (provisional != NIL)
		values[3] = schemamig_text_array(provisional);
}
