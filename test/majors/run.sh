#!/bin/bash
# test/majors/run.sh MAJOR SUITE: build schemamig with -Werror against
# PostgreSQL MAJOR from Debian SUITE and run its tests there, in a throwaway
# chroot (test/majors/chroot.sh); the host's packages and clusters are never
# touched.  Run by .ci/run for 17 (trixie) and 18 (forky).
#
# What runs inside is the project's own `make test` (test/run.sh) with
# PG_CONFIG pointing at MAJOR: pg_regress (with the cross-major fingerprint
# and REINDEX tests), isolation, pgTAP, the TAP tests in $PROVE_TESTS
# (default: dump/restore and the 0.1.0 update) and the integration scripts
# whose name matches $INTEGRATION (default: the guard, the DDL log, steps,
# the cross-major restore, the release files and plan()'s prediction
# against the executed plan; INTEGRATION=. and
# PROVE_TESTS='t/*.pl' run all).
# The chroot image (Debian SUITE + test/lib.sh's packages for MAJOR) is
# cached under /var/cache/schemamig-ci; the first run on a machine builds it.
#
# Environment: SRC (tree to test, default this checkout, copied, never
# modified), INTEGRATION, FIXTURE_DUMP (a dump written on another major by
# test/integration/restore_across_majors.sh, restored here), KEEP_LOG (directory for the chroot's test output,
# default /tmp/schemamig-major-MAJOR).  Prints the times of its steps.
# Exit status: that of the tests (non-zero when the build or a test fails).
set -uo pipefail
MAJOR=${1:?usage: test/majors/run.sh MAJOR SUITE}
SUITE=${2:?usage: test/majors/run.sh MAJOR SUITE}
here=$(cd "$(dirname "$0")/../.." && pwd)
SRC=${SRC:-$here}
INTEGRATION=${INTEGRATION:-^(guard_|seal_|multi_statement_log|steps_|restore_|release_|plan_)}
PROVE_TESTS=${PROVE_TESTS:-t/003_dump_restore.pl t/004_extension_upgrade.pl}
LOG=${KEEP_LOG:-/tmp/schemamig-major-$MAJOR}
[ "$(id -u)" = 0 ] || { echo "test/majors/run.sh: run as root (chroot)" >&2; exit 2; }
. "$here/test/majors/chroot.sh"

packages=$(PG_MAJOR=$MAJOR PG_BIN=/nonexistent PG_CONFIG='' && . "$here/test/lib.sh" && echo $PACKAGES)
SECONDS=0
image=$(chroot_image "$SUITE" $packages) || { echo "== chroot image for $SUITE: FAILED"; exit 1; }
echo "== PostgreSQL $MAJOR from $SUITE: image $(basename "$image") ready after $SECONDS s"
t0=$SECONDS
chroot_enter "$image" || { echo "== chroot: FAILED"; exit 1; }
chroot_copy_tree "$SRC" /root/schemamig
echo "== unpacked into $CHROOT in $((SECONDS - t0)) s; $(chroot_exec /usr/lib/postgresql/$MAJOR/bin/pg_config --version)"

# a dump written on another major (the host's 15) for restore_across_majors.sh
fixture=""
if [ -n "${FIXTURE_DUMP:-}" ] && [ -f "$FIXTURE_DUMP" ]; then
	cp "$FIXTURE_DUMP" "$CHROOT/root/fixture.dump"
	cp "$FIXTURE_DUMP.major" "$CHROOT/root/fixture.dump.major" 2>/dev/null
	fixture="export FIXTURE_DUMP=/root/fixture.dump;"
fi

t0=$SECONDS
mkdir -p "$LOG"
chroot_exec bash -c "cd /root/schemamig && $fixture
	export PG_CONFIG=/usr/lib/postgresql/$MAJOR/bin/pg_config INTEGRATION='$INTEGRATION' PROVE_TESTS='$PROVE_TESTS'
	bash test/run.sh" >"$LOG/run.log" 2>&1
rc=$?
grep -E "^(== |-- |FAILED|not ok|ok [0-9]|test |t/|All |[0-9]+ (of|passed))|warning:|error:" "$LOG/run.log"
[ -f "$CHROOT/root/schemamig/regression.diffs" ] && cp "$CHROOT/root/schemamig/regression.diffs" "$LOG/"
echo "== PostgreSQL $MAJOR: tests exit $rc in $((SECONDS - t0)) s, $SECONDS s in all (log: $LOG/run.log)"
exit $rc
