#!/bin/bash
# Flask-Migrate end to end, with Debian's python3-flask-migrate: a deploy
# role runs flask db init / migrate / upgrade for three model changes, then
# downgrade and upgrade again, with schemamig.alembic_version_table set.
# Checks the schema, history(), the DDL log under Alembic's revision ids,
# that ad-hoc DDL is refused with SM001 before and after, that the same
# history applies with transaction_per_migration, and that the offline
# "flask db upgrade --sql" script applied with psql is accepted.
set -euo pipefail
PY=/usr/bin/python3
app_dir=$(cd "$(dirname "$0")/../flask_app" && pwd)
db=flask_$$
db_tpm=flask_tpm_$$
db_off=flask_off_$$
db_old=flask_old_$$
work=$(mktemp -d /tmp/schemamig-flask.XXXXXX)
cleanup() {
	for d in $db $db_tpm $db_off $db_old; do
		psql -qX -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true
	done
	psql -qX -d postgres -c "DROP ROLE IF EXISTS flask_deployer" -c "DROP ROLE IF EXISTS flask_analyst" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAILED: $*"; exit 1; }
check() {	# check DESCRIPTION ACTUAL EXPECTED
	if [ "$2" != "$3" ]; then
		printf 'FAILED: %s\n  expected: %s\n  actual:   %s\n' "$1" "$3" "$2"
		exit 1
	fi
	echo "ok: $1"
}
q() { psql -qXAt -d "$1" -c "$2"; }

psql -qX -d postgres -c "CREATE ROLE flask_deployer LOGIN" -c "CREATE ROLE flask_analyst LOGIN"
for d in $db $db_tpm $db_off; do
	psql -qX -d postgres -c "CREATE DATABASE $d OWNER flask_deployer"
	# the whole setup: install, and one GUC
	psql -qX -d $d -c "CREATE EXTENSION schemamig" \
		-c "ALTER DATABASE $d SET schemamig.alembic_version_table = 'public.alembic_version'"
done

cp "$app_dir/app.py" "$work/"
cd "$work"
export FLASK_APP=app.py
flask_db() {	# flask_db DATABASE ARGS...
	local d=$1
	shift
	DATABASE_URL="postgresql+psycopg2://flask_deployer@/$d?host=$PGHOST&port=$PGPORT" \
		$PY -m flask db "$@" 2>>"$work/flask.log"
}
adhoc_refused() {	# adhoc_refused ROLE WHEN
	local out
	out=$(psql -X -v VERBOSITY=verbose -U "$1" -d $db -c 'ALTER TABLE "user" ADD COLUMN x int' 2>&1 || true)
	echo "$out" | grep -q '^ERROR:  SM001: unversioned schema change blocked: ALTER TABLE' ||
		fail "ad-hoc ALTER TABLE by $1 $2 was not refused with SM001: $out"
	check "ad-hoc ALTER TABLE by $1 $2 refused with SM001, column absent" \
		"$(q $db "SELECT count(*) FROM pg_attribute WHERE attrelid = '\"user\"'::regclass AND attname = 'x'")" 0
}

flask_db $db init >/dev/null
revs=()
stage=1
for msg in "create users" "add nullable bio" "add role"; do
	MODEL_STAGE=$stage flask_db $db migrate -m "$msg" >/dev/null
	MODEL_STAGE=$stage flask_db $db upgrade
	revs+=("$(q $db "SELECT version_num FROM alembic_version")")
	[ $stage = 1 ] && adhoc_refused postgres "after the first upgrade" && adhoc_refused flask_deployer "after the first upgrade"
	stage=$((stage + 1))
done
r1=${revs[0]} r2=${revs[1]} r3=${revs[2]}
echo "alembic revisions: $r1 $r2 $r3"
[ "$(ls migrations/versions/*.py | wc -l)" = 3 ] || fail "flask db migrate did not write three migrations"

check "schema after three upgrades" \
	"$(q $db "SELECT string_agg(column_name || ':' || is_nullable, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'user'")" \
	"id:NO,name:NO,bio:YES,role:YES"
check "history(): three external revisions in a chain, all applied" \
	"$(q $db "SELECT string_agg(revision || '<' || array_to_string(parents, '+') || ':' || kind || ':' || applied, ' ' ORDER BY revision = '$r3', revision = '$r2') FROM schemamig.history()")" \
	"$r1<:external:true $r2<$r1:external:true $r3<$r2:external:true"
check "ddl_log: each revision's DDL under its Alembic revision id" \
	"$(q $db "SELECT string_agg(revision || ':' || direction || ':' || statement_no || ':' || command_tag, ' ' ORDER BY id) FROM schemamig.ddl_log WHERE revision IS NOT NULL")" \
	"$r1:upgrade:1:CREATE TABLE $r2:upgrade:1:ALTER TABLE $r3:upgrade:1:ALTER TABLE"
check "ddl_log: the statements Alembic sent" \
	"$(q $db "SELECT string_agg(regexp_replace(statement, '\s+', ' ', 'g'), ' | ' ORDER BY id) FROM schemamig.ddl_log WHERE revision IN ('$r2', '$r3')")" \
	'ALTER TABLE "user" ADD COLUMN bio TEXT | ALTER TABLE "user" ADD COLUMN role VARCHAR(16)'
check "ddl_log: only Alembic's version table is logged without a revision" \
	"$(q $db "SELECT string_agg(command_tag || ' ' || (objects->0->>'identity'), ',') FROM schemamig.ddl_log WHERE revision IS NULL")" \
	"CREATE TABLE public.alembic_version"
check "ddl_log rows carry the deploy role" \
	"$(q $db "SELECT DISTINCT role FROM schemamig.ddl_log")" flask_deployer

MODEL_STAGE=3 flask_db $db downgrade
check "downgrade: role column gone" \
	"$(q $db "SELECT count(*) FROM information_schema.columns WHERE table_name = 'user' AND column_name = 'role'")" 0
check "downgrade: current() follows alembic_version" "$(q $db "SELECT * FROM schemamig.current()")" "$r2"
check "downgrade logged under the revision removed" \
	"$(q $db "SELECT revision || ':' || direction || ':' || statement FROM schemamig.ddl_log WHERE direction = 'downgrade'")" \
	"$r3:downgrade:ALTER TABLE \"user\" DROP COLUMN role"
MODEL_STAGE=3 flask_db $db upgrade
check "upgrade again: current() is the head" "$(q $db "SELECT * FROM schemamig.current()")" "$r3"
check "journal: upgrade x3, downgrade, upgrade" \
	"$(q $db "SELECT string_agg(action || ':' || revision, ' ' ORDER BY id) FROM schemamig.journal")" \
	"upgrade:$r1 upgrade:$r2 upgrade:$r3 downgrade:$r3 upgrade:$r3"
check "no drift after the deploy" "$(q $db "SELECT drift FROM schemamig.status()")" f
adhoc_refused postgres "after the final upgrade"
adhoc_refused flask_deployer "after the final upgrade"
adhoc_refused flask_analyst "after the final upgrade"

# flask db stamp: a version write without DDL moves the applied set only
MODEL_STAGE=3 flask_db $db stamp "$r1"
check "stamp: current() follows, schema untouched" \
	"$(q $db "SELECT (SELECT string_agg(c, ',') FROM schemamig.current() c) || ' ' || count(*) FROM information_schema.columns WHERE table_name = 'user'")" \
	"$r1 4"
MODEL_STAGE=3 flask_db $db stamp head
check "stamp head: back at $r3" "$(q $db "SELECT * FROM schemamig.current()")" "$r3"

# the same migrations with transaction_per_migration = True
PER_MIGRATION=1 MODEL_STAGE=3 flask_db $db_tpm upgrade
PER_MIGRATION=1 MODEL_STAGE=3 flask_db $db_tpm downgrade base
PER_MIGRATION=1 MODEL_STAGE=3 flask_db $db_tpm upgrade
check "transaction_per_migration: history and log" \
	"$(q $db_tpm "SELECT string_agg(revision || ':' || direction, ' ' ORDER BY id) FROM schemamig.ddl_log WHERE revision IS NOT NULL")" \
	"$r1:upgrade $r2:upgrade $r3:upgrade $r3:downgrade $r2:downgrade $r1:downgrade $r1:upgrade $r2:upgrade $r3:upgrade"
check "transaction_per_migration: all applied" \
	"$(q $db_tpm "SELECT string_agg(revision, ',' ORDER BY revision = '$r3', revision = '$r2') FROM schemamig.history() WHERE applied")" \
	"$r1,$r2,$r3"

# offline mode: the script flask db upgrade --sql prints, applied with psql
MODEL_STAGE=3 flask_db $db_off upgrade --sql >"$work/upgrade.sql"
grep -q "INSERT INTO alembic_version" "$work/upgrade.sql" || fail "no offline script"
psql -qX -v ON_ERROR_STOP=1 -U flask_deployer -d $db_off -f "$work/upgrade.sql" >/dev/null
check "offline: schema" \
	"$(q $db_off "SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'user'")" \
	"id,name,bio,role"
check "offline: log under the revision ids" \
	"$(q $db_off "SELECT string_agg(revision || ':' || command_tag, ' ' ORDER BY id) FROM schemamig.ddl_log WHERE revision IS NOT NULL")" \
	"$r1:CREATE TABLE $r2:ALTER TABLE $r3:ALTER TABLE"
check "offline: current()" "$(q $db_off "SELECT * FROM schemamig.current()")" "$r3"
# offline downgrade to base ends with DROP TABLE alembic_version
MODEL_STAGE=3 flask_db $db_off downgrade --sql head:base >"$work/downgrade.sql"
psql -qX -v ON_ERROR_STOP=1 -U flask_deployer -d $db_off -f "$work/downgrade.sql" >/dev/null
check "offline downgrade to base: nothing applied, tables gone" \
	"$(q $db_off "SELECT count(*) FROM schemamig.current()") $(q $db_off "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" \
	"0 0"
check "offline downgrade to base: logged under the revisions removed" \
	"$(q $db_off "SELECT string_agg(revision || ':' || command_tag, ' ' ORDER BY id) FROM schemamig.ddl_log WHERE direction = 'downgrade'")" \
	"$r3:ALTER TABLE $r2:ALTER TABLE $r1:DROP TABLE"
# an existing Alembic database: history applied before schemamig was
# installed; the next deploy attaches the trigger and adopts that history
psql -qX -d postgres -c "CREATE DATABASE $db_old OWNER flask_deployer"
MODEL_STAGE=3 flask_db $db_old upgrade "$r2"
psql -qX -d $db_old -c "CREATE EXTENSION schemamig" \
	-c "ALTER DATABASE $db_old SET schemamig.alembic_version_table = 'public.alembic_version'"
MODEL_STAGE=3 flask_db $db_old upgrade
check "existing database: $r2 adopted as an applied root, $r3 on top" \
	"$(q $db_old "SELECT string_agg(revision || '<' || array_to_string(parents, '+') || ':' || applied, ' ' ORDER BY revision = '$r3') FROM schemamig.history()")" \
	"$r2<:true $r3<$r2:true"
check "existing database: the deploy's DDL logged under $r3" \
	"$(q $db_old "SELECT string_agg(revision || ':' || statement, ' ' ORDER BY id) FROM schemamig.ddl_log")" \
	"$r3:ALTER TABLE \"user\" ADD COLUMN role VARCHAR(16)"
out=$(psql -X -v VERBOSITY=verbose -d $db_old -c 'ALTER TABLE "user" ADD COLUMN x int' 2>&1 || true)
echo "$out" | grep -q '^ERROR:  SM001: unversioned schema change blocked: ALTER TABLE' ||
	fail "ad-hoc ALTER TABLE on the existing database was not refused: $out"
echo "ok: existing database: ad-hoc ALTER TABLE refused with SM001"
echo "ok: Flask-Migrate deploys unchanged under the guard"
