/*-------------------------------------------------------------------------
 *
 * fingerprint_index.c
 *		The indexes and table constraints of the fingerprint, described in
 *		C from pg_index and pg_constraint (see fingerprint_scan.c for the
 *		scan they are part of).
 *
 * - An index is described from its pg_index row by name: key columns with
 *   operator class, collation and options (DESC, NULLS FIRST), included
 *   columns, expressions and predicate.  pg_get_indexdef() would look up
 *   the default operator class of every key column to leave it out.
 *
 * - PRIMARY KEY and UNIQUE constraints, nearly all the constraints of a
 *   schema, are spelled here from conkey and the index's pg_index row,
 *   exactly as pg_get_constraintdef() prints them (without fullCommand, so
 *   without index options and tablespace); pg_get_constraintdef() opens
 *   pg_constraint and scans its index for every call.  Every other kind
 *   (foreign keys, checks, exclusions) goes through pg_get_constraintdef().
 *
 * IDENTIFICATION
 *		src/fingerprint_index.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_index.h"
#include "catalog/pg_opclass.h"
#include "commands/defrem.h"
#include "commands/tablespace.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "compat.h"
#include "fingerprint_int.h"

/* An operator class as "schema.name", NULL when it does not exist */
static const char *
opclass_text(SchemamigFpScan *s, Oid opclass)
{
	bool		found;
	SchemamigFpName *entry = schemamig_fp_name_entry(s, OperatorClassRelationId, opclass, 0, &found);
	HeapTuple	tuple;
	Form_pg_opclass form;
	char	   *nspname;

	if (found)
		return entry->text;
	entry->text = NULL;
	tuple = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclass));
	if (!HeapTupleIsValid(tuple))
		return NULL;
	form = (Form_pg_opclass) GETSTRUCT(tuple);
	nspname = get_namespace_name(form->opcnamespace);
	if (nspname != NULL)
		entry->text = schemamig_fp_qualified(nspname, NameStr(form->opcname));
	ReleaseSysCache(tuple);
	return entry->text;
}

/* " collate schema.name", or "" without a collation */
static const char *
collation_text(SchemamigFpScan *s, Oid collation)
{
	bool		found;
	SchemamigFpName *entry;
	HeapTuple	tuple;
	Form_pg_collation form;
	char	   *nspname;

	if (!OidIsValid(collation))
		return "";
	entry = schemamig_fp_name_entry(s, CollationRelationId, collation, 0, &found);
	if (found)
		return entry->text;
	entry->text = "";
	tuple = SearchSysCache1(COLLOID, ObjectIdGetDatum(collation));
	if (!HeapTupleIsValid(tuple))
		return entry->text;
	form = (Form_pg_collation) GETSTRUCT(tuple);
	nspname = get_namespace_name(form->collnamespace);
	if (nspname != NULL)
		entry->text = psprintf(" collate %s", schemamig_fp_qualified(nspname, NameStr(form->collname)));
	ReleaseSysCache(tuple);
	return entry->text;
}

/*
 * pg_index: the indexes of the user schemas, described from their row by
 * name: key columns with operator class, collation and options (DESC,
 * NULLS FIRST), included columns, expressions and predicate.
 * pg_get_indexdef() would look up the default operator class of every key
 * column to leave it out.
 */
void
schemamig_fp_scan_indexes(SchemamigFpScan *s)
{
	Relation	catalog = table_open(IndexRelationId, AccessShareLock);
	TupleDesc	tupdesc = RelationGetDescr(catalog);
	SysScanDesc scan = systable_beginscan(catalog, InvalidOid, false, s->snapshot, 0, NULL);
	HeapTuple	tuple;
	StringInfoData keys;

	initStringInfo(&keys);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_index form = (Form_pg_index) GETSTRUCT(tuple);
		SchemamigFpRel *index = hash_search(s->rels, &form->indexrelid, HASH_FIND, NULL);
		SchemamigFpRel *table;
		oidvector  *opclasses;
		oidvector  *collations;
		int2vector *options;
		Datum		datum;
		bool		isnull;
		int			nkeys = 0;

		if (index == NULL)
			continue;
		index->index = heap_copytuple(tuple);
		if (schemamig_extension_member(&s->members->pg_class, form->indrelid))
			continue;
		table = hash_search(s->rels, &form->indrelid, HASH_FIND, NULL);

		resetStringInfo(&s->desc);
		schemamig_fp_add_prop(&s->desc, "on ",
							  table != NULL && table->nspname == index->nspname ? table->qualname :
							  schemamig_fp_qualified(index->nspname, get_rel_name(form->indrelid)));
		schemamig_fp_add_prop(&s->desc, "using ", get_am_name(index->relam));
		if (form->indisunique)
			schemamig_fp_add_prop(&s->desc, "", "unique");
		if (form->indisunique && !form->indisprimary)
			schemamig_fp_add_prop(&s->desc, "nulls not distinct ",
								  schemamig_index_nulls_not_distinct(form) ? "true" : "false");

		opclasses = (oidvector *) DatumGetPointer(heap_getattr(tuple, Anum_pg_index_indclass,
															   tupdesc, &isnull));
		collations = (oidvector *) DatumGetPointer(heap_getattr(tuple, Anum_pg_index_indcollation,
																tupdesc, &isnull));
		options = (int2vector *) DatumGetPointer(heap_getattr(tuple, Anum_pg_index_indoption,
															  tupdesc, &isnull));
		resetStringInfo(&keys);
		for (int i = 0; i < form->indnkeyatts; i++)
		{
			int			attnum = form->indkey.values[i];
			const char *name = attnum != 0 ?
			schemamig_fp_column_name(s, table, form->indrelid, attnum) : NULL;
			const char *opclass = opclass_text(s, opclasses->values[i]);

			if (opclass == NULL)
				continue;
			if (nkeys++ > 0)
				appendStringInfoString(&keys, ", ");
			appendStringInfo(&keys, "%s %s%s %d",
							 name != NULL ? quote_identifier(name) : "expression",
							 opclass, collation_text(s, collations->values[i]),
							 options->values[i]);
		}
		if (nkeys > 0)
			schemamig_fp_add_prop(&s->desc, "keys ", keys.data);

		resetStringInfo(&keys);
		nkeys = 0;
		for (int i = form->indnkeyatts; i < form->indnatts; i++)
		{
			const char *name = schemamig_fp_column_name(s, table, form->indrelid, form->indkey.values[i]);

			if (name == NULL)
				continue;
			if (nkeys++ > 0)
				appendStringInfoString(&keys, ", ");
			appendStringInfoString(&keys, quote_identifier(name));
		}
		if (nkeys > 0)
			schemamig_fp_add_prop(&s->desc, "include ", keys.data);

		datum = heap_getattr(tuple, Anum_pg_index_indexprs, tupdesc, &isnull);
		if (!isnull)
			schemamig_fp_add_prop(&s->desc, "expressions ",
								  schemamig_fp_deparse_expr(s, TextDatumGetCString(datum), form->indrelid));
		datum = heap_getattr(tuple, Anum_pg_index_indpred, tupdesc, &isnull);
		if (!isnull)
			schemamig_fp_add_prop(&s->desc, "where ",
								  schemamig_fp_deparse_expr(s, TextDatumGetCString(datum), form->indrelid));
		schemamig_fp_add_prop(&s->desc, "options ", index->options);
		if (OidIsValid(index->reltablespace))
			schemamig_fp_add_prop(&s->desc, "tablespace ", get_tablespace_name(index->reltablespace));
		if (!form->indisvalid)
			schemamig_fp_add_prop(&s->desc, "", "invalid");
		if (form->indisclustered)
			schemamig_fp_add_prop(&s->desc, "", "clustered");
		if (form->indisreplident)
			schemamig_fp_add_prop(&s->desc, "", "replica identity");
		schemamig_fingerprint_add(s->state, "index", index->qualname, &s->desc);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
}

/*
 * What pg_get_constraintdef() prints for a PRIMARY KEY or UNIQUE
 * constraint; false when something is missing, and the caller asks
 * pg_get_constraintdef() itself.
 */
static bool
key_constraint_text(SchemamigFpScan *s, Form_pg_constraint form, HeapTuple tuple,
					TupleDesc tupdesc, SchemamigFpRel *table, StringInfo buf)
{
	SchemamigFpRel *index = hash_search(s->rels, &form->conindid, HASH_FIND, NULL);
	Form_pg_index indform;
	Datum		conkey;
	Datum	   *keys;
	int			nkeys;
	bool		isnull;

	if (index == NULL || index->index == NULL)
		return false;
	indform = (Form_pg_index) GETSTRUCT(index->index);
	conkey = heap_getattr(tuple, Anum_pg_constraint_conkey, tupdesc, &isnull);
	if (isnull)
		return false;
	deconstruct_array(DatumGetArrayTypeP(conkey), INT2OID, sizeof(int16), true,
					  TYPALIGN_SHORT, &keys, NULL, &nkeys);

	appendStringInfoString(buf, form->contype == CONSTRAINT_PRIMARY ?
						   "PRIMARY KEY " : "UNIQUE ");
	if (form->contype == CONSTRAINT_UNIQUE && schemamig_index_nulls_not_distinct(indform))
		appendStringInfoString(buf, "NULLS NOT DISTINCT ");
	appendStringInfoChar(buf, '(');
	for (int i = 0; i < nkeys; i++)
	{
		const char *name = schemamig_fp_column_name(s, table, form->conrelid, DatumGetInt16(keys[i]));

		if (name == NULL)
			return false;
		if (i > 0)
			appendStringInfoString(buf, ", ");
		appendStringInfoString(buf, quote_identifier(name));
	}
	appendStringInfoChar(buf, ')');
	if (indform->indnatts > nkeys)
	{
		appendStringInfoString(buf, " INCLUDE (");
		for (int i = nkeys; i < indform->indnatts; i++)
		{
			const char *name = schemamig_fp_column_name(s, table, form->conrelid,
														indform->indkey.values[i]);

			if (name == NULL)
				return false;
			if (i > nkeys)
				appendStringInfoString(buf, ", ");
			appendStringInfoString(buf, quote_identifier(name));
		}
		appendStringInfoChar(buf, ')');
	}
	if (form->condeferrable)
		appendStringInfoString(buf, " DEFERRABLE");
	if (form->condeferred)
		appendStringInfoString(buf, " INITIALLY DEFERRED");
	if (!form->convalidated)
		appendStringInfoString(buf, " NOT VALID");
	return true;
}

/* pg_constraint: the constraints of the user tables */
void
schemamig_fp_scan_constraints(SchemamigFpScan *s)
{
	Relation	catalog = table_open(ConstraintRelationId, AccessShareLock);
	TupleDesc	tupdesc = RelationGetDescr(catalog);
	SysScanDesc scan = systable_beginscan(catalog, InvalidOid, false, s->snapshot, 0, NULL);
	HeapTuple	tuple;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_constraint form = (Form_pg_constraint) GETSTRUCT(tuple);
		SchemamigFpRel *table;

		if (!OidIsValid(form->conrelid))
			continue;
		table = hash_search(s->rels, &form->conrelid, HASH_FIND, NULL);
		if (table == NULL || table->member)
			continue;
		/* 18's NOT NULL constraints: the column's "not null" (compat.h) */
		if (form->contype == SCHEMAMIG_CONSTRAINT_NOTNULL && form->convalidated &&
			!form->connoinherit)
			continue;

		resetStringInfo(&s->desc);
		if ((form->contype != CONSTRAINT_PRIMARY && form->contype != CONSTRAINT_UNIQUE) ||
			!key_constraint_text(s, form, tuple, tupdesc, table, &s->desc))
		{
			char	   *def = schemamig_fp_call_text(pg_get_constraintdef, 1,
													 ObjectIdGetDatum(form->oid), 0);

			resetStringInfo(&s->desc);
			if (def != NULL)
				appendStringInfoString(&s->desc, def);
		}
		resetStringInfo(&s->ident);
		appendStringInfoString(&s->ident, table->qualname);
		appendStringInfoChar(&s->ident, '.');
		appendStringInfoString(&s->ident, quote_identifier(NameStr(form->conname)));
		schemamig_fingerprint_add(s->state, "constraint", s->ident.data, &s->desc);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
}
