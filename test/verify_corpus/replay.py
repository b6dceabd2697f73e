#!/usr/bin/env python3
"""Replay real migration histories through schemamig.verify().

Why: verify() claims the downgrade undoes the upgrade; this measures that claim
on other people's histories (issue #14).  Each history is replayed in order in
a fresh database: register revision i with parent i-1 (lint off), run
verify(rev), then upgrade() for real.  An upgrade that fails (a gap in the
fetched history) is unregistered and the replay goes on from the last revision
that applied.

With --truth every pair is also run by hand in a scratch copy of the database
as it is before the revision (the extension dropped): pg_dump --schema-only
before the upgrade and after upgrade + downgrade, compared.  That comparison is
the ground truth the labels in labels.tsv are checked against.

Usage (PGHOST/PGPORT/PGUSER name a throwaway cluster with schemamig installed):
    replay.py [--truth] [--only REV] FORMAT DIR [FORMAT DIR ...]
FORMAT: sql-migrate ("-- +migrate Up/Down" in one file), updown (<name>.up.sql
and <name>.down.sql), diesel (<name>/up.sql and <name>/down.sql), dbmate
("-- migrate:up/down"), goose ("-- +goose Up/Down").
"""
import difflib
import os
import re
import subprocess
import sys

MARKERS = {
    'sql-migrate': (r'^\s*--\s*\+migrate\s+up\b.*$', r'^\s*--\s*\+migrate\s+down\b.*$'),
    'dbmate': (r'^\s*--\s*migrate:up\b.*$', r'^\s*--\s*migrate:down\b.*$'),
    'goose': (r'^\s*--\s*\+goose\s+up\b.*$', r'^\s*--\s*\+goose\s+down\b.*$'),
}


def natural(name):
    m = re.match(r'(\d+)', name)
    return (int(m.group(1)) if m else -1, name)


def pairs(fmt, d):
    """Yield (revision, up, down) in history order; down None when absent."""
    if fmt in MARKERS:
        upm, downm = (re.compile(x, re.I | re.M) for x in MARKERS[fmt])
        for f in sorted((f for f in os.listdir(d) if f.endswith('.sql')), key=natural):
            t = open(os.path.join(d, f), errors='replace').read()
            m = downm.search(t)
            up = t[:m.start()] if m else t
            down = t[m.end():] if m else None
            up = upm.sub('', up, count=1)
            yield f[:-4], up, down
    elif fmt == 'updown':
        for f in sorted((f for f in os.listdir(d) if f.endswith('.up.sql')), key=natural):
            base = f[:-len('.up.sql')]
            dp = os.path.join(d, base + '.down.sql')
            down = open(dp).read() if os.path.exists(dp) else None
            yield base, open(os.path.join(d, f)).read(), down
    elif fmt == 'diesel':
        for sub in sorted(os.listdir(d), key=natural):
            up = os.path.join(d, sub, 'up.sql')
            if not os.path.exists(up):
                continue
            dp = os.path.join(d, sub, 'down.sql')
            yield sub, open(up).read(), open(dp).read() if os.path.exists(dp) else None
    else:
        sys.exit('unknown format ' + fmt)


def psql(db, sql, single=False, guard_off=False):
    env = dict(os.environ)
    if guard_off:   # the scratch copy runs the scripts by hand, outside a revision
        env['PGOPTIONS'] = env.get('PGOPTIONS', '') + ' -c schemamig.guard=off'
    args = ['psql', '-X', '-At', '-d', db, '-v', 'ON_ERROR_STOP=1', '-F', '\x1f']
    if single:
        args.append('-1')
    r = subprocess.run(args, input=sql, capture_output=True, text=True, env=env)
    return r.returncode, r.stdout.strip(), r.stderr.strip()


def lit(s):
    tag = '$vrf$'
    while tag in s:
        tag = tag[:-1] + 'x$'
    return tag + s + tag


def empty(sql):
    return not re.sub(r'--[^\n]*', '', sql or '').strip(' \t\n;')


def dump(db):
    r = subprocess.run(['pg_dump', '--schema-only', '--no-owner', '-d', db],
                       capture_output=True, text=True)
    return [l for l in r.stdout.splitlines()
            if l.strip() and not l.startswith('--') and not l.startswith('SET ')
            and not l.startswith('SELECT pg_catalog.set_config')
            and not l.startswith('\\restrict') and not l.startswith('\\unrestrict')]


def truth(db, up, down):
    """pg_dump before == after up+down in a scratch copy? (True/False, why)"""
    scratch = db + '_truth'
    psql('postgres', 'DROP DATABASE IF EXISTS %s' % scratch)
    rc, _, err = psql('postgres', 'CREATE DATABASE %s TEMPLATE %s' % (scratch, db))
    if rc:
        return None, 'scratch: ' + err
    try:
        rc, _, err = psql(scratch, 'DROP EXTENSION schemamig CASCADE', guard_off=True)
        if rc:
            return None, 'drop extension: ' + err
        before = dump(scratch)
        top = re.search(r'\bconcurrently\b', up + down, re.I) is not None
        rc, _, err = psql(scratch, up, single=not top, guard_off=True)
        if rc:
            return None, 'up failed by hand: ' + err.splitlines()[-1]
        rc, _, err = psql(scratch, down, single=not top, guard_off=True)
        if rc:
            return False, 'down failed by hand: ' + err.splitlines()[-1]
        after = dump(scratch)
        if before == after:
            return True, ''
        diff = [l for l in difflib.unified_diff(before, after, lineterm='', n=0)
                if l[:1] in '+-' and not l.startswith(('+++', '---'))]
        return False, 'dump differs: %s' % diff[:6]
    finally:
        psql('postgres', 'DROP DATABASE IF EXISTS %s' % scratch)


def replay(fmt, d, want_truth, only, summary):
    name = os.path.basename(os.path.normpath(d))
    db = 'vrf_' + re.sub(r'\W', '_', name).lower()
    psql('postgres', 'DROP DATABASE IF EXISTS %s' % db)
    psql('postgres', 'CREATE DATABASE %s' % db)
    psql(db, 'CREATE EXTENSION schemamig')
    parent = None
    s = summary.setdefault(name, dict(files=0, nodown=0, pairs=0, upgraded=0,
                                      t=0, f=0, null=0, err=0, fails=[], truth={}))
    for rev, up, down in pairs(fmt, d):
        s['files'] += 1
        if down is None:
            print('%s\t%s\tNO-DOWN' % (name, rev))
            s['nodown'] += 1
            continue
        par = 'ARRAY[%s]::text[]' % lit(parent) if parent else "'{}'::text[]"
        rc, _, err = psql(db, 'SET schemamig.lint = off; SELECT schemamig.register(%s, %s, %s, %s);'
                          % (lit(rev), lit(up), lit(down), par))
        if rc:
            print('%s\t%s\tREGISTER-FAILED\t%s' % (name, rev, ' '.join(err.splitlines())[:300]))
            continue
        rc, out, err = psql(db, 'SELECT upgrade_ok, downgrade_ok, restores_schema, reapply_ok, detail '
                            'FROM schemamig.verify(%s);' % lit(rev))
        v = out.split('\x1f') if not rc and out else ['ERR', '', '', '', err]
        tr = (None, '')
        if want_truth and (only is None or only == rev):
            tr = truth(db, up, down)    # a copy of the state before the revision
        rcu, _, erru = psql(db, 'SELECT schemamig.upgrade(%s);' % lit(rev))
        if rcu == 0 and 'cannot run inside a transaction block' in erru:
            # a non-transactional revision: upgrade() stops before it; run its steps
            rcu, _, erru = psql(db, 'SELECT * FROM schemamig.steps(%s) \\gexec' % lit(rev))
        _, pend, _ = psql(db, 'SELECT count(*) FROM schemamig.pending() p WHERE p = %s;' % lit(rev))
        applied = rcu == 0 and pend == '0'
        if applied:
            s['pairs'] += 1
            s['upgraded'] += 1
            key = {'t': 't', 'f': 'f', '': 'null'}.get(v[2], 'err')
            s[key] += 1
            if v[1] == 'f' or v[2] == 'f':
                s['fails'].append((rev, v))
            if tr[0] is not None:
                s['truth'][rev] = (tr[0], 'down-failed' if v[1] == 'f' else v[2])
            parent = rev
        else:
            psql(db, 'SELECT schemamig.unregister(%s);' % lit(rev))
        print('%s\t%s\t%s\t%s\t%s\ttruth=%s %s' % (
            name, rev, 'applied' if applied else 'UPGRADE-FAILED: ' + (erru.splitlines() or [''])[0][:160],
            '|'.join(v[:4]), v[4][:300] if len(v) > 4 else '',
            {True: 'restored', False: 'NOT-restored', None: 'n/a'}[tr[0]], tr[1][:300]))
        sys.stdout.flush()


def main():
    argv = sys.argv[1:]
    want_truth = '--truth' in argv
    argv = [a for a in argv if a != '--truth']
    only = None
    if '--only' in argv:
        i = argv.index('--only')
        only = argv[i + 1]
        del argv[i:i + 2]
    summary = {}
    for i in range(0, len(argv), 2):
        replay(argv[i], argv[i + 1], want_truth, only, summary)
    print('\n== summary ==')
    print('history\tfiles\tno-down\tpairs checked (upgrade ok)\trestores t/f/NULL\terrors')
    tot = dict(pairs=0, t=0, f=0, null=0)
    for name, s in summary.items():
        print('%s\t%d\t%d\t%d\t%d/%d/%d\t%d' % (name, s['files'], s['nodown'], s['pairs'],
                                               s['t'], s['f'], s['null'], s['err']))
        for k in tot:
            tot[k] += s[k]
    print('total pairs %d: restores_schema t %d, f %d, NULL %d' % (tot['pairs'], tot['t'], tot['f'], tot['null']))
    for name, s in summary.items():
        for rev, v in s['fails']:
            print('f\t%s\t%s\tdowngrade_ok=%s restores_schema=%s\t%s' % (name, rev, v[1], v[2], v[4]))
    def agrees(a, b):
        # a down that fails by hand is caught by downgrade_ok = f (restores_schema NULL)
        return (a and b == 't') or (not a and b in ('f', 'down-failed'))
    agree = sum(1 for s in summary.values() for a, b in s['truth'].values() if agrees(a, b))
    checked = sum(len(s['truth']) for s in summary.values())
    if checked:
        print('pg_dump ground truth: %d pairs compared, verify() agrees on %d' % (checked, agree))
        for name, s in summary.items():
            for rev, (a, b) in s['truth'].items():
                if not agrees(a, b):
                    print('disagree\t%s\t%s\tpg_dump %s, restores_schema=%s' % (
                        name, rev, 'restored' if a else 'NOT restored', b or 'NULL'))


if __name__ == '__main__':
    main()
