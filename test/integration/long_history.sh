#!/bin/bash
# A fresh database replays 3,000 table-creating revisions with default
# server settings.  One upgrade() cannot: the transaction would have to lock
# every new table, its TOAST table and their indexes, and runs out of lock
# table ("out of shared memory").  CALL upgrade_each() commits after every
# revision; steps() hands the run to upgrade_each() in one row.
set -euo pipefail
n=${LONG_HISTORY_REVISIONS:-3000}
q() { psql -qXAt -d "$1" -c "$2"; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
since() { local ms=$(( $(now_ms) - $1 )); printf '%d.%03d' $((ms / 1000)) $((ms % 1000)); }
setup() { # setup <db>: register n revisions, each on top of the previous one
	psql -qX -d postgres -c "CREATE DATABASE $1"
	psql -qX -v ON_ERROR_STOP=1 -d $1 >/dev/null <<SQL
SET client_min_messages = warning;
CREATE EXTENSION schemamig;
SELECT count(schemamig.register(format('h%s', g),
         format('CREATE TABLE h%s (id int PRIMARY KEY, v text)', g),
         format('DROP TABLE h%s -- schemamig:allow drop-table', g),
         CASE WHEN g = 1 THEN '{}'::text[] ELSE ARRAY[format('h%s', g - 1)] END))
  FROM generate_series(1, $n) g;
SQL
}
db1=long1_$$ db2=long2_$$
trap 'for d in $db1 $db2; do psql -qX -d postgres -c "DROP DATABASE IF EXISTS $d" >/dev/null 2>&1 || true; done' EXIT

start=$(now_ms)
setup $db1
echo "registered $n revisions in $(since $start) s"

if [ "$n" -ge 3000 ]; then
	state=$(psql -qXAt -d $db1 -v VERBOSITY=terse -c "SET client_min_messages = warning" \
		-c "SELECT count(*) FROM schemamig.upgrade()" 2>&1 || true)
	echo "one upgrade(): $state"
	case "$state" in *"out of shared memory"*) ;; *) echo "expected out of shared memory"; exit 1 ;; esac
	[ "$(q $db1 "SELECT count(*) FROM schemamig.applied")" = 0 ]
fi

start=$(now_ms)
psql -qX -v ON_ERROR_STOP=1 -d $db1 -c "SET client_min_messages = warning" -c "CALL schemamig.upgrade_each()"
echo "upgrade_each(): $n revisions in $(since $start) s"
[ "$(q $db1 "SELECT count(*) FROM schemamig.applied")" = $n ]
[ "$(q $db1 "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename ~ '^h[0-9]+$'")" = $n ]
[ "$(q $db1 "SELECT pending = 0 AND NOT drift FROM schemamig.status()")" = t ]
[ "$(q $db1 "SELECT count(*) FROM schemamig.journal WHERE action = 'upgrade'")" = $n ]

setup $db2
start=$(now_ms)
rows=$(q $db2 "SELECT count(*) FROM schemamig.steps()")
echo 'SELECT * FROM schemamig.steps() \gexec' | psql -qX -v ON_ERROR_STOP=1 -d $db2 -c "SET client_min_messages = warning" -f - >/dev/null
echo "steps() \\gexec: $n revisions in $rows rows, $(since $start) s"
[ "$rows" = 1 ]
[ "$(q $db2 "SELECT count(*) FROM schemamig.applied")" = $n ]
[ "$(q $db2 "SELECT fingerprint FROM schemamig.state")" = "$(q $db1 "SELECT fingerprint FROM schemamig.state")" ]
echo "ok: $n revisions replayed into a fresh database, both ways, same fingerprint"
