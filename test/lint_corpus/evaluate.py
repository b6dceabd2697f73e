#!/usr/bin/env python3
"""Lint figures on a corpus of real-world migration files.

The corpus files are their authors' work and are not committed (see
README.md here): manifest.tsv names each one (repository and path@commit
where known, else the code-index id it was read under).  They are read from
test/lint_corpus/files/<id>.sql, or from the directory in $LINT_CORPUS or
given as the argument:

    PGHOST=... PGPORT=... python3 test/lint_corpus/evaluate.py [options] [DIR]

Options:
  --as-0.1       count drop-column and drop-table findings as errors, as 0.1
                 did (the other 0.2 changes stay), to show the severity change
  --assume-rows  count the figures as if every table the files reference had
                 rows (see below)
  --check        exit 1 unless every error finding is labelled and the
                 error-severity precision is at least 90 %
  --max-refused=P  exit 1 if more than P % of the files that parse are refused

(psql on PATH; the database lint_corpus is created and dropped.)

Each file's upgrade part (the text before "-- migrate:down", "-- +migrate
Down", "-- +goose Down"; a diesel down.sql is a file of its own and not in
the corpus) is linted with schemamig.lint() in an empty database under the
default settings, the way register() of a first revision sees it.  In an
empty database add-column-not-null-no-default is a warning (the table is
not there, so the statement fails only if it has rows when it runs);
--assume-rows counts those findings as errors, which is exactly what lint
says when the table exists and has a row (the rule's only other input: a
table the same script creates gets no finding either way).  Files that do
not parse as PostgreSQL (MySQL, SQLite, templates) are left out and counted.

Printed: files, files that parse, files refused (at least one error
finding, what register() under schemamig.lint = error refuses), every error
finding with its label from labels.tsv, error-severity precision
(true / labelled) and the count of findings by rule.  All the files are
linted in one psql session (a few seconds for 300 files).
"""
import collections
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DOWN = re.compile(r"^\s*--\s*(migrate:down|\+migrate\s+down|\+goose\s+down)\b.*$",
                  re.IGNORECASE | re.MULTILINE)
UP = re.compile(r"^\s*--\s*(migrate:up|\+migrate\s+up|\+goose\s+up)\b.*$",
                re.IGNORECASE | re.MULTILINE)


def upgrade_part(text):
    """The text between the up marker (or the start) and the next down
    marker (or the end): a few files put the down part first"""
    up = UP.search(text)
    start = up.end() if up else 0
    m = DOWN.search(text, start)
    if m:
        text = text[start:m.start()]
    else:
        text = text[start:]
    # goose's StatementBegin/End markers are comments to PostgreSQL
    return text


def read_tsv(name):
    path = os.path.join(HERE, name)
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            rows.append(line.rstrip("\n").split("\t"))
    return rows


def psql(commands, db):
    args = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db,
            "-c", "SET client_min_messages = warning"]
    for c in commands:
        args += ["-c", c]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


TRY_LINT = """
CREATE FUNCTION pg_temp.try_lint(s text)
RETURNS TABLE (rule text, severity text, statement_no int, message text)
LANGUAGE plpgsql AS $f$
BEGIN
    RETURN QUERY SELECT l.rule, l.severity, l.statement_no, l.message FROM schemamig.lint(s) l;
EXCEPTION WHEN OTHERS THEN
    RETURN QUERY SELECT '@@error'::text, ''::text, 0, SQLERRM;
END
$f$;
"""


def lint_all(scripts):
    """{id: (True, [(rule, severity, statement_no, message)]) or (False, error)};
    every file in one psql session"""
    sql = ["SET client_min_messages = error;", TRY_LINT]
    for fid, script in scripts:
        tag = "lintcorpus"
        while ("$%s$" % tag) in script:
            tag += "x"
        sql.append("SELECT '@@file', %s;" % ("$%s$%s$%s$" % (tag, fid, tag)))
        sql.append("SELECT * FROM pg_temp.try_lint($%s$%s$%s$);" % (tag, script, tag))
    p = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                        "-d", "lint_corpus"],
                       input="\n".join(sql) + "\n", capture_output=True, text=True)
    if p.returncode != 0:
        print(p.stderr, file=sys.stderr)
        sys.exit(2)
    out = {}
    current = None
    for line in p.stdout.split("\n"):
        if line.startswith("@@file\t"):
            current = line.split("\t", 1)[1]
            out[current] = (True, [])
        elif line.startswith("@@error\t"):
            out[current] = (False, "ERROR:  " + line.split("\t", 3)[3])
        elif line and current is not None:
            f = line.split("\t", 3)
            out[current][1].append((f[0], f[1], int(f[2] or 0), f[3]))
    return out


def main():
    args = sys.argv[1:]
    as_01 = "--as-0.1" in args
    assume_rows = "--assume-rows" in args
    check = "--check" in args
    max_refused = [float(a.split("=", 1)[1]) for a in args if a.startswith("--max-refused=")]
    dirs = [a for a in args if not a.startswith("--")]
    corpus = dirs[0] if dirs else os.environ.get("LINT_CORPUS", os.path.join(HERE, "files"))
    manifest = read_tsv("manifest.tsv")
    labels = {}
    for row in read_tsv("labels.tsv"):
        labels[(row[0], int(row[1]), row[2])] = (row[3], row[4] if len(row) > 4 else "")
    psql(["DROP DATABASE IF EXISTS lint_corpus", "CREATE DATABASE lint_corpus"], "postgres")
    psql(["CREATE EXTENSION schemamig"], "lint_corpus")

    scripts = []
    for row in manifest:
        path = os.path.join(corpus, row[0] + ".sql")
        if not os.path.exists(path):
            print("missing corpus file %s" % path, file=sys.stderr)
            sys.exit(2)
        with open(path, encoding="utf-8", errors="replace") as f:
            scripts.append((row[0], upgrade_part(f.read())))
    results = lint_all(scripts)

    files = parsed = refused = 0
    per_sample = collections.defaultdict(lambda: [0, 0])  # sample -> [parsed, refused]
    unparsed = []
    by_rule = collections.Counter()
    errors = []
    for row in manifest:
        fid = row[0]
        files += 1
        ok, out = results[fid]
        if not ok:
            unparsed.append((fid, out))
            continue
        parsed += 1
        sample = row[3] if len(row) > 3 else ""
        per_sample[sample][0] += 1
        findings = out
        if as_01:
            findings = [(f[0], "error" if f[0] in ("drop-column", "drop-table") else f[1],
                         f[2], f[3]) for f in findings]
        if assume_rows:
            findings = [(f[0], "error" if f[0] == "add-column-not-null-no-default" else f[1],
                         f[2], f[3]) for f in findings]
        file_errors = [f for f in findings if f[1] == "error"]
        for f in findings:
            by_rule[(f[0], f[1])] += 1
        if file_errors:
            refused += 1
            per_sample[sample][1] += 1
        for f in file_errors:
            errors.append((fid, f[2], f[0], f[3]))

    print("files: %d, parse as PostgreSQL: %d (left out: %d)" % (files, parsed, len(unparsed)))
    for fid, msg in unparsed:
        print("  left out %s: %s" % (fid, msg))
    print("findings by rule:")
    for (rule, sev), n in sorted(by_rule.items(), key=lambda x: (-x[1], x[0])):
        print("  %-32s %-8s %d" % (rule, sev, n))
    true = false = unlabelled = 0
    print("error findings:")
    for fid, no, rule, msg in errors:
        label = labels.get((fid, no, rule))
        if label is None:
            unlabelled += 1
            print("  UNLABELLED %s statement %d %s: %s" % (fid, no, rule, msg))
            continue
        if label[0] == "true":
            true += 1
        else:
            false += 1
        print("  %-5s %s statement %d %s: %s (%s)" % (label[0], fid, no, rule, msg, label[1]))
    labelled = true + false
    print("error-severity precision: %d/%d = %.1f%%" %
          (true, labelled, 100.0 * true / labelled if labelled else 100.0))
    print("refused under the default settings: %d/%d = %.1f%%" %
          (refused, parsed, 100.0 * refused / parsed if parsed else 0.0))
    for sample, (n, r) in sorted(per_sample.items()):
        print("  sample %-8s refused %d/%d = %.1f%%" % (sample, r, n, 100.0 * r / n if n else 0.0))
    psql(["DROP DATABASE lint_corpus"], "postgres")
    if unlabelled:
        sys.exit(1)
    if check and labelled and 100.0 * true / labelled < 90.0:
        print("error-severity precision is below 90 %", file=sys.stderr)
        sys.exit(1)
    if max_refused and parsed and 100.0 * refused / parsed > max_refused[0]:
        print("more than %.1f %% of the files are refused" % max_refused[0], file=sys.stderr)
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()
