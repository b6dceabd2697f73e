#!/usr/bin/python3
"""Concurrency: many sessions migrating one database at once.

1. ROUNDS rounds of 8 sessions calling upgrade() at the same instant (a
   barrier) with mixed targets over a 50-revision history with branches and
   merges; between rounds, downgrade to base.  Every revision is applied by
   exactly one session per round, the applied set is closed, the journal,
   the DDL log and the tables agree.
2. A race of 8 sessions doing random upgrade / downgrade / stamp / register
   for RACE_OPS operations each.  Every call succeeds or fails with one of
   schemamig's SQLSTATEs; replaying the journal proves no revision was ever
   applied twice or reverted while unapplied, and that the DDL log has each
   event's statements.
3. REPEATABLE READ and SERIALIZABLE callers whose snapshot predates a
   concurrent migration get a serialization failure (40001), never a
   migration computed from a stale applied set; then the same race as 2
   with such callers.

Part 1 runs in DB with plain scripts (a second CREATE TABLE would fail
loudly); parts 2 and 3 in RACE_DB, whose scripts are idempotent (CREATE
TABLE IF NOT EXISTS / DROP TABLE IF EXISTS) because stamp() moves the
applied set without running them: there, double application is detected by
replaying the journal, not by an error.

Usage: concurrency.py DB RACE_DB [ROUNDS] [RACE_OPS]
"""
import random
import sys
import threading
import time

import psycopg2

from common import connect, q, fail, check_invariants, replay_journal

db, race_db = sys.argv[1], sys.argv[2]
ROUNDS = int(sys.argv[3]) if len(sys.argv) > 3 else 5
RACE_OPS = int(sys.argv[4]) if len(sys.argv) > 4 else 30
SESSIONS = 8
EXPECTED = {"SM003", "SM004"}   # unknown/out-of-range target, several heads

admin = connect(db)
q(admin, "SET client_min_messages = warning")
q(admin, "CREATE EXTENSION IF NOT EXISTS schemamig")

# 50 revisions: a chain with two branch-and-merge diamonds
revs = []
for i in range(1, 51):
    rid = "r%02d" % i
    if i in (22, 37):
        parents = [revs[-2]]             # a sibling of the previous revision
    elif i in (23, 38):
        parents = [revs[-2], revs[-1]]   # merge the two branches
    else:
        parents = [revs[-1]] if revs else []
    q(admin, "SELECT schemamig.register(%s, %s, %s, %s)",
      (rid, "CREATE TABLE t_%s (id int);\nCOMMENT ON TABLE t_%s IS 'rev %s'" % (rid, rid, rid),
       "DROP TABLE t_%s" % rid, parents))
    revs.append(rid)


def tables():
    return {t[2:] for (t,) in q(admin, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 't\\_%'")}


def applied():
    return {r for (r,) in q(admin, "SELECT revision FROM schemamig.applied")}


def run_sessions(fn, n=SESSIONS):
    barrier = threading.Barrier(n)
    results = [None] * n
    errors = []

    def worker(k):
        try:
            conn = connect(db)
            q(conn, "SET client_min_messages = warning")
            results[k] = fn(k, conn, barrier)
            conn.close()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append("session %d: %r" % (k, e))
            try:
                barrier.abort()
            except Exception:  # noqa: BLE001
                pass
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        fail("; ".join(errors))
    return results


# ---- 1. eight sessions, upgrade() at the same instant ----
started = time.time()
targets = ["heads", "+3", "+7", "r25", "r10", "heads", "+1", "r50"]
for rnd in range(ROUNDS):
    random.shuffle(targets)

    def up(k, conn, barrier):
        barrier.wait()
        try:
            return [r[0] for r in q(conn, "SELECT revision FROM schemamig.upgrade(%s)", (targets[k],))]
        except psycopg2.Error as e:
            # "+N" after other sessions applied everything: out of range
            if e.pgcode == "SM003" and targets[k].startswith("+"):
                return []
            raise
    results = run_sessions(up)
    got = [r for res in results for r in res]
    if sorted(got) != sorted(set(got)):
        fail("round %d: a revision was applied by two sessions: %s" % (rnd, sorted(got)))
    if set(got) != set(revs) or applied() != set(revs) or tables() != set(revs):
        fail("round %d: applied %d, applied set %d, tables %d, expected 50"
             % (rnd, len(set(got)), len(applied()), len(tables())))
    check_invariants(admin, "after round %d" % rnd)
    replay_journal(admin)
    q(admin, "SELECT * FROM schemamig.downgrade('base')")
    if applied() or tables():
        fail("downgrade('base') left %s" % sorted(applied() | tables()))
print("ok: %d rounds x %d sessions upgrade() over 50 revisions: each revision applied exactly once per round (%.1f s)"
      % (ROUNDS, SESSIONS, time.time() - started), flush=True)


# ---- 2. upgrade racing downgrade, stamp and register ----
db = race_db
admin = connect(db)
q(admin, "SET client_min_messages = warning")
q(admin, "CREATE EXTENSION IF NOT EXISTS schemamig")
prev = []
for i in range(1, 21):
    rid = "rr%02d" % i
    parents = [prev[-2]] if i == 8 else [prev[-2], prev[-1]] if i == 9 else prev[-1:]
    q(admin, "SELECT schemamig.register(%s, %s, %s, %s)",
      (rid, "CREATE TABLE IF NOT EXISTS t_%s (id int)" % rid, "DROP TABLE IF EXISTS t_%s" % rid, parents))
    prev.append(rid)

def random_op(k, conn, i, rng, tag):
    regs = [r for (r,) in q(conn, "SELECT revision FROM schemamig.revision")]
    x = rng.random()
    if x < 0.40:
        t = rng.choice(["heads", "+1", "+2", "+5", rng.choice(regs)])
        return "upgrade", "SELECT count(*) FROM schemamig.upgrade(%s)", (t,)
    if x < 0.70:
        t = rng.choice(["-1", "-2", "-4", rng.choice(regs)])
        return "downgrade", "SELECT count(*) FROM schemamig.downgrade(%s)", (t,)
    if x < 0.80:
        t = rng.choice(["base", rng.choice(regs)])
        return "stamp", "SELECT schemamig.stamp(%s)", (t,)
    rid = "%s%d_%d" % (tag, k, i)    # never reused: replay needs today's parents to be the historical ones
    parent = rng.choice(regs)
    return ("register", "SELECT schemamig.register(%s, %s, %s, %s)",
            (rid, "CREATE TABLE IF NOT EXISTS t_%s (id int)" % rid, "DROP TABLE IF EXISTS t_%s" % rid, [parent]))


def race(isolation, label, expected_extra=()):
    counts = {}
    lock = threading.Lock()

    def worker(k, conn, barrier):
        rng = random.Random(1000 * k + len(label))
        barrier.wait()
        for i in range(RACE_OPS):
            kind, sql, args = random_op(k, conn, i, rng, {"read committed": "c", "repeatable read": "p", "serializable": "s"}[label])
            if isolation:
                conn.autocommit = False
                q(conn, "SET TRANSACTION ISOLATION LEVEL " + isolation)
                q(conn, "SELECT count(*) FROM schemamig.current()")   # take the snapshot now
                time.sleep(rng.random() * 0.01)
            try:
                q(conn, sql, args)
                if isolation:
                    conn.commit()
                outcome = "ok"
            except psycopg2.Error as e:
                if isolation:
                    conn.rollback()
                if e.pgcode not in EXPECTED and e.pgcode not in expected_extra:
                    raise RuntimeError("%s %s: unexpected error %s: %s" % (kind, args, e.pgcode, e.pgerror))
                outcome = e.pgcode
            finally:
                conn.autocommit = True
            with lock:
                counts[(kind, outcome)] = counts.get((kind, outcome), 0) + 1
    started = time.time()
    run_sessions(worker)
    check_invariants(admin, "after the %s race" % label)
    events = replay_journal(admin)
    summary = ", ".join("%s %s: %d" % (k, o, n) for (k, o), n in sorted(counts.items()))
    print("ok: %s race, %d sessions x %d calls in %.1f s; journal replay of %d events consistent (%s)"
          % (label, SESSIONS, RACE_OPS, time.time() - started, events, summary), flush=True)
    return counts


race(None, "read committed")


# ---- 3. REPEATABLE READ / SERIALIZABLE callers ----
def stale_snapshot_case(isolation, call, args, prepare):
    a = connect(db, autocommit=False)
    b = connect(db)
    q(a, "SET client_min_messages = warning")
    q(b, "SET client_min_messages = warning")
    q(a, "SET TRANSACTION ISOLATION LEVEL " + isolation)
    before = q(a, "SELECT count(*) FROM schemamig.applied")[0][0]
    prepare(b)                     # commits after a's snapshot
    try:
        q(a, call, args)
        a.commit()
        fail("%s caller with a stale snapshot ran %s (applied before: %d)" % (isolation, call, before))
    except psycopg2.Error as e:
        a.rollback()
        if e.pgcode != "40001":
            fail("%s stale caller got %s (%s), expected 40001" % (isolation, e.pgcode, e.pgerror))
    a.close()
    b.close()


q(admin, "SELECT schemamig.stamp('base')")
n = 0
for iso in ("REPEATABLE READ", "SERIALIZABLE"):
    for call, args in (("SELECT * FROM schemamig.upgrade()", None),
                       ("SELECT * FROM schemamig.downgrade('-1')", None),
                       ("SELECT schemamig.stamp('rr05')", None),
                       ("SELECT schemamig.register(%s, 'CREATE TABLE IF NOT EXISTS t_x (id int)', 'DROP TABLE IF EXISTS t_x', '{rr01}')", ("iso%d" % n,))):
        stale_snapshot_case(iso, call, args,
                            lambda b: q(b, "SELECT count(*) FROM schemamig.upgrade('+1')"))
        n += 1
check_invariants(admin, "after the stale-snapshot cases")
print("ok: %d REPEATABLE READ / SERIALIZABLE callers with a stale snapshot got SQLSTATE 40001" % n, flush=True)

for iso in ("REPEATABLE READ", "SERIALIZABLE"):
    c = race(iso, iso.lower(), expected_extra=("40001",))
    if not any(o == "40001" for (_, o) in c):
        print("note: no serialization failure happened in the %s race" % iso.lower())
