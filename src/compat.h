/*-------------------------------------------------------------------------
 *
 * compat.h
 *		Every difference between the PostgreSQL versions schemamig builds
 *		against (15 to 18; 15, 17 and 18 are built and tested in CI, 16 by
 *		these same #ifs) lives here, so function bodies stay free of
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

#include "commands/event_trigger.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"

#if PG_VERSION_NUM < 150000
#error "schemamig needs PostgreSQL 15 or later"
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
#define schemamig_index_nulls_not_distinct(form) ((form)->indnullsnotdistinct)

/*
 * PostgreSQL 16 added onlySummarizing to ExecInsertIndexTuples: false
 * inserts into every index, as 15 does.
 */
#if PG_VERSION_NUM >= 160000
#define schemamig_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL, false)
#else
#define schemamig_insert_index_tuples(rri, slot, estate) \
	ExecInsertIndexTuples((rri), (slot), (estate), false, false, NULL, NIL)
#endif

/*
 * The fingerprint describes a schema the same way on every major, in the
 * terms of PostgreSQL 15 (fingerprint.c, "the same text on every major"):
 *
 * PostgreSQL 17 stores a domain's NOT NULL, and 18 every column's NOT NULL,
 * as a pg_constraint row of type 'n' (15 and 16 have only typnotnull and
 * attnotnull).  A valid, inheritable one says no more than the flag does
 * and is left out; one that says more (18's NOT VALID or NO INHERIT, which
 * no earlier major can express) is described as a constraint.
 */
#define SCHEMAMIG_CONSTRAINT_NOTNULL 'n'

/*
 * PostgreSQL 17 added the MAINTAIN privilege on relations and made it part
 * of ALL PRIVILEGES and of the owner's default ACL: in an ACL item that
 * holds every privilege 15 knows, MAINTAIN is what GRANT ALL means, and is
 * left out.  MAINTAIN granted on its own is kept.
 */
#if PG_VERSION_NUM >= 170000
#define SCHEMAMIG_ACL_MAINTAIN ACL_MAINTAIN
#else
#define SCHEMAMIG_ACL_MAINTAIN ((AclMode) 0)
#endif
#define SCHEMAMIG_ACL_ALL_RIGHTS_RELATION_15 \
	(ACL_INSERT | ACL_SELECT | ACL_UPDATE | ACL_DELETE | ACL_TRUNCATE | \
	 ACL_REFERENCES | ACL_TRIGGER)

/*
 * PostgreSQL 16 dropped the OLD and NEW entries from the range table of a
 * view's query; with one entry left the deparser stops qualifying column
 * names ("SELECT id FROM t" where 15 printed "SELECT t.id FROM t").  A
 * placeholder entry, referenced nowhere, makes it qualify them as 15 does.
 */
static inline void
schemamig_view_query_as_15(Query *query)
{
#if PG_VERSION_NUM >= 160000
	RangeTblEntry *rte = makeNode(RangeTblEntry);

	rte->rtekind = RTE_RESULT;
	rte->eref = makeAlias("*RESULT*", NIL);
	query->rtable = lappend(query->rtable, rte);
#endif
}

/*
 * The commands schemamig treats as schema changes seen by event triggers:
 * PostgreSQL's list, minus REINDEX, which 17 added to it.  REINDEX changes
 * no schema and 15 and 16 fire no event trigger for it, so on every major
 * it is neither guarded nor logged by the event triggers (steps log a
 * REINDEX CONCURRENTLY step themselves, the same way everywhere).
 */
static inline bool
schemamig_tag_fires_event_triggers(CommandTag tag)
{
	return tag != CMDTAG_REINDEX && command_tag_event_trigger_ok(tag);
}

/*
 * A table's primary key index: PostgreSQL 18 added whether a deferrable
 * key will do (schemamig's keys are never deferrable).
 */
#if PG_VERSION_NUM >= 180000
#define schemamig_primary_key_index(rel) RelationGetPrimaryKeyIndex((rel), false)
#else
#define schemamig_primary_key_index(rel) RelationGetPrimaryKeyIndex(rel)
#endif

/*
 * GRANT and REVOKE on a table, view or sequence take ACCESS SHARE on it
 * from PostgreSQL 18 on (seen by plan(execute => true)); before, they lock
 * no relation.  plan_predict.c predicts that lock.
 */
#if PG_VERSION_NUM >= 180000
#define SCHEMAMIG_GRANT_LOCKS_RELATION true
#else
#define SCHEMAMIG_GRANT_LOCKS_RELATION false
#endif

#endif							/* SCHEMAMIG_COMPAT_H */
