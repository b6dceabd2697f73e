/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every difference between the PostgreSQL versions schemamig builds
 *		against (14 to 18) lives here, so function bodies stay free of
 *		version checks.
 *
 * IDENTIFICATION
 *		src/compat.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SCHEMAMIG_COMPAT_H
#define SCHEMAMIG_COMPAT_H

#include "utils/guc.h"

/* PostgreSQL 15 renamed EmitWarningsOnPlaceholders and made it reserve */
#if PG_VERSION_NUM < 150000
#define MarkGUCPrefixReserved(prefix) EmitWarningsOnPlaceholders(prefix)
#endif

/* PostgreSQL 16 folded the per-class ownership checks into one */
#if PG_VERSION_NUM >= 160000
#define schemamig_namespace_ownercheck(nsp, role) \
	object_ownercheck(NamespaceRelationId, (nsp), (role))
#else
#define schemamig_namespace_ownercheck(nsp, role) \
	pg_namespace_ownercheck((nsp), (role))
#endif

/* PostgreSQL 15 added NULLS NOT DISTINCT to unique indexes */
#if PG_VERSION_NUM >= 150000
#define schemamig_index_nulls_not_distinct(form) ((form)->indnullsnotdistinct)
#else
#define schemamig_index_nulls_not_distinct(form) false
#endif

#endif							/* SCHEMAMIG_COMPAT_H */
