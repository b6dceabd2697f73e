#!/bin/bash
# The schemamig client program: a folder in each supported layout
# (test/integration/deploy/<layout>/, shaped like each tool's real
# migrations) deploys with one command on a fresh database and on one that
# adopted its existing schema with a baseline; both end with the same
# schema and the same graph.  Exit codes: 0 reached, 1 error, 2 usage,
# 3 stopped short or partial.  Resume after a failed CREATE INDEX
# CONCURRENTLY, two deploys at once, a non-superuser database owner.
set -uo pipefail
cd "$(dirname "$0")"
BIN=$(${PG_CONFIG:-pg_config} --bindir)/schemamig
FIX=$PWD/deploy
WORK=$(mktemp -d /tmp/schemamig-deploy.XXXXXX)
chmod 755 "$WORK"
dbs=""
fail=0
cleanup() {
	for d in $dbs; do psql -qX -d postgres -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1; done
	psql -qX -d postgres -c "DROP ROLE IF EXISTS deploy_owner_$$" >/dev/null 2>&1
	rm -rf "$WORK"
}
trap cleanup EXIT; [ -n "${KEEP:-}" ] && trap - EXIT

newdb() {
	local d=$1_$$
	dbs="$dbs $d"
	psql -qX -d postgres -c "CREATE DATABASE $d" >/dev/null
	[ "${2:-}" = noext ] || psql -qX -d $d -c "CREATE EXTENSION schemamig" >/dev/null
	echo $d
}
q() { psql -XAtq -d "$1" -c "$2"; }
expect() {	# expect WHAT GOT WANT
	if [ "$2" != "$3" ]; then
		echo "FAIL: $1: got [$2], want [$3]"
		fail=1
	else
		echo "ok: $1"
	fi
}
run() {		# run EXPECTED_RC LABEL CMD... (output in $WORK/out)
	local want=$1 label=$2
	shift 2
	"$@" >"$WORK/out" 2>&1
	local rc=$?
	if [ $rc != "$want" ]; then
		echo "FAIL: $label: exit $rc, want $want"
		cat "$WORK/out"
		fail=1
	else
		echo "ok: $label (exit $rc)"
	fi
}
graph() { q "$1" "SELECT string_agg(revision || '<' || array_to_string(parents, ','), ' ') FROM schemamig.history()"; }

# the layout's own way of writing a baseline file holding SQL
baseline_file() {	# layout dir sqlfile
	case $1 in
	schemamig) cp "$3" "$2/0000_baseline.sql" ;;
	dbmate) { echo "-- migrate:up"; cat "$3"; echo "-- migrate:down"; } >"$2/20000101000000_baseline.sql" ;;
	sql-migrate) { echo "-- +migrate Up"; cat "$3"; echo "-- +migrate Down"; } >"$2/0_baseline.sql" ;;
	diesel) mkdir -p "$2/0_baseline" && cp "$3" "$2/0_baseline/up.sql" ;;
	flyway) cp "$3" "$2/V0__baseline.sql" ;;
	esac
}
baseline_id() {
	case $1 in
	schemamig) echo 0000_baseline ;; dbmate) echo 20000101000000_baseline ;;
	sql-migrate) echo 0_baseline ;; diesel) echo 0_baseline ;;
	flyway) echo V0__baseline ;;
	esac
}

echo "== exit codes for usage"
run 2 "no command" "$BIN"
run 2 "unknown command" "$BIN" frobnicate
run 2 "deploy without a folder" "$BIN" deploy
run 2 "relative deploy target" "$BIN" deploy "$FIX/schemamig" +1
run 0 "--help" "$BIN" --help
run 1 "no server" "$BIN" -h "$WORK" -p 1 status
nox=$(newdb nox noext)
run 1 "extension not installed" "$BIN" -d $nox status

expected_order_dbmate="20230101120000_create_users< 20230102093000_seed_admin<20230101120000_create_users 20230215080000_users_email_index<20230102093000_seed_admin 20230301000000_create_posts<20230215080000_users_email_index"
expected_order_sql_migrate="1_init< 2_touch_function<1_init 3_seed<2_touch_function 10_name_index<3_seed"
expected_order_diesel="00000000000000_diesel_initial_setup< 2023-01-10-120000_create_posts<00000000000000_diesel_initial_setup 2023-02-01-000000_add_published<2023-01-10-120000_create_posts"
expected_order_flyway="V1__create_accounts< V1.1__add_account_name<V1__create_accounts V1.2__seed_accounts<V1.1__add_account_name V1.10__account_name_index<V1.2__seed_accounts"
expected_order_schemamig="0001_users< 0002_teams<0001_users 0003_users_team<0002_teams 0004_validate<0003_users_team 0005_users_team_idx<0004_validate"

for layout in schemamig dbmate sql-migrate diesel flyway; do
	echo "== $layout: fresh database"
	fresh=$(newdb fresh_${layout//-/_})
	run 0 "$layout deploy" "$BIN" -d $fresh deploy "$FIX/$layout"
	grep -q "($layout layout)" "$WORK/out" || { echo "FAIL: layout not detected as $layout"; cat "$WORK/out"; fail=1; }
	var=expected_order_${layout//-/_}
	expect "$layout graph and order" "$(graph $fresh)" "${!var}"
	expect "$layout nothing pending" "$(q $fresh "SELECT count(*) FROM schemamig.pending()")" 0
	run 0 "$layout status" "$BIN" -d $fresh status
	run 0 "$layout deploy again" "$BIN" -d $fresh deploy "$FIX/$layout"
	grep -q "nothing to deploy" "$WORK/out" || { echo "FAIL: second deploy did something"; fail=1; }
	expect "$layout each revision applied once" \
		"$(q $fresh "SELECT count(*) = count(DISTINCT revision) AND count(*) = (SELECT count(*) FROM schemamig.revision) FROM schemamig.journal WHERE action = 'upgrade'")" t

	echo "== $layout: existing database adopted with a baseline"
	old=$(newdb old_${layout//-/_} noext)
	q $old "CREATE TABLE legacy_orders (id bigint PRIMARY KEY, placed timestamptz NOT NULL DEFAULT now());
		CREATE INDEX legacy_orders_placed_idx ON legacy_orders (placed);
		CREATE VIEW legacy_recent AS SELECT id FROM legacy_orders;
		CREATE TYPE legacy_state AS ENUM ('new', 'done');
		INSERT INTO legacy_orders (id) VALUES (1)"
	q $old "CREATE EXTENSION schemamig"
	folder=$WORK/$layout
	cp -r "$FIX/$layout" "$folder"
	pg_dump --schema-only -d $old >"$WORK/dump.sql"
	baseline_file $layout "$folder" "$WORK/dump.sql"
	bid=$(baseline_id $layout)
	run 0 "$layout load with the baseline file" "$BIN" -d $old load "$folder"
	run 3 "$layout status before baseline: pending" "$BIN" -d $old status
	run 0 "$layout baseline" "$BIN" -d $old baseline $bid
	expect "$layout baseline journal" "$(q $old "SELECT action || ':' || revision FROM schemamig.journal")" "baseline:$bid"
	run 0 "$layout deploy after baseline" "$BIN" -d $old deploy "$folder"
	expect "$layout legacy data kept" "$(q $old "SELECT count(*) FROM legacy_orders")" 1
	run 1 "$layout baseline refused once applied" "$BIN" -d $old baseline other_baseline
	grep -q "SM004\|refused once a revision is applied" "$WORK/out" || { echo "FAIL: baseline refusal message"; fail=1; }

	echo "== $layout: a fresh database deploys the same folder to the same schema"
	twin=$(newdb twin_${layout//-/_})
	run 0 "$layout deploy folder with baseline file" "$BIN" -d $twin deploy "$folder"
	expect "$layout same fingerprint" "$(q $twin "SELECT schemamig.fingerprint()")" "$(q $old "SELECT schemamig.fingerprint()")"
	expect "$layout same graph" "$(graph $twin)" "$(graph $old)"
	expect "$layout search_path not leaked" "$(q $twin "SELECT count(*) FROM pg_tables WHERE tablename = 'legacy_orders'")" 1
done

echo "== the step protocol: DML and CREATE MATERIALIZED VIEW in a notransaction revision run once"
d=fresh_sql_migrate_$$
expect "sql-migrate rows inserted once" "$(q $d "SELECT count(*) FROM people")" 3
expect "matview created" "$(q $d "SELECT n FROM people_count")" 3
echo 'SELECT * FROM schemamig.steps() \gexec' | psql -qX -v ON_ERROR_STOP=1 -d $d >/dev/null
expect "steps() replay changes nothing" "$(q $d "SELECT count(*) FROM people")" 3
expect "run_step statements logged under the revision" \
	"$(q $d "SELECT string_agg(statement_no || ':' || command_tag, ',' ORDER BY id) FROM schemamig.ddl_log WHERE revision = '10_name_index'")" \
	"1:CREATE INDEX,3:CREATE MATERIALIZED VIEW"
expect "index valid" "$(q $d "SELECT indisvalid FROM pg_index WHERE indexrelid = 'people_name_idx'::regclass")" t

echo "== resume after a failed CREATE INDEX CONCURRENTLY"
d=$(newdb resume)
run 0 "deploy up to the seed" "$BIN" -d $d deploy "$FIX/dbmate" 20230102093000_seed_admin
q $d "INSERT INTO users (email) VALUES ('admin@example.com')"
run 1 "deploy fails on the duplicate" "$BIN" -d $d deploy "$FIX/dbmate"
run 3 "status: partial" "$BIN" -d $d status
run 1 "psql pipeline: assert_at fails" psql -XAtq -v ON_ERROR_STOP=1 -d $d -c "SELECT schemamig.assert_at()"
grep -q "SM009\|is not at target" "$WORK/out" || { echo "FAIL: assert_at message"; cat "$WORK/out"; fail=1; }
q $d "DELETE FROM users WHERE id = (SELECT max(id) FROM users)"
run 0 "deploy resumes" "$BIN" -d $d deploy "$FIX/dbmate"
expect "unique index valid" "$(q $d "SELECT indisvalid FROM pg_index WHERE indexrelid = 'users_email_idx'::regclass")" t
run 0 "psql pipeline: assert_at passes" psql -XAtq -v ON_ERROR_STOP=1 -d $d -c "SELECT schemamig.assert_at()"

echo "== stopped short: another session holds the step lock"
d=$(newdb short)
psql -XAtq -d $d -c "SELECT pg_advisory_lock(1935895911, 2), pg_sleep(30)" >/dev/null 2>&1 &
locker=$!
sleep 1
run 3 "deploy stops short" "$BIN" -d $d deploy "$FIX/dbmate"
q postgres "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '$d' AND query LIKE '%pg_advisory_lock%' AND pid <> pg_backend_pid()" >/dev/null
wait $locker 2>/dev/null
run 0 "deploy completes" "$BIN" -d $d deploy "$FIX/dbmate"

echo "== load: refusals leave nothing registered; a vanished file is kept with a warning"
d=$(newdb refused)
bad=$WORK/bad
mkdir -p "$bad"
cp "$FIX/schemamig/0001_users.sql" "$bad/"
printf 'ALTER TABLE users ADD COLUMN nickname text NOT NULL;\n' >"$bad/0002_bad.sql"
run 0 "deploy first file" "$BIN" -d $d deploy "$FIX/schemamig" 0001_users
# NOT NULL without a default is an error where the table has rows
q $d "INSERT INTO users (email) VALUES ('a@example.org')" >/dev/null
run 1 "lint refuses" "$BIN" -d $d load "$bad"
grep -q "0002_bad" "$WORK/out" || { echo "FAIL: refusal names the file"; fail=1; }
expect "nothing of the refused load registered" "$(q $d "SELECT count(*) FROM schemamig.revision WHERE revision = '0002_bad'")" 0
run 1 "lint command: error finding" "$BIN" -d $d lint "$bad/0002_bad.sql"
run 0 "lint command: clean file" "$BIN" -d $d lint "$FIX/schemamig/0002_teams.sql"
rm "$bad/0002_bad.sql"
mkdir -p "$WORK/empty"
run 0 "load of a folder without the files" "$BIN" -d $d load "$WORK/empty"
grep -q 'revision "0001_users" is registered but has no file' "$WORK/out" || { echo "FAIL: no warning"; cat "$WORK/out"; fail=1; }
expect "nothing unregistered" "$(q $d "SELECT count(*) FROM schemamig.revision")" 5

echo "== a harmless edit of an applied file is repaired; a real one is refused"
d=$(newdb repair)
ed=$WORK/edited
cp -r "$FIX/flyway" "$ed"
run 0 "deploy" "$BIN" -d $d deploy "$ed"
printf -- '-- accounts, re-indented\nCREATE TABLE accounts (\n  id BIGINT PRIMARY KEY,\n  created TIMESTAMPTZ NOT NULL DEFAULT now()\n);\n' >"$ed/V1__create_accounts.sql"
run 0 "load of the re-indented file" "$BIN" -d $d load "$ed"
grep -q 'applied revision "V1__create_accounts" repaired' "$WORK/out" || { echo "FAIL: no repair notice"; cat "$WORK/out"; fail=1; }
expect "journal records the repair" "$(q $d "SELECT action FROM schemamig.journal ORDER BY id DESC LIMIT 1")" repair
printf 'CREATE TABLE accounts (id int PRIMARY KEY);\n' >"$ed/V1__create_accounts.sql"
run 1 "a changed statement is refused" "$BIN" -d $d deploy "$ed"
grep -q 'Upgrade statement 1 differs' "$WORK/out" || { echo "FAIL: SM002 does not name the statement"; cat "$WORK/out"; fail=1; }

echo "== two deploys at once apply each revision once"
d=$(newdb twice)
slow=$WORK/slow
cp -r "$FIX/schemamig" "$slow"
printf -- '-- schemamig:parents 0001_users\nSELECT pg_sleep(1);\nCREATE TABLE slow_done (id int);\n-- schemamig:downgrade\nDROP TABLE slow_done;\n' >"$slow/0001a_slow.sql"
sed -i 's/-- schemamig:parents 0001_users/-- schemamig:parents 0001a_slow/' "$slow/0002_teams.sql"
"$BIN" -d $d deploy "$slow" >"$WORK/a" 2>&1 &
a=$!
"$BIN" -d $d deploy "$slow" >"$WORK/b" 2>&1 &
b=$!
wait $a; rca=$?
wait $b; rcb=$?
expect "both deploys exit 0" "$rca $rcb" "0 0"
expect "each revision applied once" "$(q $d "SELECT count(*) || '/' || count(DISTINCT revision) FROM schemamig.journal WHERE action = 'upgrade'")" "6/6"

echo "== a non-superuser database owner (trusted install)"
psql -qX -d postgres -c "CREATE ROLE deploy_owner_$$ LOGIN" >/dev/null
d=owned_$$
dbs="$dbs $d"
psql -qX -d postgres -c "CREATE DATABASE $d OWNER deploy_owner_$$" >/dev/null
psql -qX -U deploy_owner_$$ -d $d -c "CREATE EXTENSION schemamig" >/dev/null
run 0 "owner deploys" "$BIN" -U deploy_owner_$$ -d $d deploy "$FIX/sql-migrate"
expect "owner deploy rows" "$(q $d "SELECT count(*) FROM people")" 3

[ $fail = 0 ] && echo "deploy_client: all passed"
exit $fail
