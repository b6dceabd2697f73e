#!/bin/bash
# pg_dump of a database under schemamig, restored with the documented
# procedure into a new database: revisions, applied set, journal, DDL log
# and event triggers arrive; the guard is on again afterwards.
set -euo pipefail
src=dump_src_$$; dst=dump_dst_$$
dumpfile=$(mktemp /tmp/schemamig-dump.XXXXXX)
cleanup() {
	psql -qX -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" >/dev/null 2>&1 || true
	rm -f "$dumpfile"
}
trap cleanup EXIT
psql -qX -d postgres -c "CREATE DATABASE $src" -c "CREATE DATABASE $dst"
psql -qX -v ON_ERROR_STOP=1 -d $src >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION schemamig;
SELECT schemamig.register('d1', 'CREATE TABLE users (id int PRIMARY KEY, email text)', 'DROP TABLE users');
SELECT schemamig.register('d2', 'ALTER TABLE users ADD COLUMN bio text', 'ALTER TABLE users DROP COLUMN bio');
SELECT schemamig.register('d3', 'CREATE INDEX users_email_idx ON users (email)', 'DROP INDEX users_email_idx');
SELECT * FROM schemamig.upgrade('d2');
SQL
pg_dump -Fc -f "$dumpfile" $src
PGOPTIONS='-c schemamig.restoring=on' pg_restore -d $dst "$dumpfile"

q() { psql -qXAt -d "$1" -c "$2"; }
for sql in \
	"SELECT string_agg(revision || ':' || checksum || ':' || parents::text, ',' ORDER BY seq) FROM schemamig.revision" \
	"SELECT string_agg(revision, ',' ORDER BY seq) FROM schemamig.applied" \
	"SELECT string_agg(id || revision || action, ',' ORDER BY id) FROM schemamig.journal" \
	"SELECT string_agg(id || coalesce(revision, '-') || statement, ',' ORDER BY id) FROM schemamig.ddl_log" \
	"SELECT string_agg(evtname::text || evtenabled::text, ',' ORDER BY evtname) FROM pg_event_trigger" \
	"SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'users'"; do
	a=$(q $src "$sql"); b=$(q $dst "$sql")
	if [ "$a" != "$b" ]; then echo "differs: $sql"; echo " source:   $a"; echo " restored: $b"; exit 1; fi
done
echo "ok: revisions, applied set, journal, log, event triggers and schema match"

# the restored database is guarded, and new rows get fresh keys
out=$(psql -X -d $dst -c "CREATE TABLE adhoc (id int)" 2>&1 || true)
echo "$out" | grep -q "unversioned schema change blocked" || { echo "guard not active after restore"; exit 1; }
psql -qX -v ON_ERROR_STOP=1 -d $dst -c "SET client_min_messages = warning" -c "SELECT * FROM schemamig.upgrade()" >/dev/null
n=$(q $dst "SELECT count(*) FROM schemamig.applied")
[ "$n" = 3 ] || { echo "upgrade after restore applied $n"; exit 1; }
echo "ok: guard active after restore, upgrade continues"
