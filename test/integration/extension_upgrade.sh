#!/bin/bash
# Extension upgrades: for every released version (a full install script
# schemamig--X.sql among the installed extension files), install it, put a
# migration history on it, run ALTER EXTENSION schemamig UPDATE inside a
# revision (it is DDL), and compare the extension's objects with a fresh
# install of the default version: a catalog description of every member
# object (functions with their definitions, tables with columns, defaults,
# constraints, indexes and triggers, event triggers, ACLs, config dump
# settings).  With only one released version this compares the fresh
# install with itself and checks the history survives the no-op update;
# it does the real comparison as soon as schemamig--A--B.sql exists.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
sharedir=$("${PG_CONFIG:-pg_config}" --sharedir)/extension
default=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$here/../schemamig.control")
versions=$(ls "$sharedir" | sed -n 's/^schemamig--\([^-]*\)\.sql$/\1/p' | sort -V)
[ -n "$versions" ] || { echo "no installed schemamig--X.sql in $sharedir"; exit 1; }
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
fresh=ext_fresh_$$; old=ext_old_$$
trap 'psql -qX -d postgres -c "DROP DATABASE IF EXISTS $fresh WITH (FORCE)" -c "DROP DATABASE IF EXISTS $old WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
psql -qX -d postgres -c "CREATE DATABASE $fresh"
psql -qX -d $fresh -c "CREATE EXTENSION schemamig"
want=$(psql -qXAt -d $fresh -c "$describe")
n=0
for v in $versions; do
	psql -qX -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $old" -c "CREATE DATABASE $old"
	psql -qX -v ON_ERROR_STOP=1 -d $old >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION schemamig VERSION '$v';
SELECT schemamig.register('u1', 'CREATE TABLE u1 (id int)', 'DROP TABLE u1');
SELECT schemamig.register('u2', 'ALTER TABLE u1 ADD COLUMN v text', 'ALTER TABLE u1 DROP COLUMN v');
SELECT * FROM schemamig.upgrade('u1');
BEGIN;
SELECT schemamig.begin_revision('schemamig-update-from-$v');
ALTER EXTENSION schemamig UPDATE;
COMMIT;
SQL
	got=$(psql -qXAt -d $old -c "$describe")
	if [ "$got" != "$want" ]; then
		echo "schemamig $v updated to $default differs from a fresh install:"
		diff <(echo "$want") <(echo "$got") | head -40
		exit 1
	fi
	# the history survived and keeps working
	state=$(psql -qXAt -v ON_ERROR_STOP=1 -d $old -c "SET client_min_messages = warning" \
		-c "SELECT string_agg(revision, ',') FROM schemamig.upgrade()" \
		-c "SELECT string_agg(revision, ',' ORDER BY seq) FROM schemamig.applied" \
		-c "SELECT extversion FROM pg_extension WHERE extname = 'schemamig'")
	[ "$state" = "u2
u1,schemamig-update-from-$v,u2
$default" ] || { echo "history after updating from $v: $state"; exit 1; }
	bad=$(psql -qXAt -d $old -f "$here/reliability/invariants.sql")
	[ -z "$bad" ] || { echo "invariants violated after updating from $v: $bad"; exit 1; }
	n=$((n + 1))
	echo "ok: $v -> $default: extension objects equal a fresh install ($(echo "$want" | wc -l) lines of catalog description), history intact"
done
echo "ok: $n released version(s) checked: $(echo $versions)"
