#!/bin/bash
# Issue #12, every route around the guard, tried by non-superusers on a
# trusted install, with and without full coverage (docs/security.md):
#   owner   the database owner, who ran CREATE EXTENSION (not superuser)
#   deploy  a deploy role: EXECUTE on register/upgrade/begin_revision
#   plain   a role that owns the schema "app" and its tables
# "Without full coverage" a route is tried as the first statement of a new
# session (the library is not loaded yet); docs/security.md lists the
# routes that stay open there and this test asserts exactly those open.
# With session_preload_libraries every route is refused as the first
# statement, and inside a revision the statements are logged.
set -euo pipefail
db=seal_$$; owner=seal_owner_$$; deploy=seal_deploy_$$; plain=seal_plain_$$; heir=seal_heir_$$
psql -qX -d postgres -c "CREATE ROLE $owner LOGIN" -c "CREATE ROLE $deploy LOGIN" \
	-c "CREATE ROLE $plain LOGIN" -c "CREATE ROLE $heir" -c "GRANT $heir TO $plain" \
	-c "CREATE DATABASE $db OWNER $owner"
cleanup() {
	psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
	for r in $owner $deploy $plain $heir; do psql -qX -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null 2>&1 || true; done
}
trap cleanup EXIT
SU() { psql -qXAt -U postgres -d $db -v ON_ERROR_STOP=1 "$@"; }
AS() { local who=$1; shift; psql -qXAt -U "$who" -d $db -v ON_ERROR_STOP=1 "$@"; }
n=0
# refused WHO SQLSTATE SQL...: a new session runs the statements (each -c
# its own); the last must fail with SQLSTATE
refused() {
	local who=$1 state=$2 out
	shift 2
	local args=()
	for s in "$@"; do args+=(-c "$s"); done
	out=$(psql -X -U "$who" -d $db -v ON_ERROR_STOP=1 -v VERBOSITY=verbose "${args[@]}" 2>&1 || true)
	grep -q "ERROR:  $state" <<<"$out" || { echo "FAIL: not refused with $state for $who: $*"; echo "$out"; exit 1; }
	n=$((n + 1))
}
# allowed WHO SQL...: a new session runs the statements without error
allowed() {
	local who=$1
	shift
	local args=()
	for s in "$@"; do args+=(-c "$s"); done
	psql -qX -U "$who" -d $db -v ON_ERROR_STOP=1 "${args[@]}" >/dev/null 2>&1 ||
		{ echo "FAIL: refused for $who: $*"; psql -X -U "$who" -d $db -v ON_ERROR_STOP=1 "${args[@]}"; exit 1; }
	n=$((n + 1))
}
relation() { SU -c "SELECT coalesce(to_regclass('$1')::text, '-')"; }
load="SELECT FROM schemamig.status()"	# any schemamig function loads the library

# --- setup: trusted install by the owner, a deploy role, a plain role's schema
AS $owner -c "CREATE EXTENSION hstore" -c "CREATE EXTENSION schemamig"
AS $owner -c "SET client_min_messages = warning" \
	-c "SELECT schemamig.register('r0', 'CREATE TABLE t (id int PRIMARY KEY, v text); CREATE INDEX t_v ON t (v); CREATE TABLE parent (id int)', 'DROP TABLE t, parent')" \
	-c "SELECT count(*) FROM schemamig.upgrade()" >/dev/null
AS $owner -c "BEGIN" -c "SELECT schemamig.begin_revision('grants')" \
	-c "GRANT EXECUTE ON FUNCTION schemamig.register(text, text, text, text[], text), schemamig.upgrade(text), schemamig.begin_revision(text, text) TO $deploy" \
	-c "GRANT CREATE ON SCHEMA public TO $deploy, $plain" -c "GRANT SELECT ON t, parent TO $plain, $deploy" \
	-c "COMMIT" >/dev/null
SU -c "SET schemamig.guard = off" -c "CREATE SCHEMA app AUTHORIZATION $plain" \
	-c "CREATE TABLE app.p (id int PRIMARY KEY, v text)" -c "CREATE INDEX p_v ON app.p (v)" \
	-c "ALTER TABLE app.p OWNER TO $plain" -c "CLUSTER app.p USING p_pkey" \
	-c "GRANT CREATE ON SCHEMA public TO $heir" -c "GRANT CREATE ON DATABASE $db TO $heir, $plain"
# 0.2: the hand-made setup is drift, accepted once so later upgrade()s run
SU -c "SET client_min_messages = warning" -c "SELECT schemamig.accept_drift('test setup: schema app made by hand')" >/dev/null
echo "ok: trusted install by $owner, deploy role $deploy, $plain owns schema app"

# --- routes 5, 6, 7, 10: no coverage needed
refused $deploy SM004 "SET client_min_messages = warning" \
	"SELECT schemamig.register('scripted', 'CREATE TABLE scripted (id int)', 'DROP TABLE scripted')" \
	"BEGIN" "SELECT schemamig.begin_revision('scripted')"
[ "$(SU -c "SELECT count(*) FROM schemamig.applied WHERE revision = 'scripted'")" = 0 ]
refused $deploy SM007 "SELECT schemamig.register('copy1', 'COPY t FROM STDIN')"
refused $deploy SM007 "SELECT schemamig.register('copy2', 'SELECT 1', 'COPY t TO STDOUT')"
refused $deploy SM007 "SELECT schemamig.register('copy3', 'COPY (SELECT 1) TO STDOUT')"
[ "$(SU -c "SELECT count(*) FROM schemamig.revision WHERE revision LIKE 'copy%'")" = 0 ]
echo "ok: begin_revision() of a registered revision with a script is SM004; COPY FROM STDIN / TO STDOUT refused at register (SM007)"

# SET and SET ROLE inside a migration end with the revision
AS $deploy -c "SET client_min_messages = warning" \
	-c "SELECT schemamig.register('sets', 'SET lock_timeout = ''42s''; SET search_path = pg_catalog; SET ROLE $heir; CREATE TABLE public.sets_made (id int)', 'DROP TABLE public.sets_made')" >/dev/null
# deploy is not a member of heir: the migration's SET ROLE fails
got=$(psql -qXAt -U $deploy -d $db -c "SET client_min_messages = warning" -c "SELECT count(*) FROM schemamig.upgrade()" 2>&1 || true)
grep -q 'permission denied to set role' <<<"$got" || { echo "FAIL: SET ROLE to a role deploy is not a member of: $got"; exit 1; }
SU -c "GRANT $heir TO $deploy"
got=$(AS $deploy -c "SET client_min_messages = warning" -c "SELECT count(*) FROM schemamig.upgrade()" \
	-c "SELECT current_setting('lock_timeout') || ' ' || current_setting('search_path') || ' ' || current_user" | tail -1)
[ "$got" = "0 \"\$user\", public $deploy" ] || { echo "FAIL: a SET in a migration survived: $got"; exit 1; }
[ "$(SU -c "SELECT tableowner FROM pg_tables WHERE tablename = 'sets_made'")" = $heir ]
AS postgres -c "SET client_min_messages = error" \
	-c "SELECT schemamig.register('guard_off', 'SET schemamig.guard = off; SELECT 1')" >/dev/null
got=$(SU -c "SET client_min_messages = warning" -c "SELECT count(*) FROM schemamig.upgrade()" -c "SHOW schemamig.guard")
[ "$got" = "$(printf '1\nenforce')" ] || { echo "FAIL: SET schemamig.guard = off in a migration survived: $got"; exit 1; }
echo "ok: SET, SET ROLE and SET schemamig.guard inside a migration end with the revision"

# limits, checked before the history lock: a session holding it does not block them
parents=$(SU -c "SELECT array_agg('p' || i)::text FROM generate_series(1, 1001) i")
coproc HOLD { psql -qXAt -U postgres -d $db -c "BEGIN" -c "SET client_min_messages = error" -c "SELECT schemamig.register('holder', 'SELECT 1', 'SELECT 1')" -c "SELECT pg_sleep(30)" 2>/dev/null; }
sleep 1
start=$(date +%s%N)
refused $deploy 54000 "SELECT schemamig.register('many', 'SELECT 1', 'SELECT 1', '$parents')"
refused $deploy 54000 "SELECT schemamig.register('long', 'SELECT 1', 'SELECT 1', message => repeat('m', 65537))"
refused $deploy 54000 "SELECT * FROM schemamig.upgrade(repeat('x', 1000000))"
out=$(psql -X -U $deploy -d $db -c "SELECT * FROM schemamig.upgrade(repeat('y', 1000000))" 2>&1 || true)
[ $(( ($(date +%s%N) - start) / 1000000 )) -lt 5000 ] || { echo "FAIL: limits waited for the history lock"; exit 1; }
SU -c "SELECT FROM pg_terminate_backend((SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(30)'))"
wait 2>/dev/null || true
[ ${#out} -lt 400 ] || { echo "FAIL: the target was echoed (${#out} bytes)"; exit 1; }
grep -q 'target "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\.\.\." is too long' <<<"$out" || { echo "FAIL: $out"; exit 1; }
echo "ok: 1,001 parents, a 64 KB + 1 message and a 1 MB target refused (54000) while another session held the history lock; 64 characters quoted"

# --- route 11: the README's checksum formula, also in a LATIN1 database
sum_sql="SELECT r.checksum = encode(sha256(convert_to(replace(r.upgrade_sql, E'\\r\\n', E'\\n'), pg_catalog.getdatabaseencoding()) || coalesce('\\x00'::bytea || convert_to(replace(r.downgrade_sql, E'\\r\\n', E'\\n'), pg_catalog.getdatabaseencoding()), '')), 'hex') FROM schemamig.revision r WHERE r.revision = 'enc'"
for enc in UTF8 LATIN1; do
	edb=${db}_${enc,,}
	psql -qX -d postgres -c "CREATE DATABASE $edb TEMPLATE template0 ENCODING '$enc' LC_COLLATE 'C' LC_CTYPE 'C'"
	psql -qXAt -d $edb -v ON_ERROR_STOP=1 -c "SET client_encoding = UTF8" -c "CREATE EXTENSION schemamig" -c "SET client_min_messages = warning" \
		-c "SELECT schemamig.register('enc', E'COMMENT ON SCHEMA public IS ''café''\\r\\n', 'SELECT ''naïve''')" >/dev/null
	ok=$(psql -qXAt -d $edb -c "$sum_sql")
	psql -qX -d postgres -c "DROP DATABASE $edb"
	[ "$ok" = t ] || { echo "FAIL: the README checksum formula does not match in a $enc database"; exit 1; }
done
echo "ok: the README's checksum formula matches what is stored in UTF8 and LATIN1 databases"

# --- without full coverage: first statements of a session (library not loaded);
# on PostgreSQL 17+ the login trigger gives full coverage: switch it off here
login_trigger=$(SU -c "SELECT count(*) FROM pg_event_trigger WHERE evtname = 'schemamig_login'")
[ "$login_trigger" = 0 ] || SU -c "SET schemamig.guard = off" -c "ALTER EVENT TRIGGER schemamig_login DISABLE"
[ "$(AS $plain -c "SELECT coverage FROM schemamig.status()")" = "event triggers" ]
# route 1: EXPLAIN ANALYZE of CREATE TABLE AS / SELECT INTO / CREATE MATERIALIZED VIEW: open
allowed $plain "EXPLAIN ANALYZE CREATE TABLE app.open1 AS SELECT 1 AS a"
allowed $plain "EXPLAIN (ANALYZE) SELECT 1 AS a INTO app.open2"
allowed $plain "EXPLAIN (ANALYZE) CREATE MATERIALIZED VIEW app.open3 AS SELECT 1 AS a"
[ "$(relation app.open1) $(relation app.open2) $(relation app.open3)" = "app.open1 app.open2 app.open3" ]
# route 9: CLUSTER USING another index: open
allowed $plain "CLUSTER app.p USING p_v"
[ "$(SU -c "SELECT indexrelid::regclass FROM pg_index WHERE indrelid = 'app.p'::regclass AND indisclustered")" = app.p_v ]
# route 2: REASSIGN OWNED: open, for a plain role and for the extension's owner
allowed $plain "REASSIGN OWNED BY $plain TO $heir"
[ "$(SU -c "SELECT tableowner FROM pg_tables WHERE tablename = 'p'")" = $heir ]
SU -c "SET schemamig.guard = off" -c "REASSIGN OWNED BY $heir TO $plain" -c "DROP TABLE app.open1, app.open2" -c "DROP MATERIALIZED VIEW app.open3" \
	-c "CLUSTER app.p USING p_pkey"
# a database owner with CREATEDB (as on managed clusters) may move the database with it
SU -c "CREATE ROLE ${owner}_heir; GRANT ${owner}_heir TO $owner; ALTER ROLE $owner CREATEDB"
allowed $owner "REASSIGN OWNED BY $owner TO ${owner}_heir"
[ "$(SU -c "SELECT extowner::regrole FROM pg_extension WHERE extname = 'schemamig'")" = ${owner}_heir ]
SU -c "SET schemamig.guard = off" -c "REASSIGN OWNED BY ${owner}_heir TO $owner" -c "DROP ROLE ${owner}_heir"
[ "$(SU -c "SELECT count(*) FROM schemamig.ddl_log WHERE direction = 'unversioned' AND role IN ('$plain', '$owner')")" = 0 ]
echo "ok: without full coverage, as a session's first statement: EXPLAIN ANALYZE CREATE TABLE AS / SELECT INTO / CREATE MATERIALIZED VIEW, CLUSTER ... USING and REASSIGN OWNED (also of the extension) stay open, unlogged (documented)"

# ... and refused once the library is loaded (any earlier statement that used schemamig)
refused $plain SM001 "$load" "EXPLAIN ANALYZE CREATE TABLE app.x1 AS SELECT 1"
refused $plain SM001 "$load" "EXPLAIN (ANALYZE) SELECT 1 AS a INTO app.x2"
refused $plain SM001 "$load" "EXPLAIN (ANALYZE) CREATE MATERIALIZED VIEW app.x3 AS SELECT 1"
refused $plain SM001 "$load" "PREPARE q AS SELECT 1" "EXPLAIN ANALYZE CREATE TABLE app.x4 AS EXECUTE q"
refused $plain SM001 "$load" "CLUSTER app.p USING p_v"
refused $plain SM001 "$load" "REASSIGN OWNED BY $plain TO $heir"
refused $owner 42501 "$load" "REASSIGN OWNED BY $owner TO $plain"
allowed $plain "$load" "EXPLAIN ANALYZE CREATE TEMP TABLE x5 AS SELECT 1" "CLUSTER app.p" "EXPLAIN CREATE TABLE app.x6 AS SELECT 1"
echo "ok: after the library loaded in the session, the same routes are refused (SM001; 42501 for the extension's owner); temp targets, plain EXPLAIN and CLUSTER on the marked index are allowed"

# routes event triggers see: refused even as the first statement
refused $plain SM001 "CREATE TEMP TABLE tmp_child () INHERITS (app.p)"
refused $plain SM001 "CREATE TEMP TABLE tmp2 (id int, v text)" "ALTER TABLE tmp2 INHERIT app.p"
refused $plain SM001 "PREPARE q AS SELECT 1" "CREATE TABLE app.x7 AS EXECUTE q"
allowed $plain "CREATE TEMP TABLE tmp3 (id int)" "CREATE TEMP TABLE tmp4 () INHERITS (tmp3)"
refused $owner 42501 "DROP EXTENSION schemamig"
refused $owner 42501 "BEGIN" "SELECT schemamig.begin_revision('evil_drop')" "DROP EXTENSION schemamig"
refused $owner 42501 "BEGIN" "SELECT schemamig.begin_revision('evil_drop_owned')" "DROP OWNED BY $owner"
refused $owner 42501 "BEGIN" "SELECT schemamig.begin_revision('evil_add')" "ALTER EXTENSION schemamig ADD TABLE t"
refused $owner 42501 "BEGIN" "SELECT schemamig.begin_revision('evil_add2')" "ALTER EXTENSION hstore ADD TABLE t"
refused $owner 42501 "BEGIN" "SELECT schemamig.begin_revision('evil_drop_member')" "ALTER EXTENSION schemamig DROP FUNCTION schemamig.status()"
refused $owner 42501 "BEGIN" "SELECT schemamig.begin_revision('evil_comment')" "COMMENT ON EXTENSION schemamig IS 'mine'"
refused $owner 42501 "BEGIN" "SELECT schemamig.prepare_uninstall('x')" "DROP OWNED BY $owner"
refused $deploy 42501 "BEGIN" "SELECT schemamig.prepare_uninstall('x')"
refused $owner 42501 "BEGIN" "SAVEPOINT s" "SELECT schemamig.prepare_uninstall('x')" "ROLLBACK TO s" "DROP EXTENSION schemamig"
refused $owner 22023 "BEGIN" "SELECT schemamig.prepare_uninstall('')"
[ "$(SU -c "SELECT count(*) FROM schemamig.revision WHERE revision LIKE 'evil%'")" = 0 ]
[ "$(SU -c "SELECT count(*) FROM pg_depend WHERE refclassid = 'pg_extension'::regclass AND classid = 'pg_class'::regclass AND objid = 'public.t'::regclass")" = 0 ]
echo "ok: temp children of permanent tables, DROP EXTENSION/DROP OWNED/ALTER EXTENSION ADD/DROP/COMMENT by the owner refused (42501) inside a revision too, as a first statement"

# --- full coverage: session_preload_libraries (and on 17+ the login trigger again)
[ "$login_trigger" = 0 ] || SU -c "SET schemamig.guard = off" -c "ALTER EVENT TRIGGER schemamig_login ENABLE ALWAYS"
SU -c "ALTER DATABASE $db SET session_preload_libraries = 'schemamig'"
[ "$(AS $plain -c "SELECT coverage FROM schemamig.status()")" = full ]
refused $plain SM001 "EXPLAIN ANALYZE CREATE TABLE app.f1 AS SELECT 1"
refused $plain SM001 "EXPLAIN (ANALYZE) SELECT 1 AS a INTO app.f2"
refused $plain SM001 "EXPLAIN (ANALYZE) CREATE MATERIALIZED VIEW app.f3 AS SELECT 1"
refused $plain SM001 "CLUSTER app.p USING p_v"
refused $plain SM001 "REASSIGN OWNED BY $plain TO $heir"
refused $owner 42501 "REASSIGN OWNED BY $owner TO $plain"
refused $owner 42501 "BEGIN" "SELECT schemamig.begin_revision('evil_reassign')" "REASSIGN OWNED BY $owner TO $plain"
[ "$(relation app.f1)$(relation app.f2)$(relation app.f3)" = --- ]
[ "$(SU -c "SELECT tableowner FROM pg_tables WHERE tablename = 'p'")" = $plain ]
echo "ok: with full coverage every route is refused as the first statement"

# inside a revision they run and are logged
AS $owner -c "BEGIN" -c "SELECT schemamig.begin_revision('explained')" \
	-c "EXPLAIN (ANALYZE, COSTS off, TIMING off, SUMMARY off) CREATE TABLE public.explained AS SELECT 1 AS a" \
	-c "CLUSTER t USING t_v" -c "COMMIT" >/dev/null
# CLUSTER on the index already marked is maintenance: allowed, not logged
allowed $plain "CLUSTER app.p"
allowed $owner "CLUSTER t USING t_v"
SU -c "SET client_min_messages = warning; GRANT $plain TO $deploy; GRANT $heir TO $deploy"
AS $deploy -c "BEGIN" -c "SELECT schemamig.begin_revision('reassigned')" -c "REASSIGN OWNED BY $plain TO $heir" -c "COMMIT" >/dev/null
got=$(SU -c "SELECT string_agg(revision || '|' || command_tag || '|' || statement || '|' || (SELECT string_agg(o->>'identity' || ':' || (o->>'action'), ',' ORDER BY o->>'identity') FROM jsonb_array_elements(objects) o), E'\n' ORDER BY id) FROM schemamig.ddl_log WHERE revision IN ('explained', 'reassigned')")
want="explained|CREATE TABLE AS|EXPLAIN (ANALYZE, COSTS off, TIMING off, SUMMARY off) CREATE TABLE public.explained AS SELECT 1 AS a|public.explained:create
explained|CLUSTER|CLUSTER t USING t_v|public.t:alter
reassigned|REASSIGN OWNED|REASSIGN OWNED BY $plain TO $heir|app:alter,app.p:alter,public.sets_made:alter"
[ "$got" = "$want" ] || { echo "FAIL: logged:"; echo "$got"; echo "wanted:"; echo "$want"; exit 1; }
[ "$(SU -c "SELECT count(*) FROM schemamig.ddl_log WHERE command_tag = 'CLUSTER' AND role <> 'postgres'")" = 1 ]
echo "ok: inside a revision EXPLAIN ANALYZE CREATE TABLE AS, CLUSTER USING and REASSIGN OWNED run and are logged with their objects; CLUSTER on the marked index is maintenance"

# --- the deliberate uninstall
SU -c "ALTER DATABASE $db RESET session_preload_libraries"
AS $owner -c "BEGIN" -c "SET client_min_messages = warning" -c "SELECT schemamig.prepare_uninstall('seal test')" -c "DROP EXTENSION schemamig" -c "ROLLBACK" >/dev/null
[ "$(SU -c "SELECT count(*) FROM pg_extension WHERE extname = 'schemamig'")" = 1 ]
# prepared and committed without the drop: the journal keeps the intent, the permission ends
AS $owner -c "BEGIN" -c "SET client_min_messages = warning" -c "SELECT schemamig.prepare_uninstall('changed my mind')" -c "COMMIT" >/dev/null
[ "$(SU -c "SELECT action || ' ' || target || ' ' || by FROM schemamig.journal ORDER BY id DESC LIMIT 1")" = "uninstall changed my mind $owner" ]
refused $owner 42501 "DROP EXTENSION schemamig"
AS $owner -c "BEGIN" -c "SET client_min_messages = warning" -c "SELECT schemamig.prepare_uninstall('seal test')" -c "DROP EXTENSION schemamig" -c "COMMIT" >/dev/null
[ "$(SU -c "SELECT count(*) FROM pg_extension WHERE extname = 'schemamig'")" = 0 ]
echo "ok: the owner uninstalls with prepare_uninstall() and DROP EXTENSION in one transaction"
echo "ok: $n route checks"
