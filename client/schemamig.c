/*-------------------------------------------------------------------------
 *
 * schemamig.c
 *		The schemamig client program: from a folder of migration files to
 *		a database at its target, with exit codes a pipeline can trust.
 *
 *	schemamig [OPTION]... load DIR			register the folder's revisions
 *	schemamig [OPTION]... deploy DIR [TARGET]	load, then apply up to TARGET
 *	schemamig [OPTION]... status			where the database stands
 *	schemamig [OPTION]... lint FILE...		the migration safety review
 *	schemamig [OPTION]... plan [TARGET]		the locks the pending revisions take
 *	schemamig [OPTION]... verify [REVISION]	upgrade, downgrade, compare, upgrade
 *	schemamig [OPTION]... baseline ID		adopt an existing schema as ID
 *
 * Exit codes: 0 the target was reached (status: nothing pending or
 * partial; lint: no error finding), 1 an error, 2 bad usage, 3 stopped
 * short of the target or a revision is partially applied.
 *
 * Design.  Everything that decides anything runs in the database: the
 * client only reads files, calls schemamig's functions and runs the rows
 * of steps() at top level, so a deploy by this program and one by psql
 * leave the same record.  deploy:
 *	- loads the folder in one transaction (a refused file leaves nothing
 *	  registered), never unregistering what has no file any more (it warns);
 *	- takes the deploy lock, a session-level advisory lock (1935895911, 17)
 *	  that it polls with pg_try_advisory_lock() rather than waits for: a
 *	  waiting session would hold a snapshot, and CREATE INDEX CONCURRENTLY
 *	  in the session that holds the lock waits for old snapshots (the
 *	  deadlock Flyway has).  Two deploys at once therefore run one after
 *	  the other, and the second finds nothing left to do;
 *	- then, until steps(target) is empty: a run of transactional revisions
 *	  is CALL upgrade_each(target), one transaction per revision (so a
 *	  NOT VALID / VALIDATE split keeps its lock benefit, and an interruption
 *	  loses at most the revision being applied); a non-transactional
 *	  revision's rows (begin_step, the statement, run_step, finish_step)
 *	  run one by one in autocommit, which is how an interrupted deploy
 *	  resumes where it stopped;
 *	- finally assert_at(target): exit 0 only when the database is there.
 *
 * IDENTIFICATION
 *		client/schemamig.c
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "libpq-fe.h"

#include "client.h"

#define DEPLOY_LOCK_KEY1	1935895911	/* 'scmg', as the server's locks */
#define DEPLOY_LOCK_KEY2	17

static const char *progname = "schemamig";
static int	verbose = 0;
static bool quiet = false;
static bool show_bar = false;

/* progress of a deploy, fed by the server's "applying X (i/n)" notices */
static int	deploy_total = 0;
static int	deploy_done = 0;
static char deploy_current[256];

static void
usage(FILE *out)
{
	fprintf(out,
			"%s brings a PostgreSQL database to its schema target with the schemamig extension.\n\n"
			"Usage:\n"
			"  %s [OPTION]... load DIR             register the revisions of a folder\n"
			"  %s [OPTION]... deploy DIR [TARGET]  load, then apply up to TARGET (default heads)\n"
			"  %s [OPTION]... status               where the database stands\n"
			"  %s [OPTION]... lint FILE...         review migration files for unsafe operations\n"
			"  %s [OPTION]... plan [TARGET]        locks and rewrites of the pending revisions\n"
			"  %s [OPTION]... verify [REVISION]    check that downgrades restore the schema\n"
			"  %s [OPTION]... baseline ID          adopt the existing schema as revision ID\n\n"
			"Options:\n"
			"  -h, --host=HOST        database server host or socket directory\n"
			"  -p, --port=PORT        database server port\n"
			"  -U, --username=USER    database user name\n"
			"  -d, --dbname=DBNAME    database name or connection string\n"
			"  -q, --quiet            print errors and warnings only\n"
			"  -v, --verbose          print the server's notices too\n"
			"      --no-progress      no progress bar, one line per revision\n"
			"      --help             show this help, then exit\n\n"
			"The PG* environment variables (PGHOST, PGPORT, PGUSER, PGDATABASE, ...) apply.\n"
			"Exit status: 0 target reached, 1 error, 2 usage, 3 stopped short or partial.\n",
			progname, progname, progname, progname, progname, progname, progname, progname);
}

static void
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "%s: ", progname);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry \"%s --help\" for more information.\n", progname);
	exit(EXIT_USAGE);
}

static double
now_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return tv.tv_sec * 1000.0 + tv.tv_usec / 1000.0;
}

/* ---- progress ---- */

static void
progress_show(void)
{
	if (quiet)
		return;
	if (show_bar)
	{
		int			width = 30;
		int			filled = deploy_total > 0 ? deploy_done * width / deploy_total : width;

		fprintf(stderr, "\r[");
		for (int i = 0; i < width; i++)
			fputc(i < filled ? '#' : '.', stderr);
		fprintf(stderr, "] %d/%d %-40.40s", deploy_done, deploy_total, deploy_current);
		fflush(stderr);
	}
}

static void
progress_revision_done(const char *revision, double ms)
{
	deploy_done++;
	if (revision != deploy_current)
		snprintf(deploy_current, sizeof(deploy_current), "%s", revision);
	if (quiet)
		return;
	if (show_bar)
		progress_show();
	else
		fprintf(stderr, "applied %s (%d/%d) %.0f ms\n", revision, deploy_done,
				deploy_total, ms);
}

static void
progress_end(void)
{
	if (show_bar && !quiet)
		fputc('\n', stderr);
}

/* ---- server messages ---- */

static double revision_started;

static void
notice_receiver(void *arg, const PGresult *res)
{
	const char *severity = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	char		rev[256];
	int			i,
				n;

	/* upgrade_each(): "applying X (i/n)" when revision X starts */
	if (msg && sscanf(msg, "applying %255s (%d/%d)", rev, &i, &n) == 3)
	{
		if (deploy_current[0] && revision_started > 0)
			progress_revision_done(deploy_current, now_ms() - revision_started);
		snprintf(deploy_current, sizeof(deploy_current), "%s", rev);
		revision_started = now_ms();
		progress_show();
		if (verbose == 0)
			return;
	}
	/* repairs of harmless edits are worth seeing; other notices with -v */
	if (severity && strcmp(severity, "NOTICE") == 0 && verbose == 0 &&
		!(msg && strncmp(msg, "applied revision", 16) == 0))
		return;
	/* upgrade_each() stopping before a step revision is how deploy works */
	if (msg && strncmp(msg, "stopped before revision", 23) == 0 && verbose == 0)
		return;
	if (severity && (strcmp(severity, "INFO") == 0 || strcmp(severity, "LOG") == 0) && verbose == 0)
		return;
	if (show_bar)
		fputc('\n', stderr);
	fputs(PQresultErrorMessage(res), stderr);
}

static void
print_error(const char *what, PGconn *conn, PGresult *res)
{
	if (show_bar)
		fputc('\n', stderr);
	if (what)
		fprintf(stderr, "%s: %s\n", progname, what);
	fputs(res ? PQresultErrorMessage(res) : PQerrorMessage(conn), stderr);
}

static const char *
sqlstate_of(PGresult *res)
{
	const char *s = PQresultErrorField(res, PG_DIAG_SQLSTATE);

	return s ? s : "";
}

static PGresult *
exec_params(PGconn *conn, const char *sql, int n, const char *const *values)
{
	return PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);
}

/* run sql; on failure print it and exit 1 */
static PGresult *
must(PGconn *conn, const char *sql, int n, const char *const *values, const char *what)
{
	PGresult   *res = exec_params(conn, sql, n, values);
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK)
	{
		print_error(what, conn, res);
		PQfinish(conn);
		exit(EXIT_ERROR);
	}
	return res;
}

static PGconn *
connect_db(const char *host, const char *port, const char *user, const char *dbname)
{
	const char *keywords[6];
	const char *values[6];
	int			k = 0;
	PGconn	   *conn;
	PGresult   *res;

	keywords[k] = "host", values[k++] = host;
	keywords[k] = "port", values[k++] = port;
	keywords[k] = "user", values[k++] = user;
	keywords[k] = "dbname", values[k++] = dbname;
	keywords[k] = "fallback_application_name", values[k++] = "schemamig";
	keywords[k] = NULL, values[k] = NULL;
	conn = PQconnectdbParams(keywords, values, 1);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "%s: %s", progname, conn ? PQerrorMessage(conn) : "out of memory\n");
		exit(EXIT_ERROR);
	}
	PQsetNoticeReceiver(conn, notice_receiver, NULL);
	res = must(conn, "SELECT extversion FROM pg_catalog.pg_extension WHERE extname = 'schemamig'",
			   0, NULL, NULL);
	if (PQntuples(res) == 0)
	{
		fprintf(stderr, "%s: the extension schemamig is not installed in database \"%s\"\n"
				"HINT:  Run CREATE EXTENSION schemamig; as the database owner.\n",
				progname, PQdb(conn));
		PQfinish(conn);
		exit(EXIT_ERROR);
	}
	PQclear(res);
	return conn;
}

/* {a,b} with every element double-quoted */
static char *
text_array(char **items, int n)
{
	size_t		len = 3;
	char	   *out,
			   *p;

	for (int i = 0; i < n; i++)
		len += 2 * strlen(items[i]) + 3;
	out = p = xmalloc(len);
	*p++ = '{';
	for (int i = 0; i < n; i++)
	{
		if (i > 0)
			*p++ = ',';
		*p++ = '"';
		for (const char *s = items[i]; *s; s++)
		{
			if (*s == '"' || *s == '\\')
				*p++ = '\\';
			*p++ = *s;
		}
		*p++ = '"';
	}
	*p++ = '}';
	*p = '\0';
	return out;
}

static void deploy_lock(PGconn *conn);

/* ---- load ---- */

static int
cmd_load(PGconn *conn, const char *dir)
{
	Revision   *revs;
	int			nrevs;
	Layout		layout;
	PGresult   *res;

	if (read_folder(dir, &revs, &nrevs, &layout) != 0)
		return EXIT_ERROR;
	PQclear(must(conn, "BEGIN", 0, NULL, NULL));
	res = must(conn, "SELECT revision, kind FROM schemamig.history()", 0, NULL, NULL);

	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *id = PQgetvalue(res, i, 0);
		const char *kind = PQgetvalue(res, i, 1);
		bool		found = false;

		for (int j = 0; j < nrevs && !found; j++)
			found = strcmp(revs[j].id, id) == 0;
		if (!found && strcmp(kind, "sql") == 0)
			fprintf(stderr, "%s: warning: revision \"%s\" is registered but has no file in %s; load keeps it\n",
					progname, id, dir);
	}

	for (int i = 0; i < nrevs; i++)
	{
		Revision   *rev = &revs[i];
		const char *values[5];
		PGresult   *r;
		bool		baseline = false;

		for (int j = 0; j < PQntuples(res); j++)
			if (strcmp(PQgetvalue(res, j, 0), rev->id) == 0 &&
				strcmp(PQgetvalue(res, j, 1), "baseline") == 0)
				baseline = true;
		if (baseline)
		{
			if (verbose)
				fprintf(stderr, "%s: %s: revision \"%s\" is the database's baseline; its file is not loaded\n",
						progname, rev->path, rev->id);
			continue;
		}
		values[0] = rev->id;
		values[1] = rev->upgrade;
		values[2] = rev->downgrade;
		values[3] = text_array(rev->parents, rev->nparents);
		values[4] = rev->message;
		r = exec_params(conn, "SELECT schemamig.register($1, $2, $3, $4::text[], $5)",
						5, values);
		if (PQresultStatus(r) != PGRES_TUPLES_OK)
		{
			char		what[1024];

			snprintf(what, sizeof(what), "%s: could not load revision \"%s\"", rev->path, rev->id);
			print_error(what, conn, r);
			return EXIT_ERROR;
		}
		PQclear(r);
		free((char *) values[3]);
	}
	PQclear(res);
	PQclear(must(conn, "COMMIT", 0, NULL, NULL));
	if (!quiet)
		fprintf(stderr, "loaded %d revisions from %s (%s layout)\n", nrevs, dir, layout_name(layout));
	return EXIT_REACHED;
}

/* ---- deploy ---- */

static void
deploy_lock(PGconn *conn)
{
	bool		said = false;
	char		key1[16],
				key2[16];
	const char *values[2] = {key1, key2};

	snprintf(key1, sizeof(key1), "%d", DEPLOY_LOCK_KEY1);
	snprintf(key2, sizeof(key2), "%d", DEPLOY_LOCK_KEY2);
	for (;;)
	{
		PGresult   *res = must(conn, "SELECT pg_catalog.pg_try_advisory_lock($1::int4, $2::int4)",
							   2, values, NULL);
		bool		got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;

		PQclear(res);
		if (got)
			return;
		if (!said && !quiet)
		{
			res = must(conn, "SELECT pid FROM pg_catalog.pg_locks WHERE locktype = 'advisory' "
					   "AND classid = $1::oid AND objid = $2::oid AND objsubid = 2 AND granted",
					   2, values, NULL);
			fprintf(stderr, "waiting for another deploy (pid %s) to finish\n",
					PQntuples(res) ? PQgetvalue(res, 0, 0) : "?");
			PQclear(res);
			said = true;
		}
		usleep(200 * 1000);
	}
}

/* the revision id a row of steps() names, or NULL */
static char *
row_revision(const char *row, const char *function)
{
	char		prefix[64];
	const char *p;
	const char *end;

	snprintf(prefix, sizeof(prefix), "SELECT schemamig.%s('", function);
	if (strncmp(row, prefix, strlen(prefix)) != 0)
		return NULL;
	p = row + strlen(prefix);
	end = strchr(p, '\'');
	return end ? xstrndup(p, end - p) : NULL;
}

static int
count_pending(PGconn *conn, const char *target)
{
	const char *values[1] = {target};
	PGresult   *res = must(conn, "SELECT pg_catalog.count(*) FROM schemamig.pending($1)",
						   1, values, NULL);
	int			n = atoi(PQgetvalue(res, 0, 0));

	PQclear(res);
	return n;
}

static int
cmd_deploy(PGconn *conn, const char *target)
{
	const char *values[1] = {target};
	int			rounds = 0;
	char	   *last_first = NULL;
	PGresult   *res;

	deploy_total = count_pending(conn, target);
	deploy_done = 0;
	if (deploy_total == 0 && !quiet)
		fprintf(stderr, "nothing to deploy\n");

	for (;;)
	{
		int			nrows;
		char	  **rows;
		int			k;

		res = must(conn, "SELECT * FROM schemamig.steps($1)", 1, values, NULL);
		nrows = PQntuples(res);
		if (nrows == 0)
		{
			PQclear(res);
			break;
		}
		rows = xmalloc(sizeof(char *) * nrows);
		for (int i = 0; i < nrows; i++)
			rows[i] = xstrdup(PQgetvalue(res, i, 0));
		PQclear(res);

		/* no progress since the last round: stop short */
		if (last_first && strcmp(last_first, rows[0]) == 0 && ++rounds > 2)
		{
			progress_end();
			fprintf(stderr, "%s: deploy made no progress at: %s\n", progname, rows[0]);
			return EXIT_SHORT;
		}
		free(last_first);
		last_first = xstrdup(rows[0]);

		if (strncmp(rows[0], "CALL schemamig.upgrade_each(", 28) == 0 ||
			row_revision(rows[0], "upgrade"))
		{
			/* a run of transactional revisions: one transaction each */
			deploy_current[0] = '\0';
			revision_started = 0;
			res = exec_params(conn, "CALL schemamig.upgrade_each($1)", 1, values);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
			{
				char		what[512];

				snprintf(what, sizeof(what), "revision \"%s\" failed", deploy_current);
				print_error(what, conn, res);
				return EXIT_ERROR;
			}
			if (deploy_current[0] && revision_started > 0)
				progress_revision_done(deploy_current, now_ms() - revision_started);
			deploy_current[0] = '\0';
			PQclear(res);
			continue;
		}

		/* a non-transactional revision: its rows up to finish_step, at top level */
		for (k = 0; k < nrows; k++)
		{
			char	   *finished = row_revision(rows[k], "finish_step");
			char	   *begun = row_revision(rows[k], "begin_step");
			double		started = now_ms();

			if (strncmp(rows[k], "CALL schemamig.upgrade_each(", 28) == 0 ||
				row_revision(rows[k], "upgrade"))
				break;
			if (begun)
			{
				snprintf(deploy_current, sizeof(deploy_current), "%s", begun);
				progress_show();
			}
			if (verbose > 1)
				fprintf(stderr, "%s\n", rows[k]);
			res = PQexec(conn, rows[k]);
			if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK)
			{
				char		what[512];

				snprintf(what, sizeof(what), "step of revision \"%s\" failed: %.200s",
						 deploy_current, rows[k]);
				print_error(what, conn, res);
				return EXIT_ERROR;
			}
			PQclear(res);
			if (finished)
			{
				const char *v[1] = {finished};

				/* skipped steps (another session runs them) finish nothing */
				res = must(conn, "SELECT pg_catalog.count(*) FROM schemamig.applied "
						   "WHERE revision = $1", 1, v, NULL);
				if (strcmp(PQgetvalue(res, 0, 0), "1") == 0)
					progress_revision_done(finished, now_ms() - started);
				PQclear(res);
				break;
			}
		}
	}
	progress_end();

	res = exec_params(conn, "SELECT schemamig.assert_at($1)", 1, values);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		print_error(NULL, conn, res);
		return strcmp(sqlstate_of(res), "SM009") == 0 ? EXIT_SHORT : EXIT_ERROR;
	}
	PQclear(res);
	if (!quiet)
		fprintf(stderr, "database is at %s\n", target);
	return EXIT_REACHED;
}

/* ---- status, plan, verify, lint, baseline ---- */

static void
print_expanded(PGresult *res)
{
	for (int i = 0; i < PQntuples(res); i++)
		for (int j = 0; j < PQnfields(res); j++)
			printf("%-24s %s\n", PQfname(res, j), PQgetisnull(res, i, j) ? "" : PQgetvalue(res, i, j));
}

static int
cmd_status(PGconn *conn)
{
	PGresult   *res = must(conn, "SELECT * FROM schemamig.status()", 0, NULL, NULL);
	int			pending = atoi(PQgetvalue(res, 0, PQfnumber(res, "pending")));
	int			pcol = PQfnumber(res, "partial");
	bool		partial = pcol >= 0 && !PQgetisnull(res, 0, pcol) &&
		strcmp(PQgetvalue(res, 0, pcol), "{}") != 0;

	print_expanded(res);
	PQclear(res);
	return (pending > 0 || partial) ? EXIT_SHORT : EXIT_REACHED;
}

static void
print_table(PGresult *res)
{
	int			nf = PQnfields(res);
	int		   *width = xmalloc(sizeof(int) * nf);

	for (int j = 0; j < nf; j++)
	{
		width[j] = strlen(PQfname(res, j));
		for (int i = 0; i < PQntuples(res); i++)
		{
			int			w = PQgetlength(res, i, j);

			if (w > 60)
				w = 60;
			if (w > width[j])
				width[j] = w;
		}
	}
	for (int j = 0; j < nf; j++)
		printf("%s%-*s", j ? " | " : "", width[j], PQfname(res, j));
	printf("\n");
	for (int i = 0; i < PQntuples(res); i++)
	{
		for (int j = 0; j < nf; j++)
		{
			char	   *v = PQgetvalue(res, i, j);
			char		cell[61];
			int			l = 0;

			for (; v[l] && l < 60; l++)
				cell[l] = (v[l] == '\n' || v[l] == '\t') ? ' ' : v[l];
			cell[l] = '\0';
			printf("%s%-*s", j ? " | " : "", width[j], cell);
		}
		printf("\n");
	}
	free(width);
}

static int
cmd_plan(PGconn *conn, const char *target)
{
	const char *values[1] = {target};
	PGresult   *res = must(conn, "SELECT revision, statement_no, strongest_lock, "
						   "pg_catalog.array_to_string(rewrites, ',') AS rewrites, statement "
						   "FROM schemamig.plan($1)", 1, values, NULL);

	print_table(res);
	PQclear(res);
	return EXIT_REACHED;
}

static int
cmd_verify(PGconn *conn, const char *revision)
{
	const char *values[1] = {revision};
	PGresult   *res = must(conn, "SELECT * FROM schemamig.verify($1)", 1, values, NULL);
	int			failed = 0;

	print_table(res);
	for (int i = 0; i < PQntuples(res); i++)
		for (int j = 1; j <= 4; j++)
			if (strcmp(PQgetvalue(res, i, j), "f") == 0)
				failed = 1;
	PQclear(res);
	return failed ? EXIT_ERROR : EXIT_REACHED;
}

/* rules allowed by "-- schemamig:allow RULE" comments, as register does */
static bool
allowed(const char *script, const char *rule)
{
	const char *p = script;
	size_t		lr = strlen(rule);

	while ((p = strstr(p, "-- schemamig:allow")) != NULL)
	{
		const char *q = p + 18;

		while (*q && *q != '\n')
		{
			while (*q == ' ' || *q == '\t' || *q == ',')
				q++;
			if (strncmp(q, rule, lr) == 0 &&
				(q[lr] == '\0' || q[lr] == '\n' || q[lr] == ' ' || q[lr] == ',' || q[lr] == '\r'))
				return true;
			while (*q && *q != '\n' && *q != ' ' && *q != ',')
				q++;
		}
		p = q;
	}
	return false;
}

static int
cmd_lint(PGconn *conn, int nfiles, char **files)
{
	int			errors = 0;

	for (int f = 0; f < nfiles; f++)
	{
		Revision	rev;
		const char *values[1];
		PGresult   *res;

		if (read_one_file(files[f], &rev) != 0)
			return EXIT_ERROR;
		values[0] = rev.upgrade;
		res = exec_params(conn, "SELECT rule, severity, statement_no, message, hint "
						  "FROM schemamig.lint($1)", 1, values);
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			char		what[1024];

			snprintf(what, sizeof(what), "%s: could not lint", files[f]);
			print_error(what, conn, res);
			errors++;
			PQclear(res);
			continue;
		}
		for (int i = 0; i < PQntuples(res); i++)
		{
			const char *rule = PQgetvalue(res, i, 0);
			const char *severity = PQgetvalue(res, i, 1);

			if (allowed(rev.upgrade, rule))
				continue;
			if (strcmp(severity, "error") == 0)
				errors++;
			printf("%s:%s: %s: %s: %s\n", files[f], PQgetvalue(res, i, 2), severity, rule,
				   PQgetvalue(res, i, 3));
			if (!PQgetisnull(res, i, 4) && *PQgetvalue(res, i, 4))
				printf("  hint: %s\n", PQgetvalue(res, i, 4));
		}
		PQclear(res);
	}
	return errors ? EXIT_ERROR : EXIT_REACHED;
}

static int
cmd_baseline(PGconn *conn, const char *id)
{
	const char *values[1] = {id};

	PQclear(must(conn, "SELECT schemamig.baseline($1)", 1, values, NULL));
	if (!quiet)
		fprintf(stderr, "database baselined at %s\n", id);
	return EXIT_REACHED;
}

int
main(int argc, char **argv)
{
	static struct option long_options[] = {
		{"host", required_argument, NULL, 'h'},
		{"port", required_argument, NULL, 'p'},
		{"username", required_argument, NULL, 'U'},
		{"dbname", required_argument, NULL, 'd'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"no-progress", no_argument, NULL, 1},
		{"help", no_argument, NULL, 2},
		{NULL, 0, NULL, 0}
	};
	const char *host = NULL,
			   *port = NULL,
			   *user = NULL,
			   *dbname = NULL;
	bool		no_progress = false;
	const char *cmd;
	int			nargs;
	char	  **args;
	PGconn	   *conn;
	int			rc;
	int			c;

	while ((c = getopt_long(argc, argv, "h:p:U:d:qv", long_options, NULL)) != -1)
	{
		switch (c)
		{
			case 'h':
				host = optarg;
				break;
			case 'p':
				port = optarg;
				break;
			case 'U':
				user = optarg;
				break;
			case 'd':
				dbname = optarg;
				break;
			case 'q':
				quiet = true;
				break;
			case 'v':
				verbose++;
				break;
			case 1:
				no_progress = true;
				break;
			case 2:
				usage(stdout);
				return EXIT_REACHED;
			default:
				fprintf(stderr, "Try \"%s --help\" for more information.\n", progname);
				return EXIT_USAGE;
		}
	}
	if (optind >= argc)
		usage_error("%s", "no command given");
	cmd = argv[optind];
	args = argv + optind + 1;
	nargs = argc - optind - 1;
	show_bar = !no_progress && isatty(fileno(stderr));

#define NEED_ARGS(min, max) \
	do { \
		if (nargs < (min) || nargs > (max)) \
			usage_error("wrong number of arguments for \"%s\"", cmd); \
	} while (0)

	if (strcmp(cmd, "load") == 0)
		NEED_ARGS(1, 1);
	else if (strcmp(cmd, "deploy") == 0)
		NEED_ARGS(1, 2);
	else if (strcmp(cmd, "status") == 0)
		NEED_ARGS(0, 0);
	else if (strcmp(cmd, "lint") == 0)
		NEED_ARGS(1, 100000);
	else if (strcmp(cmd, "plan") == 0 || strcmp(cmd, "verify") == 0)
		NEED_ARGS(0, 1);
	else if (strcmp(cmd, "baseline") == 0)
		NEED_ARGS(1, 1);
	else
		usage_error("unknown command \"%s\"", cmd);

	if (strcmp(cmd, "deploy") == 0 && nargs > 1 && (args[1][0] == '+' || args[1][0] == '-'))
		usage_error("deploy takes a revision id, \"head\" or \"heads\" as its target, not \"%s\"", args[1]);

	conn = connect_db(host, port, user, dbname);
	if (strcmp(cmd, "load") == 0)
	{
		deploy_lock(conn);
		rc = cmd_load(conn, args[0]);
	}
	else if (strcmp(cmd, "deploy") == 0)
	{
		deploy_lock(conn);
		rc = cmd_load(conn, args[0]);
		if (rc == EXIT_REACHED)
			rc = cmd_deploy(conn, nargs > 1 ? args[1] : "heads");
	}
	else if (strcmp(cmd, "status") == 0)
		rc = cmd_status(conn);
	else if (strcmp(cmd, "lint") == 0)
		rc = cmd_lint(conn, nargs, args);
	else if (strcmp(cmd, "plan") == 0)
		rc = cmd_plan(conn, nargs ? args[0] : "heads");
	else if (strcmp(cmd, "verify") == 0)
		rc = cmd_verify(conn, nargs ? args[0] : NULL);
	else
		rc = cmd_baseline(conn, args[0]);
	PQfinish(conn);
	return rc;
}
