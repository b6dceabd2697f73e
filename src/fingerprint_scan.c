/*-------------------------------------------------------------------------
 *
 * fingerprint_scan.c
 *		The bulk of the fingerprint: schemas, tables, columns, indexes and
 *		table constraints described in C from one sequential scan of each
 *		catalog (indexes and constraints in fingerprint_index.c).
 *
 * These classes are nearly all the objects of a real schema (a table
 * of four columns, a primary key and an index is eight objects), and the
 * SQL that described them spent its time on per-row work: each
 * pg_get_expr() of a column default opens the table and builds its
 * relcache entry, each pg_get_constraintdef() opens pg_constraint and
 * scans its index, and the executor evaluated a dozen text expressions
 * and string_agg()s per row.  Here every catalog is read once, the rows
 * that matter are kept in hash tables keyed by OID, and the descriptions
 * are built with StringInfo.  Design decisions:
 *
 * - Byte-identical descriptions.  Every description is the text the SQL
 *   of fingerprint.c built before (same labels, same order, same
 *   deparsers: format_type_extended with the flags of SQL format_type(),
 *   pg_get_expr, pg_get_viewdef, the aclitem and regclass output
 *   functions), so the hashes, and fingerprints stored by earlier
 *   versions, are unchanged.
 *
 * - Expressions without column references (nearly every default: now(),
 *   nextval(...), constants) are deparsed once per distinct node string,
 *   without a relation: pg_get_expr(expr, 0) gives the same text as with
 *   the table, whose only use is naming Vars.  Expressions with Vars
 *   (generated columns, index expressions) still go through
 *   pg_get_expr(expr, table).
 *
 * - One snapshot for all scans: a registered copy of the catalog snapshot,
 *   taken by the caller after CommandCounterIncrement() so that DDL run
 *   just before (verify() upgrades, then fingerprints) is seen, as the SPI
 *   queries see it.
 *
 * - Memory: the rows that are needed later (columns by attnum, pg_index
 *   rows, default expressions) are copied into a context of their own that
 *   is deleted at the end; descriptions go to one reused StringInfo and
 *   are hashed at once.  Names used over and over (a table's qualified
 *   name, format_type() of a type and typmod, an operator class, a
 *   collation) are built once.
 *
 * IDENTIFICATION
 *		src/fingerprint_scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/pg_attrdef.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_constraint.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_foreign_table.h"
#include "catalog/pg_index.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_statistic_ext.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "commands/tablespace.h"
#include "common/hashfn.h"
#include "foreign/foreign.h"
#include "miscadmin.h"
#include "nodes/nodes.h"
#include "rewrite/prs2lock.h"
#include "optimizer/optimizer.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/ruleutils.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "compat.h"
#include "fingerprint_int.h"

/* A namespace, and whether its objects are part of the fingerprint */
typedef struct FpNamespace
{
	Oid			oid;			/* hash key */
	char	   *name;
	bool		user;
} FpNamespace;



/* Deparsed Var-free expression by node string */
typedef struct FpExpr
{
	char	   *nodestr;		/* hash key (the pointer; hashed as string) */
	char	   *text;
} FpExpr;

/* A parent in pg_inherits */
typedef struct SchemamigFpInherit
{
	Oid			relid;
	int32		seqno;
	Oid			parent;
} FpInherit;


/* Relation kinds described as tables, with their columns */
#define DESCRIBED_RELKIND(k) \
	((k) == RELKIND_RELATION || (k) == RELKIND_PARTITIONED_TABLE || \
	 (k) == RELKIND_FOREIGN_TABLE || (k) == RELKIND_VIEW || (k) == RELKIND_MATVIEW)

/*
 * The schemas left out: the system ones, the temporary ones and
 * schemamig's own (as the condition USER_SCHEMA of fingerprint.c).
 */
static bool
user_schema(const char *name)
{
	return strcmp(name, "pg_catalog") != 0 &&
		strcmp(name, "information_schema") != 0 &&
		strcmp(name, "pg_toast") != 0 &&
		strcmp(name, "schemamig") != 0 &&
		strncmp(name, "pg_temp_", 8) != 0 &&
		strncmp(name, "pg_toast_temp_", 14) != 0;
}

static int
cstring_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* A nullable call of a deparse function: NULL for a NULL result */
char *
schemamig_fp_call_text(PGFunction fn, int nargs, Datum arg0, Datum arg1)
{
	LOCAL_FCINFO(fcinfo, 2);
	Datum		result;

	InitFunctionCallInfoData(*fcinfo, NULL, nargs, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = arg0;
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = arg1;
	fcinfo->args[1].isnull = false;
	result = (*fn) (fcinfo);
	if (fcinfo->isnull)
		return NULL;
	return TextDatumGetCString(result);
}

/*
 * pg_get_expr(nodestr, relid).  An expression without Vars does not need
 * the relation: it is deparsed once per distinct node string with relid 0,
 * which opens nothing.
 */
char *
schemamig_fp_deparse_expr(SchemamigFpScan *s, char *nodestr, Oid relid)
{
	FpExpr	   *entry;
	bool		found;

	entry = hash_search(s->exprs, &nodestr, HASH_ENTER, &found);
	if (!found)
	{
		Node	   *node = stringToNode(nodestr);

		entry->nodestr = nodestr;
		entry->text = contain_var_clause(node) ? NULL :
			schemamig_fp_call_text(pg_get_expr, 2, CStringGetTextDatum(nodestr),
								   ObjectIdGetDatum(InvalidOid));
	}
	if (entry->text !=NULL)
		return entry->text;
	return schemamig_fp_call_text(pg_get_expr, 2, CStringGetTextDatum(nodestr),
								  ObjectIdGetDatum(relid));
}

static uint32
nodestr_hash(const void *key, Size keysize)
{
	const char *str = *(char *const *) key;

	return hash_bytes((const unsigned char *) str, strlen(str));
}

static int
nodestr_match(const void *key1, const void *key2, Size keysize)
{
	return strcmp(*(char *const *) key1, *(char *const *) key2);
}

/* Strings joined by commas */
static char *
join_texts(char **texts, int n)
{
	StringInfoData buf;

	initStringInfo(&buf);
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoString(&buf, texts[i]);
	}
	return buf.data;
}

/*
 * An ACL item of a relation as PostgreSQL 15 would hold it: without the
 * MAINTAIN that 17+ add to ALL PRIVILEGES (compat.h)
 */
static void
normalize_relation_aclitem(AclItem *item)
{
	AclMode		privs = ACLITEM_GET_PRIVS(*item);
	AclMode		goptions = ACLITEM_GET_GOPTIONS(*item);
	AclMode		all = SCHEMAMIG_ACL_ALL_RIGHTS_RELATION_15;

	if ((privs & all) == all)
		privs &= ~SCHEMAMIG_ACL_MAINTAIN;
	if ((goptions & all) == all)
		goptions &= ~SCHEMAMIG_ACL_MAINTAIN;
	ACLITEM_SET_PRIVS_GOPTIONS(*item, privs, goptions);
}

/* The items of an ACL as text, sorted byte-wise, joined by commas */
static char *
sorted_acl_text(Acl *acl, ObjectType objtype)
{
	AclItem    *items = ACL_DAT(acl);
	int			n = ACL_NUM(acl);
	char	  **texts;

	if (n == 0)
		return NULL;
	texts = palloc(n * sizeof(char *));
	for (int i = 0; i < n; i++)
	{
		AclItem		item = items[i];

		if (objtype == OBJECT_TABLE)
			normalize_relation_aclitem(&item);
		texts[i] = DatumGetCString(DirectFunctionCall1(aclitemout,
													   PointerGetDatum(&item)));
	}
	qsort(texts, n, sizeof(char *), cstring_cmp);
	return join_texts(texts, n);
}

/*
 * An aclitem[] as sorted text, or NULL when it is empty or the object's
 * default ACL (ACL_TEXT of fingerprint.c).
 */
static char *
acl_text(Datum datum, ObjectType objtype, Oid owner)
{
	char	   *text = sorted_acl_text(DatumGetAclP(datum), objtype);
	char	   *deftext;

	if (text == NULL)
		return NULL;
	deftext = sorted_acl_text(acldefault(objtype, owner), objtype);
	if (deftext != NULL && strcmp(deftext, text) == 0)
		return NULL;
	return text;
}

/*
 * A view's or materialized view's query as pg_get_viewdef() prints it on
 * PostgreSQL 15, on every major (compat.h): the _RETURN rule's query from
 * the relcache, deparsed by pg_get_querydef(), with the ';' of viewdef
 */
static char *
view_definition(Oid relid)
{
	Relation	rel = relation_open(relid, AccessShareLock);
	RuleLock   *rules = rel->rd_rules;
	Query	   *query = NULL;
	char	   *text;

	for (int i = 0; rules != NULL && i < rules->numLocks; i++)
	{
		RewriteRule *rule = rules->rules[i];

		if (rule->event == CMD_SELECT && list_length(rule->actions) == 1)
		{
			query = copyObject(linitial_node(Query, rule->actions));
			break;
		}
	}
	relation_close(rel, AccessShareLock);
	if (query == NULL)
		return NULL;
	schemamig_view_query_as_15(query);
	text = pg_get_querydef(query, false);

	return psprintf("%s;", text);
}

/* The elements of a text[], in order or sorted byte-wise, joined by commas */
static char *
text_array(Datum datum, bool sorted)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	char	  **texts;
	int			k = 0;

	deconstruct_array(DatumGetArrayTypeP(datum), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &nulls, &n);
	texts = palloc(Max(n, 1) * sizeof(char *));
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			texts[k++] = TextDatumGetCString(elems[i]);
	if (sorted)
		qsort(texts, k, sizeof(char *), cstring_cmp);
	return join_texts(texts, k);
}

/* pg_get_userbyid() */
static char *
owner_name(Oid roleid)
{
	char	   *name = GetUserNameFromId(roleid, true);

	return name != NULL ? name : psprintf("unknown (OID=%u)", roleid);
}

/* One "label value" line of a description; concat_ws() skips NULLs */
void
schemamig_fp_add_prop(StringInfo desc, const char *label, const char *value)
{
	if (value == NULL)
		return;
	if (desc->len > 0)
		appendStringInfoChar(desc, '\n');
	appendStringInfoString(desc, label);
	appendStringInfoString(desc, value);
}

char *
schemamig_fp_qualified(const char *nspname, const char *name)
{
	return psprintf("%s.%s", quote_identifier(nspname), quote_identifier(name));
}

/* The name of column attnum of a relation, NULL when unknown */
const char *
schemamig_fp_column_name(SchemamigFpScan *s, SchemamigFpRel *rel, Oid relid, int attnum)
{
	if (rel != NULL && rel->atts != NULL && attnum > 0 && attnum <= rel->natts &&
		rel->atts[attnum] != NULL)
		return NameStr(((Form_pg_attribute) GETSTRUCT(rel->atts[attnum]))->attname);
	return get_attname(relid, attnum, true);
}

static void
scan_namespaces(SchemamigFpScan *s)
{
	Relation	catalog = table_open(NamespaceRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(catalog, InvalidOid, false, s->snapshot, 0, NULL);
	HeapTuple	tuple;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_namespace form = (Form_pg_namespace) GETSTRUCT(tuple);
		FpNamespace *nsp = hash_search(s->namespaces, &form->oid, HASH_ENTER, NULL);
		bool		isnull;
		Datum		acl;

		nsp->name = pstrdup(NameStr(form->nspname));
		nsp->user = user_schema(nsp->name);
		if (!nsp->user ||
			schemamig_extension_member(&s->members->pg_namespace, form->oid))
			continue;

		resetStringInfo(&s->desc);
		schemamig_fp_add_prop(&s->desc, "owner ", owner_name(form->nspowner));
		acl = heap_getattr(tuple, Anum_pg_namespace_nspacl,
						   RelationGetDescr(catalog), &isnull);
		if (!isnull)
			schemamig_fp_add_prop(&s->desc, "acl ", acl_text(acl, OBJECT_SCHEMA, form->nspowner));
		schemamig_fingerprint_add(s->state, "schema", quote_identifier(nsp->name), &s->desc);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
}

static int
inherit_cmp(const void *a, const void *b)
{
	const FpInherit *x = a;
	const FpInherit *y = b;

	if (x->relid != y->relid)
		return x->relid < y->relid ? -1 : 1;
	return x->seqno < y->seqno ? -1 : (x->seqno > y->seqno ? 1 : 0);
}

static void
scan_inherits(SchemamigFpScan *s)
{
	Relation	catalog = table_open(InheritsRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(catalog, InvalidOid, false, s->snapshot, 0, NULL);
	HeapTuple	tuple;
	int			size = 0;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_inherits form = (Form_pg_inherits) GETSTRUCT(tuple);

		if (s->ninherits == size)
		{
			size = size == 0 ? 64 : size * 2;
			s->inherits = s->inherits == NULL ? palloc(size * sizeof(FpInherit)) :
				repalloc(s->inherits, size * sizeof(FpInherit));
		}
		s->inherits[s->ninherits].relid = form->inhrelid;
		s->inherits[s->ninherits].seqno = form->inhseqno;
		s->inherits[s->ninherits].parent = form->inhparent;
		s->ninherits++;
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
	if (s->ninherits > 1)
		qsort(s->inherits, s->ninherits, sizeof(FpInherit), inherit_cmp);
}

/* The parents of a relation as regclass text, by inhseqno */
static char *
inherits_text(SchemamigFpScan *s, Oid relid)
{
	int			lo = 0;
	int			hi = s->ninherits;
	StringInfoData buf;

	/* the first entry of relid in the sorted array */
	while (lo < hi)
	{
		int			mid = (lo + hi) / 2;

		if (s->inherits[mid].relid < relid)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->ninherits || s->inherits[lo].relid != relid)
		return NULL;
	initStringInfo(&buf);
	for (int i = lo; i < s->ninherits && s->inherits[i].relid == relid; i++)
	{
		if (i > lo)
			appendStringInfoChar(&buf, ',');
		appendStringInfoString(&buf,
							   DatumGetCString(DirectFunctionCall1(regclassout,
																   ObjectIdGetDatum(s->inherits[i].parent))));
	}
	return buf.data;
}

/* A foreign table's server and options: "server opt=v,opt=v" */
static char *
foreign_server_text(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(FOREIGNTABLEREL, ObjectIdGetDatum(relid));
	Form_pg_foreign_table form;
	ForeignServer *server;
	Datum		options;
	bool		isnull;
	char	   *result;

	if (!HeapTupleIsValid(tuple))
		return NULL;
	form = (Form_pg_foreign_table) GETSTRUCT(tuple);
	server = GetForeignServerExtended(form->ftserver, FSV_MISSING_OK);
	options = SysCacheGetAttr(FOREIGNTABLEREL, tuple, Anum_pg_foreign_table_ftoptions, &isnull);
	result = server == NULL ? NULL :
		psprintf("%s %s", server->servername, isnull ? "" : text_array(options, false));
	ReleaseSysCache(tuple);
	return result;
}

/*
 * pg_class: every relation of a user schema is remembered (indexes and
 * constraints name their table), tables, views and foreign tables are
 * described.
 */
static void
scan_relations(SchemamigFpScan *s)
{
	Relation	catalog = table_open(RelationRelationId, AccessShareLock);
	TupleDesc	tupdesc = RelationGetDescr(catalog);
	SysScanDesc scan = systable_beginscan(catalog, InvalidOid, false, s->snapshot, 0, NULL);
	HeapTuple	tuple;
	FpNamespace *nsp = NULL;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_class form = (Form_pg_class) GETSTRUCT(tuple);
		SchemamigFpRel *rel;
		Datum		datum;
		bool		isnull;
		char		buf[2] = {0, 0};
		const char *type;

		/* the relations of a schema are mostly stored together */
		if (nsp == NULL || nsp->oid != form->relnamespace)
			nsp = hash_search(s->namespaces, &form->relnamespace, HASH_FIND, NULL);
		if (nsp == NULL || !nsp->user)
			continue;
		rel = hash_search(s->rels, &form->oid, HASH_ENTER, NULL);
		rel->nspname = nsp->name;
		rel->relname = pstrdup(NameStr(form->relname));
		rel->qualname = schemamig_fp_qualified(nsp->name, rel->relname);
		rel->relkind = form->relkind;
		rel->relowner = form->relowner;
		rel->member = schemamig_extension_member(&s->members->pg_class, form->oid);
		if (form->relkind == RELKIND_COMPOSITE_TYPE)
			schemamig_oid_set_add(s->composites, form->oid);
		rel->natts = form->relnatts;
		rel->relam = form->relam;
		rel->reltablespace = form->reltablespace;
		rel->options = NULL;
		rel->atts = NULL;
		rel->defaults = NULL;
		rel->index = NULL;
		if (form->relkind == RELKIND_INDEX || form->relkind == RELKIND_PARTITIONED_INDEX)
		{
			datum = heap_getattr(tuple, Anum_pg_class_reloptions, tupdesc, &isnull);
			if (!isnull)
				rel->options = text_array(datum, false);
		}
		if (!DESCRIBED_RELKIND(form->relkind) || rel->member)
			continue;
		rel->atts = palloc0((rel->natts + 1) * sizeof(HeapTuple));

		resetStringInfo(&s->desc);
		buf[0] = form->relkind;
		schemamig_fp_add_prop(&s->desc, "kind ", buf);
		buf[0] = form->relpersistence;
		schemamig_fp_add_prop(&s->desc, "persistence ", buf);
		schemamig_fp_add_prop(&s->desc, "owner ", owner_name(form->relowner));
		datum = heap_getattr(tuple, Anum_pg_class_relacl, tupdesc, &isnull);
		if (!isnull)
			schemamig_fp_add_prop(&s->desc, "acl ", acl_text(datum, OBJECT_TABLE, form->relowner));
		datum = heap_getattr(tuple, Anum_pg_class_reloptions, tupdesc, &isnull);
		if (!isnull)
		{
			char	   *options = text_array(datum, true);

			schemamig_fp_add_prop(&s->desc, "options ", options[0] != '\0' ? options : NULL);
		}
		if (form->relkind == RELKIND_PARTITIONED_TABLE)
			schemamig_fp_add_prop(&s->desc, "partition key ",
								  schemamig_fp_call_text(pg_get_partkeydef, 1, ObjectIdGetDatum(form->oid), 0));
		if (form->relispartition)
		{
			datum = heap_getattr(tuple, Anum_pg_class_relpartbound, tupdesc, &isnull);
			if (!isnull)
				schemamig_fp_add_prop(&s->desc, "partition bound ",
									  schemamig_fp_deparse_expr(s, TextDatumGetCString(datum), form->oid));
		}
		schemamig_fp_add_prop(&s->desc, "inherits ", inherits_text(s, form->oid));
		if (OidIsValid(form->reloftype))
			schemamig_fp_add_prop(&s->desc, "of type ",
								  format_type_extended(form->reloftype, -1, FORMAT_TYPE_ALLOW_INVALID));
		if (OidIsValid(form->relam))
			schemamig_fp_add_prop(&s->desc, "access method ", get_am_name(form->relam));
		if (OidIsValid(form->reltablespace))
			schemamig_fp_add_prop(&s->desc, "tablespace ", get_tablespace_name(form->reltablespace));
		if (form->relrowsecurity)
			schemamig_fp_add_prop(&s->desc, "", "row level security");
		if (form->relforcerowsecurity)
			schemamig_fp_add_prop(&s->desc, "", "force row level security");
		buf[0] = form->relreplident;
		schemamig_fp_add_prop(&s->desc, "replica identity ", buf);
		if (form->relkind == RELKIND_VIEW || form->relkind == RELKIND_MATVIEW)
			schemamig_fp_add_prop(&s->desc, "definition ", view_definition(form->oid));
		if (form->relkind == RELKIND_FOREIGN_TABLE)
			schemamig_fp_add_prop(&s->desc, "server ", foreign_server_text(form->oid));

		switch (form->relkind)
		{
			case RELKIND_VIEW:
				type = "view";
				break;
			case RELKIND_MATVIEW:
				type = "materialized view";
				break;
			case RELKIND_FOREIGN_TABLE:
				type = "foreign table";
				break;
			default:
				type = "table";
				break;
		}
		schemamig_fingerprint_add(s->state, type, rel->qualname, &s->desc);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
}

/* The cache entry of a catalog object, and whether it was there */
SchemamigFpName *
schemamig_fp_name_entry(SchemamigFpScan *s, Oid catalog, Oid oid, int32 typmod, bool *found)
{
	SchemamigFpNameKey key;

	memset(&key, 0, sizeof(key));
	key.catalog = catalog;
	key.oid = oid;
	key.typmod = typmod;
	return hash_search(s->names, &key, HASH_ENTER, found);
}

/* format_type(type, typmod) and the type's collation */
static SchemamigFpName *
type_name(SchemamigFpScan *s, Oid type, int32 typmod)
{
	bool		found;
	SchemamigFpName *entry = schemamig_fp_name_entry(s, TypeRelationId, type, typmod, &found);

	if (!found)
	{
		entry->text = format_type_extended(type, typmod, FORMAT_TYPE_ALLOW_INVALID |
										   FORMAT_TYPE_TYPEMOD_GIVEN);
		entry->typcollation = get_typcollation(type);
	}
	return entry;
}

/* pg_attrdef: the default expressions of the described relations */
static void
scan_defaults(SchemamigFpScan *s)
{
	Relation	catalog = table_open(AttrDefaultRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(catalog, InvalidOid, false, s->snapshot, 0, NULL);
	HeapTuple	tuple;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_attrdef form = (Form_pg_attrdef) GETSTRUCT(tuple);
		SchemamigFpRel *rel = hash_search(s->rels, &form->adrelid, HASH_FIND, NULL);
		bool		isnull;
		Datum		adbin;

		if (rel == NULL || rel->atts == NULL || form->adnum <= 0 || form->adnum > rel->natts)
			continue;
		adbin = heap_getattr(tuple, Anum_pg_attrdef_adbin,
							 RelationGetDescr(catalog), &isnull);
		if (isnull)
			continue;
		if (rel->defaults == NULL)
			rel->defaults = palloc0((rel->natts + 1) * sizeof(char *));
		rel->defaults[form->adnum] = TextDatumGetCString(adbin);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
}

/*
 * pg_attribute: the live columns of the described relations are kept by
 * attnum, then described with their rank among the live columns as
 * position, so a dropped column leaves no trace.
 */
static void
scan_columns(SchemamigFpScan *s)
{
	Relation	catalog = table_open(AttributeRelationId, AccessShareLock);
	TupleDesc	tupdesc = RelationGetDescr(catalog);
	SysScanDesc scan = systable_beginscan(catalog, InvalidOid, false, s->snapshot, 0, NULL);
	HeapTuple	tuple;
	HASH_SEQ_STATUS status;
	SchemamigFpRel *rel = NULL;
	Oid			relid = InvalidOid;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_attribute form = (Form_pg_attribute) GETSTRUCT(tuple);

		if (form->attnum <= 0 || form->attisdropped)
			continue;
		/* the columns of a relation are mostly stored together */
		if (form->attrelid != relid)
		{
			relid = form->attrelid;
			rel = hash_search(s->rels, &relid, HASH_FIND, NULL);
		}
		if (rel == NULL || rel->atts == NULL || form->attnum > rel->natts)
			continue;
		rel->atts[form->attnum] = heap_copytuple(tuple);
	}
	systable_endscan(scan);

	hash_seq_init(&status, s->rels);
	while ((rel = hash_seq_search(&status)) != NULL)
	{
		int			position = 0;

		if (rel->atts == NULL)
			continue;
		for (int attnum = 1; attnum <= rel->natts; attnum++)
		{
			HeapTuple	att = rel->atts[attnum];
			Form_pg_attribute form;
			SchemamigFpName *type;
			Datum		acl;
			bool		isnull;
			char		buf[2] = {0, 0};

			if (att == NULL)
				continue;
			form = (Form_pg_attribute) GETSTRUCT(att);
			resetStringInfo(&s->desc);
			appendStringInfo(&s->desc, "position %d", ++position);
			type = type_name(s, form->atttypid, form->atttypmod);
			schemamig_fp_add_prop(&s->desc, "type ", type->text);
			if (form->attnotnull)
				schemamig_fp_add_prop(&s->desc, "", "not null");
			if (rel->defaults != NULL && rel->defaults[attnum] != NULL)
				schemamig_fp_add_prop(&s->desc, "default ", schemamig_fp_deparse_expr(s, rel->defaults[attnum], rel->oid));
			buf[0] = form->attidentity;
			if (buf[0] != '\0')
				schemamig_fp_add_prop(&s->desc, "identity ", buf);
			buf[0] = form->attgenerated;
			if (buf[0] != '\0')
				schemamig_fp_add_prop(&s->desc, "generated ", buf);
			if (form->attcollation != type->typcollation)
				schemamig_fp_add_prop(&s->desc, "collation ",
									  DatumGetCString(DirectFunctionCall1(regcollationout,
																		  ObjectIdGetDatum(form->attcollation))));
			acl = heap_getattr(att, Anum_pg_attribute_attacl, tupdesc, &isnull);
			if (!isnull)
				schemamig_fp_add_prop(&s->desc, "acl ", acl_text(acl, OBJECT_COLUMN, rel->relowner));
			resetStringInfo(&s->ident);
			appendStringInfoString(&s->ident, rel->qualname);
			appendStringInfoChar(&s->ident, '.');
			appendStringInfoString(&s->ident, quote_identifier(NameStr(form->attname)));
			schemamig_fingerprint_add(s->state, "column", s->ident.data, &s->desc);
		}
	}
	table_close(catalog, AccessShareLock);
}

/*
 * Describe the schemas, tables, views, foreign tables, columns, indexes
 * and table constraints into state, reading the catalogs with snapshot.
 * The caller has pinned search_path, so names print schema-schemamig_fp_qualified.
 */
void
schemamig_fingerprint_scan(SchemamigFingerprintState *state,
						   SchemamigExtensionMembers *members, Snapshot snapshot,
						   SchemamigOidSet *composites)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "schemamig fingerprint scan",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	HASHCTL		ctl;
	SchemamigFpScan s;

	memset(&s, 0, sizeof(s));
	s.snapshot = snapshot;
	s.state = state;
	s.members = members;
	s.composites = composites;
	initStringInfo(&s.desc);
	initStringInfo(&s.ident);

	ctl.hcxt = cxt;
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(FpNamespace);
	s.namespaces = hash_create("fingerprint namespaces", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.entrysize = sizeof(SchemamigFpRel);
	s.rels = hash_create("fingerprint relations", 4096, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(SchemamigFpNameKey);
	ctl.entrysize = sizeof(SchemamigFpName);
	s.names = hash_create("fingerprint names", 64, &ctl,
						  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(char *);
	ctl.entrysize = sizeof(FpExpr);
	ctl.hash = nodestr_hash;
	ctl.match = nodestr_match;
	s.exprs = hash_create("fingerprint expressions", 64, &ctl,
						  HASH_ELEM | HASH_FUNCTION | HASH_COMPARE | HASH_CONTEXT);

	scan_namespaces(&s);
	scan_inherits(&s);
	scan_relations(&s);
	scan_defaults(&s);
	scan_columns(&s);
	schemamig_fp_scan_indexes(&s);
	schemamig_fp_scan_constraints(&s);

	MemoryContextSwitchTo(old);
	/* the composites outlive the scan */
	if (composites->n > 0)
	{
		Oid		   *oids = palloc(composites->n * sizeof(Oid));

		memcpy(oids, composites->oids, composites->n * sizeof(Oid));
		composites->oids = oids;
		composites->size = composites->n;
	}
	MemoryContextDelete(cxt);
}
