#!/bin/bash
# bench/writer_stall.sh: a lock-safety split (ADD FOREIGN KEY ... NOT VALID
# in one revision, VALIDATE CONSTRAINT in the next) against a concurrent
# writer.  The writer inserts into the table in autocommit, back to back,
# and reports its longest INSERT while the two revisions are applied:
#   upgrade()       SELECT schemamig.upgrade(): both revisions in one
#                   transaction, so ADD's SHARE ROW EXCLUSIVE lock on the
#                   table is held while VALIDATE scans it
#   deploy          schemamig deploy DIR: one transaction per revision, the
#                   lock is gone before VALIDATE starts (VALIDATE itself
#                   takes SHARE UPDATE EXCLUSIVE, which lets writers in)
# Target (issue #17): the writer waits < 0.1 s with deploy.
#
# Usage: bash bench/writer_stall.sh     env: ROWS=1000000 ROUNDS=3 PORT=<random>
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
. bench/lib.sh

ROWS=${ROWS:-1000000}
ROUNDS=${ROUNDS:-3}
BIN=$(${PG_CONFIG:-pg_config} --bindir)/schemamig
[ "$(id -u)" = 0 ] && build_and_install
cluster_start ${PORT:-}
WORK=$(mktemp -d /tmp/schemamig-stall.XXXXXX)
chmod 755 "$WORK"
trap 'cluster_stop; rm -rf "$WORK"' EXIT

mkdir -p "$WORK/migrations"
cat >"$WORK/migrations/0001_fk_not_valid.sql" <<'SQL'
ALTER TABLE users ADD CONSTRAINT users_team_fk FOREIGN KEY (team_id) REFERENCES teams (id) NOT VALID;
-- schemamig:downgrade
ALTER TABLE users DROP CONSTRAINT users_team_fk;
SQL
cat >"$WORK/migrations/0002_fk_validate.sql" <<'SQL'
ALTER TABLE users VALIDATE CONSTRAINT users_team_fk;
-- schemamig:downgrade
SQL

cat >"$WORK/writer.py" <<'PY'
import os, sys, time, psycopg2
conn = psycopg2.connect(dbname=sys.argv[1])
conn.autocommit = True
cur = conn.cursor()
stop = sys.argv[2]
worst = 0.0
while not os.path.exists(stop):
    t = time.monotonic()
    cur.execute("INSERT INTO users (team_id) VALUES (1)")
    worst = max(worst, time.monotonic() - t)
print("%.3f" % worst)
PY

setup() {
	psql -X -q -d postgres -c "CREATE DATABASE $1"
	psql -X -q -v ON_ERROR_STOP=1 -d $1 <<SQL
SET client_min_messages = warning;
CREATE TABLE teams (id int PRIMARY KEY);
INSERT INTO teams SELECT generate_series(1, 100);
CREATE TABLE users (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, team_id int);
INSERT INTO users (team_id) SELECT 1 + g % 100 FROM generate_series(1, $ROWS) g;
CREATE INDEX ON users (team_id);
VACUUM ANALYZE users;
CREATE EXTENSION schemamig;
SQL
	"$BIN" -q -d $1 load "$WORK/migrations" 2>/dev/null
}

run_with_writer() {	# db label cmd...
	local db=$1 label=$2
	shift 2
	rm -f "$WORK/stop"
	/usr/bin/python3 "$WORK/writer.py" $db "$WORK/stop" >"$WORK/worst" &
	local w=$!
	sleep 1
	local start=$(now_ns)
	"$@" >/dev/null 2>&1
	local end=$(now_ns)
	sleep 0.5
	touch "$WORK/stop"
	wait $w
	echo "$label: migration $(( (end - start) / 1000000 )) ms, writer's longest INSERT $(cat "$WORK/worst") s"
	cat "$WORK/worst" >>"$WORK/$label.worst"
}

: >"$WORK/upgrade.worst"
: >"$WORK/deploy.worst"
for r in $(seq 1 $ROUNDS); do
	setup one_$r
	run_with_writer one_$r upgrade psql -X -q -v ON_ERROR_STOP=1 -d one_$r -c "SELECT * FROM schemamig.upgrade()"
	setup each_$r
	run_with_writer each_$r deploy "$BIN" -q -d each_$r deploy "$WORK/migrations"
	psql -X -q -d postgres -c "DROP DATABASE one_$r" -c "DROP DATABASE each_$r"
done
u=$(stats <"$WORK/upgrade.worst")
d=$(stats <"$WORK/deploy.worst")
echo "SUMMARY writer_stall: $ROWS rows; writer's longest INSERT: upgrade() (one transaction) $(fmt_stats "$u" 3) s, schemamig deploy (per revision) $(fmt_stats "$d" 3) s (target < 0.1 s)"
