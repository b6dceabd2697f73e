/*-------------------------------------------------------------------------
 *
 * errcodes.h
 *		schemamig's SQLSTATEs, one place (docs/sqlstates.md documents
 *		them for users).
 *
 * Class SM is schemamig's own.  PostgreSQL's codes are used where they
 * already say it: 42501 for a privilege, 25001/25P01 for transaction block
 * state, 55000 for a call in the wrong state of the session (inside a
 * migration, inside plan(), a step left half-done), 54000 for input over a
 * limit, 22004/22023 for other arguments.
 *
 * IDENTIFICATION
 *		src/errcodes.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SCHEMAMIG_ERRCODES_H
#define SCHEMAMIG_ERRCODES_H

/* SM001: unversioned DDL blocked (guard, step admission, Alembic commit) */
#define ERRCODE_SCHEMAMIG_UNVERSIONED_DDL	MAKE_SQLSTATE('S','M','0','0','1')

/* SM002: an applied revision's scripts or parents would change */
#define ERRCODE_SCHEMAMIG_CHECKSUM_MISMATCH MAKE_SQLSTATE('S','M','0','0','2')

/* SM003: unknown revision or target, or a relative target out of range */
#define ERRCODE_SCHEMAMIG_UNKNOWN_REVISION	MAKE_SQLSTATE('S','M','0','0','3')

/*
 * SM004: the graph or the applied set forbids it: a cycle, an unknown
 * parent, several heads where one is required; a revision already applied,
 * not applied, with children, a parent not applied or a child still applied;
 * unregistering an applied revision
 */
#define ERRCODE_SCHEMAMIG_GRAPH_ERROR		MAKE_SQLSTATE('S','M','0','0','4')

/* SM005: an irreversible revision on the downgrade path */
#define ERRCODE_SCHEMAMIG_IRREVERSIBLE		MAKE_SQLSTATE('S','M','0','0','5')

/* SM006: the lint refused the script */
#define ERRCODE_SCHEMAMIG_LINT_REFUSED		MAKE_SQLSTATE('S','M','0','0','6')

/*
 * SM007: a NULL or invalid revision id (everywhere one is taken), or an
 * invalid script: parse error, transaction control, NULL upgrade script
 */
#define ERRCODE_SCHEMAMIG_INVALID_SCRIPT	MAKE_SQLSTATE('S','M','0','0','7')

/* SM009: assert_at(): the target is not reached */
#define ERRCODE_SCHEMAMIG_TARGET_NOT_REACHED MAKE_SQLSTATE('S','M','0','0','9')

#endif							/* SCHEMAMIG_ERRCODES_H */
