#!/bin/bash
# ALTER EXTENSION schemamig UPDATE from the released 0.1.0, for real (SPEC
# "Release and upgrade"):
#
# 1. The 0.1.0 tree (git tag v0.1.0, or its commit when a clone has no
#    tags) is built and installed into this server, and a database gets
#    0.1.0's objects and a migration history written by 0.1.0's library:
#    revisions, an upgrade, a revision opened by hand, a blocked ad-hoc DDL.
# 2. This tree is installed again, as a package update would: its library
#    now runs against the not-yet-updated 0.1.0 objects.  Every function of
#    0.1.0 is called (with NULLs and with ordinary values): each works or
#    fails cleanly, status() and upgrade() refuse with the hint to run
#    ALTER EXTENSION schemamig UPDATE, the guard still blocks DDL, and the
#    server never crashes (its start time does not change).
# 3. ALTER EXTENSION schemamig UPDATE: the extension's objects equal a fresh
#    install (a catalog description of every member), the history is intact
#    and keeps working, the stored fingerprint is now in this release's
#    format with a journal row of action 'baseline', and there is no drift.
#
# 0.1.0 was released for PostgreSQL 15 only (it does not build on 16+).  On
# another major, or without git history, step 1 creates the 0.1.0 objects
# with this tree's library and its schemamig--0.1.0.sql, and no history.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
RELEASE=0.1.0
RELEASE_COMMIT=5fcf6e706da91c6105d043daf1f625809a7e68d7	# git tag v0.1.0
default=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$here/schemamig.control")
PG_CONFIG=${PG_CONFIG:-pg_config}
major=$("$PG_CONFIG" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
q() { PGOPTIONS="-c client_min_messages=warning" psql -qXAt -v ON_ERROR_STOP=1 -d "$1" -c "$2"; }

fresh=ext_fresh_$$; old=ext_old_$$
build=""
cleanup() {
	# this tree's library and scripts back in place, whatever happened
	make -C "$here" -s install >/dev/null 2>&1 || true
	[ -n "$build" ] && rm -rf "$build"
	psql -qX -d postgres -c "DROP DATABASE IF EXISTS $fresh WITH (FORCE)" \
		-c "DROP DATABASE IF EXISTS $old WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# the released tree: the tag, else its commit; checked to be 0.1.0
ref=""
if [ "$major" = 15 ] && command -v git >/dev/null && git -C "$here" rev-parse --git-dir >/dev/null 2>&1; then
	for r in "v$RELEASE^{commit}" "$RELEASE_COMMIT^{commit}"; do
		if c=$(git -C "$here" rev-parse -q --verify "$r" 2>/dev/null); then ref=$c; break; fi
	done
	[ -n "$ref" ] || { echo "neither tag v$RELEASE nor commit $RELEASE_COMMIT is in this clone (fetch with tags)"; exit 1; }
	git -C "$here" show "$ref:schemamig.control" | grep -q "^default_version = '$RELEASE'" ||
		{ echo "$ref is not the $RELEASE release"; exit 1; }
fi

describe='
SELECT string_agg(d, E'"'"'\n'"'"' ORDER BY d) FROM (
  SELECT pg_describe_object(classid, objid, 0) || CASE classid
	WHEN '"'"'pg_proc'"'"'::regclass THEN '"'"' '"'"' || pg_get_functiondef(objid) || coalesce(array_to_string((SELECT proacl FROM pg_proc WHERE oid = objid), '"'"','"'"'), '"'"''"'"')
	WHEN '"'"'pg_class'"'"'::regclass THEN '"'"' '"'"' || (SELECT relkind::text || coalesce(relacl::text, '"'"''"'"') || coalesce((SELECT string_agg(attname::text || '"'"':'"'"' || format_type(atttypid, atttypmod) || attnotnull || coalesce(pg_get_expr(adbin, adrelid), '"'"''"'"'), '"'"','"'"' ORDER BY attnum) FROM pg_attribute LEFT JOIN pg_attrdef ON adrelid = attrelid AND adnum = attnum WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped), '"'"''"'"') || coalesce((SELECT string_agg(pg_get_constraintdef(oid), '"'"','"'"' ORDER BY conname) FROM pg_constraint WHERE conrelid = c.oid), '"'"''"'"') || coalesce((SELECT string_agg(pg_get_indexdef(indexrelid), '"'"','"'"' ORDER BY indexrelid::regclass::text) FROM pg_index WHERE indrelid = c.oid), '"'"''"'"') || coalesce((SELECT string_agg(pg_get_triggerdef(t.oid) || t.tgenabled::text, '"'"','"'"' ORDER BY tgname) FROM pg_trigger t WHERE tgrelid = c.oid AND NOT tgisinternal), '"'"''"'"') FROM pg_class c WHERE c.oid = objid)
	WHEN '"'"'pg_event_trigger'"'"'::regclass THEN '"'"' '"'"' || (SELECT evtevent || evtenabled::text || evtfoid::regproc::text FROM pg_event_trigger WHERE oid = objid)
	ELSE '"'"''"'"' END AS d
  FROM pg_depend WHERE refclassid = '"'"'pg_extension'"'"'::regclass AND deptype = '"'"'e'"'"'
	AND refobjid = (SELECT oid FROM pg_extension WHERE extname = '"'"'schemamig'"'"')
  UNION ALL
  SELECT '"'"'config '"'"' || extconfig::regclass[]::text || coalesce(extcondition::text, '"'"''"'"') || extversion || extrelocatable FROM pg_extension WHERE extname = '"'"'schemamig'"'"'
  UNION ALL
  SELECT '"'"'schema '"'"' || nspowner::regrole || coalesce(nspacl::text, '"'"''"'"') FROM pg_namespace WHERE nspname = '"'"'schemamig'"'"'
) s'
psql -qX -d postgres -c "CREATE DATABASE $fresh" -c "CREATE DATABASE $old"
q $fresh "CREATE EXTENSION schemamig" >/dev/null
want=$(q $fresh "$describe")

# 1. 0.1.0 objects, and a history written by 0.1.0's library ----------------
if [ -n "$ref" ]; then
	build=$(mktemp -d /tmp/schemamig-$RELEASE.XXXXXX)
	git -C "$here" archive "$ref" | tar -x -C "$build"
	# no JIT bitcode: only the library is needed, in half the time
	make -C "$build" -s -j2 PG_CONFIG="$PG_CONFIG" with_llvm=no >"$build/build.log" 2>&1 ||
		{ cat "$build/build.log"; echo "the $RELEASE tree does not build"; exit 1; }
	make -C "$build" -s PG_CONFIG="$PG_CONFIG" with_llvm=no install >/dev/null
	psql -qX -v ON_ERROR_STOP=1 -d $old >/dev/null <<SQL
SET client_min_messages = error;
CREATE EXTENSION schemamig;
SELECT schemamig.register('u1', 'CREATE TABLE u1 (id int PRIMARY KEY)', 'DROP TABLE u1');
SELECT schemamig.register('u2', 'ALTER TABLE u1 ADD COLUMN v text', 'ALTER TABLE u1 DROP COLUMN v');
SELECT schemamig.register('u3', 'CREATE INDEX u1_v ON u1 (v)', 'DROP INDEX u1_v', '{u2}');
SELECT * FROM schemamig.upgrade('u1');
BEGIN;
SELECT schemamig.begin_revision('u1b');
CREATE VIEW u1_ids AS SELECT id FROM u1;
COMMIT;
SQL
	out=$(psql -X -d $old -c "CREATE TABLE adhoc (id int)" 2>&1 || true)
	grep -q "unversioned schema change blocked" <<<"$out" || { echo "$RELEASE guard: $out"; exit 1; }
	history="u1,u1b"
	echo "ok: $RELEASE built from $ref, a database with its history: $(q $old "SELECT count(*) FROM schemamig.revision") revisions, $(q $old "SELECT count(*) FROM schemamig.ddl_log") DDL log rows"
else
	q $old "CREATE EXTENSION schemamig VERSION '$RELEASE'" >/dev/null
	history=""
	echo "ok: $RELEASE objects from schemamig--$RELEASE.sql (PostgreSQL $major: no $RELEASE library to write a history with)"
fi
[ "$(q $old "SELECT extversion FROM pg_extension WHERE extname = 'schemamig'")" = "$RELEASE" ]
log_rows=$(q $old "SELECT count(*) FROM schemamig.ddl_log")
journal_rows=$(q $old "SELECT count(*) FROM schemamig.journal")

# 2. this tree's library against the 0.1.0 objects ---------------------------
make -C "$here" -s install >/dev/null
started=$(q postgres "SELECT pg_postmaster_start_time()")
# every function of 0.1.0 but the trigger functions, with NULLs and with values
calls=$(q $old "
SELECT format('SELECT %s(%s)', p.oid::regproc, coalesce(string_agg(a.val, ', ' ORDER BY a.n), ''))
FROM pg_proc p
JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'schemamig'
CROSS JOIN (VALUES (false), (true)) v(with_values)
LEFT JOIN LATERAL unnest(p.proargtypes::oid[]) WITH ORDINALITY a0(t, n) ON true
LEFT JOIN LATERAL (SELECT a0.n, CASE WHEN NOT v.with_values THEN 'NULL::' || format_type(a0.t, NULL)
	ELSE CASE format_type(a0.t, NULL)
		WHEN 'text' THEN quote_literal('u2') WHEN 'text[]' THEN '''{u1}''::text[]'
		WHEN 'boolean' THEN 'false' WHEN 'integer' THEN '1' WHEN 'bigint' THEN '1'
		ELSE 'NULL::' || format_type(a0.t, NULL) END END AS val) a ON true
WHERE p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype) AND p.prokind = 'f'
GROUP BY p.oid, p.prokind, v.with_values")
n=0
while IFS= read -r call; do
	[ -n "$call" ] || continue
	out=$(psql -X -d $old -v VERBOSITY=verbose -c "SET client_min_messages = warning" -c "$call" 2>&1 || true)
	if grep -qiE "server closed the connection|terminated abnormally|connection to server .* failed" <<<"$out"; then
		echo "crash: $call: $out"; exit 1
	fi
	n=$((n + 1))
done <<<"$calls"
for call in "SELECT * FROM schemamig.status()" "SELECT * FROM schemamig.upgrade()"; do
	out=$(psql -X -d $old -v VERBOSITY=verbose -c "$call" 2>&1 || true)
	grep -q "ERROR:  55000: schemamig's objects in this database are version $RELEASE, its library is version $default" <<<"$out" &&
		grep -q "HINT:  Run ALTER EXTENSION schemamig UPDATE" <<<"$out" ||
		{ echo "$call against $RELEASE objects: $out"; exit 1; }
done
out=$(psql -X -d $old -c "CREATE TABLE adhoc (id int)" 2>&1 || true)
grep -q "unversioned schema change blocked" <<<"$out" || { echo "guard against $RELEASE objects: $out"; exit 1; }
[ "$(q postgres "SELECT pg_postmaster_start_time()")" = "$started" ] || { echo "the server restarted (a crash)"; exit 1; }
echo "ok: the $default library against $RELEASE objects: $n calls of every $RELEASE function, no crash; status() and upgrade() refuse with the hint; the guard blocks DDL"

# 3. ALTER EXTENSION schemamig UPDATE --------------------------------------
q $old "ALTER EXTENSION schemamig UPDATE" >/dev/null
got=$(q $old "$describe")
if [ "$got" != "$want" ]; then
	echo "schemamig $RELEASE updated to $default differs from a fresh install:"
	diff <(echo "$want") <(echo "$got") | head -40
	exit 1
fi
[ "$(q $old "SELECT count(*) FROM schemamig.ddl_log")" = "$log_rows" ] || { echo "DDL log rows lost or added by the update"; exit 1; }
if [ -n "$history" ]; then
	baseline=$(q $old "SELECT count(*) FILTER (WHERE action = 'baseline' AND revision IS NULL AND target = 'fingerprint format ' || (SELECT fingerprint_format FROM schemamig.state)) || ',' || count(*) FROM schemamig.journal")
	[ "$baseline" = "1,$((journal_rows + 1))" ] || { echo "journal after the update (baseline rows, all rows): $baseline"; exit 1; }
	[ "$(q $old "SELECT drift FROM schemamig.status()")" = f ] && [ "$(q $old "SELECT count(*) FROM schemamig.drift()")" = 0 ] ||
		{ echo "drift after the update:"; q $old "SELECT * FROM schemamig.drift()"; exit 1; }
	state=$(q $old "SELECT string_agg(revision, ',' ORDER BY seq) FROM schemamig.applied")
	[ "$state" = "$history" ] || { echo "applied after the update: $state"; exit 1; }
	state=$(q $old "SELECT string_agg(revision, ',') FROM schemamig.upgrade()")
	[ "$state" = "u2,u3" ] || { echo "upgrade after the update applied: $state"; exit 1; }
	[ "$(q $old "SELECT drift FROM schemamig.status()")" = f ] || { echo "drift after upgrading"; exit 1; }
	bad=$(psql -qXAt -d $old -f "$here/test/reliability/invariants.sql")
	[ -z "$bad" ] || { echo "invariants violated after the update: $bad"; exit 1; }
fi
out=$(psql -X -d $old -c "CREATE TABLE adhoc (id int)" 2>&1 || true)
grep -q "unversioned schema change blocked" <<<"$out" || { echo "guard after the update: $out"; exit 1; }
echo "ok: $RELEASE -> $default: objects equal a fresh install ($(echo "$want" | wc -l) lines of catalog description)${history:+; history intact, fingerprint re-baselined in format $(q $old "SELECT fingerprint_format FROM schemamig.state") with a journal row, no drift, upgrade continues}"
