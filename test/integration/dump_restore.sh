#!/bin/bash
# pg_dump of a database under schemamig, restored with the documented
# procedure into a new database: revisions, applied set, journal, DDL log
# event triggers, fingerprint and status arrive, in custom format with
# pg_restore and in plain format through psql; the guard is on
# during the restore for everyone else and again afterwards.
set -euo pipefail
src=dump_src_$$; dst=dump_dst_$$; plain=dump_plain_$$
dumpfile=$(mktemp /tmp/schemamig-dump.XXXXXX)
cleanup() {
	psql -qX -d postgres -c "DROP DATABASE IF EXISTS $src" -c "DROP DATABASE IF EXISTS $dst" -c "DROP DATABASE IF EXISTS $plain" >/dev/null 2>&1 || true
	rm -f "$dumpfile" "$dumpfile.sql"
}
trap cleanup EXIT
psql -qX -d postgres -c "CREATE DATABASE $src" -c "CREATE DATABASE $dst" -c "CREATE DATABASE $plain"
psql -qX -v ON_ERROR_STOP=1 -d $src >/dev/null <<'SQL'
SET client_min_messages = warning;
CREATE EXTENSION schemamig;
SELECT schemamig.register('d1', 'CREATE TABLE users (id int PRIMARY KEY, email text)', 'DROP TABLE users');
SELECT schemamig.register('d2', 'ALTER TABLE users ADD COLUMN bio text', 'ALTER TABLE users DROP COLUMN bio');
SELECT schemamig.register('d3', 'CREATE INDEX users_email_idx ON users (email)', 'DROP INDEX users_email_idx');
SELECT * FROM schemamig.upgrade('d2');
BEGIN;
SELECT schemamig.begin_revision('d2b');
CREATE VIEW user_emails AS SELECT email FROM users;
COMMIT;
SQL
pg_dump -Fc -f "$dumpfile" $src
PGOPTIONS='-c schemamig.restoring=on' pg_restore -d $dst "$dumpfile"
pg_dump -Fp -f "$dumpfile.sql" $src
PGOPTIONS='-c schemamig.restoring=on' psql -qX -v ON_ERROR_STOP=1 -d $plain -f "$dumpfile.sql" >/dev/null

q() { psql -qXAt -d "$1" -c "$2"; }
for sql in \
	"SELECT string_agg(revision || ':' || checksum || ':' || parents::text, ',' ORDER BY seq) FROM schemamig.revision" \
	"SELECT string_agg(revision, ',' ORDER BY seq) FROM schemamig.applied" \
	"SELECT string_agg(id || revision || action, ',' ORDER BY id) FROM schemamig.journal" \
	"SELECT string_agg(id || coalesce(revision, '-') || statement, ',' ORDER BY id) FROM schemamig.ddl_log" \
	"SELECT string_agg(evtname::text || evtenabled::text, ',' ORDER BY evtname) FROM pg_event_trigger" \
	"SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_name = 'users'" \
	"SELECT schemamig.fingerprint()" \
	"SELECT fingerprint || generation FROM schemamig.state" \
	"SELECT row_to_json(s)::text FROM schemamig.status() s" \
	"SELECT string_agg(revision || applied::text || is_current::text, ',') FROM schemamig.history()"; do
	a=$(q $src "$sql")
	for restored in $dst $plain; do
		b=$(q $restored "$sql")
		if [ "$a" != "$b" ]; then echo "differs in $restored: $sql"; echo " source:   $a"; echo " restored: $b"; exit 1; fi
	done
done
for restored in $dst $plain; do
	bad=$(psql -qXAt -d $restored -f "$(dirname "$0")/../reliability/invariants.sql")
	[ -z "$bad" ] || { echo "invariants violated in $restored: $bad"; exit 1; }
done
echo "ok: revisions, applied set, journal, log, event triggers, fingerprint, status and schema match (pg_restore and plain psql)"

# the restore mode is no hole: only a superuser can turn it on, by any route
psql -qX -d postgres -c "CREATE ROLE dump_intruder_$$ LOGIN" >/dev/null
trap 'cleanup; psql -qX -d postgres -c "DROP ROLE IF EXISTS dump_intruder_$$" >/dev/null 2>&1 || true' EXIT
psql -qX -d $dst -c "GRANT CREATE ON SCHEMA public TO dump_intruder_$$" -c "SET schemamig.guard = off" >/dev/null 2>&1 || true
out=$(PGOPTIONS='-c schemamig.restoring=on' psql -X -U dump_intruder_$$ -d $dst -c "CREATE TABLE intruder (id int)" 2>&1 || true)
grep -q "unversioned schema change blocked" <<<"$out" || { echo "restoring=on let an ordinary role through: $out"; exit 1; }
out=$(psql -X -U dump_intruder_$$ -d $dst -c "SELECT FROM schemamig.status()" -c "SET schemamig.restoring = on" 2>&1 || true)
grep -q "permission denied to set parameter" <<<"$out" || { echo "an ordinary role set schemamig.restoring: $out"; exit 1; }
echo "ok: an ordinary role cannot use the restore mode"

# the restored database is guarded, and new rows get fresh keys
out=$(psql -X -d $dst -c "CREATE TABLE adhoc (id int)" 2>&1 || true)
echo "$out" | grep -q "unversioned schema change blocked" || { echo "guard not active after restore"; exit 1; }
psql -qX -v ON_ERROR_STOP=1 -d $dst -c "SET client_min_messages = warning" -c "SELECT * FROM schemamig.upgrade()" >/dev/null
n=$(q $dst "SELECT count(*) FROM schemamig.applied")
[ "$n" = 4 ] || { echo "upgrade after restore applied $n"; exit 1; }
echo "ok: guard active after restore, upgrade continues"
