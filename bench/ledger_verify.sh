#!/bin/bash
# bench/ledger_verify.sh: verify_ledger() and status().ledger_ok on a long
# history.  Starts its own throwaway cluster, writes $ROWS DDL log rows in
# transactions of $PER rows (inserted through SQL, so every row goes through
# the ledger like a logged DDL statement; one link per transaction), then
# times verify_ledger() (best of $ROUNDS) and status().
#
# Usage: bash bench/ledger_verify.sh      env: ROWS=1000000 PER=1000 ROUNDS=3
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

ROWS=${ROWS:-1000000}
PER=${PER:-1000}
ROUNDS=${ROUNDS:-3}
if [ "$(id -u)" = 0 ]; then
	build_and_install
fi
cluster_start ${PORT:-}
psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE ledgerbench"
psql -X -q -v ON_ERROR_STOP=1 -d ledgerbench -c "CREATE EXTENSION schemamig"
echo "== writing $ROWS rows in transactions of $PER"
start=$(date +%s%N)
psql -X -q -v ON_ERROR_STOP=1 -d ledgerbench <<SQL
DO \$\$
BEGIN
	FOR t IN 1 .. $ROWS / $PER LOOP
		INSERT INTO schemamig.ddl_log (revision, direction, statement_no, command_tag,
		                               statement, objects, xid, role, session_role,
		                               application_name, backend_pid)
		SELECT 'bench_' || t, 'upgrade', i, 'COMMENT',
		       'COMMENT ON TABLE t IS ''' || i || '''',
		       '[{"type": "table", "action": "alter", "schema": "public", "identity": "public.t"}]',
		       pg_current_xact_id(), current_user, session_user, 'bench', pg_backend_pid()
		  FROM generate_series(1, $PER) i;
		COMMIT;
	END LOOP;
END
\$\$;
SQL
echo "   $(( ($(date +%s%N) - start) / 1000000 )) ms"
psql -X -At -d ledgerbench -c "SELECT count(*) || ' rows, ' || (SELECT count(*) FROM schemamig.ledger) || ' links, ' || pg_size_pretty(pg_total_relation_size('schemamig.ddl_log')) FROM schemamig.ddl_log"
psql -X -q -d ledgerbench -c "VACUUM ANALYZE schemamig.ddl_log" -c "SELECT count(*) FROM schemamig.ddl_log" >/dev/null
best=""
for r in $(seq 1 "$ROUNDS"); do
	t=$(psql -X -At -d ledgerbench -c "\\timing on" -c "SELECT ok, checked FROM schemamig.verify_ledger()" | awk '/^Time:/ {print $2}')
	res=$(psql -X -At -d ledgerbench -c "SELECT ok || ' ' || checked FROM schemamig.verify_ledger()")
	echo "verify_ledger() round $r: $t ms ($res)"
	if [ -z "$best" ] || awk -v a="$t" -v b="$best" 'BEGIN { exit !(a < b) }'; then best=$t; fi
done
st=$(psql -X -At -d ledgerbench -c "\\timing on" -c "SELECT ledger_ok FROM schemamig.status()" | awk '/^Time:/ {print $2}')
echo "SUMMARY verify_ledger() on $ROWS rows: best $best ms of $ROUNDS; status() (ledger_ok and the rest): $st ms"
