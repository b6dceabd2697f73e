#!/usr/bin/env python3
"""The statement list of the plan comparison, from a capture (capture.sh).

Reads plan_capture's lines (database OID, database name, pid, search_path,
statement: utility statements and INSERT / UPDATE / DELETE / MERGE) on stdin and writes statements.jsonl: one JSON object per line,
{"group", "search_path", "sql"}, the groups (one per database the suite
used) in the order they first ran a statement, their statements in the
order they completed.  Left out, with a count per reason on stderr:
statements that change the session or the cluster rather than a schema
(transaction control, SET, roles, databases, ALTER SYSTEM, ...), those that
name schemamig (its own objects: the replay makes the extension itself),
and repeats of a text already listed for the same database.
"""
import json
import re
import sys

# first words of statements the replay must not run: session state, the
# cluster (roles are replayed by CREATE ROLE only, dropped again at the
# end), cursors and prepared statements of a client
SKIP = re.compile(
    r"^(begin|start|commit|end|rollback|abort|savepoint|release|prepare|"
    r"set|reset|discard|show|listen|notify|unlisten|checkpoint|load|"
    r"fetch|move|close|declare|deallocate|execute|explain|copy|"
    r"alter\s+system|create\s+database|drop\s+database|alter\s+database|"
    r"alter\s+(role|user|group)|drop\s+(role|user|group)|drop\s+owned|"
    r"reassign\s+owned|create\s+tablespace|drop\s+tablespace|"
    r"alter\s+tablespace|security\s+label|import\s+foreign|"
    r"create\s+(user\s+mapping|server|foreign\s+data)|"
    r"create\s+subscription|create\s+publication|cluster\s*$|"
    r"vacuum\s*$|analyze\s*$|reindex\s+(system|database))\b",
    re.I)
LEADING = re.compile(r"^(\s+|--[^\n]*\n?|/\*.*?\*/)+", re.S)


def unescape(s):
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            out.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(s[i + 1], s[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def main():
    groups = {}
    order = []
    skipped = {"session or cluster": 0, "names schemamig": 0, "repeated": 0, "empty": 0}
    captured = 0
    for line in sys.stdin:
        fields = line.rstrip("\n").split("\t")
        if len(fields) != 5:
            continue
        captured += 1
        dboid, datname, _pid, path, sql = fields
        sql = unescape(sql).strip().rstrip(";").strip()
        body = LEADING.sub("", sql)
        key = (dboid, datname)
        if key not in groups:
            groups[key] = {"texts": set(), "rows": []}
            order.append(key)
        g = groups[key]
        if not body:
            skipped["empty"] += 1
        elif SKIP.match(body):
            skipped["session or cluster"] += 1
        elif re.search(r"\bschemamig\b", sql, re.I):
            skipped["names schemamig"] += 1
        elif sql in g["texts"]:
            skipped["repeated"] += 1
        else:
            g["texts"].add(sql)
            g["rows"].append({"search_path": unescape(path), "sql": sql})
    names = {}
    listed = 0
    for key in order:
        base = re.sub(r"_?[0-9]+$", "", key[1]) or "db"
        names[base] = names.get(base, 0) + 1
        name = base if names[base] == 1 else "%s_%d" % (base, names[base])
        for row in groups[key]["rows"]:
            listed += 1
            print(json.dumps({"group": name, **row}, ensure_ascii=False))
    print("captured %d statements; listed %d; left out: %s" % (
        captured, listed, ", ".join("%d %s" % (n, k) for k, n in skipped.items())),
        file=sys.stderr)


main()
