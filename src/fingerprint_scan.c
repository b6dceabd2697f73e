/*-------------------------------------------------------------------------
 *
 * fingerprint_scan.c
 *		The bulk of the fingerprint: schemas, tables, columns, indexes and
 *		table constraints described in C from one sequential scan of each
 *		catalog.
 *
 * These five classes are nearly all the objects of a real schema (a table
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
 * - PRIMARY KEY and UNIQUE constraints are spelled here from conkey and
 *   the index's pg_index row (what pg_get_constraintdef() prints without
 *   fullCommand); every other kind goes through pg_get_constraintdef().
 *
 * - One snapshot for all scans: a registered copy of the catalog snapshot,
 *   taken after CommandCounterIncrement() so that DDL the caller ran just
 *   before is seen, as the SPI queries of fingerprint.c see it.
 *
 * - Extension members are read with two index scans of pg_depend (the
 *   dependencies on extensions, the dependencies of functions) and kept as
 *   sorted OID arrays: bsearch() here, oid[] parameters for the SPI queries
 *   of the remaining classes.
 *
 * IDENTIFICATION
 *		src/fingerprint_scan.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
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
#include "optimizer/optimizer.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

#include "compat.h"
#include "schemamig.h"

/* A namespace, and whether its objects are part of the fingerprint */
typedef struct FpNamespace
{
	Oid			oid;			/* hash key */
	char	   *name;
	bool		user;
} FpNamespace;

/* A relation of a user schema */
typedef struct FpRel
{
	Oid			oid;			/* hash key */
	const char *nspname;
	char	   *relname;
	char		relkind;
	Oid			relowner;
	bool		member;			/* belongs to an extension */
	Oid			relam;
	Oid			reltablespace;
	char	   *options;		/* reloptions of an index, unsorted */
	int			natts;
	HeapTuple  *atts;			/* live columns by attnum, described kinds */
	HeapTuple	index;			/* pg_index row, for an index */
} FpRel;

/* Column default by (relation, attnum) */
typedef struct FpDefaultKey
{
	Oid			relid;
	int16		attnum;
} FpDefaultKey;

typedef struct FpDefault
{
	FpDefaultKey key;
	char	   *adbin;
} FpDefault;

/* Deparsed Var-free expression by node string */
typedef struct FpExpr
{
	char	   *nodestr;		/* hash key (the pointer; hashed as string) */
	char	   *text;
} FpExpr;

/* A parent in pg_inherits */
typedef struct FpInherit
{
	Oid			relid;
	int32		seqno;
	Oid			parent;
} FpInherit;

typedef struct FpScan
{
	Snapshot	snapshot;
	SchemamigFingerprintState *state;
	HTAB	   *namespaces;
	HTAB	   *rels;
	HTAB	   *defaults;
	HTAB	   *exprs;
	FpInherit  *inherits;
	int			ninherits;
	SchemamigExtensionMembers *members;
	StringInfoData desc;
	StringInfoData ident;
} FpScan;

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
oid_cmp_fp(const void *a, const void *b)
{
	Oid			x = *(const Oid *) a;
	Oid			y = *(const Oid *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

static int
cstring_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

bool
schemamig_extension_member(const SchemamigExtensionMemberSet *set, Oid oid)
{
	return set->n > 0 &&
		bsearch(&oid, set->oids, set->n, sizeof(Oid), oid_cmp_fp) != NULL;
}

static void
member_add(SchemamigExtensionMemberSet *set, Oid oid)
{
	if (set->n == set->size)
	{
		set->size = set->size == 0 ? 64 : set->size * 2;
		set->oids = set->oids == NULL ? palloc(set->size * sizeof(Oid)) :
			repalloc(set->oids, set->size * sizeof(Oid));
	}
	set->oids[set->n++] = oid;
}

/*
 * Extension members by catalog; pg_proc also gets the functions that
 * depend internally on a type (the constructors of a range type), which
 * come and go with their type.
 */
void
schemamig_extension_members(SchemamigExtensionMembers *members)
{
	Relation	depend;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	SchemamigExtensionMemberSet *sets[] = {
		&members->pg_class, &members->pg_proc, &members->pg_type,
		&members->pg_namespace, &members->pg_statistic_ext
	};

	memset(members, 0, sizeof(*members));
	depend = table_open(DependRelationId, AccessShareLock);

	ScanKeyInit(&key, Anum_pg_depend_refclassid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(ExtensionRelationId));
	scan = systable_beginscan(depend, DependReferenceIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);

		if (dep->deptype != DEPENDENCY_EXTENSION)
			continue;
		if (dep->classid == RelationRelationId)
			member_add(&members->pg_class, dep->objid);
		else if (dep->classid == ProcedureRelationId)
			member_add(&members->pg_proc, dep->objid);
		else if (dep->classid == TypeRelationId)
			member_add(&members->pg_type, dep->objid);
		else if (dep->classid == NamespaceRelationId)
			member_add(&members->pg_namespace, dep->objid);
		else if (dep->classid == StatisticExtRelationId)
			member_add(&members->pg_statistic_ext, dep->objid);
	}
	systable_endscan(scan);

	ScanKeyInit(&key, Anum_pg_depend_classid, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(ProcedureRelationId));
	scan = systable_beginscan(depend, DependDependerIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_depend dep = (Form_pg_depend) GETSTRUCT(tuple);

		if (dep->deptype == DEPENDENCY_INTERNAL &&
			dep->refclassid == TypeRelationId)
			member_add(&members->pg_proc, dep->objid);
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);

	for (int i = 0; i < lengthof(sets); i++)
		if (sets[i]->n > 1)
			qsort(sets[i]->oids, sets[i]->n, sizeof(Oid), oid_cmp_fp);
}

/* A nullable call of a deparse function: NULL for a NULL result */
static char *
call_text(PGFunction fn, int nargs, Datum arg0, Datum arg1)
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
static char *
deparse_expr(FpScan *s, char *nodestr, Oid relid)
{
	FpExpr	   *entry;
	bool		found;

	entry = hash_search(s->exprs, &nodestr, HASH_ENTER, &found);
	if (!found)
	{
		Node	   *node = stringToNode(nodestr);

		entry->nodestr = nodestr;
		entry->text = contain_var_clause(node) ? NULL :
			call_text(pg_get_expr, 2, CStringGetTextDatum(nodestr),
					  ObjectIdGetDatum(InvalidOid));
	}
	if (entry->text != NULL)
		return entry->text;
	return call_text(pg_get_expr, 2, CStringGetTextDatum(nodestr),
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

/* The items of an ACL as text, sorted byte-wise, joined by commas */
static char *
sorted_acl_text(Acl *acl)
{
	AclItem    *items = ACL_DAT(acl);
	int			n = ACL_NUM(acl);
	char	  **texts;
	StringInfoData buf;

	if (n == 0)
		return NULL;
	texts = palloc(n * sizeof(char *));
	for (int i = 0; i < n; i++)
		texts[i] = DatumGetCString(DirectFunctionCall1(aclitemout,
													   PointerGetDatum(&items[i])));
	qsort(texts, n, sizeof(char *), cstring_cmp);
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
 * An aclitem[] as sorted text, or NULL when it is empty or the object's
 * default ACL (ACL_TEXT of fingerprint.c).
 */
static char *
acl_text(Datum datum, ObjectType objtype, Oid owner)
{
	char	   *text = sorted_acl_text(DatumGetAclP(datum));
	char	   *deftext;

	if (text == NULL)
		return NULL;
	deftext = sorted_acl_text(acldefault(objtype, owner));
	if (deftext != NULL && strcmp(deftext, text) == 0)
		return NULL;
	return text;
}

/* The elements of a text[], in order or sorted byte-wise, joined by commas */
static char *
text_array(Datum datum, bool sorted)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	char	  **texts;
	StringInfoData buf;
	int			k = 0;

	deconstruct_array(DatumGetArrayTypeP(datum), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &nulls, &n);
	texts = palloc(Max(n, 1) * sizeof(char *));
	for (int i = 0; i < n; i++)
		if (!nulls[i])
			texts[k++] = TextDatumGetCString(elems[i]);
	if (sorted)
		qsort(texts, k, sizeof(char *), cstring_cmp);
	initStringInfo(&buf);
	for (int i = 0; i < k; i++)
	{
		if (i > 0)
			appendStringInfoChar(&buf, ',');
		appendStringInfoString(&buf, texts[i]);
	}
	return buf.data;
}

/* pg_get_userbyid() */
static char *
owner_name(Oid roleid)
{
	char	   *name = GetUserNameFromId(roleid, true);

	return name != NULL ? name : psprintf("unknown (OID=%u)", roleid);
}

/* One "label value" line of a description; concat_ws() skips NULLs */
static void
add_prop(StringInfo desc, const char *label, const char *value)
{
	if (value == NULL)
		return;
	if (desc->len > 0)
		appendStringInfoChar(desc, '\n');
	appendStringInfoString(desc, label);
	appendStringInfoString(desc, value);
}

static char *
qualified(const char *nspname, const char *name)
{
	return psprintf("%s.%s", quote_identifier(nspname), quote_identifier(name));
}

/* The name of column attnum of a relation, NULL when unknown */
static const char *
column_name(FpScan *s, FpRel *rel, Oid relid, int attnum)
{
	if (rel != NULL && rel->atts != NULL && attnum > 0 && attnum <= rel->natts &&
		rel->atts[attnum] != NULL)
		return NameStr(((Form_pg_attribute) GETSTRUCT(rel->atts[attnum]))->attname);
	return get_attname(relid, attnum, true);
}

static void
scan_namespaces(FpScan *s)
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
		add_prop(&s->desc, "owner ", owner_name(form->nspowner));
		acl = heap_getattr(tuple, Anum_pg_namespace_nspacl,
						   RelationGetDescr(catalog), &isnull);
		if (!isnull)
			add_prop(&s->desc, "acl ", acl_text(acl, OBJECT_SCHEMA, form->nspowner));
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
scan_inherits(FpScan *s)
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
inherits_text(FpScan *s, Oid relid)
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
scan_relations(FpScan *s)
{
	Relation	catalog = table_open(RelationRelationId, AccessShareLock);
	TupleDesc	tupdesc = RelationGetDescr(catalog);
	SysScanDesc scan = systable_beginscan(catalog, InvalidOid, false, s->snapshot, 0, NULL);
	HeapTuple	tuple;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_class form = (Form_pg_class) GETSTRUCT(tuple);
		FpNamespace *nsp = hash_search(s->namespaces, &form->relnamespace, HASH_FIND, NULL);
		FpRel	   *rel;
		Datum		datum;
		bool		isnull;
		char		buf[2] = {0, 0};
		const char *type;

		if (nsp == NULL || !nsp->user)
			continue;
		rel = hash_search(s->rels, &form->oid, HASH_ENTER, NULL);
		rel->nspname = nsp->name;
		rel->relname = pstrdup(NameStr(form->relname));
		rel->relkind = form->relkind;
		rel->relowner = form->relowner;
		rel->member = schemamig_extension_member(&s->members->pg_class, form->oid);
		rel->natts = form->relnatts;
		rel->relam = form->relam;
		rel->reltablespace = form->reltablespace;
		rel->options = NULL;
		rel->atts = NULL;
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
		add_prop(&s->desc, "kind ", buf);
		buf[0] = form->relpersistence;
		add_prop(&s->desc, "persistence ", buf);
		add_prop(&s->desc, "owner ", owner_name(form->relowner));
		datum = heap_getattr(tuple, Anum_pg_class_relacl, tupdesc, &isnull);
		if (!isnull)
			add_prop(&s->desc, "acl ", acl_text(datum, OBJECT_TABLE, form->relowner));
		datum = heap_getattr(tuple, Anum_pg_class_reloptions, tupdesc, &isnull);
		if (!isnull)
		{
			char	   *options = text_array(datum, true);

			add_prop(&s->desc, "options ", options[0] != '\0' ? options : NULL);
		}
		if (form->relkind == RELKIND_PARTITIONED_TABLE)
			add_prop(&s->desc, "partition key ",
					 call_text(pg_get_partkeydef, 1, ObjectIdGetDatum(form->oid), 0));
		if (form->relispartition)
		{
			datum = heap_getattr(tuple, Anum_pg_class_relpartbound, tupdesc, &isnull);
			if (!isnull)
				add_prop(&s->desc, "partition bound ",
						 deparse_expr(s, TextDatumGetCString(datum), form->oid));
		}
		add_prop(&s->desc, "inherits ", inherits_text(s, form->oid));
		if (OidIsValid(form->reloftype))
			add_prop(&s->desc, "of type ",
					 format_type_extended(form->reloftype, -1, FORMAT_TYPE_ALLOW_INVALID));
		if (OidIsValid(form->relam))
			add_prop(&s->desc, "access method ", get_am_name(form->relam));
		if (OidIsValid(form->reltablespace))
			add_prop(&s->desc, "tablespace ", get_tablespace_name(form->reltablespace));
		if (form->relrowsecurity)
			add_prop(&s->desc, "", "row level security");
		if (form->relforcerowsecurity)
			add_prop(&s->desc, "", "force row level security");
		buf[0] = form->relreplident;
		add_prop(&s->desc, "replica identity ", buf);
		if (form->relkind == RELKIND_VIEW || form->relkind == RELKIND_MATVIEW)
			add_prop(&s->desc, "definition ",
					 call_text(pg_get_viewdef, 1, ObjectIdGetDatum(form->oid), 0));
		if (form->relkind == RELKIND_FOREIGN_TABLE)
			add_prop(&s->desc, "server ", foreign_server_text(form->oid));

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
		schemamig_fingerprint_add(s->state, type, qualified(rel->nspname, rel->relname), &s->desc);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
}

/* pg_attrdef: the default expressions of the described relations */
static void
scan_defaults(FpScan *s)
{
	Relation	catalog = table_open(AttrDefaultRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(catalog, InvalidOid, false, s->snapshot, 0, NULL);
	HeapTuple	tuple;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_attrdef form = (Form_pg_attrdef) GETSTRUCT(tuple);
		FpRel	   *rel = hash_search(s->rels, &form->adrelid, HASH_FIND, NULL);
		FpDefaultKey key;
		FpDefault  *def;
		bool		isnull;
		Datum		adbin;

		if (rel == NULL || rel->atts == NULL)
			continue;
		adbin = heap_getattr(tuple, Anum_pg_attrdef_adbin,
							 RelationGetDescr(catalog), &isnull);
		if (isnull)
			continue;
		memset(&key, 0, sizeof(key));
		key.relid = form->adrelid;
		key.attnum = form->adnum;
		def = hash_search(s->defaults, &key, HASH_ENTER, NULL);
		def->adbin = TextDatumGetCString(adbin);
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
scan_columns(FpScan *s)
{
	Relation	catalog = table_open(AttributeRelationId, AccessShareLock);
	TupleDesc	tupdesc = RelationGetDescr(catalog);
	SysScanDesc scan = systable_beginscan(catalog, InvalidOid, false, s->snapshot, 0, NULL);
	HeapTuple	tuple;
	HASH_SEQ_STATUS status;
	FpRel	   *rel;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_attribute form = (Form_pg_attribute) GETSTRUCT(tuple);

		if (form->attnum <= 0 || form->attisdropped)
			continue;
		rel = hash_search(s->rels, &form->attrelid, HASH_FIND, NULL);
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
			FpDefaultKey key;
			FpDefault  *def;
			Datum		acl;
			bool		isnull;
			char		buf[2] = {0, 0};

			if (att == NULL)
				continue;
			form = (Form_pg_attribute) GETSTRUCT(att);
			resetStringInfo(&s->desc);
			appendStringInfo(&s->desc, "position %d", ++position);
			add_prop(&s->desc, "type ",
					 format_type_extended(form->atttypid, form->atttypmod,
										  FORMAT_TYPE_ALLOW_INVALID | FORMAT_TYPE_TYPEMOD_GIVEN));
			if (form->attnotnull)
				add_prop(&s->desc, "", "not null");
			memset(&key, 0, sizeof(key));
			key.relid = rel->oid;
			key.attnum = form->attnum;
			def = hash_search(s->defaults, &key, HASH_FIND, NULL);
			if (def != NULL)
				add_prop(&s->desc, "default ", deparse_expr(s, def->adbin, rel->oid));
			buf[0] = form->attidentity;
			if (buf[0] != '\0')
				add_prop(&s->desc, "identity ", buf);
			buf[0] = form->attgenerated;
			if (buf[0] != '\0')
				add_prop(&s->desc, "generated ", buf);
			if (form->attcollation != get_typcollation(form->atttypid))
				add_prop(&s->desc, "collation ",
						 DatumGetCString(DirectFunctionCall1(regcollationout,
															 ObjectIdGetDatum(form->attcollation))));
			acl = heap_getattr(att, Anum_pg_attribute_attacl, tupdesc, &isnull);
			if (!isnull)
				add_prop(&s->desc, "acl ", acl_text(acl, OBJECT_COLUMN, rel->relowner));
			schemamig_fingerprint_add(s->state, "column",
									  psprintf("%s.%s", qualified(rel->nspname, rel->relname),
											   quote_identifier(NameStr(form->attname))),
									  &s->desc);
		}
	}
	table_close(catalog, AccessShareLock);
}

/* An operator class as "schema.name", NULL when it does not exist */
static char *
opclass_text(Oid opclass)
{
	HeapTuple	tuple = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclass));
	Form_pg_opclass form;
	char	   *nspname;
	char	   *result = NULL;

	if (!HeapTupleIsValid(tuple))
		return NULL;
	form = (Form_pg_opclass) GETSTRUCT(tuple);
	nspname = get_namespace_name(form->opcnamespace);
	if (nspname != NULL)
		result = qualified(nspname, NameStr(form->opcname));
	ReleaseSysCache(tuple);
	return result;
}

/* " collate schema.name", or "" without a collation */
static char *
collation_text(Oid collation)
{
	HeapTuple	tuple;
	Form_pg_collation form;
	char	   *nspname;
	char	   *result = "";

	if (!OidIsValid(collation))
		return result;
	tuple = SearchSysCache1(COLLOID, ObjectIdGetDatum(collation));
	if (!HeapTupleIsValid(tuple))
		return result;
	form = (Form_pg_collation) GETSTRUCT(tuple);
	nspname = get_namespace_name(form->collnamespace);
	if (nspname != NULL)
		result = psprintf(" collate %s", qualified(nspname, NameStr(form->collname)));
	ReleaseSysCache(tuple);
	return result;
}

/*
 * pg_index: the indexes of the user schemas, described from their row by
 * name: key columns with operator class, collation and options (DESC,
 * NULLS FIRST), included columns, expressions and predicate.
 * pg_get_indexdef() would look up the default operator class of every key
 * column to leave it out.
 */
static void
scan_indexes(FpScan *s)
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
		FpRel	   *index = hash_search(s->rels, &form->indexrelid, HASH_FIND, NULL);
		FpRel	   *table;
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
		add_prop(&s->desc, "on ",
				 qualified(index->nspname, table != NULL ? table->relname :
						   get_rel_name(form->indrelid)));
		add_prop(&s->desc, "using ", get_am_name(index->relam));
		if (form->indisunique)
			add_prop(&s->desc, "", "unique");
		if (form->indisunique && !form->indisprimary)
			add_prop(&s->desc, "nulls not distinct ",
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
				column_name(s, table, form->indrelid, attnum) : NULL;
			char	   *opclass = opclass_text(opclasses->values[i]);

			if (opclass == NULL)
				continue;
			if (nkeys++ > 0)
				appendStringInfoString(&keys, ", ");
			appendStringInfo(&keys, "%s %s%s %d",
							 name != NULL ? quote_identifier(name) : "expression",
							 opclass, collation_text(collations->values[i]),
							 options->values[i]);
		}
		if (nkeys > 0)
			add_prop(&s->desc, "keys ", keys.data);

		resetStringInfo(&keys);
		nkeys = 0;
		for (int i = form->indnkeyatts; i < form->indnatts; i++)
		{
			const char *name = column_name(s, table, form->indrelid, form->indkey.values[i]);

			if (name == NULL)
				continue;
			if (nkeys++ > 0)
				appendStringInfoString(&keys, ", ");
			appendStringInfoString(&keys, quote_identifier(name));
		}
		if (nkeys > 0)
			add_prop(&s->desc, "include ", keys.data);

		datum = heap_getattr(tuple, Anum_pg_index_indexprs, tupdesc, &isnull);
		if (!isnull)
			add_prop(&s->desc, "expressions ",
					 deparse_expr(s, TextDatumGetCString(datum), form->indrelid));
		datum = heap_getattr(tuple, Anum_pg_index_indpred, tupdesc, &isnull);
		if (!isnull)
			add_prop(&s->desc, "where ",
					 deparse_expr(s, TextDatumGetCString(datum), form->indrelid));
		add_prop(&s->desc, "options ", index->options);
		if (OidIsValid(index->reltablespace))
			add_prop(&s->desc, "tablespace ", get_tablespace_name(index->reltablespace));
		if (!form->indisvalid)
			add_prop(&s->desc, "", "invalid");
		if (form->indisclustered)
			add_prop(&s->desc, "", "clustered");
		if (form->indisreplident)
			add_prop(&s->desc, "", "replica identity");
		schemamig_fingerprint_add(s->state, "index",
								  qualified(index->nspname, index->relname), &s->desc);
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
key_constraint_text(FpScan *s, Form_pg_constraint form, HeapTuple tuple,
					TupleDesc tupdesc, FpRel *table, StringInfo buf)
{
	FpRel	   *index = hash_search(s->rels, &form->conindid, HASH_FIND, NULL);
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
		const char *name = column_name(s, table, form->conrelid, DatumGetInt16(keys[i]));

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
			const char *name = column_name(s, table, form->conrelid,
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
static void
scan_constraints(FpScan *s)
{
	Relation	catalog = table_open(ConstraintRelationId, AccessShareLock);
	TupleDesc	tupdesc = RelationGetDescr(catalog);
	SysScanDesc scan = systable_beginscan(catalog, InvalidOid, false, s->snapshot, 0, NULL);
	HeapTuple	tuple;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
	{
		Form_pg_constraint form = (Form_pg_constraint) GETSTRUCT(tuple);
		FpRel	   *table;

		if (!OidIsValid(form->conrelid))
			continue;
		table = hash_search(s->rels, &form->conrelid, HASH_FIND, NULL);
		if (table == NULL || table->member)
			continue;

		resetStringInfo(&s->desc);
		if ((form->contype != CONSTRAINT_PRIMARY && form->contype != CONSTRAINT_UNIQUE) ||
			!key_constraint_text(s, form, tuple, tupdesc, table, &s->desc))
		{
			char	   *def = call_text(pg_get_constraintdef, 1,
										ObjectIdGetDatum(form->oid), 0);

			resetStringInfo(&s->desc);
			if (def != NULL)
				appendStringInfoString(&s->desc, def);
		}
		schemamig_fingerprint_add(s->state, "constraint",
								  psprintf("%s.%s", qualified(table->nspname, table->relname),
										   quote_identifier(NameStr(form->conname))),
								  &s->desc);
	}
	systable_endscan(scan);
	table_close(catalog, AccessShareLock);
}

/*
 * Describe the schemas, tables, views, foreign tables, columns, indexes
 * and table constraints into state, reading the catalogs with snapshot.
 * The caller has pinned search_path, so names print schema-qualified.
 */
void
schemamig_fingerprint_scan(SchemamigFingerprintState *state,
						   SchemamigExtensionMembers *members, Snapshot snapshot)
{
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "schemamig fingerprint scan",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	HASHCTL		ctl;
	FpScan		s;

	memset(&s, 0, sizeof(s));
	s.snapshot = snapshot;
	s.state = state;
	s.members = members;
	initStringInfo(&s.desc);

	ctl.hcxt = cxt;
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(FpNamespace);
	s.namespaces = hash_create("fingerprint namespaces", 64, &ctl,
							   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.entrysize = sizeof(FpRel);
	s.rels = hash_create("fingerprint relations", 4096, &ctl,
						 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	ctl.keysize = sizeof(FpDefaultKey);
	ctl.entrysize = sizeof(FpDefault);
	s.defaults = hash_create("fingerprint defaults", 1024, &ctl,
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
	scan_indexes(&s);
	scan_constraints(&s);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(cxt);
}
