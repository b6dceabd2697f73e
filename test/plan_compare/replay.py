#!/usr/bin/python3
"""plan(execute => false) against plan(execute => true), statement by statement.

Replays statements.jsonl (every statement the test suite runs, see
capture.sh) in scratch databases, one per database the suite used, in the
suite's order.  Each statement becomes a revision of its own, is planned
both ways, unregistered, and then run as it was (schemamig.guard = off) so
the next statement finds the schema the suite left for it.  Where the
prediction is not 'unknown' and the executed plan ran, the two must agree
on the strongest lock per relation and on the set of rewritten tables.

Statements PostgreSQL runs only at top level (CREATE INDEX CONCURRENTLY,
DROP INDEX CONCURRENTLY, REINDEX ... CONCURRENTLY, DETACH ... CONCURRENTLY)
are executed by plan(execute => true) in their plain form (review.c), so
their executed plan is compared with the prediction of the plain form.

Then, in sequence: the statements of each database that ran are planned
again as one revision (sequence_pass), which compares what earlier
statements hold and create as well.

Prints the counts and every disagreement; exits 1 on a disagreement, or
when fewer than 80% of the statements were planned both ways (a replay
that compares nothing proves nothing).
    replay.py statements.jsonl [dbname-prefix]
"""
import json
import os
import re
import sys

import psycopg2

MODES = ["AccessShareLock", "RowShareLock", "RowExclusiveLock",
         "ShareUpdateExclusiveLock", "ShareLock", "ShareRowExclusiveLock",
         "ExclusiveLock", "AccessExclusiveLock"]
TOP_LEVEL = re.compile(r"^\s*(create\s+(unique\s+)?index|drop\s+index|reindex|alter\s+table)\b.*\bconcurrently\b",
                       re.I | re.S)


def scratch_database(acur, made, db, timeout):
    """A new database with schemamig, lint off; its name added to made
    (dropped at the end); returns an autocommit connection and cursor."""
    acur.execute('CREATE DATABASE "%s"' % db)
    made.append(db)
    conn = psycopg2.connect(dbname=db)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SET client_min_messages = error")
    cur.execute("CREATE EXTENSION schemamig")
    cur.execute("SET schemamig.lint = off")
    cur.execute("SET statement_timeout = '%s'" % timeout)
    return conn, cur


def per_relation(locks):
    """{relation: strongest mode} of a locks array."""
    out = {}
    for entry in locks or []:
        rel, mode = entry.rsplit(": ", 1)
        if rel not in out or MODES.index(mode) > MODES.index(out[rel]):
            out[rel] = mode
    return out


def plain_form(sql):
    """The transactional equivalent review.c runs: CONCURRENTLY removed."""
    sql = re.sub(r"\(\s*concurrently(\s+(true|on|1))?\s*\)", "", sql, flags=re.I)
    sql = re.sub(r"\(\s*concurrently(\s+(true|on|1))?\s*,\s*", "(", sql, flags=re.I)
    sql = re.sub(r",\s*concurrently(\s+(true|on|1))?\s*\)", ")", sql, flags=re.I)
    return re.sub(r"\bconcurrently\b", "", sql, flags=re.I)


def sequence_pass(acur, prefix, runs, made, differ):
    """Each group's replayed statements as ONE revision: what earlier
    statements hold (and create) must be accounted for the same way by both
    modes.  A statement the executed plan fails on (it needs a commit
    before it, or a top-level context) is dropped and the revision tried
    again; a group is compared up to its first 'unknown' prediction (the
    locks of an unknown statement are not in the predicted plan's held set)."""
    seq = {"groups": 0, "compared": 0, "dropped": 0}
    for gi, (group, stmts) in enumerate(runs):
        if len(stmts) < 2:
            continue
        conn, cur = scratch_database(acur, made, "%s_seq_%d" % (prefix, gi), "60s")
        keep = list(stmts)
        for _ in range(40):
            parts, index, last_path = [], [], None
            for k, (path, sql) in enumerate(keep):
                if path != last_path:
                    parts.append("SET LOCAL search_path TO %s" % (path or "''"))
                    index.append(None)
                    last_path = path
                parts.append(sql)
                index.append(k)
            try:
                cur.execute("SELECT schemamig.register('g', %s)", ("\n;\n".join(parts),))
            except psycopg2.Error:
                break
            cur.execute("SELECT statement_no, locks, strongest_lock, rewrites "
                        "FROM schemamig.plan() ORDER BY statement_no")
            pred = cur.fetchall()
            try:
                cur.execute("SELECT statement_no, locks, strongest_lock, rewrites "
                            "FROM schemamig.plan(execute => true) ORDER BY statement_no")
                ex = cur.fetchall()
            except psycopg2.Error as err:
                cur.execute("SELECT schemamig.unregister('g')")
                m = re.search(r'revision "g", statement (\d+)', err.diag.context or "")
                k = index[int(m.group(1)) - 1] if m and int(m.group(1)) <= len(index) else None
                if k is None:
                    break
                del keep[k]
                seq["dropped"] += 1
                continue
            cur.execute("SELECT schemamig.unregister('g')")
            seq["groups"] += 1
            for p, e in zip(pred, ex):
                if p[2] == "unknown":
                    break
                k = index[p[0] - 1]
                if k is None:
                    continue
                seq["compared"] += 1
                pl, el = per_relation(p[1]), per_relation(e[1])
                if pl != el or sorted(p[3] or []) != sorted(e[3] or []):
                    differ.append((group + " (in sequence)", k + 1, keep[k][1], pl, el, p[3], e[3]))
            break
        conn.close()
    return seq


def main():
    path = sys.argv[1]
    prefix = sys.argv[2] if len(sys.argv) > 2 else "plan_cmp_%d" % os.getpid()
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    groups = []
    for r in rows:
        if not groups or groups[-1][0] != r["group"]:
            groups.append((r["group"], []))
        groups[-1][1].append(r)

    admin = psycopg2.connect(dbname="postgres")
    admin.autocommit = True
    acur = admin.cursor()
    acur.execute("SELECT rolname FROM pg_roles")
    roles_before = {r[0] for r in acur.fetchall()}
    counts = {"statements": 0, "compared": 0, "unknown": 0, "refused by register()": 0,
              "fail in the executed plan": 0, "no prediction row": 0, "plain form compared": 0,
              "fail when replayed": 0}
    runs = []
    unknown_notes = {}
    exec_errors = {}
    differ = []
    made = []
    try:
        for gi, (group, stmts) in enumerate(groups):
            conn, cur = scratch_database(acur, made, "%s_%d" % (prefix, gi), "20s")
            last_path = None
            replayed = []
            for n, st in enumerate(stmts, 1):
                counts["statements"] += 1
                sql = st["sql"]
                rev = "s%d" % n
                if st["search_path"] != last_path:
                    try:
                        cur.execute("SELECT set_config('search_path', %s, false)", (st["search_path"],))
                    except psycopg2.Error:
                        pass
                    last_path = st["search_path"]
                planned = sql
                plain = bool(TOP_LEVEL.match(sql))
                if plain:
                    planned = plain_form(sql)
                    counts["plain form compared"] += 1
                pred = ex = None
                try:
                    cur.execute("SELECT schemamig.register(%s, %s)", (rev, planned))
                except psycopg2.Error:
                    counts["refused by register()"] += 1
                    rev = None
                if rev is not None:
                    cur.execute("SELECT statement_no, locks, strongest_lock, rewrites, note "
                                "FROM schemamig.plan() ORDER BY statement_no")
                    pred = cur.fetchall()
                    if plain:
                        # the executed plan runs the statement as written
                        cur.execute("SELECT schemamig.unregister(%s)", (rev,))
                        cur.execute("SELECT schemamig.register(%s, %s)", (rev, sql))
                    try:
                        cur.execute("SELECT statement_no, locks, strongest_lock, rewrites "
                                    "FROM schemamig.plan(execute => true) ORDER BY statement_no")
                        ex = cur.fetchall()
                    except psycopg2.Error as err:
                        counts["fail in the executed plan"] += 1
                        msg = (err.pgerror or str(err)).splitlines()[0]
                        exec_errors[msg] = exec_errors.get(msg, 0) + 1
                    cur.execute("SELECT schemamig.unregister(%s)", (rev,))
                if pred is not None and ex is not None:
                    if len(pred) != len(ex) or not pred:
                        counts["no prediction row"] += 1
                    for p, e in zip(pred, ex):
                        if p[2] == "unknown":
                            counts["unknown"] += 1
                            unknown_notes[p[4]] = unknown_notes.get(p[4], 0) + 1
                            continue
                        counts["compared"] += 1
                        pl, el = per_relation(p[1]), per_relation(e[1])
                        if pl != el or sorted(p[3] or []) != sorted(e[3] or []):
                            differ.append((group, n, sql, pl, el, p[3], e[3]))
                try:
                    cur.execute("SET schemamig.guard = off")
                    cur.execute(sql)
                    replayed.append((st["search_path"], planned))
                except psycopg2.Error:
                    counts["fail when replayed"] += 1
                finally:
                    try:
                        cur.execute("RESET schemamig.guard")
                    except psycopg2.Error:
                        pass
            conn.close()
            runs.append((group, replayed))
        seq = sequence_pass(acur, prefix, runs, made, differ)
    finally:
        for db in made:
            acur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % db)
        acur.execute("SELECT rolname FROM pg_roles")
        for role in sorted({r[0] for r in acur.fetchall()} - roles_before):
            try:
                acur.execute('DROP ROLE "%s"' % role.replace('"', '""'))
            except psycopg2.Error as err:
                print("could not drop role %s: %s" % (role, err), file=sys.stderr)
        admin.close()

    print("groups: %d; " % len(groups) + "; ".join("%s: %d" % kv for kv in counts.items()))
    print("in sequence: %(groups)d groups as one revision each, %(compared)d statements "
          "compared, %(dropped)d dropped (they fail inside one transaction)" % seq)
    print("unknown: " + "; ".join("%s: %d" % kv for kv in sorted(unknown_notes.items(), key=lambda kv: -kv[1])))
    for msg, n in sorted(exec_errors.items()):
        print("executed plan failed (%d): %s" % (n, msg))
    for group, n, sql, pl, el, pr, er in differ:
        print("DIFFERS %s #%d: %s\n  predicted %s rewrites %s\n  executed  %s rewrites %s"
              % (group, n, sql.replace("\n", " ")[:200], pl, pr, el, er))
    print("%d differ" % len(differ))
    # the replay must really compare: most statements planned both ways
    covered = counts["compared"] + counts["unknown"]
    if covered < 0.8 * counts["statements"] or seq["compared"] < 0.5 * counts["statements"]:
        print("only %d of %d statements were planned both ways (%d in sequence)"
              % (covered, counts["statements"], seq["compared"]))
        return 1
    return 1 if differ else 0


sys.exit(main())
