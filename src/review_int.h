/*-------------------------------------------------------------------------
 *
 * review_int.h
 *		What only review.c, review_plan.c and review_verify.c share:
 *		executed review as the revision's author, in subtransactions that
 *		are always rolled back, never queueing.
 *
 * review_plan.c (plan()) and review_verify.c (verify()) call review.c;
 * review.c calls neither.
 *
 * IDENTIFICATION
 *		src/review_int.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SCHEMAMIG_REVIEW_INT_H
#define SCHEMAMIG_REVIEW_INT_H

#include "schemamig.h"

/* SQLSTATE of the last error schemamig_review_subxact() caught */
extern int	schemamig_review_last_sqlerrcode;

extern bool schemamig_review_subxact(void (*fn) (void *arg), void *arg, bool keep,
									 bool catch_error, char **message);
extern void schemamig_review_check_can(const char *fname);
extern int	schemamig_review_set_lock_timeout(void);
extern void schemamig_review_check_authors(SchemamigGraph *graph, List *pending);
extern void schemamig_review_run_as_author(const char *revision, SchemamigDirection direction,
										   void (*after) (SchemamigStatement *st,
														  TimestampTz started,
														  void *arg),
										   void *arg);

#endif							/* SCHEMAMIG_REVIEW_INT_H */
