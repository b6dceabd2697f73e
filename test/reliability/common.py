"""Helpers shared by the Python reliability tests (psycopg2, no PyPI).

Connections use the libpq environment (PGHOST, PGPORT, PGUSER) that
test/lib.sh exports, so the tests run against whatever cluster run.sh or
the calling script started.
"""
import os
import sys

import psycopg2
import psycopg2.extensions

HERE = os.path.dirname(os.path.abspath(__file__))
INVARIANTS = open(os.path.join(HERE, "invariants.sql")).read()


def connect(db, autocommit=True, **kw):
    conn = psycopg2.connect(dbname=db, **kw)
    conn.autocommit = autocommit
    return conn


def q(conn, sql, args=None):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall() if cur.description else None


def invariant_violations(conn):
    return [r[0] for r in q(conn, INVARIANTS)]


def fail(msg):
    print("FAILED: " + msg, flush=True)
    sys.exit(1)


def check_invariants(conn, where=""):
    bad = invariant_violations(conn)
    if bad:
        fail("catalog invariants violated %s:\n  %s" % (where, "\n  ".join(bad[:20])))


def graph(conn):
    """revision -> parents, in registration order"""
    return {r: list(p) for r, p in q(conn, "SELECT revision, parents FROM schemamig.revision ORDER BY seq")}


def ancestors(parents, rev):
    seen, todo = set(), [rev]
    while todo:
        for p in parents[todo.pop()]:
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return seen


def replay_journal(conn, count_ddl=True):
    """Replays the journal over the registered graph and checks that no
    revision was ever applied twice (or reverted while not applied), that
    each event kept the applied set closed, that every upgrade/downgrade
    event has its statements in the DDL log in the same transaction, and
    that the result is the applied set.  Stamp targets must be ids or
    'base'.  count_ddl: every statement of every script is DDL, so the log
    must have exactly one row per statement.  Returns the number of events."""
    parents = graph(conn)
    children = {r: set() for r in parents}
    for r, ps in parents.items():
        for p in ps:
            children[p].add(r)
    logged = {}
    for rev, direction, xid, n in q(conn, "SELECT revision, direction, xid::text, count(*) FROM schemamig.ddl_log "
                                          "WHERE direction IN ('upgrade', 'downgrade') GROUP BY 1, 2, 3"):
        logged[(rev, direction, xid)] = n
    nstatements = {r: (u, d) for r, u, d in q(conn, "SELECT revision, upgrade_statements, downgrade_statements "
                                                    "FROM schemamig.revision")}
    applied = set()
    events = q(conn, "SELECT id, revision, action, target, xid::text FROM schemamig.journal ORDER BY id")
    for jid, rev, action, target, xid in events:
        if action == "upgrade":
            if rev in applied:
                fail("journal event %d applies %s a second time" % (jid, rev))
            if not set(parents[rev]) <= applied:
                fail("journal event %d applies %s before its parents" % (jid, rev))
            applied.add(rev)
        elif action == "downgrade":
            if rev not in applied:
                fail("journal event %d reverts %s, which was not applied" % (jid, rev))
            if children[rev] & applied:
                fail("journal event %d reverts %s while a child is applied" % (jid, rev))
            applied.discard(rev)
        else:
            applied = set() if target == "base" else ancestors(parents, rev) | {rev}
        if count_ddl and action in ("upgrade", "downgrade") and rev in nstatements:
            want = nstatements[rev][0 if action == "upgrade" else 1] or 0
            got = logged.get((rev, action, xid), 0)
            if got != want:
                fail("journal event %d (%s of %s) has %d DDL log rows, its script has %d statements"
                     % (jid, action, rev, got, want))
    actual = {r for (r,) in q(conn, "SELECT revision FROM schemamig.applied")}
    if actual != applied:
        fail("journal replay gives %s, applied set is %s" % (sorted(applied ^ actual), "different"))
    return len(events)
