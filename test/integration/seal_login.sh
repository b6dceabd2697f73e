#!/bin/bash
# Issue #12, PostgreSQL 17+: the login event trigger gives every session full
# coverage with no configuration, and never keeps anyone out: with the
# library file gone, superusers and ordinary roles still log in (coverage
# falls back to event triggers).  On 15 and 16 there is no login event: the
# test checks the trigger is absent and stops.
set -euo pipefail
db=seal_login_$$; role=seal_login_$$
PG_CONFIG=${PG_CONFIG:-${PG_BIN:-/usr/lib/postgresql/15/bin}/pg_config}
psql -qX -d postgres -c "CREATE ROLE $role LOGIN" -c "CREATE DATABASE $db"
libdir=$("$PG_CONFIG" --pkglibdir)
cleanup() {
	[ -f "$libdir/schemamig.so.seal_login" ] && mv "$libdir/schemamig.so.seal_login" "$libdir/schemamig.so"
	psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "DROP ROLE IF EXISTS $role" >/dev/null 2>&1 || true
}
trap cleanup EXIT
psql -qX -d $db -c "CREATE EXTENSION schemamig"
version=$(psql -qXAt -d $db -c "SHOW server_version_num")
triggers=$(psql -qXAt -d $db -c "SELECT count(*) FROM pg_event_trigger WHERE evtname = 'schemamig_login'")
if [ "$version" -lt 170000 ]; then
	[ "$triggers" = 0 ] || { echo "FAIL: a login trigger on $version"; exit 1; }
	[ "$(psql -qXAt -d $db -c "SELECT coverage FROM schemamig.status()")" = "event triggers" ]
	echo "ok: no login event before PostgreSQL 17 ($version): no login trigger, coverage 'event triggers' without preloading"
	exit 0
fi
[ "$triggers" = 1 ] || { echo "FAIL: no login trigger on $version"; exit 1; }
[ "$(psql -qXAt -d $db -c "SELECT evtenabled FROM pg_event_trigger WHERE evtname = 'schemamig_login'")" = A ]
[ "$(psql -qXAt -U $role -d $db -c "SELECT coverage FROM schemamig.status()")" = full ] || { echo "FAIL: login trigger did not give full coverage"; exit 1; }
# a first statement that only the hook sees is refused with no configuration
psql -qX -d $db -c "SET schemamig.guard = off" -c "GRANT CREATE ON SCHEMA public TO $role" >/dev/null
out=$(psql -X -U $role -d $db -c "EXPLAIN ANALYZE CREATE TABLE sneaky AS SELECT 1" 2>&1 || true)
grep -q "unversioned schema change blocked: CREATE TABLE AS" <<<"$out" || { echo "FAIL: $out"; exit 1; }
echo "ok: PostgreSQL $version: the login trigger gives full coverage with no configuration; EXPLAIN ANALYZE CREATE TABLE AS as a first statement refused"

# the library file is gone: nobody is locked out
mv "$libdir/schemamig.so" "$libdir/schemamig.so.seal_login"
for who in postgres $role; do
	got=$(psql -qXAt -U $who -d $db -c "SELECT 'in'" 2>&1) || { echo "FAIL: $who locked out without the library: $got"; exit 1; }
	[ "$got" = in ] || { echo "FAIL: $who: $got"; exit 1; }
done
mv "$libdir/schemamig.so.seal_login" "$libdir/schemamig.so"
[ "$(psql -qXAt -U $role -d $db -c "SELECT coverage FROM schemamig.status()")" = full ]
echo "ok: with the library file missing a superuser and an ordinary role still log in; with it back, full coverage again"
