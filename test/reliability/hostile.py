#!/usr/bin/python3
"""Hostile input for register(), lint(), upgrade(), downgrade() and stamp().

Feeds CALLS calls of malformed, huge (10 MB, 10,000 statements), deeply
nested and random scripts and ids.  Every call must end in success or an
error with a SQLSTATE that is not XX000 (internal error); the connection
must survive every call (a lost connection means a crashed backend); a
failed call must leave nothing behind (revisions, applied set, journal and
log unchanged); at the end the catalog invariants hold and the postmaster
is the one that started (checked by the calling script).

Usage: hostile.py DB CALLS SEED
"""
import random
import sys
import time

import psycopg2

from common import connect, q, fail, check_invariants, replay_journal

db, CALLS, SEED = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(SEED)
conn = connect(db)
q(conn, "SET client_min_messages = error")
q(conn, "CREATE EXTENSION IF NOT EXISTS schemamig")
q(conn, "SET statement_timeout = '20s'")
q(conn, "SET schemamig.lock_timeout = '1s'")

KEYWORDS = ("SELECT CREATE TABLE ALTER DROP INDEX ON ADD COLUMN NOT NULL DEFAULT BEGIN COMMIT ROLLBACK "
            "SAVEPOINT DO LANGUAGE FUNCTION RETURNS AS VIEW CONCURRENTLY REFERENCES PRIMARY KEY CHECK "
            "VACUUM INSERT INTO VALUES UPDATE SET DELETE FROM WHERE RENAME TO TYPE USING CASCADE IF EXISTS "
            "COMMENT IS GRANT REVOKE TRIGGER SCHEMA SEQUENCE EXTENSION schemamig pg_sleep").split()
PUNCT = list("();,.'\"$*/-+=<>[]:\\\n\t ") + ["$$", "$a$", "/*", "*/", "--", "E'\\", "U&'", "''", "\"\"", ";;"]
UNICODE = ["é", "☃", "𝔘", "\u200b", "\ufeff", "ß", "Ω", "中文", "\u202e"]


def rand_word():
    x = rng.random()
    if x < 0.5:
        return rng.choice(KEYWORDS)
    if x < 0.8:
        return rng.choice(PUNCT)
    if x < 0.9:
        return rng.choice(UNICODE)
    return "t%d" % rng.randrange(50)


def token_soup():
    return " ".join(rand_word() for _ in range(rng.randrange(1, 40)))


def valid_ddl():
    name = rng.choice(["t%d" % rng.randrange(30), '"q;%d\'x"' % rng.randrange(5), '"é☃%d"' % rng.randrange(5)])
    return rng.choice([
        "CREATE TABLE %s (id int)" % name,
        "CREATE TABLE IF NOT EXISTS %s (id int, v text DEFAULT 'a;b')" % name,
        "DROP TABLE IF EXISTS %s" % name,
        "ALTER TABLE %s ADD COLUMN c%d int" % (name, rng.randrange(9)),
        "COMMENT ON TABLE %s IS $x$%s$x$" % (name, rng.choice(UNICODE) * 3),
        "CREATE INDEX ON %s (id)" % name,
        "CREATE INDEX CONCURRENTLY ON %s (id)" % name,
        "DO $$BEGIN RAISE EXCEPTION 'boom %%', 1; END$$",
        "SELECT 1/0",
        "SELECT pg_sleep(0.001)",
        "CREATE VIEW v%d AS SELECT %d AS x" % (rng.randrange(9), rng.randrange(9)),
        "ALTER TABLE %s RENAME TO %s" % (name, name),
        "ALTER TABLE %s ADD COLUMN z int NOT NULL" % name,
        "DROP TABLE %s" % name,
    ])


def script():
    x = rng.random()
    if x < 0.30:
        return ";\n".join(valid_ddl() for _ in range(rng.randrange(1, 6)))
    if x < 0.55:
        return token_soup()
    if x < 0.62:
        return "SELECT " + "(" * rng.choice([100, 1000, 20000]) + "1" + ")" * rng.choice([0, 100, 20000])
    if x < 0.67:
        return "SELECT " + "+".join(["1"] * rng.choice([1000, 100000]))
    if x < 0.72:
        return "/*" * rng.choice([10, 10000]) + " x " + "*/" * rng.choice([0, 10, 10000])
    if x < 0.77:
        return rng.choice(["'", '"', "$$", "$a$ x $b$", "E'\\", "/*", "U&'\\xyz'", "\\set x 1", "\\gexec"]) + token_soup()
    if x < 0.82:
        return rng.choice(["", " ", ";", ";;;", "-- only a comment", "/* c */", "\n\n"])
    if x < 0.87:
        return "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(1, 300)))
    if x < 0.92:
        return "BEGIN; %s; COMMIT" % valid_ddl()
    return rng.choice([valid_ddl(), token_soup()]) + " -- schemamig:allow " + rng.choice(["drop-table", "x", ""])


def rev_id():
    x = rng.random()
    if x < 0.5:
        return "h%d" % rng.randrange(200)
    if x < 0.8:
        return "".join(rng.choice("aZ09_.:-;'\" é☃\\/$%") for _ in range(rng.randrange(0, 20)))
    return rng.choice(["", "head", "heads", "base", "current", "+1", "-1", "a" * 128, "a" * 129,
                       "a" * 100000, "x'; DROP TABLE t1; --", "\u202eabc", "ok\n", None])


def target():
    return rng.choice(["heads", "head", "base", "+1", "+3", "-1", "-2", "+0", "-0", "+", "-",
                       "+99999999999999999999", "-2147483649", "+1e3", "++1", "", rev_id()])


def parents():
    x = rng.random()
    if x < 0.6:
        return None
    if x < 0.85:
        return [rev_id() for _ in range(rng.randrange(0, 4))]
    return rng.choice([[], [None], ["h1", "h1"], ["h%d" % i for i in range(500)]])


def snapshot():
    return q(conn, "SELECT (SELECT count(*) FROM schemamig.revision), "
                   "(SELECT string_agg(revision || checksum, ',' ORDER BY revision) FROM schemamig.revision), "
                   "(SELECT string_agg(revision, ',' ORDER BY revision) FROM schemamig.applied), "
                   "(SELECT max(id) FROM schemamig.journal), (SELECT max(id) FROM schemamig.ddl_log)")[0]


counts = {}
started = time.time()


def call(kind, sql, args, mutating=True):
    before = snapshot() if mutating else None
    try:
        q(conn, sql, args)
        outcome = "ok"
    except psycopg2.OperationalError as e:
        if e.pgcode in ("57014", "55P03", "53200", "54000", "54001"):  # timeout, lock timeout, out of memory/stack, over a limit (SPEC 54000)
            outcome = e.pgcode
        else:
            fail("%s lost the connection (crashed backend?): %r %s" % (kind, args and str(args)[:200], e))
    except psycopg2.Error as e:
        if e.pgcode is None or e.pgcode.startswith("XX"):
            fail("%s: internal error %s: %s\nargs: %s" % (kind, e.pgcode, e.pgerror, str(args)[:300]))
        outcome = e.pgcode
    if conn.closed:
        fail("%s closed the connection" % kind)
    if mutating and outcome != "ok" and snapshot() != before:
        fail("failed %s (%s) changed the catalog: %s" % (kind, outcome, str(args)[:300]))
    counts[(kind, outcome)] = counts.get((kind, outcome), 0) + 1


# the big ones, once each
big_comment = "COMMENT ON SCHEMA public IS '" + "x" * (10 * 1024 * 1024) + "'"
many = ";\n".join("COMMENT ON SCHEMA public IS 'c%d'" % i for i in range(10000))
many_tables = ";\n".join("CREATE TABLE IF NOT EXISTS big%d (id int)" % i for i in range(10000))
for rid, up in (("big10mb", big_comment), ("many10k", many), ("tables10k", many_tables),
                ("bigsoup", " ".join(rand_word() for _ in range(300000)))):
    call("register", "SELECT schemamig.register(%s, %s, %s)", (rid, up, "SELECT 1"))
    call("lint", "SELECT count(*) FROM schemamig.lint(%s)", (up,), mutating=False)
    call("upgrade", "SELECT count(*) FROM schemamig.upgrade(%s)", (rid,))
    call("downgrade", "SELECT count(*) FROM schemamig.downgrade('base')", None)
n10k = q(conn, "SELECT count(*) FROM schemamig.ddl_log WHERE revision = 'many10k' AND direction = 'upgrade'")[0][0]
if n10k not in (0, 10000):
    fail("the 10,000-statement revision has %d log rows" % n10k)
for rid in ("big10mb", "many10k", "tables10k", "bigsoup"):   # keep them out of the random phase
    call("unregister", "SELECT schemamig.unregister(%s) FROM schemamig.revision WHERE revision = %s", (rid, rid))
print("big inputs done in %.1f s (10 MB script, 10,000 statements: %d log rows)" % (time.time() - started, n10k), flush=True)

for i in range(CALLS):
    x = rng.random()
    if x < 0.40:
        call("register", "SELECT schemamig.register(%s, %s, %s, %s, %s)",
             (rev_id(), script(), rng.choice([None, script(), "SELECT 1"]), parents(),
              rng.choice([None, token_soup(), "☃" * 1000])))
    elif x < 0.65:
        call("lint", "SELECT count(*) FROM schemamig.lint(%s)", (script(),), mutating=False)
    elif x < 0.85:
        call("upgrade", "SELECT count(*) FROM schemamig.upgrade(%s)", (target(),))
    elif x < 0.93:
        call("downgrade", "SELECT count(*) FROM schemamig.downgrade(%s)", (target(),))
    elif x < 0.97:
        call("stamp", "SELECT schemamig.stamp(%s)", (target(),))
    else:
        call("unregister", "SELECT schemamig.unregister(%s)", (rev_id(),))
    if i % 500 == 499:
        check_invariants(conn, "after %d calls" % (i + 1))

check_invariants(conn, "at the end")
summary = {}
for (kind, outcome), n in counts.items():
    summary.setdefault(kind, []).append("%s %d" % (outcome, n))
print("ok: %d hostile calls in %.1f s, every one a success or a clear error, nothing half-written:" %
      (sum(counts.values()), time.time() - started))
for kind in sorted(summary):
    print("   %-10s %s" % (kind, ", ".join(sorted(summary[kind]))))
