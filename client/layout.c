/*-------------------------------------------------------------------------
 *
 * layout.c
 *		Read a folder of migration files into revisions, in the layout the
 *		team already has.
 *
 * Layouts (SPEC "Migration file"), told apart by what the folder holds:
 *	- diesel: subdirectories <version>_<name>/ with up.sql (and down.sql);
 *	  id = directory name, ordered by version (dashes ignored);
 *	- Flyway: V<version>__<name>.sql, id = file name without .sql, versions
 *	  compared numerically part by part (1.10 after 1.9); U<version>__*.sql
 *	  is the downgrade of the V file with the same version; repeatable
 *	  R__ files are skipped with a warning;
 *	- dbmate: files with "-- migrate:up" / "-- migrate:down", ordered by
 *	  their numeric (timestamp) prefix;
 *	- sql-migrate: "-- +migrate Up" / "-- +migrate Down", ordered by the
 *	  numeric prefix (names without one sort after, by name);
 *	- schemamig: anything else; one revision per .sql file, upgrade SQL,
 *	  then an optional line "-- schemamig:downgrade" and the downgrade SQL
 *	  (no such line: irreversible); optional header lines before any SQL:
 *	  "-- schemamig:parents ID..." and "-- schemamig:message TEXT"; ordered by
 *	  file name in C collation.
 * Without explicit parents each revision's parent is the previous one in
 * that order (none for the first), so the same files give the same graph
 * in every database, whatever order they were read or loaded in.
 *
 * In the other tools' layouts a down section that is empty or only
 * comments means "irreversible" (NULL downgrade): a revision whose
 * downgrade would silently do nothing must not pass for reversible.
 * The tools' own markers (migrate:up, +migrate Up notransaction,
 * StatementBegin) are comments to PostgreSQL; schemamig decides by itself,
 * statement by statement, what must run outside a transaction.
 *
 * IDENTIFICATION
 *		client/layout.c
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "client.h"

static Layout sort_layout;

void *
xmalloc(size_t size)
{
	void	   *p = calloc(1, size ? size : 1);

	if (p == NULL)
	{
		fprintf(stderr, "schemamig: out of memory\n");
		exit(EXIT_ERROR);
	}
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char	   *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

const char *
layout_name(Layout layout)
{
	switch (layout)
	{
		case LAYOUT_SCHEMAMIG:
			return "schemamig";
		case LAYOUT_DBMATE:
			return "dbmate";
		case LAYOUT_SQL_MIGRATE:
			return "sql-migrate";
		case LAYOUT_DIESEL:
			return "diesel";
		case LAYOUT_FLYWAY:
			return "flyway";
	}
	return "?";
}

char *
read_text_file(const char *path)
{
	FILE	   *f = fopen(path, "rb");
	char	   *buf;
	long		len;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
	{
		fclose(f);
		return NULL;
	}
	buf = xmalloc(len + 1);
	if (len > 0 && fread(buf, 1, len, f) != (size_t) len)
	{
		fclose(f);
		free(buf);
		return NULL;
	}
	buf[len] = '\0';
	fclose(f);
	if (strlen(buf) != (size_t) len)
	{
		free(buf);
		errno = EINVAL;			/* a NUL byte: not SQL text */
		return NULL;
	}
	return buf;
}

static char *
path_join(const char *a, const char *b)
{
	char	   *p = xmalloc(strlen(a) + strlen(b) + 2);

	sprintf(p, "%s/%s", a, b);
	return p;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t		ls = strlen(s),
				lx = strlen(suffix);

	return ls >= lx && strcmp(s + ls - lx, suffix) == 0;
}

/* a line (without its newline) starts with marker, then blank or end */
static bool
line_is_marker(const char *line, size_t len, const char *marker)
{
	size_t		lm = strlen(marker);

	if (len < lm || strncmp(line, marker, lm) != 0)
		return false;
	return len == lm || isspace((unsigned char) line[lm]);
}

static bool
is_blank_sql(const char *s)
{
	/* only whitespace and -- comments */
	while (*s)
	{
		if (isspace((unsigned char) *s))
			s++;
		else if (s[0] == '-' && s[1] == '-')
		{
			while (*s && *s != '\n')
				s++;
		}
		else
			return false;
	}
	return true;
}

/*
 * Split text at marker lines: the text after the line starting with up
 * until the line starting with down (exclusive) is the upgrade, the rest
 * the downgrade.  up NULL: the upgrade starts at the beginning.  Returns
 * false when the up marker is missing.
 */
static bool
split_sections(const char *text, const char *up, const char *down,
			   char **upgrade, char **downgrade, char **up_line)
{
	const char *p = text;
	const char *up_start = up ? NULL : text;
	const char *up_end = NULL;
	const char *down_start = NULL;

	while (*p)
	{
		const char *eol = strchr(p, '\n');
		size_t		len = eol ? (size_t) (eol - p) : strlen(p);
		const char *next = eol ? eol + 1 : p + len;
		size_t		tl = len;

		while (tl > 0 && (p[tl - 1] == '\r' || p[tl - 1] == ' ' || p[tl - 1] == '\t'))
			tl--;
		if (up && up_start == NULL && line_is_marker(p, tl, up))
		{
			up_start = next;
			if (up_line)
				*up_line = xstrndup(p, tl);
		}
		else if (up_start != NULL && up_end == NULL && line_is_marker(p, tl, down))
		{
			up_end = p;
			down_start = next;
		}
		p = next;
	}
	if (up_start == NULL)
		return false;
	*upgrade = up_end ? xstrndup(up_start, up_end - up_start) : xstrdup(up_start);
	*downgrade = down_start ? xstrdup(down_start) : NULL;
	return true;
}

/* our format: header lines, the upgrade, "-- schemamig:downgrade", the downgrade */
static int
parse_schemamig(Revision *rev, const char *text)
{
	const char *p = text;
	bool		header = true;

	split_sections(text, NULL, "-- schemamig:downgrade", &rev->upgrade,
				   &rev->downgrade, NULL);
	while (*p && header)
	{
		const char *eol = strchr(p, '\n');
		size_t		len = eol ? (size_t) (eol - p) : strlen(p);
		const char *q = p;

		while (q < p + len && isspace((unsigned char) *q))
			q++;
		if (q == p + len)
			;					/* blank */
		else if (strncmp(q, "--", 2) != 0)
			header = false;
		else if (line_is_marker(q, p + len - q, "-- schemamig:parents"))
		{
			char	   *list = xstrndup(q + 20, p + len - q - 20);
			char	   *tok;

			rev->parents_given = true;
			rev->nparents = 0;
			rev->parents = xmalloc(sizeof(char *) * (strlen(list) / 2 + 2));
			for (tok = strtok(list, " \t\r,"); tok; tok = strtok(NULL, " \t\r,"))
				rev->parents[rev->nparents++] = xstrdup(tok);
		}
		else if (line_is_marker(q, p + len - q, "-- schemamig:message"))
		{
			const char *m = q + 20;
			size_t		ml;

			while (*m == ' ' || *m == '\t')
				m++;
			ml = p + len - m;
			while (ml > 0 && isspace((unsigned char) m[ml - 1]))
				ml--;
			rev->message = xstrndup(m, ml);
		}
		p = eol ? eol + 1 : p + len;
	}
	return 0;
}

static int
parse_marked(Revision *rev, const char *text, const char *up, const char *down)
{
	if (!split_sections(text, up, down, &rev->upgrade, &rev->downgrade, NULL))
	{
		fprintf(stderr, "schemamig: %s: no \"%s\" line\n", rev->path, up);
		return -1;
	}
	if (rev->downgrade && is_blank_sql(rev->downgrade))
	{
		free(rev->downgrade);
		rev->downgrade = NULL;
	}
	return 0;
}

static bool
contains_marker(const char *text, const char *marker)
{
	const char *p = text;

	while (p && *p)
	{
		const char *eol = strchr(p, '\n');
		size_t		len = eol ? (size_t) (eol - p) : strlen(p);

		while (len > 0 && (p[len - 1] == '\r' || p[len - 1] == ' '))
			len--;
		if (line_is_marker(p, len, marker))
			return true;
		p = eol ? eol + 1 : NULL;
	}
	return false;
}

static Layout
layout_of_text(const char *text)
{
	if (contains_marker(text, "-- migrate:up"))
		return LAYOUT_DBMATE;
	if (contains_marker(text, "-- +migrate Up"))
		return LAYOUT_SQL_MIGRATE;
	return LAYOUT_SCHEMAMIG;
}

static int
parse_text(Revision *rev, const char *text, Layout layout)
{
	switch (layout)
	{
		case LAYOUT_DBMATE:
			return parse_marked(rev, text, "-- migrate:up", "-- migrate:down");
		case LAYOUT_SQL_MIGRATE:
			return parse_marked(rev, text, "-- +migrate Up", "-- +migrate Down");
		default:
			return parse_schemamig(rev, text);
	}
}

/* lint FILE: one file, whatever its layout */
int
read_one_file(const char *path, Revision *rev)
{
	char	   *text = read_text_file(path);
	const char *base = strrchr(path, '/');

	memset(rev, 0, sizeof(*rev));
	rev->path = xstrdup(path);
	base = base ? base + 1 : path;
	rev->id = ends_with(base, ".sql") ? xstrndup(base, strlen(base) - 4) : xstrdup(base);
	if (text == NULL)
	{
		fprintf(stderr, "schemamig: could not read \"%s\": %s\n", path, strerror(errno));
		return -1;
	}
	return parse_text(rev, text, layout_of_text(text));
}

/* ---- ordering ---- */

/* compare two digit strings as numbers */
static int
numcmp(const char *a, size_t la, const char *b, size_t lb)
{
	while (la > 1 && *a == '0')
		a++, la--;
	while (lb > 1 && *b == '0')
		b++, lb--;
	if (la != lb)
		return la < lb ? -1 : 1;
	return strncmp(a, b, la);
}

static size_t
digits(const char *s)
{
	size_t		n = 0;

	while (isdigit((unsigned char) s[n]))
		n++;
	return n;
}

/* Flyway: 1.2.10 vs 1.2.9, parts split by "." or "_", missing parts are 0 */
static int
flyway_cmp(const char *a, const char *b)
{
	while (*a || *b)
	{
		size_t		la = digits(a),
					lb = digits(b);
		int			c;

		c = numcmp(la ? a : "0", la ? la : 1, lb ? b : "0", lb ? lb : 1);
		if (c != 0)
			return c;
		a += la;
		b += lb;
		if (*a == '.' || *a == '_')
			a++;
		if (*b == '.' || *b == '_')
			b++;
		if ((*a && !isdigit((unsigned char) *a)) || (*b && !isdigit((unsigned char) *b)))
			return strcmp(a, b);
	}
	return 0;
}

static int
revision_cmp(const void *x, const void *y)
{
	const Revision *a = x;
	const Revision *b = y;
	int			c = 0;

	switch (sort_layout)
	{
		case LAYOUT_DBMATE:
		case LAYOUT_SQL_MIGRATE:
			{
				size_t		la = digits(a->version),
							lb = digits(b->version);

				if (la && lb)
					c = numcmp(a->version, la, b->version, lb);
				else if (la || lb)
					c = la ? -1 : 1;
				break;
			}
		case LAYOUT_FLYWAY:
			c = flyway_cmp(a->version, b->version);
			break;
		default:
			c = strcmp(a->version, b->version);
			break;
	}
	return c != 0 ? c : strcmp(a->id, b->id);
}

/* ---- the folder ---- */

static bool
is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool
is_file(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* V1.2__name.sql -> "1.2"; NULL if the name is not of that shape */
static char *
flyway_version(const char *name, char prefix)
{
	const char *sep;

	if (name[0] != prefix || !isdigit((unsigned char) name[1]) || !ends_with(name, ".sql"))
		return NULL;
	sep = strstr(name, "__");
	if (sep == NULL)
		return NULL;
	for (const char *p = name + 1; p < sep; p++)
		if (!isdigit((unsigned char) *p) && *p != '.' && *p != '_')
			return NULL;
	return xstrndup(name + 1, sep - name - 1);
}

int
read_folder(const char *dir, Revision **revs_out, int *nrevs_out, Layout *layout_out)
{
	DIR		   *d = opendir(dir);
	struct dirent *de;
	char	  **names = NULL;
	int			nnames = 0,
				cap = 0;
	Layout		layout = LAYOUT_SCHEMAMIG;
	Revision   *revs;
	int			nrevs = 0;
	int			failed = 0;

	if (d == NULL)
	{
		fprintf(stderr, "schemamig: could not open directory \"%s\": %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL)
	{
		if (de->d_name[0] == '.')
			continue;
		if (nnames == cap)
		{
			char	  **bigger;

			cap = cap ? cap * 2 : 64;
			bigger = xmalloc(sizeof(char *) * cap);
			if (names)
				memcpy(bigger, names, sizeof(char *) * nnames);
			free(names);
			names = bigger;
		}
		names[nnames++] = xstrdup(de->d_name);
	}
	closedir(d);

	/* which layout */
	for (int i = 0; i < nnames; i++)
	{
		char	   *full = path_join(dir, names[i]);
		char	   *up = path_join(full, "up.sql");

		if (is_dir(full) && is_file(up))
			layout = LAYOUT_DIESEL;
		else if (layout != LAYOUT_DIESEL && flyway_version(names[i], 'V'))
			layout = LAYOUT_FLYWAY;
		free(full);
		free(up);
	}
	if (layout == LAYOUT_SCHEMAMIG)
	{
		for (int i = 0; i < nnames && layout == LAYOUT_SCHEMAMIG; i++)
		{
			char	   *full = path_join(dir, names[i]);
			char	   *text;

			if (ends_with(names[i], ".sql") && is_file(full) &&
				(text = read_text_file(full)) != NULL)
			{
				layout = layout_of_text(text);
				free(text);
			}
			free(full);
		}
	}

	revs = xmalloc(sizeof(Revision) * (nnames + 1));
	for (int i = 0; i < nnames; i++)
	{
		char	   *full = path_join(dir, names[i]);
		Revision   *rev = &revs[nrevs];
		char	   *text = NULL;

		memset(rev, 0, sizeof(*rev));
		if (layout == LAYOUT_DIESEL)
		{
			char	   *up = path_join(full, "up.sql");
			char	   *down = path_join(full, "down.sql");
			const char *us = strchr(names[i], '_');

			if (!is_dir(full) || !is_file(up))
			{
				if (ends_with(names[i], ".sql") || is_dir(full))
					fprintf(stderr, "schemamig: warning: %s is not a diesel migration (no up.sql); skipped\n", full);
				continue;
			}
			rev->id = xstrdup(names[i]);
			rev->path = up;
			rev->upgrade = read_text_file(up);
			if (rev->upgrade == NULL)
			{
				fprintf(stderr, "schemamig: could not read \"%s\": %s\n", up, strerror(errno));
				failed = 1;
				continue;
			}
			rev->downgrade = is_file(down) ? read_text_file(down) : NULL;
			if (rev->downgrade && is_blank_sql(rev->downgrade))
				rev->downgrade = NULL;
			/* 2023-01-01-000000 and 20230101000000 are the same version */
			rev->version = xmalloc(strlen(names[i]) + 1);
			for (const char *p = names[i], *end = us ? us : names[i] + strlen(names[i]); p < end; p++)
				if (*p != '-')
					rev->version[strlen(rev->version)] = *p;
			nrevs++;
			continue;
		}
		if (!ends_with(names[i], ".sql") || !is_file(full))
			continue;
		if (layout == LAYOUT_FLYWAY)
		{
			char	   *version = flyway_version(names[i], 'V');

			if (version == NULL)
			{
				if (flyway_version(names[i], 'U') == NULL)
					fprintf(stderr, "schemamig: warning: %s is not a versioned Flyway migration (V<version>__<name>.sql); skipped\n", full);
				continue;
			}
			rev->version = version;
			for (int j = 0; j < nnames; j++)
			{
				char	   *uv = flyway_version(names[j], 'U');

				if (uv && flyway_cmp(uv, version) == 0)
				{
					char	   *upath = path_join(dir, names[j]);

					rev->downgrade = read_text_file(upath);
					if (rev->downgrade == NULL)
					{
						fprintf(stderr, "schemamig: could not read \"%s\": %s\n", upath, strerror(errno));
						failed = 1;
					}
					else if (is_blank_sql(rev->downgrade))
						rev->downgrade = NULL;
				}
			}
		}
		rev->id = xstrndup(names[i], strlen(names[i]) - 4);
		rev->path = full;
		text = read_text_file(full);
		if (text == NULL)
		{
			fprintf(stderr, "schemamig: could not read \"%s\": %s\n", full, strerror(errno));
			failed = 1;
			continue;
		}
		if (layout == LAYOUT_FLYWAY)
			rev->upgrade = text;
		else
		{
			if (parse_text(rev, text, layout) != 0)
			{
				failed = 1;
				continue;
			}
			rev->version = xstrdup(rev->id);
		}
		nrevs++;
	}

	sort_layout = layout;
	qsort(revs, nrevs, sizeof(Revision), revision_cmp);
	for (int i = 1; i < nrevs; i++)
		if (layout == LAYOUT_FLYWAY && flyway_cmp(revs[i - 1].version, revs[i].version) == 0)
		{
			fprintf(stderr, "schemamig: %s and %s have the same Flyway version %s\n",
					revs[i - 1].path, revs[i].path, revs[i].version);
			failed = 1;
		}

	/* without a parents line: the previous revision in order */
	for (int i = 0; i < nrevs; i++)
	{
		if (revs[i].parents_given)
			continue;
		revs[i].parents = xmalloc(sizeof(char *));
		revs[i].nparents = 0;
		if (i > 0)
			revs[i].parents[revs[i].nparents++] = revs[i - 1].id;
	}
	*revs_out = revs;
	*nrevs_out = nrevs;
	*layout_out = layout;
	return failed ? -1 : 0;
}
