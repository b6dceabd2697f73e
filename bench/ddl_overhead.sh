#!/bin/bash
# bench/ddl_overhead.sh: what schemamig's event triggers add per DDL statement
#
# Starts its own throwaway cluster (fsync on, i.e. default durability) with
# three databases:
#   bare       nothing installed
#   plpgsql    the canonical PL/pgSQL audit: a ddl_command_end event trigger
#              inserting pg_event_trigger_ddl_commands() rows + current_query()
#              into an audit table, and an sql_drop trigger inserting
#              pg_event_trigger_dropped_objects() rows
#   schemamig  CREATE EXTENSION schemamig (guard + DDL log, C functions); the
#              DDL runs inside BEGIN; SELECT schemamig.begin_revision(..); COMMIT
# and times (wall clock of `psql -X -q -f file`, connection included) these
# workloads, configurations interleaved within every round:
#   micro       $MICRO_N x COMMENT ON TABLE t IS '<n>', one transaction
#   mixed_tx    $MIXED_N mixed statements (CREATE TABLE, ALTER TABLE ADD COLUMN
#               with a constant default, CREATE INDEX, COMMENT, DROP TABLE),
#               one transaction
#   mixed_auto  the first $AUTO_N of those statements, one transaction each:
#               BEGIN; SELECT 1; stmt; COMMIT;  (schemamig: SELECT
#               schemamig.begin_revision('<unique id>') instead of SELECT 1)
#   txn_only    $AUTO_N x BEGIN; SELECT 1; COMMIT;  (schemamig: begin_revision)
#               no DDL at all: the per-transaction bookkeeping of
#               begin_revision() (register 'external' revision, mark applied,
#               journal row) on its own
# bare and plpgsql run the very same files; schemamig's differ only in the
# SELECT 1 -> begin_revision() line.  Every workload leaves the schema as it
# found it (each CREATE TABLE is dropped again), so rounds are comparable;
# the audit tables / schemamig.ddl_log keep growing, as they would in real
# life.  It reports, per workload and config: median and min-max over
# $ROUNDS rounds, the ratio of medians vs bare (same run) and the added
# microseconds per statement (per transaction for txn_only).
#
# Finally, for a figure that does not drift with machine load, the cluster
# is restarted with the postmaster under valgrind --tool=callgrind (which
# follows the forked backends) and the micro workload runs once with
# $CALLGRIND_N statements and once with none in every database: the
# instructions a backend executes per COMMENT are (I(N) - I(0)) / N, and
# what a configuration adds is the difference to bare.  (perf stat cannot
# count instructions in this VM.)
#
# Usage: bash bench/ddl_overhead.sh
#   env: MICRO_N=10000 MIXED_N=2000 AUTO_N=2000 ROUNDS=5 WARMUP=1
#        WORKLOADS="micro mixed_tx mixed_auto txn_only" CALLGRIND_N=2000
#        (0 skips callgrind) PORT=<random>
set -euo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh

MICRO_N=${MICRO_N:-10000}
MIXED_N=${MIXED_N:-2000}
AUTO_N=${AUTO_N:-2000}
ROUNDS=${ROUNDS:-5}
WARMUP=${WARMUP:-1}
WORKLOADS=${WORKLOADS:-"micro mixed_tx mixed_auto txn_only"}
CALLGRIND_N=${CALLGRIND_N:-2000}
CONFIGS="bare plpgsql schemamig"

if [ "$(id -u)" = 0 ]; then
	ensure_packages valgrind
	build_and_install
fi
CLUSTER_FSYNC=on
cluster_start ${PORT:-}

WORK=$(mktemp -d /tmp/schemamig-ddlbench.XXXXXX)
RESULTS="$WORK/results"
: >"$RESULTS"
# cluster_start's trap stops the cluster; also remove the work directory
trap 'cluster_stop; rm -rf "$WORK"' EXIT

echo "== server: $(psql -X -At -d postgres -c 'SHOW server_version'), fsync=$(psql -X -At -d postgres -c 'SHOW fsync'), synchronous_commit=$(psql -X -At -d postgres -c 'SHOW synchronous_commit')"
echo "== setting up databases: $CONFIGS"
for db in $CONFIGS; do
	psql -X -q -v ON_ERROR_STOP=1 -d postgres -c "CREATE DATABASE $db"
	# the micro workload's target, created before any trigger exists
	psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c "CREATE TABLE public.t (id int)"
done

psql -X -q -v ON_ERROR_STOP=1 -d plpgsql <<'SQL'
CREATE SCHEMA audit;
CREATE TABLE audit.ddl_command (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	username name NOT NULL DEFAULT session_user,
	txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
	classid oid, objid oid, objsubid integer,
	command_tag text, object_type text, schema_name text,
	object_identity text, in_extension boolean,
	query text
);
CREATE TABLE audit.dropped_object (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	username name NOT NULL DEFAULT session_user,
	txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
	classid oid, objid oid, objsubid integer,
	original boolean, normal boolean, is_temporary boolean,
	object_type text, schema_name text, object_name text,
	object_identity text, address_names text[], address_args text[],
	query text
);
CREATE FUNCTION audit.log_ddl_command() RETURNS event_trigger
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO audit.ddl_command (classid, objid, objsubid, command_tag,
		object_type, schema_name, object_identity, in_extension, query)
	SELECT classid, objid, objsubid, command_tag, object_type, schema_name,
		   object_identity, in_extension, current_query()
	FROM pg_event_trigger_ddl_commands();
END
$$;
CREATE FUNCTION audit.log_dropped_object() RETURNS event_trigger
LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO audit.dropped_object (classid, objid, objsubid, original,
		normal, is_temporary, object_type, schema_name, object_name,
		object_identity, address_names, address_args, query)
	SELECT classid, objid, objsubid, original, normal, is_temporary,
		   object_type, schema_name, object_name, object_identity,
		   address_names, address_args, current_query()
	FROM pg_event_trigger_dropped_objects();
END
$$;
CREATE EVENT TRIGGER audit_ddl_command ON ddl_command_end
	EXECUTE FUNCTION audit.log_ddl_command();
CREATE EVENT TRIGGER audit_dropped_object ON sql_drop
	EXECUTE FUNCTION audit.log_dropped_object();
SQL

psql -X -q -v ON_ERROR_STOP=1 -d schemamig -c "CREATE EXTENSION schemamig"

# ---------------------------------------------------------------- workloads
# Each workload has two files: $wl.plain.sql (bare and plpgsql) and
# $wl.schemamig.sql; the latter reads the psql variable rev (unique per run).

# micro
{
	echo "BEGIN;"
	echo "SELECT 1;"
	for i in $(seq 1 "$MICRO_N"); do echo "COMMENT ON TABLE t IS '$i';"; done
	echo "COMMIT;"
} >"$WORK/micro.plain.sql"

# the mixed statements: groups of 5, each group leaves nothing behind
mixed_statements() {
	local n=$1 i=0 g=0
	while [ "$i" -lt "$n" ]; do
		g=$((g + 1))
		for s in \
			"CREATE TABLE w$g (id bigint PRIMARY KEY, name text NOT NULL, created timestamptz);" \
			"ALTER TABLE w$g ADD COLUMN score integer NOT NULL DEFAULT 0;" \
			"CREATE INDEX w${g}_name_idx ON w$g (name);" \
			"COMMENT ON TABLE w$g IS 'bench table $g';" \
			"DROP TABLE w$g;"; do
			[ "$i" -lt "$n" ] || break
			echo "$s"
			i=$((i + 1))
		done
	done
	# a group cut short by $n: drop its table so the schema is unchanged
	if [ $((n % 5)) -ne 0 ]; then echo "DROP TABLE w$g;"; fi
}
if [ $((MIXED_N % 5)) -ne 0 ] || [ $((AUTO_N % 5)) -ne 0 ]; then
	echo "MIXED_N and AUTO_N must be multiples of 5" >&2
	exit 1
fi

{
	echo "BEGIN;"
	echo "SELECT 1;"
	mixed_statements "$MIXED_N"
	echo "COMMIT;"
} >"$WORK/mixed_tx.plain.sql"

mixed_statements "$AUTO_N" >"$WORK/auto.stmts"
awk '{ print "BEGIN;"; print "SELECT 1;"; print; print "COMMIT;" }' \
	"$WORK/auto.stmts" >"$WORK/mixed_auto.plain.sql"

for i in $(seq 1 "$AUTO_N"); do
	printf 'BEGIN;\nSELECT 1;\nCOMMIT;\n'
done >"$WORK/txn_only.plain.sql"

# schemamig variants: the first "SELECT 1;" of each transaction becomes
# begin_revision(); transaction k gets revision id <rev>_k
for wl in micro mixed_tx mixed_auto txn_only; do
	awk '$0 == "SELECT 1;" { k++; printf "SELECT schemamig.begin_revision(:'"'"'rev'"'"' || '"'"'_%d'"'"');\n", k; next } { print }' \
		"$WORK/$wl.plain.sql" >"$WORK/$wl.schemamig.sql"
done

ddl_count() {
	case $1 in
		micro) echo "$MICRO_N" ;;
		mixed_tx) echo "$MIXED_N" ;;
		mixed_auto | txn_only) echo "$AUTO_N" ;;
	esac
}

# run_one WORKLOAD CONFIG ROUND: time one run, append "wl config round ns"
run_one() {
	local wl=$1 cfg=$2 round=$3 file start end
	if [ "$cfg" = schemamig ]; then file="$WORK/$wl.schemamig.sql"; else file="$WORK/$wl.plain.sql"; fi
	start=$(date +%s%N)
	if ! psql -X -q -v ON_ERROR_STOP=1 -v rev="b_${wl}_r${round}" -d "$cfg" -f "$file" >/dev/null 2>"$WORK/err"; then
		echo "FAILED: $wl on $cfg (round $round):" >&2
		cat "$WORK/err" >&2
		exit 1
	fi
	end=$(date +%s%N)
	if [ -s "$WORK/err" ]; then
		echo "unexpected output from $wl on $cfg:" >&2
		head -5 "$WORK/err" >&2
	fi
	if [ "$round" -gt 0 ]; then
		echo "$wl $cfg $round $((end - start))" >>"$RESULTS"
	fi
	printf ' %s=%dms' "$cfg" $(((end - start) / 1000000))
}

# keep catalog bloat from drifting between rounds: vacuum every database
# (not timed) before each round
vacuum_all() {
	for db in $CONFIGS; do psql -X -q -d "$db" -c "VACUUM" >/dev/null; done
	psql -X -q -d postgres -c "CHECKPOINT" >/dev/null
}

bench_start=$(date +%s)
echo "== workloads: micro=$MICRO_N mixed_tx=$MIXED_N mixed_auto=$AUTO_N txn_only=$AUTO_N; rounds=$ROUNDS (+$WARMUP warm-up)"
for round in $(seq $((1 - WARMUP)) "$ROUNDS"); do
	vacuum_all
	for wl in $WORKLOADS; do
		if [ "$round" -le 0 ]; then printf '  warm-up %-10s' "$wl"; else printf '  round %d %-10s' "$round" "$wl"; fi
		for cfg in $CONFIGS; do run_one "$wl" "$cfg" "$round"; done
		echo
	done
done
bench_secs=$(($(date +%s) - bench_start))

# sanity: what the loggers recorded
rounds_total=$((ROUNDS + WARMUP))
ddl_rows=$(psql -X -At -d schemamig -c "SELECT count(*) FROM schemamig.ddl_log")
unversioned=$(psql -X -At -d schemamig -c "SELECT count(*) FROM schemamig.ddl_log WHERE direction <> 'client'")
revisions=$(psql -X -At -d schemamig -c "SELECT count(*) FROM schemamig.revision")
audit_rows=$(psql -X -At -d plpgsql -c "SELECT (SELECT count(*) FROM audit.ddl_command) || ' ddl_command + ' || (SELECT count(*) FROM audit.dropped_object) || ' dropped_object'")
echo "== logged: schemamig.ddl_log $ddl_rows rows ($unversioned not 'client'), $revisions revisions; plpgsql audit $audit_rows rows (after $rounds_total runs per workload)"

# ---------------------------------------------------------------- report
echo
echo "== results: wall clock ms, median [min-max] of $ROUNDS rounds; ratio = median / bare median; +us/stmt = (median - bare median) / statements"
echo "   (txn_only: per transaction, no DDL)"
for wl in $WORKLOADS; do
	awk -v wl="$wl" -v n="$(ddl_count "$wl")" '
		$1 == wl { k = $2; c[k]++; v[k, c[k]] = $4 / 1e6 }
		function median(k,   i, j, t, m, a) {
			m = c[k]
			for (i = 1; i <= m; i++) a[i] = v[k, i]
			for (i = 2; i <= m; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
			lo[k] = a[1]; hi[k] = a[m]
			return (m % 2) ? a[(m + 1) / 2] : (a[m / 2] + a[m / 2 + 1]) / 2
		}
		END {
			split("bare plpgsql schemamig", cfgs, " ")
			for (i = 1; i <= 3; i++) med[cfgs[i]] = median(cfgs[i])
			for (i = 1; i <= 3; i++) {
				k = cfgs[i]
				if (k == "bare")
					printf "%-10s %6d %-10s %9.1f [%9.1f - %9.1f]      1.00x          -\n", wl, n, k, med[k], lo[k], hi[k]
				else
					printf "%-10s %6d %-10s %9.1f [%9.1f - %9.1f] %9.2fx %+10.1f\n", wl, n, k, med[k], lo[k], hi[k],
						med[k] / med["bare"], (med[k] - med["bare"]) * 1000 / n
			}
		}' "$RESULTS"
done | {
	printf '%-10s %6s %-10s %9s  %-23s %9s %10s\n' workload stmts config median "[min - max]" ratio "+us/stmt"
	cat
} | tee "$WORK/table"

echo
# one-line summary: added us/statement for plpgsql and schemamig, per workload
awk '
	{ wl = $1; if (!(wl in seen)) { seen[wl] = 1; order[++nw] = wl } }
	$3 == "plpgsql" { p[wl] = $NF; pr[wl] = $(NF - 1) }
	$3 == "schemamig" { s[wl] = $NF; sr[wl] = $(NF - 1) }
	END {
		line = "SUMMARY (added us per statement vs bare, ratio): "
		for (i = 1; i <= nw; i++) {
			wl = order[i]
			if (!(wl in s)) continue
			line = line sprintf("%s%s plpgsql %s (%s) schemamig %s (%s)", (i > 1 ? "; " : ""), wl, p[wl], pr[wl], s[wl], sr[wl])
		}
		print line
	}' <(tail -n +2 "$WORK/table")
echo "(benchmark phase ${bench_secs}s)"

# ---------------------------------------------------------------- callgrind
[ "$CALLGRIND_N" -gt 0 ] && command -v valgrind >/dev/null || exit 0
echo
echo "== instructions per statement: micro workload under valgrind --tool=callgrind, N=$CALLGRIND_N"
CG=$WORK/callgrind
mkdir -p "$CG"
# start every database from the same state: a COMMENT walks the versions
# of its pg_description row that the timed runs left behind, and
# autovacuum reaches the databases at different times
vacuum_all
chmod 777 "$CG" "$WORK"
as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
as_postgres valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$CG/cg.%p" \
	"$PG_BIN/postgres" -D "$PGDATA" >"$CG/postmaster.log" 2>&1 &
for i in $(seq 1 120); do
	psql -X -q -d postgres -c "SELECT 1" >/dev/null 2>&1 && break
	sleep 1
done
# cg_file WORKLOAD-FILE: header + N statements or none
for n in 0 "$CALLGRIND_N"; do
	for kind in plain schemamig; do
		{
			echo "BEGIN;"
			if [ "$kind" = schemamig ]; then echo "SELECT schemamig.begin_revision(:'rev');"; else echo "SELECT 1;"; fi
			for i in $(seq 1 "$n"); do echo "COMMENT ON TABLE t IS 'cg $i';"; done
			echo "COMMIT;"
		} >"$CG/$kind.$n.sql"
	done
done
for n in 0 "$CALLGRIND_N"; do
	for cfg in $CONFIGS; do
		kind=plain
		[ "$cfg" = schemamig ] && kind=schemamig
		pid=$(psql -X -q -At -v ON_ERROR_STOP=1 -v rev="cg_$n" -d "$cfg" -c "SELECT pg_backend_pid()" -f "$CG/$kind.$n.sql" | awk 'NR == 1')
		echo "$cfg $n $pid" >>"$CG/pids"
	done
done
as_postgres "$PG_BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1 || true
for i in $(seq 1 30); do pgrep -f "callgrind.*$PGDATA" >/dev/null || break; sleep 1; done
while read -r cfg n pid; do
	echo "$cfg $n $(awk '/^(summary|totals):/ { print $2; exit }' "$CG/cg.$pid")"
done <"$CG/pids" >"$CG/ir"
awk -v n="$CALLGRIND_N" '
	{ ir[$1, $2] = $3 }
	END {
		split("bare plpgsql schemamig", cfgs, " ")
		for (i = 1; i <= 3; i++) per[cfgs[i]] = (ir[cfgs[i], n] - ir[cfgs[i], 0]) / n
		printf "%-10s %14s %16s\n", "config", "instr/stmt", "added instr/stmt"
		for (i = 1; i <= 3; i++)
			printf "%-10s %14.0f %16.0f\n", cfgs[i], per[cfgs[i]], per[cfgs[i]] - per["bare"]
		printf "SUMMARY ddl instructions (callgrind, COMMENT ON TABLE, added per statement vs bare): plpgsql %+.0f, schemamig %+.0f (%.2f of plpgsql; target <= 0.33)\n",
			per["plpgsql"] - per["bare"], per["schemamig"] - per["bare"],
			(per["schemamig"] - per["bare"]) / (per["plpgsql"] - per["bare"])
	}' "$CG/ir"
