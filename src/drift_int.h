/*-------------------------------------------------------------------------
 *
 * drift_int.h
 *		What only drift.c and drift_baseline.c share: a row of drift(), the
 *		computation, and the test for the stored baseline's format.
 *
 * drift_baseline.c (the baseline taken, checked and accepted; drift(),
 * accept_drift()) calls drift.c (the comparison); never the other way.
 *
 * IDENTIFICATION
 *		src/drift_int.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SCHEMAMIG_DRIFT_INT_H
#define SCHEMAMIG_DRIFT_INT_H

#include "schemamig.h"

/* One row of drift() */
typedef struct DriftRow
{
	const char *type;
	const char *identity;
	const char *change;			/* added, removed, changed, unversioned */
	const char *property;
	const char *before;
	const char *after;
}			DriftRow;

/*
 * The stored fingerprint is compared only when it is of this library's
 * format; NULL is format 1 (0.1.0 had no column for it, and a dump of a
 * 0.1.0 database restored into 0.2 brings none)
 */
#define STORED_FINGERPRINT_COMPARABLE \
	"fingerprint IS NOT NULL AND COALESCE(fingerprint_format, 1) " \
	"OPERATOR(pg_catalog.=) " CppAsString2(SCHEMAMIG_FINGERPRINT_FORMAT)

extern bool schemamig_drift_has_memory(void);
extern SchemamigObjectHash *schemamig_drift_object_from_row(HeapTuple tuple, TupleDesc desc,
															bool with_description);
extern int	schemamig_drift_object_cmp(const ListCell *a, const ListCell *b);
extern List *schemamig_drift_compute(bool *known, int64 upto, bool stop_at_first,
									 List **marks);

#endif							/* SCHEMAMIG_DRIFT_INT_H */
