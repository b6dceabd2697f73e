/*-------------------------------------------------------------------------
 *
 * fingerprint_int.h
 *		What fingerprint.c, fingerprint_scan.c and fingerprint_index.c
 *		share and nothing else needs.
 *
 * IDENTIFICATION
 *		src/fingerprint_int.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SCHEMAMIG_FINGERPRINT_INT_H
#define SCHEMAMIG_FINGERPRINT_INT_H

#include "schemamig.h"

/* ---- fingerprint.c: collecting the objects, extension members ---- */

/* The objects being collected, hashed as they are added */
typedef struct SchemamigFingerprintState
{
	MemoryContext result_cxt;	/* where the objects live */
	struct pg_cryptohash_ctx *hash_ctx;
	List	   *objects;
} SchemamigFingerprintState;

/* Add an object; identity is copied, description hashed */
extern void schemamig_fingerprint_add(SchemamigFingerprintState *state,
									  const char *type, const char *identity,
									  StringInfo description);

/* A set of OIDs, sorted once filled */
typedef struct SchemamigOidSet
{
	Oid		   *oids;
	int			n;
	int			size;
} SchemamigOidSet;

/* Extension members by catalog */
typedef struct SchemamigExtensionMembers
{
	SchemamigOidSet pg_class;
	SchemamigOidSet pg_proc;
	SchemamigOidSet pg_type;
	SchemamigOidSet pg_namespace;
	SchemamigOidSet pg_statistic_ext;
} SchemamigExtensionMembers;

extern void schemamig_extension_members(SchemamigExtensionMembers *members);
extern bool schemamig_extension_member(const SchemamigOidSet *set, Oid oid);
extern void schemamig_oid_set_add(SchemamigOidSet *set, Oid oid);

/* ---- fingerprint_scan.c: schemas, tables, columns, ... described in C ---- */

extern void schemamig_fingerprint_scan(SchemamigFingerprintState *state,
									   SchemamigExtensionMembers *members,
									   Snapshot snapshot, SchemamigOidSet *composites);

/* ---- fingerprint_scan.c and fingerprint_index.c: the catalog scans ---- */

/* A relation of a user schema */
typedef struct SchemamigFpRel
{
	Oid			oid;			/* hash key */
	const char *nspname;
	char	   *relname;
	char	   *qualname;		/* "schema.name", quoted */
	char		relkind;
	Oid			relowner;
	bool		member;			/* belongs to an extension */
	Oid			relam;
	Oid			reltablespace;
	char	   *options;		/* reloptions of an index, unsorted */
	int			natts;
	HeapTuple  *atts;			/* live columns by attnum, described kinds */
	char	  **defaults;		/* adbin by attnum, described kinds */
	HeapTuple	index;			/* pg_index row, for an index */
} SchemamigFpRel;

/* Cached text of a catalog object: a type with typmod, an opclass, a collation */
typedef struct SchemamigFpNameKey
{
	Oid			catalog;
	Oid			oid;
	int32		typmod;
} SchemamigFpNameKey;

typedef struct SchemamigFpName
{
	SchemamigFpNameKey key;
	char	   *text;
	Oid			typcollation;	/* for a type */
} SchemamigFpName;

/* State of one scan of the catalogs */
typedef struct SchemamigFpScan
{
	Snapshot	snapshot;
	SchemamigFingerprintState *state;
	HTAB	   *namespaces;
	HTAB	   *rels;
	HTAB	   *names;
	HTAB	   *exprs;
	struct SchemamigFpInherit *inherits;	/* sorted by (relid, seqno) */
	int			ninherits;
	SchemamigExtensionMembers *members;
	SchemamigOidSet *composites;	/* relations of kind 'c', for the types */
	StringInfoData desc;
	StringInfoData ident;
} SchemamigFpScan;

extern void schemamig_fp_add_prop(StringInfo desc, const char *label, const char *value);
extern char *schemamig_fp_qualified(const char *nspname, const char *name);
extern const char *schemamig_fp_column_name(SchemamigFpScan *s, SchemamigFpRel *rel,
											Oid relid, int attnum);
extern char *schemamig_fp_deparse_expr(SchemamigFpScan *s, char *nodestr, Oid relid);
extern char *schemamig_fp_call_text(PGFunction fn, int nargs, Datum arg0, Datum arg1);
extern SchemamigFpName *schemamig_fp_name_entry(SchemamigFpScan *s, Oid catalog, Oid oid,
												int32 typmod, bool *found);
extern void schemamig_fp_scan_indexes(SchemamigFpScan *s);
extern void schemamig_fp_scan_constraints(SchemamigFpScan *s);

#endif							/* SCHEMAMIG_FINGERPRINT_INT_H */
