#!/bin/bash
# make test: build, install, start a throwaway cluster and run every suite:
# pg_regress (sql/), isolation (specs/), TAP (t/, clusters of their own),
# pgTAP (test/pgtap/) and the integration scripts (test/integration/).
# Ends with one line "N passed, N failed" (CI reads it); non-zero on failure.
#   env: SUITES="regress isolation tap pgtap integration" picks suites,
#        PROVE_TESTS="t/001_crash_recovery.pl ..." some TAP tests,
#        PG_CONFIG / PG_BIN another installation (the major comes from it:
#        test/lib.sh), INTEGRATION a regex of the integration scripts to
#        run (test/majors/run.sh runs a subset on other majors).  Every
#        suite and integration script prints its time.
set -uo pipefail
cd "$(dirname "$0")/.."
. test/lib.sh
INTEGRATION=${INTEGRATION:-.}

SUITES=${SUITES:-"regress isolation tap pgtap integration"}
passed=0
failed=0
failures=""
start=$(date +%s)

# count OUTPUT PASS_RE FAIL_RE SUITE: add the matching lines to the totals
count() {
	local p f
	p=$(grep -cE "$2" "$1")
	f=$(grep -cE "$3" "$1")
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" = 0 ] || failures="$failures $4:$(grep -E "$3" "$1" |
		sed -E 's/^test +([^ ]+).*/\1/; s/^not ok +[0-9]+ +- +([^ ]+).*/\1/' | tr '\n' ' ')"
}
# pg_regress's lines for a test: "test name ... ok" up to 15, TAP-style
# "ok 1 - name" / "not ok 1 - name" from 16 on
REGRESS_OK='^(test .* \.\.\. ok |ok +[0-9]+ +- )'
REGRESS_FAILED='^(test .* \.\.\. FAILED|not ok +[0-9]+ +- )'

# suite NAME CMD...: run a suite that reports no per-test lines we can count
# (a setup step): a failure counts as one failed test
step_failed() {
	failed=$((failed + 1))
	failures="$failures $1"
}

ensure_packages || exit 1
build_and_install || exit 1
cluster_start
out=$(mktemp /tmp/schemamig-test.XXXXXX)
trap 'rm -f "$out"; cluster_stop' EXIT

echo "== PostgreSQL $PG_MAJOR ($PG_CONFIG)"
for suite in $SUITES; do
	echo "== $suite: from $(($(date +%s) - start)) s"
	case $suite in
	regress)
		echo "== pg_regress"
		make -s installcheck ISOLATION= TAP_TESTS= 2>&1 | tee "$out"
		rc=${PIPESTATUS[0]}
		[ -f regression.diffs ] && grep -qE "$REGRESS_FAILED" "$out" && head -200 regression.diffs
		count "$out" "$REGRESS_OK" "$REGRESS_FAILED" pg_regress
		[ "$rc" = 0 ] || grep -qE "$REGRESS_FAILED" "$out" || step_failed pg_regress
		;;
	isolation)
		echo "== isolation"
		make -s installcheck REGRESS= TAP_TESTS= 2>&1 | tee "$out"
		rc=${PIPESTATUS[0]}
		[ -f output_iso/regression.diffs ] && grep -qE "$REGRESS_FAILED" "$out" && head -200 output_iso/regression.diffs
		count "$out" "$REGRESS_OK" "$REGRESS_FAILED" isolation
		[ "$rc" = 0 ] || grep -qE "$REGRESS_FAILED" "$out" || step_failed isolation
		;;
	tap)
		echo "== TAP"
		ls t/*.pl >/dev/null 2>&1 || continue
		# PostgreSQL::Test::Cluster runs initdb, pg_ctl and postgres from
		# PATH and pg_regress from PG_REGRESS; PGXS's prove_installcheck
		# sets both from PG_CONFIG's installation ($(bindir) first on
		# PATH).  initdb refuses to run as root: as root, the tests run as
		# postgres in a copy of the tree it may write (tmp_check/).
		tapsrc=.
		if [ "$(id -u)" = 0 ]; then
			tapdir=$(mktemp -d /tmp/schemamig-tap.XXXXXX)
			tapsrc=$tapdir/src
			cp -r . "$tapsrc" && chown -R postgres: "$tapdir"
			(cd "$tapsrc" && runuser -u postgres -- env PATH="$PATH" PG_CONFIG="${PG_CONFIG:-pg_config}" \
				make -s installcheck REGRESS= ISOLATION= PROVE_FLAGS="${PROVE_FLAGS:-}") 2>&1 | tee "$out"
		else
			make -s installcheck REGRESS= ISOLATION= 2>&1 | tee "$out"
		fi
		rc=${PIPESTATUS[0]}
		# prove lists each failed file in its summary as "t/x.pl (Wstat: ...)"
		total=$(ls ${PROVE_TESTS:-t/*.pl} | wc -l)
		bad=$(grep -cE '^t/[^ ]+\.pl +\(Wstat' "$out")
		if [ "$rc" != 0 ] && [ "$bad" = 0 ]; then
			bad=$total
		fi
		passed=$((passed + total - bad))
		failed=$((failed + bad))
		if [ "$bad" != 0 ]; then
			failures="$failures tap:$(grep -oE '^t/[^ ]+\.pl +\(Wstat' "$out" | cut -d' ' -f1 | tr '\n' ' ')"
			logs=$(mktemp -d /tmp/schemamig-tap-logs.XXXXXX)
			cp -r "$tapsrc/tmp_check/log" "$logs/" 2>/dev/null
			echo "TAP logs kept in $logs/log"
		fi
		[ "$tapsrc" = . ] || rm -rf "$tapdir"
		;;
	pgtap)
		echo "== pgTAP"
		psql -qX -d postgres -c "CREATE DATABASE tap" >/dev/null
		psql -qX -d tap -c "CREATE EXTENSION pgtap; CREATE EXTENSION schemamig" >/dev/null
		pg_prove -d tap test/pgtap/*.sql 2>&1 | tee "$out"
		count "$out" '^test/pgtap/.*\.sql \.+ ok' '^test/pgtap/.*\.sql \.+ ([^o]|o[^k])' pgtap
		;;
	integration)
		echo "== integration"
		for t in test/integration/*.sh; do
			[ -e "$t" ] || continue
			[[ $(basename "$t" .sh) =~ $INTEGRATION ]] || continue
			echo "-- $t"
			t0=$(date +%s)
			if bash "$t"; then
				passed=$((passed + 1))
			else
				echo "FAILED: $t"
				step_failed "$t"
			fi
			echo "-- $t: $(($(date +%s) - t0)) s"
		done
		;;
	*)
		echo "unknown suite $suite" >&2
		step_failed "$suite"
		;;
	esac
done

echo "== $(($(date +%s) - start)) s${failures:+; failed:$failures}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
