/*-------------------------------------------------------------------------
 *
 * fingerprint.c
 *		fingerprint() and fingerprint_objects(): a hash of the user-visible
 *		schema that does not depend on OIDs or on the order objects were
 *		created in.
 *
 * Every object of the current database outside pg_catalog,
 * information_schema, pg_toast, the temporary schemas and schemamig itself
 * is turned into a (type, identity, description) triple.  The description
 * is plain text built from the catalogs with PostgreSQL's own deparsers
 * (format_type, pg_get_expr, pg_get_indexdef, pg_get_constraintdef,
 * pg_get_viewdef, pg_get_functiondef, pg_get_triggerdef, ...), hashed with
 * sha256; the fingerprint is the sha256 of the sorted list of
 * "type\tidentity\thash\n" lines.  Design decisions:
 *
 * - Two ways of describing, one text.  The classes that make up nearly
 *   all of a real schema (schemas, tables, views, foreign tables, columns,
 *   indexes, table constraints: eight objects for a table of four columns
 *   with a primary key and an index) are described in C from one
 *   sequential scan of each catalog (fingerprint_scan.c,
 *   fingerprint_index.c); the rarer ones (sequences, functions, triggers,
 *   rules, statistics, types, policies, extensions) by one SPI query per
 *   class.  The C descriptions are byte for byte the text the SQL of
 *   earlier versions built, so the hashes, and the fingerprints stored by
 *   them, did not change.  On 5,000 tables this took fingerprint() from
 *   about 0.45x to about 0.1x the time of pg_dump --schema-only (README,
 *   "Performance"): the SQL spent its time opening every table for
 *   pg_get_expr() of its defaults, scanning pg_constraint for every
 *   pg_get_constraintdef() and evaluating a dozen text expressions per row.
 *
 * - Descriptions are hashed as they are produced, in C with one
 *   pg_cryptohash context, and only (type, identity, hash) is kept: function
 *   bodies and view definitions are never all in memory at once.
 *
 * - Extension members are read with two index scans of pg_depend (the
 *   dependencies on extensions, the dependencies of functions), not a
 *   sequential scan of it, and kept as sorted OID arrays: bsearch() for the
 *   C scans, oid[] parameters for the SPI queries, which the planner turns
 *   into hashed lookups.
 *
 * - Independent of OIDs and creation order: objects are named, never
 *   numbered (regclass, format_type and the deparsers all print names);
 *   arrays (ACLs, roles, options) are sorted with the "C" collation; a
 *   column's position is its rank among the live columns, not attnum, so
 *   a dropped column leaves no trace; a NULL ACL is replaced by the
 *   object's default ACL so GRANT followed by the matching REVOKE gives
 *   back the same fingerprint.  The final sort is a byte-wise strcmp()
 *   done here, never a collation-dependent ORDER BY.
 *
 * - Stable text: the queries run with search_path pinned to
 *   "pg_catalog, pg_temp" (schemamig_owner_enter), so every name outside
 *   pg_catalog is printed schema-qualified whatever the caller's
 *   search_path.  Running as the extension owner changes nothing else:
 *   the catalogs and the deparsers are readable by every role.
 *
 * - The same text on every PostgreSQL major, that of 15: what newer majors
 *   store or print differently for the same schema is described as 15
 *   does (compat.h: the NOT NULL constraints of 17 and 18, the MAINTAIN
 *   privilege of 17, views deparsed with qualified columns), so a database
 *   moved to a newer major shows no drift (sql/fingerprint_majors.sql has
 *   one expected output for every major).  A change of the text is a new
 *   SCHEMAMIG_FINGERPRINT_FORMAT (schemamig.h).
 *
 * - Objects that belong to an extension are left out; the extension itself
 *   (name, version, schema) stands for them.  The schemamig extension and
 *   its schema are left out entirely, so bookkeeping never looks like
 *   drift.
 *
 * IDENTIFICATION
 *		src/fingerprint.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/indexing.h"
#include "catalog/pg_class.h"
#include "catalog/pg_depend.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_statistic_ext.h"
#include "catalog/pg_type.h"
#include "common/cryptohash.h"
#include "common/sha2.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/tuplestore.h"

#include "fingerprint_int.h"

PG_FUNCTION_INFO_V1(schemamig_fingerprint);
PG_FUNCTION_INFO_V1(schemamig_fingerprint_objects_srf);

/* Schemas that are never part of the fingerprint, as a condition on n */
#define USER_SCHEMA(n) \
	n ".nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'schemamig') " \
	"AND " n ".nspname NOT LIKE 'pg\\_temp\\_%' " \
	"AND " n ".nspname NOT LIKE 'pg\\_toast\\_temp\\_%' "

/*
 * The object is not a member of an extension.  The members are read once
 * (extension_members_query) and passed to every query as constant arrays,
 * one per catalog, which the planner turns into a hashed lookup; a join to
 * pg_depend in every query would scan it a dozen times.
 */
#define NOT_EXTENSION_MEMBER(param, oid) \
	"NOT (" oid " = ANY(" param ")) "
#define MEMBERS_OF_PG_CLASS "$1"
#define MEMBERS_OF_PG_PROC "$2"
#define MEMBERS_OF_PG_TYPE "$3"
#define MEMBERS_OF_PG_STATISTIC_EXT "$4"
/* and the relations of kind 'c' of the user schemas, from fingerprint_scan.c */
#define COMPOSITE_RELATIONS "$5"
#define NUM_MEMBER_PARAMS 5

/*
 * An aclitem[] as sorted text; NULL when it is the object's default ACL,
 * whether that is spelled NULL (never granted) or explicitly (granted and
 * revoked again), so the property is left out.  The common NULL case costs
 * no subquery.
 */
#define SORTED_ACL(acl) \
	"(SELECT string_agg(a::text, ',' ORDER BY a::text COLLATE \"C\") FROM unnest(" acl ") a)"
#define ACL_TEXT(acl, kind, owner) \
	"CASE WHEN " acl " IS NOT NULL THEN nullif(" SORTED_ACL(acl) ", " \
	SORTED_ACL("acldefault('" kind "', " owner ")") ") END"

#define QUALIFIED(n, name) \
	"quote_ident(" n ".nspname) || '.' || quote_ident(" name ")"

/*
 * One query per object class; each returns (type, identity, description).
 * concat_ws() skips NULLs, so properties an object does not have leave no
 * trace in its description.
 */
static const char *const fingerprint_queries[] = {
	/* sequences: their parameters and owner, never their current value */
	"SELECT 'sequence', " QUALIFIED("n", "c.relname") ", concat_ws(E'\\n', "
	"'type ' || format_type(s.seqtypid, NULL), "
	"'start ' || s.seqstart, 'increment ' || s.seqincrement, "
	"'min ' || s.seqmin, 'max ' || s.seqmax, 'cache ' || s.seqcache, "
	"'cycle ' || s.seqcycle, "
	"'persistence ' || c.relpersistence::text, "
	"'owner ' || pg_get_userbyid(c.relowner), "
	"'acl ' || " ACL_TEXT("c.relacl", "s", "c.relowner") ", "
	"'owned by ' || (SELECT d.refobjid::regclass::text || '.' || quote_ident(oa.attname) "
	"FROM pg_depend d JOIN pg_attribute oa ON oa.attrelid = d.refobjid "
	"AND oa.attnum = d.refobjsubid "
	"WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid "
	"AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0 "
	"AND d.deptype IN ('a', 'i'))) "
	"FROM pg_class c JOIN pg_sequence s ON s.seqrelid = c.oid "
	"JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE " USER_SCHEMA("n") "AND " NOT_EXTENSION_MEMBER(MEMBERS_OF_PG_CLASS, "c.oid"),

	/*
	 * functions, procedures, aggregates; pg_get_functiondef refuses
	 * aggregates, so they are described by their pg_aggregate row
	 */
	"SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' "
	"ELSE 'function' END, "
	QUALIFIED("n", "p.proname") " || '(' || pg_get_function_identity_arguments(p.oid) || ')', "
	"concat_ws(E'\\n', "
	"CASE WHEN p.prokind = 'a' THEN (SELECT concat_ws(E'\\n', "
	"'kind ' || g.aggkind::text, "
	"'returns ' || pg_get_function_result(p.oid), "
	"'transition ' || g.aggtransfn::text, "
	"'state ' || format_type(g.aggtranstype, NULL), "
	"'final ' || nullif(g.aggfinalfn::text, '-'), "
	"'combine ' || nullif(g.aggcombinefn::text, '-'), "
	"'moving transition ' || nullif(g.aggmtransfn::text, '-'), "
	"'initial ' || g.agginitval, "
	"'sort operator ' || CASE WHEN g.aggsortop <> 0 THEN g.aggsortop::regoperator::text END) "
	"FROM pg_aggregate g WHERE g.aggfnoid = p.oid) "
	"ELSE pg_get_functiondef(p.oid) END, "
	"'owner ' || pg_get_userbyid(p.proowner), "
	"'acl ' || " ACL_TEXT("p.proacl", "f", "p.proowner") ") "
	"FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
	"WHERE " USER_SCHEMA("n") "AND " NOT_EXTENSION_MEMBER(MEMBERS_OF_PG_PROC, "p.oid"),

	/* triggers written by users (not the ones behind foreign keys) */
	"SELECT 'trigger', " QUALIFIED("n", "c.relname") " || '.' || quote_ident(t.tgname), "
	"concat_ws(E'\\n', pg_get_triggerdef(t.oid), "
	"CASE WHEN t.tgenabled <> 'O' THEN 'enabled ' || t.tgenabled::text END) "
	"FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
	"JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE NOT t.tgisinternal AND " USER_SCHEMA("n")
	"AND " NOT_EXTENSION_MEMBER(MEMBERS_OF_PG_CLASS, "c.oid"),

	/* rules other than the ones that make views */
	"SELECT 'rule', " QUALIFIED("n", "c.relname") " || '.' || quote_ident(r.rulename), "
	"concat_ws(E'\\n', pg_get_ruledef(r.oid), "
	"CASE WHEN r.ev_enabled <> 'O' THEN 'enabled ' || r.ev_enabled::text END) "
	"FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class "
	"JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE r.rulename <> '_RETURN' AND " USER_SCHEMA("n")
	"AND " NOT_EXTENSION_MEMBER(MEMBERS_OF_PG_CLASS, "c.oid"),

	/* extended statistics */
	"SELECT 'statistics', " QUALIFIED("n", "s.stxname") ", "
	"pg_get_statisticsobjdef(s.oid) "
	"FROM pg_statistic_ext s JOIN pg_namespace n ON n.oid = s.stxnamespace "
	"WHERE " USER_SCHEMA("n") "AND " NOT_EXTENSION_MEMBER(MEMBERS_OF_PG_STATISTIC_EXT, "s.oid"),

	/*
	 * types: domains, enums, standalone composite types, ranges and base
	 * types; a table's row type and the automatic array types are not objects
	 * of their own
	 */
	"SELECT CASE t.typtype WHEN 'd' THEN 'domain' ELSE 'type' END, "
	QUALIFIED("n", "t.typname") ", concat_ws(E'\\n', "
	"'kind ' || t.typtype::text, "
	"'owner ' || pg_get_userbyid(t.typowner), "
	"'acl ' || " ACL_TEXT("t.typacl", "T", "t.typowner") ", "
	"'base ' || CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END, "
	"CASE WHEN t.typnotnull THEN 'not null' END, "
	"'default ' || pg_get_expr(t.typdefaultbin, 0), "
	"'collation ' || CASE WHEN t.typtype = 'd' AND t.typcollation <> "
	"(SELECT b.typcollation FROM pg_type b WHERE b.oid = t.typbasetype) "
	"THEN t.typcollation::regcollation::text END, "
	"'constraints ' || (SELECT string_agg(quote_ident(con.conname) || ' ' || "
	"pg_get_constraintdef(con.oid), ', ' ORDER BY con.conname COLLATE \"C\") "
	"FROM pg_constraint con WHERE con.contypid = t.oid "
	/* 17+: a domain's NOT NULL is also a constraint (compat.h) */
	"AND NOT (con.contype = 'n' AND con.convalidated)), "
	"'labels ' || (SELECT string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) "
	"FROM pg_enum e WHERE e.enumtypid = t.oid), "
	"'attributes ' || (SELECT string_agg(quote_ident(ca.attname) || ' ' || "
	"format_type(ca.atttypid, ca.atttypmod) || "
	"CASE WHEN ca.attcollation <> at.typcollation "
	"THEN ' collate ' || ca.attcollation::regcollation::text ELSE '' END, "
	"', ' ORDER BY ca.attnum) FROM pg_attribute ca JOIN pg_type at ON at.oid = ca.atttypid "
	"WHERE ca.attrelid = t.typrelid AND ca.attnum > 0 AND NOT ca.attisdropped), "
	"'range ' || (SELECT concat_ws(' ', format_type(r.rngsubtype, NULL), "
	"'collation ' || CASE WHEN r.rngcollation <> 0 THEN r.rngcollation::regcollation::text END, "
	"'opclass ' || quote_ident(opn.nspname) || '.' || quote_ident(opc.opcname), "
	"'canonical ' || nullif(r.rngcanonical::text, '-'), "
	"'subdiff ' || nullif(r.rngsubdiff::text, '-'), "
	"'multirange ' || format_type(r.rngmultitypid, NULL)) "
	"FROM pg_range r JOIN pg_opclass opc ON opc.oid = r.rngsubopc "
	"JOIN pg_namespace opn ON opn.oid = opc.opcnamespace WHERE r.rngtypid = t.oid), "
	"'io ' || CASE WHEN t.typtype = 'b' THEN concat_ws(' ', t.typinput::text, "
	"t.typoutput::text, t.typreceive::text, t.typsend::text, t.typlen, "
	"t.typbyval, t.typalign::text, t.typstorage::text) END) "
	"FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
	"WHERE t.typtype IN ('b', 'c', 'd', 'e', 'r') AND t.typcategory <> 'A' "
	"AND (t.typrelid = 0 OR t.typrelid = ANY(" COMPOSITE_RELATIONS ")) AND " USER_SCHEMA("n")
	"AND " NOT_EXTENSION_MEMBER(MEMBERS_OF_PG_TYPE, "t.oid"),

	/* row level security policies */
	"SELECT 'policy', " QUALIFIED("n", "c.relname") " || '.' || quote_ident(p.polname), "
	"concat_ws(E'\\n', "
	"CASE WHEN p.polpermissive THEN 'permissive' ELSE 'restrictive' END, "
	"'command ' || p.polcmd::text, "
	"'roles ' || (SELECT string_agg(r, ',' ORDER BY r COLLATE \"C\") FROM "
	"(SELECT CASE WHEN ro = 0 THEN 'public' ELSE quote_ident(pg_get_userbyid(ro)) END AS r "
	"FROM unnest(p.polroles) ro) s), "
	"'using ' || pg_get_expr(p.polqual, p.polrelid), "
	"'with check ' || pg_get_expr(p.polwithcheck, p.polrelid)) "
	"FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid "
	"JOIN pg_namespace n ON n.oid = c.relnamespace "
	"WHERE " USER_SCHEMA("n") "AND " NOT_EXTENSION_MEMBER(MEMBERS_OF_PG_CLASS, "c.oid"),

	/* extensions stand for their member objects */
	"SELECT 'extension', quote_ident(e.extname), concat_ws(E'\\n', "
	"'version ' || e.extversion, 'schema ' || quote_ident(n.nspname)) "
	"FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
	"WHERE e.extname <> 'schemamig'",
};

static int
oid_cmp_fp(const void *a, const void *b)
{
	Oid			x = *(const Oid *) a;
	Oid			y = *(const Oid *) b;

	return x < y ? -1 : (x > y ? 1 : 0);
}

bool
schemamig_extension_member(const SchemamigOidSet *set, Oid oid)
{
	return set->n > 0 &&
		bsearch(&oid, set->oids, set->n, sizeof(Oid), oid_cmp_fp) != NULL;
}

void
schemamig_oid_set_add(SchemamigOidSet *set, Oid oid)
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
	SchemamigOidSet *sets[] = {
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
			schemamig_oid_set_add(&members->pg_class, dep->objid);
		else if (dep->classid == ProcedureRelationId)
			schemamig_oid_set_add(&members->pg_proc, dep->objid);
		else if (dep->classid == TypeRelationId)
			schemamig_oid_set_add(&members->pg_type, dep->objid);
		else if (dep->classid == NamespaceRelationId)
			schemamig_oid_set_add(&members->pg_namespace, dep->objid);
		else if (dep->classid == StatisticExtRelationId)
			schemamig_oid_set_add(&members->pg_statistic_ext, dep->objid);
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
			schemamig_oid_set_add(&members->pg_proc, dep->objid);
	}
	systable_endscan(scan);
	table_close(depend, AccessShareLock);

	for (int i = 0; i < lengthof(sets); i++)
		if (sets[i]->n > 1)
			qsort(sets[i]->oids, sets[i]->n, sizeof(Oid), oid_cmp_fp);
}

static char *sha256_hex(const char *data, size_t len, pg_cryptohash_ctx *ctx);
static int	object_cmp(const ListCell *a, const ListCell *b);

/*
 * sha256 of a buffer as 64 hex digits.  The caller passes a context so that
 * hashing thousands of descriptions does not create thousands of them.
 */
static char *
sha256_hex(const char *data, size_t len, pg_cryptohash_ctx *ctx)
{
	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0)
		elog(ERROR, "could not compute sha256 hash");
	return schemamig_sha256_final_hex(ctx);
}

/*
 * Byte-wise order by (type, identity): independent of any collation.  The
 * types are interned (schemamig_fingerprint_add), so equal types are
 * recognized without comparing strings.
 */
static int
object_cmp(const ListCell *a, const ListCell *b)
{
	SchemamigObjectHash *x = lfirst(a);
	SchemamigObjectHash *y = lfirst(b);
	int			r = x->type == y->type ? 0 : strcmp(x->type, y->type);

	return r != 0 ? r : strcmp(x->identity, y->identity);
}

/*
 * The object types, each stored once: every object of a type points to
 * the same string.
 */
static char *
intern_type(const char *type)
{
	static const char *const types[] = {
		"aggregate", "column", "constraint", "domain", "extension",
		"foreign table", "function", "index", "materialized view", "policy",
		"procedure", "rule", "schema", "sequence", "statistics", "table",
		"trigger", "type", "view"
	};

	for (int i = 0; i < lengthof(types); i++)
		if (strcmp(type, types[i]) == 0)
			return (char *) types[i];
	return pstrdup(type);
}

void
schemamig_fingerprint_add(SchemamigFingerprintState *state, const char *type,
						  const char *identity, StringInfo description)
{
	MemoryContext old = MemoryContextSwitchTo(state->result_cxt);
	SchemamigObjectHash *object = palloc(sizeof(SchemamigObjectHash));

	object->type = intern_type(type);
	object->identity = pstrdup(identity);
	object->hash = sha256_hex(description->data, description->len, state->hash_ctx);
	object->description = pnstrdup(description->data, description->len);
	state->objects = lappend(state->objects, object);
	MemoryContextSwitchTo(old);
}

/* An oid[] of extension members, for the SPI queries */
static Datum
member_array(const SchemamigOidSet *set)
{
	Datum	   *elems = palloc(Max(set->n, 1) * sizeof(Datum));

	for (int i = 0; i < set->n; i++)
		elems[i] = ObjectIdGetDatum(set->oids[i]);
	return PointerGetDatum(construct_array(elems, set->n, OIDOID, sizeof(Oid),
										   true, TYPALIGN_INT));
}

List *
schemamig_fingerprint_objects(void)
{
	SchemamigFingerprintState state;
	SchemamigOwnerContext octx;
	SchemamigExtensionMembers members;
	SchemamigOidSet composites = {NULL, 0, 0};
	Snapshot	snapshot;
	StringInfoData description;
	Oid			member_types[NUM_MEMBER_PARAMS];
	Datum		member_values[NUM_MEMBER_PARAMS];
	int			ret;

	state.result_cxt = CurrentMemoryContext;
	state.objects = NIL;
	state.hash_ctx = pg_cryptohash_create(PG_SHA256);
	if (state.hash_ctx == NULL)
		elog(ERROR, "could not create sha256 context");

	/*
	 * See the DDL the caller ran just before, as a non-read-only SPI query
	 * would, and read every catalog with the same snapshot.
	 */
	CommandCounterIncrement();
	snapshot = RegisterSnapshot(GetCatalogSnapshot(RelationRelationId));

	schemamig_extension_members(&members);
	for (int p = 0; p < NUM_MEMBER_PARAMS; p++)
		member_types[p] = OIDARRAYOID;
	member_values[0] = member_array(&members.pg_class);
	member_values[1] = member_array(&members.pg_proc);
	member_values[2] = member_array(&members.pg_type);
	member_values[3] = member_array(&members.pg_statistic_ext);

	/*
	 * Callers may or may not be connected to SPI already (status() is, the
	 * SQL-callable fingerprint() is not); a nested connection serves both.
	 * The objects are built in the caller's memory context so they survive
	 * SPI_finish().
	 */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	schemamig_owner_enter(&octx);

	/*
	 * The queries are cheap per row but their estimated cost over a large
	 * schema crosses jit_above_cost, and JIT compilation would then cost more
	 * than the whole run; the owner context's GUC nest level undoes both.
	 */
	(void) set_config_option("jit", "off", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	(void) set_config_option("work_mem", "65536", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	/*
	 * pg_get_viewdef() reads pg_rewrite through a read-only SPI query, which
	 * uses the active snapshot as it is: inside one call of a C function
	 * (upgrade(), verify()) that is the snapshot of the calling statement,
	 * taken before the DDL just run, so a view created, replaced or dropped
	 * since would be described as it was.  Make the catalog snapshot the
	 * active one for the scan, so view definitions are read as of now, like
	 * every other catalog row.
	 */
	PushActiveSnapshot(snapshot);
	schemamig_fingerprint_scan(&state, &members, snapshot, &composites);
	PopActiveSnapshot();
	member_values[4] = member_array(&composites);

	initStringInfo(&description);
	for (int q = 0; q < lengthof(fingerprint_queries); q++)
	{
		ret = SPI_execute_with_args(fingerprint_queries[q], NUM_MEMBER_PARAMS,
									member_types, member_values, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not read the catalogs for the fingerprint: %s",
				 SPI_result_code_string(ret));
		for (uint64 i = 0; i < SPI_processed; i++)
		{
			HeapTuple	tuple = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			char	   *value = SPI_getvalue(tuple, desc, 3);

			resetStringInfo(&description);
			if (value != NULL)
			{
				appendStringInfoString(&description, value);
				/* function bodies can be large: do not keep them all */
				pfree(value);
			}
			schemamig_fingerprint_add(&state, SPI_getvalue(tuple, desc, 1),
									  SPI_getvalue(tuple, desc, 2), &description);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	schemamig_owner_leave(&octx);
	SPI_finish();
	UnregisterSnapshot(snapshot);
	pg_cryptohash_free(state.hash_ctx);

	list_sort(state.objects, object_cmp);
	return state.objects;
}

char *
schemamig_fingerprint_of(List *objects)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	char	   *hex;
	ListCell   *lc;

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0)
		elog(ERROR, "could not compute sha256 hash");
	foreach(lc, objects)
	{
		SchemamigObjectHash *object = lfirst(lc);

		if (pg_cryptohash_update(ctx, (const uint8 *) object->type, strlen(object->type)) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) "\t", 1) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) object->identity, strlen(object->identity)) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) "\t", 1) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) object->hash, strlen(object->hash)) < 0 ||
			pg_cryptohash_update(ctx, (const uint8 *) "\n", 1) < 0)
			elog(ERROR, "could not compute sha256 hash");
	}
	hex = schemamig_sha256_final_hex(ctx);
	pg_cryptohash_free(ctx);
	return hex;
}

/*
 * fingerprint(): the hash of the user-visible schema.
 */
Datum
schemamig_fingerprint(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(schemamig_fingerprint_of(schemamig_fingerprint_objects())));
}

/*
 * fingerprint_objects(): the objects behind the fingerprint, one row each,
 * so two databases can be compared object by object.
 */
Datum
schemamig_fingerprint_objects_srf(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *objects;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	objects = schemamig_fingerprint_objects();
	foreach(lc, objects)
	{
		SchemamigObjectHash *object = lfirst(lc);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(object->type);
		values[1] = CStringGetTextDatum(object->identity);
		values[2] = CStringGetTextDatum(object->hash);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/*
 * Byte-wise order by (type, identity), the order of
 * schemamig_fingerprint_objects(), for any two objects (stored ones too)
 */
int
schemamig_fingerprint_order(const SchemamigObjectHash *x, const SchemamigObjectHash *y)
{
	int			r = strcmp(x->type, y->type);

	return r != 0 ? r : strcmp(x->identity, y->identity);
}

/*
 * Compare two object lists sorted in schemamig_fingerprint_order(): report
 * each object only before (removed), only after (added), or in both with
 * another hash (changed), in that order.
 */
void
schemamig_fingerprint_diff(List *before, List *after,
						   SchemamigDiffCallback report, void *arg)
{
	ListCell   *lb = list_head(before);
	ListCell   *la = list_head(after);

	while (lb != NULL || la != NULL)
	{
		SchemamigObjectHash *b = lb ? lfirst(lb) : NULL;
		SchemamigObjectHash *a = la ? lfirst(la) : NULL;
		int			order = b == NULL ? 1 : a == NULL ? -1 :
		schemamig_fingerprint_order(b, a);

		if (order < 0)
		{
			report(DIFF_REMOVED, b, NULL, arg);
			lb = lnext(before, lb);
		}
		else if (order > 0)
		{
			report(DIFF_ADDED, NULL, a, arg);
			la = lnext(after, la);
		}
		else
		{
			if (strcmp(b->hash, a->hash) != 0)
				report(DIFF_CHANGED, b, a, arg);
			lb = lnext(before, lb);
			la = lnext(after, la);
		}
	}
}
