/*-------------------------------------------------------------------------
 *
 * client.h
 *		The schemamig client program: shared declarations.
 *
 * IDENTIFICATION
 *		client/client.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef SCHEMAMIG_CLIENT_H
#define SCHEMAMIG_CLIENT_H

#include <stdbool.h>
#include <stddef.h>

/* exit codes: a pipeline can trust them */
#define EXIT_REACHED	0		/* the target was reached */
#define EXIT_ERROR		1		/* an error; see the message */
#define EXIT_USAGE		2		/* bad command line */
#define EXIT_SHORT		3		/* stopped short of the target, or partial */

typedef enum Layout
{
	LAYOUT_SCHEMAMIG,			/* one file per revision, our header lines */
	LAYOUT_DBMATE,				/* -- migrate:up / -- migrate:down */
	LAYOUT_SQL_MIGRATE,			/* -- +migrate Up / -- +migrate Down */
	LAYOUT_DIESEL,				/* <version>_<name>/up.sql, down.sql */
	LAYOUT_FLYWAY				/* V<version>__name.sql, U<version>__name.sql */
} Layout;

/* One migration file (or diesel directory): one revision */
typedef struct Revision
{
	char	   *id;
	char	   *path;			/* for messages */
	char	   *upgrade;
	char	   *downgrade;		/* NULL: irreversible */
	char	  **parents;
	int			nparents;
	bool		parents_given;	/* a "-- schemamig:parents" line */
	char	   *message;
	char	   *version;		/* the layout's ordering key */
} Revision;

/* layout.c */
extern const char *layout_name(Layout layout);
extern int	read_folder(const char *dir, Revision **revs, int *nrevs, Layout *layout);
extern int	read_one_file(const char *path, Revision *rev);
extern char *read_text_file(const char *path);
extern void *xmalloc(size_t size);
extern char *xstrdup(const char *s);
extern char *xstrndup(const char *s, size_t n);

#endif
