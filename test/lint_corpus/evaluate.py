#!/usr/bin/env python3
"""Lint figures on a corpus of real-world migration files.

The corpus files themselves are not in this repository (they belong to their
authors); manifest.tsv names each one (repository, path, and the id under
which the file was read) so anyone can fetch them again.  Put the files in a
directory as <id>.sql and run:

    PGHOST=... PGPORT=... python3 test/lint_corpus/evaluate.py [--as-0.1] DIR

--as-0.1 counts drop-column and drop-table findings as errors, as 0.1 did
(the other 0.2 changes stay), to show what the severity change did.

(psql on PATH; the database lint_corpus is created and dropped.)

Each file's upgrade part (the text before "-- migrate:down", "-- +migrate
Down", "-- +goose Down" or a diesel down.sql) is linted with
schemamig.lint() in an empty database under the default settings, the way
register() would lint it before anything else is known.  Files that do not
parse as PostgreSQL (MySQL, SQLite, templates) are left out and counted.

Printed: files, files that parse, files refused (at least one error
finding, what register() under schemamig.lint = error refuses), every error
finding with its label from labels.tsv, error-severity precision
(true / labelled) and the count of findings by rule.  Exit 1 when an error
finding has no label.
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
    m = DOWN.search(text)
    if m:
        text = text[:m.start()]
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
    args = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db]
    for c in commands:
        args += ["-c", c]
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def lint(script):
    """(True, tab-separated findings) or (False, the error's first line)"""
    p = subprocess.run(["psql", "-X", "-q", "-At", "-F", "\t", "-v", "ON_ERROR_STOP=1",
                        "-v", "s=" + script, "-d", "lint_corpus"],
                       input="SET client_min_messages = warning;\n"
                             "SELECT rule, severity, statement_no, message "
                             "FROM schemamig.lint(:'s');\n",
                       capture_output=True, text=True)
    if p.returncode != 0:
        err = [l for l in p.stderr.splitlines() if "ERROR" in l]
        return False, (err[0] if err else p.stderr.strip())
    return True, p.stdout


def main():
    args = sys.argv[1:]
    as_01 = "--as-0.1" in args
    corpus = [a for a in args if a != "--as-0.1"][0]
    manifest = read_tsv("manifest.tsv")
    labels = {}
    for row in read_tsv("labels.tsv"):
        labels[(row[0], int(row[1]), row[2])] = (row[3], row[4] if len(row) > 4 else "")
    psql(["DROP DATABASE IF EXISTS lint_corpus", "CREATE DATABASE lint_corpus"], "postgres")
    psql(["CREATE EXTENSION schemamig"], "lint_corpus")

    files = parsed = refused = 0
    per_sample = collections.defaultdict(lambda: [0, 0])  # sample -> [parsed, refused]
    unparsed = []
    by_rule = collections.Counter()
    errors = []
    for row in manifest:
        fid = row[0]
        path = os.path.join(corpus, fid + ".sql")
        if not os.path.exists(path):
            print("missing corpus file %s" % path, file=sys.stderr)
            sys.exit(2)
        files += 1
        with open(path, encoding="utf-8") as f:
            script = upgrade_part(f.read())
        ok, out = lint(script)
        if not ok:
            unparsed.append((fid, out))
            continue
        parsed += 1
        sample = row[3] if len(row) > 3 else ""
        per_sample[sample][0] += 1
        findings = [tuple(l.split("\t")) for l in out.splitlines() if l]
        findings = [(f[0], f[1], int(f[2] or 0), f[3]) for f in findings]
        if as_01:
            findings = [(f[0], "error" if f[0] in ("drop-column", "drop-table") else f[1],
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
    sys.exit(1 if unlabelled else 0)


if __name__ == "__main__":
    main()
