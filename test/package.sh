#!/bin/bash
# test/package.sh: the Debian package, built and tested like Debian's own
# PostgreSQL extensions, in a throwaway Debian 12 chroot
# (test/majors/chroot.sh) with the build dependencies of debian/control:
# `dpkg-buildpackage -us -uc -b` builds postgresql-15-schemamig, the package
# is installed with dpkg, a clean cluster is started, and `make
# installcheck` (pg_regress and isolation; the TAP tests start clusters of
# their own and test the tree, not the package) runs against the packaged
# extension (the tree holds no build products then: what is tested is what
# the package installed).
#
# Environment: SRC (tree, default this checkout; copied, never modified),
# OUT (where the .deb and the logs go, default /tmp/schemamig-package).
# Prints each step's time.  Exit status non-zero when a step fails.
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
SRC=${SRC:-$here}
OUT=${OUT:-/tmp/schemamig-package}
MAJOR=15
[ "$(id -u)" = 0 ] || { echo "test/package.sh: run as root (chroot)" >&2; exit 2; }
. "$here/test/majors/chroot.sh"

SECONDS=0
image=$(chroot_image bookworm build-essential debhelper libpq-dev postgresql-server-dev-all \
	postgresql-$MAJOR procps) || { echo "== package build image: FAILED"; exit 1; }
chroot_enter "$image" || exit 1
chroot_copy_tree "$SRC" /root/build/schemamig
rm -rf "$CHROOT/root/build/schemamig/.git"
mkdir -p "$OUT"
rm -f "$OUT"/*.deb
echo "== Debian 12 build chroot ready after $SECONDS s"

step() {
	local name=$1 t0=$SECONDS rc
	shift
	"$@" >"$OUT/$name.log" 2>&1
	rc=$?
	echo "== $name: exit $rc after $((SECONDS - t0)) s (log: $OUT/$name.log)"
	[ $rc = 0 ] || tail -40 "$OUT/$name.log"
	return $rc
}
step dpkg-buildpackage chroot_exec sh -c "cd /root/build/schemamig && dpkg-buildpackage -us -uc -b" || exit 1
cp "$CHROOT"/root/build/*.deb "$OUT/"
deb=$(cd "$OUT" && ls postgresql-$MAJOR-schemamig_*.deb) || { echo "no postgresql-$MAJOR-schemamig package"; exit 1; }
echo "   built: $(cd "$OUT" && ls *.deb | tr '\n' ' ')"
step dpkg-install chroot_exec sh -c "dpkg -i /root/build/$deb && dpkg -L postgresql-$MAJOR-schemamig" || exit 1
grep -E "\.so$|\.control$|\.sql$" "$OUT/dpkg-install.log" | sed 's/^/   /'
if ls "$CHROOT"/root/build/schemamig/*.so "$CHROOT"/root/build/schemamig/src/*.o >/dev/null 2>&1; then
	echo "the tree still holds build products after dpkg-buildpackage"; exit 1
fi
step installcheck chroot_exec bash -c "cd /root/build/schemamig &&
	export PG_CONFIG=/usr/lib/postgresql/$MAJOR/bin/pg_config && . test/lib.sh &&
	cluster_start && make installcheck TAP_TESTS=" || { cat "$CHROOT/root/build/schemamig/regression.diffs" 2>/dev/null | head -60; exit 1; }
grep -E "^(ok|not ok)|tests passed|test .* \.\.\." "$OUT/installcheck.log" | tail -3
echo "== package: $deb built, installed and passing make installcheck in $SECONDS s"
